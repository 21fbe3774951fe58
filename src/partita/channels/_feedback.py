"""Feedback into targeting: the suppression list the tracking server and the feedback API fill
in the state store, mirrored into the warehouse table the exclusions read.

The server never opens the warehouse (DuckDB allows one writing process); the channel
activity copies the new suppressions over when it computes its exclusions.
"""

from __future__ import annotations

import ibis
import pyarrow as pa

from partita.channels._exclusions import SUPPRESSIONS, normal_address, suppressions
from partita.store.store import Store
from partita.warehouse import Warehouse


def sync_suppressions(store: Store, warehouse: Warehouse) -> int:
    """Insert the state store's suppressions missing from ``partita_suppressions`` (compared
    on channel and normalized address; rows users inserted themselves stay); how many."""
    listed = suppressions(warehouse)
    records = store.suppressions()
    if not records:
        return 0
    incoming = ibis.memtable(
        pa.table(
            {
                "channel": pa.array([r.channel for r in records], pa.string()),
                "address": pa.array([r.address for r in records], pa.string()),
                "reason": pa.array([r.reason.value for r in records], pa.string()),
                "created_at": pa.array(
                    [r.created_at.replace(tzinfo=None) for r in records], pa.timestamp("us")
                ),
            }
        )
    )
    missing = warehouse.arrow(
        incoming.anti_join(
            listed,
            [
                incoming.channel == listed.channel,
                incoming.address == normal_address(listed.address),
            ],
        )
    )
    if missing.num_rows:
        warehouse.con.insert(
            SUPPRESSIONS, ibis.memtable(missing), database=warehouse.working_schema
        )
    return int(missing.num_rows)
