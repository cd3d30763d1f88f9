"""ZipRecruiter Job Alerts sinks: subscribers (single or batch upload) and their job searches.

Subscribers are written one by one (look up by email MD5, subscribe only when
something would change, deactivate on ``_sdc_deleted_at``) until a drain holds
``ziprecruiter_batch_threshold`` records; then, like MeltanoLabs/target-hubspot's
import sink, the drain becomes CSV files uploaded to ``POST /batch`` (one per
``ziprecruiter_batch_chunk_size`` records), optionally polled to completion.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import threading
import time
import typing as t
import zoneinfo
from functools import cached_property
from urllib.parse import quote

from singer_sdk import typing as th
from typing_extensions import override

from jobsync_common import ziprecruiter as zr
from jobsync_common.errors import APIRejectedError, JobSyncError, excerpt
from jobsync_common.http import ServiceClient, decode_json, describe_request
from jobsync_common.paging import PageGuard
from target_jobsync.destination import Destination
from target_jobsync.sinks import (
    CREATED,
    DELETED,
    UNCHANGED,
    UPDATED,
    JobSyncSink,
    Page,
    UnwritableRecordError,
    iter_pages,
)

if t.TYPE_CHECKING:
    import requests

# -- what only the target needs of the document: statuses it compares, batch states, submit times -------
ACTIVE = "active"
DEACTIVATED = "deactivated"
BATCH_PENDING = "pending"
BATCH_COMPLETE = "complete"

# The document's example submits create_time='2012-05-03 17:01:05' and later reads "2012-05-04T00:01:05"
# (UTC): submitted wall-clock times are US Pacific. An assumption drawn from that one example; change here.
try:
    SUBMIT_TIMEZONE: dt.tzinfo = zoneinfo.ZoneInfo("America/Los_Angeles")
except zoneinfo.ZoneInfoNotFoundError:  # no tz database on this host: Pacific standard time
    SUBMIT_TIMEZONE = dt.timezone(dt.timedelta(hours=-8))
SUBMIT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

#: How ``create_time`` is submitted: ISO 8601 with a UTC offset (means one instant whatever zone the API
#: assumes), or the example's wall-clock form in SUBMIT_TIMEZONE (used once the API refuses an offset).
WITH_OFFSET = "with_offset"
WALL_CLOCK = "wall_clock"


def submit_time(value: t.Any, form: str = WALL_CLOCK) -> str | None:
    """A record's timestamp as a submit takes it: with a UTC offset, or Pacific wall-clock time.

    Values without an offset are taken as UTC, like every other timestamp in a Singer record.
    """
    if value in (None, ""):
        return None
    text = str(value).strip().replace(" ", "T", 1).replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    if form == WITH_OFFSET:
        return parsed.astimezone(dt.UTC).replace(microsecond=0).isoformat()
    return parsed.astimezone(SUBMIT_TIMEZONE).strftime(SUBMIT_TIME_FORMAT)


# Subscriber fields compared to decide "unchanged", and sent on subscribe.
COMPARED_FIELDS = ("name", "search", "location", "ip_address")
# A batch result's counts as this target's outcomes (errors cannot be tied to records).
RESULT_OUTCOMES = {
    "subscribed": CREATED,
    "search_updated": UPDATED,
    "no_changes": UNCHANGED,
    "unsubscribed": DELETED,
    "no_such_contact": UNCHANGED,
    "errors": "batch_errors",
}

# The batch path's settings (the connection settings are shared with the tap: ``zr.setting_properties``).
BATCH_THRESHOLD_SETTING = "ziprecruiter_batch_threshold"
BATCH_CHUNK_SIZE_SETTING = "ziprecruiter_batch_chunk_size"
WAIT_FOR_BATCHES_SETTING = "ziprecruiter_wait_for_batches"
BATCH_POLL_SETTING = "ziprecruiter_batch_poll_seconds"
BATCH_WAIT_TIMEOUT_SETTING = "ziprecruiter_batch_wait_timeout_seconds"


def settings() -> list[th.Property[t.Any]]:
    """The ZipRecruiter settings of the target: the ones shared with the tap, then the batch path's."""
    return [
        *zr.setting_properties(),
        th.Property(
            BATCH_THRESHOLD_SETTING,
            th.IntegerType(minimum=0),
            default=500,
            description="A drain of ziprecruiter_subscribers with at least this many records is uploaded as "
            "batch CSV files instead of one request per record (0: always single requests).",
        ),
        th.Property(
            BATCH_CHUNK_SIZE_SETTING,
            th.IntegerType(minimum=1, maximum=100_000),
            default=1000,
            description="Records per uploaded batch file.",
        ),
        th.Property(
            WAIT_FOR_BATCHES_SETTING,
            th.BooleanType,
            default=False,
            description="Poll uploaded batches until complete before confirming the drain (ZipRecruiter "
            "documents 1-2 hours); report their result counts and fail on a failed batch.",
        ),
        th.Property(
            BATCH_POLL_SETTING,
            th.NumberType(minimum=0),
            default=30,
            description="Seconds between polls of a pending batch.",
        ),
        th.Property(
            BATCH_WAIT_TIMEOUT_SETTING,
            th.NumberType(minimum=0),
            default=4 * 3600,
            description="Fail the run when a waited-for batch is still pending after this long.",
        ),
    ]


