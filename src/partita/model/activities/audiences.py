"""Settings of the activities on named audiences and history: save_audience, read_audience,
incremental_query, update_data."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from partita.model.activities.base import IDENTIFIER, ActivityBase, Columns, FilterSpec, as_list
from partita.model.datamodel import DataModel

#: Audience names: lower-case, so that the table ``a_<name>`` is the same on every engine.
AUDIENCE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
AUDIENCE_NAME_LENGTH = 50


def audience_name(name: str) -> str:
    """An audience name as settings accept it (lower-case letters, digits, underscores)."""
    if not AUDIENCE_NAME.match(name) or len(name) > AUDIENCE_NAME_LENGTH:
        raise ValueError(
            f"audience name '{name}' must be lower-case letters, digits and underscores "
            f"(at most {AUDIENCE_NAME_LENGTH}), e.g. 'gold_fr'"
        )
    return name


class SaveAudience(ActivityBase):
    """Writes the inbound keys (and chosen columns) as a named audience. Nothing in test mode."""

    type: Literal["save_audience"] = "save_audience"
    name: str = Field(description="the audience's name (lower-case letters, digits, _)")
    columns: list[str] = Field(
        default_factory=list,
        description="columns the inbound working table carries (enrichment values, segment…) "
        "saved with the keys",
    )

    _name = field_validator("name")(audience_name)
    _list_columns = field_validator("columns", mode="before")(as_list)

    @field_validator("columns")
    @classmethod
    def _column_names(cls, columns: list[str]) -> list[str]:
        for column in columns:
            if not re.match(IDENTIFIER, column):
                raise ValueError(f"column '{column}' must be a column name")
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        if duplicated:
            raise ValueError(f"column '{duplicated[0]}' is listed twice")
        return columns


class ReadAudience(ActivityBase):
    """The members of an audience saved earlier by save_audience."""

    type: Literal["read_audience"] = "read_audience"
    name: str = Field(description="the audience's name")
    dimension: str | None = Field(
        default=None, description="its dimension (checked at run time); default: the campaign's"
    )

    _name = field_validator("name")(audience_name)

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
        pattern=IDENTIFIER,
        description="a timestamp column of the dimension: only rows later than the start of "
        "the previous completed live execution (absent: by key history)",
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
    mode: Literal["insert", "update", "upsert"] = Field(
        default="upsert",
        description="insert: new keys only (a key already in the table is an error); update: "
        "existing keys only; upsert: both",
    )
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
        both = sorted(set(self.key) & set(self.columns))
        if both:
            raise ValueError(
                f"column '{both[0]}' is in both 'key' and 'columns': a key column identifies "
                "the row and is not written"
            )
        return self
