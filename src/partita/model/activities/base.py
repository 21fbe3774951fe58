"""What every activity's settings have: id, label, and the activity's shape."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from partita.model.datamodel import ColumnType, DataModel

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


def as_list(value: Any) -> Any:
    """A single string or mapping setting as a one-item list."""
    return [value] if isinstance(value, str | dict) else value


OrderBy = Annotated[list[OrderItem], Field(default_factory=list)]


class ActivityBase(BaseModel):
    """What every activity has: an id, a label, and its shape."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=IDENTIFIER, description="unique in the campaign; used in transitions")
    label: str | None = Field(default=None, description="shown on the canvas")

    #: (minimum, maximum) number of inbound transitions; maximum None means any number.
    inputs_allowed: ClassVar[tuple[int, int | None]] = (1, 1)
    #: True when an input may hold rows of a file not yet reconciled with a dimension.
    accepts_file_rows: ClassVar[bool] = False

    @property
    def kind(self) -> str:
        """The ``type`` of this activity."""
        return str(getattr(self, "type"))  # noqa: B009 - every subclass declares ``type``

    def outputs(self) -> list[str]:
        """Names of the outputs, in canvas order."""
        return ["out"]

    def output_dimension(
        self, output: str, inputs: list[str], default: str, model: DataModel | None = None
    ) -> str:
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


FILE_ROWS = "file:"


def file_rows(activity_id: str) -> str:
    """The pseudo-dimension of rows loaded from a file by ``activity_id`` (not reconciled)."""
    return f"{FILE_ROWS}{activity_id}"


def is_file_rows(dimension: str) -> bool:
    """True for the pseudo-dimension of a loaded file."""
    return dimension.startswith(FILE_ROWS)


#: Rows of a loaded file are numbered in this column (1 = the first data row).
FILE_ROW_KEY = "_row"
