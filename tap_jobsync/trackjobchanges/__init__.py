"""TrackJobChanges streams of tap-jobsync: connections, their employments, pings, the account."""

from __future__ import annotations

import typing as t

from tap_jobsync.service import TapService
from tap_jobsync.trackjobchanges import api as tjc
from tap_jobsync.trackjobchanges.streams import (
    TrackJobChangesAccountStream,
    TrackJobChangesConnectionsStream,
    TrackJobChangesEmploymentsStream,
    TrackJobChangesPingsStream,
)

if t.TYPE_CHECKING:
    from tap_jobsync.client import JobSyncStream

STREAM_TYPES: list[type[JobSyncStream]] = [
    TrackJobChangesAccountStream,
    TrackJobChangesConnectionsStream,
    TrackJobChangesEmploymentsStream,
    TrackJobChangesPingsStream,
]

SOURCE = TapService(
    service=tjc.SERVICE,
    settings=tjc.setting_properties(),
    stream_types=lambda _config: list(STREAM_TYPES),
)
