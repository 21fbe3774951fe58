"""change_dimension: follow a link from the population's dimension to a new one.

- Along a **one-link** (purchases -> customers) the result is one row per distinct target key:
  the target rows some population row links to (a semi join). Carried columns are dropped:
  several source rows may reach one target row, and none of their values is more right than
  the others.
- Along a **many-link** (customers -> purchases) the result is every linked target row, each
  with the carried columns of the source row that reached it. A carried column named like a
  column of the target dimension is renamed ``<source dimension>_<column>``. When the link's
  source columns do not include the source key, several source rows can reach one target row:
  the row keeps the carried columns of the first of them in the seeded order of their keys.
"""

from __future__ import annotations

import ibis

from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext
from partita.activities.checks import filter_problems
from partita.filters import filter_table, parse_filter
from partita.model.activities import ChangeDimension, Columns
from partita.model.datamodel import DataModel, Link
from partita.model.problems import Problem, suggestion
from partita.warehouse.sampling import seeded_rank


def run(ctx: RunContext, activity: ChangeDimension, inputs: list[Input]) -> Outputs:
    """The target rows the population links to (with carried columns along a many-link)."""
    source = inputs[0]
    link = ctx.model.link(source.dimension, activity.link)
    target = ctx.dimension(link.target)
    rows = ctx.warehouse.table(target).view()
    population = ctx.population(source)
    sub = ctx.filter_context(link.target)
    renamed = _renamed(
        [c for c in source.table.columns if c != source.key],
        ctx.model,
        source.dimension,
        link,
    )
    if not renamed:  # nothing to carry: the linked target rows, each once
        if activity.filter is not None:
            rows = filter_table(rows, parse_filter(activity.filter), sub)
        pairs = list(link.on.items())
        linked = rows.semi_join(population, [rows[t] == population[s] for s, t in pairs])
        return {"out": Output(linked.select(target.key), dimension=link.target)}

    keys = {f"__pf_cd{i}": population[column] for i, column in enumerate(link.on)}
    carried = {new: population[old] for old, new in renamed.items()}
    right = population.select(
        **keys,
        **carried,
        __pf_cd_source=population[source.key],
        __pf_cd_tie=seeded_rank(population[source.key], ctx.seed),
    )
    joins = zip(link.on.values(), keys, strict=True)
    joined = rows.join(right, [rows[t] == right[k] for t, k in joins])
    if activity.filter is not None:
        joined = filter_table(joined, parse_filter(activity.filter), sub)
    if source.key not in link.on:  # several source rows may reach one target row
        first = ibis.row_number().over(
            group_by=joined[target.key],
            order_by=[joined["__pf_cd_tie"].asc(), joined["__pf_cd_source"].asc()],
        )
        joined = joined.mutate(__pf_cd_first=first)
        joined = joined.filter(joined["__pf_cd_first"] == 0)
    return {"out": Output(joined.select(target.key, *renamed.values()), dimension=link.target)}


def _renamed(carried: list[str], model: DataModel, source: str, link: Link) -> dict[str, str]:
    """Carried column -> its name on the target rows; empty along a one-link (dropped)."""
    if link.cardinality == "one" or not carried:
        return {}
    target = model.dimension(link.target)
    taken = {c.lower() for c in model.column_types(link.target)} | {target.key.lower()}
    taken |= {c.lower() for c in carried}
    names: dict[str, str] = {}
    for column in carried:
        if column.lower() not in {c.lower() for c in model.column_types(link.target)} and (
            column.lower() != target.key.lower()
        ):
            names[column] = column
            continue
        name, n = f"{source}_{column}", 2
        while name.lower() in taken:
            name, n = f"{source}_{column}_{n}", n + 1
        taken.add(name.lower())
        names[column] = name
    return names


def _carried_types(model: DataModel, source: str, link: Link, carried: Columns) -> Columns:
    renamed = _renamed(list(carried), model, source, link)
    return {new: carried[old] for old, new in renamed.items()}


def columns(
    activity: ChangeDimension,
    output: str,
    input_dims: list[str],
    input_cols: list[Columns],
    model: DataModel,
) -> Columns:
    """None carried along a one-link; the (renamed) carried columns along a many-link."""
    carried = dict(input_cols[0]) if input_cols else {}
    if not input_dims or input_dims[0] not in model.dimensions:
        return carried
    link = model.links_from(input_dims[0]).get(activity.link)
    if link is None:
        return carried
    return _carried_types(model, input_dims[0], link, carried)


def check(activity: ChangeDimension, ctx: CheckContext) -> list[Problem]:
    """The link leaves the input's dimension; the filter fits the new dimension."""
    dimension = ctx.input_dimension(activity.id)
    if dimension is None or dimension not in ctx.model.dimensions:
        return []
    links = ctx.model.links_from(dimension)
    link = links.get(activity.link)
    if link is None:
        return [
            Problem(
                f"unknown link '{activity.link}' in dimension '{dimension}': "
                f"{suggestion(activity.link, links)}",
                activity=activity.id,
                field="link",
            )
        ]
    carried = _carried_types(ctx.model, dimension, link, ctx.input_columns(activity.id))
    return filter_problems(ctx, activity.id, "filter", activity.filter, link.target, carried)
