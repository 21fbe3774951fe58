"""Deduplication keeps the rows its order prefers, even when the order is on the key itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from partita.engine import Engine
from tests.support import keys, run_campaign

SQL = Callable[[str], list[tuple[Any, ...]]]


def test_order_by_the_key_descending_keeps_the_highest_key(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: dd_key
activities:
  - {id: all, type: build_audience, filter: "email is not null"}
  - id: d
    type: deduplication
    keys: [country, loyalty_tier]
    method: expression
    order_by: [id desc]
  - {id: e, type: end}
transitions: [{from: all, to: d}, {from: d, to: e}]
""",
    )
    expected = sorted(
        r[0]
        for r in sql(
            "SELECT max(id) FROM customers WHERE email IS NOT NULL GROUP BY country, loyalty_tier"
        )
    )
    assert len(expected) > 10
    assert keys(engine, report, "d") == expected
