"""Channel activities end to end on the DuckDB shop: exact recipients and exclusions against
hand-written SQL, real SMTP and HTTP servers on loopback, the outbox, the ledger, test mode,
resume after a crash, a fatal provider error, pause between batches, confirmation."""

from __future__ import annotations

import email.policy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from partita.engine import Engine
from partita.model.campaign import parse_campaign
from partita.model.problems import InvalidInput
from partita.model.project import load_project
from partita.model.states import DeliveryState, ExecutionStatus, TaskStatus
from partita.store import schema as t
from tests.channel_servers import HttpServers, Reply, SmtpServer, SmtpServers
from tests.support import SQL, counts, keys, run_campaign, set_channels, table_rows

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

#: Gold customers of FR: a few hundred recipients on the test shop.
AUDIENCE = "loyalty_tier = 'gold' and country = 'FR'"
AUDIENCE_SQL = "loyalty_tier = 'gold' AND country = 'FR'"

EMAIL = """
name: spring
dimension: customers
activities:
  - {{id: who, type: build_audience, filter: "{audience}"}}
  - id: mail
    type: email
    batch_size: {batch}
    subject: "Hello {{{{ first_name }}}}, spring is here"
    html: "<p>Dear {{{{ first_name }}}} {{{{ last_name }}}},</p><p>Tier: {{{{ loyalty_tier }}}}</p>"
    {extra}
transitions:
  - {{from: who, to: mail}}
"""


def email_campaign(batch: int = 50, extra: str = "") -> str:
    return EMAIL.format(audience=AUDIENCE, batch=batch, extra=extra)


@pytest.fixture(scope="session")
def engine_name() -> str:
    """Channels are tested on the DuckDB shop (the SQL they run is the activities')."""
    return "duckdb"


@pytest.fixture
def smtp_servers() -> Iterator[SmtpServers]:
    with SmtpServers() as start:
        yield start


@pytest.fixture
def http_servers() -> Iterator[HttpServers]:
    with HttpServers() as start:
        yield start


def open_engine(project_dir: Path) -> Engine:
    return Engine(load_project(project_dir))


def errors_of(engine: Engine, report: dict[str, Any]) -> list[str]:
    """The error lines of an execution's log (shown when a test fails)."""
    return [
        line.message
        for line in engine.store.logs(execution_id=report["execution"])
        if line.level.value == "error"
    ]


@pytest.fixture
def smtp(project_dir: Path, smtp_servers: SmtpServers) -> SmtpServer:
    server = smtp_servers()
    set_channels(
        project_dir,
        f"  email: {{provider: smtp, host: {server.host}, port: {server.port}, security: none, "
        'sender: "Shop <news@shop.example>"}\n',
    )
    return server


def eligible_sql(sql: SQL) -> list[tuple[Any, ...]]:
    """Who must get the email: the audience with an email address and consent (no address in
    the shop is syntactically invalid: checked below)."""
    return sql(
        f"SELECT id, email, first_name, last_name, loyalty_tier FROM customers "
        f"WHERE {AUDIENCE_SQL} AND email IS NOT NULL AND trim(email) <> '' AND email_optin "
        "ORDER BY id"
    )


def exclusions_sql(sql: SQL) -> dict[str, int]:
    rows = sql(
        f"SELECT CASE WHEN email IS NULL OR trim(email) = '' THEN 'no_address' "
        f"WHEN NOT email_optin THEN 'no_consent' END AS reason, count(*) FROM customers "
        f"WHERE {AUDIENCE_SQL} GROUP BY 1"
    )
    return {reason: n for reason, n in rows if reason is not None}


def ledger(engine: Engine, execution: int) -> list[Any]:
    return engine.store.deliveries(execution, "mail")


# -- email over SMTP ----------------------------------------------------------------------------


