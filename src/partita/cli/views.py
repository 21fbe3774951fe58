"""Rich renderings of reports, shared by the commands that show them."""

from __future__ import annotations

from typing import Any

from partita.cli.output import console, number, styled, table


def show_execution(report: dict[str, Any]) -> None:
    """Header, transitions with their counts, and tasks of one execution."""
    console.print(
        f"campaign [bold]{report['campaign']}[/] · execution [bold]{report['execution']}[/] "
        f"({report['mode']}, version {report['version']}) · {styled(report['status'])}"
    )
    rows = []
    for transition in report["transitions"]:
        count = number(transition["count"]) if transition["state"] == "fired" else ""
        rows.append((transition["from"], transition["to"], count, styled(transition["state"])))
    console.print(table("Transitions", ["from", "to", "count", "state"], rows, numeric=["count"]))
    show_tasks(report["tasks"])


def show_tasks(tasks: list[dict[str, Any]]) -> None:
    """The tasks table."""
    rows = []
    for task in tasks:
        outputs = ", ".join(f"{k} {v:,}" for k, v in task["output_counts"].items())
        seconds = f"{task['seconds']:.2f}s" if task["seconds"] is not None else ""
        rows.append(
            (
                task["id"],
                task["activity"],
                task["attempt"],
                styled(task["status"]),
                number(task["input_count"]),
                outputs,
                seconds,
            )
        )
    console.print(
        table(
            "Tasks",
            ["task", "activity", "try", "status", "in", "out", "time"],
            rows,
            numeric=["task", "in", "time"],
        )
    )
    for task in tasks:
        if task["error"]:
            console.print(f"[red]task {task['id']} ({task['activity']}) failed:[/] {task['error']}")


def show_delivery_report(subject: str, result: dict[str, Any]) -> None:
    """The delivery report as tables (``partita report``, the demo's last words)."""
    rows = result["activities"]
    if not rows:
        console.print(f"Delivery report of {subject}: no channel activity sent anything yet")
        return
    columns = ["activity", "channel", "targeted", "excluded", "sent", "failed", "in doubt"]
    columns += ["bounced", "opened", "clicked", "unsubscribed"]
    console.print(
        table(
            f"Delivery report of {subject}",
            columns,
            [
                [r["activity"], r["channel"]]
                + [
                    number(r[k])
                    for k in ("targeted", "excluded", "sent", "failed", "in_doubt", "bounced")
                ]
                + [number(r[k]) for k in ("unique_opens", "unique_clicks", "unsubscribes")]
                for r in rows
            ],
            numeric=columns[2:],
        )
    )
    for r in rows:
        reasons = ", ".join(f"{k} {number(v)}" for k, v in r["excluded_by_reason"].items())
        rates = ", ".join(
            f"{name.replace('_', '-')} {value:.1%}"
            for name, value in r["rates"].items()
            if value is not None
        )
        console.print(
            f"{r['activity']}: excluded: {reasons or 'none'}"
            + (f"; rates: {rates}" if rates else ""),
            highlight=False,
        )
