"""Targeting benchmark: one campaign through Partita against the same steps in hand-written SQL.

The campaign has nine targeting activities (four build_audience, a union, an exclusion, a
deduplication, a four-way split and a test) and four ends. It runs through the engine in test
mode; then the same steps run as the ``CREATE TABLE … AS SELECT …`` a good engineer would write
for DuckDB, on a separate work file that attaches the shop read-only (as Partita does). A third
pass replays the exact SQL Partita logged (at debug level) through plain DuckDB, which splits
Partita's time into "SQL Ibis wrote" and "engine around it".

Every step's row count and key set must match Partita's working table, or the run fails.

Goal: total ratio (``engine.run()`` wall time / hand-written SQL) <= 1.10 at 10M customers /
50M purchases, and engine overhead under 50 ms per task.

    python bench/targeting.py [--customers 1000000] [--dir bench/data] [--repeat 1] [--keep]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import ibis
import sqlglot

import partita
from partita.engine import Engine
from partita.engine.reports import execution_report
from partita.examples.shop import generate_shop, write_project
from partita.model.campaign import parse_campaign
from partita.model.project import load_project
from partita.model.states import LogLevel

GOAL_RATIO = 1.10
GOAL_OVERHEAD_MS = 50.0
SEED = 42  # the campaign seed (samples and tie-breaks)
SHOP_SEED = 7  # the shop generator's seed
SHOP_FILE = "shop.duckdb"
MARKER = "bench-shop.json"
HAND_FILE = "bench-hand.duckdb"
REPLAY_FILE = "bench-replay.duckdb"
BYTES_PER_CUSTOMER = 330  # shop (~115) + Partita's and the SQL passes' work files, rounded up

EU = "'FR', 'BE', 'DE', 'ES', 'IT', 'NL', 'GB'"

CAMPAIGN = f"""
name: bench-targeting
label: Targeting benchmark
dimension: customers
seed: {SEED}
activities:
  - id: loyal_eu
    type: build_audience
    filter: "loyalty_tier in ('gold', 'platinum') and country in ({EU})"
  - id: recent_spenders
    type: build_audience
    filter: "sum(purchases.amount where purchased_at > days_ago(90)) > 100"
  - id: shoe_buyers
    type: build_audience
    filter: "exists purchases (category = 'shoes' and amount > 80)"
  - id: opted_out
    type: build_audience
    filter: "email_optin = false or email is null"
  - {{id: audience, type: combine, mode: union}}
  - {{id: reachable, type: combine, mode: exclusion, primary: audience}}
  - id: one_per_email
    type: deduplication
    keys: [lower(email)]
    method: expression
    order_by: [created_at desc]
  - id: ab
    type: split
    subsets:
      - {{name: sample, limit: {{percent: 10}}}}
      - {{name: with_phone, filter: "phone is not null"}}
      - {{name: newest, limit: {{count: 5000}}, order_by: [created_at desc]}}
    complement: true
  - id: big_enough
    type: test
    conditions:
      - {{name: large, when: "count >= 1000"}}
    default: true
  - {{id: send_sample, type: end}}
  - {{id: too_small, type: end}}
  - {{id: send_sms, type: end}}
  - {{id: send_newest, type: end}}
  - {{id: the_rest, type: end}}
transitions:
  - {{from: loyal_eu, to: audience}}
  - {{from: recent_spenders, to: audience}}
  - {{from: shoe_buyers, to: audience}}
  - {{from: audience, to: reachable}}
  - {{from: opted_out, to: reachable}}
  - {{from: reachable, to: one_per_email}}
  - {{from: one_per_email, to: ab}}
  - {{from: ab.sample, to: big_enough}}
  - {{from: big_enough.large, to: send_sample}}
  - {{from: big_enough.default, to: too_small}}
  - {{from: ab.with_phone, to: send_sms}}
  - {{from: ab.newest, to: send_newest}}
  - {{from: ab.complement, to: the_rest}}
