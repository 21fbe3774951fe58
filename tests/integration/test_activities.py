"""Every activity option, row for row against hand-written SQL on the same shop, on every engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from partita.engine import Engine
from tests.support import counts, keys, run_campaign, table_rows

SQL = Callable[[str], list[tuple[Any, ...]]]


def ids(rows: list[tuple[Any, ...]]) -> list[Any]:
    return sorted(r[0] for r in rows)


def nonempty(expected: list[Any], total: int = 4_000) -> list[Any]:
    """Guards against vacuous tests: the expectation is neither empty nor everything."""
    assert 0 < len(expected) < total, len(expected)
    return expected


# -- build_audience ---------------------------------------------------------------------------


def test_build_audience_filter_and_whole_table(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: ba
activities:
  - {id: gold, type: build_audience, filter: "loyalty_tier = 'gold' and country in ('FR', 'BE')"}
  - {id: everyone, type: build_audience}
  - {id: e1, type: end}
  - {id: e2, type: end}
transitions: [{from: gold, to: e1}, {from: everyone, to: e2}]
""",
    )
    expected = nonempty(
        ids(sql("SELECT id FROM customers WHERE loyalty_tier = 'gold' AND country IN ('FR', 'BE')"))
    )
    assert keys(engine, report, "gold") == expected
    assert counts(report) == {"gold -> e1": len(expected), "everyone -> e2": 4_000}
    assert report["status"] == "completed"
    assert [t["status"] for t in report["tasks"]] == ["done"] * 4


def test_build_audience_empty_result_fires_or_ends_the_branch(engine: Engine) -> None:
    report = run_campaign(
        engine,
        """
name: empty
activities:
  - {id: none_fired, type: build_audience, filter: "country = 'XX'"}
  - {id: none_stopped, type: build_audience, filter: "country = 'XX'", emit_when_empty: false}
  - {id: d1, type: deduplication, keys: [email]}
  - {id: d2, type: deduplication, keys: [email]}
  - {id: e1, type: end}
  - {id: e2, type: end}
transitions:
  - {from: none_fired, to: d1}
  - {from: none_stopped, to: d2}
  - {from: d1, to: e1}
  - {from: d2, to: e2}
""",
    )
    states = {f"{t['from']} -> {t['to']}": (t["state"], t["count"]) for t in report["transitions"]}
    assert states == {
        "none_fired -> d1": ("fired", 0),
        "none_stopped -> d2": ("dead", None),
        "d1 -> e1": ("fired", 0),
        "d2 -> e2": ("dead", None),
    }
    status = {t["activity"]: t["status"] for t in report["tasks"]}
    assert status == {
        "none_fired": "done",
        "none_stopped": "done",
        "d1": "done",
        "d2": "skipped",
        "e1": "done",
        "e2": "skipped",
    }
    assert report["status"] == "completed"


def test_value_that_tries_to_break_out_of_its_string_matches_nothing(engine: Engine) -> None:
    report = run_campaign(
        engine,
        """
name: inject
activities:
  - {id: a, type: build_audience, filter: "country = 'x'' or ''1''=''1'"}
  - id: b
    type: build_audience
    filter: {attr: country, op: eq, value: "FR' or '1'='1"}
  - {id: e1, type: end}
  - {id: e2, type: end}
transitions: [{from: a, to: e1}, {from: b, to: e2}]
""",
    )
    assert counts(report) == {"a -> e1": 0, "b -> e2": 0}


# -- combine ----------------------------------------------------------------------------------

COMBINE = """
name: comb
activities:
  - {{id: fr, type: build_audience, filter: "country = 'FR'"}}
  - {{id: gold, type: build_audience, filter: "loyalty_tier = 'gold'"}}
  - {{id: young, type: build_audience, filter: "birth_date > date '1990-01-01'"}}
  - {{id: c, type: combine, {settings}}}
  - {{id: e, type: end}}
  - {{id: e2, type: end}}
transitions:
  - {{from: fr, to: c}}
  - {{from: gold, to: c}}
  - {{from: young, to: c}}
  - {{from: c, to: e}}
{more}
"""
FR = "SELECT id FROM customers WHERE country = 'FR'"
GOLD = "SELECT id FROM customers WHERE loyalty_tier = 'gold'"
YOUNG = "SELECT id FROM customers WHERE birth_date > DATE '1990-01-01'"


