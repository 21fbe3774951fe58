"""The state store: campaigns, versions, executions, tasks, outputs, transitions and logs.

SQLite (WAL mode) by default, PostgreSQL for scale-out; the schema comes from Alembic
migrations, applied when the store is opened.  Only this module knows the queries.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.sql.compiler import SQLCompiler

from partita.model.states import (
    DeliveryState,
    ExecutionStatus,
    LogLevel,
    Mode,
    TaskStatus,
    TransitionState,
)
from partita.store import schema as t
from partita.store.records import (
    AudienceRecord,
    CampaignRecord,
    ExecutionRecord,
    LogRecord,
    OutputRecord,
    TaskRecord,
    TransitionRecord,
    VersionRecord,
)
from partita.store.schema import EventKind, SuppressionReason

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class DeliveryRecord:
    """One row of the delivery ledger: one recipient of one channel activity in one execution."""

    id: int
    execution_id: int
    activity_id: str
    recipient_key: str
    channel: str
    dimension: str | None
    category: str | None
    address: str | None
    state: DeliveryState
    reason: str | None
    attempts: int
    provider_message_id: str | None
    idempotency_key: str
    queued_at: datetime
    sent_at: datetime | None
    updated_at: datetime
    error: str | None


@dataclass(frozen=True)
class EventRecord:
    """Something reported about a delivery after its hand-off (open, click, bounce, …)."""

    id: int
    delivery_id: int
    kind: EventKind
    at: datetime
    link_index: int | None
    url: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class SuppressionRecord:
    """An address of a channel that must not be sent to any more, and why."""

    id: int
    channel: str
    address: str
    reason: SuppressionReason
    delivery_id: int | None
    created_at: datetime


def normalize_address(address: str) -> str:
    """The form addresses have in the suppression list: trimmed, lower case."""
    return address.strip().lower()


def _dialect_insert(dialect: str) -> Callable[[sa.Table], Any]:
    """The INSERT with ON CONFLICT of the state store's dialect."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class _DriverStatement:
    """A statement compiled once for the store's dialect and run with
    :meth:`sa.Connection.exec_driver_sql`: the ledger's hot statements (each message goes
    through three of them) skip SQLAlchemy's per-row parameter processing, which cost more
    than the database's own work (100k messages on SQLite: 147 µs a message through
    ``execute``, 97 through the driver, of which ~45 in SQLite). Values are passed as the
    driver takes them: text, integers, None, and times through :attr:`Store._time`."""

    def __init__(self, statement: sa.ClauseElement, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        #: The parameter names in order (a positional paramstyle), None for a named one.
        self.order: list[str] | None = (
            list(compiled.positiontup or []) if dialect.positional else None
        )

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """``values`` (by parameter name) as the driver takes them."""
        if self.order is None:
            return values
        return tuple(values[name] for name in self.order)

    def run(self, c: sa.Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run once; the rows it returns."""
        result = c.exec_driver_sql(self.sql, self.parameters(values))
        return [tuple(row) for row in result] if result.returns_rows else []

    def run_many(self, c: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per row of ``rows`` (the driver's ``executemany``)."""
        c.exec_driver_sql(self.sql, [self.parameters(row) for row in rows])


def _utc(value: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _naive_utc(value: datetime | None) -> datetime | None:
    """UTC without a zone, as the warehouse's timestamp columns hold it."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None  # every table has an integer primary key
    return int(key[0])


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Store:
    """Reads and writes Partita's state; one instance per process is enough."""

    def __init__(self, url: str, root: Path | None = None) -> None:
        self.url = _resolve_sqlite(url, root)
        self.engine = sa.create_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        dialect = self.engine.dialect
        #: A time as the driver takes it for a ledger column (see :class:`_DriverStatement`).
        self._time: Callable[[datetime | None], Any] = sa.DateTime(timezone=True).dialect_impl(
            dialect
        ).bind_processor(dialect) or (lambda value: value)
        self._statements: dict[tuple[str, int], _DriverStatement] = {}
        self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the newest migration (nothing to do when it is current).

        Processes opening a fresh store together take turns: the first migrates, the others
        find the schema current.
        """
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        with _migration_lock(self.engine), self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY}
                )
            current = MigrationContext.configure(connection).get_current_revision()
            if current != head:
                command.upgrade(_alembic_config(connection), "head")

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as connection:
            yield connection

    # -- campaigns and versions -------------------------------------------------------------------

    def campaign(self, name: str) -> CampaignRecord | None:
        """The campaign called ``name``."""
        with self._tx() as c:
            row = c.execute(sa.select(t.campaigns).where(t.campaigns.c.name == name)).first()
        return _campaign(row) if row else None

    def campaign_by_id(self, campaign_id: int) -> CampaignRecord:
        """The campaign with this id."""
        with self._tx() as c:
            row = c.execute(sa.select(t.campaigns).where(t.campaigns.c.id == campaign_id)).one()
        return _campaign(row)

    def campaigns(self) -> list[CampaignRecord]:
        """Every campaign, by name."""
        with self._tx() as c:
            rows = c.execute(sa.select(t.campaigns).order_by(t.campaigns.c.name)).all()
        return [_campaign(r) for r in rows]

    def save_version(
        self,
        name: str,
        label: str | None,
        definition: dict[str, Any],
        digest: str,
        source: str | None,
    ) -> tuple[CampaignRecord, VersionRecord, bool]:
        """Store a definition: a new version unless it equals the latest one.

        Returns the campaign, the version that holds the definition, and whether it is new.
        """
        now = utcnow()
        with self._tx() as c:
            row = c.execute(sa.select(t.campaigns).where(t.campaigns.c.name == name)).first()
            if row is None:
                campaign_id = _new_id(
                    c.execute(
                        sa.insert(t.campaigns).values(
                            name=name,
                            label=label,
                            latest_version=0,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                )
                latest = 0
            else:
                campaign_id, latest = row.id, row.latest_version
                current = c.execute(
                    sa.select(t.campaign_versions).where(
                        t.campaign_versions.c.campaign_id == campaign_id,
                        t.campaign_versions.c.version == latest,
                    )
                ).first()
                if current is not None and current.digest == digest:
                    return _campaign(row), _version(current), False
            version = latest + 1
            c.execute(
                sa.insert(t.campaign_versions).values(
                    campaign_id=campaign_id,
                    version=version,
                    definition=definition,
                    digest=digest,
                    source=source,
                    created_at=now,
                )
            )
            c.execute(
                sa.update(t.campaigns)
                .where(t.campaigns.c.id == campaign_id)
                .values(latest_version=version, label=label, updated_at=now)
            )
            campaign = c.execute(
                sa.select(t.campaigns).where(t.campaigns.c.id == campaign_id)
            ).one()
            stored = c.execute(
                sa.select(t.campaign_versions).where(
                    t.campaign_versions.c.campaign_id == campaign_id,
                    t.campaign_versions.c.version == version,
                )
            ).one()
        return _campaign(campaign), _version(stored), True

    def version(self, campaign_id: int, version: int) -> VersionRecord:
        """One stored version."""
        with self._tx() as c:
            row = c.execute(
                sa.select(t.campaign_versions).where(
                    t.campaign_versions.c.campaign_id == campaign_id,
                    t.campaign_versions.c.version == version,
                )
            ).one()
        return _version(row)

    def versions(self, campaign_id: int) -> list[VersionRecord]:
        """Every version of a campaign, oldest first."""
        with self._tx() as c:
            rows = c.execute(
                sa.select(t.campaign_versions)
                .where(t.campaign_versions.c.campaign_id == campaign_id)
                .order_by(t.campaign_versions.c.version)
            ).all()
        return [_version(r) for r in rows]

    def update_campaign(self, campaign_id: int, **values: Any) -> None:
        """Set ``published_version``, ``archived_at``… on a campaign."""
        with self._tx() as c:
            c.execute(
                sa.update(t.campaigns)
                .where(t.campaigns.c.id == campaign_id)
                .values(updated_at=utcnow(), **values)
            )

    # -- executions -------------------------------------------------------------------------------

    def create_execution(
        self, campaign_id: int, version: int, mode: Mode, variables: dict[str, Any]
    ) -> ExecutionRecord:
        """A new running execution."""
        with self._tx() as c:
            execution_id = _new_id(
                c.execute(
                    sa.insert(t.executions).values(
                        campaign_id=campaign_id,
                        version=version,
                        mode=mode.value,
                        status=ExecutionStatus.RUNNING.value,
                        variables=variables,
                        created_at=utcnow(),
                    )
                )
            )
        return self.execution(execution_id)

    def execution(self, execution_id: int) -> ExecutionRecord:
        """One execution (KeyError when unknown)."""
        with self._tx() as c:
            row = c.execute(
                sa.select(t.executions).where(t.executions.c.id == execution_id)
            ).first()
        if row is None:
            raise KeyError(execution_id)
        return _execution(row)

    def executions(
        self, campaign_id: int | None = None, mode: Mode | None = None
    ) -> list[ExecutionRecord]:
        """Executions, newest first (optionally of one campaign / one mode)."""
        query = sa.select(t.executions).order_by(t.executions.c.id.desc())
        if campaign_id is not None:
            query = query.where(t.executions.c.campaign_id == campaign_id)
        if mode is not None:
            query = query.where(t.executions.c.mode == mode.value)
        with self._tx() as c:
            rows = c.execute(query).all()
        return [_execution(r) for r in rows]

    def set_execution_status(
        self,
        execution_id: int,
        status: ExecutionStatus,
        expected: Sequence[ExecutionStatus] | None = None,
        **values: Any,
    ) -> bool:
        """Change an execution's status; with ``expected``, only from those statuses.

        Returns False when the execution was not in an expected status (someone else moved it).
        """
        query = sa.update(t.executions).where(t.executions.c.id == execution_id)
        if expected is not None:
            query = query.where(t.executions.c.status.in_([s.value for s in expected]))
        if status.is_final or status == ExecutionStatus.FAILED:
            values.setdefault("ended_at", utcnow())
        else:
            values.setdefault("ended_at", None)
        with self._tx() as c:
            result = c.execute(query.values(status=status.value, **values))
        return bool(result.rowcount)

    def update_execution(self, execution_id: int, **values: Any) -> None:
        """Set counters and flags of an execution."""
        with self._tx() as c:
            c.execute(
                sa.update(t.executions).where(t.executions.c.id == execution_id).values(**values)
            )

    # -- tasks ------------------------------------------------------------------------------------

    def create_task(
        self, execution_id: int, activity_id: str, status: TaskStatus = TaskStatus.PENDING
    ) -> TaskRecord:
        """A new task for an activity (attempt number = previous attempts + 1)."""
        with self._tx() as c:
            attempts = c.execute(
                sa.select(sa.func.count())
                .select_from(t.tasks)
                .where(t.tasks.c.execution_id == execution_id, t.tasks.c.activity_id == activity_id)
            ).scalar_one()
            now = utcnow()
            final = not status.is_active
            task_id = _new_id(
                c.execute(
                    sa.insert(t.tasks).values(
                        execution_id=execution_id,
                        activity_id=activity_id,
                        attempt=attempts + 1,
                        status=status.value,
                        created_at=now,
                        started_at=now if final else None,
                        ended_at=now if final else None,
                    )
                )
            )
        return self.task(task_id)

    def task(self, task_id: int) -> TaskRecord:
        """One task (KeyError when unknown)."""
        with self._tx() as c:
            row = c.execute(sa.select(t.tasks).where(t.tasks.c.id == task_id)).first()
        if row is None:
            raise KeyError(task_id)
        return _task(row)

    def tasks(self, execution_id: int) -> list[TaskRecord]:
        """Tasks of an execution in creation order."""
        with self._tx() as c:
            rows = c.execute(
                sa.select(t.tasks)
                .where(t.tasks.c.execution_id == execution_id)
                .order_by(t.tasks.c.id)
            ).all()
        return [_task(r) for r in rows]

    def claim_task(self, execution_id: int, worker: str) -> TaskRecord | None:
        """Take the oldest pending task of an execution, atomically (None when there is none)."""
        with self._tx() as c:
            while True:
                candidate = c.execute(
                    sa.select(t.tasks.c.id)
                    .where(
                        t.tasks.c.execution_id == execution_id,
                        t.tasks.c.status == TaskStatus.PENDING.value,
                    )
                    .order_by(t.tasks.c.id)
                    .limit(1)
                ).scalar()
                if candidate is None:
                    return None
                taken = c.execute(
                    sa.update(t.tasks)
                    .where(t.tasks.c.id == candidate, t.tasks.c.status == TaskStatus.PENDING.value)
                    .values(status=TaskStatus.RUNNING.value, worker=worker, started_at=utcnow())
                )
                if taken.rowcount:
                    row = c.execute(sa.select(t.tasks).where(t.tasks.c.id == candidate)).one()
                    return _task(row)

    def finish_task(
        self,
        task_id: int,
        status: TaskStatus,
        *,
        input_count: int | None = None,
        error: str | None = None,
    ) -> bool:
        """Record the end of a running task; False when it was no longer running (cancelled)."""
        with self._tx() as c:
            result = c.execute(
                sa.update(t.tasks)
                .where(t.tasks.c.id == task_id, t.tasks.c.status == TaskStatus.RUNNING.value)
                .values(
                    status=status.value, input_count=input_count, error=error, ended_at=utcnow()
                )
            )
        return bool(result.rowcount)

    def set_task_status(
        self, task_id: int, status: TaskStatus, *, wake_at: datetime | None = None
    ) -> None:
        """Move a task without ending it (pending again after a pause, cancelled, waiting —
        until ``wake_at`` when given…)."""
        values: dict[str, Any] = {"status": status.value, "wake_at": wake_at}
        if status == TaskStatus.PENDING:
            values.update(started_at=None, worker=None)
        elif not status.is_active:
            values["ended_at"] = utcnow()
        with self._tx() as c:
            c.execute(sa.update(t.tasks).where(t.tasks.c.id == task_id).values(**values))

    def wake_tasks(self, execution_id: int, now: datetime) -> int:
        """Make the waiting tasks of an execution whose ``wake_at`` has come pending again;
        how many."""
        tasks = t.tasks
        with self._tx() as c:
            result = c.execute(
                sa.update(tasks)
                .where(
                    tasks.c.execution_id == execution_id,
                    tasks.c.status == TaskStatus.WAITING.value,
                    tasks.c.wake_at <= now,
                )
                .values(status=TaskStatus.PENDING.value, wake_at=None, started_at=None, worker=None)
            )
        return int(result.rowcount or 0)

    def next_wake(self, execution_id: int) -> datetime | None:
        """The earliest ``wake_at`` of the execution's waiting tasks (None: none has one)."""
        tasks = t.tasks
        query = sa.select(sa.func.min(tasks.c.wake_at)).where(
            tasks.c.execution_id == execution_id, tasks.c.status == TaskStatus.WAITING.value
        )
        with self._tx() as c:
            found = c.execute(query).scalar()
        return _aware(found)

    # -- outputs and transitions ------------------------------------------------------------------

    def record_output(
        self,
        execution_id: int,
        task_id: int,
        activity_id: str,
        output: str,
        table_name: str,
        dimension: str,
        row_count: int,
        fired: bool,
        key_column: str | None = None,
    ) -> None:
        """Remember an output's working table (replacing an earlier attempt's)."""
        with self._tx() as c:
            c.execute(
                sa.delete(t.outputs).where(
                    t.outputs.c.execution_id == execution_id,
                    t.outputs.c.activity_id == activity_id,
                    t.outputs.c.output == output,
                )
            )
            c.execute(
                sa.insert(t.outputs).values(
                    execution_id=execution_id,
                    task_id=task_id,
                    activity_id=activity_id,
                    output=output,
                    table_name=table_name,
                    dimension=dimension,
                    key_column=key_column,
                    row_count=row_count,
                    fired=fired,
                    created_at=utcnow(),
                )
            )

    def outputs(self, execution_id: int) -> list[OutputRecord]:
        """Outputs of an execution."""
        with self._tx() as c:
            rows = c.execute(
                sa.select(t.outputs)
                .where(t.outputs.c.execution_id == execution_id)
                .order_by(t.outputs.c.id)
            ).all()
        return [_output(r) for r in rows]

    def record_transition(
        self,
        execution_id: int,
        position: int,
        from_activity: str,
        from_output: str,
        to_activity: str,
        state: TransitionState,
        row_count: int | None = None,
        table_name: str | None = None,
    ) -> None:
        """Remember that a transition fired (with its count) or will never fire."""
        with self._tx() as c:
            c.execute(
                sa.delete(t.transitions).where(
                    t.transitions.c.execution_id == execution_id,
                    t.transitions.c.position == position,
                )
            )
            c.execute(
                sa.insert(t.transitions).values(
                    execution_id=execution_id,
                    position=position,
                    from_activity=from_activity,
                    from_output=from_output,
                    to_activity=to_activity,
                    state=state.value,
                    row_count=row_count,
                    table_name=table_name,
                    created_at=utcnow(),
                )
            )

    def transitions(self, execution_id: int) -> list[TransitionRecord]:
        """What the transitions of an execution did, in campaign order."""
        with self._tx() as c:
            rows = c.execute(
                sa.select(t.transitions)
                .where(t.transitions.c.execution_id == execution_id)
                .order_by(t.transitions.c.position)
            ).all()
        return [_transition(r) for r in rows]

    def forget_transitions(self, execution_id: int, positions: Sequence[int]) -> None:
        """Drop transition records (a retried task fires its outputs again)."""
        if not positions:
            return
        with self._tx() as c:
            c.execute(
                sa.delete(t.transitions).where(
                    t.transitions.c.execution_id == execution_id,
                    t.transitions.c.position.in_(list(positions)),
                )
            )

    # -- audiences --------------------------------------------------------------------------------

    def save_audience(
        self,
        name: str,
        table_name: str,
        dimension: str,
        columns: Sequence[str],
        row_count: int,
        campaign_id: int,
        execution_id: int,
    ) -> AudienceRecord:
        """Record (or replace) a named audience's metadata."""
        values = {
            "table_name": table_name,
            "dimension": dimension,
            "columns": list(columns),
            "row_count": row_count,
            "campaign_id": campaign_id,
            "execution_id": execution_id,
            "saved_at": utcnow(),
        }
        with self._tx() as c:
            updated = c.execute(
                sa.update(t.audiences).where(t.audiences.c.name == name).values(**values)
            )
            if not updated.rowcount:
                c.execute(sa.insert(t.audiences).values(name=name, **values))
        found = self.audience(name)
        assert found is not None
        return found

    def audience(self, name: str) -> AudienceRecord | None:
        """A named audience, or None."""
        with self._tx() as c:
            row = c.execute(sa.select(t.audiences).where(t.audiences.c.name == name)).first()
        return _audience(row) if row else None

    def audiences(self) -> list[AudienceRecord]:
        """Every named audience, by name."""
        with self._tx() as c:
            rows = c.execute(sa.select(t.audiences).order_by(t.audiences.c.name)).all()
        return [_audience(r) for r in rows]

    # -- the delivery ledger ----------------------------------------------------------------------

    def queue_deliveries(
        self,
        execution_id: int,
        activity_id: str,
        channel: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        dimension: str | None = None,
        category: str | None = None,
    ) -> list[DeliveryRecord]:
        """Insert ledger rows (``recipient_key``, ``address``, ``idempotency_key``, and
        optionally ``state``/``reason``) as ``queued``; a row already there for the same
        recipient is kept as it is (INSERT … ON CONFLICT DO NOTHING). The rows of the batch, in
        its order: as inserted, or as they were (read back only for those)."""
        if not rows:
            return []
        now = utcnow()
        values = [
            {
                "execution_id": execution_id,
                "activity_id": activity_id,
                "channel": channel,
                "dimension": dimension,
                "category": category,
                "recipient_key": row["recipient_key"],
                "address": row.get("address"),
                "idempotency_key": row["idempotency_key"],
                "state": row.get("state", DeliveryState.QUEUED.value),
                "reason": row.get("reason"),
                "attempts": 0,
                "queued_at": now,
                "updated_at": now,
            }
            for row in rows
        ]
        stamp = self._time(now)
        inserted: dict[str, int] = {}
        with self._tx() as c:
            for start in range(0, len(values), _ROWS_PER_INSERT):
                chunk = values[start : start + _ROWS_PER_INSERT]
                insert = self._statement("queue", len(chunk), self._queue_insert)
                flat = [
                    stamp if name in _QUEUE_TIMES else value[name]
                    for value in chunk
                    for name in _QUEUE_COLUMNS
                ]
                parameters = dict(zip(_queue_names(len(chunk)), flat, strict=True))
                inserted.update({row[1]: row[0] for row in insert.run(c, parameters)})
        found: dict[str, DeliveryRecord] = {}
        already = [v["recipient_key"] for v in values if v["recipient_key"] not in inserted]
        for record in self.deliveries(execution_id, activity_id, keys=already):  # a resume
            found[record.recipient_key] = record
        for value in values:
            key = value["recipient_key"]
            if key in inserted:
                found[key] = DeliveryRecord(
                    id=inserted[key],
                    state=DeliveryState(value["state"]),
                    provider_message_id=None,
                    sent_at=None,
                    error=None,
                    **{k: value[k] for k in _QUEUED_FIELDS},
                )
        return [found[value["recipient_key"]] for value in values]

    def deliveries(
        self,
        execution_id: int,
        activity_id: str | None = None,
        *,
        keys: Sequence[str] | None = None,
        states: Sequence[DeliveryState] | None = None,
    ) -> list[DeliveryRecord]:
        """Ledger rows of an execution (of one activity, some recipients, some states), by id
        (``keys`` are looked up ``_KEYS_PER_QUERY`` at a time)."""
        query = sa.select(t.deliveries).where(t.deliveries.c.execution_id == execution_id)
        if activity_id is not None:
            query = query.where(t.deliveries.c.activity_id == activity_id)
        if states is not None:
            query = query.where(t.deliveries.c.state.in_([s.value for s in states]))
        chunks = [None] if keys is None else _chunks(list(keys), _KEYS_PER_QUERY)
        rows: list[Any] = []
        with self._tx() as c:
            for chunk in chunks:
                chosen = (
                    query if chunk is None else query.where(t.deliveries.c.recipient_key.in_(chunk))
                )
                rows += c.execute(chosen.order_by(t.deliveries.c.id)).all()
        if keys is not None:
            rows.sort(key=lambda row: row.id)
        return [_delivery(r) for r in rows]

    def delivery_columns(
        self,
        execution_id: int,
        activity_id: str,
        columns: Sequence[str],
        size: int = 2_000,
    ) -> Iterator[dict[str, list[Any]]]:
        """Columns of the ledger rows of one activity in one execution, ``size`` rows at a
        time, by id: a page is a list of values per column name (times in UTC, without a
        zone); memory stays flat however many recipients there are."""
        d = t.deliveries
        read = ["id", *(name for name in columns if name != "id")]  # pages go by id
        times = {name for name in read if isinstance(d.c[name].type, sa.DateTime)}
        after = 0
        while True:
            query = (
                sa.select(*(d.c[name] for name in read))
                .where(d.c.execution_id == execution_id, d.c.activity_id == activity_id)
                .where(d.c.id > after)
                .order_by(d.c.id)
                .limit(size)
            )
            with self._tx() as c:
                rows = c.execute(query).all()
            if not rows:
                return
            values = zip(*rows, strict=True)
            page = {name: list(column) for name, column in zip(read, values, strict=True)}
            for name in times:
                page[name] = [_naive_utc(value) for value in page[name]]
            yield {name: page[name] for name in columns}
            if len(rows) < size:
                return
            after = rows[-1][0]

    def mark_delivery(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        expected: Sequence[DeliveryState],
        **values: Any,
    ) -> bool:
        """Move one ledger row to ``state`` if it is in one of ``expected`` (committed at once);
        False when it was not (another worker moved it)."""
        with self._tx() as c:
            result = c.execute(
                sa.update(t.deliveries)
                .where(
                    t.deliveries.c.id == delivery_id,
                    t.deliveries.c.state.in_([s.value for s in expected]),
                )
                .values(state=state.value, updated_at=utcnow(), **values)
            )
        return bool(result.rowcount)

    def finish_and_begin_deliveries(
        self, outcomes: Sequence[Mapping[str, Any]], ids: Sequence[int]
    ) -> set[int]:
        """Record the outcomes of one group's hand-offs (each mapping has ``id``, ``state``,
        ``reason``, ``error``, ``provider_message_id``; a ``sent`` row gets the commit's time
        as ``sent_at``; only rows still ``sending`` change) and move the next group's rows
        (``ids``) from ``queued`` to ``sending`` (attempts + 1), in one commit, before their
        hand-off; the ids that moved (a row another worker took meanwhile is left out)."""
        stamp = self._time(utcnow())
        with self._tx() as c:
            if outcomes:
                finish = self._statement("finish", 1, _finish_update)
                finish.run_many(
                    c,
                    [
                        {
                            "id": o["id"],
                            "state": o["state"],
                            "reason": o.get("reason"),
                            "error": o.get("error"),
                            "provider_message_id": o.get("provider_message_id"),
                            "sent_at": stamp if o["state"] == DeliveryState.SENT.value else None,
                            "updated_at": stamp,
                            "expected": DeliveryState.SENDING.value,
                        }
                        for o in outcomes
                    ],
                )
            if not ids:
                return set()
            begin = self._statement("begin", len(ids), _begin_update)
            parameters: dict[str, Any] = {f"id_{index}": id_ for index, id_ in enumerate(ids)}
            parameters.update(
                state=DeliveryState.SENDING.value,
                expected=DeliveryState.QUEUED.value,
                updated_at=stamp,
            )
            return {int(row[0]) for row in begin.run(c, parameters)}

    def _statement(
        self, name: str, size: int, build: Callable[[int], sa.ClauseElement]
    ) -> _DriverStatement:
        """The :class:`_DriverStatement` ``build(size)``, compiled once per name and size."""
        found = self._statements.get((name, size))
        if found is None:
            found = self._statements[(name, size)] = _DriverStatement(
                build(size), self.engine.dialect
            )
        return found

    def _queue_insert(self, size: int) -> sa.ClauseElement:
        """INSERT of ``size`` ledger rows (parameters ``<column>_<row>``) that keeps a row
        already there for the recipient, returning the id and key of each row inserted."""
        d = t.deliveries
        names = iter(_queue_names(size))
        rows: list[dict[str, Any]] = [
            {name: sa.bindparam(next(names)) for name in _QUEUE_COLUMNS} for _ in range(size)
        ]
        insert = _dialect_insert(self.engine.dialect.name)(d).values(rows)
        return insert.on_conflict_do_nothing(
            index_elements=["execution_id", "activity_id", "recipient_key"]
        ).returning(d.c.id, d.c.recipient_key)

    def mark_deliveries(
        self,
        execution_id: int,
        activity_id: str,
        state: DeliveryState,
        *,
        expected: DeliveryState,
        **values: Any,
    ) -> int:
        """Move every row of an activity in state ``expected`` to ``state``; how many moved."""
        with self._tx() as c:
            result = c.execute(
                sa.update(t.deliveries)
                .where(
                    t.deliveries.c.execution_id == execution_id,
                    t.deliveries.c.activity_id == activity_id,
                    t.deliveries.c.state == expected.value,
                )
                .values(state=state.value, updated_at=utcnow(), **values)
            )
        return int(result.rowcount or 0)

    def recent_sends(
        self,
        channel: str,
        dimension: str,
        since: datetime,
        *,
        category: str = "marketing",
        not_execution: int | None = None,
    ) -> Iterator[tuple[str, int]]:
        """(recipient key, messages sent) of ``channel`` and ``category`` to rows of
        ``dimension`` since ``since`` (frequency caps), other than by ``not_execution``."""
        d = t.deliveries
        query = (
            sa.select(d.c.recipient_key, sa.func.count())
            .where(
                d.c.channel == channel,
                d.c.dimension == dimension,
                d.c.category == category,
                d.c.state == DeliveryState.SENT.value,
                d.c.sent_at >= since,
            )
            .group_by(d.c.recipient_key)
        )
        if not_execution is not None:
            query = query.where(d.c.execution_id != not_execution)
        with self._tx() as c:
            for key, count in c.execute(query):
                yield str(key), int(count)

    def delivery_counts(
        self, execution_id: int, activity_id: str | None = None
    ) -> list[tuple[str, str, str | None, int]]:
        """(activity, state, reason, count) of an execution's ledger rows."""
        d = t.deliveries
        query = (
            sa.select(d.c.activity_id, d.c.state, d.c.reason, sa.func.count())
            .where(d.c.execution_id == execution_id)
            .group_by(d.c.activity_id, d.c.state, d.c.reason)
            .order_by(d.c.activity_id, d.c.state, d.c.reason)
        )
        if activity_id is not None:
            query = query.where(d.c.activity_id == activity_id)
        with self._tx() as c:
            rows = c.execute(query).all()
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    def delivery_by_key(self, idempotency_key: str) -> DeliveryRecord | None:
        """The ledger row with this idempotency key (the reference tracking tokens carry)."""
        with self._tx() as c:
            row = c.execute(
                sa.select(t.deliveries).where(t.deliveries.c.idempotency_key == idempotency_key)
            ).first()
        return None if row is None else _delivery(row)

    def record_exclusions(
        self, execution_id: int, activity_id: str, counts: Mapping[str, int]
    ) -> None:
        """Replace the counts by reason of the recipients an activity excluded in the warehouse
        (they never reach the ledger)."""
        x = t.delivery_exclusions
        with self._tx() as c:
            c.execute(
                sa.delete(x).where(x.c.execution_id == execution_id, x.c.activity_id == activity_id)
            )
            if counts:
                c.execute(
                    sa.insert(x),
                    [
                        {
                            "execution_id": execution_id,
                            "activity_id": activity_id,
                            "reason": reason,
                            "count": count,
                        }
                        for reason, count in counts.items()
                    ],
                )

    def exclusion_counts(self, execution_ids: Sequence[int]) -> list[tuple[str, str, int]]:
        """(activity, reason, recipients) excluded in the warehouse, summed over executions."""
        x = t.delivery_exclusions
        query = (
            sa.select(x.c.activity_id, x.c.reason, sa.func.sum(x.c.count))
            .where(x.c.execution_id.in_(list(execution_ids)))
            .group_by(x.c.activity_id, x.c.reason)
            .order_by(x.c.activity_id, x.c.reason)
        )
        with self._tx() as c:
            return [(r[0], r[1], int(r[2])) for r in c.execute(query)]

    def ledger_counts(
        self, execution_ids: Sequence[int]
    ) -> list[tuple[str, str, str, str | None, int]]:
        """(activity, channel, state, reason, deliveries) of the ledger, summed over executions."""
        d = t.deliveries
        query = (
            sa.select(d.c.activity_id, d.c.channel, d.c.state, d.c.reason, sa.func.count())
            .where(d.c.execution_id.in_(list(execution_ids)))
            .group_by(d.c.activity_id, d.c.channel, d.c.state, d.c.reason)
            .order_by(d.c.activity_id, d.c.state, d.c.reason)
        )
        with self._tx() as c:
            return [(r[0], r[1], r[2], r[3], int(r[4])) for r in c.execute(query)]

    def event_counts(self, execution_ids: Sequence[int]) -> list[tuple[str, str, int, int]]:
        """(activity, event kind, deliveries with one at least, events) over executions."""
        d, e = t.deliveries, t.delivery_events
        query = (
            sa.select(
                d.c.activity_id,
                e.c.kind,
                sa.func.count(sa.distinct(e.c.delivery_id)),
                sa.func.count(),
            )
            .select_from(e.join(d, d.c.id == e.c.delivery_id))
            .where(d.c.execution_id.in_(list(execution_ids)))
            .group_by(d.c.activity_id, e.c.kind)
            .order_by(d.c.activity_id, e.c.kind)
        )
        with self._tx() as c:
            return [(r[0], r[1], int(r[2]), int(r[3])) for r in c.execute(query)]

    def opened_or_clicked(self, execution_ids: Sequence[int]) -> list[tuple[str, int]]:
        """(activity, deliveries opened or clicked): a click proves an open."""
        d, e = t.deliveries, t.delivery_events
        query = (
            sa.select(d.c.activity_id, sa.func.count(sa.distinct(e.c.delivery_id)))
            .select_from(e.join(d, d.c.id == e.c.delivery_id))
            .where(
                d.c.execution_id.in_(list(execution_ids)),
                e.c.kind.in_([EventKind.OPEN.value, EventKind.CLICK.value]),
            )
            .group_by(d.c.activity_id)
        )
        with self._tx() as c:
            return [(r[0], int(r[1])) for r in c.execute(query)]

    def timeline(self, execution_ids: Sequence[int]) -> list[tuple[str, str, int]]:
        """(hour, what, count): sends by hour (``sent``) and events by hour and kind, UTC."""
        d, e = t.deliveries, t.delivery_events
        sent_hour = self._hour(d.c.sent_at)
        event_hour = self._hour(e.c.at)
        ids = list(execution_ids)
        sends = (
            sa.select(sent_hour, sa.literal("sent"), sa.func.count())
            .where(d.c.execution_id.in_(ids), d.c.state == DeliveryState.SENT.value)
            .group_by(sent_hour)
        )
        events = (
            sa.select(event_hour, e.c.kind, sa.func.count())
            .select_from(e.join(d, d.c.id == e.c.delivery_id))
            .where(d.c.execution_id.in_(ids))
            .group_by(event_hour, e.c.kind)
        )
        with self._tx() as c:
            rows = [(str(r[0]), str(r[1]), int(r[2])) for r in c.execute(sends)]
            rows += [(str(r[0]), str(r[1]), int(r[2])) for r in c.execute(events)]
        return sorted(rows)

    def _hour(self, column: Any) -> Any:
        """``YYYY-MM-DDTHH:00`` of a UTC timestamp column, in this store's SQL."""
        if self.engine.dialect.name == "sqlite":
            return sa.func.strftime("%Y-%m-%dT%H:00", column)
        return sa.func.to_char(
            sa.func.date_trunc("hour", sa.func.timezone("UTC", column)), 'YYYY-MM-DD"T"HH24:00'
        )

    def confirm_activity(self, execution_id: int, activity_id: str) -> bool:
        """Record that a user confirmed the sending of an activity; False if it already was."""
        insert = _dialect_insert(self.engine.dialect.name)(t.confirmations)
        statement = insert.values(
            execution_id=execution_id, activity_id=activity_id, confirmed_at=utcnow()
        ).on_conflict_do_nothing(index_elements=["execution_id", "activity_id"])
        with self._tx() as c:
            before = c.execute(
                sa.select(sa.func.count())
                .select_from(t.confirmations)
                .where(
                    t.confirmations.c.execution_id == execution_id,
                    t.confirmations.c.activity_id == activity_id,
                )
            ).scalar_one()
            c.execute(statement)
        return not before

    def is_confirmed(self, execution_id: int, activity_id: str) -> bool:
        """Whether a user confirmed the sending of an activity in this execution."""
        with self._tx() as c:
            row = c.execute(
                sa.select(t.confirmations.c.id).where(
                    t.confirmations.c.execution_id == execution_id,
                    t.confirmations.c.activity_id == activity_id,
                )
            ).first()
        return row is not None

    # -- what happened after the hand-off ---------------------------------------------------------

    def record_event(
        self,
        delivery_id: int,
        kind: EventKind,
        *,
        at: datetime | None = None,
        link_index: int | None = None,
        url: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Append an event of a delivery (now unless ``at``); its id."""
        with self._tx() as c:
            result = c.execute(
                sa.insert(t.delivery_events).values(
                    delivery_id=delivery_id,
                    kind=EventKind(kind).value,
                    at=utcnow() if at is None else at,
                    link_index=link_index,
                    url=url,
                    detail=detail,
                )
            )
        return _new_id(result)

    def events(
        self,
        *,
        after_id: int = 0,
        execution_id: int | None = None,
        delivery_id: int | None = None,
    ) -> list[EventRecord]:
        """Events with an id above ``after_id`` (of one execution's deliveries, of one
        delivery), by id."""
        e = t.delivery_events
        query = sa.select(e).where(e.c.id > after_id).order_by(e.c.id)
        if delivery_id is not None:
            query = query.where(e.c.delivery_id == delivery_id)
        if execution_id is not None:
            query = query.join(t.deliveries, t.deliveries.c.id == e.c.delivery_id).where(
                t.deliveries.c.execution_id == execution_id
            )
        with self._tx() as c:
            rows = c.execute(query).all()
        return [_event(r) for r in rows]

    def add_suppression(
        self,
        channel: str,
        address: str,
        reason: SuppressionReason,
        *,
        delivery_id: int | None = None,
    ) -> bool:
        """Put an address (normalized) on the suppression list of ``channel``; False when it
        was already there (its first reason is kept)."""
        insert = _dialect_insert(self.engine.dialect.name)(t.suppressions)
        statement = (
            insert.values(
                channel=channel,
                address=normalize_address(address),
                reason=SuppressionReason(reason).value,
                delivery_id=delivery_id,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["channel", "address"])
            .returning(t.suppressions.c.id)
        )
        with self._tx() as c:
            return c.execute(statement).first() is not None

    def suppressions(self, *, after_id: int = 0) -> list[SuppressionRecord]:
        """Suppressed addresses with an id above ``after_id``, by id."""
        s = t.suppressions
        with self._tx() as c:
            rows = c.execute(sa.select(s).where(s.c.id > after_id).order_by(s.c.id)).all()
        return [_suppression(r) for r in rows]

    # -- logs -------------------------------------------------------------------------------------

    def log(
        self,
        level: LogLevel,
        message: str,
        *,
        campaign_id: int | None = None,
        execution_id: int | None = None,
        task_id: int | None = None,
        activity_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append a line to the history."""
        with self._tx() as c:
            c.execute(
                sa.insert(t.logs).values(
                    campaign_id=campaign_id,
                    execution_id=execution_id,
                    task_id=task_id,
                    activity_id=activity_id,
                    level=level.value,
                    message=message,
                    details=details,
                    at=utcnow(),
                )
            )

    def logs(
        self,
        *,
        campaign_id: int | None = None,
        execution_id: int | None = None,
        task_id: int | None = None,
        min_level: LogLevel = LogLevel.INFO,
    ) -> list[LogRecord]:
        """History lines, oldest first."""
        levels = [lv.value for lv in LogLevel if lv.rank >= min_level.rank]
        query = sa.select(t.logs).where(t.logs.c.level.in_(levels)).order_by(t.logs.c.id)
        if campaign_id is not None:
            query = query.where(t.logs.c.campaign_id == campaign_id)
        if execution_id is not None:
            query = query.where(t.logs.c.execution_id == execution_id)
        if task_id is not None:
            query = query.where(t.logs.c.task_id == task_id)
        with self._tx() as c:
            rows = c.execute(query).all()
        return [_log(r) for r in rows]


_LOCK_KEY = 7_277_827  # the advisory lock PostgreSQL stores take while migrating


_MIGRATING = threading.Lock()  # Alembic's context is global: one migration per process


@contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[None]:
    """One migration at a time in this process, and on SQLite across processes too (an
    exclusive lock on a file beside the database; PostgreSQL takes an advisory lock)."""
    with _MIGRATING:
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            yield
            return
        with _file_lock(f"{database}.migrate-lock"):
            yield


@contextmanager
def _file_lock(path: str) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no POSIX locks (Windows): one process at a time is the user's job
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _resolve_sqlite(url: str, root: Path | None) -> str:
    """Make ``sqlite:///relative.db`` relative to the project folder and create its folder."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite://" or url.endswith(":memory:"):
        return url
    path = Path(url[len(prefix) :])
    if not path.is_absolute():
        path = (root or Path.cwd()) / path
    os.makedirs(path.parent, exist_ok=True)
    return f"{prefix}{path}"


def _campaign(row: Any) -> CampaignRecord:
    return CampaignRecord(
        id=row.id,
        name=row.name,
        label=row.label,
        latest_version=row.latest_version,
        published_version=row.published_version,
        archived_at=_aware(row.archived_at),
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
    )


def _version(row: Any) -> VersionRecord:
    return VersionRecord(
        id=row.id,
        campaign_id=row.campaign_id,
        version=row.version,
        definition=row.definition,
        digest=row.digest,
        source=row.source,
        created_at=_utc(row.created_at),
    )


def _execution(row: Any) -> ExecutionRecord:
    return ExecutionRecord(
        id=row.id,
        campaign_id=row.campaign_id,
        version=row.version,
        mode=Mode(row.mode),
        status=ExecutionStatus(row.status),
        variables=row.variables or {},
        consecutive_errors=row.consecutive_errors,
        aborted=bool(row.aborted),
        tables_dropped=bool(row.tables_dropped),
        created_at=_utc(row.created_at),
        ended_at=_aware(row.ended_at),
    )


def _task(row: Any) -> TaskRecord:
    return TaskRecord(
        id=row.id,
        execution_id=row.execution_id,
        activity_id=row.activity_id,
        attempt=row.attempt,
        status=TaskStatus(row.status),
        input_count=row.input_count,
        error=row.error,
        worker=row.worker,
        created_at=_utc(row.created_at),
        started_at=_aware(row.started_at),
        ended_at=_aware(row.ended_at),
        wake_at=_aware(row.wake_at),
    )


def _output(row: Any) -> OutputRecord:
    return OutputRecord(
        id=row.id,
        execution_id=row.execution_id,
        task_id=row.task_id,
        activity_id=row.activity_id,
        output=row.output,
        table_name=row.table_name,
        dimension=row.dimension,
        key_column=row.key_column,
        row_count=row.row_count,
        fired=bool(row.fired),
        created_at=_utc(row.created_at),
    )


def _audience(row: Any) -> AudienceRecord:
    return AudienceRecord(
        id=row.id,
        name=row.name,
        table_name=row.table_name,
        dimension=row.dimension,
        columns=list(row.columns or []),
        row_count=row.row_count,
        campaign_id=row.campaign_id,
        execution_id=row.execution_id,
        saved_at=_utc(row.saved_at),
    )


def _transition(row: Any) -> TransitionRecord:
    return TransitionRecord(
        id=row.id,
        execution_id=row.execution_id,
        position=row.position,
        from_activity=row.from_activity,
        from_output=row.from_output,
        to_activity=row.to_activity,
        state=TransitionState(row.state),
        row_count=row.row_count,
        table_name=row.table_name,
        created_at=_utc(row.created_at),
    )


def _log(row: Any) -> LogRecord:
    return LogRecord(
        id=row.id,
        campaign_id=row.campaign_id,
        execution_id=row.execution_id,
        task_id=row.task_id,
        activity_id=row.activity_id,
        level=LogLevel(row.level),
        message=row.message,
        details=row.details,
        at=_utc(row.at),
    )


#: Records one hand-off's outcome (executed once per row of a group); only a row still
#: ``sending`` changes.
def _finish_update(_size: int) -> sa.ClauseElement:
    """The outcome of one hand-off (parameters named as the columns; ``expected``: the state
    the row must still be in)."""
    d = t.deliveries
    return (
        sa.update(d)
        .where(d.c.id == sa.bindparam("id"), d.c.state == sa.bindparam("expected"))
        .values(
            {
                name: sa.bindparam(name)
                for name in ("state", "reason", "error", "provider_message_id", "sent_at")
            }
            | {"updated_at": sa.bindparam("updated_at")}
        )
    )


def _begin_update(size: int) -> sa.ClauseElement:
    """``size`` rows (``id_<n>``) still ``expected`` moved to ``state`` with one more
    attempt, returning the ids that moved."""
    d = t.deliveries
    return (
        sa.update(d)
        .where(
            d.c.id.in_([sa.bindparam(f"id_{index}") for index in range(size)]),
            d.c.state == sa.bindparam("expected"),
        )
        .values(
            state=sa.bindparam("state"),
            attempts=d.c.attempts + sa.literal_column("1"),
            updated_at=sa.bindparam("updated_at"),
        )
        .returning(d.c.id)
    )


#: Rows per INSERT of :meth:`Store.queue_deliveries` (SQLite takes at most 32,766 parameters in
#: one statement: 13 a row).
_ROWS_PER_INSERT = 1_000


#: Keys per ``IN (…)`` query (SQLite allows 32,766 parameters in one statement).
_KEYS_PER_QUERY = 5_000


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


#: The fields of a ledger row that :meth:`Store.queue_deliveries` writes as given.
_QUEUED_FIELDS = (
    "execution_id",
    "activity_id",
    "recipient_key",
    "channel",
    "dimension",
    "category",
    "address",
    "reason",
    "attempts",
    "idempotency_key",
    "queued_at",
    "updated_at",
)
#: The columns of the INSERT of :meth:`Store.queue_deliveries`, and those set to its time.
_QUEUE_COLUMNS = (*_QUEUED_FIELDS, "state")
_QUEUE_TIMES = frozenset({"queued_at", "updated_at"})


@functools.lru_cache(maxsize=8)
def _queue_names(size: int) -> tuple[str, ...]:
    """The parameters of the INSERT of ``size`` ledger rows, row after row: ``<column>_<row>``."""
    return tuple(f"{name}_{index}" for index in range(size) for name in _QUEUE_COLUMNS)


def _delivery(row: Any) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        execution_id=row.execution_id,
        activity_id=row.activity_id,
        recipient_key=row.recipient_key,
        channel=row.channel,
        dimension=row.dimension,
        category=row.category,
        address=row.address,
        state=DeliveryState(row.state),
        reason=row.reason,
        attempts=row.attempts,
        provider_message_id=row.provider_message_id,
        idempotency_key=row.idempotency_key,
        queued_at=_utc(row.queued_at),
        sent_at=_aware(row.sent_at),
        updated_at=_utc(row.updated_at),
        error=row.error,
    )


def _event(row: Any) -> EventRecord:
    return EventRecord(
        id=row.id,
        delivery_id=row.delivery_id,
        kind=EventKind(row.kind),
        at=_utc(row.at),
        link_index=row.link_index,
        url=row.url,
        detail=row.detail,
    )


def _suppression(row: Any) -> SuppressionRecord:
    return SuppressionRecord(
        id=row.id,
        channel=row.channel,
        address=row.address,
        reason=SuppressionReason(row.reason),
        delivery_id=row.delivery_id,
        created_at=_utc(row.created_at),
    )
