"""TrackJobChanges streams of tap-jobsync (placeholder: being written)."""

from __future__ import annotations

from tap_jobsync.service import TapService

SERVICE = TapService(
    key="trackjobchanges",
    name="TrackJobChanges",
    settings=[],
    credential_settings=("trackjobchanges_api_key",),
    secret_settings=("trackjobchanges_api_key",),
    stream_types=lambda config: [],
)
