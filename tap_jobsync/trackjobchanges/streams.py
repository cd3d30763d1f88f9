"""TrackJobChanges streams: account snapshot, connections, their employments, ping history.

The API has no "changed since" filter, so incremental streams read every page and
keep only records newer than the bookmark (``JobSyncStream.bookmark_filter``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import typing as t

from typing_extensions import override

from jobsync_common.http import decode_json, describe_request
from jobsync_common.redact import REDACTED, is_sensitive_name, scrub
from tap_jobsync.trackjobchanges import api as tjc
from tap_jobsync.trackjobchanges.client import TrackJobChangesStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context, Record


class TrackJobChangesAccountStream(TrackJobChangesStream):
    """``GET /account``: one snapshot of the account (plan usage) per run."""

    name = "trackjobchanges_account"
    path = "/account"
    primary_keys = ("email",)
    replication_key = None

    def get_new_paginator(self) -> None:
        # One object, not a list: "paginating" it would read the same account forever.
        return None

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        row["snapshot_at"] = dt.datetime.now(dt.UTC).isoformat()
        return row


class TrackJobChangesConnectionsStream(TrackJobChangesStream):
    """``GET /connections``: incremental on ``employment_checked_at``, filtered client-side.

    A job change or a re-check moves ``employment_checked_at``, so an incremental
    run emits (and reads employments for) only those connections. Edits that do not
    move it (unflagging, deletions) are not seen incrementally.
    """

    name = "trackjobchanges_connections"
    path = "/connections"
    primary_keys = ("id",)
    replication_key = "employment_checked_at"
    # Ordered by id, not by the replication key: the bookmark is only promoted (and
    # capped at the run's start time by the SDK's signpost) once every page was read.
    is_sorted = False

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        #: ``total_count`` of every page read in this sync (see _hold_bookmark_if_list_shrank).
        self._total_counts: list[int] = []
        #: Connections listed without ``employment_checked_at``, and connections listed (see _warn_about_missing_key).
        self._without_key = [0, 0]

    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        if self.config.get(tjc.HAS_NEW_JOB_ONLY_SETTING):
            params["has_new_job"] = "true"
        return params

    def parse_response(self, response: requests.Response) -> t.Iterable[Record]:
        payload = decode_json(response)
        if isinstance(payload, dict) and isinstance(payload.get("total_count"), int):
            self._total_counts.append(payload["total_count"])
        return super().parse_response(response)

    def get_records(self, context: Context | None) -> t.Iterable[Record]:
        self._total_counts = []
        self._without_key = [0, 0]
        keep = self.bookmark_filter(context)
        # Filter before prefetching, so unchanged connections cost no employment requests.
        changed = (record for record in self._counted(super().get_records(context)) if keep(record))
        yield from self.prefetch_children(changed, context)
        self._hold_bookmark_if_list_shrank(context)
        self._warn_about_missing_key()

    def _counted(self, records: t.Iterable[Record]) -> t.Iterator[Record]:
        for record in records:
            self._without_key[0] += record.get(self.replication_key) is None
            self._without_key[1] += 1
            yield record

    def _warn_about_missing_key(self) -> None:
        """One warning per run when connections come without the incremental key (they are emitted every run).

        "Get connection" shows ``employment_checked_at``; the list example does not. A list without it
        makes every run emit every connection again and read all their employments: nothing is lost,
        but an incremental run costs as much as a full one.
        """
        missing, listed = self._without_key
        if not missing:
            return
        if missing == listed:
            self.logger.warning(
                "%s: none of the %d connections listed carries `employment_checked_at` (the incremental key: "
                '"Get connection" shows it, the list example does not). Every run emits every connection again '
                "and reads all their employments (one request each); the bookmark cannot advance. Nothing is "
                "lost, but incremental runs cost as much as full ones.",
                self.service.name,
                listed,
            )
            return
        self.logger.warning(
            "%s: %d of %d connections were listed without `employment_checked_at` (still being processed, or not "
            "in the list's answer): they and their employments are emitted on every run until it appears.",
            self.service.name,
            missing,
            listed,
        )

    def _hold_bookmark_if_list_shrank(self, context: Context | None) -> None:
        """Keep the old bookmark when connections disappeared while we paged.

        Pages are by position: a deletion on an earlier page shifts a later record
        onto a page already read, and that record would be skipped. Not advancing
        the bookmark makes the next run read it again (duplicates, never a loss).
        """
        counts = self._total_counts
        drops = [(before, after) for before, after in itertools.pairwise(counts) if after < before]
        if not drops:
            return
        self.logger.warning(
            "%s: connections were deleted while the list was read (total_count %d -> %d); "
            "keeping the previous bookmark so the next run re-reads anything skipped.",
            self.service.name,
            *drops[0],
        )
        markers = self.get_context_state(context).get("progress_markers") or {}
        markers.pop("replication_key", None)
        markers.pop("replication_key_value", None)

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        # A list item may lack the key (see _warn_about_missing_key): null, so the SDK's state keeping accepts it.
        row.setdefault(self.replication_key, None)
        return row

    @override
    def get_child_context(self, record: Record, context: Context | None) -> Context:
        return {"connection_id": record["id"]}


class TrackJobChangesEmploymentsStream(TrackJobChangesStream):
    """``GET /connections/:id/employments``: the full history of each emitted connection."""

    name = "trackjobchanges_employments"
    parent_stream_type = TrackJobChangesConnectionsStream
    path = "/connections/{connection_id}/employments"
    primary_keys = ("id",)
    replication_key = None
    # One state entry for the stream, not one partition per connection (there can be a million).
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def validate_response(self, response: requests.Response) -> None:
        # The connection was destroyed after the list was read: it has no employments to
        # read any more, which must not fail the whole run (the body holds no `data`).
        if response.status_code == 404:
            self.logger.warning(
                "%s: %s answered 404 (connection destroyed during the run); no employments read for it.",
                self.service.name,
                describe_request(response.request.method or "GET", response.url),
            )
            return
        super().validate_response(response)

    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        if row.get("connection_id") is None and context:
            row["connection_id"] = context["connection_id"]
        return row


class TrackJobChangesPingsStream(TrackJobChangesStream):
    """``GET /account/pings``: the API usage log, incremental on ``created_at``.

    Pings have no id; the key is ``created_at`` + ``endpoint`` + a SHA-256 of the
    redacted ``query_params``. Two identical calls in the same millisecond collapse
    into one record. The API echoes query-string credentials into ``query_params``:
    they are redacted before a record leaves the tap.
    """

    name = "trackjobchanges_pings"
    path = "/account/pings"
    primary_keys = ("created_at", "endpoint", "query_params_hash")
    replication_key = "created_at"
    is_sorted = False

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        # Pings never change once written, so there is no mid-run edit to guard
        # against; capping the bookmark at the run's start would re-emit this run's
        # own calls next time.
        return None

    def get_records(self, context: Context | None) -> t.Iterable[Record]:
        keep = self.bookmark_filter(context)
        yield from (record for record in super().get_records(context) if keep(record))

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        # `query_params.key` (and any other credential-named parameter) -> REDACTED.
        row = _redacted(row)
        canonical = json.dumps(row.get("query_params"), sort_keys=True, separators=(",", ":"), default=str)
        row["query_params_hash"] = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        return row


def _redacted(value: t.Any) -> t.Any:
    """Copy with credential-named keys hidden and every registered secret scrubbed, at any depth."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_sensitive_name(k) and v is not None else _redacted(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value
