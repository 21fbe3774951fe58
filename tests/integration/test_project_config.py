"""partita.yaml: every mistake gets a message naming the place and a way out (exact messages)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from partita.engine import Engine
from partita.model.problems import InvalidInput, PartitaError
from partita.model.project import load_project
from tests.support import counts, keys, run_campaign

SQL = Callable[[str], list[tuple[Any, ...]]]
PARTITA = Path(sys.executable).parent / "partita"
CHECKED = "partita.yaml (checked against the warehouse)"


@pytest.fixture(scope="session")
def engine_name() -> str:
    """These tests are about partita.yaml, not the warehouse engine: DuckDB only."""
    return "duckdb"


def write(folder: Path, text: str) -> Path:
    path = folder / "partita.yaml"
    path.write_text(text, encoding="utf-8")
    return path.resolve()


def load_error(folder: Path) -> str:
    """The message of loading the project and checking its data model against the warehouse."""
    with pytest.raises(InvalidInput) as caught:
        engine = Engine(load_project(folder))
        try:
            engine.model  # noqa: B018 - the check runs on first use
        finally:
            engine.close()
    return str(caught.value)


def shop_yaml(shop: Path, dimensions: str, links: str = "") -> str:
    text = f'warehouse: "duckdb:///{shop}"\ndimensions:\n{dimensions}'
    return text + (f"links:\n{links}" if links else "")


# -- reading the file ---------------------------------------------------------------------------


def test_broken_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, 'warehouse: "duckdb:///x.duckdb"\n dimensions: {}\n')
    assert load_error(tmp_path) == (
        f"{path} has 1 problem:\n"
        f"  - {path}:2:2: YAML syntax error: expected <block end>, but found "
        "'<block mapping start>'"
    )


def test_unknown_settings_get_a_suggestion(tmp_path: Path, shop_file: Path) -> None:
    path = write(
        tmp_path,
        f'warehouse: "duckdb:///{shop_file}"\n'
        "working_shema: work\n"
        "dimensions:\n"
        "  customers: {table: customers, key: id, emial: email}\n",
    )
    assert load_error(tmp_path) == (
        f"{path} has 2 problems:\n"
        f"  - {path}:4:42: field 'dimensions.customers.emial': unknown setting 'emial': "
        "did you mean 'email'?\n"
        f"  - {path}:2:1: field 'working_shema': unknown setting 'working_shema': "
        "did you mean 'working_schema'?"
    )


def test_a_link_naming_an_unknown_dimension(tmp_path: Path, shop_file: Path) -> None:
    path = write(
        tmp_path,
        shop_yaml(
            shop_file,
            "  customers: {table: customers, key: id}\n",
            '  - {name: buys, from: customers, to: purchase, "on": {id: customer_id}, '
            "cardinality: many}\n",
        ),
    )
    assert load_error(tmp_path) == (
        f"{path} has 1 problem:\n"
        "  - field 'links': link 'buys' names unknown dimension 'purchase' "
        "(declare it under 'dimensions')"
    )


def test_a_missing_environment_variable_is_named(
    tmp_path: Path, shop_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PARTITA_TEST_SMS_TOKEN", raising=False)
    path = write(
        tmp_path,
        shop_yaml(shop_file, "  customers: {table: customers, key: id}\n")
        + 'channels:\n  sms: {provider: http, token: "Bearer ${PARTITA_TEST_SMS_TOKEN}"}\n',
    )
    assert load_error(tmp_path) == (
        f"{path} has 1 problem:\n"
        f"  - {path}:5: field 'channels.sms.token': environment variable "
        "'PARTITA_TEST_SMS_TOKEN' is not set (export it before running partita)"
    )


def test_a_set_environment_variable_is_substituted(
    tmp_path: Path, shop_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTITA_TEST_SHOP", str(shop_file))
    monkeypatch.setenv("PARTITA_TEST_SMS_TOKEN", "s3cret")
    write(
        tmp_path,
        'warehouse: "duckdb:///${PARTITA_TEST_SHOP}"\n'
        "dimensions:\n"
        "  customers: {table: customers, key: id}\n"
        'channels:\n  sms: {provider: http, token: "Bearer ${PARTITA_TEST_SMS_TOKEN}"}\n',
    )
    project = load_project(tmp_path)
    assert project.warehouse == f"duckdb:///{shop_file}"
    assert project.channels["sms"]["token"] == "Bearer s3cret"
    engine = Engine(project)
    try:
        assert "country" in engine.model.column_types("customers")  # the shop was reached
    finally:
        engine.close()


def test_duckdb_settings_come_from_the_warehouse_url(tmp_path: Path, shop_file: Path) -> None:
    write(
        tmp_path,
        f'warehouse: "duckdb:///{shop_file}?memory_limit=300MB&threads=1"\n'
        "dimensions:\n  customers: {table: customers, key: id}\n",
    )
    engine = Engine(load_project(tmp_path))
    try:
        assert "country" in engine.model.column_types("customers")  # the path without the query
        found = engine.warehouse.con.raw_sql(
            "SELECT current_setting('memory_limit'), current_setting('threads')"
        ).fetchall()
        assert found == [("286.1 MiB", 1)]  # 300 MB as DuckDB shows it, in MiB
    finally:
        engine.close()


def test_an_unknown_duckdb_setting_is_named(tmp_path: Path, shop_file: Path) -> None:
    write(
        tmp_path,
        f'warehouse: "duckdb:///{shop_file}?memry_limit=300MB"\n'
        "dimensions:\n  customers: {table: customers, key: id}\n",
    )
    with pytest.raises(PartitaError) as caught:
        Engine(load_project(tmp_path)).model  # noqa: B018 - the warehouse opens on first use
    assert str(caught.value) == (
        "cannot open DuckDB with the settings memry_limit=300MB (partita.yaml, 'warehouse'): "
        "Invalid Input Error: The following options were not recognized: memry_limit"
    )


def test_no_project_file_in_the_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_project(tmp_path)
    assert str(caught.value) == (
        "project has 1 problem:\n"
        f"  - no partita.yaml in {tmp_path.resolve()} (run 'partita init' or pass --project DIR)"
    )


# -- checked against the warehouse -------------------------------------------------------------


def test_a_dimension_whose_table_does_not_exist(tmp_path: Path, shop_file: Path) -> None:
    write(
        tmp_path,
        shop_yaml(
            shop_file,
            "  customers: {table: customer, key: id}\n  orders: {table: purchase_lines, key: id}\n",
        ),
    )
    assert load_error(tmp_path) == (
        f"{CHECKED} has 2 problems:\n"
        "  - field 'dimensions.customers.table': table 'customer' of dimension 'customers' "
        "does not exist in the warehouse: did you mean 'customers'?\n"
        "  - field 'dimensions.orders.table': table 'purchase_lines' of dimension 'orders' "
        "does not exist in the warehouse: did you mean 'purchases'?"
    )


def test_declared_columns_missing_from_the_table(tmp_path: Path, shop_file: Path) -> None:
    write(
        tmp_path,
        shop_yaml(
            shop_file,
            "  customers:\n"
            "    table: customers\n"
            "    key: idd\n"
            "    email: mail\n"
            "    phone: phone\n"
            "    consent: {email: email_opt_in, sms: sms_optin}\n",
        ),
    )
    assert load_error(tmp_path) == (
        f"{CHECKED} has 3 problems:\n"
        "  - field 'dimensions.customers.key': column 'idd' (key) of dimension 'customers' "
        "is not in table 'customers': did you mean 'id'?\n"
        "  - field 'dimensions.customers.email': column 'mail' (email) of dimension "
        "'customers' is not in table 'customers': did you mean 'email'?\n"
        "  - field 'dimensions.customers.consent.email': column 'email_opt_in' "
        "(consent.email) of dimension 'customers' is not in table 'customers': "
        "did you mean 'email_optin'?"
    )


def test_a_link_join_column_missing(tmp_path: Path, shop_file: Path) -> None:
    # regions is declared last: the suggestion must come from the link's own table
    write(
        tmp_path,
        shop_yaml(
            shop_file,
            "  customers: {table: customers, key: id}\n"
            "  purchases: {table: purchases, key: id}\n"
            "  regions: {table: regions, key: id}\n",
            '  - {name: purchases, from: customers, to: purchases, "on": {id: customer_idd}, '
            "cardinality: many}\n"
            '  - {name: buyer, from: purchases, to: customers, "on": {cust_id: id}, '
            "cardinality: one}\n",
        ),
    )
    assert load_error(tmp_path) == (
        f"{CHECKED} has 2 problems:\n"
        "  - field 'links.purchases.on': link 'purchases' joins on column 'customer_idd', "
        "which table 'purchases' (purchases) does not have: did you mean 'customer_id'?\n"
        "  - field 'links.buyer.on': link 'buyer' joins on column 'cust_id', "
        "which table 'purchases' (purchases) does not have: did you mean 'customer_id'?"
    )


def test_the_cli_reports_project_problems_with_exit_1(tmp_path: Path, shop_file: Path) -> None:
    write(tmp_path, shop_yaml(shop_file, "  customers: {table: customer, key: id}\n"))
    (tmp_path / "c.yaml").write_text(
        "name: c\nactivities: [{id: a, type: build_audience}]\ntransitions: []\n"
    )
    result = subprocess.run(
        [str(PARTITA), "validate", "c.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {CHECKED} has 1 problem:\n"
        "  - field 'dimensions.customers.table': table 'customer' of dimension 'customers' "
        "does not exist in the warehouse: did you mean 'customers'?\n"
    )


# -- a multi-column link -------------------------------------------------------------------------

MULTI = """\
dimensions:
  customers: {table: customers, key: id}
  stores: {table: stores, key: id}
