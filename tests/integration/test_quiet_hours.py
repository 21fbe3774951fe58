"""Quiet hours end to end: recipients in their quiet hours are deferred to the end of the window
(in their own time zone) and sent then, exactly once; or excluded when the activity does not
defer; test executions count them and wait for nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from partita.engine import Engine
from partita.model.campaign import parse_campaign
from partita.model.project import load_project
from partita.model.states import DeliveryState, TaskStatus
from tests.support import SQL, execution_report, keys, run_campaign, set_channels

AUDIENCE = "loyalty_tier = 'gold' and country in ('FR', 'DE', 'GB', 'US', 'JP')"
AUDIENCE_SQL = "loyalty_tier = 'gold' AND country IN ('FR', 'DE', 'GB', 'US', 'JP')"
PARIS = ZoneInfo("Europe/Paris")

CAMPAIGN = """
name: night
dimension: customers
activities:
  - {{id: who, type: build_audience, filter: "{audience}"}}
  - id: mail
    type: email
    subject: "Hello {{{{ first_name }}}}"
    html: "<p>Hi</p>"
    quiet_hours: {{start: "{start}", end: "{end}", timezone: UTC, defer: {defer}}}
transitions:
  - {{from: who, to: mail}}
"""


@pytest.fixture(scope="session")
def engine_name() -> str:
    """Quiet hours decide in Python per zone; the SQL is membership: DuckDB is enough."""
    return "duckdb"


@pytest.fixture
def engine(project_dir: Path, tmp_path: Path) -> Engine:
    set_channels(
        project_dir,
        f'  email: {{provider: outbox, folder: "{tmp_path / "outbox"}", sender: "s@shop.example"}}\n',
    )
    return Engine(load_project(project_dir))


def window_around_paris_now(seconds: int) -> tuple[dt.time, dt.time, dt.datetime]:
    """A quiet window that holds Paris's local time now and ends in ``seconds``: every zone
    at Paris's UTC offset is quiet, every other zone of the audience is hours away."""
    now = dt.datetime.now(PARIS)
    end = (now + dt.timedelta(seconds=seconds)).replace(microsecond=0)
    start = now - dt.timedelta(minutes=10)
    return start.time().replace(microsecond=0), end.time(), end


def campaign(start: dt.time, end: dt.time, defer: bool) -> str:
    return CAMPAIGN.format(
        audience=AUDIENCE, start=start.isoformat(), end=end.isoformat(), defer=str(defer).lower()
    )


def split_by_offset(sql: SQL) -> tuple[list[int], list[int]]:
    """Eligible recipients at Paris's UTC offset now, and the others (hand-written SQL)."""
    rows = sql(
        f"SELECT id, tz FROM customers WHERE {AUDIENCE_SQL} AND email IS NOT NULL "
        "AND trim(email) <> '' AND email_optin ORDER BY id"
    )
    now = dt.datetime.now(dt.UTC)
    paris = now.astimezone(PARIS).utcoffset()
    same = [i for i, zone in rows if zone and now.astimezone(ZoneInfo(zone)).utcoffset() == paris]
    return same, [i for i, _ in rows if i not in set(same)]


def test_quiet_recipients_are_sent_when_their_window_ends(engine: Engine, sql: SQL) -> None:
    start, end, ends_at = window_around_paris_now(seconds=6)
    quiet, awake = split_by_offset(sql)
    assert quiet and awake
    execution = engine.start(parse_campaign(campaign(start, end, defer=True)), {})

    first = engine.run(execution.id)  # sends the others, then the task waits
    assert first.status.value == "running"
    (task,) = [t for t in engine.store.tasks(execution.id) if t.activity_id == "mail"]
    assert task.status == TaskStatus.WAITING
    assert task.wake_at is not None
    assert task.wake_at == ends_at
    sent = [d for d in engine.store.deliveries(execution.id, "mail")]
    assert sorted(int(d.recipient_key) for d in sent) == awake

    done = engine.run(execution.id, wait=True)  # sleeps until the window ends, sends the rest
    assert done.status.value == "completed"
    ledger = engine.store.deliveries(execution.id, "mail")
    assert sorted(int(d.recipient_key) for d in ledger) == sorted(quiet + awake)
    assert all(d.state == DeliveryState.SENT for d in ledger)
    late = {int(d.recipient_key) for d in ledger if d.sent_at is not None and d.sent_at >= ends_at}
    assert late == set(quiet)
    report = execution_report(engine, done)
    assert keys(engine, report, "mail.out") == sorted(quiet + awake)
    messages = [line.message for line in engine.store.logs(execution_id=execution.id)]
    assert any(f"{len(quiet):,} recipients are in their quiet hours" in m for m in messages)


def test_without_deferral_quiet_recipients_are_excluded(engine: Engine, sql: SQL) -> None:
    start, end, _ = window_around_paris_now(seconds=600)
    quiet, awake = split_by_offset(sql)
    report = run_campaign(engine, campaign(start, end, defer=False), live=True)
    assert report["status"] == "completed"
    assert keys(engine, report, "mail.out") == awake
    excluded = engine.store.exclusion_counts([report["execution"]])
    assert ("mail", "quiet_hours", len(quiet)) in excluded


def test_a_test_execution_counts_them_and_does_not_wait(engine: Engine, sql: SQL) -> None:
    start, end, _ = window_around_paris_now(seconds=600)
    quiet, awake = split_by_offset(sql)
    report = run_campaign(engine, campaign(start, end, defer=True))
    assert report["status"] == "completed"
    assert keys(engine, report, "mail.out") == awake
    details = [
        line.details
        for line in engine.store.logs(execution_id=report["execution"])
        if line.details and "excluded" in line.details
    ]
    assert details[-1]["excluded"]["quiet_hours"] == len(quiet)