"""

#: The portable seeded order of partita.warehouse.sampling, written out as DuckDB macros.
SEEDED_RANK_SQL = """
CREATE TEMP MACRO salt(s) AS abs(s) % 1000003;
CREATE TEMP MACRO r1(k, s) AS ((k % 2147483647) * 48271 + salt(s) * 7919 + 12345) % 2147483647;
CREATE TEMP MACRO r2(k, s) AS (r1(k, s) * r1(k, s) + salt(s) + 1) % 2147483629;
CREATE TEMP MACRO r3(k, s) AS (r2(k, s) * 69621 + 1) % 2147483647;
CREATE TEMP MACRO seeded_rank(k, s) AS (r3(k, s) * r3(k, s) + 7) % 2147483629;
"""


@dataclass(frozen=True)
class Step:
    """One hand-written step: ``CREATE TABLE hand.<activity>__<output> AS <select>``.

    A step without ``output`` is a test's condition: ``select`` returns one boolean.
    """

    activity: str
    output: str | None
    select: str

    @property
    def table(self) -> str:
        """The table the step creates."""
        return f"hand.{self.activity}__{self.output}"


STEPS: tuple[Step, ...] = (
    Step(
        "loyal_eu",
        "out",
        f"""SELECT id FROM shop.customers
            WHERE loyalty_tier IN ('gold', 'platinum') AND country IN ({EU})""",
    ),
    Step(
        "recent_spenders",
        "out",
        """SELECT customer_id AS id FROM shop.purchases
           WHERE purchased_at > current_date - INTERVAL 90 DAY
           GROUP BY customer_id HAVING sum(amount) > 100""",
    ),
    Step(
        "shoe_buyers",
        "out",
        """SELECT DISTINCT customer_id AS id FROM shop.purchases
           WHERE category = 'shoes' AND amount > 80""",
    ),
    Step(
        "opted_out",
        "out",
        "SELECT id FROM shop.customers WHERE NOT email_optin OR email IS NULL",
    ),
    Step(
        "audience",
        "out",
        """SELECT id FROM hand.loyal_eu__out
           UNION SELECT id FROM hand.recent_spenders__out
           UNION SELECT id FROM hand.shoe_buyers__out""",
    ),
    Step(
        "reachable",
        "out",
        "SELECT id FROM hand.audience__out WHERE id NOT IN (SELECT id FROM hand.opted_out__out)",
    ),
    Step(
        "one_per_email",
        "out",
        f"""SELECT c.id FROM hand.reachable__out r JOIN shop.customers c ON c.id = r.id
            QUALIFY row_number() OVER (
                PARTITION BY lower(c.email)
                ORDER BY c.created_at DESC, seeded_rank(c.id, {SEED}), c.id) = 1""",
    ),
    Step(
        "ab",
        "sample",
        f"""SELECT id FROM hand.one_per_email__out
            ORDER BY seeded_rank(id, {SEED}), id
            LIMIT (SELECT count(*) * 10 // 100 FROM hand.one_per_email__out)""",
    ),
    Step(
        "ab",
        "with_phone",
        """SELECT o.id FROM hand.one_per_email__out o JOIN shop.customers c ON c.id = o.id
           WHERE c.phone IS NOT NULL
             AND o.id NOT IN (SELECT id FROM hand.ab__sample)""",
    ),
    Step(
        "ab",
        "newest",
        f"""SELECT o.id FROM hand.one_per_email__out o JOIN shop.customers c ON c.id = o.id
            WHERE c.phone IS NULL
              AND o.id NOT IN (SELECT id FROM hand.ab__sample)
            ORDER BY c.created_at DESC, seeded_rank(o.id, {SEED}), o.id
            LIMIT 5000""",
    ),
    Step(
        "ab",
        "complement",
        """SELECT o.id FROM hand.one_per_email__out o JOIN shop.customers c ON c.id = o.id
           WHERE c.phone IS NULL
             AND o.id NOT IN (SELECT id FROM hand.ab__sample)
             AND o.id NOT IN (SELECT id FROM hand.ab__newest)""",
    ),
    Step("big_enough", None, "SELECT count(*) >= 1000 FROM hand.ab__sample"),
)

#: The output the test activity fires when its condition holds.
TEST_ACTIVITY, TEST_OUTPUT = "big_enough", "large"


