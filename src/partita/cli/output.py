"""How the CLI prints: Rich tables for people, JSON for machines, no colour when not a TTY."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from partita.model.problems import InvalidInput, Problem

_NO_COLOR = bool(os.environ.get("NO_COLOR"))
# Piped output (CI logs, files) gets wide tables instead of Rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
console = Console(no_color=_NO_COLOR, highlight=False, soft_wrap=True, width=_WIDTH)
errors = Console(stderr=True, no_color=_NO_COLOR, highlight=False, soft_wrap=True, width=_WIDTH)

STATUS_STYLE = {
    "completed": "green",
    "done": "green",
    "running": "cyan",
    "pending": "dim",
    "waiting": "yellow",
    "paused": "yellow",
    "failed": "red",
    "stopped": "magenta",
    "cancelled": "magenta",
    "skipped": "dim",
    "draft": "white",
    "archived": "dim",
    "fired": "green",
    "dead": "dim",
}


def styled(status: str) -> str:
    """A status word in its colour."""
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=_default, ensure_ascii=False) + "\n")


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    numeric: Sequence[str] = (),
) -> Table:
    """A Rich table; columns named in ``numeric`` are right-aligned."""
    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        result.add_column(column, justify="right" if column in numeric else "left")
    for row in rows:
        result.add_row(*["" if v is None else str(v) for v in row])
    return result


def number(value: int | None) -> str:
    """A count with thousands separators (empty when unknown)."""
    return "" if value is None else f"{value:,}"


def print_problems(exc: InvalidInput, as_json: bool) -> None:
    """Every problem of an invalid input, each on its line."""
    if as_json:
        print_json(
            {"valid": False, "problems": [p.to_dict() for p in exc.problems], "message": str(exc)}
        )
        return
    count = len(exc.problems)
    errors.print(
        f"[red]error:[/] {exc.subject} has {count} problem{'s' if count != 1 else ''}:", markup=True
    )
    for problem in exc.problems:
        errors.print(f"  - {problem}", markup=False)


def print_error(message: str, as_json: bool) -> None:
    """A one-line error."""
    if as_json:
        print_json({"error": message})
    else:
        errors.print(f"[red]error:[/] {_escape(message)}")


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def problem_lines(problems: Sequence[Problem]) -> list[str]:
    """Problems as text lines."""
    return [str(p) for p in problems]