@pytest.mark.parametrize(
    ("settings", "expected_sql", "complement_sql"),
    [
        ("mode: union", f"{FR} UNION {GOLD} UNION {YOUNG}", None),
        (
            "mode: intersection, complement: true",
            f"{FR} INTERSECT {GOLD} INTERSECT {YOUNG}",
            f"({FR} UNION {GOLD} UNION {YOUNG}) EXCEPT ({FR} INTERSECT {GOLD} INTERSECT {YOUNG})",
        ),
        (
            "mode: exclusion, complement: true",
            f"{FR} EXCEPT ({GOLD} UNION {YOUNG})",
            f"{FR} INTERSECT ({GOLD} UNION {YOUNG})",
        ),
        ("mode: exclusion, primary: young", f"{YOUNG} EXCEPT ({FR} UNION {GOLD})", None),
    ],
)
def test_combine_modes(
    engine: Engine, sql: SQL, settings: str, expected_sql: str, complement_sql: str | None
) -> None:
    more = "  - {from: c.complement, to: e2}" if complement_sql else ""
    text = COMBINE.format(settings=settings, more=more)
    if not complement_sql:
        text = text.replace("  - {id: e2, type: end}\n", "")
    report = run_campaign(engine, text)
    assert keys(engine, report, "c") == nonempty(ids(sql(expected_sql)))
    if complement_sql:
        assert keys(engine, report, "c.complement") == nonempty(ids(sql(complement_sql)))


def test_union_merges_carried_columns_first_input_wins(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: merge
activities:
  - {id: fr, type: build_audience, filter: "country in ('FR', 'BE')"}
  - {id: gold, type: build_audience, filter: "loyalty_tier in ('gold', 'silver')"}
  - id: tag_fr
    type: split
    single_table: true
    subsets: [{name: fr}]
  - id: tag_gold
    type: split
    single_table: true
    segment_column: tier_tag
    subsets: [{name: gold_or_silver}]
  - id: g2
    type: split
    single_table: true
    subsets: [{name: gold_seg}]
  - {id: u, type: combine, mode: union}
  - {id: e, type: end}
transitions:
  - {from: fr, to: tag_fr}
  - {from: gold, to: tag_gold}
  - {from: tag_gold, to: g2}
  - {from: tag_fr, to: u}
  - {from: g2, to: u}
  - {from: u, to: e}
""",
    )
    rows = table_rows(engine, report, "u")
    got = [(r["id"], r["segment"], r["tier_tag"]) for r in rows]
    expected = sql("""
        WITH a AS (SELECT id, 'fr' AS segment FROM customers WHERE country IN ('FR', 'BE')),
             b AS (SELECT id, 'gold_or_silver' AS tier_tag, 'gold_seg' AS segment
                   FROM customers WHERE loyalty_tier IN ('gold', 'silver'))
        SELECT coalesce(a.id, b.id) AS id,
               CASE WHEN a.id IS NOT NULL THEN a.segment ELSE b.segment END,
               b.tier_tag
        FROM a FULL JOIN b ON a.id = b.id ORDER BY 1""")
    assert got == [tuple(r) for r in expected]
    assert {r[1] for r in expected} == {"fr", "gold_seg"}


# -- deduplication ----------------------------------------------------------------------------

DEDUP = """
name: dd
seed: 11
activities:
  - {{id: all, type: build_audience, filter: "email is not null"}}
  - {{id: d, type: deduplication, keys: [{keys}], complement: true, {settings}}}
  - {{id: e, type: end}}
  - {{id: e2, type: end}}
transitions: [{{from: all, to: d}}, {{from: d, to: e}}, {{from: d.complement, to: e2}}]
"""


@pytest.mark.parametrize(
    ("settings", "order_sql"),
    [
        ("method: random", ""),
        ("method: random, keep: 2, keys: [country, loyalty_tier]", ""),
        ("method: expression, order_by: [created_at desc]", "created_at DESC,"),
        (
            "method: expression, order_by: [loyalty_tier, birth_date desc]",
            "loyalty_tier ASC, birth_date DESC,",
        ),
        (
            "method: non_empty, column: phone",
            "CASE WHEN phone IS NULL OR trim(phone) = '' THEN 1 ELSE 0 END,",
        ),
        (
            "method: values, column: loyalty_tier, values: [platinum, gold]",
            "CASE WHEN loyalty_tier = 'platinum' THEN 0 WHEN loyalty_tier = 'gold' THEN 1 ELSE 2 END,",
        ),
    ],
)
def test_deduplication_methods(engine: Engine, sql: SQL, settings: str, order_sql: str) -> None:
    keep = 2 if "keep: 2" in settings else 1
    partition = "country, loyalty_tier" if "keys:" in settings else "lower(email)"
    settings = settings.replace(", keys: [country, loyalty_tier]", "")
    report = run_campaign(engine, DEDUP.format(settings=settings, keys=partition))
    ranked = f"""
        SELECT id, row_number() OVER (PARTITION BY {partition}
               ORDER BY {order_sql} seeded_rank(id, 11), id) AS n
        FROM customers WHERE email IS NOT NULL"""
    kept = ids(sql(f"SELECT id FROM ({ranked}) AS ranked WHERE n <= {keep}"))
    removed = ids(sql(f"SELECT id FROM ({ranked}) AS ranked WHERE n > {keep}"))
    assert keys(engine, report, "d") == nonempty(kept)
    assert keys(engine, report, "d.complement") == nonempty(removed)


def test_deduplication_keep_zero_keeps_everything(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        DEDUP.replace("complement: true, ", "")
        .replace(", {{from: d.complement, to: e2}}", "")
        .replace("  - {{id: e2, type: end}}\n", "")
        .format(settings="keep: 0", keys="lower(email)"),
    )
    assert keys(engine, report, "d") == ids(sql("SELECT id FROM customers WHERE email IS NOT NULL"))


def test_random_deduplication_depends_on_the_seed_only(engine: Engine) -> None:
    first = keys(
        engine,
        run_campaign(engine, DEDUP.format(settings="method: random", keys="lower(email)")),
        "d",
    )
    again = keys(
        engine,
        run_campaign(engine, DEDUP.format(settings="method: random", keys="lower(email)")),
        "d",
    )
    other = keys(
        engine,
        run_campaign(
            engine,
            DEDUP.replace("seed: 11", "seed: 12").format(
                settings="method: random", keys="lower(email)"
            ),
        ),
        "d",
    )
    assert first == again
    assert first != other
    assert len(first) == len(other)


# -- split ------------------------------------------------------------------------------------


def test_split_ordered_subsets_take_the_first_match(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: sp
activities:
  - {id: all, type: build_audience}
  - id: s
    type: split
    subsets:
      - {name: gold, filter: "loyalty_tier = 'gold'"}
      - {name: fr, filter: "country = 'FR'"}
      - {name: mail, filter: "email is not null and phone is null"}
    complement: true
  - {id: e1, type: end}
  - {id: e2, type: end}
  - {id: e3, type: end}
  - {id: e4, type: end}
transitions:
  - {from: all, to: s}
  - {from: s.gold, to: e1}
  - {from: s.fr, to: e2}
  - {from: s.mail, to: e3}
  - {from: s.complement, to: e4}
""",
    )
    gold = "loyalty_tier = 'gold'"
    fr = "country = 'FR'"
    mail = "email IS NOT NULL AND phone IS NULL"
    assert keys(engine, report, "s.gold") == nonempty(
        ids(sql(f"SELECT id FROM customers WHERE {gold}"))
    )
    assert keys(engine, report, "s.fr") == nonempty(
        ids(sql(f"SELECT id FROM customers WHERE {fr} AND NOT coalesce({gold}, false)"))
    )
    assert keys(engine, report, "s.mail") == nonempty(
        ids(
            sql(
                f"SELECT id FROM customers WHERE coalesce({mail}, false) AND NOT coalesce({gold}, false)"
                f" AND NOT coalesce({fr}, false)"
            )
        )
    )
    assert keys(engine, report, "s.complement") == nonempty(
        ids(
            sql(
                f"SELECT id FROM customers WHERE NOT coalesce({gold}, false) AND NOT coalesce({fr}, false)"
                f" AND NOT coalesce({mail}, false)"
            )
        )
    )


