"""Lifecycle on real executions: allowed and refused actions, error policies, retry after a fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from partita.engine import Engine, LifecycleError
from partita.engine.reports import execution_report
from partita.model.campaign import parse_campaign
from partita.model.problems import PartitaError
from partita.model.project import load_project
from partita.model.states import CampaignStatus, ExecutionStatus, TaskStatus
from tests.support import counts, run_campaign

SIMPLE = """
name: simple
activities:
  - {id: gold, type: build_audience, filter: "loyalty_tier = 'gold'"}
  - {id: d, type: deduplication, keys: [lower(email)]}
  - {id: e, type: end}
transitions: [{from: gold, to: d}, {from: d, to: e}]
"""


def status(engine: Engine, name: str) -> CampaignStatus:
    record = engine.store.campaign(name)
    assert record is not None
    return engine.status_of(record)


def test_test_run_keeps_the_campaign_draft_and_start_publishes(engine: Engine) -> None:
    report = run_campaign(engine, SIMPLE)
    assert report["status"] == "completed" and report["mode"] == "test"
    assert status(engine, "simple") == CampaignStatus.DRAFT
    live = run_campaign(engine, SIMPLE, live=True)
    assert live["mode"] == "live" and live["version"] == 1
    record = engine.store.campaign("simple")
    assert record is not None and record.published_version == 1
    assert status(engine, "simple") == CampaignStatus.COMPLETED
    # an edited definition is a new version; history stays
    run_campaign(engine, SIMPLE.replace("'gold'", "'silver'"))
    assert [v.version for v in engine.store.versions(record.id)] == [1, 2]
    assert status(engine, "simple") == CampaignStatus.COMPLETED


def test_pause_resume_runs_only_what_was_left(engine: Engine) -> None:
    execution = engine.test(parse_campaign(SIMPLE))
    engine.pause(execution.id)
    assert engine.run(execution.id).status == ExecutionStatus.PAUSED
    assert status(engine, "simple") == CampaignStatus.PAUSED
    with pytest.raises(LifecycleError, match=r"cannot pause execution 1 \(test\): it is paused"):
        engine.pause(execution.id)
    engine.resume(execution.id)
    finished = engine.run(execution.id)
    assert finished.status == ExecutionStatus.COMPLETED
    tasks = engine.store.tasks(execution.id)
    assert [(t.activity_id, t.attempt, t.status) for t in tasks] == [
        ("gold", 1, TaskStatus.DONE),
        ("d", 1, TaskStatus.DONE),
        ("e", 1, TaskStatus.DONE),
    ]
    with pytest.raises(
        LifecycleError, match=r"cannot resume execution 1 \(test\): it is completed"
    ):
        engine.resume(execution.id)


def test_stop_cancels_pending_work_and_refuses_resume(engine: Engine) -> None:
    execution = engine.test(parse_campaign(SIMPLE))
    engine.pause(execution.id)
    stopped = engine.stop(execution.id)
    assert stopped.status == ExecutionStatus.STOPPED
    assert [t.status for t in engine.store.tasks(execution.id)] == [TaskStatus.CANCELLED]
    with pytest.raises(LifecycleError, match=r"cannot resume execution 1 \(test\): it is stopped"):
        engine.resume(execution.id)
    with pytest.raises(LifecycleError, match=r"cannot stop execution 1 \(test\): it is stopped"):
        engine.stop(execution.id)
    restarted = engine.run(engine.restart(execution.id).id)
    assert restarted.id == 2 and restarted.status == ExecutionStatus.COMPLETED


def test_archive_duplicate_and_refusals(engine: Engine) -> None:
    with pytest.raises(PartitaError, match="no stored campaign 'simple'"):
        engine.archive("simple")
    run_campaign(engine, SIMPLE)
    with pytest.raises(LifecycleError, match="cannot archive campaign 'simple': it is draft"):
        engine.archive("simple")
    run_campaign(engine, SIMPLE, live=True)
    copy = engine.duplicate("simple", "simple-copy")
    assert status(engine, "simple-copy") == CampaignStatus.DRAFT
    assert engine.definition(copy.id, 1).activities == parse_campaign(SIMPLE).activities
    with pytest.raises(PartitaError, match="a campaign named 'simple-copy' exists already"):
        engine.duplicate("simple", "simple-copy")
    engine.archive("simple")
    assert status(engine, "simple") == CampaignStatus.ARCHIVED
    with pytest.raises(LifecycleError, match="cannot start campaign 'simple': it is archived"):
        engine.start(parse_campaign(SIMPLE))
    with pytest.raises(
        LifecycleError, match="cannot back to draft campaign 'simple-copy': it is draft"
    ):
        engine.back_to_draft("simple-copy")


# -- failures and error policies ----------------------------------------------------------------

FRAGILE_PROJECT = """
warehouse: "duckdb:///data.duckdb"
dimensions:
  customers: {table: customers, key: id}
  fragile: {table: fragile, key: id}
"""

POLICY = """
name: policies
error_policy: {policy}
max_consecutive_errors: {limit}
activities:
  - {{id: fine, type: build_audience, dimension: customers}}
  - {{id: breaks, type: build_audience, dimension: fragile, filter: "country = 'FR'"}}
  - {{id: e1, type: end}}
  - {{id: d, type: deduplication, keys: [country]}}
  - {{id: e2, type: end}}
