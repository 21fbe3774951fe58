"""Tracking tokens (signed, tamper-evident, kind-checked) and the HTML they go into."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partita.channels import (
    Click,
    TokenError,
    TokenSigner,
    Tracking,
    add_open_pixel,
    rewrite_links,
)

SECRET = "correct horse battery staple"
SIGNER = TokenSigner(SECRET)
TRACKING = Tracking("https://t.shop.example/", SIGNER)


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _payload(token: str) -> dict[str, object]:
    body = token.split(".")[0]
    result = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert isinstance(result, dict)
    return result


# -- tokens -------------------------------------------------------------------------------------


def test_sign_verify_round_trip() -> None:
    payload = {"k": "click", "d": "exec1-mail-42", "i": 3, "u": "https://shop.example/é?a=1&b=2"}
    token = SIGNER.sign(payload)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}", token)
    assert SIGNER.verify(token) == payload
    assert SIGNER.sign(dict(reversed(payload.items()))) == token  # canonical JSON


def test_a_changed_payload_is_rejected() -> None:
    token = SIGNER.sign({"k": "click", "d": 1, "i": 0, "u": "https://shop.example/"})
    signature = token.split(".")[1]
    forged = dict(_payload(token), u="https://evil.example/")
    forged_body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="signature does not match: the token was altered"):
        SIGNER.verify(f"{forged_body}.{signature}")


@pytest.mark.parametrize("position", [0, 5, -1])
def test_any_changed_character_is_rejected(position: int) -> None:
    token = SIGNER.sign({"k": "open", "d": 7})
    chars = list(token)
    chars[position] = "A" if chars[position] != "A" else "B"
    with pytest.raises(TokenError):
        SIGNER.verify("".join(chars))


def test_another_secret_is_rejected_and_rotation_keeps_old_links() -> None:
    token = TokenSigner("an older secret, long enough").sign({"k": "open", "d": 7})
    with pytest.raises(TokenError, match="signed with another secret"):
        SIGNER.verify(token)
    rotated = TokenSigner(SECRET, previous=["an older secret, long enough"])
    assert rotated.verify(token) == {"k": "open", "d": 7}
    assert SIGNER.verify(rotated.sign({"d": 1})) == {"d": 1}  # new tokens use the new secret


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "expected '<payload>.<signature>'"),
        ("abc", "expected '<payload>.<signature>'"),
        ("a.b.c", "expected '<payload>.<signature>'"),
        ("ab$.cd", "not base64url"),
        ("abc.", "not base64url"),
        ("ab=.cd", "not base64url"),
    ],
)
def test_malformed_tokens(token: str, message: str) -> None:
    with pytest.raises(TokenError, match=re.escape(message)):
        SIGNER.verify(token)


def test_a_signed_payload_that_is_not_an_object_is_rejected() -> None:
    body = base64.urlsafe_b64encode(b"[1, 2]").rstrip(b"=").decode()
    signature = SIGNER.sign({}).split(".")[1]
    token = f"{body}.{signature}"
    with pytest.raises(TokenError):
        SIGNER.verify(token)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), JSON, max_size=5))
def test_any_json_payload_round_trips(payload: dict[str, object]) -> None:
    assert SIGNER.verify(SIGNER.sign(payload)) == payload


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_garbage_fails_only_with_token_errors(text: str) -> None:
    with pytest.raises(TokenError):
        SIGNER.verify(text)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="fewer than 16"):
        TokenSigner("short")


# -- tracking URLs ------------------------------------------------------------------------------


def test_click_url_holds_the_target_delivery_and_index() -> None:
    url = TRACKING.click_url("exec1-mail-42", 2, "https://shop.example/offer?x=1")
    assert url.startswith("https://t.shop.example/c/")
    assert TRACKING.read_click(_token(url)) == Click(
        "exec1-mail-42", 2, "https://shop.example/offer?x=1"
    )


def test_open_and_unsubscribe_urls() -> None:
    open_url = TRACKING.open_url(42)
    unsubscribe = TRACKING.unsubscribe_url(42)
    assert open_url.startswith("https://t.shop.example/o/")
    assert unsubscribe.startswith("https://t.shop.example/u/")
    assert TRACKING.read_open(_token(open_url)) == 42
    assert TRACKING.read_unsubscribe(_token(unsubscribe)) == 42


def test_a_token_of_one_kind_is_refused_as_another() -> None:
    open_token = _token(TRACKING.open_url(42))
    with pytest.raises(TokenError, match="not a click token \\(it is a open token\\)"):
        TRACKING.read_click(open_token)
    with pytest.raises(TokenError, match="not a unsubscribe token"):
        TRACKING.read_unsubscribe(open_token)


def test_no_open_redirect() -> None:
    # Only URLs Partita signed can come out of a click token: a token signed over another URL,
    # or over a non-web URL, does not give a redirect.
    signed = _token(TRACKING.click_url(1, 0, "https://shop.example/"))
    signature = signed.split(".")[1]
    evil = dict(_payload(signed), u="https://evil.example/")
    evil_body = base64.urlsafe_b64encode(json.dumps(evil).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError):
        TRACKING.read_click(f"{evil_body}.{signature}")
    script = SIGNER.sign({"k": "click", "d": 1, "i": 0, "u": "javascript:alert(1)"})
    with pytest.raises(TokenError, match="no http\\(s\\) URL"):
        TRACKING.read_click(script)


def test_tracking_base_url_must_be_web() -> None:
    with pytest.raises(ValueError, match="must start with https://"):
        Tracking("t.shop.example", SIGNER)


# -- rewriting HTML -----------------------------------------------------------------------------

HTML = """<html><body>
<p><a href="https://shop.example/a?x=1&amp;y=2" class="btn">A</a>
<A HREF='http://b.example/B'>B</A> <a href=https://c.example/c>C</a>
<a title="x > y" data-href="https://not.this" href="https://d.example/">D</a>
<a href="mailto:help@shop.example">mail</a> <a href="tel:+33612345678">call</a>
<a href="#top">top</a> <a href="/relative">rel</a> <a name="anchor">n</a>
<a href="{{ unsubscribe_url }}">u0</a> <a href="https://t.shop.example/u/abc">u1</a>
<abbr href="https://no.example">z</abbr> <area href="https://no.example">
</p>
</body></html>"""


def test_rewrite_links_exactly() -> None:
    seen: list[tuple[str, int]] = []

    def make_url(url: str, index: int) -> str:
        seen.append((url, index))
        return f'https://t.example/c/{index}?q="&'

    out = rewrite_links(HTML, make_url, keep=["https://t.shop.example/"])
    assert seen == [
        ("https://shop.example/a?x=1&y=2", 0),
        ("http://b.example/B", 1),
        ("https://c.example/c", 2),
        ("https://d.example/", 3),
    ]
    new = "https://t.example/c/{}?q=&quot;&amp;"
    expected = (
        HTML.replace("https://shop.example/a?x=1&amp;y=2", new.format(0))
        .replace("http://b.example/B", new.format(1))
        .replace("href=https://c.example/c", f'href="{new.format(2)}"')
        .replace('href="https://d.example/"', f'href="{new.format(3)}"')
    )
    assert out == expected


def test_rewrite_links_leaves_html_without_links_untouched() -> None:
    html = "<p>No links here, only <b>text</b> &amp; entities &#233;.</p>"
    assert rewrite_links(html, lambda url, index: "x") is html


def test_open_pixel_goes_before_the_last_body_end() -> None:
    pixel = (
        '<img src="https://t.example/o/tok?a=1&amp;b=2" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0" />'
    )
    url = "https://t.example/o/tok?a=1&b=2"
    assert add_open_pixel("<html><body><p>x</p></BODY ></html>", url) == (
        f"<html><body><p>x</p>{pixel}</BODY ></html>"
    )
    assert add_open_pixel("<p>fragment</p>", url) == f"<p>fragment</p>{pixel}"


def test_track_rewrites_links_keeps_unsubscribe_and_adds_pixel() -> None:
    unsubscribe = TRACKING.unsubscribe_url("d1")
    html = (
        '<html><body><a href="https://shop.example/">Shop</a>'
        f'<a href="{unsubscribe}">Unsubscribe</a></body></html>'
    )
    out = TRACKING.track(html, "d1")
    links = re.findall(r'href="([^"]+)"', out)
    assert links[1] == unsubscribe
    assert TRACKING.read_click(_token(links[0])) == Click("d1", 0, "https://shop.example/")
    (pixel,) = re.findall(r'<img src="([^"]+)"', out)
    assert TRACKING.read_open(_token(pixel)) == "d1"
    assert out.endswith("</body></html>")
