"""update_data: insert / update / upsert into a table of the user's data, on every engine.

Each test gets data of its own (a DuckDB file, or a PostgreSQL schema in the test database):
``people`` (the dimension) and ``scores`` (the table written), plus ``scores_before``, a copy of
``scores`` that the hand-written expectations start from.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from partita.engine import Engine
from partita.model.campaign import parse_campaign
from partita.model.problems import InvalidInput
from partita.model.project import load_project
from tests.support import counts, run_campaign

TABLES = [
    "CREATE TABLE people (id BIGINT PRIMARY KEY, first_name VARCHAR NOT NULL, "
    "points INTEGER NOT NULL, tier VARCHAR NOT NULL, household BIGINT)",
    "CREATE TABLE scores (customer_id BIGINT PRIMARY KEY, "
    "score INTEGER NOT NULL CHECK (score >= 0), label VARCHAR, updated DATE)",
    "CREATE TABLE scores_before (customer_id BIGINT, score INTEGER, label VARCHAR, updated DATE)",
]
# 20 people: every third is gold; households pair them up (1-2, 3-4…), the last has none
PEOPLE = [
    (i, f"name{i}", i * 10, "gold" if i % 3 == 0 else "silver", (i + 1) // 2 if i < 20 else None)
    for i in range(1, 21)
]
# scores for the first 10
SCORES = [(i, 1, "old", f"2026-0{1 + i % 9}-01") for i in range(1, 11)]

PROJECT = """
warehouse: "{warehouse}"
working_schema: {work}
dimensions:
  people: {{table: people, key: id, database: {schema}}}
"""

CAMPAIGN = """
name: writer
dimension: people
activities:
  - {{id: who, type: build_audience, filter: "{filter}"}}
  - id: w
    type: update_data
    table: {table}
    database: {schema}
    mode: {mode}
    key: {key}
    columns: {columns}
  - {{id: e, type: end}}
transitions: [{{from: who, to: w}}, {{from: w, to: e}}]
"""

GOLD = "tier = 'gold'"
WRITE = "{score: points, label: upper(first_name)}"


@dataclass
class Data:
    """The test's project and a way to read its tables with hand-written SQL."""

    folder: Path
    engine_name: str
    schema: str

    def engine(self) -> Engine:
        return Engine(load_project(self.folder))

    def campaign(
        self,
        mode: str,
        filter: str = GOLD,
        columns: str = WRITE,
        key: str = "{customer_id: id}",
        table: str = "scores",
    ) -> str:
        return CAMPAIGN.format(
            filter=filter, table=table, schema=self.schema, mode=mode, key=key, columns=columns
        )

    def query(self, engine: Engine, sql: str) -> list[tuple[Any, ...]]:
        """``sql`` with ``{s}`` standing for the data's schema, through the engine's connection."""
        prefix = f"partita_data.{self.schema}" if self.engine_name == "duckdb" else self.schema
        cursor = engine.warehouse.con.raw_sql(sql.format(s=prefix))
        return [tuple(row) for row in cursor.fetchall()]

    def scores(self, engine: Engine) -> list[tuple[Any, ...]]:
        return self.query(
            engine,
            "SELECT customer_id, score, label, CAST(updated AS VARCHAR) FROM {s}.scores ORDER BY 1",
        )

    def before(self, engine: Engine) -> list[tuple[Any, ...]]:
        return self.query(
            engine,
            "SELECT customer_id, score, label, CAST(updated AS VARCHAR) FROM {s}.scores_before "
            "ORDER BY 1",
        )


def _fill(execute: Any) -> None:
    for statement in TABLES:
        execute(statement)
    for row in PEOPLE:
        execute("INSERT INTO people VALUES (%s, %s, %s, %s, %s)", row)
    for row in SCORES:
        execute("INSERT INTO scores VALUES (%s, %s, %s, CAST(%s AS DATE))", row)
    execute("INSERT INTO scores_before SELECT * FROM scores")


@pytest.fixture
def data(tmp_path: Path, engine_name: str, request: pytest.FixtureRequest) -> Iterator[Data]:
    """Fresh people and scores tables on the test's engine."""
    if engine_name == "duckdb":
        con = duckdb.connect(str(tmp_path / "data.duckdb"))
        _fill(lambda sql, params=(): con.execute(sql.replace("%s", "?"), list(params)))
        con.close()
        (tmp_path / "partita.yaml").write_text(
            PROJECT.format(warehouse="duckdb:///data.duckdb", work="partita_work", schema="main")
        )
        yield Data(tmp_path, engine_name, "main")
        return
    shop = request.getfixturevalue("postgres_shop")
    schema, work = f"uw_{uuid.uuid4().hex[:12]}", f"pw_{uuid.uuid4().hex[:12]}"
    with shop.connect() as con:
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(f"SET search_path TO {schema}")
        _fill(lambda sql, params=(): con.execute(sql, params))
    (tmp_path / "partita.yaml").write_text(
        PROJECT.format(warehouse=shop.url, work=work, schema=schema)
    )
    try:
        yield Data(tmp_path, engine_name, schema)
    finally:
        with shop.connect() as con:
            con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            con.execute(f"DROP SCHEMA IF EXISTS {work} CASCADE")


