"""Channels: message templates, messages, addresses, tracking tokens and providers.

>>> template = compile_template("Hello {{ first_name | default: 'there' }}", "subject")
>>> template.render({"first_name": None})
'Hello there'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from partita.channels._addresses import normalize_phone, valid_email
from partita.channels._config import (
    PROVIDER_KINDS,
    ChannelProvider,
    build_provider,
    provider_problem,
)
from partita.channels._messages import (
    EmailMessage,
    PushMessage,
    SmsMessage,
    WebhookRequest,
    html_to_text,
    message_id,
    mime_bytes,
    to_mime,
)
from partita.channels._templates import (
    Template,
    TemplateError,
    check_templates,
    compile_template,
    message_variables,
    template_variables,
)
from partita.channels._tracking import (
    Click,
    TokenError,
    TokenSigner,
    Tracking,
    add_open_pixel,
    rewrite_links,
    tracking_of,
)
from partita.channels.providers import (
    FatalError,
    FcmPushProvider,
    InDoubtError,
    JsonSmsProvider,
    OutboxProvider,
    PermanentError,
    Provider,
    ProviderError,
    SendResult,
    SmtpProvider,
    TransientError,
    TwilioSmsProvider,
    WebhookProvider,
    retry,
)

if TYPE_CHECKING:
    from partita.channels._exclusions import (
        REASONS,
        SUPPRESSIONS,
        ExclusionRules,
        count_reasons,
        suppressions,
        usable_address,
        with_reasons,
    )
    from partita.channels._feedback import sync_suppressions
    from partita.channels._history import DELIVERIES_TABLE, EVENTS_TABLE, DeliveryHistory
    from partita.channels._ledger import Ledger, Recipient, idempotency_key

#: The names whose modules read the warehouse or the state store: imported when first used, so
#: that a worker process making messages loads neither.
_WAREHOUSE_SIDE = {
    **dict.fromkeys(
        [
            "REASONS",
            "SUPPRESSIONS",
            "ExclusionRules",
            "count_reasons",
            "suppressions",
            "usable_address",
            "with_reasons",
        ],
        "partita.channels._exclusions",
    ),
    "sync_suppressions": "partita.channels._feedback",
    **dict.fromkeys(
        ["DELIVERIES_TABLE", "EVENTS_TABLE", "DeliveryHistory"], "partita.channels._history"
    ),
    **dict.fromkeys(["Ledger", "Recipient", "idempotency_key"], "partita.channels._ledger"),
}


def __getattr__(name: str) -> object:
    home = _WAREHOUSE_SIDE.get(name)
    if home is None:
        raise AttributeError(f"module 'partita.channels' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = [
    "DELIVERIES_TABLE",
    "EVENTS_TABLE",
    "PROVIDER_KINDS",
    "REASONS",
    "SUPPRESSIONS",
    "ChannelProvider",
    "Click",
    "DeliveryHistory",
    "EmailMessage",
    "ExclusionRules",
    "FatalError",
    "FcmPushProvider",
    "InDoubtError",
    "JsonSmsProvider",
    "Ledger",
    "OutboxProvider",
    "PermanentError",
    "Provider",
    "ProviderError",
    "PushMessage",
    "Recipient",
    "SendResult",
    "SmsMessage",
    "SmtpProvider",
    "Template",
    "TemplateError",
    "TokenError",
    "TokenSigner",
    "Tracking",
    "TransientError",
    "TwilioSmsProvider",
    "WebhookProvider",
    "WebhookRequest",
    "add_open_pixel",
    "build_provider",
    "check_templates",
    "compile_template",
    "count_reasons",
    "html_to_text",
    "idempotency_key",
    "message_id",
    "message_variables",
    "mime_bytes",
    "normalize_phone",
    "provider_problem",
    "retry",
    "rewrite_links",
    "suppressions",
    "sync_suppressions",
    "template_variables",
    "to_mime",
    "tracking_of",
    "usable_address",
    "valid_email",
    "with_reasons",
]
