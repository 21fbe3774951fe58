"""The body of ``POST /api/feedback``: bounces and complaints, by delivery or by address.

One report is ``{"delivery_id": "...", "kind": "...", "detail": {...}}`` or, when the
delivery is unknown, ``{"channel": "email", "address": "...", "kind": "..."}``; the body is
one report or a list of them. Everything is checked before anything is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from partita.model.problems import PartitaError
from partita.store.schema import EventKind, SuppressionReason

#: The kinds the feedback API takes, and the suppression each one causes (None: none).
KINDS: dict[EventKind, SuppressionReason | None] = {
    EventKind.HARD_BOUNCE: SuppressionReason.HARD_BOUNCE,
    EventKind.SOFT_BOUNCE: None,
    EventKind.COMPLAINT: SuppressionReason.COMPLAINT,
}
CHANNELS = ("email", "sms", "push")
FIELDS = ("delivery_id", "channel", "address", "kind", "detail")
#: The most reports one request may carry.
MAX_REPORTS = 10_000


class FeedbackError(PartitaError):
    """A feedback body that cannot be recorded; the message names the field."""


@dataclass(frozen=True)
class Feedback:
    """One checked report: a delivery (its idempotency key) or a channel and an address."""

    kind: EventKind
    delivery_id: str | None = None
    channel: str | None = None
    address: str | None = None
    detail: dict[str, Any] | None = None


def parse_feedback(body: object) -> list[Feedback]:
    """The reports of a request body (a report or a list); FeedbackError naming the first
    bad field (``[2].kind``, or ``kind`` for a single report)."""
    if isinstance(body, list):
        if len(body) > MAX_REPORTS:
            raise FeedbackError(f"at most {MAX_REPORTS:,} reports per request, not {len(body):,}")
        return [_report(item, f"[{n}].") for n, item in enumerate(body)]
    return [_report(body, "")]


def _text(item: Mapping[str, Any], name: str, where: str) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FeedbackError(f"{where}{name}: must be a non-empty string")
    return value.strip()


def _report(item: object, where: str) -> Feedback:
    if not isinstance(item, dict):
        raise FeedbackError(f"{where or 'body'}: must be an object (or a list of objects)")
    for name in item:
        if name not in FIELDS:
            raise FeedbackError(f"{where}{name}: unknown field (expected {', '.join(FIELDS)})")
    kinds = ", ".join(KINDS)
    kind = item.get("kind")
    if kind is None:
        raise FeedbackError(f"{where}kind: missing (one of {kinds})")
    if kind not in KINDS:
        raise FeedbackError(f"{where}kind: must be one of {kinds}, not {kind!r}")
    detail = item.get("detail")
    if detail is not None and not isinstance(detail, dict):
        raise FeedbackError(f"{where}detail: must be an object")
    delivery = _text(item, "delivery_id", where)
    channel = _text(item, "channel", where)
    address = _text(item, "address", where)
    if delivery is not None:
        if channel is not None or address is not None:
            raise FeedbackError(
                f"{where}delivery_id: give either delivery_id or channel and address, not both"
            )
        return Feedback(EventKind(kind), delivery_id=delivery, detail=detail)
    if address is None:
        raise FeedbackError(f"{where}delivery_id: missing (or give channel and address)")
    channels = ", ".join(CHANNELS)
    if channel is None:
        raise FeedbackError(f"{where}channel: missing (one of {channels}), needed with address")
    if channel not in CHANNELS:
        raise FeedbackError(f"{where}channel: must be one of {channels}, not {channel!r}")
    return Feedback(EventKind(kind), channel=channel, address=address, detail=detail)
