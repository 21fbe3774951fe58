"""enrichment, row for row against hand-written SQL on the shared shop.

The SQL is portable (no DuckDB-only syntax): the same file runs on every engine of the
``engine``/``sql`` fixtures. ``days_ago(n)`` is ``current_date - n`` (a date).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from partita.activities.validation import validate
from partita.engine import Engine
from partita.model.campaign import Endpoint, parse_campaign
from partita.model.datamodel import Link
from partita.model.problems import InvalidInput
from partita.model.states import LogLevel
from tests.support import SQL, counts, problems, run_campaign, schema_of, table_rows

CUSTOMERS = 4_000


def rows_of(
    engine: Engine, report: dict[str, Any], output: str, names: list[str]
) -> list[tuple[Any, ...]]:
    """The working table's rows (key order) as tuples of ``names``."""
    return [tuple(r[n] for n in names) for r in table_rows(engine, report, output)]


def add_links(engine: Engine) -> None:
    """Two-column links on the shop: purchases made in the customer's own store."""
    engine.project.links.extend(
        [
            Link.model_validate(
                {
                    "name": "home_purchases",
                    "from": "customers",
                    "to": "purchases",
                    "on": {"id": "customer_id", "store_id": "store_id"},
                    "cardinality": "many",
                }
            ),
        ]
    )


# -- columns: attributes, one-links, aggregates -------------------------------------------------

ATTRIBUTES = """
name: attrs
activities:
  - {id: some, type: build_audience, filter: "country in ('FR', 'DE', 'JP')"}
  - id: tag
    type: split
    single_table: true
    subsets: [{name: gold, filter: "loyalty_tier = 'gold'"}, {name: rest}]
  - id: en
    type: enrichment
    columns:
      fname: first_name
      shout: upper(first_name)
      store_name: store.name
      region: store.region.name
      name_length: length(last_name) + 1
      n: count(purchases)
      n_shoes: "count(purchases where category = 'shoes')"
      total: sum(purchases.amount)
      total_90d: "sum(purchases.amount where purchased_at > days_ago(90))"
      avg_amount: avg(purchases.amount)
      avg_shoes: "avg(purchases.amount where category = 'shoes')"
      first_at: min(purchases.purchased_at)
      cheapest_shoes: "min(purchases.amount where category = 'shoes')"
      last_at: max(purchases.purchased_at)
      top_90d: "max(purchases.amount where purchased_at > days_ago(90))"
      stores: count_distinct(purchases.store_id)
      regions_90d: "count_distinct(purchases.store.region.name where purchased_at > days_ago(90))"
      first_category: min(purchases.category)
  - {id: e, type: end}
transitions: [{from: some, to: tag}, {from: tag, to: en}, {from: en, to: e}]
"""

ALIASES = [
    "fname",
    "shout",
    "store_name",
    "region",
    "name_length",
    "n",
    "n_shoes",
    "total",
    "total_90d",
    "avg_amount",
    "avg_shoes",
    "first_at",
    "cheapest_shoes",
    "last_at",
    "top_90d",
    "stores",
    "regions_90d",
    "first_category",
]

ATTRIBUTES_SQL = """
SELECT c.id,
       CASE WHEN c.loyalty_tier = 'gold' THEN 'gold' ELSE 'rest' END,
       c.first_name, upper(c.first_name), s.name, r.name, length(c.last_name) + 1,
       coalesce(a.n, 0), coalesce(a.n_shoes, 0), a.total, a.total_90d, a.avg_amount,
       a.avg_shoes, a.first_at, a.cheapest_shoes, a.last_at, a.top_90d, coalesce(a.stores, 0),
       coalesce(a.regions_90d, 0), a.first_category
FROM customers c
LEFT JOIN stores s ON s.id = c.store_id
LEFT JOIN regions r ON r.id = s.region_id
LEFT JOIN (
    SELECT p.customer_id,
           count(*) AS n,
           sum(CASE WHEN p.category = 'shoes' THEN 1 ELSE 0 END) AS n_shoes,
           sum(p.amount) AS total,
           sum(CASE WHEN p.purchased_at > current_date - 90 THEN p.amount END) AS total_90d,
           avg(p.amount) AS avg_amount,
           avg(CASE WHEN p.category = 'shoes' THEN p.amount END) AS avg_shoes,
           min(p.purchased_at) AS first_at,
           min(CASE WHEN p.category = 'shoes' THEN p.amount END) AS cheapest_shoes,
           max(p.purchased_at) AS last_at,
           max(CASE WHEN p.purchased_at > current_date - 90 THEN p.amount END) AS top_90d,
           count(DISTINCT p.store_id) AS stores,
           count(DISTINCT CASE WHEN p.purchased_at > current_date - 90 THEN pr.name END)
               AS regions_90d,
           min(p.category) AS first_category
    FROM purchases p
    LEFT JOIN stores ps ON ps.id = p.store_id
    LEFT JOIN regions pr ON pr.id = ps.region_id
    GROUP BY p.customer_id
) a ON a.customer_id = c.id
WHERE c.country IN ('FR', 'DE', 'JP')
ORDER BY c.id
"""


