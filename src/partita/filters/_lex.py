"""Tokens of the filter text, lexed by sqlglot's Tokenizer and sorted into a few kinds."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot.errors import TokenError
from sqlglot.tokens import Tokenizer, TokenType

from partita.filters._ast import Span
from partita.filters._errors import FilterError

_WORD = re.compile(r"[\w$]+")

RESERVED = frozenset(
    {"and", "or", "not", "in", "is", "null", "true", "false", "between", "like", "exists"}
    | {"interval", "where"}
)
"""Words that are never a name unless double-quoted."""


@dataclass(frozen=True)
class Token:
    """One token; ``kind`` is word, quoted (a "double-quoted" name), string, number, symbol or end.

    A word is an unquoted name or keyword (``text`` as written); a string's ``text`` is its
    value, quotes removed and ``''`` unescaped.
    """

    kind: str
    text: str
    span: Span

    def is_word(self, *words: str) -> bool:
        """Whether this is an unquoted word, one of ``words`` (lower case) if any are given."""
        return self.kind == "word" and (not words or self.text.lower() in words)

    def is_symbol(self, *symbols: str) -> bool:
        """Whether this is one of the given punctuation or operator symbols."""
        return self.kind == "symbol" and self.text in symbols

    def describe(self) -> str:
        """How a message names this token: as written, in single quotes unless it is a string."""
        written = self.span.source[self.span.start : self.span.end]
        return written if self.kind == "string" else f"'{written}'"


_KINDS = {TokenType.STRING: "string", TokenType.NUMBER: "number", TokenType.IDENTIFIER: "quoted"}


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source``, ending with an ``end`` token; FilterError if it cannot be lexed."""
    try:
        raw = Tokenizer().tokenize(source)
    except TokenError:
        raise _unclosed(source) from None
    tokens = []
    for tok in raw:
        kind = _KINDS.get(tok.token_type)
        if kind is None:
            kind = "word" if _WORD.fullmatch(tok.text) else "symbol"
        tokens.append(Token(kind, tok.text, Span(source, tok.start, tok.end + 1)))
    tokens.append(Token("end", "", Span(source, len(source), len(source))))
    return tokens


_OPENERS = {"'": "string", '"': "quoted name"}


def _unclosed(source: str) -> FilterError:
    """The error for text the tokenizer rejects: the string, name or comment left open."""
    i = 0
    while i < len(source):
        if source.startswith("--", i):
            newline = source.find("\n", i)
            i = len(source) if newline < 0 else newline
        elif source.startswith("/*", i):
            close = source.find("*/", i + 2)
            if close < 0:
                return FilterError("unclosed comment: missing '*/'", Span(source, i, i + 2))
            i = close + 2
        elif source[i] in _OPENERS:
            quote, close = source[i], i + 1
            while (close := source.find(quote, close)) >= 0 and source.startswith(quote * 2, close):
                close += 2
            if close < 0:
                message = f"unclosed {_OPENERS[quote]}: missing closing {quote}"
                return FilterError(message, Span(source, i, i + 1))
            i = close + 1
        else:
            i += 1
    return FilterError("cannot read the filter", Span(source, 0, len(source)))
