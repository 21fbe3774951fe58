"""Delivery benchmark: one email campaign through the engine, live, to the file outbox or SMTP.

A realistic HTML email (~14 KB: a header, a greeting, a conditional block for gold and platinum
customers, a grid of products, a footer) with five personalized fields (first name, last name,
city, country, loyalty tier) goes to every customer of the demo shop who has an e-mail address
(category ``transactional``: no consent needed), through the real engine: exclusions in the
warehouse, the ledger in the SQLite state store, rendering, MIME, and the provider.

Three measures:

- **Liquid** alone: the subject, HTML and text templates rendered for the first rows of the
  shop, on one core (no MIME, no ledger);
- **MIME** alone: the same messages as bytes (``mime_bytes``, what the providers send);
- **end to end**: ``engine.start()`` + ``engine.run()`` of the campaign, in a fresh process
  (started with ``python -c``, as a user's ``partita start`` would be: nothing of this
  benchmark is in its memory, and its worker processes import only what they need); the email
  task's time from the state store, messages per second, the peak RSS of that process and of
  its worker processes. The number of ``.eml`` files in the outbox (or of messages the SMTP
  server received) must equal the ledger's ``sent`` count, or the run fails.

With ``--smtp`` the messages go to an aiosmtpd server in a separate process on loopback that
counts what it receives and drops it.

Goals (2 cores): >= 3,000 messages/s end to end to the outbox, Liquid >= 20,000 messages/s per
core, peak RSS < 500 MB and about the same at 100k and 1M recipients.

With ``--memory-steps`` the sending process also lists the steps of the channel activity that
raised its peak RSS (the peak read before and after each warehouse step), to see where the
memory of a large send goes. With ``--postgres SERVER`` the warehouse is a copy of the shop
on PostgreSQL, in its own process: the sending process's peak is then Partita's alone.

    python bench/delivery.py [--customers 100000] [--smtp] [--batch-size 1000] [--keep]
        [--memory-limit 100MB | --postgres postgres://postgres@127.0.0.1:5432] [--memory-steps]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import functools
import json
import multiprocessing
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.targeting import SHOP_FILE, cpu_stall, machine, prepare_shop, source_version

from partita.channels import EmailMessage, compile_template, html_to_text, mime_bytes
from partita.engine import Engine
from partita.engine.reports import execution_report
from partita.examples.shop import write_project
from partita.model.campaign import parse_campaign
from partita.model.project import load_project
from partita.model.states import DeliveryState, ExecutionStatus

GOAL_END_TO_END = 3_000.0  # messages per second to the outbox
GOAL_LIQUID = 20_000.0  # messages per second per core, rendering alone
GOAL_RSS_MB = 500.0
PROJECT = "delivery"  # sub-folder of DIR/N with this benchmark's partita.yaml, state and outbox
OUTBOX = "outbox"
SENDER = "Shop <news@shop.example>"
ALONE_ROWS = 20_000  # rows for the Liquid-alone and MIME-alone measures
PERSONAL = ("first_name", "last_name", "city", "country", "loyalty_tier")

SUBJECT = "{{ first_name }}, new arrivals picked for {{ city }}"

_PRODUCT = """\
      <td class="product" style="width:33%;padding:12px;vertical-align:top;text-align:center;\
font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#333333;">
        <a href="https://shop.example/p/{n}?utm_source=newsletter&amp;utm_medium=email&amp;\
utm_campaign=spring" style="color:#333333;text-decoration:none;">
          <img src="https://cdn.shop.example/img/p{n}.jpg" width="160" height="160" \
alt="Product {n}" style="display:block;margin:0 auto 8px auto;border:0;">
          <strong>Spring collection item {n}</strong><br>
          Light, durable and made to last: our customers' favourite this season.<br>
          <span style="color:#c0392b;font-weight:bold;">{price} EUR</span>
        </a>
      </td>
"""


def _products() -> str:
    rows = []
    for row in range(6):
        cells = "".join(
            _PRODUCT.format(n=3 * row + i + 1, price=f"{19 + 7 * (3 * row + i)}.90")
            for i in range(3)
        )
        rows.append(f"    <tr>\n{cells}    </tr>\n")
    return "".join(rows)


HTML = (
    """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>New arrivals</title>
