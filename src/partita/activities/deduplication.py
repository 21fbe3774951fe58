"""deduplication: keep ``keep`` rows per group of rows sharing the same keys."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext
from partita.activities.checks import expression_problems, order_problems
from partita.filters import Expr, compile_values, parse_expression
from partita.model.activities import Deduplication
from partita.model.problems import Problem


def run(ctx: RunContext, activity: Deduplication, inputs: list[Input]) -> Outputs:
    """Rank rows within each group by the method, then split kept and removed rows."""
    source = inputs[0]
    if activity.keep == 0:
        return {"out": Output.passthrough(source)}
    key = ctx.dimension(source.dimension).key
    keys = [parse_expression(text) for text in activity.keys]
    preferred = _preferred(activity)
    # Keys and preferences are compiled together over one widened table, then each gets a
    # column of its own: window clauses must reference a single relation, and Ibis merges
    # repeated sort keys (an `order_by: [id desc]` would lose to the tie-break's `id asc`).
    widened, values = compile_values(
        ctx.population(source), [*keys, *preferred], ctx.filter_context(source.dimension)
    )
    names = [f"__pf_dedup{i}" for i in range(len(values))]
    widened = widened.mutate(**dict(zip(names, values, strict=True)))
    groups = [widened[n] for n in names[: len(keys)]]
    order = [
        _preference_order(activity, widened[n], position)
        for position, n in enumerate(names[len(keys) :])
    ]
    rank = ibis.row_number().over(group_by=groups, order_by=[*order, *ctx.tie_break(widened, key)])
    ranked = widened.mutate(__pf_rank=rank)
    kept = ranked.filter(ranked["__pf_rank"] < activity.keep).select(source.table.columns)
    outputs = {"out": Output(kept, dimension=source.dimension)}
    if activity.complement:
        removed = ranked.filter(ranked["__pf_rank"] >= activity.keep).select(source.table.columns)
        outputs["complement"] = Output(removed, dimension=source.dimension)
    return outputs


def _preferred(activity: Deduplication) -> list[Expr]:
    """The expressions the method ranks rows by (none for ``random``)."""
    if activity.method == "expression":
        return [parse_expression(item.expr) for item in activity.order_by]
    if activity.method in ("non_empty", "values"):
        assert activity.column is not None  # the settings model requires it
        return [parse_expression(activity.column)]
    return []


def _preference_order(activity: Deduplication, value: ir.Value, position: int) -> ir.Value:
    """Best rows first: the method's rank of ``value`` (a seeded tie-break follows)."""
    if activity.method == "expression":
        return value.desc() if activity.order_by[position].desc else value.asc()
    if activity.method == "non_empty":
        empty = value.isnull()
        if value.type().is_string():
            empty = empty | (value.strip() == "")
        return ibis.cases((empty, 1), else_=0).asc()
    cases = [(value == ibis.literal(v), rank) for rank, v in enumerate(activity.values)]
    return ibis.cases(*cases, else_=len(activity.values)).asc()


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
