"""The closed sets of statuses (campaigns, executions, tasks, transitions, deliveries) and
execution modes."""

from __future__ import annotations

import enum


class CampaignStatus(enum.StrEnum):
    """What the campaign list shows."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    ARCHIVED = "archived"


class ExecutionStatus(enum.StrEnum):
    """The status of one run of the diagram."""

    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def is_final(self) -> bool:
        """Completed and stopped executions never run again."""
        return self in (ExecutionStatus.COMPLETED, ExecutionStatus.STOPPED)


class TaskStatus(enum.StrEnum):
    """The status of one run of one activity."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        """Pending, running and waiting tasks keep an execution alive."""
        return self in (TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.WAITING)


class Mode(enum.StrEnum):
    """Test executions send nothing and write nothing back; live ones do."""

    TEST = "test"
    LIVE = "live"


class TransitionState(enum.StrEnum):
    """Whether a transition carried its population or will never fire in this execution."""

    FIRED = "fired"
    DEAD = "dead"


class LogLevel(enum.StrEnum):
    """Severity of a log line."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """Orders levels: debug < info < warning < error."""
        return list(LogLevel).index(self)


class DeliveryState(enum.StrEnum):
    """Where one delivery of the ledger stands (the state store keeps it a closed set)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    EXCLUDED = "excluded"
    IN_DOUBT = "in_doubt"