class ZipRecruiterClient(ServiceClient):
    """The ZipRecruiter HTTP client of one target run; it remembers the ``create_time`` form the API takes.

    ``create_time`` is sent with a UTC offset, so it means one instant whatever zone the API assumes for the
    example's offset-less form; when refused (400 naming create_time), the example's US Pacific wall-clock
    form is used for the rest of the run.
    """

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.submit_time_form = WITH_OFFSET
        self._submit_time_lock = threading.Lock()

    def refuse_offsets(self) -> bool:
        """Submit ``create_time`` as wall-clock time from now on; True the first time (to warn once)."""
        with self._submit_time_lock:
            first_time = self.submit_time_form != WALL_CLOCK
            self.submit_time_form = WALL_CLOCK
        return first_time


def make_client(config: t.Mapping[str, t.Any]) -> ZipRecruiterClient:
    return zr.SERVICE.client(
        config,
        client_class=ZipRecruiterClient,
        auth=zr.basic_auth(config[zr.API_KEY_SETTING]),
    )


def _same_text(a: t.Any, b: t.Any) -> bool:
    return " ".join(str(a or "").split()) == " ".join(str(b or "").split())


def _search_key(search: t.Any, location: t.Any) -> tuple[str, str]:
    """Match key of a job search: search text and location, ignoring case and spacing."""
    return (" ".join(str(search or "").split()).casefold(), " ".join(str(location or "").split()).casefold())


def _key_of(search: t.Mapping[str, t.Any]) -> tuple[str, str]:
    return _search_key(search.get("search"), search.get("location"))


def _is_delete(record: t.Mapping[str, t.Any]) -> bool:
    return bool(record.get("_sdc_deleted_at"))


def _submit_time(record: t.Mapping[str, t.Any], form: str) -> str | None:
    try:
        return submit_time(record.get("create_time"), form)
    except ValueError:
        msg = f"create_time {record.get('create_time')!r} is not an ISO 8601 timestamp"
        raise UnwritableRecordError(msg) from None


def _query_records(response: requests.Response) -> list[dict[str, t.Any]]:
    return zr.normalize_query_page(decode_json(response))[0] if response.ok else []


def _retrieved_record(response: requests.Response) -> list[dict[str, t.Any]]:
    body = decode_json(response) if response.ok else None
    return [body] if isinstance(body, dict) else []


