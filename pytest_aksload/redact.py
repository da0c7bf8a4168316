"""One redactor for every output path: crash tails, failure messages, warnings, reports, Azure errors.

A secret must not reach a terminal, a log or a report, whichever process and whichever path
prints it. `SECRETS` is the process's one `Redactor`: every credential the session ever held is
remembered in it (targets/target.py feeds it each key and token it hands out or refreshes; the
Locust child feeds it the headers it is given and each refresh), so text printed after a token
refresh still has the old token masked. Besides those exact values it masks what is shaped like
a secret in SDK messages (a `Bearer` token, a JWT, the value of a key/token/secret field).

Stdlib only: both processes import it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping

REDACTED = "***"

MIN_SECRET_CHARS = 6
"""Shorter values are not remembered: masking them would mangle ordinary words."""

_BEARER = re.compile(r"(Bearer\s+)[^\s'\",}]+", re.IGNORECASE)
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
_SECRET_FIELD = re.compile(
    r"""(["']?(?<!\w)(?:primary_?key|secondary_?key|access_?token|refresh_?token|client_secret|password|sig)["']?"""
    r"""\s*[:=]\s*["']?)[^"'\s,&{}\[\]]+""",
    re.IGNORECASE,
)


class Redactor:
    """Masks every value it was told to remember, and anything token-shaped, with `REDACTED`."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._longest_first: tuple[str, ...] = ()
        for secret in secrets:
            self.remember(secret)

    def remember(self, value: str | None) -> None:
        """Mask `value` from now on, and its bare token when it is `<scheme> <token>` (a server may
        echo just the token of `Bearer <token>`)."""
        if not value:
            return
        candidates = {value, value.partition(" ")[2]}
        new = {c for c in candidates if len(c) >= MIN_SECRET_CHARS} - self._secrets
        if not new:
            return
        with self._lock:
            self._secrets = self._secrets | new
            # Longest first: a token inside a header value must not leave the "Bearer " part behind.
            self._longest_first = tuple(sorted(self._secrets, key=len, reverse=True))

    def remember_headers(self, headers: Mapping[str, str]) -> None:
        """Remember every value of a mapping of secret headers."""
        for value in headers.values():
            self.remember(value)

    def __call__(self, text: str) -> str:
        """`text` with every remembered value and every token-shaped string replaced by `REDACTED`."""
        for secret in self._longest_first:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
        text = _JWT.sub(REDACTED, text)
        return _SECRET_FIELD.sub(rf"\g<1>{REDACTED}", text)

    redact = __call__

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


SECRETS = Redactor()
"""This process's redactor: every secret the session held, current or replaced."""


def redact(text: str) -> str:
    """`text` with every secret this process ever held (and anything token-shaped) masked."""
    return SECRETS(text)
