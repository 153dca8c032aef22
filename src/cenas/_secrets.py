"""Keeping credentials out of messages, logs and provenance records.

Live carbon providers (:mod:`cenas.carbon.live`) read API tokens and passwords from environment
variables only. Every error or provenance text they produce goes through :func:`redact`, which
replaces the value of each secret variable with ``***``:

* the variables named in :data:`SECRET_ENV_VARS`, and
* any variable whose name ends in one of :data:`SECRET_SUFFIXES` (``_TOKEN``, ``_PASSWORD``,
  ``_API_KEY``; matched case-insensitively),

plus any value handed to :func:`register_secret` at run time (e.g. a bearer token a login
endpoint returned). Only values of at least :data:`MIN_SECRET_LENGTH` characters are replaced, so
that a one- or two-character value does not blank out every occurrence of that letter. Each value
is also replaced in its URL-encoded spelling.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from collections.abc import Mapping

SECRET_ENV_VARS: tuple[str, ...] = (
    "ELECTRICITYMAPS_TOKEN",
    "WATTTIME_USERNAME",
    "WATTTIME_PASSWORD",
)
"""Environment variables that always hold credentials."""

SECRET_SUFFIXES: tuple[str, ...] = ("_TOKEN", "_PASSWORD", "_API_KEY")
"""Name endings that mark any other environment variable as a credential."""

MIN_SECRET_LENGTH = 4
"""Shortest value that is redacted."""

MASK = "***"

_registered: set[str] = set()
_lock = threading.Lock()


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a credential."""
    upper = name.upper()
    return upper in SECRET_ENV_VARS or upper.endswith(SECRET_SUFFIXES)


def register_secret(value: str) -> None:
    """Treat ``value`` as a secret from now on (for credentials not held in the environment,
    such as a token returned by a login call). Values shorter than
    :data:`MIN_SECRET_LENGTH` are ignored."""
    if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _registered.add(value)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values to redact, longest first.

    Args:
        environ: Environment to read (default :data:`os.environ`).
    """
    env = os.environ if environ is None else environ
    found = {v for k, v in env.items() if is_secret_name(k) and len(v) >= MIN_SECRET_LENGTH}
    with _lock:
        found |= _registered
    spellings = set(found)
    for value in found:
        spellings.add(urllib.parse.quote(value, safe=""))
        spellings.add(urllib.parse.quote_plus(value, safe=""))
    return sorted(spellings, key=lambda v: (-len(v), v))


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret value (see the module docstring) replaced by ``***``.

    Args:
        text: Any message.
        environ: Environment to read the secret variables from (default :data:`os.environ`).
    """
    out = str(text)
    for value in secret_values(environ):
        if value in out:
            out = out.replace(value, MASK)
    return out


__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "SECRET_ENV_VARS",
    "SECRET_SUFFIXES",
    "is_secret_name",
    "redact",
    "register_secret",
    "secret_values",
]
