"""load_file and extract_file, row for row: files written here, expectations computed by hand
(or by hand-written SQL on the shop), on every warehouse engine."""

from __future__ import annotations

import csv
import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from partita.engine import Engine
from partita.model.datamodel import ColumnType
from tests.support import SQL, run_campaign, table_rows


def load_campaign(path: str, settings: str = "", name: str = "files") -> str:
    """A campaign with one load_file activity ``load1`` (extra settings as YAML flow items)."""
    extra = f", {settings}" if settings else ""
    return f"""
name: {name}
activities:
  - {{id: load1, type: load_file, path: "{path}"{extra}}}
"""


def load(engine: Engine, path: str, settings: str = "") -> dict[str, Any]:
    report = run_campaign(engine, load_campaign(path, settings))
    return report


def task_error(report: dict[str, Any], activity: str = "load1") -> str:
    (task,) = [t for t in report["tasks"] if t["activity"] == activity]
    assert task["status"] == "failed", task
    return str(task["error"])


def working_tables(engine: Engine) -> list[str]:
    warehouse = engine.warehouse
    return sorted(warehouse.con.list_tables(database=warehouse.working_schema))


def column_types(engine: Engine, report: dict[str, Any], output: str) -> dict[str, ColumnType]:
    ref = engine.working_table(engine.store.execution(report["execution"]), output)
    return {c.name: c.type for c in engine.warehouse.columns(ref.output.table_name)}


def messages(engine: Engine, report: dict[str, Any]) -> list[str]:
    return [line.message for line in engine.store.logs(execution_id=report["execution"])]


