"""The tracking server through a real uvicorn server on loopback: clicks, the open pixel,
unsubscribes, the feedback API, tampered tokens, no open redirect; and ``partita serve``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from partita.channels import TokenSigner, Tracking
from partita.model.problems import InvalidInput, PartitaError
from partita.model.project import Project, load_project
from partita.model.states import Mode
from partita.server import create_app
from partita.server.app import PIXEL
from partita.store import Store
from partita.store.schema import EventKind, SuppressionReason
from tests.channel_servers import LOOPBACK, free_port
from tests.live_server import LiveServer

SECRET = "a-tracking-secret-for-the-server-tests"
TOKEN = "feedback-token-for-tests"
ADDRESS = "Ann.Smith@Example.com"

PROJECT = """
warehouse: duckdb:///never-opened.duckdb
state: sqlite:///state.db
tracking_url: {url}
"""


@dataclass
class Server:
    url: str
    tracking: Tracking
    store: Store
    key: str  # the idempotency key of the delivery to ADDRESS
    delivery_id: int

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, follow_redirects=False)

    def post(self, path: str, **options: object) -> httpx.Response:
        return httpx.post(self.url + path, **options)  # type: ignore[arg-type]

    def feedback(self, body: object, token: str | None = TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(self.url + "/api/feedback", json=body, headers=headers)

    def path(self, url: str) -> str:
        assert url.startswith(self.url + "/"), url
        return url[len(self.url) :]


def write_project(folder: Path, port: int) -> Project:
    (folder / "partita.yaml").write_text(
        PROJECT.format(url=f"http://{LOOPBACK}:{port}"), encoding="utf-8"
    )
    return load_project(folder)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("PARTITA_TRACKING_SECRET", SECRET)
    monkeypatch.setenv("PARTITA_FEEDBACK_TOKEN", TOKEN)
    port = free_port()
    project = write_project(tmp_path, port)
    store = Store(project.state, root=project.root)
    record, _, _ = store.save_version("spring", None, {"name": "spring"}, "d1", None)
    execution = store.create_execution(record.id, 1, Mode.LIVE, {})
    key = f"{execution.id}-mail-7"
    store.queue_deliveries(
        execution.id,
        "mail",
        "email",
        [{"recipient_key": "7", "address": ADDRESS, "idempotency_key": key}],
    )
    (delivery,) = store.deliveries(execution.id)
    tracking = Tracking(f"http://{LOOPBACK}:{port}", TokenSigner(SECRET))
    with LiveServer(create_app(project), port) as live:
        yield Server(live.url, tracking, store, key, delivery.id)
    store.close()


def events(server: Server) -> list[tuple[int, EventKind, int | None, str | None]]:
    return [(e.delivery_id, e.kind, e.link_index, e.url) for e in server.store.events()]


def flip(token: str, part: int) -> str:
    """``token`` with one character of its payload (0) or signature (1) changed."""
    pieces = token.split(".")
    text = pieces[part]
    middle = len(text) // 2
    pieces[part] = text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]
    return ".".join(pieces)


# -- clicks --------------------------------------------------------------------------------------


def test_a_click_is_recorded_and_redirected(server: Server) -> None:
    target = "https://shop.example/spring?utm=mail&x=1"
    response = server.get(server.path(server.tracking.click_url(server.key, 2, target)))
    assert response.status_code == 302
    assert response.headers["location"] == target
    assert "no-store" in response.headers["cache-control"]
    assert events(server) == [(server.delivery_id, EventKind.CLICK, 2, target)]


@pytest.mark.parametrize("part", [0, 1], ids=["payload", "signature"])
def test_a_tampered_click_token_gets_404_and_no_redirect(server: Server, part: int) -> None:
    url = server.tracking.click_url(server.key, 0, "https://shop.example/")
    token = server.path(url).removeprefix("/c/")
    response = server.get("/c/" + flip(token, part))
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.text == "This link is not valid: it was altered or is incomplete."
    assert events(server) == []


def test_no_open_redirect(server: Server) -> None:
    signer = server.tracking.signer
    evil = signer.sign({"k": "click", "d": server.key, "i": 0, "u": "javascript:alert(1)"})
    other_kind = server.path(server.tracking.open_url(server.key)).removeprefix("/o/")
    unsubscribe = server.path(server.tracking.unsubscribe_url(server.key)).removeprefix("/u/")
    foreign = Tracking(server.url, TokenSigner("another-secret-of-16-bytes")).click_url(
        server.key, 0, "https://evil.example/"
    )
    for path in (
        "/c/" + evil,
        "/c/" + other_kind,
        "/c/" + unsubscribe,
        server.path(foreign),
        "/c/not-a-token",
        "/c/https:%2F%2Fevil.example",
    ):
        response = server.get(path)
        assert response.status_code == 404, path
        assert "location" not in response.headers, path
    assert events(server) == []


def test_a_valid_click_of_an_unknown_delivery_redirects_and_records_nothing(
    server: Server,
) -> None:
    url = server.tracking.click_url("999-mail-1", 0, "https://shop.example/")
    response = server.get(server.path(url))
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/"
    assert events(server) == []


# -- opens ---------------------------------------------------------------------------------------


def test_the_pixel_records_an_open_and_is_never_cached(server: Server) -> None:
    response = httpx.get(
        server.url + server.path(server.tracking.open_url(server.key)),
        headers={"User-Agent": "MailReader/1.0"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content == PIXEL and PIXEL.startswith(b"GIF89a")
    assert response.headers["cache-control"] == "no-store, no-cache, must-revalidate, max-age=0"
    assert response.headers["pragma"] == "no-cache"
    (event,) = server.store.events()
    assert (event.delivery_id, event.kind, event.detail) == (
        server.delivery_id,
        EventKind.OPEN,
        {"user_agent": "MailReader/1.0"},
    )


def test_a_bad_open_token_still_gets_the_pixel_and_records_nothing(server: Server) -> None:
    token = server.path(server.tracking.open_url(server.key)).removeprefix("/o/")
    click = server.path(server.tracking.click_url(server.key, 0, "https://a.example/"))
    for path in ("/o/" + flip(token, 1), "/o/garbage", "/o/" + click.removeprefix("/c/")):
        response = server.get(path)
        assert response.status_code == 200 and response.content == PIXEL, path
    assert events(server) == []


# -- unsubscribes --------------------------------------------------------------------------------


def test_the_unsubscribe_page_asks_first_and_changes_nothing(server: Server) -> None:
    path = server.path(server.tracking.unsubscribe_url(server.key))
    response = server.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Stop sending these email messages to <strong>Ann.Smith@Example.com</strong>?" in (
        response.text
    )
    assert '<form method="post">' in response.text
    assert events(server) == [] and server.store.suppressions() == []
    assert server.get(path[:-3] + "xyz").status_code == 404


def test_one_click_unsubscribe_suppresses_at_once_and_is_idempotent(server: Server) -> None:
    path = server.path(server.tracking.unsubscribe_url(server.key))
    for _ in range(2):
        response = server.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        assert "<h1>You are unsubscribed</h1>" in response.text
    assert events(server) == [(server.delivery_id, EventKind.UNSUBSCRIBE, None, None)]
    (row,) = server.store.suppressions()
    assert (row.channel, row.address, row.reason, row.delivery_id) == (
        "email",
        "ann.smith@example.com",
        SuppressionReason.UNSUBSCRIBED,
        server.delivery_id,
    )


def test_the_page_button_unsubscribes_too_and_a_bad_token_does_not(server: Server) -> None:
    path = server.path(server.tracking.unsubscribe_url(server.key))
    assert server.post(path[:-2] + "zz", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert server.post(path).status_code == 200  # a form POST without the one-click body
    assert [r.address for r in server.store.suppressions()] == ["ann.smith@example.com"]


# -- the feedback API ----------------------------------------------------------------------------


def test_feedback_needs_the_bearer_token(server: Server) -> None:
    body = {"delivery_id": server.key, "kind": "hard_bounce"}
    for token in (None, "wrong-token"):
        response = server.feedback(body, token=token)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {
            "error": "a valid bearer token is required (Authorization: Bearer <token>)"
        }
    assert events(server) == [] and server.store.suppressions() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"delivery_id": "x"}, "kind: missing (one of hard_bounce, soft_bounce, complaint)"),
        (
            {"delivery_id": "x", "kind": "open"},
            "kind: must be one of hard_bounce, soft_bounce, complaint, not 'open'",
        ),
        ({"kind": "complaint"}, "delivery_id: missing (or give channel and address)"),
        (
            {"kind": "complaint", "address": "a@b.example"},
            "channel: missing (one of email, sms, push), needed with address",
        ),
        (
            {"kind": "complaint", "address": "a@b.example", "channel": "fax"},
            "channel: must be one of email, sms, push, not 'fax'",
        ),
        (
            {"kind": "hard_bounce", "delivery_id": "x", "address": "a@b.example"},
            "delivery_id: give either delivery_id or channel and address, not both",
        ),
        ({"kind": "hard_bounce", "delivery_id": 12}, "delivery_id: must be a non-empty string"),
        ({"kind": "hard_bounce", "delivery_id": "x", "detail": "550"}, "detail: must be an object"),
        (
            {"kind": "hard_bounce", "delivery": "x"},
            "delivery: unknown field (expected delivery_id, channel, address, kind, detail)",
        ),
        ("hard_bounce", "body: must be an object (or a list of objects)"),
        (
            [{"delivery_id": "x", "kind": "complaint"}, {"delivery_id": "y", "kind": "spam"}],
            "[1].kind: must be one of hard_bounce, soft_bounce, complaint, not 'spam'",
        ),
    ],
)
def test_bad_feedback_gets_422_naming_the_field_and_records_nothing(
    server: Server, body: object, message: str
) -> None:
    response = server.feedback(body)
    assert response.status_code == 422
    assert response.json() == {"error": message}
    assert events(server) == [] and server.store.suppressions() == []


def test_feedback_that_is_not_json_gets_422(server: Server) -> None:
    response = server.post(
        "/api/feedback", content=b"{nope", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 422
    assert response.json() == {"error": "body: not JSON"}


def test_hard_bounces_and_complaints_suppress_soft_bounces_do_not(server: Server) -> None:
    detail = {"diagnostic": "550 5.1.1 user unknown"}
    response = server.feedback(
        [
            {"delivery_id": server.key, "kind": "soft_bounce"},
            {"delivery_id": server.key, "kind": "hard_bounce", "detail": detail},
            {"delivery_id": "999-mail-1", "kind": "hard_bounce"},
            {"channel": "email", "address": " Bob@Example.com ", "kind": "complaint"},
            {"channel": "sms", "address": "+33612345678", "kind": "soft_bounce"},
        ]
    )
    assert response.status_code == 200
    assert response.json() == {"received": 5, "events": 2, "suppressed": 2, "unknown": 1}
    assert [(e.kind, e.detail) for e in server.store.events()] == [
        (EventKind.SOFT_BOUNCE, None),
        (EventKind.HARD_BOUNCE, detail),
    ]
    found = [(r.channel, r.address, r.reason, r.delivery_id) for r in server.store.suppressions()]
    assert found == [
        ("email", "ann.smith@example.com", SuppressionReason.HARD_BOUNCE, server.delivery_id),
        ("email", "bob@example.com", SuppressionReason.COMPLAINT, None),
    ]
    again = server.feedback({"delivery_id": server.key, "kind": "complaint"})
    assert again.json() == {"received": 1, "events": 1, "suppressed": 0, "unknown": 0}


def test_health(server: Server) -> None:
    response = server.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


# -- configuration -------------------------------------------------------------------------------


def test_the_feedback_api_is_off_without_its_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTITA_TRACKING_SECRET", SECRET)
    monkeypatch.delenv("PARTITA_FEEDBACK_TOKEN", raising=False)
    with LiveServer(create_app(write_project(tmp_path, 1))) as live:
        response = httpx.post(live.url + "/api/feedback", json={}, headers={"Authorization": "x"})
    assert response.status_code == 503
    assert response.json() == {
        "error": "the feedback API is off: set PARTITA_FEEDBACK_TOKEN where the server runs"
    }


def test_tracking_url_without_its_secret_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PARTITA_TRACKING_SECRET", raising=False)
    with pytest.raises(InvalidInput) as missing:
        write_project(tmp_path, 8765)
    (problem,) = missing.value.problems
    assert problem.message == (
        "tracking_url is set but environment variable 'PARTITA_TRACKING_SECRET' (the tracking "
        "secret, see tracking_secret_env) is not set"
    )
    assert (problem.field, problem.line) == ("tracking_url", 4)
    monkeypatch.setenv("PARTITA_TRACKING_SECRET", "short")
    with pytest.raises(InvalidInput) as short:
        write_project(tmp_path, 8765)
    assert short.value.problems[0].message.endswith("holds fewer than 16 bytes")


def test_the_secret_comes_from_the_variable_the_project_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TRACKING", SECRET)
    monkeypatch.delenv("PARTITA_TRACKING_SECRET", raising=False)
    (tmp_path / "partita.yaml").write_text(
        PROJECT.format(url="https://t.shop.example") + "tracking_secret_env: SHOP_TRACKING\n",
        encoding="utf-8",
    )
    project = load_project(tmp_path)
    assert project.tracking_secret == SECRET
    assert "a-tracking-secret" not in (tmp_path / "partita.yaml").read_text(encoding="utf-8")


def test_a_tracking_url_must_be_web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTITA_TRACKING_SECRET", SECRET)
    (tmp_path / "partita.yaml").write_text(
        PROJECT.format(url="ftp://t.shop.example"), encoding="utf-8"
    )
    with pytest.raises(InvalidInput) as error:
        load_project(tmp_path)
    assert "must start with https:// or http://" in error.value.problems[0].message


def test_the_server_needs_a_tracking_url(tmp_path: Path) -> None:
    (tmp_path / "partita.yaml").write_text("warehouse: duckdb:///x.duckdb\n", encoding="utf-8")
    with pytest.raises(PartitaError, match="the project has no tracking_url"):
        create_app(load_project(tmp_path))


def test_partita_serve_runs_the_server(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PARTITA_TRACKING_SECRET": SECRET, "PARTITA_FEEDBACK_TOKEN": TOKEN}
    (tmp_path / "partita.yaml").write_text(
        PROJECT.format(url=f"http://{LOOPBACK}:{port}"), encoding="utf-8"
    )
    partita = Path(sys.executable).parent / "partita"
    process = subprocess.Popen(
        [str(partita), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                response = httpx.get(f"http://{LOOPBACK}:{port}/healthz")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "partita serve did not start"
                time.sleep(0.05)
        assert response.json() == {"status": "ok"}
        feedback = httpx.post(
            f"http://{LOOPBACK}:{port}/api/feedback",
            json={"channel": "email", "address": "x@y.example", "kind": "hard_bounce"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert feedback.json() == {"received": 1, "events": 0, "suppressed": 1, "unknown": 0}
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    assert f"listening on http://{LOOPBACK}:{port}" in out
    store = Store("sqlite:///state.db", root=tmp_path)
    assert [r.address for r in store.suppressions()] == ["x@y.example"]
    store.close()
