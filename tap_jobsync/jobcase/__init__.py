"""Jobcase streams of tap-jobsync (placeholder: being written)."""

from __future__ import annotations

from tap_jobsync.service import TapService

SERVICE = TapService(
    key="jobcase",
    name="Jobcase",
    settings=[],
    credential_settings=("jobcase_api_key",),
    secret_settings=("jobcase_api_key",),
    stream_types=lambda config: [],
)