def write(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


# -- CSV: declared and inferred columns -------------------------------------------------------


def test_declared_columns_are_converted_to_their_types(engine: Engine, project_dir: Path) -> None:
    write(
        project_dir / "data" / "people.csv",
        "id,name,amount,joined,active,seen,extra\n"
        "1,Alice,12.5,31/12/2025,true,2025-12-31 23:59:00,x\n"
        "2, Bob ,-3,01/02/2024,no,2024-02-01T08:00:05,y\n"
        "3,,,,,,z\n"
        "4,Zoé,1e3,29/02/2024,1,2024-03-01,w\n",
    )
    report = load(
        engine,
        "data/people.csv",
        "columns: [{name: id, type: integer}, {name: name}, {name: amount, type: number}, "
        "{name: joined, type: date, format: '%d/%m/%Y'}, {name: active, type: boolean}, "
        "{name: seen, type: timestamp}]",
    )
    assert report["status"] == "completed"
    assert table_rows(engine, report, "load1") == [
        {
            "_row": 1,
            "id": 1,
            "name": "Alice",
            "amount": 12.5,
            "joined": datetime.date(2025, 12, 31),
            "active": True,
            "seen": datetime.datetime(2025, 12, 31, 23, 59),
        },
        {
            "_row": 2,
            "id": 2,
            "name": " Bob ",  # text is kept as it is; typed values are trimmed
            "amount": -3.0,
            "joined": datetime.date(2024, 2, 1),
            "active": False,
            "seen": datetime.datetime(2024, 2, 1, 8, 0, 5),
        },
        {
            "_row": 3,
            "id": 3,
            "name": None,
            "amount": None,
            "joined": None,
            "active": None,
            "seen": None,
        },
        {
            "_row": 4,
            "id": 4,
            "name": "Zoé",
            "amount": 1000.0,
            "joined": datetime.date(2024, 2, 29),
            "active": True,
            "seen": datetime.datetime(2024, 3, 1),
        },
    ]
    assert column_types(engine, report, "load1") == {
        "_row": ColumnType.INTEGER,
        "id": ColumnType.INTEGER,
        "name": ColumnType.STRING,
        "amount": ColumnType.NUMBER,
        "joined": ColumnType.DATE,
        "active": ColumnType.BOOLEAN,
        "seen": ColumnType.TIMESTAMP,
    }
    assert table_rows(engine, report, "load1.rejects") == []
    assert "load_file read 4 rows from data/people.csv: 4 loaded, 0 rejected" in messages(
        engine, report
    )


def test_inferred_names_and_types(engine: Engine, project_dir: Path) -> None:
    write(
        project_dir / "in.csv",
        "Customer ID,e-mail,Zip,Score,Since,Opt In,Last Seen,Note,Empty\n"
        "10,a@x.example,01234,1.5,2025-01-31,true,2025-01-31 10:00:00,7,\n"
        "11,b@x.example,75001,-2,2024-12-01,FALSE,2025-02-01T11:30:00,n/a,\n"
        "12,,,,,,,,\n",
    )
    report = load(engine, "in.csv")
    assert column_types(engine, report, "load1") == {
        "_row": ColumnType.INTEGER,
        "Customer_ID": ColumnType.INTEGER,
        "e_mail": ColumnType.STRING,
        "Zip": ColumnType.STRING,  # a leading zero: a code, not a number
        "Score": ColumnType.NUMBER,
        "Since": ColumnType.DATE,
        "Opt_In": ColumnType.BOOLEAN,
        "Last_Seen": ColumnType.TIMESTAMP,
        "Note": ColumnType.STRING,
        "Empty": ColumnType.STRING,
    }
    rows = table_rows(engine, report, "load1")
    assert [(r["_row"], r["Customer_ID"], r["Zip"], r["Score"], r["Opt_In"]) for r in rows] == [
        (1, 10, "01234", 1.5, True),
        (2, 11, "75001", -2.0, False),
        (3, 12, None, None, None),
    ]
    assert rows[1]["Last_Seen"] == datetime.datetime(2025, 2, 1, 11, 30)
    assert rows[0]["Since"] == datetime.date(2025, 1, 31)


def test_no_header_declared_and_inferred(engine: Engine, project_dir: Path) -> None:
    write(project_dir / "raw.csv", "1,alpha,2025-03-04\n2,beta,2025-03-05\n")
    declared = load(
        engine,
        "raw.csv",
        "header: false, columns: [{name: n, type: integer}, {name: word}, {name: day, type: date}]",
    )
    assert table_rows(engine, declared, "load1") == [
        {"_row": 1, "n": 1, "word": "alpha", "day": datetime.date(2025, 3, 4)},
        {"_row": 2, "n": 2, "word": "beta", "day": datetime.date(2025, 3, 5)},
    ]
    inferred = load(engine, "raw.csv", "header: false")
    assert table_rows(engine, inferred, "load1") == [
        {"_row": 1, "column_1": 1, "column_2": "alpha", "column_3": datetime.date(2025, 3, 4)},
        {"_row": 2, "column_1": 2, "column_2": "beta", "column_3": datetime.date(2025, 3, 5)},
    ]


def test_semicolons_quotes_and_line_breaks_in_values(engine: Engine, project_dir: Path) -> None:
    write(
        project_dir / "quoted.csv",
        'id;comment;city\r\n1;"a; b";Paris\r\n2;"he said ""hi""";"Lyon"\r\n'
        '3;"two\r\nlines";Nice\r\n\r\n4;plain;Lille\r\n',
    )
    report = load(engine, "quoted.csv", "delimiter: ';'")
    assert table_rows(engine, report, "load1") == [
        {"_row": 1, "id": 1, "comment": "a; b", "city": "Paris"},
        {"_row": 2, "id": 2, "comment": 'he said "hi"', "city": "Lyon"},
        {"_row": 3, "id": 3, "comment": "two\r\nlines", "city": "Nice"},
        {"_row": 4, "id": 4, "comment": "plain", "city": "Lille"},  # blank lines are skipped
    ]


def test_other_quote_character_and_tab_separated_file(engine: Engine, project_dir: Path) -> None:
    write(project_dir / "q.tsv", "id\tname\n1\t'a\tb'\n2\t'it''s'\n")
    report = load(engine, "q.tsv", 'quote: "\'"')
    assert table_rows(engine, report, "load1") == [
        {"_row": 1, "id": 1, "name": "a\tb"},
        {"_row": 2, "id": 2, "name": "it's"},
    ]


def test_latin1_file(engine: Engine, project_dir: Path) -> None:
    write(project_dir / "latin.csv", "id,name\n1,Zoé\n2,Müller\n3,Ørsted\n", "latin-1")
    report = load(engine, "latin.csv", "encoding: latin-1")
    assert [r["name"] for r in table_rows(engine, report, "load1")] == ["Zoé", "Müller", "Ørsted"]


def test_utf8_with_byte_order_mark(engine: Engine, project_dir: Path) -> None:
    write(project_dir / "bom.csv", "\ufeffid,name\n1,Zoé\n")
    report = load(engine, "bom.csv", "columns: [{name: id, type: integer}, {name: name}]")
    assert table_rows(engine, report, "load1") == [{"_row": 1, "id": 1, "name": "Zoé"}]


def test_european_numbers_and_dates(engine: Engine, project_dir: Path) -> None:
    write(
        project_dir / "eu.csv",
        "ref;montant;quantite;date\n"
        'A;"1.234,56";1.000;31/12/2025\n'
        "B;-0,5;12;1/2/2025\n"
        'C;"1.000.000";3;29/02/2024\n',
    )
    report = load(
        engine,
        "eu.csv",
        "delimiter: ';', decimal_separator: ',', thousands_separator: '.', date_format: '%d/%m/%Y'",
    )
    assert table_rows(engine, report, "load1") == [
        {
            "_row": 1,
            "ref": "A",
            "montant": 1234.56,
            "quantite": 1000,
            "date": datetime.date(2025, 12, 31),
        },
        {"_row": 2, "ref": "B", "montant": -0.5, "quantite": 12, "date": datetime.date(2025, 2, 1)},
        {
            "_row": 3,
            "ref": "C",
            "montant": 1000000.0,
            "quantite": 3,
            "date": datetime.date(2024, 2, 29),
        },
    ]
    assert column_types(engine, report, "load1")["quantite"] == ColumnType.INTEGER


def test_gzip_compressed_csv(engine: Engine, project_dir: Path) -> None:
    import gzip

    (project_dir / "in.csv.gz").write_bytes(gzip.compress(b"id,v\n1,a\n2,b\n"))
    report = load(engine, "in.csv.gz")
    assert table_rows(engine, report, "load1") == [
        {"_row": 1, "id": 1, "v": "a"},
        {"_row": 2, "id": 2, "v": "b"},
    ]


def test_absolute_path_and_date_placeholder(
    engine: Engine, project_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("drop")
    today = datetime.date.today()
    write(folder / f"feed_{today:%Y%m%d}.csv", "id\n5\n")
    report = load(engine, str(folder / "feed_{date:%Y%m%d}.csv"))
    assert table_rows(engine, report, "load1") == [{"_row": 1, "id": 5}]


# -- Parquet ----------------------------------------------------------------------------------


def test_parquet_inferred_and_declared(engine: Engine, project_dir: Path) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int32()),
            "email": ["a@x.example", None, ""],
            "amount": [1.25, 2.5, None],
            "day": [datetime.date(2025, 1, 2), None, datetime.date(2025, 3, 4)],
            "at": pa.array(
                [datetime.datetime(2025, 1, 2, 3, 4, 5), None, None], pa.timestamp("ns")
            ),
            "ok": [True, False, None],
            "code": ["7", "x", "9"],
        }
    )
    pq.write_table(table, project_dir / "in.parquet")
    report = load(engine, "in.parquet")
    assert table_rows(engine, report, "load1") == [
        {
            "_row": 1,
            "id": 1,
            "email": "a@x.example",
            "amount": 1.25,
            "day": datetime.date(2025, 1, 2),
            "at": datetime.datetime(2025, 1, 2, 3, 4, 5),
            "ok": True,
            "code": "7",
        },
        {
            "_row": 2,
            "id": 2,
            "email": None,
            "amount": 2.5,
            "day": None,
            "at": None,
            "ok": False,
            "code": "x",
        },
        {
            "_row": 3,
            "id": 3,
            "email": None,  # empty text is NULL, as in CSV
            "amount": None,
            "day": datetime.date(2025, 3, 4),
            "at": None,
            "ok": None,
            "code": "9",
        },
    ]
    declared = load(
        engine,
        "in.parquet",
        "max_errors: 1, columns: [{name: ref, source: id, type: string}, "
        "{name: code, type: integer}]",
    )
    assert table_rows(engine, declared, "load1") == [
        {"_row": 1, "ref": "1", "code": 7},
        {"_row": 3, "ref": "3", "code": 9},
    ]
    assert table_rows(engine, declared, "load1.rejects") == [
        {"_row": 2, "line": None, "reason": "column 'code': 'x' is not an integer"}
    ]


