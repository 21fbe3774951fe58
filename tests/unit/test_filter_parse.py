"""The filter language: text and rule tree parse to one AST, canonical text round-trips."""

from __future__ import annotations

import datetime
import string
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import partita.filters
from partita.filters import Filter, FilterError, parse_expression, parse_filter, to_text
from partita.filters._ast import (
    AGGREGATES,
    TEXT_MATCHES,
    Aggregate,
    And,
    Arith,
    Between,
    Call,
    Column,
    Compare,
    Exists,
    Expr,
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
from partita.model.problems import Problem


def col(*path: str) -> Column:
    return Column(path)


def lit(value: Any) -> Literal:
    return Literal(value)


def cond(text: str) -> Expr:
    return parse_filter(text).condition


def test_public_api_is_pinned() -> None:
    assert partita.filters.__all__ == sorted(partita.filters.__all__)
    assert partita.filters.__all__ == [
        "Expr",
        "Filter",
        "FilterContext",
        "FilterError",
        "check",
        "compile_values",
        "filter_table",
        "parse_expression",
        "parse_filter",
        "to_text",
    ]
    for name in partita.filters.__all__:
        assert getattr(partita.filters, name).__doc__, name


# -- text form -------------------------------------------------------------------------------

CASES: list[tuple[str, Expr]] = [
    ("tier = 'gold'", Compare("=", col("tier"), lit("gold"))),
    ("tier == 'gold'", Compare("=", col("tier"), lit("gold"))),
    ("tier != 'gold'", Compare("!=", col("tier"), lit("gold"))),
    ("tier <> 'gold'", Compare("!=", col("tier"), lit("gold"))),
    ("age < 18", Compare("<", col("age"), lit(18))),
    ("age <= 18", Compare("<=", col("age"), lit(18))),
    ("age > 18", Compare(">", col("age"), lit(18))),
    ("age >= 18", Compare(">=", col("age"), lit(18))),
    ("country in ('FR', 'BE')", InList(col("country"), (lit("FR"), lit("BE")))),
    ("country not in ('FR')", InList(col("country"), (lit("FR"),), negated=True)),
    ("email is null", IsNull(col("email"))),
    ("email is not null", IsNull(col("email"), negated=True)),
    ("age between 18 and 30", Between(col("age"), lit(18), lit(30))),
    ("age not between 18 and 30", Between(col("age"), lit(18), lit(30), negated=True)),
    ("email like '%@x.com'", Like(col("email"), lit("%@x.com"))),
    ("email not like 'a_'", Like(col("email"), lit("a_"), negated=True)),
    ("name starts with 'Jo'", TextMatch("starts_with", col("name"), lit("Jo"))),
    ("name ends with 'n'", TextMatch("ends_with", col("name"), lit("n"))),
    ("name contains '50%'", TextMatch("contains", col("name"), lit("50%"))),
    ("a = 1 and b = 2", And((cond("a = 1"), cond("b = 2")))),
    ("a = 1 or b = 2", Or((cond("a = 1"), cond("b = 2")))),
    ("not a = 1", Not(cond("a = 1"))),
    ("a = 1 and b = 2 and c = 3", And((cond("a = 1"), cond("b = 2"), cond("c = 3")))),
    ("a = 1 or b = 2 and c = 3", Or((cond("a = 1"), And((cond("b = 2"), cond("c = 3")))))),
    ("(a = 1 or b = 2) and c = 3", And((Or((cond("a = 1"), cond("b = 2"))), cond("c = 3")))),
    ("a = 1 and (b = 2 and c = 3)", And((cond("a = 1"), And((cond("b = 2"), cond("c = 3")))))),
    ("not not vip", Not(Not(col("vip")))),
    ("vip", col("vip")),
    # literals
    ("x = 'it''s'", Compare("=", col("x"), lit("it's"))),
    ("x = 'a\\b'", Compare("=", col("x"), lit("a\\b"))),
    ("x = 2.50", Compare("=", col("x"), lit(Decimal("2.50")))),
    ("x = -3", Compare("=", col("x"), lit(-3))),
    ("x = -2.5", Compare("=", col("x"), lit(Decimal("-2.5")))),
    ("x = 1e3", Compare("=", col("x"), lit(Decimal("1000")))),
    ("x = true", Compare("=", col("x"), lit(True))),
    ("x = FALSE", Compare("=", col("x"), lit(False))),
    ("x = null", Compare("=", col("x"), Null())),
    ("d = date '2024-01-31'", Compare("=", col("d"), lit(datetime.date(2024, 1, 31)))),
    (
        "t = timestamp '2024-01-31 10:00:00'",
        Compare("=", col("t"), lit(datetime.datetime(2024, 1, 31, 10))),
    ),
    # arithmetic
    ("a + b * c > 1", Compare(">", Arith("+", col("a"), Arith("*", col("b"), col("c"))), lit(1))),
    ("a - b - c = 1", Compare("=", Arith("-", Arith("-", col("a"), col("b")), col("c")), lit(1))),
    ("(a + b) / 2 = 1", Compare("=", Arith("/", Arith("+", col("a"), col("b")), lit(2)), lit(1))),
    ("-a = 1", Compare("=", Negate(col("a")), lit(1))),
    ("a - -1 = 1", Compare("=", Arith("-", col("a"), lit(-1)), lit(1))),
    # functions
    ("lower(email) = 'a'", Compare("=", Call("lower", (col("email"),)), lit("a"))),
    ("UPPER(x) = 'A'", Compare("=", Call("upper", (col("x"),)), lit("A"))),
    ("trim(x) = ''", Compare("=", Call("trim", (col("x"),)), lit(""))),
    ("length(x) > 3", Compare(">", Call("length", (col("x"),)), lit(3))),
    ("coalesce(a, b, 0) = 1", Compare("=", Call("coalesce", (col("a"), col("b"), lit(0))), lit(1))),
    ("abs(x) = 1", Compare("=", Call("abs", (col("x"),)), lit(1))),
    ("round(x) = 1", Compare("=", Call("round", (col("x"),)), lit(1))),
    ("round(x, 2) = 1", Compare("=", Call("round", (col("x"), lit(2))), lit(1))),
    ("year(d) = 2024", Compare("=", Call("year", (col("d"),)), lit(2024))),
    ("month(d) = 1", Compare("=", Call("month", (col("d"),)), lit(1))),
    ("day(d) = 1", Compare("=", Call("day", (col("d"),)), lit(1))),
    ("t < now()", Compare("<", col("t"), Call("now", ()))),
    ("d < today()", Compare("<", col("d"), Call("today", ()))),
    ("d > days_ago(30)", Compare(">", col("d"), Call("days_ago", (lit(30),)))),
    (
        "d < today() - interval 18 years",
        Compare("<", col("d"), Arith("-", Call("today", ()), Interval(18, "year"))),
    ),
    (
        "t > now() + interval 1 hour",
        Compare(">", col("t"), Arith("+", Call("now", ()), Interval(1, "hour"))),
    ),
    (
        "t > now() - interval -2 weeks",
        Compare(">", col("t"), Arith("-", Call("now", ()), Interval(-2, "week"))),
    ),
    # names and links
    ('"Weird ""Col""" = 1', Compare("=", col('Weird "Col"'), lit(1))),
    ('"and" = 1', Compare("=", col("and"), lit(1))),
    ("date = 1", Compare("=", col("date"), lit(1))),
    ("count > 10", Compare(">", col("count"), lit(10))),
    ("store.region = 'EU'", Compare("=", col("store", "region"), lit("EU"))),
    ("nation.region.name = 'EUROPE'", Compare("=", col("nation", "region", "name"), lit("EUROPE"))),
    ("$country = 'FR'", Compare("=", Variable("country"), lit("FR"))),
    ("x > $min", Compare(">", col("x"), Variable("min"))),
    ("exists purchases", Exists("purchases")),
    ("not exists purchases", Exists("purchases", negated=True)),
    ("not (exists purchases)", Not(Exists("purchases"))),
    ("exists purchases (amount > 100)", Exists("purchases", Filter(cond("amount > 100")))),
    (
        "exists purchases (exists items (price > 1))",
        Exists("purchases", Filter(Exists("items", Filter(cond("price > 1"))))),
    ),
    ("count(purchases) >= 3", Compare(">=", Aggregate("count", "purchases"), lit(3))),
    (
        "count(purchases where category = 'shoes') >= 3",
        Compare(
            ">=",
            Aggregate("count", "purchases", where=Filter(cond("category = 'shoes'"))),
            lit(3),
        ),
    ),
    (
        "sum(purchases.amount where category = 'shoes') > 200",
        Compare(
            ">",
            Aggregate("sum", "purchases", col("amount"), where=Filter(cond("category = 'shoes'"))),
            lit(200),
        ),
    ),
    ("avg(p.amount) > 1", Compare(">", Aggregate("avg", "p", col("amount")), lit(1))),
    ("min(p.at) > 1", Compare(">", Aggregate("min", "p", col("at")), lit(1))),
    (
        "max(p.store.region) = 1",
        Compare("=", Aggregate("max", "p", col("store", "region")), lit(1)),
    ),
    (
        "count_distinct(p.product_id) > 1",
        Compare(">", Aggregate("count_distinct", "p", col("product_id")), lit(1)),
    ),
    ("a = 1 -- a comment", Compare("=", col("a"), lit(1))),
    ("A = 1\n AND\n b = 2", And((cond("A = 1"), cond("b = 2")))),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_text_parses_to_the_expected_ast(text: str, expected: Expr) -> None:
    assert parse_filter(text) == Filter(expected)


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_canonical_text_reads_back(text: str, expected: Expr) -> None:
    assert parse_filter(to_text(Filter(expected))) == Filter(expected)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("tier == 'gold'", "tier = 'gold'"),
        ("a<>b", "a != b"),
        ("x = 1e3", "x = 1000.0"),
        ("(a = 1)", "a = 1"),
        ("a = 1 and (b = 2 and c = 3)", "a = 1 and (b = 2 and c = 3)"),
        ("not (exists p)", "not (exists p)"),
        ("-a = 1", "-(a) = 1"),
        ('"date" = 1 and "my col" = 2', '"date" = 1 and "my col" = 2'),
        ("interval 1 days + d > d", "interval 1 day + d > d"),
        ("LOWER(x) = 'a'", "lower(x) = 'a'"),
    ],
)
def test_canonical_text(text: str, canonical: str) -> None:
    assert to_text(parse_filter(text)) == canonical


