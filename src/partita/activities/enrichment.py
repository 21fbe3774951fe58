"""enrichment: add columns to the inbound population without adding or losing rows.

Every added column is a left join on keys onto the population, so the rows stay what they
were by construction:

- ``columns``: filter-language value expressions. Every aggregate over one many-link is computed
  by one grouped query over the link's rows, each with its ``where`` as a per-aggregate filter
  (SQL ``FILTER (WHERE …)``), joined once; the rest is compiled by
  :func:`partita.filters.compile_values` (one join per one-link path);
- ``collect``: the linked rows numbered per population row (``row_number`` over the link's
  target columns), the first ``count`` pivoted by conditional aggregation, one grouped join
  per collect;
- ``lookup``: columns of the other inbound working table, joined on ``on``; several matching
  rows for one population row are an error, found by a query before anything is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext, ordering
from partita.activities.checks import filter_problems
from partita.filters import (
    FilterContext,
    FilterError,
    compile_values,
    filter_table,
    parse_expression,
    parse_filter,
)
from partita.filters import check as check_expression
from partita.filters._ast import Aggregate, Arith, Call, Column, Exists, Expr, Filter, Literal
from partita.model.activities import Collect, Columns, Enrichment, Lookup
from partita.model.activities.base import FILE_ROW_KEY, is_file_rows
from partita.model.campaign import Endpoint
from partita.model.datamodel import ColumnType, DataModel, Link
from partita.model.problems import PartitaError, Problem, suggestion
from partita.warehouse.sampling import seeded_rank

#: How many offending keys an ambiguous lookup names.
_SHOWN_KEYS = 5


# -- run ----------------------------------------------------------------------------------------


def run(ctx: RunContext, activity: Enrichment, inputs: list[Input]) -> Outputs:
    """The population with every alias added (same keys, same count)."""
    source, other = _split_inputs(activity, inputs)
    aliases = list(activity.columns)
    nodes = [parse_expression(activity.columns[alias]) for alias in aliases]
    population = _population(ctx, source, _read_columns(ctx.model, source.dimension, activity))
    fctx = ctx.filter_context(source.dimension)
    aggregated, reading = _Aggregates(fctx).apply(population, nodes)
    widened, values = compile_values(aggregated, reading, fctx)
    values = [_exact(node, value) for node, value in zip(nodes, values, strict=True)]
    table = widened.mutate(**dict(zip(aliases, values, strict=True))) if aliases else widened
    for index, collect in enumerate(activity.collect):
        table = _join_collected(ctx, table, source.dimension, collect, index)
    if activity.lookup is not None:
        assert other is not None  # _split_inputs found it
        table = _join_lookup(ctx, table, population, source, other, activity.lookup)
    kept = [*source.table.columns, *activity.aliases()]
    return {"out": Output(table.select(*kept), dimension=source.dimension)}


def _exact(node: Expr, value: ir.Value) -> ir.Value:
    """The value with a type that holds it: Ibis types ``avg`` of a decimal, and a product of
    decimals, with the operand's scale, and a working table would round them to it."""
    if value.type().is_decimal() and _scale_grows(node):
        return value.cast("float64")
    return value


def _scale_grows(node: Expr | Filter) -> bool:
    if isinstance(node, Aggregate):
        return node.func == "avg"
    if isinstance(node, Filter):  # a condition: its value is a boolean
        return False
    if isinstance(node, Arith) and node.op == "*":
        return True
    return any(_scale_grows(child) for child in _children(node))


def _split_inputs(activity: Enrichment, inputs: list[Input]) -> tuple[Input, Input | None]:
    """(the population, the lookup's input)."""
    if activity.lookup is None:
        if len(inputs) != 1:
            raise PartitaError(
                f"enrichment has {len(inputs)} inputs: a second input is only for a 'lookup'"
            )
        return inputs[0], None
    wanted = Endpoint.parse(activity.lookup.source)
    others = [i for i in inputs if i.source == wanted]
    rest = [i for i in inputs if i.source != wanted]
    if len(others) != 1 or len(rest) != 1:
        sources = [str(i.source) for i in inputs]
        raise PartitaError(
            f"lookup input '{activity.lookup.source}' must be the second of two inputs; "
            f"the inputs are {', '.join(repr(s) for s in sources)}"
        )
    return rest[0], others[0]


