"""Reading YAML with places: parse errors and later problems point at a line and column."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from partita.model.problems import InvalidInput, Problem

Path_ = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """YAML 1.2 style scalars: only true/false are booleans, and dates stay text.

    A link's ``on:`` key must not turn into ``True``, nor ``no`` into ``False``; dates are
    read by whoever knows the column's type (and round-trip through JSON unchanged).
    """


_DROPPED = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass(frozen=True)
class Document:
    """Parsed YAML data and, for every path in it, the (line, column) where it starts (1-based)."""

    data: Any
    places: dict[Path_, tuple[int, int]]
    file: str | None

    def place(self, path: Sequence[str | int]) -> tuple[int | None, int | None]:
        """The line and column of ``path``, or of its closest enclosing node."""
        path = tuple(path)
        while path:
            if path in self.places:
                return self.places[path]
            path = path[:-1]
        return self.places.get((), (None, None))


def _collect(node: yaml.Node, path: Path_, places: dict[Path_, tuple[int, int]]) -> None:
    places[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            places[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _collect(value_node, (*path, key), places)
            places[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect(item, (*path, index), places)


def load_yaml(text: str, file: str | None = None, subject: str = "YAML") -> Document:
    """Parse ``text``; a syntax error becomes :class:`InvalidInput` naming line and column."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        raise InvalidInput(
            [Problem(f"YAML syntax error: {what}", file=file, line=line, column=column)],
            subject=subject,
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidInput([Problem(f"YAML error: {exc}", file=file)], subject=subject) from None
    places: dict[Path_, tuple[int, int]] = {}
    if node is not None:
        _collect(node, (), places)
    return Document(data=data, places=places, file=file)


def dump_yaml(data: Any) -> str:
    """YAML text for ``data``, keys in the order given, block style, unicode kept."""
    return yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )
