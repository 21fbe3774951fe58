"""Checking filters against a data model: every error names the problem, its place, a way out."""

from __future__ import annotations

from typing import Any

import pytest

from partita.filters import FilterError, check, parse_expression, parse_filter
from partita.model.datamodel import ColumnType, DataModel, Dimension, Link

S, INT, N, B = ColumnType.STRING, ColumnType.INTEGER, ColumnType.NUMBER, ColumnType.BOOLEAN
D, T, OTHER = ColumnType.DATE, ColumnType.TIMESTAMP, ColumnType.OTHER


def _link(name: str, source: str, target: str, on: dict[str, str], cardinality: str) -> Link:
    return Link.model_validate(
        {"name": name, "from": source, "to": target, "on": on, "cardinality": cardinality}
    )


CONTRACT = {"contract_country": "country", "contract_no": "number"}

MODEL = DataModel(
    dimensions={
        name: Dimension(name=name, table=name, key=key)
        for name, key in [
            ("customers", "id"),
            ("purchases", "id"),
            ("stores", "id"),
            ("regions", "id"),
            ("contracts", "number"),
            ("contract_events", "id"),
        ]
    },
    links=[
        _link("purchases", "customers", "purchases", {"id": "customer_id"}, "many"),
        _link("store", "customers", "stores", {"store_id": "id"}, "one"),
        _link("contract", "customers", "contracts", CONTRACT, "one"),
        _link("contract_events", "customers", "contract_events", CONTRACT, "many"),
        _link("customer", "purchases", "customers", {"customer_id": "id"}, "one"),
        _link("store", "purchases", "stores", {"store_id": "id"}, "one"),
        _link("region", "stores", "regions", {"region_id": "id"}, "one"),
    ],
    columns={
        "customers": {
            "id": INT,
            "email": S,
            "loyalty_tier": S,
            "country": S,
            "birth_date": D,
            "signup_at": T,
            "store_id": INT,
            "score": N,
            "is_vip": B,
            "contract_country": S,
            "contract_no": INT,
            "profile": OTHER,
        },
        "purchases": {
            "id": INT,
            "customer_id": INT,
            "amount": N,
            "category": S,
            "purchased_at": T,
            "product_id": INT,
            "store_id": INT,
            "returned": B,
        },
        "stores": {"id": INT, "name": S, "region_id": INT},
        "regions": {"id": INT, "name": S},
        "contracts": {"country": S, "number": INT, "plan": S, "fee": N},
        "contract_events": {"id": INT, "country": S, "number": INT, "kind": S, "happened_at": T},
    },
)

VARIABLES = {"country": S, "since": D, "min_amount": N, "tiers": S}


def check_filter(source: Any, **kwargs: Any) -> ColumnType:
    kwargs.setdefault("variables", VARIABLES)
    return check(parse_filter(source), MODEL, "customers", **kwargs)


def check_expr(text: str, **kwargs: Any) -> ColumnType:
    kwargs.setdefault("variables", VARIABLES)
    return check(parse_expression(text), MODEL, "customers", **kwargs)


