"""The ``partita`` command, driven as a user drives it: a real process in a project folder.

Counts are checked against hand-written SQL on the same shop; messages are checked exactly.
Every call also checks that no colour code reaches a pipe (stdout and stderr are not TTYs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from partita.engine import Engine
from partita.examples.shop import write_project
from partita.model.campaign import parse_campaign
from partita.model.project import load_project
from partita.model.states import TaskStatus
from partita.store import Store

SQL = Callable[[str], list[tuple[Any, ...]]]
PARTITA = Path(sys.executable).parent / "partita"
#: docs/cli.md: 1 bad input or refused action, 2 usage error, then how a --wait execution ended.
EXIT_USAGE, EXIT_FAILED, EXIT_PAUSED, EXIT_STOPPED = 2, 3, 4, 5
#: Variables that would force colour on a pipe (or turn it off for another reason).
COLOUR_VARIABLES = {
    "FORCE_COLOR",
    "NO_COLOR",
    "CLICOLOR_FORCE",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
}


@pytest.fixture(scope="session")
def engine_name() -> str:
    """The CLI is tested on the DuckDB shop (the engines are covered by test_activities)."""
    return "duckdb"


@dataclass(frozen=True)
class Run:
    """What one ``partita`` process did."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def partita(cwd: Path, *args: object) -> Run:
    """Run ``partita ARGS`` in ``cwd`` with stdout and stderr on pipes."""
    env = {k: v for k, v in os.environ.items() if k not in COLOUR_VARIABLES}
    env["COLUMNS"] = "200"  # Rich tables wide enough not to truncate cells
    result = subprocess.run(
        [str(PARTITA), *map(str, args)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "\x1b[" not in result.stdout, result.stdout
    assert "\x1b[" not in result.stderr, result.stderr
    return Run(result.returncode, result.stdout, result.stderr)


def count(sql: SQL, query: str) -> int:
    return int(sql(f"SELECT count(*) FROM ({query}) AS q")[0][0])


def ids(sql: SQL, query: str) -> list[int]:
    return sorted(r[0] for r in sql(query))


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the Rich tables in ``text`` (cells stripped)."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


def number(text: str) -> int | None:
    return int(text.replace(",", "")) if text else None


# -- a shop project with one test execution, shared by the read-only tests ----------------------

SHOP_CAMPAIGN = """\
name: cli-shop
label: CLI shop campaign
activities:
  - {id: gold, type: build_audience, filter: "loyalty_tier = 'gold'"}
  - {id: fr, type: build_audience, filter: "country = 'FR'"}
  - {id: both, type: combine, mode: union}
  - id: sp
    type: split
    subsets:
      - {name: with_phone, filter: "phone is not null"}
    complement: true
  - id: size
    type: test
    conditions:
      - {name: big, when: "count >= 100000"}
    default: true
  - {id: e_big, type: end}
  - {id: e_small, type: end}
  - {id: e_rest, type: end}
transitions:
  - {from: gold, to: both}
  - {from: fr, to: both}
  - {from: both, to: sp}
  - {from: sp.with_phone, to: size}
  - {from: size.big, to: e_big}
  - {from: size.default, to: e_small}
  - {from: sp.complement, to: e_rest}
"""

GOLD = "SELECT id FROM customers WHERE loyalty_tier = 'gold'"
FR = "SELECT id FROM customers WHERE country = 'FR'"
UNION = "SELECT id FROM customers WHERE loyalty_tier = 'gold' OR country = 'FR'"
WITH_PHONE = (
    "SELECT id FROM customers WHERE (loyalty_tier = 'gold' OR country = 'FR') AND phone IS NOT NULL"
)
NO_PHONE = (
    "SELECT id FROM customers WHERE (loyalty_tier = 'gold' OR country = 'FR') AND phone IS NULL"
)


@dataclass(frozen=True)
class ShopRun:
    folder: Path
    run: Run

    @property
    def report(self) -> dict[str, Any]:
        return dict(self.run.json())

    @property
    def execution(self) -> int:
        return int(self.report["execution"])


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, shop_file: Path) -> ShopRun:
    """A project on the shared shop whose campaign was test-run once with ``--wait --json``."""
    folder = tmp_path_factory.mktemp("cli_shop")
    write_project(folder, database=str(shop_file))
    (folder / "campaigns").mkdir()
    (folder / "campaigns" / "shop.yaml").write_text(SHOP_CAMPAIGN, encoding="utf-8")
    return ShopRun(folder, partita(folder, "test", "campaigns/shop.yaml", "--wait", "--json"))


def test_test_wait_json_reports_every_transition_and_task(shop: ShopRun, sql: SQL) -> None:
    assert shop.run.code == 0, shop.run.err
    report = shop.report
    assert {k: report[k] for k in ("campaign", "mode", "status", "version")} == {
        "campaign": "cli-shop",
        "mode": "test",
        "status": "completed",
        "version": 1,
    }
    assert isinstance(report["execution"], int)
    gold, fr, union = count(sql, GOLD), count(sql, FR), count(sql, UNION)
    phone, no_phone = count(sql, WITH_PHONE), count(sql, NO_PHONE)
    assert 0 < phone < union and 0 < no_phone < union and gold + fr > union
    assert [(t["from"], t["to"], t["state"], t["count"]) for t in report["transitions"]] == [
        ("gold", "both", "fired", gold),
        ("fr", "both", "fired", fr),
        ("both", "sp", "fired", union),
        ("sp.with_phone", "size", "fired", phone),
        ("size.big", "e_big", "dead", None),
        ("size.default", "e_small", "fired", phone),
        ("sp.complement", "e_rest", "fired", no_phone),
    ]
    tasks = {t["activity"]: t for t in report["tasks"]}
    assert len(tasks) == len(report["tasks"]) == 8
    assert {a: (t["status"], t["input_count"], t["output_counts"]) for a, t in tasks.items()} == {
        "gold": ("done", None, {"out": gold}),
        "fr": ("done", None, {"out": fr}),
        "both": ("done", gold + fr, {"out": union}),
        "sp": ("done", union, {"with_phone": phone, "complement": no_phone}),
        "size": ("done", phone, {"default": phone}),
        "e_big": ("skipped", None, {}),
        "e_small": ("done", phone, {}),
        "e_rest": ("done", no_phone, {}),
    }
    for task in report["tasks"]:
        assert task["start"] is not None and task["end"] is not None
        assert task["start"] <= task["end"]  # ISO timestamps, same zone


def test_status_of_an_execution_and_of_a_campaign_name(shop: ShopRun) -> None:
    by_id = partita(shop.folder, "status", shop.execution, "--json")
    by_name = partita(shop.folder, "status", "cli-shop", "--json")
    overview = partita(shop.folder, "status")
    assert (by_id.code, by_name.code, overview.code) == (0, 0, 0)
    assert by_id.json() == shop.report
    assert by_name.json() == shop.report  # the newest execution of the campaign
    rows = table_rows(overview.out)
    assert ["cli-shop", "CLI shop campaign", "draft", "1", "", str(shop.execution)] == rows[0][:6]


def test_tasks_and_logs(shop: ShopRun) -> None:
    n = shop.execution
    tasks_json = partita(shop.folder, "tasks", n, "--json")
    tasks_text = partita(shop.folder, "tasks", n)
    logs = partita(shop.folder, "logs", n)
    debug = partita(shop.folder, "logs", n, "--level", "debug")
    assert {tasks_json.code, tasks_text.code, logs.code, debug.code} == {0}
    assert tasks_json.json() == shop.report["tasks"]
    shown = {row[1]: row[3] for row in table_rows(tasks_text.out)}
    assert shown == {t["activity"]: t["status"] for t in shop.report["tasks"]}
    sp = next(t for t in shop.report["tasks"] if t["activity"] == "sp")
    assert f"[sp] task {sp['id']} started: split 'sp' on " in logs.out
    assert f"test execution {n} of version 1 started" in logs.out
    assert logs.out.rstrip().endswith(f"execution {n} completed")
    assert "debug" not in logs.out and "SELECT" not in logs.out
    # debug adds the SQL of every working table
    assert f"creating working table w_cli_shop_{n}_gold_out" in debug.out
    assert "sql: SELECT" in debug.out
    assert '"t0"."loyalty_tier" = \'gold\'' in debug.out
    assert debug.out.count("creating working table") == 5  # gold, fr, both, sp (2 outputs)


def test_inspect_csv_limit_schema_and_unknown_outputs(shop: ShopRun, sql: SQL) -> None:
    n = shop.execution
    expected = ids(sql, WITH_PHONE)
    every_row = partita(shop.folder, "inspect", n, "sp.with_phone", "--csv")
    assert every_row.code == 0, every_row.err
    assert every_row.out == "id\n" + "".join(f"{i}\n" for i in expected)

    first = partita(shop.folder, "inspect", n, "sp.with_phone", "--csv", "--limit", "5")
    assert first.out == "id\n" + "".join(f"{i}\n" for i in expected[:5])
    shown = partita(shop.folder, "inspect", n, "sp.with_phone", "--limit", "5")
    assert shown.code == 0
    name = f"w_cli_shop_{n}_sp_with_phone"
    assert f"sp.with_phone · {name} · 5 of {len(expected):,} rows" in shown.out
    assert table_rows(shown.out) == [[str(i)] for i in expected[:5]]

    schema = partita(shop.folder, "inspect", n, "sp.complement", "--schema", "--json")
    assert schema.code == 0
    assert schema.json() == [{"name": "id", "type": "int64", "kind": "integer"}]

    unknown_activity = partita(shop.folder, "inspect", n, "spp.with_phone")
    assert (unknown_activity.code, unknown_activity.out) == (1, "")
    assert unknown_activity.err == (
        "error: campaign 'cli-shop' has no activity 'spp': did you mean 'sp'?\n"
    )
    unknown_output = partita(shop.folder, "inspect", n, "sp.with_phon", "--csv")
    assert (unknown_output.code, unknown_output.out) == (1, "")
    assert unknown_output.err == (
        "error: activity 'sp' has no output 'with_phon': did you mean 'with_phone'?\n"
    )
    dead = partita(shop.folder, "inspect", n, "size.big")
    assert dead.code == 1
    assert dead.err == (
        f"error: 'size.big' produced no working table in execution {n} "
        "(the activity has not run, or the output did not fire)\n"
    )


def test_project_option_from_another_folder(shop: ShopRun, tmp_path: Path) -> None:
    status = partita(tmp_path, "--project", shop.folder, "status", "cli-shop", "--json")
    assert status.code == 0, status.err
    assert status.json() == shop.report
    valid = partita(
        tmp_path, "--project", shop.folder, "validate", shop.folder / "campaigns" / "shop.yaml"
    )
    assert (valid.code, valid.out) == (
        0,
        "campaign cli-shop is valid: 8 activities, 7 transitions\n",
    )
    lost = partita(tmp_path, "status", "cli-shop")
    assert (lost.code, lost.out) == (1, "")
    assert lost.err == (
        "error: project has 1 problem:\n"
        f"  - no partita.yaml in {tmp_path.resolve()} (run 'partita init' or pass --project DIR)\n"
    )


def test_schema_prints_the_json_schema_of_campaign_files(tmp_path: Path) -> None:
    result = partita(tmp_path, "schema")  # needs no project
    assert result.code == 0, result.err
    schema = result.json()
    assert schema["title"] == "Campaign" and schema["type"] == "object"
    assert {"name", "activities", "transitions", "variables"} <= set(schema["properties"])
    assert schema["required"] == ["name"]
    items = schema["properties"]["activities"]["items"]
    assert items["discriminator"]["propertyName"] == "type"
    mapping = items["discriminator"]["mapping"]
    assert {
        "build_audience",
        "combine",
        "deduplication",
        "split",
        "fork",
        "and_join",
        "test",
        "end",
    } <= set(mapping)
    for kind, ref in mapping.items():
        definition = schema["$defs"][ref.rsplit("/", 1)[1]]
        assert definition["properties"]["type"].get("const", kind) == kind
    assert "filter" in schema["$defs"]["BuildAudience"]["properties"]
    assert "mode" in schema["$defs"]["Combine"]["required"]


# -- validate ------------------------------------------------------------------------------------


def test_validate_a_valid_file(shop: ShopRun) -> None:
    text = partita(shop.folder, "validate", "campaigns/shop.yaml")
    assert (text.code, text.err) == (0, "")
    assert text.out == "campaign cli-shop is valid: 8 activities, 7 transitions\n"
    as_json = partita(shop.folder, "validate", "campaigns/shop.yaml", "--json")
    assert as_json.code == 0
    report = as_json.json()
    assert {k: report[k] for k in ("valid", "campaign", "activities", "transitions")} == {
        "valid": True,
        "campaign": "cli-shop",
        "activities": 8,
        "transitions": 7,
    }
    order = report["order"]
    assert sorted(order) == sorted(
        ["gold", "fr", "both", "sp", "size", "e_big", "e_small", "e_rest"]
    )
    assert order.index("both") > max(order.index("gold"), order.index("fr"))
    assert order.index("sp") > order.index("both") and order.index("e_small") > order.index("size")


GRAPH_PROBLEMS = """\
name: graph-problems
activities:
  - {id: gold, type: build_audience, filter: "loyalty_teir = 'gold'"}
  - {id: buys, type: build_audience, dimension: purchases, filter: "amount > 100"}
  - {id: both, type: combine, mode: union}
  - {id: dd, type: deduplication, keys: [email]}
  - {id: done, type: end}
transitions:
  - {from: gold, to: both}
  - {from: buys, to: both}
  - {from: both, to: done}
  - {from: dd, to: dnoe}
"""

GRAPH_JSON_PROBLEMS = [
    {
        "message": "transition 'dd -> dnoe' leads to unknown activity 'dnoe': did you mean 'done'?",
        "field": "transitions[3].to",
        "file": "campaigns/graph.yaml",
        "line": 12,
        "column": 16,
    },
    {
        "message": "deduplication takes exactly 1 inbound transition, it has 0",
        "activity": "dd",
        "field": "transitions",
        "file": "campaigns/graph.yaml",
        "line": 6,
        "column": 5,
    },
    {
        "message": "combine needs inputs of one dimension, got 'gold' (customers), 'buys' (purchases)",
        "activity": "both",
        "field": "transitions",
        "file": "campaigns/graph.yaml",
        "line": 5,
        "column": 5,
        "hint": "add a change_dimension before one of them",
    },
    {
        "message": "unknown column 'loyalty_teir' in dimension 'customers': did you mean "
        "'loyalty_tier'? (at column 1 of the filter)",
        "activity": "gold",
        "field": "filter",
        "file": "campaigns/graph.yaml",
        "line": 3,
        "column": 38,
        "hint": "loyalty_teir = 'gold'\n^^^^^^^^^^^^",
    },
]


@pytest.fixture(scope="module")
def graph_problems(shop: ShopRun) -> tuple[Run, Run]:
    """``validate`` of a file with four problems, as text and as JSON."""
    (shop.folder / "campaigns" / "graph.yaml").write_text(GRAPH_PROBLEMS, encoding="utf-8")
    return (
        partita(shop.folder, "validate", "campaigns/graph.yaml"),
        partita(shop.folder, "validate", "campaigns/graph.yaml", "--json"),
    )


def test_validate_lists_every_problem_naming_activity_and_field(
    graph_problems: tuple[Run, Run],
) -> None:
    text, as_json = graph_problems
    assert (text.code, text.out) == (1, "")
    lines = text.err.splitlines()
    assert lines[0] == "error: campaign 'graph-problems' has 4 problems:"
    assert lines[2:] == [
        "  - campaigns/graph.yaml:6:5: activity 'dd', field 'transitions': deduplication takes "
        "exactly 1 inbound transition, it has 0",
        "  - campaigns/graph.yaml:5:5: activity 'both', field 'transitions': combine needs inputs "
        "of one dimension, got 'gold' (customers), 'buys' (purchases) (add a change_dimension "
        "before one of them)",
        "  - campaigns/graph.yaml:3:38: activity 'gold', field 'filter': unknown column "
        "'loyalty_teir' in dimension "
        "'customers': did you mean 'loyalty_tier'? (at column 1 of the filter)",
        "      loyalty_teir = 'gold'",
        "      ^^^^^^^^^^^^",
    ]
    assert (
        "transition 'dd -> dnoe' leads to unknown activity 'dnoe': did you mean 'done'?" in lines[1]
    )
    assert as_json.code == 1
    report = as_json.json()
    assert report["valid"] is False
    assert report["problems"] == GRAPH_JSON_PROBLEMS
    assert report["message"].startswith("campaign 'graph-problems' has 4 problems:\n")


def test_problem_fields_with_brackets_print_as_written(graph_problems: tuple[Run, Run]) -> None:
    text, _ = graph_problems
    assert text.err.splitlines()[1] == (
        "  - campaigns/graph.yaml:12:16: field 'transitions[3].to': transition 'dd -> dnoe' leads to unknown activity "
        "'dnoe': did you mean 'done'?"
    )


def test_every_problem_of_a_file_names_the_file_and_line(graph_problems: tuple[Run, Run]) -> None:
    _, as_json = graph_problems
    places = [(p.get("file"), p.get("line")) for p in as_json.json()["problems"]]
    assert places == [
        ("campaigns/graph.yaml", 12),
        ("campaigns/graph.yaml", 6),
        ("campaigns/graph.yaml", 5),
        ("campaigns/graph.yaml", 3),
    ]


BROKEN_FILES = {
    "yaml": (
        "name: broken\nactivities:\n  - {id: gold, type: build_audience\n  - {id: e, type: end}\n",
        [
            "error: campaigns/yaml.yaml has 1 problem:",
            "  - campaigns/yaml.yaml:4:5: YAML syntax error: expected ',' or '}', but got '{'",
        ],
    ),
    "settings": (
        "name: settings\n"
        "activities:\n"
        "  - {id: gold, type: build_audience, filtr: \"loyalty_tier = 'gold'\"}\n"
        "  - {id: both, type: combine}\n"
        "  - {id: x, type: deduplicate}\n",
        [
            "error: campaigns/settings.yaml has 3 problems:",
            "  - campaigns/settings.yaml:3:38: activity 'gold', field 'filtr': unknown setting "
            "'filtr': did you mean 'filter'?",
            "  - campaigns/settings.yaml:4:5: activity 'both', field 'mode': missing required "
            "setting 'mode'",
            "  - campaigns/settings.yaml:5:13: activity 'x', field 'type': unknown activity type "
            "'deduplicate': did you mean 'deduplication'?",
        ],
    ),
    "cycle": (
        "name: cycle\n"
        "activities:\n"
        "  - {id: gold, type: build_audience}\n"
        "  - {id: both, type: combine, mode: union}\n"
        "  - {id: d1, type: deduplication, keys: [email]}\n"
        "  - {id: d2, type: deduplication, keys: [phone]}\n"
        "transitions:\n"
        "  - {from: gold, to: both}\n"
        "  - {from: d2, to: both}\n"
        "  - {from: both, to: d1}\n"
        "  - {from: d1, to: d2}\n",
        [
            "error: campaign 'cycle' has 1 problem:",
            "  - campaigns/cycle.yaml:4:5: activity 'both': the diagram has a cycle: both -> d1 -> d2 -> both (remove one "
            "of these transitions)",
        ],
    ),
}


@pytest.mark.parametrize("kind", list(BROKEN_FILES))
def test_validate_broken_files(shop: ShopRun, kind: str) -> None:
    text, expected = BROKEN_FILES[kind]
    (shop.folder / "campaigns" / f"{kind}.yaml").write_text(text, encoding="utf-8")
    result = partita(shop.folder, "validate", f"campaigns/{kind}.yaml")
    assert (result.code, result.out) == (1, "")
    assert result.err.splitlines() == expected


def test_a_usage_error_has_its_own_exit_code(shop: ShopRun) -> None:
    """A mistyped option must not look like a failed execution to a CI script."""
    result = partita(shop.folder, "test", "campaigns/shop.yaml", "--wiat")
    assert "No such option: --wiat" in result.err
    assert (result.code, result.out) == (EXIT_USAGE, "")


# -- variables -----------------------------------------------------------------------------------

VARS_CAMPAIGN = """\
name: vars
variables:
  country: {type: string, default: FR}
  min_purchases: {type: integer, default: 0}
activities:
  - {id: who, type: build_audience, filter: "country = $country and count(purchases) >= $min_purchases"}
  - {id: e, type: end}
transitions: [{from: who, to: e}]
"""


def test_variables_change_the_result_and_bad_values_are_refused(shop: ShopRun, sql: SQL) -> None:
    (shop.folder / "campaigns" / "vars.yaml").write_text(VARS_CAMPAIGN, encoding="utf-8")
    default = partita(shop.folder, "test", "campaigns/vars.yaml", "--json")
    options = ["--var", "country=BE", "--var", "min_purchases=5", "--wait", "--json"]
    given = partita(shop.folder, "test", "campaigns/vars.yaml", *options)
    assert (default.code, given.code) == (0, 0)
    assert default.json()["variables"] == {"country": "FR", "min_purchases": 0}
    assert given.json()["variables"] == {"country": "BE", "min_purchases": 5}
    be_buyers = count(
        sql,
        "SELECT c.id FROM customers c JOIN purchases p ON p.customer_id = c.id "
        "WHERE c.country = 'BE' GROUP BY c.id HAVING count(*) >= 5",
    )
    assert be_buyers > 0
    assert [t["count"] for t in default.json()["transitions"]] == [count(sql, FR)]
    assert [t["count"] for t in given.json()["transitions"]] == [be_buyers]

    wrong_type = partita(shop.folder, "test", "campaigns/vars.yaml", "--var", "min_purchases=many")
    assert (wrong_type.code, wrong_type.out) == (1, "")
    assert wrong_type.err.splitlines() == [
        "error: variables has 1 problem:",
        "  - field 'variables.min_purchases': variable 'min_purchases' is an integer; 'many' is not",
    ]
    unknown = partita(shop.folder, "test", "campaigns/vars.yaml", "--var", "cuntry=BE", "--json")
    assert unknown.code == 1
    assert unknown.json()["problems"] == [
        {
            "message": "campaign 'vars' declares no variable 'cuntry': did you mean 'country'?",
            "field": "variables",
        }
    ]
    malformed = partita(shop.folder, "test", "campaigns/vars.yaml", "--var", "country")
    assert (malformed.code, malformed.err) == (
        1,
        "error: --var expects name=value, got 'country'\n",
    )


# -- failures at run time, retry, resume and the lifecycle refusals ------------------------------

FRAGILE_PROJECT = """\
warehouse: "duckdb:///data.duckdb"
dimensions:
  customers: {table: customers, key: id}
  fragile: {table: fragile, key: id}
"""

FRAGILE_CAMPAIGN = """\
name: fragile
activities:
  - {id: fine, type: build_audience, dimension: customers}
  - {id: breaks, type: build_audience, dimension: fragile, filter: "country = 'FR'"}
  - {id: e1, type: end}
  - {id: d, type: deduplication, keys: [country]}
  - {id: e2, type: end}
transitions: [{from: fine, to: e1}, {from: breaks, to: d}, {from: d, to: e2}]
"""


def set_broken(folder: Path, broken: bool) -> None:
    con = duckdb.connect(str(folder / "data.duckdb"))
    con.execute("UPDATE flags SET broken = ?", [broken])
    con.close()


@pytest.fixture
def fragile(tmp_path: Path) -> Path:
    """A project whose 'fragile' view fails to read while flags.broken is true."""
    con = duckdb.connect(str(tmp_path / "data.duckdb"))
    con.execute(
        "CREATE TABLE customers AS SELECT range AS id, CASE WHEN range % 3 = 0 "
        "THEN 'FR' ELSE 'BE' END AS country FROM range(1, 101)"
    )
    con.execute("CREATE TABLE flags AS SELECT true AS broken")
    con.execute(
        "CREATE VIEW fragile AS SELECT id, CASE WHEN (SELECT broken FROM flags) "
        "THEN error('the fragile table is broken') ELSE country END AS country FROM customers"
    )
    con.close()
    (tmp_path / "partita.yaml").write_text(FRAGILE_PROJECT, encoding="utf-8")
    (tmp_path / "fragile.yaml").write_text(FRAGILE_CAMPAIGN, encoding="utf-8")
    return tmp_path


def test_a_run_time_failure_exits_3_and_retry_after_the_fix_completes(fragile: Path) -> None:
    failed = partita(fragile, "test", "fragile.yaml", "--wait")
    assert failed.code == EXIT_FAILED, failed.err
    assert "campaign fragile · execution 1 (test, version 1) · failed" in failed.out
    assert "task 2 (breaks) failed: " in failed.out and "the fragile table is broken" in failed.out
    assert failed.out.rstrip().endswith("see partita logs 1 for the error")

    logs = partita(fragile, "logs", "1")
    error_lines = [line for line in logs.out.splitlines() if " error " in line]
    assert len(error_lines) == 2
    assert "[breaks] build_audience 'breaks' failed: " in error_lines[0]
    assert "the fragile table is broken" in error_lines[0]
    assert error_lines[1].endswith(
        "[breaks] execution 1 failed: error policy 'suspend': fix the cause, then "
        "'partita retry 2' or 'partita resume 1'"
    )

    refused = partita(fragile, "pause", "1")
    assert (refused.code, refused.err) == (
        1,
        "error: cannot pause execution 1 (test): it is failed; pause applies when it is running\n",
    )
    not_failed = partita(fragile, "retry", "1")
    assert (not_failed.code, not_failed.err) == (
        1,
        "error: cannot retry task 1: it is done; retry applies to a failed task\n",
    )

    set_broken(fragile, False)
    retried = partita(fragile, "retry", "2", "--json")
    assert retried.code == 0, retried.err
    report = retried.json()
    assert report["status"] == "completed"
    assert [(t["from"], t["count"]) for t in report["transitions"]] == [
        ("fine", 100),
        ("breaks", 33),
        ("d", 1),
    ]
    attempts = [(t["activity"], t["attempt"], t["status"]) for t in report["tasks"]]
    assert ("breaks", 1, "failed") in attempts and ("breaks", 2, "done") in attempts
    assert [a for a in attempts if a[0] == "fine"] == [("fine", 1, "done")]  # not redone

    again = partita(fragile, "retry", "2")
    assert again.code == 1
    assert again.err.startswith(
        "error: cannot retry task 2: activity 'breaks' was already run again as task "
    )
    completed = partita(fragile, "pause", "1")
    assert (completed.code, completed.err) == (
        1,
        "error: cannot pause execution 1 (test): it is completed; pause applies when it is "
        "running\n",
    )


def test_a_failed_live_campaign_back_to_draft_archive_and_duplicate(fragile: Path) -> None:
    live = partita(fragile, "start", "fragile.yaml", "--wait", "--json")
    assert live.code == EXIT_FAILED
    assert (live.json()["mode"], live.json()["status"]) == ("live", "failed")
    listed = partita(fragile, "campaigns", "--json")
    assert [
        (c["name"], c["status"], c["published_version"], c["last_execution"]) for c in listed.json()
    ] == [("fragile", "failed", 1, 1)]
    blocked = partita(fragile, "test", "fragile.yaml")
    assert (blocked.code, blocked.err) == (
        1,
        "error: campaign 'fragile' has failed live execution 1: retry, resume, restart or stop "
        "it first\n",
    )
    back = partita(fragile, "back-to-draft", "fragile")
    assert (back.code, back.out) == (0, "campaign fragile is stopped\n")
    archived = partita(fragile, "archive", "fragile", "--json")
    assert (archived.code, archived.json()) == (0, {"campaign": "fragile", "status": "archived"})
    assert partita(fragile, "campaigns", "--json").json() == []
    restart = partita(fragile, "restart", "1")
    assert (restart.code, restart.err) == (
        1,
        "error: cannot restart campaign 'fragile': it is archived; restart applies when it is "
        "completed, draft, failed, paused, running, scheduled, stopped\n",
    )
    copy = partita(fragile, "duplicate", "fragile", "fragile-copy", "-o", "copy.yaml")
    assert (copy.code, copy.out) == (0, "campaign fragile-copy is draft\n")
    copied = parse_campaign((fragile / "copy.yaml").read_text(encoding="utf-8"))
    assert copied.name == "fragile-copy"
    assert copied.activities == parse_campaign(FRAGILE_CAMPAIGN).activities
    listed = partita(fragile, "campaigns", "--all", "--json").json()
    assert [(c["name"], c["status"], c["last_execution"]) for c in listed] == [
        ("fragile", "archived", 1),
        ("fragile-copy", "draft", None),
    ]


SIMPLE = """\
name: simple
activities:
  - {id: gold, type: build_audience, filter: "loyalty_tier = 'gold'"}
  - {id: d, type: deduplication, keys: [lower(email)]}
  - {id: e, type: end}
transitions: [{from: gold, to: d}, {from: d, to: e}]
"""


def launch_without_running(folder: Path) -> int:
    """A running test execution whose tasks have not started (as a scheduler leaves it)."""
    engine = Engine(load_project(folder))
    try:
        return engine.test(parse_campaign(SIMPLE)).id
    finally:
        engine.close()


def test_pause_resume_stop_and_restart_a_running_execution(project_dir: Path, sql: SQL) -> None:
    gold = count(sql, GOLD)
    deduplicated = sql(
        "SELECT count(DISTINCT lower(email)) + max(CASE WHEN email IS NULL THEN 1 ELSE 0 END) "
        f"FROM customers WHERE id IN ({GOLD})"
    )[0][0]
    first = launch_without_running(project_dir)
    paused = partita(project_dir, "pause", first)
    assert paused.code == 0, paused.err
    assert paused.out.startswith(f"execution {first} paused\n")
    assert f"campaign simple · execution {first} (test, version 1) · paused" in paused.out
    twice = partita(project_dir, "pause", first)
    assert (twice.code, twice.err) == (
        1,
        f"error: cannot pause execution {first} (test): it is paused; pause applies when it is "
        "running\n",
    )
    resumed = partita(project_dir, "resume", first, "--json")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["status"] == "completed"
    assert [t["count"] for t in resumed.json()["transitions"]] == [gold, deduplicated]

    second = launch_without_running(project_dir)
    stopped = partita(project_dir, "stop", second, "--json")
    assert stopped.code == 0, stopped.err
    assert stopped.json()["status"] == "stopped"
    assert [(t["activity"], t["status"]) for t in stopped.json()["tasks"]] == [
        ("gold", "cancelled")
    ]
    no_resume = partita(project_dir, "resume", second)
    assert (no_resume.code, no_resume.err) == (
        1,
        f"error: cannot resume execution {second} (test): it is stopped; resume applies when it "
        "is failed, paused\n",
    )
    restarted = partita(project_dir, "restart", second, "--json")
    assert restarted.code == 0, restarted.err
    report = restarted.json()
    assert report["execution"] == second + 1 and report["status"] == "completed"
    assert [t["count"] for t in report["transitions"]] == [gold, deduplicated]
    done = partita(project_dir, "stop", second + 1)
    assert (done.code, done.err) == (
        1,
        f"error: cannot stop execution {second + 1} (test): it is completed; stop applies when "
        "it is failed, paused, running, scheduled\n",
    )


# -- --wait exit codes when the execution is paused or stopped while it runs ---------------------

SLOW_PROJECT = """\
warehouse: "duckdb:///data.duckdb"
dimensions:
  slow: {table: slow, key: id}
"""

SLOW_CAMPAIGN = """\
name: slow
activities:
  - {id: s1, type: build_audience, dimension: slow}
  - {id: s2, type: build_audience, dimension: slow}
  - {id: e, type: end}
transitions: [{from: s1, to: s2}, {from: s2, to: e}]
"""


def make_slow_project(folder: Path, seconds: float = 1.5) -> Path:
    """A project whose 'slow' view takes about ``seconds`` to read (calibrated here)."""
    con = duckdb.connect(str(folder / "data.duckdb"))
    con.execute("CREATE TABLE customers AS SELECT range AS id FROM range(1, 101)")
    sample = 20_000_000
    started = time.perf_counter()
    con.execute(f"SELECT sum(hash(range)) FROM range({sample})").fetchall()
    size = int(sample * seconds / max(time.perf_counter() - started, 1e-3))
    con.execute(
        "CREATE VIEW slow AS SELECT id FROM customers "
        f"WHERE (SELECT sum(hash(range)) FROM range({size})) IS NOT NULL"
    )
    con.close()
    (folder / "partita.yaml").write_text(SLOW_PROJECT, encoding="utf-8")
    (folder / "slow.yaml").write_text(SLOW_CAMPAIGN, encoding="utf-8")
    project = load_project(folder)
    Store(project.state, root=project.root).close()  # the state store exists before any process
    return folder


def run_and_act_while(folder: Path, args: list[str], activity: str, act: str) -> Run:
    """Run ``partita ARGS``; while ``activity`` runs, ``act`` ('pause' or 'stop') execution 1."""
    env = {k: v for k, v in os.environ.items() if k not in COLOUR_VARIABLES}
    process = subprocess.Popen(
        [str(PARTITA), *args],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    engine = Engine(load_project(folder))  # opens the state store only
    try:
        deadline = time.monotonic() + 60
        while not any(
            t.activity_id == activity and t.status == TaskStatus.RUNNING
            for t in engine.store.tasks(1)
        ):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.02)
        getattr(engine, act)(1)
    finally:
        engine.close()
        out, err = process.communicate(timeout=120)
    return Run(process.returncode, out, err)


def test_wait_exits_4_when_paused_and_resume_finishes(tmp_path: Path) -> None:
    folder = make_slow_project(tmp_path)
    paused = run_and_act_while(folder, ["test", "slow.yaml", "--wait", "--json"], "s1", "pause")
    assert paused.code == EXIT_PAUSED, paused.err
    report = json.loads(paused.out)
    assert report["status"] == "paused"
    assert [(t["activity"], t["status"]) for t in report["tasks"]] == [
        ("s1", "done"),  # a running task finishes first
        ("s2", "pending"),
    ]
    resumed = partita(folder, "resume", "1", "--json")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["status"] == "completed"
    assert [(t["activity"], t["attempt"], t["status"]) for t in resumed.json()["tasks"]] == [
        ("s1", 1, "done"),
        ("s2", 1, "done"),
        ("e", 1, "done"),
    ]
    assert [t["count"] for t in resumed.json()["transitions"]] == [100, 100]


@dataclass(frozen=True)
class Stopped:
    run: Run
    tasks: list[tuple[str, str]]
    execution_status: str


@pytest.fixture(scope="module")
def stopped_while_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stopped]:
    """``partita test --wait`` of the slow campaign, stopped (from elsewhere) while s1 runs."""
    folder = make_slow_project(tmp_path_factory.mktemp("cli_slow_stop"))
    run = run_and_act_while(folder, ["test", "slow.yaml", "--wait", "--json"], "s1", "stop")
    engine = Engine(load_project(folder))
    try:
        tasks = [(t.activity_id, t.status.value) for t in engine.store.tasks(1)]
        status = engine.store.execution(1).status.value
    finally:
        engine.close()
    yield Stopped(run, tasks, status)


