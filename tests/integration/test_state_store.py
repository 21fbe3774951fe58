"""The state store on SQLite and PostgreSQL: schema drift, enum drift, versions, task claims.

PostgreSQL tests use fresh databases ``partita_test_<random>_<n>`` on the server of
``PARTITA_TEST_POSTGRES`` (default ``postgres://postgres@127.0.0.1:5432``), dropped at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import partita.store.store as store_module
from partita.engine import Engine
from partita.examples.shop import write_project
from partita.model.project import load_project
from partita.model.states import (
    DeliveryState,
    ExecutionStatus,
    LogLevel,
    Mode,
    TaskStatus,
    TransitionState,
)
from partita.store import Store
from partita.store import schema as t
from tests.support import counts, run_campaign

SERVER = os.environ.get("PARTITA_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432")
SQLALCHEMY_SERVER = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", SERVER)

#: Each CHECK constraint of the schema and the enum whose values it must allow.
CHECKED_COLUMNS: dict[str, tuple[str, str, Any]] = {
    "ck_executions_mode_valid": ("executions", "mode", Mode),
    "ck_executions_status_valid": ("executions", "status", ExecutionStatus),
    "ck_tasks_status_valid": ("tasks", "status", TaskStatus),
    "ck_transitions_state_valid": ("transitions", "state", TransitionState),
    "ck_logs_level_valid": ("logs", "level", LogLevel),
    "ck_delivery_events_kind_valid": ("delivery_events", "kind", t.EventKind),
    "ck_suppressions_reason_valid": ("suppressions", "reason", t.SuppressionReason),
    "ck_deliveries_state_valid": ("deliveries", "state", t.DeliveryState),
}


@pytest.fixture(scope="session")
def engine_name() -> str:
    """The warehouse of these tests is the DuckDB shop; the state store is what varies."""
    return "duckdb"


@pytest.fixture(scope="session")
def new_pg_database() -> Iterator[Callable[[], str]]:
    """Makes fresh PostgreSQL databases (SQLAlchemy URLs); every one is dropped at the end."""
    import psycopg

    admin = psycopg.connect(f"{SERVER}/postgres", autocommit=True)
    prefix = f"partita_test_{uuid.uuid4().hex[:10]}"
    created: list[str] = []

    def make() -> str:
        name = f"{prefix}_{len(created) + 1}"
        admin.execute(f"CREATE DATABASE {name}")
        created.append(name)
        return f"{SQLALCHEMY_SERVER}/{name}"

    try:
        yield make
    finally:
        for name in created:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=pytest.mark.postgres,
        ),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty state store (nothing created in it yet)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    make: Callable[[], str] = request.getfixturevalue("new_pg_database")
    return make()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    instance = Store(store_url)
    yield instance
    instance.close()


def head_revision() -> str | None:
    return ScriptDirectory(str(store_module.MIGRATIONS)).get_current_head()


# -- the schema ----------------------------------------------------------------------------------


def test_migrations_create_exactly_the_declared_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, t.metadata) == []
        assert context.get_current_revision() == head_revision()
        tables = set(sa.inspect(connection).get_table_names())
    assert tables == set(t.metadata.tables) | {"alembic_version"}


def test_opening_again_does_not_migrate_again(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrades: list[str] = []
    real_upgrade = store_module.command.upgrade

    def counting_upgrade(config: Any, revision: str) -> None:
        upgrades.append(revision)
        real_upgrade(config, revision)

    monkeypatch.setattr(store_module.command, "upgrade", counting_upgrade)
    first = Store(store_url)
    first.save_version("kept", None, {"name": "kept"}, "d1", None)
    first.close()
    assert upgrades == ["head"]
    second = Store(store_url)
    try:
        assert upgrades == ["head"]  # the schema was current: nothing ran
        with second.engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(head_revision(),)]
        record = second.campaign("kept")
        assert record is not None and record.latest_version == 1  # data survived
    finally:
        second.close()


# -- the database keeps the invariants -----------------------------------------------------------


def test_check_constraints_allow_exactly_the_enum_values(store: Store) -> None:
    found: dict[str, set[str]] = {}
    with store.engine.connect() as connection:
        inspector = sa.inspect(connection)
        for table in t.metadata.tables:
            for check in inspector.get_check_constraints(table):
                found[check["name"]] = set(re.findall(r"'([^']*)'", check["sqltext"]))
    expected = {name: {v.value for v in enum} for name, (_, _, enum) in CHECKED_COLUMNS.items()}
    assert found == expected


def _parents(store: Store) -> tuple[int, int, int, int]:
    record, _, _ = store.save_version("checks", None, {"name": "checks"}, "d1", None)
    execution = store.create_execution(record.id, 1, Mode.TEST, {})
    task = store.create_task(execution.id, "a")
    store.queue_deliveries(
        execution.id, "a", "email", [{"recipient_key": "1", "idempotency_key": "k1"}]
    )
    (delivery,) = store.deliveries(execution.id)
    return record.id, execution.id, task.id, delivery.id


def _row(
    table: str, column: str, value: str, parents: tuple[int, int, int, int], n: int
) -> dict[str, Any]:
    campaign_id, execution_id, _, delivery_id = parents
    now = store_module.utcnow()
    rows: dict[str, dict[str, Any]] = {
        "executions": {
            "campaign_id": campaign_id,
            "version": 1,
            "mode": "test",
            "status": "running",
            "variables": {},
            "created_at": now,
        },
        "tasks": {
            "execution_id": execution_id,
            "activity_id": f"act{n}",
            "attempt": 1,
            "status": "pending",
            "created_at": now,
        },
        "transitions": {
            "execution_id": execution_id,
            "position": 100 + n,
            "from_activity": "a",
            "from_output": "out",
            "to_activity": "b",
            "state": "fired",
            "created_at": now,
        },
        "logs": {"level": "info", "message": "m", "at": now},
        "delivery_events": {"delivery_id": delivery_id, "kind": "open", "at": now},
        "deliveries": {
            "execution_id": execution_id,
            "activity_id": "a",
            "recipient_key": f"r{n}",
            "channel": "email",
            "state": "queued",
            "idempotency_key": f"key{n}",
            "queued_at": now,
            "updated_at": now,
        },
        "suppressions": {
            "channel": "email",
            "address": f"a{n}@example.com",
            "reason": "manual",
            "created_at": now,
        },
    }
    return rows[table] | {column: value}


def test_check_constraints_reject_values_outside_the_enums(store: Store) -> None:
    parents = _parents(store)
    n = 0
    for table_name, column, enum in CHECKED_COLUMNS.values():
        table = t.metadata.tables[table_name]
        for value in enum:
            n += 1
            with store.engine.begin() as c:
                c.execute(
                    sa.insert(table).values(_row(table_name, column, value.value, parents, n))
                )
        for bad in ("archived", "RUNNING", "", "unknown"):
            n += 1
            with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as c:
                c.execute(sa.insert(table).values(_row(table_name, column, bad, parents, n)))
    # an update is checked too
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as c:
        c.execute(sa.update(t.tasks).where(t.tasks.c.id == parents[2]).values(status="finished"))
    assert store.task(parents[2]).status == TaskStatus.PENDING


# -- versions ------------------------------------------------------------------------------------


def test_save_version_creates_a_version_only_when_the_digest_changes(store: Store) -> None:
    a = {"name": "promo", "seed": 1}
    b = {"name": "promo", "seed": 2}
    record, version, created = store.save_version("promo", "Promo", a, "digest-a", "a.yaml")
    assert (version.version, created, record.latest_version) == (1, True, 1)
    assert record.created_at.tzinfo is not None and record.created_at.utcoffset() == UTC.utcoffset(
        None
    )
    record, version, created = store.save_version("promo", "Promo", a, "digest-a", "a.yaml")
    assert (version.version, created, record.latest_version) == (1, False, 1)
    record, version, created = store.save_version("promo", "Promo 2", b, "digest-b", None)
    assert (version.version, created, record.latest_version, record.label) == (
        2,
        True,
        2,
        "Promo 2",
    )
    # back to the first definition: it differs from the latest, so it is a new version
    record, version, created = store.save_version("promo", "Promo", a, "digest-a", None)
    assert (version.version, created, record.latest_version) == (3, True, 3)
    stored = store.versions(record.id)
    assert [(v.version, v.digest, v.definition) for v in stored] == [
        (1, "digest-a", a),
        (2, "digest-b", b),
        (3, "digest-a", a),
    ]
    assert [c.name for c in store.campaigns()] == ["promo"]


# -- claims --------------------------------------------------------------------------------------


def test_claim_task_never_hands_the_same_task_to_two_callers(store_url: str) -> None:
    setup = Store(store_url)
    record, _, _ = setup.save_version("claims", None, {"name": "claims"}, "d1", None)
    execution = setup.create_execution(record.id, 1, Mode.TEST, {})
    task_ids = [setup.create_task(execution.id, f"a{i}").id for i in range(60)]
    workers = [Store(store_url) for _ in range(4)]
    claimed: dict[str, list[int]] = {f"w{i}": [] for i in range(len(workers))}
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def work(name: str, store: Store) -> None:
        start.wait()
        try:
            while (task := store.claim_task(execution.id, name)) is not None:
                assert task.status == TaskStatus.RUNNING and task.worker == name
                claimed[name].append(task.id)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [
        threading.Thread(target=work, args=(name, store))
        for name, store in zip(claimed, workers, strict=True)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        every_claim = Counter(i for ids in claimed.values() for i in ids)
        assert sorted(every_claim) == task_ids
        assert set(every_claim.values()) == {1}, "a task was claimed twice"
        rows = {task.id: task for task in setup.tasks(execution.id)}
        for name, ids in claimed.items():
            for task_id in ids:
                assert rows[task_id].status == TaskStatus.RUNNING
                assert rows[task_id].worker == name
        assert setup.claim_task(execution.id, "late") is None
    finally:
        for store in [setup, *workers]:
            store.close()


SLOW_MIGRATION = """
import sys, time
from pathlib import Path
import partita.store.store as store_module
real_upgrade = store_module.command.upgrade
def slow_upgrade(config, revision):
    real_upgrade(config, revision)
    Path(sys.argv[2]).write_text("the schema is there; the migration is not committed yet")
    time.sleep(3)
