"""The text form: a precedence-climbing parser over sqlglot's tokens.

Lowest to highest: ``or``, ``and``, ``not``, predicates (comparisons, ``in``, ``between``,
``like``, ``is null``, ``starts with``…, not chainable), ``+ -``, ``* /``, unary minus, atoms.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from partita.filters._ast import (
    And,
    Arith,
    Between,
    Compare,
    Expr,
    Filter,
    InList,
    IsNull,
    Like,
    Literal,
    Negate,
    Not,
    Or,
    TextMatch,
)
from partita.filters._atoms import AtomParser

COMPARISONS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<="}
COMPARISONS |= {">": ">", ">=": ">="}


def parse_text(source: str) -> Filter:
    """The filter written in ``source``."""
    return Filter(_Parser(source, "filter").whole())


def parse_expression(source: str) -> Expr:
    """The value expression written in ``source`` (``lower(email)``, ``store.region``)."""
    return _Parser(source, "expression").whole()


class _Parser(AtomParser):
    """The operator levels, from ``or`` down to unary minus."""

    def whole(self) -> Expr:
        if self.tok.kind == "end":
            raise self.error(f"the {self.what} is empty")
        node = self.or_()
        if self.tok.kind != "end":
            expected = "'and', 'or'" if self.what == "filter" else "an operator"
            unexpected = self.tok.describe()
            end = f"the end of the {self.what}"
            raise self.error(f"unexpected {unexpected}: expected {expected} or {end}")
        return node

    def or_(self) -> Expr:
        return self.chain("or", Or, self.and_)

    def and_(self) -> Expr:
        return self.chain("and", And, self.not_)

    def chain(self, word: str, node: type[And] | type[Or], operand: Callable[[], Expr]) -> Expr:
        first = self.tok
        items = [operand()]
        while self.tok.is_word(word):
            self.advance()
            items.append(operand())
        return items[0] if len(items) == 1 else node(tuple(items), self.since(first))

    def not_(self) -> Expr:
        if self.tok.is_word("not") and not self.peek().is_word("exists"):
            first = self.advance()
            return Not(self.not_(), self.since(first))
        return self.predicate()

    # -- predicates ----------------------------------------------------------------------------

    def predicate(self) -> Expr:
        first = self.tok
        left = self.additive()
        tok = self.tok
        if tok.kind == "symbol" and tok.text in COMPARISONS:
            self.advance()
            return Compare(COMPARISONS[tok.text], left, self.additive(), self.since(first))
        negated = tok.is_word("not") and self.peek().is_word("in", "between", "like")
        if negated:
            self.advance()
        if self.tok.is_word("in"):
            return InList(left, self.in_list(), negated, self.since(first))
        if self.tok.is_word("between"):
            self.advance()
            low = self.additive()
            if not self.tok.is_word("and"):
                raise self.error(f"expected 'and' after 'between …', got {self.here()}")
            self.advance()
            return Between(left, low, self.additive(), negated, self.since(first))
        if self.tok.is_word("like"):
            self.advance()
            return Like(left, self.additive(), negated, self.since(first))
        if tok.is_word("is"):
            self.advance()
            null_negated = self.tok.is_word("not")
            if null_negated:
                self.advance()
            if not self.tok.is_word("null"):
                raise self.error(f"expected 'null' or 'not null' after 'is', got {self.here()}")
            self.advance()
            return IsNull(left, null_negated, self.since(first))
        match = self.text_match()
        if match is not None:
            return TextMatch(match, left, self.additive(), self.since(first))
        return left

    def in_list(self) -> tuple[Expr, ...]:
        self.advance()
        if not self.tok.is_symbol("("):
            raise self.error(f"expected '(' after 'in', got {self.here()}")
        opening = self.advance()
        items = [self.or_()]
        while self.tok.is_symbol(","):
            self.advance()
            items.append(self.or_())
        self.close(opening, "',' or ')'")
        return tuple(items)

    def text_match(self) -> str | None:
        """``starts with`` / ``ends with`` / ``contains`` at the current token, consumed."""
        tok = self.tok
        if tok.is_word("contains"):
            self.advance()
            return "contains"
        if not tok.is_word("starts", "ends"):
            return None
        self.advance()
        if not self.tok.is_word("with"):
            raise self.error(f"expected 'with' after {tok.describe()}, got {self.here()}")
        self.advance()
        return f"{tok.text.lower()}_with"

    # -- arithmetic ----------------------------------------------------------------------------

    def additive(self) -> Expr:
        return self.binary(("+", "-"), self.multiplicative)

    def multiplicative(self) -> Expr:
        return self.binary(("*", "/"), self.unary)

    def binary(self, ops: tuple[str, ...], operand: Callable[[], Expr]) -> Expr:
        first = self.tok
        left = operand()
        while self.tok.is_symbol(*ops):
            op = self.advance().text
            left = Arith(op, left, operand(), self.since(first))
        return left

    def unary(self) -> Expr:
        if not self.tok.is_symbol("-"):
            return self.primary()
        first = self.advance()
        if self.tok.kind == "number":
            number = self.number(self.advance())
            negative = number.copy_negate() if isinstance(number, Decimal) else -number  # exact
            return Literal(negative, self.since(first))
        return Negate(self.unary(), self.since(first))
