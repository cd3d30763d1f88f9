"""The one HTTP policy of both connectors: deadlines, size cap, retries, Retry-After, throttle, wording.

Every request of tap-jobsync (its streams, through singer-sdk's ``request_decorator``), of
target-jobsync (its sinks, through :class:`ServiceClient`) and of PCRecruiter's login goes
through a :class:`ServiceHttp`: one per service and process. It owns

- sessions whose adapter (:class:`BoundedAdapter`) gives each attempt one deadline for
  connecting and receiving the whole body (``request_timeout``), and refuses bodies larger
  than ``max_response_mb`` once decompressed;
- the classification of answers (:meth:`ServiceHttp.check`): fine, retryable, an auth
  failure, a rejection, or a ``Retry-After`` longer than we are willing to wait;
- the retry loop (:meth:`ServiceHttp.send`): bounded attempts, exponential back-off with
  jitter or the server's ``Retry-After``, every wait cut short by a stop signal;
- the service's rate limiter, which also throttles the whole service after a 429.

The retry loop is ours rather than ``backoff``'s (which singer-sdk uses) because its waits
must end at once on SIGTERM and a Retry-After over the cap must fail at once; its hooks
mirror singer-sdk's (wait generator, max tries, a log line per retry).
"""

from __future__ import annotations

import email.utils
import errno
import logging
import os
import random
import socket
import ssl
import threading
import time
import typing as t
import weakref
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import msgspec
import requests
import requests.adapters
import requests.exceptions
import urllib3.exceptions
from singer_sdk.exceptions import RetriableAPIError
from typing_extensions import override

from jobsync_common import stopping
from jobsync_common.errors import (
    APIRejectedError,
    EndpointNotFoundError,
    ResponseTooLargeError,
    RetriesExhaustedError,
    RetryAfterTooLongError,
    ServiceAuthError,
)
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

#: Bytes read per call while receiving a body (a decompressed chunk never exceeds it).
_CHUNK = 64 * 1024
_json_decoder = msgspec.json.Decoder()


# -- the policy: numbers from the settings ---------------------------------------------------------


@dataclass(frozen=True)
class HttpPolicy:
    """How long an attempt may take, how often and how long to retry, how big an answer may be."""

    #: Seconds for one attempt: connecting and receiving the whole body.
    timeout: float = 60.0
    max_tries: int = 6
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    #: A Retry-After longer than this fails the request at once (an outage, not throttling).
    max_retry_after_seconds: float = 300.0
    max_response_bytes: int = 100 * 2**20

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> HttpPolicy:
        """The policy a tap/target config asks for (the settings schema has already checked the ranges)."""

        def number(setting: str, default: float) -> float:
            value = config.get(setting)
            return default if value is None else float(value)

        return cls(
            timeout=number("request_timeout", cls.timeout),
            max_tries=int(number("retry_max_tries", cls.max_tries)),
            backoff_seconds=number("retry_backoff_seconds", cls.backoff_seconds),
            max_backoff_seconds=number("retry_max_backoff_seconds", cls.max_backoff_seconds),
            max_retry_after_seconds=number("retry_max_retry_after_seconds", cls.max_retry_after_seconds),
            max_response_bytes=int(number("max_response_mb", cls.max_response_bytes / 2**20) * 2**20),
        )

    def wait_seconds(self, retry: int, failure: BaseException | None) -> float:
        """Wait before retry number ``retry`` (1-based): the server's Retry-After, else exponential with jitter."""
        response: requests.Response | None = getattr(failure, "response", None)
        retry_after = retry_after_seconds(response)
        if retry_after is not None:
            # Never shorter than asked (check() already refused waits over the cap).
            return min(retry_after, self.max_retry_after_seconds) + random.uniform(0, 0.05)  # noqa: S311
        delay = min(self.max_backoff_seconds, self.backoff_seconds * 2.0 ** (retry - 1))
        # "Equal jitter": never less than half the nominal delay, never more than it.
        return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - not cryptographic

    def worst_case_seconds(self) -> float:
        """Upper bound of one request, every attempt and wait included (rate-limit pacing aside)."""
        waits = max(self.max_backoff_seconds, self.max_retry_after_seconds)
        return self.max_tries * self.timeout + (self.max_tries - 1) * waits


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


# -- wording ------------------------------------------------------------------------------------------


def describe_request(method: str, url: str) -> str:
    """``GET /path?query`` with credentials removed, for messages and logs."""
    parts = urlsplit(scrub_url(url))
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return f"{method.upper()} {path}"


def host_port(url: str | None) -> str:
    """``host:port`` of a URL (credentials never included), or ``?`` when it has none."""
    try:
        parts = urlsplit(url or "")
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return "?"
    return f"{parts.hostname}:{port}" if parts.hostname else "?"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts, and urllib3's wrapped ``reason``s."""
    seen: set[int] = set()
    found: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        todo.extend(link for link in linked if isinstance(link, BaseException))
    return found


