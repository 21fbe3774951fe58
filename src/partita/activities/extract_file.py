"""extract_file: being implemented (see the issue); validation accepts it, running it fails clearly."""

from __future__ import annotations

from typing import Any

from partita.activities.base import Input, Outputs, RunContext
from partita.model.problems import PartitaError


def run(ctx: RunContext, activity: Any, inputs: list[Input]) -> Outputs:
    """Not available yet."""
    raise PartitaError(f"activity type '{activity.kind}' is not available yet")
