"""incremental_query: by key history and by since_column, over live runs with data changing
between them (a small DuckDB project of its own), and against hand-written SQL on the shop."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from partita.engine import Engine
from partita.model.campaign import parse_campaign
from partita.model.problems import InvalidInput
from partita.model.project import load_project
from partita.model.states import ExecutionStatus, TaskStatus
from tests.support import keys, run_campaign

SQL = Callable[[str], list[tuple[Any, ...]]]

PROJECT = """
warehouse: "duckdb:///data.duckdb"
dimensions:
  members: {table: members, key: id}
"""

BY_KEY = """
name: newcomers
dimension: members
activities:
  - {id: new, type: incremental_query, filter: "country = 'FR'"}
  - {id: e, type: end}
transitions: [{from: new, to: e}]
"""

BY_TIME = BY_KEY.replace('filter: "country', 'since_column: joined_at, filter: "country')

OLD = datetime.datetime(2020, 1, 1)


@pytest.fixture
def growing(tmp_path: Path) -> Iterator[Path]:
    """A project on a members table that tests add rows to between runs."""
    con = duckdb.connect(str(tmp_path / "data.duckdb"))
    con.execute(
        "CREATE TABLE members (id BIGINT PRIMARY KEY, country VARCHAR NOT NULL, "
        "joined_at TIMESTAMP NOT NULL)"
    )
    con.close()
    add(tmp_path, range(1, 11), OLD)
    (tmp_path / "partita.yaml").write_text(PROJECT)
    yield tmp_path


def add(folder: Path, ids: range | list[int], joined_at: datetime.datetime) -> None:
    """Members with these ids (odd ids are French) join; the engine must be closed."""
    con = duckdb.connect(str(folder / "data.duckdb"))
    con.executemany(
        "INSERT INTO members VALUES (?, ?, ?)",
        [(i, "FR" if i % 2 else "BE", joined_at) for i in ids],
    )
    con.close()


def query(folder: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Hand-written SQL on the data file (the engine must be closed)."""
    con = duckdb.connect(str(folder / "data.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def history(folder: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(folder / ".partita" / "work.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT member_key, execution_id FROM partita_work.h_newcomers_new ORDER BY 2, 1"
        ).fetchall()
    finally:
        con.close()


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def run(folder: Path, text: str, live: bool) -> tuple[dict[str, Any], list[Any], list[str]]:
    """One execution on a fresh engine: its report, the keys returned, its log lines."""
    engine = Engine(load_project(folder))
    try:
        report = run_campaign(engine, text, live=live)
        fired = report["transitions"][0]["state"] == "fired"
        returned = keys(engine, report, "new") if fired else []
        lines = [line.message for line in engine.store.logs(execution_id=report["execution"])]
    finally:
        engine.close()
    return report, returned, lines


FRENCH_ABOVE = "SELECT id FROM members WHERE country = 'FR' AND id > ? ORDER BY id"


# -- key history ------------------------------------------------------------------------------


def test_each_live_run_returns_only_rows_earlier_runs_did_not(growing: Path) -> None:
    first, returned, lines = run(growing, BY_KEY, live=True)
    assert returned == [r[0] for r in query(growing, FRENCH_ABOVE, [0])] == [1, 3, 5, 7, 9]
    assert "incremental_query 'new': 5 new rows" in lines

    add(growing, range(11, 15), OLD)
    second, returned, lines = run(growing, BY_KEY, live=True)
    assert returned == [r[0] for r in query(growing, FRENCH_ABOVE, [10])] == [11, 13]
    assert f"incremental_query 'new': 2 new rows since execution {first['execution']}" in lines

    add(growing, range(15, 19), OLD)
    third, returned, _ = run(growing, BY_KEY, live=True)
    assert returned == [r[0] for r in query(growing, FRENCH_ABOVE, [14])] == [15, 17]
    assert history(growing) == [
        *[(k, first["execution"]) for k in (1, 3, 5, 7, 9)],
        *[(k, second["execution"]) for k in (11, 13)],
        *[(k, third["execution"]) for k in (15, 17)],
    ]


def test_a_test_run_shows_the_next_live_rows_without_consuming_them(growing: Path) -> None:
    run(growing, BY_KEY, live=True)
    add(growing, range(11, 13), OLD)
    run(growing, BY_KEY, live=True)
    add(growing, range(13, 17), OLD)
    expected = [r[0] for r in query(growing, FRENCH_ABOVE, [12])]
    assert expected == [13, 15]
    _, once, _ = run(growing, BY_KEY, live=False)
    _, twice, _ = run(growing, BY_KEY, live=False)
    _, live, _ = run(growing, BY_KEY, live=True)
    assert once == twice == live == expected
    assert [k for k, _ in history(growing)] == [1, 3, 5, 7, 9, 11, 13, 15]


def test_an_empty_result_ends_the_branch_and_says_so(growing: Path) -> None:
    first, _, _ = run(growing, BY_KEY, live=True)
    add(growing, [12, 14], OLD)  # Belgian: they do not match the filter
    report, returned, lines = run(growing, BY_KEY, live=True)
    assert returned == []
    assert report["status"] == "completed"
    assert [(t["from"], t["state"], t["count"]) for t in report["transitions"]] == [
        ("new", "dead", None)
    ]
    assert {t["activity"]: t["status"] for t in report["tasks"]} == {"new": "done", "e": "skipped"}
    assert f"incremental_query 'new': no new rows since execution {first['execution']}" in lines
    assert "output 'out' is empty: its branch ends here" in lines


def test_a_task_run_again_in_the_same_execution_records_its_keys_once(
    growing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the history was written, before the output was recorded: the retried
    task returns the same rows (its own history rows do not hide them) and records them once."""
    engine = Engine(load_project(growing))
    recording = engine.store.record_output
    crashes = iter([True])

    def crash_once(*args: Any, **kwargs: Any) -> Any:
        if next(crashes, False):
            raise RuntimeError("the worker died")
        return recording(*args, **kwargs)

    monkeypatch.setattr(engine.store, "record_output", crash_once)
    try:
        execution = engine.run(engine.start(parse_campaign(BY_KEY)).id)
        assert execution.status == ExecutionStatus.FAILED
        (failed,) = engine.store.tasks(execution.id)
        assert failed.status == TaskStatus.FAILED
        engine.retry(failed.id)
        assert engine.run(execution.id).status == ExecutionStatus.COMPLETED
        ref = engine.working_table(engine.store.execution(execution.id), "new")
        rows = engine.warehouse.rows(ref.output.table_name, ["id"]).column("id").to_pylist()
    finally:
        engine.close()
    assert rows == [1, 3, 5, 7, 9]
    assert history(growing) == [(k, execution.id) for k in (1, 3, 5, 7, 9)]


# -- since_column -----------------------------------------------------------------------------


def test_since_column_returns_rows_later_than_the_previous_live_start(growing: Path) -> None:
    first, returned, lines = run(growing, BY_TIME, live=True)
    assert returned == [1, 3, 5, 7, 9]  # first run: every matching row
    assert "incremental_query 'new': 5 new rows" in lines

    joined = utc_now()
    add(growing, [11, 12], joined)
    add(growing, [13], OLD)  # joined long ago: not new by time, whatever its key
    con = duckdb.connect(str(growing / "data.duckdb"))
    con.execute("UPDATE members SET joined_at = ? WHERE id = 3", [joined])  # seen, but changed
    con.close()
    engine = Engine(load_project(growing))
    start = engine.store.execution(first["execution"]).created_at
    engine.close()
    expected = query(
        growing,
        "SELECT id FROM members WHERE country = 'FR' AND joined_at > ? ORDER BY id",
        [start.astimezone(datetime.UTC).replace(tzinfo=None)],
    )
    second, returned, _ = run(growing, BY_TIME, live=True)
    assert returned == [r[0] for r in expected] == [3, 11]

    # a test run reads the same boundary (the last *live* start) and changes nothing
    engine = Engine(load_project(growing))
    live_start = engine.store.execution(second["execution"]).created_at
    engine.close()
    report, returned, lines = run(growing, BY_TIME, live=False)
    assert returned == []
    shown = live_start.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert (
        f"incremental_query 'new': no new rows with joined_at later than {shown} UTC "
        "(the start of the previous live execution)"
    ) in lines
    assert report["transitions"][0]["state"] == "dead"


def test_since_column_must_be_a_timestamp_column(growing: Path) -> None:
    engine = Engine(load_project(growing))
    try:
        for column, message in (
            ("country", "column 'country' of members is string; since_column needs a timestamp"),
            ("joined", "column 'joined' is not in dimension members: did you mean 'joined_at'?"),
        ):
            campaign = parse_campaign(BY_TIME.replace("joined_at", column))
            with pytest.raises(InvalidInput, match=message):
                engine.validate(campaign)
    finally:
        engine.close()


# -- on the shop (every engine) ---------------------------------------------------------------

SHOP = """
name: shop_new
activities:
  - id: new
    type: incremental_query
    filter: "loyalty_tier = 'gold' and exists purchases (amount > 200)"
  - {id: e, type: end}
transitions: [{from: new, to: e}]
"""


def test_filter_matches_sql_and_a_second_run_finds_nothing_new(engine: Engine, sql: SQL) -> None:
    expected = [
        r[0]
        for r in sql(
            "SELECT c.id FROM customers c WHERE c.loyalty_tier = 'gold' AND EXISTS "
            "(SELECT 1 FROM purchases p WHERE p.customer_id = c.id AND p.amount > 200) ORDER BY 1"
        )
    ]
    assert 0 < len(expected) < 4_000
    first = run_campaign(engine, SHOP, live=True)
    assert keys(engine, first, "new") == expected
    test = run_campaign(engine, SHOP)
    assert test["transitions"][0]["state"] == "dead"
    lines = [line.message for line in engine.store.logs(execution_id=test["execution"])]
    assert f"incremental_query 'new': no new rows since execution {first['execution']}" in lines
    history_table = engine.warehouse.working("h_shop_new_new")
    assert int(history_table.count().to_pyarrow().as_py()) == len(expected)