def test_parquet_missing_column(engine: Engine, project_dir: Path) -> None:
    pq.write_table(pa.table({"id": [1], "mail": ["a"]}), project_dir / "p.parquet")
    report = load(engine, "p.parquet", "columns: [{name: id, type: integer}, {name: email}]")
    error = task_error(report)
    assert "p.parquet has no column 'email'" in error
    assert "did you mean 'mail'" in error


# -- rejects ----------------------------------------------------------------------------------

BAD_ROWS = (
    "id,amount,day,flag\n"
    "1,10.5,2025-01-01,true\n"
    "2,abc,2025-01-02,false\n"  # not a number
    "3,7,2025-02-30,true\n"  # no such day
    "4,8\n"  # too few fields
    '5,"9",2025-01-05,maybe\n'  # not a boolean
    "6,1,2,3,4\n"  # too many fields
    "7,x,31/01/2025,true\n"  # two bad columns
    "8,12,2025-01-08,false\n"
)
BAD_COLUMNS = (
    "columns: [{name: id, type: integer}, {name: amount, type: number}, "
    "{name: day, type: date}, {name: flag, type: boolean}]"
)


def test_rejects_below_max_errors(engine: Engine, project_dir: Path) -> None:
    write(project_dir / "bad.csv", BAD_ROWS)
    report = load(engine, "bad.csv", f"max_errors: 6, {BAD_COLUMNS}")
    assert report["status"] == "completed"
    assert [r["id"] for r in table_rows(engine, report, "load1")] == [1, 8]
    assert table_rows(engine, report, "load1.rejects") == [
        {
            "_row": 2,
            "line": "2,abc,2025-01-02,false",
            "reason": "column 'amount': 'abc' is not a number",
        },
        {
            "_row": 3,
            "line": "3,7,2025-02-30,true",
            "reason": "column 'day': '2025-02-30' is not a date (%Y-%m-%d)",
        },
        {"_row": 4, "line": "4,8", "reason": "expected 4 fields, found 2"},
        {
            "_row": 5,
            "line": '5,"9",2025-01-05,maybe',
            "reason": "column 'flag': 'maybe' is not a boolean (true/false, yes/no, 1/0)",
        },
        {"_row": 6, "line": "6,1,2,3,4", "reason": "expected 4 fields, found 5"},
        {
            "_row": 7,
            "line": "7,x,31/01/2025,true",
            "reason": "column 'amount': 'x' is not a number; "
            "column 'day': '31/01/2025' is not a date (%Y-%m-%d)",
        },
    ]
    assert report["tasks"][0]["output_counts"] == {"out": 2, "rejects": 6}
    assert "load_file read 8 rows from bad.csv: 2 loaded, 6 rejected" in messages(engine, report)


