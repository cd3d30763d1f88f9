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
import logging
import time
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import requests
import singer_sdk.singerlib as singer
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import BaseAPIPaginator

from jobsync_common.errors import JobSyncError, excerpt
from jobsync_common.http import RequestStats, ServiceClient, ServiceHttp, decode_json, describe_request
from jobsync_common.paging import PageGuard, SeenKeys
from jobsync_common.redact import scrub
from jobsync_common.sdk_internals import (
    StreamInternals,
    conform_record_data_types,
    is_datetime_type,
    pop_deselected_record_properties,
    utc_now,
)
from jobsync_common.timestamps import parse_timestamp
from tap_jobsync.messages import RecordPlan

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context, Record, RequestFunc

    from jobsync_common.service import ServiceSpec
    from tap_jobsync.service import ServiceRun


class WrongShapeError(JobSyncError):
    """An answer is not the documented shape (a list where an object is documented, ...)."""


class MissingPrimaryKeyError(JobSyncError):
    """A record arrived without its primary key: it could not be deduplicated downstream."""


_PageToken = t.TypeVar("_PageToken")


class GuardedPaginator(BaseAPIPaginator[_PageToken]):
    """Base of the tap's paginators: each page passes the stream's :class:`PageGuard` before paging on.

    Listed before singer-sdk's paginator in a subclass's bases, so ``advance`` checks the page first.
    """

    guard: PageGuard | None = None
    records_in: t.Callable[[requests.Response], list[t.Any]] | None = None

    def pages_allowed(self, response: requests.Response) -> int | None:  # noqa: ARG002
        """Pages the server's reported total allows (None: it reports none)."""
        return None

    def advance(self, response: requests.Response) -> None:
        if self.guard is not None:
            records = self.records_in(response) if self.records_in is not None else []
            self.guard.check(response.content, records, pages_allowed=self.pages_allowed(response))
        super().advance(response)


_Guarded = t.TypeVar("_Guarded", bound=GuardedPaginator[t.Any])


@dataclass(slots=True)
class StreamStats:
    """What a stream counts during one run, for its summary line (requests and retries: ``request_stats``)."""

    records: int = 0
    #: Records whose primary key the stream had already emitted in this run.
    duplicate_keys: int = 0
    #: ``time.monotonic()`` of the stream's first and last request or record.
    first_activity: float | None = None
    last_activity: float | None = None

    @property
    def seconds(self) -> float:
        if self.first_activity is None or self.last_activity is None:
            return 0.0
        return self.last_activity - self.first_activity


