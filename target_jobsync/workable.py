"""Workable sinks of target-jobsync (placeholder: being written)."""

from __future__ import annotations

from target_jobsync.destination import Destination

DESTINATION = Destination(
    key="workable",
    name="Workable",
    settings=[],
    secret_settings=(),
    required_settings=(),
    make_client=lambda config: None,  # type: ignore[arg-type,return-value]
    sinks=(),
)
