"""HTTP policy shared by the tap and the target: retries, back-off, rate limits, errors.

The tap plugs these pieces into singer-sdk's ``RESTStream.request_decorator``;
the target uses :class:`ServiceClient`, which applies the same policy with the
same ``backoff`` library, so both sides retry, wait and fail identically.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
import typing as t
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import backoff
import msgspec
import requests
import requests.exceptions
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from jobsync_common.errors import APIRejectedError, RetriesExhaustedError, ServiceAuthError
from jobsync_common.ratelimit import RateLimiter, get_rate_limiter
from jobsync_common.redact import scrub, scrub_url

LOGGER = logging.getLogger("jobsync.http")

# Failures worth another attempt: throttling and server errors (as RetriableAPIError),
# dropped/reset connections, timeouts and bodies cut short in transit.
RETRYABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

_json_decoder = msgspec.json.Decoder()


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a request that failed transiently."""

    max_tries: int = 6
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    # A Retry-After longer than this is treated as an outage, not throttling.
    max_retry_after_seconds: float = 300.0

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> RetryPolicy:
        return cls(
            max_tries=int(config.get("retry_max_tries") or cls.max_tries),
            backoff_seconds=float(
                config["retry_backoff_seconds"]
                if config.get("retry_backoff_seconds") is not None
                else cls.backoff_seconds
            ),
            max_backoff_seconds=float(config.get("retry_max_backoff_seconds") or cls.max_backoff_seconds),
        )

    def wait_generator(self) -> t.Generator[float, t.Any, None]:
        """``backoff`` wait generator: honours ``Retry-After``, else exponential with jitter.

        ``backoff`` sends the raised exception into the generator before asking for
        the next wait, which is how a 429's ``Retry-After`` reaches us.
        """
        exc = yield 0.0
        attempt = 0
        while True:
            delay = min(self.max_backoff_seconds, self.backoff_seconds * (2**attempt))
            # "Equal jitter": never less than half the nominal delay, never more than it.
            delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - not cryptographic
            retry_after = retry_after_seconds(getattr(exc, "response", None))
            if retry_after is not None:
                delay = min(retry_after, self.max_retry_after_seconds) + random.uniform(0, 0.05)  # noqa: S311
            attempt += 1
            exc = yield delay


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Seconds the server asked us to wait, from ``Retry-After`` (delta or HTTP date)."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def describe_request(method: str, url: str) -> str:
    """``GET /path?query`` with credentials removed, for messages and logs."""
    parts = urlsplit(scrub_url(url))
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return f"{method.upper()} {path}"


def describe_failure(exc: BaseException) -> str:
    """Short cause of a failed attempt: the HTTP status, or the kind of network error."""
    response = getattr(exc, "response", None)
    if isinstance(exc, RetriableAPIError) and response is not None:
        if response.status_code < HTTPStatus.BAD_REQUEST:
            # A 2xx is only retried when its body did not decode: "HTTP 200 OK" would mislead.
            return f"HTTP {response.status_code} with an undecodable JSON body (cut short?)"
        return f"HTTP {response.status_code} {response.reason or ''}".strip()
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return "response body cut short"
    if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionResetError)):
        return "connection failed or was reset"
    return scrub(exc)


def decode_json(response: requests.Response) -> t.Any:
    """Decode (once) and cache a JSON body; an undecodable body is a retryable failure."""
    cached = getattr(response, "_jobsync_json", _MISSING)
    if cached is not _MISSING:
        return cached
    content = response.content
    if not content.strip():
        payload = None
    else:
        try:
            payload = _json_decoder.decode(content)
        except msgspec.DecodeError as exc:
            msg = f"undecodable JSON body ({len(content)} bytes) from {describe_request(response.request.method or 'GET', response.url)}"
            raise RetriableAPIError(msg, response) from exc
    response._jobsync_json = payload  # type: ignore[attr-defined]
    return payload


_MISSING = object()


def check_response(
    service: str,
    response: requests.Response,
    *,
    auth_settings: t.Sequence[str],
    limiter: RateLimiter | None = None,
    expect_json: bool = True,
) -> None:
    """Classify a response: fine, retryable, an auth failure, or a rejection.

    Raises:
        ServiceAuthError: 401/403, which retrying cannot fix.
        RetriableAPIError: 429, 5xx, or a 2xx whose JSON body does not decode.
        FatalAPIError: any other 4xx (wrapped in :class:`APIRejectedError` by the target).
    """
    status = response.status_code
    endpoint = describe_request(response.request.method or "GET", response.url)
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        raise ServiceAuthError(service, status, endpoint, auth_settings)
    if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        if status == HTTPStatus.TOO_MANY_REQUESTS and limiter is not None:
            limiter.penalize(retry_after_seconds(response) or 1.0)
        raise RetriableAPIError(f"{service}: {endpoint} answered HTTP {status}", response)
    if status >= HTTPStatus.BAD_REQUEST:
        raise FatalAPIError(str(APIRejectedError(service, endpoint, status, response.text)))
    if expect_json and response.content:
        decode_json(response)


