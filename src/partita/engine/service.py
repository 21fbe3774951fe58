"""The engine's front door: what the CLI, the API and ``import partita`` call.

It owns the state store and the warehouse connection of one project, and turns user actions
(test, start, pause, resume, stop, restart, retry, back to draft, duplicate, archive) into
state changes allowed by the lifecycle rules.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from partita.activities.validation import validate
from partita.channels import tracking_of
from partita.engine.lifecycle import Action, campaign_status, is_unfinished, require
from partita.engine.runner import Progress, Runner, worker_is_gone
from partita.model.campaign import Campaign, Endpoint
from partita.model.datamodel import DataModel
from partita.model.graph import Flow
from partita.model.problems import PartitaError, suggestion
from partita.model.project import Project
from partita.model.states import CampaignStatus, ExecutionStatus, LogLevel, Mode, TaskStatus
from partita.model.variables import resolve_variables
from partita.store import CampaignRecord, ExecutionRecord, OutputRecord, Store, TaskRecord, utcnow
from partita.warehouse import Warehouse

#: How often a blocking run sleeping through a timed wait checks for a pause or a stop.
WAKE_CHECK_SECONDS = 5.0


@dataclass(frozen=True)
class WorkingTableRef:
    """An output's working table in one execution."""

    execution: ExecutionRecord
    output: OutputRecord
    key: str


