"""SMS, push and webhooks over HTTP (httpx), with the transport injectable: unit tests pass an
``httpx.MockTransport``, integration tests talk to real servers on loopback.

How an answer is classified, for every HTTP provider:

==================================  ==========================================================
2xx                                 sent (the id is read from the JSON body when there is one)
401, 403                            FatalError: the credentials are wrong or lack a permission
402                                 FatalError: quota or payment
408, 429, 5xx                       TransientError (with the ``Retry-After`` it gave)
other 4xx (400, 404, 409, 422…)     PermanentError for this recipient, with the provider's words
cannot connect, DNS, connect        TransientError: nothing was sent
timeout
no answer after the request went    TransientError when the provider deduplicates by idempotency
out (read timeout, connection       key (``idempotent``), else InDoubtError: it may have sent
closed)
bad URL, unsupported scheme,        FatalError for a configured URL (PermanentError for a
TLS certificate not verified        webhook URL rendered per recipient)
==================================  ==========================================================

A body that is not JSON (an HTML error page, garbage) changes nothing for an error status: it is
classified by the status, and its first characters are quoted in the message. A 2xx whose body
is not the JSON the API always returns (Twilio's ``sid``, FCM's ``name``) means something else
answered — a proxy, a wrong base URL — so whether the message went out is unknown:
InDoubtError, never retried blindly. The generic JSON SMS provider and webhooks take any 2xx as
sent.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import ssl
from collections.abc import Callable, Mapping
from typing import Any, Self

import httpx

from partita.channels._messages import PushMessage, SmsMessage, WebhookRequest
from partita.channels.providers._base import (
    FatalError,
    InDoubtError,
    PermanentError,
    ProviderError,
    SendResult,
    TransientError,
)

Token = str | Callable[[], str]
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def _excerpt(text: str, limit: int = 160) -> str:
    words = " ".join(text.split())
    return words if len(words) <= limit else words[: limit - 1] + "…"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def provider_says(response: httpx.Response) -> str:
    """The provider's own explanation in an error answer: the usual JSON fields (``message``,
    ``error``, ``error.message``, ``detail``, ``errors[0]``…), else the start of the body."""
    body = _json(response)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            body = {**error, **{k: v for k, v in body.items() if k != "error"}}
        elif isinstance(error, str) and "message" not in body:
            body = {**body, "message": error}
        for key in ("message", "error_description", "detail", "title", "status"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                code = body.get("code")
                prefix = f"code {code}: " if isinstance(code, int | str) and code != "" else ""
                return _excerpt(prefix + value)
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            text = first.get("message") if isinstance(first, dict) else first
            if isinstance(text, str):
                return _excerpt(text)
    text = response.text.strip() if response.content else ""
    return f"body: {_excerpt(text)}" if text else "no explanation in the body"


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` of a response in seconds (a number or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def classify(response: httpx.Response, what: str) -> ProviderError:
    """The error for a non-2xx ``response`` of ``what`` (``the SMS provider at …``)."""
    status = response.status_code
    head = f"{what} answered HTTP {status} ({provider_says(response)})"
    if status in (401, 403):
        return FatalError(f"{head}: check the credentials (token, account, key) and their rights")
    if status == 402:
        return FatalError(f"{head}: the account is out of quota or credit; top it up, then resume")
    if status in (408, 429) or status >= 500:
        return TransientError(head, retry_after=retry_after(response))
    return PermanentError(head)


class _HttpProvider:
    """What the HTTP providers share: one httpx client, error mapping, classification."""

    idempotent = False
    #: How messages name the provider.
    label = "the HTTP provider"
    #: Whether the URL comes from the configuration (a bad one is fatal) or from a template.
    _configured_url = True

    def __init__(
        self, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._client = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)

    def _what(self, url: str) -> str:
        return f"{self.label} at {url}"

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        what = self._what(url)
        bad_url = FatalError if self._configured_url else PermanentError
        try:
            response = self._client.request(method, url, **kwargs)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            raise bad_url(f"{what}: the URL is not usable ({error})") from None
        except httpx.ConnectError as error:
            if isinstance(error.__context__, ssl.SSLCertVerificationError) or (
                "CERTIFICATE_VERIFY_FAILED" in str(error)
            ):
                raise bad_url(
                    f"{what}: its TLS certificate could not be verified ({error}): check the "
                    "host name, or give the CA that signed it"
                ) from None
            raise TransientError(f"cannot connect to {what}: {error}") from None
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise TransientError(f"cannot connect to {what}: timed out ({error})") from None
        except (httpx.WriteError, httpx.WriteTimeout) as error:
            raise TransientError(f"sending the request to {what} failed ({error})") from None
        except httpx.TransportError as error:
            # Read timeout, connection closed before an answer: the request went out.
            reason = "no answer in time" if isinstance(error, httpx.TimeoutException) else error
            text = f"{what} did not answer ({reason or type(error).__name__})"
            if self.idempotent:
                raise TransientError(text) from None
            raise InDoubtError(f"{text}: the message may have been sent") from None
        if response.is_redirect:
            target = response.headers.get("location", "?")
            raise bad_url(
                f"{what} answered HTTP {response.status_code}, a redirect to {target}: "
                "use the final URL"
            )
        if not response.is_success:
            raise self._classify(response, what)
        return response

    def _classify(self, response: httpx.Response, what: str) -> ProviderError:
        """The error for an error answer; providers refine :func:`classify` with their
        codes."""
        return classify(response, what)

    def _id(self, response: httpx.Response, key: str, required: bool) -> str | None:
        body = _json(response)
        value = body.get(key) if isinstance(body, dict) else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
        if required:
            raise InDoubtError(
                f"{self._what(str(response.request.url))} answered HTTP {response.status_code} "
                f"without the '{key}' of the message ({provider_says(response)}): it may have "
                "been sent; check that the base URL points at the provider"
            )
        return None

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bearer(token: Token | None) -> dict[str, str]:
    if token is None:
        return {}
    try:
        value = token() if callable(token) else token
    except Exception as error:
        raise FatalError(f"cannot get the access token of the provider: {error}") from error
    return {"Authorization": f"Bearer {value}"}


class JsonSmsProvider(_HttpProvider):
    """A generic SMS gateway: ``POST url`` with ``{"to", "body"}`` (and ``"from"`` when
    ``sender`` is set) as JSON, ``Authorization: Bearer <token>`` and ``Idempotency-Key``.
    The message id is the ``id_field`` of a JSON answer (optional)."""

    idempotent = True
    label = "the SMS gateway"

    def __init__(
        self,
        url: str,
        token: Token | None = None,
        *,
        sender: str | None = None,
        id_field: str = "id",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(timeout=timeout, transport=transport)
        self.url = url
        self._token = token
        self.sender = sender
        self.id_field = id_field

    def send(self, message: SmsMessage) -> SendResult:
        payload: dict[str, str] = {"to": message.to, "body": message.body}
        if self.sender is not None:
            payload["from"] = self.sender
        headers = _bearer(self._token)
        if message.idempotency_key:
            headers["Idempotency-Key"] = message.idempotency_key
        response = self._request("POST", self.url, json=payload, headers=headers)
        return SendResult(self._id(response, self.id_field, required=False))


class TwilioSmsProvider(_HttpProvider):
    """Twilio's Messages API shape: a form POST of ``To``, ``From`` (or
    ``MessagingServiceSid``) and ``Body`` to ``<base_url>/2010-04-01/Accounts/<sid>/
    Messages.json`` with basic auth (account SID, auth token); the id is the answer's
    ``sid``."""

    label = "Twilio"
    #: Twilio error codes that say the sender is misconfigured: every message would fail.
    FATAL_CODES = frozenset({21212, 21606, 21659})

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str | None = None,
        *,
        messaging_service_sid: str | None = None,
        base_url: str = "https://api.twilio.com",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if (sender is None) == (messaging_service_sid is None):
            raise ValueError("give exactly one of sender (a From number) and messaging_service_sid")
        super().__init__(timeout=timeout, transport=transport)
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = (account_sid, auth_token)
        self.sender = sender
        self.messaging_service_sid = messaging_service_sid

    def send(self, message: SmsMessage) -> SendResult:
        form = {"To": message.to, "Body": message.body}
        if self.sender is not None:
            form["From"] = self.sender
        else:
            assert self.messaging_service_sid is not None
            form["MessagingServiceSid"] = self.messaging_service_sid
        response = self._request("POST", self.url, data=form, auth=self._auth)
        return SendResult(self._id(response, "sid", required=True))

    def _classify(self, response: httpx.Response, what: str) -> ProviderError:
        error = classify(response, what)
        body = _json(response)
        code = body.get("code") if isinstance(body, dict) else None
        if isinstance(error, PermanentError) and code in self.FATAL_CODES:
            return FatalError(
                f"{error.message}: the sender cannot send these messages; check 'sender' or "
                "'messaging_service_sid'"
            )
        return error


class FcmPushProvider(_HttpProvider):
    """FCM HTTP v1's shape: ``POST <base_url>/v1/projects/<project>/messages:send`` with
    ``{"message": {"token", "notification": {"title", "body"}, "data"}}`` and a bearer token
    (a string, or a function returning a fresh OAuth access token); the id is the answer's
    ``name``. Data values are sent as strings, as FCM requires."""

    label = "FCM"

    def __init__(
        self,
        project_id: str,
        token: Token,
        *,
        base_url: str = "https://fcm.googleapis.com",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(timeout=timeout, transport=transport)
        self.url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._token = token

    def send(self, message: PushMessage) -> SendResult:
        payload = {
            "message": {
                "token": message.token,
                "notification": {"title": message.title, "body": message.body},
                "data": {str(k): str(v) for k, v in message.data.items()},
            }
        }
        response = self._request("POST", self.url, json=payload, headers=_bearer(self._token))
        return SendResult(self._id(response, "name", required=True))

    def _classify(self, response: httpx.Response, what: str) -> ProviderError:
        error = classify(response, what)
        body = _json(response)
        detail = body.get("error") if isinstance(body, dict) else None
        detail = detail if isinstance(detail, dict) else {}
        codes = [
            item.get("errorCode")
            for item in detail.get("details") or []
            if isinstance(item, dict) and item.get("errorCode")
        ]
        if "UNREGISTERED" in codes:
            return PermanentError(
                f"{what} answered HTTP {response.status_code}: the device token is no longer "
                "registered (UNREGISTERED: the app was uninstalled or the token expired)"
            )
        if detail.get("status") == "SENDER_ID_MISMATCH" or "SENDER_ID_MISMATCH" in codes:
            # A 403 about this one token, not about the credentials.
            return PermanentError(f"{what} answered HTTP 403 ({provider_says(response)})")
        return error


class WebhookProvider(_HttpProvider):
    """One HTTP call per message: ``request.method`` to ``request.url`` with ``request.body``
    as is, the provider's ``headers`` then the request's (``Content-Type: application/json``
    unless one of them says otherwise) and ``Idempotency-Key``. Say ``idempotent=True`` only
    when the receiver deduplicates on that key. The id is the ``id`` of a JSON answer, if any."""

    label = "the webhook"
    _configured_url = False

    def __init__(
        self,
        *,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(timeout=timeout, transport=transport)
        self.headers = dict(headers or {})
        self.idempotent = idempotent

    def send(self, message: WebhookRequest) -> SendResult:
        method = message.method.upper()
        if method not in _METHODS:
            raise PermanentError(
                f"webhook method '{message.method}' is not one of {', '.join(sorted(_METHODS))}"
            )
        headers = httpx.Headers({"Content-Type": "application/json"})
        headers.update(self.headers)
        headers.update(message.headers)
        if message.idempotency_key:
            headers["Idempotency-Key"] = message.idempotency_key
        content = message.body.encode("utf-8") if message.body is not None else None
        response = self._request(method, message.url, content=content, headers=headers)
        return SendResult(self._id(response, "id", required=False))