def test_columns_attributes_links_and_every_aggregate(engine: Engine, sql: SQL) -> None:
    report = run_campaign(engine, ATTRIBUTES)
    names = ["id", "segment", *ALIASES]
    got = [dict(zip(names, row, strict=True)) for row in rows_of(engine, report, "en", names)]
    expected = [dict(zip(names, row, strict=True)) for row in sql(ATTRIBUTES_SQL)]
    averages = ("avg_amount", "avg_shoes")
    assert [{k: v for k, v in r.items() if k not in averages} for r in got] == [
        {k: v for k, v in r.items() if k not in averages} for r in expected
    ]
    for got_row, expected_row in zip(got, expected, strict=True):
        for name in averages:  # a double on DuckDB, a numeric on PostgreSQL
            if expected_row[name] is None:
                assert got_row[name] is None
            else:
                assert float(got_row[name]) == pytest.approx(float(expected_row[name]), abs=1e-9)
    # Not vacuous: some customers bought nothing, some nothing lately, some shoes.
    assert any(r["n"] == 0 and r["total"] is None and r["stores"] == 0 for r in expected)
    assert any(r["n"] > 0 and r["total_90d"] is None for r in expected)
    assert any(r["total_90d"] is not None and r["regions_90d"] > 0 for r in expected)
    assert any(r["n_shoes"] > 0 for r in expected)
    assert {r["segment"] for r in expected} == {"gold", "rest"}
    assert len({r["region"] for r in expected}) > 1
    (fr_de_jp,) = sql("SELECT count(*) FROM customers WHERE country IN ('FR', 'DE', 'JP')")[0]
    assert counts(report) == {"some -> tag": fr_de_jp, "tag -> en": fr_de_jp, "en -> e": fr_de_jp}


def test_alias_types_in_the_flow_and_in_the_working_table(engine: Engine) -> None:
    campaign = parse_campaign(ATTRIBUTES)
    flow = validate(campaign, engine.model)
    typed = flow.output_columns[Endpoint(activity="en")]
    report = run_campaign(engine, ATTRIBUTES)
    schema = schema_of(engine, report, "en")
    assert schema == {"id": "integer", **{name: kind.value for name, kind in typed.items()}}
    assert schema == {
        "id": "integer",
        "segment": "string",
        "fname": "string",
        "shout": "string",
        "store_name": "string",
        "region": "string",
        "name_length": "integer",
        "n": "integer",
        "n_shoes": "integer",
        "total": "number",
        "total_90d": "number",
        "avg_amount": "number",
        "avg_shoes": "number",
        "first_at": "timestamp",
        "cheapest_shoes": "number",
        "last_at": "timestamp",
        "top_90d": "number",
        "stores": "integer",
        "regions_90d": "integer",
        "first_category": "string",
    }


