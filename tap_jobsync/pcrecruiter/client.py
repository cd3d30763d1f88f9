"""The PCRecruiter base stream: session auth, Page/ResultsPerPage paging, change-tracking headers.

What each request sends is a :class:`ReadMode` (plain listing, changes since a version,
an app-name pull); the streams in ``streams.py`` decide which reads a run makes. The
session and the app-name pull belong to the run (``run.py``), shared by its streams.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from singer_sdk.pagination import PageNumberPaginator
from typing_extensions import override

from jobsync_common.errors import ConfigError, JobSyncError, ServiceAuthError
from jobsync_common.http import decode_json
from jobsync_common.paging import pages_for
from tap_jobsync.client import GuardedPaginator, JobSyncStream
from tap_jobsync.pcrecruiter import api as pcr
from tap_jobsync.pcrecruiter.auth import SessionRefusedError

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context, Record, RequestFunc
    from singer_sdk.streams.rest import HTTPRequest, PageContext

    from tap_jobsync.pcrecruiter.auth import PCRecruiterSessionAuthenticator
    from tap_jobsync.pcrecruiter.run import AppNamePull, PCRecruiterRun


class ChangeTrackingVersionExpiredError(JobSyncError):
    """The API no longer keeps the changes since the version we asked for (retention window)."""

    def __init__(self, stream: str, minimum: int | None) -> None:
        self.minimum = minimum
        named = f" (minimum valid version {minimum})" if minimum is not None else ""
        super().__init__(
            f"{pcr.SERVICE.name}: {stream}: change-tracking version expired{named}; PCRecruiter keeps changes "
            f"for about {pcr.RETENTION.days} days."
        )


class PCRecruiterPaginator(GuardedPaginator[int], PageNumberPaginator):
    """``Page`` numbers from 1: stop on a short page or once ``TotalRecords`` are covered."""

    def __init__(self, start_value: int, per_page: int) -> None:
        super().__init__(start_value)
        self.per_page = per_page
        self.start_page = start_value

    def pages_allowed(self, response: requests.Response) -> int | None:
        body = decode_json(response)
        total = body.get(pcr.TOTAL_KEY) if isinstance(body, dict) else None
        # Passes may start past page 1 (re-reads): the bound counts from the first page.
        allowed = pages_for(total, self.per_page)
        return None if allowed is None else allowed - (self.start_page - 1)

    def has_more(self, response: requests.Response) -> bool:
        body = decode_json(response)
        body = body if isinstance(body, dict) else {}
        received = len(body.get(pcr.RESULTS_KEY) or [])
        total = body.get(pcr.TOTAL_KEY)
        if received < self.per_page:
            # A short page is the last one, unless the same answer says more remain: then the
            # server capped ResultsPerPage, and Page numbers no longer mean what we think.
            if isinstance(total, int) and (self.current_value - 1) * self.per_page + received < total:
                msg = (
                    f"PCRecruiter answered {received} results for {pcr.RESULTS_PER_PAGE_PARAM}={self.per_page} "
                    f"on page {self.current_value} of {total} records: it caps the page size. Lower the "
                    f"setting `{pcr.RESULTS_PER_PAGE_SETTING}`."
                )
                raise ConfigError(msg)
            return False
        # A change set can grow while we page (TotalRecords read fresh from every page).
        return not isinstance(total, int) or self.current_value * self.per_page < total


@dataclass(frozen=True)
class ReadMode:
    """What one pass over an entity's pages sends."""

    #: ``X-CHANGETRACKING`` value (a version), or None for a plain listing.
    tracking: str | None = None
    #: App-name pull supplying ``X-CHANGETRACKING`` per request (START first, then the app name).
    pull: AppNamePull | None = None
    #: ``X-CHANGETRACKING-OPERATION`` (None: all operations).
    operations: str | None = None
    first_page: int = 1
    fields: str | None = None
    query: str | None = None


