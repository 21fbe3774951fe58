"""Providers built from ``channels:`` entries, and the errors that name the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from partita.channels import (
    JsonSmsProvider,
    OutboxProvider,
    SmtpProvider,
    TwilioSmsProvider,
    build_provider,
    idempotency_key,
    provider_problem,
    usable_address,
)
from partita.model.problems import PartitaError

CHANNELS = {
    "email": {"provider": "smtp", "host": "mail.example", "sender": "a@shop.example"},
    "dev": {"provider": "outbox", "folder": "outbox"},
    "sms": {"provider": "http", "url": "https://sms.example/send", "token": "t"},
    "twilio": {"provider": "twilio", "account_sid": "AC1", "auth_token": "x", "sender": "+1555"},
    "odd": {"provider": "carrier_pigeon"},
    "bad": {"provider": "smtp", "hots": "x"},
}


def test_builds_each_kind(tmp_path: Path) -> None:
    smtp = build_provider("email", "email", CHANNELS, tmp_path)
    assert isinstance(smtp.provider, SmtpProvider) and smtp.sender == "a@shop.example"
    assert smtp.provider.port == 587 and smtp.provider.security == "starttls"
    outbox = build_provider("dev", "sms", CHANNELS, tmp_path).provider
    assert isinstance(outbox, OutboxProvider) and outbox.folder == tmp_path / "outbox"
    assert isinstance(build_provider("sms", "sms", CHANNELS, tmp_path).provider, JsonSmsProvider)
    twilio = build_provider("twilio", "sms", CHANNELS, tmp_path).provider
    assert isinstance(twilio, TwilioSmsProvider)


@pytest.mark.parametrize(
    ("name", "channel", "message"),
    [
        ("mailer", "email", "partita.yaml has no entry 'mailer' under 'channels'"),
        ("odd", "email", "channels entry 'odd': unknown provider 'carrier_pigeon'"),
        ("email", "sms", "channels entry 'email': provider 'smtp' cannot send sms messages"),
        ("bad", "email", "channels entry 'bad' (provider 'smtp'): host: Field required"),
    ],
)
def test_errors_name_the_entry(name: str, channel: str, message: str, tmp_path: Path) -> None:
    assert message in (provider_problem(name, channel, CHANNELS) or "")
    with pytest.raises(PartitaError, match="channels"):
        build_provider(name, channel, CHANNELS, tmp_path)


def test_addresses_and_keys() -> None:
    assert usable_address("email", " ann@example.com ") == "ann@example.com"
    assert usable_address("email", "ann@@example.com") is None
    assert usable_address("sms", "06 12 34 56 78", "FR") == "+33612345678"
    assert usable_address("sms", "12") is None
    assert usable_address("push", "  ") is None
    assert idempotency_key(7, "mail", "42") == "7-mail-42"


def test_channel_settings() -> None:
    from pydantic import ValidationError

    from partita.model.activities import EmailActivity, SmsActivity, WebhookActivity

    mail = EmailActivity.model_validate(
        {"id": "m", "subject": "Hi {{ first_name }}", "html": "<p>x</p>", "from": "a@b.co"}
    )
    assert mail.outputs() == ["out", "excluded"]
    assert (mail.category, mail.batch_size, mail.provider_name()) == ("marketing", 500, "email")
    assert mail.templates() == {
        "subject": "Hi {{ first_name }}",
        "html": "<p>x</p>",
        "from": "a@b.co",
    }
    assert set(mail.output_columns("out", [{}])) == {
        "delivery_id",
        "sent_at",
        "provider_message_id",
    }
    assert set(mail.output_columns("excluded", [{}])) == {"reason"}
    sms = SmsActivity.model_validate({"id": "s", "body": "x", "provider": "twilio"})
    assert sms.provider_name() == "twilio"
    hook = WebhookActivity.model_validate(
        {"id": "w", "url": "https://x/{{ id }}", "headers": {"X-A": "{{ id }}"}}
    )
    assert hook.templates() == {
        "url": "https://x/{{ id }}",
        "method": "POST",
        "headers.X-A": "{{ id }}",
    }
    with pytest.raises(ValidationError, match="extra"):
        EmailActivity.model_validate({"id": "m", "subject": "x", "subjet": "y"})
    with pytest.raises(ValidationError):
        EmailActivity.model_validate({"id": "m", "subject": "x", "batch_size": 0})
