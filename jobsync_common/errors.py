"""Errors with a short, user-facing message (no traceback is needed to act on them)."""

from __future__ import annotations

import typing as t

from jobsync_common.redact import scrub


class JobSyncError(Exception):
    """Base class: the message alone tells the user what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


class ConfigError(JobSyncError):
    """The configuration is missing something or has a wrong value."""


class ServiceAuthError(JobSyncError):
    """The service refused our credentials (401/403): retrying cannot help."""

    def __init__(self, service: str, status: int, endpoint: str, settings: t.Sequence[str]) -> None:
        self.service = service
        self.status = status
        names = ", ".join(f"`{s}`" for s in settings)
        super().__init__(
            f"{service}: authentication failed with HTTP {status} on {endpoint}; "
            f"check the setting(s) {names}."
        )


class RetriesExhaustedError(JobSyncError):
    """A retryable failure persisted past the retry bound."""

    def __init__(self, service: str, endpoint: str, attempts: int, cause: str) -> None:
        self.service = service
        self.endpoint = endpoint
        self.attempts = attempts
        super().__init__(f"{service}: {endpoint} still failing after {attempts} attempts: {cause}")


class APIRejectedError(JobSyncError):
    """The service answered a request with a client error (4xx other than 401/403/429)."""

    def __init__(self, service: str, endpoint: str, status: int, text: str) -> None:
        self.service = service
        self.endpoint = endpoint
        self.status = status
        self.text = scrub(text)[:2000]
        super().__init__(f"{service}: {endpoint} rejected with HTTP {status}: {self.text}")