def test_email_goes_to_exactly_the_eligible_recipients(
    engine: Engine, smtp: SmtpServer, sql: SQL, project_dir: Path, hand_off: str
) -> None:
    engine.close()
    engine = open_engine(project_dir)
    report = run_campaign(engine, email_campaign(), live=True)
    assert report["status"] == "completed", errors_of(engine, report)
    expected = eligible_sql(sql)
    assert expected and len(expected) > 50  # several batches
    received = sorted(m.rcpt_tos[0] for m in smtp.messages)
    assert received == sorted(row[1] for row in expected)
    assert len(received) == len(set(received))  # nobody twice
    # the contents, for a few recipients
    by_address = {m.rcpt_tos[0]: m.message() for m in smtp.messages}
    for _, address, first, last, tier in expected[:3]:
        message = by_address[address]
        assert message["Subject"] == f"Hello {first}, spring is here"
        assert message["From"] == "Shop <news@shop.example>"
        assert message["To"] == address
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        assert text is not None and html is not None
        assert text.get_content().strip() == f"Dear {first} {last},\n\nTier: {tier}"
        assert f"<p>Dear {first} {last},</p>" in html.get_content()
    # outputs: out = the recipients sent, with delivery columns; excluded by reason
    assert keys(engine, report, "mail.out") == [row[0] for row in expected]
    rows = table_rows(engine, report, "mail.out")
    assert all(r["delivery_id"] == f"{report['execution']}-mail-{r['id']}" for r in rows)
    assert all(r["sent_at"] is not None and r["provider_message_id"] for r in rows)
    excluded = table_rows(engine, report, "mail.excluded")
    found: dict[str, int] = {}
    for row in excluded:
        found[row["reason"]] = found.get(row["reason"], 0) + 1
    assert found == exclusions_sql(sql)
    # the ledger: one sent row per recipient, with the provider's message id
    rows_ledger = ledger(engine, report["execution"])
    assert len(rows_ledger) == len(expected)
    assert {r.state for r in rows_ledger} == {DeliveryState.SENT}
    assert {r.recipient_key for r in rows_ledger} == {str(row[0]) for row in expected}
    assert all(r.attempts == 1 and r.provider_message_id for r in rows_ledger)
    engine.close()


def test_test_mode_renders_and_sends_nothing(
    engine: Engine, smtp: SmtpServer, sql: SQL, project_dir: Path
) -> None:
    engine.close()
    engine = open_engine(project_dir)
    report = run_campaign(engine, email_campaign())
    assert report["status"] == "completed", errors_of(engine, report)
    assert smtp.messages == []
    assert ledger(engine, report["execution"]) == []
    assert keys(engine, report, "mail.out") == [row[0] for row in eligible_sql(sql)]
    logs = [line.message for line in engine.store.logs(execution_id=report["execution"])]
    assert any("test mode: email 'mail' rendered" in line for line in logs), logs
    engine.close()


def test_suppressed_addresses_are_excluded(
    engine: Engine, smtp: SmtpServer, sql: SQL, project_dir: Path
) -> None:
    engine.close()
    engine = open_engine(project_dir)
    first, second = (row[1] for row in eligible_sql(sql)[:2])
    from partita.channels import suppressions

    table = suppressions(engine.warehouse)
    engine.warehouse.con.raw_sql(
        f"INSERT INTO {engine.warehouse.working_schema}.partita_suppressions VALUES "
        f"('email', '{first.upper()}', 'hard_bounce', now()), ('sms', '{second}', 'x', now())"
    )
    assert table.count().to_pyarrow().as_py() == 2
    report = run_campaign(engine, email_campaign(), live=True)
    received = {m.rcpt_tos[0] for m in smtp.messages}
    assert first not in received and second in received
    reasons = [r["reason"] for r in table_rows(engine, report, "mail.excluded")]
    assert reasons.count("suppressed") == 1
    engine.close()


# -- exactly once -------------------------------------------------------------------------------


