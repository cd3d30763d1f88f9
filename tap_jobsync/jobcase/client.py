"""The Jobcase base stream: API-key header, offset/limit paging, the 200/minute limit."""

from __future__ import annotations

import typing as t
from functools import cached_property
from pathlib import Path

from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.pagination import OffsetPaginator
from singer_sdk.schema.source import SchemaDirectory, StreamSchema

from jobsync_common import jobcase as jc
from jobsync_common.http import decode_json
from jobsync_common.paging import pages_for
from tap_jobsync.client import GuardedPaginator
from tap_jobsync.versions import FullTableVersionsStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

SCHEMAS_DIR = Path(__file__).parent / "schemas"


class JobcasePaginator(GuardedPaginator, OffsetPaginator):
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

    service_key = jc.KEY
    service_name = jc.NAME
    auth_settings = jc.AUTH_SETTINGS
    default_requests_per_minute = jc.DOCUMENTED_REQUESTS_PER_MINUTE
    records_key = "results"
    #: schemas/<stream name>.json, next to the streams.
    schema = StreamSchema(SchemaDirectory(SCHEMAS_DIR))
    #: Values of the list's ``status`` filter; each becomes a partition (the API answers only ``active`` by default).
    statuses: t.ClassVar[tuple[str, ...]] = ()
    #: Partition key: the record field holding the status, so the SDK adds no extra field to records.
    status_field: t.ClassVar[str] = "status"

    @cached_property
    def authenticator(self) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(key=jc.API_KEY_HEADER, value=self.config[jc.API_KEY_SETTING], location="header")

    @property
    def page_size(self) -> int:
        return int(self.config.get("jobcase_page_size") or jc.LIST_PAGE_SIZE)

    @property
    def partitions(self) -> list[dict] | None:
        return [{self.status_field: status} for status in self.statuses] or None

    def get_new_paginator(self) -> JobcasePaginator:
        return self.guard_paginator(JobcasePaginator(start_value=0, page_size=self.page_size))

    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"offset": next_page_token or 0, "limit": self.page_size}
        if context and self.status_field in context:
            params["status"] = context[self.status_field]
        return params