@pytest.fixture
def engine(data: Data) -> Iterator[Engine]:
    instance = data.engine()
    yield instance
    instance.close()


def messages(engine: Engine, report: dict[str, Any]) -> list[str]:
    return [line.message for line in engine.store.logs(execution_id=report["execution"])]


def error_of(report: dict[str, Any], activity: str = "w") -> str:
    (task,) = [t for t in report["tasks"] if t["activity"] == activity]
    assert task["status"] == "failed"
    return str(task["error"])


def read_only(engine: Engine, data: Data) -> None:
    """On DuckDB the data file is attached read-only again after any write."""
    if data.engine_name == "duckdb":
        flags = engine.warehouse.con.raw_sql(
            "SELECT readonly FROM duckdb_databases() WHERE database_name = 'partita_data'"
        ).fetchall()
        assert flags == [(True,)]


# -- the three modes --------------------------------------------------------------------------


def test_upsert_updates_existing_keys_and_inserts_new_ones(engine: Engine, data: Data) -> None:
    report = run_campaign(engine, data.campaign("upsert"), live=True)
    assert report["status"] == "completed"
    assert counts(report) == {"who -> w": 6, "w -> e": 6}
    assert "update_data 'w': inserted 3 and updated 3 rows of scores" in messages(engine, report)
    expected = data.query(
        engine,
        """
        SELECT coalesce(p.id, s.customer_id),
               coalesce(p.points, s.score),
               CASE WHEN p.id IS NOT NULL THEN upper(p.first_name) ELSE s.label END,
               CAST(s.updated AS VARCHAR)
        FROM {s}.scores_before s
        FULL OUTER JOIN (SELECT * FROM {s}.people WHERE tier = 'gold') p ON p.id = s.customer_id
        ORDER BY 1
        """,
    )
    assert data.scores(engine) == expected
    assert len(expected) == 13
    read_only(engine, data)


def test_update_touches_existing_keys_only(engine: Engine, data: Data) -> None:
    report = run_campaign(engine, data.campaign("update"), live=True)
    assert (
        "update_data 'w': inserted 0 and updated 3 rows of scores "
        "(3 keys not in scores left out: mode update)"
    ) in messages(engine, report)
    expected = data.query(
        engine,
        """
        SELECT s.customer_id,
               coalesce(p.points, s.score),
               CASE WHEN p.id IS NOT NULL THEN upper(p.first_name) ELSE s.label END,
               CAST(s.updated AS VARCHAR)
        FROM {s}.scores_before s
        LEFT JOIN (SELECT * FROM {s}.people WHERE tier = 'gold') p ON p.id = s.customer_id
        ORDER BY 1
        """,
    )
    assert data.scores(engine) == expected
    assert sum(1 for row in expected if row[2] != "old") == 3


def test_insert_adds_new_keys(engine: Engine, data: Data) -> None:
    report = run_campaign(engine, data.campaign("insert", filter=f"{GOLD} and id > 10"), live=True)
    assert "update_data 'w': inserted 3 and updated 0 rows of scores" in messages(engine, report)
    expected = data.query(
        engine,
        """
        SELECT customer_id, score, label, CAST(updated AS VARCHAR) FROM {s}.scores_before
        UNION ALL
        SELECT id, points, upper(first_name), NULL FROM {s}.people
        WHERE tier = 'gold' AND id > 10
        ORDER BY 1
        """,
    )
    assert data.scores(engine) == expected


def test_insert_of_keys_already_there_is_an_error(engine: Engine, data: Data) -> None:
    report = run_campaign(engine, data.campaign("insert"), live=True)
    assert error_of(report) == "3 keys already in table 'scores', e.g. 3, 6: use mode upsert"
    assert data.scores(engine) == data.before(engine)


def test_test_mode_writes_nothing_and_says_what_it_would(engine: Engine, data: Data) -> None:
    report = run_campaign(engine, data.campaign("upsert"))
    assert report["status"] == "completed"
    assert "test mode: would insert 3 and update 3 rows of scores" in messages(engine, report)
    assert data.scores(engine) == data.before(engine)
    read_only(engine, data)


