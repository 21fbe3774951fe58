"""Message templates: Liquid (python-liquid 2), compiled once, checked before sending, strict.

A template is compiled for one *field* of a channel activity (``subject``, ``html``, ``body``…);
errors name that field and the line and column in its text. Rendering is strict: a name the row
does not hold is an error, unless the template says what to do with ``| default:``. A NULL
value (``None``) is defined and renders as an empty string, and ``| default:`` replaces it.
The ``html`` field escapes values (``<`` becomes ``&lt;``); ``| safe`` marks a value as HTML.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import ClassVar

from liquid import BoundTemplate, Environment, RenderContext, escape
from liquid.ast import Node
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions import FilteredExpression, Path
from liquid.builtin.output import OutputNode
from liquid.exceptions import LiquidError, LiquidInterrupt, StopRender, UndefinedError
from liquid.undefined import StrictDefaultUndefined

from partita.model.problems import PartitaError, Problem, did_you_mean, suggestion

#: Tags a message template may not use: there are no partial templates to include.
_FORBIDDEN_TAGS = frozenset({"include", "render"})

#: Block tags, for finding the one left open when the parser cannot say where.
_BLOCK_TAGS = frozenset(
    {"if", "unless", "for", "case", "capture", "comment", "tablerow", "ifchanged", "raw", "doc"}
)
_TAG = re.compile(r"\{%-?\s*(\w+)")
_EXPECTED_END = re.compile(r"expected tag end(\w+)")


class _MessageEnvironment(Environment):
    """Liquid as messages use it: strict, bounded loops, no partials."""

    loop_iteration_limit: ClassVar[int | None] = 100_000


_PLAIN = _MessageEnvironment(undefined=StrictDefaultUndefined)
_HTML = _MessageEnvironment(undefined=StrictDefaultUndefined, autoescape=True)

#: Every filter a template may use (the standard Liquid filters).
FILTERS: frozenset[str] = frozenset(_PLAIN.filters)

#: The names a channel activity gives every message besides the recipient's columns.
_MESSAGE_VARIABLES = {
    "unsubscribe_url": "the recipient's signed unsubscribe link (empty without tracking)",
    "delivery_id": "the id of this delivery (one per execution, activity and recipient)",
    "vars": "the campaign's variables: {{ vars.promo_code }}",
}


def message_variables() -> dict[str, str]:
    """The names every message template can use besides the recipient's columns, each with
    what it holds; the channel activity sets them per message (docs/templates.md)."""
    return dict(_MESSAGE_VARIABLES)


class TemplateError(PartitaError):
    """A template that cannot be compiled or rendered.

    ``problem`` says what and where (its ``field``; the line and column in the template text are
    in its message, the line with a caret under the place in its ``hint``); ``line`` and
    ``column`` (1-based, in the template text) are None when the error has no place.
    """

    def __init__(self, problem: Problem, line: int | None = None, column: int | None = None):
        super().__init__(str(problem))
        self.problem = problem
        self.line = line
        self.column = column


def _place(source: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of ``index`` in ``source``."""
    index = max(0, min(index, len(source)))
    line_start = source.rfind("\n", 0, index) + 1
    return source.count("\n", 0, index) + 1, index - line_start + 1


def _excerpt(source: str, index: int, width: int) -> str:
    """The line holding ``index`` with carets under ``width`` characters from it."""
    index = max(0, min(index, len(source)))
    start = source.rfind("\n", 0, index) + 1
    end = source.find("\n", index)
    end = len(source) if end < 0 else end
    text = source[start:end]
    pad = "".join("\t" if ch == "\t" else " " for ch in text[: index - start])
    return f"{text}\n{pad}{'^' * max(1, min(width, end - index))}"


def _problem(
    source: str,
    field: str,
    message: str,
    index: int | None,
    width: int = 1,
    then: str | None = None,
) -> TemplateError:
    """An error at ``index`` of the text: "<message> at line L, column C of the <field>: <then>"."""
    tail = f": {then}" if then else ""
    if index is None or index < 0:
        return TemplateError(Problem(message=message + tail, field=field))
    line, column = _place(source, index)
    problem = Problem(
        message=f"{message} at line {line}, column {column} of the {field}{tail}",
        field=field,
        hint=_excerpt(source, index, width),
    )
    return TemplateError(problem, line, column)