def test_spans_do_not_take_part_in_equality() -> None:
    assert parse_filter("a = 1") == parse_filter("  a   =   1  ")
    node = cond("a = 1")
    assert isinstance(node, Compare) and node.span is not None
    assert (node.span.start, node.span.end) == (0, 5)


def test_parse_expression() -> None:
    assert parse_expression("lower(email)") == Call("lower", (col("email"),))
    assert parse_expression("store.region") == col("store", "region")
    assert parse_expression("amount * 2") == Arith("*", col("amount"), lit(2))


# -- syntax errors ---------------------------------------------------------------------------

ERRORS = [
    ("loyalty_tier = ", "expected a value after '='", 15),
    ("loyalty_tier = and x = 1", "expected a value after '=', got 'and'", 15),
    ("a = 1 and", "expected a condition after 'and'", 9),
    ("a = 1 and or b = 1", "expected a condition after 'and', got 'or'", 10),
    ("", "the filter is empty", 0),
    ("(a = 1", "unclosed '(': expected ')'", 0),
    ("(a = 1 b", "expected ')', got 'b'", 7),
    ("x in ('a', 'b'", "unclosed '(': expected ',' or ')'", 5),
    ("lower(x y) = 1", "expected ',' or ')', got 'y'", 8),
    ("a = 1 b", "unexpected 'b': expected 'and', 'or' or the end of the filter", 6),
    ("a = 1)", "unexpected ')': expected 'and', 'or' or the end of the filter", 5),
    ("a = 1 = 2", "unexpected '=': expected 'and', 'or' or the end of the filter", 6),
    ("x = 'abc", "unclosed string: missing closing '", 4),
    ('"abc = 1', 'unclosed quoted name: missing closing "', 0),
    ("a = 1 /* note", "unclosed comment: missing '*/'", 6),
    ("x in 'a'", "expected '(' after 'in', got 'a'", 5),
    ("x is nul", "expected 'null' or 'not null' after 'is', got 'nul'", 5),
    ("x between 1", "expected 'and' after 'between …', got the end of the filter", 11),
    ("x starts 'a'", "expected 'with' after 'starts', got 'a'", 9),
    ("x = %", "expected a value after '=', got '%'", 4),
    ("x = 1e", "invalid number '1e'", 4),
    ("d = date '2024-13-01'", "invalid date '2024-13-01': expected 'YYYY-MM-DD'", 9),
    (
        "t = timestamp 'noon'",
        "invalid timestamp 'noon': expected 'YYYY-MM-DD HH:MM:SS'",
        14,
    ),
    ("d > today() - interval 18 yrs", "unknown interval unit 'yrs': did you mean 'years'?", 26),
    ("d > today() - interval x days", "expected a whole number after 'interval', got 'x'", 23),
    (
        "d > today() - interval 2",
        "expected a unit after the number (days, hours…), got the end of the filter",
        24,
    ),
    ("$ = 1", "invalid variable '$': write $ then a name (letters, digits, _)", 0),
    ("exists (a = 1)", "expected a link name after 'exists', got '('", 7),
    ("exists purchases (a = 1", "unclosed '(': expected ')'", 17),
    ("sum(purchases) > 1", "sum needs a link and a column: sum(purchases.<column>)", 4),
    (
        "count(purchases.amount) > 1",
        "count takes a link, not a column: count(purchases), or "
        "count_distinct(purchases.<column>) to count distinct values",
        6,
    ),
    ("count() > 1", "expected a link name after 'count(', got ')'", 6),
    ("store. = 1", "expected a name after '.', got '='", 7),
]


