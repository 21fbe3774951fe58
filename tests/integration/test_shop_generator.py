"""The demo shop generator, checked with hand-written SQL against a real DuckDB file."""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from partita.examples.shop import ShopStats, generate_shop, write_project
from partita.model.project import parse_project

CUSTOMERS = 20_000
ANCHOR = datetime.date(2026, 11, 30)
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ShopStats, list[str]]:
    path = tmp_path_factory.mktemp("shop") / "shop.duckdb"
    messages: list[str] = []
    stats = generate_shop(
        path, customers=CUSTOMERS, seed=7, progress=messages.append, anchor=ANCHOR
    )
    return path, stats, messages


@pytest.fixture
def con(shop: tuple[Path, ShopStats, list[str]]) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(shop[0]), read_only=True)
    yield connection
    connection.close()


def one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def share(con: duckdb.DuckDBPyConnection, condition: str, table: str = "customers") -> float:
    return float(one(con, f"SELECT avg(CASE WHEN {condition} THEN 1 ELSE 0 END) FROM {table}"))


def test_counts_and_stats(
    shop: tuple[Path, ShopStats, list[str]], con: duckdb.DuckDBPyConnection
) -> None:
    _, stats, messages = shop
    for table in ("regions", "stores", "products", "customers", "purchases"):
        assert one(con, f"SELECT count(*) FROM {table}") == stats.rows[table]
    assert stats.customers == CUSTOMERS
    assert stats.regions == 4
    assert 40 <= stats.stores <= 60
    assert stats.products == 500
    assert 4 * CUSTOMERS <= stats.purchases <= 6 * CUSTOMERS
    assert stats.seconds > 0
    assert messages == [f"{table}: {count:,} rows" for table, count in stats.rows.items()]
    assert "customers: 20,000 rows" in messages
    assert sorted(one(con, "SELECT list(name) FROM regions")) == ["APAC", "EU", "LATAM", "NA"]


def test_schema(con: duckdb.DuckDBPyConnection) -> None:
    types = dict(
        con.execute(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
        ).fetchall()
    )
    assert types["customers.id"] == "BIGINT"
    assert types["customers.birth_date"] == "DATE"
    assert types["customers.created_at"] == "TIMESTAMP"
    assert types["customers.email_optin"] == "BOOLEAN"
    assert types["customers.store_id"] == "INTEGER"
    assert types["purchases.id"] == "BIGINT"
    assert types["purchases.customer_id"] == "BIGINT"
    assert types["purchases.product_id"] == "INTEGER"
    assert types["purchases.amount"] == "DECIMAL(10,2)"
    assert types["purchases.purchased_at"] == "TIMESTAMP"
    assert types["products.price"] == "DECIMAL(10,2)"
    assert types["stores.region_id"] == "INTEGER"
    assert types["regions.id"] == "INTEGER"
    assert one(
        con,
        """
        SELECT list(constraint_column_names) FROM duckdb_constraints()
        WHERE table_name = 'customers' AND constraint_type = 'PRIMARY KEY'
    """,
    ) == [["id"]]