def test_resume_after_a_crash_reports_in_doubt_and_sends_each_other_once(
    engine: Engine, smtp: SmtpServer, sql: SQL, project_dir: Path
) -> None:
    """A crash during a hand-off leaves rows in 'sending': resume marks them in doubt and
    sends every other recipient exactly once."""
    engine.close()
    engine = open_engine(project_dir)
    campaign = parse_campaign(email_campaign())
    execution = engine.start(campaign)
    expected = eligible_sql(sql)
    # a crashed earlier attempt: 30 sent, 3 caught in the middle of the hand-off
    store = engine.store
    recipients = [str(row[0]) for row in expected]
    store.queue_deliveries(
        execution.id,
        "mail",
        "email",
        [
            {"recipient_key": k, "address": a, "idempotency_key": f"{execution.id}-mail-{k}"}
            for k, a in zip(recipients[:33], [row[1] for row in expected[:33]], strict=True)
        ],
    )
    with store.engine.begin() as c:
        d = t.deliveries
        c.execute(
            sa.update(d)
            .where(d.c.recipient_key.in_(recipients[:30]))
            .values(state="sent", attempts=1)
        )
        c.execute(
            sa.update(d)
            .where(d.c.recipient_key.in_(recipients[30:33]))
            .values(state="sending", attempts=1)
        )
    done = engine.run(execution.id)
    assert done.status == ExecutionStatus.COMPLETED
    received = [m.rcpt_tos[0] for m in smtp.messages]
    assert len(received) == len(set(received))
    assert sorted(received) == sorted(row[1] for row in expected[33:])
    rows = {r.recipient_key: r for r in ledger(engine, execution.id)}
    assert [rows[k].state for k in recipients[30:33]] == [DeliveryState.IN_DOUBT] * 3
    assert all(rows[k].state == DeliveryState.SENT for k in recipients[33:])
    logs = [line.message for line in engine.store.logs(execution_id=execution.id)]
    assert any("3 deliveries were being handed to the provider" in line for line in logs)
    # out holds what was sent (by this or the crashed attempt), not the in-doubt ones
    out = {r["id"] for r in table_rows(engine, {"execution": execution.id}, "mail.out")}
    assert out == {row[0] for row in expected} - {int(k) for k in recipients[30:33]}
    engine.close()


def test_fatal_error_pauses_then_resume_sends_the_rest_once(
    project_dir: Path, smtp_servers: SmtpServers, sql: SQL, hand_off: str
) -> None:
    server = smtp_servers(auth=("shop", "right-password"))
    entry = (
        f"  email: {{provider: smtp, host: {server.host}, port: {server.port}, security: none, "
        'username: shop, password: PASSWORD, sender: "Shop <news@shop.example>"}\n'
    )
    set_channels(project_dir, entry.replace("PASSWORD", "wrong-password"))
    engine = open_engine(project_dir)
    execution = engine.start(parse_campaign(email_campaign()))
    paused = engine.run(execution.id)
    assert paused.status == ExecutionStatus.PAUSED
    errors = [line.message for line in engine.store.logs(execution_id=execution.id)]
    assert any("email 'mail' paused:" in line and "resume" in line for line in errors), errors
    task = engine.store.tasks(execution.id)[-1]
    assert task.activity_id == "mail" and task.status == TaskStatus.PENDING
    assert server.messages == []
    engine.close()
    # fix the password, resume: everyone gets it once
    set_channels(project_dir, entry.replace("PASSWORD", "right-password"))
    engine = open_engine(project_dir)
    engine.resume(execution.id)
    done = engine.run(execution.id)
    assert done.status == ExecutionStatus.COMPLETED
    received = [m.rcpt_tos[0] for m in server.messages]
    assert sorted(received) == sorted(row[1] for row in eligible_sql(sql))
    assert len(received) == len(set(received))
    engine.close()


def test_pause_between_batches_then_resume(
    engine: Engine, smtp: SmtpServer, sql: SQL, project_dir: Path, monkeypatch: Any
) -> None:
    """A pause while sending: the task stops after the batch in flight, goes back to pending,
    and resume sends the others, nobody twice."""
    engine.close()
    engine = open_engine(project_dir)
    execution = engine.start(parse_campaign(email_campaign(batch=20)))
    from partita.activities import channel

    original = channel._HandOff.deliver
    calls = {"n": 0}

    def pause_after_two(self: Any, *args: Any) -> None:  # after each batch's hand-offs
        original(self, *args)
        calls["n"] += 1
        if calls["n"] == 2:
            engine.pause(execution.id)

    monkeypatch.setattr(channel._HandOff, "deliver", pause_after_two)
    paused = engine.run(execution.id)
    assert paused.status == ExecutionStatus.PAUSED
    assert len(smtp.messages) == 40
    assert engine.store.tasks(execution.id)[-1].status == TaskStatus.PENDING
    engine.resume(execution.id)
    assert engine.run(execution.id).status == ExecutionStatus.COMPLETED
    received = [m.rcpt_tos[0] for m in smtp.messages]
    assert sorted(received) == sorted(row[1] for row in eligible_sql(sql))
    assert len(received) == len(set(received))
    engine.close()


