"""The delivery history in the warehouse, so filters can target on it.

The ledger and the tracking events live in the state store (the tracking server writes there,
never in the warehouse). Targeting runs in the warehouse, so two working-schema tables mirror
them:

- ``partita_deliveries``: one row per ledger row, rewritten for an activity when it ends (in
  one transaction: its rows of that execution are replaced);
- ``partita_delivery_events``: opens, clicks, unsubscribes, bounces and complaints, appended by
  id before a filter reads them.

:meth:`DeliveryHistory.table` joins the two into what a filter sees through a dimension's
``deliveries`` link: the columns of :data:`partita.model.datamodel.DELIVERY_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from partita.channels._ledger import Ledger
from partita.model.datamodel import Dimension
from partita.store import Store
from partita.store.store import EventRecord
from partita.warehouse import Warehouse
from partita.warehouse.files import BatchTable
from partita.warehouse.writes import (
    delete_rows,
    ensure_table,
    insert_rows,
    literal,
    run_statements,
    source_column,
)

DELIVERIES_TABLE = "partita_deliveries"
EVENTS_TABLE = "partita_delivery_events"

_TIME = pa.timestamp("us")
_DELIVERIES = pa.schema(
    [
        ("id", pa.int64()),
        ("delivery_id", pa.string()),
        ("campaign", pa.string()),
        ("execution_id", pa.int64()),
        ("activity", pa.string()),
        ("channel", pa.string()),
        ("category", pa.string()),
        ("dimension", pa.string()),
        ("recipient_key", pa.string()),
        ("address", pa.string()),
        ("state", pa.string()),
        ("reason", pa.string()),
        ("queued_at", _TIME),
        ("sent_at", _TIME),
    ]
)
_EVENTS = pa.schema(
    [
        ("id", pa.int64()),
        ("delivery", pa.int64()),
        ("kind", pa.string()),
        ("at", _TIME),
        ("link_index", pa.int64()),
        ("url", pa.string()),
    ]
)


#: The mirror's columns that hold the same value on every row of one activity in one
#: execution: :meth:`DeliveryHistory.record` writes them as constants.
_OF_THE_ACTIVITY = ("campaign", "execution_id", "activity", "channel", "category", "dimension")
#: The ledger rows of one activity as staged in the warehouse: the mirror's other columns, and
#: the provider's message id the activity's ``out`` output carries.
_STAGED = pa.schema(
    [f for f in _DELIVERIES if f.name not in _OF_THE_ACTIVITY]
    + [pa.field("provider_message_id", pa.string())]
)
#: Ledger column by staged column, where the names differ.
_LEDGER_NAMES = {"delivery_id": "idempotency_key"}


def _naive(moment: datetime | None) -> datetime | None:
    """UTC without a zone, as the warehouse's timestamp columns hold it."""
    return None if moment is None else moment.replace(tzinfo=None)


