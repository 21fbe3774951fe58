"""Shared fixtures: a generated shop, a project on it, an engine, hand-written SQL — per engine.

``engine``, ``sql`` and ``project_dir`` are parameterized over the warehouse engines (ids
``duckdb`` and ``postgres``): every test that uses them runs on both and must see the same rows.
The PostgreSQL shop is the DuckDB shop copied once per session into a database of its own; each
test gets its own working schema there. A gap of one engine is declared on the test, as Ibis
does: ``@pytest.mark.notyet(["postgres"], reason="...")`` (also ``notimpl`` and ``never``) makes
that engine's run a strict xfail.
"""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from partita.engine import Engine
from partita.examples.shop import copy_to_postgres, generate_shop
from partita.model.project import load_project
from tests.support import SQL, PostgresShop, new_working_schema, write_test_project

ANCHOR = datetime.date(2026, 11, 30)
CUSTOMERS = 4_000

#: The PostgreSQL server of the tests (user with CREATE DATABASE; no password: trust auth).
POSTGRES_SERVER = os.environ.get("PARTITA_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432")

ENGINES = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

#: Markers that declare an engine gap (strict xfail on the engines named).
GAP_MARKERS = {
    "notimpl": "Partita does not implement this on the engine yet",
    "notyet": "the engine (or its Ibis backend) cannot do this yet",
    "never": "the engine will never do this",
}

#: The portable seeded order of partita.warehouse.sampling, written out by hand in SQL.
SEEDED_RANK_SQL = """
CREATE TEMP MACRO salt(s) AS abs(s) % 1000003;
CREATE TEMP MACRO r1(k, s) AS ((k % 2147483647) * 48271 + salt(s) * 7919 + 12345) % 2147483647;
CREATE TEMP MACRO r2(k, s) AS (r1(k, s) * r1(k, s) + salt(s) + 1) % 2147483629;
CREATE TEMP MACRO r3(k, s) AS (r2(k, s) * 69621 + 1) % 2147483647;
CREATE TEMP MACRO seeded_rank(k, s) AS (r3(k, s) * r3(k, s) + 7) % 2147483629;
"""

#: The same arithmetic as PostgreSQL functions (bigint all the way: no product overflows).
SEEDED_RANK_POSTGRES = """
CREATE FUNCTION salt(s bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
    AS $$ SELECT abs(s) % 1000003 $$;
CREATE FUNCTION r1(k bigint, s bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
    AS $$ SELECT ((k % 2147483647) * 48271 + salt(s) * 7919 + 12345) % 2147483647 $$;
CREATE FUNCTION r2(k bigint, s bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
    AS $$ SELECT (r1(k, s) * r1(k, s) + salt(s) + 1) % 2147483629 $$;
CREATE FUNCTION r3(k bigint, s bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
    AS $$ SELECT (r2(k, s) * 69621 + 1) % 2147483647 $$;
CREATE FUNCTION seeded_rank(k bigint, s bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
    AS $$ SELECT (r3(k, s) * r3(k, s) + 7) % 2147483629 $$;
"""


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in GAP_MARKERS.items():
        config.addinivalue_line(
            "markers", f"{name}(engines, reason): {meaning} (strict xfail on those engines)"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Turn ``notyet``/``notimpl``/``never`` markers into strict xfails of the engines named."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        engine_name = callspec.params.get("engine_name") if callspec is not None else None
        if engine_name is None:
            continue
        for kind in GAP_MARKERS:
            for marker in item.iter_markers(kind):
                engines = marker.args[0] if marker.args else marker.kwargs["engines"]
                if engine_name in engines:
                    reason = marker.kwargs.get("reason", "")
                    item.add_marker(
                        pytest.mark.xfail(
                            strict=True,
                            reason=f"{kind}: {reason}",
                            raises=marker.kwargs.get("raises"),
                        )
                    )


# -- the shop --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shop_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small shop (fixed seed and anchor day), shared read-only by every test."""
    path = tmp_path_factory.mktemp("shop") / "shop.duckdb"
    generate_shop(path, customers=CUSTOMERS, seed=7, anchor=ANCHOR)
    return path


@pytest.fixture(scope="session")
def postgres_shop(shop_file: Path) -> Iterator[PostgresShop]:
    """The shop in a fresh PostgreSQL database (``partita_test_<random>``), dropped at the end."""
    import psycopg

    try:
        admin = psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_SERVER}: {error}")
    shop = PostgresShop(POSTGRES_SERVER, f"partita_test_{uuid.uuid4().hex[:12]}")
    # C collation: text sorts by code point, as in DuckDB (see docs/postgres.md, "Limits").
    admin.execute(
        f"CREATE DATABASE {shop.database} TEMPLATE template0 ENCODING 'UTF8' "
        "LC_COLLATE 'C' LC_CTYPE 'C'"
    )
    try:
        with shop.connect() as con:
            copy_to_postgres(shop_file, con)
            con.execute(SEEDED_RANK_POSTGRES)
        yield shop
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {shop.database} WITH (FORCE)")
        admin.close()


# -- per engine ------------------------------------------------------------------------------


@pytest.fixture(scope="session", params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    """The warehouse engine of the test: ``duckdb`` or ``postgres``."""
    return str(request.param)


@pytest.fixture
def project_dir(
    tmp_path: Path, shop_file: Path, engine_name: str, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """A project of its own on the shared shop: its state, and its work file (DuckDB) or its
    working schema ``pw_<random>`` (PostgreSQL, dropped after the test)."""
    if engine_name == "duckdb":
        yield write_test_project(tmp_path, shop_file)
        return
    shop: PostgresShop = request.getfixturevalue("postgres_shop")
    schema = new_working_schema()
    try:
        yield write_test_project(tmp_path, shop_file, postgres=shop, working_schema=schema)
    finally:
        shop.drop_schema(schema)


@pytest.fixture
def engine(project_dir: Path) -> Iterator[Engine]:
    """An engine on the test project."""
    instance = Engine(load_project(project_dir))
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def sql(engine_name: str, shop_file: Path, request: pytest.FixtureRequest) -> Iterator[SQL]:
    """Runs hand-written SQL on the shop (read-only) of the test's engine and returns the rows.

    ``seeded_rank(key, seed)`` is there on both engines (macros on DuckDB, functions on
    PostgreSQL). Write portable SQL: alias every subquery in FROM.
    """
    if engine_name == "duckdb":
        con = duckdb.connect(str(shop_file), read_only=True)
        con.execute(SEEDED_RANK_SQL)

        def run(query: str) -> list[tuple[Any, ...]]:
            return con.execute(query).fetchall()

        yield run
        con.close()
        return
    shop: PostgresShop = request.getfixturevalue("postgres_shop")
    pg = shop.connect()
    pg.execute("SET default_transaction_read_only = on")

    def run_postgres(query: str) -> list[tuple[Any, ...]]:
        with pg.cursor() as cursor:
            cursor.execute(query)
            return [tuple(row) for row in cursor.fetchall()]

    yield run_postgres
    pg.close()


@pytest.fixture(params=["in_process", "workers"])
def hand_off(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where a live channel activity makes and hands off its messages: in the task's process
    (small audiences), or in worker processes, as audiences of ``POOL_FROM`` and more do."""
    if request.param == "workers":
        import partita.activities.channel as channel_activity

        monkeypatch.setattr(channel_activity, "POOL_FROM", 1)
    return str(request.param)