VALID = [
    "loyalty_tier = 'gold' and country in ('FR', 'BE') and birth_date < today() - interval 18 year",
    "email is not null and lower(email) like '%@example.com'",
    "score between 1 and 2.5 or abs(score) > 3 or round(score, 1) = 2 or -score < 0",
    "store.name = 'Paris' and store.region.name = 'EUROPE'",
    "contract.plan = 'pro' and count(contract_events where kind = 'call') > 1",
    "exists contract_events (happened_at > now() - interval 2 hours)",
    "exists purchases (amount > 100 and purchased_at > days_ago(30))",
    "exists purchases (store.region.name = 'EUROPE' and customer.country = 'FR')",
    "not exists purchases",
    "exists purchases",
    "count(purchases) >= 3 and count(purchases where category = 'shoes') >= 3",
    "sum(purchases.amount where category = 'shoes') > 200 and avg(purchases.amount) < 50",
    "min(purchases.purchased_at) < now() and max(purchases.category) = 'z'",
    "count_distinct(purchases.product_id) > 2 and count_distinct(purchases.store.region.name) > 1",
    "birth_date < '2000-01-01' and signup_at >= '2024-01-31 10:00:00' and signup_at > '2024-01-31'",
    "birth_date < now() and signup_at > birth_date + interval 3 hours",
    "year(birth_date) = 1990 and month(signup_at) = 1 and day(birth_date) between 1 and 10",
    "country = $country and birth_date > $since and score > $min_amount and birth_date > $tiers",
    "coalesce(score, 0) > 1 and coalesce(email, country, 'x') = 'x'",
    "length(trim(upper(email))) > 3",
    "is_vip and not is_vip = false",
    "email starts with 'a' and email ends with '.com' and email contains '@'",
    "profile = 3 and profile = 'anything'",
    "score + null > 1 and coalesce(email, null) in ('a', null)",
    "true",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_filters_are_conditions(text: str) -> None:
    assert check_filter(text) == B


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lower(email)", S),
        ("store.region.name", S),
        ("count(purchases)", INT),
        ("count_distinct(purchases.category)", INT),
        ("sum(purchases.product_id)", INT),
        ("sum(purchases.amount)", N),
        ("avg(purchases.product_id)", N),
        ("max(purchases.category)", S),
        ("min(purchases.purchased_at)", T),
        ("store_id + 1", INT),
        ("store_id / 2", N),
        ("score * 2", N),
        ("birth_date + interval 2 days", D),
        ("birth_date + interval 2 hours", T),
        ("signup_at - interval 1 year", T),
        ("days_ago(3)", D),
        ("today()", D),
        ("now()", T),
        ("round(score)", INT),
        ("round(score, 2)", N),
        ("coalesce(store_id, score)", N),
        ("coalesce(null, email)", S),
        ("null", OTHER),
        ("$since", D),
        ("email = 'a'", B),
    ],
)
def test_expression_types(text: str, expected: ColumnType) -> None:
    assert check_expr(text) == expected


