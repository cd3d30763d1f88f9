"""Errors with a short, user-facing message (no traceback is needed to act on them)."""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import FatalAPIError

from jobsync_common.redact import scrub, scrub_url


def excerpt(text: t.Any, limit: int = 200) -> str:
    """A short, single-line, secret-free excerpt of a body or value for an error message."""
    flat = " ".join(scrub(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class JobSyncError(Exception):
    """Base class: the message alone tells the user what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


class ConfigError(JobSyncError):
    """The configuration is missing something or has a wrong value."""


def invalid_settings(exc: t.Any) -> ConfigError:
    """singer-sdk's config validation errors (one per setting) as one line."""
    errors = [" ".join(str(e).split()) for e in getattr(exc, "errors", None) or [str(exc)]]
    return ConfigError(f"invalid settings: {'; '.join(errors)}")


class ServiceAuthError(JobSyncError):
    """The service refused our credentials (401/403): retrying cannot help."""

    def __init__(self, service: str, status: int, endpoint: str, settings: t.Sequence[str], text: str = "") -> None:
        self.service = service
        self.status = status
        self.endpoint = endpoint
        self.text = scrub(text)[:2000]
        names = ", ".join(f"`{s}`" for s in settings)
        said = f" ({excerpt(text)})" if text and text.strip() else ""
        super().__init__(
            f"{service}: authentication failed with HTTP {status} on {endpoint}{said}; check the setting(s) {names}."
        )


class RetriesExhaustedError(JobSyncError):
    """A retryable failure persisted past the retry bound."""

    def __init__(self, service: str, endpoint: str, attempts: int, cause: str) -> None:
        self.service = service
        self.endpoint = endpoint
        self.attempts = attempts
        super().__init__(f"{service}: {endpoint} still failing after {attempts} attempts: {cause}")


class APIRejectedError(JobSyncError, FatalAPIError):
    """The service answered a request with a client error (4xx other than 401/403/429)."""

    def __init__(self, service: str, endpoint: str, status: int, text: str) -> None:
        self.service = service
        self.endpoint = endpoint
        self.status = status
        self.text = scrub(text)[:2000]
        super().__init__(f"{service}: {endpoint} rejected with HTTP {status}: {self.text}")


class RetryAfterTooLongError(JobSyncError):
    """The service asked us to wait longer than ``retry_max_retry_after_seconds``: fail now, not in hours."""

    def __init__(self, service: str, endpoint: str, status: int, seconds: float, cap: float) -> None:
        self.service = service
        self.endpoint = endpoint
        self.seconds = seconds
        super().__init__(
            f"{service}: {endpoint} answered HTTP {status} asking to wait {seconds:.0f}s (Retry-After), more than "
            f"`retry_max_retry_after_seconds` ({cap:g}s); not waiting. Run again later, or raise the setting."
        )


class ResponseTooLargeError(JobSyncError):
    """An answer grew past ``max_response_mb`` once decompressed."""

    def __init__(self, service: str, endpoint: str, limit_bytes: int) -> None:
        self.service = service
        self.endpoint = endpoint
        super().__init__(
            f"{service}: {endpoint} answered more than {limit_bytes / 2**20:g} MB (decompressed); stopped reading. "
            "Lower the page size, or raise `max_response_mb` if such answers are expected."
        )


class EndpointNotFoundError(ConfigError):
    """A documented collection endpoint answered 404/405: the base URL is wrong, not a record."""

    def __init__(self, service: str, endpoint: str, status: int, setting: str | None, base_url: str) -> None:
        self.service = service
        self.endpoint = endpoint
        self.status = status
        fix = f"check the setting `{setting}` (now {scrub_url(base_url)})" if setting else "check the base URL"
        super().__init__(
            f"{service}: {endpoint} answered HTTP {status}, but that endpoint always exists: {fix}. "
            "Nothing was written for it."
        )
