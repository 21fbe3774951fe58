"""Helpers for tests: run a campaign from YAML text, read what its transitions carried."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from partita.engine import Engine
from partita.engine.reports import execution_report
from partita.examples.shop import write_project
from partita.model.campaign import parse_campaign
from partita.model.problems import InvalidInput

#: Hand-written SQL on the test's engine -> its rows (the ``sql`` fixture).
SQL = Callable[[str], list[tuple[Any, ...]]]


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


# -- projects on each engine -------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresShop:
    """The test shop copied into a PostgreSQL database of its own (see ``tests/conftest.py``)."""

    server: str
    database: str

    @property
    def url(self) -> str:
        """The database's URL, as ``partita.yaml`` writes it."""
        return f"{self.server}/{self.database}"

    def connect(self) -> Any:
        """A new autocommit psycopg connection to the database."""
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def drop_schema(self, schema: str) -> None:
        """Drop a working schema and everything in it (absent: nothing happens)."""
        with self.connect() as con:
            con.execute("SET lock_timeout = '20s'")
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def schema_of(engine: Engine, report: dict[str, Any], output: str) -> dict[str, str]:
    """What ``inspect --schema`` shows: column -> kind."""
    ref = engine.working_table(engine.store.execution(report["execution"]), output)
    return {c.name: c.type.value for c in engine.warehouse.columns(ref.output.table_name)}


def problems(engine: Engine, text: str) -> list[tuple[str | None, str]]:
    """(field, message) of every problem validation finds in a campaign given as YAML."""
    with pytest.raises(InvalidInput) as caught:
        engine.validate(parse_campaign(text))
    return [(p.field, p.message) for p in caught.value.problems]


def new_working_schema() -> str:
    """A working-schema name no other test uses."""
    return f"pw_{uuid.uuid4().hex[:12]}"


def write_test_project(
    folder: Path,
    shop_file: Path,
    postgres: PostgresShop | None = None,
    working_schema: str | None = None,
    state: str | None = None,
    warehouse: str | None = None,
) -> Path:
    """``partita.yaml`` of the demo shop in ``folder``: the DuckDB file, or the PostgreSQL copy
    (or any ``warehouse`` URL).

    The dimensions and links are the demo project's (``write_project``); only the connection
    lines change.
    """
    target = write_project(folder, database=str(shop_file))
    text = target.read_text(encoding="utf-8")
    if postgres is not None:
        warehouse = postgres.url
    if warehouse is not None:
        text = _set_line(text, "warehouse", f'"{warehouse}"')
    if working_schema is not None:
        text = _set_line(text, "working_schema", working_schema)
    if state is not None:
        text = _set_line(text, "state", f'"{state}"')
    target.write_text(text, encoding="utf-8")
    return folder


def set_channels(project_dir: Path, channels: str) -> None:
    """Replace the ``channels:`` block of the test project's partita.yaml (``channels``: its
    indented lines)."""
    path = project_dir / "partita.yaml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^channels:\n(?:  .*\n)+", f"channels:\n{channels}", text)
    path.write_text(text, encoding="utf-8")


def _set_line(text: str, setting: str, value: str) -> str:
    changed, found = re.subn(rf"(?m)^{setting}: .*$", f"{setting}: {value}", text, count=1)
    assert found, f"no '{setting}:' line in the demo partita.yaml"
    return changed
