"""Simulated JobcaseAPI (placeholder: being written)."""

from __future__ import annotations

from jobsync_sandbox.core import SimulatedAPI


class JobcaseAPI(SimulatedAPI):
    name = "jobcase"
    base_path = "/jobcase/api/platform/v1"
