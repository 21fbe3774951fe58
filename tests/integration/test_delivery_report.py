"""``partita report``: the delivery report of an execution and of a campaign, run as a user
runs it, against counts computed independently (hand-written SQL, the events recorded)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from partita.model.project import load_project
from partita.model.states import DeliveryState
from partita.store import Store
from partita.store.schema import EventKind
from tests.integration.test_channels import eligible_sql, exclusions_sql
from tests.integration.test_channels_cli import as_json, partita
from tests.integration.test_channels_cli import project as project  # the fixture
from tests.support import SQL


@pytest.fixture(scope="session")
def engine_name() -> str:
    """The CLI is tested on the DuckDB shop."""
    return "duckdb"


def start(project: Path) -> int:
    """Start spring.yaml live and confirm its send; the execution id."""
    execution = as_json(partita(project, "start", "spring.yaml", "--json"))["execution"]
    assert as_json(partita(project, "confirm", str(execution), "mail", "--json"))["status"] == (
        "completed"
    )
    return int(execution)


def store_of(project: Path) -> Store:
    return Store(load_project(project).state, root=project)


def test_report_of_an_execution_counts_what_happened(project: Path, sql: SQL) -> None:
    execution = start(project)
    eligible = [row[0] for row in eligible_sql(sql)]
    excluded = exclusions_sql(sql)
    store = store_of(project)
    try:
        sent = {
            int(d.recipient_key): d
            for d in store.deliveries(execution, "mail")
            if d.state == DeliveryState.SENT
        }
        assert sorted(sent) == eligible
        first, second, third, fourth, fifth = (sent[key].id for key in eligible[:5])
        store.record_event(first, EventKind.OPEN)
        store.record_event(first, EventKind.OPEN)
        store.record_event(second, EventKind.CLICK, link_index=0, url="https://shop.example/")
        store.record_event(second, EventKind.CLICK, link_index=0, url="https://shop.example/")
        store.record_event(third, EventKind.CLICK, link_index=1, url="https://shop.example/b")
        store.record_event(third, EventKind.UNSUBSCRIBE)
        store.record_event(fourth, EventKind.HARD_BOUNCE)
        store.record_event(fifth, EventKind.COMPLAINT)
    finally:
        store.close()

    result = as_json(partita(project, "report", str(execution), "--json"))
    assert result["executions"] == [execution]
    (mail,) = result["activities"]
    delivered = len(eligible) - 1
    assert mail == {
        "activity": "mail",
        "channel": "email",
        "targeted": len(eligible) + sum(excluded.values()),
        "excluded": sum(excluded.values()),
        "excluded_by_reason": dict(sorted(excluded.items())),
        "sent": len(eligible),
        "failed": 0,
        "failed_by_reason": {},
        "in_doubt": 0,
        "pending": 0,
        "bounced": 1,
        "soft_bounced": 0,
        "complaints": 1,
        "delivered": delivered,
        "unique_opens": 3,  # the two clickers opened too
        "unique_clicks": 2,
        "unsubscribes": 1,
        "rates": {
            "delivery": round(delivered / len(eligible), 4),
            "bounce": round(1 / len(eligible), 4),
            "open": round(3 / delivered, 4),
            "click": round(2 / delivered, 4),
            "click_to_open": round(2 / 3, 4),
            "unsubscribe": round(1 / delivered, 4),
        },
    }
    hours = result["timeline"]
    assert sum(h.get("sent", 0) for h in hours) == len(eligible)
    assert sum(h.get("click", 0) for h in hours) == 3
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:00", h["hour"]) for h in hours)

    shown = partita(project, "report", str(execution))
    assert shown.returncode == 0, shown.stderr
    assert "Delivery report of execution" in shown.stdout
    assert f"{len(eligible):,}" in shown.stdout
    assert f"no_consent {excluded['no_consent']:,}" in shown.stdout
    assert f"click-to-open {2 / 3:.1%}" in shown.stdout


def test_report_of_a_campaign_sums_its_live_executions(project: Path, sql: SQL) -> None:
    first, second = start(project), start(project)
    result = as_json(partita(project, "report", "spring", "--json"))
    assert result["executions"] == [second, first]
    (mail,) = result["activities"]
    assert mail["sent"] == 2 * len(eligible_sql(sql))
    assert mail["excluded"] == 2 * sum(exclusions_sql(sql).values())


def test_report_of_an_unknown_campaign_names_it(project: Path) -> None:
    start(project)
    result = partita(project, "report", "sprnig")
    assert result.returncode == 1
    assert "sprnig" in result.stderr and "spring" in result.stderr
