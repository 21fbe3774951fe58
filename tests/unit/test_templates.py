"""Message templates: rendering (filters, defaults, escaping), errors with their place, the
static check against the available columns, text from HTML, and MIME."""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partita.channels import (
    EmailMessage,
    TemplateError,
    check_templates,
    compile_template,
    html_to_text,
    message_id,
    template_variables,
    to_mime,
)
from partita.model.problems import Problem

ROW = {
    "first_name": "Ann",
    "last_name": "O'Neil",
    "loyalty_tier": "gold",
    "points": 1250,
    "total_90d": Decimal("342.75"),
    "birth_date": dt.date(1990, 4, 2),
    "city": None,
    "last_purchase_1_category": "shoes",
}


def render(text: str, row: dict[str, object] | None = None, field: str = "text") -> str:
    return compile_template(text, field).render(ROW if row is None else row)


# -- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello {{ first_name }}", "Hello Ann"),
        ("{{ first_name | upcase }} {{ last_name | downcase }}", "ANN o'neil"),
        ("{{ loyalty_tier | capitalize }}", "Gold"),
        ("{{ points | plus: 50 }} / {{ points | divided_by: 100 }}", "1300 / 12"),
        ("{{ total_90d | round }} {{ total_90d }}", "343 342.75"),
        ("{{ total_90d | plus: 1 }} {{ total_90d | round: 1 }}", "343.75 342.8"),
        ("{% if total_90d > 300 %}big{% endif %}", "big"),
        ("{{ birth_date | date: '%d/%m/%Y' }}", "02/04/1990"),
        ("{{ city | default: 'your city' }}", "your city"),
        ("[{{ city }}]", "[]"),
        ("{{ nickname | default: first_name }}", "Ann"),
        ("{{ last_purchase_1_category | prepend: 'new ' | append: '!' }}", "new shoes!"),
        ("{{ 'a,b,c' | split: ',' | join: ' + ' }}", "a + b + c"),
        ("{{ first_name | truncate: 3, '' }}", "Ann"),
    ],
)
def test_render_with_filters_and_defaults(text: str, expected: str) -> None:
    assert render(text) == expected


def test_render_conditions_loops_and_assignments() -> None:
    text = (
        "{% if loyalty_tier == 'gold' %}Gold{% elsif points > 100 %}Silver{% else %}-{% endif %}"
        "{% unless city %} (no city){% endunless %}"
        "{% assign bonus = points | times: 2 %} {{ bonus }}"
        "{% for i in (1..3) %}{{ i }}{% endfor %}"
        "{% case loyalty_tier %}{% when 'gold' %} G{% else %} O{% endcase %}"
    )
    assert render(text) == "Gold (no city) 2500123 G"
    template = compile_template(text, "text")
    assert template_variables(template) == {"loyalty_tier", "points", "city"}


def test_render_many_keeps_the_order() -> None:
    template = compile_template("Hi {{ first_name | default: 'there' }}", "subject")
    rows: list[dict[str, object]] = [
        {"first_name": "Ann"},
        {"first_name": None},
        {"first_name": "Bob"},
    ]
    assert template.render_many(rows) == ["Hi Ann", "Hi there", "Hi Bob"]


def test_html_field_escapes_values_and_safe_opts_out() -> None:
    row = {"name": "<b>Ann</b> & co", "block": "<p>ok</p>"}
    html = compile_template("<p>{{ name }}</p>{{ block | safe }}", "html")
    assert html.autoescape
    assert html.render(row) == "<p>&lt;b&gt;Ann&lt;/b&gt; &amp; co</p><p>ok</p>"
    text = compile_template("{{ name }}", "text")
    assert not text.autoescape
    assert text.render(row) == "<b>Ann</b> & co"
    assert compile_template("{{ name }}", "body", autoescape=True).render(row).startswith("&lt;")


