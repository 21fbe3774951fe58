"""The state store's suppressions mirrored into the warehouse table exclusions read, on each
warehouse engine: only the missing ones are inserted; rows users inserted stay. And how the
exclusions use the table: unsubscribed (marketing only) or suppressed."""

from __future__ import annotations

from partita.channels import (
    SUPPRESSIONS,
    ExclusionRules,
    suppressions,
    sync_suppressions,
    with_reasons,
)
from partita.engine import Engine
from partita.store.schema import SuppressionReason
from tests.support import SQL


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


def test_unsubscribed_addresses_skip_marketing_only(engine: Engine, sql: SQL) -> None:
    warehouse = engine.warehouse
    people = sql("SELECT id, email FROM customers WHERE email IS NOT NULL ORDER BY id LIMIT 4")
    (a, a_mail), (b, b_mail), (c, c_mail), (d, _) = people
    listed = suppressions(warehouse)  # made empty on first use
    warehouse.con.raw_sql(
        f"INSERT INTO {warehouse.working_schema}.{SUPPRESSIONS} VALUES "
        f"('email', '{a_mail.upper()}', 'unsubscribed', TIMESTAMP '2026-01-01 00:00:00'), "
        f"('email', '{b_mail}', NULL, TIMESTAMP '2026-01-01 00:00:00'), "
        f"('email', '{c_mail}', 'complaint', TIMESTAMP '2026-01-01 00:00:00'), "
        f"('sms', '{c_mail}', 'unsubscribed', TIMESTAMP '2026-01-01 00:00:00')"
    )
    customers = warehouse.table(engine.model.dimension("customers"))
    population = customers.filter(customers.id.isin([a, b, c, d]))
    found = {}
    for marketing in (True, False):
        rules = ExclusionRules(channel="email", address="email", consent=None, marketing=marketing)
        rows = with_reasons(population, rules, listed).to_pyarrow().to_pylist()
        found[marketing] = {row["id"]: row["reason"] for row in rows}
    assert found[True] == {a: "unsubscribed", b: "suppressed", c: "suppressed", d: None}
    assert found[False] == {a: None, b: "suppressed", c: "suppressed", d: None}
