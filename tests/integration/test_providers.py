"""Providers against real servers on loopback: SMTP (aiosmtpd, plain / STARTTLS / implicit TLS,
AUTH), HTTP (a recording stdlib server, also over HTTPS), the file outbox; and how every
failure is classified."""

from __future__ import annotations

import base64
import email.policy
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from partita.channels import (
    EmailMessage,
    FatalError,
    FcmPushProvider,
    InDoubtError,
    JsonSmsProvider,
    OutboxProvider,
    PermanentError,
    ProviderError,
    PushMessage,
    SendResult,
    SmsMessage,
    SmtpProvider,
    TokenSigner,
    Tracking,
    TransientError,
    TwilioSmsProvider,
    WebhookProvider,
    WebhookRequest,
    retry,
)
from partita.channels.providers import outbox_name
from tests.channel_servers import (
    LOOPBACK,
    HttpServer,
    HttpServers,
    Reply,
    SmtpServer,
    SmtpServers,
    certificates,
    free_port,
)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@pytest.fixture
def smtp_servers() -> Iterator[SmtpServers]:
    with SmtpServers() as start:
        yield start


@pytest.fixture
def http_servers() -> Iterator[HttpServers]:
    with HttpServers() as start:
        yield start


TRACKING = Tracking("https://t.shop.example", TokenSigner("a-tracking-secret-for-tests"))


def email_to(number: int, **changes: Any) -> EmailMessage:
    fields: dict[str, Any] = {
        "to": f"Customer {number} <c{number}@example.com>",
        "from_": "Shop News <news@shop.example>",
        "reply_to": "help@shop.example",
        "subject": f"Spring offer n°{number}",
        "html": f"<p>Hello <b>Ann {number}</b></p>",
        "text": f"Hello Ann {number}",
        "headers": {"X-Partita-Delivery": f"d{number}"},
        "unsubscribe_url": TRACKING.unsubscribe_url(f"exec1-mail-{number}"),
        "idempotency_key": f"exec1-mail-{number}",
    }
    fields.update(changes)
    return EmailMessage(**fields)


def smtp_for(server: SmtpServer, **options: Any) -> SmtpProvider:
    security = {"starttls": "starttls", "implicit": "tls", None: "none"}[server.tls]
    defaults: dict[str, Any] = {
        "security": security,
        "ssl_context": server.client_context,
        "timeout": 5.0,
    }
    if server.auth is not None:
        defaults.update(username=server.auth[0], password=server.auth[1])
    defaults.update(options)
    return SmtpProvider(server.host, server.port, **defaults)


def delivery_ids(server: SmtpServer) -> list[str]:
    return [str(mail.message()["X-Partita-Delivery"]) for mail in server.messages]


# -- SMTP ---------------------------------------------------------------------------------------


