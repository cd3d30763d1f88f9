"""ZipRecruiter streams: subscribers, each subscriber's job searches, batch jobs.

All three are full table: the query actions filter by equality only, so there is
no way to ask for what changed (a deactivation or a new search) since a bookmark.
"""

from __future__ import annotations

import typing as t

from typing_extensions import override

from jobsync_common import ziprecruiter as zr
from tap_jobsync.ziprecruiter.client import ZipRecruiterStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context, Record


class ZipRecruiterSubscribersStream(ZipRecruiterStream):
    """Job seekers subscribed to job alerts (``GET /subscriber``); emails arrive as MD5 only."""

    name = "ziprecruiter_subscribers"
    path = "/subscriber"
    api_properties = zr.SUBSCRIBER_PROPERTIES

    def get_records(self, context: Context | None) -> t.Iterable[Record]:
        # Job-search requests of the next subscribers run while this one is emitted.
        return self.prefetch_children(super().get_records(context), context)

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        return zr.normalize_subscriber(row)

    @override
    def get_child_context(self, record: Record, context: Context | None) -> Context:
        return {"subscriber_id": record["id"]}


class ZipRecruiterSubscriberSearchesStream(ZipRecruiterStream):
    """A subscriber's job searches (``GET /subscriber/ID/searches``), with ``subscriber_id``."""

    name = "ziprecruiter_subscriber_searches"
    path = "/subscriber/{subscriber_id}/searches"
    parent_stream_type = ZipRecruiterSubscribersStream
    # Full table: one state entry for the stream, not one per subscriber.
    state_partitioning_keys: t.ClassVar[list[str]] = []
    api_properties = zr.SEARCH_PROPERTIES

    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        record = zr.normalize_search(row)
        record["subscriber_id"] = (context or {})["subscriber_id"]
        return record


class ZipRecruiterBatchesStream(ZipRecruiterStream):
    """Submitted batch upload jobs (``GET /batch``): status and counted result."""

    name = "ziprecruiter_batches"
    path = "/batch"
    api_properties = zr.BATCH_PROPERTIES

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        return zr.normalize_batch(row)
