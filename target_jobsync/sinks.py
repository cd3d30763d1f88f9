"""The sink base every target-jobsync sink builds on.

A sink validates each record against the JSON Schema it accepts (destination
field names, as the API documents name them) before any call, then writes the
batch when the target drains it: records that share a match key are written in
order, different keys concurrently (bounded by ``max_workers``). Each write
reports what it did (created, updated, unchanged, deleted); a record the
destination refuses goes to the dead-letter file or fails the run.
"""

from __future__ import annotations

import collections
import json
import threading
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import jsonschema
import requests
from singer_sdk import BatchSink
from typing_extensions import override

from jobsync_common import stopping
from jobsync_common.errors import APIRejectedError, JobSyncError, excerpt
from jobsync_common.http import RequestStats
from jobsync_common.paging import PageGuard, pages_for
from jobsync_common.redact import scrub

if t.TYPE_CHECKING:
    from jobsync_common.http import ServiceClient
    from target_jobsync.dead_letters import DeadLetters

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
DELETED = "deleted"
REJECTED = "rejected"
OUTCOMES = (CREATED, UPDATED, UNCHANGED, DELETED, REJECTED)

SCHEMAS_DIR = Path(__file__).parent / "schemas"

# Answers that say nothing about a record's content (no such endpoint, method, or feature). The
# same one for several records in a row means a wrong URL or setting, not bad records.
NOT_ABOUT_THE_RECORD = frozenset({404, 405, 410, 501})
#: Identical answers of that kind in a row that fail the run as a configuration error.
CONFIG_ERROR_AFTER = 3


class RepeatedRejectionError(JobSyncError):
    """The destination gave the same record-independent answer to several records in a row."""


class UnwritableRecordError(JobSyncError):
    """A record this sink will not send (fails validation or a documented API rule): the sink rejects it.

    Raised and caught within the sink, per record. Not to be confused with ``dead_letters.RecordRejectedError``,
    which then fails the run when no dead-letter file is set.
    """

    def __init__(self, reason: str, status: int | None = None) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


#: The one loader-metadata field that means something here: the record was deleted at the source.
DELETED_AT = "_sdc_deleted_at"


def _without_formats(schema: t.Any) -> t.Any:
    """A copy of a JSON schema without ``format`` keywords (nothing then reads as a date-time)."""
    if isinstance(schema, dict):
        return {key: _without_formats(value) for key, value in schema.items() if key != "format"}
    if isinstance(schema, list):
        return [_without_formats(item) for item in schema]
    return schema


def load_input_schema(sink_name: str) -> dict[str, t.Any]:
    schema: dict[str, t.Any] = json.loads((SCHEMAS_DIR / f"{sink_name}.json").read_text())
    return schema


Token = t.TypeVar("Token")


class Rejection(t.NamedTuple):
    """A record the sink rejects, with why (and the answer that said so): what goes to the dead letters."""

    record: dict[str, t.Any]
    reason: str
    status: int | None
    endpoint: str | None


@dataclass(frozen=True)
class Page:
    """One page of a listing the target reads (to find what exists before writing)."""

    #: The raw answer: the guard compares it with the previous page's.
    body: bytes
    #: The decoded answer, for the service's own next-page rule.
    payload: t.Any
    records: list[dict[str, t.Any]]
    #: The total the server reports, if any: no more pages are read than it allows.
    total: int | None


def iter_pages(
    fetch_page: t.Callable[[Token], Page],
    next_token: t.Callable[[Token, Page], Token | None],
    guard: PageGuard,
    *,
    first: Token,
    page_size: int,
) -> t.Iterator[dict[str, t.Any]]:
    """Every record of one listing pass, from the page at ``first`` until ``next_token`` finds no next page.

    Each page passes ``guard`` before its records are used: paging that does not advance fails the run
    (``jobsync_common/paging.py``) instead of reading the same page forever.
    """
    token: Token | None = first
    while token is not None:
        page = fetch_page(token)
        guard.check(page.body, page.records, pages_allowed=pages_for(page.total, page_size))
        yield from page.records
        token = next_token(token, page)


