"""Simulated PCRecruiterAPI (placeholder: being written)."""

from __future__ import annotations

from jobsync_sandbox.core import SimulatedAPI


class PCRecruiterAPI(SimulatedAPI):
    name = "pcrecruiter"
    base_path = "/pcrecruiter/rest/api"
