"""Checking a filter or expression against the data model: names, links, functions, types."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from partita.filters._ast import (
    AGGREGATES,
    SUB_DAY,
    Aggregate,
    And,
    Arith,
    Between,
    Call,
    Column,
    Compare,
    Exists,
    Expr,
    Filter,
    InList,
    Interval,
    IsNull,
    Like,
    Literal,
    Negate,
    Not,
    Null,
    Or,
    TextMatch,
    Variable,
)
from partita.filters._errors import FilterError
from partita.filters._functions import FUNCTIONS, PARAMETERS
from partita.filters._kinds import (
    INTERVAL,
    NULL,
    Kind,
    describe,
    is_kind,
    is_numeric,
    is_temporal,
    kind_name,
    mismatch,
    numeric_result,
)
from partita.filters._names import column_type, many_link
from partita.filters._text import to_text
from partita.model.datamodel import ColumnType, DataModel, Link
from partita.model.problems import suggestion

_VERBS = {
    "+": "add {} and {}",
    "-": "subtract {1} from {0}",
    "*": "multiply {} by {}",
    "/": "divide {} by {}",
}
_NONE: Mapping[str, ColumnType] = MappingProxyType({})


def check(
    node: Filter | Expr,
    model: DataModel,
    dimension: str,
    *,
    extra_columns: Mapping[str, ColumnType] = _NONE,
    variables: Mapping[str, ColumnType] = _NONE,
) -> ColumnType:
    """The type of ``node`` over rows of ``dimension``; FilterError naming what is wrong.

    ``extra_columns`` are carried by the working table and win over dimension columns.
    """
    checker = _Checker(model, dimension, extra_columns, variables)
    if isinstance(node, Filter):
        checker.condition(node.condition, "a filter")
        return ColumnType.BOOLEAN
    kind = checker.scalar(node)
    return ColumnType.OTHER if kind == NULL else ColumnType(kind)


class _Checker:
    """Types nodes over the rows of one dimension, raising at the first problem."""

    def __init__(
        self,
        model: DataModel,
        dimension: str,
        extra_columns: Mapping[str, ColumnType],
        variables: Mapping[str, ColumnType],
    ) -> None:
        self.model = model
        self.dimension = dimension
        self.columns = {**model.column_types(dimension), **extra_columns}
        self.variables = variables

    def over(self, link: Link) -> _Checker:
        """A checker for the rows of a link's target (sub-filters of exists and aggregates)."""
        return _Checker(self.model, link.target, {}, self.variables)

    # -- shapes of values ----------------------------------------------------------------------

    def condition(self, node: Expr, what: str) -> None:
        kind = self.scalar(node)
        if not is_kind(kind, ColumnType.BOOLEAN):
            raise FilterError(
                f"{what} must be a condition (true or false), got {describe(node, kind)}", node.span
            )

    def scalar(self, node: Expr) -> Kind:
        """The kind of a value that stands on its own (anything but a bare interval)."""
        kind = self.value(node)
        if kind == INTERVAL:
            raise FilterError(
                "an interval can only be added to or subtracted from a date or timestamp", node.span
            )
        return kind

    def value(self, node: Expr) -> Kind:
        match node:
            case Literal(type=kind):
                return kind
            case Null():
                return NULL
            case Column():
                return column_type(self.model, self.dimension, self.columns, node)
            case Variable():
                return self.variable(node)
            case Interval():
                return INTERVAL
            case Call():
                return self.call(node)
            case Negate(operand=operand):
                negated = self.scalar(operand)
                if not is_numeric(negated):
                    raise FilterError(f"cannot negate {describe(operand, negated)}", operand.span)
                return negated
            case Arith():
                return self.arith(node)
            case And(items=items) | Or(items=items):
                word = "and" if isinstance(node, And) else "or"
                for item in items:
                    self.condition(item, f"each side of '{word}'")
            case Not(operand=operand):
                self.condition(operand, "the operand of 'not'")
            case Exists():
                self.exists(node)
            case Aggregate():
                return self.aggregate(node)
            case _:
                self.predicate(node)
        return ColumnType.BOOLEAN

    # -- predicates ----------------------------------------------------------------------------

    def predicate(self, node: Expr) -> None:
        match node:
            case Compare(op=op, left=left, right=right):
                self.not_with_null(op, left, right)
                self.comparable(left, right)
            case InList(operand=operand, items=items):
                for item in items:
                    self.comparable(operand, item)
            case IsNull(operand=operand):
                self.scalar(operand)
            case Between(operand=operand, low=low, high=high):
                self.comparable(operand, low)
                self.comparable(operand, high)
            case Like(operand=operand, pattern=pattern):
                self.strings("like", operand, pattern)
            case TextMatch(op=op, operand=operand, text=text):
                self.strings(op.replace("_", " "), operand, text)

    def comparable(self, left: Expr, right: Expr) -> None:
        left_kind, right_kind = self.scalar(left), self.scalar(right)
        why = mismatch(left_kind, left, right_kind, right)
        if why is not None:
            shown = describe(left, left_kind), describe(right, right_kind)
            message = "cannot compare {} with {}".format(*shown)
            raise FilterError(f"{message}: {why}" if why else message, right.span)

    def not_with_null(self, op: str, left: Expr, right: Expr) -> None:
        """``x = null`` is never true in SQL: almost always a mistake for ``x is null``."""
        for null, other in ((right, left), (left, right)):
            if isinstance(null, Null):
                fix = {"=": "is null", "!=": "is not null"}.get(op)
                hint = f": write '{to_text(other)} {fix}'" if fix else ""
                raise FilterError(f"comparing with null is never true{hint}", null.span)

    def strings(self, operator: str, operand: Expr, text: Expr) -> None:
        for side, node in (("left", operand), ("right", text)):
            kind = self.scalar(node)
            if not is_kind(kind, ColumnType.STRING):
                raise FilterError(
                    f"'{operator}' needs a string on the {side}, got {describe(node, kind)}",
                    node.span,
                )

    # -- values --------------------------------------------------------------------------------

    def arith(self, node: Arith) -> Kind:
        left, right = self.value(node.left), self.value(node.right)
        if node.op in "+-" and right == INTERVAL and is_temporal(left):
            assert isinstance(node.right, Interval)  # only interval literals have that kind
            sub_day = node.right.unit in SUB_DAY
            return ColumnType.TIMESTAMP if left == ColumnType.DATE and sub_day else left
        if is_numeric(left) and is_numeric(right):
            return ColumnType.NUMBER if node.op == "/" else numeric_result(left, right)
        culprit = node.right if is_numeric(left) or is_temporal(left) else node.left
        verb = _VERBS[node.op].format(describe(node.left, left), describe(node.right, right))
        raise FilterError(f"cannot {verb}", culprit.span)

    def variable(self, node: Variable) -> Kind:
        if node.name in self.variables:
            return self.variables[node.name]
        hint = "no variable is declared"
        if self.variables:
            hint = suggestion(f"${node.name}", [f"${name}" for name in self.variables])
        raise FilterError(f"unknown variable '${node.name}': {hint}", node.span)

    def call(self, node: Call) -> Kind:
        function = FUNCTIONS.get(node.name)
        if function is None:
            hint = suggestion(node.name, [*FUNCTIONS, *AGGREGATES])
            raise FilterError(f"unknown function '{node.name}': {hint}", node.span)
        if not function.accepts(len(node.args)):
            raise FilterError(
                f"{node.name}() takes {function.arity()}, got {len(node.args)}", node.span
            )
        kinds = []
        for index, arg in enumerate(node.args):
            kind = self.scalar(arg)
            accepts, wanted = PARAMETERS[function.param(index)]
            if not accepts(kind):
                raise FilterError(
                    f"argument {index + 1} of {node.name}() must be {wanted}, "
                    f"got {describe(arg, kind)}",
                    arg.span,
                )
            kinds.append(kind)
        return function.result(kinds)

    # -- links ---------------------------------------------------------------------------------

    def exists(self, node: Exists) -> None:
        link = many_link(self.model, self.dimension, node.link, node.link_span, "exists")
        if node.where is not None:
            self.over(link).condition(node.where.condition, f"the filter of 'exists {node.link}'")

    def aggregate(self, node: Aggregate) -> Kind:
        link = many_link(self.model, self.dimension, node.link, node.link_span, node.func)
        inner = self.over(link)
        if node.where is not None:
            inner.condition(node.where.condition, f"the filter of {node.func}({node.link} …)")
        if node.column is None or node.func in ("count", "count_distinct"):
            if node.column is not None:
                inner.scalar(node.column)
            return ColumnType.INTEGER
        kind = inner.scalar(node.column)
        shown = f"{kind_name(kind)} column '{node.link}.{'.'.join(node.column.path)}'"
        if node.func in ("sum", "avg") and not is_numeric(kind):
            raise FilterError(f"{node.func} needs a number column, got {shown}", node.column.span)
        if kind == ColumnType.BOOLEAN:  # min/max of booleans is not portable (PostgreSQL)
            raise FilterError(
                f"{node.func} needs a number, string, date or timestamp column, got {shown}",
                node.column.span,
            )
        if node.func == "avg":
            return ColumnType.NUMBER
        return numeric_result(kind) if node.func == "sum" else kind