def rejected_from(service: str, response: requests.Response) -> APIRejectedError:
    return APIRejectedError(
        service, describe_request(response.request.method or "GET", response.url), response.status_code, response.text
    )


class ServiceClient:
    """Retrying, rate-limited HTTP client for one service (used by the target's sinks).

    Thread-safe: each worker thread gets its own ``requests.Session``.
    """

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        auth_settings: t.Sequence[str],
        policy: RetryPolicy,
        limiter: RateLimiter,
        headers: t.Mapping[str, str] | None = None,
        auth: t.Any = None,
        timeout: float = 60.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/") + "/"
        self.auth_settings = tuple(auth_settings)
        self.policy = policy
        self.limiter = limiter
        self.headers = dict(headers or {})
        self.auth = auth
        self.timeout = timeout
        self.logger = logger or LOGGER
        self._local = threading.local()
        self._counts_lock = threading.Lock()
        self.calls: dict[str, int] = {}

    @classmethod
    def for_service(
        cls,
        config: t.Mapping[str, t.Any],
        *,
        key: str,
        name: str,
        base_url: str,
        auth_settings: t.Sequence[str],
        requests_per_minute: float | None,
        **kwargs: t.Any,
    ) -> t.Self:
        """A client with the retry policy, shared limiter and timeout the config asks for."""
        return cls(
            name,
            base_url,
            auth_settings=auth_settings,
            policy=RetryPolicy.from_config(config),
            limiter=get_rate_limiter(key, requests_per_minute),
            timeout=float(config.get("request_timeout") or 60),
            **kwargs,
        )

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update(self.headers)
            session.auth = self.auth
        return session

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

    @property
    def last_failure(self) -> BaseException | None:
        """Why this thread's current request is being retried (None on its first attempt)."""
        return getattr(self._local, "last_failure", None)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def request(
        self,
        method: str,
        path: str,
        *,
        ok_statuses: t.Collection[int] = (),
        expect_json: bool = True,
        on_attempt: t.Callable[[], None] | None = None,
        **kwargs: t.Any,
    ) -> requests.Response:
        """Send one request with retries; return the response.

        Statuses in ``ok_statuses`` (for example 404 on a lookup) are returned to
        the caller instead of raising. ``on_attempt`` is called once per attempt
        (sinks count their own API calls with it).

        Raises:
            ServiceAuthError: on 401/403.
            APIRejectedError: on another 4xx not listed in ``ok_statuses``.
            RetriesExhaustedError: when retryable failures outlast the policy.
        """
        url = self.url(path)
        endpoint = describe_request(method, url)
        attempts = 0
        self._local.last_failure = None

        def attempt() -> requests.Response:
            nonlocal attempts
            attempts += 1
            self.limiter.acquire()
            with self._counts_lock:
                key = f"{method.upper()} {urlsplit(url).path}"
                self.calls[key] = self.calls.get(key, 0) + 1
            if on_attempt is not None:
                on_attempt()
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            if response.status_code in ok_statuses:
                return response
            try:
                check_response(
                    self.service,
                    response,
                    auth_settings=self.auth_settings,
                    limiter=self.limiter,
                    expect_json=expect_json,
                )
            except FatalAPIError:
                raise rejected_from(self.service, response) from None
            return response

        def on_backoff(details: t.Mapping[str, t.Any]) -> None:
            self._local.last_failure = details["exception"]
            self.logger.warning(
                "%s: %s failed (%s); retry %d in %.2fs",
                self.service,
                endpoint,
                describe_failure(details["exception"]),
                details["tries"],
                details["wait"],
            )

        retrying = backoff.on_exception(
            self.policy.wait_generator,
            RETRYABLE_EXCEPTIONS,
            max_tries=self.policy.max_tries,
            jitter=None,
            on_backoff=on_backoff,
            logger=None,
        )(attempt)
        try:
            return retrying()
        except RETRYABLE_EXCEPTIONS as exc:
            raise RetriesExhaustedError(self.service, endpoint, attempts, describe_failure(exc)) from None
