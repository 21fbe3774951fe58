"""Settings of the activities that reshape populations: enrichment, change_dimension,
reconciliation."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from partita.model.activities.base import (
    IDENTIFIER,
    ActivityBase,
    Columns,
    FilterSpec,
    OrderBy,
    as_list,
)
from partita.model.datamodel import DataModel


class Collect(BaseModel):
    """The first ``count`` rows of a many-link as numbered columns (``last_1_amount``…)."""

    model_config = ConfigDict(extra="forbid")

    link: str = Field(description="a many-link of the population's dimension, e.g. purchases")
    columns: Annotated[list[str], Field(min_length=1)] = Field(
        description="columns of the linked dimension to copy, e.g. [amount, category]"
    )
    order_by: OrderBy = Field(description="which rows come first, e.g. [purchased_at desc]")
    count: int = Field(default=1, ge=1, le=100, description="how many rows")
    filter: FilterSpec | None = Field(default=None, description="only linked rows matching this")
    prefix: str | None = Field(
        default=None, pattern=IDENTIFIER, description="alias prefix (default: the link's name)"
    )

    _list_columns = field_validator("columns", "order_by", mode="before")(as_list)

    def aliases(self) -> list[tuple[int, str, str]]:
        """(position, column, alias) for every added column, in order."""
        prefix = self.prefix or self.link
        return [
            (n, column, f"{prefix}_{n}_{column}")
            for n in range(1, self.count + 1)
            for column in self.columns
        ]


class Lookup(BaseModel):
    """Columns taken from another inbound working table (e.g. a loaded file), joined on keys."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="input", description="the inbound transition's source, e.g. load1")
    on: dict[str, str] = Field(
        description="population column -> column of the other table; all must match"
    )
    columns: dict[str, str] = Field(description="alias -> column of the other table")

    @model_validator(mode="after")
    def _not_empty(self) -> Lookup:
        if not self.on:
            raise ValueError("a lookup needs at least one join column in 'on'")
        if not self.columns:
            raise ValueError("a lookup needs at least one column in 'columns'")
        return self


class Enrichment(ActivityBase):
    """Adds columns to the inbound population without adding or losing rows."""

    type: Literal["enrichment"] = "enrichment"
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="alias -> expression: a column, a one-link path (store.region.name), an "
        "aggregate over a many-link (sum(purchases.amount where purchased_at > days_ago(90)))",
    )
    collect: list[Collect] = Field(default_factory=list)
    lookup: Lookup | None = None

    inputs_allowed: ClassVar[tuple[int, int | None]] = (1, 2)
    accepts_file_rows: ClassVar[bool] = True  # as the lookup input

    @model_validator(mode="after")
    def _something_to_add(self) -> Enrichment:
        if not self.columns and not self.collect and self.lookup is None:
            raise ValueError("an enrichment adds at least one column (columns, collect or lookup)")
        for alias in self.columns:
            if not _is_identifier(alias):
                raise ValueError(f"column alias '{alias}' must be an identifier")
        if self.lookup is not None:
            for alias in self.lookup.columns:
                if not _is_identifier(alias):
                    raise ValueError(f"column alias '{alias}' must be an identifier")
        return self

    def aliases(self) -> list[str]:
        """Every column the enrichment adds, in order."""
        names = list(self.columns)
        for collect in self.collect:
            names += [alias for _, _, alias in collect.aliases()]
        if self.lookup is not None:
            names += list(self.lookup.columns)
        return names


def _is_identifier(name: str) -> bool:
    return re.match(IDENTIFIER, name) is not None


class ChangeDimension(ActivityBase):
    """Follows a link to a new targeting dimension (purchases -> customers, customers -> purchases).

    Along a one-link the result has one row per distinct target key and carried columns are
    dropped; along a many-link every target row keeps the carried columns of its source row.
    """

    type: Literal["change_dimension"] = "change_dimension"
    link: str = Field(description="a link of the input's dimension, e.g. customer or purchases")
    filter: FilterSpec | None = Field(
        default=None, description="only target rows matching this (over the new dimension)"
    )

    def output_dimension(
        self, output: str, inputs: list[str], default: str, model: DataModel | None = None
    ) -> str:
        source = inputs[0] if inputs else default
        if model is None or source not in model.dimensions:
            return source
        links = model.links_from(source)
        return links[self.link].target if self.link in links else source


class MatchRule(BaseModel):
    """One rule of a reconciliation: the file's ``source`` column equals the dimension's."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="column of the inbound rows")
    column: str = Field(description="column of the dimension")
    ignore_case: bool = Field(default=False, description="compare lower-cased text")


class Reconciliation(ActivityBase):
    """Turns rows that came from outside (a loaded file) into rows of a dimension."""

    type: Literal["reconciliation"] = "reconciliation"
    dimension: str = Field(description="the dimension the rows are matched with")
    rules: list[MatchRule] = Field(
        default_factory=list, description="all must match (source column = dimension column)"
    )
    filter: FilterSpec | None = Field(
        default=None, description="only dimension rows matching this are candidates"
    )
    keep_unreconciled: bool = Field(
        default=False, description="true: rows that match nothing go to output 'unreconciled'"
    )

    accepts_file_rows: ClassVar[bool] = True

    def outputs(self) -> list[str]:
        return ["out", "unreconciled"] if self.keep_unreconciled else ["out"]

    def output_dimension(
        self, output: str, inputs: list[str], default: str, model: DataModel | None = None
    ) -> str:
        if output == "unreconciled":
            return inputs[0] if inputs else default
        return self.dimension

    def output_columns(self, output: str, inputs: list[Columns]) -> Columns:
        return dict(inputs[0]) if inputs else {}

    @model_validator(mode="after")
    def _has_rules(self) -> Reconciliation:
        if not self.rules:
            raise ValueError("a reconciliation needs at least one rule (source, column)")
        return self