def test_smtp_plain_delivers_the_exact_message_on_one_connection(
    smtp_servers: SmtpServers,
) -> None:
    server = smtp_servers()
    with smtp_for(server) as provider:
        results = [provider.send(email_to(n)) for n in range(1, 4)]
    assert len(server.messages) == 3
    assert server.connections == 1
    assert provider.connections_opened == 1

    mail = server.messages[0]
    assert mail.mail_from == "news@shop.example"
    assert mail.rcpt_tos == ("c1@example.com",)
    message = mail.message()
    assert message["From"] == "Shop News <news@shop.example>"
    assert message["To"] == "Customer 1 <c1@example.com>"
    assert message["Reply-To"] == "help@shop.example"
    assert message["Subject"] == "Spring offer n°1"
    unsubscribe = TRACKING.unsubscribe_url("exec1-mail-1")
    assert len(unsubscribe) > 100  # longer than a header line: must not be folded or encoded
    assert message["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert TRACKING.read_unsubscribe(unsubscribe.rsplit("/", 1)[1]) == "exec1-mail-1"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["X-Partita-Delivery"] == "d1"
    assert message["Date"] is not None
    assert message["Message-ID"] == results[0].provider_message_id
    assert str(message["Message-ID"]).endswith("@shop.example>")
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().rstrip("\n") == "Hello Ann 1"
    assert html.get_content_type() == "text/html"
    assert html.get_content().rstrip("\n") == "<p>Hello <b>Ann 1</b></p>"
    assert len({r.provider_message_id for r in results}) == 3


def test_smtp_message_id_is_stable_for_an_idempotency_key(smtp_servers: SmtpServers) -> None:
    server = smtp_servers()
    with smtp_for(server) as provider:
        first = provider.send(email_to(1))
        again = provider.send(email_to(1))
    assert first == again
    ids = {str(mail.message()["Message-ID"]) for mail in server.messages}
    assert ids == {first.provider_message_id}


def test_smtp_derives_the_text_part_from_html(smtp_servers: SmtpServers) -> None:
    server = smtp_servers()
    html = '<p>Hello Ann</p><p><a href="https://shop.example/offer">See the offer</a></p>'
    with smtp_for(server) as provider:
        provider.send(email_to(1, text=None, html=html, unsubscribe_url=None))
    message = server.messages[0].message()
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert text.get_content().rstrip("\n") == (
        "Hello Ann\n\nSee the offer (https://shop.example/offer)"
    )
    assert message["List-Unsubscribe"] is None
    assert message["List-Unsubscribe-Post"] is None


def test_smtp_starttls_with_auth(smtp_servers: SmtpServers) -> None:
    server = smtp_servers(tls="starttls", auth=("ann", "s3cret"))
    with smtp_for(server) as provider:
        provider.send(email_to(1))
    assert [mail.login for mail in server.messages] == ["ann"]


def test_smtp_implicit_tls_with_auth(smtp_servers: SmtpServers) -> None:
    server = smtp_servers(tls="implicit", auth=("ann", "s3cret"))
    with smtp_for(server) as provider:
        provider.send(email_to(1))
        provider.send(email_to(2))
    assert delivery_ids(server) == ["d1", "d2"]
    assert [mail.login for mail in server.messages] == ["ann", "ann"]
    assert server.connections == 1


def test_smtp_auth_failure_is_fatal_and_says_what_to_fix(smtp_servers: SmtpServers) -> None:
    server = smtp_servers(auth=("ann", "s3cret"))
    with smtp_for(server, password="wrong") as provider, pytest.raises(FatalError) as caught:
        provider.send(email_to(1))
    message = str(caught.value)
    assert message.startswith(f"SMTP server {LOOPBACK}:{server.port} refused the login of 'ann'")
    assert "535" in message
    assert message.endswith("check the SMTP username and password")
    assert server.messages == []
    assert server.failed_logins >= 1  # smtplib tries each mechanism the server offers


def test_smtp_without_login_where_auth_is_required_is_fatal(smtp_servers: SmtpServers) -> None:
    server = smtp_servers(auth=("ann", "s3cret"))
    with smtp_for(server, username=None) as provider, pytest.raises(FatalError) as caught:
        provider.send(email_to(1))
    assert "requires authentication (530" in str(caught.value)
    assert str(caught.value).endswith("set the SMTP username and password")


def test_smtp_untrusted_certificate_is_fatal(smtp_servers: SmtpServers) -> None:
    server = smtp_servers(tls="implicit")
    with smtp_for(server, ssl_context=None) as provider, pytest.raises(FatalError) as caught:
        provider.send(email_to(1))
    assert "TLS certificate of SMTP server" in str(caught.value)
    assert "could not be verified" in str(caught.value)


def test_smtp_starttls_against_a_server_without_it_is_fatal(smtp_servers: SmtpServers) -> None:
    server = smtp_servers()
    with smtp_for(server, security="starttls") as provider, pytest.raises(FatalError) as caught:
        provider.send(email_to(1))
    assert "does not offer STARTTLS" in str(caught.value)


def test_smtp_no_server_is_transient() -> None:
    provider = SmtpProvider(LOOPBACK, free_port(), security="none", timeout=2.0)
    with provider, pytest.raises(TransientError) as caught:
        provider.send(email_to(1))
    assert str(caught.value).startswith(f"cannot connect to SMTP server {LOOPBACK}:")


def test_smtp_reconnects_when_the_server_drops_the_connection_mid_batch(
    smtp_servers: SmtpServers,
) -> None:
    server = smtp_servers(drop_after=3)
    with smtp_for(server) as provider:
        for n in range(1, 11):
            provider.send(email_to(n))
    assert delivery_ids(server) == [f"d{n}" for n in range(1, 11)]  # none lost, none twice
    assert server.connections == 4
    assert provider.connections_opened == 4


def test_smtp_drop_before_the_confirmation_is_in_doubt(smtp_servers: SmtpServers) -> None:
    server = smtp_servers(in_doubt_at={2})
    with smtp_for(server) as provider:
        provider.send(email_to(1))
        with pytest.raises(InDoubtError) as caught:
            provider.send(email_to(2))
        provider.send(email_to(3))
    assert "before confirming it" in str(caught.value)
    assert "may have been delivered" in str(caught.value)
    assert delivery_ids(server) == ["d1", "d2", "d3"]  # the server did get the second one


def test_smtp_recipient_refusals_are_permanent_or_transient(smtp_servers: SmtpServers) -> None:
    server = smtp_servers(
        reject={"c2@example.com": "550 5.1.1 no such user", "c3@example.com": "450 4.2.1 busy"}
    )
    with smtp_for(server) as provider:
        provider.send(email_to(1))
        with pytest.raises(PermanentError) as permanent:
            provider.send(email_to(2))
        with pytest.raises(TransientError) as transient:
            provider.send(email_to(3))
        provider.send(email_to(4))  # the connection is still good after RSET
    assert "refused the recipient 'c2@example.com' (550 5.1.1 no such user)" in str(permanent.value)
    assert "deferred the recipient 'c3@example.com' (450 4.2.1 busy)" in str(transient.value)
    assert delivery_ids(server) == ["d1", "d4"]
    assert server.connections == 1


def test_smtp_content_refusals_and_retry(smtp_servers: SmtpServers) -> None:
    server = smtp_servers(data_reply={1: "451 4.3.0 try later", 3: "554 5.7.1 spam"})
    with smtp_for(server) as provider:
        waits: list[float] = []
        result = retry(lambda: provider.send(email_to(1)), 3, 0.01, sleep=waits.append)
        with pytest.raises(PermanentError) as caught:
            provider.send(email_to(2))
    assert result.provider_message_id is not None
    assert len(waits) == 1
    assert "refused the message to 'c2@example.com' (554 5.7.1 spam)" in str(caught.value)
    assert delivery_ids(server) == ["d1"]


def test_smtp_421_after_the_content_is_resent_on_a_new_connection(
    smtp_servers: SmtpServers,
) -> None:
    # 421 says the server is closing and took nothing: resending is safe, nothing is doubled.
    server = smtp_servers(data_reply={2: "421 4.3.2 shutting down"})
    with smtp_for(server) as provider:
        provider.send(email_to(1))
        provider.send(email_to(2))
    assert delivery_ids(server) == ["d1", "d2"]
    assert server.attempts == 3
    assert provider.connections_opened == 2


def test_smtp_pool_is_shared_by_threads(smtp_servers: SmtpServers) -> None:
    server = smtp_servers()
    errors: list[BaseException] = []
    with smtp_for(server, pool_size=3) as provider:

        def work(start: int) -> None:
            try:
                for n in range(start, start + 10):
                    provider.send(email_to(n))
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(k * 10,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    assert sorted(delivery_ids(server)) == sorted(f"d{n}" for n in range(40))
    assert 1 <= provider.connections_opened <= 3


def test_smtp_refuses_a_message_without_a_usable_recipient(smtp_servers: SmtpServers) -> None:
    server = smtp_servers()
    with smtp_for(server) as provider, pytest.raises(PermanentError) as caught:
        provider.send(email_to(1, to="not an address"))
    assert "recipient address 'not an address' is not one email address" in str(caught.value)


# -- outbox -------------------------------------------------------------------------------------


def test_outbox_writes_one_eml_per_message_and_overwrites_on_resend(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path / "outbox")
    first = provider.send(email_to(1))
    provider.send(email_to(2))
    again = provider.send(email_to(1, subject="Spring offer, again"))
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == ["exec1-mail-1.eml", "exec1-mail-2.eml"]
    assert first.provider_message_id == again.provider_message_id
    parsed = email.message_from_bytes(
        (tmp_path / "outbox" / "exec1-mail-1.eml").read_bytes(), policy=email.policy.default
    )
    assert parsed["Subject"] == "Spring offer, again"
    assert parsed["To"] == "Customer 1 <c1@example.com>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_outbox_writes_other_channels_as_json(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path)
    provider.send(SmsMessage(to="+33612345678", body="Hi Ann", idempotency_key="exec1-sms-7"))
    record = json.loads((tmp_path / "exec1-sms-7.json").read_text(encoding="utf-8"))
    assert record == {
        "type": "SmsMessage",
        "to": "+33612345678",
        "body": "Hi Ann",
        "idempotency_key": "exec1-sms-7",
    }


def test_outbox_names_unsafe_keys_without_collisions() -> None:
    assert outbox_name("exec-1.mail_2") == "exec-1.mail_2"
    a, b = outbox_name("a/b:c"), outbox_name("a:b/c")
    assert a != b
    assert a.startswith("a_b_c-") and b.startswith("a_b_c-")
    assert "/" not in outbox_name("../../etc/passwd")
    assert outbox_name("..") != ".."


def test_outbox_unwritable_folder_is_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(FatalError) as caught:
        OutboxProvider(blocker / "outbox").send(email_to(1))
    assert "cannot write to the outbox folder" in str(caught.value)


# -- HTTP: exact requests -----------------------------------------------------------------------


def test_json_sms_request(http_servers: HttpServers) -> None:
    server = http_servers(default=Reply.json(201, {"id": "sms-42", "status": "queued"}))
    with JsonSmsProvider(f"{server.url}/v1/sms", "tok-123", sender="SHOP") as provider:
        result = provider.send(SmsMessage(to="+33612345678", body="Hi é", idempotency_key="k-1"))
    assert result == SendResult("sms-42")
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/v1/sms")
    assert request.headers["authorization"] == "Bearer tok-123"
    assert request.headers["idempotency-key"] == "k-1"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"to": "+33612345678", "body": "Hi é", "from": "SHOP"}


def test_twilio_request(http_servers: HttpServers) -> None:
    server = http_servers(default=Reply.json(201, {"sid": "SM0123", "status": "queued"}))
    provider = TwilioSmsProvider("AC42", "auth-tok", "+15005550006", base_url=server.url + "/")
    with provider:
        result = provider.send(SmsMessage(to="+14155552671", body="Hi & bye", idempotency_key="k"))
    assert result == SendResult("SM0123")
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/2010-04-01/Accounts/AC42/Messages.json")
    expected = "Basic " + base64.b64encode(b"AC42:auth-tok").decode()
    assert request.headers["authorization"] == expected
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {
        "To": ["+14155552671"],
        "Body": ["Hi & bye"],
        "From": ["+15005550006"],
    }


def test_fcm_request(http_servers: HttpServers) -> None:
    server = http_servers(default=Reply.json(200, {"name": "projects/shop/messages/0:17"}))
    tokens = iter(["oauth-1", "oauth-2"])
    with FcmPushProvider("shop", lambda: next(tokens), base_url=server.url) as provider:
        message = PushMessage(
            token="dev-tok", title="Sale", body="-20% today", data={"offer": "spring", "n": "3"}
        )
        first = provider.send(message)
        provider.send(message)
    assert first == SendResult("projects/shop/messages/0:17")
    assert [r.path for r in server.requests] == ["/v1/projects/shop/messages:send"] * 2
    assert [r.headers["authorization"] for r in server.requests] == [
        "Bearer oauth-1",
        "Bearer oauth-2",
    ]
    assert server.requests[0].json() == {
        "message": {
            "token": "dev-tok",
            "notification": {"title": "Sale", "body": "-20% today"},
            "data": {"offer": "spring", "n": "3"},
        }
    }


def test_webhook_request(http_servers: HttpServers) -> None:
    server = http_servers(default=Reply(204))
    provider = WebhookProvider(headers={"X-Api-Key": "k1", "content-type": "text/plain"})
    body = '{"customer": 7, "letter": "spring"}'
    with provider:
        result = provider.send(
            WebhookRequest(
                url=f"{server.url}/letters?batch=1",
                method="put",
                body=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
                idempotency_key="exec1-hook-7",
            )
        )
    assert result == SendResult(None)
    (request,) = server.requests
    assert (request.method, request.path) == ("PUT", "/letters?batch=1")
    assert request.body == body.encode()
    assert request.headers["x-api-key"] == "k1"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["idempotency-key"] == "exec1-hook-7"


def test_fcm_over_https_with_a_trusted_ca(http_servers: HttpServers) -> None:
    server = http_servers(
        default=Reply.json(200, {"name": "projects/p/messages/1"}),
        ssl_context=certificates().server_context(),
    )
    transport = httpx.HTTPTransport(verify=certificates().client_context())
    message = PushMessage(token="t", title="T", body="B")
    with FcmPushProvider("p", "tok", base_url=server.url, transport=transport) as provider:
        assert provider.send(message) == SendResult("projects/p/messages/1")
    with (
        FcmPushProvider("p", "tok", base_url=server.url) as untrusting,
        pytest.raises(FatalError) as caught,
    ):
        untrusting.send(message)
    assert "TLS certificate could not be verified" in str(caught.value)


# -- HTTP: classification -----------------------------------------------------------------------

Make = Callable[[HttpServer, float], tuple[Any, Any]]


def _json_sms(server: HttpServer, timeout: float) -> tuple[Any, Any]:
    provider = JsonSmsProvider(server.url + "/sms", "tok", timeout=timeout)
    return provider, SmsMessage(to="+33612345678", body="Hi", idempotency_key="k")


def _twilio(server: HttpServer, timeout: float) -> tuple[Any, Any]:
    provider = TwilioSmsProvider("AC1", "tok", "+15005550006", base_url=server.url, timeout=timeout)
    return provider, SmsMessage(to="+33612345678", body="Hi", idempotency_key="k")


def _fcm(server: HttpServer, timeout: float) -> tuple[Any, Any]:
    provider = FcmPushProvider("p", "tok", base_url=server.url, timeout=timeout)
    return provider, PushMessage(token="t", title="T", body="B", idempotency_key="k")


def _webhook(server: HttpServer, timeout: float) -> tuple[Any, Any]:
    provider = WebhookProvider(timeout=timeout)
    return provider, WebhookRequest(url=server.url + "/hook", body="{}", idempotency_key="k")


PROVIDERS: dict[str, tuple[Make, Reply]] = {
    "json_sms": (_json_sms, Reply.json(200, {"id": "x1"})),
    "twilio": (_twilio, Reply.json(201, {"sid": "x1"})),
    "fcm": (_fcm, Reply.json(200, {"name": "x1"})),
    "webhook": (_webhook, Reply.json(200, {"id": "x1"})),
}

#: provider → what a 200 with a garbage body and a timeout are.
GARBAGE_OK = {"json_sms": None, "twilio": InDoubtError, "fcm": InDoubtError, "webhook": None}
TIMEOUT = {"json_sms": TransientError, "twilio": InDoubtError, "fcm": InDoubtError}
TIMEOUT["webhook"] = InDoubtError

ERRORS = {
    "400": (Reply.json(400, {"message": "invalid 'to' number"}), PermanentError),
    "404": (Reply.json(404, {"error": {"message": "no such device"}}), PermanentError),
    "422": (Reply.json(422, {"detail": "body too long"}), PermanentError),
    "401": (Reply.json(401, {"error": "invalid token"}), FatalError),
    "403": (Reply.json(403, {"message": "forbidden"}), FatalError),
    "402": (Reply.json(402, {"message": "no credit"}), FatalError),
    "429": (Reply.json(429, {"message": "slow down"}, **{"Retry-After": "7"}), TransientError),
    "500": (Reply.json(500, {"message": "oops"}), TransientError),
    "502_garbage": (Reply.garbage(502), TransientError),
}


@pytest.mark.parametrize("name", PROVIDERS)
def test_http_success(http_servers: HttpServers, name: str) -> None:
    make, ok = PROVIDERS[name]
    server = http_servers(default=ok)
    provider, message = make(server, 5.0)
    with provider:
        assert provider.send(message) == SendResult("x1")


@pytest.mark.parametrize("case", ERRORS)
@pytest.mark.parametrize("name", PROVIDERS)
def test_http_error_classification(http_servers: HttpServers, name: str, case: str) -> None:
    make, _ = PROVIDERS[name]
    reply, expected = ERRORS[case]
    server = http_servers(default=reply)
    provider, message = make(server, 5.0)
    with provider, pytest.raises(ProviderError) as caught:
        provider.send(message)
    assert type(caught.value) is expected
    text = str(caught.value)
    assert f"answered HTTP {reply.status}" in text
    assert server.url in text
    if case == "429":
        assert isinstance(caught.value, TransientError)
        assert caught.value.retry_after == 7.0
    if case == "400":
        assert "(invalid 'to' number)" in text
    if case == "401":
        assert "(invalid token): check the credentials" in text
    if case == "402":
        assert "out of quota or credit" in text
    if case == "502_garbage":
        assert "body: <html><body>" in text


@pytest.mark.parametrize("name", PROVIDERS)
def test_http_garbage_success_body(http_servers: HttpServers, name: str) -> None:
    make, _ = PROVIDERS[name]
    server = http_servers(default=Reply.garbage(200))
    provider, message = make(server, 5.0)
    with provider:
        expected = GARBAGE_OK[name]
        if expected is None:
            assert provider.send(message) == SendResult(None)
        else:
            with pytest.raises(expected) as caught:
                provider.send(message)
            assert "answered HTTP" in str(caught.value)
            assert "may have been sent" in str(caught.value)
            assert "check that the base URL points at the provider" in str(caught.value)


@pytest.mark.parametrize("name", PROVIDERS)
def test_http_timeout(http_servers: HttpServers, name: str) -> None:
    make, _ = PROVIDERS[name]
    server = http_servers(default=Reply.hang(10.0))
    provider, message = make(server, 0.3)
    started = time.monotonic()
    with provider, pytest.raises(ProviderError) as caught:
        provider.send(message)
    assert time.monotonic() - started < 3.0
    assert type(caught.value) is TIMEOUT[name]
    assert "did not answer (no answer in time)" in str(caught.value)
    assert len(server.requests) == 1


def test_http_retry_after_transient_answers(http_servers: HttpServers) -> None:
    server = http_servers(default=Reply.json(200, {"id": "ok"}))
    server.script(Reply.json(503, {"message": "busy"}), Reply.json(429, {}, **{"Retry-After": "2"}))
    waits: list[float] = []
    with JsonSmsProvider(server.url, "tok") as provider:
        message = SmsMessage(to="+33612345678", body="Hi", idempotency_key="k-9")
        result = retry(lambda: provider.send(message), 5, 0.1, sleep=waits.append, jitter=lambda: 0)
    assert result == SendResult("ok")
    assert waits == [0.05, 2.0]
    assert [r.headers["idempotency-key"] for r in server.requests] == ["k-9"] * 3


def test_twilio_sender_misconfiguration_is_fatal(http_servers: HttpServers) -> None:
    body = {"code": 21606, "message": "The From phone number is not a valid, SMS-capable number"}
    server = http_servers(default=Reply.json(400, body))
    provider, message = _twilio(server, 5.0)
    with provider, pytest.raises(FatalError) as caught:
        provider.send(message)
    assert "(code 21606: The From phone number" in str(caught.value)
    assert str(caught.value).endswith("check 'sender' or 'messaging_service_sid'")


def test_fcm_unregistered_token_is_permanent(http_servers: HttpServers) -> None:
    body = {
        "error": {
            "code": 404,
            "message": "Requested entity was not found.",
            "status": "NOT_FOUND",
            "details": [{"@type": "type.googleapis.com/FcmError", "errorCode": "UNREGISTERED"}],
        }
    }
    server = http_servers(default=Reply.json(404, body))
    provider, message = _fcm(server, 5.0)
    with provider, pytest.raises(PermanentError) as caught:
        provider.send(message)
    assert "device token is no longer registered (UNREGISTERED" in str(caught.value)


def test_http_no_server_is_transient() -> None:
    with (
        JsonSmsProvider(f"http://{LOOPBACK}:{free_port()}/sms") as provider,
        pytest.raises(TransientError) as caught,
    ):
        provider.send(SmsMessage(to="+33612345678", body="Hi"))
    assert str(caught.value).startswith("cannot connect to the SMS gateway at http://")


# -- HTTP through httpx.MockTransport: failures a real server cannot easily stage -----------------


def _raising(error: type[httpx.TransportError]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (httpx.ConnectError, False, TransientError),
        (httpx.ConnectTimeout, False, TransientError),
        (httpx.WriteError, False, TransientError),
        (httpx.ReadError, False, InDoubtError),
        (httpx.ReadError, True, TransientError),
        (httpx.RemoteProtocolError, False, InDoubtError),
        (httpx.ReadTimeout, True, TransientError),
    ],
)
def test_transport_failures(
    error: type[httpx.TransportError], idempotent: bool, expected: type[ProviderError]
) -> None:
    provider = WebhookProvider(idempotent=idempotent, transport=_raising(error))
    with provider, pytest.raises(ProviderError) as caught:
        provider.send(WebhookRequest(url="https://hooks.example/x", body="{}"))
    assert type(caught.value) is expected


