"""Plain-data reports of executions (what ``status --json`` and the API return)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from partita.engine.service import Engine
from partita.model.states import TransitionState
from partita.store import ExecutionRecord, LogRecord, TaskRecord


def _time(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") if value is not None else None


def task_report(task: TaskRecord, output_counts: dict[str, int]) -> dict[str, Any]:
    """One task as plain data."""
    duration = None
    if task.started_at is not None and task.ended_at is not None:
        duration = round((task.ended_at - task.started_at).total_seconds(), 3)
    return {
        "id": task.id,
        "activity": task.activity_id,
        "attempt": task.attempt,
        "status": task.status.value,
        "start": _time(task.started_at),
        "end": _time(task.ended_at),
        "seconds": duration,
        "input_count": task.input_count,
        "output_counts": output_counts,
        "error": task.error,
    }


def execution_report(engine: Engine, execution: ExecutionRecord) -> dict[str, Any]:
    """Campaign, execution, status, every transition with its count, every task."""
    record = engine.store.campaign_by_id(execution.campaign_id)
    campaign = engine.campaign_of(execution)
    records = {r.position: r for r in engine.store.transitions(execution.id)}
    transitions = []
    for position, transition in enumerate(campaign.transitions):
        origin = transition.origin
        done = records.get(position)
        state = done.state.value if done is not None else "pending"
        transitions.append(
            {
                "from": str(origin),
                "from_activity": origin.activity,
                "from_output": origin.output,
                "to": transition.target,
                "state": state,
                "count": done.row_count
                if done is not None and done.state == TransitionState.FIRED
                else None,
                "table": done.table_name if done is not None else None,
            }
        )
    counts: dict[str, dict[str, int]] = {}
    for output in engine.store.outputs(execution.id):
        counts.setdefault(output.activity_id, {})[output.output] = output.row_count
    tasks = engine.store.tasks(execution.id)
    latest = {t.activity_id: t.id for t in tasks}
    return {
        "campaign": record.name,
        "campaign_status": engine.status_of(record).value,
        "execution": execution.id,
        "version": execution.version,
        "mode": execution.mode.value,
        "status": execution.status.value,
        "variables": execution.variables,
        "created": _time(execution.created_at),
        "ended": _time(execution.ended_at),
        "transitions": transitions,
        "tasks": [
            task_report(t, counts.get(t.activity_id, {}) if latest[t.activity_id] == t.id else {})
            for t in tasks
        ],
    }


def log_report(line: LogRecord) -> dict[str, Any]:
    """One log line as plain data."""
    return {
        "at": _time(line.at),
        "level": line.level.value,
        "execution": line.execution_id,
        "task": line.task_id,
        "activity": line.activity_id,
        "message": line.message,
        "details": line.details,
    }
