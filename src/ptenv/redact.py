"""Credentials in URLs never leave ptenv: `https://user:token@host/` prints as
`https://user:****@host/` on stdout, stderr, in --json and in the lock.

Applied twice: where ptenv builds a URL for people or files (`url`), and as a last guard on
everything written to stdout and stderr (`text`), so a URL inside an installer's message
is covered too. Plain `re` only: this runs on every command.
"""

from __future__ import annotations

import re

MASK = "****"
# scheme://user:secret@  or  scheme://secret@  (a token given as the user name)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/@?#]+)@")


def _mask(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    if userinfo == MASK or userinfo.endswith(":" + MASK):
        return match.group(0)
    user, colon, _secret = userinfo.partition(":")
    masked = f"{user}:{MASK}" if colon else MASK
    return f"{match.group('scheme')}{masked}@"


def text(value: str) -> str:
    """Every URL in `value` with its password (or lone token) replaced by ****."""
    if "@" not in value:
        return value
    return _USERINFO.sub(_mask, value)


def url(value: str) -> str:
    """One URL, redacted (the same rule as `text`)."""
    return text(value)


def is_redacted(value: str) -> bool:
    """A URL whose credentials were masked: it must get them from netrc or the user again."""
    match = _USERINFO.search(value)
    return match is not None and match.group("userinfo").split(":")[-1] == MASK


def strip_credentials(value: str) -> str:
    """The URL without any user info (for a masked URL read back from a lock)."""
    return _USERINFO.sub(lambda m: m.group("scheme"), value)
