"""A cursor over the tokens of a filter text, with the parser's shared error wording."""

from __future__ import annotations

from partita.filters._ast import Span
from partita.filters._errors import FilterError
from partita.filters._lex import Token, tokenize


class Cursor:
    """The current token, moving forward, and errors placed at a token."""

    def __init__(self, source: str, what: str) -> None:
        self.source = source
        self.what = what  # "filter" or "expression", for messages
        self.tokens = tokenize(source)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self) -> Token:
        return self.tokens[min(self.i + 1, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tok
        if tok.kind != "end":
            self.i += 1
        return tok

    def since(self, first: Token) -> Span:
        """The span from ``first`` to the end of the last token consumed."""
        return Span(self.source, first.span.start, self.tokens[self.i - 1].span.end)

    def error(self, message: str, tok: Token | None = None) -> FilterError:
        return FilterError(message, (tok or self.tok).span)

    def here(self) -> str:
        """The current token as a message names it."""
        return f"the end of the {self.what}" if self.tok.kind == "end" else self.tok.describe()

    def close(self, opening: Token, expected: str = "')'") -> None:
        """Consume the ``)`` matching ``opening``."""
        if self.tok.is_symbol(")"):
            self.advance()
        elif self.tok.kind == "end":
            raise FilterError(f"unclosed '(': expected {expected}", opening.span)
        else:
            raise self.error(f"expected {expected}, got {self.here()}")

    def missing(self) -> FilterError:
        """The error when a value or a condition should start at the current token."""
        prev = self.tokens[self.i - 1] if self.i else None
        boolean = prev is None or prev.is_word("and", "or", "not")
        message = f"expected {'a condition' if boolean else 'a value'}"
        if prev is not None:
            message += f" after {prev.describe()}"
        if self.tok.kind != "end":
            message += f", got {self.tok.describe()}"
        return self.error(message)
