"""Turning pydantic validation errors into :class:`Problem` values with places and suggestions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from partita.model.problems import Problem, suggestion
from partita.model.yamlio import Document

#: Given the error path, returns (activity id or None, field path shown to the user).
Locator = Callable[[Sequence[str | int]], tuple[str | None, str | None]]


def _default_locator(path: Sequence[str | int]) -> tuple[str | None, str | None]:
    return None, ".".join(str(p) for p in path) or None


def _known_fields(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    names = []
    for name, info in model.model_fields.items():
        names.append(info.alias or name)
    return names


def problems_from_validation(
    exc: ValidationError,
    document: Document | None,
    *,
    locate: Locator = _default_locator,
    model_at: Callable[[Sequence[str | int]], type[BaseModel] | None] = lambda _p: None,
    tags: Sequence[str] = (),
) -> list[Problem]:
    """One problem per pydantic error, worded for people.

    ``model_at`` tells which model a path lands in (to suggest setting names); ``tags`` are the
    valid values of the discriminator (to suggest activity types).
    """
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        raw_path = _strip_union_members(error["loc"], tags)
        kind = error["type"]
        message = error["msg"]
        value: Any = error.get("input")
        if kind == "extra_forbidden":
            parent, name = raw_path[:-1], str(raw_path[-1])
            message = (
                f"unknown setting '{name}': {suggestion(name, _known_fields(model_at(parent)))}"
            )
        elif kind == "missing":
            message = f"missing required setting '{raw_path[-1]}'"
        elif kind == "union_tag_invalid":
            given = value.get("type") if isinstance(value, dict) else value
            raw_path = [*raw_path, "type"]
            message = f"unknown activity type '{given}': {suggestion(str(given), tags)}"
        elif kind == "union_tag_not_found":
            raw_path = [*raw_path, "type"]
            message = "missing required setting 'type'"
        elif kind == "literal_error" or kind.endswith("_type") or kind.endswith("_parsing"):
            message = f"invalid value {value!r}: {message.lower()}"
        else:
            message = message[0].lower() + message[1:] if message else kind
            message = message.removeprefix("value error, ")
        activity, field = locate(raw_path)
        line, column = document.place(raw_path) if document is not None else (None, None)
        problems.append(
            Problem(
                message,
                activity=activity,
                field=field,
                file=document.file if document is not None else None,
                line=line,
                column=column,
            )
        )
    return problems


def _strip_union_members(loc: Sequence[str | int], tags: Sequence[str]) -> list[str | int]:
    """Drop the parts pydantic inserts for union members (the tag after a list index)."""
    path: list[str | int] = []
    for part in loc:
        after_index = bool(path) and isinstance(path[-1], int)
        if isinstance(part, str) and (
            part.startswith("function-") or (after_index and part in tags)
        ):
            continue
        path.append(part)
    return path