def _population(ctx: RunContext, source: Input, wanted: set[str] | None = None) -> ir.Table:
    """The working table with its dimension's columns (those in ``wanted``, default all), by a
    left join on the key; the working table itself when it has every wanted column.

    Unlike :meth:`RunContext.population` no row is lost when a key left the dimension
    (its dimension columns are then NULL). Working-table columns win over dimension columns.
    """
    dimension = ctx.dimension(source.dimension)
    data = ctx.warehouse.table(dimension)
    table = source.table
    carried = set(table.columns)
    added = [c for c in data.columns if c not in carried and (wanted is None or c in wanted)]
    if not added:
        return table
    joined_key = "__pf_dimension_key"
    right = data.select(data[dimension.key].name(joined_key), *added)
    return table.left_join(right, table[source.key] == right[joined_key]).drop(joined_key)


def _read_columns(model: DataModel, dimension: str, activity: Enrichment) -> set[str]:
    """The population's columns the aliases, the collects and the lookup read."""
    wanted: set[str] = set()
    for text in activity.columns.values():
        wanted |= _columns_read(parse_expression(text), model, dimension)
    for collect in activity.collect:
        wanted |= set(model.link(dimension, collect.link).on)
    if activity.lookup is not None:
        wanted |= set(activity.lookup.on)
    return wanted


def _columns_read(node: Expr | Filter, model: DataModel, dimension: str) -> set[str]:
    """The columns of ``dimension`` an expression reads (a link reads its joining columns)."""
    match node:
        case Column(path=(name,)):
            return {name}
        case Column(path=(link, *_)) | Aggregate(link=link) | Exists(link=link):
            return set(model.link(dimension, link).on)
    found: set[str] = set()
    for child in _children(node):
        found |= _columns_read(child, model, dimension)
    return found


def _children(node: Expr | Filter) -> list[Expr | Filter]:
    """The sub-expressions of a node, in field order."""
    children: list[Expr | Filter] = []
    for item in dataclasses.fields(node):
        value = getattr(node, item.name)
        for child in value if isinstance(value, tuple) else (value,):
            if isinstance(child, (Expr, Filter)):
                children.append(child)
    return children


class _Aggregates:
    """The aggregates of some expressions, one grouped query per many-link.

    ``apply`` joins them onto the population as helper columns and rewrites the expressions
    to read those columns; an aggregate's ``where`` becomes the filter of that aggregate only,
    so aggregates over one link with different ``where``s share one scan of the link's rows.
    Aggregates inside a ``where`` or an ``exists`` are over another dimension's rows: they stay
    with :func:`compile_values`.
    """

    def __init__(self, fctx: FilterContext) -> None:
        self.fctx = fctx
        self.helpers: dict[str, dict[Aggregate, str]] = {}  # link -> aggregate -> helper column

    def apply(self, table: ir.Table, nodes: list[Expr]) -> tuple[ir.Table, list[Expr]]:
        """``table`` with one left join per many-link, and ``nodes`` reading its columns."""
        reading = [self._rewrite(node) for node in nodes]
        for index, (name, helpers) in enumerate(self.helpers.items()):
            link = self.fctx.model.link(self.fctx.dimension, name)
            keys = {f"__pf_g{index}_k{i}": column for i, column in enumerate(link.on.values())}
            grouped = self._grouped(link, helpers, keys)
            on = [table[s] == grouped[k] for s, k in zip(link.on, keys, strict=True)]
            table = table.left_join(grouped, on).drop(*keys)
        return table, reading

    def _rewrite(self, node: Expr) -> Expr:
        """``node`` with each of its aggregates replaced by a read of its helper column."""
        if isinstance(node, Aggregate):
            if node.link not in self.helpers:
                self.helpers[node.link] = {}
            helpers = self.helpers[node.link]
            if node not in helpers:
                helpers[node] = f"__pf_g{list(self.helpers).index(node.link)}_m{len(helpers)}"
            read = Column((helpers[node],))
            if node.func in ("count", "count_distinct"):  # no rows: 0, not NULL
                return Call("coalesce", (read, Literal(0)))
            return read
        if isinstance(node, Exists):
            return node
        changes: dict[str, Any] = {}
        for item in dataclasses.fields(node):
            value = getattr(node, item.name)
            if isinstance(value, tuple) and any(isinstance(v, Expr) for v in value):
                changes[item.name] = tuple(
                    self._rewrite(v) if isinstance(v, Expr) else v for v in value
                )
            elif isinstance(value, Expr):
                changes[item.name] = self._rewrite(value)
        return dataclasses.replace(node, **changes) if changes else node

    def _grouped(self, link: Link, helpers: dict[Aggregate, str], keys: dict[str, str]) -> ir.Table:
        """One row per link value: every aggregate, each over the rows its ``where`` keeps."""
        sub = self.fctx.over(link.target)
        rows = self.fctx.table_of(link.target)
        wheres = list(dict.fromkeys(a.where for a in helpers if a.where is not None))
        columns = list(dict.fromkeys(a.column for a in helpers if a.column is not None))
        wide, values = compile_values(rows, [*wheres, *columns], sub)
        condition = dict(zip(wheres, values[: len(wheres)], strict=True))
        value_of = dict(zip(columns, values[len(wheres) :], strict=True))
        metrics = {}
        for aggregate, helper in helpers.items():
            where = None if aggregate.where is None else condition[aggregate.where]
            if aggregate.column is None:
                metrics[helper] = wide.count(where=where)
            else:
                metrics[helper] = _MEASURES[aggregate.func](value_of[aggregate.column], where)
        return wide.group_by(**{k: wide[c] for k, c in keys.items()}).aggregate(**metrics)


