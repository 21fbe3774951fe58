"""Canonical text of any filter AST; parsing it back gives the same AST."""

from __future__ import annotations

import datetime
import functools
from decimal import Decimal

from sqlglot.tokens import Tokenizer, TokenType

from partita.filters._ast import (
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
    LiteralValue,
    Negate,
    Not,
    Null,
    Or,
    TextMatch,
    Variable,
)
from partita.filters._atoms import IDENTIFIER
from partita.filters._lex import RESERVED

_PREDICATE = 4
_ADDITIVE = 5


def to_text(node: Filter | Expr) -> str:
    """The canonical text of ``node``: minimal parentheses, ``=``/``!=``, quoted odd names."""
    return _text(node.condition if isinstance(node, Filter) else node)


def _level(node: Expr) -> int:
    """Binding strength: or 1, and 2, not 3, predicates 4, + - 5, * / 6, atoms 7."""
    match node:
        case Or():
            return 1
        case And():
            return 2
        case Not():
            return 3
        case Compare() | InList() | IsNull() | Between() | Like() | TextMatch():
            return _PREDICATE
        case Arith(op="+" | "-"):
            return _ADDITIVE
        case Arith():
            return _ADDITIVE + 1
    return 7


def _wrap(node: Expr, level: int) -> str:
    text = _text(node)
    return f"({text})" if _level(node) < level else text


def _text(node: Expr) -> str:
    match node:
        case Literal(value=value):
            return _literal(value)
        case Null():
            return "null"
        case Column(path=path):
            return ".".join(name(part) for part in path)
        case Variable(name=var):
            return f"${var}"
        case Interval(amount=amount, unit=unit):
            return f"interval {amount} {unit}{'' if abs(amount) == 1 else 's'}"
        case Call(name=func, args=args):
            return f"{func}({', '.join(_text(a) for a in args)})"
        case Negate(operand=operand):
            return f"-({_text(operand)})"
        case Arith(op=op, left=left, right=right):
            level = _level(node)
            return f"{_wrap(left, level)} {op} {_wrap(right, level + 1)}"
        case Not(operand=operand):
            inner = _wrap(operand, 3)
            # "not exists …" would read back as a negated exists, so keep the parentheses
            return f"not ({inner})" if inner.startswith("exists ") else f"not {inner}"
        case And(items=items):
            return " and ".join(_wrap(item, 3) for item in items)
        case Or(items=items):
            return " or ".join(_wrap(item, 2) for item in items)
        case Exists():
            return _exists(node)
        case Aggregate():
            return _aggregate(node)
    return _predicate(node)


def _predicate(node: Expr) -> str:
    match node:
        case Compare(op=op, left=left, right=right):
            return f"{_operand(left)} {op} {_operand(right)}"
        case InList(operand=operand, items=items, negated=negated):
            listed = ", ".join(_text(item) for item in items)
            return f"{_operand(operand)} {_not(negated)}in ({listed})"
        case IsNull(operand=operand, negated=negated):
            return f"{_operand(operand)} is {_not(negated)}null"
        case Between(operand=operand, low=low, high=high, negated=negated):
            bounds = f"{_operand(low)} and {_operand(high)}"
            return f"{_operand(operand)} {_not(negated)}between {bounds}"
        case Like(operand=operand, pattern=pattern, negated=negated):
            return f"{_operand(operand)} {_not(negated)}like {_operand(pattern)}"
        case TextMatch(op=op, operand=operand, text=text):
            return f"{_operand(operand)} {op.replace('_', ' ')} {_operand(text)}"
    raise TypeError(f"not a filter node: {node!r}")


def _operand(node: Expr) -> str:
    return _wrap(node, _ADDITIVE)


def _not(negated: bool) -> str:
    return "not " if negated else ""


def _exists(node: Exists) -> str:
    text = f"{_not(node.negated)}exists {name(node.link)}"
    return text if node.where is None else f"{text} ({_text(node.where.condition)})"


def _aggregate(node: Aggregate) -> str:
    target = name(node.link)
    if node.column is not None:
        target += "." + _text(node.column)
    if node.where is not None:
        target += f" where {_text(node.where.condition)}"
    return f"{node.func}({target})"


def _literal(value: LiteralValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        digits = format(value, "f")
        return digits if "." in digits else digits + ".0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime.datetime):
        return f"timestamp '{value.isoformat(sep=' ')}'"
    return f"date '{value.isoformat()}'"


@functools.lru_cache(maxsize=1024)
def name(text: str) -> str:
    """A column or link name as written in a filter: bare when it reads back as a name."""
    if IDENTIFIER.fullmatch(text) and text.lower() not in RESERVED:
        tokens = Tokenizer().tokenize(text)
        if len(tokens) == 1 and tokens[0].token_type == TokenType.VAR:
            return text
    return '"' + text.replace('"', '""') + '"'