def test_aliases_in_a_later_split_filter_and_order(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: later
seed: 9
activities:
  - {id: all, type: build_audience}
  - id: en
    type: enrichment
    columns:
      total_90d: "sum(purchases.amount where purchased_at > days_ago(90))"
      n: count(purchases)
  - id: s
    type: split
    subsets:
      - {name: top, filter: "total_90d > 500", limit: {count: 15}, order_by: [total_90d desc]}
      - {name: loyal, filter: "n >= 10 and coalesce(total_90d, 0) < 100"}
  - {id: e1, type: end}
  - {id: e2, type: end}
transitions: [{from: all, to: en}, {from: en, to: s}, {from: s.top, to: e1}, {from: s.loyal, to: e2}]
""",
    )
    spend = """
        SELECT c.id, a.total_90d, coalesce(a.n, 0) AS n
        FROM customers c LEFT JOIN (
            SELECT customer_id, count(*) AS n,
                   sum(CASE WHEN purchased_at > current_date - 90 THEN amount END) AS total_90d
            FROM purchases GROUP BY customer_id) a ON a.customer_id = c.id"""
    top = sql(
        f"SELECT id, total_90d FROM ({spend}) AS spend WHERE total_90d > 500 "
        "ORDER BY total_90d DESC, seeded_rank(id, 9), id LIMIT 15"
    )
    assert len(top) == 15
    assert rows_of(engine, report, "s.top", ["id", "total_90d"]) == sorted(top)
    top_ids = ", ".join(str(row[0]) for row in top)
    loyal = sql(
        f"SELECT id FROM ({spend}) AS spend WHERE n >= 10 AND coalesce(total_90d, 0) < 100 "
        f"AND id NOT IN ({top_ids}) ORDER BY id"
    )
    assert 0 < len(loyal) < CUSTOMERS
    assert [r["id"] for r in table_rows(engine, report, "s.loyal")] == [r[0] for r in loyal]


# -- collect ------------------------------------------------------------------------------------

COLLECT = """
name: coll
seed: 5
activities:
  - {id: all, type: build_audience, filter: "country in ('FR', 'BE', 'US')"}
  - id: en
    type: enrichment
    collect:
      - link: purchases
        order_by: [purchased_at desc]
        count: 3
        columns: [amount, category, purchased_at]
        prefix: last_purchase
      - link: purchases
        filter: "category in ('shoes', 'books')"
        order_by: [amount desc]
        count: 2
        columns: [amount, store.region.name]
  - {id: e, type: end}
transitions: [{from: all, to: en}, {from: en, to: e}]
"""


def test_collect_the_first_rows_of_a_many_link_as_numbered_columns(
    engine: Engine, sql: SQL
) -> None:
    report = run_campaign(engine, COLLECT)
    last = [
        f"last_purchase_{n}_{column}"
        for n in (1, 2, 3)
        for column in ("amount", "category", "purchased_at")
    ]
    top = [f"purchases_{n}_{column}" for n in (1, 2) for column in ("amount", "store_region_name")]
    got = rows_of(engine, report, "en", ["id", *last, *top])
    expected = sql("""
        WITH latest AS (
            SELECT customer_id, amount, category, purchased_at,
                   row_number() OVER (PARTITION BY customer_id
                                      ORDER BY purchased_at DESC, seeded_rank(id, 5), id) AS n
            FROM purchases
        ), priciest AS (
            SELECT p.customer_id, p.amount, r.name AS region,
                   row_number() OVER (PARTITION BY p.customer_id
                                      ORDER BY p.amount DESC, seeded_rank(p.id, 5), p.id) AS n
            FROM purchases p
            LEFT JOIN stores s ON s.id = p.store_id
            LEFT JOIN regions r ON r.id = s.region_id
            WHERE p.category IN ('shoes', 'books')
        )
        SELECT c.id,
               l1.amount, l1.category, l1.purchased_at,
               l2.amount, l2.category, l2.purchased_at,
               l3.amount, l3.category, l3.purchased_at,
               t1.amount, t1.region, t2.amount, t2.region
        FROM customers c
        LEFT JOIN latest l1 ON l1.customer_id = c.id AND l1.n = 1
        LEFT JOIN latest l2 ON l2.customer_id = c.id AND l2.n = 2
        LEFT JOIN latest l3 ON l3.customer_id = c.id AND l3.n = 3
        LEFT JOIN priciest t1 ON t1.customer_id = c.id AND t1.n = 1
        LEFT JOIN priciest t2 ON t2.customer_id = c.id AND t2.n = 2
        WHERE c.country IN ('FR', 'BE', 'US')
        ORDER BY c.id""")
    assert got == expected
    # every case is there: no purchase, fewer than 3, 3 or more; ties on amount
    assert any(row[1] is None for row in expected)
    assert any(row[1] is not None and row[7] is None for row in expected)
    assert any(row[7] is not None for row in expected)
    (ties,) = sql("""
        SELECT count(*) FROM (
            SELECT customer_id, amount FROM purchases WHERE category IN ('shoes', 'books')
            GROUP BY customer_id, amount HAVING count(*) > 1) AS tied""")[0]
    assert ties > 0
    schema = schema_of(engine, report, "en")
    assert [schema[c] for c in last[:3]] == ["number", "string", "timestamp"]
    assert schema["purchases_2_store_region_name"] == "string"


def test_collect_booleans_and_another_dimension(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: stores
seed: 3
activities:
  - {id: shops, type: build_audience, dimension: stores, filter: "country in ('FR', 'DE')"}
  - id: en
    type: enrichment
    collect:
      - {link: customers, order_by: [created_at desc], count: 2, columns: [first_name, email_optin]}
    columns: {customers_n: count(customers)}
  - {id: e, type: end}
transitions: [{from: shops, to: en}, {from: en, to: e}]
""",
    )
    names = ["customers_1_first_name", "customers_1_email_optin"]
    names += ["customers_2_first_name", "customers_2_email_optin", "customers_n"]
    got = rows_of(engine, report, "en", ["id", *names])
    expected = sql("""
        WITH newest AS (
            SELECT store_id, first_name, email_optin,
                   row_number() OVER (PARTITION BY store_id
                                      ORDER BY created_at DESC, seeded_rank(id, 3), id) AS n
            FROM customers
        )
        SELECT s.id, a.first_name, a.email_optin, b.first_name, b.email_optin,
               (SELECT count(*) FROM customers c WHERE c.store_id = s.id)
        FROM stores s
        LEFT JOIN newest a ON a.store_id = s.id AND a.n = 1
        LEFT JOIN newest b ON b.store_id = s.id AND b.n = 2
        WHERE s.country IN ('FR', 'DE')
        ORDER BY s.id""")
    assert got == expected
    assert {row[2] for row in expected} == {True, False}
    assert schema_of(engine, report, "en")["customers_1_email_optin"] == "boolean"


