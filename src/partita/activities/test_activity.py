"""test: fires the output of the first true condition on the count or on variables."""

from __future__ import annotations

from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext
from partita.filters import FilterContext, FilterError, check, filter_table, parse_filter
from partita.model.activities import TestActivity
from partita.model.datamodel import ColumnType, DataModel, Dimension
from partita.model.problems import Problem

#: Conditions see one row with one column, ``count``: the inbound population's size.
_CONDITION = "test condition"
_COUNT_ONLY = DataModel(
    dimensions={_CONDITION: Dimension(name=_CONDITION, table=_CONDITION, key="count")},
    links=[],
    columns={_CONDITION: {"count": ColumnType.INTEGER}},
)


def run(ctx: RunContext, activity: TestActivity, inputs: list[Input]) -> Outputs:
    """Evaluate the conditions in order, in the warehouse, on a one-row table."""
    source = inputs[0]
    one_row = source.table.aggregate(count=source.table.count())
    fctx = FilterContext(
        model=_COUNT_ONLY,
        dimension=_CONDITION,
        table_of=lambda _n: one_row,
        variables=ctx.variables,
    )
    chosen: str | None = None
    for condition in activity.conditions:
        matched = filter_table(one_row, parse_filter(condition.when), fctx).count()
        if int(ctx.warehouse.scalar(matched)) > 0:
            chosen = condition.name
            break
    if chosen is None and activity.default:
        chosen = "default"
    outputs: Outputs = {name: Output() for name in activity.outputs()}
    if chosen is not None:
        outputs[chosen] = Output.passthrough(source)
    return outputs


def check_conditions(activity: TestActivity, ctx: CheckContext) -> list[Problem]:
    """Conditions may use ``count`` and the campaign's variables, nothing else."""
    problems: list[Problem] = []
    for index, condition in enumerate(activity.conditions):
        try:
            check(
                parse_filter(condition.when), _COUNT_ONLY, _CONDITION, variables=ctx.variable_types
            )
        except FilterError as error:
            problems.append(error.to_problem(activity.id, f"conditions[{index}].when"))
    return problems
