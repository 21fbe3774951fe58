"""Helpers for tests: run a campaign from YAML text, read what its transitions carried."""

from __future__ import annotations

from typing import Any

from partita.engine import Engine
from partita.engine.reports import execution_report
from partita.model.campaign import parse_campaign


def run_campaign(
    engine: Engine, text: str, variables: dict[str, Any] | None = None, live: bool = False
) -> dict[str, Any]:
    """Test-run (or start) a campaign given as YAML text; the execution report."""
    campaign = parse_campaign(text)
    launch = engine.start if live else engine.test
    execution = engine.run(launch(campaign, variables or {}).id)
    return execution_report(engine, execution)


def keys(engine: Engine, report: dict[str, Any], output: str) -> list[Any]:
    """The sorted keys a working table holds."""
    ref = engine.working_table(engine.store.execution(report["execution"]), output)
    table = engine.warehouse.rows(ref.output.table_name, [ref.key])
    return sorted(table.column(ref.key).to_pylist())


def table_rows(engine: Engine, report: dict[str, Any], output: str) -> list[dict[str, Any]]:
    """Every row of a working table, in key order."""
    ref = engine.working_table(engine.store.execution(report["execution"]), output)
    return engine.warehouse.rows(ref.output.table_name, [ref.key]).to_pylist()


def counts(report: dict[str, Any]) -> dict[str, int | None]:
    """Transition counts by ``from -> to``."""
    return {f"{t['from']} -> {t['to']}": t["count"] for t in report["transitions"]}
