"""The REST stream base every tap-jobsync stream builds on.

One subclass per service (``TrackJobChangesStream``, ``JobcaseStream``...) sets
the service's name, base-URL setting, auth and pagination; this base adds what
all of them share:

- a proactive rate limiter wrapped *inside* the SDK's retry decorator, so every
  attempt (retries included) is paced;
- the shared retry policy (``Retry-After`` honoured, exponential back-off with
  jitter, bounded), and a one-line error naming service, endpoint and status
  when the bound is reached;
- 401/403 failing at once with the setting to fix;
- undecodable bodies treated as retryable;
- secrets scrubbed from every message;
- bounded concurrent prefetching of child-stream requests, with records and
  STATE still emitted in the SDK's sequential order.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import threading
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property

import requests
import singer_sdk.singerlib as singer
from singer_sdk import RESTStream
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import conform_record_data_types, is_datetime_type
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel

from jobsync_common.errors import RetriesExhaustedError
from jobsync_common.http import (
    RETRYABLE_EXCEPTIONS,
    RetryPolicy,
    check_response,
    decode_json,
    describe_failure,
    describe_request,
)
from jobsync_common.ratelimit import RateLimiter, get_rate_limiter
from jobsync_common.redact import scrub
from jobsync_common.settings import check_base_url
from tap_jobsync.messages import RecordPlan

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


def parse_timestamp(value: t.Any) -> dt.datetime | None:
    """Parse an ISO 8601 timestamp (``Z`` or offset; naive means UTC)."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value).strip().replace("Z", "+00:00").replace(" ", "T", 1)
        parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


