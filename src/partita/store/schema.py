"""The state store's tables (SQLAlchemy Core).  Alembic migrations must produce exactly these."""

from __future__ import annotations

import enum

import sqlalchemy as sa

from partita.model.states import (
    DeliveryState,
    ExecutionStatus,
    LogLevel,
    Mode,
    TaskStatus,
    TransitionState,
)

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, values: type[enum.StrEnum]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_valid")


def _now() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("label", sa.String(500)),
    sa.Column("latest_version", sa.Integer, nullable=False),
    sa.Column("published_version", sa.Integer),
    sa.Column("archived_at", sa.DateTime(timezone=True)),
    _now(),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

campaign_versions = sa.Table(
    "campaign_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("source", sa.String(1000)),
    _now(),
    sa.UniqueConstraint("campaign_id", "version", name="uq_campaign_versions_campaign_version"),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("mode", sa.String(10), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("variables", sa.JSON, nullable=False),
    sa.Column("consecutive_errors", sa.Integer, nullable=False, server_default="0"),
    sa.Column("aborted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("tables_dropped", sa.Boolean, nullable=False, server_default=sa.false()),
    _now(),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    _one_of("mode", Mode),
    _one_of("status", ExecutionStatus),
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "execution_id", sa.Integer, sa.ForeignKey("executions.id"), nullable=False, index=True
    ),
    sa.Column("activity_id", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("input_count", sa.BigInteger),
    sa.Column("error", sa.Text),
    sa.Column("worker", sa.String(200)),
    _now(),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    #: A waiting task may run again from then (quiet hours); NULL: when something else
    #: wakes it (a confirmation).
    sa.Column("wake_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("execution_id", "activity_id", "attempt", name="uq_tasks_attempt"),
    _one_of("status", TaskStatus),
)

outputs = sa.Table(
    "outputs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "execution_id", sa.Integer, sa.ForeignKey("executions.id"), nullable=False, index=True
    ),
    sa.Column("task_id", sa.Integer, sa.ForeignKey("tasks.id"), nullable=False),
    sa.Column("activity_id", sa.String(200), nullable=False),
    sa.Column("output", sa.String(200), nullable=False),
    sa.Column("table_name", sa.String(300), nullable=False),
    sa.Column("dimension", sa.String(200), nullable=False),
    sa.Column("key_column", sa.String(200)),
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("fired", sa.Boolean, nullable=False),
    _now(),
    sa.UniqueConstraint("execution_id", "activity_id", "output", name="uq_outputs_output"),
)

transitions = sa.Table(
    "transitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "execution_id", sa.Integer, sa.ForeignKey("executions.id"), nullable=False, index=True
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("from_activity", sa.String(200), nullable=False),
    sa.Column("from_output", sa.String(200), nullable=False),
    sa.Column("to_activity", sa.String(200), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("row_count", sa.BigInteger),
    sa.Column("table_name", sa.String(300)),
    _now(),
    sa.UniqueConstraint("execution_id", "position", name="uq_transitions_position"),
    _one_of("state", TransitionState),
)

audiences = sa.Table(
    "audiences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("table_name", sa.String(300), nullable=False),
    sa.Column("dimension", sa.String(200), nullable=False),
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("execution_id", sa.Integer, sa.ForeignKey("executions.id"), nullable=False),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
)

logs = sa.Table(
    "logs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), index=True),
    sa.Column("execution_id", sa.Integer, sa.ForeignKey("executions.id"), index=True),
    sa.Column("task_id", sa.Integer, sa.ForeignKey("tasks.id")),
    sa.Column("activity_id", sa.String(200)),
    sa.Column("level", sa.String(10), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.JSON),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    _one_of("level", LogLevel),
)


deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "execution_id", sa.Integer, sa.ForeignKey("executions.id"), nullable=False, index=True
    ),
    sa.Column("activity_id", sa.String(200), nullable=False),
    sa.Column("recipient_key", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("dimension", sa.String(200)),
    sa.Column("category", sa.String(20)),
    sa.Column("address", sa.String(1000)),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(100)),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("provider_message_id", sa.String(500)),
    sa.Column("idempotency_key", sa.String(500), nullable=False, index=True, unique=True),
    sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("error", sa.Text),
    sa.UniqueConstraint(
        "execution_id", "activity_id", "recipient_key", name="uq_deliveries_recipient"
    ),
    _one_of("state", DeliveryState),
)

delivery_exclusions = sa.Table(
    "delivery_exclusions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("execution_id", sa.Integer, sa.ForeignKey("executions.id"), nullable=False),
    sa.Column("activity_id", sa.String(200), nullable=False),
    sa.Column("reason", sa.String(100), nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.UniqueConstraint(
        "execution_id", "activity_id", "reason", name="uq_delivery_exclusions_reason"
    ),
)

confirmations = sa.Table(
    "confirmations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("execution_id", sa.Integer, sa.ForeignKey("executions.id"), nullable=False),
    sa.Column("activity_id", sa.String(200), nullable=False),
    sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("execution_id", "activity_id", name="uq_confirmations_activity"),
)


class EventKind(enum.StrEnum):
    """What a recipient or a provider reported about a delivery after its hand-off."""

    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"


delivery_events = sa.Table(
    "delivery_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "delivery_id", sa.Integer, sa.ForeignKey("deliveries.id"), nullable=False, index=True
    ),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("link_index", sa.Integer),
    sa.Column("url", sa.Text),
    sa.Column("detail", sa.JSON),
    _one_of("kind", EventKind),
)


class SuppressionReason(enum.StrEnum):
    """Why an address must not be sent to any more."""

    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    MANUAL = "manual"


suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("address", sa.String(1000), nullable=False),
    sa.Column("reason", sa.String(30), nullable=False),
    sa.Column("delivery_id", sa.Integer),
    _now(),
    sa.UniqueConstraint("channel", "address", name="uq_suppressions_address"),
    _one_of("reason", SuppressionReason),
)
