"""What ``tap-jobsync --test`` and ``target-jobsync --test`` share: one line per service, one exit status.

Each side makes one cheap authenticated read per service through that service's own client
code (the tap's base stream, the target's ``Destination.make_client``) and reports it here:

    Jobcase: ok (GET /company/, HTTP 200 in 0.02 s)
    Workable: FAILED: authentication failed with HTTP 401 on GET /candidates?limit=1; check the setting(s) ...
    ZipRecruiter: skipped (not configured: set `ziprecruiter_api_key`)
"""

from __future__ import annotations

import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests.exceptions

from jobsync_common.errors import APIRejectedError, JobSyncError, RetriesExhaustedError
from jobsync_common.redact import scrub

OK, FAILED, SKIPPED = "ok", "FAILED", "skipped"

#: A connection test says whether a service answers, not whether it would within the whole retry
#: budget: at most this many attempts per call (a 429's Retry-After is still honoured).
MAX_TRIES = 2


@dataclass(frozen=True)
class CheckResult:
    service: str
    outcome: str
    detail: str

    def line(self) -> str:
        if self.outcome == FAILED:
            return f"{self.service}: {FAILED}: {self.detail}"
        return f"{self.service}: {self.outcome} ({self.detail})"


def skipped(service: str, why: str) -> CheckResult:
    return CheckResult(service, SKIPPED, why)


def not_configured(service: str, settings: t.Iterable[str]) -> CheckResult:
    return skipped(service, f"not configured: set {', '.join(f'`{s}`' for s in settings)}")


def explain(service: str, base_url_setting: str, error: BaseException) -> str:
    """One line for a failed check, naming the setting to fix (the service name is the line's prefix)."""
    message = scrub(str(error))
    message = message.removeprefix(f"{service}: ")
    if isinstance(error, RetriesExhaustedError):
        return f"{message}; check the setting `{base_url_setting}` and that {service} is reachable."
    if isinstance(error, APIRejectedError) and error.status == 404:
        return f"{message}; check the setting `{base_url_setting}`."
    if isinstance(error, JobSyncError):
        return message
    return f"{type(error).__name__}: {message}"


def timed_check(
    service: str, base_url_setting: str, call: t.Callable[[], tuple[str, requests.Response]]
) -> CheckResult:
    """Run one probe (``call`` returns the endpoint it read and the response) as a result line."""
    started = time.monotonic()
    try:
        endpoint, response = call()
    except (JobSyncError, requests.exceptions.RequestException, OSError, ValueError, KeyError, TypeError) as exc:
        # Whatever a probe can meet becomes its service's FAILED line; the other services are still checked.
        return CheckResult(service, FAILED, explain(service, base_url_setting, exc))
    elapsed = time.monotonic() - started
    return CheckResult(service, OK, f"{endpoint}, HTTP {response.status_code} in {elapsed:.2f} s")


_T = t.TypeVar("_T")


def run_all(items: t.Sequence[_T], check: t.Callable[[_T], CheckResult]) -> list[CheckResult]:
    """Every check at once (one call each), results in the order of ``items``."""
    with ThreadPoolExecutor(max_workers=max(1, len(items)), thread_name_prefix="connection-test") as pool:
        return list(pool.map(check, items))


def probe_config(config: t.Mapping[str, t.Any], **overrides: t.Any) -> dict[str, t.Any]:
    """A plugin's config with the retry budget of a connection test."""
    tries = int(config.get("retry_max_tries") or MAX_TRIES)
    return {**config, "retry_max_tries": min(tries, MAX_TRIES), **overrides}


def failures_message(results: t.Sequence[CheckResult], what: str) -> str | None:
    """The error that ends a connection test, or None when it passed."""
    failed = [r.service for r in results if r.outcome == FAILED]
    if failed:
        return f"connection test failed for {', '.join(failed)} (see the line per service above)."
    if all(r.outcome == SKIPPED for r in results):
        return f"nothing was tested: no {what}."
    return None
