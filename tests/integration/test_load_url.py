"""load_file with an http(s) URL: real HTTP servers on loopback serve the files."""

from __future__ import annotations

import datetime
import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from partita.engine import Engine
from partita.model.campaign import parse_campaign
from partita.model.problems import InvalidInput
from tests.channel_servers import HttpServers, Reply, certificates, free_port
from tests.integration.test_files import (
    BAD_COLUMNS,
    BAD_ROWS,
    load,
    load_campaign,
    messages,
    table_rows,
    task_error,
    working_tables,
)

CSV = """\
id,email,amount,day
1,ann@x.example,10.5,2025-01-02
2,bob@x.example,,2025-02-03
3,,7.25,
"""


@pytest.fixture
def start() -> Iterator[HttpServers]:
    with HttpServers() as servers:
        yield servers


def downloads(project_dir: Path) -> list[str]:
    """The files left in the download folder (none once a load is over)."""
    folder = project_dir / ".partita" / "downloads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def by_hand(query: str) -> list[dict[str, Any]]:
    """Rows DuckDB reads from a local file, as dicts."""
    with duckdb.connect() as con:
        result = con.sql(query)
        names = result.columns
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def without_row(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "_row"} for r in rows]


def test_csv_from_a_url_equals_the_file(
    engine: Engine, project_dir: Path, tmp_path: Path, start: HttpServers
) -> None:
    local = tmp_path / "leads.csv"
    local.write_text(CSV)
    server = start(default=Reply(200, local.read_bytes(), {"Content-Type": "text/csv"}))
    url = f"{server.url}/exports/leads_{{date:%Y%m%d}}.csv"
    report = load(engine, url)
    assert report["status"] == "completed"
    rows = table_rows(engine, report, "load1")
    assert without_row(rows) == by_hand(f"SELECT * FROM read_csv('{local}')")
    assert [r["_row"] for r in rows] == [1, 2, 3]
    today = datetime.date.today()
    shown = f"{server.url}/exports/leads_{today:%Y%m%d}.csv"
    assert [r.path for r in server.requests] == [f"/exports/leads_{today:%Y%m%d}.csv"]
    assert f"load_file downloaded {len(CSV):,} bytes from {shown}" in messages(engine, report)
    assert f"load_file read 3 rows from {shown}: 3 loaded, 0 rejected" in messages(engine, report)
    assert downloads(project_dir) == []


def test_parquet_from_a_url_with_a_query(
    engine: Engine, project_dir: Path, tmp_path: Path, start: HttpServers
) -> None:
    local = tmp_path / "vip.parquet"
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "name": ["Ann", None, "Cy"],
            "since": [datetime.date(2024, 1, 2), None, datetime.date(2025, 3, 4)],
        }
    )
    pq.write_table(table, local)
    server = start(default=Reply(200, local.read_bytes()))
    report = run_live(engine, f"{server.url}/vip.parquet?day=2025-01-02")
    rows = table_rows(engine, report, "load1")
    assert without_row(rows) == by_hand(f"SELECT * FROM read_parquet('{local}')")
    assert server.requests[0].path == "/vip.parquet?day=2025-01-02"
    assert downloads(project_dir) == []


def run_live(engine: Engine, url: str) -> dict[str, Any]:
    """A live execution (not a test) of the load."""
    from tests.support import run_campaign

    report = run_campaign(engine, load_campaign(url), live=True)
    assert report["status"] == "completed", report
    return report


def test_gzip_csv_and_format_setting(engine: Engine, project_dir: Path, start: HttpServers) -> None:
    server = start(default=Reply(200, gzip.compress(b"id,v\n1,a\n2,b\n")))
    report = load(engine, f"{server.url}/in.csv.gz")
    assert table_rows(engine, report, "load1") == [
        {"_row": 1, "id": 1, "v": "a"},
        {"_row": 2, "id": 2, "v": "b"},
    ]
    server = start(default=Reply(200, b"id;v\n7;x\n"))
    report = load(engine, f"{server.url}/download?id=7", "format: csv, delimiter: ';'")
    assert table_rows(engine, report, "load1") == [{"_row": 1, "id": 7, "v": "x"}]
    assert downloads(project_dir) == []