def _refused(error: BaseException) -> bool:
    return isinstance(error, ConnectionRefusedError) or getattr(error, "errno", None) == errno.ECONNREFUSED


#: What a network failure was, tried in order (the first whose test any cause meets), worded for ``host:port``.
#: Refusals come before timeouts: urllib3's NewConnectionError is (oddly) a ConnectTimeoutError.
_NETWORK_FAILURES: tuple[tuple[t.Callable[[BaseException], bool], str], ...] = (
    (_refused, "connection refused by {where} (nothing listens there?)"),
    (
        lambda e: isinstance(e, (urllib3.exceptions.NameResolutionError, socket.gaierror)),
        "cannot resolve the host of {where} (DNS lookup failed)",
    ),
    (
        lambda e: isinstance(e, (ssl.SSLError, requests.exceptions.SSLError, urllib3.exceptions.SSLError)),
        "TLS handshake with {where} failed",
    ),
    (
        lambda e: isinstance(e, (requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)),
        "timed out connecting to {where}",
    ),
    (
        lambda e: isinstance(e, (requests.exceptions.Timeout, socket.timeout, urllib3.exceptions.TimeoutError)),
        "timed out waiting for {where} to answer",
    ),
    (
        lambda e: isinstance(e, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)),
        "response body cut short ({where})",
    ),
    (
        lambda e: isinstance(e, (ConnectionResetError, urllib3.exceptions.ProtocolError)),
        "connection to {where} was reset or closed before the answer",
    ),
)


def describe_network_failure(exc: BaseException, url: str | None) -> str:
    """What went wrong on the network, naming ``host:port``: refused, DNS, TLS, timed out, reset."""
    causes = _causes(exc)
    deadline = next((c for c in causes if isinstance(c, AttemptDeadlineExceeded)), None)
    if deadline is not None:
        return str(deadline)
    where = host_port(url)
    for test, wording in _NETWORK_FAILURES:
        if any(test(cause) for cause in causes):
            return wording.format(where=where)
    return f"connection to {where} failed"


def describe_failure(exc: BaseException) -> str:
    """Short cause of a failed attempt: the HTTP status, or the kind of network error and where."""
    response = getattr(exc, "response", None)
    if isinstance(exc, RetriableAPIError) and response is not None:
        if response.status_code < HTTPStatus.BAD_REQUEST:
            # A 2xx is only retried when its body did not decode: "HTTP 200 OK" would mislead.
            return f"HTTP {response.status_code} with an undecodable JSON body (cut short?)"
        return f"HTTP {response.status_code} {response.reason or ''}".strip()
    if isinstance(exc, (requests.exceptions.RequestException, OSError, urllib3.exceptions.HTTPError)):
        request = getattr(exc, "request", None)
        return describe_network_failure(exc, getattr(request, "url", None))
    return scrub(exc)


#: Decoded bodies, decoded once per response (paginators, guards and parsers all read them).
_decoded: weakref.WeakKeyDictionary[requests.Response, t.Any] = weakref.WeakKeyDictionary()


def decode_json(response: requests.Response) -> t.Any:
    """Decode (once) and cache a JSON body; an undecodable body is a retryable failure."""
    cached = _decoded.get(response, _MISSING)
    if cached is not _MISSING:
        return cached
    content = response.content
    if not content.strip():
        payload = None
    else:
        try:
            payload = _json_decoder.decode(content)
        except msgspec.DecodeError as exc:
            method = response.request.method or "GET"
            msg = f"undecodable JSON body ({len(content)} bytes) from {describe_request(method, response.url)}"
            raise RetriableAPIError(msg, response) from exc
    _decoded[response] = payload
    return payload


_MISSING = object()


# -- one attempt: deadline and size cap ----------------------------------------------------------------


class AttemptDeadlineExceeded(requests.exceptions.ReadTimeout):
    """The whole answer did not arrive within ``request_timeout`` (a server trickling its body)."""


