"""Table versions for full-table streams: how a row deleted at the source leaves the warehouse.

A full-table stream lists every record on every run, so a record deleted at the source
simply stops appearing; nothing in the stream says so. Singer's answer is the table
version: every RECORD of one listing carries the same ``version`` and, once the listing
is complete, an ``ACTIVATE_VERSION`` message tells the loader to delete (hard delete) or
flag (soft delete) the rows of older versions -- the rows the listing no longer had.

singer-sdk writes ACTIVATE_VERSION *before* the records (a loader that honours it then
shows an empty or all-deleted table until the listing lands, and keeps it so if the run
fails half way). :class:`FullTableVersionsStream` writes it *after* the whole listing,
children included, and only when the listing finished. PCRecruiter does the same for its
own full listings (``tap_jobsync/pcrecruiter/streams.py``) under the same setting.

Which streams: a full-table stream, and a full-table child of one (ZipRecruiter's
searches: every subscriber is listed, so every search is). A full-table child of an
incremental parent (TrackJobChanges employments) is *not* versioned: it sees only the
parents that changed, and activating its version would drop everyone else's rows.
"""

from __future__ import annotations

import time
import typing as t

from singer_sdk import typing as th
from singer_sdk.singerlib.catalog import REPLICATION_FULL_TABLE

from tap_jobsync.client import JobSyncStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

SETTING = "emit_activate_version_messages"


def settings() -> list[th.Property[t.Any]]:
    return [
        th.Property(
            SETTING,
            th.BooleanType,
            default=True,
            description="Stamp every record of a full listing (full-table streams, and PCRecruiter's first or "
            "expired-bookmark listings) with a table version and send ACTIVATE_VERSION once the listing is "
            "complete, so a loader that honours it (e.g. target-postgres with `activate_version: true`) deletes "
            "or flags the rows deleted at the source. Loaders that do not, ignore it.",
        ),
    ]


def activates_versions(config: t.Mapping[str, t.Any]) -> bool:
    return config.get(SETTING) is not False


class FullTableVersionsStream(JobSyncStream):
    """A service's base stream whose full-table streams are versioned (see module docstring)."""

    @property
    def emit_activate_version_messages(self) -> bool:
        # The SDK would write ACTIVATE_VERSION before the records; sync() writes it after them.
        return False

    def versioned_streams(self) -> list[FullTableVersionsStream]:
        """This stream and its full-table descendants, when the listing covers them in full."""
        if self.replication_method != REPLICATION_FULL_TABLE or not activates_versions(self.config):
            return []
        found: list[FullTableVersionsStream] = [self] if self.selected else []
        for child in self.child_streams:
            if isinstance(child, FullTableVersionsStream):
                found += child.versioned_streams()
        return found

    def sync_whole(self, context: Context | None, sync: t.Callable[[Context | None], None]) -> None:
        # A child stream is synced once per parent record: its parent versions the whole family.
        versioned = self.versioned_streams() if self.parent_stream_type is None else []
        if not versioned:
            sync(context)
            return
        version = int(time.time() * 1000)
        for stream in versioned:
            stream.table_version = version  # singer-sdk stamps it on every RECORD
        sync(context)
        for stream in versioned:
            stream.write_activate_version(version)
