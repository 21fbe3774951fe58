"""Commands on campaign definitions: validate, test, start, schema, list and lifecycle moves."""

from __future__ import annotations

from pathlib import Path

import typer

from partita.cli.base import (
    EXIT_CODES,
    JsonOption,
    app,
    engine,
    handled,
    load_definition,
    parse_assignments,
)
from partita.cli.output import console, print_json, styled, table
from partita.cli.views import show_execution
from partita.engine.reports import execution_report
from partita.model.campaign import Campaign, load_campaign
from partita.model.states import CampaignStatus

CampaignArg = typer.Argument(..., help="A campaign file, or the name of a stored campaign.")
VarOption = typer.Option([], "--var", help="A variable value, name=value (repeatable).")
WaitOption = typer.Option(
    False,
    "--wait",
    help="Block until the execution ends; the exit code "
    "says how (0 completed, 3 failed, 4 paused, 5 stopped).",
)


@app.command()
@handled
def validate(campaign: str = CampaignArg, as_json: bool = JsonOption) -> None:
    """Check a campaign definition; exit 1 listing every problem."""
    with engine() as e:
        loaded = load_definition(e, campaign)
        definition = loaded.campaign
        with loaded.placed():
            flow = e.validate(definition)
    if as_json:
        print_json(
            {
                "valid": True,
                "campaign": definition.name,
                "activities": len(definition.activities),
                "transitions": len(definition.transitions),
                "order": flow.order,
            }
        )
        return
    console.print(
        f"campaign [bold]{definition.name}[/] is valid: {len(definition.activities)} "
        f"activities, {len(definition.transitions)} transitions"
    )


def _launch(kind: str, campaign: str, variables: list[str], wait: bool, as_json: bool) -> None:
    with engine(progress=not as_json) as e:
        loaded = load_definition(e, campaign)
        values = parse_assignments(variables)
        launch = e.test if kind == "test" else e.start
        with loaded.placed():
            execution = launch(loaded.campaign, values, source=loaded.source)
        execution = e.run(execution.id, wait=wait)
        report = execution_report(e, execution)
    if as_json:
        print_json(report)
    else:
        show_execution(report)
        if execution.status.value == "failed":
            console.print(f"see [bold]partita logs {execution.id}[/] for the error")
    if wait or execution.status.value in ("failed", "stopped"):
        raise typer.Exit(EXIT_CODES[execution.status])


@app.command()
@handled
def test(
    campaign: str = CampaignArg,
    variables: list[str] = VarOption,
    wait: bool = WaitOption,
    as_json: bool = JsonOption,
) -> None:
    """Dry run: every activity runs, nothing is sent or written back."""
    _launch("test", campaign, variables, wait, as_json)


@app.command()
@handled
def start(
    campaign: str = CampaignArg,
    variables: list[str] = VarOption,
    wait: bool = WaitOption,
    as_json: bool = JsonOption,
) -> None:
    """Publish the campaign and start a live execution."""
    _launch("start", campaign, variables, wait, as_json)


@app.command()
@handled
def schema(as_json: bool = typer.Option(True, "--json", hidden=True)) -> None:
    """Print the JSON Schema of campaign files (the canvas builds its forms from it)."""
    print_json(Campaign.model_json_schema(by_alias=True))


@app.command()
@handled
def campaigns(
    show_all: bool = typer.Option(False, "--all", help="Include archived campaigns."),
    status: CampaignStatus | None = typer.Option(None, "--status", help="Only this status."),
    as_json: bool = JsonOption,
) -> None:
    """List stored campaigns with their status."""
    with engine() as e:
        rows = []
        for record in e.store.campaigns():
            current = e.status_of(record)
            if current == CampaignStatus.ARCHIVED and not show_all and status is None:
                continue
            if status is not None and current != status:
                continue
            executions = e.store.executions(record.id)
            rows.append(
                {
                    "name": record.name,
                    "label": record.label,
                    "status": current.value,
                    "latest_version": record.latest_version,
                    "published_version": record.published_version,
                    "last_execution": executions[0].id if executions else None,
                    "updated": record.updated_at.isoformat(timespec="seconds"),
                }
            )
    if as_json:
        print_json(rows)
        return
    console.print(
        table(
            None,
            ["campaign", "label", "status", "version", "published", "last execution", "updated"],
            [
                (
                    r["name"],
                    r["label"],
                    styled(str(r["status"])),
                    r["latest_version"],
                    r["published_version"],
                    r["last_execution"],
                    r["updated"],
                )
                for r in rows
            ],
        )
    )


@app.command("back-to-draft")
@handled
def back_to_draft(
    name: str = typer.Argument(..., help="Stored campaign name."), as_json: bool = JsonOption
) -> None:
    """Unpublish a failed or scheduled campaign."""
    with engine() as e:
        record = e.back_to_draft(name)
        status = e.status_of(record)
    _report_campaign(record.name, status, as_json)


@app.command()
@handled
def duplicate(
    name: str = typer.Argument(..., help="Stored campaign name."),
    new_name: str = typer.Argument(..., help="Name of the copy."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also write the copy to this file."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Copy a campaign's definition into a new draft."""
    with engine() as e:
        record = e.duplicate(name, new_name)
        if output is not None:
            copy = e.definition(record.id, record.latest_version)
            output.write_text(copy.to_json() if output.suffix == ".json" else copy.to_yaml())
        status = e.status_of(record)
    _report_campaign(record.name, status, as_json)


@app.command()
@handled
def archive(
    name: str = typer.Argument(..., help="Stored campaign name."), as_json: bool = JsonOption
) -> None:
    """Hide a completed or stopped campaign from the default list."""
    with engine() as e:
        record = e.archive(name)
        status = e.status_of(record)
    _report_campaign(record.name, status, as_json)


def _report_campaign(name: str, status: CampaignStatus, as_json: bool) -> None:
    if as_json:
        print_json({"campaign": name, "status": status.value})
    else:
        console.print(f"campaign [bold]{name}[/] is {styled(status.value)}")


@app.command("format")
@handled
def format_campaign(
    path: Path = typer.Argument(..., exists=True, dir_okay=False),
    to_json: bool = typer.Option(False, "--to-json", help="Print JSON instead."),
) -> None:
    """Print a campaign file in canonical form (YAML, or JSON with --to-json)."""
    campaign = load_campaign(path)
    text = campaign.to_json() if to_json else campaign.to_yaml()
    typer.echo(text.rstrip("\n"))