def test_two_column_links_in_aggregates_and_collect(engine: Engine, sql: SQL) -> None:
    add_links(engine)
    report = run_campaign(
        engine,
        """
name: home
seed: 4
activities:
  - {id: all, type: build_audience, filter: "country = 'FR'"}
  - id: en
    type: enrichment
    columns:
      at_home: count(home_purchases)
      home_total: "sum(home_purchases.amount where category <> 'books')"
    collect:
      - {link: home_purchases, order_by: [purchased_at], count: 2, columns: [id], prefix: home}
  - {id: e, type: end}
transitions: [{from: all, to: en}, {from: en, to: e}]
""",
    )
    got = rows_of(engine, report, "en", ["id", "at_home", "home_total", "home_1_id", "home_2_id"])
    expected = sql("""
        WITH home AS (
            SELECT p.*, row_number() OVER (PARTITION BY p.customer_id, p.store_id
                                           ORDER BY p.purchased_at, seeded_rank(p.id, 4), p.id) AS n
            FROM purchases p
        )
        SELECT c.id,
               (SELECT count(*) FROM purchases p
                WHERE p.customer_id = c.id AND p.store_id = c.store_id),
               (SELECT sum(p.amount) FROM purchases p
                WHERE p.customer_id = c.id AND p.store_id = c.store_id AND p.category <> 'books'),
               h1.id, h2.id
        FROM customers c
        LEFT JOIN home h1 ON h1.customer_id = c.id AND h1.store_id = c.store_id AND h1.n = 1
        LEFT JOIN home h2 ON h2.customer_id = c.id AND h2.store_id = c.store_id AND h2.n = 2
        WHERE c.country = 'FR'
        ORDER BY c.id""")
    assert got == expected
    everything = sql(
        "SELECT count(*) FROM purchases p JOIN customers c ON c.id = p.customer_id "
        "WHERE c.country = 'FR'"
    )[0][0]
    assert 0 < sum(row[1] for row in expected) < everything


