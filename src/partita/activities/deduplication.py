"""deduplication: keep ``keep`` rows per group of rows sharing the same keys."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext, ordering
from partita.activities.checks import expression_problems, order_problems
from partita.filters import compile_values, parse_expression
from partita.model.activities import Deduplication
from partita.model.problems import Problem


def run(ctx: RunContext, activity: Deduplication, inputs: list[Input]) -> Outputs:
    """Rank rows within each group by the method, then split kept and removed rows."""
    source = inputs[0]
    if activity.keep == 0:
        return {"out": Output.passthrough(source)}
    key = ctx.dimension(source.dimension).key
    population = ctx.population(source)
    nodes = [parse_expression(text) for text in activity.keys]
    widened, groups = compile_values(population, nodes, ctx.filter_context(source.dimension))
    widened, preference = _preference(ctx, activity, widened, source.dimension)
    rank = ibis.row_number().over(
        group_by=groups, order_by=[*preference, *ctx.tie_break(widened, key)]
    )
    ranked = widened.mutate(__pf_rank=rank)
    kept = ranked.filter(ranked["__pf_rank"] < activity.keep).select(source.table.columns)
    outputs = {"out": Output(kept, dimension=source.dimension)}
    if activity.complement:
        removed = ranked.filter(ranked["__pf_rank"] >= activity.keep).select(source.table.columns)
        outputs["complement"] = Output(removed, dimension=source.dimension)
    return outputs


def _preference(
    ctx: RunContext, activity: Deduplication, table: ir.Table, dimension: str
) -> tuple[ir.Table, list[ir.Value]]:
    """The method's ordering: best rows first (the seeded tie-break comes after)."""
    if activity.method == "expression":
        nodes = [parse_expression(item.expr) for item in activity.order_by]
        widened, values = compile_values(table, nodes, ctx.filter_context(dimension))
        return widened, ordering(values, activity.order_by)
    if activity.method in ("non_empty", "values"):
        assert activity.column is not None  # the settings model requires it
        widened, (value,) = compile_values(
            table, [parse_expression(activity.column)], ctx.filter_context(dimension)
        )
        if activity.method == "non_empty":
            empty = value.isnull()
            if value.type().is_string():
                empty = empty | (value.strip() == "")
            return widened, [ibis.cases((empty, 1), else_=0).asc()]
        cases = [(value == ibis.literal(v), position) for position, v in enumerate(activity.values)]
        return widened, [ibis.cases(*cases, else_=len(activity.values)).asc()]
    return table, []


def check(activity: Deduplication, ctx: CheckContext) -> list[Problem]:
    """Keys, order and column are expressions over the input's rows."""
    dimension = ctx.input_dimension(activity.id)
    columns = ctx.input_columns(activity.id)
    problems = expression_problems(ctx, activity.id, "keys", activity.keys, dimension, columns)
    problems += order_problems(ctx, activity.id, "order_by", activity.order_by, dimension, columns)
    if activity.column is not None:
        problems += expression_problems(
            ctx, activity.id, "column", [activity.column], dimension, columns
        )
    return problems