@pytest.mark.parametrize(("text", "message", "position"), ERRORS, ids=[e[0] for e in ERRORS])
def test_syntax_errors_name_the_problem_and_its_place(
    text: str, message: str, position: int
) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    error = caught.value
    assert error.message == message
    assert error.position == position
    assert (error.line, error.column) == (1, position + 1)


def test_error_text_is_like_sqlglot() -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter("tier = 'gold' and\n  country = ")
    error = caught.value
    assert (error.line, error.column, error.position) == (2, 13, 30)
    assert error.excerpt == "  country = \n            ^"
    assert str(error) == (
        "expected a value after '=' at line 2, column 13\n  country = \n            ^"
    )


def test_excerpt_underlines_the_whole_token() -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter("x is nothing")
    assert caught.value.excerpt == "x is nothing\n     ^^^^^^^"


def test_error_to_problem() -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter("a = ")
    problem = caught.value.to_problem("gold", "filter")
    assert problem == Problem(
        message="expected a value after '=' (at column 5 of the filter)",
        activity="gold",
        field="filter",
        hint="a = \n    ^",
    )


def test_parse_expression_errors() -> None:
    with pytest.raises(FilterError) as caught:
        parse_expression("amount desc")
    assert caught.value.message == (
        "unexpected 'desc': expected an operator or the end of the expression"
    )
    assert caught.value.position == 7
    with pytest.raises(FilterError, match="the expression is empty"):
        parse_expression("  ")


