"""Email over SMTP (stdlib smtplib): STARTTLS or implicit TLS, AUTH, connections kept open and
shared by threads through a small pool, a dropped connection replaced without losing or
doubling a message.

Reconnecting is safe only before the server could have accepted the message, so the provider
drives the transaction itself (MAIL, RCPT, DATA, the content, the final reply): a connection
found closed at MAIL, RCPT or DATA is replaced and the message sent on the new one; a connection
lost while waiting for the reply to the content is an :class:`InDoubtError`, since the server
may already hold the message.
"""

from __future__ import annotations

import contextlib
import queue
import re
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Literal, Self

from partita.channels._messages import EmailMessage, mime_bytes
from partita.channels.providers._base import (
    FatalError,
    InDoubtError,
    PermanentError,
    ProviderError,
    SendResult,
    TransientError,
)

Security = Literal["none", "starttls", "tls"]
_DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
_DOTS = re.compile(rb"(?m)^\.")


class _Lost(Exception):
    """The connection broke, or the server closes it, before it could have accepted the
    message: sending it again on a new connection is safe."""


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}".strip()


def _address(value: str, what: str) -> str:
    pairs = getaddresses([value])
    if len(pairs) != 1 or "@" not in pairs[0][1]:
        raise PermanentError(f"the {what} address '{value}' is not one email address")
    return pairs[0][1]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message as the SMTP provider sends it: MAIL FROM, RCPT TO, the bytes of DATA."""

    sender: str
    recipient: str
    utf8: bool
    data: bytes
    message_id: str


class SmtpProvider:
    """Sends :class:`EmailMessage` over SMTP.

    ``security``: ``starttls`` (port 587 by default), ``tls`` (implicit TLS, port 465) or
    ``none`` (port 25; for a relay on a trusted network or tests). ``username``/``password``
    log in with AUTH. ``pool_size`` connections are opened as needed and reused; several
    threads can share one provider. ``envelope_from`` is the bounce address (MAIL FROM),
    the message's sender by default.
    """

    idempotent = False

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        pool_size: int = 1,
        envelope_from: str | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in _DEFAULT_PORTS:
            raise ValueError(f"security must be one of none, starttls, tls, not '{security}'")
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.host = host
        self.port = port if port is not None else _DEFAULT_PORTS[security]
        self.security = security
        self.username = username
        self._password = password
        self.timeout = timeout
        self._context = ssl_context
        self.envelope_from = envelope_from
        self.local_hostname = local_hostname
        self._idle: queue.LifoQueue[smtplib.SMTP | None] = queue.LifoQueue()
        for _ in range(pool_size):
            self._idle.put(None)
        self._lock = threading.Lock()
        self._closed = False
        #: How many connections were opened so far (reuse and reconnects show in it).
        self.connections_opened = 0

    @property
    def _where(self) -> str:
        return f"SMTP server {self.host}:{self.port}"

    # -- connections ------------------------------------------------------------------------

    def _tls(self) -> ssl.SSLContext:
        return self._context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        where = self._where
        conn: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                conn = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=self._tls(),
                )
            else:
                conn = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            conn.ehlo()
            if self.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise FatalError(
                        f"{where} does not offer STARTTLS: set security to 'tls' if the port "
                        "expects TLS from the start (465), or 'none' for a plain relay"
                    )
                conn.starttls(context=self._tls())
                conn.ehlo()
            if self.username is not None:
                conn.login(self.username, self._password or "")
        except ProviderError:
            _close(conn)
            raise
        except smtplib.SMTPAuthenticationError as error:
            _close(conn)
            raise FatalError(
                f"{where} refused the login of '{self.username}' "
                f"({_reply(error.smtp_code, error.smtp_error)}): check the SMTP username and "
                "password"
            ) from None
        except smtplib.SMTPNotSupportedError as error:
            _close(conn)
            raise FatalError(
                f"{where} does not support AUTH ({error}): it may only offer it over TLS; "
                "check security, or remove the username"
            ) from None
        except smtplib.SMTPConnectError as error:
            _close(conn)
            text = f"{where} refused the connection ({_reply(error.smtp_code, error.smtp_error)})"
            if error.smtp_code >= 500:
                raise FatalError(
                    f"{text}: check host, port and that this machine may relay"
                ) from None
            raise TransientError(text) from None
        except ssl.SSLCertVerificationError as error:
            _close(conn)
            raise FatalError(
                f"the TLS certificate of {where} could not be verified ({error.verify_message}): "
                "check the host name, or give the CA that signed it"
            ) from None
        except ssl.SSLError as error:
            _close(conn)
            raise FatalError(
                f"TLS with {where} failed ({error.reason or error}): port 465 expects security "
                "'tls', port 587 'starttls'"
            ) from None
        except smtplib.SMTPResponseException as error:
            _close(conn)
            text = f"{where} answered {_reply(error.smtp_code, error.smtp_error)}"
            if error.smtp_code >= 500:
                raise FatalError(f"{text} while connecting: check the SMTP settings") from None
            raise TransientError(text) from None
        except (OSError, smtplib.SMTPException) as error:
            _close(conn)
            raise TransientError(f"cannot connect to {where}: {error}") from None
        with self._lock:
            self.connections_opened += 1
        return conn

    # -- one message --------------------------------------------------------------------------

    def prepare(self, message: EmailMessage) -> Envelope:
        """The envelope and the MIME bytes of ``message`` (PermanentError when an address or
        the content cannot be sent). Pure: it can run in another process."""
        recipient = _address(message.to, "recipient")
        sender = _address(self.envelope_from or message.from_, "sender")
        utf8 = not (recipient.isascii() and sender.isascii())
        try:
            data, message_id = mime_bytes(message, utf8=utf8)
        except (ValueError, TypeError) as error:
            raise PermanentError(f"the message cannot be written as MIME: {error}") from None
        return Envelope(sender, recipient, utf8, data, message_id)

    def send(self, message: EmailMessage) -> SendResult:
        """Send one message; its ``Message-ID`` is the result's id."""
        if self._closed:
            raise FatalError("the SMTP provider is closed")
        return self.send_prepared(self.prepare(message))

    def send_prepared(self, envelope: Envelope) -> SendResult:
        """Send what :meth:`prepare` made."""
        if self._closed:
            raise FatalError("the SMTP provider is closed")
        sender, recipient, utf8, data = (
            envelope.sender,
            envelope.recipient,
            envelope.utf8,
            envelope.data,
        )
        conn = self._idle.get()
        try:
            reused = conn is not None
            if conn is None:
                conn = self._connect()
            try:
                self._transact(conn, sender, recipient, data, utf8)
            except _Lost as lost:
                _close(conn)
                conn = None
                if not reused:
                    raise TransientError(f"{self._where} {lost}") from None
                conn = self._connect()
                try:
                    self._transact(conn, sender, recipient, data, utf8)
                except _Lost as again:
                    _close(conn)
                    conn = None
                    raise TransientError(f"{self._where} {again}") from None
        except InDoubtError:
            _close(conn)
            conn = None
            raise
        finally:
            if self._closed and conn is not None:  # closed meanwhile by another thread
                _close(conn)
                conn = None
            self._idle.put(conn)
        return SendResult(envelope.message_id)

    def _transact(
        self, conn: smtplib.SMTP, sender: str, recipient: str, data: bytes, utf8: bool
    ) -> None:
        where = self._where
        try:
            options = ["SMTPUTF8", "BODY=8BITMIME"] if utf8 else []
            if utf8 and not conn.has_extn("smtputf8"):
                raise PermanentError(
                    f"{where} does not accept non-ASCII addresses (no SMTPUTF8): '{recipient}'"
                )
            code, text = conn.mail(sender, options)
            if code != 250:
                self._refused(conn, "sender", sender, code, text)
            code, text = conn.rcpt(recipient)
            if code not in (250, 251):
                self._refused(conn, "recipient", recipient, code, text)
            conn.putcmd("data")
            code, text = conn.getreply()
            if code != 354:
                self._refused(conn, "message", recipient, code, text)
            content = _DOTS.sub(b"..", data)
            if not content.endswith(b"\r\n"):
                content += b"\r\n"
            conn.send(content + b".\r\n")
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            raise _Lost(f"closed the connection ({error})") from None
        try:
            code, text = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            raise InDoubtError(
                f"{where} closed the connection after receiving the message to '{recipient}' "
                f"and before confirming it ({error}): it may have been delivered"
            ) from None
        if code == -1:
            _close(conn)
            raise InDoubtError(
                f"{where} answered the message to '{recipient}' with an unreadable reply "
                f"({_reply(code, text)}): it may have been delivered"
            )
        if code != 250:
            self._refused(conn, "message", recipient, code, text)

    def _refused(self, conn: smtplib.SMTP, step: str, address: str, code: int, text: bytes) -> None:
        reply = _reply(code, text)
        if code in (421, -1):  # the server is closing the connection; it took nothing
            _close(conn)
            raise _Lost(f"is closing the connection ({reply})")
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            _close(conn)
        where = self._where
        what = {"sender": "the sender", "recipient": "the recipient", "message": "the message to"}
        subject = f"{what[step]} '{address}'"
        if code in (530, 535):
            raise FatalError(
                f"{where} requires authentication ({reply}): set the SMTP username and password"
            )
        if 400 <= code < 500:
            raise TransientError(f"{where} deferred {subject} ({reply})")
        if step == "sender":
            raise FatalError(
                f"{where} refused {subject} ({reply}): use a sender address the server accepts"
            )
        raise PermanentError(f"{where} refused {subject} ({reply})")

    def close(self) -> None:
        """Close every connection (QUIT); the provider cannot send afterwards."""
        with self._lock:
            self._closed = True
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            if conn is not None:
                try:
                    conn.quit()
                except (smtplib.SMTPException, OSError):
                    _close(conn)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        with contextlib.suppress(OSError):
            conn.close()