def test_template_variables_are_the_root_names() -> None:
    template = compile_template(
        "{{ store.name }} {{ first_name | default: nickname }}"
        "{% for p in purchases %}{{ p.amount }}{{ forloop.index }}{% endfor %}"
        "{% assign x = 1 %}{{ x }}{% capture y %}{{ city }}{% endcapture %}{{ y }}",
        "html",
    )
    assert template_variables(template) == {"store", "first_name", "nickname", "purchases", "city"}


# -- errors with their place --------------------------------------------------------------------


def test_syntax_error_has_the_line_and_column() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template("<p>Hello</p>\n<p>{{ first_name </p>", "html")
    error = caught.value
    assert (error.line, error.column) == (2, 4)
    assert error.problem.field == "html"
    assert error.problem.message == (
        "expected '}}', found end of file at line 2, column 4 of the html"
    )
    assert error.problem.hint == "<p>{{ first_name </p>\n   ^^^^^^^^^^^^^^^^^^"


def test_unclosed_block_points_at_its_opening() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template("Hi\n{% for p in purchases %}{% if p %}x{% endif %}\nbye", "text")
    assert (caught.value.line, caught.value.column) == (2, 1)
    assert caught.value.problem.message == (
        "'{% for %}' is never closed: add '{% endfor %}' at line 2, column 1 of the text"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{% iff x %}{% endif %}", "unexpected tag 'iff' at line 1, column 4 of the subject"),
        (
            "Hi {{ first_name | upcse }}",
            "unknown filter 'upcse' at line 1, column 20 of the subject: did you mean 'upcase'?",
        ),
        (
            "{% include 'footer' %}",
            "'{% include %}' is not available in messages at line 1, column 4 of the subject: "
            "there are no partial templates; write the content in place",
        ),
    ],
)
def test_other_compile_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template(text, "subject")
    assert caught.value.problem.message == message


def test_strict_undefined_at_render_time() -> None:
    template = compile_template("Hello\n{{ frist_name }}!", "body")
    with pytest.raises(TemplateError) as caught:
        template.render(ROW)
    error = caught.value
    assert (error.line, error.column) == (2, 4)
    assert str(error) == (
        "field 'body': 'frist_name' is not defined for this recipient at line 2, column 4 of the "
        "body: did you mean 'first_name'?\n"
        "      {{ frist_name }}!\n"
        "         ^^^^^^^^^^"
    )
    with pytest.raises(TemplateError, match=re.escape("write '| default: …' to allow it")):
        compile_template("{{ zzz }}", "body").render(ROW)


def test_strict_undefined_in_conditions_and_loops() -> None:
    for text in ("{% if vip %}x{% endif %}", "{% for p in purchases %}{% endfor %}"):
        with pytest.raises(TemplateError, match="is not defined for this recipient"):
            compile_template(text, "text").render(ROW)


def test_undefined_with_default_is_fine() -> None:
    assert render("{{ vip | default: 'no' }}") == "no"


def test_loops_are_bounded() -> None:
    template = compile_template("{% for i in (1..1000000) %}.{% endfor %}", "text")
    with pytest.raises(TemplateError, match="loop iteration limit"):
        template.render({})


