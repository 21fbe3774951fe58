"""Email syntax and phone numbers in E.164."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partita.channels import normalize_phone, valid_email


@pytest.mark.parametrize(
    "address",
    [
        "ann@example.com",
        "ann.o'neil+spring@shop.example",
        "a@b.co",
        "first_last-1@sub.domain.example.org",
        "x!#$%&*/=?^_`{|}~-@example.com",
        "josé@exämple.fr",
        "用户@例子.中国",
        "a@xn--bcher-kva.example",
        "a@123.example.com",
        f"{'a' * 64}@example.com",
    ],
)
def test_valid_emails(address: str) -> None:
    assert valid_email(address)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "ann",
        "ann@",
        "@example.com",
        "ann@example",
        "ann@localhost",
        "ann smith@example.com",
        "ann@exa mple.com",
        " ann@example.com",
        "ann@example.com ",
        "ann\u00a0x@example.com",
        "ann\n@example.com",
        "ann@@example.com",
        "ann@b@example.com",
        ".ann@example.com",
        "ann.@example.com",
        "an..n@example.com",
        "ann@example..com",
        "ann@.example.com",
        "ann@example.com.",
        "ann@-example.com",
        "ann@example-.com",
        "ann@example.123",
        "ann@[192.168.0.1]",
        '"ann smith"@example.com',
        "ann(comment)@example.com",
        "Ann <ann@example.com>",
        f"{'a' * 65}@example.com",
        f"a@{'b' * 64}.com",
        f"a@{'b.' * 130}com",
    ],
)
def test_invalid_emails(address: str) -> None:
    assert not valid_email(address)


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", None, "+33612345678"),
        ("0033 6 12 34 56 78", "FR", "+33612345678"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("+1 415 555 2671", "fr", "+14155552671"),
        ("07911 123456", "GB", "+447911123456"),
        ("030 1234567", "DE", "+49301234567"),
        ("0470 12 34 56", "BE", "+32470123456"),
        ("090-1234-5678", "JP", "+819012345678"),
        ("+55 11 91234-5678", None, "+5511912345678"),
        ("98765 43210", "IN", "+919876543210"),
    ],
)
def test_phones_from_several_countries(text: str, region: str | None, expected: str) -> None:
    assert normalize_phone(text, region) == expected


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("", "FR"),
        ("   ", "FR"),
        ("not a number", "FR"),
        ("12", "FR"),
        ("06 12 34 56 78", None),  # national number without a region
        ("+33 6 12", None),
        ("+999 123456789", None),
        ("06 12 34 56 78 99 99", "FR"),
        ("0612345678", "XX"),
    ],
)
def test_invalid_phones(text: str, region: str | None) -> None:
    assert normalize_phone(text, region) is None


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from([None, "FR", "us", "ZZ", ""]))
def test_any_text_gives_an_answer_not_an_exception(text: str, region: str | None) -> None:
    assert isinstance(valid_email(text), bool)
    phone = normalize_phone(text, region)
    assert phone is None or (phone.startswith("+") and phone[1:].isdigit())
