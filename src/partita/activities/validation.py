"""Validating a campaign before test or publish: structure, flow, and each activity's settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from partita.activities.base import CheckContext
from partita.activities.registry import KINDS
from partita.model.activities import ActivityBase, Columns
from partita.model.activities.base import is_file_rows
from partita.model.campaign import Campaign
from partita.model.datamodel import DataModel
from partita.model.graph import Flow, compute_flow, structure_problems
from partita.model.problems import InvalidInput, Problem


def campaign_problems(
    campaign: Campaign,
    model: DataModel,
    channels: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Flow | None, list[Problem]]:
    """Every problem of a campaign against a data model (and the project's channel entries,
    when given), and its flow when it can be computed."""
    problems = structure_problems(campaign)
    if any("cycle" in p.message for p in problems):
        return None, problems

    def columns_hook(
        activity: ActivityBase, output: str, dims: list[str], cols: list[Columns]
    ) -> Columns | None:
        typer = KINDS[activity.kind].columns
        if typer is None or not all(d in model.dimensions or is_file_rows(d) for d in dims):
            return None
        return typer(activity, output, dims, cols, model)

    flow, flow_problems = compute_flow(campaign, model, columns_hook)
    problems += flow_problems
    ctx = CheckContext(
        campaign=campaign,
        model=model,
        flow=flow,
        variable_types={n: v.column_type for n, v in campaign.variables.items()},
        channels=channels,
    )
    for activity in campaign.activities:
        problems += KINDS[activity.kind].check(activity, ctx)
    return flow, problems


def validate(
    campaign: Campaign,
    model: DataModel,
    subject: str | None = None,
    channels: Mapping[str, Mapping[str, Any]] | None = None,
) -> Flow:
    """The campaign's flow; :class:`InvalidInput` listing every problem when it is not valid."""
    flow, problems = campaign_problems(campaign, model, channels)
    if problems or flow is None:
        raise InvalidInput(problems, subject=subject or f"campaign '{campaign.name}'")
    return flow
