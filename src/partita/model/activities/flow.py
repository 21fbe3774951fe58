"""Settings of the flow-control activities: fork, and_join, test, end.

They pass populations on without looking at their rows, so rows of a loaded file may flow
through them too.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from partita.model.activities.base import IDENTIFIER, ActivityBase


class Fork(ActivityBase):
    """Fires all its outputs with the inbound population."""

    type: Literal["fork"] = "fork"

    accepts_file_rows: ClassVar[bool] = True
    branches: Annotated[list[str], Field(min_length=2)] = Field(
        default_factory=lambda: ["out1", "out2"], description="output names"
    )

    def outputs(self) -> list[str]:
        return list(self.branches)


class AndJoin(ActivityBase):
    """Waits for all inbound transitions; carries the ``primary`` input's population."""

    type: Literal["and_join"] = "and_join"

    accepts_file_rows: ClassVar[bool] = True
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

    accepts_file_rows: ClassVar[bool] = True
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

    accepts_file_rows: ClassVar[bool] = True

    inputs_allowed: ClassVar[tuple[int, int | None]] = (1, None)

    def outputs(self) -> list[str]:
        return []

    def waits_for_all_inputs(self) -> bool:
        return False
