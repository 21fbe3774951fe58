"""Campaign variables: defaults, values given at launch, and their types."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from partita.model.campaign import Campaign, Variable
from partita.model.problems import InvalidInput, Problem, suggestion

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _coerce(name: str, variable: Variable, value: Any) -> Any:
    if value is None:
        return None
    kind = variable.type
    try:
        if kind == "string":
            return str(value)
        if kind == "integer":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError
        if kind == "date":
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    except ValueError:
        article = "an" if kind[0] in "aeiou" else "a"
        raise InvalidInput(
            [
                Problem(
                    f"variable '{name}' is {article} {kind}; {value!r} is not",
                    field=f"variables.{name}",
                )
            ],
            subject="variables",
        ) from None


def resolve_variables(campaign: Campaign, given: Mapping[str, Any]) -> dict[str, Any]:
    """Values for every declared variable: given ones (coerced to their type) over defaults.

    The result holds JSON-ready values (dates as ISO text) for the state store.
    """
    unknown = [n for n in given if n not in campaign.variables]
    if unknown:
        raise InvalidInput(
            [
                Problem(
                    f"campaign '{campaign.name}' declares no variable '{n}': "
                    f"{suggestion(n, campaign.variables)}",
                    field="variables",
                )
                for n in unknown
            ],
            subject="variables",
        )
    values: dict[str, Any] = {}
    for name, variable in campaign.variables.items():
        value = _coerce(name, variable, given.get(name, variable.default))
        values[name] = value.isoformat() if isinstance(value, dt.date) else value
    return values


def typed_variables(campaign: Campaign, stored: Mapping[str, Any]) -> dict[str, Any]:
    """Stored variable values back as Python values of their declared type."""
    return {
        name: _coerce(name, campaign.variables[name], value)
        if name in campaign.variables
        else value
        for name, value in stored.items()
    }