class BoundedAdapter(requests.adapters.HTTPAdapter):
    """An adapter giving each attempt one deadline (connect + whole body) and a body size cap.

    requests' ``timeout`` bounds each socket read, so a body trickled one byte a second
    never times out. Here the body is read in chunks, and before each read the socket's
    timeout is set to what is left of the attempt's deadline. Assumption: headers arrive
    promptly once the connection is up (their reads are bounded by ``timeout`` each).
    """

    def __init__(self, service: str, max_response_bytes: int, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.max_response_bytes = max_response_bytes

    @override
    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,  # ignored: bodies are always read here, under the deadline
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: t.Mapping[str, str] | None = None,
    ) -> requests.Response:
        seconds = _attempt_seconds(timeout)
        deadline = time.monotonic() + seconds
        response = super().send(
            request, stream=True, timeout=(seconds, seconds), verify=verify, cert=cert, proxies=proxies
        )
        try:
            response._content = self._read_body(response, request, deadline, seconds)  # noqa: SLF001
        except BaseException:
            response.close()
            raise
        return response

    def _read_body(
        self, response: requests.Response, request: requests.PreparedRequest, deadline: float, seconds: float
    ) -> bytes:
        raw = response.raw
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                msg = f"no complete answer from {host_port(request.url)} within request_timeout ({seconds:g}s)"
                raise AttemptDeadlineExceeded(msg, request=request)
            connection = getattr(raw, "connection", None)
            sock = getattr(connection, "sock", None)
            if sock is not None:
                sock.settimeout(remaining)
            try:
                chunk = raw.read1(_CHUNK, decode_content=True)
            except (TimeoutError, urllib3.exceptions.ReadTimeoutError) as exc:
                if deadline - time.monotonic() <= 0.001:
                    msg = f"no complete answer from {host_port(request.url)} within request_timeout ({seconds:g}s)"
                    raise AttemptDeadlineExceeded(msg, request=request) from exc
                raise requests.exceptions.ReadTimeout(exc, request=request) from exc
            except urllib3.exceptions.ProtocolError as exc:
                raise requests.exceptions.ChunkedEncodingError(exc, request=request) from exc
            except urllib3.exceptions.DecodeError as exc:
                raise requests.exceptions.ContentDecodingError(exc, request=request) from exc
            except urllib3.exceptions.SSLError as exc:
                raise requests.exceptions.SSLError(exc, request=request) from exc
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_response_bytes:
                raise ResponseTooLargeError(
                    self.service, describe_request(request.method or "GET", request.url or ""), self.max_response_bytes
                )
            chunks.append(chunk)


def _attempt_seconds(timeout: float | tuple[float | None, float | None] | None) -> float:
    if isinstance(timeout, tuple):
        values = [v for v in timeout if v is not None]
        return float(max(values)) if values else HttpPolicy.timeout
    return float(timeout) if timeout is not None else HttpPolicy.timeout


def bounded_session(service: str, policy: HttpPolicy, base_url: str | None = None) -> requests.Session:
    """A ``requests.Session`` whose every attempt follows ``policy``'s deadline and size cap."""
    session = requests.Session()
    adapter = BoundedAdapter(service, policy.max_response_bytes)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if base_url:
        # requests re-reads the proxy variables on every send (~0.2 ms, most of a small request's
        # client CPU); every request of a service goes to one host: read them once.
        session.proxies.update(requests.utils.get_environ_proxies(base_url))
        # trust_env=False also stops reading the CA bundle variables: keep honouring them.
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.trust_env = False
    return session


# -- one service: classification, retries, throttle ------------------------------------------------------


@dataclass
class RequestStats:
    """Requests and retries of one caller (a stream, a sink), for run summaries."""

    requests: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, requests: int = 0, retries: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries


class ServiceHttp:
    """The HTTP policy of one service in this process (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        policy: HttpPolicy,
        limiter: RateLimiter,
        auth_settings: t.Sequence[str] = (),
        logger: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.limiter = limiter
        self.auth_settings = tuple(auth_settings)
        self.logger = logger or LOGGER

    @classmethod
    def for_service(
        cls,
        config: t.Mapping[str, t.Any],
        *,
        key: str,
        name: str,
        auth_settings: t.Sequence[str],
        default_requests_per_minute: float | None,
        logger: logging.Logger | None = None,
    ) -> ServiceHttp:
        """The policy, shared limiter and wording the config asks for, for service ``key``."""
        limit = config.get(f"{key}_requests_per_minute", default_requests_per_minute)
        return cls(
            name,
            policy=HttpPolicy.from_config(config),
            limiter=get_rate_limiter(key, limit),
            auth_settings=auth_settings,
            logger=logger,
        )

    def session(self, base_url: str | None = None) -> requests.Session:
        return bounded_session(self.name, self.policy, base_url)

    def check(self, response: requests.Response, *, expect_json: bool = True) -> None:
        """Classify an answer: fine, retryable, an auth failure, a rejection, or a wait over the cap.

        Raises:
            ServiceAuthError: 401/403, which retrying cannot fix.
            RetryAfterTooLongError: a 429/5xx asking to wait longer than ``retry_max_retry_after_seconds``.
            RetriableAPIError: 429, 5xx, or a 2xx whose JSON body does not decode.
            APIRejectedError: any other 4xx.
        """
        status = response.status_code
        endpoint = describe_request(response.request.method or "GET", response.url)
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            raise ServiceAuthError(self.name, status, endpoint, self.auth_settings, response.text)
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            wait = retry_after_seconds(response)
            if wait is not None and wait > self.policy.max_retry_after_seconds:
                raise RetryAfterTooLongError(self.name, endpoint, status, wait, self.policy.max_retry_after_seconds)
            if status == HTTPStatus.TOO_MANY_REQUESTS or wait:
                # The whole service waits, not only this request (see ratelimit.py).
                self.limiter.penalize(wait if wait is not None else 1.0)
            raise RetriableAPIError(f"{self.name}: {endpoint} answered HTTP {status}", response)
        if status >= HTTPStatus.BAD_REQUEST:
            raise APIRejectedError(self.name, endpoint, status, response.text)
        if expect_json and response.content:
            decode_json(response)

    def send(
        self,
        attempt: t.Callable[[], requests.Response],
        *,
        endpoint: str,
        before_retry: t.Callable[[BaseException], None] | None = None,
        stats: RequestStats | None = None,
    ) -> requests.Response:
        """Run ``attempt`` (one paced HTTP exchange) until it succeeds or the policy gives up.

        ``before_retry`` runs before every retry with the failure that caused it: a caller
        whose request is not idempotent checks there whether the failed attempt took effect,
        and raises to stop.

        Raises:
            RetriesExhaustedError: when retryable failures outlast ``retry_max_tries``.
            StopRequested: on a stop signal, before an attempt or during a wait.
        """
        tries = 0
        failure: BaseException | None = None
        while True:
            stopping.check()
            if failure is not None and before_retry is not None:
                before_retry(failure)
            self.limiter.acquire()
            tries += 1
            if stats is not None:
                stats.add(requests=1)
            try:
                return attempt()
            except RETRYABLE_EXCEPTIONS as exc:
                failure = exc
                if tries >= self.policy.max_tries:
                    raise RetriesExhaustedError(self.name, endpoint, tries, describe_failure(exc)) from None
            wait = self.policy.wait_seconds(tries, failure)
            if stats is not None:
                stats.add(retries=1)
            self.logger.warning(
                "%s: %s failed (%s); retry %d in %.2fs", self.name, endpoint, describe_failure(failure), tries, wait
            )
            stopping.sleep(wait)


class ServiceClient:
    """Retrying, rate-limited HTTP client for one service (the target's sinks, PCRecruiter's login).

    Thread-safe: each worker thread gets its own ``requests.Session``.
    """

    def __init__(
        self,
        http: ServiceHttp,
        base_url: str,
        *,
        headers: t.Mapping[str, str] | None = None,
        auth: t.Any = None,
        base_url_setting: str | None = None,
    ) -> None:
        self.http = http
        self.service = http.name
        self.base_url = base_url.rstrip("/") + "/"
        #: The setting a 404/405 on a collection endpoint points at (the URL is wrong, not a record).
        self.base_url_setting = base_url_setting
        self.headers = dict(headers or {})
        self.auth = auth
        self._local = threading.local()
        self._counts_lock = threading.Lock()
        self.calls: dict[str, int] = {}

    @property
    def policy(self) -> HttpPolicy:
        return self.http.policy

    @property
    def timeout(self) -> float:
        return self.http.policy.timeout

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self.http.session(self.base_url)
            session.headers.update(self.headers)
            session.auth = self.auth
        return session

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

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
        before_retry: t.Callable[[BaseException], None] | None = None,
        stats: RequestStats | None = None,
        collection: bool = False,
        **kwargs: t.Any,
    ) -> requests.Response:
        """Send one request with the service's policy; return the response.

        Statuses in ``ok_statuses`` (for example 404 on a lookup) are returned to the
        caller instead of raising. ``collection``: the path is a documented collection
        (a listing, a create), which exists whatever the record: a 404/405 there means the
        base URL is wrong, and fails the run naming its setting.

        Raises:
            ServiceAuthError: on 401/403.
            APIRejectedError: on another 4xx not listed in ``ok_statuses``.
            RetriesExhaustedError: when retryable failures outlast the policy.
        """
        url = self.url(path)
        call = f"{method.upper()} {urlsplit(url).path}"

        def attempt() -> requests.Response:
            with self._counts_lock:
                self.calls[call] = self.calls.get(call, 0) + 1
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            if collection and response.status_code in (HTTPStatus.NOT_FOUND, HTTPStatus.METHOD_NOT_ALLOWED):
                raise EndpointNotFoundError(
                    self.service,
                    describe_request(method, url),
                    response.status_code,
                    self.base_url_setting,
                    self.base_url,
                )
            if response.status_code not in ok_statuses:
                self.http.check(response, expect_json=expect_json)
            return response

        return self.http.send(attempt, endpoint=describe_request(method, url), before_retry=before_retry, stats=stats)