def test_rejects_can_be_inspected(engine: Engine, project_dir: Path) -> None:
    write(project_dir / "bad.csv", BAD_ROWS)
    report = load(engine, "bad.csv", f"max_errors: 10, {BAD_COLUMNS}")
    ref = engine.working_table(engine.store.execution(report["execution"]), "load1.rejects")
    assert ref.key == "_row"
    assert ref.output.row_count == 6


def test_past_max_errors_the_task_fails_and_leaves_no_table(
    engine: Engine, project_dir: Path
) -> None:
    write(project_dir / "bad.csv", BAD_ROWS)
    before = working_tables(engine)
    report = load(engine, "bad.csv", f"max_errors: 2, {BAD_COLUMNS}")
    assert report["status"] == "failed"
    assert task_error(report) == (
        "bad.csv: 6 rows could not be loaded, more than max_errors (2); first bad rows: "
        "row 2: column 'amount': 'abc' is not a number (line '2,abc,2025-01-02,false'); "
        "row 3: column 'day': '2025-02-30' is not a date (%Y-%m-%d) (line '3,7,2025-02-30,true'); "
        "row 4: expected 4 fields, found 2 (line '4,8'); "
        "row 5: column 'flag': 'maybe' is not a boolean (true/false, yes/no, 1/0) "
        "(line '5,\"9\",2025-01-05,maybe'); "
        "row 6: expected 4 fields, found 5 (line '6,1,2,3,4')"
    )
    assert working_tables(engine) == before