class BenchmarkError(Exception):
    """Partita and the hand-written SQL disagree (or Partita did not complete)."""


# -- the shop -------------------------------------------------------------------------------------


def prepare_shop(root: Path, customers: int, regenerate: bool) -> dict[str, Any]:
    """Generate the shop into ``root`` (or reuse it) and write ``partita.yaml``; its marker."""
    marker = root / MARKER
    shop = root / SHOP_FILE
    if not regenerate and marker.exists() and shop.exists():
        info: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
        if info.get("customers") == customers and info.get("seed") == SHOP_SEED:
            print(f"reusing the shop in {root} (generated {info['generated']})")
            write_project(root, database=SHOP_FILE)
            return info
    root.mkdir(parents=True, exist_ok=True)
    need = customers * BYTES_PER_CUSTOMER
    free = shutil.disk_usage(root).free
    if free < need:
        raise SystemExit(
            f"not enough disk space in {root}: {free / 2**30:.1f} GiB free, "
            f"about {need / 2**30:.1f} GiB needed"
        )
    print(f"generating the shop with {customers:,} customers into {root}")
    stats = generate_shop(shop, customers=customers, seed=SHOP_SEED, progress=_say)
    info = {
        "customers": customers,
        "seed": SHOP_SEED,
        "generated": datetime.date.today().isoformat(),
        "rows": stats.rows,
        "seconds": round(stats.seconds, 1),
        "bytes": shop.stat().st_size,
    }
    marker.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    write_project(root, database=SHOP_FILE)
    print(f"  done in {stats.seconds:.1f} s, {info['bytes'] / 2**20:,.0f} MiB")
    return info


def warm_page_cache(path: Path) -> float:
    """Read the file once so that neither side pays for the first read from disk."""
    started = time.perf_counter()
    with path.open("rb") as handle:
        while handle.read(1 << 24):
            pass
    return time.perf_counter() - started


def cpu_stall() -> float | None:
    """Seconds some task waited for a CPU since boot (Linux PSI), to flag a busy machine."""
    try:
        text = Path("/proc/pressure/cpu").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("some"):
            return int(line.rsplit("total=", 1)[1]) / 1e6
    return None


def cpu_pressure_now() -> float | None:
    """The share of the last 10 s in which some task waited for a CPU (Linux PSI)."""
    try:
        first = Path("/proc/pressure/cpu").read_text(encoding="utf-8").split()
    except OSError:
        return None
    return float(first[1].split("=", 1)[1]) / 100


def wait_until_quiet(limit: float, threshold: float = 0.05) -> None:
    """Wait (at most ``limit`` seconds) until other processes leave the CPUs alone."""
    deadline = time.monotonic() + limit
    pressure = cpu_pressure_now()
    while pressure is not None and pressure > threshold and time.monotonic() < deadline:
        time.sleep(2)
        pressure = cpu_pressure_now()
    if pressure is not None and pressure > threshold:
        print(f"  the machine is still busy (CPU pressure {pressure:.0%}); going on")


def _say(message: str) -> None:
    print(f"  {message}", flush=True)


# -- Partita --------------------------------------------------------------------------------------


@dataclass
class PartitaRun:
    """One execution through the engine: task times, outputs, and the SQL it logged."""

    launch_seconds: float
    run_seconds: float
    tasks: list[tuple[str, str, str, float]]  # activity, kind, status, seconds
    outputs: dict[tuple[str, str], tuple[str, int]]  # (activity, output) -> (table, rows)
    sql: list[tuple[str, str, str]]  # activity, working table, SQL, in creation order
    pandas_imported: bool

    def seconds(self, activity: str) -> float:
        """The activity's task time (the latest attempt)."""
        return [t[3] for t in self.tasks if t[0] == activity][-1]

    @property
    def task_seconds(self) -> float:
        """Sum of the task times."""
        return sum(t[3] for t in self.tasks)


