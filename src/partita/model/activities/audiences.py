"""Settings of the activities on named audiences and history: save_audience, read_audience,
incremental_query, update_data."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from partita.model.activities.base import IDENTIFIER, ActivityBase, Columns, FilterSpec
from partita.model.datamodel import DataModel


class SaveAudience(ActivityBase):
    """Writes the inbound keys (and chosen columns) as a named audience. Nothing in test mode."""

    type: Literal["save_audience"] = "save_audience"
    name: str = Field(pattern=IDENTIFIER, description="the audience's name")
    columns: list[str] = Field(
        default_factory=list, description="carried columns kept with the keys"
    )


class ReadAudience(ActivityBase):
    """The members of an audience saved earlier by save_audience."""

    type: Literal["read_audience"] = "read_audience"
    name: str = Field(pattern=IDENTIFIER, description="the audience's name")
    dimension: str | None = Field(
        default=None, description="its dimension (checked at run time); default: the campaign's"
    )

    inputs_allowed: ClassVar[tuple[int, int | None]] = (0, 1)

    def output_dimension(
        self, output: str, inputs: list[str], default: str, model: DataModel | None = None
    ) -> str:
        return self.dimension or default

    def output_columns(self, output: str, inputs: list[Columns]) -> Columns:
        return {}


class IncrementalQuery(ActivityBase):
    """Like build_audience, but only rows earlier live executions did not return (by key), or
    rows whose ``since_column`` is later than the previous live execution. Empty ends the branch.
    """

    type: Literal["incremental_query"] = "incremental_query"
    dimension: str | None = Field(default=None, description="default: the campaign's dimension")
    filter: FilterSpec | None = Field(default=None, description="absent: the whole table")
    since_column: str | None = Field(
        default=None,
        description="a timestamp column: only rows later than the previous live execution",
    )

    inputs_allowed: ClassVar[tuple[int, int | None]] = (0, 1)

    def output_dimension(
        self, output: str, inputs: list[str], default: str, model: DataModel | None = None
    ) -> str:
        return self.dimension or default

    def output_columns(self, output: str, inputs: list[Columns]) -> Columns:
        return {}


class UpdateData(ActivityBase):
    """Writes inbound columns back to a warehouse table by key. Nothing in test mode."""

    type: Literal["update_data"] = "update_data"
    table: str = Field(description="the warehouse table written to")
    database: str | None = Field(default=None, description="its schema (default: the data's)")
    mode: Literal["insert", "update", "upsert"] = "upsert"
    key: dict[str, str] = Field(
        description="table column -> population column identifying a row, e.g. {id: id}"
    )
    columns: dict[str, str] = Field(
        description="table column -> expression over the population (a column, an alias, "
        "upper(first_name)…)"
    )

    @model_validator(mode="after")
    def _not_empty(self) -> UpdateData:
        if not self.key:
            raise ValueError("update_data needs 'key': the columns identifying a table row")
        if not self.columns:
            raise ValueError("update_data needs 'columns': what to write")
        return self
