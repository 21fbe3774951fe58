"""change_dimension in both directions, row for row against hand-written SQL on the shop.

The SQL is portable (no DuckDB-only syntax): the same file runs on every engine of the
``engine``/``sql`` fixtures.
"""

from __future__ import annotations

import pytest

from partita.activities.validation import validate
from partita.engine import Engine
from partita.model.campaign import Endpoint, parse_campaign
from partita.model.datamodel import Link
from tests.support import SQL, counts, keys, problems, run_campaign, schema_of, table_rows


def add_links(engine: Engine) -> None:
    """Links the shop's project does not declare: two-column ones, and one not on a key."""
    for name, source, target, on, cardinality in [
        (
            "home_purchases",
            "customers",
            "purchases",
            {"id": "customer_id", "store_id": "store_id"},
            "many",
        ),
        (
            "home_customer",
            "purchases",
            "customers",
            {"customer_id": "id", "store_id": "store_id"},
            "one",
        ),
        ("city_stores", "customers", "stores", {"city": "city"}, "many"),
    ]:
        engine.project.links.append(
            Link.model_validate(
                {"name": name, "from": source, "to": target, "on": on, "cardinality": cardinality}
            )
        )


def test_purchases_to_customers_one_row_per_customer(engine: Engine, sql: SQL) -> None:
    text = """
name: to_customers
activities:
  - {id: big, type: build_audience, dimension: purchases, filter: "amount > 300"}
  - id: tag
    type: split
    single_table: true
    subsets: [{name: big}]
  - {id: who, type: change_dimension, link: customer}
  - {id: gold, type: change_dimension, link: customer, filter: "loyalty_tier = 'gold'"}
  - {id: f, type: fork}
  - id: s
    type: split
    subsets: [{name: fr, filter: "country = 'FR'"}]
  - {id: e1, type: end}
  - {id: e2, type: end}
transitions:
  - {from: big, to: tag}
  - {from: tag, to: f}
  - {from: f.out1, to: who}
  - {from: f.out2, to: gold}
  - {from: who, to: s}
  - {from: s.fr, to: e1}
  - {from: gold, to: e2}
"""
    report = run_campaign(engine, text)
    buyers = "SELECT DISTINCT customer_id FROM purchases WHERE amount > 300"
    expected = [r[0] for r in sql(f"SELECT id FROM customers WHERE id IN ({buyers}) ORDER BY id")]
    assert keys(engine, report, "who") == expected
    (purchases,) = sql("SELECT count(*) FROM purchases WHERE amount > 300")[0]
    assert purchases > len(expected) > 0  # several purchases of one customer give one row
    gold = sql(
        f"SELECT id FROM customers WHERE loyalty_tier = 'gold' AND id IN ({buyers}) ORDER BY id"
    )
    assert keys(engine, report, "gold") == [r[0] for r in gold]
    assert 0 < len(gold) < len(expected)
    fr = sql(f"SELECT id FROM customers WHERE country = 'FR' AND id IN ({buyers}) ORDER BY id")
    assert keys(engine, report, "s.fr") == [r[0] for r in fr]
    # carried columns (the segment) are dropped along a one-link
    assert schema_of(engine, report, "who") == {"id": "integer"}
    flow = validate(parse_campaign(text), engine.model)
    assert flow.output_dimension[Endpoint(activity="who")] == "customers"
    assert flow.output_columns[Endpoint(activity="who")] == {}
    assert counts(report)["who -> s"] == len(expected)


def test_customers_to_purchases_keeps_the_carried_columns(engine: Engine, sql: SQL) -> None:
    text = """
name: to_purchases
activities:
  - {id: fr, type: build_audience, filter: "country in ('FR', 'BE')"}
  - id: tag
    type: split
    single_table: true
    segment_column: category
    subsets: [{name: gold, filter: "loyalty_tier = 'gold'"}, {name: rest}]
  - {id: bought, type: change_dimension, link: purchases}
  - id: shoes
    type: change_dimension
    link: purchases
    filter: "category = 'shoes' and customers_category = 'gold' and store.region.name = 'EU'"
  - {id: f, type: fork}
  - id: s
    type: split
    subsets: [{name: big, filter: "amount > 200 and customers_category = 'rest'"}]
  - {id: e1, type: end}
  - {id: e2, type: end}
transitions:
  - {from: fr, to: tag}
  - {from: tag, to: f}
  - {from: f.out1, to: bought}
  - {from: f.out2, to: shoes}
  - {from: bought, to: s}
  - {from: s.big, to: e1}
  - {from: shoes, to: e2}
"""
    report = run_campaign(engine, text)
    linked = """
        SELECT p.id, CASE WHEN c.loyalty_tier = 'gold' THEN 'gold' ELSE 'rest' END AS tag,
               p.category, p.amount, r.name AS region
        FROM purchases p
        JOIN customers c ON c.id = p.customer_id
        LEFT JOIN stores s ON s.id = p.store_id
        LEFT JOIN regions r ON r.id = s.region_id
        WHERE c.country IN ('FR', 'BE')"""
    got = [(r["id"], r["customers_category"]) for r in table_rows(engine, report, "bought")]
    assert got == sql(f"SELECT id, tag FROM ({linked}) AS linked ORDER BY id")
    shoes = sql(
        f"SELECT id, tag FROM ({linked}) AS linked "
        "WHERE category = 'shoes' AND tag = 'gold' AND region = 'EU' ORDER BY id"
    )
    assert [
        (r["id"], r["customers_category"]) for r in table_rows(engine, report, "shoes")
    ] == shoes
    assert len(shoes) > 0
    big = sql(
        f"SELECT id FROM ({linked}) AS linked WHERE amount > 200 AND tag = 'rest' ORDER BY id"
    )
    assert keys(engine, report, "s.big") == [r[0] for r in big]
    # the carried 'category' would hide purchases.category: it is renamed
    assert schema_of(engine, report, "bought") == {"id": "integer", "customers_category": "string"}
    flow = validate(parse_campaign(text), engine.model)
    assert flow.output_dimension[Endpoint(activity="bought")] == "purchases"
    assert {k: v.value for k, v in flow.output_columns[Endpoint(activity="bought")].items()} == {
        "customers_category": "string"
    }