class Engine:
    """One project's state store and warehouse, and every action on campaigns."""

    def __init__(self, project: Project, progress: Progress | None = None) -> None:
        self.project = project
        self.store = Store(project.state, root=project.root)
        self.progress = progress
        self._campaigns: dict[tuple[int, int], Campaign] = {}

    @cached_property
    def warehouse(self) -> Warehouse:
        """The warehouse connection, opened on first use."""
        return Warehouse.open(self.project)

    @cached_property
    def model(self) -> DataModel:
        """The data model, checked against the warehouse on first use."""
        return self.warehouse.load_data_model(self.project)

    def close(self) -> None:
        """Release connections (and DuckDB file locks)."""
        if "warehouse" in self.__dict__:
            self.warehouse.close()
            del self.__dict__["warehouse"]
        self.store.close()

    # -- definitions ------------------------------------------------------------------------------

    def validate(self, campaign: Campaign) -> Flow:
        """Check a definition against the data model (:class:`InvalidInput` when it is not valid)."""
        return validate(campaign, self.model, channels=self.project.channels)

    def register(self, campaign: Campaign, source: str | None = None) -> tuple[CampaignRecord, int]:
        """Store the definition; a changed definition becomes a new version."""
        record, version, created = self.store.save_version(
            campaign.name, campaign.label, campaign.to_data(), campaign.digest(), source
        )
        if created:
            self.store.log(
                LogLevel.INFO,
                f"version {version.version} saved" + (f" from {source}" if source else ""),
                campaign_id=record.id,
            )
        return record, version.version

    def campaign_record(self, name: str) -> CampaignRecord:
        """A stored campaign by name; the error suggests the closest stored name."""
        record = self.store.campaign(name)
        if record is None:
            names = [c.name for c in self.store.campaigns()]
            raise PartitaError(f"no stored campaign '{name}': {suggestion(name, names)}")
        return record

    def definition(self, campaign_id: int, version: int) -> Campaign:
        """The pinned definition of a version."""
        cached = self._campaigns.get((campaign_id, version))
        if cached is None:
            stored = self.store.version(campaign_id, version)
            cached = Campaign.model_validate(stored.definition)
            self._campaigns[(campaign_id, version)] = cached
        return cached

    def campaign_of(self, execution: ExecutionRecord) -> Campaign:
        """The definition an execution runs."""
        return self.definition(execution.campaign_id, execution.version)

    # -- status -----------------------------------------------------------------------------------

    def status_of(self, record: CampaignRecord) -> CampaignStatus:
        """What the campaign list shows for a campaign."""
        executions = self.store.executions(record.id)
        current = next((e for e in executions if is_unfinished(e.status)), None)
        last_live = next((e for e in executions if e.mode == Mode.LIVE and e.status.is_final), None)
        return campaign_status(
            archived=record.archived_at is not None,
            current=current.status if current else None,
            last_live=last_live.status if last_live else None,
        )

    def current_execution(self, record: CampaignRecord) -> ExecutionRecord | None:
        """The campaign's unfinished execution, if any."""
        return next((e for e in self.store.executions(record.id) if is_unfinished(e.status)), None)

    def execution(self, reference: str | int) -> ExecutionRecord:
        """An execution by id, or the newest execution of a campaign given by name."""
        text = str(reference)
        if text.isdigit():
            try:
                return self.store.execution(int(text))
            except KeyError:
                raise PartitaError(f"no execution {text}") from None
        record = self.campaign_record(text)
        executions = self.store.executions(record.id)
        if not executions:
            raise PartitaError(f"campaign '{text}' has no execution yet")
        return executions[0]

    def task(self, task_id: int) -> TaskRecord:
        """A task by id."""
        try:
            return self.store.task(task_id)
        except KeyError:
            raise PartitaError(f"no task {task_id}") from None

    # -- actions ----------------------------------------------------------------------------------

    def test(
        self,
        campaign: Campaign,
        variables: Mapping[str, Any] | None = None,
        source: str | None = None,
    ) -> ExecutionRecord:
        """Validate, store and launch a dry run of the newest version."""
        return self._launch(Action.TEST, campaign, Mode.TEST, variables or {}, source)

    def start(
        self,
        campaign: Campaign,
        variables: Mapping[str, Any] | None = None,
        source: str | None = None,
    ) -> ExecutionRecord:
        """Validate, store, publish and launch a live execution."""
        return self._launch(Action.START, campaign, Mode.LIVE, variables or {}, source)

    def _launch(
        self,
        action: Action,
        campaign: Campaign,
        mode: Mode,
        variables: Mapping[str, Any],
        source: str | None,
    ) -> ExecutionRecord:
        self.validate(campaign)
        values = resolve_variables(campaign, variables)
        record, version = self.register(campaign, source)
        status = self.status_of(record)
        require(action, status, f"campaign '{record.name}'")
        current = self.current_execution(record)
        if current is not None:  # only a failed dry run gets here: the new test replaces it
            if current.mode != Mode.TEST:
                raise PartitaError(
                    f"campaign '{record.name}' has failed live execution "
                    f"{current.id}: retry, resume, restart or stop it first"
                )
            self._stop(current, "replaced by a new test execution")
        if mode == Mode.LIVE:
            self.store.update_campaign(record.id, published_version=version)
            self.store.log(LogLevel.INFO, f"version {version} published", campaign_id=record.id)
        return self._new_execution(record, version, mode, values)

    def _new_execution(
        self, record: CampaignRecord, version: int, mode: Mode, values: dict[str, Any]
    ) -> ExecutionRecord:
        execution = self.store.create_execution(record.id, version, mode, values)
        campaign = self.definition(record.id, version)
        for activity in campaign.roots():
            self.store.create_task(execution.id, activity.id)
        shown = f" with {values}" if values else ""
        self.store.log(
            LogLevel.INFO,
            f"{mode.value} execution {execution.id} of version {version} started{shown}",
            campaign_id=record.id,
            execution_id=execution.id,
        )
        return execution

    def run(self, execution_id: int, *, wait: bool = False) -> ExecutionRecord:
        """Run the execution's tasks until it ends or nothing can run now; with ``wait``, also
        sleep through timed waits (quiet hours) until it ends or waits for a person."""
        runner = Runner(
            self.store,
            self.warehouse,
            self.model,
            self.campaign_of,
            self.project.root,
            self.progress,
            channels=self.project.channels,
            frequency_caps={str(k): cap for k, cap in self.project.frequency_caps.items()},
            tracking=tracking_of(self.project),
        )
        execution = runner.run(execution_id)
        while wait and execution.status == ExecutionStatus.RUNNING:
            wake_at = self.store.next_wake(execution_id)
            if wake_at is None:
                break  # waiting for a person (a confirmation)
            self._sleep_until(execution_id, wake_at)
            execution = runner.run(execution_id)
        if execution.status.is_final:
            self.apply_retention(execution)
        return execution

    def _sleep_until(self, execution_id: int, moment: datetime) -> None:
        """Sleep until ``moment``, or until the execution is paused or stopped meanwhile."""
        while (left := (moment - utcnow()).total_seconds()) > 0:
            time.sleep(min(left, WAKE_CHECK_SECONDS))
            if self.store.execution(execution_id).status != ExecutionStatus.RUNNING:
                return

    def _subject(self, execution: ExecutionRecord) -> str:
        return f"execution {execution.id} ({execution.mode.value})"

    def _require_on(self, action: Action, execution: ExecutionRecord) -> CampaignRecord:
        record = self.store.campaign_by_id(execution.campaign_id)
        if record.archived_at is not None:
            require(action, CampaignStatus.ARCHIVED, f"campaign '{record.name}'")
        require(action, CampaignStatus(execution.status.value), self._subject(execution))
        return record

    def _user_log(self, execution: ExecutionRecord, message: str) -> None:
        self.store.log(
            LogLevel.INFO, message, campaign_id=execution.campaign_id, execution_id=execution.id
        )

    def pause(self, execution_id: int) -> ExecutionRecord:
        """No new task starts; a running task finishes first."""
        execution = self.store.execution(execution_id)
        self._require_on(Action.PAUSE, execution)
        self.store.set_execution_status(
            execution.id, ExecutionStatus.PAUSED, expected=[ExecutionStatus.RUNNING]
        )
        self._user_log(execution, f"execution {execution.id} paused by the user")
        return self.store.execution(execution.id)

    def resume(self, execution_id: int) -> ExecutionRecord:
        """Continue a paused or failed execution; failed tasks run again. A running execution
        whose running tasks' process is gone (killed, crashed) gets those tasks back as
        pending: they run again from what they recorded (a channel's ledger)."""
        execution = self.store.execution(execution_id)
        if execution.status == ExecutionStatus.RUNNING:
            orphans = [
                task
                for task in self.store.tasks(execution.id)
                if task.status == TaskStatus.RUNNING and worker_is_gone(task.worker)
            ]
            for task in orphans:
                self.store.set_task_status(task.id, TaskStatus.PENDING)
            if orphans:
                names = ", ".join(f"'{task.activity_id}' (task {task.id})" for task in orphans)
                self._user_log(
                    execution,
                    f"execution {execution.id} resumed by the user: {names} had been left "
                    f"running by a process that is gone ({orphans[0].worker})",
                )
                return self.store.execution(execution.id)
        self._require_on(Action.RESUME, execution)
        self._refuse_aborted(execution, Action.RESUME)
        for task in self._failed_tasks(execution):
            self._reopen(execution, task)
        self.store.set_execution_status(
            execution.id,
            ExecutionStatus.RUNNING,
            expected=[ExecutionStatus.PAUSED, ExecutionStatus.FAILED],
            consecutive_errors=0,
        )
        self._user_log(execution, f"execution {execution.id} resumed by the user")
        return self.store.execution(execution.id)

    def confirm(self, execution_id: int, activity_id: str) -> ExecutionRecord:
        """Let a channel activity that awaits confirmation send: its task is pending again."""
        execution = self.store.execution(execution_id)
        waiting = [
            t
            for t in self.store.tasks(execution.id)
            if t.activity_id == activity_id and t.status == TaskStatus.WAITING and t.wake_at is None
        ]
        if not waiting:
            raise PartitaError(
                f"activity '{activity_id}' of execution {execution.id} is not awaiting confirmation"
            )
        self.store.confirm_activity(execution.id, activity_id)
        self.store.set_task_status(waiting[-1].id, TaskStatus.PENDING)
        self._user_log(
            execution, f"sending of '{activity_id}' confirmed by the user (task {waiting[-1].id})"
        )
        return self.store.execution(execution.id)

    def retry(self, task_id: int) -> ExecutionRecord:
        """Run a failed task again (after its cause was fixed), reusing upstream tables."""
        task = self.task(task_id)
        execution = self.store.execution(task.execution_id)
        if task.status != TaskStatus.FAILED:
            raise PartitaError(
                f"cannot retry task {task.id}: it is {task.status.value}; "
                "retry applies to a failed task"
            )
        latest = [t for t in self.store.tasks(execution.id) if t.activity_id == task.activity_id][
            -1
        ]
        if latest.id != task.id:
            raise PartitaError(
                f"cannot retry task {task.id}: activity '{task.activity_id}' was "
                f"already run again as task {latest.id}"
            )
        self._require_on(Action.RETRY, execution)
        self._refuse_aborted(execution, Action.RETRY)
        self._reopen(execution, task)
        self.store.set_execution_status(
            execution.id,
            ExecutionStatus.RUNNING,
            expected=[ExecutionStatus.FAILED],
            consecutive_errors=0,
        )
        self._user_log(execution, f"task {task.id} ('{task.activity_id}') retried by the user")
        return self.store.execution(execution.id)

    def stop(self, execution_id: int) -> ExecutionRecord:
        """End the execution: pending tasks are cancelled, nothing more runs."""
        execution = self.store.execution(execution_id)
        self._require_on(Action.STOP, execution)
        self._stop(execution, "stopped by the user")
        return self.store.execution(execution.id)

    def _stop(self, execution: ExecutionRecord, reason: str) -> None:
        for task in self.store.tasks(execution.id):
            if task.status.is_active:
                self.store.set_task_status(task.id, TaskStatus.CANCELLED)
        self.store.set_execution_status(execution.id, ExecutionStatus.STOPPED)
        self._user_log(execution, f"execution {execution.id} {reason}")
        self.apply_retention(self.store.execution(execution.id))

    def restart(self, execution_id: int) -> ExecutionRecord:
        """A new execution of the campaign from the start (same mode)."""
        execution = self.store.execution(execution_id)
        record = self._require_on(Action.RESTART, execution)
        current = self.current_execution(record)
        if current is not None:
            self._stop(current, "stopped by a restart")
        version = record.published_version if execution.mode == Mode.LIVE else None
        version = version or record.latest_version
        self._user_log(execution, f"restarted by the user from execution {execution.id}")
        return self._new_execution(record, version, execution.mode, dict(execution.variables))

    def back_to_draft(self, name: str) -> CampaignRecord:
        """Unpublish a failed (never completed live) campaign; its failed execution is stopped."""
        record = self.campaign_record(name)
        require(Action.BACK_TO_DRAFT, self.status_of(record), f"campaign '{name}'")
        executions = self.store.executions(record.id, Mode.LIVE)
        if any(e.status == ExecutionStatus.COMPLETED for e in executions):
            raise PartitaError(
                f"cannot move campaign '{name}' back to draft: it has a completed "
                "live execution; duplicate it instead"
            )
        current = self.current_execution(record)
        if current is not None:
            self._stop(current, "stopped: campaign moved back to draft")
        self.store.update_campaign(record.id, published_version=None)
        self.store.log(LogLevel.INFO, "moved back to draft by the user", campaign_id=record.id)
        return self.store.campaign_by_id(record.id)

    def duplicate(self, name: str, new_name: str) -> CampaignRecord:
        """A new draft campaign with the newest definition of ``name``."""
        record = self.campaign_record(name)
        require(Action.DUPLICATE, self.status_of(record), f"campaign '{name}'")
        if self.store.campaign(new_name) is not None:
            raise PartitaError(f"a campaign named '{new_name}' exists already")
        copy = self.definition(record.id, record.latest_version).model_copy(
            update={"name": new_name}
        )
        Campaign.model_validate(copy.to_data())  # the new name must be valid too
        created, _ = self.register(copy, source=f"duplicate of '{name}'")
        return created

    def archive(self, name: str) -> CampaignRecord:
        """Hide a completed or stopped campaign from the default list."""
        record = self.campaign_record(name)
        require(Action.ARCHIVE, self.status_of(record), f"campaign '{name}'")
        self.store.update_campaign(record.id, archived_at=utcnow())
        self.store.log(LogLevel.INFO, "archived by the user", campaign_id=record.id)
        return self.store.campaign_by_id(record.id)

    def _refuse_aborted(self, execution: ExecutionRecord, action: Action) -> None:
        if execution.aborted:
            raise PartitaError(
                f"cannot {action.value} execution {execution.id}: error policy "
                "'abort' ended it; restart it instead"
            )

    def _failed_tasks(self, execution: ExecutionRecord) -> list[TaskRecord]:
        latest: dict[str, TaskRecord] = {}
        for task in self.store.tasks(execution.id):
            latest[task.activity_id] = task
        return [t for t in latest.values() if t.status == TaskStatus.FAILED]

    def _reopen(self, execution: ExecutionRecord, task: TaskRecord) -> None:
        """A new attempt of a failed task; branches its failure had ended are opened again."""
        campaign = self.campaign_of(execution)
        self._forget_downstream(execution, campaign, task.activity_id)
        self.store.create_task(execution.id, task.activity_id)

    def _forget_downstream(
        self, execution: ExecutionRecord, campaign: Campaign, activity_id: str
    ) -> None:
        positions = [
            i for i, t in enumerate(campaign.transitions) if t.origin.activity == activity_id
        ]
        self.store.forget_transitions(execution.id, positions)
        tasks = {t.activity_id: t for t in self.store.tasks(execution.id)}
        for target in {campaign.transitions[i].target for i in positions}:
            skipped = tasks.get(target)
            if skipped is not None and skipped.status == TaskStatus.SKIPPED:
                self.store.set_task_status(skipped.id, TaskStatus.CANCELLED)
                self._forget_downstream(execution, campaign, target)

    # -- working tables ---------------------------------------------------------------------------

    def working_table(self, execution: ExecutionRecord, reference: str) -> WorkingTableRef:
        """The working table of ``activity[.output]`` in an execution."""
        endpoint = Endpoint.parse(reference)
        campaign = self.campaign_of(execution)
        ids = [a.id for a in campaign.activities]
        if endpoint.activity not in ids:
            raise PartitaError(
                f"campaign '{campaign.name}' has no activity '{endpoint.activity}': "
                f"{suggestion(endpoint.activity, ids)}"
            )
        outputs = campaign.activity(endpoint.activity).outputs()
        if endpoint.output not in outputs:
            raise PartitaError(
                f"activity '{endpoint.activity}' has no output '{endpoint.output}': "
                f"{suggestion(endpoint.output, outputs)}"
            )
        for output in self.store.outputs(execution.id):
            if output.activity_id == endpoint.activity and output.output == endpoint.output:
                if execution.tables_dropped:
                    raise PartitaError(
                        f"the working tables of execution {execution.id} were "
                        "dropped by the retention policy"
                    )
                key = output.key_column or self.project.dimensions[output.dimension].key
                return WorkingTableRef(execution, output, key)
        raise PartitaError(
            f"'{endpoint}' produced no working table in execution {execution.id} "
            "(the activity has not run, or the output did not fire)"
        )

    def apply_retention(self, execution: ExecutionRecord) -> None:
        """Drop the working tables of finished executions beyond the campaign's retention."""
        campaign = self.campaign_of(execution)
        keep = (
            campaign.retention.executions
            if campaign.retention
            else self.project.retention.executions
        )
        finished = [e for e in self.store.executions(execution.campaign_id) if e.status.is_final]
        for old in finished[keep:]:
            if old.tables_dropped:
                continue
            names = sorted({o.table_name for o in self.store.outputs(old.id)})
            self.warehouse.drop(names)
            self.store.update_execution(old.id, tables_dropped=True)
            self.store.log(
                LogLevel.INFO,
                f"retention: dropped {len(names)} working tables of execution {old.id}",
                campaign_id=old.campaign_id,
                execution_id=old.id,
            )
