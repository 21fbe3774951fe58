"""reconciliation: a file of e-mails (exported from the shop by hand-written SQL, with unknown
addresses and case changes mixed in) loaded and matched with customers, on every engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from partita.engine import Engine
from partita.model.campaign import parse_campaign
from partita.model.problems import InvalidInput
from tests.support import SQL, run_campaign, table_rows

#: Customers whose e-mail no other customer has, even ignoring case (the shop has "twins":
#: second accounts of one person, with the same address in another case).
UNIQUE = """
    SELECT c.id, c.email, c.last_name FROM customers c
    WHERE c.email IS NOT NULL AND c.id % 10 = 0
      AND (SELECT count(*) FROM customers d WHERE lower(d.email) = lower(c.email)) = 1
    ORDER BY c.id
"""
UNKNOWN = ["nobody@nowhere.example", "ghost@void.example"]


def write_file(project_dir: Path, sql: SQL) -> list[dict[str, Any]]:
    """The file: every 20th customer as is, the 10th-but-not-20th in upper case, two unknown
    addresses after the 5th row; a wrong last name every 30th. Returns its rows."""
    rows: list[dict[str, Any]] = []
    for customer, email, last_name in sql(UNIQUE):
        if len(rows) == 5:
            rows += [{"id": None, "email": e, "last_name": "Nobody"} for e in UNKNOWN]
        shown = email if customer % 20 == 0 else email.upper()
        name = "Wrong" if customer % 30 == 0 else last_name
        rows.append({"id": customer, "email": shown, "last_name": name})
    lines = ["email,last_name,points"]
    for row_number, row in enumerate(rows, start=1):
        row["_row"] = row_number
        row["points"] = row_number * 10
        lines.append(f"{row['email']},{row['last_name']},{row['points']}")
    (project_dir / "emails.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert 100 < len(rows) < 1_000
    return rows


COLUMNS = "[{name: email}, {name: last_name}, {name: points, type: integer}]"


def campaign(rules: str, settings: str = "", columns: str = COLUMNS, more: str = "") -> str:
    return f"""
name: reco
activities:
  - {{id: load1, type: load_file, path: emails.csv, columns: {columns}}}
  - {{id: reco, type: reconciliation, dimension: customers, rules: {rules}{settings}}}
{more}
transitions:
  - {{from: load1, to: reco}}
