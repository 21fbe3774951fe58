"""update_data: write inbound values into a warehouse table by key (insert, update or upsert).

Everything runs inside the warehouse.  The values (expressions over the population, cast to
the table's column types) are first staged in a scratch working table; the checks run on it
(types, null and duplicate keys, keys already in the table for mode insert), then the
``UPDATE … FROM`` and ``INSERT … SELECT`` statements run in one transaction: a failure leaves
the table as it was.  In test mode nothing is written; the log says what would be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ibis.expr.types as ir

from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext
from partita.activities.checks import expression_problems
from partita.filters import FilterError, compile_values, parse_expression
from partita.filters import check as check_expression
from partita.model.activities import UpdateData
from partita.model.datamodel import ColumnType
from partita.model.problems import PartitaError, Problem, suggestion
from partita.model.states import LogLevel, Mode
from partita.warehouse import writes
from partita.warehouse.types import column_type, column_types

#: A value of type ``key`` fits a column of type ``value`` besides the same type.
_WIDENS = {
    ColumnType.NUMBER: {ColumnType.INTEGER},
    ColumnType.TIMESTAMP: {ColumnType.DATE},
}
_EXAMPLES = 2


def run(ctx: RunContext, activity: UpdateData, inputs: list[Input]) -> Outputs:
    """Stage, check, then write in one transaction (live) or report what would be written."""
    source = inputs[0]
    target = writes.user_table(ctx.warehouse, activity.table, activity.database)
    keys = list(activity.key)
    staged = _stage(ctx, activity, source, target)
    _check_keys(ctx, activity, staged, keys)
    matched = staged.semi_join(target, [staged[k] == target[k] for k in keys])
    total, existing = _count(ctx, staged), _count(ctx, matched)
    if activity.mode == "insert" and existing:
        raise PartitaError(
            f"{_keys(existing)} already in table '{activity.table}', e.g. "
            f"{_examples(matched, keys)}: use mode upsert"
        )
    inserted = total - existing if activity.mode != "update" else 0
    updated = existing if activity.mode != "insert" else 0
    left_out = total - existing if activity.mode == "update" else 0

    if ctx.mode == Mode.TEST:
        ctx.log(
            LogLevel.INFO,
            f"test mode: would insert {inserted:,} and update {updated:,} rows of "
            f"{activity.table}" + _left_out(left_out, activity.table),
            None,
        )
        return {"out": Output.passthrough(source)}

    columns = list(activity.columns)
    statements: list[writes.Statement] = []
    if updated:
        statements.append(writes.update_rows(target, staged, keys, columns))
    if inserted:
        statements.append(
            writes.insert_rows(
                target,
                staged,
                [*keys, *columns],
                new_keys_only=keys if activity.mode == "upsert" else (),
            )
        )
    if statements:
        _write(ctx, activity, target, statements)
    ctx.log(
        LogLevel.INFO,
        f"update_data '{activity.id}': inserted {inserted:,} and updated {updated:,} rows of "
        f"{activity.table}" + _left_out(left_out, activity.table),
        None,
    )
    return {"out": Output.passthrough(source)}


def _stage(ctx: RunContext, activity: UpdateData, source: Input, target: ir.Table) -> ir.Table:
    """A scratch table of the values to write: one column per table column (keys first), each
    cast to the table column's type, after checking names and types."""
    schema = target.schema()
    expressions = {**activity.key, **activity.columns}
    _check_columns(activity, schema.names)
    _check_types(ctx, activity, source, expressions, {c: column_type(t) for c, t in schema.items()})
    population = ctx.population(source)
    nodes = [parse_expression(text) for text in expressions.values()]
    widened, values = compile_values(population, nodes, ctx.filter_context(source.dimension))
    casts = {
        column: value.cast(schema[column].copy(nullable=True))
        for column, value in zip(expressions, values, strict=True)
    }
    return ctx.scratch(widened.select(**casts))


def _write(
    ctx: RunContext, activity: UpdateData, target: ir.Table, statements: Sequence[writes.Statement]
) -> None:
    """Run the statements in one transaction; a failure is reported as rolled back."""
    dialect = ctx.warehouse.traits.dialect
    ctx.log(
        LogLevel.DEBUG,
        f"writing to table {activity.table}",
        {"sql": ";\n".join(s.sql(dialect=dialect) for s in statements)},
    )
    try:
        with writes.writable(ctx.warehouse, target):
            writes.run_statements(ctx.warehouse, statements)
    except PartitaError:
        raise
    except Exception as exc:
        first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise PartitaError(
            f"writing to table '{activity.table}' failed and was rolled back, nothing was "
            f"written: {type(exc).__name__}: {first}"
        ) from exc


