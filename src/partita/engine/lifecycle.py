"""The campaign lifecycle: which action is allowed from which status, as rules (no I/O here)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from partita.model.problems import PartitaError
from partita.model.states import CampaignStatus, ExecutionStatus, Mode

S = CampaignStatus


class Action(enum.StrEnum):
    """What a user can do to a campaign or execution."""

    TEST = "test"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    RESTART = "restart"
    STOP = "stop"
    BACK_TO_DRAFT = "back to draft"
    DUPLICATE = "duplicate"
    ARCHIVE = "archive"


@dataclass(frozen=True)
class Rule:
    """An action, the statuses it is allowed from, and what it does."""

    action: Action
    allowed: frozenset[CampaignStatus]
    effect: str


RULES: dict[Action, Rule] = {
    rule.action: rule
    for rule in (
        Rule(
            Action.TEST,
            frozenset({S.DRAFT, S.COMPLETED, S.STOPPED, S.FAILED}),
            "a dry run: everything runs, nothing is sent or written back",
        ),
        Rule(
            Action.START,
            frozenset({S.DRAFT, S.COMPLETED, S.STOPPED}),
            "publishes the version and starts a live execution",
        ),
        Rule(Action.PAUSE, frozenset({S.RUNNING}), "no new task starts; the running task finishes"),
        Rule(
            Action.RESUME,
            frozenset({S.PAUSED, S.FAILED}),
            "continues where it stopped; finished tasks are not redone",
        ),
        Rule(
            Action.RETRY,
            frozenset({S.FAILED}),
            "runs a failed task again, reusing upstream working tables",
        ),
        Rule(
            Action.RESTART,
            frozenset(set(S) - {S.ARCHIVED}),
            "a new execution from the start (an unfinished one is stopped first)",
        ),
        Rule(
            Action.STOP,
            frozenset({S.RUNNING, S.PAUSED, S.SCHEDULED, S.FAILED}),
            "ends the execution; nothing more runs",
        ),
        Rule(Action.BACK_TO_DRAFT, frozenset({S.SCHEDULED, S.FAILED}), "unpublishes the campaign"),
        Rule(Action.DUPLICATE, frozenset(S), "copies the definition into a new draft"),
        Rule(
            Action.ARCHIVE,
            frozenset({S.COMPLETED, S.STOPPED}),
            "hides the campaign from the default list; data kept per retention",
        ),
    )
}


class LifecycleError(PartitaError):
    """An action refused in the current status."""


def require(action: Action, status: CampaignStatus, subject: str) -> None:
    """Raise :class:`LifecycleError` unless ``action`` is allowed from ``status``."""
    rule = RULES[action]
    if status in rule.allowed:
        return
    allowed = ", ".join(sorted(s.value for s in rule.allowed))
    raise LifecycleError(
        f"cannot {action.value} {subject}: it is {status.value}; "
        f"{action.value} applies when it is {allowed}"
    )


def execution_as_campaign_status(status: ExecutionStatus) -> CampaignStatus:
    """The campaign status an execution in ``status`` gives its campaign."""
    return CampaignStatus(status.value)


def campaign_status(
    *, archived: bool, current: ExecutionStatus | None, last_live: ExecutionStatus | None
) -> CampaignStatus:
    """What the campaign list shows.

    ``current`` is the status of the campaign's unfinished execution (running, paused or failed),
    ``last_live`` the status of its newest finished live execution.
    """
    if archived:
        return S.ARCHIVED
    if current is not None:
        return execution_as_campaign_status(current)
    if last_live is not None:
        return execution_as_campaign_status(last_live)
    return S.DRAFT


UNFINISHED = (ExecutionStatus.RUNNING, ExecutionStatus.PAUSED, ExecutionStatus.FAILED)


def is_unfinished(status: ExecutionStatus) -> bool:
    """Running, paused and failed executions can still go on."""
    return status in UNFINISHED


def mode_label(mode: Mode) -> str:
    """How a mode is shown next to a status: ``running (test)``."""
    return "test" if mode == Mode.TEST else "live"