def test_default_max_errors_is_zero(engine: Engine, project_dir: Path) -> None:
    write(project_dir / "one.csv", "id\n1\nx\n")
    report = load(engine, "one.csv", "columns: [{name: id, type: integer}]")
    assert task_error(report) == (
        "one.csv: 1 row could not be loaded, more than max_errors (0); first bad rows: "
        "row 2: column 'id': 'x' is not an integer (line 'x')"
    )


def test_many_batches_number_rows_across_skipped_lines(engine: Engine, project_dir: Path) -> None:
    """Bad rows spread over several read blocks: every good row keeps its own row number."""
    lines = ["id,name"]
    bad = {7, 150_001, 299_999}
    for n in range(1, 300_001):
        lines.append(f"{n},x,extra" if n in bad else f"{n},name{n}")
    write(project_dir / "big.csv", "\n".join(lines) + "\n")
    report = load(engine, "big.csv", "max_errors: 3")
    assert report["tasks"][0]["output_counts"] == {"out": 299_997, "rejects": 3}
    ref = engine.working_table(engine.store.execution(report["execution"]), "load1")
    mismatched = engine.warehouse.working(ref.output.table_name).filter(
        lambda t: t["_row"] != t["id"]
    )
    assert mismatched.count().to_pyarrow().as_py() == 0
    assert [(r["_row"], r["line"]) for r in table_rows(engine, report, "load1.rejects")] == [
        (7, "7,x,extra"),
        (150_001, "150001,x,extra"),
        (299_999, "299999,x,extra"),
    ]


# -- files that cannot be loaded --------------------------------------------------------------


def test_wrong_encoding(engine: Engine, project_dir: Path) -> None:
    write(project_dir / "latin.csv", "id,name\n1,Ann\n2,Zoé\n", "latin-1")
    report = load(engine, "latin.csv")
    assert task_error(report) == (
        "latin.csv is not valid utf-8 text: byte 0xe9 at offset 18 (line 3) cannot be "
        "decoded; set 'encoding' to the file's encoding (e.g. latin-1 or cp1252)"
    )
    assert working_tables(engine) == []
    # found while streaming declared columns; cp1252 has undefined bytes too
    (project_dir / "win.csv").write_bytes(b"id,name\n1,Ann\n2,Zo\x81\n")
    report = load(engine, "win.csv", "encoding: cp1252, columns: [{name: id}, {name: name}]")
    assert task_error(report) == (
        "win.csv is not valid cp1252 text: byte 0x81 at offset 18 (line 3) cannot be "
        "decoded; set 'encoding' to the file's encoding (e.g. latin-1 or cp1252)"
    )
    assert working_tables(engine) == []


def test_missing_declared_column(engine: Engine, project_dir: Path) -> None:
    write(project_dir / "in.csv", "id,emial,amount\n1,a,2\n")
    report = load(
        engine, "in.csv", "columns: [{name: id, type: integer}, {name: email}, {name: amount}]"
    )
    assert task_error(report) == (
        "in.csv has no column 'email' ('email': did you mean 'emial'?); "
        "the header is: id, emial, amount"
    )


