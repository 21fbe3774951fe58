"""Commands that make projects: init (a new project) and demo (a sample shop and campaign)."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import typer

from partita.cli.base import JsonOption, app, handled
from partita.cli.output import console, errors, print_json
from partita.cli.views import show_delivery_report, show_execution
from partita.engine import Engine
from partita.engine.reports import delivery_report, execution_report
from partita.examples.shop import generate_shop, write_project
from partita.model.campaign import load_campaign
from partita.model.problems import PartitaError
from partita.model.project import PROJECT_FILE, load_project

DEMO_CAMPAIGN = "spring_promo.yaml"


def _copy_example_campaign(folder: Path) -> Path:
    target = folder / "campaigns" / DEMO_CAMPAIGN
    target.parent.mkdir(parents=True, exist_ok=True)
    source = resources.files("partita.examples").joinpath(DEMO_CAMPAIGN)
    target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def _say(message: str) -> None:
    errors.print(f"[dim]{message}[/]")


@app.command()
@handled
def init(
    folder: Path = typer.Argument(Path("."), help="Project folder (created if needed)."),
    customers: int = typer.Option(10_000, "--customers", help="Size of the sample shop database."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing project."),
) -> None:
    """Scaffold a project: partita.yaml, an example campaign, and a sample shop database."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / PROJECT_FILE).exists() and not force:
        raise PartitaError(f"{folder / PROJECT_FILE} exists already (use --force to overwrite)")
    generate_shop(folder / "shop.duckdb", customers=customers, progress=_say)
    write_project(folder)
    campaign = _copy_example_campaign(folder)
    console.print(
        f"project ready in [bold]{folder}[/]:\n"
        f"  {folder / PROJECT_FILE}   connection and data model\n"
        f"  {campaign}   an example campaign\n"
        f"  {folder / 'shop.duckdb'}   a sample shop ({customers:,} customers)\n"
        f"next: cd {folder} && partita validate {campaign.relative_to(folder)}"
    )


@app.command()
@handled
def demo(
    folder: Path = typer.Argument(Path("partita-demo"), help="Where the demo project goes."),
    customers: int = typer.Option(
        100_000, "--customers", min=1, max=10_000_000, help="Number of customers to generate."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Build a sample shop database and run an example campaign on it: its email and SMS
    go to files in the demo's outbox/ folder; ends with the delivery report."""
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in (".partita", "outbox"):  # a demo always starts afresh
        shutil.rmtree(folder / leftover, ignore_errors=True)
    _say(f"generating a shop with {customers:,} customers in {folder}/shop.duckdb")
    generate_shop(folder / "shop.duckdb", customers=customers, progress=_say)
    write_project(folder)
    campaign_file = _copy_example_campaign(folder)
    engine = Engine(load_project(folder))
    try:
        campaign = load_campaign(campaign_file)
        _say(
            f"running campaign '{campaign.name}' ({len(campaign.activities)} activities); "
            f"messages go to {folder}/outbox"
        )
        execution = engine.start(campaign, source=str(campaign_file))
        execution = engine.run(execution.id, wait=True)
        report = execution_report(engine, execution)
        deliveries = delivery_report(engine, [execution])
    finally:
        engine.close()
    if as_json:
        print_json({**report, "deliveries": deliveries})
        return
    show_execution(report)
    console.print()
    show_delivery_report(f"execution {execution.id}", deliveries)
    relative = campaign_file.relative_to(folder)
    console.print(
        "\nLook further (from the demo folder):\n"
        f"  cd {folder}\n"
        f"  partita status {execution.id}                 transitions and tasks\n"
        f"  partita inspect {execution.id} ab.variant_a   the rows of one transition\n"
        f"  partita inspect {execution.id} reachable --schema\n"
        f"  partita inspect {execution.id} one_per_email --csv > audience.csv\n"
        f"  partita logs {execution.id} --level debug     the SQL each task ran\n"
        f"  partita report {execution.id}                 the delivery report\n"
        f"  ls outbox/email outbox/sms      the messages, one file each\n"
        f"  partita preview {relative} spring_email   render messages, send nothing\n"
        f"  partita validate {relative}   then edit it and test again"
    )
