"""Tracking: signed tokens for clicks, opens and unsubscribes, and the HTML rewriting that uses
them.

A token is ``<payload>.<signature>``: the payload is compact JSON in base64url (no padding),
the signature HMAC-SHA256 of it with the project's tracking secret, also base64url. Anyone can
read a payload; nobody can change one without the secret. A click token holds the target URL,
the delivery id and the link's index, so the click endpoint redirects only to URLs Partita
signed: there is no open redirect.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html as html_lib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from partita.model.problems import PartitaError
from partita.model.project import MIN_SECRET_BYTES, Project

_DOMAIN = b"partita.tracking.v1."
_B64 = re.compile(r"[A-Za-z0-9_-]+")

#: Token kinds, as the ``k`` field of a payload.
CLICK, OPEN, UNSUBSCRIBE = "click", "open", "unsubscribe"
_PATHS = {CLICK: "c", OPEN: "o", UNSUBSCRIBE: "u"}


class TokenError(PartitaError):
    """A tracking token that is malformed, altered, or of another kind than expected."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the tracking secret has {len(key)} bytes, fewer than {MIN_SECRET_BYTES}: use a long "
            "random value (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return key


class TokenSigner:
    """Signs and verifies tokens with a secret. Tokens signed with one of the ``previous``
    secrets still verify, so the secret can be rotated without breaking sent links."""

    def __init__(self, secret: str | bytes, *, previous: Iterable[str | bytes] = ()) -> None:
        self._key = _key(secret)
        self._keys = [self._key, *(_key(old) for old in previous)]

    def _mac(self, key: bytes, body: str) -> str:
        return _b64encode(hmac.new(key, _DOMAIN + body.encode("ascii"), hashlib.sha256).digest())

    def sign(self, payload: Mapping[str, object]) -> str:
        """A token holding ``payload`` (a JSON-ready mapping)."""
        data = json.dumps(dict(payload), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        body = _b64encode(data.encode("utf-8"))
        return f"{body}.{self._mac(self._key, body)}"

    def verify(self, token: str) -> dict[str, object]:
        """The payload of ``token``; TokenError when it is malformed or was altered."""
        if not isinstance(token, str) or token.count(".") != 1:
            raise TokenError("malformed tracking token: expected '<payload>.<signature>'")
        body, signature = token.split(".")
        if not _B64.fullmatch(body) or not _B64.fullmatch(signature):
            raise TokenError("malformed tracking token: not base64url")
        if not any(hmac.compare_digest(self._mac(key, body), signature) for key in self._keys):
            raise TokenError(
                "tracking token signature does not match: the token was altered, or signed "
                "with another secret"
            )
        try:
            payload = json.loads(_b64decode(body))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise TokenError("malformed tracking token: the payload is not JSON") from None
        if not isinstance(payload, dict):
            raise TokenError("malformed tracking token: the payload is not an object")
        return payload


@dataclass(frozen=True)
class Click:
    """What a verified click token says: which delivery, which link, where to go."""

    delivery: str | int
    index: int
    url: str


class Tracking:
    """Signed tracking URLs under ``base_url`` (``https://t.example.com``): ``/c/<token>``
    redirects a click, ``/o/<token>`` is the open pixel, ``/u/<token>`` unsubscribes."""

    def __init__(self, base_url: str, signer: TokenSigner) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"tracking base URL must start with https://, not '{base_url}'")
        self.base_url = base_url.rstrip("/")
        self.signer = signer

    def _url(self, kind: str, payload: dict[str, object]) -> str:
        return f"{self.base_url}/{_PATHS[kind]}/{self.signer.sign({'k': kind, **payload})}"

    def click_url(self, delivery: str | int, index: int, target: str) -> str:
        """The redirect URL for link ``index`` (0-based) of a delivery, going to ``target``."""
        return self._url(CLICK, {"d": delivery, "i": index, "u": target})

    def open_url(self, delivery: str | int) -> str:
        """The URL of the open pixel of a delivery."""
        return self._url(OPEN, {"d": delivery})

    def unsubscribe_url(self, delivery: str | int) -> str:
        """The unsubscribe URL of a delivery (the link and the RFC 8058 one-click POST)."""
        return self._url(UNSUBSCRIBE, {"d": delivery})

    def _read(self, token: str, kind: str) -> dict[str, object]:
        payload = self.signer.verify(token)
        if payload.get("k") != kind:
            raise TokenError(f"not a {kind} token (it is a {payload.get('k')!s} token)")
        delivery = payload.get("d")
        if not isinstance(delivery, str | int) or isinstance(delivery, bool):
            raise TokenError(f"malformed {kind} token: no delivery")
        return payload

    def read_click(self, token: str) -> Click:
        """The click a token stands for; TokenError unless it is a valid click token."""
        payload = self._read(token, CLICK)
        index, url = payload.get("i"), payload.get("u")
        if not isinstance(index, int) or not isinstance(url, str) or not _is_web(url):
            raise TokenError("malformed click token: no link index or no http(s) URL")
        delivery = payload["d"]
        assert isinstance(delivery, str | int)
        return Click(delivery, index, url)

    def read_open(self, token: str) -> str | int:
        """The delivery an open token stands for."""
        delivery = self._read(token, OPEN)["d"]
        assert isinstance(delivery, str | int)
        return delivery

    def read_unsubscribe(self, token: str) -> str | int:
        """The delivery an unsubscribe token stands for."""
        delivery = self._read(token, UNSUBSCRIBE)["d"]
        assert isinstance(delivery, str | int)
        return delivery

    def track(self, html: str, delivery: str | int) -> str:
        """``html`` with its web links through signed redirects and an open pixel; links under
        the base URL (the unsubscribe link) stay as they are."""
        tracked = rewrite_links(
            html,
            lambda url, index: self.click_url(delivery, index, url),
            keep=(self.base_url + "/",),
        )
        return add_open_pixel(tracked, self.open_url(delivery))


