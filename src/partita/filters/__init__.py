"""Filters: the text and rule-tree forms, checked against the data model, compiled to Ibis.

>>> node = parse_filter("loyalty_tier = 'gold' and exists purchases (amount > 100)")
>>> to_text(node)
"loyalty_tier = 'gold' and exists purchases (amount > 100)"
"""

from __future__ import annotations

from collections.abc import Mapping

from partita.filters._ast import Expr, Filter
from partita.filters._check import check
from partita.filters._compile import compile_values, filter_table
from partita.filters._context import FilterContext
from partita.filters._errors import FilterError
from partita.filters._parse import parse_expression, parse_text
from partita.filters._rules import parse_rules
from partita.filters._text import to_text

__all__ = [
    "Expr",
    "Filter",
    "FilterContext",
    "FilterError",
    "check",
    "compile_values",
    "filter_table",
    "parse_expression",
    "parse_filter",
    "to_text",
]


def parse_filter(source: str | Mapping[str, object] | list[object]) -> Filter:
    """A filter from its text, or from a rule tree (a mapping, or a list meaning ``all``)."""
    if isinstance(source, str):
        return parse_text(source)
    return parse_rules(source)