ERRORS = [
    (
        "loyalty_teir = 'gold'",
        "unknown column 'loyalty_teir' in dimension 'customers': did you mean 'loyalty_tier'?",
        0,
    ),
    ("Email = 'a'", "unknown column 'Email' in dimension 'customers': did you mean 'email'?", 0),
    ("stor.name = 'x'", "unknown link 'stor' in dimension 'customers': did you mean 'store'?", 0),
    (
        "store.regon.name = 'x'",
        "unknown link 'regon' in dimension 'stores': did you mean 'region'?",
        6,
    ),
    (
        "store.region.nme = 'x'",
        "unknown column 'nme' in dimension 'regions': did you mean 'name'?",
        13,
    ),
    (
        "purchases.amount > 1",
        "link 'purchases' of dimension 'customers' is a many-link: use exists purchases (…) or an "
        "aggregate such as count(purchases) instead of 'purchases.amount'",
        0,
    ),
    (
        "exists store",
        "link 'store' of dimension 'customers' is a one-link: exists needs a many-link; read its "
        "columns with store.<column> (e.g. store.id is not null)",
        7,
    ),
    (
        "count(contract) > 1",
        "link 'contract' of dimension 'customers' is a one-link: count needs a many-link; read its "
        "columns with contract.<column> (e.g. contract.number is not null)",
        6,
    ),
    (
        "sum(store.id) > 1",
        "link 'store' of dimension 'customers' is a one-link: sum needs a many-link; read its "
        "columns with store.<column> (e.g. store.id is not null)",
        4,
    ),
    (
        "exists purchase",
        "unknown link 'purchase' in dimension 'customers': did you mean 'purchases'?",
        7,
    ),
    ("store = 1", "'store' is a link, not a column: use store.<column>", 0),
    (
        "purchases > 1",
        "'purchases' is a link, not a column: use exists purchases or count(purchases)",
        0,
    ),
    ("lowr(email) = 'a'", "unknown function 'lowr': did you mean 'lower'?", 0),
    ("summ(email) = 'a'", "unknown function 'summ': did you mean 'sum'?", 0),
    ("round(score, 1, 2) > 1", "round() takes 1 or 2 arguments, got 3", 0),
    ("today(1) > birth_date", "today() takes no arguments, got 1", 0),
    ("lower() = 'a'", "lower() takes 1 argument, got 0", 0),
    ("coalesce(email) = 'a'", "coalesce() takes at least 2 arguments, got 1", 0),
    ("lower(score) = 'a'", "argument 1 of lower() must be a string, got number column 'score'", 6),
    ("round(score, 'a') > 1", "argument 2 of round() must be a whole number, got string 'a'", 13),
    (
        "year(email) = 1",
        "argument 1 of year() must be a date or timestamp, got string column 'email'",
        5,
    ),
    (
        "days_ago(1.5) < birth_date",
        "argument 1 of days_ago() must be a whole number, got number 1.5",
        9,
    ),
    ("country = 3", "cannot compare string column 'country' with number 3", 10),
    ("3 = country", "cannot compare number 3 with string column 'country'", 4),
    ("country in ('FR', 3)", "cannot compare string column 'country' with number 3", 18),
    ("score between 1 and 'x'", "cannot compare number column 'score' with string 'x'", 20),
    ("is_vip = 'yes'", "cannot compare boolean column 'is_vip' with string 'yes'", 9),
    (
        "lower(email) = 1",
        "cannot compare string expression 'lower(email)' with number 1",
        15,
    ),
    ("score + 'x' > 1", "cannot add number column 'score' and string 'x'", 8),
    ("'x' - score > 1", "cannot subtract number column 'score' from string 'x'", 0),
    ("score * email > 1", "cannot multiply number column 'score' by string column 'email'", 8),
    ("email / 2 > 1", "cannot divide string column 'email' by number 2", 0),
    ("score + interval 1 day > 1", "cannot add number column 'score' and interval 1 day", 8),
    (
        "birth_date - birth_date > 1",
        "cannot subtract date column 'birth_date' from date column 'birth_date'",
        13,
    ),
    ("-email = 'a'", "cannot negate string column 'email'", 1),
    (
        "birth_date = interval 3 days",
        "an interval can only be added to or subtracted from a date or timestamp",
        13,
    ),
    (
        "sum(purchases.category) > 1",
        "sum needs a number column, got string column 'purchases.category'",
        14,
    ),
    (
        "avg(purchases.purchased_at) > 1",
        "avg needs a number column, got timestamp column 'purchases.purchased_at'",
        14,
    ),
    (
        "max(purchases.returned)",
        "max needs a number, string, date or timestamp column, got boolean column "
        "'purchases.returned'",
        14,
    ),
    (
        "birth_date < 'yesterday'",
        "cannot compare date column 'birth_date' with string 'yesterday': not a date "
        "(write 'YYYY-MM-DD')",
        13,
    ),
    (
        "signup_at > 'soon'",
        "cannot compare timestamp column 'signup_at' with string 'soon': not a timestamp "
        "(write 'YYYY-MM-DD HH:MM:SS')",
        12,
    ),
    (
        "'2024-13-01' < birth_date",
        "cannot compare string '2024-13-01' with date column 'birth_date': not a date "
        "(write 'YYYY-MM-DD')",
        15,
    ),
    ("country = $cntry", "unknown variable '$cntry': did you mean '$country'?", 10),
    (
        "score > $tiers",
        "cannot compare number column 'score' with string variable $tiers",
        8,
    ),
    (
        "score + 1",
        "a filter must be a condition (true or false), got number expression 'score + 1'",
        0,
    ),
    ("email", "a filter must be a condition (true or false), got string column 'email'", 0),
    (
        "is_vip and score",
        "each side of 'and' must be a condition (true or false), got number column 'score'",
        11,
    ),
    (
        "is_vip or 1",
        "each side of 'or' must be a condition (true or false), got number 1",
        10,
    ),
    (
        "not email",
        "the operand of 'not' must be a condition (true or false), got string column 'email'",
        4,
    ),
    (
        "exists purchases (amount)",
        "the filter of 'exists purchases' must be a condition (true or false), got number column "
        "'amount'",
        18,
    ),
    (
        "count(purchases where amount) > 1",
        "the filter of count(purchases …) must be a condition (true or false), got number column "
        "'amount'",
        22,
    ),
    (
        "exists purchases (loyalty_tier = 'gold')",
        "unknown column 'loyalty_tier' in dimension 'purchases': valid names: 'amount', "
        "'category', 'customer_id', 'id', 'product_id', 'purchased_at', 'returned', 'store_id'",
        18,
    ),
    (
        "exists purchases (store.region.nam = 'x')",
        "unknown column 'nam' in dimension 'regions': did you mean 'name'?",
        31,
    ),
    (
        "exists purchases (exists purchases)",
        "unknown link 'purchases' in dimension 'purchases': valid names: 'customer', 'store'",
        25,
    ),
    ("email = null", "comparing with null is never true: write 'email is null'", 8),
    (
        "null != lower(email)",
        "comparing with null is never true: write 'lower(email) is not null'",
        0,
    ),
    ("score > null", "comparing with null is never true", 8),
    ("score like 'a%'", "'like' needs a string on the left, got number column 'score'", 0),
    ("email starts with 3", "'starts with' needs a string on the right, got number 3", 18),
    (
        "email contains score",
        "'contains' needs a string on the right, got number column 'score'",
        15,
    ),
]


