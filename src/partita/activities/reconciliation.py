"""reconciliation: rows that came from outside (a loaded file) matched with rows of a dimension.

One join in the warehouse finds every (inbound row, dimension row) pair where all rules hold;
the pairs are stored once (a scratch table) and counted: an inbound row with several pairs is
ambiguous (an error naming the rows); a dimension row reached by several inbound rows keeps the
first (lowest key), and the log says how many were dropped (matched rows minus rows kept).
The inbound rows are joined back only when ``out`` carries some of their columns.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext
from partita.activities.checks import dimension_problem, filter_problems
from partita.filters import filter_table, parse_filter
from partita.model.activities import Columns, Reconciliation
from partita.model.activities.base import FILE_ROW_KEY, is_file_rows
from partita.model.datamodel import ColumnType, DataModel
from partita.model.problems import PartitaError, Problem, suggestion
from partita.model.states import LogLevel

#: Ambiguous rows (and dimension keys per row) named in the error message.
EXAMPLES = 5
_SOURCE = "__pf_source"
_TARGET = "__pf_target"


def run(ctx: RunContext, activity: Reconciliation, inputs: list[Input]) -> Outputs:
    """Match the inbound rows; ``out`` holds dimension keys with the inbound columns."""
    source = inputs[0]
    dimension = ctx.dimension(activity.dimension)
    from_file = is_file_rows(source.dimension)
    rows = source.table
    base = rows if from_file else ctx.population(source)
    candidates = ctx.warehouse.table(dimension)
    _require_columns(activity, source, base, candidates)
    if activity.filter is not None:
        candidates = filter_table(
            candidates, parse_filter(activity.filter), ctx.filter_context(activity.dimension)
        )

    left = base.select(
        **{_SOURCE: base[source.key]},
        **{f"__pf_s{i}": base[rule.source] for i, rule in enumerate(activity.rules)},
    )
    right = candidates.select(
        **{_TARGET: candidates[dimension.key]},
        **{f"__pf_c{i}": candidates[rule.column] for i, rule in enumerate(activity.rules)},
    )
    conditions = [
        _comparable(left[f"__pf_s{i}"], rule.ignore_case, right[f"__pf_c{i}"])
        == _comparable(right[f"__pf_c{i}"], rule.ignore_case, left[f"__pf_s{i}"])
        for i, rule in enumerate(activity.rules)
    ]
    pairs = ctx.scratch(left.join(right, conditions).select(_SOURCE, _TARGET))

    stats = (
        pairs.aggregate(pairs=pairs.count(), sources=pairs[_SOURCE].nunique())
        .to_pyarrow()
        .to_pylist()[0]
    )
    label = "file row" if from_file else f"{source.dimension}"
    if stats["pairs"] > stats["sources"]:
        raise _ambiguous(activity, source, pairs, label)

    ranked = pairs.mutate(
        __pf_rank=ibis.row_number().over(group_by=pairs[_TARGET], order_by=pairs[_SOURCE])
    )
    kept = ranked.filter(ranked["__pf_rank"] == 0)
    carried = activity.carried(
        [c for c in rows.columns if c != source.key], source.key, dimension.key
    )
    joined = kept
    if any(column != source.key for _, column in carried):  # inbound columns to carry
        joined = kept.join(rows, kept[_SOURCE] == rows[source.key])
    out = ctx.materialize(
        "out",
        joined.select(
            joined[_TARGET].name(dimension.key),
            *[
                (joined[_SOURCE] if column == source.key else joined[column]).name(name)
                for name, column in carried
            ],
        ),
        activity.dimension,
    )
    matched = int(stats["sources"])
    # Each matched row has one pair: the rows not kept matched a row an earlier one matched.
    dropped = matched - int(ctx.warehouse.scalar(out.count()))
    if dropped:
        _warn_duplicates(ctx, activity, source, ranked, dropped, label)
    ctx.log(
        LogLevel.INFO,
        f"reconciliation matched {matched:,} of {source.count:,} rows of '{source.source}' "
        f"with {activity.dimension}; {source.count - matched:,} unreconciled",
        None,
    )
    outputs: Outputs = {"out": Output(out, dimension=activity.dimension)}
    if activity.keep_unreconciled:
        rest = rows.anti_join(pairs, rows[source.key] == pairs[_SOURCE])
        outputs["unreconciled"] = Output(
            rest, dimension=source.dimension, key=source.key if from_file else None
        )
    return outputs


def _comparable(value: ir.Value, ignore_case: bool, other: ir.Value | None = None) -> ir.Value:
    """A rule's side, made comparable with the other side (text when the types differ)."""
    if ignore_case:
        return value.cast("string").lower()
    if other is None or _family(value) == _family(other):
        return value
    return value.cast("string")


def _family(value: ir.Value) -> str:
    dtype = value.type()
    if dtype.is_numeric():
        return "number"
    if dtype.is_string():
        return "string"
    return str(dtype.name)


def _require_columns(
    activity: Reconciliation, source: Input, base: ir.Table, candidates: ir.Table
) -> None:
    """Every rule names a column of the inbound rows and of the dimension."""
    for rule in activity.rules:
        if rule.source not in base.columns:
            available = [c for c in base.columns if c != FILE_ROW_KEY]
            raise PartitaError(
                f"rule source column '{rule.source}' is not in the rows from '{source.source}': "
                f"{suggestion(rule.source, available)}"
            )
        if rule.column not in candidates.columns:
            raise PartitaError(
                f"rule column '{rule.column}' is not a column of {activity.dimension}: "
                f"{suggestion(rule.column, candidates.columns)}"
            )


def _ambiguous(
    activity: Reconciliation, source: Input, pairs: ir.Table, label: str
) -> PartitaError:
    """The error naming inbound rows that match several dimension rows."""
    counted = pairs.group_by(_SOURCE).aggregate(__pf_n=pairs.count())
    several = counted.filter(counted["__pf_n"] > 1)
    total = int(several.count().to_pyarrow().as_py())
    first = several.order_by(_SOURCE).limit(EXAMPLES).select(_SOURCE)
    found = pairs.semi_join(first, _SOURCE).order_by([_SOURCE, _TARGET]).to_pyarrow().to_pylist()
    targets: dict[Any, list[Any]] = {}
    for item in found:
        targets.setdefault(item[_SOURCE], []).append(item[_TARGET])
    shown = "; ".join(
        f"{label} {_show(row)} matches {activity.dimension} "
        f"{', '.join(_show(t) for t in keys[:EXAMPLES])}"
        + (f" and {len(keys) - EXAMPLES} more" if len(keys) > EXAMPLES else "")
        for row, keys in targets.items()
    )
    more = f" ({total:,} rows of '{source.source}' match several)" if total > len(targets) else ""
    return PartitaError(
        f"{shown}{more}: add a rule or a filter so that each row matches one "
        f"{activity.dimension} at most"
    )


def _warn_duplicates(
    ctx: RunContext,
    activity: Reconciliation,
    source: Input,
    ranked: ir.Table,
    dropped: int,
    label: str,
) -> None:
    """Several inbound rows matched the same dimension row: the first is kept; say so."""
    later = ranked.filter(ranked["__pf_rank"] > 0).order_by(_SOURCE).limit(3)
    firsts = ranked.filter(ranked["__pf_rank"] == 0).select(_TARGET, __pf_first=ranked[_SOURCE])
    examples = later.join(firsts, _TARGET).to_pyarrow().to_pylist()
    shown = ", ".join(
        f"{label} {_show(e[_SOURCE])} ({activity.dimension} {_show(e[_TARGET])}, "
        f"as {label} {_show(e['__pf_first'])})"
        for e in sorted(examples, key=lambda e: e[_SOURCE])
    )
    rows = "row" if dropped == 1 else "rows"
    ctx.log(
        LogLevel.WARNING,
        f"{dropped:,} {rows} of '{source.source}' matched a {activity.dimension} row that "
        f"an earlier row already matched: kept the first (lowest {source.key}), e.g. {shown}",
        None,
    )


def _show(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def output_columns(
    activity: Reconciliation,
    output: str,
    dims: list[str],
    inputs: list[Columns],
    model: DataModel,
) -> Columns:
    """The columns ``out`` carries (typed: the source key's type comes from the data model)."""
    columns = dict(inputs[0]) if inputs else {}
    if output == "unreconciled":
        return columns
    source_dimension = dims[0] if dims else None
    source_key: str | None = None
    if source_dimension is not None and is_file_rows(source_dimension):
        source_key = FILE_ROW_KEY
        columns.setdefault(FILE_ROW_KEY, ColumnType.INTEGER)
    elif source_dimension in model.dimensions:
        source_key = model.dimensions[source_dimension].key
        columns.setdefault(
            source_key, model.column_types(source_dimension).get(source_key, ColumnType.OTHER)
        )
    target_key = (
        model.dimensions[activity.dimension].key if activity.dimension in model.dimensions else None
    )
    return {
        name: columns.get(column, ColumnType.OTHER)
        for name, column in activity.carried(list(columns), source_key, target_key)
    }


def check(activity: Reconciliation, ctx: CheckContext) -> list[Problem]:
    """The dimension exists, rule columns exist on both sides, the filter fits."""
    problems = dimension_problem(ctx, activity.id, "dimension", activity.dimension)
    if problems:
        return problems
    dimension_columns = ctx.model.column_types(activity.dimension)
    source_dimension = ctx.input_dimension(activity.id)
    inbound = ctx.input_columns(activity.id)
    known: dict[str, ColumnType] | None = None
    if source_dimension is not None and is_file_rows(source_dimension):
        if set(inbound) - {FILE_ROW_KEY}:  # declared columns (inferred ones are not known)
            known = dict(inbound)
    elif source_dimension is not None and source_dimension in ctx.model.dimensions:
        known = {**ctx.model.column_types(source_dimension), **inbound}
    for index, rule in enumerate(activity.rules):
        if dimension_columns and rule.column not in dimension_columns:
            problems.append(
                Problem(
                    f"column '{rule.column}' is not in dimension '{activity.dimension}': "
                    f"{suggestion(rule.column, dimension_columns)}",
                    activity=activity.id,
                    field=f"rules[{index}].column",
                )
            )
        if known is not None and rule.source not in known:
            names = [c for c in known if c != FILE_ROW_KEY]
            problems.append(
                Problem(
                    f"column '{rule.source}' is not in the inbound rows: "
                    f"{suggestion(rule.source, names)}",
                    activity=activity.id,
                    field=f"rules[{index}].source",
                )
            )
    problems += filter_problems(ctx, activity.id, "filter", activity.filter, activity.dimension, {})
    return problems
