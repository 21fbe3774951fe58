"""Partita: orchestrated, multi-step marketing campaigns that run inside your warehouse.

Build a campaign in code (or load a file), validate it, run it, read what each transition
carried::

    import partita

    engine = partita.open_project("partita-demo")
    campaign = partita.load_campaign(Path("partita-demo/campaigns/spring_promo.yaml"))
    execution = engine.run(engine.test(campaign).id)
    print(partita.execution_report(engine, execution)["transitions"])
"""

from __future__ import annotations

from pathlib import Path as _Path
from typing import TYPE_CHECKING

from partita.model.activities import (
    AndJoin,
    BuildAudience,
    Combine,
    Condition,
    Deduplication,
    End,
    Fork,
    Limit,
    Split,
    Subset,
    TestActivity,
)
from partita.model.builder import CampaignBuilder
from partita.model.campaign import Campaign, Transition, Variable, load_campaign, parse_campaign
from partita.model.problems import InvalidInput, PartitaError, Problem
from partita.model.project import Project, load_project

if TYPE_CHECKING:
    from partita.engine import Engine
    from partita.engine.reports import execution_report

__version__ = "0.1.0"


def open_project(folder: str | _Path | None = None) -> Engine:
    """An :class:`Engine` on the project in ``folder`` (default: the current folder)."""
    from partita.engine import Engine

    return Engine(load_project(_Path(folder) if folder is not None else None))


def __getattr__(name: str) -> object:
    """The engine and its reports, imported when first used: a process that needs only a part
    of Partita (a channel's worker process) does not load the warehouse stack."""
    if name == "Engine":
        from partita.engine import Engine

        return Engine
    if name == "execution_report":
        from partita.engine.reports import execution_report

        return execution_report
    raise AttributeError(f"module 'partita' has no attribute {name!r}")


__all__ = [
    "AndJoin",
    "BuildAudience",
    "Campaign",
    "CampaignBuilder",
    "Combine",
    "Condition",
    "Deduplication",
    "End",
    "Engine",
    "Fork",
    "InvalidInput",
    "Limit",
    "PartitaError",
    "Problem",
    "Project",
    "Split",
    "Subset",
    "TestActivity",
    "Transition",
    "Variable",
    "__version__",
    "execution_report",
    "load_campaign",
    "load_project",
    "open_project",
    "parse_campaign",
]