def page_number(response: requests.Response) -> int:
    values = parse_qs(urlsplit(response.request.url or "").query).get(pcr.PAGE_PARAM)
    return int(values[0]) if values and values[0].isdigit() else 1


class PCRecruiterStream(JobSyncStream):
    """Base of the PCRecruiter streams (see module docstring)."""

    service = pcr.SERVICE
    records_key = pcr.RESULTS_KEY
    service_run: PCRecruiterRun

    def __init__(self, *args: t.Any, run: PCRecruiterRun, **kwargs: t.Any) -> None:
        super().__init__(*args, run=run, **kwargs)
        #: What the next pass over the pages sends (see read_pages).
        self.read_mode = ReadMode()

    @property
    def authenticator(self) -> PCRecruiterSessionAuthenticator:
        # One session for every PCRecruiter stream of the run: a single access-token call.
        return self.service_run.authenticator(self.http, self.url_base)

    @property
    def results_per_page(self) -> int:
        return pcr.results_per_page(self.config)

    # -- requests ------------------------------------------------------------------------------------------
    def get_new_paginator(self) -> PCRecruiterPaginator:
        return self.guard_paginator(PCRecruiterPaginator(self.read_mode.first_page, self.results_per_page))

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {
            pcr.RESULTS_PER_PAGE_PARAM: self.results_per_page,
            pcr.PAGE_PARAM: next_page_token or 1,
        }
        if self.read_mode.query:
            params[pcr.QUERY_PARAM] = self.read_mode.query
        if self.read_mode.fields:
            params[pcr.FIELDS_PARAM] = self.read_mode.fields
        return params

    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        request = super().get_http_request(page=page)
        request.safe_query_chars = ","
        mode = self.read_mode
        tracking = mode.pull.header() if mode.pull is not None else mode.tracking
        if tracking is not None:
            request.headers[pcr.TRACKING_HEADER] = tracking
            if mode.operations:
                request.headers[pcr.OPERATION_HEADER] = mode.operations
        return request

    def read_pages(self, context: Context | None, mode: ReadMode) -> t.Iterator[Record]:
        """Every row of one pass over the entity's pages, sent as ``mode`` says."""
        self.read_mode = mode
        try:
            yield from self.request_records(context)
        finally:
            self.read_mode = ReadMode()

    def send(self, path: str, tracking: str, context: Context | None = None) -> requests.Response:
        """One GET with ``X-CHANGETRACKING`` (the null endpoint), with the stream's retries and auth."""
        return self.send_get(f"{self.url_base}/{path}", headers={pcr.TRACKING_HEADER: tracking}, context=context)

    def current_version(self, context: Context | None = None) -> int:
        """``GET null`` with ``X-CHANGETRACKING: GET``: the database's current change-tracking version."""
        response = self.send(pcr.NULL_PATH, pcr.CURRENT_VERSION_COMMAND, context)
        version = pcr.parse_version(response.headers.get(pcr.TRACKING_HEADER))
        if version is None:
            msg = (
                f"{pcr.SERVICE.name}: GET {pcr.NULL_PATH} answered no numeric {pcr.TRACKING_HEADER} header; "
                "is change tracking enabled for this database?"
            )
            raise JobSyncError(msg)
        return version

    # -- responses -------------------------------------------------------------------------------------------
    def validate_response(self, response: requests.Response) -> None:
        if pcr.is_expired_version_answer(response.status_code, response.text):
            raise ChangeTrackingVersionExpiredError(self.name, pcr.minimum_valid_version(response.text))
        super().validate_response(response)

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        call = super().request_decorator(func)

        def renewing(prepared_request: requests.PreparedRequest, context: Context | None) -> requests.Response:
            try:
                return call(prepared_request, context)
            except SessionRefusedError:
                raise
            except ServiceAuthError as exc:
                if exc.status != 401:
                    raise
                # Sessions expire; log in again once. A second 401 is a real auth failure.
                self.logger.info("%s: session refused (HTTP 401); requesting a new session", self.service.name)
                self.authenticator.renew(prepared_request)
                return call(prepared_request, context)

        return renewing
