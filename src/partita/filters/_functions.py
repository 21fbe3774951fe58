"""The functions of the filter language, each declared once: parameters, result, Ibis form."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from partita.filters._context import FilterContext
from partita.filters._kinds import Kind, common, is_kind, is_numeric, is_temporal
from partita.model.datamodel import ColumnType

#: What a parameter accepts: a test on the argument's kind, and how a message says it.
PARAMETERS: dict[str, tuple[Callable[[Kind], bool], str]] = {
    "string": (lambda kind: is_kind(kind, ColumnType.STRING), "a string"),
    "number": (is_numeric, "a number"),
    "integer": (lambda kind: is_kind(kind, ColumnType.INTEGER), "a whole number"),
    "temporal": (is_temporal, "a date or timestamp"),
    "any": (lambda kind: True, "a value"),
}


@dataclass(frozen=True)
class Function:
    """A function: parameter kinds (the last ``optional`` may be left out, or the last repeats
    when ``variadic``), its result kind from the argument kinds, and how to build it in Ibis."""

    params: tuple[str, ...]
    result: Callable[[Sequence[Kind]], Kind]
    build: Callable[[Sequence[ir.Value], FilterContext], ir.Value]
    optional: int = 0
    variadic: bool = False

    def arity(self) -> str:
        """The accepted argument count, as a message says it."""
        most = len(self.params)
        least = most - self.optional
        if self.variadic:
            return f"at least {least} arguments"
        if most == 0:
            return "no arguments"
        counts = f"{least} or {most}" if least != most else str(most)
        return f"{counts} argument{'' if most == 1 else 's'}"

    def accepts(self, count: int) -> bool:
        most = len(self.params)
        return most - self.optional <= count and (self.variadic or count <= most)

    def param(self, index: int) -> str:
        return self.params[min(index, len(self.params) - 1)]


def shift_date(value: ir.Value, interval: ir.Value, sign: int) -> ir.Value:
    """A date moved by a calendar interval, still a date (engines widen it to a timestamp)."""
    moved = value + interval if sign > 0 else value - interval
    return moved.cast("timestamp").date()


def _days_ago(args: Sequence[ir.Value], ctx: FilterContext) -> ir.Value:
    return shift_date(ctx.today_value(), args[0].as_interval("D"), -1)


def _round(args: Sequence[ir.Value], ctx: FilterContext) -> ir.Value:
    return args[0].round(args[1]) if len(args) > 1 else args[0].round()


def _same(kinds: Sequence[Kind]) -> Kind:
    return kinds[0]


def _fixed(kind: ColumnType) -> Callable[[Sequence[Kind]], Kind]:
    return lambda kinds: kind


def _coalesced(kinds: Sequence[Kind]) -> Kind:
    result = kinds[0]
    for kind in kinds[1:]:
        result = common(result, kind)
    return result


def _rounded(kinds: Sequence[Kind]) -> Kind:
    return kinds[0] if len(kinds) > 1 else ColumnType.INTEGER


_STRING = _fixed(ColumnType.STRING)
_INTEGER = _fixed(ColumnType.INTEGER)

FUNCTIONS: dict[str, Function] = {
    "lower": Function(("string",), _STRING, lambda a, c: a[0].lower()),
    "upper": Function(("string",), _STRING, lambda a, c: a[0].upper()),
    "trim": Function(("string",), _STRING, lambda a, c: a[0].strip()),
    "length": Function(("string",), _INTEGER, lambda a, c: a[0].length()),
    "coalesce": Function(("any", "any"), _coalesced, lambda a, c: ibis.coalesce(*a), variadic=True),
    "abs": Function(("number",), _same, lambda a, c: a[0].abs()),
    "round": Function(("number", "integer"), _rounded, _round, optional=1),
    "year": Function(("temporal",), _INTEGER, lambda a, c: a[0].year()),
    "month": Function(("temporal",), _INTEGER, lambda a, c: a[0].month()),
    "day": Function(("temporal",), _INTEGER, lambda a, c: a[0].day()),
    "now": Function((), _fixed(ColumnType.TIMESTAMP), lambda a, c: c.now_value()),
    "today": Function((), _fixed(ColumnType.DATE), lambda a, c: c.today_value()),
    "days_ago": Function(("integer",), _fixed(ColumnType.DATE), _days_ago),
}
