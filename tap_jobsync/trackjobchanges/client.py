"""Base stream of the TrackJobChanges API v1: `key` header auth and `page` pagination."""

from __future__ import annotations

import typing as t
from functools import cached_property
from pathlib import Path

from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.pagination import PageNumberPaginator
from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from typing_extensions import override

from jobsync_common.errors import ConfigError
from jobsync_common.http import decode_json, describe_request
from jobsync_common.paging import pages_for
from tap_jobsync.client import GuardedPaginator
from tap_jobsync.trackjobchanges import api as tjc
from tap_jobsync.versions import FullTableVersionsStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context


class TrackJobChangesPaginator(GuardedPaginator[int], PageNumberPaginator):
    """1-based ``page``; stop at ``last_page: true`` (or, lacking the flag, at an empty page)."""

    def __init__(self) -> None:
        super().__init__(start_value=1)
        #: Records on the first page: the server's page size (the document does not state it).
        self._page_size: int | None = None

    def pages_allowed(self, response: requests.Response) -> int | None:
        payload = decode_json(response)
        if not isinstance(payload, dict):
            return None
        if self._page_size is None:
            self._page_size = len(payload.get("data") or [])
        return pages_for(payload.get("total_count"), self._page_size)

    def has_more(self, response: requests.Response) -> bool:
        payload = decode_json(response)
        if not isinstance(payload, dict):
            return False
        # Every documented list carries `last_page`; without it we keep going and the
        # SDK stops at the first empty page, which cannot lose records.
        return payload.get("last_page") is not True


class TrackJobChangesStream(FullTableVersionsStream):
    """Every TrackJobChanges stream: records under ``data``, `group` on every call."""

    service = tjc.SERVICE
    records_key = "data"
    #: schemas/<stream name>.json, next to the streams.
    schema = StreamSchema(SchemaDirectory(Path(__file__).parent / "schemas"))

    @cached_property
    def authenticator(self) -> APIKeyAuthenticator:
        # Header, never the query string: the API copies query parameters into its ping history.
        return APIKeyAuthenticator(key=tjc.AUTH_HEADER, value=str(self.config[tjc.API_KEY_SETTING]), location="header")

    def get_new_paginator(self) -> TrackJobChangesPaginator | None:
        return self.guard_paginator(TrackJobChangesPaginator())

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        return {tjc.PAGE_PARAM: next_page_token or 1, **tjc.group_param(self.config)}

    def validate_response(self, response: requests.Response) -> None:
        # Account-level endpoints exist for every account: a 404 there means the group does not.
        if response.status_code == 404 and tjc.group_param(self.config):
            endpoint = describe_request(response.request.method or "GET", response.url)
            msg = (
                f"{self.service.name}: {endpoint} answered HTTP 404; check the setting "
                f"`{tjc.GROUP_SETTING}` (group {self.config[tjc.GROUP_SETTING]!r} may not exist in this account)."
            )
            raise ConfigError(msg)
        super().validate_response(response)
