"""The pinned data stack (ibis / duckdb / sqlglot): fails loudly when an upgrade breaks a path.

docs/architecture.md ("Known constraints"): with duckdb 2.0.x, Ibis 12.0.0's ``con.sql()`` and
``to_pyarrow_batches()`` fail; with sqlglot >= 30.18.0 every ``DROP TABLE`` Ibis emits loses its
table name.  Each test below exercises one of those paths the way Partita uses it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pytest
import sqlglot
import sqlglot.expressions as sge

from partita.examples.shop import write_project
from partita.model.project import load_project
from partita.warehouse import Warehouse

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
WORK = "partita_work"
PINNED = ("ibis-framework", "duckdb", "sqlglot")


def exact_pins() -> dict[str, str]:
    """Every ``name[extras]==version`` requirement of the project's dependencies."""
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    pins: dict[str, str] = {}
    for requirement in data["project"]["dependencies"]:
        match = re.fullmatch(
            r"\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)\s*", requirement
        )
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_the_data_stack_is_pinned_exactly_and_installed_at_the_pins() -> None:
    pins = exact_pins()
    assert set(PINNED) <= set(pins), pins
    installed = {name: metadata.version(name) for name in pins}
    assert installed == pins
    # the modules Partita imports are those distributions
    assert ibis.__version__ == pins["ibis-framework"]
    assert duckdb.__version__ == pins["duckdb"]
    assert sqlglot.__version__ == pins["sqlglot"]


@pytest.fixture
def con(tmp_path: Path) -> Iterator[Any]:
    """An Ibis DuckDB connection on a work file with the working schema, as Partita opens it."""
    connection = ibis.duckdb.connect(str(tmp_path / "work.duckdb"))
    connection.create_database(WORK, force=True)
    yield connection
    connection.disconnect()


def test_con_sql_runs_a_query(con: Any) -> None:
    assert con.sql("select 1").to_pyarrow().to_pylist() == [{"1": 1}]
    table = con.sql("select 41 + 1 as answer, 'x' as letter")
    assert table.schema().names == ("answer", "letter")
    assert table.to_pyarrow().to_pylist() == [{"answer": 42, "letter": "x"}]


def test_sqlglot_keeps_the_table_name_of_a_drop() -> None:
    statement = sge.Drop(kind="TABLE", this=sqlglot.table("w_a_1_b_out", db=WORK, quoted=True))
    assert statement.sql(dialect="duckdb") == f'DROP TABLE "{WORK}"."w_a_1_b_out"'
    statement = sge.Drop(
        kind="TABLE", this=sqlglot.table("w_a_1_b_out", db=WORK, quoted=True), exists=True
    )
    assert statement.sql(dialect="postgres") == f'DROP TABLE IF EXISTS "{WORK}"."w_a_1_b_out"'


def test_drop_table_in_a_schema_drops_exactly_the_named_table(con: Any) -> None:
    con.create_table("keep_me", con.sql("select 1 as id"), database=WORK)
    con.create_table("drop_me", con.sql("select 2 as id"), database=WORK)
    assert sorted(con.list_tables(database=WORK)) == ["drop_me", "keep_me"]
    con.drop_table("drop_me", database=WORK)
    assert con.list_tables(database=WORK) == ["keep_me"]
    with pytest.raises(Exception, match="drop_me"):
        con.drop_table("drop_me", database=WORK)
    con.drop_table("drop_me", database=WORK, force=True)  # absent: nothing happens
    assert con.list_tables(database=WORK) == ["keep_me"]


def test_to_pyarrow_batches_streams_a_working_table_in_order(con: Any) -> None:
    con.create_table(
        "w_big", con.sql("select range as id from range(25000) order by hash(range)"), database=WORK
    )
    reader = con.table("w_big", database=WORK).order_by("id").to_pyarrow_batches(chunk_size=4096)
    batches = list(reader)
    assert len(batches) > 1
    assert all(b.num_rows <= 4096 for b in batches)
    ids = [value for batch in batches for value in batch.column("id").to_pylist()]
    assert ids == list(range(25000))