def _count(ctx: RunContext, table: ir.Table) -> int:
    return int(ctx.warehouse.scalar(table.count()))


def _keys(count: int) -> str:
    return f"{count:,} key{'s' if count != 1 else ''}"


def _left_out(count: int, table: str) -> str:
    if not count:
        return ""
    return f" ({_keys(count)} not in {table} left out: mode update)"


def _examples(table: ir.Table, keys: Sequence[str]) -> str:
    """The first keys of ``table`` as a person reads them: ``3, 17`` or ``(3, 'FR'), …``."""
    rows = table.select(*keys).order_by(list(keys)).limit(_EXAMPLES).to_pyarrow().to_pylist()
    shown = []
    for row in rows:
        parts = [repr(v) if isinstance(v, str) else str(v) for v in row.values()]
        shown.append(parts[0] if len(parts) == 1 else f"({', '.join(parts)})")
    return ", ".join(shown)


# -- checks -----------------------------------------------------------------------------------


def _check_columns(activity: UpdateData, available: Sequence[str]) -> None:
    """Every column named in ``key`` and ``columns`` is a column of the table."""
    for setting, names in (("key", activity.key), ("columns", activity.columns)):
        for name in names:
            if name not in available:
                raise PartitaError(
                    f"table '{activity.table}' has no column '{name}' (setting '{setting}'): "
                    f"{suggestion(name, available)}"
                )


def _check_types(
    ctx: RunContext,
    activity: UpdateData,
    source: Input,
    expressions: Mapping[str, str],
    table_types: Mapping[str, ColumnType],
) -> None:
    """Each expression is valid over the population and its type fits its column's."""
    carried = {c: t for c, t in column_types(source.table.schema()).items() if c != source.key}
    for column, text in expressions.items():
        setting = "key" if column in activity.key else "columns"
        try:
            kind = check_expression(
                parse_expression(text),
                ctx.model,
                source.dimension,
                extra_columns=carried,
                variables={n: v.column_type for n, v in ctx.campaign.variables.items()},
            )
        except FilterError as error:
            raise PartitaError(f"{setting}.{column}: {error}") from None
        wanted = table_types[column]
        if not _fits(kind, wanted):
            raise PartitaError(
                f"column '{column}' of table '{activity.table}' is {wanted}; "
                f"expression '{text}' is {kind}"
            )


def _fits(kind: ColumnType, wanted: ColumnType) -> bool:
    if ColumnType.OTHER in (kind, wanted) or kind == wanted:
        return True
    return kind in _WIDENS.get(wanted, set())


def _check_keys(
    ctx: RunContext, activity: UpdateData, staged: ir.Table, keys: Sequence[str]
) -> None:
    """No null key, and no key twice in the population."""
    condition = staged[keys[0]].isnull()
    for k in keys[1:]:
        condition = condition | staged[k].isnull()
    nulls = _count(ctx, staged.filter(condition))
    if nulls:
        names = ", ".join(activity.key[k] for k in keys)
        raise PartitaError(
            f"{nulls:,} row{'s' if nulls != 1 else ''} of the population "
            f"{'have' if nulls != 1 else 'has'} no key ({names} is null): "
            f"a row of table '{activity.table}' cannot be found by a null key"
        )
    groups = staged.group_by(list(keys)).agg(__pf_rows=staged.count())
    twice = groups.filter(groups["__pf_rows"] > 1)
    duplicated = _count(ctx, twice)
    if duplicated:
        raise PartitaError(
            f"{_keys(duplicated)} appear{'s' if duplicated == 1 else ''} more than once in the "
            f"population, e.g. {_examples(twice, keys)}: table '{activity.table}' gets one row "
            "per key (add a deduplication before update_data)"
        )


# -- validation -------------------------------------------------------------------------------


def check(activity: UpdateData, ctx: CheckContext) -> list[Problem]:
    """Key and value expressions fit the input's rows (the table is checked at run time)."""
    dimension = ctx.input_dimension(activity.id)
    columns = ctx.input_columns(activity.id)
    problems: list[Problem] = []
    for setting, mapping in (("key", activity.key), ("columns", activity.columns)):
        for column, text in mapping.items():
            problems += expression_problems(
                ctx, activity.id, f"{setting}.{column}", [text], dimension, columns
            )
    return problems
