"""Keep secrets out of everything a connector prints or emits.

Secrets are registered once, when a tap or target reads its config; every
string that leaves the process through logs or error messages is passed
through :func:`scrub`. The console entry points also wrap ``sys.stderr`` so
that tracebacks written by libraries we do not control are scrubbed too.
"""

from __future__ import annotations

import base64
import io
import re
import sys
import threading
import typing as t
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from typing_extensions import override

REDACTED = "[REDACTED]"

# Query-string parameters that carry credentials in the APIs we talk to
# (TrackJobChanges `key`, PCRecruiter access-token `Password`/`ApiKey`, ...).
SENSITIVE_PARAM_NAMES = frozenset(
    {"key", "apikey", "api_key", "password", "token", "access_token", "sessionid", "session_id"}
)
# Any parameter named like a credential is hidden, whatever its value (a rotated key is no longer
# registered as a secret, yet still one): names ending in one of these, ignoring case and separators.
_CREDENTIAL_NAME_ENDINGS = (
    "key", "token", "secret", "password", "passwd", "pwd", "session", "sessionid", "signature", "credential",
    "credentials", "auth", "authorization",
)  # fmt: skip


def is_sensitive_name(name: t.Any) -> bool:
    """Whether a parameter or field name says it holds a credential (``key``, ``api_token``, ``Password``...)."""
    flat = re.sub(r"[^a-z0-9]", "", str(name).lower())
    return str(name).lower() in SENSITIVE_PARAM_NAMES or flat.endswith(_CREDENTIAL_NAME_ENDINGS)


_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
_pattern: re.Pattern[str] | None = None


def register_secret(value: t.Any) -> None:
    """Remember a secret so that :func:`scrub` hides it (and its encodings)."""
    global _secrets, _pattern  # noqa: PLW0603 - one registry per process by design
    if value is None:
        return
    text = str(value)
    # Very short values would turn scrubbing into noise ("a" everywhere).
    if len(text) < 4:
        return
    forms = {text, quote(text, safe=""), quote_plus(text)}
    # HTTP Basic with the secret as user name (ZipRecruiter) and as password.
    for pair in (f"{text}:", f":{text}"):
        forms.add(base64.b64encode(pair.encode()).decode())
    with _lock:
        merged = set(_secrets) | {f for f in forms if len(f) >= 4}
        _secrets = tuple(sorted(merged, key=len, reverse=True))
        _pattern = re.compile("|".join(re.escape(s) for s in _secrets))


def register_secrets(values: t.Iterable[t.Any]) -> None:
    for value in values:
        register_secret(value)


def registered_secrets() -> tuple[str, ...]:
    return _secrets


def scrub(text: t.Any) -> str:
    """Return ``text`` as a string with every registered secret replaced."""
    plain = str(text)
    pattern = _pattern
    if pattern is None:
        return plain
    return pattern.sub(REDACTED, plain)


def scrub_url(url: str) -> str:
    """Drop credentials from a URL (``user:password@``, credential query parameters) and scrub the rest.

    The result still parses as a URL: the user info is dropped, not replaced by a marker
    (``user:[REDACTED]@`` would read as an IPv6 host).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    if "@" in parts.netloc:
        register_secret(parts.password)
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    if parts.query:
        pairs = [
            (k, REDACTED if is_sensitive_name(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        parts = parts._replace(query=urlencode(pairs, safe="[]"))
    return scrub(urlunsplit(parts))


def redact_mapping(data: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Copy of a flat mapping with credential-named keys and secret values hidden."""
    clean: dict[str, t.Any] = {}
    for k, v in data.items():
        if is_sensitive_name(k):
            clean[k] = REDACTED
        elif isinstance(v, str):
            clean[k] = scrub(v)
        else:
            clean[k] = v
    return clean


class ScrubbingTextStream(io.TextIOBase):
    """A text stream that scrubs secrets before writing to the wrapped stream."""

    def __init__(self, wrapped: t.TextIO) -> None:
        self._wrapped = wrapped

    @override
    def write(self, s: str) -> int:
        self._wrapped.write(scrub(s))
        return len(s)

    @override
    def flush(self) -> None:
        self._wrapped.flush()

    @override
    def isatty(self) -> bool:
        return self._wrapped.isatty()

    @override
    def fileno(self) -> int:
        return self._wrapped.fileno()

    @property
    @override
    def encoding(self) -> str:  # type: ignore[override]  # typeshed: a plain attribute; read-only on io streams
        return getattr(self._wrapped, "encoding", "utf-8")

    @property
    def buffer(self) -> t.Any:
        return getattr(self._wrapped, "buffer", None)


def install_stderr_scrubber() -> None:
    """Route ``sys.stderr`` through :class:`ScrubbingTextStream` (idempotent).

    Must run before logging handlers are created, since a ``StreamHandler``
    keeps the stream object it was given.
    """
    if not isinstance(sys.stderr, ScrubbingTextStream):
        sys.stderr = ScrubbingTextStream(sys.stderr)
