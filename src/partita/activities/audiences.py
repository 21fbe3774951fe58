"""save_audience and read_audience: named audiences kept in the warehouse between campaigns.

An audience is a table ``a_<name>`` in the working schema (the keys and the saved columns) and a
record in the state store (dimension, columns, size, campaign, execution, time).  It is not an
output of any execution, so retention never drops it; a save replaces it whole.
"""

from __future__ import annotations

from partita.activities.base import (
    CheckContext,
    Input,
    Output,
    Outputs,
    RunContext,
    SavedAudience,
)
from partita.activities.checks import dimension_problem
from partita.model.activities import ReadAudience, SaveAudience
from partita.model.problems import PartitaError, Problem, suggestion
from partita.model.states import LogLevel, Mode
from partita.warehouse import writes

#: Prefix of the audience tables in the working schema (see ``writes.audience_table_name``).
_PREFIX = "a_"


# -- save_audience ----------------------------------------------------------------------------


def run_save(ctx: RunContext, activity: SaveAudience, inputs: list[Input]) -> Outputs:
    """Replace the audience's table with the inbound keys and columns; nothing in test mode."""
    source = inputs[0]
    missing = [c for c in activity.columns if c not in source.table.columns or c == source.key]
    if missing:
        carried = [c for c in source.table.columns if c != source.key]
        raise PartitaError(
            f"column '{missing[0]}' (setting 'columns') is not carried by the inbound working "
            f"table: {suggestion(missing[0], carried)}"
        )
    if ctx.mode == Mode.TEST:
        ctx.log(
            LogLevel.INFO,
            f"test mode: audience '{activity.name}' not saved ({source.count:,} rows)",
            None,
        )
        return {"out": Output.passthrough(source)}
    name = writes.audience_table_name(ctx.warehouse, activity.name)
    count = writes.replace_table(
        ctx.warehouse, name, source.table.select(source.key, *activity.columns)
    )
    ctx.audiences.save(
        SavedAudience(activity.name, name, source.dimension, list(activity.columns), count)
    )
    ctx.log(
        LogLevel.INFO,
        f"audience '{activity.name}' saved: {count:,} rows of {source.dimension} in table {name}",
        None,
    )
    return {"out": Output.passthrough(source)}


def check_save(activity: SaveAudience, ctx: CheckContext) -> list[Problem]:
    """A column of the dimension itself cannot be saved (only carried columns are); other
    names are checked at run time, against the working table's actual columns."""
    dimension = ctx.input_dimension(activity.id)
    if dimension is None or dimension not in ctx.model.dimensions:
        return []
    own = ctx.model.column_types(dimension)
    carried = ctx.input_columns(activity.id)
    return [
        Problem(
            f"column '{column}' is a column of {dimension}, not one the working table carries",
            activity=activity.id,
            field="columns",
            hint="an audience keeps the keys and the columns added along the way (enrichment "
            "aliases, a split's segment); read_audience joins the dimension's current values",
        )
        for column in activity.columns
        if column in own and column not in carried
    ]


# -- read_audience ----------------------------------------------------------------------------


def run_read(ctx: RunContext, activity: ReadAudience, inputs: list[Input]) -> Outputs:
    """The saved keys and columns (copied into the output's own working table)."""
    saved = ctx.audiences.get(activity.name)
    if saved is None:
        raise PartitaError(
            f"no saved audience '{activity.name}': {suggestion(activity.name, _saved_names(ctx))}"
        )
    expected = activity.dimension or ctx.campaign.dimension
    if saved.dimension != expected:
        setting = "'dimension'" if activity.dimension else "'dimension' (campaign default)"
        raise PartitaError(
            f"audience '{saved.name}' holds rows of {saved.dimension}, but this activity's "
            f"{setting} is {expected}: set dimension: {saved.dimension}"
        )
    if saved.dimension not in ctx.model.dimensions:
        raise PartitaError(
            f"audience '{saved.name}' holds rows of {saved.dimension}, which is no longer a "
            "dimension of the data model"
        )
    if not ctx.warehouse.exists(saved.table_name):
        raise PartitaError(
            f"the table of audience '{saved.name}' ({saved.table_name}) is missing from the "
            "working schema: run the campaign that saves it again"
        )
    key = ctx.dimension(saved.dimension).key
    table = ctx.warehouse.working(saved.table_name)
    return {"out": Output(table.select(key, *saved.columns), dimension=saved.dimension)}


def _saved_names(ctx: RunContext) -> list[str]:
    """Names of the saved audiences, from their tables in the working schema."""
    tables = ctx.warehouse.con.list_tables(database=ctx.warehouse.working_schema)
    return [t[len(_PREFIX) :] for t in tables if t.startswith(_PREFIX)]


def check_read(activity: ReadAudience, ctx: CheckContext) -> list[Problem]:
    """The dimension, when given, exists (the audience itself is looked up at run time)."""
    if activity.dimension is None:
        return []
    return dimension_problem(ctx, activity.id, "dimension", activity.dimension)