def test_webhook_bad_url_is_permanent_and_configured_bad_url_is_fatal() -> None:
    with WebhookProvider() as provider, pytest.raises(PermanentError) as caught:
        provider.send(WebhookRequest(url="ftp://hooks.example/x"))
    assert "the URL is not usable" in str(caught.value)
    with JsonSmsProvider("nope://sms.example") as sms, pytest.raises(FatalError):
        sms.send(SmsMessage(to="+33612345678", body="Hi"))
    with WebhookProvider() as provider, pytest.raises(PermanentError) as method:
        provider.send(WebhookRequest(url="https://hooks.example/x", method="TRACE"))
    assert "method 'TRACE' is not one of" in str(method.value)


def test_redirects_are_not_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": "https://api.sms.example/v2/send"})

    transport = httpx.MockTransport(handler)
    with (
        JsonSmsProvider("http://sms.example/send", transport=transport) as sms,
        pytest.raises(FatalError) as caught,
    ):
        sms.send(SmsMessage(to="+33612345678", body="Hi"))
    assert str(caught.value) == (
        "the SMS gateway at http://sms.example/send answered HTTP 301, a redirect to "
        "https://api.sms.example/v2/send: use the final URL"
    )


def test_a_failing_token_function_is_fatal() -> None:
    def token() -> str:
        raise RuntimeError("no service account key")

    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"name": "n"}))
    with FcmPushProvider("p", token, transport=transport) as fcm, pytest.raises(FatalError) as e:
        fcm.send(PushMessage(token="t", title="T", body="B"))
    assert "cannot get the access token of the provider: no service account key" in str(e.value)