def test_wait_exits_5_when_stopped(stopped_while_running: Stopped) -> None:
    run = stopped_while_running.run
    assert run.code == EXIT_STOPPED, run.err
    assert json.loads(run.out)["status"] == "stopped"
    assert stopped_while_running.execution_status == "stopped"


def test_stopping_while_a_task_runs_leaves_nothing_pending(stopped_while_running: Stopped) -> None:
    active = [
        (activity, status)
        for activity, status in stopped_while_running.tasks
        if status in ("pending", "running", "waiting")
    ]
    assert active == []
    assert stopped_while_running.tasks == [("s1", "cancelled")]


# -- init and demo -------------------------------------------------------------------------------


def test_init_creates_a_project_whose_example_validates_and_tests(tmp_path: Path) -> None:
    created = partita(tmp_path, "init", "shop", "--customers", "500")
    assert created.code == 0, created.err
    folder = tmp_path / "shop"
    assert created.out.startswith("project ready in shop:\n")
    assert created.out.rstrip().endswith(
        "next: cd shop && partita validate campaigns/spring_promo.yaml"
    )
    assert {p.name for p in folder.iterdir()} >= {"partita.yaml", "campaigns", "shop.duckdb"}
    assert "customers: 500 rows" in created.err
    again = partita(tmp_path, "init", "shop", "--customers", "500")
    assert (again.code, again.err) == (
        1,
        "error: shop/partita.yaml exists already (use --force to overwrite)\n",
    )
    valid = partita(folder, "validate", "campaigns/spring_promo.yaml")
    assert (valid.code, valid.out) == (
        0,
        "campaign spring-promo is valid: 12 activities, 11 transitions\n",
    )
    tested = partita(folder, "test", "campaigns/spring_promo.yaml", "--wait", "--json")
    assert tested.code == 0, tested.err
    report = tested.json()
    assert report["status"] == "completed" and len(report["transitions"]) == 11
    con = duckdb.connect(str(folder / "shop.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM customers").fetchone() == (500,)
        loyal = con.execute(
            "SELECT count(*) FROM customers WHERE loyalty_tier IN ('gold', 'platinum')"
        ).fetchone()
    finally:
        con.close()
    assert loyal is not None
    assert report["transitions"][0]["count"] == loyal[0]


DEMO_TRANSITIONS = [
    ("loyal", "audience"),
    ("recent_buyers", "audience"),
    ("audience", "reachable"),
    ("opted_out", "reachable"),
    ("reachable", "one_per_email"),
    ("one_per_email", "ab"),
    ("ab.variant_a", "big_enough"),
    ("big_enough.large", "spring_email"),
    ("big_enough.default", "too_small"),
    ("ab.with_phone", "spring_sms"),
    ("ab.complement", "the_rest"),
]

LOYAL = "SELECT id FROM customers WHERE loyalty_tier IN ('gold', 'platinum')"
RECENT = (
    "SELECT customer_id AS id FROM purchases WHERE purchased_at > current_date - INTERVAL 90 DAY "
    "GROUP BY customer_id HAVING sum(amount) > 100"
)
OPTED_OUT = "SELECT id FROM customers WHERE email_optin = false OR email IS NULL"
AUDIENCE = f"({LOYAL}) UNION ({RECENT})"
REACHABLE = f"SELECT id FROM ({AUDIENCE}) AS a EXCEPT ({OPTED_OUT})"


def test_demo_prints_every_transition_and_the_next_commands(tmp_path: Path) -> None:
    demo = partita(tmp_path, "demo", "d", "--customers", "2000")
    assert demo.code == 0, demo.err
    folder = tmp_path / "d"
    assert demo.out.startswith(
        "campaign spring-promo · execution 1 (live, version 1) · completed\n"
    )
    rows = table_rows(demo.out)
    transitions = [(r[0], r[1], number(r[2]), r[3]) for r in rows if len(r) == 4]
    assert [(f, t) for f, t, _, _ in transitions] == DEMO_TRANSITIONS
    shown = {(f, t): (n, state) for f, t, n, state in transitions}

    con = duckdb.connect(str(folder / "shop.duckdb"), read_only=True)
    try:

        def size(query: str) -> int:
            row = con.execute(f"SELECT count(*) FROM ({query}) AS q").fetchone()
            assert row is not None
            return int(row[0])

        assert size("SELECT * FROM customers") == 2000
        one_per_email = size(
            f"SELECT DISTINCT lower(email) FROM customers WHERE id IN ({REACHABLE})"
        )
        expected = {
            ("loyal", "audience"): size(LOYAL),
            ("recent_buyers", "audience"): size(RECENT),
            ("audience", "reachable"): size(AUDIENCE),
            ("opted_out", "reachable"): size(OPTED_OUT),
            ("reachable", "one_per_email"): size(REACHABLE),
            ("one_per_email", "ab"): one_per_email,
        }
    finally:
        con.close()
    assert all(0 < n < 2000 for n in expected.values()), expected
    assert {k: shown[k] for k in expected} == {k: (n, "fired") for k, n in expected.items()}
    sample = one_per_email // 10  # variant_a: 10 % of the deduplicated population, rounded down
    assert sample >= 50
    assert shown[("ab.variant_a", "big_enough")] == (sample, "fired")
    assert shown[("big_enough.large", "spring_email")] == (sample, "fired")
    assert shown[("big_enough.default", "too_small")] == (None, "dead")
    phone, rest = shown[("ab.with_phone", "spring_sms")][0], shown[("ab.complement", "the_rest")][0]
    assert phone is not None and rest is not None and phone + rest == one_per_email - sample
    # the messages went to the outbox, one file each, and the report counts them
    emails = list((folder / "outbox" / "email").glob("*.eml"))
    texts = list((folder / "outbox" / "sms").glob("*.json"))
    assert len(emails) == sample and 0 < len(texts) <= phone
    assert "Delivery report of execution 1" in demo.out
    report = partita(folder, "report", "1", "--json").json()
    sent = {a["activity"]: (a["targeted"], a["sent"]) for a in report["activities"]}
    assert sent == {"spring_email": (sample, len(emails)), "spring_sms": (phone, len(texts))}
    for command in (
        "partita status 1",
        "partita inspect 1 ab.variant_a",
        "partita inspect 1 reachable --schema",
        "partita inspect 1 one_per_email --csv > audience.csv",
        "partita logs 1 --level debug",
        "partita validate campaigns/spring_promo.yaml",
    ):
        assert command in demo.out, command
    status = partita(folder, "status", "1", "--json")
    assert [(t["from"], t["to"], t["count"]) for t in status.json()["transitions"]] == [
        (f, t, n) for f, t, n, _ in transitions
    ]
