"""Tracking end to end on the DuckDB shop: a live email campaign to the file outbox with
tracking through a real uvicorn server; the click, the pixel and the one-click unsubscribe of
a received .eml; then the next campaign excludes the recipient as ``unsubscribed``."""

from __future__ import annotations

import email
import email.policy
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from partita.engine import Engine
from partita.model.project import load_project
from partita.server import create_app
from partita.server.app import PIXEL
from tests.channel_servers import LOOPBACK, free_port
from tests.integration.test_channels import set_channels
from tests.live_server import LiveServer
from tests.support import SQL, keys, run_campaign, table_rows

SECRET = "a-tracking-secret-for-the-flow-test"

CAMPAIGN = """
name: {name}
dimension: customers
activities:
  - {{id: who, type: build_audience, filter: "id <= 60"}}
  - id: mail
    type: email
    category: {category}
    subject: "Spring, {{{{ first_name }}}}"
    html: >-
      <html><body><p>Hi {{{{ first_name }}}}</p>
      <p><a href="https://shop.example/spring?c={{{{ id }}}}">Shop now</a>
      <a href="mailto:help@shop.example">Help</a></p>
      <p><a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></p></body></html>
transitions:
  - {{from: who, to: mail}}
"""


def campaign(name: str, category: str = "marketing") -> str:
    return CAMPAIGN.format(name=name, category=category)


@pytest.fixture(scope="session")
def engine_name() -> str:
    return "duckdb"


@pytest.fixture
def tracked(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Engine, str, Path]]:
    """An engine whose project tracks through a live server; (engine, server URL, outbox)."""
    monkeypatch.setenv("PARTITA_TRACKING_SECRET", SECRET)
    port = free_port()
    outbox = tmp_path / "outbox"
    set_channels(
        project_dir,
        f'  email: {{provider: outbox, folder: "{outbox}", sender: "s@shop.example"}}\n',
    )
    path = project_dir / "partita.yaml"
    path.write_text(
        path.read_text(encoding="utf-8") + f"tracking_url: http://{LOOPBACK}:{port}\n",
        encoding="utf-8",
    )
    project = load_project(project_dir)
    engine = Engine(project)
    with LiveServer(create_app(project), port) as server:
        yield engine, server.url, outbox
    engine.close()


def eligible(sql: SQL, consent: bool = True) -> list[tuple[Any, str]]:
    optin = " AND email_optin" if consent else ""
    return sql(
        "SELECT id, email FROM customers WHERE id <= 60 AND email IS NOT NULL "
        f"AND trim(email) <> ''{optin} ORDER BY id"
    )


def state_rows(engine: Engine, query: str) -> list[tuple[Any, ...]]:
    with engine.store.engine.connect() as c:
        return [tuple(row) for row in c.execute(sa.text(query))]


def test_click_open_and_unsubscribe_from_a_sent_email(
    tracked: Any, sql: SQL, hand_off: str
) -> None:
    engine, base, outbox = tracked
    report = run_campaign(engine, campaign("spring"), live=True)
    assert report["status"] == "completed"
    expected = eligible(sql)
    assert len(expected) > 5
    execution = report["execution"]
    assert sorted(p.stem for p in outbox.glob("*.eml")) == sorted(
        f"{execution}-mail-{key}" for key, _ in expected
    )
    key, address = expected[0]
    message = email.message_from_bytes(
        (outbox / f"{execution}-mail-{key}.eml").read_bytes(), policy=email.policy.default
    )
    # the headers: one-click unsubscribe (RFC 8058) through the tracking server
    header = str(message["List-Unsubscribe"])
    assert re.fullmatch(rf"<{re.escape(base)}/u/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+>", header)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = header[1:-1]
    # the HTML: the web link through a signed redirect, mailto untouched, the unsubscribe
    # link as in the header, the open pixel
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    body = part.get_content()
    links = [html.unescape(h) for h in re.findall(r'href="([^"]*)"', body)]
    assert len(links) == 3
    assert links[0].startswith(f"{base}/c/") and "shop.example" not in links[0]
    assert links[1:] == ["mailto:help@shop.example", unsubscribe]
    (pixel,) = [html.unescape(s) for s in re.findall(r'<img src="([^"]*)"', body)]
    assert pixel.startswith(f"{base}/o/")

    click = httpx.get(links[0], follow_redirects=False)
    assert click.status_code == 302
    assert click.headers["location"] == f"https://shop.example/spring?c={key}"
    opened = httpx.get(pixel)
    assert opened.status_code == 200 and opened.content == PIXEL
    for _ in range(2):  # the mail client's one-click POST; a second one changes nothing
        done = httpx.post(
            unsubscribe,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200 and "You are unsubscribed" in done.text

    assert state_rows(
        engine,
        "SELECT d.execution_id, d.recipient_key, e.kind, e.link_index, e.url "
        "FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id ORDER BY e.id",
    ) == [
        (execution, str(key), "click", 0, f"https://shop.example/spring?c={key}"),
        (execution, str(key), "open", None, None),
        (execution, str(key), "unsubscribe", None, None),
    ]
    assert state_rows(
        engine,
        "SELECT s.channel, s.address, s.reason, d.recipient_key FROM suppressions s "
        "JOIN deliveries d ON d.id = s.delivery_id",
    ) == [("email", address.strip().lower(), "unsubscribed", str(key))]

    # the next marketing campaign to the same audience skips the recipient
    second = run_campaign(engine, campaign("summer"), live=True)
    assert second["status"] == "completed"
    assert keys(engine, second, "mail.out") == [k for k, _ in expected[1:]]
    reasons = {r["id"]: r["reason"] for r in table_rows(engine, second, "mail.excluded")}
    assert reasons[key] == "unsubscribed"
    assert list(reasons.values()).count("unsubscribed") == 1
    schema = engine.warehouse.working_schema
    mirrored = engine.warehouse.con.raw_sql(
        f"SELECT channel, address, reason FROM {schema}.partita_suppressions"
    ).fetchall()
    assert mirrored == [("email", address.strip().lower(), "unsubscribed")]

    # a transactional message is not marketing: it still goes to the unsubscribed address
    receipt = run_campaign(engine, campaign("receipt", "transactional"), live=True)
    assert receipt["status"] == "completed"
    assert keys(engine, receipt, "mail.out") == [k for k, _ in eligible(sql, consent=False)]
    assert key in keys(engine, receipt, "mail.out")
    receipt_mail = email.message_from_bytes(
        (outbox / f"{receipt['execution']}-mail-{key}.eml").read_bytes(),
        policy=email.policy.default,
    )
    assert receipt_mail["List-Unsubscribe"] is None  # no List-Unsubscribe on transactional


def test_without_tracking_url_nothing_is_rewritten(
    project_dir: Path, tmp_path: Path, sql: SQL
) -> None:
    outbox = tmp_path / "outbox"
    set_channels(
        project_dir,
        f'  email: {{provider: outbox, folder: "{outbox}", sender: "s@shop.example"}}\n',
    )
    engine = Engine(load_project(project_dir))
    report = run_campaign(engine, campaign("plain"), live=True)
    engine.close()
    key, _ = eligible(sql)[0]
    message = email.message_from_bytes(
        (outbox / f"{report['execution']}-mail-{key}.eml").read_bytes(),
        policy=email.policy.default,
    )
    assert message["List-Unsubscribe"] is None
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    links = re.findall(r'href="([^"]*)"', part.get_content())
    assert links == [f"https://shop.example/spring?c={key}", "mailto:help@shop.example", ""]
    assert "<img" not in part.get_content()
