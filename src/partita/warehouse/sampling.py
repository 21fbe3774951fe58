"""Portable, seeded pseudo-random order: integer arithmetic on the key, the same on every engine.

Ibis's ``sample``, ``hash`` and ``random`` differ (or fail) across engines; ``+ * %`` on integers
compile everywhere and give the same numbers, so a "random" sample is the same set of rows on
DuckDB, PostgreSQL and Spark.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

_PRIME = 2_147_483_647  # 2^31 - 1: every value stays below it, so products stay below 2^63
_OTHER_PRIME = 2_147_483_629


def seeded_rank(key: ir.Value, seed: int) -> ir.IntegerValue:
    """A pseudo-random integer per key, fixed by ``seed``; ties are broken by the key itself.

    Integer keys are mixed directly; other keys are first replaced by their rank in key order.
    """
    if key.type().is_integer():
        number: ir.IntegerValue = key.cast("int64")
    else:
        number = ibis.row_number().over(order_by=key)
    salt = abs(seed) % 1_000_003
    mixed = ((number % _PRIME) * 48_271 + salt * 7_919 + 12_345) % _PRIME
    # Squaring modulo a prime breaks the linear patterns plain multiplication leaves.
    mixed = (mixed * mixed + salt + 1) % _OTHER_PRIME
    mixed = (mixed * 69_621 + 1) % _PRIME
    mixed = (mixed * mixed + 7) % _OTHER_PRIME
    return mixed