def _unclosed_block(source: str, kind: str) -> int | None:
    """Where the last ``{% kind %}`` block that is never closed opens, if it can be found."""
    stack: list[tuple[str, int]] = []
    for match in _TAG.finditer(source):
        name = match.group(1)
        if name in _BLOCK_TAGS:
            stack.append((name, match.start()))
        elif name.startswith("end") and name[3:] in _BLOCK_TAGS:
            for i in range(len(stack) - 1, -1, -1):
                if stack[i][0] == name[3:]:
                    del stack[i:]
                    break
    opened = [start for name, start in stack if name == kind]
    return opened[-1] if opened else None


def _syntax_error(source: str, field: str, error: LiquidError) -> TemplateError:
    message = str(error.message)
    token = error.token
    if token is not None and token.start_index >= 0:
        return _problem(source, field, message, token.start_index, len(token.value))
    expected = _EXPECTED_END.search(message)
    if expected:
        kind = expected.group(1)
        start = _unclosed_block(source, kind)
        text = f"'{{% {kind} %}}' is never closed: add '{{% end{kind} %}}'"
        return _problem(source, field, text, start, 2 + len(kind) + 3)
    return _problem(source, field, message, len(source) - 1 if source else None)


class _Number(float):
    """A warehouse DECIMAL as Liquid's math filters understand it (they take int and float,
    and read anything else as 0), still printed exactly as the decimal (``342.50``)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, value: Decimal) -> _Number:
        number = super().__new__(cls, value)
        number.text = str(value)
        return number

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def _numbers(row: Mapping[str, object], names: Iterable[str]) -> dict[str, object]:
    """``row`` with its DECIMAL values among ``names`` as numbers Liquid can compute with."""
    copy = dict(row)
    for name in names:
        value = copy.get(name)
        if isinstance(value, Decimal):
            copy[name] = _Number(value)
    return copy


#: The steps of a template's top level: text written as it is, a plain ``{{ name }}`` read from
#: the row, or a node Liquid renders; each step is (kind, text or name, node).
_TEXT, _NAME, _NODE = 0, 1, 2
_Step = tuple[int, str, Node]


def _plain_name(node: Node) -> str | None:
    """The variable of ``{{ name }}`` (one name, no filter, no property), else None."""
    if type(node) is not OutputNode:
        return None
    expression = node.expression
    if type(expression) is not FilteredExpression or expression.filters:
        return None
    left = expression.left
    if type(left) is not Path or len(left.path) != 1 or not isinstance(left.path[0], str):
        return None
    return left.path[0]


def _steps(bound: BoundTemplate) -> tuple[_Step, ...]:
    """The top-level nodes as steps. A plain output whose name the template never assigns
    can be read straight from the row: Liquid's scope would find it there too."""
    assigned = set(bound.analyze(include_partials=False).locals)
    steps: list[_Step] = []
    for node in bound.nodes:
        name = _plain_name(node)
        if type(node) is ContentNode:
            steps.append((_TEXT, node.text, node))
        elif name is not None and name not in assigned:
            steps.append((_NAME, name, node))
        else:
            steps.append((_NODE, "", node))
    return tuple(steps)


