"""Channel activities (email, sms, push, webhook): exclusions, rendering, ledger, hand-off.

A run:

1. checks the provider entry and compiles the templates (the text part of an email is derived
   from its HTML template once);
2. adds the exclusion ``reason`` to the inbound population in one SQL pass and counts the
   reasons (``partita.channels`` ``_exclusions``); the eligible rows go to a scratch table;
3. reads the eligible rows in key order, ``batch_size`` at a time (keyset pages: memory does
   not grow with the audience); per batch: addresses checked (``invalid_address``), rows
   queued in the ledger, then each queued row marked ``sending`` (committed) before it is
   handed to the provider, then ``sent`` / ``failed`` / ``in_doubt`` / back to ``queued``;
4. produces ``out`` (the recipients sent, with ``delivery_id``, ``sent_at``,
   ``provider_message_id``) and ``excluded`` (the recipients not sent, with ``reason``).

In test mode every message is rendered (a template that fails on a row fails the task) and the
exclusions are computed, but no ledger row is written and nothing is sent: ``out`` holds the
recipients that would be sent.

Between batches the activity checks ``ctx.should_stop()`` (pause, stop); a fatal provider error
(bad credentials, quota) suspends the execution with the provider's message. Either way the
ledger keeps what was done: the next run continues from it and never sends a recipient twice.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from partita.activities.base import (
    AwaitingConfirmation,
    CheckContext,
    Deferred,
    Input,
    Interrupted,
    Output,
    Outputs,
    RunContext,
    Suspended,
    joined_population,
)
from partita.channels import (
    EmailMessage,
    FatalError,
    InDoubtError,
    PermanentError,
    PushMessage,
    SmsMessage,
    Template,
    TemplateError,
    Tracking,
    TransientError,
    WebhookRequest,
    check_templates,
    compile_template,
    html_to_text,
    message_variables,
    retry,
    sync_suppressions,
)
from partita.channels._config import ChannelProvider, build_provider, provider_problem
from partita.channels._exclusions import (
    INVALID_ADDRESS,
    ExclusionRules,
    count_reasons,
    suppressions,
    usable_address,
    with_reasons,
)
from partita.channels._ledger import Ledger, Outcome, Recipient, idempotency_key
from partita.channels._quiet import QUIET_HOURS, quiet_zones
from partita.model.activities import ChannelBase, EmailActivity, PushActivity, SmsActivity
from partita.model.activities.channels import DELIVERY_COLUMNS, WebhookActivity
from partita.model.datamodel import Dimension
from partita.model.problems import PartitaError, Problem
from partita.model.states import LogLevel, Mode
from partita.store.schema import DeliveryState
from partita.store.store import DeliveryRecord
from partita.warehouse import Warehouse
from partita.warehouse.files import BatchTable

#: How many times a transient error is retried at once, then how many more passes over the
#: rows still queued before the task gives up (resume tries again).
RETRIES = 3
PASSES = 3
#: Messages marked ``sending`` together before their hand-offs: at most this many are in
#: doubt after a crash.
IN_FLIGHT = 50
QUEUED_STATE = DeliveryState.QUEUED

_OUTCOMES = pa.schema(
    [
        ("recipient_key", pa.string()),
        ("state", pa.string()),
        ("reason", pa.string()),
        ("delivery_id", pa.string()),
        ("sent_at", pa.timestamp("us", tz="UTC")),
        ("provider_message_id", pa.string()),
    ]
)


# -- validation ---------------------------------------------------------------------------------


def rules_for(activity: ChannelBase, dimension: Dimension) -> ExclusionRules:
    """Which columns decide the exclusions of ``activity`` on rows of ``dimension``."""
    address = getattr(dimension, activity.address_setting) if activity.address_setting else None
    consent = None
    if activity.category == "marketing" and activity.consent_channel:
        consent = dimension.consent.get(activity.consent_channel)
    return ExclusionRules(
        channel=activity.kind,
        address=address,
        consent=consent,
        marketing=activity.category == "marketing",
    )


def check(activity: ChannelBase, ctx: CheckContext) -> list[Problem]:
    """Templates (syntax, filters, unknown variables) and the address and consent columns."""
    dimension_name = ctx.input_dimension(activity.id)
    if dimension_name is None or dimension_name not in ctx.model.dimensions:
        names: set[str] | None = None
        dimension = None
    else:
        dimension = ctx.model.dimension(dimension_name)
        names = set(ctx.model.column_types(dimension_name))
    problems: list[Problem] = []
    if names:
        available = names | set(ctx.input_columns(activity.id)) | set(message_variables())
        problems += check_templates(_content(activity), available, activity=activity.id)
    else:
        for field, text in _content(activity).items():
            try:
                compile_template(text, field)
            except TemplateError as error:
                problems.append(_with_activity(error.problem, activity.id))
    if dimension is not None:
        problems += _dimension_problems(activity, dimension)
    if ctx.channels is not None:
        wrong = provider_problem(activity.provider_name(), activity.kind, ctx.channels)
        if wrong is not None:
            problems.append(Problem(wrong, activity=activity.id, field="provider"))
    return problems


def _with_activity(problem: Problem, activity_id: str) -> Problem:
    from dataclasses import replace

    return replace(problem, activity=activity_id)


def _dimension_problems(activity: ChannelBase, dimension: Dimension) -> list[Problem]:
    problems: list[Problem] = []
    if activity.address_setting and getattr(dimension, activity.address_setting) is None:
        problems.append(
            Problem(
                f"dimension '{dimension.name}' declares no '{activity.address_setting}' column: "
                f"a {activity.kind} activity needs one",
                activity=activity.id,
                hint=f"add '{activity.address_setting}: <column>' to the dimension in partita.yaml",
            )
        )
    needs_consent = activity.category == "marketing" and activity.kind != "webhook"
    if needs_consent and activity.consent_channel not in dimension.consent:
        problems.append(
            Problem(
                f"marketing {activity.kind} needs a consent column: dimension "
                f"'{dimension.name}' declares none for '{activity.consent_channel}'",
                activity=activity.id,
                field="category",
                hint=f"add 'consent: {{{activity.consent_channel}: <column>}}' to the dimension, "
                "or set 'category: transactional' for messages that need no consent",
            )
        )
    return problems


def _content(activity: ChannelBase) -> dict[str, str]:
    """Field -> template text, with the email text part derived from the HTML when absent."""
    found = activity.templates()
    if isinstance(activity, EmailActivity) and activity.text is None and activity.html is not None:
        found["text"] = html_to_text(activity.html)
    return found


# -- rendering ----------------------------------------------------------------------------------


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
        for field, text in _content(activity).items():
            try:
                templates[field] = compile_template(text, field)
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

    def _render(self, field: str, row: Mapping[str, object]) -> str:
        return self.templates[field].render(row)

    def _maybe(self, field: str, row: Mapping[str, object]) -> str | None:
        return self._render(field, row) if field in self.templates else None

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
    row: Mapping[str, object], key: str, variables: Mapping[str, Any]
) -> dict[str, object]:
    """What a template sees: the row's columns plus the message variables
    (``unsubscribe_url`` is filled by :meth:`Composer.compose` when tracking is on)."""
    return {**row, "delivery_id": key, "unsubscribe_url": "", "vars": dict(variables)}


# -- run ----------------------------------------------------------------------------------------


class _Pace:
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


def run(ctx: RunContext, activity: ChannelBase, inputs: list[Input]) -> Outputs:
    source = inputs[0]
    dimension = ctx.dimension(source.dimension)
    problem = provider_problem(activity.provider_name(), activity.kind, ctx.channels)
    if problem is not None:
        raise PartitaError(f"{activity.kind} '{activity.id}': {problem}")
    live = ctx.mode == Mode.LIVE
    if live and activity.confirm_before_send and not ctx.confirmed():
        raise AwaitingConfirmation()
    sender = ctx.channels[activity.provider_name()].get("sender")
    composer = Composer.of(activity, sender if isinstance(sender, str) else None, ctx.tracking)
    rules = rules_for(activity, dimension)
    capped = _capped(ctx, activity, source.dimension)
    if ctx.ledger is not None:  # what the tracking server recorded, into the warehouse
        ledger = ctx.ledger(activity.kind, source.dimension, activity.category)
        sync_suppressions(ledger.store, ctx.warehouse)
    reasoned = with_reasons(
        ctx.population(source), rules, suppressions(ctx.warehouse), capped, source.key
    )
    reasoned, wake_at = _quiet_hours(ctx, activity, dimension, reasoned, source)
    excluded_counts = count_reasons(reasoned)
    deferring = (
        live and wake_at is not None and bool(activity.quiet_hours and activity.quiet_hours.defer)
    )
    deferred = excluded_counts.pop(QUIET_HOURS, 0) if deferring else 0
    eligible = ctx.scratch(reasoned.filter(reasoned.reason.isnull()).drop("reason"))
    outcomes_name = ctx.warehouse.working_table_name(
        ctx.campaign.name, ctx.execution_id, activity.id, "outcomes"
    )
    outcomes = BatchTable.create(ctx.warehouse, outcomes_name, _OUTCOMES)
    try:
        if live:
            assert ctx.ledger is not None, "a live channel activity needs the ledger"
            ledger = ctx.ledger(activity.kind, source.dimension, activity.category)
            ledger.record_exclusions(excluded_counts)
            built = build_provider(activity.provider_name(), activity.kind, ctx.channels, ctx.root)
            try:
                tally = _send(
                    ctx,
                    activity,
                    composer,
                    built,
                    ledger,
                    eligible,
                    source,
                    rules,
                    outcomes,
                )
            finally:
                built.provider.close()
                if ctx.delivery_history is not None:  # what was sent so far, even if stopped
                    ctx.delivery_history.record(ctx.campaign.name, ctx.execution_id, activity.id)
        else:
            tally = _rehearse(ctx, activity, composer, eligible, source, rules, outcomes)
        for reason, count in tally.pop("excluded", {}).items():
            excluded_counts[reason] = excluded_counts.get(reason, 0) + count
        _log_summary(ctx, activity, live, excluded_counts, tally)
        if deferred:
            assert wake_at is not None
            raise Deferred(
                wake_at,
                f"{activity.kind} '{activity.id}': {deferred:,} recipients are in their quiet "
                "hours and are sent when the window ends",
            )
        return _outputs(ctx, activity, source, reasoned, ctx.warehouse.working(outcomes_name))
    finally:
        ctx.warehouse.drop([outcomes_name])


_KEYS = pa.schema([("recipient_key", pa.string())])


def _capped(ctx: RunContext, activity: ChannelBase, dimension: str) -> ir.Table | None:
    """The keys of the recipients over the activity's frequency cap, as a scratch table."""
    cap = activity.frequency_cap or ctx.frequency_caps.get(activity.kind)
    if cap is None or activity.category != "marketing" or ctx.recent_sends is None:
        return None
    since = datetime.now(UTC) - timedelta(days=cap.days)
    sends = ctx.recent_sends(activity.kind, dimension, activity.category, since)
    over = (key for key, count in sends if count >= cap.max)
    return _key_table(ctx, activity, "capped", _batched(over, 50_000))


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _key_table(
    ctx: RunContext, activity: ChannelBase, label: str, chunks: Iterable[Sequence[str]]
) -> ir.Table | None:
    """Recipient keys (text) as a scratch table of the warehouse, chunk after chunk; None when
    there is none."""
    name = ctx.warehouse.working_table_name(ctx.campaign.name, ctx.execution_id, activity.id, label)
    table = BatchTable.create(ctx.warehouse, name, _KEYS)
    for chunk in chunks:
        if chunk:
            table.append(pa.table({"recipient_key": list(chunk)}, schema=_KEYS))
    if not table.rows:
        ctx.warehouse.drop([name])
        return None
    copy = ctx.scratch(ctx.warehouse.working(name))  # dropped with the task's scratch tables
    ctx.warehouse.drop([name])
    return copy


