"""The delivery ledger in the state store (SQLite and PostgreSQL): the database keeps the
invariants — one row per recipient, one worker per hand-off."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from partita.channels import Ledger, Recipient
from partita.model.states import DeliveryState, Mode
from partita.store import Store
from tests.integration.test_state_store import (  # noqa: F401 - fixtures
    new_pg_database,
    store,
    store_url,
)


def _execution(store: Store) -> int:  # noqa: F811 - the fixture's name
    record, _, _ = store.save_version("c", None, {"name": "c"}, "d1", None)
    return store.create_execution(record.id, 1, Mode.LIVE, {}).id


def test_queue_keeps_rows_already_there(store: Store) -> None:  # noqa: F811
    execution = _execution(store)
    ledger = Ledger(store, execution, "mail", "email")
    rows = ledger.queue([Recipient("1", "a@x.io"), Recipient("2", None, "invalid_address")])
    assert [(r.recipient_key, r.state, r.reason) for r in rows] == [
        ("1", DeliveryState.QUEUED, None),
        ("2", DeliveryState.EXCLUDED, "invalid_address"),
    ]
    assert ledger.begin(rows[0])
    ledger.sent(rows[0], "<id@x>")
    again = ledger.queue([Recipient("1", "a@x.io"), Recipient("3", "c@x.io")])
    assert [(r.recipient_key, r.state) for r in again] == [
        ("1", DeliveryState.SENT),
        ("3", DeliveryState.QUEUED),
    ]
    assert again[0].idempotency_key == f"{execution}-mail-1"
    assert again[0].provider_message_id == "<id@x>" and again[0].attempts == 1
    assert store.delivery_counts(execution) == [
        ("mail", "excluded", "invalid_address", 1),
        ("mail", "queued", None, 1),
        ("mail", "sent", None, 1),
    ]


def test_one_hand_off_per_row_and_the_unique_constraint(store: Store) -> None:  # noqa: F811
    execution = _execution(store)
    ledger = Ledger(store, execution, "mail", "email")
    (row,) = ledger.queue([Recipient("1", "a@x.io")])
    assert ledger.begin(row) is True
    assert ledger.begin(row) is False  # a second worker cannot take it
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO deliveries (execution_id, activity_id, recipient_key, channel, "
                "state, attempts, idempotency_key, queued_at, updated_at) VALUES "
                "(:e, 'mail', '1', 'email', 'queued', 0, 'k', :now, :now)"
            ),
            {"e": execution, "now": row.queued_at},
        )


def test_recover_marks_sending_rows(store: Store) -> None:  # noqa: F811
    execution = _execution(store)
    ledger = Ledger(store, execution, "mail", "email")
    first, second = ledger.queue([Recipient("1", "a@x.io"), Recipient("2", "b@x.io")])
    ledger.begin(first)
    assert ledger.recover(idempotent=False) == 1
    assert [r.state for r in ledger.rows(["1", "2"])] == [
        DeliveryState.IN_DOUBT,
        DeliveryState.QUEUED,
    ]
    ledger.begin(second)
    assert ledger.recover(idempotent=True) == 1
    assert ledger.rows(["2"])[0].state == DeliveryState.QUEUED


def test_confirmations(store: Store) -> None:  # noqa: F811
    execution = _execution(store)
    assert not store.is_confirmed(execution, "mail")
    assert store.confirm_activity(execution, "mail") is True
    assert store.confirm_activity(execution, "mail") is False
    assert store.is_confirmed(execution, "mail")
