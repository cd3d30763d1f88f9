"""What each destination service contributes to the target: settings, client, sinks."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from jobsync_common.http import ServiceClient
    from jobsync_common.service import ServiceSpec
    from target_jobsync.sinks import JobSyncSink


@dataclass(frozen=True)
class Destination:
    service: ServiceSpec
    settings: list[th.Property[t.Any]]
    #: Settings that must be set before any record is routed to this destination.
    required_settings: tuple[str, ...]
    #: Builds the service's HTTP client from the target config.
    make_client: t.Callable[[t.Mapping[str, t.Any]], ServiceClient]
    sinks: tuple[type[JobSyncSink], ...]

    @property
    def key(self) -> str:
        return self.service.key

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def secret_settings(self) -> tuple[str, ...]:
        return self.service.secret_settings