def test_split_limits_count_with_order_and_random_percent(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: lim
seed: 42
activities:
  - {id: all, type: build_audience, filter: "country in ('FR', 'DE', 'GB')"}
  - id: s
    type: split
    subsets:
      - name: oldest
        filter: "country = 'FR'"
        limit: {count: 25}
        order_by: [birth_date, id desc]
      - {name: sample, limit: {percent: 10}}
      - {name: rest_fr, filter: "country = 'FR'"}
    complement: true
  - {id: e1, type: end}
  - {id: e2, type: end}
  - {id: e3, type: end}
  - {id: e4, type: end}
transitions:
  - {from: all, to: s}
  - {from: s.oldest, to: e1}
  - {from: s.sample, to: e2}
  - {from: s.rest_fr, to: e3}
  - {from: s.complement, to: e4}
""",
    )
    base = "SELECT id, country, birth_date FROM customers WHERE country IN ('FR', 'DE', 'GB')"
    oldest = ids(
        sql(f"""SELECT id FROM ({base}) AS base WHERE country = 'FR'
        ORDER BY birth_date ASC, id DESC, seeded_rank(id, 42), id LIMIT 25""")
    )
    rest = f"SELECT * FROM ({base}) AS base WHERE id NOT IN ({', '.join(map(str, oldest))})"
    (total,) = sql(f"SELECT count(*) FROM ({rest}) AS rest")[0]
    sample = ids(
        sql(
            f"SELECT id FROM ({rest}) AS rest ORDER BY seeded_rank(id, 42), id "
            f"LIMIT {total * 10 // 100}"
        )
    )
    remaining = f"SELECT * FROM ({rest}) AS rest WHERE id NOT IN ({', '.join(map(str, sample))})"
    assert keys(engine, report, "s.oldest") == nonempty(oldest)
    assert len(oldest) == 25
    assert keys(engine, report, "s.sample") == nonempty(sample)
    assert keys(engine, report, "s.rest_fr") == nonempty(
        ids(sql(f"SELECT id FROM ({remaining}) AS remaining WHERE country = 'FR'"))
    )
    assert keys(engine, report, "s.complement") == nonempty(
        ids(sql(f"SELECT id FROM ({remaining}) AS remaining WHERE country <> 'FR'"))
    )


def test_split_percentages_of_the_input_of_a_filter_and_of_what_is_left(
    engine: Engine, sql: SQL
) -> None:
    """A share of the whole input (its count is known), of a filter's matches and of the rows
    earlier subsets left (counted in the query), each the first rows of its order."""
    report = run_campaign(
        engine,
        """
name: pct
seed: 11
activities:
  - {id: all, type: build_audience, filter: "country in ('FR', 'DE', 'GB', 'US')"}
  - id: s
    type: split
    subsets:
      - {name: first, limit: {percent: 20}}
      - name: de_young
        filter: "country = 'DE'"
        limit: {percent: 50}
        order_by: [birth_date desc]
      - {name: fr, filter: "country = 'FR'"}
      - {name: third, limit: {percent: 33.5}}
    complement: true
  - {id: e1, type: end}
  - {id: e2, type: end}
  - {id: e3, type: end}
  - {id: e4, type: end}
  - {id: e5, type: end}
transitions:
  - {from: all, to: s}
  - {from: s.first, to: e1}
  - {from: s.de_young, to: e2}
  - {from: s.fr, to: e3}
  - {from: s.third, to: e4}
  - {from: s.complement, to: e5}
""",
    )
    base = "SELECT id, country, birth_date FROM customers WHERE country IN ('FR', 'DE', 'GB', 'US')"
    rank = "seeded_rank(id, 11), id"

    def listed(keys: list[Any]) -> str:
        return ", ".join(map(str, keys))

    (total,) = sql(f"SELECT count(*) FROM ({base}) AS b")[0]
    first = ids(sql(f"SELECT id FROM ({base}) AS b ORDER BY {rank} LIMIT {total * 20 // 100}"))
    rest = f"SELECT * FROM ({base}) AS b WHERE id NOT IN ({listed(first)})"
    de = f"SELECT * FROM ({rest}) AS r WHERE country = 'DE'"
    (de_total,) = sql(f"SELECT count(*) FROM ({de}) AS d")[0]
    de_young = ids(
        sql(
            f"SELECT id FROM ({de}) AS d ORDER BY birth_date DESC, {rank} "
            f"LIMIT {de_total * 50 // 100}"
        )
    )
    left = f"SELECT * FROM ({rest}) AS r WHERE id NOT IN ({listed(de_young)}) AND country <> 'FR'"
    (left_total,) = sql(f"SELECT count(*) FROM ({left}) AS l")[0]
    third = ids(
        sql(f"SELECT id FROM ({left}) AS l ORDER BY {rank} LIMIT {left_total * 335 // 1000}")
    )
    assert keys(engine, report, "s.first") == nonempty(first)
    assert keys(engine, report, "s.de_young") == nonempty(de_young)
    assert keys(engine, report, "s.fr") == nonempty(
        ids(
            sql(
                f"SELECT id FROM ({rest}) AS r WHERE id NOT IN ({listed(de_young)}) AND country = 'FR'"
            )
        )
    )
    assert keys(engine, report, "s.third") == nonempty(third)
    assert keys(engine, report, "s.complement") == nonempty(
        ids(sql(f"SELECT id FROM ({left}) AS l WHERE id NOT IN ({listed(third)})"))
    )


def test_split_overlap_evaluates_each_subset_on_everything(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: ov
seed: 3
activities:
  - {id: all, type: build_audience}
  - id: s
    type: split
    overlap: true
    complement: true
    subsets:
      - {name: gold, filter: "loyalty_tier = 'gold'"}
      - {name: fr, filter: "country = 'FR'", limit: {count: 40}}
  - {id: e1, type: end}
  - {id: e2, type: end}
  - {id: e3, type: end}
transitions:
  - {from: all, to: s}
  - {from: s.gold, to: e1}
  - {from: s.fr, to: e2}
  - {from: s.complement, to: e3}
""",
    )
    gold = ids(sql("SELECT id FROM customers WHERE loyalty_tier = 'gold'"))
    fr = ids(
        sql(
            "SELECT id FROM customers WHERE country = 'FR' ORDER BY seeded_rank(id, 3), id LIMIT 40"
        )
    )
    assert keys(engine, report, "s.gold") == nonempty(gold)
    assert keys(engine, report, "s.fr") == fr
    assert set(gold) & set(fr), "overlap lets a row be in two subsets"
    everyone = ids(sql("SELECT id FROM customers"))
    assert keys(engine, report, "s.complement") == sorted(set(everyone) - set(gold) - set(fr))


