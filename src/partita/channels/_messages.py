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
import functools
import hashlib
import random
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any


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


@functools.lru_cache(maxsize=64)
def _domain_of(sender: str) -> str:
    return email.utils.parseaddr(sender)[1].rpartition("@")[2] or "partita.invalid"


def message_id(message: EmailMessage) -> str:
    """The ``Message-ID`` of ``message``: derived from its idempotency key (so a resend carries
    the same one), random without a key; at the domain of the sender."""
    domain = _domain_of(message.from_)
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


# -- MIME bytes, fast -------------------------------------------------------------------------
#
# ``to_mime(message).as_bytes()`` builds a tree of header objects and re-encodes every part with
# the pure-Python quoted-printable encoder: about 2 ms for a 15 KB HTML email, the bulk of a
# send. ``mime_bytes`` writes the same bytes directly: headers whose value is plain ASCII that
# fits on one line are written as they are (the email package writes them unchanged), every
# other header goes through the policy exactly as ``as_bytes`` does, and the bodies are
# encoded by ``_qp_body``, which gives what ``email.quoprimime.body_encode`` gives. Messages
# with headers the email package would move into a part (``Content-*``) take the slow path.

_PLAIN_WORDS = r"[\x21-\x7e]+(?: [\x21-\x7e]+)*"
_PLAIN_TEXT = re.compile(_PLAIN_WORDS)
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PLAIN_ADDRESS = re.compile(rf"{_ADDR_SPEC}|[A-Za-z0-9]+(?: [A-Za-z0-9]+)* <{_ADDR_SPEC}>")
_ADDRESS_HEADERS = frozenset({"from", "to", "reply-to"})
#: Bytes quoted-printable leaves as they are in a body (``=`` is escaped first, on its own).
_QP_SAFE = bytes([9, 10, *range(0x20, 0x7F)])
_QP_HEX = [b"=%02X" % byte for byte in range(256)]
_BOUNDARY_WIDTH = len(repr(sys.maxsize - 1))


def _qp_line(line: bytes) -> bytes:
    """One line (without its line break) quoted-printable, as ``email.quoprimime.body_encode``
    writes it: escaped, cut in pieces of at most 78 characters (the policy's
    ``max_line_length``) with soft breaks, an escape never split, end whitespace quoted."""
    line = line.replace(b"=", b"=3D")
    for byte in set(line.translate(None, _QP_SAFE)):  # one pass per distinct byte to escape
        line = line.replace(bytes((byte,)), _QP_HEX[byte])
    size = len(line)
    if size <= 78 and (not line or line[-1] not in (32, 9)):
        return line
    out: list[bytes] = []
    append = out.append
    start = 0
    laststart = size - 79
    while start <= laststart:  # pieces of at most 77 characters and a soft break
        stop = start + 77
        if line[stop - 2] == 61:  # "=": never split an escape
            append(line[start : stop - 1])
            start = stop - 2
        elif line[stop - 1] == 61:
            append(line[start:stop])
            start = stop - 1
        else:
            append(line[start:stop] + b"=")
            start = stop
    if line[-1] in (32, 9):  # whitespace at the end of a line is quoted
        last = line[-1:]
        room = start - laststart
        if room >= 3:
            tail = _QP_HEX[last[0]]
        elif room == 2:
            tail = last + b"=\r\n"
        else:
            tail = b"=\r\n" + _QP_HEX[last[0]]
        append(line[start:-1] + tail)
    else:
        append(line[start:])
    return b"\r\n".join(out)


#: Encoded lines by line: the lines of a template's static text are the same in every message.
_QP_LINES: dict[bytes, bytes] = {}
_QP_LINES_MAX = 8192  # entries (lines up to _QP_LINE_CACHED bytes): cleared when full
_QP_LINE_CACHED = 1000


def _qp_body(text: str) -> bytes:
    """``text`` in UTF-8 as a quoted-printable body with CRLF line ends, byte for byte what
    the email package writes for ``set_content(text, cte="quoted-printable")``."""
    data = text.encode("utf-8")
    if b"\r" in data:  # the line breaks splitlines knows, as "\n" (split is many times faster)
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = data.split(b"\n")
    if len(lines) > 1 and not lines[-1]:  # a break ends the last line, it does not start one
        lines.pop()
    cache = _QP_LINES
    out: list[bytes] = []
    append = out.append
    for line in lines:
        encoded = cache.get(line)
        if encoded is None:
            encoded = _qp_line(line)
            if len(line) <= _QP_LINE_CACHED:
                if len(cache) >= _QP_LINES_MAX:
                    cache.clear()
                cache[line] = encoded
        append(encoded)
    append(b"")
    return b"\r\n".join(out)


