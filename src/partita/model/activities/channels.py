"""Settings of the channel activities: email, sms, push and webhook.

Every content setting is a Liquid template over the recipient's row (docs/templates.md); the
activity's ``outputs()`` are ``out`` (the recipients sent, with delivery columns) and
``excluded`` (the recipients not sent, with the ``reason``).
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from partita.model.activities.base import ActivityBase, Columns
from partita.model.datamodel import ColumnType

#: Columns the ``out`` output adds to the inbound population.
DELIVERY_COLUMNS: Columns = {
    "delivery_id": ColumnType.STRING,
    "sent_at": ColumnType.TIMESTAMP,
    "provider_message_id": ColumnType.STRING,
}
#: The column the ``excluded`` output adds.
EXCLUDED_COLUMNS: Columns = {"reason": ColumnType.STRING}


class FrequencyCap(BaseModel):
    """At most ``max`` marketing messages of the channel per recipient in the last ``days``."""

    model_config = ConfigDict(extra="forbid")

    max: int = Field(ge=1, description="messages allowed in the window (this one included)")
    days: float = Field(gt=0, description="length of the rolling window, in days")


class QuietHours(BaseModel):
    """Local hours when marketing messages wait: from ``start`` to ``end`` in the recipient's
    time zone (the window may span midnight: 21:00 to 08:00)."""

    model_config = ConfigDict(extra="forbid")

    start: dt.time = Field(description="local time the quiet window starts (HH:MM)")
    end: dt.time = Field(description="local time it ends, excluded (HH:MM)")
    timezone: str = Field(
        default="UTC",
        description="the zone of recipients whose time zone column is empty or unknown",
    )
    defer: bool = Field(
        default=True,
        description="send to recipients in their quiet hours when the window ends (false: "
        "exclude them with reason quiet_hours)",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{value}': use an IANA name such as 'Europe/Paris'"
            ) from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end at the same time: the window is empty")
        return self


class ChannelBase(ActivityBase):
    """What every channel activity has: category, batching, rate, confirmation, proofs, provider."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    category: Literal["marketing", "transactional"] = Field(
        default="marketing",
        description="marketing requires consent; transactional does not",
    )
    batch_size: int = Field(
        default=500, ge=1, le=100_000, description="recipients read, recorded and sent at a time"
    )
    rate_limit: float | None = Field(
        default=None, gt=0, description="at most this many messages per second"
    )
    confirm_before_send: bool = Field(
        default=False,
        description="live: wait in status 'awaiting confirmation' until 'partita confirm'",
    )
    proof: list[str] = Field(
        default_factory=list, description="test addresses that proofs are sent to"
    )
    frequency_cap: FrequencyCap | None = Field(
        default=None,
        description="marketing only: skip recipients who already got 'max' messages of this "
        "channel in the last 'days' (counted from the delivery ledger)",
    )
    quiet_hours: QuietHours | None = Field(
        default=None,
        description="marketing only: local hours when nothing is sent to a recipient (deferred "
        "to the end of the window, in the recipient's time zone)",
    )
    provider: str | None = Field(
        default=None,
        description="the entry under 'channels:' in partita.yaml (default: the channel's type)",
    )

    #: The dimension setting that names the address column (email, phone, push_token).
    address_setting: ClassVar[str | None] = None
    #: The consent channel name (``consent: {email: …}`` in the dimension).
    consent_channel: ClassVar[str | None] = None

    def outputs(self) -> list[str]:
        return ["out", "excluded"]

    def output_columns(self, output: str, inputs: list[Columns]) -> Columns:
        carried = dict(inputs[0]) if inputs else {}
        extra = DELIVERY_COLUMNS if output == "out" else EXCLUDED_COLUMNS
        return carried | extra

    def provider_name(self) -> str:
        """The ``channels:`` entry this activity sends through."""
        return self.provider or self.kind

    def templates(self) -> dict[str, str]:
        """Field -> Liquid text of every content setting."""
        raise NotImplementedError


class EmailActivity(ChannelBase):
    """Sends one email to each recipient of the inbound population."""

    type: Literal["email"] = "email"
    subject: str = Field(description="Liquid template of the subject")
    html: str | None = Field(default=None, description="Liquid template of the HTML part")
    text: str | None = Field(
        default=None, description="Liquid template of the text part (default: from the html)"
    )
    from_: str | None = Field(
        default=None, alias="from", description="sender (default: the provider's 'sender')"
    )
    reply_to: str | None = Field(default=None, description="Reply-To address template")

    address_setting: ClassVar[str | None] = "email"
    consent_channel: ClassVar[str | None] = "email"

    def templates(self) -> dict[str, str]:
        found = {"subject": self.subject}
        for field, value in (
            ("html", self.html),
            ("text", self.text),
            ("from", self.from_),
            ("reply_to", self.reply_to),
        ):
            if value is not None:
                found[field] = value
        return found


class SmsActivity(ChannelBase):
    """Sends one SMS to each recipient (numbers normalized to E.164)."""

    type: Literal["sms"] = "sms"
    body: str = Field(description="Liquid template of the text message")
    default_region: str | None = Field(
        default=None, description="ISO country of numbers written without +: FR, US…"
    )

    address_setting: ClassVar[str | None] = "phone"
    consent_channel: ClassVar[str | None] = "sms"

    def templates(self) -> dict[str, str]:
        return {"body": self.body}


class PushActivity(ChannelBase):
    """Sends one push notification to each recipient's device token."""

    type: Literal["push"] = "push"
    title: str = Field(description="Liquid template of the title")
    body: str = Field(description="Liquid template of the body")
    data: dict[str, str] = Field(
        default_factory=dict, description="key -> Liquid template of the app's payload"
    )

    address_setting: ClassVar[str | None] = "push_token"
    consent_channel: ClassVar[str | None] = "push"

    def templates(self) -> dict[str, str]:
        return {"title": self.title, "body": self.body} | {
            f"data.{key}": value for key, value in self.data.items()
        }


class WebhookActivity(ChannelBase):
    """One HTTP call per recipient (direct mail providers, CRMs, anything else)."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(description="Liquid template of the URL")
    method: str = Field(default="POST", description="HTTP method (a template)")
    body: str | None = Field(default=None, description="Liquid template of the request body")
    headers: dict[str, str] = Field(
        default_factory=dict, description="header -> Liquid template of its value"
    )

    consent_channel: ClassVar[str | None] = "webhook"

    def templates(self) -> dict[str, str]:
        found = {"url": self.url, "method": self.method}
        if self.body is not None:
            found["body"] = self.body
        return found | {f"headers.{name}": value for name, value in self.headers.items()}


CHANNEL_KINDS: tuple[type[ChannelBase], ...] = (
    EmailActivity,
    SmsActivity,
    PushActivity,
    WebhookActivity,
)
