"""The delivery ledger of one channel activity in one execution: exactly once, kept by the store.

Each recipient has one row, unique on (execution, activity, recipient key). The protocol of a
batch:

1. :meth:`Ledger.queue` inserts the batch's rows as ``queued``; rows already there (an earlier
   attempt) are kept as they are;
2. the rows still ``queued`` go in groups: :meth:`Ledger.finish_and_begin` moves a group to
   ``sending`` and commits *before* the provider gets its messages (recording the previous
   group's outcomes in the same commit); :meth:`Ledger.finish` records the last group's
   outcomes: ``sent``, ``failed``, ``in_doubt``, or ``queued`` again (a transient error, tried
   later). The one-row forms are :meth:`begin`, then :meth:`sent`, :meth:`failed`,
   :meth:`in_doubt` or :meth:`requeue`.

A row found in ``sending`` when a task starts is the trace of a crash during a hand-off: its
outcome is unknown. :meth:`recover` marks those rows ``in_doubt`` (never resent), or, when the
provider deduplicates on the idempotency key, puts them back in the queue to be resent with the
same key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from partita.channels._sending import Handed
from partita.model.states import DeliveryState
from partita.store.store import DeliveryRecord, Store, utcnow

QUEUED = DeliveryState.QUEUED
SENDING = DeliveryState.SENDING


def idempotency_key(execution_id: int, activity_id: str, recipient_key: str) -> str:
    """The key of one delivery: the same for every attempt, so a resend can be deduplicated."""
    return f"{execution_id}-{activity_id}-{recipient_key}"


@dataclass(frozen=True)
class Recipient:
    """One row to queue: the recipient's key and address (None: excluded with ``reason``)."""

    key: str
    address: str | None
    reason: str | None = None


class Ledger:
    """The ledger rows of one (execution, channel activity)."""

    def __init__(
        self,
        store: Store,
        execution_id: int,
        activity_id: str,
        channel: str,
        dimension: str | None = None,
        category: str | None = None,
    ) -> None:
        self.store = store
        self.execution_id = execution_id
        self.activity_id = activity_id
        self.channel = channel
        self.dimension = dimension
        self.category = category

    def key_of(self, recipient_key: str) -> str:
        """The idempotency key of a recipient's delivery."""
        return idempotency_key(self.execution_id, self.activity_id, recipient_key)

    def record_exclusions(self, counts: Mapping[str, int]) -> None:
        """Keep the counts by reason of the recipients excluded before the ledger (in the
        warehouse: no address, no consent, suppressed, frequency cap) for the report."""
        self.store.record_exclusions(self.execution_id, self.activity_id, counts)

    def recover(self, idempotent: bool) -> int:
        """Deal with rows left in ``sending`` by a crash; how many there were."""
        if idempotent:
            return self.store.mark_deliveries(
                self.execution_id, self.activity_id, QUEUED, expected=SENDING
            )
        return self.store.mark_deliveries(
            self.execution_id,
            self.activity_id,
            DeliveryState.IN_DOUBT,
            expected=SENDING,
            error="the task stopped while this message was being handed to the provider: "
            "it may or may not have been sent",
        )

    def queue(self, recipients: Sequence[Recipient]) -> list[DeliveryRecord]:
        """Record a batch (rows already there are kept) and return the batch's rows."""
        rows = [
            {
                "recipient_key": r.key,
                "address": r.address,
                "idempotency_key": self.key_of(r.key),
                "state": (DeliveryState.EXCLUDED if r.reason else QUEUED).value,
                "reason": r.reason,
            }
            for r in recipients
        ]
        return self.store.queue_deliveries(
            self.execution_id,
            self.activity_id,
            self.channel,
            rows,
            dimension=self.dimension,
            category=self.category,
        )

    def rows(self, keys: Sequence[str]) -> list[DeliveryRecord]:
        """The ledger rows of these recipients, by id."""
        return self.store.deliveries(self.execution_id, self.activity_id, keys=keys)

    def finish(self, outcomes: Sequence[Handed]) -> None:
        """Record the outcomes of a group's hand-offs in one commit."""
        self.finish_and_begin(outcomes, [])

    def finish_and_begin(
        self, outcomes: Sequence[Handed], rows: Sequence[DeliveryRecord]
    ) -> set[int]:
        """Record the outcomes of one group and move the next group's rows (those still
        ``queued``) to ``sending``, in one commit, before their hand-off; the ids taken."""
        if not outcomes and not rows:
            return set()
        return self.store.finish_and_begin_deliveries(
            [
                {
                    "id": o.delivery,
                    "state": o.state.value,
                    "reason": o.reason,
                    "error": o.error,
                    "provider_message_id": o.provider_message_id,
                }
                for o in outcomes
            ],
            [row.id for row in rows],
        )

    def begin(self, row: DeliveryRecord) -> bool:
        """``queued`` -> ``sending``, committed before the hand-off; False when the row is no
        longer queued (another worker took it)."""
        return self.store.mark_delivery(
            row.id, SENDING, expected=[QUEUED], attempts=row.attempts + 1
        )

    def sent(self, row: DeliveryRecord, provider_message_id: str | None) -> None:
        """The provider took the message."""
        self.store.mark_delivery(
            row.id,
            DeliveryState.SENT,
            expected=[SENDING],
            provider_message_id=provider_message_id,
            sent_at=utcnow(),
            error=None,
        )

    def failed(self, row: DeliveryRecord, error: str, reason: str = "rejected") -> None:
        """The provider refused this recipient for good."""
        self.store.mark_delivery(
            row.id, DeliveryState.FAILED, expected=[SENDING], error=error, reason=reason
        )

    def in_doubt(self, row: DeliveryRecord, error: str) -> None:
        """The outcome of the hand-off is unknown: never resent blindly."""
        self.store.mark_delivery(row.id, DeliveryState.IN_DOUBT, expected=[SENDING], error=error)

    def requeue(self, row: DeliveryRecord, error: str) -> None:
        """Nothing was sent (transient error, or the task stops): back in the queue."""
        self.store.mark_delivery(row.id, QUEUED, expected=[SENDING], error=error)