def test_confirm_before_send_waits_for_confirmation(
    engine: Engine, smtp: SmtpServer, sql: SQL, project_dir: Path
) -> None:
    engine.close()
    engine = open_engine(project_dir)
    execution = engine.start(parse_campaign(email_campaign(extra="confirm_before_send: true")))
    waiting = engine.run(execution.id)
    assert waiting.status == ExecutionStatus.RUNNING
    task = engine.store.tasks(execution.id)[-1]
    assert (task.activity_id, task.status) == ("mail", TaskStatus.WAITING)
    assert smtp.messages == []
    logs = [line.message for line in engine.store.logs(execution_id=execution.id)]
    assert any("awaiting confirmation" in line for line in logs)
    engine.confirm(execution.id, "mail")
    assert engine.run(execution.id).status == ExecutionStatus.COMPLETED
    assert len(smtp.messages) == len(eligible_sql(sql))
    engine.close()


# -- other providers ----------------------------------------------------------------------------


def test_outbox_writes_one_file_per_recipient(
    engine: Engine, sql: SQL, project_dir: Path, tmp_path: Path
) -> None:
    engine.close()
    set_channels(
        project_dir,
        f'  email: {{provider: outbox, folder: "{tmp_path / "outbox"}", sender: "s@shop.example"}}\n',
    )
    engine = open_engine(project_dir)
    report = run_campaign(engine, email_campaign(), live=True)
    assert report["status"] == "completed", errors_of(engine, report)
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == len(eligible_sql(sql))
    first = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert first["Subject"].startswith("Hello ")
    engine.close()


SMS = """
name: sms_campaign
dimension: customers
activities:
  - {id: who, type: build_audience, filter: "country = 'FR' and loyalty_tier = 'gold'"}
  - {id: text, type: sms, body: "Hi {{ first_name }}: -20% this weekend", batch_size: 40}
transitions:
  - {from: who, to: text}
"""


def test_sms_to_the_http_gateway(
    engine: Engine, http_servers: HttpServers, sql: SQL, project_dir: Path
) -> None:
    engine.close()
    server = http_servers()
    set_channels(
        project_dir, f'  sms: {{provider: http, url: "{server.url}/sms", token: secret}}\n'
    )
    engine = open_engine(project_dir)
    report = run_campaign(engine, SMS, live=True)
    assert report["status"] == "completed", errors_of(engine, report)
    expected = sql(
        "SELECT id, phone, first_name FROM customers WHERE country = 'FR' AND "
        "loyalty_tier = 'gold' AND phone IS NOT NULL AND trim(phone) <> '' AND sms_optin "
        "ORDER BY id"
    )
    assert expected
    bodies = [r.json() for r in server.requests]
    assert len(bodies) == len(expected) - counts_of_invalid(engine, report)
    assert all(r.headers.get("authorization") == "Bearer secret" for r in server.requests)
    keys_sent = {r.headers.get("idempotency-key") for r in server.requests}
    assert len(keys_sent) == len(bodies)
    first = expected[0]
    sent = {b["to"]: b["body"] for b in bodies}
    assert f"Hi {first[2]}: -20% this weekend" in sent.values()
    assert all(to.startswith("+") for to in sent)
    engine.close()


FALLBACK = """
name: fallback
dimension: customers
activities:
  - {id: who, type: build_audience, filter: "country = 'FR' and loyalty_tier = 'gold'"}
  - {id: mail, type: email, subject: "Hi {{ first_name }}", html: "<p>Spring</p>"}
  - {id: text, type: sms, body: "Hi {{ first_name }}: see our spring offers"}
transitions:
  - {from: who, to: mail}
  - {from: mail.excluded, to: text}
"""


