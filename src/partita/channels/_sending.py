"""Making and handing off the messages of a channel activity, in the task's process or in
worker processes.

The task's process keeps the ledger: it marks a group of deliveries ``sending`` (committed)
before the group goes to a :class:`GroupSender`, and records the group's outcomes after.
The sender renders each message, lets the provider prepare it (MIME) and hands it off, with the
retries of transient errors. For a large audience the groups go to worker processes
(:class:`SenderPool`), several at once, so rendering, encoding and sending run on every core.

This module imports neither the warehouse nor the state store: a worker process loads only the
templates, the messages and the providers.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from partita.channels._config import build_provider
from partita.channels._messages import (
    EmailMessage,
    PushMessage,
    SmsMessage,
    WebhookRequest,
    html_to_text,
)
from partita.channels._templates import Template, TemplateError, compile_template
from partita.channels._tracking import Tracking
from partita.channels.providers import (
    FatalError,
    InDoubtError,
    PermanentError,
    TransientError,
    retry,
)
from partita.model.activities import ChannelBase, EmailActivity, PushActivity, SmsActivity
from partita.model.activities.channels import WebhookActivity
from partita.model.problems import PartitaError
from partita.model.states import DeliveryState

#: How many times a transient error is retried at once before the delivery goes back to the
#: queue (the activity tries the queue again later).
RETRIES = 3


def content_of(activity: ChannelBase) -> dict[str, str]:
    """Field -> template text, with the email text part derived from the HTML when absent."""
    found = activity.templates()
    if isinstance(activity, EmailActivity) and activity.text is None and activity.html is not None:
        found["text"] = html_to_text(activity.html)
    return found


@dataclass(frozen=True)
class Composer:
    """The compiled templates of one activity; ``compose(address, row)`` builds a message."""

    activity: ChannelBase
    templates: dict[str, Template]
    sender: str | None
    #: The project's tracking (None: no ``tracking_url``, nothing is rewritten).
    tracking: Tracking | None = None

    @classmethod
    def of(
        cls, activity: ChannelBase, sender: str | None, tracking: Tracking | None = None
    ) -> Composer:
        templates: dict[str, Template] = {}
        for name, text in content_of(activity).items():
            try:
                templates[name] = compile_template(text, name)
            except TemplateError as error:
                raise PartitaError(
                    f"{activity.kind} '{activity.id}': {error.problem.message}"
                ) from None
        if isinstance(activity, EmailActivity) and "from" not in templates and sender is None:
            raise PartitaError(
                f"email '{activity.id}' has no 'from', and its channels entry "
                f"'{activity.provider_name()}' has no 'sender': set one of them"
            )
        return cls(activity, templates, sender, tracking)

    @property
    def names(self) -> frozenset[str]:
        """The root names the templates read (columns and message variables)."""
        return frozenset().union(*(template.variables for template in self.templates.values()))

    def _render(self, name: str, row: Mapping[str, object]) -> str:
        return self.templates[name].render(row)

    def _maybe(self, name: str, row: Mapping[str, object]) -> str | None:
        return self._render(name, row) if name in self.templates else None

    def compose(self, address: str | None, row: Mapping[str, object], key: str) -> Any:
        """The message for one recipient (TemplateError when a template fails on the row).

        With tracking, ``unsubscribe_url`` is the delivery's signed unsubscribe link, and an
        email's HTML links go through signed redirects, with an open pixel; a marketing email
        also gets the ``List-Unsubscribe`` headers (RFC 8058 one-click)."""
        activity = self.activity
        unsubscribe = self.tracking.unsubscribe_url(key) if self.tracking else None
        if unsubscribe is not None:
            row = {**row, "unsubscribe_url": unsubscribe}
        if isinstance(activity, EmailActivity):
            assert address is not None
            sender = self._maybe("from", row) or self.sender
            assert sender is not None
            html = self._maybe("html", row)
            if html is not None and self.tracking is not None:
                html = self.tracking.track(html, key)
            return EmailMessage(
                to=address,
                from_=sender,
                subject=self._render("subject", row),
                html=html,
                text=self._maybe("text", row),
                reply_to=self._maybe("reply_to", row) or None,
                unsubscribe_url=unsubscribe if activity.category == "marketing" else None,
                idempotency_key=key,
            )
        if isinstance(activity, SmsActivity):
            assert address is not None
            return SmsMessage(to=address, body=self._render("body", row), idempotency_key=key)
        if isinstance(activity, PushActivity):
            assert address is not None
            data = {name: self._render(f"data.{name}", row) for name in activity.data}
            return PushMessage(
                token=address,
                title=self._render("title", row),
                body=self._render("body", row),
                data=data,
                idempotency_key=key,
            )
        assert isinstance(activity, WebhookActivity)
        headers = {name: self._render(f"headers.{name}", row) for name in activity.headers}
        return WebhookRequest(
            url=self._render("url", row),
            method=self._render("method", row),
            body=self._maybe("body", row),
            headers=headers,
            idempotency_key=key,
        )


def message_row(
    row: Mapping[str, object],
    key: str,
    variables: Mapping[str, Any],
    names: frozenset[str] | None = None,
) -> dict[str, object]:
    """What a template sees: the row's columns (only ``names`` when given: the columns the
    templates read, :attr:`Composer.names`) plus the message variables (``unsubscribe_url``
    is filled by :meth:`Composer.compose` when tracking is on)."""
    kept = row if names is None else {name: row[name] for name in names if name in row}
    return {**kept, "delivery_id": key, "unsubscribe_url": "", "vars": dict(variables)}


class Pace:
    """At most ``rate`` messages a second (None: no limit), in this process."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if now < self.next:
            time.sleep(self.next - now)
            now = self.next
        self.next = now + self.interval


@dataclass(frozen=True, slots=True)
class Pending:
    """A delivery marked ``sending``: its ledger id, idempotency key, address and what its
    templates see."""

    delivery: int
    key: str
    address: str | None
    row: dict[str, object]


@dataclass(frozen=True, slots=True)
class Handed:
    """What became of one delivery of a group: ``sent`` (with the provider's id), ``failed``
    (with a reason), ``in_doubt``, or ``queued`` again (nothing was sent)."""

    delivery: int
    state: DeliveryState
    reason: str | None = None
    error: str | None = None
    provider_message_id: str | None = None


@dataclass(frozen=True)
class GroupResult:
    """The outcomes of a group, in order, and why it stopped early, if it did: the provider's
    fatal error (``fatal``: the activity pauses), or an unexpected error during a hand-off
    (``broken``: that delivery is in doubt)."""

    handed: list[Handed] = field(default_factory=list)
    fatal: str | None = None
    broken: str | None = None


class GroupSender:
    """Makes and hands off the messages of one group after the other (in one process)."""

    def __init__(self, composer: Composer, provider: Any, rate: float | None = None) -> None:
        self.composer = composer
        self.prepare = getattr(provider, "prepare", None)
        self.send_one = getattr(provider, "send_prepared", provider.send)
        self.pace = Pace(rate)

    def send(self, group: list[Pending]) -> GroupResult:
        """Each delivery of ``group``, in order; a fatal provider error or an unexpected one
        stops the group (the deliveries after it go back to the queue)."""
        handed: list[Handed] = []
        for index, item in enumerate(group):
            try:
                outcome = self._one(item)
            except FatalError as error:
                handed += [Handed(p.delivery, DeliveryState.QUEUED) for p in group[index:]]
                return GroupResult(handed, fatal=error.message)
            except Exception as error:  # a bug, or a provider failing in a way it should not
                text = f"{type(error).__name__}: {error}"
                handed.append(Handed(item.delivery, DeliveryState.IN_DOUBT, error=text))
                handed += [Handed(p.delivery, DeliveryState.QUEUED) for p in group[index + 1 :]]
                return GroupResult(handed, broken=text)
            handed.append(outcome)
        return GroupResult(handed)

    def _one(self, item: Pending) -> Handed:
        try:
            message = self.composer.compose(item.address, item.row, item.key)
        except TemplateError as error:
            failed = DeliveryState.FAILED
            return Handed(item.delivery, failed, reason="render_error", error=error.problem.message)
        if self.prepare is not None:
            try:
                message = self.prepare(message)
            except PermanentError as error:
                return Handed(item.delivery, DeliveryState.FAILED, "rejected", error.message)
        self.pace.wait()
        try:
            result = retry(lambda: self.send_one(message), attempts=RETRIES)
        except TransientError as error:
            return Handed(item.delivery, DeliveryState.QUEUED, error=error.message)
        except PermanentError as error:
            return Handed(item.delivery, DeliveryState.FAILED, "rejected", error.message)
        except InDoubtError as error:
            return Handed(item.delivery, DeliveryState.IN_DOUBT, error=error.message)
        return Handed(
            item.delivery, DeliveryState.SENT, provider_message_id=result.provider_message_id
        )


# -- worker processes ---------------------------------------------------------------------------

_WORKER: GroupSender | None = None


def _start_worker(
    activity: ChannelBase,
    sender: str | None,
    tracking: Tracking | None,
    channels: Mapping[str, Mapping[str, Any]],
    root: Path,
    rate: float | None,
) -> None:
    global _WORKER
    parent = multiprocessing.parent_process()
    if parent is not None:  # a killed task leaves no worker behind
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    built = build_provider(activity.provider_name(), activity.kind, channels, root)
    _WORKER = GroupSender(Composer.of(activity, sender, tracking), built.provider, rate)


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the task's process is gone
    os._exit(1)


def _send_in_worker(group: list[Pending]) -> GroupResult:
    assert _WORKER is not None, "the worker was not started"
    return _WORKER.send(group)


class SenderPool:
    """``workers`` processes, each with its own provider (its own connections), sending the
    groups they are given. Spawned: the warehouse and store connections of the task's process
    are not shared. ``rate`` (messages per second) is shared out between them."""

    def __init__(
        self,
        workers: int,
        activity: ChannelBase,
        composer: Composer,
        channels: Mapping[str, Mapping[str, Any]],
        root: Path,
    ) -> None:
        rate = activity.rate_limit / workers if activity.rate_limit else None
        self.workers = workers
        self.pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(activity, composer.sender, composer.tracking, dict(channels), root, rate),
        )

    def submit(self, group: list[Pending]) -> Future[GroupResult]:
        """Send ``group`` in a worker; its result when it is done."""
        return self.pool.submit(_send_in_worker, group)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