def run_partita(root: Path) -> PartitaRun:
    """Test-run the campaign in a fresh project state; times from the state store."""
    shutil.rmtree(root / ".partita", ignore_errors=True)
    engine = Engine(load_project(root))
    try:
        campaign = parse_campaign(CAMPAIGN)
        pandas_before = "pandas" in sys.modules
        started = time.perf_counter()
        execution = engine.test(campaign)  # validate, open the warehouse, store the version
        launched = time.perf_counter()
        execution = engine.run(execution.id)
        ended = time.perf_counter()
        report = execution_report(engine, execution)
        if report["status"] != "completed":
            failed = [t for t in report["tasks"] if t["status"] == "failed"]
            raise BenchmarkError(f"execution {execution.id} is {report['status']}: {failed}")
        tasks = [
            (
                t["activity"],
                campaign.activity(t["activity"]).kind,
                t["status"],
                float(t["seconds"] or 0.0),
            )
            for t in report["tasks"]
        ]
        outputs = {
            (o.activity_id, o.output): (o.table_name, o.row_count)
            for o in engine.store.outputs(execution.id)
        }
        logged = engine.store.logs(execution_id=execution.id, min_level=LogLevel.DEBUG)
        sql = [
            (line.activity_id or "", line.message.rsplit(" ", 1)[-1], line.details["sql"])
            for line in logged
            if line.details and "sql" in line.details
        ]
    finally:
        engine.close()
    return PartitaRun(
        launched - started,
        ended - launched,
        tasks,
        outputs,
        sql,
        pandas_imported=not pandas_before and "pandas" in sys.modules,
    )


# -- hand-written SQL -----------------------------------------------------------------------------