class JobSyncStream(RESTStream):
    """Base of every tap-jobsync stream (see module docstring)."""

    #: Prefix of the service's settings, e.g. ``"jobcase"`` for ``jobcase_base_url``.
    service_key: t.ClassVar[str]
    #: Name used in messages, e.g. ``"Jobcase"``.
    service_name: t.ClassVar[str]
    #: Settings to check when the service answers 401/403.
    auth_settings: t.ClassVar[tuple[str, ...]] = ()
    #: Requests per minute when the user sets no override (None: no proactive limit).
    default_requests_per_minute: t.ClassVar[int | None] = None
    #: Key of the records list in the JSON body (None: the body is the list).
    records_key: t.ClassVar[str | None] = None

    _thread_local = threading.local()

    # -- HTTP plumbing ------------------------------------------------------------------
    @property
    def url_base(self) -> str:
        return check_base_url(self.config, f"{self.service_key}_base_url")

    @property
    def timeout(self) -> float:  # type: ignore[override]
        # A float: `request_timeout` is a number, and int(0.5) would be 0 (requests refuses it).
        return float(self.config.get("request_timeout") or 60)

    @property
    def requests_session(self) -> requests.Session:
        # One session per thread: child-stream prefetching sends from worker threads.
        sessions = self._thread_local.__dict__.setdefault("sessions", {})
        session = sessions.get(id(self))
        if session is None:
            session = sessions[id(self)] = requests.Session()
            # requests re-reads the proxy variables on every send (~0.2 ms, most of a child
            # request's client CPU); every request of a stream goes to one host: read them once.
            session.proxies.update(requests.utils.get_environ_proxies(self.url_base))
            # trust_env=False also stops reading the CA bundle variables: keep honouring them.
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            session.trust_env = False
        return session

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy.from_config(self.config)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        setting = f"{self.service_key}_requests_per_minute"
        limit = self.config.get(setting, self.default_requests_per_minute)
        return get_rate_limiter(self.service_key, limit)

    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:
        return self.retry_policy.wait_generator()

    def backoff_max_tries(self) -> int:
        return self.retry_policy.max_tries

    def backoff_jitter(self, value: float) -> float:  # noqa: PLR6301
        return value  # the wait generator already jitters (and must not shorten Retry-After)

    def backoff_handler(self, details: t.Mapping[str, t.Any]) -> None:
        request = details["args"][0] if details.get("args") else None
        endpoint = describe_request(request.method, request.url) if request is not None else self.path
        self.logger.warning(
            "%s: %s failed (%s); retry %d in %.2fs",
            self.service_name,
            endpoint,
            describe_failure(details["exception"]),
            details["tries"],
            details["wait"],
        )

    def request_decorator(self, func: t.Callable) -> t.Callable:
        limiter = self.rate_limiter

        def paced(prepared_request: requests.PreparedRequest, context: Context | None) -> requests.Response:
            limiter.acquire()
            return func(prepared_request, context)

        retrying = super().request_decorator(paced)

        def call(prepared_request: requests.PreparedRequest, context: Context | None) -> requests.Response:
            try:
                return retrying(prepared_request, context)
            except RETRYABLE_EXCEPTIONS as exc:
                endpoint = describe_request(prepared_request.method or "GET", prepared_request.url or "")
                raise RetriesExhaustedError(
                    self.service_name, endpoint, self.backoff_max_tries(), describe_failure(exc)
                ) from None

        return call

    def validate_response(self, response: requests.Response) -> None:
        check_response(self.service_name, response, auth_settings=self.auth_settings, limiter=self.rate_limiter)

    def response_error_message(self, response: requests.Response) -> str:
        return scrub(super().response_error_message(response))

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        payload = decode_json(response)
        if self.records_key is not None:
            payload = (payload or {}).get(self.records_key) if isinstance(payload, dict) else None
        if payload is None:
            return []
        if isinstance(payload, dict):
            return [payload]
        return payload

    # -- records to messages ----------------------------------------------------------------------
    def _write_schema_message(self) -> None:
        # singer-sdk syncs a child stream once per parent record and writes its SCHEMA each
        # time (a million parents: a million identical messages); once per run is enough.
        if self.parent_stream_type is not None and self.__dict__.get("_schema_message_written"):
            return
        super()._write_schema_message()
        self.__dict__["_schema_message_written"] = True

    def _generate_record_messages(self, record: dict) -> t.Generator[singer.RecordMessage, None, None]:
        """singer-sdk 0.54's ``Stream._generate_record_messages``, with its per-record helpers
        planned once per stream (see ``tap_jobsync/messages.py``); re-check on an SDK upgrade."""
        if self.TYPE_CONFORMANCE_LEVEL != TypeConformanceLevel.RECURSIVE:
            yield from super()._generate_record_messages(record)
            return
        schema, mask = self.effective_schema, self.mask
        plan = self.__dict__.get("_record_plan")
        if plan is None or not plan.built_for(schema, mask):
            plan = self.__dict__["_record_plan"] = RecordPlan(schema, mask)
        if not plan.selects_everything:
            pop_deselected_record_properties(record, self.schema, mask)
        conformed = plan.conformer.conform(record)
        if conformed is None:  # a property the schema does not know: the SDK drops it and warns once
            conformed = conform_record_data_types(self.name, record, schema, self.TYPE_CONFORMANCE_LEVEL, self.logger)
        for stream_map in self.stream_maps:
            mapped_record = stream_map.transform(conformed)
            if mapped_record is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped_record,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )

    # -- incremental filtering on the client side ------------------------------------------
    def bookmark_filter(self, context: Context | None) -> t.Callable[[dict], bool]:
        """Predicate keeping records newer than the bookmark (or at/after ``start_date``).

        For APIs with no server-side "changed since" filter: a record passes when its
        replication key is strictly greater than the bookmark (so an unchanged second
        run emits nothing), or, with no bookmark yet, not older than ``start_date``.
        Records without a replication key value always pass: we cannot tell.
        """
        key = self.replication_key
        assert key, f"{self.name} has no replication key"
        state = self.get_context_state(context)
        bookmark = state.get("replication_key_value")
        is_time = is_datetime_type(self.schema["properties"].get(key, {}))
        start = self.config.get("start_date")
        if bookmark is not None:
            threshold, inclusive = bookmark, False
        elif start and is_time:
            threshold, inclusive = start, True
        else:
            return lambda record: True
        if is_time:
            threshold = parse_timestamp(threshold)

        def keep(record: dict) -> bool:
            value = record.get(key)
            if value is None:
                return True
            if is_time:
                value = parse_timestamp(value)
            return value >= threshold if inclusive else value > threshold

        return keep

    # -- concurrent child prefetch ------------------------------------------------------------
    @property
    def max_workers(self) -> int:
        return max(1, int(self.config.get("max_workers") or 1))

    def _prefetched(self) -> dict[str, Future]:
        return self.__dict__.setdefault("_prefetch_futures", {})

    @staticmethod
    def _context_key(context: t.Mapping[str, t.Any] | None) -> str:
        return repr(sorted((context or {}).items()))

    def fetch_all_records(self, context: Context | None) -> list[dict]:
        """Every record of one child context, fetched eagerly (runs in a worker thread)."""
        return list(self.request_records(context))

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        future = self._prefetched().pop(self._context_key(context), None)
        if future is not None:
            yield from future.result()
            return
        yield from super().get_records(context)

    def prefetch_children(self, records: t.Iterable[dict], context: Context | None) -> t.Iterator[dict]:
        """Yield parent records while their children's requests run ahead in a bounded pool.

        The SDK syncs each parent's children right after the parent record, one at a
        time; here the child requests for the next few parents are already in flight,
        so the sequential sync finds them done. The order of RECORD and STATE
        messages is unchanged, which keeps resumption correct.
        """
        children = [c for c in self.child_streams if c.selected or c.has_selected_descendents]
        workers = self.max_workers
        if not children or workers <= 1:
            yield from records
            return
        window: collections.deque[dict] = collections.deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{self.name}-children") as pool:
            try:
                for record in records:
                    child_context = self.get_child_context(record, context)
                    if child_context is not None:
                        for child in children:
                            if isinstance(child, JobSyncStream):
                                key = self._context_key(child_context)
                                child._prefetched()[key] = pool.submit(child.fetch_all_records, child_context)
                    window.append(record)
                    if len(window) > workers * 2:
                        yield window.popleft()
                while window:
                    yield window.popleft()
            finally:
                for child in children:
                    if isinstance(child, JobSyncStream):
                        for future in child._prefetched().values():
                            future.cancel()
                        child._prefetched().clear()