store_module.command.upgrade = slow_upgrade
store_module.Store(sys.argv[1]).close()
"""
OPEN_STORE = "import sys; from partita.store.store import Store; Store(sys.argv[1]).close()"


def test_a_second_process_opening_a_store_that_is_being_migrated_waits(
    store_url: str, tmp_path: Path
) -> None:
    """Two processes opening a fresh store together (``partita serve`` and a worker): the second
    waits for the first's migration instead of running it again and crashing."""
    marker = tmp_path / "migrating"
    first = subprocess.Popen(
        [sys.executable, "-c", SLOW_MIGRATION, store_url, str(marker)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = subprocess.run(
            [sys.executable, "-c", OPEN_STORE, store_url],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        _, first_errors = first.communicate(timeout=120)
    assert first.returncode == 0, first_errors
    assert second.returncode == 0, second.stderr[-2000:]


# -- a whole campaign with its state on PostgreSQL -----------------------------------------------

CAMPAIGN = """
name: state-on-pg
seed: 5
activities:
  - {id: gold, type: build_audience, filter: "loyalty_tier in ('gold', 'platinum')"}
  - {id: buyers, type: build_audience, filter: "count(purchases) >= 8"}
  - {id: both, type: combine, mode: union}
  - {id: dd, type: deduplication, keys: [lower(email)], complement: true}
  - id: ab
    type: split
    subsets:
      - {name: a, limit: {percent: 30}}
      - {name: fr, filter: "country = 'FR'"}
    complement: true
  - {id: e1, type: end}
  - {id: e2, type: end}
  - {id: e3, type: end}
  - {id: e4, type: end}
transitions:
  - {from: gold, to: both}
  - {from: buyers, to: both}
  - {from: both, to: dd}
  - {from: dd, to: ab}
  - {from: dd.complement, to: e4}
  - {from: ab.a, to: e1}
  - {from: ab.fr, to: e2}
  - {from: ab.complement, to: e3}
"""


@pytest.mark.postgres
def test_a_campaign_with_its_state_on_postgresql_gives_the_same_counts(
    project_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    shop_file: Path,
    new_pg_database: Callable[[], str],
    sql: Callable[[str], list[tuple[Any, ...]]],
) -> None:
    on_sqlite = Engine(load_project(project_dir))
    try:
        expected = run_campaign(on_sqlite, CAMPAIGN)
    finally:
        on_sqlite.close()
    assert expected["status"] == "completed"

    folder = tmp_path_factory.mktemp("state_on_pg")
    target = write_project(folder, database=str(shop_file))
    url = new_pg_database()
    text = re.sub(r"(?m)^state: .*$", f'state: "{url}"', target.read_text(encoding="utf-8"))
    target.write_text(text, encoding="utf-8")
    project = load_project(folder)
    assert project.state == url
    on_pg = Engine(project)
    try:
        assert on_pg.store.engine.dialect.name == "postgresql"
        report = run_campaign(on_pg, CAMPAIGN)
        assert report["status"] == "completed"
        assert counts(report) == counts(expected)
        assert [(x["activity"], x["status"], x["output_counts"]) for x in report["tasks"]] == [
            (x["activity"], x["status"], x["output_counts"]) for x in expected["tasks"]
        ]
        # the first transitions, by hand
        gold = sql("SELECT count(*) FROM customers WHERE loyalty_tier IN ('gold', 'platinum')")
        buyers = sql(
            "SELECT count(*) FROM (SELECT customer_id FROM purchases GROUP BY customer_id "
            "HAVING count(*) >= 8) AS b"
        )
        assert counts(report)["gold -> both"] == gold[0][0]
        assert counts(report)["buyers -> both"] == buyers[0][0]
        # the state is in PostgreSQL, nowhere else
        assert not (folder / ".partita" / "state.db").exists()
        assert [e.status for e in on_pg.store.executions()] == [ExecutionStatus.COMPLETED]
    finally:
        on_pg.close()


# -- events and suppressions ---------------------------------------------------------------------


def test_events_are_found_by_delivery_key_and_read_back_in_order(store: Store) -> None:
    campaign_id, execution_id, _, delivery_id = _parents(store)
    other = store.create_execution(campaign_id, 1, Mode.TEST, {})
    store.queue_deliveries(
        other.id, "a", "email", [{"recipient_key": "2", "idempotency_key": "k2"}]
    )
    delivery = store.delivery_by_key("k1")
    assert delivery is not None and delivery.id == delivery_id
    assert delivery.execution_id == execution_id
    assert store.delivery_by_key("nope") is None
    at = store_module.utcnow().replace(microsecond=0)
    first = store.record_event(delivery_id, t.EventKind.OPEN, at=at, detail={"ua": "mail"})
    second = store.record_event(
        delivery_id, t.EventKind.CLICK, link_index=2, url="https://example.com/a"
    )
    other_delivery = store.delivery_by_key("k2")
    assert other_delivery is not None
    third = store.record_event(other_delivery.id, t.EventKind.HARD_BOUNCE)
    events = store.events()
    assert [(e.id, e.delivery_id, e.kind, e.link_index, e.url, e.detail) for e in events] == [
        (first, delivery_id, t.EventKind.OPEN, None, None, {"ua": "mail"}),
        (second, delivery_id, t.EventKind.CLICK, 2, "https://example.com/a", None),
        (third, other_delivery.id, t.EventKind.HARD_BOUNCE, None, None, None),
    ]
    assert events[0].at == at and events[0].at.tzinfo is not None
    assert [e.id for e in store.events(after_id=first)] == [second, third]
    assert [e.id for e in store.events(execution_id=execution_id)] == [first, second]
    assert [e.id for e in store.events(after_id=second, execution_id=execution_id)] == []


def test_a_delivery_key_is_unique(store: Store) -> None:
    _, execution_id, _, _ = _parents(store)
    with pytest.raises(sa.exc.IntegrityError):
        store.queue_deliveries(
            execution_id, "b", "email", [{"recipient_key": "1", "idempotency_key": "k1"}]
        )


def test_an_event_needs_a_delivery(store: Store) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        store.record_event(12345, t.EventKind.OPEN)


def test_suppressions_are_normalized_and_kept_once(store: Store) -> None:
    assert store.add_suppression("email", "  Ann@Example.COM ", t.SuppressionReason.UNSUBSCRIBED)
    assert not store.add_suppression("email", "ann@example.com", t.SuppressionReason.COMPLAINT)
    assert store.add_suppression("sms", "ann@example.com", t.SuppressionReason.MANUAL)
    assert store.add_suppression(
        "email", "bob@example.com", t.SuppressionReason.HARD_BOUNCE, delivery_id=7
    )
    rows = store.suppressions()
    assert [(r.channel, r.address, r.reason, r.delivery_id) for r in rows] == [
        ("email", "ann@example.com", t.SuppressionReason.UNSUBSCRIBED, None),
        ("sms", "ann@example.com", t.SuppressionReason.MANUAL, None),
        ("email", "bob@example.com", t.SuppressionReason.HARD_BOUNCE, 7),
    ]
    assert [r.address for r in store.suppressions(after_id=rows[1].id)] == ["bob@example.com"]
    with store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.suppressions)).scalar() == 3


# -- the delivery ledger's bulk statements --------------------------------------------------------


def test_the_ledger_queues_marks_and_reads_back_thousands_of_rows(store: Store) -> None:
    """More rows than one INSERT takes, a resume that finds some rows there, a group marked
    ``sending`` and its outcomes, then the columns read back a page at a time."""
    _, execution_id, _, _ = _parents(store)

    def rows(keys: range) -> list[dict[str, Any]]:
        return [
            {"recipient_key": str(k), "address": f"u{k}@example.com", "idempotency_key": f"e-{k}"}
            for k in keys
        ]

    first = store.queue_deliveries(execution_id, "mail", "email", rows(range(2_500)))
    assert [r.recipient_key for r in first] == [str(k) for k in range(2_500)]
    assert len({r.id for r in first}) == 2_500
    assert {r.state for r in first} == {DeliveryState.QUEUED}
    group = first[:50]
    taken = store.finish_and_begin_deliveries([], [r.id for r in group])
    assert taken == {r.id for r in group}
    assert store.finish_and_begin_deliveries([], [r.id for r in group]) == set()  # not queued
    outcomes: list[dict[str, Any]] = [
        {"id": r.id, "state": "sent", "provider_message_id": f"<{r.recipient_key}@x>"}
        for r in group[:49]
    ]
    outcomes.append({"id": group[49].id, "state": "failed", "reason": "rejected", "error": "550"})
    store.finish_and_begin_deliveries(outcomes, [])
    # a resume: the rows already there come back as they are, the new ones are queued
    again = store.queue_deliveries(execution_id, "mail", "email", rows(range(2_400, 2_600)))
    assert [r.id for r in again[:100]] == [r.id for r in first[2_400:]]
    assert {r.state for r in again} == {DeliveryState.QUEUED}
    assert len({r.id for r in again[100:]} - {r.id for r in first}) == 100

    pages = list(
        store.delivery_columns(
            execution_id,
            "mail",
            ["recipient_key", "state", "reason", "sent_at", "attempts", "provider_message_id"],
            size=1_000,
        )
    )
    assert [len(page["recipient_key"]) for page in pages] == [1_000, 1_000, 600]
    records = {r.recipient_key: r for r in store.deliveries(execution_id, "mail")}
    got = [
        dict(zip(page, values, strict=True))
        for page in pages
        for values in zip(*page.values(), strict=True)
    ]
    assert [g["recipient_key"] for g in got] == [str(k) for k in range(2_600)]  # by id
    for row in got:
        record = records[row["recipient_key"]]
        assert row["state"] == record.state.value
        assert row["reason"] == record.reason
        assert row["attempts"] == record.attempts
        assert row["provider_message_id"] == record.provider_message_id
        expected = None if record.sent_at is None else record.sent_at.replace(tzinfo=None)
        assert row["sent_at"] == expected  # UTC, without a zone
    assert [g["state"] for g in got[:50]] == ["sent"] * 49 + ["failed"]
    assert got[0]["attempts"] == 1 and got[50]["attempts"] == 0
    assert got[0]["sent_at"] is not None and got[0]["sent_at"].tzinfo is None
    assert got[49]["sent_at"] is None and got[49]["reason"] == "rejected"
