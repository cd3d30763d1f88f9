"""The ZipRecruiter base stream: HTTP Basic auth with the API key, skip/limit paging."""

from __future__ import annotations

import typing as t
from functools import cached_property
from pathlib import Path

from singer_sdk.pagination import OffsetPaginator
from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from typing_extensions import override

from jobsync_common import ziprecruiter as zr
from jobsync_common.http import decode_json, describe_request
from jobsync_common.paging import pages_for
from tap_jobsync.client import GuardedPaginator
from tap_jobsync.versions import FullTableVersionsStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context, RequestFunc


class ZipRecruiterPaginator(GuardedPaginator[int], OffsetPaginator):
    """``skip`` paging: stop at ``total_count`` or on a short page, whichever comes first.

    The next ``skip`` is our own ``skip`` plus the results actually received: it
    depends neither on the echoed ``skip``/``offset`` (the document names it both
    ways) nor on the server honouring ``limit``.
    """

    def _received(self, response: requests.Response) -> tuple[int, int | None]:
        results, _, total = zr.normalize_query_page(decode_json(response))
        return len(results), total

    def pages_allowed(self, response: requests.Response) -> int | None:
        return pages_for(self._received(response)[1], self.page_size)

    def has_more(self, response: requests.Response) -> bool:
        received, total = self._received(response)
        if received < self.page_size:
            return False
        return total is None or self.current_value + received < total

    def get_next(self, response: requests.Response) -> int | None:
        return self.current_value + self._received(response)[0]


class ZipRecruiterStream(FullTableVersionsStream):
    """Base of the ZipRecruiter streams: every one is a query action with ``properties``."""

    service = zr.SERVICE
    records_key = "results"
    #: schemas/<stream name>.json, next to the streams.
    schema = StreamSchema(SchemaDirectory(Path(__file__).parent / "schemas"))
    primary_keys: t.ClassVar[list[str]] = ["id"]
    # No "changed since" filter exists on any query action: every stream is full table.
    replication_key = None

    #: Properties to ask for (the query action answers only `id` without them).
    api_properties: t.ClassVar[tuple[str, ...]] = ()

    @cached_property
    def authenticator(self) -> requests.auth.HTTPBasicAuth:
        return zr.basic_auth(self.config[zr.API_KEY_SETTING])

    def get_new_paginator(self) -> ZipRecruiterPaginator:
        return self.guard_paginator(ZipRecruiterPaginator(start_value=0, page_size=zr.MAX_PAGE_SIZE))

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        # `properties` is (re)written in the form this API takes by request_decorator.
        return {"limit": zr.MAX_PAGE_SIZE, "skip": next_page_token or 0}

    @cached_property
    def dialect(self) -> zr.Dialect:
        return zr.dialect(self.url_base)

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Ask for ``api_properties`` in the form the API takes (see ``zr.Dialect``); warn when it ignores them."""
        call = super().request_decorator(func)

        def with_properties(prepared_request: requests.PreparedRequest, context: Context | None) -> requests.Response:
            def send(form: str) -> requests.Response:
                request = prepared_request.copy()
                request.url = zr.properties_query(prepared_request.url or "", self.api_properties, form)
                return call(request, context)

            response, missing = self.dialect.fetch(send, self.records_in, self.api_properties)
            if missing and self.dialect.warn_once(self.name):
                self.logger.warning(
                    "%s: %s ignores `properties` (sent comma-joined and as repeated parameters): its answer lacks "
                    "%s, so %s records are emitted without them. The document does not say how `properties` is "
                    "sent; these fields stay empty until ZipRecruiter answers them.",
                    self.service.name,
                    describe_request("GET", response.url),
                    ", ".join(missing),
                    self.name,
                )
            return response

        return with_properties