# -- rule tree -------------------------------------------------------------------------------

RULES: list[tuple[Any, str]] = [
    ({"attr": "loyalty_tier", "op": "eq", "value": "gold"}, "loyalty_tier = 'gold'"),
    ({"attr": "x", "op": "ne", "value": 1}, "x != 1"),
    ({"attr": "x", "op": "lt", "value": 1.5}, "x < 1.5"),
    ({"attr": "x", "op": "le", "value": -1}, "x <= -1"),
    ({"attr": "x", "op": "gt", "value": True}, "x > true"),
    ({"attr": "x", "op": "ge", "value": None}, "x >= null"),
    ({"attr": "country", "op": "in", "value": ["FR", "BE"]}, "country in ('FR', 'BE')"),
    ({"attr": "country", "op": "not_in", "value": ["FR"]}, "country not in ('FR')"),
    ({"attr": "email", "op": "is_null"}, "email is null"),
    ({"attr": "email", "op": "is_not_null"}, "email is not null"),
    ({"attr": "age", "op": "between", "value": [18, 30]}, "age between 18 and 30"),
    ({"attr": "email", "op": "like", "value": "%@x"}, "email like '%@x'"),
    ({"attr": "email", "op": "not_like", "value": "%@x"}, "email not like '%@x'"),
    ({"attr": "name", "op": "starts_with", "value": "Jo"}, "name starts with 'Jo'"),
    ({"attr": "name", "op": "ends_with", "value": "n"}, "name ends with 'n'"),
    ({"attr": "name", "op": "contains", "value": "o"}, "name contains 'o'"),
    ({"attr": "store.region", "op": "eq", "value": "EU"}, "store.region = 'EU'"),
    ({"attr": "lower(email)", "op": "eq", "value": "a"}, "lower(email) = 'a'"),
    ({"attr": "d", "op": "eq", "value": datetime.date(2024, 1, 31)}, "d = date '2024-01-31'"),
    (
        {"attr": "t", "op": "lt", "value": datetime.datetime(2024, 1, 31, 10, 30)},
        "t < timestamp '2024-01-31 10:30:00'",
    ),
    ({"attr": "country", "op": "eq", "value": {"var": "country"}}, "country = $country"),
    (
        {"attr": "birth_date", "op": "lt", "value": {"expr": "today() - interval 18 years"}},
        "birth_date < today() - interval 18 years",
    ),
    (
        {"all": [{"attr": "a", "op": "eq", "value": 1}, {"any": ["b = 2", {"text": "c = 3"}]}]},
        "a = 1 and (b = 2 or c = 3)",
    ),
    ([{"attr": "a", "op": "eq", "value": 1}, "b = 2"], "a = 1 and b = 2"),
    ({"all": [{"attr": "a", "op": "eq", "value": 1}]}, "a = 1"),
    ({"all": []}, "true"),
    ({"any": []}, "false"),
    ({"not": {"attr": "a", "op": "eq", "value": 1}}, "not a = 1"),
    ({"not": {"exists": "purchases"}}, "not (exists purchases)"),
    ({"exists": "purchases"}, "exists purchases"),
    ({"not_exists": "purchases"}, "not exists purchases"),
    (
        {"exists": "purchases", "filter": {"attr": "amount", "op": "gt", "value": 100}},
        "exists purchases (amount > 100)",
    ),
    ({"count": "purchases", "op": "ge", "value": 3}, "count(purchases) >= 3"),
    (
        {"count": "purchases", "filter": "category = 'shoes'", "op": "ge", "value": 3},
        "count(purchases where category = 'shoes') >= 3",
    ),
    (
        {"sum": "purchases.amount", "filter": "category = 'shoes'", "op": "gt", "value": 200},
        "sum(purchases.amount where category = 'shoes') > 200",
    ),
    (
        {"avg": "purchases.amount", "op": "between", "value": [1, 2]},
        "avg(purchases.amount) between 1 and 2",
    ),
    ({"min": "purchases.amount", "op": "is_null"}, "min(purchases.amount) is null"),
    ({"max": "purchases.amount", "op": "lt", "value": 9}, "max(purchases.amount) < 9"),
    (
        {"count_distinct": "purchases.product_id", "op": "gt", "value": 1},
        "count_distinct(purchases.product_id) > 1",
    ),
    ({"text": "a = 1 or b = 2"}, "a = 1 or b = 2"),
]


