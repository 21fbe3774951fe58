"""Commands around sending: preview messages on real rows, confirm a send, read the ledger."""

from __future__ import annotations

from typing import Any

import typer

from partita.activities import channel
from partita.channels import tracking_of
from partita.cli.base import JsonOption, app, engine, handled, load_definition
from partita.cli.execution_commands import ExecutionArg, _after_action, _execution_id
from partita.cli.output import console, number, print_json, table
from partita.cli.views import show_delivery_report
from partita.engine import Engine
from partita.engine.reports import delivery_report
from partita.model.activities import ChannelBase
from partita.model.problems import PartitaError, suggestion
from partita.model.states import DeliveryState, Mode, TransitionState
from partita.model.variables import typed_variables
from partita.store import ExecutionRecord

RowsOption = typer.Option(5, "--rows", min=1, max=1000, help="How many rows to render.")
CampaignArg = typer.Argument(..., help="A campaign file or the name of a stored campaign.")
ActivityArg = typer.Argument(..., help="The id of a channel activity.")


@app.command()
@handled
def preview(
    campaign: str = CampaignArg,
    activity: str = ActivityArg,
    rows: int = RowsOption,
    as_json: bool = JsonOption,
) -> None:
    """Render the messages of a channel activity for real rows of its inbound population;
    nothing is sent. Uses the newest execution that reached the activity, or runs a test
    execution up to it."""
    with engine() as e:
        settings, execution = _inbound(e, campaign, activity)
        result = _render(e, execution, settings, rows)
    if as_json:
        print_json(result)
        return
    shown = ", ".join(f"{k} {number(v)}" for k, v in sorted(result["excluded"].items()))
    console.print(
        f"{settings.kind} '{activity}' in execution {result['execution']}: targeted "
        f"{number(result['targeted'])}, excluded {number(sum(result['excluded'].values()))}"
        + (f" ({shown})" if shown else "")
    )
    for message in result["messages"]:
        console.rule(f"recipient {message['key']}")
        for name, value in message.items():
            if name != "key":
                console.print(f"[bold]{name}[/]: {value}", markup=True, highlight=False)


