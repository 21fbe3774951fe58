"""Channel activities (email, sms, push, webhook): exclusions, rendering, ledger, hand-off.

A run:

1. checks the provider entry and compiles the templates (the text part of an email is derived
   from its HTML template once);
2. adds the exclusion ``reason`` to the inbound population in one SQL pass, written to a
   scratch table with only the columns the run reads, and counts the reasons there
   (``partita.channels`` ``_exclusions``); the eligible rows go to a second scratch table,
   numbered;
3. reads the eligible rows ``batch_size`` at a time (pages: memory does not grow with the
   audience); per batch: addresses checked (``invalid_address``), rows queued in
   the ledger, then the queued rows handed off in groups (``partita.channels._sending``): a
   group is marked ``sending`` (committed) before its messages go to the provider, then each
   is ``sent`` / ``failed`` / ``in_doubt`` / back to ``queued``; for a large audience worker
   processes render and hand off several groups at once;
4. produces ``out`` (the recipients sent, with ``delivery_id``, ``sent_at``,
   ``provider_message_id``) and ``excluded`` (the recipients not sent, with ``reason``), from
   the ledger.

In test mode every message is rendered (a template that fails on a row fails the task) and the
exclusions are computed, but no ledger row is written and nothing is sent: ``out`` holds the
recipients that would be sent.

Between batches the activity checks ``ctx.should_stop()`` (pause, stop); a fatal provider error
(bad credentials, quota) suspends the execution with the provider's message. Either way the
ledger keeps what was done: the next run continues from it and never sends a recipient twice.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
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
    PushMessage,
    SmsMessage,
    TemplateError,
    Tracking,
    check_templates,
    compile_template,
    message_variables,
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
from partita.channels._ledger import Ledger, Recipient, idempotency_key
from partita.channels._quiet import QUIET_HOURS, quiet_zones
from partita.channels._sending import (
    Composer,
    GroupResult,
    GroupSender,
    Handed,
    Pending,
    SenderPool,
    content_of,
    message_row,
)
from partita.model.activities import ChannelBase, SmsActivity
from partita.model.activities.channels import DELIVERY_COLUMNS
from partita.model.datamodel import Dimension
from partita.model.problems import PartitaError, Problem
from partita.model.states import DeliveryState, LogLevel, Mode
from partita.store.store import DeliveryRecord
from partita.warehouse import Warehouse
from partita.warehouse.files import BatchTable

#: How many more passes over the rows a transient error left queued before the task gives up
#: (resume tries again); each hand-off retries ``RETRIES`` times at once first.
PASSES = 3
#: Messages marked ``sending`` together, in one commit, before their hand-offs.
GROUP = 50
#: At most this many messages are marked ``sending`` at any time (several groups when worker
#: processes hand them off): at most this many are in doubt after a crash.
IN_FLIGHT = 4 * GROUP

#: What test mode records of each recipient (live mode: the ledger rows staged in the
#: warehouse, :meth:`DeliveryHistory.stage`), for the outputs.
_OUTCOMES = pa.schema(
    [
        ("recipient_key", pa.string()),
        ("state", pa.string()),
        ("reason", pa.string()),
        ("delivery_id", pa.string()),
        ("sent_at", pa.timestamp("us")),
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
        problems += check_templates(content_of(activity), available, activity=activity.id)
    else:
        for field, text in content_of(activity).items():
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


# -- run ----------------------------------------------------------------------------------------


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
    read = {source.key, *([rules.address] if rules.address else []), *composer.names}
    decided = ctx.scratch(_decided(reasoned, read | set(source.table.columns)))
    excluded_counts = count_reasons(ctx.warehouse, decided)
    deferring = (
        live and wake_at is not None and bool(activity.quiet_hours and activity.quiet_hours.defer)
    )
    deferred = excluded_counts.pop(QUIET_HOURS, 0) if deferring else 0
    eligible = ctx.scratch(_numbered(decided.filter(decided.reason.isnull()), read))
    ctx.warehouse.index(eligible.op().name, _ORDINAL)  # a page is a range of it
    outcomes: BatchTable | None = None
    try:
        if live:
            assert ctx.ledger is not None and ctx.delivery_history is not None, (
                "a live channel activity needs the ledger and the delivery history"
            )
            ledger = ctx.ledger(activity.kind, source.dimension, activity.category)
            ledger.record_exclusions(excluded_counts)
            built = build_provider(activity.provider_name(), activity.kind, ctx.channels, ctx.root)
            try:
                tally = _send(ctx, activity, composer, built, ledger, eligible, source, rules)
            finally:
                built.provider.close()
                # what was sent so far, even if stopped: the mirror, then the outputs
                history = ctx.delivery_history
                outcomes = history.stage(ctx.campaign.name, ledger)
                history.record(outcomes, ctx.campaign.name, ledger)
        else:
            outcomes = BatchTable.create(
                ctx.warehouse,
                ctx.warehouse.working_table_name(
                    ctx.campaign.name, ctx.execution_id, activity.id, "outcomes"
                ),
                _OUTCOMES,
            )
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
        return _outputs(ctx, activity, source, decided, ctx.warehouse.working(outcomes.name))
    finally:
        if outcomes is not None:
            ctx.warehouse.drop([outcomes.name])


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
        values = [row["zone"] for row in ctx.warehouse.arrow(zones_of).to_pylist()]
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
    pages = ledger.store.delivery_columns(ctx.execution_id, activity.id, ["recipient_key"])
    return _key_table(ctx, activity, "ledger", (page["recipient_key"] for page in pages))


def _decided(reasoned: ir.Table, kept: set[str]) -> ir.Table:
    """The columns of ``reasoned`` the rest of the run reads (``kept``: the inbound
    columns, the key, the address, what the templates use) and the ``reason``: written once,
    so that counting the reasons, numbering the eligible rows and the ``excluded`` output
    read one table instead of each joining the population with its dimension again."""
    chosen = [name for name in reasoned.columns if name in kept and name != "reason"]
    return reasoned.select(*chosen, "reason")


#: The column that numbers the eligible rows (not seen by the templates).
_ORDINAL = "_partita_ordinal"


def _numbered(eligible: ir.Table, read: set[str]) -> ir.Table:
    """The columns of ``eligible`` a send reads (``read``: the key, the address, what the
    templates use: the other columns are neither copied nor converted), its rows numbered as
    they are written: a page is a range of numbers, which DuckDB reads from the few row
    groups that hold it. (A keyset page, ``key > last ORDER BY key LIMIT n``, reads every row
    after ``last``: quadratic over a large audience; numbering in key order sorts the whole
    population, rows and all, which took 2.3 GB at 1M recipients where this takes what
    copying the rows takes.)"""
    kept = [name for name in eligible.columns if name in read]
    return eligible.select(*kept).mutate(**{_ORDINAL: ibis.row_number()})


def _pages(warehouse: Warehouse, table: ir.Table, size: int) -> Iterator[list[dict[str, Any]]]:
    """The rows of a :func:`_numbered` table, ``size`` at a time (one query per page: memory
    does not grow with the audience)."""
    ordinal = table[_ORDINAL]
    start = 0
    while True:
        page = table.filter((ordinal >= start) & (ordinal < start + size))
        rows = warehouse.arrow(page.order_by(_ORDINAL).drop(_ORDINAL)).to_pylist()
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        start += size


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
    for rows in _pages(ctx.warehouse, eligible, activity.batch_size):
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
) -> dict[str, Any]:
    """Live: the ledger protocol, batch after batch. For a large audience worker processes
    make and hand off the messages, several groups at once."""
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
    workers = _workers(ctx.warehouse, activity, eligible)
    pool = None
    if workers > 1:
        pool = SenderPool(workers, activity, composer, ctx.channels, ctx.root)
    hand_off = _HandOff(
        activity, ledger, GroupSender(composer, provider, activity.rate_limit), pool
    )
    try:
        for rows in _pages(ctx.warehouse, eligible, activity.batch_size):
            by_key = {str(row[source.key]): row for row in rows}
            recipients = []
            for recipient, row in by_key.items():
                address = _address_of(activity, rules, row)
                invalid = rules.address is not None and address is None
                shown = address if address is not None else _raw(row, rules)
                recipients.append(Recipient(recipient, shown, INVALID_ADDRESS if invalid else None))
            queued = [r for r in ledger.queue(recipients) if r.state == DeliveryState.QUEUED]
            hand_off.deliver(queued, by_key, ctx.variables)
            if ctx.should_stop():
                raise Interrupted()
        for _ in range(PASSES):  # rows a transient error left in the queue
            waiting = ledger.store.deliveries(
                ledger.execution_id, ledger.activity_id, states=[DeliveryState.QUEUED]
            )
            if not waiting:
                break
            time.sleep(0.5)
            for page in _chunks(waiting, activity.batch_size):
                found = _rows_of(
                    ctx.warehouse, eligible, source.key, [r.recipient_key for r in page]
                )
                hand_off.deliver(
                    [r for r in page if r.recipient_key in found], found, ctx.variables
                )
                if ctx.should_stop():
                    raise Interrupted()
    finally:
        if pool is not None:
            pool.close()
    left = ledger.store.deliveries(
        ledger.execution_id, ledger.activity_id, states=[DeliveryState.QUEUED]
    )
    if left:
        raise PartitaError(
            f"{len(left):,} deliveries could not be sent after {PASSES + 1} passes "
            f"(transient provider errors; the last: {left[-1].error}): resume to try again"
        )
    return hand_off.tally()


def _chunks(items: list[DeliveryRecord], size: int) -> Iterator[list[DeliveryRecord]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rows_of(
    warehouse: Warehouse, table: ir.Table, key: str, keys: list[str]
) -> dict[str, dict[str, Any]]:
    chosen = table.filter(table[key].cast("string").isin(keys)).drop(_ORDINAL)
    rows = warehouse.arrow(chosen).to_pylist()
    return {str(row[key]): row for row in rows}


def _raw(row: Mapping[str, Any], rules: ExclusionRules) -> str | None:
    value = row.get(rules.address) if rules.address else None
    return None if value is None else str(value)[:1000]


#: Audiences from this size get worker processes to make and hand off their messages
#: (starting them costs about a second).
POOL_FROM = 5_000


def _workers(warehouse: Warehouse, activity: ChannelBase, eligible: ir.Table) -> int:
    """How many worker processes make and hand off the messages: one per core for a large
    audience (at most 4), else none (1: in this process)."""
    cores = min(4, os.cpu_count() or 1)
    if cores < 2 or (activity.rate_limit is not None and activity.rate_limit < 1_000):
        return 1
    count = int(warehouse.scalar(eligible.count()))
    return cores if count >= POOL_FROM else 1


class _HandOff:
    """Hands queued deliveries to the provider in groups: a group is marked ``sending`` in one
    commit before any of its messages is handed off, and its outcomes are recorded in one
    commit after. With worker processes several groups are out at once, never more than
    ``IN_FLIGHT`` messages: a crash leaves at most that many in doubt."""

    def __init__(
        self,
        activity: ChannelBase,
        ledger: Ledger,
        local: GroupSender,
        pool: SenderPool | None,
    ) -> None:
        self.activity = activity
        self.ledger = ledger
        self.local = local
        self.pool = pool
        #: What a message's row carries to the sender: the columns its templates read.
        self.names = local.composer.names
        self.counts = {"sent": 0, "failed": 0, "in_doubt": 0, "retried": 0}
        self.size = GROUP
        if activity.rate_limit:  # a group is at most about a second of sending
            self.size = max(1, min(GROUP, int(activity.rate_limit)))

    def deliver(
        self,
        records: Sequence[DeliveryRecord],
        rows: Mapping[str, Mapping[str, Any]],
        variables: Mapping[str, Any],
    ) -> None:
        """Hand off the deliveries of ``records`` (queued rows; ``rows``: their rows by
        recipient key); raises Suspended on a fatal provider error, once the groups already
        out are recorded. The outcomes of a group are committed with the ``sending`` mark of
        the next one (one commit per group)."""
        window = max(1, IN_FLIGHT // self.size) if self.pool is not None else 1
        names = self.names
        out: deque[Future[GroupResult]] = deque()
        unrecorded: list[Handed] = []
        stopped: GroupResult | None = None
        try:
            for start in range(0, len(records), self.size):
                if len(out) >= window:
                    stopped = self._take(_result(out.popleft()), unrecorded)
                    if stopped is not None:
                        break
                group = records[start : start + self.size]
                taken = self.ledger.finish_and_begin(unrecorded, group)
                unrecorded = []
                pending = [
                    Pending(
                        r.id,
                        r.idempotency_key,
                        r.address,
                        message_row(rows[r.recipient_key], r.idempotency_key, variables, names),
                    )
                    for r in group
                    if r.id in taken
                ]
                if not pending:
                    continue
                if self.pool is None:
                    stopped = self._take(self.local.send(pending), unrecorded)
                    if stopped is not None:
                        break
                else:
                    out.append(self.pool.submit(pending))
            while out:  # what the workers are handing off is recorded whatever happened
                stopped = self._take(_result(out.popleft()), unrecorded) or stopped
        finally:
            self.ledger.finish(unrecorded)
        if stopped is not None and stopped.fatal is not None:
            raise Suspended(
                f"{self.activity.kind} '{self.activity.id}' paused: {stopped.fatal}; fix it, "
                "then 'partita resume' (nothing was lost: the ledger keeps what was sent)"
            )
        if stopped is not None:
            raise PartitaError(
                f"{self.activity.kind} '{self.activity.id}': a hand-off failed unexpectedly "
                f"({stopped.broken}); that delivery is in doubt, the others were kept"
            )

    def _take(self, result: GroupResult, unrecorded: list[Handed]) -> GroupResult | None:
        """Count a group's outcomes and keep them to be recorded; the result again when the
        group stopped early."""
        unrecorded += result.handed
        counts = self.counts
        for handed in result.handed:
            if handed.state == DeliveryState.SENT:
                counts["sent"] += 1
            elif handed.state == DeliveryState.FAILED:
                counts["failed"] += 1
            elif handed.state == DeliveryState.IN_DOUBT:
                counts["in_doubt"] += 1
            elif handed.error is not None:  # back in the queue after transient errors
                counts["retried"] += 1
        return result if result.fatal is not None or result.broken is not None else None

    def tally(self) -> dict[str, Any]:
        return dict(self.counts)


def _result(future: Future[GroupResult]) -> GroupResult:
    """A worker's result; a worker that died leaves its group ``sending`` (dealt with as a
    crash when the task runs again: in doubt, or resent with its idempotency key)."""
    try:
        return future.result()
    except BrokenProcessPool as error:
        raise PartitaError(
            f"a worker process handing off messages stopped ({error}); the deliveries it had "
            "are dealt with when the task runs again (in doubt, or resent with their "
            "idempotency key when the provider deduplicates)"
        ) from None


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
    decided: ir.Table,
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
    by_sql = decided.filter(decided.reason.notnull()).select(
        *[decided[c].cast(types[c]).name(c) for c in columns],
        decided.reason.cast(reason_type).name("reason"),
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
    first = warehouse.arrow(eligible.order_by(key).limit(max(rows, 1))).to_pylist()
    for row in first:
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
        excluded=count_reasons(warehouse, reasoned),
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
