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
    #: Built-in delivery-history dimensions -> the recipient dimension they belong to.
    delivery_history: dict[str, str] = field(default_factory=dict)

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


# -- the delivery history, a built-in many-link -------------------------------------------------

#: The name of the many-link from each recipient dimension to its delivery history.
DELIVERIES = "deliveries"

#: The columns of a delivery, as filters see them (``recipient_key`` takes the key's type).
DELIVERY_COLUMNS: dict[str, ColumnType] = {
    "delivery_id": ColumnType.STRING,
    "campaign": ColumnType.STRING,
    "execution_id": ColumnType.INTEGER,
    "activity": ColumnType.STRING,
    "channel": ColumnType.STRING,
    "category": ColumnType.STRING,
    "address": ColumnType.STRING,
    "state": ColumnType.STRING,
    "reason": ColumnType.STRING,
    "queued_at": ColumnType.TIMESTAMP,
    "sent_at": ColumnType.TIMESTAMP,
    "opened": ColumnType.BOOLEAN,
    "opens": ColumnType.INTEGER,
    "opened_at": ColumnType.TIMESTAMP,
    "clicked": ColumnType.BOOLEAN,
    "clicks": ColumnType.INTEGER,
    "clicked_at": ColumnType.TIMESTAMP,
    "unsubscribed": ColumnType.BOOLEAN,
    "bounced": ColumnType.BOOLEAN,
    "complained": ColumnType.BOOLEAN,
}


def deliveries_dimension(dimension: str) -> str:
    """The name of the built-in dimension holding the deliveries to rows of ``dimension``."""
    return f"{dimension}.{DELIVERIES}"


def is_recipient(dimension: Dimension) -> bool:
    """Whether messages can go to rows of ``dimension`` (it declares an address column)."""
    return any(c is not None for c in (dimension.email, dimension.phone, dimension.push_token))


def with_deliveries(model: DataModel) -> DataModel:
    """``model`` with, for every recipient dimension, a ``deliveries`` many-link to the
    delivery history of its rows (a link the project declares under that name wins)."""
    dimensions = dict(model.dimensions)
    links = list(model.links)
    columns = dict(model.columns)
    history: dict[str, str] = {}
    for name, dimension in model.dimensions.items():
        if not is_recipient(dimension) or DELIVERIES in model.links_from(name):
            continue
        target = deliveries_dimension(name)
        dimensions[target] = Dimension(name=target, table=target, key="delivery_id")
        links.append(
            Link.model_validate(
                {
                    "name": DELIVERIES,
                    "from": name,
                    "to": target,
                    "on": {dimension.key: "recipient_key"},
                    "cardinality": "many",
                }
            )
        )
        key_type = model.column_types(name).get(dimension.key, ColumnType.OTHER)
        columns[target] = {**DELIVERY_COLUMNS, "recipient_key": key_type}
        history[target] = name
    return DataModel(dimensions, links, columns, delivery_history=history)
