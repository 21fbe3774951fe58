"""Enrichment and reconciliation benchmark: Partita against the same steps in hand-written SQL.

One campaign with two branches runs through the engine in test mode:

- ``everyone`` (build_audience of all customers) -> ``enrich``: three filtered aggregates over
  ``purchases`` and the three latest purchases (amount, category, date) as numbered columns;
- ``load`` (load_file of a 1M-row CSV of e-mail addresses, declared columns) -> ``reco``
  (reconciliation with customers on ``email``, ignoring case).

Then, in the same process after ``engine.close()``, the same steps run as the
``CREATE TABLE … AS SELECT …`` a good engineer would write for DuckDB (one ``GROUP BY`` with
``FILTER`` clauses, a ``row_number`` window pivot, ``read_csv``, a join on ``lower(email)``), on a
separate work file that attaches the shop read-only, as Partita does.

Every output's row count and key set must match Partita's working table, and the enrichment's
and the reconciliation's rows must be equal column by column (``EXCEPT`` both ways over the
columns both sides have, plus a hash sum), or the run fails.

Goal: ratio (Partita / hand-written SQL) <= 1.10.

    python bench/enrichment.py [--customers 1000000] [--dir bench/data] [--repeat 1] [--keep]

Reuses the shop of ``bench/targeting.py`` (``DIR/N/shop.duckdb``); its own project state is in
``DIR/N/enrichment/`` so that it never touches the targeting benchmark's ``DIR/N/.partita``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.targeting import (
    GOAL_RATIO,
    MARKER,
    SEEDED_RANK_SQL,
    SHOP_FILE,
    SHOP_SEED,
    BenchmarkError,
    _connect,
    checked,
    cpu_stall,
    machine,
    prepare_shop,
    shop_parser,
    source_version,
    wait_until_quiet,
    warm_page_cache,
)

from partita.engine import Engine
from partita.engine.reports import execution_report
from partita.examples.shop import write_project
from partita.model.campaign import parse_campaign
from partita.model.project import load_project

SEED = 42  # the campaign seed (collect tie-breaks)
PROJECT = "enrichment"  # sub-folder of DIR/N holding this benchmark's partita.yaml and state
CSV_FILE = "bench-emails.csv"
CSV_ROWS = 1_000_000
KNOWN_SHARE = 0.95  # share of the file's rows that are e-mails of customers
HAND_FILE = "bench-enrichment-hand.duckdb"
COLLECTED = ("amount", "category", "purchased_at")


def campaign_yaml(csv: Path) -> str:
    """The campaign: enrichment branch and reconciliation branch."""
    return f"""
name: bench-enrichment
label: Enrichment and reconciliation benchmark
dimension: customers
seed: {SEED}
activities:
  - {{id: everyone, type: build_audience}}
  - id: enrich
    type: enrichment
    columns:
      spend_90d: "sum(purchases.amount where purchased_at > days_ago(90))"
      shoe_purchases: "count(purchases where category = 'shoes')"
      last_big_purchase: "max(purchases.purchased_at where amount > 50)"
    collect:
      - link: purchases
        order_by: [purchased_at desc]
        count: 3
        columns: [{", ".join(COLLECTED)}]
        prefix: last
  - id: load
    type: load_file
    path: "{csv}"
    columns:
      - {{name: email, type: string}}
  - id: reco
    type: reconciliation
    dimension: customers
    rules:
      - {{source: email, column: email, ignore_case: true}}
  - {{id: enriched, type: end}}
  - {{id: reconciled, type: end}}
transitions:
  - {{from: everyone, to: enrich}}
  - {{from: enrich, to: enriched}}
  - {{from: load, to: reco}}
  - {{from: reco, to: reconciled}}
