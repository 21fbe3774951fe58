"""What every provider is: ``send(message) -> SendResult``, and the four ways a send fails.

A provider raises exactly one of:

- :class:`TransientError` — nothing was sent and trying again later may work (network errors,
  timeouts before the request went out, HTTP 429 and 5xx, SMTP 4xx). ``retry`` retries it.
- :class:`PermanentError` — this recipient cannot get this message (SMTP 5xx for the
  recipient, HTTP 400/404/422): record it, do not retry, go on with the others.
- :class:`FatalError` — no message can be sent until a person fixes something (bad
  credentials, quota or payment, misconfiguration): the activity pauses; nothing is lost.
- :class:`InDoubtError` — the provider may or may not have taken the message (the connection
  broke after the message went out, and the provider cannot deduplicate a resend): the ledger
  records the delivery as *in doubt*; it is never resent blindly.

Each error's message says what happened and, for a fatal one, what to fix.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from partita.model.problems import PartitaError

M_contra = TypeVar("M_contra", contravariant=True)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SendResult:
    """A message the provider accepted, with its id there when it gives one (SMTP: the
    ``Message-ID``; Twilio: the ``sid``; FCM: the message ``name``)."""

    provider_message_id: str | None = None


class ProviderError(PartitaError):
    """A send that failed; the subclass says what to do about it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientError(ProviderError):
    """Nothing was sent; try again later (after ``retry_after`` seconds when the provider said
    so)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ProviderError):
    """This recipient cannot get this message; do not retry it."""


class FatalError(ProviderError):
    """No message can go out until the configuration or the account is fixed."""


class InDoubtError(ProviderError):
    """The message may have been sent: do not resend it blindly."""


class Provider(Protocol[M_contra]):
    """Anything that sends one message at a time.

    ``idempotent`` says whether sending the same message (same idempotency key) twice cannot
    produce two messages — then a resend after an unknown outcome is safe.
    """

    @property
    def idempotent(self) -> bool: ...

    def send(self, message: M_contra) -> SendResult: ...

    def close(self) -> None: ...


def retry(
    call: Callable[[], T],
    attempts: int = 3,
    base_delay: float = 0.5,
    *,
    max_delay: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> T:
    """``call()``, tried up to ``attempts`` times while it raises TransientError.

    The wait before try *n* + 1 is ``base_delay * 2**(n - 1)`` scaled by a random factor in
    [0.5, 1) (jitter, so that workers do not retry in step), or the provider's ``retry_after``
    when it gave one; never more than ``max_delay``. The last TransientError is raised when the
    attempts run out; every other error is raised at once.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TransientError as error:
            if attempt == attempts:
                raise
            delay = error.retry_after
            if delay is None:
                delay = base_delay * 2 ** (attempt - 1) * (0.5 + jitter() / 2)
            sleep(min(max(delay, 0.0), max_delay))
    raise AssertionError("unreachable")  # pragma: no cover
