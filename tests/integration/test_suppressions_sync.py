"""The state store's suppressions mirrored into the warehouse table exclusions read, on each
warehouse engine: only the missing ones are inserted; rows users inserted stay."""

from __future__ import annotations

from partita.channels import SUPPRESSIONS, sync_suppressions
from partita.engine import Engine
from partita.store.schema import SuppressionReason


def test_sync_inserts_only_what_the_warehouse_lacks(engine: Engine) -> None:
    warehouse = engine.warehouse
    target = f"{warehouse.working_schema}.{SUPPRESSIONS}"
    assert sync_suppressions(engine.store, warehouse) == 0  # nothing yet: the table is made
    assert warehouse.exists(SUPPRESSIONS)
    warehouse.con.raw_sql(
        f"INSERT INTO {target} VALUES ('email', ' ANN@Example.com', 'manual', "
        "TIMESTAMP '2026-01-02 03:04:05')"
    )
    store = engine.store
    store.add_suppression("email", "ann@example.com", SuppressionReason.UNSUBSCRIBED)
    store.add_suppression("email", "Bob@Example.com", SuppressionReason.HARD_BOUNCE)
    store.add_suppression("sms", "ann@example.com", SuppressionReason.COMPLAINT)
    assert sync_suppressions(store, warehouse) == 2
    assert sync_suppressions(store, warehouse) == 0
    rows = warehouse.con.raw_sql(f"SELECT channel, address, reason FROM {target}").fetchall()
    assert sorted(tuple(r) for r in rows) == [
        ("email", " ANN@Example.com", "manual"),
        ("email", "bob@example.com", "hard_bounce"),
        ("sms", "ann@example.com", "complaint"),
    ]
