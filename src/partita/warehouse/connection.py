"""The warehouse: an Ibis connection, the user's tables, and Partita's working tables.

Working tables are real tables, named deterministically from campaign, execution, activity and
output.  On DuckDB they live in a separate work file that attaches the user's data read-only
(the data file never grows and stays readable by other tools); elsewhere they live in the
``working_schema`` of the same connection.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import sqlglot as sg

from partita.model.datamodel import ColumnType, DataModel, Dimension, with_deliveries
from partita.model.problems import InvalidInput, PartitaError, Problem, suggestion
from partita.model.project import Project
from partita.warehouse.engines import EngineTraits, traits_for
from partita.warehouse.types import column_types

DATA_CATALOG = "partita_data"
_UNSAFE = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class Column:
    """A working-table column as ``inspect --schema`` shows it."""

    name: str
    engine_type: str
    type: ColumnType


class Warehouse:
    """One open connection to the user's warehouse."""

    def __init__(
        self, con: Any, traits: EngineTraits, working_schema: str, data_catalog: str | None = None
    ) -> None:
        self.con = con
        self.traits = traits
        self.working_schema = working_schema
        self._data_catalog = data_catalog
        #: Ibis tables already looked up (each costs a schema query): see :meth:`forget_tables`.
        self._tables: dict[tuple[str, Any], ir.Table] = {}

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, project: Project) -> Warehouse:
        """Connect as ``partita.yaml`` says; DuckDB data files are attached read-only."""
        url = project.warehouse
        scheme = urlparse(url).scheme
        if scheme == "duckdb":
            return cls._open_duckdb(project)
        try:
            con = ibis.connect(url)
        except Exception as exc:  # the driver's own error says what failed
            detail = " ".join(str(exc).split())  # libpq's messages span lines
            raise PartitaError(
                f"cannot connect to the warehouse {_safe_url(url)} (partita.yaml, 'warehouse'): "
                f"{detail}"
            ) from exc
        warehouse = cls(con, traits_for(con.name), project.working_schema)
        warehouse._ensure_working_schema()
        return warehouse

    @classmethod
    def _open_duckdb(cls, project: Project) -> Warehouse:
        data_path = _duckdb_path(project.warehouse)
        settings = _duckdb_settings(project.warehouse)
        traits = traits_for("duckdb")
        if data_path is None:
            con = _duckdb_connect(":memory:", settings)
            warehouse = cls(con, traits, project.working_schema)
        else:
            data_file = project.resolve(data_path)
            if not data_file.exists():
                raise PartitaError(
                    f"the warehouse file {data_file} does not exist (partita.yaml, 'warehouse')"
                )
            work_file = project.resolve(project.work_database or ".partita/work.duckdb")
            work_file.parent.mkdir(parents=True, exist_ok=True)
            con = _duckdb_connect(work_file, settings)
            try:
                con.attach(str(data_file), name=DATA_CATALOG, read_only=True)
            except Exception as exc:
                con.disconnect()
                raise _lock_error(exc, data_file) from exc
            warehouse = cls(con, traits, project.working_schema, data_catalog=DATA_CATALOG)
        warehouse._ensure_working_schema()
        return warehouse

    def _ensure_working_schema(self) -> None:
        if self.working_schema not in self.con.list_databases():
            self.con.create_database(self.working_schema, force=True)

    def close(self) -> None:
        """Release the connection (and the DuckDB file locks)."""
        self.con.disconnect()

    def forget_tables(self) -> None:
        """Read table schemas afresh from now on (the engine calls this as a run starts, so
        that within a run each table's schema is read once)."""
        self._tables.clear()

    def _table(self, name: str, database: Any) -> ir.Table:
        found = self._tables.get((name, database))
        if found is None:
            found = self._tables[(name, database)] = self.con.table(name, database=database)
        return found

    # -- the user's tables -----------------------------------------------------------------------

    def _database_of(self, dimension: Dimension) -> Any:
        if self._data_catalog is not None:
            return (self._data_catalog, dimension.database or "main")
        return dimension.database

    def table(self, dimension: Dimension) -> ir.Table:
        """The Ibis table of a dimension."""
        return self._table(dimension.table, self._database_of(dimension))

    def load_data_model(self, project: Project) -> DataModel:
        """The project's data model with column types; a missing table or column is an error."""
        problems: list[Problem] = []
        columns: dict[str, dict[str, ColumnType]] = {}
        for name, dimension in project.dimensions.items():
            try:
                schema = self.table(dimension).schema()
            except Exception:
                available = self._tables_near(dimension)
                problems.append(
                    Problem(
                        f"table '{dimension.table}' of dimension '{name}' does not exist in the warehouse: "
                        f"{suggestion(dimension.table, available)}",
                        field=f"dimensions.{name}.table",
                    )
                )
                continue
            types = column_types(schema)
            columns[name] = types
            for setting, column in dimension.declared_columns().items():
                if column not in types:
                    problems.append(
                        Problem(
                            f"column '{column}' ({setting}) of dimension '{name}' is not in table "
                            f"'{dimension.table}': {suggestion(column, types)}",
                            field=f"dimensions.{name}.{setting}",
                        )
                    )
        for link in project.links:
            for source_column, target_column in link.on.items():
                for dim_name, column in (
                    (link.source, source_column),
                    (link.target, target_column),
                ):
                    known = columns.get(dim_name)
                    if known is not None and column not in known:
                        problems.append(
                            Problem(
                                f"link '{link.name}' joins on column '{column}', which table "
                                f"'{project.dimensions[dim_name].table}' ({dim_name}) does not have: "
                                f"{suggestion(column, known)}",
                                field=f"links.{link.name}.on",
                            )
                        )
        if problems:
            raise InvalidInput(problems, subject="partita.yaml (checked against the warehouse)")
        return with_deliveries(
            DataModel(
                dimensions=dict(project.dimensions), links=list(project.links), columns=columns
            )
        )

    def _tables_near(self, dimension: Dimension) -> list[str]:
        try:
            return list(self.con.list_tables(database=self._database_of(dimension)))
        except Exception:
            return []

    # -- working tables --------------------------------------------------------------------------

    def working_table_name(self, campaign: str, execution: int, activity: str, output: str) -> str:
        """The deterministic name of a working table (shortened with a hash when too long)."""
        slug = _UNSAFE.sub("_", campaign.lower()).strip("_") or "campaign"
        name = f"w_{slug}_{execution}_{activity.lower()}_{output.lower()}"
        if len(name) <= self.traits.max_identifier:
            return name
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        return f"{name[: self.traits.max_identifier - 11]}_{digest}"

    def materialize(self, name: str, expr: ir.Table, sql: str | None = None) -> int:
        """Create working table ``name`` from ``expr`` (replacing a leftover) and count its rows.

        ``sql`` is ``expr`` compiled by :meth:`sql`, when the caller has it already (compiling
        is most of the engine's own cost per table). As Ibis's ``create_table`` does, the table
        is created with ``expr``'s column types, then filled by ``INSERT … SELECT``.
        """
        if sql is None:
            sql = self.sql(expr)
        self.con.drop_table(name, database=self.working_schema, force=True)
        self._tables.pop((name, self.working_schema), None)
        self.con.create_table(name, schema=expr.schema(), database=self.working_schema)
        # what Ibis runs before its own queries (registers in-memory tables), then its insert
        self.con._run_pre_execute_hooks(expr)
        dialect = self.con.dialect
        columns = ", ".join(sg.to_identifier(c, quoted=True).sql(dialect) for c in expr.columns)
        with self.con._safe_raw_sql(f"INSERT INTO {self._qualified(name)} ({columns}) {sql}"):
            pass
        return self.count(name)

    def index(self, name: str, column: str) -> None:
        """Index a column of a working table, on engines that read a range of values through
        an index (PostgreSQL: without one, each range read scans the whole table); nothing
        elsewhere. The index goes with the table."""
        if not self.traits.indexes:
            return
        quoted = sg.to_identifier(column, quoted=True).sql(self.con.dialect)
        with self.con._safe_raw_sql(f"CREATE INDEX ON {self._qualified(name)} ({quoted})"):
            pass

    def _qualified(self, name: str) -> str:
        """A working table's quoted, schema-qualified name in the engine's SQL."""
        return sg.table(name, db=self.working_schema, quoted=True).sql(self.con.dialect)

    def working(self, name: str) -> ir.Table:
        """An existing working table."""
        return self._table(name, self.working_schema)

    def exists(self, name: str) -> bool:
        """True when the working table is there."""
        return name in self.con.list_tables(database=self.working_schema)

    def count(self, name: str) -> int:
        """Number of rows of a working table."""
        return int(self.scalar(self.working(name).count()))

    def scalar(self, expr: ir.Scalar) -> Any:
        """The value of a scalar expression (a count, a max…).

        Fetched through the driver's cursor: Ibis's result conversion costs ten times a count
        and imports pandas (0.2 s in a process's first task). Engines whose raw results are
        not cursors (Spark) go through Ibis.
        """
        with self.con._safe_raw_sql(self.con.compile(expr)) as result:
            fetchone = getattr(result, "fetchone", None)
            if fetchone is not None:
                return fetchone()[0]
        return expr.to_pyarrow().as_py()

    def arrow(self, expr: ir.Table) -> pa.Table:
        """The rows of a small result (a page of recipients, counts by group) as an Arrow table.

        On DuckDB, the driver's Arrow result as it is: Ibis's conversion of it imports pandas
        (34 MB of RSS in a process that had not) for values that come out the same.
        """
        if self.traits.name == "duckdb":
            table: pa.Table = self.con._to_duckdb_relation(expr).to_arrow_table()
            return table
        return expr.to_pyarrow()

    def drop(self, names: Sequence[str]) -> None:
        """Drop working tables (absent ones are ignored)."""
        if not names:
            return  # every task calls this for its scratch tables; most have none
        existing = set(self.con.list_tables(database=self.working_schema))
        for name in names:
            self._tables.pop((name, self.working_schema), None)
            if name in existing:
                self.con.drop_table(name, database=self.working_schema)

    def columns(self, name: str) -> list[Column]:
        """The columns of a working table with engine and filter types."""
        schema = self.working(name).schema()
        types = column_types(schema)
        return [Column(col, str(dtype), types[col]) for col, dtype in schema.items()]

    def rows(self, name: str, order_by: Sequence[str], limit: int | None = None) -> pa.Table:
        """Rows of a working table in key order (``limit`` None: all of them)."""
        table = self.working(name).order_by(list(order_by))
        if limit is not None:
            table = table.limit(limit)
        return table.to_pyarrow()

    def batches(
        self, name: str, order_by: Sequence[str], batch_size: int = 50_000
    ) -> Iterator[pa.RecordBatch]:
        """Stream a working table in key order, ``batch_size`` rows at a time."""
        table = self.working(name).order_by(list(order_by))
        reader = table.to_pyarrow_batches(chunk_size=batch_size)
        yield from reader

    def sql(self, expr: ir.Expr) -> str:
        """The SQL the engine runs for an expression (pretty, for debug logs)."""
        return self.con.compile(expr, pretty=True)