def test_split_single_table_and_skip_empty(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: st
activities:
  - {id: all, type: build_audience}
  - id: s
    type: split
    single_table: true
    subsets:
      - {name: gold, filter: "loyalty_tier = 'gold'", limit: {count: 30}, order_by: [id desc]}
      - {name: fr, filter: "country = 'FR'"}
  - id: s2
    type: split
    subsets:
      - {name: nobody, filter: "country = 'XX'", skip_empty: true}
      - {name: nobody_fired, filter: "country = 'XX'"}
  - {id: e1, type: end}
  - {id: e2, type: end}
  - {id: e3, type: end}
  - {id: f, type: fork}
transitions:
  - {from: all, to: f}
  - {from: f.out1, to: s}
  - {from: f.out2, to: s2}
  - {from: s, to: e1}
  - {from: s2.nobody, to: e2}
  - {from: s2.nobody_fired, to: e3}
""",
    )
    rows = [(r["id"], r["segment"]) for r in table_rows(engine, report, "s")]
    gold = sql("SELECT id FROM customers WHERE loyalty_tier = 'gold' ORDER BY id DESC LIMIT 30")
    gold_ids = [g[0] for g in gold]
    fr = sql(
        f"SELECT id FROM customers WHERE country = 'FR' AND id NOT IN "
        f"({', '.join(map(str, gold_ids))})"
    )
    expected = sorted([(i, "gold") for i in gold_ids] + [(r[0], "fr") for r in fr])
    assert rows == expected
    states = {t["from"]: (t["state"], t["count"]) for t in report["transitions"]}
    assert states["s2.nobody"] == ("dead", None)
    assert states["s2.nobody_fired"] == ("fired", 0)
    schema = {
        c.name: c.type.value
        for c in engine.warehouse.columns(
            engine.working_table(engine.store.execution(report["execution"]), "s").output.table_name
        )
    }
    assert schema == {"id": "integer", "segment": "string"}


# -- flow control -----------------------------------------------------------------------------


def test_fork_and_join_and_test(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: flow
variables:
  country: {type: string, default: FR}
  threshold: {type: integer, default: 100}
activities:
  - {id: all, type: build_audience, filter: "country = $country"}
  - {id: f, type: fork, branches: [left, right]}
  - {id: gold, type: deduplication, keys: [loyalty_tier]}
  - {id: j, type: and_join, primary: f.right}
  - id: t
    type: test
    conditions:
      - {name: huge, when: "count > 100000"}
      - {name: big, when: "count >= $threshold and $country = 'FR'"}
    default: true
  - {id: e1, type: end}
  - {id: e2, type: end}
  - {id: e3, type: end}
transitions:
  - {from: all, to: f}
  - {from: f.left, to: gold}
  - {from: gold, to: j}
  - {from: f.right, to: j}
  - {from: j, to: t}
  - {from: t.huge, to: e1}
  - {from: t.big, to: e2}
  - {from: t.default, to: e3}
""",
    )
    fr = nonempty(ids(sql("SELECT id FROM customers WHERE country = 'FR'")))
    assert keys(engine, report, "j") == fr
    assert keys(engine, report, "t.big") == fr
    states = {t["from"]: (t["state"], t["count"]) for t in report["transitions"]}
    assert states["t.huge"] == ("dead", None)
    assert states["t.big"] == ("fired", len(fr))
    assert states["t.default"] == ("dead", None)
    status = {t["activity"]: t["status"] for t in report["tasks"]}
    assert status["e1"] == "skipped" and status["e3"] == "skipped" and status["e2"] == "done"


