"""TrackJobChanges streams of tap-jobsync: connections, their employments, pings, the account."""

from __future__ import annotations

from singer_sdk import typing as th

from tap_jobsync.service import TapService
from tap_jobsync.trackjobchanges import api as tjc
from tap_jobsync.trackjobchanges.client import HAS_NEW_JOB_ONLY_SETTING
from tap_jobsync.trackjobchanges.streams import (
    TrackJobChangesAccountStream,
    TrackJobChangesConnectionsStream,
    TrackJobChangesEmploymentsStream,
    TrackJobChangesPingsStream,
)

STREAM_TYPES = [
    TrackJobChangesAccountStream,
    TrackJobChangesConnectionsStream,
    TrackJobChangesEmploymentsStream,
    TrackJobChangesPingsStream,
]


SOURCE = TapService(
    service=tjc.SERVICE,
    settings=[
        *tjc.setting_properties(),
        th.Property(
            HAS_NEW_JOB_ONLY_SETTING,
            th.BooleanType,
            default=False,
            description="Read only connections flagged with a new job (`has_new_job=true`). Connections whose "
            "flag was cleared are then not read at all.",
        ),
    ],
    stream_types=lambda config: list(STREAM_TYPES),
)