@pytest.mark.parametrize(("rule", "text"), RULES, ids=[r[1] for r in RULES])
def test_rule_tree_and_text_give_the_same_ast(rule: Any, text: str) -> None:
    assert parse_filter(rule) == parse_filter(text)


_OPS = (
    "eq, ne, lt, le, gt, ge, in, not_in, is_null, is_not_null, between, like, not_like, "
    "starts_with, ends_with, contains"
)
RULE_ERRORS: list[tuple[Any, str]] = [
    ({"attr": "x", "op": "eqq", "value": 1}, "filter.op: unknown op 'eqq': did you mean 'eq'?"),
    (
        {"attr": "x", "op": "starts", "value": "a"},
        "filter.op: unknown op 'starts': did you mean 'starts_with'?",
    ),
    ({"attr": "x", "value": 1}, f"filter: missing 'op': one of {_OPS}"),
    (
        {"attr": "x", "op": 3, "value": 1},
        "filter.op: unknown op 3: valid names: 'between', "
        "'contains', 'ends_with', 'eq', 'ge', 'gt', 'in', 'is_not_null', 'is_null', 'le', 'like', "
        "'lt', …",
    ),
    ({"attrs": "x"}, "filter: unknown rule key 'attrs': did you mean 'attr'?"),
    (
        {},
        "filter: empty rule: valid names: 'all', 'any', 'attr', 'avg', 'count', "
        "'count_distinct', 'exists', 'max', 'min', 'not', 'not_exists', 'sum', …",
    ),
    (
        {"attr": "x", "op": "eq", "valu": 1},
        "filter: unknown key 'valu' in a 'attr' rule: did you mean 'value'?",
    ),
    (
        {"all": [{"attr": "x", "op": "eq", "value": 1}, {"attr": "x", "op": "in", "value": 1}]},
        "filter.all[1].value: op 'in' needs a non-empty list of values, got 1",
    ),
    (
        {"attr": "x", "op": "between", "value": [1]},
        "filter.value: op 'between' needs a list of two values [low, high], got [1]",
    ),
    ({"attr": "x", "op": "eq"}, "filter: op 'eq' needs a value"),
    ({"attr": "x", "op": "is_null", "value": 1}, "filter: op 'is_null' takes no value"),
    (
        {"attr": "x", "op": "eq", "value": [1, 2]},
        "filter.value: expected a single value, got [1, 2]",
    ),
    ({"attr": "x", "op": "eq", "value": float("nan")}, "filter.value: nan is not a finite number"),
    (
        {"attr": "x", "op": "eq", "value": {"vr": "x"}},
        "filter.value: unknown value key 'vr': did you mean 'var'?",
    ),
    (
        {"attr": "x", "op": "eq", "value": {"var": "a b"}},
        "filter.value.var: expected a variable name, got 'a b'",
    ),
    ({"any": {"attr": "x"}}, "filter.any: expected a list of rules, got {'attr': 'x'}"),
    ({"all": [3]}, "filter.all[0]: expected a rule (a mapping or a text), got 3"),
    ({"attr": 3, "op": "eq", "value": 1}, "filter.attr: expected a text, got 3"),
    ({"exists": ""}, "filter.exists: expected a link name, got ''"),
    (
        {"sum": "amount", "op": "gt", "value": 1},
        "filter.sum: expected link.column, e.g. purchases.amount",
    ),
    ({"count": "purchases"}, f"filter: missing 'op': one of {_OPS}"),
    ({"all": [{"not": {"text": "a = "}}]}, "filter.all[0].not.text: expected a value after '='"),
]


