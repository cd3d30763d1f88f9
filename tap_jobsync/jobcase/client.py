"""The Jobcase base stream: API-key header, offset/limit paging, the 200/minute limit."""

from __future__ import annotations

import collections
import typing as t
from functools import cached_property
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.pagination import OffsetPaginator
from singer_sdk.schema.source import SchemaDirectory, StreamSchema

from jobsync_common import jobcase as jc
from jobsync_common.errors import JobSyncError, excerpt
from jobsync_common.http import decode_json, describe_request
from jobsync_common.paging import pages_for
from tap_jobsync.client import GuardedPaginator
from tap_jobsync.jobcase import api
from tap_jobsync.versions import FullTableVersionsStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context, Record

SCHEMAS_DIR = Path(__file__).parent / "schemas"


class StatusRefusedError(JobSyncError):
    """Jobcase refused a value of the `status` filter (the document lists none)."""


class JobcasePaginator(GuardedPaginator[int], OffsetPaginator):
    """``offset``/``limit`` paging over ``{"count", "results"}`` bodies (see ``jc.next_offset``)."""

    def pages_allowed(self, response: requests.Response) -> int | None:
        payload = decode_json(response)
        return pages_for(payload.get("count"), self.page_size) if isinstance(payload, dict) else None

    def has_more(self, response: requests.Response) -> bool:
        return jc.next_offset(self._value, decode_json(response), self.page_size) is not None

    def get_next(self, response: requests.Response) -> int | None:
        return jc.next_offset(self._value, decode_json(response), self.page_size)


class JobcaseStream(FullTableVersionsStream):
    """Base of the Jobcase streams (one per documented list endpoint)."""

    service = jc.SERVICE
    records_key: t.ClassVar[str | None] = "results"
    #: schemas/<stream name>.json, next to the streams.
    schema = StreamSchema(SchemaDirectory(SCHEMAS_DIR))
    #: Which ``jobcase_statuses`` list gives the ``status`` filter values (``jobs``, ``campaigns``); each value is
    #: a partition (the API answers only ``active`` by default). None: no status filter.
    status_kind: t.ClassVar[str | None] = None
    #: Partition key: the record field holding the status, so the SDK adds no extra field to records.
    status_field: t.ClassVar[str] = "status"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # The document lists no status values: the summary says which ones records carried and which were refused.
        self.statuses_seen: collections.Counter[str] = collections.Counter()
        self.statuses_refused: list[str] = []

    @cached_property
    def authenticator(self) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(key=jc.API_KEY_HEADER, value=self.config[jc.API_KEY_SETTING], location="header")

    @property
    def page_size(self) -> int:
        return api.page_size(self.config)

    @property
    def partitions(self) -> list[dict[str, t.Any]] | None:
        if self.status_kind is None:
            return None
        return [{self.status_field: status} for status in jc.statuses(self.config, self.status_kind)]

    def validate_response(self, response: requests.Response) -> None:
        if response.status_code == 400 and self.status_kind is not None:
            query = parse_qs(urlsplit(response.url).query)
            statuses = query.get("status")
            status = statuses[0] if statuses else None
            # Only the first page: a refusal later in a listing is not about the status value.
            if status and (query.get("offset") or ["0"])[0] == "0":
                endpoint = describe_request(response.request.method or "GET", response.url)
                consequence = f"Stream `{self.name}` skips it: {self.status_kind} in that status are not synced."
                answer = excerpt(response.text, 160)
                message = jc.refused_status_message(self.status_kind, status, endpoint, answer, consequence)
                raise StatusRefusedError(message)
        super().validate_response(response)

    def get_records(self, context: Context | None) -> t.Iterable[Record]:
        try:
            yield from super().get_records(context)
        except StatusRefusedError as refused:
            # One partition the API does not know must not fail the whole stream (nothing of it was emitted).
            self.logger.warning("%s", refused)
            self.statuses_refused.append(str((context or {}).get(self.status_field)))

    def parse_response(self, response: requests.Response) -> t.Iterable[Record]:
        records = self.records_in(response)
        if self.status_kind is not None:
            self.statuses_seen.update(str(record.get(self.status_field)) for record in records)
        return records

    def log_sync_costs(self) -> None:
        super().log_sync_costs()
        if self.status_kind is None or not (self.selected or self.has_selected_descendents):
            return
        # The document lists no status values: say which ones the records carried.
        seen, refused = self.statuses_seen, self.statuses_refused
        self.logger.info(
            "%s: %s statuses seen in records: %s (status filters listed: %s%s)",
            self.service.name,
            self.name,
            ", ".join(f"{status} {count}" for status, count in sorted(seen.items())) or "none",
            ", ".join(s for s in jc.statuses(self.config, self.status_kind) if s not in refused),
            f"; refused: {', '.join(refused)}" if refused else "",
        )

    def get_new_paginator(self) -> JobcasePaginator | None:
        return self.guard_paginator(JobcasePaginator(start_value=0, page_size=self.page_size))

    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"offset": next_page_token or 0, "limit": self.page_size}
        if context and self.status_field in context:
            params["status"] = context[self.status_field]
        return params
