"""Jobcase streams: companies, jobs and campaigns of every status, products, campaign cost data."""

from __future__ import annotations

import datetime as dt
import typing as t

from typing_extensions import override

from jobsync_common import jobcase as jc
from jobsync_common.errors import ConfigError
from jobsync_common.http import describe_request
from jobsync_common.timestamps import parse_timestamp
from tap_jobsync.jobcase.client import JobcaseStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context, Record


class JobcaseCompaniesStream(JobcaseStream):
    """Every company of the partner. FULL_TABLE: the API has no "changed since" filter."""

    name = "jobcase_companies"
    path = "/company/"
    primary_keys = ("id",)

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record:
        row["companyZipCode"] = jc.normalize_zip(row.get("companyZipCode"))
        return row


class JobcaseJobsStream(JobcaseStream):
    """Every job, one partition per status (the list answers only ``active`` unless asked; see `jobcase_statuses`)."""

    name = "jobcase_jobs"
    path = "/job/"
    primary_keys = ("id",)
    status_kind = "jobs"
    status_field = "jobStatus"

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record:
        row["jobZipCode"] = jc.normalize_zip(row.get("jobZipCode"))
        if "products" in row:
            row["products"] = jc.normalize_products(row["products"])
        return row


class JobcaseCampaignsStream(JobcaseStream):
    """Every campaign, one partition per status (active, paused, ended unless `jobcase_statuses` says otherwise)."""

    name = "jobcase_campaigns"
    path = "/campaign/"
    primary_keys = ("id",)
    status_kind = "campaigns"


class JobcaseProductsStream(JobcaseStream):
    """Products the partner may order for jobs (``partnerId`` = ``jobcase_partner_id``).

    When selected without ``jobcase_partner_id`` the sync fails with a one-line
    error naming the setting rather than silently emitting nothing.
    """

    name = "jobcase_products"
    path = "/product/"
    primary_keys = ("id",)
    records_key = None  # the body is a bare list

    def get_new_paginator(self) -> None:
        return None  # one unpaginated list

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        return {"partnerId": self.config.get(jc.PARTNER_ID_SETTING)}

    def get_records(self, context: Context | None) -> t.Iterable[Record]:
        if self.config.get(jc.PARTNER_ID_SETTING) in (None, ""):
            msg = (
                f"Stream `{self.name}` needs the setting `{jc.PARTNER_ID_SETTING}` (Jobcase lists products "
                "per partner); set it or deselect the stream."
            )
            raise ConfigError(msg)
        yield from super().get_records(context)

    def validate_response(self, response: requests.Response) -> None:
        if response.status_code in (400, 404):
            endpoint = describe_request(response.request.method or "GET", response.url)
            msg = (
                f"{self.service.name}: {endpoint} rejected with HTTP {response.status_code}; check the setting "
                f"`{jc.PARTNER_ID_SETTING}` ({response.text[:200]})."
            )
            raise ConfigError(msg)
        super().validate_response(response)


class JobcaseCampaignCostDataStream(JobcaseStream):
    """Click and applicant cost events of every campaign, incremental on ``time``.

    The endpoint has no time filter: every run pages through all rows and keeps
    those strictly newer than the bookmark (``start_date`` inclusive on the first
    run). Rows have no id; the key is (campaignId, jobId, eventType, source, time).
    ``time`` is rewritten in one UTC form with microseconds, so the SDK's string
    comparison of bookmark values orders them correctly.
    """

    name = "jobcase_campaign_cost_data"
    path = "/campaign/cost_data/"
    primary_keys = ("campaignId", "jobId", "eventType", "source", "time")
    replication_key = "time"

    def get_records(self, context: Context | None) -> t.Iterable[Record]:
        keep = self.bookmark_filter(context)
        for record in super().get_records(context):
            if keep(record):
                yield record

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record:
        moment = parse_timestamp(row.get("time"))
        if moment is not None:
            row["time"] = moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
        return row