def test_aggregates_of_one_link_share_one_grouped_query(engine: Engine, sql: SQL) -> None:
    """Aggregates over purchases with different wheres (one through a one-link), repeated and
    inside expressions with a dimension column, give the hand-written rows, and the working
    table's SQL reads purchases once (one GROUP BY with a filter per aggregate)."""
    report = run_campaign(
        engine,
        """
name: shared
activities:
  - {id: some, type: build_audience, filter: "country in ('FR', 'US')"}
  - id: en
    type: enrichment
    columns:
      shoes_minus_books: "count(purchases where category = 'shoes') - count(purchases where category = 'books')"
      na_spend: "sum(purchases.amount where store.region.name = 'NA')"
      regular: "count(purchases where amount > 50 and purchased_at > days_ago(365)) > 2"
      name_plus_shoes: "length(first_name) + count(purchases where category = 'shoes')"
  - {id: e, type: end}
transitions: [{from: some, to: en}, {from: en, to: e}]
""",
    )
    names = ["id", "shoes_minus_books", "na_spend", "regular", "name_plus_shoes"]
    expected = sql("""
        SELECT c.id, coalesce(a.shoes, 0) - coalesce(a.books, 0), a.na_spend,
               coalesce(a.regular, 0) > 2, length(c.first_name) + coalesce(a.shoes, 0)
        FROM customers c LEFT JOIN (
            SELECT p.customer_id,
                   sum(CASE WHEN p.category = 'shoes' THEN 1 ELSE 0 END) AS shoes,
                   sum(CASE WHEN p.category = 'books' THEN 1 ELSE 0 END) AS books,
                   sum(CASE WHEN r.name = 'NA' THEN p.amount END) AS na_spend,
                   sum(CASE WHEN p.amount > 50 AND p.purchased_at > current_date - 365
                       THEN 1 ELSE 0 END) AS regular
            FROM purchases p
            LEFT JOIN stores s ON s.id = p.store_id
            LEFT JOIN regions r ON r.id = s.region_id
            GROUP BY p.customer_id) a ON a.customer_id = c.id
        WHERE c.country IN ('FR', 'US')
        ORDER BY c.id""")
    assert rows_of(engine, report, "en", names) == expected
    assert any(row[2] is not None for row in expected) and any(row[2] is None for row in expected)
    assert {row[3] for row in expected} == {True, False}
    assert any(row[1] > 0 for row in expected) and any(row[1] < 0 for row in expected)
    (statement,) = [
        line.details["sql"]
        for line in engine.store.logs(execution_id=report["execution"], min_level=LogLevel.DEBUG)
        if line.details and line.message.endswith("_en_out")
    ]
    assert statement.count('"purchases"') == 1
    assert statement.count("GROUP BY") == 1


# -- lookup -------------------------------------------------------------------------------------

LOOKUP = """
name: look
activities:
  - {id: fr, type: build_audience, filter: "country = 'FR'"}
  - {id: young, type: build_audience, filter: "birth_date > date '1985-01-01'"}
  - id: tier
    type: split
    single_table: true
    subsets:
      - {name: gold, filter: "loyalty_tier in ('gold', 'platinum')"}
      - {name: other}
  - id: en
    type: enrichment
    columns: {n: count(purchases)}
    lookup:
      input: tier
      "on": {id: id}
      columns: {tier_segment: segment, young_city: city}
  - {id: e, type: end}
transitions:
  - {from: young, to: tier}
  - {from: tier, to: en}
  - {from: fr, to: en}
  - {from: en, to: e}
"""


def test_lookup_takes_columns_of_the_other_input(engine: Engine, sql: SQL) -> None:
    report = run_campaign(engine, LOOKUP)
    got = rows_of(engine, report, "en", ["id", "n", "tier_segment", "young_city"])
    expected = sql("""
        SELECT c.id, (SELECT count(*) FROM purchases p WHERE p.customer_id = c.id),
               CASE WHEN y.id IS NULL THEN NULL
                    WHEN y.loyalty_tier IN ('gold', 'platinum') THEN 'gold' ELSE 'other' END,
               y.city
        FROM customers c
        LEFT JOIN customers y ON y.id = c.id AND y.birth_date > DATE '1985-01-01'
        WHERE c.country = 'FR'
        ORDER BY c.id""")
    assert got == expected
    assert {row[2] for row in expected} == {None, "gold", "other"}
    assert counts(report)["en -> e"] == len(expected)
    assert schema_of(engine, report, "en") == {
        "id": "integer",
        "n": "integer",
        "tier_segment": "string",
        "young_city": "string",
    }
    # the population's dimension and columns follow the population, not the lookup's input
    swapped = LOOKUP.replace(
        "  - {from: tier, to: en}\n  - {from: fr, to: en}",
        "  - {from: fr, to: en}\n  - {from: tier, to: en}",
    )
    assert swapped != LOOKUP
    for text in (LOOKUP, swapped):
        flow = validate(parse_campaign(text), engine.model)
        assert flow.output_dimension[Endpoint(activity="en")] == "customers"
        assert {k: v.value for k, v in flow.output_columns[Endpoint(activity="en")].items()} == {
            "n": "integer",
            "tier_segment": "string",
            "young_city": "string",
        }
    swapped_report = run_campaign(engine, swapped)
    assert rows_of(engine, swapped_report, "en", ["id", "n", "tier_segment", "young_city"]) == got