class ZipRecruiterSink(JobSyncSink):
    service_key = zr.SERVICE.key

    @cached_property
    def dialect(self) -> zr.Dialect:
        return zr.dialect(self.client.base_url)

    @property
    def ziprecruiter(self) -> ZipRecruiterClient:
        return t.cast(ZipRecruiterClient, self.client)

    def get_with_properties(
        self,
        path: str,
        params: t.Mapping[str, t.Any],
        names: t.Sequence[str],
        records_of: t.Callable[[requests.Response], list[dict[str, t.Any]]] = _query_records,
        **kwargs: t.Any,
    ) -> requests.Response:
        """GET asking for ``names`` in the ``properties`` form this API takes (see ``zr.Dialect``)."""

        def send(form: str) -> requests.Response:
            value = ",".join(names) if form == zr.COMMA else list(names)
            return self.request("GET", path, params={**params, "properties": value}, **kwargs)

        response, missing = self.dialect.fetch(send, records_of, names)
        if missing and self.dialect.warn_once(f"{self.sink_name} properties"):
            self.logger.warning(
                "%s: %s ignores `properties` (sent comma-joined and as repeated parameters): its answer lacks %s. %s",
                zr.SERVICE.name,
                describe_request("GET", response.url),
                ", ".join(missing),
                self.without_properties,
            )
        return response

    #: What this sink does when the API ignores ``properties`` (said in the warning).
    without_properties: t.ClassVar[str] = ""

    def submit(
        self, path: str, record: t.Mapping[str, t.Any], fields: t.Mapping[str, t.Any], **kwargs: t.Any
    ) -> requests.Response:
        """POST a submit as multipart/form-data (the document's ``--form``), ``create_time`` in a form the API takes."""
        sent = self.ziprecruiter.submit_time_form

        def form(time_form: str) -> dict[str, tuple[None, str]]:
            values = {**fields, "create_time": _submit_time(record, time_form)}
            return {k: (None, str(v)) for k, v in values.items() if v not in (None, "")}

        try:
            return self.request("POST", path, files=form(sent), **kwargs)
        except APIRejectedError as exc:
            refused_time = exc.status == 400 and zr.refuses_field(exc.text, "create_time")
            if sent != WITH_OFFSET or not record.get("create_time") or not refused_time:
                raise
            answer = excerpt(exc.text, 120)
        if self.ziprecruiter.refuse_offsets():
            self.logger.warning(
                "%s: %s refused create_time with a UTC offset (%s); sending it as US Pacific wall-clock time from now "
                "on, as the document's example implies (an assumption: it names no time zone).",
                zr.SERVICE.name,
                path,
                answer,
            )
        return self.request("POST", path, files=form(WALL_CLOCK), **kwargs)

    def query_all(
        self, path: str, params: t.Mapping[str, t.Any], names: t.Sequence[str] = ("id",), *, collection: bool = True
    ) -> list[dict[str, t.Any]]:
        """Every result of a query action (``skip`` paging, either documented page form)."""

        def fetch_page(skip: int) -> Page:
            page_params = {**params, "limit": zr.MAX_PAGE_SIZE, "skip": skip}
            response = self.get_with_properties(path, page_params, names, collection=collection)
            payload = decode_json(response)
            records, _, total = zr.normalize_query_page(payload)
            return Page(response.content, payload, records, total)

        def next_skip(skip: int, page: Page) -> int | None:
            # A short page is the last; so is the page reaching the reported total.
            received = skip + len(page.records)
            last = len(page.records) < zr.MAX_PAGE_SIZE or (page.total is not None and received >= page.total)
            return None if last else received

        guard = PageGuard(zr.SERVICE.name, f"GET {path}", lambda record: record.get("id"))
        return list(iter_pages(fetch_page, next_skip, guard, first=0, page_size=zr.MAX_PAGE_SIZE))


