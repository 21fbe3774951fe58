"""Shared fixtures: a generated shop in DuckDB, a project on it, an engine, hand-written SQL."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from partita.engine import Engine
from partita.examples.shop import generate_shop, write_project
from partita.model.project import load_project

ANCHOR = datetime.date(2026, 11, 30)
CUSTOMERS = 4_000

#: The portable seeded order of partita.warehouse.sampling, written out by hand in SQL.
SEEDED_RANK_SQL = """
CREATE TEMP MACRO salt(s) AS abs(s) % 1000003;
CREATE TEMP MACRO r1(k, s) AS ((k % 2147483647) * 48271 + salt(s) * 7919 + 12345) % 2147483647;
CREATE TEMP MACRO r2(k, s) AS (r1(k, s) * r1(k, s) + salt(s) + 1) % 2147483629;
CREATE TEMP MACRO r3(k, s) AS (r2(k, s) * 69621 + 1) % 2147483647;
CREATE TEMP MACRO seeded_rank(k, s) AS (r3(k, s) * r3(k, s) + 7) % 2147483629;
"""


@pytest.fixture(scope="session")
def shop_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small shop (fixed seed and anchor day), shared read-only by every test."""
    path = tmp_path_factory.mktemp("shop") / "shop.duckdb"
    generate_shop(path, customers=CUSTOMERS, seed=7, anchor=ANCHOR)
    return path


@pytest.fixture
def project_dir(tmp_path: Path, shop_file: Path) -> Path:
    """A project of its own (state, work file) on the shared shop."""
    write_project(tmp_path, database=str(shop_file))
    return tmp_path


@pytest.fixture
def engine(project_dir: Path) -> Iterator[Engine]:
    """An engine on the test project."""
    instance = Engine(load_project(project_dir))
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def sql(shop_file: Path) -> Iterator[Callable[[str], list[tuple[Any, ...]]]]:
    """Runs hand-written SQL on the shop (read-only) and returns the rows."""
    con = duckdb.connect(str(shop_file), read_only=True)
    con.execute(SEEDED_RANK_SQL)

    def run(query: str) -> list[tuple[Any, ...]]:
        return con.execute(query).fetchall()

    yield run
    con.close()