"""


def messages(engine: Engine, report: dict[str, Any]) -> list[str]:
    return [line.message for line in engine.store.logs(execution_id=report["execution"])]


def test_one_rule_exact_match(engine: Engine, project_dir: Path, sql: SQL) -> None:
    rows = write_file(project_dir, sql)
    report = run_campaign(engine, campaign("[{source: email, column: email}]"))
    assert report["status"] == "completed"
    expected = [
        r[0]
        for r in sql(
            "SELECT c.id FROM customers c WHERE c.id % 20 = 0 AND c.email IS NOT NULL "
            "AND (SELECT count(*) FROM customers d WHERE lower(d.email) = lower(c.email)) = 1 "
            "ORDER BY c.id"
        )
    ]
    by_id = {r["id"]: r for r in rows}
    # out: the customer key, the file row it came from, the file's other columns (its e-mail
    # is the customer's own: not carried)
    assert table_rows(engine, report, "reco") == [
        {
            "id": customer,
            "source_row": by_id[customer]["_row"],
            "last_name": by_id[customer]["last_name"],
            "points": by_id[customer]["points"],
        }
        for customer in expected
    ]
    matched, total = len(expected), len(rows)
    assert (
        f"reconciliation matched {matched:,} of {total:,} rows of 'load1' with customers; "
        f"{total - matched:,} unreconciled"
    ) in messages(engine, report)


def test_ignore_case_and_keep_unreconciled(engine: Engine, project_dir: Path, sql: SQL) -> None:
    rows = write_file(project_dir, sql)
    report = run_campaign(
        engine,
        campaign(
            "[{source: email, column: email, ignore_case: true}]", ", keep_unreconciled: true"
        ),
    )
    assert report["status"] == "completed"
    expected = [r[0] for r in sql(UNIQUE)]
    got = table_rows(engine, report, "reco")
    assert [r["id"] for r in got] == expected
    assert all(r["source_row"] == next(x["_row"] for x in rows if x["id"] == r["id"]) for r in got)
    assert table_rows(engine, report, "reco.unreconciled") == [
        {"_row": r["_row"], "email": r["email"], "last_name": "Nobody", "points": r["points"]}
        for r in rows
        if r["id"] is None
    ]
    ref = engine.working_table(engine.store.execution(report["execution"]), "reco.unreconciled")
    assert ref.key == "_row"


def test_two_rules_must_both_match(engine: Engine, project_dir: Path, sql: SQL) -> None:
    write_file(project_dir, sql)
    report = run_campaign(
        engine,
        campaign(
            "[{source: email, column: email, ignore_case: true}, "
            "{source: last_name, column: last_name}]"
        ),
    )
    expected = [
        r[0]
        for r in sql(
            "SELECT c.id FROM customers c WHERE c.id % 10 = 0 AND c.id % 30 <> 0 "
            "AND c.email IS NOT NULL "
            "AND (SELECT count(*) FROM customers d WHERE lower(d.email) = lower(c.email)) = 1 "
            "ORDER BY c.id"
        )
    ]
    got = table_rows(engine, report, "reco")
    assert [r["id"] for r in got] == expected
    # both rule sources are named like their dimension columns: neither is carried
    assert set(got[0]) == {"id", "source_row", "points"}


def twins(sql: SQL) -> tuple[str, int, int]:
    """An address two customers share (ignoring case), and their ids."""
    address, first, second = sql(
        "SELECT lower(email), min(id), max(id) FROM customers WHERE email IS NOT NULL "
        "GROUP BY lower(email) HAVING count(*) = 2 ORDER BY lower(email) LIMIT 1"
    )[0]
    return address, first, second


def test_a_row_matching_several_customers_is_an_error(
    engine: Engine, project_dir: Path, sql: SQL
) -> None:
    address, first, second = twins(sql)
    (single,) = sql("SELECT email FROM customers WHERE id = 1")[0]
    (project_dir / "emails.csv").write_text(
        f"email,last_name,points\n{single},x,1\n{address.upper()},x,2\n", encoding="utf-8"
    )
    before = engine.warehouse.con.list_tables(database=engine.warehouse.working_schema)
    report = run_campaign(engine, campaign("[{source: email, column: email, ignore_case: true}]"))
    assert report["status"] == "failed"
    (task,) = [t for t in report["tasks"] if t["activity"] == "reco"]
    assert task["error"] == (
        f"file row 2 matches customers {first}, {second}: add a rule or a filter so that "
        "each row matches one customers at most"
    )
    # nothing of the failed task is left (load1's tables belong to the done task)
    after = engine.warehouse.con.list_tables(database=engine.warehouse.working_schema)
    assert [t for t in after if t not in before and f"_{report['execution']}_reco_" in t] == []


def test_a_filter_restricts_the_candidates(engine: Engine, project_dir: Path, sql: SQL) -> None:
    address, first, second = twins(sql)
    (project_dir / "emails.csv").write_text(
        f"email,last_name,points\n{address.upper()},x,2\n", encoding="utf-8"
    )
    report = run_campaign(
        engine,
        campaign(
            "[{source: email, column: email, ignore_case: true}]", f", filter: 'id <> {second}'"
        ),
    )
    assert report["status"] == "completed"
    assert table_rows(engine, report, "reco") == [
        {"id": first, "source_row": 1, "last_name": "x", "points": 2}
    ]


def test_several_rows_for_one_customer_keep_the_first(
    engine: Engine, project_dir: Path, sql: SQL
) -> None:
    (one, email_one, _), (two, email_two, _) = sql(UNIQUE)[:2]
    emails = [email_one, email_two]
    (project_dir / "emails.csv").write_text(
        "email,last_name,points\n"
        f"{emails[1]},b,1\n{emails[0]},a,2\n{emails[1]},c,3\n{emails[1].upper()},d,4\n",
        encoding="utf-8",
    )
    report = run_campaign(engine, campaign("[{source: email, column: email, ignore_case: true}]"))
    assert report["status"] == "completed"
    assert table_rows(engine, report, "reco") == [
        {"id": one, "source_row": 2, "last_name": "a", "points": 2},
        {"id": two, "source_row": 1, "last_name": "b", "points": 1},
    ]
    warnings = [
        line.message
        for line in engine.store.logs(execution_id=report["execution"])
        if line.level == "warning"
    ]
    assert warnings == [
        "2 rows of 'load1' matched a customers row that an earlier row already matched: kept "
        f"the first (lowest _row), e.g. file row 3 (customers {two}, as file row 1), "
        f"file row 4 (customers {two}, as file row 1)"
    ]


def test_carried_columns_are_usable_downstream(engine: Engine, project_dir: Path, sql: SQL) -> None:
    rows = write_file(project_dir, sql)
    report = run_campaign(
        engine,
        campaign(
            "[{source: email, column: email, ignore_case: true}]",
            more="  - {id: s, type: split, subsets: [{name: big, filter: 'points > 500 and "
            "country is not null'}]}",
        ).replace("transitions:\n", "transitions:\n  - {from: reco, to: s}\n"),
    )
    assert report["status"] == "completed"
    expected = sorted(r["id"] for r in rows if r["id"] is not None and r["points"] > 500)
    got = table_rows(engine, report, "s.big")
    assert [r["id"] for r in got] == expected


def test_inferred_file_columns(engine: Engine, project_dir: Path, sql: SQL) -> None:
    rows = write_file(project_dir, sql)
    text = campaign("[{source: email, column: email, ignore_case: true}]").replace(
        f", columns: {COLUMNS}", ""
    )
    report = run_campaign(engine, text)
    assert report["status"] == "completed"
    assert [r["id"] for r in table_rows(engine, report, "reco")] == sorted(
        r["id"] for r in rows if r["id"] is not None
    )


def test_reconciling_a_file_that_carries_other_keys(
    engine: Engine, project_dir: Path, sql: SQL
) -> None:
    """A rule on a non-text column: the file's numbers against the dimension's integer key."""
    (project_dir / "emails.csv").write_text(
        "email,last_name,points\na,x,7\nb,y,99999999\n", encoding="utf-8"
    )
    report = run_campaign(
        engine, campaign("[{source: points, column: id}]", ", keep_unreconciled: true")
    )
    assert report["status"] == "completed"
    assert sql("SELECT id FROM customers WHERE id IN (7, 99999999)") == [(7,)]
    assert table_rows(engine, report, "reco") == [
        {"id": 7, "source_row": 1, "email": "a", "last_name": "x", "points": 7}
    ]
    assert [r["_row"] for r in table_rows(engine, report, "reco.unreconciled")] == [2]


@pytest.mark.parametrize(
    ("rules", "settings", "message"),
    [
        (
            "[{source: email, column: emial}]",
            "",
            "column 'emial' is not in dimension 'customers': did you mean 'email'?",
        ),
        (
            "[{source: mail, column: email}]",
            "",
            "column 'mail' is not in the inbound rows: did you mean 'email'?",
        ),
        ("[{source: email, column: email}]", ", filter: 'contry = 1'", "did you mean 'country'"),
        ("[{source: email, column: email}]", ", dimension: clients", "unknown dimension 'clients'"),
    ],
)
def test_settings_are_checked_against_the_data_model(
    engine: Engine, rules: str, settings: str, message: str
) -> None:
    text = campaign(rules, settings)
    if "dimension: clients" in settings:
        text = text.replace("dimension: customers, ", "")
    with pytest.raises(InvalidInput, match=message):
        engine.validate(parse_campaign(text))


def test_rows_of_another_dimension(engine: Engine, sql: SQL) -> None:
    """Inbound rows of a dimension (purchases): rule sources may be any of its columns."""
    report = run_campaign(
        engine,
        """
name: reco_dim
activities:
  - {id: big, type: build_audience, dimension: purchases, filter: "amount > 400"}
  - {id: reco, type: reconciliation, dimension: customers, rules: [{source: customer_id, column: id}]}
transitions: [{from: big, to: reco}]
""",
    )
    assert report["status"] == "completed"
    expected = sql(
        "SELECT customer_id, min(id) FROM purchases WHERE amount > 400 "
        "GROUP BY customer_id ORDER BY customer_id"
    )
    assert 0 < len(expected) < 4_000
    assert [(r["id"], r["source_id"]) for r in table_rows(engine, report, "reco")] == [
        tuple(r) for r in expected
    ]
