"""Jobcase streams of tap-jobsync (Jobcase Partner Platform API)."""

from __future__ import annotations

import typing as t

from jobsync_common import jobcase as jc
from tap_jobsync.jobcase import api
from tap_jobsync.jobcase.streams import (
    JobcaseCampaignCostDataStream,
    JobcaseCampaignsStream,
    JobcaseCompaniesStream,
    JobcaseJobsStream,
    JobcaseProductsStream,
)
from tap_jobsync.service import TapService

if t.TYPE_CHECKING:
    from tap_jobsync.client import JobSyncStream

STREAM_TYPES: list[type[JobSyncStream]] = [
    JobcaseCompaniesStream,
    JobcaseProductsStream,
    JobcaseJobsStream,
    JobcaseCampaignsStream,
    JobcaseCampaignCostDataStream,
]

SOURCE = TapService(
    service=jc.SERVICE,
    settings=api.setting_properties(),
    stream_types=lambda _config: list(STREAM_TYPES),
)
