"""Running an execution: claim ready tasks, run their activity, fire transitions, apply policy.

The loop only talks to the store (state) and the warehouse (working tables); what an activity
does is the activity module's business.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis.expr.types as ir

from partita.activities.base import (
    AwaitingConfirmation,
    Deferred,
    Input,
    Interrupted,
    Output,
    RunContext,
    SavedAudience,
    Suspended,
)
from partita.activities.registry import KINDS
from partita.channels import DeliveryHistory, Ledger
from partita.channels._tracking import Tracking
from partita.filters import FilterError
from partita.model.activities import ActivityBase
from partita.model.activities.channels import FrequencyCap
from partita.model.campaign import Campaign, Endpoint
from partita.model.datamodel import DataModel
from partita.model.problems import InvalidInput, PartitaError
from partita.model.states import ExecutionStatus, LogLevel, Mode, TaskStatus, TransitionState
from partita.model.variables import typed_variables
from partita.store import ExecutionRecord, OutputRecord, Store, TaskRecord, TransitionRecord, utcnow
from partita.warehouse import Warehouse

#: Called after each task with the execution id (progress display).
Progress = Callable[[TaskRecord], None]


def worker_name() -> str:
    """Who runs tasks: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_is_gone(worker: str | None) -> bool:
    """True when ``worker`` (a :func:`worker_name`) was a process of this machine that no
    longer exists (killed, crashed); False when it lives or runs elsewhere."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user's process
        return False
    return False


class Runner:
    """Runs the ready tasks of executions until nothing more can run now."""

    def __init__(
        self,
        store: Store,
        warehouse: Warehouse,
        model: DataModel,
        campaign_of: Callable[[ExecutionRecord], Campaign],
        root: Path,
        progress: Progress | None = None,
        channels: Mapping[str, Mapping[str, Any]] | None = None,
        frequency_caps: Mapping[str, FrequencyCap] | None = None,
        tracking: Tracking | None = None,
    ) -> None:
        self.root = root
        self.channels = dict(channels or {})
        self.frequency_caps = dict(frequency_caps or {})
        self.tracking = tracking
        self.store = store
        self.warehouse = warehouse
        self.model = model
        self.campaign_of = campaign_of
        self.progress = progress
        self.worker = worker_name()

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, execution_id: int) -> ExecutionRecord:
        """Run tasks while the execution is running and has pending tasks."""
        self.warehouse.forget_tables()  # tables may have changed since the last run
        while True:
            execution = self.store.execution(execution_id)
            if execution.status != ExecutionStatus.RUNNING:
                return execution
            task = self.store.claim_task(execution_id, self.worker)
            if task is None and self.store.wake_tasks(execution_id, utcnow()):
                continue  # a waiting task's time came (quiet hours ended)
            if task is None:
                return self._finish_if_idle(execution)
            self._run_task(execution, task)
            if self.progress is not None:
                self.progress(self.store.task(task.id))

    def _finish_if_idle(self, execution: ExecutionRecord) -> ExecutionRecord:
        if any(t.status.is_active for t in self.store.tasks(execution.id)):
            return execution
        campaign = self.campaign_of(execution)
        self._warn_unfired(execution, campaign)
        if self.store.set_execution_status(
            execution.id, ExecutionStatus.COMPLETED, expected=[ExecutionStatus.RUNNING]
        ):
            self._log(execution, LogLevel.INFO, f"execution {execution.id} completed")
        return self.store.execution(execution.id)

    def _warn_unfired(self, execution: ExecutionRecord, campaign: Campaign) -> None:
        """An activity that got some but not all of its inputs never ran: say so."""
        arrived = {r.position for r in self.store.transitions(execution.id)}
        started = {t.activity_id for t in self.store.tasks(execution.id)}
        for activity in campaign.activities:
            if activity.id in started:
                continue
            positions = [i for i, t in enumerate(campaign.transitions) if t.target == activity.id]
            missing = [str(campaign.transitions[i].source) for i in positions if i not in arrived]
            if missing and len(missing) < len(positions):
                self._log(
                    execution,
                    LogLevel.WARNING,
                    f"{activity.kind} '{activity.id}' did not run: input "
                    f"{', '.join(repr(m) for m in missing)} never arrived",
                    activity_id=activity.id,
                )

    # -- one task ---------------------------------------------------------------------------------

    def _run_task(self, execution: ExecutionRecord, task: TaskRecord) -> None:
        campaign = self.campaign_of(execution)
        activity = campaign.activity(task.activity_id)
        started = time.perf_counter()
        inputs = self._inputs(execution, campaign, activity)
        input_count = sum(i.count for i in inputs) if inputs else None
        self._log(
            execution,
            LogLevel.INFO,
            f"task {task.id} started: {activity.kind} "
            f"'{activity.id}'" + (f" on {input_count:,} rows" if inputs else ""),
            task=task,
        )
        materialized: dict[str, str] = {}
        scratch: list[str] = []
        try:
            ctx = self._context(execution, campaign, activity, task, materialized, scratch)
            results = KINDS[activity.kind].run(ctx, activity, inputs)
            counts = self._record_outputs(
                execution, campaign, activity, task, results, materialized
            )
        except (Interrupted, Suspended, AwaitingConfirmation, Deferred) as signal:
            self.warehouse.drop(scratch)
            self._hold(execution, activity, task, signal)
            return
        except Exception as error:  # every failure is recorded on the task, whatever raised it
            self.warehouse.drop(scratch)
            self._fail(execution, campaign, activity, task, error, input_count)
            return
        self.warehouse.drop(scratch)
        if not self.store.finish_task(task.id, TaskStatus.DONE, input_count=input_count):
            # stopped while it ran: its results go nowhere and nothing runs after it
            self._log(
                execution,
                LogLevel.INFO,
                f"task {task.id} finished after its execution was stopped; nothing follows it",
                task=task,
            )
            return
        if execution.consecutive_errors:
            self.store.update_execution(execution.id, consecutive_errors=0)
        elapsed = time.perf_counter() - started
        shown = ", ".join(f"{name} {count:,}" for name, count in counts.items()) or "no output"
        self._log(
            execution, LogLevel.INFO, f"task {task.id} done in {elapsed:.2f}s: {shown}", task=task
        )
        self._schedule_downstream(execution, campaign, activity.id)

    def _hold(
        self,
        execution: ExecutionRecord,
        activity: ActivityBase,
        task: TaskRecord,
        signal: Exception,
    ) -> None:
        """A task that stopped at a safe point: pending again (paused, suspended) or waiting
        for a confirmation; nothing it did is lost."""
        if self.store.task(task.id).status != TaskStatus.RUNNING:
            return  # stopped meanwhile: cancelled
        if isinstance(signal, Deferred):
            self.store.set_task_status(task.id, TaskStatus.WAITING, wake_at=signal.wake_at)
            self._log(
                execution,
                LogLevel.INFO,
                f"{signal}; task {task.id} waits until {signal.wake_at:%Y-%m-%d %H:%M} UTC",
                task=task,
            )
            return
        if isinstance(signal, AwaitingConfirmation):
            self.store.set_task_status(task.id, TaskStatus.WAITING)
            self._log(
                execution,
                LogLevel.INFO,
                f"{activity.kind} '{activity.id}' is awaiting confirmation: "
                f"'partita confirm {execution.id} {activity.id}' sends it",
                task=task,
            )
            return
        self.store.set_task_status(task.id, TaskStatus.PENDING)
        if isinstance(signal, Suspended):
            self.store.set_execution_status(
                execution.id, ExecutionStatus.PAUSED, expected=[ExecutionStatus.RUNNING]
            )
            self._log(
                execution,
                LogLevel.ERROR,
                f"{signal}; execution {execution.id} paused",
                task=task,
            )
            return
        self._log(
            execution,
            LogLevel.INFO,
            f"task {task.id} stopped between batches; resume continues it",
            task=task,
        )

    def _inputs(
        self, execution: ExecutionRecord, campaign: Campaign, activity: ActivityBase
    ) -> list[Input]:
        records = {r.position: r for r in self.store.transitions(execution.id)}
        inputs: list[Input] = []
        for position, transition in enumerate(campaign.transitions):
            if transition.target != activity.id:
                continue
            record = records.get(position)
            if record is None or record.state != TransitionState.FIRED:
                continue
            assert record.table_name is not None
            output = self._output_of(execution, record)
            inputs.append(
                Input(
                    source=transition.origin,
                    table_name=record.table_name,
                    table=self.warehouse.working(record.table_name),
                    dimension=output.dimension,
                    count=record.row_count or 0,
                    key=output.key_column or self.model.dimension(output.dimension).key,
                )
            )
        return inputs

    def _output_of(self, execution: ExecutionRecord, record: TransitionRecord) -> OutputRecord:
        for output in self.store.outputs(execution.id):
            if output.activity_id == record.from_activity and output.output == record.from_output:
                return output
        raise PartitaError(
            f"no working table recorded for '{record.from_activity}."
            f"{record.from_output}' in execution {execution.id}"
        )

    def _context(
        self,
        execution: ExecutionRecord,
        campaign: Campaign,
        activity: ActivityBase,
        task: TaskRecord,
        materialized: dict[str, str],
        scratch: list[str],
    ) -> RunContext:
        def log(level: LogLevel, message: str, details: dict[str, Any] | None = None) -> None:
            self._log(execution, level, message, task=task, details=details)

        def materialize(output: str, expr: ir.Table, dimension: str) -> ir.Table:
            name = self.warehouse.working_table_name(
                campaign.name, execution.id, activity.id, output
            )
            self._materialize(execution, task, name, expr)
            materialized[output] = name
            return self.warehouse.working(name)

        def make_scratch(expr: ir.Table) -> ir.Table:
            name = self.warehouse.working_table_name(
                campaign.name, execution.id, activity.id, f"scratch{len(scratch) + 1}"
            )
            self._materialize(execution, task, name, expr)
            scratch.append(name)
            return self.warehouse.working(name)

        return RunContext(
            campaign=campaign,
            activity_id=activity.id,
            execution_id=execution.id,
            mode=execution.mode,
            model=self.model,
            warehouse=self.warehouse,
            variables=typed_variables(campaign, execution.variables),
            log=log,
            materialize=materialize,
            scratch=make_scratch,
            root=self.root,
            audiences=StoredAudiences(self.store, execution),
            previous_live_start=self._previous_live_start(execution),
            should_stop=lambda: (
                self.store.execution(execution.id).status != ExecutionStatus.RUNNING
            ),
            channels=self.channels,
            frequency_caps=self.frequency_caps,
            ledger=lambda channel, dimension, category: Ledger(
                self.store, execution.id, activity.id, channel, dimension, category
            ),
            recent_sends=lambda channel, dimension, category, since: self.store.recent_sends(
                channel, dimension, since, category=category, not_execution=execution.id
            ),
            confirmed=lambda: self.store.is_confirmed(execution.id, activity.id),
            delivery_history=DeliveryHistory(self.store, self.warehouse),
            tracking=self.tracking,
        )

    def _previous_live_start(self, execution: ExecutionRecord) -> datetime | None:
        earlier = [
            e
            for e in self.store.executions(execution.campaign_id, Mode.LIVE)
            if e.id < execution.id and e.status == ExecutionStatus.COMPLETED
        ]
        return earlier[0].created_at if earlier else None

    def _materialize(
        self, execution: ExecutionRecord, task: TaskRecord, name: str, expr: ir.Table
    ) -> int:
        sql = self.warehouse.sql(expr)  # compiled once: logged, then run
        self._log(
            execution,
            LogLevel.DEBUG,
            f"creating working table {name}",
            task=task,
            details={"sql": sql},
        )
        return self.warehouse.materialize(name, expr, sql)

    def _record_outputs(
        self,
        execution: ExecutionRecord,
        campaign: Campaign,
        activity: ActivityBase,
        task: TaskRecord,
        results: dict[str, Output],
        materialized: dict[str, str],
    ) -> dict[str, int]:
        counts: dict[str, int] = {}
        for output in activity.outputs():
            result = results.get(output, Output())
            transitions = [
                (i, t)
                for i, t in enumerate(campaign.transitions)
                if t.origin == Endpoint(activity=activity.id, output=output)
            ]
            if result.table is None:
                for position, transition in transitions:
                    self._record_transition(
                        execution,
                        position,
                        transition.origin,
                        transition.target,
                        TransitionState.DEAD,
                    )
                continue
            if result.reuse is not None:
                name = result.reuse
                count = self.warehouse.count(name)
            elif output in materialized:
                name = materialized[output]
                count = self.warehouse.count(name)
            else:
                name = self.warehouse.working_table_name(
                    campaign.name, execution.id, activity.id, output
                )
                count = self._materialize(execution, task, name, result.table)
            fired = count > 0 or result.fire_when_empty
            dimension = result.dimension or campaign.dimension
            self.store.record_output(
                execution.id,
                task.id,
                activity.id,
                output,
                name,
                dimension,
                count,
                fired,
                key_column=result.key,
            )
            counts[output] = count
            state = TransitionState.FIRED if fired else TransitionState.DEAD
            for position, transition in transitions:
                self._record_transition(
                    execution,
                    position,
                    transition.origin,
                    transition.target,
                    state,
                    count if fired else None,
                    name if fired else None,
                )
            if not fired:
                self._log(
                    execution,
                    LogLevel.INFO,
                    f"output '{output}' is empty: its branch ends here",
                    task=task,
                )
        return counts

    def _record_transition(
        self,
        execution: ExecutionRecord,
        position: int,
        origin: Endpoint,
        target: str,
        state: TransitionState,
        count: int | None = None,
        table: str | None = None,
    ) -> None:
        self.store.record_transition(
            execution.id, position, origin.activity, origin.output, target, state, count, table
        )

    # -- what becomes ready -----------------------------------------------------------------------

    def _schedule_downstream(
        self, execution: ExecutionRecord, campaign: Campaign, activity_id: str
    ) -> None:
        """Create tasks for activities whose inputs all arrived; skip those that can never run."""
        records = {r.position: r for r in self.store.transitions(execution.id)}
        existing = {t.activity_id for t in self.store.tasks(execution.id)}
        targets = list(dict.fromkeys(t.target for t in campaign.outbound(activity_id)))
        for target_id in targets:
            if target_id in existing:
                continue
            target = campaign.activity(target_id)
            positions = [i for i, t in enumerate(campaign.transitions) if t.target == target_id]
            states = [records[i].state if i in records else None for i in positions]
            if None in states:
                continue  # decided once every inbound transition has fired or died
            fired = [s for s in states if s == TransitionState.FIRED]
            runnable = bool(fired) and (
                len(fired) == len(states) or not target.waits_for_all_inputs()
            )
            if runnable:
                self.store.create_task(execution.id, target_id)
            else:
                self._skip(execution, campaign, target, positions, states)

    def _skip(
        self,
        execution: ExecutionRecord,
        campaign: Campaign,
        activity: ActivityBase,
        positions: list[int],
        states: list[TransitionState | None],
    ) -> None:
        task = self.store.create_task(execution.id, activity.id, TaskStatus.SKIPPED)
        dead = [
            str(campaign.transitions[p].source)
            for p, s in zip(positions, states, strict=True)
            if s == TransitionState.DEAD
        ]
        self._log(
            execution,
            LogLevel.INFO,
            f"{activity.kind} '{activity.id}' skipped: no "
            f"population arrived from {', '.join(repr(d) for d in dead)}",
            task=task,
        )
        for position, transition in enumerate(campaign.transitions):
            if transition.origin.activity == activity.id:
                self._record_transition(
                    execution, position, transition.origin, transition.target, TransitionState.DEAD
                )
        self._schedule_downstream(execution, campaign, activity.id)

    # -- failures ---------------------------------------------------------------------------------

    def _fail(
        self,
        execution: ExecutionRecord,
        campaign: Campaign,
        activity: ActivityBase,
        task: TaskRecord,
        error: Exception,
        input_count: int | None,
    ) -> None:
        message = describe_error(error)
        self.store.finish_task(task.id, TaskStatus.FAILED, input_count=input_count, error=message)
        details = None if _is_user_error(error) else {"traceback": traceback.format_exc()}
        self._log(
            execution,
            LogLevel.ERROR,
            f"{activity.kind} '{activity.id}' failed: {message}",
            task=task,
            details=details,
        )
        policy = campaign.error_policy
        if policy == "ignore":
            errors = execution.consecutive_errors + 1
            self.store.update_execution(execution.id, consecutive_errors=errors)
            if errors < campaign.max_consecutive_errors:
                self._log(
                    execution,
                    LogLevel.WARNING,
                    f"error policy 'ignore': the branch of "
                    f"'{activity.id}' ends here ({errors} consecutive error"
                    f"{'s' if errors > 1 else ''}, limit {campaign.max_consecutive_errors})",
                    task=task,
                )
                for position, transition in enumerate(campaign.transitions):
                    if transition.origin.activity == activity.id:
                        self._record_transition(
                            execution,
                            position,
                            transition.origin,
                            transition.target,
                            TransitionState.DEAD,
                        )
                self._schedule_downstream(execution, campaign, activity.id)
                return
            reason = f"{errors} consecutive errors reached the limit of error policy 'ignore'"
        elif policy == "abort":
            for other in self.store.tasks(execution.id):
                if other.status == TaskStatus.PENDING:
                    self.store.set_task_status(other.id, TaskStatus.CANCELLED)
            self.store.update_execution(execution.id, aborted=True)
            reason = "error policy 'abort' stopped every branch"
        else:
            reason = (
                "error policy 'suspend': fix the cause, then 'partita retry "
                f"{task.id}' or 'partita resume {execution.id}'"
            )
        self.store.set_execution_status(execution.id, ExecutionStatus.FAILED)
        self._log(
            execution, LogLevel.ERROR, f"execution {execution.id} failed: {reason}", task=task
        )

    def _log(
        self,
        execution: ExecutionRecord,
        level: LogLevel,
        message: str,
        *,
        task: TaskRecord | None = None,
        activity_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.store.log(
            level,
            message,
            campaign_id=execution.campaign_id,
            execution_id=execution.id,
            task_id=task.id if task else None,
            activity_id=task.activity_id if task else activity_id,
            details=details,
        )


class StoredAudiences:
    """Named audiences recorded in the state store, for save_audience and read_audience."""

    def __init__(self, store: Store, execution: ExecutionRecord) -> None:
        self.store = store
        self.execution = execution

    def get(self, name: str) -> SavedAudience | None:
        """The audience called ``name``, if saved."""
        found = self.store.audience(name)
        if found is None:
            return None
        return SavedAudience(
            found.name, found.table_name, found.dimension, found.columns, found.row_count
        )

    def save(self, audience: SavedAudience) -> None:
        """Record (or replace) an audience, stamped with this execution."""
        self.store.save_audience(
            audience.name,
            audience.table_name,
            audience.dimension,
            audience.columns,
            audience.row_count,
            self.execution.campaign_id,
            self.execution.id,
        )


def _is_user_error(error: Exception) -> bool:
    return isinstance(error, PartitaError | FilterError | InvalidInput)


def describe_error(error: Exception) -> str:
    """One line a person can act on (the warehouse's message for SQL errors)."""
    if _is_user_error(error):
        return str(error)
    text = str(error).strip() or type(error).__name__
    first = text.splitlines()[0]
    return f"{type(error).__name__}: {first}"