def test_headers_take_environment_variables(
    engine: Engine, project_dir: Path, start: HttpServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start(default=Reply(200, b"id\n1\n"))
    settings = "headers: {Authorization: 'Bearer ${FEED_TOKEN}', X-Shop: north}"
    monkeypatch.delenv("FEED_TOKEN", raising=False)
    report = load(engine, f"{server.url}/in.csv", settings)
    assert task_error(report) == (
        "environment variable 'FEED_TOKEN' (in header 'Authorization' of load1) is not set: "
        "export it before running partita"
    )
    assert server.requests == []
    monkeypatch.setenv("FEED_TOKEN", "s3cret")
    report = load(engine, f"{server.url}/in.csv", settings)
    assert report["status"] == "completed"
    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["x-shop"] == "north"
    assert not any("s3cret" in m for m in messages(engine, report))
    assert downloads(project_dir) == []


def test_http_errors_name_the_url_and_leave_nothing(
    engine: Engine, project_dir: Path, start: HttpServers
) -> None:
    server = start()
    url = f"{server.url}/in.csv"
    before = working_tables(engine)
    for reply, message in [
        (Reply(404, b"no"), f"cannot download {url}: HTTP 404 Not Found; check the URL"),
        (
            Reply(403, b"no"),
            f"cannot download {url}: HTTP 403 Forbidden; check the headers (the token) the "
            "server expects",
        ),
        (
            Reply(500, b"oops"),
            f"cannot download {url}: HTTP 500 Internal Server Error; the server failed: try "
            "again later or ask its owner",
        ),
        (Reply(200, b""), f"{url} is empty (the server sent no bytes)"),
    ]:
        server.script(reply)
        assert task_error(load(engine, url)) == message
        assert downloads(project_dir) == []
    server.default = Reply(302, b"", {"Location": "/in.csv"})
    assert task_error(load(engine, url)) == (
        f"cannot download {url}: too many redirects (a redirect loop?); check the URL"
    )
    assert working_tables(engine) == before
    assert downloads(project_dir) == []


def test_connection_refused_and_timeout(
    engine: Engine, project_dir: Path, start: HttpServers
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/in.csv"
    assert task_error(load(engine, closed)) == (
        f"cannot download {closed}: cannot connect ([Errno 111] Connection refused); check the "
        "URL and that the server is up"
    )
    assert task_error(load(engine, "http:///in.csv")) == (
        "cannot download http:///in.csv: not a valid URL (Request URL is missing an 'http://' "
        "or 'https://' protocol.); check the URL"
    )
    server = start(default=Reply(200, b"id\n1\n", delay=5.0))
    url = f"{server.url}/slow.csv"
    assert task_error(load(engine, url, "timeout: 0.3")) == (
        f"cannot download {url}: no answer within 0.3 seconds; raise 'timeout' or try again later"
    )
    assert downloads(project_dir) == []


def test_https_with_a_private_authority(
    engine: Engine,
    project_dir: Path,
    tmp_path: Path,
    start: HttpServers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    authority = certificates()
    server = start(default=Reply(200, b"id\n1\n"), ssl_context=authority.server_context())
    url = f"{server.url}/in.csv"
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    error = task_error(load(engine, url))
    # between the two: the place in Python's _ssl.c, which changes with the Python version
    assert error.startswith(
        f"cannot download {url}: the server's certificate is not trusted ([SSL: "
        "CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer "
        "certificate (_ssl.c:"
    )
    assert error.endswith(
        "); if your own authority signed it, set the environment variable SSL_CERT_FILE to its "
        "certificate (PEM file)"
    )
    pem = tmp_path / "ca.pem"
    authority.ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    assert table_rows(engine, load(engine, url), "load1") == [{"_row": 1, "id": 1}]
    assert downloads(project_dir) == []


def test_rejects_of_a_url_source(engine: Engine, project_dir: Path, start: HttpServers) -> None:
    server = start(default=Reply(200, BAD_ROWS.encode()))
    report = load(engine, f"{server.url}/bad.csv", f"max_errors: 6, {BAD_COLUMNS}")
    assert [r["id"] for r in table_rows(engine, report, "load1")] == [1, 8]
    rejects = table_rows(engine, report, "load1.rejects")
    assert [(r["_row"], r["line"]) for r in rejects] == [
        (2, "2,abc,2025-01-02,false"),
        (3, "3,7,2025-02-30,true"),
        (4, "4,8"),
        (5, '5,"9",2025-01-05,maybe'),
        (6, "6,1,2,3,4"),
        (7, "7,x,31/01/2025,true"),
    ]
    report = load(engine, f"{server.url}/bad.csv", f"max_errors: 2, {BAD_COLUMNS}")
    assert task_error(report).startswith(
        f"{server.url}/bad.csv: 6 rows could not be loaded, more than max_errors (2)"
    )
    assert downloads(project_dir) == []


def test_other_schemes_and_url_settings_are_refused(engine: Engine) -> None:
    for url in ("ftp://files.example/in.csv", "s3://bucket/in.csv"):
        scheme = url.split(":", 1)[0]
        with pytest.raises(InvalidInput) as raised:
            engine.validate(parse_campaign(load_campaign(url)))
        assert (
            f"'{url}': {scheme}:// URLs are not supported; load_file reads http:// and "
            "https:// URLs and file paths only (copy the file to a folder or an http(s) server "
            "first)"
        ) in str(raised.value)
    engine.validate(parse_campaign(load_campaign("https://files.example/in_{date}.csv")))
    with pytest.raises(InvalidInput, match=re.escape("'headers' applies to an http(s) URL")):
        parse_campaign(load_campaign("in.csv", "headers: {X-A: b}"))
    with pytest.raises(
        InvalidInput, match=re.escape("cannot tell the format of 'https://x.example/get?f=a.csv'")
    ):
        parse_campaign(load_campaign("https://x.example/get?f=a.csv"))
