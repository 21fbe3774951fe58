"""The types the checker reasons with: column types, plus the ``null`` literal and intervals."""

from __future__ import annotations

from typing import Literal as Exactly

from partita.filters._ast import TEMPORAL_TEXT, Column, Expr, Literal, Null, Variable
from partita.filters._text import to_text
from partita.model.datamodel import ColumnType

Kind = ColumnType | Exactly["null", "interval"]
NULL: Kind = "null"
INTERVAL: Kind = "interval"
_LENIENT = (NULL, ColumnType.OTHER)  # fits anywhere: the null literal, columns of unknown type


def is_numeric(kind: Kind) -> bool:
    return kind in _LENIENT or (isinstance(kind, ColumnType) and kind.is_numeric)


def is_temporal(kind: Kind) -> bool:
    return kind in _LENIENT or (isinstance(kind, ColumnType) and kind.is_temporal)


def is_kind(kind: Kind, wanted: ColumnType) -> bool:
    """Whether a value of ``kind`` can stand where ``wanted`` is needed."""
    return kind in _LENIENT or kind == wanted


def numeric_result(*kinds: Kind) -> Kind:
    """Integer when every operand is an integer, else number."""
    if all(kind == ColumnType.INTEGER for kind in kinds):
        return ColumnType.INTEGER
    return ColumnType.NUMBER


def common(left: Kind, right: Kind) -> Kind:
    """The kind of a value that is either ``left`` or ``right`` (coalesce)."""
    if left in _LENIENT:
        return right
    if right in _LENIENT or left == right:
        return left
    return numeric_result(left, right)


def mismatch(left: Kind, left_node: Expr, right: Kind, right_node: Expr) -> str | None:
    """None when the two values can be compared, else an explanation to add (maybe empty).

    A string compared with a date or timestamp is read as one, so a string literal must parse.
    """
    if left in _LENIENT or right in _LENIENT or left == right:
        return None
    if (is_numeric(left) and is_numeric(right)) or (is_temporal(left) and is_temporal(right)):
        return None
    if left == ColumnType.STRING:
        left, left_node, right, right_node = right, right_node, left, left_node
    if isinstance(left, ColumnType) and left in TEMPORAL_TEXT and right == ColumnType.STRING:
        if isinstance(right_node, Variable):
            return None
        if isinstance(right_node, Literal) and isinstance(right_node.value, str):
            parse, shape = TEMPORAL_TEXT[left]
            try:
                parse(right_node.value)
            except ValueError:
                return f"not a {left} (write {shape})"
            return None
    return ""


def kind_name(kind: Kind) -> str:
    """A type as messages name it: integers and decimals are both "number"."""
    return "number" if is_numeric(kind) and kind not in _LENIENT else str(kind)


def describe(node: Expr, kind: Kind) -> str:
    """A value as messages name it: ``string column 'country'``, ``number 3``, ``null``."""
    name = kind_name(kind)
    text = to_text(node)
    match node:
        case Null():
            return "null"
        case Literal(type=ColumnType.DATE | ColumnType.TIMESTAMP):
            return text
        case Literal():
            return f"{name} {text}"
        case Column(path=path):
            return f"{name} column '{'.'.join(path)}'"
        case Variable():
            return f"{name} variable {text}"
    return text if kind == INTERVAL else f"{name} expression '{text}'"
