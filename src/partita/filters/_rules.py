"""The rule-tree form (what the canvas builder produces), read into the same AST as the text.

Errors name the rule by its path from the root, e.g. ``filter.all[1].op``.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TypeVar

from partita.filters._ast import (
    AGGREGATES,
    Aggregate,
    And,
    Between,
    Column,
    Compare,
    Exists,
    Expr,
    Filter,
    InList,
    IsNull,
    Like,
    Literal,
    Not,
    Null,
    Or,
    TextMatch,
    Variable,
)
from partita.filters._atoms import IDENTIFIER
from partita.filters._errors import FilterError
from partita.filters._parse import parse_expression, parse_text
from partita.model.problems import suggestion

_T = TypeVar("_T")

_COMPARE_OPS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
OPS = (
    *_COMPARE_OPS,
    *("in", "not_in", "is_null", "is_not_null", "between", "like", "not_like"),
    *("starts_with", "ends_with", "contains"),
)
_VALUELESS = ("is_null", "is_not_null")
_SPECIAL = ("var", "expr")
_FORMS: dict[str, tuple[str, ...]] = {
    "all": (),
    "any": (),
    "not": (),
    "text": (),
    "attr": ("op", "value"),
    "exists": ("filter",),
    "not_exists": ("filter",),
} | {func: ("filter", "op", "value") for func in AGGREGATES}


def parse_rules(rule: object, path: str = "filter") -> Filter:
    """The filter described by a rule tree (a mapping, a list meaning ``all``, or text)."""
    return Filter(_rule(rule, path))


def _rule(rule: object, path: str) -> Expr:
    if isinstance(rule, str):
        return _parsed(parse_text, rule, path).condition
    if isinstance(rule, list):
        return _group("all", rule, path)
    if not isinstance(rule, Mapping):
        raise FilterError(f"{path}: expected a rule (a mapping or a text), got {rule!r}")
    form = next((key for key in rule if key in _FORMS), None)
    if form is None:
        unknown = next(iter(rule), None)
        if unknown is None:
            raise FilterError(f"{path}: empty rule: {suggestion('', _FORMS)}")
        hint = suggestion(str(unknown), _FORMS)
        raise FilterError(f"{path}: unknown rule key {unknown!r}: {hint}")
    allowed = (form, *_FORMS[form])
    for key in rule:
        if key not in allowed:
            raise FilterError(
                f"{path}: unknown key {key!r} in a {form!r} rule: {suggestion(str(key), allowed)}"
            )
    return _BUILDERS[form](form, rule, path)


def _parsed(parse: Callable[[str], _T], text: object, path: str) -> _T:
    if not isinstance(text, str):
        raise FilterError(f"{path}: expected a text, got {text!r}")
    try:
        return parse(text)
    except FilterError as error:
        raise error.within(path) from None


def _group_rule(form: str, rule: Mapping[str, object], path: str) -> Expr:
    return _group(form, rule[form], f"{path}.{form}")


def _group(form: str, items: object, path: str) -> Expr:
    """``all`` or ``any`` of a list of rules; ``path`` is the list's place."""
    if not isinstance(items, list):
        raise FilterError(f"{path}: expected a list of rules, got {items!r}")
    nodes = tuple(_rule(item, f"{path}[{i}]") for i, item in enumerate(items))
    if len(nodes) == 1:
        return nodes[0]
    if not nodes:  # an empty group: all of nothing holds, any of nothing does not
        return Literal(form == "all")
    return And(nodes) if form == "all" else Or(nodes)


def _not(form: str, rule: Mapping[str, object], path: str) -> Expr:
    return Not(_rule(rule[form], f"{path}.not"))


def _text(form: str, rule: Mapping[str, object], path: str) -> Expr:
    return _parsed(parse_text, rule[form], f"{path}.text").condition


def _attr(form: str, rule: Mapping[str, object], path: str) -> Expr:
    return _predicate(_parsed(parse_expression, rule[form], f"{path}.attr"), rule, path)


def _exists(form: str, rule: Mapping[str, object], path: str) -> Expr:
    link = _link_name(rule[form], f"{path}.{form}")
    return Exists(link, _where(rule, path), negated=form == "not_exists")


