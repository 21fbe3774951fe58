"""Typed rows read from the state store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from partita.model.states import ExecutionStatus, LogLevel, Mode, TaskStatus, TransitionState


@dataclass(frozen=True)
class CampaignRecord:
    """A stored campaign (its versions are separate)."""

    id: int
    name: str
    label: str | None
    latest_version: int
    published_version: int | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class VersionRecord:
    """One frozen version of a campaign definition."""

    id: int
    campaign_id: int
    version: int
    definition: dict[str, Any]
    digest: str
    source: str | None
    created_at: datetime


@dataclass(frozen=True)
class ExecutionRecord:
    """One run of a campaign version."""

    id: int
    campaign_id: int
    version: int
    mode: Mode
    status: ExecutionStatus
    variables: dict[str, Any]
    consecutive_errors: int
    aborted: bool
    tables_dropped: bool
    created_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class TaskRecord:
    """One run of one activity in an execution."""

    id: int
    execution_id: int
    activity_id: str
    attempt: int
    status: TaskStatus
    input_count: int | None
    error: str | None
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    #: A waiting task may run again from then (None: it waits for something else).
    wake_at: datetime | None = None


@dataclass(frozen=True)
class OutputRecord:
    """The working table an activity output produced."""

    id: int
    execution_id: int
    task_id: int
    activity_id: str
    output: str
    table_name: str
    dimension: str
    key_column: str | None
    row_count: int
    fired: bool
    created_at: datetime


@dataclass(frozen=True)
class AudienceRecord:
    """A named audience: its table in the warehouse and where it came from."""

    id: int
    name: str
    table_name: str
    dimension: str
    columns: list[str]
    row_count: int
    campaign_id: int
    execution_id: int
    saved_at: datetime


@dataclass(frozen=True)
class TransitionRecord:
    """What one transition did in one execution."""

    id: int
    execution_id: int
    position: int
    from_activity: str
    from_output: str
    to_activity: str
    state: TransitionState
    row_count: int | None
    table_name: str | None
    created_at: datetime


@dataclass(frozen=True)
class LogRecord:
    """One line of a campaign's history."""

    id: int
    campaign_id: int | None
    execution_id: int | None
    task_id: int | None
    activity_id: str | None
    level: LogLevel
    message: str
    details: dict[str, Any] | None
    at: datetime
