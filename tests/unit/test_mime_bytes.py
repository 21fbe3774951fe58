"""``mime_bytes`` writes exactly the bytes of ``to_mime(...).as_bytes()`` (only the random MIME
boundary differs), for plain and unusual headers, bodies with long lines, escapes at the place
of a soft break, whitespace at line ends, non-ASCII text, and both policies."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partita.channels import EmailMessage, mime_bytes, to_mime
from partita.channels._messages import MIME_POLICY, MIME_POLICY_UTF8

WHEN = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
_BOUNDARY = re.compile(rb"={15}\d{19}==")

#: Characters that exercise the quoted-printable rules: "=", spaces and tabs (quoted at a line
#: end), control and non-ASCII characters, line breaks, and long runs that force soft breaks.
BODY = st.lists(
    st.sampled_from(
        ["a", "b", " ", "\t", "=", ".", "\n", "\r", "é", "€", "\x01", "\x7f", "<p>", "x" * 70]
    ),
    max_size=60,
).map("".join)

ADDRESSES = [
    "ann@example.com",
    "Ann Lee <ann.lee@example.com>",
    '"Lee, Ann" <ann@example.com>',
    "Zoë <zoe@example.fr>",
    "x" * 80 + "@example.com",
]
SUBJECTS = [
    "Ann, new arrivals picked for Paris",
    "Spring\r\n sale é",
    "a  b",
    "tab\there",
    "=?utf-8?q?x?=",
    "long " * 30,
]


def _same(message: EmailMessage) -> None:
    for utf8, policy in ((False, MIME_POLICY), (True, MIME_POLICY_UTF8)):
        try:
            expected = to_mime(message, date=WHEN)
        except ValueError as error:  # e.g. a line break the subject cleaning does not see
            with pytest.raises(ValueError, match=re.escape(str(error))):
                mime_bytes(message, date=WHEN, utf8=utf8)
            continue
        written, identifier = mime_bytes(message, date=WHEN, utf8=utf8)
        assert _BOUNDARY.sub(b"B", written) == _BOUNDARY.sub(b"B", expected.as_bytes(policy=policy))
        assert identifier == expected["Message-ID"]


@settings(max_examples=300, deadline=None)
@given(
    text=st.none() | BODY,
    html=st.none() | BODY,
    to=st.sampled_from(ADDRESSES),
    sender=st.sampled_from(["Shop <news@shop.example>", "Boutique Zoë <n@shop.fr>"]),
    subject=st.sampled_from(SUBJECTS) | st.text(max_size=40),
    reply_to=st.sampled_from([None, "reply@shop.example", "Rép <r@shop.example>"]),
    headers=st.sampled_from(
        [{}, {"X-Campaign": "spring"}, {"X-Long": "y" * 120}, {"X-Name": "vé"}, {"X-É": "v"}]
    ),
)
def test_the_same_bytes_as_the_email_package(
    text: str | None,
    html: str | None,
    to: str,
    sender: str,
    subject: str,
    reply_to: str | None,
    headers: dict[str, str],
) -> None:
    _same(
        EmailMessage(
            to=to,
            from_=sender,
            subject=subject,
            text=text,
            html=html,
            reply_to=reply_to,
            headers=headers,
            unsubscribe_url="https://t.shop.example/u/x",
            idempotency_key="7-mail-42",
        )
    )


def test_unsubscribe_headers_and_content_headers_in_parts() -> None:
    base: dict[str, Any] = {
        "to": "ann@example.com",
        "from_": "Shop <news@shop.example>",
        "subject": "Hi",
        "idempotency_key": "exec-1/mail/42",
    }
    _same(
        EmailMessage(
            **base,
            html="<p>Hi</p>",
            unsubscribe_url="https://t.shop.example/u/" + "t" * 90,
            unsubscribe_mailto="mailto:unsub@shop.example?subject=x",
        )
    )
    # a Content-* header goes into the first part: the email package writes these messages
    _same(EmailMessage(**base, html="<p>Hi</p>", headers={"Content-Language": "fr"}))
    with pytest.raises(ValueError, match="header 'Subject' is set by Partita"):
        mime_bytes(EmailMessage(**base, headers={"Subject": "x"}))


def test_without_a_date_the_message_is_dated_the_second_it_is_written() -> None:
    # the Date header is formatted once a second: it must be the current second's, and the
    # whole message what the email package writes for that moment
    message = EmailMessage(
        to="ann@example.com",
        from_="Shop <news@shop.example>",
        subject="Hi",
        html="<p>Hi</p>",
        idempotency_key="7-mail-42",
    )
    for _ in range(3):
        before = int(time.time())
        written, _ = mime_bytes(message)
        after = int(time.time())
        dated = re.search(rb"\r\nDate: ([^\r]+)\r\n", written)
        assert dated is not None
        moment = email.utils.parsedate_to_datetime(dated.group(1).decode())
        assert before <= moment.timestamp() <= after
        expected = to_mime(message, date=moment).as_bytes(policy=MIME_POLICY)
        assert _BOUNDARY.sub(b"B", written) == _BOUNDARY.sub(b"B", expected)
        time.sleep(0.4)
