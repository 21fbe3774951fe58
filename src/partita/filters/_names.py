"""Names against the data model: columns, one-link paths and many-links, with suggestions."""

from __future__ import annotations

from collections.abc import Mapping

from partita.filters._ast import Column, Span
from partita.filters._errors import FilterError
from partita.model.datamodel import ColumnType, DataModel, Link
from partita.model.problems import suggestion


def column_type(
    model: DataModel, dimension: str, columns: Mapping[str, ColumnType], node: Column
) -> ColumnType:
    """The type of ``node``: a column of ``columns``, or a column reached through one-links."""
    spans = node.part_spans or (node.span,) * len(node.path)
    for name, span in zip(node.path[:-1], spans, strict=False):
        step = link(model, dimension, name, span)
        if step.cardinality == "many":
            raise FilterError(
                f"link '{name}' of dimension '{dimension}' is a many-link: use exists {name} "
                f"(…) or an aggregate such as count({name}) instead of '{'.'.join(node.path)}'",
                span,
            )
        dimension = step.target
        columns = model.column_types(dimension)
    name = node.path[-1]
    if name in columns:
        return columns[name]
    links = model.links_from(dimension)
    if len(node.path) == 1 and name in links:
        one = links[name].cardinality == "one"
        use = f"{name}.<column>" if one else f"exists {name} or count({name})"
        raise FilterError(f"'{name}' is a link, not a column: use {use}", spans[-1])
    raise FilterError(
        f"unknown column '{name}' in dimension '{dimension}': {suggestion(name, columns)}",
        spans[-1],
    )


def link(model: DataModel, dimension: str, name: str, span: Span | None) -> Link:
    """The link ``name`` leaving ``dimension``."""
    links = model.links_from(dimension)
    if name not in links:
        hint = suggestion(name, links)
        raise FilterError(f"unknown link '{name}' in dimension '{dimension}': {hint}", span)
    return links[name]


def many_link(model: DataModel, dimension: str, name: str, span: Span | None, what: str) -> Link:
    """The many-link ``name`` leaving ``dimension``, for ``what`` (exists, count, sum…)."""
    found = link(model, dimension, name, span)
    if found.cardinality == "one":
        key = model.dimension(found.target).key
        raise FilterError(
            f"link '{name}' of dimension '{dimension}' is a one-link: {what} needs a many-link; "
            f"read its columns with {name}.<column> (e.g. {name}.{key} is not null)",
            span,
        )
    return found