_MEASURES = {
    "count_distinct": lambda value, where: value.nunique(where=where),
    "sum": lambda value, where: value.sum(where=where),
    "avg": lambda value, where: value.mean(where=where),
    "min": lambda value, where: value.min(where=where),
    "max": lambda value, where: value.max(where=where),
}


def _join_collected(
    ctx: RunContext, table: ir.Table, dimension: str, collect: Collect, index: int
) -> ir.Table:
    """``table`` with the first ``collect.count`` linked rows as numbered columns."""
    link = ctx.model.link(dimension, collect.link)
    target = ctx.dimension(link.target)
    sub = ctx.filter_context(link.target)
    rows = ctx.table(link.target)
    rows = rows.filter(*[rows[column].notnull() for column in link.on.values()])
    if collect.filter is not None:
        rows = filter_table(rows, parse_filter(collect.filter), sub)
    ordered = [parse_expression(item.expr) for item in collect.order_by]
    copies = [parse_expression(column) for column in collect.columns]
    wide, values = compile_values(rows, [*ordered, *copies], sub)
    prefix = f"__pf_c{index}"
    keys = {f"{prefix}_k{i}": wide[column] for i, column in enumerate(link.on.values())}
    order = {f"{prefix}_o{i}": v for i, v in enumerate(values[: len(ordered)])}
    # A copied value that is already a sort key (or the key) is read from that column: a
    # narrower row to sort. Booleans get a copy of their own (``_aggregable``).
    held = {Column((target.key,)): f"{prefix}_key", **dict(zip(ordered, order, strict=True))}
    copied: dict[str, ir.Value] = {}
    source_of: dict[str, str] = {}  # collected column -> the ranked column holding it
    for i, (column, node, value) in enumerate(
        zip(collect.columns, copies, values[len(ordered) :], strict=True)
    ):
        if node in held and not value.type().is_boolean():
            source_of[column] = held[node]
        else:
            source_of[column] = f"{prefix}_v{i}"
            copied[source_of[column]] = _aggregable(value)
    # Order and tie-break values get columns of their own first: Ibis merges repeated sort keys
    # of one window (``id desc`` then the tie-break's ``id``) and keeps the last direction.
    ranked = wide.select(
        **keys,
        **order,
        **copied,
        **{
            f"{prefix}_tie": seeded_rank(wide[target.key], ctx.seed),
            f"{prefix}_key": wide[target.key],
        },
    )
    sort = ordering([ranked[name] for name in order], collect.order_by)
    sort += [ranked[f"{prefix}_tie"].asc(), ranked[f"{prefix}_key"].asc()]
    rank = ibis.row_number().over(group_by=[ranked[k] for k in keys], order_by=sort)
    ranked = ranked.mutate(**{f"{prefix}_n": rank})
    first = ranked.filter(ranked[f"{prefix}_n"] < collect.count)
    position = first[f"{prefix}_n"]
    metrics = {}
    for n, column, alias in collect.aliases():
        picked = ibis.cases((position == n - 1, first[source_of[column]])).max()
        original = values[len(ordered) + collect.columns.index(column)]
        metrics[alias] = picked.cast(original.type()) if original.type().is_boolean() else picked
    grouped = first.group_by(list(keys)).aggregate(**metrics)
    pairs = zip(link.on, keys, strict=True)
    return table.left_join(grouped, [table[s] == grouped[k] for s, k in pairs]).drop(*keys)