"""


@dataclass(frozen=True)
class Step:
    """One hand-written step: statements run in order, the last creating ``hand.<table>``."""

    activity: str
    output: str
    sql: tuple[str, ...]

    @property
    def table(self) -> str:
        """The table the step creates."""
        return f"hand.{self.activity}__{self.output}"


def _collect_pivot() -> str:
    picks = ",\n".join(
        f"max({column}) FILTER (WHERE n = {n}) AS last_{n}_{column}"
        for n in (1, 2, 3)
        for column in COLLECTED
    )
    return f"""SELECT customer_id, {picks}
        FROM (SELECT customer_id, {", ".join(COLLECTED)},
                     row_number() OVER (PARTITION BY customer_id
                        ORDER BY purchased_at DESC, seeded_rank(id, {SEED}), id) AS n
              FROM shop.purchases)
        WHERE n <= 3
        GROUP BY customer_id"""


def hand_steps(csv: Path) -> tuple[Step, ...]:
    """The campaign's steps as hand-written DuckDB SQL."""
    collected = ", ".join(f"l.last_{n}_{c}" for n in (1, 2, 3) for c in COLLECTED)
    return (
        Step(
            "everyone", "out", ("CREATE TABLE hand.everyone__out AS SELECT id FROM shop.customers",)
        ),
        Step(
            "enrich",
            "out",
            (
                f"""CREATE TABLE hand.enrich__out AS
                WITH agg AS (
                    SELECT customer_id,
                        sum(amount) FILTER (WHERE purchased_at > current_date - INTERVAL 90 DAY)
                            AS spend_90d,
                        count(*) FILTER (WHERE category = 'shoes') AS shoe_purchases,
                        max(purchased_at) FILTER (WHERE amount > 50) AS last_big_purchase
                    FROM shop.purchases GROUP BY customer_id),
                last AS ({_collect_pivot()})
                SELECT p.id, a.spend_90d, coalesce(a.shoe_purchases, 0) AS shoe_purchases,
                       a.last_big_purchase, {collected}
                FROM hand.everyone__out p
                LEFT JOIN agg a ON a.customer_id = p.id
                LEFT JOIN last l ON l.customer_id = p.id""",
            ),
        ),
        Step(
            "load",
            "out",
            (
                f"""CREATE TABLE hand.load__out AS
                SELECT row_number() OVER () AS _row, email
                FROM read_csv('{csv}', header = true, columns = {{'email': 'VARCHAR'}})""",
            ),
        ),
        Step(
            "reco",
            "out",
            (
                # the pairs, then the check Partita also makes: no file row matches two customers
                """CREATE TEMP TABLE reco_pairs AS
                SELECT f._row, c.id FROM hand.load__out f
                JOIN shop.customers c ON lower(c.email) = lower(f.email)""",
                """SELECT CASE WHEN count(*) > count(DISTINCT _row)
                    THEN error('a file row matches several customers') END FROM reco_pairs""",
                """CREATE TABLE hand.reco__out AS
                SELECT id, _row AS source_row FROM reco_pairs
                QUALIFY row_number() OVER (PARTITION BY id ORDER BY _row) = 1""",
            ),
        ),
    )


#: (activity, output) -> key column, for the key-set check.
KEYS = {
    ("everyone", "out"): "id",
    ("enrich", "out"): "id",
    ("load", "out"): "_row",
    ("reco", "out"): "id",
}


# -- the data -------------------------------------------------------------------------------------


def prepare(root: Path, customers: int, regenerate: bool) -> dict[str, Any]:
    """The shop (reused untouched when present, else generated) and this benchmark's project."""
    marker = root / MARKER
    info: dict[str, Any] | None = None
    if not regenerate and marker.exists() and (root / SHOP_FILE).exists():
        info = json.loads(marker.read_text(encoding="utf-8"))
        if info.get("customers") != customers or info.get("seed") != SHOP_SEED:
            info = None
        else:
            print(f"reusing the shop in {root} (generated {info['generated']})")
    if info is None:
        info = prepare_shop(root, customers, regenerate)
    write_project(root / PROJECT, database=f"../{SHOP_FILE}")
    return info


