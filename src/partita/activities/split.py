"""split: ordered subsets of the input, each with an optional filter and limit."""

from __future__ import annotations

from fractions import Fraction

import ibis
import ibis.expr.types as ir

from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext, ordering
from partita.activities.checks import filter_problems, order_problems
from partita.filters import compile_values, parse_expression, parse_filter
from partita.model.activities import Split, Subset
from partita.model.problems import Problem


def run(ctx: RunContext, activity: Split, inputs: list[Input]) -> Outputs:
    """Assign rows to subsets in order (or independently with ``overlap``)."""
    source = inputs[0]
    dimension = source.dimension
    key = ctx.dimension(dimension).key
    carried = source.table.columns
    population = ctx.population(source)

    # Every filter and ordering is compiled once, then kept as named columns so that derived
    # relations (after anti-joins with earlier subsets) can still refer to them.
    nodes: list[object] = []
    for subset in activity.subsets:
        if subset.filter is not None:
            nodes.append(parse_filter(subset.filter))
        nodes.extend(parse_expression(item.expr) for item in subset.order_by)
    widened, values = compile_values(population, nodes, ctx.filter_context(dimension))  # type: ignore[arg-type]
    names = [f"__pf_split{i}" for i in range(len(values))]
    widened = widened.mutate(**dict(zip(names, values, strict=True)))
    position = iter(names)

    taken_by_filter: list[str] = []  # conditions of earlier subsets that took all their matches
    taken_tables: list[ir.Table] = []  # earlier subsets cut by a limit (materialized)
    any_taken_everything = False
    picked_tables: list[tuple[Subset, ir.Table]] = []
    for subset in activity.subsets:
        condition = next(position) if subset.filter is not None else None
        order_columns = [next(position) for _ in subset.order_by]
        # a subset that looks at no column of the dimension (a sample, a share of what is
        # left after limited subsets) works on the keys alone, without the population join
        plain = condition is None and not order_columns and not taken_by_filter
        base = source.table if plain else widened
        candidates = base
        known = source.count if plain else None  # rows of the candidates, when known
        if not activity.overlap:
            candidates = _remaining(base, taken_by_filter, taken_tables, key, any_taken_everything)
            if taken_tables or any_taken_everything:
                known = None
        if condition is not None:
            candidates = candidates.filter(_holds(candidates, condition))
        if subset.limit is None:
            picked = candidates.select(carried)
            if condition is None:
                any_taken_everything = True
            else:
                taken_by_filter.append(condition)
        else:
            order = ordering([candidates[c] for c in order_columns], subset.order_by)
            picked = _limited(ctx, candidates, subset, order, key, known).select(carried)
            picked = _materialize(ctx, activity, subset, picked, dimension)
            taken_tables.append(picked)
        picked_tables.append((subset, picked))

    outputs: Outputs = {}
    if activity.single_table:
        tagged = [
            t.mutate(**{activity.segment_column: ibis.literal(s.name)}) for s, t in picked_tables
        ]
        outputs["out"] = Output(
            ibis.union(*tagged) if len(tagged) > 1 else tagged[0], dimension=dimension
        )
    else:
        for subset, table in picked_tables:
            outputs[subset.name] = Output(
                table, dimension=dimension, fire_when_empty=not subset.skip_empty
            )
    if activity.complement:
        if activity.overlap:
            rest = widened.select(carried)
            for _, table in picked_tables:
                rest = rest.anti_join(table, key)
        else:
            rest = _remaining(
                widened, taken_by_filter, taken_tables, key, any_taken_everything
            ).select(carried)
        outputs["complement"] = Output(rest, dimension=dimension)
    return outputs


def _holds(table: ir.Table, condition: str) -> ir.BooleanValue:
    """True where the compiled filter column is true (NULL counts as not matching)."""
    return ibis.coalesce(table[condition], False)


def _remaining(
    widened: ir.Table,
    by_filter: list[str],
    tables: list[ir.Table],
    key: str,
    everything_taken: bool,
) -> ir.Table:
    """Rows no earlier subset took."""
    rest = widened
    if everything_taken:
        return rest.filter(ibis.literal(False))
    for condition in by_filter:
        rest = rest.filter(~_holds(rest, condition))
    for table in tables:
        rest = rest.anti_join(table.select(key), key)
    return rest


def _limited(
    ctx: RunContext,
    candidates: ir.Table,
    subset: Subset,
    order: list[ir.Value],
    key: str,
    known: int | None,
) -> ir.Table:
    """The first rows of ``candidates`` by ``order`` (or a seeded sample), up to the limit.

    ``ORDER BY … LIMIT n`` (a top-n, 3x faster on DuckDB than numbering every row); a
    percentage is of ``known`` rows, or of a ``count(*)`` subquery when they are not known.
    """
    assert subset.limit is not None
    ordered = candidates.order_by([*order, *ctx.tie_break(candidates, key)])
    if subset.limit.count is not None:
        return ordered.limit(subset.limit.count)
    share = Fraction(str(subset.limit.percent))
    total: int | ir.IntegerScalar = candidates.count() if known is None else known
    return ordered.limit((total * share.numerator) // (100 * share.denominator))


def _materialize(
    ctx: RunContext, activity: Split, subset: Subset, picked: ir.Table, dimension: str
) -> ir.Table:
    """Store a limited subset now: later subsets exclude its rows."""
    if activity.single_table:
        return ctx.scratch(picked)
    return ctx.materialize(subset.name, picked, dimension)


def check(activity: Split, ctx: CheckContext) -> list[Problem]:
    """Each subset's filter and order over the input's rows."""
    dimension = ctx.input_dimension(activity.id)
    columns = ctx.input_columns(activity.id)
    problems: list[Problem] = []
    for index, subset in enumerate(activity.subsets):
        field = f"subsets[{index}] ({subset.name})"
        problems += filter_problems(
            ctx, activity.id, f"{field}.filter", subset.filter, dimension, columns
        )
        problems += order_problems(
            ctx, activity.id, f"{field}.order_by", subset.order_by, dimension, columns
        )
    return problems
