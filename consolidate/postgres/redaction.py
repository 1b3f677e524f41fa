"""Passwords out of any text shown or stored: URLs' userinfo and libpq's ``password=`` key/values.

Pure and stdlib-only: failures from the server are redacted where they are made (postgres/failures.py), and the
runner, which starts without the toolkit, redacts what it prints.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://user:password@ — the password runs to the LAST '@' of the whitespace-free run, so a password
# holding a raw '@', ':' or '/' (invalid in a URL, yet typed by users) is hidden whole rather than in part.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)(?P<password>\S*)@")

# password=value in libpq key/value form (also PGPASSWORD=... and ?password=... in a URL's query). A quoted
# value may hold spaces and backslash escapes; an unterminated quote hides everything after it. An unquoted
# value runs to the next whitespace: it may legally contain '&' or quotes, so stopping earlier could leak.
_KEYWORD_PASSWORD = re.compile(
    r"(?P<head>\b(?:pg)?password\s*=\s*)(?P<password>'(?:[^'\\]|\\[\s\S])*(?:'|\\?\Z)|[^\s']\S*|\Z)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` with every password of a URL's userinfo and of every ``password=`` key/value replaced by ***."""
    text = _URL_PASSWORD.sub(lambda match: f"{match['head']}{MASK}@", text)
    return _KEYWORD_PASSWORD.sub(lambda match: f"{match['head']}{MASK}", text)
