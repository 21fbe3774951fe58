"""save_audience / read_audience against hand-written SQL on the shared shop (every engine)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from partita.engine import Engine
from partita.model.campaign import parse_campaign
from partita.model.problems import InvalidInput
from tests.support import counts, run_campaign, table_rows

SQL = Callable[[str], list[tuple[Any, ...]]]

SAVE = """
name: {name}
activities:
  - {{id: fr, type: build_audience, filter: "country = 'FR' and {extra}"}}
  - id: tiers
    type: split
    single_table: true
    subsets:
      - {{name: gold, filter: "loyalty_tier = 'gold'"}}
      - {{name: silver, filter: "loyalty_tier = 'silver'"}}
  - {{id: keep, type: save_audience, name: fr_tiers, columns: [segment]}}
  - {{id: e, type: end}}
transitions: [{{from: fr, to: tiers}}, {{from: tiers, to: keep}}, {{from: keep, to: e}}]
"""

READ = """
name: reader
activities:
  - {id: back, type: read_audience, name: fr_tiers}
  - {id: e, type: end}
transitions: [{from: back, to: e}]
"""

EXPECTED = """
SELECT id, CASE WHEN loyalty_tier = 'gold' THEN 'gold' ELSE 'silver' END AS segment
FROM customers
WHERE country = 'FR' AND loyalty_tier IN ('gold', 'silver') AND {extra}
ORDER BY id
"""


def save(engine: Engine, extra: str = "1 = 1", live: bool = True) -> dict[str, Any]:
    return run_campaign(engine, SAVE.format(name="saver", extra=extra), live=live)


def audience_tables(engine: Engine) -> list[str]:
    tables = engine.warehouse.con.list_tables(database=engine.warehouse.working_schema)
    return sorted(t for t in tables if t.startswith(("a_", "t_a_")))


def messages(engine: Engine, report: dict[str, Any]) -> list[str]:
    return [line.message for line in engine.store.logs(execution_id=report["execution"])]


def test_saved_live_then_read_by_another_campaign(engine: Engine, sql: SQL) -> None:
    saved = save(engine)
    expected = sql(EXPECTED.format(extra="1 = 1"))
    assert 0 < len(expected) < 4_000
    fr = sql("SELECT count(*) FROM customers WHERE country = 'FR'")[0][0]
    assert counts(saved) == {
        "fr -> tiers": fr,
        "tiers -> keep": len(expected),
        "keep -> e": len(expected),
    }
    read = run_campaign(engine, READ)
    assert read["status"] == "completed"
    rows = table_rows(engine, read, "back")
    assert [(r["id"], r["segment"]) for r in rows] == [tuple(r) for r in expected]
    # the output is a copy: the audience's own table is nobody's working table
    assert read["transitions"][0]["table"] == "w_reader_2_back_out"
    (record,) = engine.store.audiences()
    assert (record.name, record.table_name, record.dimension, record.columns) == (
        "fr_tiers",
        "a_fr_tiers",
        "customers",
        ["segment"],
    )
    assert (record.row_count, record.execution_id) == (len(expected), saved["execution"])
    assert engine.store.campaign_by_id(record.campaign_id).name == "saver"
    assert (
        f"audience 'fr_tiers' saved: {len(expected):,} rows of customers in table a_fr_tiers"
        in messages(engine, saved)
    )


def test_a_second_save_replaces_the_audience(engine: Engine, sql: SQL) -> None:
    save(engine)
    fewer = "birth_date > date '1990-01-01'"
    second = save(engine, extra=fewer)
    expected = sql(EXPECTED.format(extra=fewer))
    everyone = sql(EXPECTED.format(extra="1 = 1"))
    assert 0 < len(expected) < len(everyone)
    rows = table_rows(engine, run_campaign(engine, READ), "back")
    assert [(r["id"], r["segment"]) for r in rows] == [tuple(r) for r in expected]
    (record,) = engine.store.audiences()
    assert (record.row_count, record.execution_id) == (len(expected), second["execution"])
    assert audience_tables(engine) == ["a_fr_tiers"]  # no temporary table left behind


def test_test_mode_saves_nothing(engine: Engine, sql: SQL) -> None:
    report = save(engine, live=False)
    assert report["status"] == "completed"
    assert engine.store.audiences() == []
    assert audience_tables(engine) == []
    size = len(sql(EXPECTED.format(extra="1 = 1")))
    assert f"test mode: audience 'fr_tiers' not saved ({size:,} rows)" in messages(engine, report)
    # the population still flows on
    assert counts(report)["keep -> e"] == size


def test_test_mode_leaves_an_earlier_save_as_it_was(engine: Engine, sql: SQL) -> None:
    live = save(engine)
    save(engine, extra="birth_date > date '1990-01-01'", live=False)
    (record,) = engine.store.audiences()
    assert record.execution_id == live["execution"]
    rows = table_rows(engine, run_campaign(engine, READ), "back")
    assert len(rows) == len(sql(EXPECTED.format(extra="1 = 1")))


def test_audiences_command_lists_them_as_json(engine: Engine, project_dir: Path) -> None:
    saved = save(engine)
    result = subprocess.run(
        [sys.executable, "-m", "partita", "--project", str(project_dir), "audiences", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (listed,) = json.loads(result.stdout)
    (record,) = engine.store.audiences()
    assert listed == {
        "name": "fr_tiers",
        "dimension": "customers",
        "rows": record.row_count,
        "columns": ["segment"],
        "campaign": "saver",
        "execution": saved["execution"],
        "saved_at": record.saved_at.isoformat(timespec="seconds"),
        "table": "a_fr_tiers",
    }


def test_unknown_audience_names_the_closest_saved_one(engine: Engine) -> None:
    save(engine)
    report = run_campaign(engine, READ.replace("name: fr_tiers", "name: fr_tier"))
    assert report["status"] == "failed"
    (task,) = [t for t in report["tasks"] if t["activity"] == "back"]
    assert task["error"] == "no saved audience 'fr_tier': did you mean 'fr_tiers'?"


def test_unknown_audience_with_nothing_saved(engine: Engine) -> None:
    report = run_campaign(engine, READ)
    (task,) = [t for t in report["tasks"] if t["activity"] == "back"]
    assert task["error"] == "no saved audience 'fr_tiers': none is available"


def test_dimension_mismatch_is_an_error(engine: Engine) -> None:
    save(engine)
    report = run_campaign(
        engine, READ.replace("name: fr_tiers}", "name: fr_tiers, dimension: purchases}")
    )
    (task,) = [t for t in report["tasks"] if t["activity"] == "back"]
    assert task["error"] == (
        "audience 'fr_tiers' holds rows of customers, but this activity's 'dimension' is "
        "purchases: set dimension: customers"
    )


def test_retention_never_drops_an_audience(engine: Engine) -> None:
    kept = SAVE.format(name="saver", extra="1 = 1").replace(
        "name: saver\n", "name: saver\nretention: {executions: 1}\n"
    )
    run_campaign(engine, kept, live=True)
    run_campaign(engine, kept)
    run_campaign(engine, kept)
    assert engine.store.execution(1).tables_dropped
    assert audience_tables(engine) == ["a_fr_tiers"]
    assert len(table_rows(engine, run_campaign(engine, READ), "back")) > 0


def test_columns_must_be_carried(engine: Engine) -> None:
    text = SAVE.format(name="saver", extra="1 = 1")
    report = run_campaign(engine, text.replace("columns: [segment]", "columns: [segmnt]"))
    (task,) = [t for t in report["tasks"] if t["activity"] == "keep"]
    assert task["error"] == (
        "column 'segmnt' (setting 'columns') is not carried by the inbound working table: "
        "did you mean 'segment'?"
    )
    assert engine.store.audiences() == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("name: Gold", "audience name 'Gold' must be lower-case letters, digits and underscores"),
        ("name: x, columns: [email]", "column 'email' is a column of customers, not one"),
    ],
)
def test_bad_settings_are_validation_errors(engine: Engine, settings: str, message: str) -> None:
    text = f"""
name: bad
activities:
  - {{id: a, type: build_audience}}
  - {{id: s, type: save_audience, {settings}}}
transitions: [{{from: a, to: s}}]
"""
    with pytest.raises(InvalidInput, match=message):
        engine.validate(parse_campaign(text))
