"""Settings of the targeting activities: build_audience, combine, deduplication, split."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from partita.model.activities.base import (
    IDENTIFIER,
    ActivityBase,
    Columns,
    FilterSpec,
    OrderBy,
    as_list,
)
from partita.model.datamodel import ColumnType, DataModel


class BuildAudience(ActivityBase):
    """The rows of a dimension that match a filter."""

    type: Literal["build_audience"] = "build_audience"
    dimension: str | None = Field(default=None, description="default: the campaign's dimension")
    filter: FilterSpec | None = Field(default=None, description="absent: the whole table")
    emit_when_empty: bool = Field(
        default=True,
        description="false: an empty result ends the branch instead of firing with 0 rows",
    )

    inputs_allowed: ClassVar[tuple[int, int | None]] = (0, 1)

    def output_dimension(
        self, output: str, inputs: list[str], default: str, model: DataModel | None = None
    ) -> str:
        return self.dimension or default

    def output_columns(self, output: str, inputs: list[Columns]) -> Columns:
        return {}


class Combine(ActivityBase):
    """Union, intersection or exclusion of inputs of one dimension, reconciled by key."""

    type: Literal["combine"] = "combine"
    mode: Literal["union", "intersection", "exclusion"]
    primary: str | None = Field(
        default=None,
        description="exclusion: the input kept, named by its source ('gold' or 'split1.mail')",
    )
    complement: bool = Field(
        default=False,
        description="intersection: union minus intersection; exclusion: the removed rows",
    )

    inputs_allowed: ClassVar[tuple[int, int | None]] = (2, None)

    def waits_for_all_inputs(self) -> bool:
        """Union runs with the inputs that arrived; the other modes need every input."""
        return self.mode != "union"

    def outputs(self) -> list[str]:
        return ["out", "complement"] if self.complement and self.mode != "union" else ["out"]

    def output_columns(self, output: str, inputs: list[Columns]) -> Columns:
        if self.mode == "exclusion":
            return dict(inputs[0]) if inputs else {}
        merged: Columns = {}
        for columns in inputs:
            for name, kind in columns.items():
                merged.setdefault(name, kind)
        return merged

    @model_validator(mode="after")
    def _complement_needs_two_sets(self) -> Combine:
        if self.complement and self.mode == "union":
            raise ValueError("complement is defined for intersection and exclusion, not union")
        return self


class Deduplication(ActivityBase):
    """Keeps ``keep`` rows per group of rows with the same ``keys``."""

    type: Literal["deduplication"] = "deduplication"
    keys: Annotated[list[str], Field(min_length=1)] = Field(
        description="columns or expressions identifying duplicates, e.g. lower(email)"
    )
    keep: int = Field(default=1, ge=0, description="rows kept per group; 0 keeps all")
    method: Literal["random", "expression", "non_empty", "values"] = "random"
    order_by: OrderBy = Field(description="method expression: keep the first rows in this order")
    column: str | None = Field(
        default=None, description="method non_empty / values: the column looked at"
    )
    values: list[Any] = Field(
        default_factory=list, description="method values: preferred values, best first"
    )
    complement: bool = Field(
        default=False, description="adds output 'complement' with the removed duplicates"
    )

    _list_keys = field_validator("keys", "order_by", mode="before")(as_list)

    def outputs(self) -> list[str]:
        return ["out", "complement"] if self.complement else ["out"]

    @model_validator(mode="after")
    def _method_settings(self) -> Deduplication:
        if self.method == "expression" and not self.order_by:
            raise ValueError("method 'expression' needs 'order_by'")
        if self.method in ("non_empty", "values") and not self.column:
            raise ValueError(f"method '{self.method}' needs 'column'")
        if self.method == "values" and not self.values:
            raise ValueError("method 'values' needs 'values' (preferred values, best first)")
        return self


class Limit(BaseModel):
    """At most ``count`` rows, or ``percent`` % of the input (rounded down)."""

    model_config = ConfigDict(extra="forbid")

    count: int | None = Field(default=None, ge=0)
    percent: float | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _exactly_one(self) -> Limit:
        if (self.count is None) == (self.percent is None):
            raise ValueError("a limit takes exactly one of 'count' or 'percent'")
        return self


class Subset(BaseModel):
    """One subset of a split: an output of its own (unless ``single_table``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=IDENTIFIER, description="output name")
    label: str | None = None
    filter: FilterSpec | None = None
    limit: Limit | None = None
    order_by: OrderBy = Field(
        description="for limits: keep the first rows in this order (else a seeded sample)"
    )
    skip_empty: bool = Field(default=False, description="true: an empty subset ends its branch")

    _list_order = field_validator("order_by", mode="before")(as_list)


class Split(ActivityBase):
    """Ordered subsets of the input, each with a filter and an optional limit."""

    type: Literal["split"] = "split"
    subsets: Annotated[list[Subset], Field(min_length=1)]
    overlap: bool = Field(
        default=False, description="true: each subset is evaluated on the full input"
    )
    complement: bool = Field(
        default=False, description="adds output 'complement': rows in no subset"
    )
    single_table: bool = Field(default=False, description="one output 'out' with a segment column")
    segment_column: str = Field(default="segment", pattern=IDENTIFIER)

    def outputs(self) -> list[str]:
        names = ["out"] if self.single_table else [s.name for s in self.subsets]
        return [*names, "complement"] if self.complement else names

    def output_columns(self, output: str, inputs: list[Columns]) -> Columns:
        columns = dict(inputs[0]) if inputs else {}
        if self.single_table and output == "out":
            columns[self.segment_column] = ColumnType.STRING
        return columns

    @model_validator(mode="after")
    def _unique_names(self) -> Split:
        names = [s.name for s in self.subsets]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"subset names must be unique: {', '.join(duplicated)}")
        if "complement" in names and self.complement:
            raise ValueError("a subset cannot be named 'complement' when complement is true")
        return self
