"""A campaign definition: properties, activities and transitions; YAML/JSON load and save."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from partita.model.activities import ACTIVITY_TYPES, IDENTIFIER, Activity, ActivityBase
from partita.model.datamodel import ColumnType
from partita.model.problems import InvalidInput, Problem
from partita.model.pydantic_problems import problems_from_validation
from partita.model.yamlio import Document, dump_yaml, load_yaml

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Variable(BaseModel):
    """A campaign variable, usable as ``$name`` in filters and tests."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["string", "integer", "number", "boolean", "date", "timestamp"] = "string"
    default: Any = None
    description: str | None = None

    @property
    def column_type(self) -> ColumnType:
        """The filter type of the variable's values."""
        return ColumnType(self.type)


class Retention(BaseModel):
    """Campaign override of the project's retention of working tables."""

    model_config = ConfigDict(extra="forbid")

    executions: int = Field(ge=0, description="keep the working tables of the last N executions")


class Endpoint(BaseModel):
    """One end of a transition: an activity and one of its outputs."""

    model_config = ConfigDict(frozen=True)

    activity: str
    output: str = "out"

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """``"split1.mail"`` -> (split1, mail); a bare id means output ``out``."""
        activity, _, output = text.partition(".")
        return cls(activity=activity, output=output or "out")

    def __str__(self) -> str:
        return self.activity if self.output == "out" else f"{self.activity}.{self.output}"


