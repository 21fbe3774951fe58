"""Channels: message templates, messages, addresses, tracking tokens and providers.

>>> template = compile_template("Hello {{ first_name | default: 'there' }}", "subject")
>>> template.render({"first_name": None})
'Hello there'
"""

from __future__ import annotations

from partita.channels._addresses import normalize_phone, valid_email
from partita.channels._messages import (
    EmailMessage,
    PushMessage,
    SmsMessage,
    WebhookRequest,
    html_to_text,
    message_id,
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

__all__ = [
    "Click",
    "EmailMessage",
    "FatalError",
    "FcmPushProvider",
    "InDoubtError",
    "JsonSmsProvider",
    "OutboxProvider",
    "PermanentError",
    "Provider",
    "ProviderError",
    "PushMessage",
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
    "check_templates",
    "compile_template",
    "html_to_text",
    "message_id",
    "message_variables",
    "normalize_phone",
    "retry",
    "rewrite_links",
    "template_variables",
    "to_mime",
    "valid_email",
]
