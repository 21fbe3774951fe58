"""Settings of the activities that reshape populations: enrichment, change_dimension,
reconciliation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from partita.model.activities.base import (
    FILE_ROW_KEY,
    IDENTIFIER,
    ActivityBase,
    Columns,
    FilterSpec,
    OrderBy,
    as_list,
)
from partita.model.datamodel import ColumnType, DataModel


class Collect(BaseModel):
    """The first ``count`` rows of a many-link as numbered columns (``last_1_amount``…).

    Linked rows are numbered per population row by ``order_by`` (remaining ties: the seeded
    order of the linked table's key); row ``n``'s ``column`` becomes ``<prefix>_<n>_<column>``,
    NULL when there are fewer than ``n`` rows.
    """

    model_config = ConfigDict(extra="forbid")

    link: str = Field(description="a many-link of the population's dimension, e.g. purchases")
    columns: Annotated[list[str], Field(min_length=1)] = Field(
        description="columns of the linked dimension to copy, e.g. [amount, category]; a "
        "one-link path (store.name) is copied as store_name"
    )
    order_by: OrderBy = Field(
        description="which rows come first, e.g. [purchased_at desc] (default: a seeded order)"
    )
    count: int = Field(default=1, ge=1, le=100, description="how many rows")
    filter: FilterSpec | None = Field(default=None, description="only linked rows matching this")
    prefix: str | None = Field(
        default=None, pattern=IDENTIFIER, description="alias prefix (default: the link's name)"
    )

    _list_columns = field_validator("columns", "order_by", mode="before")(as_list)

    @field_validator("columns")
    @classmethod
    def _column_names(cls, columns: list[str]) -> list[str]:
        for column in columns:
            if not all(_is_identifier(part) for part in column.split(".")):
                raise ValueError(
                    f"collect column '{column}' must be a column name or a one-link path "
                    "(store.name)"
                )
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        if duplicated:
            raise ValueError(f"collect columns are listed twice: {', '.join(duplicated)}")
        return columns

    def aliases(self) -> list[tuple[int, str, str]]:
        """(position, column, alias) for every added column, in order."""
        prefix = self.prefix or self.link
        return [
            (n, column, f"{prefix}_{n}_{column.replace('.', '_')}")
            for n in range(1, self.count + 1)
            for column in self.columns
        ]


class Lookup(BaseModel):
    """Columns taken from another inbound working table (e.g. a loaded file), joined on keys.

    Each population row takes the values of the one row of the other table whose ``on``
    columns are equal to its own (NULL when none is); several matching rows are an error.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(
        alias="input", description="the inbound transition's source, e.g. load1 or split1.mail"
    )
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
    """Adds columns to the inbound population without adding or losing rows.

    With a ``lookup`` it takes two inputs: the population, and the lookup's ``input``.
    """

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

    @property
    def primary(self) -> str | None:
        """The input the flow lists first (``partita.model.graph``): the lookup's.

        So the shape methods below find the population's dimension and columns second when
        there is a lookup, whatever the order of the transitions.
        """
        return self.lookup.source if self.lookup is not None else None

    def population_index(self, inputs: Sequence[object]) -> int:
        """Where the population is among inputs ordered by the flow (lookup input first)."""
        return 1 if self.lookup is not None and len(inputs) > 1 else 0

    def output_dimension(
        self, output: str, inputs: list[str], default: str, model: DataModel | None = None
    ) -> str:
        return inputs[self.population_index(inputs)] if inputs else default

    def output_columns(self, output: str, inputs: list[Columns]) -> Columns:
        """Without the data model the aliases' types are unknown (the columns hook types them)."""
        columns = dict(inputs[self.population_index(inputs)]) if inputs else {}
        columns.update(dict.fromkeys(self.aliases(), ColumnType.OTHER))
        return columns

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
    dropped; along a many-link every target row keeps the carried columns of its source row
    (a carried column named like a column of the target dimension is renamed
    ``<source dimension>_<column>``).
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
        """Without the data model the source key's type is unknown (the columns hook types it)."""
        columns = dict(inputs[0]) if inputs else {}
        if output == "unreconciled":
            return columns
        source_key = FILE_ROW_KEY if FILE_ROW_KEY in columns else None
        return {
            name: columns.get(column, ColumnType.OTHER)
            for name, column in self.carried(list(columns), source_key, None)
        }

    def carried(
        self, columns: list[str], source_key: str | None, dimension_key: str | None
    ) -> list[tuple[str, str]]:
        """(output name, inbound column) of the columns ``out`` carries.

        The inbound key becomes ``source_row`` (file rows) or ``source_<key>``; a rule's source
        column named like its dimension column is dropped (the dimension's value is the
        reconciled one); a column named like the dimension key becomes ``source_<name>``.
        """
        pairs = [(source_column(source_key), source_key)] if source_key is not None else []
        redundant = {rule.source for rule in self.rules if rule.source == rule.column}
        for column in columns:
            if column == source_key or column in redundant:
                continue
            pairs.append((f"source_{column}" if column == dimension_key else column, column))
        return pairs

    @model_validator(mode="after")
    def _has_rules(self) -> Reconciliation:
        if not self.rules:
            raise ValueError("a reconciliation needs at least one rule (source, column)")
        return self


def source_column(key: str) -> str:
    """The column of a reconciliation's output that keeps the inbound row's key."""
    return "source_row" if key == FILE_ROW_KEY else f"source_{key.lstrip('_')}"
