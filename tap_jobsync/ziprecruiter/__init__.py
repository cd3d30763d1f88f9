"""ZipRecruiter Job Alerts API v2: subscribers, their job searches, and batch jobs."""

from __future__ import annotations

from jobsync_common import ziprecruiter as zr
from tap_jobsync.service import TapService
from tap_jobsync.ziprecruiter.streams import (
    ZipRecruiterBatchesStream,
    ZipRecruiterSubscriberSearchesStream,
    ZipRecruiterSubscribersStream,
)

SERVICE = TapService(
    key=zr.SERVICE_KEY,
    name=zr.SERVICE_NAME,
    settings=zr.setting_properties(),
    credential_settings=(zr.API_KEY_SETTING,),
    secret_settings=zr.SECRET_SETTINGS,
    stream_types=lambda config: [
        ZipRecruiterSubscribersStream,
        ZipRecruiterSubscriberSearchesStream,
        ZipRecruiterBatchesStream,
    ],
)
