"""Plain-data reports of executions (what ``status --json`` and the API return)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from partita.engine.service import Engine
from partita.model.states import DeliveryState, TransitionState
from partita.store import ExecutionRecord, LogRecord, TaskRecord
from partita.store.schema import EventKind


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
        "wake_at": _time(task.wake_at),
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


# -- delivery reports ---------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def delivery_report(engine: Engine, executions: list[ExecutionRecord]) -> dict[str, Any]:
    """Per channel activity of these executions (summed): targeted, excluded by reason,
    sent, failed, in doubt, bounced, unique opens and clicks, unsubscribes, rates; and the
    hourly timeline of sends and events."""
    ids = [e.id for e in executions]
    kinds: dict[str, str] = {}
    for execution in executions:
        for activity in engine.campaign_of(execution).activities:
            kinds.setdefault(activity.id, activity.kind)
    activities: dict[str, dict[str, Any]] = {}

    def entry(activity_id: str) -> dict[str, Any]:
        if activity_id not in activities:
            activities[activity_id] = {
                "activity": activity_id,
                "channel": kinds.get(activity_id),
                "excluded": {},
                "failed_reasons": {},
                "states": {},
                "events": {},
            }
        return activities[activity_id]

    for activity_id, cause, count in engine.store.exclusion_counts(ids):
        excluded = entry(activity_id)["excluded"]
        excluded[cause] = excluded.get(cause, 0) + count
    for activity_id, channel, state, reason, count in engine.store.ledger_counts(ids):
        found = entry(activity_id)
        found["channel"] = found["channel"] or channel
        found["states"][state] = found["states"].get(state, 0) + count
        if state == DeliveryState.EXCLUDED and reason is not None:
            found["excluded"][reason] = found["excluded"].get(reason, 0) + count
        if state == DeliveryState.FAILED:
            key = reason or "error"
            found["failed_reasons"][key] = found["failed_reasons"].get(key, 0) + count
    for activity_id, kind, unique, _total in engine.store.event_counts(ids):
        entry(activity_id)["events"][kind] = unique
    opened = dict(engine.store.opened_or_clicked(ids))
    order = list(kinds)
    rows = [
        _activity_summary(found, opened.get(found["activity"], 0))
        for found in sorted(
            activities.values(),
            key=lambda f: order.index(f["activity"]) if f["activity"] in order else len(order),
        )
    ]
    timeline: dict[str, dict[str, int]] = {}
    for hour, what, count in engine.store.timeline(ids):
        timeline.setdefault(hour, {})[what] = count
    return {
        "executions": ids,
        "activities": rows,
        "timeline": [{"hour": hour, **counts} for hour, counts in sorted(timeline.items())],
    }


def _activity_summary(found: dict[str, Any], unique_opens: int) -> dict[str, Any]:
    states, events = found["states"], found["events"]
    sent = states.get(DeliveryState.SENT, 0)
    bounced = events.get(EventKind.HARD_BOUNCE, 0)
    delivered = max(sent - bounced, 0)
    clicks = events.get(EventKind.CLICK, 0)
    unsubscribes = events.get(EventKind.UNSUBSCRIBE, 0)
    excluded = sum(found["excluded"].values())
    ledger = sum(states.values())
    excluded_in_ledger = states.get(DeliveryState.EXCLUDED, 0)
    tracked = found["channel"] == "email"
    return {
        "activity": found["activity"],
        "channel": found["channel"],
        "targeted": excluded + ledger - excluded_in_ledger,
        "excluded": excluded,
        "excluded_by_reason": dict(sorted(found["excluded"].items())),
        "sent": sent,
        "failed": states.get(DeliveryState.FAILED, 0),
        "failed_by_reason": dict(sorted(found["failed_reasons"].items())),
        "in_doubt": states.get(DeliveryState.IN_DOUBT, 0),
        "pending": states.get(DeliveryState.QUEUED, 0) + states.get(DeliveryState.SENDING, 0),
        "bounced": bounced,
        "soft_bounced": events.get(EventKind.SOFT_BOUNCE, 0),
        "complaints": events.get(EventKind.COMPLAINT, 0),
        "delivered": delivered,
        "unique_opens": unique_opens,
        "unique_clicks": clicks,
        "unsubscribes": unsubscribes,
        "rates": {
            "delivery": _rate(delivered, sent),
            "bounce": _rate(bounced, sent),
            # opens, clicks and unsubscribes are tracked in emails only
            "open": _rate(unique_opens, delivered) if tracked else None,
            "click": _rate(clicks, delivered) if tracked else None,
            "click_to_open": _rate(clicks, unique_opens) if tracked else None,
            "unsubscribe": _rate(unsubscribes, delivered) if tracked else None,
        },
    }