class Transition(BaseModel):
    """An edge from ``activity.output`` to another activity."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", description="activity.output; a bare id means output 'out'")
    target: str = Field(alias="to", description="the activity id it leads to")

    @property
    def origin(self) -> Endpoint:
        """The source as (activity, output)."""
        return Endpoint.parse(self.source)

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


class Campaign(BaseModel):
    """A campaign definition: what the file, the canvas and the Python builder all produce."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="stable identifier of the campaign")
    label: str | None = None
    description: str | None = None
    dimension: str = Field(default="customers", description="default targeting dimension")
    seed: int = Field(default=0, description="makes sampling and random choices repeatable")
    error_policy: Literal["suspend", "ignore", "abort"] = "suspend"
    max_consecutive_errors: int = Field(
        default=3,
        ge=1,
        description="error_policy ignore: the campaign fails after this many errors in a row",
    )
    variables: dict[str, Variable] = Field(default_factory=dict)
    retention: Retention | None = None
    activities: list[Activity] = Field(default_factory=list)
    transitions: list[Transition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _variable_names(self) -> Campaign:
        for name in self.variables:
            if not re.match(IDENTIFIER, name):
                raise ValueError(
                    f"variable name '{name}' must be an identifier (letters, digits, _)"
                )
        return self

    # -- graph helpers -------------------------------------------------------------------------

    def activity(self, activity_id: str) -> ActivityBase:
        """The activity with this id (KeyError when absent)."""
        for activity in self.activities:
            if activity.id == activity_id:
                return activity
        raise KeyError(activity_id)

    def inbound(self, activity_id: str) -> list[Transition]:
        """Transitions into an activity, in file order (which is the inputs' order)."""
        return [t for t in self.transitions if t.target == activity_id]

    def outbound(self, activity_id: str, output: str | None = None) -> list[Transition]:
        """Transitions leaving an activity (optionally one output)."""
        return [
            t
            for t in self.transitions
            if t.origin.activity == activity_id and (output is None or t.origin.output == output)
        ]

    def roots(self) -> list[ActivityBase]:
        """Activities without inbound transitions: they start an execution."""
        targets = {t.target for t in self.transitions}
        return [a for a in self.activities if a.id not in targets]

    # -- serialisation -------------------------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        """Plain data as written in a campaign file (defaults left out)."""
        properties = self.model_dump(
            mode="json", by_alias=True, exclude_defaults=True, exclude={"activities", "transitions"}
        )
        return properties | {
            "activities": [
                {"id": a.id, "type": a.kind}
                | a.model_dump(
                    mode="json", by_alias=True, exclude_defaults=True, exclude={"id", "type"}
                )
                for a in self.activities
            ],
            "transitions": [{"from": t.source, "to": t.target} for t in self.transitions],
        }

    def to_yaml(self) -> str:
        """The campaign as YAML text."""
        return dump_yaml(self.to_data())

    def to_json(self) -> str:
        """The campaign as JSON text."""
        return json.dumps(self.to_data(), indent=2, ensure_ascii=False)

    def digest(self) -> str:
        """A fingerprint of the definition: equal definitions have equal digests."""
        canonical = json.dumps(self.to_data(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _locator(data: Any) -> Any:
    def locate(path: Sequence[str | int]) -> tuple[str | None, str | None]:
        if len(path) >= 2 and path[0] == "activities" and isinstance(path[1], int):
            activities = data.get("activities") if isinstance(data, dict) else None
            activity_id = None
            if isinstance(activities, list) and path[1] < len(activities):
                item = activities[path[1]]
                if isinstance(item, dict) and item.get("id") is not None:
                    activity_id = str(item["id"])
            if activity_id is None:
                activity_id = f"#{path[1] + 1}"
            rest = ".".join(str(p) for p in path[2:])
            return activity_id, rest or None
        return None, ".".join(str(p) for p in path) or None

    return locate


def _model_at(data: Any) -> Any:
    def model_at(path: Sequence[str | int]) -> type[BaseModel] | None:
        if not path:
            return Campaign
        if path[0] == "activities" and len(path) >= 2 and isinstance(path[1], int):
            activities = data.get("activities") if isinstance(data, dict) else None
            try:
                kind = activities[path[1]]["type"]  # type: ignore[index]
            except (TypeError, KeyError, IndexError):
                return None
            model: type[BaseModel] | None = ACTIVITY_TYPES.get(kind)
            for part in path[2:]:
                if model is None:
                    return None
                if isinstance(part, int):
                    continue
                info = model.model_fields.get(str(part))
                model = _inner_model(info.annotation) if info is not None else None
            return model
        if path[0] == "transitions":
            return Transition
        if path[0] == "variables" and len(path) == 2:
            return Variable
        return None

    return model_at


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``list[X]``, ``X | None``… if there is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def campaign_from_document(document: Document) -> Campaign:
    """Build a campaign from parsed YAML/JSON; problems name activity, field, line and column."""
    data = document.data
    subject = document.file or "campaign"
    if not isinstance(data, dict):
        raise InvalidInput(
            [
                Problem(
                    "a campaign file must be a mapping (name, activities, transitions)",
                    file=document.file,
                )
            ],
            subject=subject,
        )
    try:
        return Campaign.model_validate(data)
    except ValidationError as exc:
        problems = problems_from_validation(
            exc,
            document,
            locate=_locator(data),
            model_at=_model_at(data),
            tags=list(ACTIVITY_TYPES),
        )
        raise InvalidInput(problems, subject=subject) from None


def parse_campaign(text: str, file: str | None = None) -> Campaign:
    """Parse campaign text (YAML, of which JSON is a subset)."""
    return campaign_from_document(load_yaml(text, file=file, subject=file or "campaign"))


def load_campaign(path: Path) -> Campaign:
    """Read a campaign file (``.yaml``, ``.yml`` or ``.json``)."""
    return read_campaign_file(path)[0]


def read_campaign_file(path: Path) -> tuple[Campaign, Document]:
    """A campaign file's campaign and its parsed document (to place later problems in it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            [Problem(f"cannot read the campaign file: {exc.strerror}", file=str(path))],
            subject=str(path),
        ) from None
    document = load_yaml(text, file=str(path), subject=str(path))
    return campaign_from_document(document), document


_LEADING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*")
_TRANSITION = re.compile(r"^transitions\[(\d+)\](?:\.(from|to))?")


def locate_problems(problems: Sequence[Problem], document: Document) -> list[Problem]:
    """Problems found after parsing (graph rules, filters) placed at a line of the file."""
    activities = document.data.get("activities") if isinstance(document.data, dict) else None
    index = {
        str(item.get("id")): i
        for i, item in enumerate(activities or [])
        if isinstance(item, dict) and item.get("id") is not None
    }
    placed: list[Problem] = []
    for problem in problems:
        if problem.file is not None:
            placed.append(problem)
            continue
        path: list[str | int] = []
        transition = _TRANSITION.match(problem.field or "")
        if transition is not None:
            path = ["transitions", int(transition.group(1))]
            if transition.group(2):
                path.append(transition.group(2))
        elif problem.activity in index:
            path = ["activities", index[problem.activity]]
            name = _LEADING_NAME.match(problem.field or "")
            if name is not None:
                path.append(name.group(0))
        else:  # not a problem of the file's diagram (a --var value, the data model…)
            placed.append(problem)
            continue
        line, column = document.place(path)
        placed.append(replace(problem, file=document.file, line=line, column=column))
    return placed


def save_campaign(campaign: Campaign, path: Path) -> None:
    """Write a campaign file; JSON when the name ends in ``.json``, YAML otherwise."""
    text = campaign.to_json() if path.suffix == ".json" else campaign.to_yaml()
    path.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
