"""Commands on executions: status, tasks, logs, inspect, and pause/resume/stop/restart/retry."""

from __future__ import annotations

import csv
import sys
import textwrap
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import typer
from rich.markup import escape

from partita.cli.base import EXIT_CODES, JsonOption, app, engine, handled
from partita.cli.output import console, print_json, styled, table
from partita.cli.views import show_execution, show_tasks
from partita.engine import Engine
from partita.engine.reports import execution_report, log_report
from partita.model.problems import PartitaError
from partita.model.states import LogLevel
from partita.store import ExecutionRecord

ExecutionArg = typer.Argument(..., help="An execution id (or a campaign name: its newest one).")


@app.command()
@handled
def status(
    target: str | None = typer.Argument(
        None, help="An execution id or a campaign name; none: every campaign."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Status, transitions with their counts, and tasks of an execution."""
    if target is None:
        from partita.cli.campaign_commands import campaigns

        campaigns(show_all=False, status=None, as_json=as_json)
        return
    with engine() as e:
        report = execution_report(e, e.execution(target))
    if as_json:
        print_json(report)
    else:
        show_execution(report)


@app.command()
@handled
def tasks(execution: str = ExecutionArg, as_json: bool = JsonOption) -> None:
    """The tasks of an execution: status, times, counts, errors."""
    with engine() as e:
        report = execution_report(e, e.execution(execution))
    if as_json:
        print_json(report["tasks"])
    else:
        show_tasks(report["tasks"])


@app.command()
@handled
def logs(
    execution: str = ExecutionArg,
    level: LogLevel = typer.Option(
        LogLevel.INFO,
        "--level",
        help="Lowest level shown (debug shows the SQL of each working table).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """The history of an execution: actions, task starts and ends, warnings, errors."""
    with engine() as e:
        record = e.execution(execution)
        lines = [log_report(line) for line in e.store.logs(execution_id=record.id, min_level=level)]
    if as_json:
        print_json(lines)
        return
    for line in lines:
        where = f" [{line['activity']}]" if line["activity"] else ""
        text = (
            escape(f"{line['at']} ")
            + f"{styled(line['level']):>7}"
            + escape(f"{where} {line['message']}")
        )
        console.print(text)
        if line["details"] and level == LogLevel.DEBUG:
            for key, value in line["details"].items():
                shown = textwrap.indent(str(value), "      ").lstrip()
                console.print(f"    {key}: {shown}", markup=False)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


@app.command()
@handled
def inspect(
    execution: str = ExecutionArg,
    output: str = typer.Argument(..., help="ACTIVITY or ACTIVITY.OUTPUT"),
    limit: int | None = typer.Option(
        None, "--limit", "-n", help="Rows shown (default 20; all rows with --csv)."
    ),
    show_schema: bool = typer.Option(False, "--schema", help="Columns and types only."),
    as_csv: bool = typer.Option(False, "--csv", help="Rows as CSV on stdout."),
    as_json: bool = JsonOption,
) -> None:
    """What a transition carried: the working table of an activity's output."""
    with engine() as e:
        ref = e.working_table(e.execution(execution), output)
        name = ref.output.table_name
        if show_schema:
            columns = e.warehouse.columns(name)
            if as_json:
                print_json(
                    [{"name": c.name, "type": c.engine_type, "kind": c.type.value} for c in columns]
                )
            else:
                console.print(
                    table(
                        f"{output} · {name} · {ref.output.row_count:,} rows",
                        ["column", "type"],
                        [(c.name, c.engine_type) for c in columns],
                    )
                )
            return
        if as_csv:
            _write_csv(e, name, ref.key, limit)
            return
        rows = e.warehouse.rows(name, [ref.key], limit if limit is not None else 20)
        records = rows.to_pylist()
    if as_json:
        print_json({"table": name, "count": ref.output.row_count, "rows": records})
        return
    console.print(
        table(
            f"{output} · {name} · {len(records):,} of {ref.output.row_count:,} rows",
            rows.column_names,
            [[_cell(r[c]) for c in rows.column_names] for r in records],
        )
    )


def _write_csv(e: Engine, name: str, key: str, limit: int | None) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if limit is not None:
        rows = e.warehouse.rows(name, [key], limit)
        writer.writerow(rows.column_names)
        for record in rows.to_pylist():
            writer.writerow([_cell(record[c]) for c in rows.column_names])
        return
    header_written = False
    for batch in e.warehouse.batches(name, [key]):
        if not header_written:
            writer.writerow(batch.schema.names)
            header_written = True
        for record in batch.to_pylist():
            writer.writerow([_cell(v) for v in record.values()])
    if not header_written:
        writer.writerow([c.name for c in e.warehouse.columns(name)])


def _after_action(
    e: Engine, execution: ExecutionRecord, verb: str, as_json: bool, run: bool
) -> None:
    if run:
        execution = e.run(execution.id)
    report = execution_report(e, execution)
    if as_json:
        print_json(report)
    else:
        console.print(f"execution [bold]{execution.id}[/] {verb}")
        show_execution(report)
    if run:
        raise typer.Exit(EXIT_CODES[execution.status])


def _execution_id(e: Engine, reference: str) -> int:
    return e.execution(reference).id


@app.command()
@handled
def pause(execution: str = ExecutionArg, as_json: bool = JsonOption) -> None:
    """Pause a running execution: no new task starts."""
    with engine() as e:
        _after_action(e, e.pause(_execution_id(e, execution)), "paused", as_json, run=False)


@app.command()
@handled
def resume(execution: str = ExecutionArg, as_json: bool = JsonOption) -> None:
    """Resume a paused or failed execution and run it; finished tasks are not redone."""
    with engine(progress=not as_json) as e:
        _after_action(e, e.resume(_execution_id(e, execution)), "resumed", as_json, run=True)


@app.command()
@handled
def stop(execution: str = ExecutionArg, as_json: bool = JsonOption) -> None:
    """Stop an execution for good."""
    with engine() as e:
        _after_action(e, e.stop(_execution_id(e, execution)), "stopped", as_json, run=False)


@app.command()
@handled
def restart(execution: str = ExecutionArg, as_json: bool = JsonOption) -> None:
    """Start a new execution of the same campaign from the start, and run it."""
    with engine(progress=not as_json) as e:
        _after_action(
            e, e.restart(_execution_id(e, execution)), "started (restart)", as_json, run=True
        )


@app.command()
@handled
def retry(
    task: int = typer.Argument(..., help="The id of a failed task."), as_json: bool = JsonOption
) -> None:
    """Run a failed task again (after fixing its cause), then the rest of the execution."""
    with engine(progress=not as_json) as e:
        try:
            execution = e.retry(task)
        except KeyError:
            raise PartitaError(f"no task {task}") from None
        _after_action(e, execution, f"retrying task {task}", as_json, run=True)