<style>
  body { margin: 0; padding: 0; background: #f4f4f4; }
  .wrapper { width: 100%; background: #f4f4f4; }
  .content { width: 600px; margin: 0 auto; background: #ffffff; }
  .product img { border-radius: 4px; }
  @media only screen and (max-width: 620px) {
    .content { width: 100% !important; }
    .product { display: block !important; width: 100% !important; }
  }
</style>
</head>
<body>
<table class="wrapper" role="presentation" cellpadding="0" cellspacing="0" width="100%">
<tr><td>
  <table class="content" role="presentation" cellpadding="0" cellspacing="0" width="600">
    <tr><td style="padding:24px;text-align:center;background:#2c3e50;">
      <a href="https://shop.example/?utm_source=newsletter"><img \
src="https://cdn.shop.example/img/logo.png" width="180" height="48" alt="Shop" \
style="border:0;"></a>
    </td></tr>
    <tr><td style="padding:24px;font-family:Helvetica,Arial,sans-serif;font-size:16px;\
line-height:24px;color:#333333;">
      <h1 style="font-size:24px;margin:0 0 16px 0;">Hello {{ first_name }} {{ last_name }},</h1>
      <p>Spring is here, and so are our new arrivals. We picked these for you and for everyone
      in {{ city }} ({{ country }}): free delivery to your door, and returns within 30 days.</p>
      {% if loyalty_tier == "gold" or loyalty_tier == "platinum" %}
      <table role="presentation" width="100%" style="background:#fdf2d0;border-radius:6px;">
        <tr><td style="padding:16px;">
          <p style="margin:0;"><strong>As a {{ loyalty_tier }} member</strong>, you get early
          access to the whole collection and 15% off with the code SPRING15 until Sunday.</p>
          <p style="margin:8px 0 0 0;"><a href="https://shop.example/members/early-access"
          style="color:#b9770e;">Open your member space</a></p>
        </td></tr>
      </table>
      {% else %}
      <p>Join our loyalty programme to get early access to the next collections:
      <a href="https://shop.example/loyalty">see how it works</a>.</p>
      {% endif %}
    </td></tr>
    <tr><td>
  <table role="presentation" cellpadding="0" cellspacing="0" width="100%">
"""
    + _products()
    + """\
  </table>
    </td></tr>
    <tr><td style="padding:24px;font-family:Helvetica,Arial,sans-serif;font-size:12px;\
line-height:18px;color:#777777;text-align:center;background:#eeeeee;">
      <p>You receive this email because you have an account at Shop. Shop SAS, 12 rue des
      Fleurs, 75011 Paris, France. Delivery {{ delivery_id }}.</p>
      <p><a href="https://shop.example/account/preferences" style="color:#777777;">Email
      preferences</a> &middot; <a href="https://shop.example/privacy"
      style="color:#777777;">Privacy policy</a></p>
    </td></tr>
  </table>
</td></tr>
</table>
</body>
</html>
"""
)


def campaign_yaml(provider: str, batch_size: int) -> str:
    """The campaign: everyone -> one email activity."""
    html = "\n".join("      " + line if line else "" for line in HTML.splitlines())
    return f"""
name: bench-delivery
label: Delivery benchmark
dimension: customers
activities:
  - {{id: everyone, type: build_audience}}
  - id: mail
    type: email
    category: transactional
    provider: {provider}
    batch_size: {batch_size}
    subject: "{SUBJECT}"
    html: |
{html}
transitions:
  - {{from: everyone, to: mail}}
"""


# -- the project ----------------------------------------------------------------------------------


def write_bench_project(
    root: Path, smtp_port: int | None, memory_limit: str | None = None, warehouse: str | None = None
) -> Path:
    """``DIR/N/delivery/partita.yaml`` on the shop, with an outbox and an SMTP entry, and
    DuckDB's ``memory_limit`` when given; on the ``warehouse`` URL instead when given."""
    project = root / PROJECT
    database = f"../{SHOP_FILE}" + (f"?memory_limit={memory_limit}" if memory_limit else "")
    path = write_project(project, database=database)
    if warehouse is not None:
        text = re.sub(r"(?m)^warehouse: .*$", f'warehouse: "{warehouse}"', path.read_text("utf-8"))
        path.write_text(text, encoding="utf-8")
    smtp = "127.0.0.1" if smtp_port is None else f"127.0.0.1, port: {smtp_port}"
    channels = (
        "channels:\n"
        f'  bench_outbox: {{provider: outbox, folder: {OUTBOX}, sender: "{SENDER}"}}\n'
        f'  bench_smtp: {{provider: smtp, host: {smtp}, security: none, sender: "{SENDER}"}}\n'
    )
    text = re.sub(r"(?ms)^channels:\n(?:  .*\n)+", channels, path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    return project


def postgres_shop(server: str, root: Path, customers: int) -> str:
    """The URL of a copy of the shop in PostgreSQL database ``partita_bench_<customers>`` on
    ``server`` (made the first time, C collation; reused while it holds the shop's customers);
    its working schema is emptied, so that every run starts from the same state."""
    import psycopg

    from partita.examples.shop import copy_to_postgres

    database = f"partita_bench_{customers}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database]
        ).fetchone()
        if exists is None:
            admin.execute(
                f"CREATE DATABASE {database} TEMPLATE template0 ENCODING 'UTF8' "
                "LC_COLLATE 'C' LC_CTYPE 'C'"
            )
    with psycopg.connect(f"{server}/{database}", autocommit=True) as con:
        found = con.execute("SELECT to_regclass('public.customers') IS NOT NULL").fetchone()
        if found is not None and found[0]:
            count = con.execute("SELECT count(*) FROM customers").fetchone()
            if count is None or count[0] != customers:
                raise SystemExit(f"database {database} holds another shop: drop it first")
            print(f"reusing the shop in PostgreSQL database {database}")
        else:
            print(f"copying the shop into PostgreSQL database {database}", flush=True)
            copy_to_postgres(root / SHOP_FILE, con)
        con.execute("DROP SCHEMA IF EXISTS partita_work CASCADE")
    return f"{server}/{database}"


def clean(project: Path) -> None:
    """Remove the state, work files and outbox of an earlier run, and flush the disk's
    writes (an earlier run's files being written back would slow this one's)."""
    for name in (".partita", OUTBOX):
        shutil.rmtree(project / name, ignore_errors=True)
    os.sync()


# -- the SMTP server (its own process) ------------------------------------------------------------


def _serve_smtp(port: int, count: Any, ready: Any) -> None:
    """aiosmtpd on loopback; counts the messages it accepts in ``count`` and drops them."""
    import asyncio

    from aiosmtpd.controller import Controller

    class Counter:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with count.get_lock():
                count.value += 1
            return "250 OK"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(3600 * 24))
    finally:
        controller.stop()


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- measures -------------------------------------------------------------------------------------


def sample_rows(root: Path, rows: int) -> list[dict[str, Any]]:
    """The first ``rows`` customers with an e-mail address, as the activity sees them."""
    con = duckdb.connect(str(root / SHOP_FILE), read_only=True)
    try:
        table = con.execute(
            f"SELECT * FROM customers WHERE email IS NOT NULL ORDER BY id LIMIT {rows}"
        ).to_arrow_table()
    finally:
        con.close()
    found = table.to_pylist()
    for row in found:
        row["delivery_id"] = f"1-mail-{row['id']}"
        row["unsubscribe_url"] = ""
        row["vars"] = {}
    return found


@dataclass
class Alone:
    """Liquid and MIME measured alone on the same rows, one core."""

    rows: int
    liquid_seconds: float
    mime_seconds: float
    html_bytes: int
    message_bytes: int

    @property
    def liquid_rate(self) -> float:
        return self.rows / self.liquid_seconds

    @property
    def mime_rate(self) -> float:
        return self.rows / self.mime_seconds


def measure_alone(rows: list[dict[str, Any]]) -> Alone:
    """Render the three templates for every row and build its MIME bytes, timing each step
    (one message at a time: nothing is kept)."""
    subject = compile_template(SUBJECT, "subject")
    html = compile_template(HTML, "html")
    text = compile_template(html_to_text(HTML), "text")
    liquid = mime = 0.0
    html_bytes = message_bytes = 0
    clock = time.perf_counter
    for row in rows:
        started = clock()
        rendered = (subject.render(row), html.render(row), text.render(row))
        between = clock()
        message = EmailMessage(
            to=row["email"],
            from_=SENDER,
            subject=rendered[0],
            html=rendered[1],
            text=rendered[2],
            idempotency_key=row["delivery_id"],
        )
        data, _ = mime_bytes(message)
        ended = clock()
        liquid += between - started
        mime += ended - between
        html_bytes += len(rendered[1])
        message_bytes += len(data)
    return Alone(len(rows), liquid, mime, html_bytes // len(rows), message_bytes // len(rows))


@dataclass
class EndToEnd:
    """One live execution of the campaign."""

    provider: str
    sent: int
    delivered: int  # files in the outbox, or messages the SMTP server received
    excluded: int
    start_seconds: float
    run_seconds: float
    mail_seconds: float
    peak_rss_mb: float  # this process (getrusage)
    workers_rss_mb: float  # the channel's worker processes together (sampled)
    total_rss_mb: float  # this process and the workers together (sampled)
    pressure: float | None
    cpu_seconds: float  # CPU time of this process (user + system), the whole run
    workers_cpu_seconds: float  # CPU time of the worker processes, together
    #: With ``--memory-steps``: [step, peak MB before, peak MB after, seconds] of every step
    #: that raised the process's peak RSS, in order.
    peak_steps: list[list[Any]] = dataclasses.field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sent / self.mail_seconds


def _status_mb(pid: int | str, field: str) -> float | None:
    """A memory field of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``) in MB; None when the
    process or the field is not there."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def _rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS") or 0.0


def _children() -> list[int]:
    """This process's children, from ``/proc/self/task/*/children`` (scanning every process
    of ``/proc`` five times a second cost the measured process seconds of CPU)."""
    found: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        try:
            found += [int(pid) for pid in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


class RssSampler(threading.Thread):
    """Samples the resident memory of this process and of its children (the channel's worker
    processes) every 0.2 s; keeps the peaks."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_total = 0.0
        self.peak_children = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            children = sum(_rss_mb(pid) for pid in _children())
            self.peak_children = max(self.peak_children, children)
            self.peak_total = max(self.peak_total, _rss_mb(os.getpid()) + children)

    def stop(self) -> None:
        self.done.set()
        self.join()


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """The peak resident set size of this process, in MB: ``VmHWM`` of ``/proc/self/status``,
    the peak of this process's own memory. (getrusage's ``ru_maxrss`` survives ``exec``: a
    process started by ``subprocess`` reports its parent's peak when that is higher. Here the
    parent had measured Liquid and MIME alone on the 1M shop: 467 MB.) getrusage where there
    is no ``/proc``."""
    peak = _status_mb("self", "VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StepPeaks:
    """Records which warehouse steps of a send raise the process's peak RSS: each watched
    function is wrapped to read the peak (:func:`peak_rss_mb`) before and after its call. The peak
    never goes down, so a rise belongs to the step that caused it, however brief."""

    def __init__(self) -> None:
        self.steps: list[list[Any]] = []

    def watch(self, owner: Any, name: str, label: str) -> None:
        """Wrap ``owner.name``; a materialize is labelled with the table it creates."""
        original: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(original)
        def watched(*args: Any, **kwargs: Any) -> Any:
            before, started = peak_rss_mb(), time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                after = peak_rss_mb()
                if after >= before + 1:
                    table = f" {args[1]}" if name == "materialize" else ""
                    seconds = round(time.perf_counter() - started, 2)
                    self.steps.append([label + table, round(before), round(after), seconds])

        setattr(owner, name, watched)

    def install(self) -> None:
        """Watch the steps of a channel activity that read or write the whole audience."""
        from partita.activities import channel
        from partita.channels._history import DeliveryHistory
        from partita.warehouse.connection import Warehouse

        self.watch(Warehouse, "materialize", "materialize")
        self.watch(channel, "count_reasons", "count the exclusions")
        self.watch(channel, "_send", "send")
        self.watch(DeliveryHistory, "stage", "stage the ledger rows")
        self.watch(DeliveryHistory, "record", "write the delivery-history mirror")
        self.watch(channel, "_outputs", "the outputs (out, excluded)")


def run_end_to_end(
    project: Path,
    provider: str,
    batch_size: int,
    profile: Path | None = None,
    memory_steps: bool = False,
) -> EndToEnd:
    """Start and run the campaign live on a project the caller has cleaned (under cProfile
    into ``profile`` if given; recording the steps that raise the peak RSS with
    ``memory_steps``); what was delivered to the outbox (0 for SMTP: the caller counts), to
    check against the ledger."""
    peaks = StepPeaks()
    if memory_steps:
        peaks.install()
    stall = cpu_stall()
    sampler = RssSampler()
    sampler.start()
    engine = Engine(load_project(project))
    try:
        campaign = parse_campaign(campaign_yaml(provider, batch_size))
        started = time.perf_counter()
        execution = engine.start(campaign)
        launched = time.perf_counter()
        if profile is None:
            execution = engine.run(execution.id)
        else:
            profiler = cProfile.Profile()
            execution = profiler.runcall(engine.run, execution.id)
            profiler.dump_stats(profile)
        ended = time.perf_counter()
        if execution.status != ExecutionStatus.COMPLETED:
            errors = [
                line.message
                for line in engine.store.logs(execution_id=execution.id)
                if line.level.value == "error"
            ]
            raise SystemExit(f"execution {execution.id} is {execution.status.value}: {errors}")
        report = execution_report(engine, execution)
        mail = [t for t in report["tasks"] if t["activity"] == "mail"][-1]
        summary = [
            line.details["excluded"]
            for line in engine.store.logs(execution_id=execution.id)
            if line.activity_id == "mail" and line.details and "excluded" in line.details
        ][-1]
        states: dict[str, int] = {}
        for _, state, _, number in engine.store.delivery_counts(execution.id, "mail"):
            states[state] = states.get(state, 0) + number
    finally:
        engine.close()
        sampler.stop()
    elapsed = ended - launched
    stalled = cpu_stall()
    pressure = None if stall is None or stalled is None else (stalled - stall) / (ended - started)
    delivered = 0
    if (project / OUTBOX).is_dir():
        delivered = sum(1 for entry in os.scandir(project / OUTBOX) if entry.name.endswith(".eml"))
    sent = states.get(DeliveryState.SENT.value, 0)
    return EndToEnd(
        provider=provider,
        sent=sent,
        delivered=delivered,
        excluded=sum(summary.values()),
        start_seconds=launched - started,
        run_seconds=elapsed,
        mail_seconds=float(mail["seconds"] or elapsed),
        peak_rss_mb=peak_rss_mb(),
        peak_steps=peaks.steps,
        workers_rss_mb=sampler.peak_children,
        total_rss_mb=sampler.peak_total,
        cpu_seconds=_cpu(resource.RUSAGE_SELF),
        workers_cpu_seconds=_cpu(resource.RUSAGE_CHILDREN),
        pressure=pressure,
    )


def run_in_fresh_process(
    project: Path, provider: str, batch_size: int, profile: Path | None, memory_steps: bool
) -> EndToEnd:
    """:func:`run_end_to_end` in a new interpreter started with ``python -c``."""
    profile_text = str(profile) if profile is not None else None
    code = (
        "import dataclasses, json, sys; from pathlib import Path; "
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r}); "
        "from bench.delivery import run_end_to_end; "
        f"profile = {profile_text!r}; "
        f"result = run_end_to_end(Path({str(project)!r}), {provider!r}, {batch_size!r}, "
        f"Path(profile) if profile else None, {memory_steps!r}); "
        "print(json.dumps(dataclasses.asdict(result)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the end-to-end run failed:\n{done.stderr}{done.stdout}")
    return EndToEnd(**json.loads(done.stdout.strip().splitlines()[-1]))


# -- main -----------------------------------------------------------------------------------------


def render(customers: int, alone: Alone, result: EndToEnd) -> str:
    """The results as a Markdown table."""
    busy = "" if result.pressure is None else f"{result.pressure:.0%}"
    lines = [
        f"{customers:,} customers; HTML {alone.html_bytes:,} bytes rendered, "
        f"message {alone.message_bytes:,} bytes as MIME; CPU pressure during the run {busy}",
        "",
        "| measure | messages | seconds | messages/s | goal |",
        "|---|---:|---:|---:|---|",
        f"| Liquid alone (subject, HTML, text), one core | {alone.rows:,} | "
        f"{alone.liquid_seconds:.2f} | {alone.liquid_rate:,.0f} | >= {GOAL_LIQUID:,.0f} |",
        f"| MIME alone (`mime_bytes`), one core | {alone.rows:,} | "
        f"{alone.mime_seconds:.2f} | {alone.mime_rate:,.0f} | - |",
        f"| email task end to end ({result.provider}) | {result.sent:,} | "
        f"{result.mail_seconds:.1f} | {result.rate:,.0f} | "
        + (f">= {GOAL_END_TO_END:,.0f} |" if result.provider == "bench_outbox" else "- |"),
        f"| `engine.run()` (audience + email) | {result.sent:,} | {result.run_seconds:.1f} | "
        f"{result.sent / result.run_seconds:,.0f} | - |",
        "",
        f"excluded (no address): {result.excluded:,}; peak RSS {result.peak_rss_mb:,.0f} MB "
        f"(goal < {GOAL_RSS_MB:,.0f}); with the worker processes {result.total_rss_mb:,.0f} MB "
        f"(workers {result.workers_rss_mb:,.0f} MB, sampled every 0.2 s); CPU seconds: "
        f"process {result.cpu_seconds:,.1f}, workers {result.workers_cpu_seconds:,.1f}",
    ]
    if result.peak_steps:
        lines += ["", "| step that raised the peak RSS | peak before | peak after | seconds |"]
        lines.append("|---|---:|---:|---:|")
        lines += [
            f"| {step} | {before} MB | {after} MB | {took} |"
            for step, before, after, took in result.peak_steps
        ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000, help="shop size")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(__file__).resolve().parent / "data",
        help="parent folder of the shops (one per size: DIR/<customers>)",
    )
    parser.add_argument("--smtp", action="store_true", help="send to a local SMTP server")
    parser.add_argument("--batch-size", type=int, default=1_000, help="the activity's batch_size")
    parser.add_argument("--keep", action="store_true", help="keep the state and the outbox")
    parser.add_argument(
        "--memory-limit", default=None, help="DuckDB's memory_limit for the run (e.g. 200MB)"
    )
    parser.add_argument(
        "--postgres",
        default=None,
        metavar="SERVER",
        help="the warehouse on PostgreSQL: the shop copied into database partita_bench_<N> on "
        "SERVER (e.g. postgres://postgres@127.0.0.1:5432)",
    )
    parser.add_argument("--regenerate", action="store_true", help="generate the shop again")
    parser.add_argument(
        "--memory-steps",
        action="store_true",
        help="list the warehouse steps that raised the sending process's peak RSS",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="write a cProfile of engine.run() to this file"
    )
    args = parser.parse_args(argv)
    if args.customers < 1 or not 1 <= args.batch_size <= 100_000:
        parser.error("--customers must be positive and --batch-size in 1..100000")
    if args.postgres is not None and args.memory_limit is not None:
        parser.error("--memory-limit is DuckDB's: it does not go with --postgres")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 1 when what was delivered differs from the ledger."""
    args = parse_args(argv)
    root = (args.dir / str(args.customers)).resolve()
    prepare_shop(root, args.customers, args.regenerate)
    print(f"machine: {machine()}")
    print(f"partita: {source_version()}")
    warehouse = None
    if args.postgres is not None:
        warehouse = postgres_shop(args.postgres, root, args.customers)
        print(f"warehouse: PostgreSQL, {warehouse}")
    else:
        print(f"DuckDB memory_limit: {args.memory_limit or 'DuckDB default (80% of RAM)'}")
    alone = measure_alone(sample_rows(root, min(ALONE_ROWS, args.customers)))
    print(f"Liquid alone: {alone.liquid_rate:,.0f} messages/s; MIME alone: {alone.mime_rate:,.0f}")
    server = None
    count = None
    port = None
    if args.smtp:
        context = multiprocessing.get_context("spawn")
        count = context.Value("q", 0)
        ready = context.Event()
        port = free_port()
        server = context.Process(target=_serve_smtp, args=(port, count, ready), daemon=True)
        server.start()
        if not ready.wait(30):
            raise SystemExit("the SMTP server did not start")
    project = write_bench_project(root, port, args.memory_limit, warehouse)
    # here, not in the measured process: deleting the million files an earlier run left takes
    # minutes and 160 MB of RSS (shutil.rmtree lists a folder's entries), none of it the send's
    clean(project)
    try:
        result = run_in_fresh_process(
            project,
            "bench_smtp" if args.smtp else "bench_outbox",
            args.batch_size,
            args.profile,
            args.memory_steps,
        )
        if count is not None:
            result = dataclasses.replace(result, delivered=int(count.value))
        print()
        print(render(args.customers, alone, result), flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.join()
        if not args.keep:
            clean(project)  # a million files take minutes to delete: after the figures
    if result.delivered != result.sent:
        what = "SMTP server received" if args.smtp else "outbox holds"
        print(
            f"FAILED: the {what} {result.delivered:,} messages, the ledger says "
            f"{result.sent:,} sent",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