@pytest.mark.parametrize(("text", "message", "position"), ERRORS, ids=[e[0] for e in ERRORS])
def test_check_errors_name_the_problem_and_point_at_it(
    text: str, message: str, position: int
) -> None:
    with pytest.raises(FilterError) as caught:
        check_filter(text)
    assert caught.value.message == message
    assert caught.value.position == position
    assert caught.value.column == position + 1


def test_unknown_variable_without_declared_variables() -> None:
    with pytest.raises(FilterError) as caught:
        check_filter("country = $country", variables={})
    assert caught.value.message == "unknown variable '$country': no variable is declared"


def test_check_error_on_the_second_line_points_there() -> None:
    with pytest.raises(FilterError) as caught:
        check_filter("loyalty_tier = 'gold'\n  and countyr = 'FR'")
    error = caught.value
    assert (error.line, error.column) == (2, 7)
    assert error.excerpt == "  and countyr = 'FR'\n      ^^^^^^^"
    assert str(error).splitlines()[0] == (
        "unknown column 'countyr' in dimension 'customers': did you mean 'country'? "
        "at line 2, column 7"
    )


def test_extra_columns_are_visible_and_win_over_dimension_columns() -> None:
    extra = {"segment": S, "email": INT}
    assert check_filter("segment = 'a' and email > 3", extra_columns=extra) == B
    with pytest.raises(FilterError) as caught:
        check_filter("email = 'a'", extra_columns=extra)
    assert caught.value.message == "cannot compare number column 'email' with string 'a'"
    with pytest.raises(FilterError) as caught:
        check_filter("segmnt = 'a'", extra_columns=extra)
    assert caught.value.message.endswith("did you mean 'segment'?")


def test_extra_columns_do_not_reach_linked_dimensions() -> None:
    with pytest.raises(FilterError) as caught:
        check_filter("exists purchases (segment = 'a')", extra_columns={"segment": S})
    assert caught.value.message.startswith("unknown column 'segment' in dimension 'purchases'")


def test_rule_tree_errors_are_checked_too() -> None:
    rule = {"all": [{"attr": "country", "op": "eq", "value": 3}]}
    with pytest.raises(FilterError) as caught:
        check_filter(rule)
    assert caught.value.message == "cannot compare string column 'country' with number 3"
    assert caught.value.position is None  # a YAML value has no place in a text
    rule = {"attr": "lower(emial)", "op": "eq", "value": "a"}
    with pytest.raises(FilterError) as caught:
        check_filter(rule)
    assert caught.value.message.endswith("did you mean 'email'?")
    assert caught.value.excerpt == "lower(emial)\n      ^^^^^"


def test_a_bare_interval_is_not_a_value() -> None:
    with pytest.raises(FilterError, match="an interval can only be added"):
        check_expr("interval 3 days")


def test_check_error_becomes_a_problem() -> None:
    with pytest.raises(FilterError) as caught:
        check_filter("countri = 'FR'")
    problem = caught.value.to_problem("gold", "filter")
    assert problem.message == (
        "unknown column 'countri' in dimension 'customers': did you mean 'country'? "
        "(at column 1 of the filter)"
    )
    # the Problem's line and column are places in a file; the filter's place is in the message
    assert (problem.activity, problem.field, problem.line, problem.column) == (
        "gold",
        "filter",
        None,
        None,
    )
    assert problem.hint == "countri = 'FR'\n^^^^^^^"
    assert str(problem) == (
        "activity 'gold', field 'filter': unknown column 'countri' in dimension 'customers': "
        "did you mean 'country'? (at column 1 of the filter)\n"
        "      countri = 'FR'\n"
        "      ^^^^^^^"
    )
