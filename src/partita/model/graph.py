"""Structural rules of a campaign diagram, and the dimension/columns flowing along it.

Pure functions over a :class:`Campaign`: no data model lookups, no warehouse.  What depends on
the data (filters, columns) is checked by ``partita.activities.validation`` on top of this.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from partita.model.activities import ActivityBase, AndJoin, Columns, Combine
from partita.model.activities.base import is_file_rows
from partita.model.campaign import Campaign, Endpoint
from partita.model.datamodel import DataModel
from partita.model.problems import Problem, suggestion


@dataclass
class Flow:
    """What reaches each activity and leaves each output, in a valid order."""

    order: list[str] = field(default_factory=list)
    input_dimensions: dict[str, list[str]] = field(default_factory=dict)
    input_columns: dict[str, list[Columns]] = field(default_factory=dict)
    output_dimension: dict[Endpoint, str] = field(default_factory=dict)
    output_columns: dict[Endpoint, Columns] = field(default_factory=dict)

    def columns_into(self, activity_id: str) -> Columns:
        """Extra columns of the (first) input of an activity."""
        inputs = self.input_columns.get(activity_id) or [{}]
        return inputs[0]


def structure_problems(campaign: Campaign) -> list[Problem]:
    """Ids, transitions, outputs, input counts and cycles."""
    problems: list[Problem] = []
    counts = Counter(a.id for a in campaign.activities)
    for activity_id, count in counts.items():
        if count > 1:
            problems.append(
                Problem(
                    f"the id is used by {count} activities; ids must be unique",
                    activity=activity_id,
                    field="id",
                )
            )
    by_id = {a.id: a for a in campaign.activities}
    seen: set[tuple[str, str]] = set()
    used_outputs: Counter[Endpoint] = Counter()
    for index, transition in enumerate(campaign.transitions):
        where = f"transitions[{index}]"
        origin = transition.origin
        source = by_id.get(origin.activity)
        if source is None:
            problems.append(
                Problem(
                    f"transition '{transition}' starts at unknown activity '{origin.activity}': "
                    f"{suggestion(origin.activity, by_id)}",
                    field=f"{where}.from",
                )
            )
        elif origin.output not in source.outputs():
            outputs = source.outputs()
            hint = suggestion(origin.output, outputs) if outputs else "it has no outputs"
            problems.append(
                Problem(
                    f"transition '{transition}': activity '{source.id}' ({source.kind}) has no output "
                    f"'{origin.output}': {hint}",
                    activity=source.id,
                    field=f"{where}.from",
                )
            )
        if transition.target not in by_id:
            problems.append(
                Problem(
                    f"transition '{transition}' leads to unknown activity '{transition.target}': "
                    f"{suggestion(transition.target, by_id)}",
                    field=f"{where}.to",
                )
            )
        key = (str(origin), transition.target)
        if key in seen:
            problems.append(Problem(f"transition '{transition}' is listed twice", field=where))
        seen.add(key)
        used_outputs[origin] += 1
    for endpoint, count in used_outputs.items():
        if count > 1 and endpoint.activity in by_id:
            problems.append(
                Problem(
                    f"output '{endpoint}' has {count} outbound transitions; an output is used at most once",
                    activity=endpoint.activity,
                    hint="add a fork to send one population down several branches",
                )
            )
    for activity in campaign.activities:
        problems.extend(_input_count_problems(campaign, activity))
        problems.extend(_primary_problems(campaign, activity))
    problems.extend(_cycle_problems(campaign, by_id))
    return problems


def _input_count_problems(campaign: Campaign, activity: ActivityBase) -> list[Problem]:
    low, high = activity.inputs_allowed
    count = len(campaign.inbound(activity.id))
    if low <= count and (high is None or count <= high):
        return []
    if high is None:
        wanted = f"at least {low}"
    elif low == high:
        wanted = f"exactly {low}"
    else:
        wanted = f"{low} to {high}"
    plural = "s" if (high or low) != 1 else ""
    return [
        Problem(
            f"{activity.kind} takes {wanted} inbound transition{plural}, it has {count}",
            activity=activity.id,
            field="transitions",
        )
    ]


def _primary_problems(campaign: Campaign, activity: ActivityBase) -> list[Problem]:
    primary = activity.primary if isinstance(activity, Combine | AndJoin) else None
    if primary is None:
        return []
    sources = [str(t.origin) for t in campaign.inbound(activity.id)]
    if str(Endpoint.parse(primary)) in sources:
        return []
    return [
        Problem(
            f"primary '{primary}' is not one of the inputs: {suggestion(primary, sources)}",
            activity=activity.id,
            field="primary",
        )
    ]


def _cycle_problems(campaign: Campaign, by_id: Mapping[str, ActivityBase]) -> list[Problem]:
    graph: dict[str, list[str]] = {a: [] for a in by_id}
    for transition in campaign.transitions:
        if transition.origin.activity in graph and transition.target in graph:
            graph[transition.origin.activity].append(transition.target)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    problems: list[Problem] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                loop = [*path[path.index(nxt) :], nxt]
                problems.append(
                    Problem(
                        f"the diagram has a cycle: {' -> '.join(loop)}",
                        activity=nxt,
                        hint="remove one of these transitions",
                    )
                )
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    return problems


#: Computes an output's carried columns when that needs the data model (enrichment aliases);
#: returns None to use the settings' own ``output_columns``.
ColumnsHook = Callable[[ActivityBase, str, list[str], list[Columns]], Columns | None]


def compute_flow(
    campaign: Campaign, model: DataModel | None = None, columns_hook: ColumnsHook | None = None
) -> tuple[Flow, list[Problem]]:
    """Dimensions and extra columns along the diagram (call on a structurally valid campaign)."""
    flow = Flow()
    problems: list[Problem] = []
    pending = {a.id: len(campaign.inbound(a.id)) for a in campaign.activities}
    ready = [a.id for a in campaign.activities if pending[a.id] == 0]
    while ready:
        activity_id = ready.pop(0)
        activity = campaign.activity(activity_id)
        flow.order.append(activity_id)
        sources = [t.origin for t in campaign.inbound(activity_id)]
        dims = [flow.output_dimension[s] for s in sources if s in flow.output_dimension]
        cols = [flow.output_columns[s] for s in sources if s in flow.output_columns]
        flow.input_dimensions[activity_id] = dims
        flow.input_columns[activity_id] = cols
        problems.extend(_file_rows_problems(activity, sources, dims))
        if isinstance(activity, Combine | AndJoin) and len(set(dims)) > 1:
            listed = ", ".join(f"'{s}' ({d})" for s, d in zip(sources, dims, strict=False))
            if isinstance(activity, Combine):
                problems.append(
                    Problem(
                        f"combine needs inputs of one dimension, got {listed}",
                        activity=activity_id,
                        field="transitions",
                        hint="add a change_dimension before one of them",
                    )
                )
        ordered_dims, ordered_cols = _primary_first(campaign, activity, sources, dims, cols)
        for output in activity.outputs():
            endpoint = Endpoint(activity=activity_id, output=output)
            flow.output_dimension[endpoint] = activity.output_dimension(
                output, ordered_dims, campaign.dimension, model
            )
            hooked = (
                columns_hook(activity, output, ordered_dims, ordered_cols) if columns_hook else None
            )
            flow.output_columns[endpoint] = (
                hooked if hooked is not None else activity.output_columns(output, ordered_cols)
            )
        for transition in campaign.outbound(activity_id):
            if transition.target in pending:
                pending[transition.target] -= 1
                if pending[transition.target] == 0:
                    ready.append(transition.target)
    return flow, problems


def _file_rows_problems(
    activity: ActivityBase, sources: list[Endpoint], dims: list[str]
) -> list[Problem]:
    """Rows of a loaded file must be reconciled before most activities can use them."""
    if activity.accepts_file_rows:
        return []
    return [
        Problem(
            f"input '{source}' holds the rows of a loaded file, not rows of a dimension",
            activity=activity.id,
            field="transitions",
            hint="add a reconciliation first, or give the load_file a 'dimension'",
        )
        for source, dimension in zip(sources, dims, strict=False)
        if is_file_rows(dimension)
    ]


def _primary_first(
    campaign: Campaign,
    activity: ActivityBase,
    sources: list[Endpoint],
    dims: list[str],
    cols: list[Columns],
) -> tuple[list[str], list[Columns]]:
    """Inputs with the ``primary`` one first (combine exclusion, and_join)."""
    primary = getattr(activity, "primary", None)
    if primary is None or len(dims) != len(sources):
        return dims, cols
    wanted = Endpoint.parse(primary)
    if wanted not in sources:
        return dims, cols
    index = sources.index(wanted)
    order = [index, *[i for i in range(len(sources)) if i != index]]
    return [dims[i] for i in order], [cols[i] for i in order]