class Template:
    """A compiled message template for one field; render it once per recipient row.

    Rendering walks the template's top level itself: text and plain ``{{ name }}`` outputs of
    strings, numbers and NULLs are written directly (what Liquid would write: escaped in
    HTML), everything else (tags, filters, properties, other types, a name the row lacks) is
    rendered by Liquid, so its semantics and errors are Liquid's."""

    __slots__ = ("_bound", "_roots", "_steps", "autoescape", "field", "source", "variables")

    def __init__(self, bound: BoundTemplate, field: str, source: str, autoescape: bool):
        self._bound = bound
        #: The root names the template reads from the row (not those it assigns itself).
        self.variables: frozenset[str] = frozenset(bound.global_variables())
        self._roots = tuple(sorted(self.variables))
        self._steps = _steps(bound)
        self.field = field
        self.source = source
        self.autoescape = autoescape

    def __repr__(self) -> str:
        return f"Template(field={self.field!r}, source={self.source[:40]!r})"

    def render(self, row: Mapping[str, object]) -> str:
        """The text for one recipient; raises TemplateError naming the field and the place."""
        get = row.get
        for name in self._roots:
            if type(get(name)) is Decimal:
                row = _numbers(row, self._roots)
                break
        bound = self._bound
        context: RenderContext | None = None
        buffer = io.StringIO()
        write = buffer.write
        autoescape = self.autoescape
        try:
            for kind, text, node in self._steps:
                if kind == _TEXT:
                    write(text)
                    continue
                if kind == _NAME and text in row:
                    value = row[text]
                    if type(value) is str:
                        write(escape(value) if autoescape else value)
                        continue
                    if value is None:
                        continue
                    if type(value) is int or type(value) is float:
                        write(str(value))
                        continue
                if context is None:
                    context = RenderContext(bound, globals=row)
                node.render(context, buffer)
        except StopRender:
            pass
        except LiquidInterrupt as interrupt:
            raise _problem(
                self.source, self.field, f"'{interrupt}' outside a for loop", None
            ) from None
        except UndefinedError as error:
            raise self._undefined(error, row) from None
        except LiquidError as error:
            token = error.token
            index = token.start_index if token is not None else None
            raise _problem(self.source, self.field, str(error.message), index) from None
        return buffer.getvalue()

    def render_many(self, rows: Iterable[Mapping[str, object]]) -> list[str]:
        """The texts for a batch of rows, in order."""
        render = self.render
        return [render(row) for row in rows]

    def _undefined(self, error: UndefinedError, row: Mapping[str, object]) -> TemplateError:
        token = error.token
        index = token.start_index if token is not None else None
        name = re.match(r"'([^']*)' is undefined", str(error.message))
        if name is None:
            return _problem(self.source, self.field, str(error.message), index)
        best = did_you_mean(name.group(1), row.keys())
        hint = f"did you mean '{best}'?" if best else "write '| default: …' to allow it"
        message = f"'{name.group(1)}' is not defined for this recipient"
        return _problem(self.source, self.field, message, index, len(name.group(1)), hint)


def _static_errors(bound: BoundTemplate, text: str, field: str) -> list[TemplateError]:
    """Tags messages cannot have and filters that do not exist, in the order of the text."""
    analysis = bound.analyze(include_partials=False)
    errors: list[tuple[int, TemplateError]] = []
    for tag in sorted(_FORBIDDEN_TAGS & analysis.tags.keys()):
        index = analysis.tags[tag][0].index
        message = f"'{{% {tag} %}}' is not available in messages"
        then = "there are no partial templates; write the content in place"
        errors.append((index, _problem(text, field, message, index, len(tag), then)))
    for name, spans in analysis.filters.items():
        if name not in FILTERS:
            best = did_you_mean(name, FILTERS)
            then = f"did you mean '{best}'?" if best else "docs/templates.md lists the filters"
            index = spans[0].index
            message = f"unknown filter '{name}'"
            errors.append((index, _problem(text, field, message, index, len(name), then)))
    return [error for _, error in sorted(errors, key=lambda pair: pair[0])]


def compile_template(text: str, field: str, *, autoescape: bool | None = None) -> Template:
    """Compile the Liquid ``text`` of ``field``; TemplateError (with line and column) when it
    does not parse or uses a tag messages cannot have. ``autoescape`` defaults to True for the
    field ``html`` and False elsewhere."""
    escape = field == "html" if autoescape is None else autoescape
    env = _HTML if escape else _PLAIN
    try:
        bound = env.from_string(text, name=field)
    except LiquidError as error:
        raise _syntax_error(text, field, error) from None
    for problem in _static_errors(bound, text, field):
        raise problem
    return Template(bound, field, text, escape)


def template_variables(template: Template) -> set[str]:
    """The root names ``template`` reads from the row: ``{{ store.name }}`` gives ``store``."""
    return set(template.variables)


def check_templates(
    templates: Mapping[str, str], available: Iterable[str], *, activity: str | None = None
) -> list[Problem]:
    """Every problem of the templates of one activity (field → text): the first syntax error,
    forbidden tag or unknown filter of each field, else every variable that is not in
    ``available``, each with its place and the closest valid name."""
    names = set(available)
    problems: list[Problem] = []
    for field, text in templates.items():
        try:
            template = compile_template(text, field)
        except TemplateError as error:
            problems.append(replace(error.problem, activity=activity))
            continue
        analysis = template._bound.analyze(include_partials=False)
        for name, variables in analysis.globals.items():
            if name in names:
                continue
            index = variables[0].span.index
            message = f"unknown variable '{name}'"
            unknown = _problem(text, field, message, index, len(name), suggestion(name, names))
            problems.append(replace(unknown.problem, activity=activity))
    return problems