def write_csv(root: Path, rows: int = CSV_ROWS) -> tuple[Path, int]:
    """The reconciliation file (reused when present): its path and how many rows are known.

    Known rows are e-mails of customers whose lower-cased e-mail is unique (else the
    reconciliation is ambiguous), a third lower-cased, a third upper-cased, a third as they are;
    the rest are unknown addresses. Rows are in a seeded shuffled order.
    """
    path = root / CSV_FILE
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{root / SHOP_FILE}' AS shop (READ_ONLY)")
        if not path.exists():
            started = time.perf_counter()
            con.execute(
                f"""COPY (
                WITH unique_emails AS (
                    SELECT min(id) AS id, min(email) AS email FROM shop.customers
                    WHERE email IS NOT NULL GROUP BY lower(email) HAVING count(*) = 1),
                known AS (
                    SELECT id, email FROM unique_emails ORDER BY hash(id, 7)
                    LIMIT {int(rows * KNOWN_SHARE)}),
                unknown AS (
                    SELECT -i AS id, 'nobody' || i || '@unknown.example' AS email
                    FROM range(1, {rows} - (SELECT count(*) FROM known) + 1) t(i))
                SELECT CASE hash(id, 3) % 3 WHEN 0 THEN lower(email) WHEN 1 THEN upper(email)
                       ELSE email END AS email
                FROM (SELECT * FROM known UNION ALL SELECT * FROM unknown)
                ORDER BY hash(id, 11)
                ) TO '{path}' (HEADER, DELIMITER ',')"""
            )
            print(f"wrote {path} in {time.perf_counter() - started:.1f} s")
        row = con.execute(
            f"""SELECT count(*), count(c.id) FROM read_csv('{path}', header = true,
                    columns = {{'email': 'VARCHAR'}}) f
                LEFT JOIN shop.customers c ON lower(c.email) = lower(f.email)"""
        ).fetchone()
        assert row is not None
    finally:
        con.close()
    print(f"reconciliation file: {row[0]:,} rows, {row[1]:,} of customers ({path})")
    return path, int(row[1])


# -- the two sides --------------------------------------------------------------------------------