def test_header_that_does_not_match(engine: Engine, project_dir: Path) -> None:
    write(project_dir / "in.csv", "id;email\n1;a\n")
    report = load(engine, "in.csv", "columns: [{name: id, type: integer}, {name: email}]")
    assert task_error(report) == (
        "the header of in.csv does not match the declared columns: expected id, email; "
        "found 'id;email' (one column: is the delimiter ';'?)"
    )
    write(project_dir / "nohead.csv", "1,a\n2,b\n")
    report = load(engine, "nohead.csv", "columns: [{name: id, type: integer}, {name: email}]")
    assert task_error(report) == (
        "the header of nohead.csv does not match the declared columns: expected id, email; "
        "found 1, a (set 'header: false' if the file has no header line)"
    )


def test_columns_match_the_header_by_source_and_ignoring_case(
    engine: Engine, project_dir: Path
) -> None:
    write(project_dir / "in.csv", "ID,E-Mail,unused\n1,a@x.example,z\n")
    report = load(
        engine, "in.csv", "columns: [{name: id, type: integer}, {name: email, source: e-mail}]"
    )
    assert table_rows(engine, report, "load1") == [{"_row": 1, "id": 1, "email": "a@x.example"}]


def test_missing_and_empty_files(engine: Engine, project_dir: Path) -> None:
    report = load(engine, "nowhere/in.csv")
    assert task_error(report) == (
        f"file nowhere/in.csv does not exist (looked for {project_dir / 'nowhere' / 'in.csv'})"
    )
    write(project_dir / "empty.csv", "")
    assert task_error(load(engine, "empty.csv")) == "empty.csv is empty"
    write(project_dir / "blank.csv", "\n\n")
    assert task_error(load(engine, "blank.csv")) == "blank.csv is empty (no header and no rows)"
    write(project_dir / "header_only.csv", "id,name\n")
    report = load(engine, "header_only.csv")
    assert report["status"] == "completed"
    assert report["tasks"][0]["output_counts"] == {"out": 0, "rejects": 0}


