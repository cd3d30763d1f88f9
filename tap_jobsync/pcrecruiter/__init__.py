"""PCRecruiter streams of tap-jobsync (placeholder: being written)."""

from __future__ import annotations

from tap_jobsync.service import TapService

SERVICE = TapService(
    key="pcrecruiter",
    name="PCRecruiter",
    settings=[],
    credential_settings=("pcrecruiter_api_key",),
    secret_settings=("pcrecruiter_api_key",),
    stream_types=lambda config: [],
)
