"""Providers: what hands a rendered message to the outside world, one ``send`` at a time.

Every provider has ``send(message) -> SendResult``, ``close()`` and ``idempotent``, and fails
with TransientError, PermanentError, FatalError or InDoubtError (see ``_base``).
"""

from __future__ import annotations

from partita.channels.providers._base import (
    FatalError,
    InDoubtError,
    PermanentError,
    Provider,
    ProviderError,
    SendResult,
    TransientError,
    retry,
)
from partita.channels.providers._http import (
    FcmPushProvider,
    JsonSmsProvider,
    TwilioSmsProvider,
    WebhookProvider,
    classify,
)
from partita.channels.providers._outbox import OutboxProvider, outbox_name
from partita.channels.providers._smtp import SmtpProvider

__all__ = [
    "FatalError",
    "FcmPushProvider",
    "InDoubtError",
    "JsonSmsProvider",
    "OutboxProvider",
    "PermanentError",
    "Provider",
    "ProviderError",
    "SendResult",
    "SmtpProvider",
    "TransientError",
    "TwilioSmsProvider",
    "WebhookProvider",
    "classify",
    "outbox_name",
    "retry",
]
