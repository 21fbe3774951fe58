"""Addresses: email syntax (a practical subset of RFC 5322) and phone numbers in E.164.

``valid_email`` accepts ``local@domain`` where

- the local part is 1 to 64 characters of letters, digits, ``!#$%&'*+/=?^_`{|}~-`` and dots (no
  dot first, last or twice in a row), or any non-ASCII letter (RFC 6531 addresses);
- the domain has at least two labels separated by dots, each 1 to 63 letters, digits or
  hyphens (not first or last), or non-ASCII letters (internationalized domains); the last
  label is not all digits; the whole domain is at most 253 characters;
- the address has no spaces (nor any other unprintable character), exactly one ``@``, and at
  most 254 characters.

Quoted local parts (``"a b"@example.com``), comments, IP-literal domains (``a@[10.0.0.1]``) and
dotless domains (``a@localhost``) are refused: real mailboxes practically never use them, and
mail providers refuse many of them anyway. Only the syntax is checked, never whether the domain
receives mail.
"""

from __future__ import annotations

import re

import phonenumbers

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_LOCAL = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_LETTER = r"A-Za-z0-9\u0080-\U0010ffff"
_LABEL = re.compile(rf"[{_LETTER}](?:[{_LETTER}\-]*[{_LETTER}])?")


def valid_email(text: str) -> bool:
    """Whether ``text`` is an email address by the rules of this module (syntax only)."""
    if not isinstance(text, str) or len(text) > 254 or text.count("@") != 1:
        return False
    if not text.isprintable():  # no-break spaces, line breaks, control characters
        return False
    local, domain = text.split("@")
    if not 1 <= len(local) <= 64 or not _LOCAL.fullmatch(local):
        return False
    if len(domain) > 253:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return False
    return all(len(label) <= 63 and _LABEL.fullmatch(label) for label in labels)


def normalize_phone(text: str, default_region: str | None = None) -> str | None:
    """``text`` as an E.164 number (``+33612345678``), or None when it is not a valid number.

    A number without a leading ``+`` (or ``00``) is read as a national number of
    ``default_region`` (an ISO 3166 code: ``FR``, ``US``…); without a region, only
    international numbers are understood."""
    if not isinstance(text, str) or not text.strip():
        return None
    region = default_region.upper() if default_region else None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
