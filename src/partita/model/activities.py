"""Settings of every activity kind, as pydantic models (a discriminated union on ``type``).

A settings class also states the activity's shape: how many inputs it takes, which outputs it
has, and which dimension and extra columns each output carries.  The validator and the canvas
forms read these; the matching ``run`` lives in ``partita.activities.<kind>``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)

from partita.model.datamodel import ColumnType

#: A filter in text form (``"loyalty_tier = 'gold'"``) or as a rule tree (``{all: [...]}``).
FilterSpec = str | dict[str, Any] | list[Any]
#: Columns a working table carries beyond the dimension's own (enrichment values, segment…).
Columns = dict[str, ColumnType]

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ORDER_ITEM = re.compile(
    r"^(?P<expr>.*?)(?:\s+(?P<direction>asc|desc))?\s*$", re.IGNORECASE | re.DOTALL
)


class OrderItem(BaseModel):
    """An ordering expression with a direction: ``"amount desc"`` or ``{expr: amount, desc: true}``."""

    model_config = ConfigDict(extra="forbid")

    expr: str
    desc: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _ORDER_ITEM.match(value)
            assert match is not None  # the pattern matches any text
            direction = (match.group("direction") or "asc").lower()
            return {"expr": match.group("expr").strip(), "desc": direction == "desc"}
        return value

    @model_serializer
    def _to_text(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return f"{self.expr} desc" if self.desc else self.expr


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str | dict) else value


OrderBy = Annotated[list[OrderItem], Field(default_factory=list)]


class ActivityBase(BaseModel):
    """What every activity has: an id, a label, and its shape."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=IDENTIFIER, description="unique in the campaign; used in transitions")
    label: str | None = Field(default=None, description="shown on the canvas")

    #: (minimum, maximum) number of inbound transitions; maximum None means any number.
    inputs_allowed: ClassVar[tuple[int, int | None]] = (1, 1)

    @property
    def kind(self) -> str:
        """The ``type`` of this activity."""
        return str(getattr(self, "type"))  # noqa: B009 - every subclass declares ``type``

    def outputs(self) -> list[str]:
        """Names of the outputs, in canvas order."""
        return ["out"]

    def output_dimension(self, output: str, inputs: list[str], default: str) -> str:
        """The targeting dimension of ``output`` given the inputs' dimensions."""
        return inputs[0] if inputs else default

    def output_columns(self, output: str, inputs: list[Columns]) -> Columns:
        """The extra columns ``output`` carries, given the inputs' extra columns."""
        return dict(inputs[0]) if inputs else {}

    def waits_for_all_inputs(self) -> bool:
        """True when the activity cannot run unless every inbound transition fired."""
        return True

    def display(self) -> str:
        """The label, or the id when there is none."""
        return self.label or self.id


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

    def output_dimension(self, output: str, inputs: list[str], default: str) -> str:
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

    _list_keys = field_validator("keys", "order_by", mode="before")(_as_list)

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

    _list_order = field_validator("order_by", mode="before")(_as_list)


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


class Fork(ActivityBase):
    """Fires all its outputs with the inbound population."""

    type: Literal["fork"] = "fork"
    branches: Annotated[list[str], Field(min_length=2)] = Field(
        default_factory=lambda: ["out1", "out2"], description="output names"
    )

    def outputs(self) -> list[str]:
        return list(self.branches)


class AndJoin(ActivityBase):
    """Waits for all inbound transitions; carries the ``primary`` input's population."""

    type: Literal["and_join"] = "and_join"
    primary: str | None = Field(
        default=None, description="input named by its source; default: the first"
    )

    inputs_allowed: ClassVar[tuple[int, int | None]] = (2, None)


class Condition(BaseModel):
    """One branch of a test: fires its output when ``when`` is true."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=IDENTIFIER, description="output name")
    label: str | None = None
    when: str = Field(description="e.g. count > 10000 or $country = 'FR'")


class TestActivity(ActivityBase):
    """Fires the output of the first true condition (or ``default``) with the inbound population."""

    __test__ = False  # not a pytest test class

    type: Literal["test"] = "test"
    conditions: Annotated[list[Condition], Field(min_length=1)]
    default: bool = Field(
        default=False, description="adds output 'default', fired when no condition holds"
    )

    def outputs(self) -> list[str]:
        names = [c.name for c in self.conditions]
        return [*names, "default"] if self.default else names


class End(ActivityBase):
    """Marks the end of a branch."""

    type: Literal["end"] = "end"

    inputs_allowed: ClassVar[tuple[int, int | None]] = (1, None)

    def outputs(self) -> list[str]:
        return []

    def waits_for_all_inputs(self) -> bool:
        return False


Activity = Annotated[
    BuildAudience | Combine | Deduplication | Split | Fork | AndJoin | TestActivity | End,
    Field(discriminator="type"),
]

ACTIVITY_TYPES: dict[str, type[ActivityBase]] = {
    cls.model_fields["type"].default: cls
    for cls in (BuildAudience, Combine, Deduplication, Split, Fork, AndJoin, TestActivity, End)
}
