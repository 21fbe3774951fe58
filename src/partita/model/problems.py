"""Problems found in user input, and the one place that words them.

Every error a user can cause (a campaign file, a filter, a project file) is reported as one or
more :class:`Problem` values: *where* (file, line, column, activity, field), *what* is wrong, and
*what to do* about it.  :class:`InvalidInput` carries a list of them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest valid name to ``name`` among ``candidates``, or None when nothing is close."""
    pool = sorted(set(candidates))
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in pool}
        matches = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
        matches = [lowered[m] for m in matches]
    return matches[0] if matches else None


def suggestion(name: str, candidates: Iterable[str]) -> str:
    """A sentence ending a message: "did you mean 'x'?" or the list of valid names."""
    pool = sorted(set(candidates))
    best = did_you_mean(name, pool)
    if best is not None:
        return f"did you mean '{best}'?"
    if not pool:
        return "none is available"
    shown = ", ".join(f"'{c}'" for c in pool[:12])
    more = ", …" if len(pool) > 12 else ""
    return f"valid names: {shown}{more}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with user input, with its place."""

    message: str
    activity: str | None = None
    field: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None

    def where(self) -> str:
        """The place as a person reads it: ``file:line:col: activity 'x', field 'y'``."""
        parts: list[str] = []
        if self.file is not None:
            place = self.file
            if self.line is not None:
                place += f":{self.line}"
                if self.column is not None:
                    place += f":{self.column}"
            parts.append(place)
        subject: list[str] = []
        if self.activity is not None:
            subject.append(f"activity '{self.activity}'")
        if self.field is not None:
            subject.append(f"field '{self.field}'")
        if subject:
            parts.append(", ".join(subject))
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint and "\n" in self.hint:
            text += "\n" + "\n".join(f"      {line}" for line in self.hint.splitlines())
        elif self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (``--json`` output, API responses)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class InvalidInput(Exception):
    """Raised when user input has one or more problems; the message lists them all."""

    problems: Sequence[Problem]
    subject: str = "input"
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"{self.subject} has {count} problem{'s' if count != 1 else ''}"
        return "\n".join([head + ":", *(f"  - {p}" for p in self.problems)])


class PartitaError(Exception):
    """An error with a message meant for the user (no traceback needed)."""
