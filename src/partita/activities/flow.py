"""Flow control without data work: fork, and_join, end."""

from __future__ import annotations

from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext
from partita.model.activities import AndJoin, End, Fork
from partita.model.campaign import Endpoint
from partita.model.problems import Problem


def run_fork(ctx: RunContext, activity: Fork, inputs: list[Input]) -> Outputs:
    """Every branch carries the inbound population."""
    return {name: Output.passthrough(inputs[0]) for name in activity.outputs()}


def run_and_join(ctx: RunContext, activity: AndJoin, inputs: list[Input]) -> Outputs:
    """Carries the primary input's population (default: the first)."""
    primary = inputs[0]
    if activity.primary is not None:
        wanted = Endpoint.parse(activity.primary)
        primary = next(i for i in inputs if i.source == wanted)
    return {"out": Output.passthrough(primary)}


def run_end(ctx: RunContext, activity: End, inputs: list[Input]) -> Outputs:
    """Nothing to compute: the branch ends here."""
    return {}


def no_checks(activity: object, ctx: CheckContext) -> list[Problem]:
    """For activities whose settings need nothing from the data model."""
    return []
