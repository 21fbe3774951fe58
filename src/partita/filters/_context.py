"""What the compiler needs besides the filter: the data model, tables, variables and the clock."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir

from partita.model.datamodel import DataModel


@dataclass(frozen=True)
class FilterContext:
    """The dimension the rows belong to, how to reach linked tables, variable values, clock.

    ``today``/``now`` left as None use the engine's current date and time; tests pin them.
    """

    model: DataModel
    dimension: str
    table_of: Callable[[str], ir.Table]
    variables: Mapping[str, object] = field(default_factory=dict)
    today: datetime.date | None = None
    now: datetime.datetime | None = None

    def over(self, dimension: str) -> FilterContext:
        """The same context for rows of another dimension (the target of a link)."""
        return dataclasses.replace(self, dimension=dimension)

    def today_value(self) -> ir.DateValue:
        """``today()``: the pinned date as a literal, else the engine's current date."""
        return ibis.today() if self.today is None else ibis.literal(self.today, type="date")

    def now_value(self) -> ir.TimestampValue:
        """``now()``: the pinned time as a literal, else the engine's current timestamp."""
        return ibis.now() if self.now is None else ibis.literal(self.now, type="timestamp")
