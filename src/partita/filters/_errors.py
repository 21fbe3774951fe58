"""FilterError: what is wrong with a filter, where, and the line with a caret under it."""

from __future__ import annotations

from partita.filters._ast import Span
from partita.model.problems import Problem


class FilterError(Exception):
    """A filter that cannot be parsed, checked or compiled.

    ``position`` is a 0-based offset into the filter text, ``line`` and ``column`` are 1-based,
    ``excerpt`` is the source line with carets under the offending token; all are None when the
    error has no place in a text (a rule-tree key, a missing variable value).
    """

    def __init__(self, message: str, span: Span | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.position: int | None = None
        self.line: int | None = None
        self.column: int | None = None
        self.excerpt: str | None = None
        if span is not None:
            self._locate(span)

    def _locate(self, span: Span) -> None:
        source, start = span.source, span.start
        line_start = source.rfind("\n", 0, start) + 1
        line_end = source.find("\n", start)
        line_end = len(source) if line_end < 0 else line_end
        self.position = start
        self.line = source.count("\n", 0, start) + 1
        self.column = start - line_start + 1
        text = source[line_start:line_end]
        pad = "".join("\t" if ch == "\t" else " " for ch in text[: start - line_start])
        width = max(1, min(span.end, line_end) - start)
        self.excerpt = f"{text}\n{pad}{'^' * width}"

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"{self.message} at line {self.line}, column {self.column}\n{self.excerpt}"

    def within(self, place: str) -> FilterError:
        """The same error, its message prefixed with a place (a rule-tree path)."""
        return FilterError(f"{place}: {self.message}", self.span)

    def to_problem(self, activity: str | None = None, field: str | None = None) -> Problem:
        """This error as a validation Problem: the place in the filter text goes in the message
        (the Problem's own line and column are places in a file), the excerpt in the hint."""
        message = self.message
        if self.line is not None:
            where = (
                f"column {self.column}"
                if self.line == 1
                else (f"line {self.line}, column {self.column}")
            )
            message = f"{message} (at {where} of the {field or 'filter'})"
        return Problem(message=message, activity=activity, field=field, hint=self.excerpt)
