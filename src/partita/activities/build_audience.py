"""build_audience: the rows of a dimension that match a filter."""

from __future__ import annotations

from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext
from partita.activities.checks import dimension_problem, filter_problems
from partita.filters import filter_table, parse_filter
from partita.model.activities import BuildAudience
from partita.model.problems import Problem


def run(ctx: RunContext, activity: BuildAudience, inputs: list[Input]) -> Outputs:
    """Select the keys of the matching rows (an inbound transition only triggers the query)."""
    name = activity.dimension or ctx.campaign.dimension
    dimension = ctx.dimension(name)
    table = ctx.warehouse.table(dimension)
    if activity.filter is not None:
        table = filter_table(table, parse_filter(activity.filter), ctx.filter_context(name))
    return {
        "out": Output(
            table.select(dimension.key), dimension=name, fire_when_empty=activity.emit_when_empty
        )
    }


def check(activity: BuildAudience, ctx: CheckContext) -> list[Problem]:
    """The dimension exists and the filter fits it."""
    name = activity.dimension or ctx.campaign.dimension
    field = "dimension" if activity.dimension else "dimension (campaign default)"
    return dimension_problem(ctx, activity.id, field, name) or filter_problems(
        ctx, activity.id, "filter", activity.filter, name, {}
    )
