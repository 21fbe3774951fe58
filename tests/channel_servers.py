"""Real servers on loopback for channel tests: SMTP (aiosmtpd) and HTTP (stdlib), recording
everything they receive and misbehaving on request.

Both listen on 127.0.0.1 only, on a free port, and stop by themselves: at the end of the
``with`` block or fixture that started them, and in any case after ``lifetime`` seconds (a
watchdog timer), so a failing test never leaves a server behind.

    with SmtpServers() as start:
        server = start(auth=("ann", "secret"), tls="starttls")
        ...  # server.port, server.messages, server.client_context
"""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import json
import queue
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, cast

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

LOOPBACK = "127.0.0.1"
LIFETIME = 60.0


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


class Certificates:
    """A throwaway CA (trustme) and a certificate for 127.0.0.1 / localhost."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self._cert = self.ca.issue_cert(LOOPBACK, "localhost")

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the CA (and nothing else)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(context)
        return context


_CERTIFICATES: Certificates | None = None


def certificates() -> Certificates:
    """The CA and certificate of this test session (made once: key generation costs)."""
    global _CERTIFICATES
    if _CERTIFICATES is None:
        _CERTIFICATES = Certificates()
    return _CERTIFICATES


# -- SMTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP server accepted it."""

    peer: tuple[str, int]
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    login: str | None

    def message(self) -> email.message.EmailMessage:
        """The content parsed (line ends of the wire, CRLF, read as the parser's LF)."""
        content = self.content.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.server.reject.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        owner = self.server
        content = envelope.original_content or b""
        if isinstance(envelope.content, bytes):
            content = envelope.content
        login = (
            session.auth_data.login.decode()
            if isinstance(session.auth_data, LoginPassword)
            else None
        )
        mail = ReceivedMail(
            peer=tuple(session.peer),  # type: ignore[arg-type]
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=content,
            login=login,
        )
        with owner.lock:
            owner.attempts += 1
            attempt = owner.attempts
            reply = owner.data_reply.get(attempt, "250 OK")
            transport = cast(asyncio.Transport | None, server.transport)
            in_doubt = attempt in owner.in_doubt_at and transport is not None
            if not (reply.startswith("250") or in_doubt):
                return reply
            owner.messages.append(mail)
            counts = owner._per_connection
            counts[mail.peer] = counts.get(mail.peer, 0) + 1
            in_session = counts[mail.peer]
        if in_doubt and transport is not None:
            transport.abort()  # took the message, never says so
            return "250 OK"
        if owner.drop_after and in_session % owner.drop_after == 0 and transport is not None:
            server.loop.call_soon(transport.close)  # after the reply below is written
        return reply


class SmtpServer:
    """An aiosmtpd server on loopback that records every message it accepts.

    ``auth=(user, password)`` requires AUTH (LOGIN/PLAIN); ``tls`` is ``"starttls"`` (offered and,
    with auth, required before AUTH) or ``"implicit"`` (TLS from the first byte).
    ``drop_after=N`` closes each connection after its N-th accepted message (the client sees it
    at its next command). Message *attempts* (contents received) are counted from 1 over the
    server's life: ``in_doubt_at={k}`` keeps the k-th and drops the connection without
    answering; ``data_reply={k: "451 try later"}`` answers the k-th with that reply (a
    message answered other than 250 is not kept). ``reject`` maps a recipient to the reply to
    its RCPT (``"550 5.1.1 no such user"``). ``messages`` holds what the server kept.
    """

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        tls: Literal["starttls", "implicit"] | None = None,
        drop_after: int | None = None,
        in_doubt_at: set[int] | None = None,
        reject: Mapping[str, str] | None = None,
        data_reply: Mapping[int, str] | None = None,
        lifetime: float = LIFETIME,
    ) -> None:
        self.host = LOOPBACK
        self.port = free_port()
        self.auth = auth
        self.tls = tls
        self.drop_after = drop_after
        self.in_doubt_at = set(in_doubt_at or ())
        self.reject = dict(reject or {})
        self.data_reply = dict(data_reply or {})
        self.messages: list[ReceivedMail] = []
        self.attempts = 0
        self.failed_logins = 0
        self.lock = threading.Lock()
        self._per_connection: dict[tuple[str, int], int] = {}
        self.client_context = certificates().client_context() if tls else None
        kwargs: dict[str, Any] = {"server_hostname": "partita-test", "ready_timeout": 5.0}
        if tls == "implicit":
            kwargs["ssl_context"] = certificates().server_context()
        elif tls == "starttls":
            kwargs["tls_context"] = certificates().server_context()
        if auth is not None:
            # aiosmtpd counts only STARTTLS as TLS: with implicit TLS (or none) it must be told
            # to offer AUTH anyway (it warns; the tests filter that warning).
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=tls == "starttls",
            )
        self._controller = Controller(_Handler(self), hostname=LOOPBACK, port=self.port, **kwargs)
        self._watchdog = threading.Timer(lifetime, self.stop)
        self._watchdog.daemon = True
        self._stopped = False

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.auth is not None
        if (
            isinstance(data, LoginPassword)
            and (
                data.login.decode(),
                data.password.decode(),
            )
            == self.auth
        ):
            return AuthResult(success=True, auth_data=data)
        with self.lock:
            self.failed_logins += 1
        return AuthResult(success=False, handled=False)

    @property
    def connections(self) -> int:
        """How many client connections delivered at least one message."""
        with self.lock:
            return len(self._per_connection)

    def start(self) -> SmtpServer:
        self._controller.start()
        self._watchdog.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._watchdog.cancel()
        self._controller.stop(no_assert=True)