@pytest.mark.parametrize(("rule", "message"), RULE_ERRORS, ids=[e[1] for e in RULE_ERRORS])
def test_rule_tree_errors(rule: Any, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(rule)
    assert caught.value.message == message


def test_rule_tree_text_errors_keep_their_place_in_the_text() -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter({"all": [{"attr": "lower(email", "op": "eq", "value": "a"}]})
    error = caught.value
    assert error.message == "filter.all[0].attr: unclosed '(': expected ',' or ')'"
    assert (error.line, error.column) == (1, 6)
    assert error.excerpt == "lower(email\n     ^"


# -- round trip ------------------------------------------------------------------------------

_names = st.one_of(
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(["and", "date", "select", "count", "starts", "today", "Mixed Case", "x.y"]),
    st.text(alphabet=string.ascii_letters + " \"'$é-", min_size=1, max_size=6),
)
_variables = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_literals = st.one_of(
    st.text(max_size=8).map(Literal),
    st.integers(min_value=-(10**12), max_value=10**12).map(Literal),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(Literal),
    st.booleans().map(Literal),
    st.dates().map(Literal),
    st.datetimes().map(Literal),
    st.just(Null()),
)
_columns = st.lists(_names, min_size=1, max_size=3).map(lambda p: Column(tuple(p)))
_atoms = st.one_of(
    _literals,
    _columns,
    _variables.map(Variable),
    st.builds(Interval, st.integers(-50, 50), st.sampled_from(["year", "day", "hour", "second"])),
)


def _filters(exprs: st.SearchStrategy[Expr]) -> st.SearchStrategy[Filter | None]:
    return st.one_of(st.none(), exprs.map(Filter))


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    two_or_more = st.lists(children, min_size=2, max_size=3).map(tuple)
    functions = st.sampled_from(["lower", "coalesce", "today", "days_ago", "my_func"])
    return st.one_of(
        st.builds(Call, functions, st.lists(children, max_size=2).map(tuple)),
        st.builds(Negate, children),
        st.builds(Arith, st.sampled_from("+-*/"), children, children),
        st.builds(Compare, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), children, children),
        st.builds(
            InList, children, st.lists(children, min_size=1, max_size=3).map(tuple), st.booleans()
        ),
        st.builds(IsNull, children, st.booleans()),
        st.builds(Between, children, children, children, st.booleans()),
        st.builds(Like, children, children, st.booleans()),
        st.builds(TextMatch, st.sampled_from(TEXT_MATCHES), children, children),
        st.builds(And, two_or_more),
        st.builds(Or, two_or_more),
        st.builds(Not, children),
        st.builds(Exists, _names, _filters(children), st.booleans()),
        st.builds(Aggregate, st.just("count"), _names, st.none(), _filters(children)),
        st.builds(
            Aggregate,
            st.sampled_from([a for a in AGGREGATES if a != "count"]),
            _names,
            _columns,
            _filters(children),
        ),
    )


