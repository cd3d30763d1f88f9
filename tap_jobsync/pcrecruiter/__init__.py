"""PCRecruiter: candidates, companies and positions, synced with change tracking."""

from __future__ import annotations

import typing as t

from tap_jobsync.pcrecruiter import api as pcr
from tap_jobsync.pcrecruiter.run import PCRecruiterRun
from tap_jobsync.pcrecruiter.streams import STREAM_TYPES
from tap_jobsync.service import TapService

if t.TYPE_CHECKING:
    from tap_jobsync.client import JobSyncStream


def _stream_types(config: t.Mapping[str, t.Any]) -> list[type[JobSyncStream]]:
    return [STREAM_TYPES[entity] for entity in pcr.check_config(config)]


SOURCE = TapService(
    service=pcr.SERVICE,
    settings=pcr.setting_properties(),
    stream_types=_stream_types,
    # One login and one app-name pull per run, shared by its streams.
    new_run=PCRecruiterRun,
)
