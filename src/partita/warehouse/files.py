"""Writing Arrow batches into working tables: the one place rows come from outside the warehouse.

Each engine has its fastest bulk path, stated as data in :data:`BULK_LOADERS`:

- ``arrow``: the engine scans an Arrow table in place (DuckDB registers it, then
  ``INSERT INTO … SELECT``), no copy through Python objects;
- ``copy``: the batch is written as CSV by Arrow and streamed with ``COPY … FROM STDIN``
  (PostgreSQL: the server cannot read the client's files, and row-by-row inserts are slow);
- ``insert``: Ibis's generic ``insert`` of an in-memory table, for every other engine.
"""

from __future__ import annotations

import io
import itertools
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import ibis
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlglot as sg

from partita.warehouse.connection import Warehouse

BulkLoader = Literal["arrow", "copy", "insert"]

#: How each Ibis backend receives a batch of rows (unknown backends use Ibis's insert).
BULK_LOADERS: dict[str, BulkLoader] = {"duckdb": "arrow", "postgres": "copy"}

_registered = itertools.count(1)


def bulk_loader(warehouse: Warehouse) -> BulkLoader:
    """The bulk path used for this warehouse's engine."""
    return BULK_LOADERS.get(warehouse.traits.name, "insert")


@dataclass
class BatchTable:
    """A working table created empty with an Arrow schema, filled batch after batch."""

    warehouse: Warehouse
    name: str
    schema: pa.Schema
    rows: int = 0

    @classmethod
    def create(cls, warehouse: Warehouse, name: str, schema: pa.Schema) -> BatchTable:
        """Create (or replace) the empty working table ``name``."""
        if warehouse.exists(name):
            warehouse.con.drop_table(name, database=warehouse.working_schema)
        warehouse.con.create_table(
            name, schema=ibis.Schema.from_pyarrow(schema), database=warehouse.working_schema
        )
        return cls(warehouse, name, schema)

    def append(self, batch: pa.Table | pa.RecordBatch) -> None:
        """Insert the rows of one table or batch (same columns as the schema)."""
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        self.load(table.cast(self.schema).to_batches())

    def load(self, batches: Iterable[pa.RecordBatch]) -> int:
        """Insert every batch (each with exactly the schema's columns); the rows inserted.

        DuckDB reads the batches as one Arrow stream in one ``INSERT``, PostgreSQL receives
        them through one ``COPY``; both in one transaction.
        """
        before = self.rows
        loader = bulk_loader(self.warehouse)
        if loader == "arrow":
            self._load_arrow(batches)
        elif loader == "copy":
            self._load_copy(batches)
        else:
            for batch in self._counted(batches):
                table = ibis.memtable(pa.Table.from_batches([batch]))
                self.warehouse.con.insert(self.name, table, database=self.warehouse.working_schema)
        return self.rows - before

    def _counted(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows:
                self.rows += batch.num_rows
                yield batch

    def _target(self, dialect: str) -> str:
        return sg.table(self.name, db=self.warehouse.working_schema, quoted=True).sql(dialect)

    def _columns(self, dialect: str) -> str:
        return ", ".join(sg.to_identifier(c, quoted=True).sql(dialect) for c in self.schema.names)

    def _load_arrow(self, batches: Iterable[pa.RecordBatch]) -> None:
        raw: Any = self.warehouse.con.con
        view = f"__partita_batches_{next(_registered)}"
        stream = pa.RecordBatchReader.from_batches(self.schema, self._counted(batches))
        raw.register(view, stream)
        try:
            raw.execute(
                f"INSERT INTO {self._target('duckdb')} ({self._columns('duckdb')}) "
                f"SELECT {self._columns('duckdb')} FROM {view}"
            )
        finally:
            raw.unregister(view)

    def _load_copy(self, batches: Iterable[pa.RecordBatch]) -> None:
        raw: Any = self.warehouse.con.con
        statement = (
            f"COPY {self._target('postgres')} ({self._columns('postgres')}) FROM STDIN (FORMAT csv)"
        )
        # Arrow quotes every string and leaves nulls unquoted: COPY's CSV format reads an
        # unquoted empty field as NULL and "" as the empty string.
        options = pacsv.WriteOptions(include_header=False)
        with raw.transaction(), raw.cursor() as cursor, cursor.copy(statement) as copy:
            for batch in self._counted(batches):
                buffer = io.BytesIO()
                pacsv.write_csv(batch, buffer, write_options=options)
                copy.write(buffer.getbuffer())


class Prefetch:
    """Runs an iterator in a background thread, ``depth`` items ahead of its consumer.

    Reading and converting the next batches (Arrow, which releases the GIL) overlaps with the
    warehouse writing the current one. An error of the producer is kept in ``error`` and
    raised again to the consumer.
    """

    _DONE = object()

    def __init__(self, items: Iterator[Any], depth: int = 2) -> None:
        self.items = items
        self.error: BaseException | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="partita-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self.items:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer
            self.error = error
        self._put(self._DONE)

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is self._DONE:
                break
            yield item
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Stop the producer (when the consumer gave up) and wait for it."""
        self._stop.set()
        self._thread.join()
