"""Exactly once across crashes and a pause: ~20,000 emails to a real SMTP server on loopback,
the sending ``partita`` process killed with SIGKILL three times at seeded random points (found
by counting what the server received) and resumed each time with ``partita resume``, then
paused from another ``partita`` process and resumed once more.

At the end, checked against the server and against hand-written SQL on the shop:

- no recipient received the message twice (each message is matched to its delivery by its
  ``Message-ID``, derived from the delivery's idempotency key: customers may share an address);
- every eligible recipient received it, except deliveries the ledger reports ``in_doubt``;
- at most one group in flight (``IN_FLIGHT`` messages) per kill is in doubt, and nothing else
  is (no failed, queued or sending row is left);
- the ledger's ``sent`` rows are exactly the messages the server received minus the in-doubt
  deliveries it did receive (a message that went out while its process was killed before it
  could record the reply), and ``partita deliveries`` reports those counts.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from partita.activities.channel import IN_FLIGHT
from partita.channels import EmailMessage, message_id
from partita.examples.shop import generate_shop
from tests.channel_servers import SmtpServer, SmtpServers
from tests.conftest import ANCHOR
from tests.integration.test_channels import set_channels
from tests.support import write_test_project

#: Customers of the shop: about 20,000 of them have an e-mail address and consent.
CUSTOMERS = 28_500
KILLS = 3
SEED = 20261201
SENDER = "Shop <news@shop.example>"

CAMPAIGN = """
name: crash
dimension: customers
activities:
  - {id: everyone, type: build_audience}
  - id: mail
    type: email
    batch_size: 500
    subject: "Hello {{ first_name }}"
    html: "<p>Dear {{ first_name }} {{ last_name }},</p><p>Tier: {{ loyalty_tier }}</p>"
transitions:
  - {from: everyone, to: mail}
"""

ELIGIBLE_SQL = """
SELECT id, email FROM customers
WHERE email IS NOT NULL AND trim(email) <> '' AND email_optin
"""

_MESSAGE_ID = re.compile(rb"^Message-ID: (\S+)\r?$", re.MULTILINE)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServers() as start:
        yield start(lifetime=600.0)


@pytest.fixture
def project(tmp_path: Path, smtp: SmtpServer) -> Path:
    shop = tmp_path / "shop.duckdb"
    generate_shop(shop, customers=CUSTOMERS, seed=7, anchor=ANCHOR)
    folder = write_test_project(tmp_path / "project", shop)
    set_channels(
        folder,
        f"  email: {{provider: smtp, host: {smtp.host}, port: {smtp.port}, security: none, "
        f'sender: "{SENDER}"}}\n',
    )
    (folder / "crash.yaml").write_text(CAMPAIGN, encoding="utf-8")
    return folder


def partita(project: Path, *args: str) -> subprocess.Popen[bytes]:
    """``partita ARGS`` in the project folder, as a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "partita", *args],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )


def received(server: SmtpServer) -> int:
    with server.lock:
        return len(server.messages)


def wait_for(server: SmtpServer, count: int, process: subprocess.Popen[bytes]) -> None:
    """Until the server has received ``count`` messages (the process must still run)."""
    deadline = time.monotonic() + 120
    while received(server) < count:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"partita ended ({process.returncode}) before {count} messages: {error}")
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {count} messages after 2 minutes: {received(server)}")
        time.sleep(0.005)


def finish(process: subprocess.Popen[bytes], code: int) -> None:
    """Wait for ``process`` and check its exit code (0 completed, 4 paused)."""
    _, error = process.communicate(timeout=300)
    assert process.returncode == code, error.decode()


def ledger(project: Path) -> list[tuple[str, str, str | None, str]]:
    """(recipient key, state, address, idempotency key) of every ledger row of execution 1."""
    engine = sa.create_engine(f"sqlite:///{project / '.partita' / 'state.db'}")
    try:
        with engine.connect() as c:
            rows = c.execute(
                sa.text(
                    "SELECT recipient_key, state, address, idempotency_key FROM deliveries "
                    "WHERE execution_id = 1 AND activity_id = 'mail'"
                )
            ).all()
    finally:
        engine.dispose()
    return [(str(r[0]), str(r[1]), r[2], str(r[3])) for r in rows]


def test_kills_and_a_pause_during_a_send_never_send_twice_nor_lose_anyone(
    project: Path, smtp: SmtpServer
) -> None:
    con = duckdb.connect(str(project.parent / "shop.duckdb"), read_only=True)
    eligible = {str(key): email for key, email in con.execute(ELIGIBLE_SQL).fetchall()}
    con.close()
    assert 19_000 < len(eligible) < 21_000
    # kill points (messages received), seeded, at different progress levels; then a pause
    chance = random.Random(SEED)
    size = len(eligible)
    kills = sorted(chance.sample(range(size // 10, size * 6 // 10), KILLS))
    pause_at = chance.randrange(size * 7 // 10, size * 8 // 10)

    process = partita(project, "start", "crash.yaml")
    for point in kills:
        wait_for(smtp, point, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process = partita(project, "resume", "1")
    wait_for(smtp, pause_at, process)
    finish(partita(project, "pause", "1"), 0)
    finish(process, 4)  # the sender stops after the batch in flight: paused
    paused_at = received(smtp)
    finish(partita(project, "resume", "1"), 0)
    assert received(smtp) > paused_at

    rows = ledger(project)
    assert {key for key, _, _, _ in rows} == set(eligible)
    # a message's Message-ID is derived from its delivery's idempotency key: it tells which
    # delivery it is (customers may share an address: the shop has twins)
    delivery_of = {
        message_id(
            EmailMessage(to=address or "", from_=SENDER, subject="", idempotency_key=ikey)
        ): key
        for key, _, address, ikey in rows
    }
    got: Counter[str] = Counter()
    for mail in smtp.messages:
        found = _MESSAGE_ID.search(mail.content)
        assert found is not None and found.group(1).decode() in delivery_of
        key = delivery_of[found.group(1).decode()]
        assert mail.rcpt_tos == (eligible[key],)
        got[key] += 1
    twice = {key: n for key, n in got.items() if n > 1}
    assert twice == {}

    states = Counter(state for _, state, _, _ in rows)
    assert set(states) <= {"sent", "in_doubt"}, states
    in_doubt = {key for key, state, _, _ in rows if state == "in_doubt"}
    sent = {key for key, state, _, _ in rows if state == "sent"}
    assert states["in_doubt"] <= KILLS * IN_FLIGHT
    # everyone eligible got it, except in-doubt deliveries; nobody else got anything
    assert set(eligible) - in_doubt <= set(got) <= set(eligible)
    # sent = what the server received minus the in-doubt deliveries it did receive
    assert sent == set(got) - in_doubt
    assert states["sent"] == len(smtp.messages) - len(set(got) & in_doubt)

    # what partita deliveries reports
    report = subprocess.run(
        [sys.executable, "-m", "partita", "deliveries", "1", "--json"],
        cwd=project,
        capture_output=True,
        check=True,
    )
    shown = json.loads(report.stdout)
    counts: Counter[str] = Counter()
    for line in shown["deliveries"]:
        counts[line["state"]] += line["count"]
    assert counts == states
    assert len(shown["in_doubt"]) == states["in_doubt"]
