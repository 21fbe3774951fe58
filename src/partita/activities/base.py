"""What an activity's ``run`` receives and returns.

An activity is a pair: its settings model (``partita.model.activities``) and a module here with
``run(context, settings, inputs) -> outputs``, plus ``check`` for what validation must look at
in the data model.  The engine materializes the returned tables as working tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import ibis.expr.types as ir

from partita.channels._history import DeliveryHistory
from partita.channels._ledger import Ledger
from partita.channels._tracking import Tracking
from partita.filters import FilterContext
from partita.model.activities import Columns, OrderItem
from partita.model.activities.channels import FrequencyCap
from partita.model.campaign import Campaign, Endpoint
from partita.model.datamodel import DataModel, Dimension
from partita.model.graph import Flow
from partita.model.problems import PartitaError, Problem
from partita.model.states import LogLevel, Mode
from partita.warehouse import Warehouse
from partita.warehouse.sampling import seeded_rank


@dataclass(frozen=True)
class Input:
    """One inbound population: where it came from, its working table and its key column."""

    source: Endpoint
    table_name: str
    table: ir.Table
    dimension: str
    count: int
    key: str


@dataclass(frozen=True)
class Output:
    """What an activity produced on one output.

    ``table`` is an expression to materialize, or None when the output does not fire.
    ``reuse`` names an existing working table carried unchanged (fork, test, and_join).
    """

    table: ir.Table | None = None
    dimension: str | None = None
    fire_when_empty: bool = True
    reuse: str | None = None
    #: The key column when the rows are not rows of a dimension (a loaded file's ``_row``).
    key: str | None = None

    @classmethod
    def passthrough(cls, source: Input) -> Output:
        """The inbound population, unchanged and not copied."""
        return cls(
            table=source.table, dimension=source.dimension, reuse=source.table_name, key=source.key
        )


Outputs = dict[str, Output]


class Interrupted(Exception):
    """Raised by an activity at a safe point: the execution was paused or stopped. The task
    goes back to pending and runs again on resume (its work so far is kept, e.g. the
    ledger)."""


class Suspended(PartitaError):
    """Raised by an activity that cannot go on until a person fixes something (a provider's
    credentials, quota): the execution is paused with this message; resume continues."""


class AwaitingConfirmation(Exception):
    """Raised by a channel activity with ``confirm_before_send`` that was not confirmed yet:
    the task waits ("awaiting confirmation") until ``partita confirm``."""


class Deferred(Exception):
    """Raised by a channel activity that sent what it could and must wait for the rest
    (recipients in their quiet hours): the task waits until ``wake_at``, then runs again
    (the ledger keeps what was sent)."""

    def __init__(self, wake_at: datetime, message: str) -> None:
        super().__init__(message)
        self.wake_at = wake_at


@dataclass(frozen=True)
class SavedAudience:
    """A named audience as save_audience writes it and read_audience finds it."""

    name: str
    table_name: str
    dimension: str
    columns: list[str]
    row_count: int


class AudienceCatalog(Protocol):
    """Where named audiences are recorded (the engine backs it with the state store)."""

    def get(self, name: str) -> SavedAudience | None:
        """The audience called ``name``, if saved."""

    def save(self, audience: SavedAudience) -> None:
        """Record (or replace) an audience."""


@dataclass
class RunContext:
    """Everything one task may use; built by the engine for each run."""

    campaign: Campaign
    activity_id: str
    execution_id: int
    mode: Mode
    model: DataModel
    warehouse: Warehouse
    variables: Mapping[str, Any]
    log: Callable[[LogLevel, str, dict[str, Any] | None], None]
    materialize: Callable[[str, ir.Table, str], ir.Table]
    scratch: Callable[[ir.Table], ir.Table]
    root: Path
    audiences: AudienceCatalog
    #: When the previous live execution of this campaign started (incremental queries).
    previous_live_start: datetime | None = None
    #: True once the execution was paused or stopped: a long activity (a channel sending
    #: batches) raises :class:`Interrupted` at its next safe point.
    should_stop: Callable[[], bool] = lambda: False
    #: The project's ``channels:`` entries (provider settings by name).
    channels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: The project's ``frequency_caps:`` by channel (an activity's own cap wins).
    frequency_caps: Mapping[str, FrequencyCap] = field(default_factory=dict)
    #: The delivery ledger of this activity in this execution, for a channel (live mode):
    #: ``ledger(channel, dimension, category)``.
    ledger: Callable[[str, str, str], Ledger] | None = None
    #: (recipient key, messages sent) of a channel and category to a dimension's rows since a
    #: time, by other executions: the delivery history frequency caps count.
    recent_sends: Callable[[str, str, str, datetime], Iterable[tuple[str, int]]] | None = None
    #: Whether a user confirmed the sending of this activity (``confirm_before_send``).
    confirmed: Callable[[], bool] = lambda: False
    #: The delivery history in the warehouse (filters on ``deliveries``; channel activities
    #: record their ledger rows there); None where there is no state store.
    delivery_history: DeliveryHistory | None = None
    #: The project's tracking (signed links, open pixel, unsubscribe); None without one.
    tracking: Tracking | None = None

    @property
    def seed(self) -> int:
        """The campaign seed (repeatable sampling)."""
        return self.campaign.seed

    def dimension(self, name: str) -> Dimension:
        """A dimension of the data model."""
        return self.model.dimension(name)

    def filter_context(self, dimension: str) -> FilterContext:
        """What the filter compiler needs for rows of ``dimension``."""
        return FilterContext(
            model=self.model,
            dimension=dimension,
            table_of=self.table,
            variables=self.variables,
        )

    def table(self, dimension: str) -> ir.Table:
        """The rows of a dimension: its table, or the delivery history of a recipient
        dimension (the target of its ``deliveries`` link)."""
        recipient = self.model.delivery_history.get(dimension)
        if recipient is None:
            return self.warehouse.table(self.model.dimension(dimension))
        if self.delivery_history is None:
            raise PartitaError(f"'{dimension}' needs the state store, and this run has none")
        return self.delivery_history.table(self.model.dimension(recipient))

    def population(self, source: Input) -> ir.Table:
        """The working table's rows with every column of their dimension joined on.

        Working-table columns (enrichment values, segment…) win over dimension columns.
        """
        return joined_population(self.warehouse, self.dimension(source.dimension), source.table)

    def tie_break(self, table: ir.Table, key: str) -> list[ir.Value]:
        """The seeded pseudo-random order used wherever rows are otherwise equal."""
        return [seeded_rank(table[key], self.seed).asc(), table[key].asc()]


def joined_population(warehouse: Warehouse, dimension: Dimension, table: ir.Table) -> ir.Table:
    """A working table's rows with every column of their dimension joined on; working-table
    columns win over dimension columns."""
    data = warehouse.table(dimension)
    carried = [c for c in table.columns if c != dimension.key]
    if carried:
        data = data.drop(*[c for c in carried if c in data.columns])
    return table.join(data, dimension.key)


def ordering(values: list[ir.Value], items: list[OrderItem]) -> list[ir.Value]:
    """Compiled ``order_by`` values with their directions."""
    return [v.desc() if item.desc else v.asc() for v, item in zip(values, items, strict=True)]


@dataclass
class CheckContext:
    """What an activity's ``check`` may look at: the data model and the flow of the diagram."""

    campaign: Campaign
    model: DataModel
    flow: Flow
    variable_types: Mapping[str, Any] = field(default_factory=dict)
    #: The project's ``channels:`` entries when known (None: provider entries are checked
    #: when the task runs).
    channels: Mapping[str, Mapping[str, Any]] | None = None

    def input_dimension(self, activity_id: str) -> str | None:
        """The dimension of an activity's first input, if known."""
        dims = self.flow.input_dimensions.get(activity_id) or []
        return dims[0] if dims else None

    def input_columns(self, activity_id: str) -> Columns:
        """The extra columns reaching an activity."""
        return self.flow.columns_into(activity_id)


Checker = Callable[[Any, CheckContext], list[Problem]]
#: (settings, output, input dimensions, input columns, data model) -> the output's columns.
ColumnsOf = Callable[[Any, str, list[str], list[Columns], DataModel], Columns]
Runner = Callable[[RunContext, Any, list[Input]], Outputs]