@app.command()
@handled
def proof(
    campaign: str = CampaignArg,
    activity: str = ActivityArg,
    rows: int = typer.Option(1, "--rows", min=1, max=100, help="How many rows to send."),
    to: list[str] = typer.Option(
        [], "--to", help="A proof address (repeat it); default: the activity's 'proof'."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Send proofs: the messages of real rows of the inbound population, to the proof
    addresses, marked [PROOF]. Recipients get nothing; the ledger records nothing."""
    with engine() as e:
        settings, execution = _inbound(e, campaign, activity)
        found = channel.sample(*_sample_args(e, execution, settings, rows))
        sent = channel.send_proofs(found, settings, e.project.channels, e.project.root, to)
    if as_json:
        print_json({"execution": execution.id, "proofs": sent})
        return
    for item in sent:
        outcome = item.get("error") or f"sent ({item.get('provider_message_id') or 'no id'})"
        console.print(f"row {item['key']} -> {item['to']}: {outcome}", highlight=False)
    if any("error" in item for item in sent):
        raise typer.Exit(1)


def _inbound(e: Engine, campaign: str, activity: str) -> tuple[ChannelBase, ExecutionRecord]:
    """The activity's settings and the newest execution that reached it (after a test
    execution when none did)."""
    definition = load_definition(e, campaign)
    with definition.placed():
        e.validate(definition.campaign)
    settings = _channel(definition.campaign.activities, activity)
    execution = _reaching(e, definition.campaign.name, activity)
    if execution is None:
        launched = e.test(definition.campaign, source=definition.source)
        execution = _reaching(e, definition.campaign.name, activity, [e.run(launched.id)])
        if execution is None:
            raise PartitaError(
                f"no population reached '{activity}' in test execution {launched.id}: "
                f"see 'partita status {launched.id}'"
            )
    return settings, execution


def _channel(activities: list[Any], activity_id: str) -> ChannelBase:
    found = {a.id: a for a in activities}
    settings = found.get(activity_id)
    if settings is None:
        raise PartitaError(f"no activity '{activity_id}': {suggestion(activity_id, found)}")
    if not isinstance(settings, ChannelBase):
        raise PartitaError(
            f"'{activity_id}' is a {settings.kind} activity; preview needs a channel activity "
            "(email, sms, push, webhook)"
        )
    return settings


def _reaching(
    e: Engine, name: str, activity_id: str, executions: list[ExecutionRecord] | None = None
) -> ExecutionRecord | None:
    """The newest execution whose transition into ``activity_id`` fired (tables kept)."""
    if executions is None:
        record = e.store.campaign(name)
        if record is None:
            return None
        executions = e.store.executions(record.id)
    for execution in executions:
        if execution.tables_dropped:
            continue
        if any(
            t.to_activity == activity_id and t.state == TransitionState.FIRED
            for t in e.store.transitions(execution.id)
        ):
            return execution
    return None


def _sample_args(
    e: Engine, execution: ExecutionRecord, settings: ChannelBase, rows: int
) -> tuple[Any, ...]:
    transition = next(
        t
        for t in e.store.transitions(execution.id)
        if t.to_activity == settings.id and t.state == TransitionState.FIRED
    )
    assert transition.table_name is not None
    output = next(
        o
        for o in e.store.outputs(execution.id)
        if o.activity_id == transition.from_activity and o.output == transition.from_output
    )
    campaign = e.campaign_of(execution)
    return (
        e.warehouse,
        e.model.dimension(output.dimension),
        settings,
        e.warehouse.working(transition.table_name),
        e.project.channels,
        typed_variables(campaign, execution.variables),
        execution.id,
        rows,
        tracking_of(e.project),
    )


def _render(e: Engine, execution: ExecutionRecord, settings: ChannelBase, rows: int) -> Any:
    return {
        "execution": execution.id,
        **channel.preview(channel.sample(*_sample_args(e, execution, settings, rows)), settings),
    }


@app.command()
@handled
def confirm(
    execution: str = ExecutionArg,
    activity: str = typer.Argument(..., help="The channel activity awaiting confirmation."),
    as_json: bool = JsonOption,
) -> None:
    """Confirm the sending of a channel activity that waits for it (confirm_before_send), and
    run the execution on."""
    with engine(progress=not as_json) as e:
        done = e.confirm(_execution_id(e, execution), activity)
        _after_action(e, done, f"confirmed '{activity}'", as_json, run=True)


@app.command()
@handled
def deliveries(
    execution: str = ExecutionArg,
    activity: str | None = typer.Argument(None, help="Only this channel activity."),
    as_json: bool = JsonOption,
) -> None:
    """The delivery ledger of an execution: recipients by activity, state and reason, and the
    deliveries in doubt."""
    with engine() as e:
        execution_id = _execution_id(e, execution)
        counts = e.store.delivery_counts(execution_id, activity)
        doubtful = e.store.deliveries(execution_id, activity, states=[DeliveryState.IN_DOUBT])
    summary: list[dict[str, Any]] = [
        {"activity": a, "state": s, "reason": r, "count": n} for a, s, r, n in counts
    ]
    in_doubt = [
        {
            "activity": d.activity_id,
            "key": d.recipient_key,
            "address": d.address,
            "error": d.error,
        }
        for d in doubtful
    ]
    if as_json:
        print_json({"execution": execution_id, "deliveries": summary, "in_doubt": in_doubt})
        return
    if not summary:
        console.print(f"execution {execution_id} has no delivery (test executions record none)")
        return
    console.print(
        table(
            f"deliveries of execution {execution_id}",
            ["activity", "state", "reason", "count"],
            [(r["activity"], r["state"], r["reason"] or "", number(r["count"])) for r in summary],
            numeric=["count"],
        )
    )
    if in_doubt:
        console.print(
            f"{len(in_doubt)} deliveries are in doubt (they may or may not have been sent; "
            "they are never resent): check with the provider, e.g. by their idempotency key"
        )


@app.command()
@handled
def report(
    target: str = typer.Argument(
        ..., help="An execution id, or a campaign name (all its live executions)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """The delivery report of each channel activity: targeted, excluded by reason, sent,
    failed, in doubt, bounced, unique opens and clicks, unsubscribes, rates, timeline."""
    with engine() as e:
        if target.isdigit():
            executions = [e.execution(target)]
            subject = f"execution {target}"
        else:
            record = e.campaign_record(target)
            executions = [x for x in e.store.executions(record.id) if x.mode == Mode.LIVE]
            subject = f"campaign '{target}', {len(executions)} live execution(s)"
        result = delivery_report(e, executions)
    if as_json:
        print_json(result)
        return
    show_delivery_report(subject, result)
