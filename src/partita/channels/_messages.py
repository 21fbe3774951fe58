"""Rendered messages, one per recipient, as providers take them; email as MIME; text from HTML.

Every message carries the ``idempotency_key`` of its ledger row: providers that accept one pass
it on, the file outbox names its file after it, and an email's ``Message-ID`` is derived from it
(a resend of the same delivery carries the same ``Message-ID``).
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass(frozen=True, kw_only=True, slots=True)
class EmailMessage:
    """One email. ``to``/``from_``/``reply_to`` are addresses, optionally with a display name
    (``Ann <ann@example.com>``); ``text`` is derived from ``html`` when None. With
    ``unsubscribe_url`` the MIME message gets ``List-Unsubscribe`` and, for an http(s) URL,
    ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058)."""

    to: str
    from_: str
    subject: str
    html: str | None = None
    text: str | None = None
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SmsMessage:
    """One SMS: ``to`` is an E.164 number (``+33612345678``)."""

    to: str
    body: str
    idempotency_key: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PushMessage:
    """One push notification to a device ``token``; ``data`` is the app's key/value payload."""

    token: str
    title: str
    body: str
    data: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookRequest:
    """One HTTP call. ``body`` is sent as is (a rendered template: JSON unless the headers say
    otherwise, ``Content-Type: application/json`` by default)."""

    url: str
    method: str = "POST"
    body: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None


#: Headers ``to_mime`` writes itself; ``EmailMessage.headers`` cannot set them.
_OWN_HEADERS = frozenset(
    {
        "from",
        "to",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "list-unsubscribe",
        "list-unsubscribe-post",
    }
)
_LINE_BREAKS = re.compile(r"[\r\n]+\s*")

#: How MIME is written: CRLF line ends; headers Partita writes raw (``List-Unsubscribe``, whose
#: long URLs must stay URLs) are never refolded into RFC 2047 encoded words.
MIME_POLICY = email.policy.SMTP.clone(refold_source="none")
MIME_POLICY_UTF8 = email.policy.SMTPUTF8.clone(refold_source="none")