class DeliveryHistory:
    """The warehouse mirror of the delivery ledger and its tracking events."""

    def __init__(self, store: Store, warehouse: Warehouse) -> None:
        self.store = store
        self.warehouse = warehouse
        #: Events are appended once per instance (one task): every filter of the task then
        #: reads the same events, and a task with several filters on deliveries syncs once.
        self._synced = False

    def _table(self, name: str, schema: pa.Schema) -> ir.Table:
        return ensure_table(self.warehouse, name, ibis.Schema.from_pyarrow(schema))

    def stage(self, campaign: str, ledger: Ledger) -> BatchTable:
        """The rows of one activity's ledger copied into a new warehouse table (a page of the
        ledger at a time: memory does not grow with the audience), for :meth:`record` and the
        activity's outputs; only the columns that differ from row to row (the table the
        warehouse holds until the end of the task is the smaller). The caller drops it."""
        name = self.warehouse.working_table_name(
            campaign, ledger.execution_id, ledger.activity_id, "ledger_rows"
        )
        staged = BatchTable.create(self.warehouse, name, _STAGED)
        try:
            staged.load(self._staged_batches(ledger))
        except BaseException:
            self.warehouse.drop([staged.name])
            raise
        return staged

    def _staged_batches(self, ledger: Ledger) -> Iterator[pa.RecordBatch]:
        names = [_LEDGER_NAMES.get(name, name) for name in _STAGED.names]
        pages = self.store.delivery_columns(ledger.execution_id, ledger.activity_id, names)
        for page in pages:
            yield pa.RecordBatch.from_arrays(
                [pa.array(page[name], type=f.type) for name, f in zip(names, _STAGED, strict=True)],
                schema=_STAGED,
            )

    def record(self, staged: BatchTable, campaign: str, ledger: Ledger) -> None:
        """Replace what the mirror holds of one activity in one execution by its
        ledger rows (from :meth:`stage`), in one transaction."""
        mirror = self._table(DELIVERIES_TABLE, _DELIVERIES)
        of_the_activity = (
            campaign,
            ledger.execution_id,
            ledger.activity_id,
            ledger.channel,
            ledger.category,
            ledger.dimension,
        )
        constants = dict(zip(_OF_THE_ACTIVITY, of_the_activity, strict=True))
        values = [
            literal(constants[name]) if name in constants else source_column(name)
            for name in _DELIVERIES.names
        ]
        run_statements(
            self.warehouse,
            [
                delete_rows(
                    mirror, {"execution_id": ledger.execution_id, "activity": ledger.activity_id}
                ),
                insert_rows(
                    mirror, self.warehouse.working(staged.name), list(_DELIVERIES.names), values
                ),
            ],
        )

    def sync_events(self) -> int:
        """Append the tracking events the mirror does not have yet; how many."""
        mirror = self._table(EVENTS_TABLE, _EVENTS)
        last = self.warehouse.scalar(mirror.id.max())
        after = 0 if last is None else int(last)
        events = self.store.events(after_id=after)
        if not events:
            return 0
        BatchTable(self.warehouse, EVENTS_TABLE, _EVENTS).load(_event_batches(events))
        return len(events)

    def table(self, dimension: Dimension) -> ir.Table:
        """The deliveries to rows of ``dimension`` with what tracking recorded of each, typed
        for the filter compiler (``recipient_key`` has the dimension key's type)."""
        if not self._synced:
            self.sync_events()
            self._synced = True
        deliveries = self._table(DELIVERIES_TABLE, _DELIVERIES)
        events = self._table(EVENTS_TABLE, _EVENTS)
        mine = deliveries.filter(deliveries.dimension == dimension.name)
        key_type = self.warehouse.table(dimension).schema()[dimension.key]

        def first(kind: str) -> ir.TimestampScalar:
            return events.at.min(where=events.kind == kind)

        def number(kind: str) -> ir.IntegerScalar:
            return events.count(where=events.kind == kind)

        tracked = events.group_by(delivery=events.delivery).aggregate(
            opens=number("open"),
            opened_at=first("open"),
            clicks=number("click"),
            clicked_at=first("click"),
            unsubscribes=number("unsubscribe"),
            hard_bounces=number("hard_bounce"),
            complaints=number("complaint"),
        )
        joined = mine.left_join(tracked, mine.id == tracked.delivery)
        opens = joined.opens.fill_null(0)
        clicks = joined.clicks.fill_null(0)
        return joined.select(
            "delivery_id",
            "campaign",
            "execution_id",
            "activity",
            "channel",
            "category",
            "address",
            "state",
            "reason",
            "queued_at",
            "sent_at",
            recipient_key=joined.recipient_key.cast(key_type),
            # a click proves the message was opened, even when images were blocked
            opened=(opens + clicks) > 0,
            opens=opens,
            opened_at=ibis.coalesce(joined.opened_at, joined.clicked_at),
            clicked=clicks > 0,
            clicks=clicks,
            clicked_at=joined.clicked_at,
            unsubscribed=joined.unsubscribes.fill_null(0) > 0,
            bounced=joined.hard_bounces.fill_null(0) > 0,
            complained=joined.complaints.fill_null(0) > 0,
        )


def _event_batches(events: Sequence[EventRecord]) -> Iterator[pa.RecordBatch]:
    rows = [
        {
            "id": e.id,
            "delivery": e.delivery_id,
            "kind": e.kind.value,
            "at": _naive(e.at),
            "link_index": e.link_index,
            "url": e.url,
        }
        for e in events
    ]
    yield pa.RecordBatch.from_pylist(rows, schema=_EVENTS)
