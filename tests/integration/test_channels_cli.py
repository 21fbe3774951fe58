"""``partita preview``, ``confirm`` and ``deliveries``, run as a user runs them (a real process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_channels import AUDIENCE_SQL, eligible_sql, email_campaign
from tests.support import SQL, write_test_project

PARTITA = Path(sys.executable).parent / "partita"


@pytest.fixture(scope="session")
def engine_name() -> str:
    """The CLI is tested on the DuckDB shop."""
    return "duckdb"


def partita(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PARTITA), "--project", str(folder), *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path, shop_file: Path) -> Path:
    folder = write_test_project(tmp_path / "project", shop_file)
    path = folder / "partita.yaml"
    text = path.read_text(encoding="utf-8")
    outbox = tmp_path / "outbox"
    start = text.index("channels:\n")
    end = text.index("\n\n", start)
    text = (
        text[:start]
        + f'channels:\n  email: {{provider: outbox, folder: "{outbox}", sender: "s@shop.example"}}'
        + text[end:]
    )
    path.write_text(text, encoding="utf-8")
    (folder / "spring.yaml").write_text(
        email_campaign(extra="confirm_before_send: true"), encoding="utf-8"
    )
    return folder


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def test_preview_confirm_deliveries(project: Path, sql: SQL, tmp_path: Path) -> None:
    expected = eligible_sql(sql)
    shown = as_json(partita(project, "preview", "spring.yaml", "mail", "--rows", "2", "--json"))
    assert [m["key"] for m in shown["messages"]] == [row[0] for row in expected[:2]]
    first = shown["messages"][0]
    assert first["subject"] == f"Hello {expected[0][2]}, spring is here"
    assert first["to"] == expected[0][1]
    assert first["text"] == f"Dear {expected[0][2]} {expected[0][3]},\n\nTier: {expected[0][4]}"
    targeted = sql(f"SELECT count(*) FROM customers WHERE {AUDIENCE_SQL}")[0][0]
    assert shown["targeted"] == targeted
    assert sum(shown["excluded"].values()) == targeted - len(expected)
    assert not (tmp_path / "outbox").exists()  # preview sends nothing
    # live: waits for confirmation
    started = as_json(partita(project, "start", "spring.yaml", "--json"))
    execution = started["execution"]
    assert not (tmp_path / "outbox").exists()
    empty = as_json(partita(project, "deliveries", str(execution), "--json"))
    assert empty["deliveries"] == []
    refused = partita(project, "confirm", str(execution), "who")
    assert refused.returncode == 1
    assert "is not awaiting confirmation" in refused.stdout + refused.stderr
    confirmed = partita(project, "confirm", str(execution), "mail", "--json")
    assert confirmed.returncode == 0, confirmed.stderr + confirmed.stdout
    assert json.loads(confirmed.stdout)["status"] == "completed"
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == len(expected)
    ledger = as_json(partita(project, "deliveries", str(execution), "mail", "--json"))
    assert ledger["deliveries"] == [
        {"activity": "mail", "state": "sent", "reason": None, "count": len(expected)}
    ]
    assert ledger["in_doubt"] == []
    text = partita(project, "deliveries", str(execution))
    assert text.returncode == 0 and "sent" in text.stdout


def test_proof_sends_marked_messages_to_the_proof_addresses(
    tmp_path: Path, shop_file: Path, sql: SQL
) -> None:
    from tests.channel_servers import SmtpServers

    with SmtpServers() as start:
        server = start()
        folder = write_test_project(tmp_path / "p", shop_file)
        path = folder / "partita.yaml"
        text = path.read_text(encoding="utf-8")
        begin = text.index("channels:\n")
        end = text.index("\n\n", begin)
        entry = (
            f"channels:\n  email: {{provider: smtp, host: {server.host}, port: {server.port}, "
            'security: none, sender: "s@shop.example"}'
        )
        path.write_text(text[:begin] + entry + text[end:], encoding="utf-8")
        (folder / "spring.yaml").write_text(
            email_campaign(extra="proof: [boss@shop.example, qa@shop.example]"),
            encoding="utf-8",
        )
        result = as_json(partita(folder, "proof", "spring.yaml", "mail", "--rows", "2", "--json"))
        expected = eligible_sql(sql)[:2]
        assert [(p["key"], p["to"]) for p in result["proofs"]] == [
            (row[0], to) for row in expected for to in ("boss@shop.example", "qa@shop.example")
        ]
        assert sorted(m.rcpt_tos[0] for m in server.messages) == sorted(
            ["boss@shop.example", "qa@shop.example"] * 2
        )
        subjects = sorted(str(m.message()["Subject"]) for m in server.messages)
        assert subjects == sorted(
            f"[PROOF] Hello {row[2]}, spring is here" for row in expected for _ in "ab"
        )
        # nothing in a ledger: the test execution that found the rows records no delivery
        status = as_json(partita(folder, "deliveries", str(result["execution"]), "--json"))
        assert status["deliveries"] == []


def test_preview_shows_the_links_as_tracking_rewrites_them(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project / "partita.yaml"
    path.write_text(
        path.read_text(encoding="utf-8") + "tracking_url: https://t.shop.example\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PARTITA_TRACKING_SECRET", "a-long-enough-test-secret")
    (project / "spring.yaml").write_text(
        email_campaign(extra="").replace(
            "<p>Tier: {{ loyalty_tier }}</p>",
            "<p><a href='https://shop.example/spring'>Spring</a> "
            "<a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>",
        ),
        encoding="utf-8",
    )
    shown = as_json(partita(project, "preview", "spring.yaml", "mail", "--rows", "1", "--json"))
    (message,) = shown["messages"]
    html = message["html"]
    assert "href='https://shop.example/spring'" not in html
    assert "href='https://t.shop.example/c/" in html  # the click redirect
    assert "href='https://t.shop.example/u/" in html  # the unsubscribe link, left as it is
    assert 'src="https://t.shop.example/o/' in html  # the open pixel
    assert message["unsubscribe_url"].startswith("https://t.shop.example/u/")
