"""Which ``run`` and ``check`` belong to each activity type: one line per kind."""

from __future__ import annotations

from dataclasses import dataclass

from partita.activities import build_audience, combine, deduplication, flow, split, test_activity
from partita.activities.base import Checker, Runner


@dataclass(frozen=True)
class ActivityKind:
    """The behaviour of one activity type."""

    run: Runner
    check: Checker = flow.no_checks


KINDS: dict[str, ActivityKind] = {
    "build_audience": ActivityKind(build_audience.run, build_audience.check),
    "combine": ActivityKind(combine.run),
    "deduplication": ActivityKind(deduplication.run, deduplication.check),
    "split": ActivityKind(split.run, split.check),
    "fork": ActivityKind(flow.run_fork),
    "and_join": ActivityKind(flow.run_and_join),
    "test": ActivityKind(test_activity.run, test_activity.check_conditions),
    "end": ActivityKind(flow.run_end),
}