def _quiet_hours(
    ctx: RunContext, activity: ChannelBase, dimension: Dimension, reasoned: ir.Table, source: Input
) -> tuple[ir.Table, datetime | None]:
    """``reasoned`` with the reason ``quiet_hours`` for the eligible recipients whose local
    time is in the activity's quiet hours now and who are not in the ledger yet; and when the
    first of those windows ends (None: nobody is in quiet hours)."""
    quiet = activity.quiet_hours
    if quiet is None or activity.category != "marketing":
        return reasoned, None
    column = dimension.timezone
    values: list[str | None] = []
    if column is not None:
        eligible = reasoned.filter(reasoned.reason.isnull())
        zones_of = eligible.select(zone=eligible[column].cast("string")).distinct()
        values = zones_of.zone.to_pyarrow().to_pylist()
    zones = quiet_zones(quiet, values, datetime.now(UTC))
    if zones.unknown:
        shown = ", ".join(repr(z) for z in zones.unknown[:5])
        ctx.log(
            LogLevel.WARNING,
            f"{activity.kind} '{activity.id}': unknown time zones {shown}: their recipients' "
            f"quiet hours follow {quiet.timezone}",
            {"unknown_time_zones": list(zones.unknown)},
        )
    if zones.wake_at is None:
        return reasoned, None
    if column is None:
        quiet_now: ir.BooleanValue = ibis.literal(zones.default)
    else:
        zone = reasoned[column].cast("string")
        quiet_now = zone.isin(sorted(zones.names)) if zones.names else ibis.literal(False)
        if zones.default:
            quiet_now |= zone.isnull() | (zone.strip() == "")
            if zones.unknown:
                quiet_now |= zone.isin(list(zones.unknown))
    sent = _ledger_keys(ctx, activity, source.dimension)
    if sent is not None:
        quiet_now &= ~reasoned[source.key].cast("string").isin(sent.recipient_key)
    reason = ibis.ifelse(
        reasoned.reason.isnull() & quiet_now, ibis.literal(QUIET_HOURS), reasoned.reason
    )
    return reasoned.mutate(reason=reason), zones.wake_at


