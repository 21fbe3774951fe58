"""The Typer app, its global options, and what every command shares."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from partita.cli.output import errors, print_error, print_problems
from partita.engine import Engine
from partita.model.campaign import Campaign, locate_problems, read_campaign_file
from partita.model.problems import InvalidInput, PartitaError
from partita.model.project import load_project
from partita.model.states import ExecutionStatus, TaskStatus
from partita.model.yamlio import Document
from partita.store import TaskRecord

app = typer.Typer(
    name="partita",
    help="Orchestrated, multi-step marketing campaigns that run inside your warehouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

_state: dict[str, Any] = {"project": None}

#: Exit codes of commands that end with an execution's status (``--wait``). 1 is bad input or a
#: refused action, 2 a mistyped command or option (the usual code for usage errors).
EXIT_CODES = {
    ExecutionStatus.COMPLETED: 0,
    ExecutionStatus.FAILED: 3,
    ExecutionStatus.PAUSED: 4,
    ExecutionStatus.STOPPED: 5,
    ExecutionStatus.RUNNING: 6,
}

JsonOption = typer.Option(False, "--json", help="Machine-readable output.")


@app.callback()
def _global(
    project: Path | None = typer.Option(
        None,
        "--project",
        "-p",
        help="Project folder (default: the current folder).",
        file_okay=False,
    ),
) -> None:
    _state["project"] = project


F = TypeVar("F", bound=Callable[..., Any])


def handled(function: F) -> F:
    """Turn user errors into a clear message and exit code 1 (JSON with ``--json``)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return function(*args, **kwargs)
        except InvalidInput as exc:
            print_problems(exc, as_json)
            raise typer.Exit(1) from None
        except PartitaError as exc:
            print_error(str(exc), as_json)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def project_dir() -> Path | None:
    """The ``--project`` folder, if given."""
    folder: Path | None = _state["project"]
    return folder


@contextmanager
def engine(progress: bool = False, total: int = 0) -> Iterator[Engine]:
    """An engine on the project; with ``progress``, a bar on stderr while tasks run."""
    project = load_project(project_dir())
    if progress and sys.stderr.isatty():
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=errors,
            transient=True,
        ) as bar:
            job = bar.add_task("running", total=total or None)

            def advance(task: TaskRecord) -> None:
                finished = task.status not in (TaskStatus.PENDING, TaskStatus.RUNNING)
                bar.update(
                    job,
                    advance=1 if finished else 0,
                    description=f"{task.activity_id}: {task.status.value}",
                )

            instance = Engine(project, progress=advance)
            try:
                yield instance
            finally:
                instance.close()
        return
    instance = Engine(project)
    try:
        yield instance
    finally:
        instance.close()


@dataclass
class Definition:
    """A campaign to act on, and the file it came from (to place problems at its lines)."""

    campaign: Campaign
    source: str | None = None
    document: Document | None = None

    @contextmanager
    def placed(self) -> Iterator[None]:
        """Problems raised inside point at lines of the campaign file."""
        try:
            yield
        except InvalidInput as exc:
            if self.document is None:
                raise
            raise InvalidInput(
                locate_problems(exc.problems, self.document), subject=exc.subject
            ) from None


def load_definition(engine_: Engine, reference: str) -> Definition:
    """A campaign from a file path, or the newest version of a stored campaign."""
    path = Path(reference)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        if not path.exists():
            raise PartitaError(f"campaign file {reference} does not exist")
        campaign, document = read_campaign_file(path)
        return Definition(campaign, str(path), document)
    record = engine_.campaign_record(reference)
    return Definition(engine_.definition(record.id, record.latest_version))


def parse_assignments(values: list[str]) -> dict[str, str]:
    """``--var name=value`` options as a mapping."""
    result: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise PartitaError(f"--var expects name=value, got '{item}'")
        result[name.strip()] = value
    return result