class JobSyncSink(BatchSink):
    """Base of the target's sinks (see module docstring)."""

    #: Name of this sink (the stream name it accepts), e.g. ``"jobcase_jobs"``.
    sink_name: t.ClassVar[str]
    #: Key of the service client this sink writes through, e.g. ``"jobcase"``.
    service_key: t.ClassVar[str]
    #: Records per drain when the target does not drain earlier (on STATE).
    default_batch_size: t.ClassVar[int] = 200
    #: Record fields that identify one destination object (writes to one key stay in order).
    match_fields: t.ClassVar[tuple[str, ...]] = ()
    #: Sinks whose records must be written before this sink's (the target drains them first).
    depends_on: t.ClassVar[tuple[str, ...]] = ()

    #: The destination's HTTP client (shared by the destination's sinks) and the run's dead-letter file,
    #: handed over by the target when it creates the sink (see :meth:`attach`).
    client: ServiceClient
    dead_letters: DeadLetters

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # singer-sdk parses the incoming SCHEMA's date-times into datetime objects before a record reaches
        # us, and warns about fields it does not list; the APIs get timestamps exactly as received, and
        # the sink's own input schema (below) is what a record must match.
        self.schema = {**_without_formats(self.schema), "additionalProperties": True}
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.request_stats = RequestStats()
        #: Records this sink took in, and records whose write (or rejection) finished.
        self.received = 0
        self.done = 0
        #: Rejections held back while they may all be one configuration error (see ``reject``).
        self._suspects: list[tuple[tuple[int | None, str], Rejection]] = []
        self._outcomes_lock = threading.Lock()
        self.input_schema = load_input_schema(self.sink_name)
        self._input_validator = jsonschema.Draft7Validator(self.input_schema)

    def attach(self, *, client: ServiceClient, dead_letters: DeadLetters) -> None:
        """Receive what this sink writes through; the target calls it once, right after creating the sink."""
        self.client = client
        self.dead_letters = dead_letters

    # -- singer-sdk hooks ------------------------------------------------------------------
    @property
    @override
    def max_size(self) -> int:
        return int(self.config.get("batch_size_rows") or self.default_batch_size)

    @property
    @override
    def include_sdc_metadata_properties(self) -> bool:
        """Let singer-sdk keep ``_sdc_deleted_at`` (it drives deletes); the other ``_sdc_*`` go in process_record.

        Without metadata singer-sdk would drop ``_sdc_deleted_at`` with the rest; with it, it also
        takes ACTIVATE_VERSION without a warning (see :meth:`activate_version`).
        """
        return True

    @override
    def get_validator(self) -> None:
        """Records are validated against the sink's own input schema in :meth:`process_record`."""
        return

    @override
    def activate_version(self, new_version: int) -> None:
        """A source's full listing ended: nothing to do for these destinations.

        A loader drops the rows a full listing lacked; these destinations keep their objects (an
        object missing from a source listing may be one JobSync never wrote), and source deletes
        reach the sinks as records carrying ``_sdc_deleted_at``.
        """
        self.logger.debug(
            "ACTIVATE_VERSION %s of %r: nothing to do for this destination", new_version, self.stream_name
        )

    @override
    def process_record(self, record: dict[str, t.Any], context: dict[str, t.Any]) -> None:
        self.received += 1
        for name in [name for name in record if name.startswith("_sdc_")]:
            # Loader metadata is no field of any API; a delete is the one that carries meaning.
            if name != DELETED_AT or not record[name]:
                del record[name]
        errors = sorted(self._input_validator.iter_errors(record), key=lambda e: list(e.absolute_path))
        if errors:
            details = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(record)'}: {e.message}" for e in errors[:5])
            self.reject(record, f"does not match the {self.sink_name} input schema: {details}")
            return
        context.setdefault("records", []).append(record)

    @override
    def process_batch(self, context: dict[str, t.Any]) -> None:
        records: list[dict[str, t.Any]] = context.get("records", [])
        if records:
            self.write_batch(records)
        self._release_suspects()

    # -- writing ----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        before_retry: t.Callable[[BaseException], None] | None = None,
        **kwargs: t.Any,
    ) -> requests.Response:
        """Call the destination through the shared client, counting this sink's API calls.

        ``before_retry`` (optional) runs before every retry with the failure: a sink checks
        there whether the failed attempt of a non-idempotent call took effect, and raises
        to stop the retry.
        """
        return self.client.request(method, path, before_retry=before_retry, stats=self.request_stats, **kwargs)

    def verify_before_retry(self, already_applied: t.Callable[[], None]) -> t.Callable[[BaseException], None]:
        """``before_retry`` for a call that is not idempotent (a submit that always creates, an addBudget).

        Before every retry, ``already_applied`` looks at the destination and raises when an
        earlier attempt took effect though its answer was lost (reset, body cut short). An
        attempt that timed out may still be applied after we gave up, so the destination
        first gets one more ``request_timeout`` to apply it.
        """

        def before_retry(failure: BaseException) -> None:
            if isinstance(failure, requests.exceptions.Timeout):
                stopping.sleep(self.client.timeout)
            already_applied()

        return before_retry

    @property
    def dry_run(self) -> bool:
        return bool(self.config.get("dry_run"))

    @cached_property
    def max_workers(self) -> int:
        return max(1, int(self.config.get("max_workers") or 1))

    def match_key(self, record: dict[str, t.Any]) -> t.Hashable:
        return tuple(record.get(f) for f in self.match_fields) or id(record)

    def write_batch(self, records: list[dict[str, t.Any]]) -> None:
        """Write records: same match key in order, different keys concurrently."""
        groups: dict[t.Hashable, list[dict[str, t.Any]]] = {}
        for record in records:
            groups.setdefault(self.match_key(record), []).append(record)
        if self.max_workers == 1 or len(groups) == 1:
            for group in groups.values():
                self._write_group(group)
            return
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix=self.sink_name) as pool:
            for future in [pool.submit(self._write_group, group) for group in groups.values()]:
                future.result()  # re-raises the first failure (auth, retries exhausted)

    def _write_group(self, records: list[dict[str, t.Any]]) -> None:
        for record in records:
            stopping.check()  # after a stop signal no new write starts
            self.write_one(record)

    def write_one(self, record: dict[str, t.Any]) -> None:
        try:
            outcome = self.write_record(record)
        except UnwritableRecordError as exc:
            self.reject(record, exc.reason, exc.status)
            return
        except APIRejectedError as exc:
            self.reject(record, exc.text, exc.status, endpoint=exc.endpoint)
            return
        self.tally(outcome)
        self.finished()
        self._release_suspects()

    def write_record(self, record: dict[str, t.Any]) -> str:
        """Write one record to the destination; return one of the outcome constants."""
        raise NotImplementedError

    def tally(self, outcome: str, count: int = 1) -> None:
        with self._outcomes_lock:
            self.outcomes[outcome] += count

    def finished(self, count: int = 1) -> None:
        """Count records whose write (or rejection) is over: what a stop signal reports as written."""
        with self._outcomes_lock:
            self.done += count

    def reject(
        self, record: dict[str, t.Any], reason: str, status: int | None = None, *, endpoint: str | None = None
    ) -> None:
        """Dead-letter the record with its reason, or fail the run naming it.

        An answer that is not about the record (404, 405...) is held back: when the same one
        comes for ``CONFIG_ERROR_AFTER`` records in a row, the run fails as a configuration
        error and none of them is dead-lettered; any other outcome releases them.
        """
        if status in NOT_ABOUT_THE_RECORD:
            signature = (status, scrub(reason))
            with self._outcomes_lock:
                if self._suspects and self._suspects[0][0] != signature:
                    held, self._suspects = self._suspects, []
                else:
                    held = []
                self._suspects.append((signature, Rejection(record, reason, status, endpoint)))
                repeated = len(self._suspects) >= CONFIG_ERROR_AFTER
            for _, rejection in held:
                self._dead_letter(rejection)
            if repeated:
                where = f" from {endpoint}" if endpoint else ""
                msg = (
                    f"{self.sink_name}: {CONFIG_ERROR_AFTER} records in a row got the same answer{where}: HTTP "
                    f"{status} {excerpt(reason, 120)}. That is not about the records: check the base URL and the "
                    f"other settings of {self.service_key}. Nothing was dead-lettered for it."
                )
                raise RepeatedRejectionError(msg)
            return
        self._release_suspects()
        self._dead_letter(Rejection(record, reason, status, endpoint))

    def _release_suspects(self) -> None:
        with self._outcomes_lock:
            held, self._suspects = self._suspects, []
        for _, rejection in held:
            self._dead_letter(rejection)

    def _dead_letter(self, rejection: Rejection) -> None:
        self.tally(REJECTED)
        self.finished()
        self.dead_letters.write(
            stream=self.stream_name,
            sink=self.sink_name,
            record=rejection.record,
            reason=scrub(rejection.reason),
            status=rejection.status,
            endpoint=rejection.endpoint,
            key=self.describe_record(rejection.record),
        )

    def describe_record(self, record: dict[str, t.Any]) -> str:
        fields = [f for f in self.match_fields if record.get(f) not in (None, "")]
        return ", ".join(f"{f}={record[f]!r}" for f in fields) or "(no key fields)"

    def summary(self) -> dict[str, t.Any]:
        return {
            **{outcome: self.outcomes.get(outcome, 0) for outcome in OUTCOMES},
            "api_calls": self.request_stats.requests,
        }