def test_settings_errors_are_found_before_running(engine: Engine) -> None:
    from partita.model.campaign import parse_campaign
    from partita.model.problems import InvalidInput

    for settings, message in [
        ("", "cannot tell the format of 'in.dat' from its extension"),
        ("format: csv, encoding: klingon", "unknown encoding 'klingon'"),
        ("format: csv, dimension: customers", "'dimension' and 'key' go together"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            parse_campaign(load_campaign("in.dat", settings))
    with pytest.raises(InvalidInput, match="unknown placeholder"):
        engine.validate(parse_campaign(load_campaign("in_{day}.csv")))


# -- files that carry dimension keys ----------------------------------------------------------


def test_dimension_key_unknown_repeated_and_empty_keys_are_rejected(
    engine: Engine, project_dir: Path, sql: SQL
) -> None:
    known = [r[0] for r in sql("SELECT id FROM customers WHERE id IN (3, 5, 8) ORDER BY id")]
    assert known == [3, 5, 8]
    (unknown,) = sql("SELECT max(id) + 1000 FROM customers")[0]
    write(
        project_dir / "keys.csv",
        f"customer,points\n3,10\n{unknown},20\n5,30\n3,40\n,50\n8,60\n",
    )
    report = load(
        engine,
        "keys.csv",
        "dimension: customers, key: customer, max_errors: 3, "
        "columns: [{name: customer}, {name: points, type: integer}]",
    )
    assert report["status"] == "completed"
    assert table_rows(engine, report, "load1") == [
        {"id": 3, "points": 10},
        {"id": 5, "points": 30},
        {"id": 8, "points": 60},
    ]
    assert table_rows(engine, report, "load1.rejects") == [
        {"_row": 2, "line": f"{unknown},20", "reason": f"unknown customers key {unknown}"},
        {"_row": 4, "line": "3,40", "reason": "duplicate customers key 3 (first on row 1)"},
        {"_row": 5, "line": ",50", "reason": "empty customers key"},
    ]
    assert column_types(engine, report, "load1") == {
        "id": ColumnType.INTEGER,
        "points": ColumnType.INTEGER,
    }


def test_dimension_key_rows_feed_targeting_activities(
    engine: Engine, project_dir: Path, sql: SQL
) -> None:
    write(project_dir / "keys.csv", "customer\n" + "\n".join(str(n) for n in range(1, 41)) + "\n")
    report = run_campaign(
        engine,
        """
name: keyed
activities:
  - {id: load1, type: load_file, path: keys.csv, dimension: customers, key: customer}
  - {id: d, type: deduplication, keys: [country]}
transitions: [{from: load1, to: d}]
""",
    )
    assert report["status"] == "completed"
    expected = sql("SELECT count(DISTINCT country) FROM customers WHERE id BETWEEN 1 AND 40")[0][0]
    assert report["tasks"][1]["output_counts"]["out"] == expected


def test_unknown_keys_count_towards_max_errors(engine: Engine, project_dir: Path) -> None:
    write(project_dir / "keys.csv", "customer\n1\n999999991\n999999992\n")
    report = load(engine, "keys.csv", "dimension: customers, key: customer, max_errors: 1")
    assert task_error(report) == (
        "keys.csv: 2 rows could not be loaded, more than max_errors (1); first bad rows: "
        "row 2: unknown customers key 999999991 (line '999999991'); "
        "row 3: unknown customers key 999999992 (line '999999992')"
    )
    assert working_tables(engine) == []


# -- extract_file -----------------------------------------------------------------------------


def read_csv(path: Path, delimiter: str = ",") -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


def text(value: Any) -> str:
    """A value as extract_file writes it in CSV."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Arrow writes 2.0 as 2
    return str(value)


def test_extract_population_columns_to_csv(engine: Engine, project_dir: Path, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: export
activities:
  - {id: gold, type: build_audience, filter: "loyalty_tier = 'gold' and country = 'FR'"}
  - id: x
    type: extract_file
    path: "out/{execution}/gold.csv"
    delimiter: ";"
    columns: {id: id, "E-mail": lower(email), first: first_name, born: birth_date, optin: email_optin}
transitions: [{from: gold, to: x}]
""",
    )
    assert report["status"] == "completed"
    path = project_dir / "out" / str(report["execution"]) / "gold.csv"
    expected = sql(
        "SELECT id, lower(email), first_name, birth_date, email_optin FROM customers "
        "WHERE loyalty_tier = 'gold' AND country = 'FR' ORDER BY id"
    )
    assert 0 < len(expected) < 4_000
    assert read_csv(path, ";") == [
        ["id", "E-mail", "first", "born", "optin"],
        *[[text(v) for v in row] for row in expected],
    ]
    assert f"extract_file wrote {len(expected):,} rows to out/{report['execution']}/gold.csv" in (
        messages(engine, report)
    )
    # the population passes through
    assert report["tasks"][1]["output_counts"] == {"out": len(expected)}


def test_extract_whole_working_table_without_header(
    engine: Engine, project_dir: Path, sql: SQL
) -> None:
    run_campaign(
        engine,
        """
name: export2
activities:
  - {id: few, type: build_audience, filter: "id <= 25"}
  - {id: x, type: extract_file, path: few.csv, header: false}
transitions: [{from: few, to: x}]
""",
    )
    expected = sql("SELECT id FROM customers WHERE id <= 25 ORDER BY id")
    assert read_csv(project_dir / "few.csv") == [[str(r[0])] for r in expected]


def test_extract_parquet(engine: Engine, project_dir: Path, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: export3
activities:
  - {id: a, type: build_audience, filter: "country = 'BE'"}
  - id: x
    type: extract_file
    path: be.parquet
    columns: {id: id, email: email, spend: "sum(purchases.amount)", created: created_at}
transitions: [{from: a, to: x}]
""",
    )
    assert report["status"] == "completed"
    table = pq.read_table(project_dir / "be.parquet")
    assert table.column_names == ["id", "email", "spend", "created"]
    expected = sql(
        "SELECT c.id, c.email, (SELECT sum(p.amount) FROM purchases p WHERE p.customer_id = c.id), "
        "c.created_at FROM customers c WHERE c.country = 'BE' ORDER BY c.id"
    )
    got = [tuple(r.values()) for r in table.to_pylist()]
    assert got == [tuple(r) for r in expected]


def test_extract_compressed_csv(engine: Engine, project_dir: Path, sql: SQL) -> None:
    import gzip

    run_campaign(
        engine,
        """
name: export4
activities:
  - {id: few, type: build_audience, filter: "id <= 3"}
  - {id: x, type: extract_file, path: few.csv.gz, columns: {id: id}}
transitions: [{from: few, to: x}]
""",
    )
    assert gzip.decompress((project_dir / "few.csv.gz").read_bytes()) == b'"id"\n1\n2\n3\n'


def test_load_then_extract_round_trip(engine: Engine, project_dir: Path) -> None:
    write(
        project_dir / "in.csv",
        'id,name,amount,day\n1,"a, b",1.5,2025-01-02\n2,"say ""x""",,2025-01-03\n3,,-2,\n',
    )
    report = run_campaign(
        engine,
        """
name: trip
activities:
  - {id: load1, type: load_file, path: in.csv}
  - {id: x, type: extract_file, path: back.csv}
  - {id: y, type: extract_file, path: back2.csv, columns: {n: id, twice: amount * 2, who: upper(name)}}
transitions: [{from: load1, to: x}, {from: x, to: y}]
""",
    )
    assert report["status"] == "completed"
    loaded = table_rows(engine, report, "load1")
    assert read_csv(project_dir / "back.csv") == [
        ["_row", "id", "name", "amount", "day"],
        *[[text(r[c]) for c in ("_row", "id", "name", "amount", "day")] for r in loaded],
    ]
    assert read_csv(project_dir / "back2.csv") == [
        ["n", "twice", "who"],
        ["1", "3", "A, B"],
        ["2", "", 'SAY "X"'],
        ["3", "-4", ""],
    ]
    # and the written file loads again into the same rows
    again = load(
        engine,
        "back.csv",
        "columns: [{name: id, type: integer}, {name: name}, "
        "{name: amount, type: number}, {name: day, type: date}]",
    )
    assert [
        {k: r[k] for k in ("id", "name", "amount", "day")}
        for r in table_rows(engine, again, "load1")
    ] == [{k: r[k] for k in ("id", "name", "amount", "day")} for r in loaded]


def test_extract_to_parquet_and_load_it_back(engine: Engine, project_dir: Path, sql: SQL) -> None:
    report = run_campaign(
        engine,
        """
name: trip2
activities:
  - {id: a, type: build_audience, filter: "id <= 50"}
  - {id: x, type: extract_file, path: "exports/a.parquet", columns: {customer: id, born: birth_date}}
transitions: [{from: a, to: x}]
""",
    )
    assert report["status"] == "completed"
    back = load(engine, "exports/a.parquet")
    expected = sql("SELECT id, birth_date FROM customers WHERE id <= 50 ORDER BY id")
    assert [(r["customer"], r["born"]) for r in table_rows(engine, back, "load1")] == [
        tuple(r) for r in expected
    ]


def test_extract_bad_expression_is_a_validation_problem(engine: Engine) -> None:
    from partita.model.campaign import parse_campaign
    from partita.model.problems import InvalidInput

    campaign = parse_campaign(
        """
name: bad
activities:
  - {id: a, type: build_audience}
  - {id: x, type: extract_file, path: x.csv, columns: {e: emial}}
transitions: [{from: a, to: x}]
"""
    )
    with pytest.raises(InvalidInput, match="did you mean 'email'"):
        engine.validate(campaign)
