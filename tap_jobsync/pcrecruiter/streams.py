"""PCRecruiter entity streams, synced with the API's change tracking.

Bookmark mode (default), per stream:

- first run: read the current version, list every record (ACTIVATE_VERSION after the
  listing), bookmark that version;
- later runs: read the current version, read the changes since the bookmark (deleted
  records as ``{key, _sdc_deleted_at}``), bookmark the version read first;
- a bookmark older than the retention window: warn, then a full listing as on a first run.
  "Older" is decided twice: by our clock (the state keeps when the version was read, so an API
  that answers past its window with only what it still keeps cannot lose changes silently), and
  by the API (a 400 naming the minimum valid version).

App-name mode (``pcrecruiter_app_name``): the API keeps the version per app and user;
one START ... STOP pull spans every PCRecruiter stream of the run (see ``run.py``'s ``AppNamePull``).
The pull is concluded with STOP (the document's example) or, when PCRecruiter refuses it with
a 4xx, END (its step 3); the command that worked and the time of the committed START are kept
in the state of every pulled stream.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import typing as t
from pathlib import Path

from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from singer_sdk.singerlib.catalog import REPLICATION_FULL_TABLE, REPLICATION_LOG_BASED

from jobsync_common.errors import APIRejectedError, ConfigError, JobSyncError, excerpt
from tap_jobsync.pcrecruiter import api as pcr
from tap_jobsync.pcrecruiter.client import (
    ChangeTrackingVersionExpiredError,
    PCRecruiterStream,
    ReadMode,
    page_number,
)
from tap_jobsync.pcrecruiter.run import now_stamp
from tap_jobsync.versions import activates_versions

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context, Record

    from tap_jobsync.pcrecruiter.run import AppNamePull

SCHEMAS_DIR = Path(__file__).parent / "schemas"

#: Stream-state keys (kept by singer-sdk's state manager as they are).
VERSION_KEY = "change_tracking_version"
#: When (our clock, UTC) the bookmarked version was read.
READ_AT_KEY = "change_tracking_read_at"
TABLE_VERSION_KEY = "table_version"
DELETED_AT = "_sdc_deleted_at"
#: Listing passes before giving up on records deleted while we list (see _full_sync).
MAX_LISTING_PASSES = 3


class PCRecruiterEntityStream(PCRecruiterStream):
    """One PCRecruiter entity (``candidates``...), change-tracked (see module docstring)."""

    #: Entity path, e.g. ``"candidates"``.
    entity: t.ClassVar[str]
    replication_key = None
    #: schemas/<stream name>.json
    schema = StreamSchema(SchemaDirectory(SCHEMAS_DIR))

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # Change tracking is a change log, not a replication key; a catalog may still force FULL_TABLE.
        self.forced_replication_method = REPLICATION_LOG_BASED
        self._last_key_by_page: dict[int, t.Any] = {}
        self.fields_param = self._fields_param()

    # -- settings -----------------------------------------------------------------------------------------
    @property
    def key_name(self) -> str:
        return pcr.ENTITIES[self.entity]

    @property
    def operations(self) -> str:
        return pcr.normalize_operations(self.config.get(pcr.OPERATIONS_SETTING)) or pcr.OPERATIONS

    @property
    def query(self) -> str | None:
        return (self.config.get(pcr.QUERY_SETTING) or {}).get(self.entity) or None

    def _fields_param(self) -> str | None:
        wanted = (self.config.get(pcr.FIELDS_SETTING) or {}).get(self.entity)
        if not wanted:
            return None
        known = {name.lower(): name for name in self.schema["properties"] if not name.startswith("_sdc_")}
        unknown = [f for f in wanted if str(f).strip().lower() not in known]
        if unknown:
            msg = (
                f"Setting `{pcr.FIELDS_SETTING}` lists unknown {self.entity} field(s) {unknown}; "
                f"known: {', '.join(sorted(known.values()))}."
            )
            raise ConfigError(msg)
        # The primary key is always asked for: change rows are matched by it.
        names = [self.key_name] + [known[str(f).strip().lower()] for f in wanted]
        return ",".join(dict.fromkeys(names))

    @property
    def emit_activate_version_messages(self) -> bool:
        # We write ACTIVATE_VERSION ourselves, after a full listing (the SDK would write it first).
        return False

    @property
    def activate_versions(self) -> bool:
        # Without D the user keeps deleted records: ACTIVATE_VERSION would drop them downstream.
        return activates_versions(self.config) and pcr.DELETE in self.operations

    @property
    def pull(self) -> AppNamePull | None:
        """The run's app-name pull, shared with the other PCRecruiter streams (None: bookmark mode)."""
        return self.service_run.app_name_pull()

    # -- rows -------------------------------------------------------------------------------------------------
    def parse_response(self, response: requests.Response) -> t.Iterable[Record]:
        rows = list(super().parse_response(response))
        if self.read_mode.pull is not None:
            self.read_mode.pull.established = True
        if rows and self.read_mode.tracking is None and self.read_mode.pull is None:
            # Plain listing: remember where each page ended (see _reread_from).
            self._last_key_by_page[page_number(response)] = self._key(rows[-1])
        return rows

    def _key(self, row: t.Mapping[str, t.Any]) -> t.Any:
        if self.key_name in row:
            return row[self.key_name]
        wanted = self.key_name.lower()
        return next((v for k, v in row.items() if k.lower() == wanted), None)

    def _change_record(self, row: Record) -> Record:
        """A change-set row as a record: a deleted one is its positive key and ``_sdc_deleted_at``."""
        key, deleted = pcr.split_deleted_key(self._key(row), only_deletes=self.operations == pcr.DELETE)
        if deleted:
            # The API gives no deletion time: the time we learned of it is the best we have.
            return {self.key_name: key, DELETED_AT: now_stamp()}
        row = {k: v for k, v in row.items() if k.lower() != self.key_name.lower()}
        return {self.key_name: key, **row}

    # -- sync ---------------------------------------------------------------------------------------------------
    def get_records(self, context: Context | None) -> t.Iterable[Record]:
        state = self.get_context_state(context)
        # Change records carry the version of the last full listing, so a loader's later
        # ACTIVATE_VERSION keeps rows we updated since (SDK sinks drop rows of older versions).
        self.table_version = state.get(TABLE_VERSION_KEY)
        pull = self.pull
        if pull is not None:
            yield from self._app_name_sync(context, state, pull)
            return
        bookmark = pcr.parse_version(state.get(VERSION_KEY))
        if bookmark is None or self.replication_method == REPLICATION_FULL_TABLE:
            yield from self._full_sync(context, state, bookmark=True)
            return
        if self._too_old(state.get(READ_AT_KEY), f"bookmarked version {bookmark}"):
            yield from self._full_sync(context, state, bookmark=True)
            return
        try:
            yield from self._changes_since(context, state, bookmark)
        except ChangeTrackingVersionExpiredError as exc:
            self._warn_expired(f"bookmarked version {bookmark}", exc.minimum)
            yield from self._full_sync(context, state, bookmark=True)

    def _too_old(self, read_at: t.Any, what: str) -> bool:
        """Whether a version read at ``read_at`` (our clock) is past the retention window; warns when it is.

        Decided by our clock, not by the API's answer: the document does not say what PCRecruiter
        answers past its window, and an answer holding only the changes it still keeps would
        lose the others without an error.
        """
        age = pcr.age_of(read_at, dt.datetime.now(dt.UTC))
        if age is None or age <= pcr.BOOKMARK_MAX_AGE:
            return False
        self._warn_expired(f"{what} (read {age.total_seconds() / 86400:.1f} days ago by this tap's clock)", None)
        return True

    def _warn_expired(self, what: str, minimum: int | None) -> None:
        named = f" (minimum valid version {minimum})" if minimum is not None else ""
        activate = ""
        if self.activate_versions:
            activate = ", with ACTIVATE_VERSION so rows deleted meanwhile are dropped downstream"
        self.logger.warning(
            "%s: %s: %s is older than PCRecruiter keeps changes (%d days)%s; resyncing in full%s. "
            "Run at least weekly to avoid this.",
            self.service.name,
            self.name,
            what,
            pcr.RETENTION.days,
            named,
            activate,
        )

    def _mode(self, **kwargs: t.Any) -> ReadMode:
        ops = self.operations
        return ReadMode(
            operations=None if ops == pcr.OPERATIONS else ops, fields=self.fields_param, query=self.query, **kwargs
        )

    def _changes_since(self, context: Context | None, state: dict[str, t.Any], bookmark: int) -> t.Iterator[Record]:
        # Read the version *before* the pages: a change made while we page is in this run
        # or not, but always in the next one (at-least-once). Bookmarking the version of the
        # last page instead would skip changes made to records on pages already read.
        read_at = now_stamp()
        current = self.current_version(context)
        for row in self.read_pages(context, self._mode(tracking=str(bookmark))):
            yield self._change_record(row)
        # Stored even when nothing changed: an idle stream's bookmark must not age out.
        state[VERSION_KEY] = current
        state[READ_AT_KEY] = read_at

    def _full_sync(self, context: Context | None, state: dict[str, t.Any], *, bookmark: bool) -> t.Iterator[Record]:
        """List every record, then ACTIVATE_VERSION; bookmark the version read before listing.

        A record deleted while we list moves every later record one place up: the record
        at the top of the next page slides onto a page already read, and nothing would
        ever send it again. So after each pass we ask which records were deleted since it
        began and re-read from the first page such a move can have reached.
        """
        table_version = int(time.time() * 1000)
        self.table_version = table_version  # singer-sdk stamps it on every RECORD
        self._last_key_by_page = {}
        first_version: int | None = None
        first_read_at = now_stamp()
        first_page: int | None = 1
        for _ in range(MAX_LISTING_PASSES):
            version = self.current_version(context)
            first_version = version if first_version is None else first_version
            yield from self.read_pages(context, self._mode(first_page=first_page, tracking=None))
            first_page = self._reread_from(self._deleted_since(context, version))
            if first_page is None:
                break
            self.logger.info(
                "%s: %s: records were deleted while listing; re-reading from page %d so none is missed",
                self.service.name,
                self.name,
                first_page,
            )
        else:
            self.logger.warning(
                "%s: %s: records kept being deleted while listing (%d passes); not activating this table "
                "version nor bookmarking it, so the next run lists again.",
                self.service.name,
                self.name,
                MAX_LISTING_PASSES,
            )
            return
        if self.activate_versions:
            self.write_activate_version(table_version)
        state[TABLE_VERSION_KEY] = table_version
        if bookmark:
            state[VERSION_KEY] = first_version
            state[READ_AT_KEY] = first_read_at

    def _deleted_since(self, context: Context | None, version: int) -> list[t.Any]:
        mode = ReadMode(tracking=str(version), operations=pcr.DELETE, fields=self.key_name)
        return [pcr.split_deleted_key(self._key(row), only_deletes=True)[0] for row in self.read_pages(context, mode)]

    def _reread_from(self, deleted: list[t.Any]) -> int | None:
        """First page a deletion can have moved an unread record onto; None when none can have."""
        pages = self._last_key_by_page
        if not pages or not deleted:
            return None
        last_read = max(pages.values())
        moved = sorted(k for k in deleted if k <= last_read)
        if not moved:
            return None
        page_of_first = min(page for page, last in pages.items() if last >= moved[0])
        return max(1, page_of_first - math.ceil(len(moved) / self.results_per_page))

    def _app_name_sync(self, context: Context | None, state: dict[str, t.Any], pull: AppNamePull) -> t.Iterator[Record]:
        if self._too_old(pull.stored_read_at, f"the version stored for app name {pull.app_name!r}"):
            self._open_pull_on_null(pull, context)
            yield from self._full_sync(context, state, bookmark=False)
        else:
            try:
                for row in self.read_pages(context, self._mode(pull=pull)):
                    yield self._change_record(row)
            except ChangeTrackingVersionExpiredError as exc:
                self._warn_expired(f"the version stored for app name {pull.app_name!r}", exc.minimum)
                self._open_pull_on_null(pull, context)
                yield from self._full_sync(context, state, bookmark=False)
        if pull.finish(self.name):
            self._commit(pull, context)

    def _open_pull_on_null(self, pull: AppNamePull, context: Context | None) -> None:
        """START on null (no pull held yet), so the commit stores a version read before the full listing."""
        if not pull.established:
            self.send(pcr.NULL_PATH, pull.start(), context)
            pull.established = True

    def _commit(self, pull: AppNamePull, context: Context | None) -> None:
        """Conclude the pull: the remembered command first, then the other one when PCRecruiter refuses it (4xx)."""
        refused: list[str] = []
        ordered = [pull.commit_command, *(c for c in pcr.COMMIT_COMMANDS if c != pull.commit_command)]
        for command in ordered:
            header = pcr.app_header(pull.app_name, command)
            try:
                response = self.send(pcr.NULL_PATH, header, context)
            except APIRejectedError as exc:
                refused.append(f"`{header}` answered HTTP {exc.status} ({excerpt(exc.text, 120)})")
                continue
            if refused:
                self.logger.warning(
                    "%s: %s; `%s` concluded the pull instead (the document names both: END in step 3, STOP in its "
                    "example). %s is sent first from now on (kept in the state).",
                    self.service.name,
                    refused[0],
                    header,
                    command,
                )
            pull.remember_commit(command)
            self.logger.info(
                "%s: app name %r committed change-tracking version %s",
                self.service.name,
                pull.app_name,
                response.headers.get(pcr.TRACKING_HEADER),
            )
            return
        msg = (
            f"{pcr.SERVICE.name}: could not conclude the change-tracking pull of app name {pull.app_name!r}: "
            f"{'; '.join(refused)}. Nothing was committed: the next run reads the same changes again."
        )
        raise JobSyncError(msg)


class PCRecruiterCandidatesStream(PCRecruiterEntityStream):
    """PCRecruiter candidates, keyed by CandidateId."""

    entity = "candidates"
    name = "pcrecruiter_candidates"
    path = "/candidates"
    primary_keys: t.ClassVar[list[str]] = [pcr.ENTITIES["candidates"]]


class PCRecruiterCompaniesStream(PCRecruiterEntityStream):
    """PCRecruiter companies, keyed by CompanyId."""

    entity = "companies"
    name = "pcrecruiter_companies"
    path = "/companies"
    primary_keys: t.ClassVar[list[str]] = [pcr.ENTITIES["companies"]]


class PCRecruiterPositionsStream(PCRecruiterEntityStream):
    """PCRecruiter positions (jobs), keyed by JobId; CompanyId references companies."""

    entity = "positions"
    name = "pcrecruiter_positions"
    path = "/positions"
    primary_keys: t.ClassVar[list[str]] = [pcr.ENTITIES["positions"]]


STREAM_TYPES: dict[str, type[PCRecruiterEntityStream]] = {
    stream.entity: stream
    for stream in (PCRecruiterCandidatesStream, PCRecruiterCompaniesStream, PCRecruiterPositionsStream)
}