def _aggregable(value: ir.Value) -> ir.Value:
    """A value ``max`` works on everywhere (PostgreSQL has no max of booleans)."""
    return value.cast("int32") if value.type().is_boolean() else value


def _join_lookup(
    ctx: RunContext,
    table: ir.Table,
    population: ir.Table,
    source: Input,
    other: Input,
    lookup: Lookup,
) -> ir.Table:
    """``table`` with the lookup's columns from the one matching row of the other input."""
    rows = other.table if is_file_rows(other.dimension) else _population(ctx, other)
    pairs = list(lookup.on.items())
    keys = {f"__pf_lk{i}": rows[column] for i, (_, column) in enumerate(pairs)}
    _refuse_ambiguous(ctx, population, source, rows, keys, lookup)
    right = rows.select(**keys, **{alias: rows[column] for alias, column in lookup.columns.items()})
    on = [table[mine] == right[key] for (mine, _), key in zip(pairs, keys, strict=True)]
    return table.left_join(right, on).drop(*keys)


def _refuse_ambiguous(
    ctx: RunContext,
    population: ir.Table,
    source: Input,
    rows: ir.Table,
    keys: Mapping[str, ir.Value],
    lookup: Lookup,
) -> None:
    """An error naming population rows that match several rows of the other input."""
    counted = rows.select(**keys).group_by(list(keys)).aggregate(__pf_rows=ibis._.count())
    several = counted.filter(counted["__pf_rows"] > 1)
    pairs = zip(lookup.on, keys, strict=True)
    hits = population.join(several, [population[mine] == several[key] for mine, key in pairs])
    hits = hits.select(hits[source.key].name("key"), hits["__pf_rows"].name("rows"))
    shown = hits.order_by("key").limit(_SHOWN_KEYS + 1).to_pyarrow().to_pylist()
    if not shown:
        return
    total = len(shown)
    if total > _SHOWN_KEYS:
        total = int(hits.count().to_pyarrow().as_py())
    listed = ", ".join(f"{source.key} {r['key']} ({r['rows']} rows)" for r in shown[:_SHOWN_KEYS])
    more = f" and {total - _SHOWN_KEYS} more" if total > _SHOWN_KEYS else ""
    on = ", ".join(f"{mine} = {theirs}" for mine, theirs in lookup.on.items())
    raise PartitaError(
        f"lookup on {on}: {total} population row{'s' if total != 1 else ''} match several rows "
        f"of input '{lookup.source}': {listed}{more}; a lookup adds columns, never rows, so each "
        f"row may match at most one (deduplicate '{lookup.source}' on "
        f"{', '.join(lookup.on.values())} first)"
    )


# -- columns and check --------------------------------------------------------------------------


def columns(
    activity: Enrichment,
    output: str,
    input_dims: list[str],
    input_cols: list[Columns],
    model: DataModel,
) -> Columns:
    """The population's carried columns plus every alias with its type.

    The flow lists the lookup's input first (see ``Enrichment.primary``).
    """
    index = activity.population_index(input_dims)
    if index >= len(input_dims):
        return activity.output_columns(output, input_cols)
    dimension = input_dims[index]
    carried = dict(input_cols[index]) if index < len(input_cols) else {}
    typed = dict(carried)
    typed.update(_alias_types(activity, model, dimension, carried))
    if activity.lookup is not None:
        known = None
        if len(input_dims) > 1 and input_cols:
            known = _table_columns(model, input_dims[0], input_cols[0])
        for alias, column in activity.lookup.columns.items():
            typed[alias] = (known or {}).get(column, ColumnType.OTHER)
    return typed


def _alias_types(
    activity: Enrichment, model: DataModel, dimension: str, carried: Columns
) -> dict[str, ColumnType]:
    """Types of the ``columns`` and ``collect`` aliases (OTHER where they do not check)."""
    typed: dict[str, ColumnType] = {}
    if dimension not in model.dimensions:
        return dict.fromkeys(activity.aliases(), ColumnType.OTHER)
    for alias, text in activity.columns.items():
        typed[alias] = _type_of(text, model, dimension, carried)
    links = model.links_from(dimension)
    for collect in activity.collect:
        link = links.get(collect.link)
        for _, column, alias in collect.aliases():
            typed[alias] = (
                ColumnType.OTHER if link is None else _type_of(column, model, link.target, {})
            )
    return typed


def _type_of(text: str, model: DataModel, dimension: str, carried: Columns) -> ColumnType:
    try:
        return check_expression(parse_expression(text), model, dimension, extra_columns=carried)
    except FilterError:
        return ColumnType.OTHER