class ZipRecruiterBatchSink(ZipRecruiterSink):
    """Uploads records as batch CSV files (``POST /batch``) and optionally polls them."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[dict[str, t.Any]] = []

    @property
    def batch_threshold(self) -> int:
        return int(self.config.get(BATCH_THRESHOLD_SETTING) or 0)

    @property
    def chunk_size(self) -> int:
        return int(self.config.get(BATCH_CHUNK_SIZE_SETTING) or 1000)

    @staticmethod
    def csv_content(rows: t.Iterable[t.Sequence[str | None]]) -> bytes:
        """Positional columns, every value quoted, no header (as in the document's example)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for row in rows:
            values = ["" if v is None else str(v) for v in row]
            while values and values[-1] == "":
                values.pop()
            writer.writerow(values)
        return buffer.getvalue().encode("utf-8")

    def upload(self, kind: str, rows: list[t.Sequence[str | None]]) -> list[dict[str, t.Any]]:
        """Upload ``rows`` in chunks, each exactly once; return the queued batches (none in a dry run)."""
        queued: list[dict[str, t.Any]] = []
        known: set[str] | None = None
        for start in range(0, len(rows), self.chunk_size):
            chunk = rows[start : start + self.chunk_size]
            if self.dry_run:
                self.logger.info("Dry run: would upload a %s batch of %d records", kind, len(chunk))
                self.tally("batched", len(chunk))
                self.finished(len(chunk))
                continue
            if known is None:
                known = self.pending_batch_ids(kind)
            batch_id = self.upload_once(kind, chunk, known)
            known.add(batch_id)
            batch = {"id": batch_id, "type": kind, "records": len(chunk), "status": "pending"}
            self.logger.info("ZipRecruiter %s batch %s queued with %d records", kind, batch["id"], len(chunk))
            self.batches.append(batch)
            queued.append(batch)
            self.tally("batched", len(chunk))
            self.finished(len(chunk))
        return queued

    def pending_batch_ids(self, kind: str) -> set[str]:
        return {str(b.get("id")) for b in self.query_all("/batch", {"type": kind, "status": BATCH_PENDING})}

    def upload_once(self, kind: str, chunk: list[t.Sequence[str | None]], known: set[str]) -> str:
        """POST one batch file; before any retry, look for a pending batch that appeared meanwhile.

        Assumed: a batch is still pending seconds after its upload (the document: "performed
        within 1-2 hours"). One new pending batch of this type is the earlier attempt's; several
        cannot be told apart, and the run stops rather than upload a second copy or lose one.
        """

        def uploaded_by_an_earlier_attempt() -> None:
            appeared = sorted(self.pending_batch_ids(kind) - known)
            if len(appeared) == 1:
                raise _BatchFound(appeared[0])
            if len(appeared) > 1:
                msg = (
                    f"ZipRecruiter: a {kind} batch upload lost its answer, and batches {', '.join(appeared)} appeared "
                    "meanwhile: which one is ours cannot be told, so it is not uploaded again. Check them (stream "
                    "ziprecruiter_batches) and re-run; the state was not advanced."
                )
                raise JobSyncError(msg)

        try:
            response = self.request(
                "POST",
                "/batch",
                data={"type": kind, "filetype": "csv"},
                # Bytes, not a file object: a retried upload must send the same content again.
                files={"content": (f"{kind}.csv", self.csv_content(chunk), "text/csv")},
                before_retry=self.verify_before_retry(uploaded_by_an_earlier_attempt),
                collection=True,
            )
        except _BatchFound as found:
            self.logger.info(
                "ZipRecruiter %s batch %s: an earlier attempt queued it; not uploaded again.", kind, found.id
            )
            return found.id
        return str(decode_json(response)["id"])

    def wait_for(self, batches: list[dict[str, t.Any]]) -> None:
        """Poll until every batch completes; count its results; fail on a failed or stuck batch.

        Only the oldest pending batch is polled: while it is pending, the later ones most
        likely are too (assumed: batches are processed in the order submitted; if not, a
        later one is still found complete right after). Polls cost one call per wait,
        not one per pending batch per wait.
        """
        poll = float(self.config.get(BATCH_POLL_SETTING) or 0)
        deadline = time.monotonic() + float(self.config.get(BATCH_WAIT_TIMEOUT_SETTING) or 0)
        pending = list(batches)
        while pending:
            batch = pending[0]
            info = zr.normalize_batch(decode_json(self.request("GET", f"/batch/{quote(batch['id'])}")))
            batch["status"] = info.get("status")
            if batch["status"] != BATCH_PENDING:
                pending.pop(0)
                batch["result"] = info.get("result")
                if batch["status"] != BATCH_COMPLETE:
                    msg = (
                        f"ZipRecruiter {batch['type']} batch {batch['id']} ({batch['records']} records) ended "
                        f"{batch['status']!r}: {batch['result']}. The state was not advanced; re-running is "
                        "safe (ZipRecruiter matches subscribers by email)."
                    )
                    raise JobSyncError(msg)
                self._count_result(batch)
            else:
                if time.monotonic() >= deadline:
                    ids = ", ".join(b["id"] for b in pending)
                    msg = (
                        f"ZipRecruiter batches {ids} still pending after "
                        f"`{BATCH_WAIT_TIMEOUT_SETTING}`; they may still complete (see stream "
                        "ziprecruiter_batches). The state was not advanced."
                    )
                    raise JobSyncError(msg)
                time.sleep(poll)

    def _count_result(self, batch: dict[str, t.Any]) -> None:
        result = batch.get("result") or {}
        for key, outcome in RESULT_OUTCOMES.items():
            self.tally(outcome, int(result.get(key) or 0))
        self.logger.info("ZipRecruiter %s batch %s complete: %s", batch["type"], batch["id"], result)
        if result.get("errors"):
            # The result only counts errors: which rows failed is not reported.
            self.logger.warning(
                "ZipRecruiter %s batch %s: %s of %s records failed (the API does not say which; re-send them "
                "with a higher `%s` to get per-record errors)",
                batch["type"],
                batch["id"],
                result.get("errors"),
                result.get("total_records"),
                BATCH_THRESHOLD_SETTING,
            )

    @override
    def summary(self) -> dict[str, t.Any]:
        summary = super().summary()
        for extra in ("batched", "superseded", "batch_errors"):
            summary[extra] = self.outcomes.get(extra, 0)
        summary["batches"] = [dict(b) for b in self.batches]
        return summary


class ZipRecruiterSubscribersSink(ZipRecruiterBatchSink):
    """Subscribe (``POST /subscriber``) or deactivate job seekers; bulk through ``/batch``."""

    sink_name = "ziprecruiter_subscribers"
    # Large enough that a bulk drain fills whole 1,000-record batch files.
    default_batch_size = 10_000
    match_fields = ("email", "id")

    @override
    def match_key(self, record: dict[str, t.Any]) -> t.Hashable:
        email = record.get("email")
        return ("email", str(email).strip().lower()) if email else ("id", record.get("id"))

    # -- single requests --------------------------------------------------------------------
    without_properties = (
        "Subscribers are looked up without their status and fields, so each record is submitted again (ZipRecruiter "
        "matches subscribers by email: this updates, never duplicates) and none counts as unchanged."
    )

    def lookup(self, record: dict[str, t.Any]) -> dict[str, t.Any] | None:
        """The subscriber of this record, by id or by the MD5 of its email (no address in URLs)."""
        names = zr.SUBSCRIBER_PROPERTIES
        if not record.get("email"):
            response = self.get_with_properties(
                f"/subscriber/{quote(str(record['id']))}", {}, names, _retrieved_record, ok_statuses=(404,)
            )
            return None if response.status_code == 404 else zr.normalize_subscriber(decode_json(response))
        params = {"email": zr.email_md5(record["email"]), "limit": 1}
        response = self.get_with_properties("/subscriber", params, names, collection=True)
        results, _, _ = zr.normalize_query_page(decode_json(response))
        return zr.normalize_subscriber(results[0]) if results else None

    @staticmethod
    def submit_fields(record: dict[str, t.Any]) -> dict[str, t.Any]:
        """The submit's fields but ``create_time`` (added in the form the API takes, see ``submit``)."""
        return {"email": str(record["email"]).strip(), **{name: record.get(name) for name in COMPARED_FIELDS}}

    @staticmethod
    def holds(existing: dict[str, t.Any] | None, record: dict[str, t.Any]) -> bool:
        """Whether ZipRecruiter already has this subscription, active, with every field the record sets."""
        return (
            existing is not None
            and existing.get("status") == ACTIVE
            and all(_same_text(record.get(f), existing.get(f)) for f in COMPARED_FIELDS if record.get(f) is not None)
        )

    @override
    def write_record(self, record: dict[str, t.Any]) -> str:
        if _is_delete(record):
            return self.unsubscribe(record)
        fields = self.submit_fields(record)
        _submit_time(record, WITH_OFFSET)  # a create_time that is no timestamp is refused before any call
        existing = self.lookup(record)
        if self.holds(existing, record):
            return UNCHANGED
        if not self.dry_run:

            def applied_by_an_earlier_attempt() -> None:
                # Assumed (not documented): a second subscribe of an address updates it. Not relied on:
                # before a retry we look, and an attempt that took effect is not sent again.
                if self.holds(self.lookup(record), record):
                    raise _Applied

            with contextlib.suppress(_Applied):
                self.submit(
                    "/subscriber",
                    record,
                    fields,
                    collection=True,
                    before_retry=self.verify_before_retry(applied_by_an_earlier_attempt),
                )
        return CREATED if existing is None else UPDATED

    def unsubscribe(self, record: dict[str, t.Any]) -> str:
        existing = self.lookup(record)
        # Only a subscriber shown as deactivated is left alone: one whose status we cannot see (no
        # `status` came back) is unsubscribed anyway. Deleting twice is harmless; keeping a person
        # subscribed after they left is not.
        if existing is None or existing.get("status") == DEACTIVATED:
            return UNCHANGED
        if not self.dry_run:
            self.request("DELETE", f"/subscriber/{quote(str(existing['id']))}")
        return DELETED

    # -- bulk -------------------------------------------------------------------------------------
    @override
    def write_batch(self, records: list[dict[str, t.Any]]) -> None:
        if not self.batch_threshold or len(records) < self.batch_threshold:
            super().write_batch(records)
            return
        # Only the last record per subscriber matters for the state a batch leaves behind.
        latest: dict[t.Hashable, dict[str, t.Any]] = {}
        for record in records:
            latest.pop(self.match_key(record), None)
            latest[self.match_key(record)] = record
        self.tally("superseded", len(records) - len(latest))
        self.finished(len(records) - len(latest))
        subscribe_rows: list[t.Sequence[str | None]] = []
        unsubscribe_rows: list[t.Sequence[str | None]] = []
        by_id: list[dict[str, t.Any]] = []
        for record in latest.values():
            if _is_delete(record):
                if record.get("email"):
                    unsubscribe_rows.append((str(record["email"]).strip(),))
                else:
                    by_id.append(record)  # the batch file identifies subscribers by email only
                continue
            try:
                row = (
                    str(record["email"]).strip(),
                    record.get("search"),
                    record.get("location"),
                    _submit_time(record, self.ziprecruiter.submit_time_form),
                    record.get("ip_address"),
                )
            except UnwritableRecordError as exc:
                self.reject(record, exc.reason)
                continue
            subscribe_rows.append(row)
        if by_id:
            super().write_batch(by_id)
        queued = self.upload("subscribe", subscribe_rows) + self.upload("unsubscribe", unsubscribe_rows)
        if queued and self.config.get(WAIT_FOR_BATCHES_SETTING):
            self.wait_for(queued)
        elif queued:
            self.logger.info(
                "ZipRecruiter batches %s queued; not waiting (`%s` is off). "
                "Their results appear in the tap stream ziprecruiter_batches.",
                ", ".join(b["id"] for b in queued),
                WAIT_FOR_BATCHES_SETTING,
            )


class _Applied(Exception):  # noqa: N818 - control flow, never shown to users
    """Raised before a retry: the earlier attempt took effect; do not send it again."""


class _BatchFound(Exception):  # noqa: N818 - control flow, never shown to users
    def __init__(self, batch_id: str) -> None:
        super().__init__(batch_id)
        self.id = batch_id


class _SearchCreated(Exception):  # noqa: N818 - control flow, never shown to users
    """Raised before a retried submit: the earlier attempt already created the search."""

    def __init__(self, search: dict[str, t.Any]) -> None:
        super().__init__("already created")
        self.search = search


class ZipRecruiterSubscriberSearchesSink(ZipRecruiterSink):
    """Create or deactivate a subscriber's job searches, matched by search text and location."""

    sink_name = "ziprecruiter_subscriber_searches"
    match_fields = ("subscriber_id",)

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # subscriber_id -> its searches; filled per write group (one subscriber per group and thread).
        self._existing: dict[str, list[dict[str, t.Any]]] = {}

    @override
    def _write_group(self, records: list[dict[str, t.Any]]) -> None:
        subscriber_id = str(records[0]["subscriber_id"])
        try:
            self._existing[subscriber_id] = self.list_searches(subscriber_id)
        except APIRejectedError as exc:  # e.g. 404 unknown_subscriber: every record of it is refused
            for record in records:
                self.reject(record, exc.text, exc.status, endpoint=exc.endpoint)
            return
        try:
            super()._write_group(records)
        finally:
            self._existing.pop(subscriber_id, None)

    without_properties = (
        "Each job search is retrieved on its own instead (its documented default answer has every property), one "
        "request per search: without status, search and location the sink could not tell an existing search."
    )

    def list_searches(self, subscriber_id: str) -> list[dict[str, t.Any]]:
        path = f"/subscriber/{quote(subscriber_id)}/searches"
        # Not a collection that always exists: 404 unknown_subscriber is about the record.
        searches = self.query_all(path, {}, zr.SEARCH_PROPERTIES, collection=False)
        if self.dialect.properties_ignored:
            searches = [self.retrieve_search(path, str(s["id"])) for s in searches]
        return [zr.normalize_search(s) for s in searches]

    def retrieve_search(self, path: str, search_id: str) -> dict[str, t.Any]:
        """One job search, answered with the retrieve action's default properties (the document's example: all)."""
        search = decode_json(self.request("GET", f"{path}/{quote(search_id)}")) or {}
        missing = zr.missing_properties(search, ("id", "search", "location", "status"))
        if missing:
            msg = (
                f"{zr.SERVICE.name}: GET {path}/{search_id} answered without {', '.join(missing)} and the API ignores "
                "`properties`: existing job searches cannot be told apart, so none is submitted (it could be a copy)."
            )
            raise JobSyncError(msg)
        return search

    @override
    def write_record(self, record: dict[str, t.Any]) -> str:
        subscriber_id = str(record["subscriber_id"])
        existing = self._existing[subscriber_id]
        path = f"/subscriber/{quote(subscriber_id)}/searches"
        key = _key_of(record)
        active = [s for s in existing if s.get("status") == ACTIVE]
        if _is_delete(record):
            wanted_id = str(record.get("id") or "")
            targets = [s for s in active if (s.get("id") == wanted_id if wanted_id else _key_of(s) == key)]
            for search in targets:
                if not self.dry_run:
                    self.request("DELETE", f"{path}/{quote(search['id'])}")
                search["status"] = DEACTIVATED
            return DELETED if targets else UNCHANGED
        if any(_key_of(s) == key for s in active):
            return UNCHANGED
        form = {
            "search": record.get("search"),
            "location": record.get("location"),
            "ip_address": record.get("ip_address"),
            "create_time": _submit_time(record, WITH_OFFSET),
        }
        created_id = None
        if not self.dry_run:

            def stop_if_created() -> None:
                # A submit always creates a search: never resend one ZipRecruiter already acted on.
                searches = self.list_searches(subscriber_id)
                found = [s for s in searches if s.get("status") == ACTIVE and _key_of(s) == key]
                if found:
                    raise _SearchCreated(found[0])

            fields = {k: v for k, v in form.items() if k != "create_time"}
            try:
                response = self.submit(path, record, fields, before_retry=self.verify_before_retry(stop_if_created))
                created_id = str((decode_json(response) or {}).get("id"))
            except _SearchCreated as created:
                self.logger.info(
                    "Job search of subscriber %s: an earlier attempt created it; not sent again.", subscriber_id
                )
                created_id = created.search.get("id")
        # Remember it, so a repeated record in the same drain does not create it twice.
        existing.append({**form, "id": created_id, "status": ACTIVE})
        return CREATED


DESTINATION = Destination(
    service=zr.SERVICE,
    settings=settings(),
    required_settings=(zr.API_KEY_SETTING,),
    make_client=make_client,
    sinks=(ZipRecruiterSubscribersSink, ZipRecruiterSubscriberSearchesSink),
)
