"""Quiet-hours arithmetic: windows across midnight, the next end across days and DST, zones the
database does not know, and the settings' validation."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from partita.channels._quiet import is_quiet, quiet_zones, window_end
from partita.model.activities.channels import QuietHours

NIGHT = QuietHours(start=dt.time(21), end=dt.time(8))
LUNCH = QuietHours(start=dt.time(12), end=dt.time(14))
PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("quiet", "local", "expected"),
    [
        (NIGHT, dt.time(20, 59), False),
        (NIGHT, dt.time(21), True),  # start included
        (NIGHT, dt.time(23, 30), True),
        (NIGHT, dt.time(0), True),
        (NIGHT, dt.time(7, 59, 59), True),
        (NIGHT, dt.time(8), False),  # end excluded
        (LUNCH, dt.time(11, 59), False),
        (LUNCH, dt.time(12), True),
        (LUNCH, dt.time(13, 59), True),
        (LUNCH, dt.time(14), False),
    ],
)
def test_a_window_holds_its_start_not_its_end(
    quiet: QuietHours, local: dt.time, expected: bool
) -> None:
    assert is_quiet(quiet, local) is expected


def test_the_end_of_a_night_window_is_the_next_morning_local_time() -> None:
    evening = dt.datetime(2026, 12, 1, 22, 15, tzinfo=PARIS)  # 21:15 UTC
    assert window_end(NIGHT, PARIS, evening) == dt.datetime(2026, 12, 2, 7, 0, tzinfo=dt.UTC)
    early = dt.datetime(2026, 12, 2, 6, 0, tzinfo=PARIS)
    assert window_end(NIGHT, PARIS, early) == dt.datetime(2026, 12, 2, 7, 0, tzinfo=dt.UTC)


def test_the_end_follows_daylight_saving_time() -> None:
    # the night of 28 to 29 March 2026: Paris goes from UTC+1 to UTC+2 at 02:00
    night = dt.datetime(2026, 3, 28, 23, 0, tzinfo=PARIS)
    assert window_end(NIGHT, PARIS, night) == dt.datetime(2026, 3, 29, 6, 0, tzinfo=dt.UTC)


def test_zones_in_quiet_hours_and_when_the_first_wakes() -> None:
    now = dt.datetime(2026, 12, 1, 21, 30, tzinfo=dt.UTC)  # Paris 22:30, New York 16:30
    zones = quiet_zones(
        NIGHT, ["Europe/Paris", "America/New_York", "Asia/Tokyo", None, "Mars/Olympus"], now
    )
    # Tokyo is at 06:30 the next morning: quiet until 08:00 local = 23:00 UTC, the first end
    assert zones.names == {"Europe/Paris", "Asia/Tokyo"}
    assert zones.wake_at == dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC)
    assert zones.unknown == ("Mars/Olympus",)
    assert zones.default is True  # UTC 21:30 is quiet too: no zone, or an unknown one


def test_nobody_quiet_means_no_wake_time() -> None:
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    zones = quiet_zones(NIGHT, ["Europe/Paris", "Europe/London"], now)
    assert zones.names == frozenset() and zones.wake_at is None and zones.default is False


def test_settings_name_a_bad_zone_and_an_empty_window() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Europe/Pariss'"):
        QuietHours.model_validate({"start": "21:00", "end": "08:00", "timezone": "Europe/Pariss"})
    with pytest.raises(ValidationError, match="the window is empty"):
        QuietHours.model_validate({"start": "08:00", "end": "08:00"})
