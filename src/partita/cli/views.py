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
