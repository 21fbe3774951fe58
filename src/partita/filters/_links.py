"""Linked data for the compiler, planned once however often a filter uses it.

A one-link path becomes a left join of the target table (nested paths chain joins); the
aggregates over one many-link and one sub-filter become a single grouped table, left joined on
the link's columns.  Joined columns get helper names (``__pf_<n>_<column>``) that collide with
nothing, so the caller's columns stay as they are.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import ibis.expr.types as ir

from partita.filters._ast import Column, Expr, Filter
from partita.filters._context import FilterContext
from partita.model.datamodel import Link

CompileValues = Callable[
    [ir.Table, Sequence[Filter | Expr], FilterContext], tuple[ir.Table, list[ir.Value]]
]

_MEASURES: dict[str, Callable[[ir.Table, ir.Value], ir.Value]] = {
    "count": lambda rows, value: rows.count(),
    "count_distinct": lambda rows, value: value.nunique(),
    "sum": lambda rows, value: value.sum(),
    "avg": lambda rows, value: value.mean(),
    "min": lambda rows, value: value.min(),
    "max": lambda rows, value: value.max(),
}


@dataclass
class _Joined:
    """One table joined on: the link, the matching columns on the left, the columns taken."""

    link: Link
    left: tuple[str, ...]  # in the order of ``link.on``
    columns: dict[str, str] = field(default_factory=dict)  # target column -> helper name


@dataclass
class _Grouped:
    """The rows of a many-link matching a sub-filter, grouped by the link's target columns."""

    link: Link
    where: Filter | None
    keys: dict[str, str]  # target join column -> helper name
    measures: dict[tuple[str, Column | None], str] = field(default_factory=dict)


class Links:
    """The joins one compilation needs over ``table`` (rows of ``ctx.dimension``)."""

    def __init__(self, table: ir.Table, ctx: FilterContext, compile_values: CompileValues):
        self.table = table
        self.ctx = ctx
        self.compile_values = compile_values
        self.taken = set(table.columns)
        self.counter = itertools.count(1)
        self.paths: dict[tuple[str, ...], _Joined] = {}
        self.groups: dict[tuple[str, Filter | None], _Grouped] = {}

    def fresh(self, label: str) -> str:
        """A helper column name not used by the table nor by an earlier helper."""
        name = f"__pf_{next(self.counter)}_{label}"
        while name in self.taken:
            name = f"__pf_{next(self.counter)}_{label}"
        self.taken.add(name)
        return name

    def column(self, path: tuple[str, ...]) -> str:
        """The helper column that will hold ``link.….column`` once the links are joined."""
        dimension = self.ctx.dimension
        for depth in range(1, len(path)):
            link = self.ctx.model.link(dimension, path[depth - 1])
            if path[:depth] not in self.paths:
                before = self.paths.get(path[: depth - 1])
                left = tuple(link.on)
                if before is not None:  # the previous hop's columns, under their helper names
                    left = tuple(self.take(before, column) for column in left)
                joined = self.paths[path[:depth]] = _Joined(link, left)
                for target in link.on.values():
                    self.take(joined, target)
            dimension = link.target
        return self.take(self.paths[path[:-1]], path[-1])

    def take(self, joined: _Joined, column: str) -> str:
        if column not in joined.columns:
            joined.columns[column] = self.fresh(column)
        return joined.columns[column]

    def measure(self, link: Link, where: Filter | None, func: str, column: Column | None) -> str:
        """The helper column that will hold ``func(link.column where …)`` (NULL: no rows)."""
        group = self.groups.get((link.name, where))
        if group is None:
            keys = {target: self.fresh(target) for target in link.on.values()}
            group = self.groups[(link.name, where)] = _Grouped(link, where, keys)
        if (func, column) not in group.measures:
            group.measures[(func, column)] = self.fresh(func)
        return group.measures[(func, column)]

    def rows(
        self, link: Link, where: Filter | None, *values: Expr
    ) -> tuple[ir.Table, list[ir.Value]]:
        """The target rows of ``link`` matching ``where``, and ``values`` computed over them."""
        target = self.ctx.table_of(link.target)
        sub = self.ctx.over(link.target)
        if where is None:
            return self.compile_values(target, values, sub)
        wide, (condition, *computed) = self.compile_values(target, [where, *values], sub)
        return wide.filter(condition), computed

    def widen(self) -> ir.Table:
        """The table with every planned join applied (the table itself when none is)."""
        table = self.table
        for joined in self.paths.values():
            target = self.ctx.table_of(joined.link.target)
            right = target.select(**{name: target[col] for col, name in joined.columns.items()})
            pairs = zip(joined.left, joined.link.on.values(), strict=True)
            table = table.left_join(right, [table[s] == right[joined.columns[t]] for s, t in pairs])
        for group in self.groups.values():
            right = self.grouped(group)
            pairs = zip(group.link.on, group.link.on.values(), strict=True)
            table = table.left_join(right, [table[s] == right[group.keys[t]] for s, t in pairs])
        return table

    def grouped(self, group: _Grouped) -> ir.Table:
        columns = [column for _, column in group.measures if column is not None]
        rows, values = self.rows(group.link, group.where, *columns)
        value_of: dict[Column | None, ir.Value] = dict(zip(columns, values, strict=True))
        metrics = {
            name: _MEASURES[func](rows, value_of.get(column))
            for (func, column), name in group.measures.items()
        }
        keys = {name: rows[target] for target, name in group.keys.items()}
        return rows.group_by(**keys).aggregate(**metrics)