def _ledger_keys(ctx: RunContext, activity: ChannelBase, dimension: str) -> ir.Table | None:
    """The recipients already in this activity's ledger (an earlier run of the task), as a
    scratch table; None when there is none."""
    if ctx.ledger is None or ctx.mode != Mode.LIVE:
        return None
    ledger = ctx.ledger(activity.kind, dimension, activity.category)
    pages = ledger.store.delivery_pages(ctx.execution_id, activity.id)
    return _key_table(ctx, activity, "ledger", ([r.recipient_key for r in page] for page in pages))


def _pages(table: ir.Table, key: str, size: int) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``table`` in key order, ``size`` at a time (one query per page)."""
    last: Any = None
    while True:
        page = table if last is None else table.filter(table[key] > last)
        rows = page.order_by(key).limit(size).to_pyarrow().to_pylist()
        if not rows:
            return
        yield rows
        last = rows[-1][key]
        if len(rows) < size:
            return


def _address_of(activity: ChannelBase, rules: ExclusionRules, row: Mapping[str, Any]) -> Any:
    if rules.address is None:
        return None
    region = activity.default_region if isinstance(activity, SmsActivity) else None
    return usable_address(activity.kind, row.get(rules.address), region)


def _rehearse(
    ctx: RunContext,
    activity: ChannelBase,
    composer: Composer,
    eligible: ir.Table,
    source: Input,
    rules: ExclusionRules,
    outcomes: BatchTable,
) -> dict[str, Any]:
    """Test mode: render every message, send nothing, write no ledger row."""
    invalid = 0
    rendered = 0
    for rows in _pages(eligible, source.key, activity.batch_size):
        records: list[dict[str, Any]] = []
        for row in rows:
            recipient = str(row[source.key])
            delivery = idempotency_key(ctx.execution_id, activity.id, recipient)
            address = _address_of(activity, rules, row)
            if rules.address is not None and address is None:
                invalid += 1
                records.append(_outcome(recipient, "excluded", INVALID_ADDRESS, delivery))
                continue
            try:
                composer.compose(address, message_row(row, delivery, ctx.variables), delivery)
            except TemplateError as error:
                raise PartitaError(
                    f"{activity.kind} '{activity.id}', recipient {recipient}: "
                    f"{error.problem.message}"
                ) from None
            rendered += 1
            records.append(_outcome(recipient, "sent", None, delivery))
        outcomes.append(pa.Table.from_pylist(records, schema=_OUTCOMES))
        if ctx.should_stop():
            raise Interrupted()
    return {"rendered": rendered, "excluded": {INVALID_ADDRESS: invalid} if invalid else {}}


def _outcome(
    key: str,
    state: str,
    reason: str | None,
    delivery: str,
    sent_at: datetime | None = None,
    provider_id: str | None = None,
) -> dict[str, Any]:
    return {
        "recipient_key": key,
        "state": state,
        "reason": reason,
        "delivery_id": delivery,
        "sent_at": sent_at,
        "provider_message_id": provider_id,
    }


def _send(
    ctx: RunContext,
    activity: ChannelBase,
    composer: Composer,
    built: ChannelProvider,
    ledger: Ledger,
    eligible: ir.Table,
    source: Input,
    rules: ExclusionRules,
    outcomes: BatchTable,
) -> dict[str, Any]:
    """Live: the ledger protocol, batch after batch. For a large audience worker processes
    make the messages (render, and encode when the provider can) while the first ones of the
    batch are already being handed off."""
    provider = built.provider
    recovered = ledger.recover(provider.idempotent)
    if recovered:
        what = "resent with the same idempotency key" if provider.idempotent else "in doubt"
        ctx.log(
            LogLevel.WARNING,
            f"{recovered:,} deliveries were being handed to the provider when the task stopped: "
            f"{what}",
            {"recovered": recovered},
        )
    pace = _Pace(activity.rate_limit)
    send = getattr(provider, "send_prepared", provider.send)
    hand_off = _HandOff(ctx, activity, ledger, send, pace)
    inline = _Maker(composer, provider)
    workers = _workers(ctx.warehouse, activity, eligible)
    maker: _Maker | _MakerPool = inline
    if workers > 1:
        maker = _MakerPool(workers, activity, composer.sender, ctx.channels, ctx.root)
    try:
        for rows in _pages(eligible, source.key, activity.batch_size):
            by_key = {str(row[source.key]): row for row in rows}
            recipients = []
            for recipient, row in by_key.items():
                address = _address_of(activity, rules, row)
                invalid = rules.address is not None and address is None
                shown = address if address is not None else _raw(row, rules)
                recipients.append(Recipient(recipient, shown, INVALID_ADDRESS if invalid else None))
            queued = [r for r in ledger.queue(recipients) if r.state == DeliveryState.QUEUED]
            hand_off.deliver(maker.made(_items(queued, by_key, ctx.variables)))
            _record_outcomes(outcomes, ledger.rows(list(by_key)))
            if ctx.should_stop():
                raise Interrupted()
    finally:
        if isinstance(maker, _MakerPool):
            maker.close()
    for _ in range(PASSES):  # rows a transient error left in the queue
        waiting = ledger.store.deliveries(
            ledger.execution_id, ledger.activity_id, states=[DeliveryState.QUEUED]
        )
        if not waiting:
            break
        time.sleep(0.5)
        for page in _chunks(waiting, activity.batch_size):
            found = _rows_of(eligible, source.key, [r.recipient_key for r in page])
            present = [r for r in page if r.recipient_key in found]
            hand_off.deliver(inline.made(_items(present, found, ctx.variables)))
            if ctx.should_stop():
                raise Interrupted()
    left = ledger.store.deliveries(
        ledger.execution_id, ledger.activity_id, states=[DeliveryState.QUEUED]
    )
    if left:
        raise PartitaError(
            f"{len(left):,} deliveries could not be sent after {PASSES + 1} passes "
            f"(transient provider errors; the last: {left[-1].error}): resume to try again"
        )
    return hand_off.tally()


def _items(
    records: list[DeliveryRecord],
    rows: Mapping[str, Mapping[str, Any]],
    variables: Mapping[str, Any],
) -> list[tuple[DeliveryRecord, dict[str, object]]]:
    """Each queued row with what its templates see."""
    return [(r, message_row(rows[r.recipient_key], r.idempotency_key, variables)) for r in records]


def _chunks(items: list[DeliveryRecord], size: int) -> Iterator[list[DeliveryRecord]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rows_of(table: ir.Table, key: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    rows = table.filter(table[key].cast("string").isin(keys)).to_pyarrow().to_pylist()
    return {str(row[key]): row for row in rows}


def _raw(row: Mapping[str, Any], rules: ExclusionRules) -> str | None:
    value = row.get(rules.address) if rules.address else None
    return None if value is None else str(value)[:1000]


@dataclass(frozen=True, slots=True)
class _Ready:
    """A queued delivery with its message, made (rendered, and prepared by the provider when it
    can: ``prepare``), or why it could not be: a template failed on the row (``render_error``),
    or the provider refused the message as written (``rejected``)."""

    record: DeliveryRecord
    message: Any = None
    render_error: str | None = None
    rejected: str | None = None


class _Maker:
    """Makes the messages of queued deliveries, in this process."""

    def __init__(self, composer: Composer, provider: Any) -> None:
        self.composer = composer
        self.prepare: Callable[[Any], Any] | None = getattr(provider, "prepare", None)

    def make(self, items: list[tuple[DeliveryRecord, dict[str, object]]]) -> list[_Ready]:
        """One :class:`_Ready` per (row, what its templates see), in order."""
        made: list[_Ready] = []
        compose = self.composer.compose
        prepare = self.prepare
        for record, row in items:
            try:
                message = compose(record.address, row, record.idempotency_key)
            except TemplateError as error:
                made.append(_Ready(record, render_error=error.problem.message))
                continue
            if prepare is not None:
                try:
                    message = prepare(message)
                except PermanentError as error:
                    made.append(_Ready(record, rejected=error.message))
                    continue
            made.append(_Ready(record, message))
        return made

    def made(self, items: list[tuple[DeliveryRecord, dict[str, object]]]) -> Iterator[_Ready]:
        """The messages, one at a time, made as they are asked for."""
        for start in range(0, len(items), IN_FLIGHT):
            yield from self.make(items[start : start + IN_FLIGHT])


#: Audiences from this size get worker processes to make their messages (starting them costs
#: about a second); ``POOL_CHUNK`` items go to a worker at a time.
POOL_FROM = 5_000
POOL_CHUNK = 2 * IN_FLIGHT
_WORKER_MAKER: _Maker | None = None


def _workers(warehouse: Warehouse, activity: ChannelBase, eligible: ir.Table) -> int:
    """How many worker processes make the messages: one per core for a large audience
    (at most 4), else none (1: in this process)."""
    cores = min(4, os.cpu_count() or 1)
    if cores < 2 or (activity.rate_limit is not None and activity.rate_limit < 1_000):
        return 1
    count = int(warehouse.scalar(eligible.count()))
    return cores if count >= POOL_FROM else 1


def _start_worker(
    activity: ChannelBase,
    sender: str | None,
    channels: Mapping[str, Mapping[str, Any]],
    root: Path,
) -> None:
    global _WORKER_MAKER
    parent = multiprocessing.parent_process()
    if parent is not None:  # a killed task leaves no worker behind
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    built = build_provider(activity.provider_name(), activity.kind, channels, root)
    _WORKER_MAKER = _Maker(Composer.of(activity, sender), built.provider)


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the task's process is gone
    os._exit(1)


def _make_in_worker(items: list[tuple[DeliveryRecord, dict[str, object]]]) -> list[_Ready]:
    assert _WORKER_MAKER is not None, "the worker was not started"
    return _WORKER_MAKER.make(items)


class _MakerPool:
    """Makes the messages in ``workers`` processes (spawned: the warehouse and store
    connections of this one are not shared). A batch is cut in chunks that the workers make
    while the chunks before are handed off; at most one batch is in memory."""

    def __init__(
        self,
        workers: int,
        activity: ChannelBase,
        sender: str | None,
        channels: Mapping[str, Mapping[str, Any]],
        root: Path,
    ) -> None:
        self.pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(activity, sender, dict(channels), root),
        )

    def made(self, items: list[tuple[DeliveryRecord, dict[str, object]]]) -> Iterator[_Ready]:
        """The messages in order, ``POOL_CHUNK`` at a time as the workers finish them."""
        futures = [
            self.pool.submit(_make_in_worker, items[start : start + POOL_CHUNK])
            for start in range(0, len(items), POOL_CHUNK)
        ]
        for future in futures:
            yield from future.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _HandOff:
    """Sends made messages of queued ledger rows, ``IN_FLIGHT`` at a time: the group is marked
    ``sending`` in one commit before any of its messages is handed to the provider, and its
    outcomes are recorded in one commit after. A crash in between leaves at most one group in
    doubt."""

    def __init__(
        self,
        ctx: RunContext,
        activity: ChannelBase,
        ledger: Ledger,
        send: Callable[[Any], Any],
        pace: _Pace,
    ) -> None:
        self.ctx = ctx
        self.activity = activity
        self.ledger = ledger
        self.send = send
        self.pace = pace
        self.counts = {"sent": 0, "failed": 0, "in_doubt": 0, "retried": 0}

    def deliver(self, made: Iterable[_Ready]) -> None:
        """Hand off every made message (in groups, as they come)."""
        size = IN_FLIGHT
        if self.activity.rate_limit:  # a group is at most about a second of sending
            size = max(1, min(IN_FLIGHT, int(self.activity.rate_limit)))
        them = iter(made)
        while group := list(itertools.islice(them, size)):
            self._group(group)

    def _group(self, made: list[_Ready]) -> None:
        taken = self.ledger.begin_many([item.record for item in made])
        outcomes: list[Outcome] = []
        pending: list[tuple[DeliveryRecord, Any]] = []
        for item in made:
            if item.record.id not in taken:
                continue
            if item.render_error is not None:
                outcomes.append(
                    Outcome(
                        item.record,
                        DeliveryState.FAILED,
                        reason="render_error",
                        error=item.render_error,
                    )
                )
            elif item.rejected is not None:
                outcomes.append(
                    Outcome(
                        item.record, DeliveryState.FAILED, reason="rejected", error=item.rejected
                    )
                )
            else:
                pending.append((item.record, item.message))
        self.counts["failed"] += len(outcomes)
        done = 0
        try:
            for record, message in pending:
                self.pace.wait()
                outcomes.append(self._hand_off(record, message))
                done += 1
        except Suspended:
            outcomes += [Outcome(r, QUEUED_STATE) for r, _ in pending[done:]]
            raise
        except BaseException as error:
            # anything unexpected (a bug, an interrupt) during a hand-off: its outcome is
            # unknown; the messages after it were not handed off
            if done < len(pending):
                text = f"{type(error).__name__}: {error}"
                outcomes.append(Outcome(pending[done][0], DeliveryState.IN_DOUBT, error=text))
                outcomes += [Outcome(r, QUEUED_STATE) for r, _ in pending[done + 1 :]]
            raise
        finally:
            self.ledger.finish(outcomes)

    def _hand_off(self, record: DeliveryRecord, message: Any) -> Outcome:
        try:
            result = retry(lambda: self.send(message), attempts=RETRIES)
        except TransientError as error:
            self.counts["retried"] += 1
            return Outcome(record, QUEUED_STATE, error=error.message)
        except PermanentError as error:
            self.counts["failed"] += 1
            return Outcome(record, DeliveryState.FAILED, reason="rejected", error=error.message)
        except InDoubtError as error:
            self.counts["in_doubt"] += 1
            return Outcome(record, DeliveryState.IN_DOUBT, error=error.message)
        except FatalError as error:
            raise Suspended(
                f"{self.activity.kind} '{self.activity.id}' paused: {error.message}; "
                "fix it, then 'partita resume' (nothing was lost: the ledger keeps what was sent)"
            ) from None
        self.counts["sent"] += 1
        return Outcome(record, DeliveryState.SENT, provider_message_id=result.provider_message_id)

    def tally(self) -> dict[str, Any]:
        return dict(self.counts)


def _record_outcomes(outcomes: BatchTable, records: list[DeliveryRecord]) -> None:
    rows = [
        _outcome(
            r.recipient_key,
            r.state.value,
            r.reason,
            r.idempotency_key,
            r.sent_at,
            r.provider_message_id,
        )
        for r in records
    ]
    if rows:
        outcomes.append(pa.Table.from_pylist(rows, schema=_OUTCOMES))


def _log_summary(
    ctx: RunContext,
    activity: ChannelBase,
    live: bool,
    excluded: dict[str, int],
    tally: dict[str, Any],
) -> None:
    shown = ", ".join(f"{reason} {count:,}" for reason, count in sorted(excluded.items()))
    excluded_text = f"excluded {sum(excluded.values()):,}" + (f" ({shown})" if shown else "")
    if live:
        text = (
            f"{activity.kind} '{activity.id}': sent {tally['sent']:,}, failed "
            f"{tally['failed']:,}, in doubt {tally['in_doubt']:,}, {excluded_text}"
        )
    else:
        text = (
            f"test mode: {activity.kind} '{activity.id}' rendered {tally['rendered']:,} "
            f"messages and sent nothing; {excluded_text}"
        )
    ctx.log(LogLevel.INFO, text, {"excluded": excluded, **tally})


def _outputs(
    ctx: RunContext,
    activity: ChannelBase,
    source: Input,
    reasoned: ir.Table,
    outcomes: ir.Table,
) -> Outputs:
    inbound = source.table
    # the delivery columns (reason) of an earlier channel activity are replaced by this one's
    out_columns = [c for c in inbound.columns if c not in DELIVERY_COLUMNS]
    columns = [c for c in inbound.columns if c != "reason"]
    schema = inbound.schema()
    key = inbound[source.key].cast("string")
    sent = outcomes.filter(outcomes.state == DeliveryState.SENT.value)
    out = inbound.join(sent, key == sent.recipient_key).select(
        *[inbound[c] for c in out_columns],
        sent.delivery_id,
        sent.sent_at.cast("timestamp").name("sent_at"),
        sent.provider_message_id,
    )
    later = outcomes.filter(
        outcomes.state.isin([DeliveryState.EXCLUDED.value, DeliveryState.FAILED.value])
    )
    # one schema for both sides of the union (PostgreSQL and Ibis want equal types)
    types = {c: schema[c].copy(nullable=True) for c in columns}
    reason_type = ibis.dtype("string").copy(nullable=True)
    by_ledger = inbound.join(later, key == later.recipient_key).select(
        *[inbound[c].cast(types[c]).name(c) for c in columns],
        later.reason.cast(reason_type).name("reason"),
    )
    by_sql = reasoned.filter(reasoned.reason.notnull()).select(
        *[reasoned[c].cast(types[c]).name(c) for c in columns],
        reasoned.reason.cast(reason_type).name("reason"),
    )
    excluded = ibis.union(by_sql, by_ledger)
    dimension = source.dimension
    return {
        "out": Output(table=ctx.materialize("out", out, dimension), dimension=dimension),
        "excluded": Output(
            table=ctx.materialize("excluded", excluded, dimension),
            dimension=dimension,
            fire_when_empty=False,
        ),
    }


# -- preview and proofs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """The first eligible rows of a population with their messages (None: see ``note``)."""

    targeted: int
    excluded: dict[str, int]
    messages: list[tuple[Any, Any, str | None]]


def sample(
    warehouse: Warehouse,
    dimension: Dimension,
    activity: ChannelBase,
    table: ir.Table,
    channels: Mapping[str, Mapping[str, Any]],
    variables: Mapping[str, Any],
    execution_id: int,
    rows: int = 5,
    tracking: Tracking | None = None,
) -> Sample:
    """The messages ``activity`` would send to the first ``rows`` eligible recipients of the
    working table ``table`` (in key order, links tracked as they would be), and the
    exclusions of the whole population."""
    entry = channels.get(activity.provider_name()) or {}
    sender = entry.get("sender")
    composer = Composer.of(activity, sender if isinstance(sender, str) else None, tracking)
    rules = rules_for(activity, dimension)
    population = joined_population(warehouse, dimension, table)
    reasoned = with_reasons(population, rules, suppressions(warehouse))
    eligible = reasoned.filter(reasoned.reason.isnull()).drop("reason")
    key = dimension.key
    messages: list[tuple[Any, Any, str | None]] = []
    for row in next(_pages(eligible, key, max(rows, 1)), []):
        recipient = str(row[key])
        delivery = idempotency_key(execution_id, activity.id, recipient)
        address = _address_of(activity, rules, row)
        if rules.address is not None and address is None:
            messages.append((row[key], None, f"excluded: {INVALID_ADDRESS}"))
            continue
        try:
            message = composer.compose(address, message_row(row, delivery, variables), delivery)
        except TemplateError as error:
            messages.append((row[key], None, f"error: {error.problem.message}"))
            continue
        messages.append((row[key], message, None))
    return Sample(
        targeted=int(warehouse.scalar(reasoned.count())),
        excluded=count_reasons(reasoned),
        messages=messages,
    )


def preview(found: Sample, activity: ChannelBase) -> dict[str, Any]:
    """A :func:`sample` of ``activity`` as plain data (one mapping per message)."""
    messages: list[dict[str, Any]] = []
    for key, message, note in found.messages:
        if message is None:
            kind, _, text = (note or "").partition(": ")
            messages.append({"key": key, kind: text})
            continue
        fields = {
            name: value
            for name, value in dataclasses.asdict(message).items()
            if name != "idempotency_key" and value not in (None, {}, "")
        }
        messages.append({"key": key, **fields})
    return {
        "activity": activity.id,
        "type": activity.kind,
        "targeted": found.targeted,
        "excluded": found.excluded,
        "messages": messages,
    }


PROOF = "[PROOF] "


def proof_of(message: Any, address: str) -> Any:
    """``message`` sent to a proof ``address`` instead, marked ``[PROOF]``, with no
    idempotency key (a proof is not a delivery)."""
    if isinstance(message, EmailMessage):
        return dataclasses.replace(
            message, to=address, subject=PROOF + message.subject, idempotency_key=None
        )
    if isinstance(message, SmsMessage):
        return dataclasses.replace(
            message, to=address, body=PROOF + message.body, idempotency_key=None
        )
    if isinstance(message, PushMessage):
        return dataclasses.replace(
            message, token=address, title=PROOF + message.title, idempotency_key=None
        )
    raise PartitaError("a webhook has no proof addresses: use 'partita preview' instead")


def send_proofs(
    found: Sample,
    activity: ChannelBase,
    channels: Mapping[str, Mapping[str, Any]],
    root: Path,
    addresses: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Send each sampled message to each proof address (``addresses``, default the activity's
    ``proof``); what was sent, with the provider's id or the error."""
    targets = addresses or activity.proof
    if not targets:
        raise PartitaError(
            f"{activity.kind} '{activity.id}' has no proof addresses: set 'proof: [...]' or "
            "give --to"
        )
    built = build_provider(activity.provider_name(), activity.kind, channels, root)
    sent: list[dict[str, Any]] = []
    try:
        for key, message, _ in found.messages:
            if message is None:
                continue
            for target in targets:
                address = target
                if isinstance(activity, SmsActivity):
                    address = usable_address("sms", target, activity.default_region) or target
                try:
                    result = built.provider.send(proof_of(message, address))
                except PartitaError as error:
                    sent.append({"key": key, "to": target, "error": str(error)})
                else:
                    sent.append(
                        {
                            "key": key,
                            "to": target,
                            "provider_message_id": result.provider_message_id,
                        }
                    )
    finally:
        built.provider.close()
    return sent
