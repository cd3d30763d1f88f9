"""Simulated TrackJobChangesAPI (placeholder: being written)."""

from __future__ import annotations

from jobsync_sandbox.core import SimulatedAPI


class TrackJobChangesAPI(SimulatedAPI):
    name = "trackjobchanges"
    base_path = "/trackjobchanges/api/v1"