transitions: [{{from: fine, to: e1}}, {{from: breaks, to: d}}, {{from: d, to: e2}}]
"""


def set_broken(folder: Path, broken: bool) -> None:
    con = duckdb.connect(str(folder / "data.duckdb"))
    con.execute("UPDATE flags SET broken = ?", [broken])
    con.close()


@pytest.fixture
def fragile(tmp_path: Path) -> Iterator[Path]:
    """A project whose 'fragile' table fails to read while flags.broken is true."""
    con = duckdb.connect(str(tmp_path / "data.duckdb"))
    con.execute(
        "CREATE TABLE customers AS SELECT range AS id, CASE WHEN range % 3 = 0 "
        "THEN 'FR' ELSE 'BE' END AS country FROM range(1, 101)"
    )
    con.execute("CREATE TABLE flags AS SELECT true AS broken")
    con.execute(
        "CREATE VIEW fragile AS SELECT id, CASE WHEN (SELECT broken FROM flags) "
        "THEN error('the fragile table is broken') ELSE country END AS country "
        "FROM customers"
    )
    con.close()
    (tmp_path / "partita.yaml").write_text(FRAGILE_PROJECT)
    yield tmp_path


def open_engine(folder: Path) -> Engine:
    return Engine(load_project(folder))


def test_suspend_fails_the_campaign_then_retry_after_the_fix(fragile: Path) -> None:
    engine = open_engine(fragile)
    execution = engine.run(engine.test(parse_campaign(POLICY.format(policy="suspend", limit=3))).id)
    assert execution.status == ExecutionStatus.FAILED
    tasks = {t.activity_id: t for t in engine.store.tasks(execution.id)}
    assert tasks["breaks"].status == TaskStatus.FAILED
    assert "the fragile table is broken" in (tasks["breaks"].error or "")
    assert tasks["e1"].status == TaskStatus.PENDING  # the other branch stopped too
    messages = [line.message for line in engine.store.logs(execution_id=execution.id)]
    assert any(m.startswith("build_audience 'breaks' failed: ") for m in messages)
    assert (
        f"execution {execution.id} failed: error policy 'suspend': fix the cause, then "
        f"'partita retry {tasks['breaks'].id}' or 'partita resume {execution.id}'" in messages
    )
    assert status(engine, "policies") == CampaignStatus.FAILED
    engine.close()

    set_broken(fragile, False)
    engine = open_engine(fragile)
    engine.retry(tasks["breaks"].id)
    done = engine.run(execution.id)
    assert done.status == ExecutionStatus.COMPLETED
    report_counts = counts(execution_report(engine, done))
    assert report_counts == {"fine -> e1": 100, "breaks -> d": 33, "d -> e2": 1}
    attempts = [
        (t.activity_id, t.attempt, t.status.value)
        for t in engine.store.tasks(done.id)
        if t.activity_id == "breaks"
    ]
    assert attempts == [("breaks", 1, "failed"), ("breaks", 2, "done")]
    with pytest.raises(
        PartitaError,
        match=f"cannot retry task {tasks['breaks'].id}: activity 'breaks' was already run again",
    ):
        engine.retry(tasks["breaks"].id)
    engine.close()


def test_ignore_ends_the_branch_and_the_others_continue(fragile: Path) -> None:
    engine = open_engine(fragile)
    execution = engine.run(engine.test(parse_campaign(POLICY.format(policy="ignore", limit=3))).id)
    assert execution.status == ExecutionStatus.COMPLETED
    tasks = {t.activity_id: t.status for t in engine.store.tasks(execution.id)}
    assert tasks == {
        "fine": TaskStatus.DONE,
        "breaks": TaskStatus.FAILED,
        "e1": TaskStatus.DONE,
        "d": TaskStatus.SKIPPED,
        "e2": TaskStatus.SKIPPED,
    }
    engine.close()


def test_ignore_fails_after_the_consecutive_error_limit(fragile: Path) -> None:
    engine = open_engine(fragile)
    execution = engine.run(engine.test(parse_campaign(POLICY.format(policy="ignore", limit=1))).id)
    assert execution.status == ExecutionStatus.FAILED
    messages = [line.message for line in engine.store.logs(execution_id=execution.id)]
    assert (
        f"execution {execution.id} failed: 1 consecutive errors reached the limit of error "
        "policy 'ignore'" in messages
    )
    engine.close()


def test_abort_stops_everything_and_only_restart_helps(fragile: Path) -> None:
    engine = open_engine(fragile)
    execution = engine.run(engine.test(parse_campaign(POLICY.format(policy="abort", limit=3))).id)
    assert execution.status == ExecutionStatus.FAILED and execution.aborted
    tasks = {t.activity_id: t for t in engine.store.tasks(execution.id)}
    assert tasks["e1"].status == TaskStatus.CANCELLED
    with pytest.raises(PartitaError, match="error policy 'abort' ended it; restart it instead"):
        engine.resume(execution.id)
    with pytest.raises(PartitaError, match="error policy 'abort' ended it"):
        engine.retry(tasks["breaks"].id)
    engine.close()
    set_broken(fragile, False)
    engine = open_engine(fragile)
    again = engine.run(engine.restart(execution.id).id)
    assert again.status == ExecutionStatus.COMPLETED
    assert engine.store.execution(execution.id).status == ExecutionStatus.STOPPED
    engine.close()


def test_back_to_draft_after_a_failed_live_run(fragile: Path) -> None:
    engine = open_engine(fragile)
    campaign = parse_campaign(POLICY.format(policy="suspend", limit=3))
    execution = engine.run(engine.start(campaign).id)
    assert status(engine, "policies") == CampaignStatus.FAILED
    with pytest.raises(
        PartitaError, match="has failed live execution 1: retry, resume, restart or stop it first"
    ):
        engine.test(campaign)
    record = engine.back_to_draft("policies")
    assert record.published_version is None
    assert engine.store.execution(execution.id).status == ExecutionStatus.STOPPED
    assert status(engine, "policies") == CampaignStatus.STOPPED
    engine.close()
