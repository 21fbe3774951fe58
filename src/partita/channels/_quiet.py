"""Quiet hours: which recipients' local time is inside the quiet window now, and when it ends.

A population holds few distinct time zones, so the decision is made here per zone (with the
IANA database of :mod:`zoneinfo`) and the warehouse only tests membership of the zone column
in the quiet zones: no per-row time-zone arithmetic in SQL, the same on every engine, and a
zone name the database does not know cannot fail the query (it counts as the default zone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from partita.model.activities.channels import QuietHours

#: The exclusion reason of recipients in their quiet hours (deferred, or excluded when the
#: activity does not defer).
QUIET_HOURS = "quiet_hours"


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None or not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None


def is_quiet(quiet: QuietHours, local: dt.time) -> bool:
    """Whether a local time of day falls in the window (start included, end excluded)."""
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


def window_end(quiet: QuietHours, zone: ZoneInfo, now: dt.datetime) -> dt.datetime:
    """The first moment after ``now`` (aware) when the local time in ``zone`` reaches the end
    of the window, in UTC."""
    local = now.astimezone(zone)
    end = dt.datetime.combine(local.date(), quiet.end, tzinfo=zone)
    if end <= local:
        end = dt.datetime.combine(local.date() + dt.timedelta(days=1), quiet.end, tzinfo=zone)
    return end.astimezone(dt.UTC)


@dataclass(frozen=True)
class QuietZones:
    """The time-zone values (as the data writes them) whose recipients are in quiet hours."""

    #: Zone values in quiet hours now.
    names: frozenset[str]
    #: True when the default zone is in quiet hours: rows with no zone or an unknown one.
    default: bool
    #: When the first of these windows ends (None: nobody is in quiet hours).
    wake_at: dt.datetime | None
    #: Zone values the time-zone database does not know (they take the default zone).
    unknown: tuple[str, ...]


def quiet_zones(quiet: QuietHours, values: Iterable[str | None], now: dt.datetime) -> QuietZones:
    """Which of the zone ``values`` of a population are in quiet hours at ``now`` (aware)."""
    default = ZoneInfo(quiet.timezone)
    names: set[str] = set()
    unknown: list[str] = []
    ends: list[dt.datetime] = []
    default_quiet = is_quiet(quiet, now.astimezone(default).time())
    if default_quiet:
        ends.append(window_end(quiet, default, now))
    for value in values:
        zone = _zone(value)
        if zone is None:
            if value is not None and value.strip():
                unknown.append(value)
            continue
        if is_quiet(quiet, now.astimezone(zone).time()):
            names.add(str(value))
            ends.append(window_end(quiet, zone, now))
    return QuietZones(
        names=frozenset(names),
        default=default_quiet,
        wake_at=min(ends) if ends else None,
        unknown=tuple(sorted(unknown)),
    )