def test_lookup_matching_several_rows_is_an_error_naming_them(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: ambiguous
activities:
  - {id: fr, type: build_audience, filter: "country = 'FR'"}
  - {id: gold, type: build_audience, filter: "loyalty_tier = 'gold'"}
  - id: en
    type: enrichment
    lookup: {input: gold, "on": {store_id: store_id}, columns: {gold_name: first_name}}
  - {id: e, type: end}
transitions: [{from: fr, to: en}, {from: gold, to: en}, {from: en, to: e}]
""",
    )
    hits = sql("""
        SELECT c.id, g.n FROM customers c
        JOIN (SELECT store_id, count(*) AS n FROM customers WHERE loyalty_tier = 'gold'
              GROUP BY store_id HAVING count(*) > 1) g ON g.store_id = c.store_id
        WHERE c.country = 'FR' ORDER BY c.id""")
    assert len(hits) > 5
    listed = ", ".join(f"id {key} ({n} rows)" for key, n in hits[:5])
    task = {t["activity"]: t for t in report["tasks"]}["en"]
    assert task["status"] == "failed"
    assert task["error"] == (
        f"lookup on store_id = store_id: {len(hits)} population rows match several rows of "
        f"input 'gold': {listed} and {len(hits) - 5} more; a lookup adds columns, never rows, "
        "so each row may match at most one (deduplicate 'gold' on store_id first)"
    )
    assert report["status"] == "failed"
    engine_tables = engine.warehouse.con.list_tables(database=engine.warehouse.working_schema)
    assert not [t for t in engine_tables if "_en_" in t]


# -- bad input ----------------------------------------------------------------------------------

BAD = """
name: bad
activities:
  - {{id: all, type: build_audience}}
  - id: tag
    type: split
    single_table: true
    subsets: [{{name: everyone}}]
  - {{id: other, type: build_audience, filter: "country = 'FR'"}}
  - id: en
    type: enrichment
{settings}
  - {{id: e, type: end}}
transitions: [{{from: all, to: tag}}, {{from: tag, to: en}}, {{from: en, to: e}}{more}]
"""


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            "    columns: {email: lower(email)}",
            [
                (
                    "columns.email",
                    "alias 'email' collides with column 'email' of dimension 'customers': "
                    "choose another alias",
                )
            ],
        ),
        (
            "    columns: {Segment: upper(first_name)}",
            [
                (
                    "columns.Segment",
                    "alias 'Segment' collides with column 'segment' carried by the input: "
                    "choose another alias",
                )
            ],
        ),
        (
            "    columns: {n: count(purchases)}\n"
            "    collect: [{link: purchases, columns: [amount], prefix: n}]\n"
            "    lookup: {input: other, 'on': {id: id}, columns: {n_1_amount: email}}",
            [
                (
                    "lookup.columns.n_1_amount",
                    "alias 'n_1_amount' collides with alias 'n_1_amount' of collect[0]: "
                    "choose another alias",
                )
            ],
        ),
        (
            "    columns: {bad: sum(purchases.category)}",
            [
                (
                    "columns.bad",
                    "sum needs a number column, got string column 'purchases.category' "
                    "(at column 15 of the columns.bad)",
                )
            ],
        ),
        (
            "    columns: {bad: count(purchase), worse: store.regin.name}",
            [
                (
                    "columns.bad",
                    "unknown link 'purchase' in dimension 'customers': did you mean "
                    "'purchases'? (at column 7 of the columns.bad)",
                ),
                (
                    "columns.worse",
                    "unknown link 'regin' in dimension 'stores': did you mean 'region'? "
                    "(at column 7 of the columns.worse)",
                ),
            ],
        ),
        (
            "    columns: {x: lowr(email)}",
            [
                (
                    "columns.x",
                    "unknown function 'lowr': did you mean 'lower'? (at column 1 of the columns.x)",
                )
            ],
        ),
        (
            "    collect: [{link: purchse, columns: [amount]}]",
            [
                (
                    "collect[0].link",
                    "unknown link 'purchse' in dimension 'customers': did you mean 'purchases'?",
                )
            ],
        ),
        (
            "    collect: [{link: store, columns: [name]}]",
            [
                (
                    "collect[0].link",
                    "link 'store' of dimension 'customers' is a one-link: collect needs a "
                    "many-link; add its columns under 'columns' with store.<column>",
                )
            ],
        ),
        (
            "    collect:\n"
            "      - {link: purchases, columns: [amout], order_by: [purchased desc],"
            ' filter: "category = 3"}',
            [
                (
                    "collect[0].columns",
                    "unknown column 'amout' in dimension 'purchases': did you mean 'amount'? "
                    "(at column 1 of the collect[0].columns)",
                ),
                (
                    "collect[0].order_by",
                    "unknown column 'purchased' in dimension 'purchases': did you mean "
                    "'purchased_at'? (at column 1 of the collect[0].order_by)",
                ),
                (
                    "collect[0].filter",
                    "cannot compare string column 'category' with number 3 "
                    "(at column 12 of the collect[0].filter)",
                ),
            ],
        ),
        (
            "    lookup: {input: othr, 'on': {id: id}, columns: {x: email}}",
            [
                (
                    "lookup.input",
                    "lookup input 'othr' is not one of the inputs: did you mean 'other'?",
                )
            ],
        ),
        (
            "    lookup: {input: other, 'on': {idd: customer_id}, columns: {x: emial}}",
            [
                (
                    "lookup.on",
                    "unknown column 'idd' in the population (dimension 'customers' and the "
                    "columns it carries): did you mean 'id'?",
                ),
                (
                    "lookup.on",
                    "unknown column 'customer_id' in input 'other': did you mean 'store_id'?",
                ),
                (
                    "lookup.columns.x",
                    "unknown column 'emial' in input 'other': did you mean 'email'?",
                ),
            ],
        ),
        (
            "    lookup: {input: other, 'on': {segment: id}, columns: {x: email}}",
            [
                (
                    "lookup.on",
                    "lookup joins string column 'segment' with integer column 'id' of input "
                    "'other': they cannot be equal",
                )
            ],
        ),
    ],
)
def test_bad_settings_are_reported_with_the_field(
    engine: Engine, settings: str, expected: list[tuple[str, str]]
) -> None:
    more = ", {from: other, to: en}" if "lookup" in settings else ""
    text = BAD.format(settings=settings, more=more)
    if not more:
        text = text.replace(
            "  - {id: other, type: build_audience, filter: \"country = 'FR'\"}\n", ""
        )
    assert problems(engine, text) == expected


def test_two_inputs_need_a_lookup(engine: Engine) -> None:
    text = BAD.format(settings="    columns: {n: count(purchases)}", more=", {from: other, to: en}")
    assert problems(engine, text) == [
        (
            "transitions",
            "enrichment has 2 inputs but no lookup: the second input is only read by a 'lookup'",
        )
    ]


def test_an_alias_is_an_identifier() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_campaign(BAD.format(settings="    columns: {'bad alias': email}", more=""))
    assert "column alias 'bad alias' must be an identifier" in str(caught.value)


def test_values_of_the_other_input_are_typed_for_later_filters(engine: Engine) -> None:
    text = LOOKUP.replace(
        "  - {id: e, type: end}",
        '  - {id: s, type: split, subsets: [{name: x, filter: "tier_segment = 3"}]}\n'
        "  - {id: e, type: end}",
    ).replace("{from: en, to: e}", "{from: en, to: s}\n  - {from: s.x, to: e}")
    assert problems(engine, text) == [
        (
            "subsets[0] (x).filter",
            "cannot compare string column 'tier_segment' with number 3 "
            "(at column 16 of the subsets[0] (x).filter)",
        )
    ]


@pytest.mark.parametrize("many", [False, True])
def test_rows_never_change(engine: Engine, sql: SQL, many: bool) -> None:
    """Keys and count in = keys and count out, even with every kind of column at once."""
    add_links(engine)
    audience = ', filter: "exists purchases"' if many else ""
    report = run_campaign(
        engine,
        f"""
name: same
activities:
  - {{id: all, type: build_audience{audience}}}
  - id: en
    type: enrichment
    columns: {{a: store.region.name, b: count(home_purchases), c: max(purchases.amount)}}
    collect: [{{link: purchases, count: 4, columns: [amount]}}]
  - {{id: e, type: end}}
transitions: [{{from: all, to: en}}, {{from: en, to: e}}]
""",
    )
    query = "SELECT id FROM customers"
    if many:
        query += " WHERE id IN (SELECT customer_id FROM purchases)"
    expected = [row[0] for row in sql(query + " ORDER BY id")]
    assert [r["id"] for r in table_rows(engine, report, "en")] == expected
    assert counts(report)["en -> e"] == len(expected)


def test_decimal_values_stay_exact(engine: Engine, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: exact
activities:
  - {id: all, type: build_audience, filter: "id <= 50"}
  - {id: en, type: enrichment, columns: {total: sum(purchases.amount)}}
  - {id: e, type: end}
transitions: [{from: all, to: en}, {from: en, to: e}]
""",
    )
    got = {r["id"]: r["total"] for r in table_rows(engine, report, "en")}
    expected = dict(
        sql(
            "SELECT c.id, sum(p.amount) FROM customers c LEFT JOIN purchases p "
            "ON p.customer_id = c.id WHERE c.id <= 50 GROUP BY c.id"
        )
    )
    assert got == expected
    assert all(isinstance(v, Decimal) for v in got.values() if v is not None)