def test_test_falls_back_to_default_or_ends(engine: Engine) -> None:
    text = """
name: tdef
variables:
  country: {type: string, default: FR}
activities:
  - {id: all, type: build_audience}
  - {id: t, type: test, conditions: [{name: be, when: "$country = 'BE'"}]}
  - {id: e1, type: end}
transitions: [{from: all, to: t}, {from: t.be, to: e1}]
"""
    ended = run_campaign(engine, text)
    assert {t["activity"]: t["status"] for t in ended["tasks"]}["e1"] == "skipped"
    chosen = run_campaign(engine, text, variables={"country": "BE"})
    assert counts(chosen)["t.be -> e1"] == 4_000


def test_and_join_does_not_run_when_an_input_never_arrives(engine: Engine) -> None:
    report = run_campaign(
        engine,
        """
name: join
activities:
  - {id: a, type: build_audience}
  - {id: b, type: build_audience, filter: "country = 'XX'", emit_when_empty: false}
  - {id: j, type: and_join}
  - {id: e, type: end}
transitions: [{from: a, to: j}, {from: b, to: j}, {from: j, to: e}]
""",
    )
    assert {t["activity"]: t["status"] for t in report["tasks"]} == {
        "a": "done",
        "b": "done",
        "j": "skipped",
        "e": "skipped",
    }
    assert report["status"] == "completed"


def test_combine_of_audiences_with_different_key_nullability(engine: Engine, sql: SQL) -> None:
    # An aggregate filter joins purchases: its keys come out nullable, unlike a plain filter's.
    report = run_campaign(
        engine,
        """
name: nulls
activities:
  - {id: spenders, type: build_audience, filter: "sum(purchases.amount) > 1000"}
  - {id: gold, type: build_audience, filter: "loyalty_tier = 'gold'"}
  - {id: u, type: combine, mode: union}
  - {id: e, type: end}
transitions: [{from: spenders, to: u}, {from: gold, to: u}, {from: u, to: e}]
""",
    )
    expected = sql("""
        SELECT customer_id FROM purchases GROUP BY customer_id HAVING sum(amount) > 1000
        UNION SELECT id FROM customers WHERE loyalty_tier = 'gold'""")
    assert keys(engine, report, "u") == nonempty(ids(expected))
