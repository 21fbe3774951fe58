"""extract_file: the inbound population (chosen columns) written to a CSV or Parquet file.

Rows stream out of the warehouse in key order, in batches (``to_pyarrow_batches``), and Arrow
writes them (``CSVWriter`` / ``ParquetWriter``): memory does not grow with the population. The
file is written under a temporary name and renamed at the end, so a failure never leaves half
a file where the real one should be. It writes in test mode too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext
from partita.activities.load_file import path_problem, resolve_path
from partita.filters import FilterError, compile_values, parse_expression
from partita.filters import check as check_expression
from partita.model.activities import ExtractFile
from partita.model.activities.base import FILE_ROW_KEY, is_file_rows
from partita.model.problems import PartitaError, Problem
from partita.model.states import LogLevel

#: Rows fetched from the warehouse at a time.
BATCH_ROWS = 50_000
_ORDER = "__pf_order"
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}


def run(ctx: RunContext, activity: ExtractFile, inputs: list[Input]) -> Outputs:
    """Write the file; the population passes through unchanged."""
    source = inputs[0]
    path, shown = resolve_path(ctx, activity.path)
    rows = _rows(ctx, activity, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partita-{ctx.execution_id}.tmp")
    try:
        count = _write(activity, rows, partial)
        os.replace(partial, path)
    except Exception as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise PartitaError(f"cannot write {shown}: {error}") from error
        raise
    ctx.log(
        LogLevel.INFO,
        f"extract_file wrote {count:,} rows to {shown}",
        {"path": str(path), "rows": count, "format": activity.file_format()},
    )
    return {"out": Output.passthrough(source)}


def _rows(ctx: RunContext, activity: ExtractFile, source: Input) -> ir.Table:
    """The rows to write, with the population's key as the last column (for the order)."""
    if not activity.columns:
        table = source.table
        return table.mutate(**{_ORDER: table[source.key]})
    # rows of a loaded file have no dimension to join
    base = source.table if is_file_rows(source.dimension) else ctx.population(source)
    nodes = [parse_expression(text) for text in activity.columns.values()]
    widened, values = compile_values(base, nodes, ctx.filter_context(source.dimension))
    selected: dict[str, Any] = dict(zip(activity.columns, values, strict=True))
    selected[_ORDER] = widened[source.key]
    return widened.select(**selected)


def _write(activity: ExtractFile, rows: ir.Table, path: Path) -> int:
    """Stream ``rows`` in key order into ``path``; the number of rows written."""
    reader = rows.order_by(_ORDER).to_pyarrow_batches(chunk_size=BATCH_ROWS)
    schema = reader.schema.remove(reader.schema.get_field_index(_ORDER))
    count = 0
    compression = _COMPRESSION.get(Path(activity.path).suffix.lower())
    if activity.file_format() == "parquet":
        with pq.ParquetWriter(path, schema) as writer:
            for batch in reader:
                batch = batch.drop_columns([_ORDER])
                writer.write_batch(batch)
                count += batch.num_rows
        return count
    options = pacsv.WriteOptions(
        include_header=activity.header, delimiter=activity.field_delimiter()
    )
    with (
        pa.output_stream(str(path), compression=compression) as stream,
        pacsv.CSVWriter(stream, schema, write_options=options) as writer,
    ):
        for batch in reader:
            batch = batch.drop_columns([_ORDER])
            writer.write_batch(batch)
            count += batch.num_rows
    return count


def check(activity: ExtractFile, ctx: CheckContext) -> list[Problem]:
    """The path's placeholders; each column expression over the inbound rows."""
    problems: list[Problem] = []
    problem = path_problem(activity.path)
    if problem is not None:
        problems.append(Problem(problem, activity=activity.id, field="path"))
    dimension = ctx.input_dimension(activity.id)
    if dimension is None:
        return problems
    columns = ctx.input_columns(activity.id)
    known = not is_file_rows(dimension) or set(columns) - {FILE_ROW_KEY}
    for header, text in activity.columns.items():
        where = f"columns.{header}"
        try:
            node = parse_expression(text)
            if known and (is_file_rows(dimension) or dimension in ctx.model.dimensions):
                check_expression(
                    node,
                    ctx.model,
                    dimension,
                    extra_columns=columns,
                    variables=ctx.variable_types,
                )
        except FilterError as error:
            problems.append(error.to_problem(activity.id, where))
    return problems