def _table_columns(model: DataModel, dimension: str, carried: Columns) -> Columns | None:
    """Every column of an input's rows: its dimension's and the carried ones (None: unknown)."""
    if is_file_rows(dimension):
        declared = {name: kind for name, kind in carried.items() if name != FILE_ROW_KEY}
        return dict(carried) if declared else None
    if dimension not in model.dimensions:
        return None
    return {**model.column_types(dimension), **carried}


def check(activity: Enrichment, ctx: CheckContext) -> list[Problem]:
    """Inputs, aliases (collisions, expressions), collects and the lookup against the model."""
    sources = [t.origin for t in ctx.campaign.inbound(activity.id)]
    problems, population, other = _input_problems(activity, sources)
    if population is None:
        return problems
    dimension = ctx.flow.output_dimension.get(population)
    if dimension is None:
        return problems
    if is_file_rows(dimension):
        problems.append(
            Problem(
                f"input '{population}' holds the rows of a loaded file: an enrichment adds "
                "columns to rows of a dimension",
                activity=activity.id,
                field="transitions",
                hint="add a reconciliation first, or use the file as the 'lookup' input",
            )
        )
        return problems
    if dimension not in ctx.model.dimensions:
        return problems
    checker = _Checker(ctx, activity, dimension, dict(ctx.flow.output_columns.get(population, {})))
    problems += checker.columns()
    for index, collect in enumerate(activity.collect):
        problems += checker.collect(index, collect)
    if activity.lookup is not None and other is not None:
        problems += checker.lookup(activity.lookup, other)
    return problems


def _input_problems(
    activity: Enrichment, sources: list[Endpoint]
) -> tuple[list[Problem], Endpoint | None, Endpoint | None]:
    """Problems with the inputs, the population's source and the lookup's."""
    if not sources:
        return [], None, None
    if activity.lookup is None:
        if len(sources) == 1:
            return [], sources[0], None
        problem = Problem(
            f"enrichment has {len(sources)} inputs but no lookup: the second input is only "
            "read by a 'lookup'",
            activity=activity.id,
            field="transitions",
            hint=f"add lookup: {{input: {sources[1]}, on: …, columns: …}} or remove a transition",
        )
        return [problem], sources[0], None
    named = activity.lookup.source
    wanted = Endpoint.parse(named)
    if wanted not in sources:
        shown = [str(s) for s in sources]
        problem = Problem(
            f"lookup input '{named}' is not one of the inputs: {suggestion(named, shown)}",
            activity=activity.id,
            field="lookup.input",
            hint="name the source of the second inbound transition (e.g. load1 or split1.mail)",
        )
        return [problem], sources[0], None
    rest = [s for s in sources if s != wanted]
    if not rest:
        problem = Problem(
            f"lookup input '{named}' is the enrichment's only input: the lookup reads a second "
            "input, the population comes through the other transition",
            activity=activity.id,
            field="lookup.input",
        )
        return [problem], None, None
    return [], rest[0], wanted


