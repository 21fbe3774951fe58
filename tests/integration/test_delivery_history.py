"""Targeting on the delivery history: the ``deliveries`` link of a recipient dimension, over
the ledger and the tracking events, on both engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from partita.engine import Engine
from partita.model.problems import InvalidInput
from partita.model.project import load_project
from partita.model.states import DeliveryState
from partita.store.schema import EventKind
from tests.support import SQL, keys, run_campaign, set_channels

AUDIENCE_SQL = "loyalty_tier = 'gold' AND country = 'FR'"

SEND = """
name: spring
dimension: customers
activities:
  - {id: who, type: build_audience, filter: "loyalty_tier = 'gold' and country = 'FR'"}
  - {id: spring_email, type: email, subject: "Spring", html: "<p>Hi {{ first_name }}</p>"}
transitions:
  - {from: who, to: spring_email}
"""

FOLLOW_UP = """
name: follow_up
dimension: customers
activities:
  - {{id: who, type: build_audience, filter: "{filter}"}}
"""


def follow_up(engine: Engine, text_filter: str) -> list[int]:
    """The keys a build_audience with ``text_filter`` selects (test mode)."""
    report = run_campaign(engine, FOLLOW_UP.format(filter=text_filter))
    assert report["status"] == "completed", report
    return keys(engine, report, "who.out")


@pytest.fixture
def engine(project_dir: Path, tmp_path: Path) -> Engine:
    outbox = tmp_path / "outbox"
    set_channels(
        project_dir,
        f'  email: {{provider: outbox, folder: "{outbox}", sender: "s@shop.example"}}\n',
    )
    return Engine(load_project(project_dir))


def sent_keys(sql: SQL) -> list[int]:
    """Who the spring email reaches, by hand: the audience with an address and consent."""
    rows = sql(
        f"SELECT id FROM customers WHERE {AUDIENCE_SQL} AND email IS NOT NULL "
        "AND trim(email) <> '' AND email_optin ORDER BY id"
    )
    return [r[0] for r in rows]


def test_filters_see_deliveries_and_tracking_events(engine: Engine, sql: SQL) -> None:
    report = run_campaign(engine, SEND, live=True)
    assert report["status"] == "completed", report
    expected = sent_keys(sql)
    assert len(expected) > 20

    ledger = {
        int(d.recipient_key): d
        for d in engine.store.deliveries(report["execution"], "spring_email")
        if d.state == DeliveryState.SENT
    }
    assert sorted(ledger) == expected
    openers, clickers, bounced = expected[:5], expected[5:8], expected[8]
    for key in openers:
        engine.store.record_event(ledger[key].id, EventKind.OPEN)
        engine.store.record_event(ledger[key].id, EventKind.OPEN)  # opened twice: one opener
    for index, key in enumerate(clickers):
        engine.store.record_event(
            ledger[key].id, EventKind.CLICK, link_index=index, url="https://shop.example/"
        )
    engine.store.record_event(ledger[bounced].id, EventKind.HARD_BOUNCE)

    # a click counts as an open (images may have been blocked)
    assert follow_up(engine, "exists deliveries (activity = 'spring_email' and opened)") == sorted(
        openers + clickers
    )
    assert follow_up(engine, "exists deliveries (clicked)") == clickers
    assert follow_up(engine, "count(deliveries where opens >= 2) = 1") == openers
    assert follow_up(engine, "exists deliveries (bounced)") == [bounced]
    assert (
        follow_up(
            engine, "count(deliveries where channel = 'email' and sent_at > days_ago(7)) >= 1"
        )
        == expected
    )
    # the audience that was not sent to: no address or no consent, computed by hand
    not_sent = sql(f"SELECT id FROM customers WHERE {AUDIENCE_SQL} ORDER BY id")
    assert follow_up(
        engine,
        "loyalty_tier = 'gold' and country = 'FR' and not exists deliveries (state = 'sent')",
    ) == sorted(set(r[0] for r in not_sent) - set(expected))


def test_a_second_send_is_mirrored_too(engine: Engine, sql: SQL) -> None:
    first = run_campaign(engine, SEND, live=True)
    second = run_campaign(engine, SEND, live=True)
    assert first["status"] == second["status"] == "completed"
    expected = sent_keys(sql)
    assert follow_up(engine, "count(deliveries where activity = 'spring_email') = 2") == expected
    execution = second["execution"]
    assert (
        follow_up(engine, f"exists deliveries (execution_id = {execution} and state = 'sent')")
        == expected
    )


def test_unknown_delivery_column_is_an_error_with_a_suggestion(engine: Engine) -> None:
    with pytest.raises(InvalidInput) as caught:
        run_campaign(engine, FOLLOW_UP.format(filter="exists deliveries (opend)"))
    message = str(caught.value)
    assert "opend" in message and "opened" in message
