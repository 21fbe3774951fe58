"""incremental_query: build_audience's rows, minus what earlier live executions returned.

Two ways to tell what is new:

- **key history** (default): a table ``h_<campaign>_<activity>`` in the working schema holds
  every key a live execution of this activity returned, with the execution's id.  A run returns
  the matching rows whose key is not in it (rows recorded by *other* executions: a task run
  again in the same execution sees the same rows).  Live runs record their keys once the output
  is materialized — deleting then inserting their own execution's rows, in one transaction, so a
  crash in between or a second run of the task never records a key twice.  Test runs read the
  history and never write it: a test shows what the next live run would return.
- **since_column**: the matching rows whose timestamp is later than the start of the previous
  completed live execution (the first run returns every matching row).

An empty result ends the branch, and the log says so.
"""

from __future__ import annotations

import datetime

import ibis
import ibis.expr.types as ir

from partita.activities import build_audience
from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext
from partita.model.activities import BuildAudience, IncrementalQuery
from partita.model.datamodel import ColumnType
from partita.model.problems import Problem, suggestion
from partita.model.states import LogLevel, Mode
from partita.warehouse import writes

#: Columns of the key history table.
HISTORY_KEY = "member_key"
HISTORY_EXECUTION = "execution_id"


def _as_build_audience(activity: IncrementalQuery) -> BuildAudience:
    """The same selection as a build_audience (its filter code and checks are reused)."""
    return BuildAudience(
        id=activity.id,
        label=activity.label,
        dimension=activity.dimension,
        filter=activity.filter,
        emit_when_empty=False,
    )


def run(ctx: RunContext, activity: IncrementalQuery, inputs: list[Input]) -> Outputs:
    """The matching rows that are new since earlier live executions."""
    selected = build_audience.run(ctx, _as_build_audience(activity), inputs)["out"]
    assert selected.table is not None and selected.dimension is not None
    name = selected.dimension
    dimension = ctx.dimension(name)
    if activity.since_column is not None:
        rows, since = _since(ctx, activity.since_column, selected.table, name)
        out = ctx.materialize("out", rows, name)
    else:
        history = _history(ctx, activity)
        rows, since = _by_history(ctx, history, selected.table, dimension.key)
        out = ctx.materialize("out", rows, name)
        if ctx.mode == Mode.LIVE:
            _record(ctx, activity, history, out, dimension.key)
    count = int(ctx.warehouse.scalar(out.count()))
    if count:
        news = f"{count:,} new rows" + (f" {since}" if since else "")
    else:
        news = f"no new rows {since}" if since else "no rows match"
    ctx.log(LogLevel.INFO, f"incremental_query '{activity.id}': {news}", None)
    return {"out": Output(out, dimension=name, fire_when_empty=False)}


# -- since_column ---------------------------------------------------------------------------


def _since(
    ctx: RunContext, column: str, keys: ir.Table, dimension: str
) -> tuple[ir.Table, str | None]:
    start = ctx.previous_live_start
    if start is None:
        return keys, None
    data = ctx.warehouse.table(ctx.dimension(dimension))
    key = ctx.dimension(dimension).key
    later = data.filter(data[column] > _instant(start, data[column]))
    shown = start.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return keys.semi_join(later, key), (
        f"with {column} later than {shown} UTC (the start of the previous live execution)"
    )


def _instant(start: datetime.datetime, column: ir.Value) -> ir.Value:
    """The start time as a literal of the column's type: naive timestamps are read as UTC."""
    dtype = column.type()
    if getattr(dtype, "timezone", None) is None:
        naive = start.astimezone(datetime.UTC).replace(tzinfo=None)
        return ibis.literal(naive, type="timestamp")
    return ibis.literal(start.astimezone(datetime.UTC), type=dtype)


# -- key history ----------------------------------------------------------------------------


def _history(ctx: RunContext, activity: IncrementalQuery) -> str:
    return writes.history_table_name(ctx.warehouse, ctx.campaign.name, activity.id)


def _by_history(
    ctx: RunContext, history: str, keys: ir.Table, key: str
) -> tuple[ir.Table, str | None]:
    if not ctx.warehouse.exists(history):
        return keys, None
    table = ctx.warehouse.working(history)
    earlier = table.filter(table[HISTORY_EXECUTION] != ctx.execution_id)
    last = ctx.warehouse.scalar(earlier[HISTORY_EXECUTION].max())
    since = None if last is None else f"since execution {last}"
    return keys.anti_join(earlier, keys[key] == earlier[HISTORY_KEY]), since


def _record(
    ctx: RunContext, activity: IncrementalQuery, history: str, out: ir.Table, key: str
) -> None:
    """Record the keys this execution returned (replacing what an earlier try recorded)."""
    table = writes.ensure_table(
        ctx.warehouse,
        history,
        ibis.schema({HISTORY_KEY: out.schema()[key], HISTORY_EXECUTION: "int64"}),
    )
    writes.replace_rows(
        ctx.warehouse,
        table,
        HISTORY_EXECUTION,
        ctx.execution_id,
        out,
        {
            HISTORY_KEY: writes.source_column(key),
            HISTORY_EXECUTION: writes.integer(ctx.execution_id),
        },
    )


# -- validation -------------------------------------------------------------------------------


def check(activity: IncrementalQuery, ctx: CheckContext) -> list[Problem]:
    """build_audience's checks, and since_column is a timestamp column of the dimension."""
    problems = build_audience.check(_as_build_audience(activity), ctx)
    if problems or activity.since_column is None:
        return problems
    name = activity.dimension or ctx.campaign.dimension
    types = ctx.model.column_types(name)
    column = activity.since_column
    if column not in types:
        return [
            Problem(
                f"column '{column}' is not in dimension {name}: {suggestion(column, types)}",
                activity=activity.id,
                field="since_column",
            )
        ]
    if types[column] != ColumnType.TIMESTAMP:
        return [
            Problem(
                f"column '{column}' of {name} is {types[column]}; since_column needs a timestamp",
                activity=activity.id,
                field="since_column",
            )
        ]
    return []