class JobSyncStream(StreamInternals):
    """Base of every tap-jobsync stream (see module docstring)."""

    #: The API this stream reads (settings prefix, name in messages, credentials, rate limit).
    service: t.ClassVar[ServiceSpec]
    #: Key of the records list in the JSON body (None: the body is the list).
    records_key: t.ClassVar[str | None] = None

    def __init__(self, tap: Tap, *args: t.Any, run: ServiceRun | None = None, **kwargs: t.Any) -> None:
        #: What the streams of this service share in this run (see ``TapService.streams``); None: nothing.
        self.service_run = run
        #: Set once the stream (and its children) finished syncing (a stop signal names the others).
        self.finished = False
        self.stats = StreamStats()
        self.request_stats = RequestStats()
        #: This (child) stream's records being fetched ahead by ``prefetch_children``, by context.
        self.prefetched: dict[str, Future[list[Record]]] = {}
        self._seen_keys = SeenKeys()
        # Planned once per schema and selection, not once per record (tap_jobsync/messages.py).
        self._record_plan: RecordPlan | None = None
        self._schema_message_written = False
        super().__init__(tap, *args, **kwargs)

    # -- HTTP plumbing: the shared policy (jobsync_common.http) ----------------------------------
    @property
    def url_base(self) -> str:
        return self.service.base_url(self.config)

    @cached_property
    def client(self) -> ServiceClient:
        """The service's HTTP policy for this stream, with one session per thread (prefetching uses workers)."""
        http = self.service.http(self.config, logger=self.logger)
        return ServiceClient(http, self.url_base, base_url_setting=self.service.base_url_setting)

    @property
    def http(self) -> ServiceHttp:
        return self.client.http

    @property
    def timeout(self) -> float:  # type: ignore[override]  # singer-sdk says int; requests takes a float
        # Seconds for a whole attempt (the adapter enforces it on the body too); a float, never int(0.5) == 0.
        return self.http.policy.timeout

    @property
    def requests_session(self) -> requests.Session:
        return self.client.session

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """The shared retry loop around the SDK's request (pacing, Retry-After, bounded tries, stop signals)."""

        def call(prepared_request: requests.PreparedRequest, context: Context | None) -> requests.Response:
            endpoint = describe_request(prepared_request.method or "GET", prepared_request.url or "")
            self._mark_activity()
            return self.http.send(lambda: func(prepared_request, context), endpoint=endpoint, stats=self.request_stats)

        return call

    def send_get(
        self,
        url: str,
        *,
        params: t.Mapping[str, t.Any] | None = None,
        headers: t.Mapping[str, str] | None = None,
        context: Context | None = None,
    ) -> requests.Response:
        """One GET outside the stream's listing (a probe, a command), with the stream's auth, pacing and retries."""
        prepared = self.build_prepared_request(method="GET", url=url, params=params, headers=headers)
        return self.request_decorator(self.send_prepared)(prepared, context)

    def send_prepared(self, prepared: requests.PreparedRequest, context: Context | None) -> requests.Response:  # noqa: ARG002
        """One attempt of a prepared request: authenticated, sent with the attempt deadline, checked."""
        response = self.requests_session.send(self.authenticator(prepared), timeout=self.timeout)
        self.validate_response(response)
        return response

    def validate_response(self, response: requests.Response) -> None:
        self.http.check(response)

    def response_error_message(self, response: requests.Response) -> str:
        return scrub(super().response_error_message(response))

    def records_in(self, response: requests.Response) -> list[t.Any]:
        """The records of one answer, checked against the documented shape (no side effects)."""
        payload = decode_json(response)
        if self.records_key is not None:
            if payload is None:
                return []
            if not isinstance(payload, dict):
                self._wrong_shape(response, f"an object with `{self.records_key}`", payload)
            payload = payload.get(self.records_key)
        if payload is None:
            return []
        if isinstance(payload, dict):
            return [payload]
        if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
            what = f"`{self.records_key}` as a list of objects" if self.records_key else "a list of objects"
            self._wrong_shape(response, what, payload)
        return payload

    def parse_response(self, response: requests.Response) -> t.Iterable[Record]:
        return self.records_in(response)

    def _wrong_shape(self, response: requests.Response, documented: str, payload: t.Any) -> t.NoReturn:
        names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
        kind = names.get(type(payload), type(payload).__name__)
        endpoint = describe_request(response.request.method or "GET", response.url)
        msg = (
            f"{self.service.name}: {endpoint} answered a JSON {kind} where {documented} is documented: "
            f"{excerpt(response.text, 160)}"
        )
        raise WrongShapeError(msg)

    # -- paging guard: every paginator of the tap checks each page -----------------------------------
    def guard_paginator(self, paginator: _Guarded) -> _Guarded:
        """Attach a :class:`PageGuard` to a paginator of one listing pass (see GuardedPaginator)."""
        keys = tuple(self.primary_keys or ())
        key = (lambda record: tuple(record.get(k) for k in keys)) if keys else None
        paginator.guard = PageGuard(self.service.name, self.path or self.name, key)
        paginator.records_in = self.records_in
        return paginator

    # -- logging: one summary per stream instead of per-page and per-parent noise -----------------
    #: singer-sdk INFO lines that repeat per page or per parent record; kept at DEBUG.
    _QUIET_PREFIXES = ("Pagination stopped after", "Beginning sync of")

    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        # "Pagination stopped after 0 pages because no records were found" closes every pass that
        # ends on an empty page (PCRecruiter's change checks...), even when the stream emitted records;
        # "Beginning sync ... with context" repeats once per parent record of a child stream.
        if (
            level == logging.INFO
            and message.startswith(self._QUIET_PREFIXES)
            and ("context" in message or "Pagination" in message)
        ):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)

    # -- run summary -------------------------------------------------------------------------------
    def finalize_state_progress_markers(self, state: dict[str, t.Any] | None = None) -> None:
        super().finalize_state_progress_markers(state)
        if self.parent_stream_type is None:
            # singer-sdk calls this after a top-level stream's sync, its children included.
            for stream in (self, *self.child_streams):
                if isinstance(stream, JobSyncStream):
                    stream.finished = True

    def _mark_activity(self) -> None:
        stats = self.stats
        stats.last_activity = time.monotonic()
        if stats.first_activity is None:
            stats.first_activity = stats.last_activity

    def log_sync_costs(self) -> None:
        """One summary line per stream at the end of the run (singer-sdk calls this for every stream)."""
        if not (self.selected or self.has_selected_descendents):
            return
        duplicates = self.stats.duplicate_keys
        self.logger.info(
            "Summary %s: %d records, %d requests, %d retries, %.1fs%s",
            self.name,
            self.stats.records,
            self.request_stats.requests,
            self.request_stats.retries,
            self.stats.seconds,
            f", {duplicates} duplicate primary keys" if duplicates else "",
        )
        if duplicates:
            self.logger.warning(
                "%s: %s emitted %d records whose primary key (%s) it had already emitted in this run "
                "(the API listed them twice); a loader merging on the key keeps one.",
                self.service.name,
                self.name,
                duplicates,
                ", ".join(self.primary_keys or ()),
            )

    def check_record(self, record: Record) -> None:
        """A record must carry its primary key; a key seen before in this run is counted."""
        keys = self.primary_keys
        if not keys:
            return
        values = tuple(record.get(k) for k in keys)
        if any(v is None or v == "" for v in values):
            missing = ", ".join(k for k, v in zip(keys, values, strict=True) if v is None or v == "")
            msg = (
                f"{self.service.name}: stream {self.name} ({self.path}): a record has no primary key "
                f"`{missing}`: {excerpt(record, 160)}"
            )
            raise MissingPrimaryKeyError(msg)
        if self._seen_keys.add(values):
            self.stats.duplicate_keys += 1

    # -- records to messages ----------------------------------------------------------------------
    def should_write_schema(self) -> bool:
        # singer-sdk syncs a child stream once per parent record and writes its SCHEMA each
        # time (a million parents: a million identical messages); once per run is enough.
        if self.parent_stream_type is not None and self._schema_message_written:
            return False
        self._schema_message_written = True
        return True

    def record_messages(self, record: dict[str, t.Any]) -> t.Iterator[singer.RecordMessage]:
        """singer-sdk 0.54's record-to-messages path, with its per-record helpers planned once per
        stream (see ``tap_jobsync/messages.py``); re-check on an SDK upgrade."""
        self.check_record(record)
        self.stats.records += 1
        self._mark_activity()
        if self.TYPE_CONFORMANCE_LEVEL != TypeConformanceLevel.RECURSIVE:
            yield from self.sdk_record_messages(record)
            return
        schema, mask = self.effective_schema, self.mask
        plan = self._record_plan
        if plan is None or not plan.built_for(schema, mask):
            plan = self._record_plan = RecordPlan(schema, mask)
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
                    version=self.table_version,
                    time_extracted=utc_now(),
                )

    # -- incremental filtering on the client side ------------------------------------------
    def bookmark_filter(self, context: Context | None) -> t.Callable[[Record], bool]:
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
            return lambda _record: True
        if is_time:
            threshold = parse_timestamp(threshold)

        def keep(record: Record) -> bool:
            value = record.get(key)
            if value is None:
                return True
            if is_time:
                value = parse_timestamp(value)
            passes: bool = value >= threshold if inclusive else value > threshold
            return passes

        return keep

    # -- concurrent child prefetch ------------------------------------------------------------
    @property
    def max_workers(self) -> int:
        return max(1, int(self.config.get("max_workers") or 1))

    @staticmethod
    def _context_key(context: t.Mapping[str, t.Any] | None) -> str:
        return repr(sorted((context or {}).items()))

    def fetch_all_records(self, context: Context | None) -> list[Record]:
        """Every record of one child context, fetched eagerly (runs in a worker thread)."""
        return list(self.request_records(context))

    def get_records(self, context: Context | None) -> t.Iterable[Record]:
        future = self.prefetched.pop(self._context_key(context), None)
        if future is not None:
            yield from future.result()
            return
        yield from super().get_records(context)

    def prefetch_children(self, records: t.Iterable[Record], context: Context | None) -> t.Iterator[Record]:
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
        window: collections.deque[Record] = collections.deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{self.name}-children") as pool:
            try:
                for record in records:
                    child_context = self.get_child_context(record, context)
                    if child_context is not None:
                        for child in children:
                            if isinstance(child, JobSyncStream):
                                key = self._context_key(child_context)
                                child.prefetched[key] = pool.submit(child.fetch_all_records, child_context)
                    window.append(record)
                    if len(window) > workers * 2:
                        yield window.popleft()
                while window:
                    yield window.popleft()
            finally:
                for child in children:
                    if isinstance(child, JobSyncStream):
                        for future in child.prefetched.values():
                            future.cancel()
                        child.prefetched.clear()