def test_mock_transport_sees_the_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": 17})

    with JsonSmsProvider("https://sms.example/send", transport=httpx.MockTransport(handler)) as p:
        assert p.send(SmsMessage(to="+33612345678", body="Hi")) == SendResult("17")
    assert "authorization" not in seen[0].headers
    assert "idempotency-key" not in seen[0].headers


# -- retry --------------------------------------------------------------------------------------


def test_retry_backs_off_exponentially_with_jitter_and_a_cap() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 5:
            raise TransientError("not yet")
        return "done"

    waits: list[float] = []
    result = retry(flaky, 5, 1.0, max_delay=5.0, sleep=waits.append, jitter=lambda: 1.0)
    assert result == "done"
    assert waits == [1.0, 2.0, 4.0, 5.0]
    waits.clear()
    calls.clear()
    retry(flaky, 5, 1.0, sleep=waits.append, jitter=lambda: 0.0)
    assert waits == [0.5, 1.0, 2.0, 4.0]


def test_retry_gives_up_and_never_retries_other_errors() -> None:
    attempts: list[int] = []

    def always(error: Exception) -> Callable[[], None]:
        def call() -> None:
            attempts.append(1)
            raise error

        return call

    with pytest.raises(TransientError):
        retry(always(TransientError("down")), 3, 0.0, sleep=lambda _: None)
    assert len(attempts) == 3
    for error in (PermanentError("no"), FatalError("stop"), InDoubtError("maybe")):
        attempts.clear()
        with pytest.raises(type(error)):
            retry(always(error), 3, 0.0, sleep=lambda _: None)
        assert len(attempts) == 1
    waits: list[float] = []
    with pytest.raises(TransientError):
        retry(
            always(TransientError("later", retry_after=120)),
            2,
            0.1,
            max_delay=9,
            sleep=waits.append,
        )
    assert waits == [9]