links:
  - {name: home, from: customers, to: stores, "on": {store_id: id, country: country}, cardinality: one}
  - {name: locals, from: stores, to: customers, "on": {id: store_id, country: country}, cardinality: many}
"""


def test_a_multi_column_link_loads_and_joins_on_every_column(
    tmp_path: Path, shop_file: Path, sql: SQL
) -> None:
    write(tmp_path, f'warehouse: "duckdb:///{shop_file}"\n' + MULTI)
    project = load_project(tmp_path)
    assert [link.on for link in project.links] == [
        {"store_id": "id", "country": "country"},
        {"id": "store_id", "country": "country"},
    ]
    engine = Engine(project)
    try:
        assert set(engine.model.dimensions) == {"customers", "stores"}
        report = run_campaign(
            engine,
            """
name: multi
activities:
  - {id: paris, type: build_audience, filter: "home.city = 'Paris'"}
  - {id: busy, type: build_audience, dimension: stores, filter: "count(locals) >= 60"}
  - {id: e1, type: end}
  - {id: e2, type: end}
transitions: [{from: paris, to: e1}, {from: busy, to: e2}]
""",
        )
        paris = sorted(
            r[0]
            for r in sql(
                "SELECT c.id FROM customers c JOIN stores s "
                "ON c.store_id = s.id AND c.country = s.country WHERE s.city = 'Paris'"
            )
        )
        busy = sorted(
            r[0]
            for r in sql(
                "SELECT s.id FROM stores s JOIN customers c "
                "ON c.store_id = s.id AND c.country = s.country "
                "GROUP BY s.id HAVING count(*) >= 60"
            )
        )
        assert 0 < len(paris) < 4_000 and 0 < len(busy) < 52
        assert keys(engine, report, "paris") == paris
        assert keys(engine, report, "busy") == busy
        assert counts(report) == {"paris -> e1": len(paris), "busy -> e2": len(busy)}
    finally:
        engine.close()