def cpu_seconds() -> float:
    """CPU time of this process so far, every thread (DuckDB's too), user plus system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class PartitaRun:
    """One execution through the engine."""

    run_seconds: float
    run_cpu: float  # CPU seconds of engine.run(), all threads
    seconds: dict[str, float]
    outputs: dict[tuple[str, str], tuple[str, int]]


def run_partita(project: Path, csv: Path) -> PartitaRun:
    """Test-run the campaign in a fresh project state; task times from the state store."""
    shutil.rmtree(project / ".partita", ignore_errors=True)
    engine = Engine(load_project(project))
    try:
        campaign = parse_campaign(campaign_yaml(csv))
        execution = engine.test(campaign)
        started, cpu = time.perf_counter(), cpu_seconds()
        execution = engine.run(execution.id)
        run_seconds, run_cpu = time.perf_counter() - started, cpu_seconds() - cpu
        report = execution_report(engine, execution)
        if report["status"] != "completed":
            failed = [t for t in report["tasks"] if t["status"] == "failed"]
            raise BenchmarkError(f"execution {execution.id} is {report['status']}: {failed}")
        seconds = {t["activity"]: float(t["seconds"] or 0.0) for t in report["tasks"]}
        outputs = {
            (o.activity_id, o.output): (o.table_name, o.row_count)
            for o in engine.store.outputs(execution.id)
        }
    finally:
        engine.close()
    return PartitaRun(run_seconds, run_cpu, seconds, outputs)


@dataclass
class HandRun:
    """The hand-written steps: seconds per activity, rows per output."""

    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    cpu: float = 0.0  # CPU seconds of every step, all threads


def run_hand(root: Path, csv: Path) -> HandRun:
    """Every step plus a count, timed one by one."""
    con = _connect(root / HAND_FILE, root / SHOP_FILE, "shop")
    result = HandRun()
    try:
        con.execute("CREATE SCHEMA hand")
        con.execute(SEEDED_RANK_SQL)
        for step in hand_steps(csv):
            started, cpu = time.perf_counter(), cpu_seconds()
            for sql in step.sql:
                con.execute(sql).fetchall()
            row = con.execute(f"SELECT count(*) FROM {step.table}").fetchone()
            result.counts[(step.activity, step.output)] = int(row[0]) if row else -1
            result.seconds[step.activity] = time.perf_counter() - started
            result.cpu += cpu_seconds() - cpu
    finally:
        con.close()
    return result


def verify(root: Path, project: Path, partita: PartitaRun, hand: HandRun) -> list[str]:
    """Counts, key sets and full rows; raises :class:`BenchmarkError`; returns notes."""
    problems: list[str] = []
    notes: list[str] = []
    con = duckdb.connect(str(root / HAND_FILE))
    try:
        con.execute(f"ATTACH '{project / '.partita' / 'work.duckdb'}' AS pw (READ_ONLY)")
        for (activity, output), rows in hand.counts.items():
            if (activity, output) not in partita.outputs:
                problems.append(f"{activity}.{output}: Partita produced no working table")
                continue
            table, partita_rows = partita.outputs[(activity, output)]
            ours, theirs = f"hand.{activity}__{output}", f"pw.partita_work.{table}"
            mine = [r[0] for r in con.execute(f"DESCRIBE {ours}").fetchall()]
            other = {r[0] for r in con.execute(f"DESCRIBE {theirs}").fetchall()}
            common = [c for c in mine if c in other]
            key = KEYS[(activity, output)]
            if key not in common:
                problems.append(f"{activity}.{output}: Partita's table has no column {key}")
                continue
            cols = ", ".join(f'"{c}"' for c in common)
            row = con.execute(
                f"""SELECT
                (SELECT count(*) FROM (SELECT {cols} FROM {ours} EXCEPT SELECT {cols} FROM {theirs})),
                (SELECT count(*) FROM (SELECT {cols} FROM {theirs} EXCEPT SELECT {cols} FROM {ours})),
                (SELECT count(*) FROM (SELECT {key} FROM {ours} EXCEPT SELECT {key} FROM {theirs})),
                (SELECT sum(hash({cols})) FROM {ours}) = (SELECT sum(hash({cols})) FROM {theirs})"""
            ).fetchone()
            assert row is not None
            only_hand, only_partita, keys_only_hand, same_hash = row
            if rows != partita_rows or only_hand or only_partita or keys_only_hand or not same_hash:
                problems.append(
                    f"{activity}.{output}: hand {rows:,} rows, Partita {partita_rows:,}; "
                    f"{only_hand:,} rows only in hand, {only_partita:,} only in Partita, "
                    f"{keys_only_hand:,} keys only in hand (columns compared: {cols})"
                )
            missing = [c for c in mine if c not in other]
            if missing:
                problems.append(f"{activity}.{output}: Partita lacks columns {missing}")
            notes.append(f"{activity}.{output}: {rows:,} rows equal on {len(common)} columns")
    finally:
        con.close()
    if problems:
        raise BenchmarkError("results differ:\n  " + "\n  ".join(problems))
    return notes


# -- report ---------------------------------------------------------------------------------------

ACTIVITIES = (
    ("everyone", "build_audience"),
    ("enrich", "enrichment"),
    ("load", "load_file"),
    ("reco", "reconciliation"),
)


def render(partitas: Sequence[PartitaRun], hands: Sequence[HandRun]) -> str:
    """Best of repeats per activity, as Markdown."""
    lines = [
        "| activity | kind | rows out | Partita s | hand SQL s | ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    totals = [0.0, 0.0]
    for activity, kind in ACTIVITIES:
        p = min(r.seconds[activity] for r in partitas)
        h = min(r.seconds[activity] for r in hands)
        totals[0] += p
        totals[1] += h
        rows = partitas[0].outputs[(activity, "out")][1]
        lines.append(f"| {activity} | {kind} | {rows:,} | {p:.3f} | {h:.3f} | {p / h:.2f} |")
    for label, names in (
        ("everyone + enrich", ("everyone", "enrich")),
        ("load + reco", ("load", "reco")),
    ):
        p = sum(min(r.seconds[a] for r in partitas) for a in names)
        h = sum(min(r.seconds[a] for r in hands) for a in names)
        lines.append(f"| **{label}** | | | **{p:.3f}** | **{h:.3f}** | **{p / h:.2f}** |")
    lines.append(
        f"| **sum of tasks** | | | **{totals[0]:.3f}** | **{totals[1]:.3f}** "
        f"| **{totals[0] / totals[1]:.2f}** |"
    )
    run = min(r.run_seconds for r in partitas)
    lines.append(
        f"| **engine.run() wall** | | | **{run:.3f}** | **{totals[1]:.3f}** "
        f"| **{run / totals[1]:.2f}** |"
    )
    cpu, hand_cpu = min(r.run_cpu for r in partitas), min(r.cpu for r in hands)
    lines.append(
        f"| **CPU seconds, all threads** | | | **{cpu:.3f}** | **{hand_cpu:.3f}** "
        f"| **{cpu / hand_cpu:.2f}** |"
    )
    ratio = run / totals[1]
    lines += [
        "",
        f"- total ratio, engine.run() wall / hand-written SQL: **{ratio:.3f}** "
        f"(goal <= {GOAL_RATIO:.2f}: {'met' if ratio <= GOAL_RATIO else 'NOT met'})",
    ]
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = shop_parser(
        __doc__.split("\n\n")[0], 1_000_000, "keep the project state and work file"
    )
    return checked(parser, argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 1 when the results of the two sides differ."""
    args = parse_args(argv)
    root = (args.dir / str(args.customers)).resolve()
    project = root / PROJECT
    info = prepare(root, args.customers, args.regenerate)
    rows = info["rows"]
    print(
        f"shop: {rows['customers']:,} customers, {rows['purchases']:,} purchases "
        f"({root / SHOP_FILE})"
    )
    print(f"machine: {machine()}")
    print(f"partita: {source_version()}")
    csv, known = write_csv(root)
    print(f"page cache warmed in {warm_page_cache(root / SHOP_FILE):.1f} s")
    warm_page_cache(csv)
    partitas: list[PartitaRun] = []
    hands: list[HandRun] = []
    notes: list[str] = []
    try:
        for index in range(args.repeat):
            if args.wait_quiet:
                wait_until_quiet(args.wait_quiet)
            stall, started = cpu_stall(), time.perf_counter()
            if index % 2 == 0:
                partita, hand = run_partita(project, csv), run_hand(root, csv)
            else:
                hand = run_hand(root, csv)
                partita = run_partita(project, csv)
            notes = verify(root, project, partita, hand)
            after = cpu_stall()
            busy = ""
            if stall is not None and after is not None:
                busy = f"; CPU pressure {(after - stall) / (time.perf_counter() - started):.0%}"
            partitas.append(partita)
            hands.append(hand)
            order = "Partita first" if index % 2 == 0 else "SQL first"
            print(
                f"repeat {index + 1} ({order}): engine.run() {partita.run_seconds:.3f} s, "
                f"hand SQL {sum(hand.seconds.values()):.3f} s (CPU {partita.run_cpu:.1f} s and "
                f"{hand.cpu:.1f} s); results identical{busy}",
                flush=True,
            )
    except BenchmarkError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(project / ".partita", ignore_errors=True)
            for path in (root / HAND_FILE, root / f"{HAND_FILE}.wal"):
                path.unlink(missing_ok=True)
    print()
    print(
        f"best of {len(partitas)} repeat(s), {rows['customers']:,} customers / "
        f"{rows['purchases']:,} purchases; file of {CSV_ROWS:,} rows, {known:,} of customers:"
    )
    print()
    print(render(partitas, hands))
    print()
    print("checked: " + "; ".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
