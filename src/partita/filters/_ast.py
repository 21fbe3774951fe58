"""The filter AST: plain frozen dataclasses shared by the text form and the rule-tree form.

Positions (:class:`Span`) ride along for error messages but never take part in equality, so a
filter parsed from text equals the same filter built from a rule tree.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from partita.model.datamodel import ColumnType


@dataclass(frozen=True)
class Span:
    """Where a node came from: ``source[start:end]``."""

    source: str
    start: int
    end: int


LiteralValue = str | int | Decimal | bool | datetime.date | datetime.datetime

#: How the text of a date or timestamp literal is read, and how to write it.
TEMPORAL_TEXT: dict[ColumnType, tuple[Callable[[str], datetime.date], str]] = {
    ColumnType.DATE: (datetime.date.fromisoformat, "'YYYY-MM-DD'"),
    ColumnType.TIMESTAMP: (datetime.datetime.fromisoformat, "'YYYY-MM-DD HH:MM:SS'"),
}


def literal_type(value: LiteralValue) -> ColumnType:
    """The column type of a Python literal value (bool before int, datetime before date)."""
    if isinstance(value, bool):
        return ColumnType.BOOLEAN
    if isinstance(value, int):
        return ColumnType.INTEGER
    if isinstance(value, Decimal):
        return ColumnType.NUMBER
    if isinstance(value, str):
        return ColumnType.STRING
    if isinstance(value, datetime.datetime):
        return ColumnType.TIMESTAMP
    return ColumnType.DATE


@dataclass(frozen=True)
class Literal:
    """A constant: string, integer, decimal, boolean, date or timestamp."""

    value: LiteralValue
    type: ColumnType = field(init=False)
    span: Span | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", literal_type(self.value))


@dataclass(frozen=True)
class Null:
    """The ``null`` literal."""

    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Column:
    """A column of the dimension, or ``link.link.column`` through one-links."""

    path: tuple[str, ...]
    span: Span | None = field(default=None, compare=False, repr=False)
    part_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Variable:
    """``$name``: a campaign variable."""

    name: str
    span: Span | None = field(default=None, compare=False, repr=False)


SUB_DAY = ("hour", "minute", "second")
"""Interval units that turn a date into a timestamp."""


@dataclass(frozen=True)
class Interval:
    """``interval 18 years``; ``unit`` is singular: year, month, week, day, hour, minute, second."""

    amount: int
    unit: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Call:
    """A function call such as ``lower(email)`` or ``today()``."""

    name: str
    args: tuple[Expr, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Negate:
    """Unary minus of an expression (a minus before a number literal folds into the literal)."""

    operand: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Arith:
    """``left op right`` with op one of ``+ - * /``."""

    op: str
    left: Expr
    right: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Compare:
    """``left op right`` with op one of ``= != < <= > >=``."""

    op: str
    left: Expr
    right: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class InList:
    """``operand [not] in (items…)``."""

    operand: Expr
    items: tuple[Expr, ...]
    negated: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class IsNull:
    """``operand is [not] null``."""

    operand: Expr
    negated: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Between:
    """``operand [not] between low and high`` (both ends included)."""

    operand: Expr
    low: Expr
    high: Expr
    negated: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Like:
    """``operand [not] like pattern`` (SQL ``%`` and ``_`` wildcards)."""

    operand: Expr
    pattern: Expr
    negated: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


TEXT_MATCHES = ("starts_with", "ends_with", "contains")


@dataclass(frozen=True)
class TextMatch:
    """``operand starts with | ends with | contains text`` (no wildcards: ``%`` is a ``%``)."""

    op: str
    operand: Expr
    text: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class And:
    """All items hold (two or more)."""

    items: tuple[Expr, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Or:
    """At least one item holds (two or more)."""

    items: tuple[Expr, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Not:
    """The operand does not hold."""

    operand: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Exists:
    """``[not] exists link [(filter)]``: some row of a many-link (matching the filter)."""

    link: str
    where: Filter | None = None
    negated: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)
    link_span: Span | None = field(default=None, compare=False, repr=False)


AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max")


@dataclass(frozen=True)
class Aggregate:
    """``func(link[.column] [where filter])`` over the rows of a many-link.

    ``column`` is a path in the linked dimension; it is None only for ``count``.
    """

    func: str
    link: str
    column: Column | None = None
    where: Filter | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    link_span: Span | None = field(default=None, compare=False, repr=False)


Expr = (
    Literal
    | Null
    | Column
    | Variable
    | Interval
    | Call
    | Negate
    | Arith
    | Compare
    | InList
    | IsNull
    | Between
    | Like
    | TextMatch
    | And
    | Or
    | Not
    | Exists
    | Aggregate
)


@dataclass(frozen=True)
class Filter:
    """The root of a parsed filter: a condition that must be true for a row to match."""

    condition: Expr