def _connect(work: Path, shop: Path, alias: str) -> duckdb.DuckDBPyConnection:
    """A fresh work file that attaches the shop read-only, with Ibis's session time zone."""
    for stale in (work, work.with_name(work.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = duckdb.connect(str(work))
    con.execute("SET TimeZone = 'UTC'")  # Ibis sets it on connect: the same current_date
    con.execute(f"ATTACH '{shop}' AS {alias} (READ_ONLY)")
    return con


@dataclass
class HandRun:
    """The hand-written steps: seconds per activity, rows per output, the test's answer."""

    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    test_holds: bool = False


def run_hand(root: Path) -> HandRun:
    """Every step as ``CREATE TABLE … AS SELECT …`` plus a count, timed one by one."""
    con = _connect(root / HAND_FILE, root / SHOP_FILE, "shop")
    result = HandRun()
    try:
        con.execute("CREATE SCHEMA hand")
        con.execute(SEEDED_RANK_SQL)
        for step in STEPS:
            started = time.perf_counter()
            if step.output is None:
                row = con.execute(step.select).fetchone()
                result.test_holds = bool(row and row[0])
            else:
                con.execute(f"CREATE TABLE {step.table} AS {step.select}")
                row = con.execute(f"SELECT count(*) FROM {step.table}").fetchone()
                result.counts[(step.activity, step.output)] = int(row[0]) if row else -1
            elapsed = time.perf_counter() - started
            result.seconds[step.activity] = result.seconds.get(step.activity, 0.0) + elapsed
    finally:
        con.close()
    return result


def replay_partita_sql(root: Path, partita: PartitaRun) -> dict[str, float]:
    """Partita's logged SQL, run in the same order through plain DuckDB: seconds per activity."""
    con = _connect(root / REPLAY_FILE, root / SHOP_FILE, "partita_data")
    seconds: dict[str, float] = {}
    try:
        con.execute("CREATE SCHEMA partita_work")
        for activity, table, sql in partita.sql:
            started = time.perf_counter()
            con.execute(f"CREATE TABLE partita_work.{table} AS {sql}")
            con.execute(f"SELECT count(*) FROM partita_work.{table}").fetchone()
            seconds[activity] = seconds.get(activity, 0.0) + time.perf_counter() - started
        tested = partita.outputs[(TEST_ACTIVITY, TEST_OUTPUT)][0]
        started = time.perf_counter()
        con.execute(f"SELECT count(*) >= 1000 FROM partita_work.{tested}").fetchone()
        seconds[TEST_ACTIVITY] = time.perf_counter() - started
    finally:
        con.close()
    return seconds


def verify(root: Path, partita: PartitaRun, hand: HandRun) -> None:
    """Row counts and key sets of every output must be equal; else :class:`BenchmarkError`."""
    problems: list[str] = []
    if not hand.test_holds or (TEST_ACTIVITY, TEST_OUTPUT) not in partita.outputs:
        problems.append(f"test: hand-written SQL says {hand.test_holds}, Partita fired ")
    con = duckdb.connect(str(root / HAND_FILE))
    try:
        con.execute(f"ATTACH '{root / '.partita' / 'work.duckdb'}' AS pw (READ_ONLY)")
        for (activity, output), rows in hand.counts.items():
            if (activity, output) not in partita.outputs:
                problems.append(f"{activity}.{output}: Partita produced no working table")
                continue
            table, partita_rows = partita.outputs[(activity, output)]
            ours = f"hand.{activity}__{output}"
            theirs = f"pw.partita_work.{table}"
            row = con.execute(
                f"""SELECT
                    (SELECT count(*) FROM (SELECT id FROM {ours} EXCEPT SELECT id FROM {theirs})),
                    (SELECT count(*) FROM (SELECT id FROM {theirs} EXCEPT SELECT id FROM {ours})),
                    (SELECT sum(hash(id)) FROM {ours}) = (SELECT sum(hash(id)) FROM {theirs})"""
            ).fetchone()
            assert row is not None
            only_hand, only_partita, same_hash = row
            if rows != partita_rows or only_hand or only_partita or not same_hash:
                problems.append(
                    f"{activity}.{output}: hand {rows:,} rows, Partita {partita_rows:,}; "
                    f"{only_hand:,} keys only in hand, {only_partita:,} only in Partita"
                )
    finally:
        con.close()
    if problems:
        raise BenchmarkError("results differ:\n  " + "\n  ".join(problems))


# -- report ---------------------------------------------------------------------------------------


@dataclass
class Repeat:
    """One repeat: both sides (and the replay), in the order they ran."""

    order: str
    partita: PartitaRun
    hand: HandRun
    replay: dict[str, float]
    pressure: float | None  # share of the time some task waited for a CPU

    @property
    def hand_total(self) -> float:
        """All hand-written steps."""
        return sum(self.hand.seconds.values())


def run_repeat(root: Path, partita_first: bool) -> Repeat:
    """Both sides in the given order, the replay, the check; with the CPU pressure meanwhile."""
    stall_before, started = cpu_stall(), time.perf_counter()
    if partita_first:
        partita = run_partita(root)
        hand = run_hand(root)
    else:
        hand = run_hand(root)
        partita = run_partita(root)
    replay = replay_partita_sql(root, partita)
    verify(root, partita, hand)
    stall_after = cpu_stall()
    pressure = None
    if stall_before is not None and stall_after is not None:
        pressure = (stall_after - stall_before) / (time.perf_counter() - started)
    order = "Partita first" if partita_first else "SQL first"
    return Repeat(order, partita, hand, replay, pressure)


@dataclass(frozen=True)
class Row:
    """One activity: best seconds of each side and the rows of its outputs."""

    activity: str
    kind: str
    partita: float
    hand: float
    replay: float
    rows: dict[str, int]


@dataclass(frozen=True)
class Summary:
    """Best of repeats: per activity and totals."""

    rows: list[Row]
    tasks: int  # task records of the execution (skipped ones included)
    run: float  # engine.run() wall time
    task_sum: float  # sum of the task times
    hand: float  # sum of the hand-written steps
    replay: float  # sum of the replayed steps
    outside: float  # engine.run() wall time outside tasks
    launch: float  # engine.test(): validate, open the warehouse, store the version

    @property
    def ratio(self) -> float:
        """The goal's ratio: engine.run() wall time / hand-written SQL."""
        return self.run / self.hand

    @property
    def in_tasks_ms(self) -> float:
        """Mean (Partita task - hand-written step) over the tasks that ran."""
        return statistics.fmean(r.partita - r.hand for r in self.rows) * 1000

    @property
    def in_tasks_replay_ms(self) -> float:
        """Mean (Partita task - its own SQL replayed) over the tasks that ran."""
        return statistics.fmean(r.partita - r.replay for r in self.rows) * 1000

    @property
    def outside_ms(self) -> float:
        """Wall time outside tasks, per task."""
        return self.outside / self.tasks * 1000


def summarize(repeats: Sequence[Repeat]) -> Summary:
    """Best of repeats per activity and per total."""
    first = repeats[0].partita
    rows = [
        Row(
            activity,
            kind,
            min(r.partita.seconds(activity) for r in repeats),
            min(r.hand.seconds.get(activity, 0.0) for r in repeats),
            min(r.replay.get(activity, 0.0) for r in repeats),
            {o: n for (a, o), (_, n) in first.outputs.items() if a == activity},
        )
        for activity, kind, status, _ in first.tasks
        if status == "done"
    ]
    return Summary(
        rows=rows,
        tasks=len(first.tasks),
        run=min(r.partita.run_seconds for r in repeats),
        task_sum=min(r.partita.task_seconds for r in repeats),
        hand=min(r.hand_total for r in repeats),
        replay=min(sum(r.replay.values()) for r in repeats),
        outside=min(r.partita.run_seconds - r.partita.task_seconds for r in repeats),
        launch=min(r.partita.launch_seconds for r in repeats),
    )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b >= 0.005 else "-"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def render(s: Summary) -> str:
    """The per-activity table and the totals, as Markdown."""
    lines = [
        "| activity | kind | rows out | Partita s | hand SQL s | ratio "
        "| Partita's SQL replayed s | task - replay ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in s.rows:
        shown = ", ".join(f"{n:,}" if o == "out" else f"{o} {n:,}" for o, n in r.rows.items())
        lines.append(
            f"| {r.activity} | {r.kind} | {shown or '-'} | {r.partita:.3f} | {r.hand:.3f} "
            f"| {_ratio(r.partita, r.hand)} | {r.replay:.3f} "
            f"| {(r.partita - r.replay) * 1000:.0f} |"
        )
    overhead = s.in_tasks_ms + s.outside_ms
    pure = s.in_tasks_replay_ms + s.outside_ms
    lines += [
        f"| **sum of tasks** | | | **{s.task_sum:.3f}** | **{s.hand:.3f}** "
        f"| **{_ratio(s.task_sum, s.hand)}** | {s.replay:.3f} | |",
        f"| **engine.run() wall** | | | **{s.run:.3f}** | **{s.hand:.3f}** "
        f"| **{_ratio(s.run, s.hand)}** | {s.replay:.3f} | |",
        "",
        f"- total ratio, engine.run() wall / hand-written SQL: **{s.ratio:.3f}** "
        f"(goal <= {GOAL_RATIO:.2f}: {_met(s.ratio <= GOAL_RATIO)})",
        f"- Partita's own SQL replayed in plain DuckDB / hand-written SQL: "
        f"{_ratio(s.replay, s.hand)}",
        f"- mean (Partita task - hand-written step) over the {len(s.rows)} tasks that ran: "
        f"{s.in_tasks_ms:.1f} ms; (Partita task - replayed SQL): {s.in_tasks_replay_ms:.1f} ms",
        f"- engine.run() wall time outside tasks / {s.tasks} tasks: {s.outside_ms:.1f} ms",
        f"- engine overhead per task (the two added): **{overhead:.1f} ms** against hand-written "
        f"SQL (goal < {GOAL_OVERHEAD_MS:.0f} ms: {_met(overhead < GOAL_OVERHEAD_MS)}); "
        f"**{pure:.1f} ms** against Partita's own SQL replayed "
        f"({_met(pure < GOAL_OVERHEAD_MS)})",
        f"- not timed above: engine.test() (validate, open the warehouse, store the version) "
        f"{s.launch:.3f} s",
    ]
    return "\n".join(lines)


def source_version() -> str:
    """Where Partita is imported from: the commit of its checkout and whether src/ is dirty."""
    package = Path(partita.__file__).resolve().parent
    folder = str(package.parent.parent)
    try:
        commit = subprocess.run(
            ["git", "-C", folder, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", folder, "status", "--porcelain", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"{package} (not a git checkout)"
    return f"{package}, commit {commit}" + (" with uncommitted changes in src/" if dirty else "")


def machine() -> str:
    """Cores, memory, CPU model, Python and the data stack's versions."""
    cpu = "unknown"
    with Path("/proc/cpuinfo").open(encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with Path("/proc/meminfo").open(encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory} RAM, Python {platform.python_version()}, "
        f"duckdb {duckdb.__version__}, ibis {ibis.__version__}, sqlglot {sqlglot.__version__}"
    )


# -- main -----------------------------------------------------------------------------------------


def shop_parser(description: str, customers: int, keep: str) -> argparse.ArgumentParser:
    """The options every benchmark of this folder takes: the shop's size and folder, repeats,
    keeping state, regenerating, waiting for a quiet machine."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--customers", type=int, default=customers, help="shop size")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(__file__).resolve().parent / "data",
        help="parent folder of the shops (one per size: DIR/<customers>)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="repeats (best is reported)")
    parser.add_argument("--keep", action="store_true", help=keep)
    parser.add_argument("--regenerate", action="store_true", help="generate the shop again")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each repeat, wait up to SECONDS for the CPU pressure to drop under 5%%",
    )
    return parser


def checked(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The parsed command line; an error for sizes or repeats under 1."""
    args = parser.parse_args(argv)
    if args.customers < 1 or args.repeat < 1:
        parser.error("--customers and --repeat must be positive")
    return args


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = shop_parser(
        __doc__.split("\n\n")[0],
        1_000_000,
        "keep the last repeat's project state and work files (for partita logs/inspect)",
    )
    parser.add_argument(
        "--max-pressure",
        type=float,
        default=None,
        metavar="FRACTION",
        help="count only repeats under this CPU pressure (e.g. 0.1), trying up to 4x --repeat",
    )
    return checked(parser, argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 1 when the results of the two sides differ."""
    args = parse_args(argv)
    root = (args.dir / str(args.customers)).resolve()
    info = prepare_shop(root, args.customers, args.regenerate)
    rows = info["rows"]
    print(
        f"shop: {rows['customers']:,} customers, {rows['purchases']:,} purchases "
        f"({root / SHOP_FILE})"
    )
    print(f"machine: {machine()}")
    print(f"partita: {source_version()}")
    print(f"page cache warmed in {warm_page_cache(root / SHOP_FILE):.1f} s")
    repeats: list[Repeat] = []
    noisy: list[Repeat] = []
    attempts = args.repeat if args.max_pressure is None else 4 * args.repeat
    try:
        for index in range(attempts):
            if len(repeats) == args.repeat:
                break
            if args.wait_quiet:
                wait_until_quiet(args.wait_quiet)
            repeat = run_repeat(root, partita_first=index % 2 == 0)
            counted = args.max_pressure is None or (
                repeat.pressure is not None and repeat.pressure <= args.max_pressure
            )
            (repeats if counted else noisy).append(repeat)
            busy = "" if repeat.pressure is None else f"; CPU pressure {repeat.pressure:.0%}"
            print(
                f"repeat {index + 1} ({repeat.order}): engine.run() "
                f"{repeat.partita.run_seconds:.3f} s, hand SQL {repeat.hand_total:.3f} s, "
                f"replayed {sum(repeat.replay.values()):.3f} s; results identical{busy}"
                + (" (the first task imported pandas)" if repeat.partita.pandas_imported else "")
                + ("" if counted else " - too noisy, not counted"),
                flush=True,
            )
    except BenchmarkError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(root / ".partita", ignore_errors=True)
            for name in (HAND_FILE, REPLAY_FILE):
                for path in (root / name, root / f"{name}.wal"):
                    path.unlink(missing_ok=True)
    if not repeats:
        print(f"no repeat was under {args.max_pressure:.0%} CPU pressure: showing them all")
        repeats = noisy
    print()
    print(
        f"best of {len(repeats)} repeat(s), {rows['customers']:,} customers / "
        f"{rows['purchases']:,} purchases:"
    )
    print()
    print(render(summarize(repeats)))
    if args.keep:
        print(f"\nkept: {root / '.partita'} (run 'partita logs 1 --level debug' in {root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
