"""Simulated WorkableAPI (placeholder: being written)."""

from __future__ import annotations

from jobsync_sandbox.core import SimulatedAPI


class WorkableAPI(SimulatedAPI):
    name = "workable"
    base_path = "/workable/spi/v3"