@dataclass
class _Checker:
    """The checks of one enrichment over its population's dimension and carried columns."""

    ctx: CheckContext
    activity: Enrichment
    dimension: str
    carried: Columns

    def __post_init__(self) -> None:
        # Lower-cased name -> what holds it: DuckDB column names ignore case.
        self.taken: dict[str, str] = {}
        for name in self.ctx.model.column_types(self.dimension):
            self.taken[name.lower()] = f"column '{name}' of dimension '{self.dimension}'"
        for name in self.carried:
            self.taken[name.lower()] = f"column '{name}' carried by the input"

    def problem(self, message: str, field: str, hint: str | None = None) -> Problem:
        return Problem(message, activity=self.activity.id, field=field, hint=hint)

    def claim(self, alias: str, owner: str, field: str) -> list[Problem]:
        """A problem when ``alias`` is already a column (or an earlier alias)."""
        held = self.taken.get(alias.lower())
        if held is None:
            self.taken[alias.lower()] = f"alias '{alias}' of {owner}"
            return []
        return [
            self.problem(
                f"alias '{alias}' collides with {held}: choose another alias",
                field,
                hint="column names are compared ignoring case"
                if f"'{alias}'" not in held
                else None,
            )
        ]

    def columns(self) -> list[Problem]:
        problems: list[Problem] = []
        for alias, text in self.activity.columns.items():
            field = f"columns.{alias}"
            problems += self.claim(alias, "columns", field)
            try:
                check_expression(
                    parse_expression(text),
                    self.ctx.model,
                    self.dimension,
                    extra_columns=self.carried,
                    variables=self.ctx.variable_types,
                )
            except FilterError as error:
                problems.append(error.to_problem(self.activity.id, field))
        return problems

    def collect(self, index: int, collect: Collect) -> list[Problem]:
        place = f"collect[{index}]"
        problems: list[Problem] = []
        for _, _, alias in collect.aliases():
            problems += self.claim(alias, place, place)
        link = self._many_link(collect.link, f"{place}.link")
        if isinstance(link, Problem):
            return [*problems, link]
        for column in collect.columns:
            try:
                kind = check_expression(parse_expression(column), self.ctx.model, link.target)
            except FilterError as error:
                problems.append(error.to_problem(self.activity.id, f"{place}.columns"))
                continue
            if kind == ColumnType.OTHER:
                problems.append(
                    self.problem(
                        f"collect cannot copy column '{column}' of dimension '{link.target}': "
                        "only numbers, strings, booleans, dates and timestamps",
                        f"{place}.columns",
                    )
                )
        for position, item in enumerate(collect.order_by):
            field = f"{place}.order_by" + (f"[{position}]" if len(collect.order_by) > 1 else "")
            try:
                check_expression(
                    parse_expression(item.expr),
                    self.ctx.model,
                    link.target,
                    variables=self.ctx.variable_types,
                )
            except FilterError as error:
                problems.append(error.to_problem(self.activity.id, field))
        problems += filter_problems(
            self.ctx, self.activity.id, f"{place}.filter", collect.filter, link.target, {}
        )
        return problems

    def _many_link(self, name: str, field: str) -> Link | Problem:
        links = self.ctx.model.links_from(self.dimension)
        link = links.get(name)
        if link is None:
            return self.problem(
                f"unknown link '{name}' in dimension '{self.dimension}': {suggestion(name, links)}",
                field,
            )
        if link.cardinality == "one":
            return self.problem(
                f"link '{name}' of dimension '{self.dimension}' is a one-link: collect needs a "
                f"many-link; add its columns under 'columns' with {name}.<column>",
                field,
            )
        return link

    def lookup(self, lookup: Lookup, other: Endpoint) -> list[Problem]:
        problems: list[Problem] = []
        for alias in lookup.columns:
            problems += self.claim(alias, "lookup", f"lookup.columns.{alias}")
        mine = {**self.ctx.model.column_types(self.dimension), **self.carried}
        theirs = self._columns_of(other)
        for column, their_column in lookup.on.items():
            if column not in mine:
                problems.append(
                    self.problem(
                        f"unknown column '{column}' in the population (dimension "
                        f"'{self.dimension}' and the columns it carries): "
                        f"{suggestion(column, mine)}",
                        "lookup.on",
                    )
                )
            if theirs is not None and their_column not in theirs:
                problems.append(self._unknown(their_column, other, theirs, "lookup.on"))
            elif theirs is not None and column in mine:
                problems += self._comparable(column, mine[column], their_column, theirs, other)
        if theirs is not None:
            for alias, their_column in lookup.columns.items():
                if their_column not in theirs:
                    problems.append(
                        self._unknown(their_column, other, theirs, f"lookup.columns.{alias}")
                    )
        return problems

    def _columns_of(self, source: Endpoint) -> Columns | None:
        """The other input's columns, when the flow knows them."""
        producer = next((a for a in self.ctx.campaign.activities if a.id == source.activity), None)
        if producer is None or producer.kind == "read_audience":  # columns known at run time
            return None
        dimension = self.ctx.flow.output_dimension.get(source)
        if dimension is None:
            return None
        carried = self.ctx.flow.output_columns.get(source, {})
        return _table_columns(self.ctx.model, dimension, carried)

    def _unknown(self, column: str, other: Endpoint, theirs: Columns, field: str) -> Problem:
        return self.problem(
            f"unknown column '{column}' in input '{other}': {suggestion(column, theirs)}", field
        )

    def _comparable(
        self, column: str, kind: ColumnType, their_column: str, theirs: Columns, other: Endpoint
    ) -> list[Problem]:
        their_kind = theirs[their_column]
        lenient = ColumnType.OTHER in (kind, their_kind)
        if lenient or kind == their_kind or (kind.is_numeric and their_kind.is_numeric):
            return []
        return [
            self.problem(
                f"lookup joins {kind} column '{column}' with {their_kind} column "
                f"'{their_column}' of input '{other}': they cannot be equal",
                "lookup.on",
            )
        ]
