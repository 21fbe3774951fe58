"""Exclusions: who in a population must not get a message, and why — computed in the warehouse.

One SQL pass adds a ``reason`` column to the population (NULL: eligible). Each recipient gets at
most one reason, the first that holds, in this order:

- ``no_address``: the dimension's address column (email, phone, push token) is NULL or blank;
- ``no_consent``: marketing messages only: the dimension's consent column for the channel is
  not true (NULL counts as no consent);
- ``unsubscribed``: marketing messages only: the address is on the suppression list for the
  channel with the reason ``unsubscribed`` (transactional messages still go);
- ``suppressed``: the address is on the suppression list for the channel for another reason
  (hard bounce, complaint, added by hand);
- ``frequency_cap``: marketing only, with a cap: the recipient already got the cap's number
  of messages of the channel in its window (the keys come from the delivery ledger, loaded
  into a scratch table);
- ``quiet_hours``: marketing only, with quiet hours: the recipient's local time is in the
  window (added after this pass, see :mod:`partita.channels._quiet`; deferred when the
  activity defers).

``invalid_address`` (the syntax of an email address, a phone number that is not a valid
number) is decided while the rows stream out (:func:`usable_address`) and recorded in the
delivery ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from partita.channels._addresses import normalize_phone, valid_email
from partita.channels._quiet import QUIET_HOURS
from partita.warehouse import Warehouse

NO_ADDRESS = "no_address"
INVALID_ADDRESS = "invalid_address"
NO_CONSENT = "no_consent"
UNSUBSCRIBED = "unsubscribed"
SUPPRESSED = "suppressed"
FREQUENCY_CAP = "frequency_cap"
#: Every reason, in the order they are tested.
REASONS = (
    NO_ADDRESS,
    NO_CONSENT,
    UNSUBSCRIBED,
    SUPPRESSED,
    FREQUENCY_CAP,
    QUIET_HOURS,
    INVALID_ADDRESS,
)

#: The suppression list, a table of the working schema: (channel, address, reason, created_at).
SUPPRESSIONS = "partita_suppressions"
_SUPPRESSION_SCHEMA = ibis.schema(
    {"channel": "string", "address": "string", "reason": "string", "created_at": "timestamp"}
)


@dataclass(frozen=True)
class ExclusionRules:
    """What decides exclusions for one channel activity."""

    channel: str
    #: The column holding the address (None: the channel needs none, e.g. webhook).
    address: str | None
    #: The consent column, checked for marketing messages (None: no consent check).
    consent: str | None
    #: Marketing messages skip unsubscribed addresses; transactional ones do not.
    marketing: bool = True


def suppressions(warehouse: Warehouse) -> ir.Table:
    """The suppression list (created empty the first time)."""
    if not warehouse.exists(SUPPRESSIONS):
        warehouse.con.create_table(
            SUPPRESSIONS, schema=_SUPPRESSION_SCHEMA, database=warehouse.working_schema
        )
    return warehouse.working(SUPPRESSIONS)


def normal_address(value: ir.StringValue) -> ir.StringValue:
    """How addresses are compared with the suppression list: trimmed, lower case."""
    return value.strip().lower()


def with_reasons(
    population: ir.Table,
    rules: ExclusionRules,
    suppressed: ir.Table,
    capped: ir.Table | None = None,
    key: str | None = None,
) -> ir.Table:
    """``population`` with a ``reason`` column: the exclusion reason, NULL when eligible.
    ``capped`` holds the ``recipient_key`` (text) of the recipients over their frequency cap;
    ``key`` is the population's key column."""
    cases: list[tuple[ir.BooleanValue, str]] = []
    if rules.address is not None:
        address = population[rules.address].cast("string")
        cases.append((address.isnull() | (address.strip() == ""), NO_ADDRESS))
    if rules.consent is not None:
        cases.append((population[rules.consent].fill_null(False) != True, NO_CONSENT))  # noqa: E712
    if rules.address is not None:
        listed = suppressed.filter(suppressed.channel == rules.channel)
        unsubscribed = listed.reason == UNSUBSCRIBED
        normalized = normal_address(population[rules.address].cast("string"))
        if rules.marketing:
            left = listed.filter(unsubscribed)
            cases.append((normalized.isin(normal_address(left.address)), UNSUBSCRIBED))
        others = listed.filter(~unsubscribed | unsubscribed.isnull())
        cases.append((normalized.isin(normal_address(others.address)), SUPPRESSED))
    if capped is not None and key is not None:
        cases.append((population[key].cast("string").isin(capped.recipient_key), FREQUENCY_CAP))
    if not cases:
        return population.mutate(reason=ibis.null().cast("string"))
    reason = ibis.cases(*cases, else_=ibis.null().cast("string"))
    return population.mutate(reason=reason)


def count_reasons(warehouse: Warehouse, reasoned: ir.Table) -> dict[str, int]:
    """Recipients excluded by reason (reasons with no recipient left out)."""
    excluded = reasoned.filter(reasoned.reason.notnull())
    counts = warehouse.arrow(excluded.group_by("reason").aggregate(n=excluded.count())).to_pylist()
    return {str(row["reason"]): int(row["n"]) for row in counts}


def usable_address(channel: str, value: object, default_region: str | None = None) -> str | None:
    """The address to send to (an email as written, trimmed; a phone in E.164; a push token),
    or None when it is not a valid one."""
    if value is None:
        return None
    text = str(value).strip()
    if channel == "email":
        return text if valid_email(text) else None
    if channel == "sms":
        return normalize_phone(text, default_region)
    return text or None