def test_sms_to_those_the_email_excluded(
    engine: Engine, smtp: SmtpServer, http_servers: HttpServers, sql: SQL, project_dir: Path
) -> None:
    """The SMS gets the email's ``excluded`` population, ``reason`` column and all: its own
    exclusions replace the email's reasons."""
    engine.close()
    server = http_servers()
    entries = (project_dir / "partita.yaml").read_text(encoding="utf-8")
    email_entry = next(line for line in entries.splitlines() if line.startswith("  email:"))
    set_channels(
        project_dir,
        f'{email_entry}\n  sms: {{provider: http, url: "{server.url}/sms", token: k}}\n',
    )
    engine = open_engine(project_dir)
    report = run_campaign(engine, FALLBACK, live=True)
    assert report["status"] == "completed", errors_of(engine, report)
    where = f"{AUDIENCE_SQL} AND NOT (email IS NOT NULL AND trim(email) <> '' AND email_optin)"
    texted = sql(
        f"SELECT id FROM customers WHERE {where} AND phone IS NOT NULL AND trim(phone) <> '' "
        "AND sms_optin ORDER BY id"
    )
    assert texted and len(smtp.messages) == len(eligible_sql(sql))
    invalid = {
        r.recipient_key
        for r in engine.store.deliveries(report["execution"], "text")
        if r.reason == "invalid_address"
    }
    assert keys(engine, report, "text.out") == [i for (i,) in texted if str(i) not in invalid]
    assert len(server.requests) == len(texted) - len(invalid)
    reasons = sql(
        f"SELECT id, CASE WHEN phone IS NULL OR trim(phone) = '' THEN 'no_address' "
        f"ELSE 'no_consent' END FROM customers WHERE {where} "
        "AND NOT (phone IS NOT NULL AND trim(phone) <> '' AND sms_optin) ORDER BY id"
    )
    excluded = {r["id"]: r["reason"] for r in table_rows(engine, report, "text.excluded")}
    expected = dict(reasons) | {int(key): "invalid_address" for key in invalid}
    assert excluded == expected
    engine.close()


def counts_of_invalid(engine: Engine, report: dict[str, Any]) -> int:
    rows = engine.store.deliveries(report["execution"], "text")
    return sum(1 for r in rows if r.reason == "invalid_address")


# -- validation ---------------------------------------------------------------------------------


def test_template_errors_name_activity_field_and_line(engine: Engine) -> None:
    text = email_campaign().replace("Dear {{ first_name }}", "Dear {{ frist_name }}")
    with pytest.raises(InvalidInput) as caught:
        engine.validate(parse_campaign(text))
    message = str(caught.value)
    assert "activity 'mail'" in message and "field 'html'" in message
    assert "unknown variable 'frist_name' at line 1" in message
    assert "did you mean 'first_name'?" in message