FILE_LOOKUP = """
name: coupons
activities:
  - {id: some, type: build_audience, filter: "id <= 40"}
  - id: load1
    type: load_file
    path: coupons.csv
    columns: [{name: customer_id, type: integer}, {name: code}, {name: score, type: integer}]
  - id: en
    type: enrichment
    columns: {n: count(purchases)}
    lookup: {input: load1, "on": {id: customer_id}, columns: {coupon: code, score: score}}
  - id: s
    type: split
    subsets: [{name: good, filter: "score >= 3", order_by: [score desc], limit: {count: 2}}]
  - {id: e, type: end}
transitions:
  - {from: load1, to: en}
  - {from: some, to: en}
  - {from: en, to: s}
  - {from: s.good, to: e}
"""


def write_coupons(project_dir: Path) -> dict[int, tuple[str, int | None]]:
    coupons = {i: (f"C{i}", i % 7 if i % 5 else None) for i in range(3, 60, 4)}
    lines = ["customer_id,code,score"]
    lines += [
        f"{i},{code},{'' if score is None else score}" for i, (code, score) in coupons.items()
    ]
    (project_dir / "coupons.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return coupons


def test_lookup_from_the_rows_of_a_loaded_file(engine: Engine, sql: SQL, project_dir: Path) -> None:
    coupons = write_coupons(project_dir)
    report = run_campaign(engine, FILE_LOOKUP)
    purchases = dict(
        sql(
            "SELECT c.id, count(p.id) FROM customers c LEFT JOIN purchases p "
            "ON p.customer_id = c.id WHERE c.id <= 40 GROUP BY c.id"
        )
    )
    expected = [(i, purchases[i], *coupons.get(i, (None, None))) for i in range(1, 41)]
    assert rows_of(engine, report, "en", ["id", "n", "coupon", "score"]) == expected
    assert schema_of(engine, report, "en") == {
        "id": "integer",
        "n": "integer",
        "coupon": "string",
        "score": "integer",
    }
    good = sorted(
        (i for i, (_, score) in coupons.items() if i <= 40 and score is not None and score >= 3),
        key=lambda i: -(coupons[i][1] or 0),
    )
    assert len(good) > 2
    assert coupons[good[0]][1] > coupons[good[2]][1]  # no tie decides the top 2
    assert sorted(r["id"] for r in table_rows(engine, report, "s.good")) == sorted(good[:2])


def test_lookup_columns_of_a_file_are_checked(engine: Engine) -> None:
    text = FILE_LOOKUP.replace("columns: {coupon: code", "columns: {coupon: cod")
    assert problems(engine, text) == [
        ("lookup.columns.coupon", "unknown column 'cod' in input 'load1': did you mean 'code'?")
    ]
    alone = """
name: alone
activities:
  - {id: load1, type: load_file, path: coupons.csv}
  - {id: en, type: enrichment, columns: {n: count(purchases)}}
transitions: [{from: load1, to: en}]
"""
    assert problems(engine, alone) == [
        (
            "transitions",
            "input 'load1' holds the rows of a loaded file: an enrichment adds columns to rows "
            "of a dimension",
        )
    ]
