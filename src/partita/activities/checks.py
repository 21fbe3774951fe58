"""Checks shared by activities: filters and expressions against the data model."""

from __future__ import annotations

from partita.activities.base import CheckContext
from partita.filters import FilterError, check, parse_expression, parse_filter
from partita.model.activities import Columns, FilterSpec, OrderItem
from partita.model.problems import Problem, suggestion


def dimension_problem(ctx: CheckContext, activity_id: str, field: str, name: str) -> list[Problem]:
    """A problem when ``name`` is not a dimension of the data model."""
    if name in ctx.model.dimensions:
        return []
    return [
        Problem(
            f"unknown dimension '{name}': {suggestion(name, ctx.model.dimensions)}",
            activity=activity_id,
            field=field,
        )
    ]


def filter_problems(
    ctx: CheckContext,
    activity_id: str,
    field: str,
    spec: FilterSpec | None,
    dimension: str | None,
    columns: Columns,
) -> list[Problem]:
    """Parse and check a filter setting; problems name the activity and field."""
    if spec is None or dimension is None or dimension not in ctx.model.dimensions:
        return []
    try:
        check(
            parse_filter(spec),
            ctx.model,
            dimension,
            extra_columns=columns,
            variables=ctx.variable_types,
        )
    except FilterError as error:
        return [error.to_problem(activity_id, field)]
    return []


def expression_problems(
    ctx: CheckContext,
    activity_id: str,
    field: str,
    texts: list[str],
    dimension: str | None,
    columns: Columns,
) -> list[Problem]:
    """Parse and check value expressions (deduplication keys, order_by)."""
    if dimension is None or dimension not in ctx.model.dimensions:
        return []
    problems: list[Problem] = []
    for index, text in enumerate(texts):
        try:
            check(
                parse_expression(text),
                ctx.model,
                dimension,
                extra_columns=columns,
                variables=ctx.variable_types,
            )
        except FilterError as error:
            where = f"{field}[{index}]" if len(texts) > 1 else field
            problems.append(error.to_problem(activity_id, where))
    return problems


def order_problems(
    ctx: CheckContext,
    activity_id: str,
    field: str,
    items: list[OrderItem],
    dimension: str | None,
    columns: Columns,
) -> list[Problem]:
    """Check the expressions of an ``order_by`` setting."""
    return expression_problems(ctx, activity_id, field, [i.expr for i in items], dimension, columns)
