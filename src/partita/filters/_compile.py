"""Compiling the AST to Ibis expression trees: never SQL text, every value an Ibis literal.

Each node becomes a function of the widened table (the input plus the joins the links need),
so joins are planned while walking the tree and applied once before any value is built.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Sequence
from decimal import Decimal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir

from partita.filters._ast import (
    SUB_DAY,
    TEMPORAL_TEXT,
    Aggregate,
    And,
    Arith,
    Between,
    Call,
    Column,
    Compare,
    Exists,
    Expr,
    Filter,
    InList,
    Interval,
    IsNull,
    Like,
    Literal,
    Negate,
    Not,
    Null,
    Or,
    TextMatch,
    Variable,
)
from partita.filters._context import FilterContext
from partita.filters._errors import FilterError
from partita.filters._functions import FUNCTIONS, shift_date
from partita.filters._links import Links
from partita.model.datamodel import ColumnType

Build = Callable[[ir.Table], ir.Value]

_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_COMPARE = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TEXT_METHODS = {"starts_with": "startswith", "ends_with": "endswith", "contains": "contains"}
_MAX_DECIMAL_PRECISION = 38


def compile_values(
    table: ir.Table, nodes: Sequence[Filter | Expr], ctx: FilterContext
) -> tuple[ir.Table, list[ir.Value]]:
    """The widened table and each node's value over it.

    The widened table has every column of ``table`` unchanged plus ``__pf_…`` helper columns
    (one-link joins, many-link aggregates); filter or order it, then select ``table.columns``.
    Nodes are expected to have passed :func:`check`. A :class:`Filter`'s value is a condition:
    exactly true where the filter matches, and false or NULL elsewhere (both mean "no match";
    wrap it in ``coalesce(…, False)`` before negating it). An :class:`Expr`'s value is exact.
    """
    links = Links(table, ctx, compile_values)
    compiler = _Compiler(ctx, links)
    builds = [
        compiler.build(n.condition, _Need.TRUE) if isinstance(n, Filter) else compiler.build(n)
        for n in nodes
    ]
    widened = links.widen()
    return widened, [build(widened) for build in builds]


def filter_table(table: ir.Table, node: Filter, ctx: FilterContext) -> ir.Table:
    """The rows of ``table`` where ``node`` is true (NULL does not match), same columns."""
    widened, (condition,) = compile_values(table, [node], ctx)
    return widened.filter(condition).select(*table.columns)


def _constant(value: ir.Value) -> Build:
    return lambda table: value


def _literal(value: object) -> ir.Value:
    """A Python value as an Ibis literal; decimals keep their exact precision and scale."""
    if value is None:
        return ibis.null()
    if isinstance(value, Decimal) and value.is_finite():
        _, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)  # finite decimals have an integer exponent
        scale = max(0, -exponent)
        precision = max(len(digits) + max(0, exponent), scale, 1)
        if precision <= _MAX_DECIMAL_PRECISION:
            return ibis.literal(value, type=dt.Decimal(precision, scale))
        return ibis.literal(float(value))
    return ibis.literal(value)


def _aligned(value: ir.Value, other: ir.Value) -> ir.Value:
    """A literal made comparable with ``other`` the SQL way.

    A null stays a null of ``other``'s type (Ibis would turn ``= NULL`` into ``IS NULL``);
    a string compared with a date or timestamp is read as a date or timestamp.
    """
    op, wanted = value.op(), other.type()
    if not isinstance(op, ops.Literal):
        return value
    if op.value is None:
        return value if wanted.is_null() else ibis.null().cast(wanted)
    if not (wanted.is_date() or wanted.is_timestamp()) or not value.type().is_string():
        return value
    kind = ColumnType.DATE if wanted.is_date() else ColumnType.TIMESTAMP
    parse, shape = TEMPORAL_TEXT[kind]
    try:
        return ibis.literal(parse(op.value), type=wanted)
    except ValueError:
        raise FilterError(f"cannot compare a {kind} with '{op.value}': write {shape}") from None


def _arith(op: str, left: ir.Value, right: ir.Value) -> ir.Value:
    if right.type().is_interval() and left.type().is_date():
        if right.type().resolution not in SUB_DAY:
            return shift_date(left, right, 1 if op == "+" else -1)
        left = left.cast("timestamp")
    return _ARITH[op](left, right)


class _Need(enum.Enum):
    """Which of a boolean's values must be exact, which lets a condition take a faster form.

    Under ``TRUE`` (a condition, or a part of one that only ``and``/``or`` lead to) a NULL may
    stand for false: only where the value is true counts. Under ``FALSE`` (beneath a ``not``)
    a NULL may stand for true. ``EXACT``: every value counts (in a comparison, a function…).
    """

    EXACT = "exact"
    TRUE = "true"
    FALSE = "false"

    def negated(self) -> _Need:
        """What the operand of a ``not`` needs."""
        flipped = {_Need.TRUE: _Need.FALSE, _Need.FALSE: _Need.TRUE}
        return flipped.get(self, self)


class _Compiler:
    """Turns nodes into builders over the widened table, planning joins on ``links``."""

    def __init__(self, ctx: FilterContext, links: Links) -> None:
        self.ctx = ctx
        self.links = links

    def build(self, node: Expr, need: _Need = _Need.EXACT) -> Build:
        match node:
            case Literal(value=value):
                return _constant(_literal(value))
            case Null():
                return _constant(ibis.null())
            case Variable(name=name):
                return _constant(_literal(self.variable(name)))
            case Interval(amount=amount, unit=unit):
                return _constant(ibis.interval(**{f"{unit}s": amount}))
            case Column(path=(name,)):
                return lambda table: table[name]
            case Column(path=path):
                helper = self.links.column(path)
                return lambda table: table[helper]
            case Call():
                return self.call(node)
            case Negate(operand=operand):
                negated = self.build(operand)
                return lambda table: -negated(table)
            case Arith(op=op, left=left, right=right):
                lhs, rhs = self.build(left), self.build(right)
                return lambda table: _arith(op, lhs(table), rhs(table))
            case And(items=items) | Or(items=items):
                # `and`/`or` keep what their parts need: a NULL read as false (or true) in a
                # part changes neither where the whole is true nor where it is false
                parts = [self.build(item, need) for item in items]
                combine = ibis.and_ if isinstance(node, And) else ibis.or_
                return lambda table: combine(*(part(table) for part in parts))
            case Not(operand=operand):
                inverted = self.build(operand, need.negated())
                return lambda table: ~inverted(table)
            case Exists():
                return self.exists(node, need)
            case Aggregate():
                return self.aggregate(node)
        return self.predicate(node)

    def predicate(self, node: Expr) -> Build:
        match node:
            case Compare(op=op, left=left, right=right):
                lhs, rhs = self.build(left), self.build(right)
                compare = _COMPARE[op]

                def compared(table: ir.Table) -> ir.Value:
                    a, b = lhs(table), rhs(table)
                    return compare(_aligned(a, b), _aligned(b, a))

                return compared
            case InList(operand=operand, items=items, negated=negated):
                value, parts = self.build(operand), [self.build(item) for item in items]

                def listed(table: ir.Table) -> ir.Value:
                    a = value(table)
                    options = [_aligned(part(table), a) for part in parts]
                    return a.notin(options) if negated else a.isin(options)

                return listed
            case IsNull(operand=operand, negated=negated):
                value = self.build(operand)
                return lambda table: _negated(value(table).isnull(), negated)
            case Between(operand=operand, low=low, high=high, negated=negated):
                value, lo, hi = self.build(operand), self.build(low), self.build(high)

                def between(table: ir.Table) -> ir.Value:
                    a = value(table)
                    inside = a.between(_aligned(lo(table), a), _aligned(hi(table), a))
                    return _negated(inside, negated)

                return between
            case Like(operand=operand, pattern=pattern, negated=negated):
                value, like = self.build(operand), self.build(pattern)
                return lambda table: _negated(value(table).like(like(table)), negated)
            case TextMatch(op=op, operand=operand, text=text):
                value, part, method = self.build(operand), self.build(text), _TEXT_METHODS[op]
                return lambda table: getattr(value(table), method)(part(table))
        raise TypeError(f"not a filter node: {node!r}")

    def variable(self, name: str) -> object:
        if name not in self.ctx.variables:
            raise FilterError(f"no value for variable '${name}'")
        return self.ctx.variables[name]

    def call(self, node: Call) -> Build:
        function = FUNCTIONS.get(node.name)
        if function is None:
            raise FilterError(f"unknown function '{node.name}'", node.span)
        args = [self.build(arg) for arg in node.args]
        return lambda table: function.build([arg(table) for arg in args], self.ctx)

    def exists(self, node: Exists, need: _Need) -> Build:
        link = self.ctx.model.link(self.ctx.dimension, node.link)
        found: Build
        if len(link.on) == 1:  # a semi join: source IN (target keys)
            ((source, target),) = link.on.items()
            rows, _ = self.links.rows(link, node.where)
            keys = rows.filter(rows[target].notnull())[target]
            if need is (_Need.FALSE if node.negated else _Need.TRUE):
                # NULL IN (…) is NULL, which may stand for false here; the guard below costs
                # a third of the query on DuckDB
                found = lambda table: table[source].isin(keys)  # noqa: E731
            else:  # never NULL: a NULL key has no linked rows
                found = lambda table: table[source].notnull() & table[source].isin(keys)  # noqa: E731
        else:  # the grouped rows of the link, left joined: present or NULL
            helper = self.links.measure(link, node.where, "count", None)
            found = lambda table: table[helper].notnull()  # noqa: E731
        return (lambda table: ~found(table)) if node.negated else found

    def aggregate(self, node: Aggregate) -> Build:
        link = self.ctx.model.link(self.ctx.dimension, node.link)
        helper = self.links.measure(link, node.where, node.func, node.column)
        if node.func in ("count", "count_distinct"):  # no rows: 0, not NULL
            return lambda table: ibis.coalesce(table[helper], 0)
        return lambda table: table[helper]


def _negated(value: ir.Value, negated: bool) -> ir.Value:
    return ~value if negated else value