def test_two_column_links_both_ways(engine: Engine, sql: SQL) -> None:
    add_links(engine)
    report = run_campaign(
        engine,
        """
name: home
activities:
  - {id: de, type: build_audience, filter: "country = 'DE'"}
  - id: tag
    type: split
    single_table: true
    subsets: [{name: young, filter: "birth_date > date '1990-01-01'"}, {name: older}]
  - {id: home, type: change_dimension, link: home_purchases, filter: "amount < 100"}
  - {id: back, type: change_dimension, link: home_customer}
  - {id: e, type: end}
transitions:
  - {from: de, to: tag}
  - {from: tag, to: home}
  - {from: home, to: back}
  - {from: back, to: e}
""",
    )
    home = sql("""
        SELECT p.id, CASE WHEN c.birth_date > DATE '1990-01-01' THEN 'young' ELSE 'older' END
        FROM purchases p JOIN customers c ON c.id = p.customer_id AND c.store_id = p.store_id
        WHERE c.country = 'DE' AND p.amount < 100 ORDER BY p.id""")
    assert [(r["id"], r["segment"]) for r in table_rows(engine, report, "home")] == home
    (all_de,) = sql("""
        SELECT count(*) FROM purchases p JOIN customers c ON c.id = p.customer_id
        WHERE c.country = 'DE' AND p.amount < 100""")[0]
    assert 0 < len(home) < all_de
    back = sql("""
        SELECT c.id FROM customers c WHERE c.country = 'DE' AND EXISTS (
            SELECT 1 FROM purchases p
            WHERE p.customer_id = c.id AND p.store_id = c.store_id AND p.amount < 100)
        ORDER BY c.id""")
    assert keys(engine, report, "back") == [r[0] for r in back]


def test_a_target_row_reached_from_several_rows_takes_the_first_in_seeded_order(
    engine: Engine, sql: SQL
) -> None:
    add_links(engine)
    report = run_campaign(
        engine,
        """
name: cities
seed: 13
activities:
  - {id: fr, type: build_audience, filter: "country in ('FR', 'DE')"}
  - id: tag
    type: split
    single_table: true
    subsets: [{name: young, filter: "birth_date > date '1975-01-01'"}, {name: older}]
  - {id: stores, type: change_dimension, link: city_stores}
  - {id: e, type: end}
transitions: [{from: fr, to: tag}, {from: tag, to: stores}, {from: stores, to: e}]
""",
    )
    expected = sql("""
        SELECT id, tag FROM (
            SELECT s.id,
                   CASE WHEN c.birth_date > DATE '1975-01-01' THEN 'young' ELSE 'older' END AS tag,
                   row_number() OVER (PARTITION BY s.id
                                      ORDER BY seeded_rank(c.id, 13), c.id) AS n
            FROM stores s JOIN customers c ON c.city = s.city
            WHERE c.country IN ('FR', 'DE')) AS reached
        WHERE n = 1 ORDER BY id""")
    assert [(r["id"], r["segment"]) for r in table_rows(engine, report, "stores")] == expected
    assert {row[1] for row in expected} == {"young", "older"}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            "link: custmer",
            [
                (
                    "link",
                    "unknown link 'custmer' in dimension 'purchases': did you mean 'customer'?",
                )
            ],
        ),
        (
            'link: customer, filter: "amount > 3"',
            [
                (
                    "filter",
                    "unknown column 'amount' in dimension 'customers': did you mean 'country'? "
                    "(at column 1 of the filter)",
                )
            ],
        ),
    ],
)
def test_bad_settings(engine: Engine, settings: str, expected: list[tuple[str, str]]) -> None:
    text = f"""
name: bad
activities:
  - {{id: big, type: build_audience, dimension: purchases}}
  - {{id: cd, type: change_dimension, {settings}}}
  - {{id: e, type: end}}
transitions: [{{from: big, to: cd}}, {{from: cd, to: e}}]
"""
    assert problems(engine, text) == expected


def test_later_filters_are_checked_against_the_new_dimension(engine: Engine) -> None:
    text = """
name: later
activities:
  - {id: all, type: build_audience}
  - {id: cd, type: change_dimension, link: purchases}
  - id: s
    type: split
    subsets: [{name: x, filter: "loyalty_tier = 'gold'"}]
  - {id: e, type: end}
transitions: [{from: all, to: cd}, {from: cd, to: s}, {from: s.x, to: e}]
"""
    assert problems(engine, text) == [
        (
            "subsets[0] (x).filter",
            "unknown column 'loyalty_tier' in dimension 'purchases': valid names: 'amount', "
            "'category', 'customer_id', 'id', 'product_id', 'purchased_at', 'store_id' "
            "(at column 1 of the subsets[0] (x).filter)",
        )
    ]
