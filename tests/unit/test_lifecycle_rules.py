"""The lifecycle table of PRODUCT §4, as rules: every action from every status."""

from __future__ import annotations

import pytest

from partita.engine.lifecycle import RULES, Action, LifecycleError, campaign_status, require
from partita.model.states import CampaignStatus as S
from partita.model.states import ExecutionStatus as E

ALLOWED = {
    Action.TEST: {S.DRAFT, S.COMPLETED, S.STOPPED, S.FAILED},
    Action.START: {S.DRAFT, S.COMPLETED, S.STOPPED},
    Action.PAUSE: {S.RUNNING},
    Action.RESUME: {S.PAUSED, S.FAILED},
    Action.RETRY: {S.FAILED},
    Action.RESTART: set(S) - {S.ARCHIVED},
    Action.STOP: {S.RUNNING, S.PAUSED, S.SCHEDULED, S.FAILED},
    Action.BACK_TO_DRAFT: {S.SCHEDULED, S.FAILED},
    Action.DUPLICATE: set(S),
    Action.ARCHIVE: {S.COMPLETED, S.STOPPED},
}


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("status", list(S))
def test_every_action_from_every_status(action: Action, status: S) -> None:
    if status in ALLOWED[action]:
        require(action, status, "campaign 'x'")
    else:
        with pytest.raises(
            LifecycleError,
            match=f"cannot {action.value} campaign 'x': it is "
            f"{status.value}; {action.value} applies when it is",
        ):
            require(action, status, "campaign 'x'")


def test_every_action_has_a_rule() -> None:
    assert set(RULES) == set(Action)


def test_refusal_lists_the_statuses_it_applies_from() -> None:
    with pytest.raises(LifecycleError) as caught:
        require(Action.PAUSE, S.COMPLETED, "execution 3 (live)")
    assert str(caught.value) == (
        "cannot pause execution 3 (live): it is completed; pause applies when it is running"
    )


@pytest.mark.parametrize(
    ("archived", "current", "last_live", "expected"),
    [
        (False, None, None, S.DRAFT),
        (False, E.RUNNING, None, S.RUNNING),
        (False, E.PAUSED, E.COMPLETED, S.PAUSED),
        (False, E.FAILED, None, S.FAILED),
        (False, None, E.COMPLETED, S.COMPLETED),
        (False, None, E.STOPPED, S.STOPPED),
        (True, None, E.COMPLETED, S.ARCHIVED),
    ],
)
def test_campaign_status_follows_its_executions(
    archived: bool, current: E | None, last_live: E | None, expected: S
) -> None:
    assert campaign_status(archived=archived, current=current, last_live=last_live) == expected