class SmtpServers:
    """A fixture factory: ``start(**options)`` starts an :class:`SmtpServer`; all stop at exit."""

    def __init__(self) -> None:
        self._servers: list[SmtpServer] = []

    def __call__(self, **options: Any) -> SmtpServer:
        server = SmtpServer(**options).start()
        self._servers.append(server)
        return server

    def __enter__(self) -> SmtpServers:
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            server.stop()


# -- HTTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What the HTTP server answers to one request. ``delay`` makes it hang first (bounded:
    the server's stop wakes it)."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def json(cls, status: int, payload: object, **headers: str) -> Reply:
        return cls(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", **headers},
        )

    @classmethod
    def garbage(cls, status: int = 200) -> Reply:
        return cls(status, b"<html><body>\x00\xffnot json at all", {"Content-Type": "text/html"})

    @classmethod
    def hang(cls, seconds: float = 5.0) -> Reply:
        return cls(200, b"{}", {"Content-Type": "application/json"}, delay=seconds)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the HTTP server read it (header names in lower case)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.server.owner
        request = ReceivedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = owner._next(request)
        if reply.delay and owner._stopping.wait(reply.delay):
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: HttpServer


class HttpServer:
    """A threaded HTTP server on loopback that records requests and answers from a script:
    ``script(Reply(...), …)`` sets the answers of the next requests, in order; after them (or
    without a script) it answers ``default``. ``ssl_context`` serves HTTPS."""

    def __init__(
        self,
        *,
        default: Reply | None = None,
        ssl_context: ssl.SSLContext | None = None,
        lifetime: float = LIFETIME,
    ) -> None:
        self.default = default or Reply.json(200, {"id": "msg-1"})
        self.requests: list[ReceivedRequest] = []
        self._script: queue.SimpleQueue[Reply] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server((LOOPBACK, 0), _RequestHandler)
        self._httpd.owner = self
        if ssl_context is not None:
            self._httpd.socket = ssl_context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = int(self._httpd.server_address[1])
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._watchdog = threading.Timer(lifetime, self.stop)
        self._watchdog.daemon = True
        self._stopped = False

    def script(self, *replies: Reply) -> None:
        for reply in replies:
            self._script.put(reply)

    def _next(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
        try:
            return self._script.get_nowait()
        except queue.Empty:
            return self.default

    def start(self) -> HttpServer:
        self._thread.start()
        self._watchdog.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._watchdog.cancel()
        self._stopping.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()


class HttpServers:
    """A fixture factory: ``start(**options)`` starts an :class:`HttpServer`; all stop at exit."""

    def __init__(self) -> None:
        self._servers: list[HttpServer] = []

    def __call__(self, **options: Any) -> HttpServer:
        server = HttpServer(**options).start()
        self._servers.append(server)
        return server

    def __enter__(self) -> HttpServers:
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            server.stop()