def test_unknown_provider_entry_is_refused_at_validation(engine: Engine, project_dir: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        run_campaign(engine, email_campaign(extra="provider: mailer"))
    (problem,) = caught.value.problems
    assert problem.activity == "mail"
    assert "partita.yaml has no entry 'mailer' under 'channels'" in problem.message


def test_counts_on_transitions(engine: Engine, sql: SQL, smtp: SmtpServer) -> None:
    report = run_campaign(engine, email_campaign())
    assert counts(report) == {
        "who -> mail": len(sql(f"SELECT id FROM customers WHERE {AUDIENCE_SQL}"))
    }


# -- provider errors ----------------------------------------------------------------------------


def test_permanent_transient_and_in_doubt_outcomes(
    project_dir: Path, smtp_servers: SmtpServers, sql: SQL, hand_off: str
) -> None:
    """A refused recipient is failed (not retried), a 451 is retried and sent, a connection
    lost after the content is in doubt (never resent); everyone else gets it once."""
    expected = eligible_sql(sql)
    refused = expected[0][1]
    server = smtp_servers(
        reject={refused: "550 5.1.1 no such user"},
        data_reply={3: "451 4.3.0 try again later"},
        in_doubt_at={6},
    )
    set_channels(
        project_dir,
        f"  email: {{provider: smtp, host: {server.host}, port: {server.port}, security: none, "
        'sender: "Shop <news@shop.example>"}\n',
    )
    engine = open_engine(project_dir)
    report = run_campaign(engine, email_campaign(), live=True)
    assert report["status"] == "completed", errors_of(engine, report)
    rows = ledger(engine, report["execution"])
    states: dict[DeliveryState, int] = {}
    for row in rows:
        states[row.state] = states.get(row.state, 0) + 1
    assert states == {
        DeliveryState.SENT: len(expected) - 2,
        DeliveryState.FAILED: 1,
        DeliveryState.IN_DOUBT: 1,
    }
    failed = next(r for r in rows if r.state == DeliveryState.FAILED)
    assert failed.address == refused and failed.reason == "rejected" and failed.attempts == 1
    assert "550" in (failed.error or "")
    retried = [r for r in rows if r.state == DeliveryState.SENT and r.attempts == 1]
    assert len(retried) == len(expected) - 2  # the retry happened inside one attempt
    received = [m.rcpt_tos[0] for m in server.messages]
    assert len(received) == len(set(received))
    doubtful = next(r for r in rows if r.state == DeliveryState.IN_DOUBT)
    assert doubtful.address in received  # the server kept it: resending would double it
    excluded = {r["id"]: r["reason"] for r in table_rows(engine, report, "mail.excluded")}
    assert excluded[expected[0][0]] == "rejected"
    engine.close()


def test_idempotent_provider_resends_sending_rows_with_the_same_key(
    project_dir: Path, sql: SQL, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    set_channels(
        project_dir,
        f'  email: {{provider: outbox, folder: "{outbox}", sender: "s@shop.example"}}\n',
    )
    engine = open_engine(project_dir)
    execution = engine.start(parse_campaign(email_campaign()))
    expected = eligible_sql(sql)
    first = str(expected[0][0])
    engine.store.queue_deliveries(
        execution.id,
        "mail",
        "email",
        [{"recipient_key": first, "address": expected[0][1], "idempotency_key": "x"}],
    )
    with engine.store.engine.begin() as c:
        c.execute(sa.update(t.deliveries).values(state="sending", attempts=1))
    assert engine.run(execution.id).status == ExecutionStatus.COMPLETED
    rows = {r.recipient_key: r for r in ledger(engine, execution.id)}
    assert rows[first].state == DeliveryState.SENT and rows[first].attempts == 2
    assert len(list(outbox.glob("*.eml"))) == len(expected)
    engine.close()


WEBHOOK = """
name: hooks
dimension: customers
activities:
  - {{id: who, type: build_audience, filter: "id <= 30"}}
  - id: hook
    type: webhook
    category: transactional
    url: "{url}/people/{{{{ id }}}}"
    method: PUT
    body: '{{"name": "{{{{ first_name }}}}", "ref": "{{{{ delivery_id }}}}"}}'
    headers: {{X-Tier: "{{{{ loyalty_tier }}}}"}}
  - id: push
    type: push
    category: transactional
    title: "Hi {{{{ first_name }}}}"
    body: "Your points: {{{{ id | times: 10 }}}}"
    data: {{screen: offers, who: "{{{{ id }}}}"}}
transitions:
  - {{from: who, to: hook}}
  - {{from: hook.out, to: push}}
"""


def test_webhook_and_push(project_dir: Path, http_servers: HttpServers, sql: SQL) -> None:
    hooks = http_servers()
    fcm = http_servers()
    from tests.channel_servers import Reply

    fcm.default = Reply.json(200, {"name": "projects/p/messages/1"})
    set_channels(
        project_dir,
        "  webhook: {provider: webhook, headers: {Authorization: Bearer k}}\n"
        f'  push: {{provider: fcm, project_id: p, token: t, base_url: "{fcm.url}"}}\n',
    )
    engine = open_engine(project_dir)
    report = run_campaign(engine, WEBHOOK.format(url=hooks.url), live=True)
    assert report["status"] == "completed", errors_of(engine, report)
    people = sql(
        "SELECT id, first_name, loyalty_tier, device_token FROM customers "
        "WHERE id <= 30 ORDER BY id"
    )
    assert sorted(r.path for r in hooks.requests) == sorted(f"/people/{p[0]}" for p in people)
    by_path = {r.path: r for r in hooks.requests}
    one = by_path[f"/people/{people[0][0]}"]
    assert one.method == "PUT"
    assert one.json() == {"name": people[0][1], "ref": f"{report['execution']}-hook-{people[0][0]}"}
    assert one.headers.get("x-tier") == people[0][2]
    assert one.headers.get("authorization") == "Bearer k"
    with_token = [p for p in people if p[3] is not None and p[3].strip()]
    pushes = [r.json()["message"] for r in fcm.requests]
    assert sorted(m["token"] for m in pushes) == sorted(p[3] for p in with_token)
    sample = next(m for m in pushes if m["token"] == with_token[0][3])
    assert sample["notification"] == {
        "title": f"Hi {with_token[0][1]}",
        "body": f"Your points: {with_token[0][0] * 10}",
    }
    assert sample["data"] == {"screen": "offers", "who": str(with_token[0][0])}
    engine.close()


def test_stop_during_a_send_sends_nothing_more(
    engine: Engine, smtp: SmtpServer, project_dir: Path, monkeypatch: Any
) -> None:
    engine.close()
    engine = open_engine(project_dir)
    execution = engine.start(parse_campaign(email_campaign(batch=20)))
    from partita.activities import channel

    original = channel._HandOff.deliver

    def stop_after_one(self: Any, *args: Any) -> None:  # after each batch's hand-offs
        original(self, *args)
        if engine.store.execution(execution.id).status == ExecutionStatus.RUNNING:
            engine.stop(execution.id)

    monkeypatch.setattr(channel._HandOff, "deliver", stop_after_one)
    assert engine.run(execution.id).status == ExecutionStatus.STOPPED
    assert len(smtp.messages) == 20
    assert engine.store.tasks(execution.id)[-1].status == TaskStatus.CANCELLED
    engine.close()


def test_rate_limit_spaces_the_messages(
    engine: Engine, smtp: SmtpServer, project_dir: Path
) -> None:
    import time

    engine.close()
    engine = open_engine(project_dir)
    text = email_campaign(extra="rate_limit: 40").replace(AUDIENCE, "id <= 12")
    text = text.replace("type: email", "type: email\n    category: transactional")
    started = time.monotonic()
    report = run_campaign(engine, text, live=True)
    elapsed = time.monotonic() - started
    sent = len(smtp.messages)
    assert report["status"] == "completed" and sent >= 10
    assert elapsed >= (sent - 1) / 40
    engine.close()


def test_marketing_push_needs_a_consent_column(engine: Engine) -> None:
    text = """
name: pushy
dimension: customers
activities:
  - {id: who, type: build_audience, filter: "id < 10"}
  - {id: p, type: push, title: "Hi", body: "{{ first_name }}"}
transitions:
  - {from: who, to: p}
"""
    engine.project.channels["push"] = {"provider": "outbox", "folder": "outbox"}
    with pytest.raises(InvalidInput) as caught:
        engine.validate(parse_campaign(text))
    assert "marketing push needs a consent column" in str(caught.value)
    assert "category: transactional" in str(caught.value)
    engine.validate(
        parse_campaign(text.replace("type: push,", "type: push, category: transactional,"))
    )


def test_frequency_cap_counts_the_delivery_history(
    engine: Engine, smtp: SmtpServer, sql: SQL, project_dir: Path
) -> None:
    engine.close()
    engine = open_engine(project_dir)
    capped = email_campaign(extra="frequency_cap: {max: 1, days: 7}")
    first = run_campaign(engine, capped, live=True)
    expected = eligible_sql(sql)
    assert len(smtp.messages) == len(expected)
    rows = ledger(engine, first["execution"])
    assert {(r.dimension, r.category) for r in rows} == {("customers", "marketing")}
    # a second campaign on the same people: everyone already got one email this week
    second = run_campaign(engine, capped.replace("name: spring", "name: spring2"), live=True)
    assert second["status"] == "completed", errors_of(engine, second)
    assert len(smtp.messages) == len(expected)
    reasons = [r["reason"] for r in table_rows(engine, second, "mail.excluded")]
    assert reasons.count("frequency_cap") == len(expected)
    # a cap of 2 lets them through once more
    third = run_campaign(
        engine,
        capped.replace("name: spring", "name: spring3").replace("max: 1", "max: 2"),
        live=True,
    )
    assert third["status"] == "completed"
    assert len(smtp.messages) == 2 * len(expected)
    engine.close()


def test_a_project_wide_cap_applies_to_marketing_of_its_channel(
    smtp: SmtpServer, sql: SQL, project_dir: Path
) -> None:
    path = project_dir / "partita.yaml"
    path.write_text(
        path.read_text(encoding="utf-8") + "frequency_caps:\n  email: {max: 1, days: 7}\n",
        encoding="utf-8",
    )
    engine = open_engine(project_dir)
    expected = eligible_sql(sql)
    run_campaign(engine, email_campaign(), live=True)
    second = run_campaign(
        engine, email_campaign().replace("name: spring", "name: spring2"), live=True
    )
    reasons = [r["reason"] for r in table_rows(engine, second, "mail.excluded")]
    assert reasons.count("frequency_cap") == len(expected)
    # the activity's own cap wins over the project's
    third = run_campaign(
        engine,
        email_campaign(extra="frequency_cap: {max: 2, days: 7}").replace(
            "name: spring", "name: spring3"
        ),
        live=True,
    )
    assert third["status"] == "completed"
    assert len(smtp.messages) == 2 * len(expected)
    engine.close()


def test_an_unknown_channel_in_frequency_caps_is_named(project_dir: Path) -> None:
    path = project_dir / "partita.yaml"
    path.write_text(
        path.read_text(encoding="utf-8") + "frequency_caps:\n  emial: {max: 1, days: 7}\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as caught:
        load_project(project_dir)
    assert "frequency_caps.emial" in str(caught.value)


def test_a_template_failing_on_a_row_fails_that_delivery_only(
    engine: Engine, smtp: SmtpServer, sql: SQL, project_dir: Path, hand_off: str
) -> None:
    engine.close()
    engine = open_engine(project_dir)
    text = email_campaign().replace(
        "spring is here", "{% assign odd = id | modulo: 2 %}{{ 10 | divided_by: odd }}"
    )
    report = run_campaign(engine, text, live=True)
    assert report["status"] == "completed", errors_of(engine, report)
    expected = eligible_sql(sql)
    odd = [row for row in expected if row[0] % 2]
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == sorted(row[1] for row in odd)
    failed = [r for r in ledger(engine, report["execution"]) if r.state == DeliveryState.FAILED]
    assert len(failed) == len(expected) - len(odd)
    assert {r.reason for r in failed} == {"render_error"}
    assert "subject" in (failed[0].error or "")
    engine.close()


def test_a_killed_worker_leaves_its_messages_to_the_next_run(
    project_dir: Path, http_servers: HttpServers, sql: SQL, monkeypatch: Any
) -> None:
    """A worker process killed during a hand-off: the task stops saying so, and what the workers
    had stays 'sending'; the next run resends those with their idempotency key (the gateway
    deduplicates) and sends everyone else exactly once."""
    import multiprocessing
    import os
    import signal
    import threading
    import time

    import partita.activities.channel as channel_activity
    from partita.activities.channel import IN_FLIGHT

    monkeypatch.setattr(channel_activity, "POOL_FROM", 1)
    server = http_servers()
    server.script(*[Reply.json(200, {"id": f"m{i}"}) for i in range(30)], Reply.hang(5))
    set_channels(project_dir, f'  sms: {{provider: http, url: "{server.url}/sms", token: k}}\n')
    engine = open_engine(project_dir)
    execution = engine.start(parse_campaign(SMS.replace(" and loyalty_tier = 'gold'", "")))

    def kill_the_workers() -> None:  # once the 31st request hangs in a worker
        deadline = time.monotonic() + 60
        while len(server.requests) < 31 and time.monotonic() < deadline:
            time.sleep(0.01)
        for worker in multiprocessing.active_children():
            os.kill(worker.pid or 0, signal.SIGKILL)

    killer = threading.Thread(target=kill_the_workers)
    killer.start()
    stopped = engine.run(execution.id)
    killer.join()
    assert stopped.status != ExecutionStatus.COMPLETED
    task = engine.store.tasks(execution.id)[-1]
    assert "a worker process handing off messages stopped" in (task.error or ""), task.error
    in_flight = [
        r for r in engine.store.deliveries(execution.id, "text") if r.state.value == "sending"
    ]
    assert 0 < len(in_flight) <= IN_FLIGHT
    before = len(server.requests)

    engine.retry(task.id)
    assert engine.run(execution.id).status == ExecutionStatus.COMPLETED
    expected = sql(
        "SELECT phone FROM customers WHERE country = 'FR' AND phone IS NOT NULL "
        "AND trim(phone) <> '' AND sms_optin"
    )
    rows = engine.store.deliveries(execution.id, "text")
    sent = [r for r in rows if r.state == DeliveryState.SENT]
    assert len(sent) + counts_of_invalid(engine, {"execution": execution.id}) == len(expected)
    by_key: dict[str, int] = {}
    for request in server.requests:
        key = request.headers["idempotency-key"]
        by_key[key] = by_key.get(key, 0) + 1
    assert set(by_key) == {r.idempotency_key for r in sent}  # everyone, under their own key
    twice = {key for key, n in by_key.items() if n > 1}
    # only what was out when the workers died was sent again, with the same key
    assert twice <= {r.idempotency_key for r in in_flight}
    assert len(server.requests) - before == len(sent) - (before - len(twice))
    engine.close()
