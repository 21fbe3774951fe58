"""The data model: targetable dimensions, the links between them, and their column types.

Declared in ``partita.yaml``; the column types are read from the warehouse when the project is
opened, so filters can be checked without touching data.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from partita.model.problems import PartitaError, suggestion


class ColumnType(enum.StrEnum):
    """The kinds of values a filter reasons about (the warehouse layer maps engine types here)."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"  # float or decimal
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    OTHER = "other"

    @property
    def is_numeric(self) -> bool:
        return self in (ColumnType.INTEGER, ColumnType.NUMBER)

    @property
    def is_temporal(self) -> bool:
        return self in (ColumnType.DATE, ColumnType.TIMESTAMP)


class Dimension(BaseModel):
    """A table whose rows can be targeted (customers, purchases…)."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    table: str
    key: str
    database: str | None = Field(
        default=None,
        description="schema (or catalog.schema) holding the table; default: the connection's",
    )
    email: str | None = None
    phone: str | None = None
    push_token: str | None = None
    timezone: str | None = None
    consent: dict[str, str] = Field(default_factory=dict)

    def declared_columns(self) -> dict[str, str]:
        """Every column the declaration names, by the setting that names it."""
        cols = {"key": self.key}
        for setting in ("email", "phone", "push_token", "timezone"):
            value = getattr(self, setting)
            if value is not None:
                cols[setting] = value
        for channel, column in self.consent.items():
            cols[f"consent.{channel}"] = column
        return cols


class Link(BaseModel):
    """A named way from one dimension to another: join columns and cardinality."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    on: dict[str, str] = Field(
        description="source column -> target column; several for multi-column joins"
    )
    cardinality: Literal["one", "many"]

    @model_validator(mode="after")
    def _has_join_columns(self) -> Link:
        if not self.on:
            raise ValueError("a link needs at least one join column in 'on'")
        return self


@dataclass
class DataModel:
    """Dimensions and links, plus the column types of every dimension's table."""

    dimensions: dict[str, Dimension]
    links: list[Link]
    columns: dict[str, dict[str, ColumnType]] = field(default_factory=dict)

    def dimension(self, name: str) -> Dimension:
        """The dimension called ``name``; an error suggesting the closest one otherwise."""
        try:
            return self.dimensions[name]
        except KeyError:
            raise PartitaError(
                f"unknown dimension '{name}': {suggestion(name, self.dimensions)}"
            ) from None

    def links_from(self, dimension: str) -> dict[str, Link]:
        """Links leaving ``dimension``, by name."""
        return {link.name: link for link in self.links if link.source == dimension}

    def link(self, dimension: str, name: str) -> Link:
        """The link ``name`` leaving ``dimension``."""
        links = self.links_from(dimension)
        try:
            return links[name]
        except KeyError:
            raise PartitaError(
                f"dimension '{dimension}' has no link '{name}': {suggestion(name, links)}"
            ) from None

    def column_types(self, dimension: str) -> Mapping[str, ColumnType]:
        """Column name -> type for the dimension's table (empty when not loaded)."""
        return self.columns.get(dimension, {})