def _aggregate(form: str, rule: Mapping[str, object], path: str) -> Expr:
    place = f"{path}.{form}"
    if form == "count":
        aggregate = Aggregate(form, _link_name(rule[form], place), where=_where(rule, path))
    else:
        target = _parsed(parse_expression, rule[form], place)
        if not (isinstance(target, Column) and len(target.path) > 1):
            raise FilterError(f"{place}: expected link.column, e.g. purchases.amount")
        column = Column(target.path[1:], target.span, target.part_spans[1:])
        link, link_span = target.path[0], target.part_spans[0]
        aggregate = Aggregate(form, link, column, _where(rule, path), link_span=link_span)
    return _predicate(aggregate, rule, path)


_BUILDERS: dict[str, Callable[[str, Mapping[str, object], str], Expr]] = {
    "all": _group_rule,
    "any": _group_rule,
    "not": _not,
    "text": _text,
    "attr": _attr,
    "exists": _exists,
    "not_exists": _exists,
}
_BUILDERS.update(dict.fromkeys(AGGREGATES, _aggregate))


def _link_name(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise FilterError(f"{path}: expected a link name, got {value!r}")
    return value


def _where(rule: Mapping[str, object], path: str) -> Filter | None:
    return Filter(_rule(rule["filter"], f"{path}.filter")) if "filter" in rule else None


def _predicate(operand: Expr, rule: Mapping[str, object], path: str) -> Expr:
    """``operand op value`` from the rule's ``op`` and ``value`` keys."""
    if "op" not in rule:
        raise FilterError(f"{path}: missing 'op': one of {', '.join(OPS)}")
    op = rule["op"]
    if not isinstance(op, str) or op not in OPS:
        raise FilterError(f"{path}.op: unknown op {op!r}: {suggestion(str(op), OPS)}")
    if op in _VALUELESS:
        if "value" in rule:
            raise FilterError(f"{path}: op {op!r} takes no value")
        return IsNull(operand, negated=op == "is_not_null")
    if "value" not in rule:
        raise FilterError(f"{path}: op {op!r} needs a value")
    raw, place = rule["value"], f"{path}.value"
    if op in _COMPARE_OPS:
        return Compare(_COMPARE_OPS[op], operand, _value(raw, place))
    if op in ("in", "not_in"):
        return InList(operand, _values(raw, place, op), negated=op == "not_in")
    if op == "between":
        low, high = _values(raw, place, op, exactly=2)
        return Between(operand, low, high)
    if op in ("like", "not_like"):
        return Like(operand, _value(raw, place), negated=op == "not_like")
    return TextMatch(op, operand, _value(raw, place))


def _values(raw: object, path: str, op: str, exactly: int | None = None) -> tuple[Expr, ...]:
    shape = "a list of two values [low, high]" if exactly else "a non-empty list of values"
    if not isinstance(raw, list) or not raw or (exactly is not None and len(raw) != exactly):
        raise FilterError(f"{path}: op {op!r} needs {shape}, got {raw!r}")
    return tuple(_value(item, f"{path}[{i}]") for i, item in enumerate(raw))


def _value(raw: object, path: str) -> Expr:
    """A rule value: a plain scalar, ``{var: name}`` or ``{expr: text}``."""
    if isinstance(raw, Mapping):
        return _special_value(raw, path)
    if raw is None:
        return Null()
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise FilterError(f"{path}: {raw!r} is not a finite number")
        return Literal(Decimal(repr(raw)))
    if isinstance(raw, str | int | Decimal | datetime.date):
        return Literal(raw)
    raise FilterError(f"{path}: expected a single value, got {raw!r}")


def _special_value(raw: Mapping[object, object], path: str) -> Expr:
    keys = list(raw)
    if keys == ["expr"]:
        return _parsed(parse_expression, raw["expr"], f"{path}.expr")
    if keys == ["var"]:
        name = raw["var"]
        if not (isinstance(name, str) and IDENTIFIER.fullmatch(name.removeprefix("$"))):
            raise FilterError(f"{path}.var: expected a variable name, got {name!r}")
        return Variable(name.removeprefix("$"))
    unknown = next((key for key in keys if key not in ("var", "expr")), None)
    if unknown is None:
        raise FilterError(f"{path}: a value mapping takes one key, 'var' or 'expr'")
    hint = suggestion(str(unknown), _SPECIAL)
    raise FilterError(f"{path}: unknown value key {unknown!r}: {hint}")