def tracking_of(project: Project) -> Tracking | None:
    """The project's tracking (None without ``tracking_url``); the secret was checked when
    the project was loaded."""
    if project.tracking_url is None:
        return None
    secret = project.tracking_secret
    if secret is None:
        raise PartitaError(
            f"tracking_url is set but environment variable '{project.tracking_secret_env}' "
            "(the tracking secret) is not set"
        )
    return Tracking(project.tracking_url, TokenSigner(secret))


# -- HTML rewriting ---------------------------------------------------------------------------

#: An ``<a …>`` start tag; quoted attribute values may hold ``>``.
_A_TAG = re.compile(r"""<a(?=[\s/>])(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_ATTRIBUTE = re.compile(
    r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""", re.DOTALL
)


def _is_web(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _href(tag: str) -> tuple[int, int, str, bool] | None:
    """(start, end, value, quoted) of the href value in an ``<a>`` tag, quotes excluded."""
    for match in _ATTRIBUTE.finditer(tag, 2):
        if match.group(1).lower() != "href":
            continue
        for group in (2, 3, 4):
            if match.group(group) is not None:
                return match.start(group), match.end(group), match.group(group), group != 4
        return None
    return None


def rewrite_links(
    html: str, make_url: Callable[[str, int], str], *, keep: Iterable[str] = ()
) -> str:
    """``html`` with the ``href`` of every ``<a>`` whose URL is http(s) replaced by
    ``make_url(url, index)`` (index: 0, 1, … in document order of the rewritten links). Other
    links (``mailto:``, ``tel:``, ``#anchors``, unrendered placeholders) and links starting
    with one of ``keep`` are left alone, and so is every other byte of the document. Entities
    in an href are decoded before ``make_url`` sees the URL; the new URL is escaped."""
    prefixes = tuple(keep)
    out: list[str] = []
    last = 0
    index = 0
    for match in _A_TAG.finditer(html):
        tag = match.group(0)
        found = _href(tag)
        if found is None:
            continue
        start, end, value, quoted = found
        url = html_lib.unescape(value).strip()
        if not _is_web(url) or (prefixes and url.startswith(prefixes)):
            continue
        new = html_lib.escape(make_url(url, index), quote=True)
        index += 1
        replacement = new if quoted else f'"{new}"'
        out.append(html[last : match.start() + start])
        out.append(replacement)
        last = match.start() + end
    if not out:
        return html
    out.append(html[last:])
    return "".join(out)


_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def add_open_pixel(html: str, url: str) -> str:
    """``html`` with a 1x1 image loading ``url``, just before the last ``</body>`` (appended
    when there is none)."""
    pixel = (
        f'<img src="{html_lib.escape(url, quote=True)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0" />'
    )
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return html + pixel
    at = ends[-1].start()
    return html[:at] + pixel + html[at:]