def test_keys_are_unique_and_dense(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("regions", "stores", "products", "customers", "purchases"):
        count, distinct, low, high = (
            con.execute(
                f"SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {table}"
            ).fetchone()
            or ()
        )
        assert (count, distinct, low, high) == (count, count, 1, count), table


def test_references_exist(con: duckdb.DuckDBPyConnection) -> None:
    orphans = {
        "purchase->customer": "SELECT count(*) FROM purchases p "
        "WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = p.customer_id)",
        "purchase->product": "SELECT count(*) FROM purchases p "
        "WHERE NOT EXISTS (SELECT 1 FROM products x WHERE x.id = p.product_id)",
        "purchase->store": "SELECT count(*) FROM purchases p "
        "WHERE NOT EXISTS (SELECT 1 FROM stores s WHERE s.id = p.store_id)",
        "customer->store": "SELECT count(*) FROM customers c "
        "WHERE NOT EXISTS (SELECT 1 FROM stores s WHERE s.id = c.store_id)",
        "store->region": "SELECT count(*) FROM stores s "
        "WHERE NOT EXISTS (SELECT 1 FROM regions r WHERE r.id = s.region_id)",
        "purchase category": "SELECT count(*) FROM purchases p JOIN products x "
        "ON x.id = p.product_id WHERE x.category <> p.category",
    }
    assert {name: one(con, sql) for name, sql in orphans.items()} == dict.fromkeys(orphans, 0)


def test_email_nulls_and_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    assert 0.02 <= share(con, "email IS NULL") <= 0.04
    shared = share(
        con,
        """lower(email) IN (
        SELECT lower(email) FROM customers WHERE email IS NOT NULL
        GROUP BY 1 HAVING count(*) > 1)""",
    )
    assert 0.012 <= shared <= 0.03
    exact, by_case = (
        con.execute("""
        SELECT count(*) FILTER (WHERE spellings = 1), count(*) FILTER (WHERE spellings > 1)
        FROM (SELECT count(DISTINCT email) AS spellings FROM customers
              WHERE email IS NOT NULL GROUP BY lower(email) HAVING count(*) > 1)
    """).fetchone()
        or ()
    )
    assert exact > 0
    assert by_case > 0
    assert one(con, "SELECT count(*) FROM customers WHERE email NOT LIKE '%_@_%._%'") == 0
    # the two accounts of one person carry the same name
    assert (
        one(
            con,
            """
        SELECT count(*) FROM (SELECT lower(email) FROM customers WHERE email IS NOT NULL
                              GROUP BY 1 HAVING count(DISTINCT first_name || last_name) > 1)
    """,
        )
        == 0
    )


def test_phones_are_e164(con: duckdb.DuckDBPyConnection) -> None:
    assert 0.17 <= share(con, "phone IS NULL") <= 0.23
    phones = con.execute("SELECT country, phone FROM customers WHERE phone IS NOT NULL").fetchall()
    assert all(E164.match(phone) for _, phone in phones)
    dial = {"FR": "+33", "DE": "+49", "GB": "+447", "US": "+1", "IT": "+393", "NL": "+316"}
    assert all(phone.startswith(dial[c]) for c, phone in phones if c in dial)


def test_countries_cities_and_zones(con: duckdb.DuckDBPyConnection) -> None:
    countries = dict(
        con.execute("SELECT country, count(*) FROM customers GROUP BY country").fetchall()
    )
    assert {"FR", "BE", "DE", "ES", "IT", "GB", "US", "CA", "NL"} <= set(countries)
    assert all(re.fullmatch(r"[A-Z]{2}", code) for code in countries)
    ranked = sorted(countries.values(), reverse=True)
    assert ranked[0] > 4 * ranked[len(ranked) // 2]  # skewed, not uniform
    assert (
        one(
            con,
            """SELECT count(*) FROM (SELECT city FROM customers GROUP BY city
                       HAVING count(DISTINCT country) > 1 OR count(DISTINCT tz) > 1)""",
        )
        == 0
    )
    assert (
        one(con, "SELECT count(*) FROM customers WHERE country = 'FR' AND tz <> 'Europe/Paris'")
        == 0
    )
    assert one(con, "SELECT count(DISTINCT tz) FROM customers WHERE country = 'US'") >= 4
    zones = {z for (z,) in con.execute("SELECT DISTINCT tz FROM customers").fetchall()}
    assert zones <= zoneinfo.available_timezones()
    # stores sit in customers' cities and countries; a home store is in the customer's country
    assert (
        one(
            con,
            """SELECT count(*) FROM stores s WHERE NOT EXISTS (
        SELECT 1 FROM customers c WHERE c.city = s.city AND c.country = s.country)""",
        )
        == 0
    )
    assert (
        one(
            con,
            """SELECT count(*) FROM customers c JOIN stores s ON s.id = c.store_id
                       WHERE s.country <> c.country""",
        )
        == 0
    )


def test_people_attributes(con: duckdb.DuckDBPyConnection) -> None:
    assert 0.06 <= share(con, "loyalty_tier = 'gold'") <= 0.10
    tiers = dict(con.execute("SELECT loyalty_tier, count(*) FROM customers GROUP BY 1").fetchall())
    assert set(tiers) == {"none", "bronze", "silver", "gold", "platinum"}
    assert tiers["none"] > tiers["bronze"] > tiers["silver"] > tiers["gold"] > tiers["platinum"]
    assert 0.66 <= share(con, "email_optin") <= 0.74
    assert 0.36 <= share(con, "sms_optin") <= 0.44
    assert share(con, "sms_optin AND phone IS NULL") == 0
    assert share(con, "email_optin AND email IS NULL") == 0
    assert 0.57 <= share(con, "device_token IS NULL") <= 0.63
    assert one(con, "SELECT count(DISTINCT device_token) = count(device_token) FROM customers")
    ages = (
        con.execute(f"""
        SELECT min(date_diff('year', birth_date, DATE '{ANCHOR}')
                   - CASE WHEN strftime(birth_date, '%m%d') > '{ANCHOR:%m%d}' THEN 1 ELSE 0 END),
               max(date_diff('year', birth_date, DATE '{ANCHOR}')
                   - CASE WHEN strftime(birth_date, '%m%d') > '{ANCHOR:%m%d}' THEN 1 ELSE 0 END)
        FROM customers""").fetchone()
        or ()
    )
    assert 18 <= ages[0] <= 20
    assert 80 <= ages[1] <= 90
    first, last = (
        con.execute("SELECT min(created_at), max(created_at) FROM customers").fetchone() or ()
    )
    midnight = datetime.datetime.combine(ANCHOR, datetime.time())
    assert midnight - datetime.timedelta(days=5 * 366) <= first
    assert last < midnight
    assert one(con, "SELECT count(DISTINCT first_name) FROM customers") > 200
    assert one(con, "SELECT count(DISTINCT last_name) FROM customers") > 200


def test_purchases_spread(con: duckdb.DuckDBPyConnection) -> None:
    per_customer = """(SELECT c.id, count(p.id) AS n FROM customers c
                       LEFT JOIN purchases p ON p.customer_id = c.id GROUP BY c.id)"""
    average = one(con, f"SELECT avg(n) FROM {per_customer}")
    assert 4 <= average <= 6
    assert 0.08 <= share(con, "n = 0", per_customer) <= 0.12
    assert share(con, "n <= 2", per_customer) >= 0.3
    assert share(con, "n >= 15", per_customer) >= 0.01
    midnight = datetime.datetime.combine(ANCHOR, datetime.time())
    first, last = (
        con.execute("SELECT min(purchased_at), max(purchased_at) FROM purchases").fetchone() or ()
    )
    assert midnight - datetime.timedelta(days=731) <= first
    assert last < midnight
    assert (
        one(
            con,
            """SELECT count(*) FROM purchases p JOIN customers c ON c.id = p.customer_id
                       WHERE p.purchased_at < c.created_at""",
        )
        == 0
    )
    by_age = (
        con.execute(f"""
        SELECT count(*) FILTER (WHERE purchased_at >= DATE '{ANCHOR}' - INTERVAL 30 DAY),
               count(*) FILTER (WHERE purchased_at >= DATE '{ANCHOR}' - INTERVAL 1 YEAR),
               count(*) FILTER (WHERE purchased_at < DATE '{ANCHOR}' - INTERVAL 1 YEAR)
        FROM purchases""").fetchone()
        or ()
    )
    assert by_age[0] > 0.1 * one(con, "SELECT count(*) FROM purchases")
    assert by_age[1] > by_age[2] > 0  # more recent, more likely
    low, high = con.execute("SELECT min(amount), max(amount) FROM purchases").fetchone() or ()
    assert 0 < low < high
    assert one(con, "SELECT count(DISTINCT name) FROM products") == 500
    assert one(con, "SELECT count(DISTINCT category) FROM products") == 7


def test_same_seed_same_rows_other_seed_other_rows(
    tmp_path: Path, shop: tuple[Path, ShopStats, list[str]]
) -> None:
    def rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
        with duckdb.connect(str(path), read_only=True) as c:
            return {
                table: c.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
                for table in ("regions", "stores", "products", "customers", "purchases")
            }

    first = rows(shop[0])
    again = tmp_path / "again.duckdb"
    again.write_bytes(b"not a database")  # an old file is replaced, not appended to
    generate_shop(again, customers=CUSTOMERS, seed=7, anchor=ANCHOR)
    assert rows(again) == first
    other = tmp_path / "other.duckdb"
    generate_shop(other, customers=CUSTOMERS, seed=8, anchor=ANCHOR)
    changed = rows(other)
    assert changed["customers"] != first["customers"]
    assert changed["purchases"] != first["purchases"]
    assert len(changed["customers"]) == CUSTOMERS


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="customers"):
        generate_shop(tmp_path / "x.duckdb", customers=0)
    with pytest.raises(ValueError, match="seed"):
        generate_shop(tmp_path / "x.duckdb", customers=10, seed=2**64)


def test_project_file_declares_the_shop(tmp_path: Path) -> None:
    path = write_project(tmp_path / "demo")
    assert path == tmp_path / "demo" / "partita.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count("\n#") >= 5  # explained for a reader
    project = parse_project(text, file=str(path), root=path.parent)
    assert project.warehouse == "duckdb:///shop.duckdb"
    assert set(project.dimensions) == {"customers", "purchases", "products", "stores", "regions"}
    customers = project.dimensions["customers"]
    assert (customers.table, customers.key, customers.email, customers.phone) == (
        "customers",
        "id",
        "email",
        "phone",
    )
    assert (customers.push_token, customers.timezone) == ("device_token", "tz")
    assert customers.consent == {"email": "email_optin", "sms": "sms_optin"}
    assert all(d.key == "id" for d in project.dimensions.values())
    links = {
        (link.source, link.name): (link.target, link.on, link.cardinality) for link in project.links
    }
    assert {
        ("customers", "purchases"): ("purchases", {"id": "customer_id"}, "many"),
        ("purchases", "customer"): ("customers", {"customer_id": "id"}, "one"),
        ("purchases", "product"): ("products", {"product_id": "id"}, "one"),
        ("purchases", "store"): ("stores", {"store_id": "id"}, "one"),
        ("customers", "store"): ("stores", {"store_id": "id"}, "one"),
        ("stores", "region"): ("regions", {"region_id": "id"}, "one"),
        ("stores", "customers"): ("customers", {"id": "store_id"}, "many"),
    }.items() <= links.items()
    other = write_project(tmp_path / "other", database="data/my shop.duckdb")
    assert parse_project(other.read_text(encoding="utf-8")).warehouse == (
        "duckdb:///data/my shop.duckdb"
    )
