"""Atoms of the text form: literals, names and paths, variables, intervals, calls, links."""

from __future__ import annotations

import abc
import re
from decimal import Decimal, InvalidOperation

from partita.filters._ast import (
    AGGREGATES,
    TEMPORAL_TEXT,
    Aggregate,
    Call,
    Column,
    Exists,
    Expr,
    Filter,
    Interval,
    Literal,
    Null,
    Span,
    Variable,
)
from partita.filters._cursor import Cursor
from partita.filters._errors import FilterError
from partita.filters._lex import RESERVED, Token
from partita.model.datamodel import ColumnType
from partita.model.problems import suggestion

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
UNITS = ("year", "month", "week", "day", "hour", "minute", "second")
_UNIT_WORDS = {word: unit for unit in UNITS for word in (unit, unit + "s")}


class AtomParser(Cursor, abc.ABC):
    """Parses the operands that operators combine; ``or_`` is the full grammar's entry."""

    @abc.abstractmethod
    def or_(self) -> Expr:
        """A whole condition or value (inside parentheses, arguments, sub-filters)."""

    def primary(self) -> Expr:
        tok = self.tok
        if tok.kind == "string":
            self.advance()
            return Literal(tok.text, tok.span)
        if tok.kind == "number":
            self.advance()
            return Literal(self.number(tok), tok.span)
        if tok.kind == "quoted":
            return self.path()
        if tok.is_symbol("("):
            opening = self.advance()
            inner = self.or_()
            self.close(opening)
            return inner
        if tok.kind == "word":
            return self.word()
        raise self.missing()

    def word(self) -> Expr:
        tok, low = self.tok, self.tok.text.lower()
        if low in ("true", "false"):
            self.advance()
            return Literal(low == "true", tok.span)
        if low == "null":
            self.advance()
            return Null(tok.span)
        if low.startswith("$"):
            return self.variable()
        if low in ("date", "timestamp") and self.peek().kind == "string":
            return self.typed_literal()
        if low == "interval":
            return self.interval()
        if low == "exists" or (low == "not" and self.peek().is_word("exists")):
            return self.exists()
        if low in RESERVED:
            raise self.missing()
        if self.peek().is_symbol("("):
            return self.aggregate() if low in AGGREGATES else self.call()
        return self.path()

    def number(self, tok: Token) -> int | Decimal:
        if tok.text.isdigit():
            return int(tok.text)
        try:
            return Decimal(tok.text)
        except InvalidOperation:
            raise self.error(f"invalid number {tok.describe()}", tok) from None

    def typed_literal(self) -> Literal:
        first = self.advance()
        text = self.advance()
        convert, shape = TEMPORAL_TEXT[ColumnType(first.text.lower())]
        try:
            value = convert(text.text)
        except ValueError:
            raise self.error(
                f"invalid {first.text.lower()} {text.describe()}: expected {shape}", text
            ) from None
        return Literal(value, self.since(first))

    def variable(self) -> Variable:
        tok = self.advance()
        name = tok.text[1:]
        if not IDENTIFIER.fullmatch(name):
            message = f"invalid variable {tok.describe()}: write $ then a name (letters, digits, _)"
            raise self.error(message, tok)
        return Variable(name, tok.span)

    def interval(self) -> Interval:
        first = self.advance()
        sign = -1 if self.tok.is_symbol("-") else 1
        if sign < 0:
            self.advance()
        if not (self.tok.kind == "number" and self.tok.text.isdigit()):
            raise self.error(f"expected a whole number after 'interval', got {self.here()}")
        amount = sign * int(self.advance().text)
        unit = self.tok
        if not unit.is_word():
            raise self.error(f"expected a unit after the number (days, hours…), got {self.here()}")
        if unit.text.lower() not in _UNIT_WORDS:
            options = [f"{u}s" for u in UNITS]
            raise self.error(
                f"unknown interval unit {unit.describe()}: {suggestion(unit.text.lower(), options)}"
            )
        self.advance()
        return Interval(amount, _UNIT_WORDS[unit.text.lower()], self.since(first))

    def exists(self) -> Exists:
        first = self.tok
        negated = first.is_word("not")
        if negated:
            self.advance()
        keyword = self.advance()
        link = self.name(f"a link name after {keyword.describe()}")
        where = None
        if self.tok.is_symbol("("):
            opening = self.advance()
            where = Filter(self.or_())
            self.close(opening)
        return Exists(link.text, where, negated, self.since(first), link.span)

    def aggregate(self) -> Aggregate:
        first = self.advance()
        func = first.text.lower()
        opening = self.advance()
        names = self.names(f"a link name after '{func}('")
        link = names[0]
        if func == "count" and len(names) > 1:
            raise FilterError(
                f"count takes a link, not a column: count({link.text}), or "
                f"count_distinct({link.text}.<column>) to count distinct values",
                self.since(link),
            )
        if func != "count" and len(names) == 1:
            message = f"{func} needs a link and a column: {func}({link.text}.<column>)"
            raise self.error(message, link)
        column = None
        if len(names) > 1:
            column = Column(
                tuple(n.text for n in names[1:]),
                Span(self.source, names[1].span.start, names[-1].span.end),
                tuple(n.span for n in names[1:]),
            )
        where = None
        if self.tok.is_word("where"):
            self.advance()
            where = Filter(self.or_())
        self.close(opening, "'where' or ')'")
        return Aggregate(func, link.text, column, where, self.since(first), link.span)

    def call(self) -> Call:
        first = self.advance()
        opening = self.advance()
        args: list[Expr] = []
        if not self.tok.is_symbol(")"):
            args.append(self.or_())
            while self.tok.is_symbol(","):
                self.advance()
                args.append(self.or_())
        self.close(opening, "',' or ')'")
        return Call(first.text.lower(), tuple(args), self.since(first))

    def path(self) -> Column:
        names = self.names("a name")
        return Column(
            tuple(n.text for n in names),
            Span(self.source, names[0].span.start, names[-1].span.end),
            tuple(n.span for n in names),
        )

    def names(self, expected: str) -> list[Token]:
        """``name(.name)*``; ``expected`` describes the first name for the error message."""
        names = [self.name(expected)]
        while self.tok.is_symbol("."):
            self.advance()
            names.append(self.name("a name after '.'"))
        return names

    def name(self, expected: str) -> Token:
        tok = self.tok
        plain = tok.is_word() and tok.text.lower() not in RESERVED and not tok.text.startswith("$")
        if tok.kind == "quoted" or plain:
            return self.advance()
        raise self.error(f"expected {expected}, got {self.here()}")