PIECES = [*"{}%-|:'\" abci=<>.,()\n", "{{", "}}", "{%", "%}", "if", "endif", "for", "in"]
PIECES += ["endfor", "assign", "default", "raw", "endraw", "comment", "case", "when", "a.b"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_bad_input_fails_only_with_template_errors(text: str) -> None:
    try:
        template = compile_template(text, "html")
    except TemplateError as error:
        assert error.problem.field == "html"
        return
    with contextlib.suppress(TemplateError):
        template.render({"a": 1, "b": "x", "c": None})


# -- the static check ---------------------------------------------------------------------------


def test_check_reports_unknown_variables_with_field_line_and_suggestion() -> None:
    problems = check_templates(
        {
            "subject": "Hi {{ first_name }}",
            "html": "<p>Hi</p>\n<p>{{ frist_name }} from {{ store.name }}</p>",
            "text": "{% assign n = points %}{{ n }} {{ forloop }}",
        },
        ["first_name", "points", "store_name"],
        activity="spring_email",
    )
    assert problems == [
        Problem(
            message="unknown variable 'frist_name' at line 2, column 7 of the html: "
            "did you mean 'first_name'?",
            activity="spring_email",
            field="html",
            hint="<p>{{ frist_name }} from {{ store.name }}</p>\n      ^^^^^^^^^^",
        ),
        Problem(
            message="unknown variable 'store' at line 2, column 29 of the html: "
            "did you mean 'store_name'?",
            activity="spring_email",
            field="html",
            hint="<p>{{ frist_name }} from {{ store.name }}</p>\n                            ^^^^^",
        ),
        Problem(
            message="unknown variable 'forloop' at line 1, column 35 of the text: "
            "valid names: 'first_name', 'points', 'store_name'",
            activity="spring_email",
            field="text",
            hint="{% assign n = points %}{{ n }} {{ forloop }}\n" + " " * 34 + "^" * 7,
        ),
    ]


def test_check_reports_syntax_errors_per_field() -> None:
    problems = check_templates({"subject": "{{ a ", "body": "{{ b | nope }}"}, ["a", "b"])
    assert [(p.field, p.message.split(" at line")[0]) for p in problems] == [
        ("subject", "expected '}}', found end of file"),
        ("body", "unknown filter 'nope'"),
    ]


def test_check_passes_clean_templates() -> None:
    assert check_templates({"subject": "{{ a | default: b }}", "body": "x"}, ["a", "b"]) == []


# -- text from HTML ------------------------------------------------------------------------------


def test_html_to_text() -> None:
    html = """<html><head><title>Spring</title><style>p { color: red }</style></head>
<body>
  <h1>Hello   Ann</h1>
  <p>Your <b>gold</b> status &amp; <i>more</i>.<br>Second line</p>
  <p><a href="https://shop.example/o?a=1&amp;b=2">See the offer</a>,
     <a href="mailto:help@shop.example">write to us</a> or
     <a href="https://shop.example">https://shop.example</a></p>
  <ul><li>one</li>
      <li>two</li></ul>
  <table><tr><td>Total</td><td>42 &euro;</td></tr></table>
  <img src="logo.png" alt="Shop logo"><img src="pixel.gif" alt="">
  <script>alert(1)</script>
</body></html>"""
    assert html_to_text(html) == (
        "Hello Ann\n\n"
        "Your gold status & more.\n"
        "Second line\n\n"
        "See the offer (https://shop.example/o?a=1&b=2), write to us or https://shop.example\n\n"
        "- one\n"
        "- two\n\n"
        "Total 42 €\n\n"
        "Shop logo"
    )


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_html_to_text_takes_any_text(text: str) -> None:
    assert isinstance(html_to_text(text), str)


def test_html_to_text_keeps_liquid_so_a_text_template_can_be_derived_once() -> None:
    source = (
        '<p>Hi {{ first_name | default: "there" }},</p>'
        "{% if loyalty_tier == 'gold' %}<p>Gold &amp; more</p>{% endif %}"
        '<p><a href="https://shop.example/c/{{ customer_id }}">Your page</a></p>'
    )
    text = html_to_text(source)
    assert text == (
        'Hi {{ first_name | default: "there" }},\n\n'
        "{% if loyalty_tier == 'gold' %}Gold & more\n\n{% endif %}"
        "Your page (https://shop.example/c/{{ customer_id }})"
    )
    template = compile_template(text, "text")
    row = {"first_name": "<Ann>", "loyalty_tier": "gold", "customer_id": 7}
    assert template.render(row) == (
        "Hi <Ann>,\n\nGold & more\n\nYour page (https://shop.example/c/7)"
    )
    row["loyalty_tier"] = "silver"
    assert template.render(row) == "Hi <Ann>,\n\nYour page (https://shop.example/c/7)"


# -- MIME ---------------------------------------------------------------------------------------


def test_to_mime_headers_and_parts() -> None:
    message = EmailMessage(
        to="Ann <ann@example.com>",
        from_="Shop <news@shop.example>",
        subject="Spring\r\n sale é",
        html="<p>Hé</p>",
        unsubscribe_url="https://t.shop.example/u/x",
        unsubscribe_mailto="mailto:unsub@shop.example?subject=x",
        headers={"X-Campaign": "spring"},
        idempotency_key="exec-1/mail/42",
    )
    when = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
    mime = to_mime(message, date=when)
    parsed = email.message_from_bytes(
        mime.as_bytes().replace(b"\r\n", b"\n"), policy=email.policy.default
    )
    assert parsed["Subject"] == "Spring sale é"
    assert parsed["Date"] == "Tue, 01 Dec 2026 09:30:00 +0000"
    assert parsed["Message-ID"] == message_id(message)
    assert parsed["List-Unsubscribe"] == (
        "<https://t.shop.example/u/x>, <mailto:unsub@shop.example?subject=x>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["X-Campaign"] == "spring"
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content() == "Hé\n"
    assert html.get_content() == "<p>Hé</p>\n"
    assert message_id(message) == message_id(message)
    with pytest.raises(ValueError, match="header 'Subject' is set by Partita"):
        to_mime(EmailMessage(to="a@b.co", from_="c@d.co", subject="s", headers={"Subject": "x"}))


def test_to_mime_text_only_and_random_message_id_without_key() -> None:
    message = EmailMessage(to="a@b.co", from_="c@d.co", subject="s", text="only text")
    mime = to_mime(message)
    assert mime.get_content_type() == "text/plain"
    assert mime["List-Unsubscribe"] is None
    assert message_id(message) != message_id(message)


# -- the direct rendering of plain outputs is Liquid's, for every value and template ------------

_PIECES = [
    "Hello ",
    "{{ name }}",
    "{{ other }}",
    "{{ name | upcase }}",
    "{{ other | default: 'there' }}",
    "{{ missing | default: 'x' }}",
    " & <b>",
    "{% if name %}[{{ name }}]{% endif %}",
    "{% assign other = 'assigned' %}",
    "{% capture name %}captured{% endcapture %}",
    "{% for n in (1..2) %}{{ n }}{{ name }}{% endfor %}",
    "{{- name -}}",
    "\n",
]
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["<a href='x'>&amp;</a>", '"quoted"', "é", ""]),
    st.lists(st.text(max_size=3), max_size=3),
    st.dates(),
)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_PIECES), max_size=8),
    name=_VALUES,
    other=_VALUES,
    field=st.sampled_from(["html", "subject"]),
)
def test_rendering_is_liquid_s_own(pieces: list[str], name: object, other: object, field: str):
    """Template.render writes plain ``{{ name }}`` outputs itself; whatever the template and
    the values (strings with HTML, NULL, booleans, numbers, lists, dates, names the template
    assigns), the text is what python-liquid renders. (DECIMAL values print as written, which
    Liquid alone does not: tested above.)"""
    from liquid import Environment
    from liquid.undefined import StrictDefaultUndefined

    source = "".join(pieces)
    template = compile_template(source, field)
    row = {"name": name, "other": other}
    liquid = Environment(undefined=StrictDefaultUndefined, autoescape=field == "html")
    assert template.render(row) == liquid.from_string(source).render(**row)


def test_a_name_the_row_lacks_is_still_liquid_s_error():
    """A plain ``{{ name }}`` the row does not hold goes through Liquid: the strict error with
    its place, the same as before."""
    template = compile_template("Hi\n  {{ nickname }}!", "subject")
    with pytest.raises(TemplateError) as caught:
        template.render({"first_name": "Ann"})
    assert caught.value.line == 2 and caught.value.column == 6
    assert "'nickname' is not defined for this recipient" in str(caught.value)