def message_id(message: EmailMessage) -> str:
    """The ``Message-ID`` of ``message``: derived from its idempotency key (so a resend carries
    the same one), random without a key; at the domain of the sender."""
    domain = email.utils.parseaddr(message.from_)[1].rpartition("@")[2] or "partita.invalid"
    if message.idempotency_key is None:
        return email.utils.make_msgid(domain=domain)
    digest = hashlib.sha256(message.idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def to_mime(
    message: EmailMessage, *, date: dt.datetime | None = None
) -> email.message.EmailMessage:
    """``message`` as MIME: ``multipart/alternative`` (text, then HTML) or ``text/plain``, with
    ``Message-ID``, ``Date`` (now, or ``date``) and the unsubscribe headers when given. Line
    breaks in the subject become spaces; a header in ``headers`` that to_mime writes itself is
    a ValueError."""
    mime = email.message.EmailMessage(policy=MIME_POLICY)
    mime["From"] = message.from_
    mime["To"] = message.to
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = _LINE_BREAKS.sub(" ", message.subject).strip()
    mime["Date"] = email.utils.format_datetime(date or dt.datetime.now(dt.UTC))
    mime["Message-ID"] = message_id(message)
    targets = [
        f"<{target}>" for target in (message.unsubscribe_url, message.unsubscribe_mailto) if target
    ]
    if targets:
        if any(_LINE_BREAKS.search(target) for target in targets):
            raise ValueError("an unsubscribe URL cannot contain a line break")
        mime.set_raw("List-Unsubscribe", ",\n ".join(targets))  # one URL a line, as written
    if message.unsubscribe_url and message.unsubscribe_url.startswith(("https://", "http://")):
        mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in message.headers.items():
        if name.lower() in _OWN_HEADERS:
            raise ValueError(f"header '{name}' is set by Partita and cannot be given")
        mime[name] = value
    text = message.text
    if text is None:
        text = html_to_text(message.html) if message.html is not None else ""
    mime.set_content(text, cte="quoted-printable")
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html", cte="quoted-printable")
    return mime


# -- text from HTML --------------------------------------------------------------------------

_PARAGRAPHS = frozenset(
    {"blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "ol", "p", "pre", "table", "ul"}
)
_BLOCKS = _PARAGRAPHS | {
    "address", "article", "aside", "dd", "div", "dl", "dt", "fieldset", "figcaption",
    "figure", "footer", "form", "header", "li", "main", "nav", "section", "tbody", "thead",
    "tfoot", "tr",
}  # fmt: skip
_HIDDEN = frozenset({"head", "script", "style", "template", "title"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
#: Liquid markup in an HTML *template*: kept verbatim, so its text part can be derived once.
#: While the HTML is read, an output ``{{ … }}`` stands as \ue000n\ue001, a tag as \ue002n\ue003.
_LIQUID = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_MARK = re.compile("[\ue000\ue002](\\d+)[\ue001\ue003]")
#: A line of tags only (``{% if … %}``), and the line breaks after it: the tags join the next
#: line, so a false condition leaves no blank lines behind.
_TAG_LINE = re.compile("(?m)^((?:\ue002\\d+\ue003 ?)+)\n+(?=\\S)")


class _TextWriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0
        self.pre = 0
        self.links: list[tuple[str | None, int]] = []
        self.pending = 0  # line breaks owed before the next text: the most asked, not the sum

    def _break(self, count: int) -> None:
        self.pending = max(self.pending, count)

    def _at_line_start(self) -> bool:
        return bool(self.pending) or not self.out or self.out[-1].endswith(("\n", " "))

    def _emit(self, text: str) -> None:
        if self.pending:
            if self.out:
                self.out.append("\n" * self.pending)
            self.pending = 0
        self.out.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self._break(1)
        elif tag == "a":
            self.links.append((dict(attrs).get("href"), len(self.out)))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self._emit(alt)
        elif tag in _BLOCKS:
            self._break(2 if tag in _PARAGRAPHS else 1)
            if tag == "pre":
                self.pre += 1
            elif tag == "li":
                self._emit("- ")
        elif tag in ("td", "th") and not self._at_line_start():
            self._emit(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HIDDEN:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.out[start:]).strip()
            url = (href or "").strip()
            if url and not url.startswith(("#", "mailto:", "tel:")) and url != label:
                self._emit(f" ({url})" if label else url)
        elif tag in _BLOCKS:
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            self._break(2 if tag in _PARAGRAPHS else 1)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.pre:
            self._emit(data)
            return
        text = _SPACES.sub(" ", data)
        if self._at_line_start():
            text = text.lstrip(" ")
        if text:
            self._emit(text)


def html_to_text(html: str) -> str:
    """A plain-text rendering of ``html`` for the text part of an email: paragraphs and blocks
    on lines of their own, ``<br>`` as a line break, list items as ``- item``, links as
    ``text (url)``, images by their ``alt`` text; ``<head>``, scripts and styles dropped.
    Liquid markup (``{{ … }}``, ``{% … %}``) is kept as is, so the text part of an HTML
    *template* can be derived once and compiled, instead of once per message."""
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        if match.group(0).startswith("{%"):
            return f"\ue002{len(kept) - 1}\ue003"
        return f"\ue000{len(kept) - 1}\ue001"

    writer = _TextWriter()
    writer.feed(_LIQUID.sub(keep, html) if "{" in html else html)
    writer.close()
    lines = [line.rstrip(" ") for line in "".join(writer.out).split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    if kept:
        text = _TAG_LINE.sub(lambda match: match.group(1).rstrip(" "), text)
        text = _MARK.sub(lambda match: kept[int(match.group(1))], text)
    return text