def _duckdb_path(url: str) -> str | None:
    """``duckdb:///shop.duckdb`` -> ``shop.duckdb``; in-memory URLs -> None."""
    rest = url[len("duckdb://") :].partition("?")[0]
    if rest.startswith("/"):
        rest = rest[1:]
    return None if rest in ("", ":memory:") else rest


def _duckdb_settings(url: str) -> dict[str, str]:
    """The DuckDB settings in the query of ``url``: ``duckdb:///shop.duckdb?memory_limit=1GB``
    -> ``{"memory_limit": "1GB"}``."""
    return dict(parse_qsl(url.partition("?")[2], keep_blank_values=True))


def _duckdb_connect(path: Path | str, settings: dict[str, str]) -> Any:
    try:
        return ibis.duckdb.connect(str(path), **settings)
    except Exception as exc:
        if settings and "lock" not in str(exc).lower():
            shown = ", ".join(f"{name}={value}" for name, value in settings.items())
            raise PartitaError(
                f"cannot open DuckDB with the settings {shown} (partita.yaml, 'warehouse'): "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        raise _lock_error(exc, path) from exc


def _lock_error(exc: Exception, path: Path | str) -> Exception:
    text = str(exc)
    if "lock" in text.lower():
        return PartitaError(
            f"the DuckDB file {path} is in use by another process; wait for it to finish "
            f"(or send commands through 'partita serve'): {text.splitlines()[0]}"
        )
    return PartitaError(f"cannot open the DuckDB file {path}: {text.splitlines()[0]}")


def _safe_url(url: str) -> str:
    """The URL with its password (in the user part or a ``password=`` parameter) hidden."""
    parsed = urlparse(url)
    user, at, host = parsed.netloc.rpartition("@")
    netloc = f"{user.split(':', 1)[0]}:***@{host}" if at and ":" in user else parsed.netloc
    query = "&".join(
        f"{part.split('=', 1)[0]}=***" if part.split("=", 1)[0].lower() == "password" else part
        for part in parsed.query.split("&")
    )
    if netloc == parsed.netloc and query == parsed.query:
        return url
    return f"{parsed.scheme}://{netloc}{parsed.path}" + (f"?{query}" if query else "")