_exprs = st.recursive(_atoms, _extend, max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(_exprs)
def test_to_text_round_trips(node: Expr) -> None:
    text = to_text(node)
    assert parse_filter(text) == Filter(node), text
    assert to_text(parse_filter(text)) == text


_WORDS = [
    "a",
    "b.c",
    "(",
    ")",
    ",",
    "=",
    "!=",
    "<",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "and",
    "or",
    "not",
    "in",
    "is",
    "null",
    "between",
    "like",
    "starts",
    "ends",
    "with",
    "contains",
    "exists",
    "count",
    "sum",
    "where",
    "interval",
    "3",
    "days",
    "date",
    "timestamp",
    "'2024-01-01'",
    "'x'",
    '"q"',
    "$v",
    "true",
    "1.5",
    "lower",
    "today",
    "--",
    "/*",
    "*/",
    "%",
    ";",
    "'",
]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=string.printable, max_size=30),
        st.lists(st.sampled_from(_WORDS), max_size=12).map(" ".join),
    )
)
def test_any_text_parses_or_raises_a_filter_error(text: str) -> None:
    try:
        node = parse_filter(text)
    except FilterError as error:
        assert error.position is not None
        assert 0 <= error.position <= len(text)
    else:
        assert parse_filter(to_text(node)) == node
