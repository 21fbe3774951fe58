"""Providers built from the ``channels:`` entries of ``partita.yaml``.

An entry names its provider kind and that kind's settings::

    channels:
      email: {provider: smtp, host: smtp.example.com, port: 587, security: starttls,
              username: "${SMTP_USER}", password: "${SMTP_PASSWORD}", sender: "Shop <news@shop.example>"}
      sms: {provider: http, url: "https://sms.example.com/send", token: "${SMS_TOKEN}"}

A channel activity sends through the entry named by its ``provider`` setting (default: its type).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from partita.channels.providers import (
    FcmPushProvider,
    JsonSmsProvider,
    OutboxProvider,
    Provider,
    SmtpProvider,
    TwilioSmsProvider,
    WebhookProvider,
)
from partita.model.problems import PartitaError, suggestion


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str
    sender: str | None = Field(default=None, description="default sender of the messages")


class SmtpSettings(_Entry):
    """``provider: smtp``: email over SMTP."""

    host: str
    port: int | None = None
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    pool_size: int = Field(default=1, ge=1)
    envelope_from: str | None = None


class OutboxSettings(_Entry):
    """``provider: outbox``: one file per message in ``folder`` (development, demo)."""

    folder: str = ".partita/outbox"


class JsonSmsSettings(_Entry):
    """``provider: http`` (or ``json``): a generic JSON SMS gateway."""

    url: str
    token: str | None = None
    id_field: str = "id"
    timeout: float = 10.0


class TwilioSettings(_Entry):
    """``provider: twilio``: Twilio's Messages API."""

    account_sid: str
    auth_token: str
    messaging_service_sid: str | None = None
    base_url: str = "https://api.twilio.com"
    timeout: float = 10.0


class FcmSettings(_Entry):
    """``provider: fcm``: FCM HTTP v1 push."""

    project_id: str
    token: str
    base_url: str = "https://fcm.googleapis.com"
    timeout: float = 10.0


class WebhookSettings(_Entry):
    """``provider: webhook``: one HTTP call per message."""

    headers: dict[str, str] = Field(default_factory=dict)
    idempotent: bool = False
    timeout: float = 10.0


#: Provider kind -> (its settings, the channel types it can send).
PROVIDER_KINDS: dict[str, tuple[type[_Entry], frozenset[str]]] = {
    "smtp": (SmtpSettings, frozenset({"email"})),
    "outbox": (OutboxSettings, frozenset({"email", "sms", "push", "webhook"})),
    "http": (JsonSmsSettings, frozenset({"sms"})),
    "json": (JsonSmsSettings, frozenset({"sms"})),
    "twilio": (TwilioSettings, frozenset({"sms"})),
    "fcm": (FcmSettings, frozenset({"push"})),
    "webhook": (WebhookSettings, frozenset({"webhook"})),
}


@dataclass(frozen=True)
class ChannelProvider:
    """A provider built from one ``channels:`` entry, with the entry's defaults."""

    name: str
    kind: str
    provider: Provider[Any]
    sender: str | None = None


def provider_problem(
    name: str, channel: str, channels: Mapping[str, Mapping[str, Any]]
) -> str | None:
    """What is wrong with sending ``channel`` messages through entry ``name``, if anything."""
    entry = channels.get(name)
    if entry is None:
        return (
            f"partita.yaml has no entry '{name}' under 'channels': "
            f"{suggestion(name, channels)}; add one, e.g. '{name}: {{provider: outbox}}'"
        )
    kind = entry.get("provider")
    if kind not in PROVIDER_KINDS:
        return (
            f"channels entry '{name}': unknown provider '{kind}': "
            f"{suggestion(str(kind), PROVIDER_KINDS)}"
        )
    settings, serves = PROVIDER_KINDS[str(kind)]
    if channel not in serves:
        return (
            f"channels entry '{name}': provider '{kind}' cannot send {channel} messages "
            f"(it sends {', '.join(sorted(serves))})"
        )
    try:
        settings.model_validate(dict(entry))
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in error.errors()
        )
        return f"channels entry '{name}' (provider '{kind}'): {details}"
    return None


def build_provider(
    name: str, channel: str, channels: Mapping[str, Mapping[str, Any]], root: Path
) -> ChannelProvider:
    """The provider of entry ``name`` for ``channel`` messages; PartitaError naming the entry
    when it is missing, of an unknown kind, or its settings are wrong."""
    problem = provider_problem(name, channel, channels)
    if problem is not None:
        raise PartitaError(problem)
    kind = str(channels[name]["provider"])
    settings = PROVIDER_KINDS[kind][0].model_validate(dict(channels[name]))
    try:
        provider = _construct(settings, root)
    except ValueError as error:
        raise PartitaError(f"channels entry '{name}' (provider '{kind}'): {error}") from None
    return ChannelProvider(name=name, kind=kind, provider=provider, sender=settings.sender)


def _construct(settings: _Entry, root: Path) -> Provider[Any]:
    provider: Provider[Any]
    if isinstance(settings, SmtpSettings):
        provider = SmtpProvider(
            settings.host,
            settings.port,
            security=settings.security,
            username=settings.username,
            password=settings.password,
            timeout=settings.timeout,
            pool_size=settings.pool_size,
            envelope_from=settings.envelope_from,
        )
    elif isinstance(settings, OutboxSettings):
        folder = Path(settings.folder)
        provider = OutboxProvider(folder if folder.is_absolute() else root / folder)
    elif isinstance(settings, JsonSmsSettings):
        provider = JsonSmsProvider(
            settings.url,
            settings.token,
            sender=settings.sender,
            id_field=settings.id_field,
            timeout=settings.timeout,
        )
    elif isinstance(settings, TwilioSettings):
        provider = TwilioSmsProvider(
            settings.account_sid,
            settings.auth_token,
            settings.sender if settings.messaging_service_sid is None else None,
            messaging_service_sid=settings.messaging_service_sid,
            base_url=settings.base_url,
            timeout=settings.timeout,
        )
    elif isinstance(settings, FcmSettings):
        provider = FcmPushProvider(
            settings.project_id,
            settings.token,
            base_url=settings.base_url,
            timeout=settings.timeout,
        )
    else:
        assert isinstance(settings, WebhookSettings)
        provider = WebhookProvider(
            headers=settings.headers, idempotent=settings.idempotent, timeout=settings.timeout
        )
    return provider
