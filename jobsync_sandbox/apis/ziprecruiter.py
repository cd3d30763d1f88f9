"""Simulated ZipRecruiterAPI (placeholder: being written)."""

from __future__ import annotations

from jobsync_sandbox.core import SimulatedAPI


class ZipRecruiterAPI(SimulatedAPI):
    name = "ziprecruiter"
    base_path = "/ziprecruiter/job-alerts/v2"
