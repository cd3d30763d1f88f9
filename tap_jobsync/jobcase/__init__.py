"""Jobcase streams of tap-jobsync (Jobcase Partner Platform API)."""

from __future__ import annotations

from singer_sdk import typing as th

from jobsync_common import jobcase as jc
from tap_jobsync.jobcase.streams import (
    JobcaseCampaignCostDataStream,
    JobcaseCampaignsStream,
    JobcaseCompaniesStream,
    JobcaseJobsStream,
    JobcaseProductsStream,
)
from tap_jobsync.service import TapService

STREAM_TYPES = [
    JobcaseCompaniesStream,
    JobcaseProductsStream,
    JobcaseJobsStream,
    JobcaseCampaignsStream,
    JobcaseCampaignCostDataStream,
]

SOURCE = TapService(
    service=jc.SERVICE,
    settings=[
        *jc.setting_properties(),
        th.Property(
            "jobcase_page_size",
            th.IntegerType(minimum=1, maximum=10_000),
            default=jc.LIST_PAGE_SIZE,
            description="Rows per list request (`limit`). Jobcase's own default is 100 and no maximum is "
            "documented; fewer, larger pages use less of the 200 requests a minute.",
        ),
    ],
    stream_types=lambda config: list(STREAM_TYPES),
)