def test_attach_read_only_reads_another_duckdb_file(con: Any, tmp_path: Path) -> None:
    data = tmp_path / "data.duckdb"
    raw = duckdb.connect(str(data))
    raw.execute("CREATE TABLE customers AS SELECT range AS id, range % 7 AS k FROM range(1, 101)")
    raw.close()
    con.attach(str(data), name="partita_data", read_only=True)
    customers = con.table("customers", database=("partita_data", "main"))
    assert customers.schema().names == ("id", "k")
    assert customers.count().to_pyarrow().as_py() == 100
    assert customers.filter(customers.k == 0).count().to_pyarrow().as_py() == 14
    # a working table built from the attached data lands in the work file
    con.create_table("w_sevens", customers.filter(customers.k == 0).select("id"), database=WORK)
    assert con.table("w_sevens", database=WORK).count().to_pyarrow().as_py() == 14
    with pytest.raises(Exception, match="read-only"):
        con.raw_sql("CREATE TABLE partita_data.main.intruder AS SELECT 1 AS x")
    con.disconnect()
    check = duckdb.connect(str(data), read_only=True)
    assert check.execute("SELECT table_name FROM duckdb_tables()").fetchall() == [("customers",)]
    check.close()


def test_the_warehouse_layer_on_the_pinned_stack(tmp_path: Path, shop_file: Path) -> None:
    """Partita's own path: attach the shop read-only, materialize, stream, drop."""
    write_project(tmp_path, database=str(shop_file))
    project = load_project(tmp_path)
    warehouse = Warehouse.open(project)
    try:
        customers = warehouse.table(project.dimensions["customers"])
        expr = customers.filter(customers.country == "FR").select("id")
        count = warehouse.materialize("w_pinned_1_fr_out", expr)
        assert count > 0
        streamed = [
            value
            for batch in warehouse.batches("w_pinned_1_fr_out", ["id"], batch_size=100)
            for value in batch.column("id").to_pylist()
        ]
        assert len(streamed) == count and streamed == sorted(streamed)
        assert "w_pinned_1_fr_out" in warehouse.sql(warehouse.working("w_pinned_1_fr_out"))
        warehouse.drop(["w_pinned_1_fr_out", "never_created"])
        assert not warehouse.exists("w_pinned_1_fr_out")
    finally:
        warehouse.close()


#: A value of each DuckDB type a dimension or an enrichment may hold, as SQL.
TYPED_VALUES = {
    "u": "'37618df9-7406-49ea-ba9a-09cc99a37c44'::uuid",
    "d": "1.50::decimal(10, 2)",
    "h": "3::hugeint",
    "ts": "'2026-12-03 10:00:00+00'::timestamptz",
    "naive": "'2020-01-01 10:00:00'::timestamp",
    "day": "'2026-12-03'::date",
    "at": "'12:00'::time",
    "s": "'text'",
    "items": "[1, 2]",
    "st": "{'x': 1}",
    "e": "'happy'::enum('happy', 'sad')",
    "b": "'x'::blob",
    "small": "1::utinyint",
    "f": "2.5::float",
    "flag": "true",
    "nothing": "NULL::varchar",
}


def test_warehouse_arrow_gives_the_values_ibis_gives(tmp_path: Path, shop_file: Path) -> None:
    """``Warehouse.arrow`` (a channel's pages, counts by reason) reads DuckDB's Arrow result
    through Ibis's private ``_to_duckdb_relation``, skipping Ibis's conversion: the values a
    template sees must be the ones Ibis's ``to_pyarrow`` gives."""
    write_project(tmp_path, database=str(shop_file))
    project = load_project(tmp_path)
    warehouse = Warehouse.open(project)
    try:
        columns = ", ".join(f"{sql} AS {name}" for name, sql in TYPED_VALUES.items())
        warehouse.con.raw_sql(f"CREATE TABLE {WORK}.typed AS SELECT {columns}")
        typed = warehouse.working("typed")
        ours = warehouse.arrow(typed).to_pylist()
        assert ours == typed.to_pyarrow().to_pylist()
        assert ours[0]["u"] == "37618df9-7406-49ea-ba9a-09cc99a37c44" and ours[0]["h"] == 3
        customers = warehouse.table(project.dimensions["customers"])
        page = customers.order_by("id").limit(50)
        assert warehouse.arrow(page).to_pylist() == page.to_pyarrow().to_pylist()
    finally:
        warehouse.close()