def _header(policy: email.policy.EmailPolicy[Any], name: str, value: str) -> bytes:
    """One header line as ``as_bytes`` writes it."""
    plain = _PLAIN_ADDRESS if name.lower() in _ADDRESS_HEADERS else _PLAIN_TEXT
    if (
        len(name) + len(value) <= 76
        and name.isascii()
        and "=?" not in value
        and plain.fullmatch(value)
    ):
        return f"{name}: {value}\r\n".encode("ascii")
    stored_name, stored = policy.header_store_parse(name, value)
    return policy.fold_binary(stored_name, stored)


@functools.lru_cache(maxsize=64)
def _fixed_header(policy: email.policy.EmailPolicy[Any], name: str, value: str) -> bytes:
    return _header(policy, name, value)


@functools.lru_cache(maxsize=2)
def _date_now(policy: email.policy.EmailPolicy[Any], second: int) -> bytes:
    """The ``Date`` header of the messages written during one second (since the epoch)."""
    moment = dt.datetime.fromtimestamp(second, dt.UTC)
    return _header(policy, "Date", email.utils.format_datetime(moment))


_TEXT_PART = (
    b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'
)
_HTML_PART = b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\nMIME-Version: 1.0\r\n'


def mime_bytes(
    message: EmailMessage, *, date: dt.datetime | None = None, utf8: bool = False
) -> tuple[bytes, str]:
    """``message`` as the bytes of :func:`to_mime` (written with ``MIME_POLICY``, or with
    ``MIME_POLICY_UTF8`` when ``utf8``), and its ``Message-ID``; only the MIME boundary, which
    is random, differs. ValueError as for to_mime."""
    policy = MIME_POLICY_UTF8 if utf8 else MIME_POLICY
    if any(name.lower().startswith("content-") for name in message.headers):
        mime = to_mime(message, date=date)
        return mime.as_bytes(policy=policy), str(mime["Message-ID"])
    identifier = message_id(message)
    head = [
        _fixed_header(policy, "From", message.from_),
        _header(policy, "To", message.to),
    ]
    if message.reply_to:
        head.append(_fixed_header(policy, "Reply-To", message.reply_to))
    head.append(_header(policy, "Subject", _LINE_BREAKS.sub(" ", message.subject).strip()))
    head.append(
        _date_now(policy, int(time.time()))
        if date is None
        else _header(policy, "Date", email.utils.format_datetime(date))
    )
    head.append(_header(policy, "Message-ID", identifier))
    targets = [
        f"<{target}>" for target in (message.unsubscribe_url, message.unsubscribe_mailto) if target
    ]
    if targets:
        if any(_LINE_BREAKS.search(target) for target in targets):
            raise ValueError("an unsubscribe URL cannot contain a line break")
        head.append(policy.fold_binary("List-Unsubscribe", ",\n ".join(targets)))
    if message.unsubscribe_url and message.unsubscribe_url.startswith(("https://", "http://")):
        head.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
    for name, value in message.headers.items():
        if name.lower() in _OWN_HEADERS:
            raise ValueError(f"header '{name}' is set by Partita and cannot be given")
        head.append(_header(policy, name, value))
    text = message.text
    if text is None:
        text = html_to_text(message.html) if message.html is not None else ""
    if message.html is None:
        head += [_TEXT_PART, b"MIME-Version: 1.0\r\n\r\n", _qp_body(text)]
        return b"".join(head), identifier
    boundary = ("=" * 15 + f"{random.randrange(sys.maxsize):0{_BOUNDARY_WIDTH}d}" + "==").encode()
    head += [
        b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="',
        boundary,
        b'"\r\n\r\n--',
        boundary,
        b"\r\n",
        _TEXT_PART,
        b"\r\n",
        _qp_body(text),
        b"\r\n--",
        boundary,
        b"\r\n",
        _HTML_PART,
        b"\r\n",
        _qp_body(message.html),
        b"\r\n--",
        boundary,
        b"--\r\n",
    ]
    return b"".join(head), identifier


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
