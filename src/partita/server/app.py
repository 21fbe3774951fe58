"""The routes of the tracking server.

- ``GET /c/{token}``: a click: recorded, then a 302 to the URL the token signed;
- ``GET /o/{token}``: the open pixel (a 1x1 GIF, never cached);
- ``GET /u/{token}``: a confirmation page; ``POST /u/{token}`` unsubscribes (RFC 8058
  one-click, or the page's button): recorded, and the address is suppressed at once;
- ``POST /api/feedback``: bounces and complaints (bearer token), see :mod:`.feedback`;
- ``GET /healthz``.

A token that is malformed, altered or of another kind gets a plain 404, never a redirect. The
server writes only to the state store: it never opens the warehouse.
"""

from __future__ import annotations

import base64
import hmac
import html
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from partita.channels import TokenError, Tracking, tracking_of
from partita.model.problems import PartitaError
from partita.model.project import Project
from partita.server.feedback import KINDS, Feedback, FeedbackError, parse_feedback
from partita.store.schema import EventKind, SuppressionReason
from partita.store.store import DeliveryRecord, Store

#: The smallest transparent GIF (1x1).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
INVALID_LINK = "This link is not valid: it was altered or is incomplete."


def create_app(project: Project) -> FastAPI:
    """The tracking server of ``project`` (which must have ``tracking_url`` and its secret);
    it opens the project's state store and closes it on shutdown."""
    tracking = tracking_of(project)
    if tracking is None:
        raise PartitaError(
            "the project has no tracking_url: set it to the address of this server, and the "
            f"tracking secret in the environment variable '{project.tracking_secret_env}'"
        )
    store = Store(project.state, root=project.root)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="Partita tracking", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    routes = _Routes(store, tracking, project.feedback_token, project.feedback_token_env)
    app.add_api_route("/c/{token}", routes.click, methods=["GET"])
    app.add_api_route("/o/{token}", routes.open, methods=["GET"])
    app.add_api_route("/u/{token}", routes.unsubscribe_page, methods=["GET"])
    app.add_api_route("/u/{token}", routes.unsubscribe, methods=["POST"])
    app.add_api_route("/api/feedback", routes.feedback, methods=["POST"])
    app.add_api_route("/healthz", routes.health, methods=["GET"])
    return app


def _client(request: Request) -> dict[str, Any] | None:
    agent = request.headers.get("user-agent")
    return {"user_agent": agent[:500]} if agent else None


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>",
        status_code=status,
        headers=NO_CACHE,
    )


class _Routes:
    """The handlers, sharing the store and the tracking signer (sync ones run in a thread)."""

    def __init__(self, store: Store, tracking: Tracking, token: str | None, token_env: str) -> None:
        self.store = store
        self.tracking = tracking
        self.token = token
        self.token_env = token_env

    def click(self, token: str, request: Request) -> Response:
        """Record the click and redirect to the signed URL."""
        try:
            found = self.tracking.read_click(token)
        except TokenError:
            return PlainTextResponse(INVALID_LINK, status_code=404)
        delivery = self.store.delivery_by_key(str(found.delivery))
        if delivery is not None:
            self.store.record_event(
                delivery.id,
                EventKind.CLICK,
                link_index=found.index,
                url=found.url,
                detail=_client(request),
            )
        return RedirectResponse(found.url, status_code=302, headers=NO_CACHE)

    def open(self, token: str, request: Request) -> Response:
        """Record the open (nothing for a bad token) and return the pixel."""
        try:
            delivery = self.store.delivery_by_key(str(self.tracking.read_open(token)))
        except TokenError:
            delivery = None
        if delivery is not None:
            self.store.record_event(delivery.id, EventKind.OPEN, detail=_client(request))
        return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)

    def _delivery(self, token: str) -> DeliveryRecord | None:
        try:
            return self.store.delivery_by_key(str(self.tracking.read_unsubscribe(token)))
        except TokenError:
            return None

    def unsubscribe_page(self, token: str) -> Response:
        """Ask for confirmation (a GET never unsubscribes: mail scanners follow links)."""
        delivery = self._delivery(token)
        if delivery is None:
            return _page("Unsubscribe", f"<p>{INVALID_LINK}</p>", status=404)
        who = html.escape(delivery.address or "this address")
        return _page(
            "Unsubscribe",
            f"<p>Stop sending these {html.escape(delivery.channel)} messages to "
            f"<strong>{who}</strong>?</p>"
            '<form method="post"><input type="hidden" name="List-Unsubscribe" '
            'value="One-Click"><button type="submit">Unsubscribe</button></form>',
        )

    def unsubscribe(self, token: str, request: Request) -> Response:
        """Record the unsubscribe (once per delivery) and suppress the address at once."""
        delivery = self._delivery(token)
        if delivery is None:
            return _page("Unsubscribe", f"<p>{INVALID_LINK}</p>", status=404)
        done = self.store.events(delivery_id=delivery.id)
        if not any(event.kind == EventKind.UNSUBSCRIBE for event in done):
            self.store.record_event(delivery.id, EventKind.UNSUBSCRIBE, detail=_client(request))
        if delivery.address:
            self.store.add_suppression(
                delivery.channel,
                delivery.address,
                SuppressionReason.UNSUBSCRIBED,
                delivery_id=delivery.id,
            )
        who = html.escape(delivery.address or "This address")
        return _page(
            "You are unsubscribed",
            f"<p><strong>{who}</strong> will get no more of these messages.</p>",
        )

    def _authorized(self, header: str | None) -> bool:
        scheme, _, given = (header or "").partition(" ")
        assert self.token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8"), self.token.encode("utf-8")
        )

    async def feedback(self, request: Request) -> Response:
        """Bounces and complaints: checked, then recorded; the counts."""
        if self.token is None:
            message = f"the feedback API is off: set {self.token_env} where the server runs"
            return JSONResponse({"error": message}, status_code=503)
        if not self._authorized(request.headers.get("authorization")):
            return JSONResponse(
                {"error": "a valid bearer token is required (Authorization: Bearer <token>)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"error": "body: not JSON"}, status_code=422)
        try:
            reports = parse_feedback(body)
        except FeedbackError as error:
            return JSONResponse({"error": str(error)}, status_code=422)
        return JSONResponse(await run_in_threadpool(self._record, reports))

    def _record(self, reports: list[Feedback]) -> dict[str, int]:
        counts = {"received": len(reports), "events": 0, "suppressed": 0, "unknown": 0}
        for report in reports:
            delivery_id = None
            channel, address = report.channel, report.address
            if report.delivery_id is not None:
                delivery = self.store.delivery_by_key(report.delivery_id)
                if delivery is None:
                    counts["unknown"] += 1
                    continue
                self.store.record_event(delivery.id, report.kind, detail=report.detail)
                counts["events"] += 1
                delivery_id, channel, address = delivery.id, delivery.channel, delivery.address
            reason = KINDS[report.kind]
            if reason is not None and channel is not None and address:
                added = self.store.add_suppression(
                    channel, address, reason, delivery_id=delivery_id
                )
                counts["suppressed"] += int(added)
        return counts

    def health(self) -> dict[str, str]:
        """The server is up."""
        return {"status": "ok"}
