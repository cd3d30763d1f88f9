"""ZipRecruiter streams of tap-jobsync (placeholder: being written)."""

from __future__ import annotations

from tap_jobsync.service import TapService

SERVICE = TapService(
    key="ziprecruiter",
    name="ZipRecruiter",
    settings=[],
    credential_settings=("ziprecruiter_api_key",),
    secret_settings=("ziprecruiter_api_key",),
    stream_types=lambda config: [],
)
