"""ZipRecruiter Job Alerts API v2: subscribers, their job searches, and batch jobs."""

from __future__ import annotations

from jobsync_common import ziprecruiter as zr
from tap_jobsync.service import TapService
from tap_jobsync.ziprecruiter.streams import (
    ZipRecruiterBatchesStream,
    ZipRecruiterSubscriberSearchesStream,
    ZipRecruiterSubscribersStream,
)

SOURCE = TapService(
    service=zr.SERVICE,
    settings=zr.setting_properties(),
    stream_types=lambda _config: [
        ZipRecruiterSubscribersStream,
        ZipRecruiterSubscriberSearchesStream,
        ZipRecruiterBatchesStream,
    ],
)