def test_a_failure_midway_leaves_no_partial_write(engine: Engine, data: Data) -> None:
    """The updates (ids 3, 6, 9) pass the CHECK; the insert of id 18 (score -30) does not:
    the updates are rolled back with it."""
    report = run_campaign(
        engine, data.campaign("upsert", columns="{score: 150 - points}"), live=True
    )
    message = error_of(report)
    assert message.startswith(
        "writing to table 'scores' failed and was rolled back, nothing was written: "
    )
    assert re.search(r"check", message, re.IGNORECASE), message
    assert data.scores(engine) == data.before(engine)
    read_only(engine, data)
    # once the cause is fixed, the same table takes the write
    engine.stop(report["execution"])
    fixed = run_campaign(
        engine, data.campaign("upsert", columns="{score: 200 - points}"), live=True
    )
    assert fixed["status"] == "completed"
    assert [r[1] for r in data.scores(engine) if r[0] in (3, 18)] == [170, 20]


# -- bad input --------------------------------------------------------------------------------


def test_a_type_mismatch_names_the_column(engine: Engine, data: Data) -> None:
    report = run_campaign(
        engine, data.campaign("upsert", columns="{score: upper(first_name)}"), live=True
    )
    assert error_of(report) == (
        "column 'score' of table 'scores' is integer; expression 'upper(first_name)' is string"
    )
    assert data.scores(engine) == data.before(engine)


def test_an_unknown_table_column_is_suggested(engine: Engine, data: Data) -> None:
    report = run_campaign(engine, data.campaign("upsert", columns="{scroe: points}"), live=True)
    assert error_of(report) == (
        "table 'scores' has no column 'scroe' (setting 'columns'): did you mean 'score'?"
    )


def test_an_unknown_table_is_suggested(engine: Engine, data: Data) -> None:
    report = run_campaign(engine, data.campaign("upsert", table="score"), live=True)
    assert error_of(report) == (
        f"table 'score' does not exist in the warehouse (schema '{data.schema}'): "
        "did you mean 'scores'?"
    )


def test_duplicate_keys_in_the_population_are_an_error(engine: Engine, data: Data) -> None:
    report = run_campaign(
        engine,
        data.campaign("upsert", filter="id < 7", key="{customer_id: household}"),
        live=True,
    )
    assert error_of(report) == (
        "3 keys appear more than once in the population, e.g. 1, 2: table 'scores' gets one "
        "row per key (add a deduplication before update_data)"
    )
    assert data.scores(engine) == data.before(engine)


def test_a_null_key_is_an_error(engine: Engine, data: Data) -> None:
    report = run_campaign(
        engine,
        data.campaign("upsert", filter="id >= 19", key="{customer_id: household}"),
        live=True,
    )
    assert error_of(report) == (
        "1 row of the population has no key (household is null): a row of table 'scores' "
        "cannot be found by a null key"
    )


def test_an_unknown_population_column_is_a_validation_error(engine: Engine, data: Data) -> None:
    campaign = parse_campaign(data.campaign("upsert", columns="{score: pointz}"))
    with pytest.raises(InvalidInput) as caught:
        engine.validate(campaign)
    (problem,) = caught.value.problems
    assert (problem.activity, problem.field) == ("w", "columns.score")
    assert "'pointz'" in problem.message and "did you mean 'points'?" in problem.message


def test_a_key_column_cannot_also_be_written(data: Data) -> None:
    with pytest.raises(InvalidInput, match="column 'customer_id' is in both 'key' and 'columns'"):
        parse_campaign(data.campaign("upsert", columns="{customer_id: id, score: points}"))


def test_duckdb_data_file_held_by_another_process(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    """The write needs the data file read-write for a moment: another process holding it
    makes the write fail with a clear error, nothing written, and reads still work."""
    if engine_name != "duckdb":
        pytest.skip("a DuckDB file lock")
    data: Data = request.getfixturevalue("data")
    engine: Engine = request.getfixturevalue("engine")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            f"con = duckdb.connect({str(data.folder / 'data.duckdb')!r}, read_only=True)\n"
            "print('ready', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        report = run_campaign(engine, data.campaign("upsert"), live=True)
    finally:
        holder.communicate("")  # closes its stdin: it exits
    message = error_of(report)
    assert message.startswith(
        f"cannot write to the DuckDB file {data.folder / 'data.duckdb'}: it is in use by another "
        "process"
    ), message
    read_only(engine, data)
    assert data.scores(engine) == data.before(engine)
