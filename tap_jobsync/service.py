"""What each service contributes to the tap: its settings and its streams."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from singer_sdk import typing as th

from jobsync_common.errors import ConfigError

if t.TYPE_CHECKING:
    from singer_sdk import Tap

    from jobsync_common.service import ServiceSpec
    from tap_jobsync.client import JobSyncStream


class ServiceRun:
    """What the streams of one service share during one run of the tap (a login, a change-tracking pull...).

    :meth:`TapService.streams` makes one and hands it to every stream it builds (``run=``); nothing of a
    run outlives it or reaches another tap in the same process.
    """

    def __init__(self, config: t.Mapping[str, t.Any]) -> None:
        self.config = config
        #: The streams built for this run (a stream added to it later, like a connection test's, is not one).
        self.streams: list[JobSyncStream] = []


@dataclass(frozen=True)
class TapService:
    """What a service contributes to the tap: its settings and its streams (the module's ``SOURCE``)."""

    service: ServiceSpec
    settings: list[th.Property[t.Any]]
    stream_types: t.Callable[[t.Mapping[str, t.Any]], list[type[JobSyncStream]]]
    #: Settings that must be set once the service is configured (checked with a clear message).
    required_when_configured: tuple[str, ...] = field(default=())
    #: Makes the :class:`ServiceRun` the service's streams share; None: they share nothing.
    new_run: t.Callable[[t.Mapping[str, t.Any]], ServiceRun] | None = None

    @property
    def key(self) -> str:
        return self.service.key

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def credential_settings(self) -> tuple[str, ...]:
        """Settings that must all be set for the service to contribute streams."""
        return self.service.credential_settings

    @property
    def secret_settings(self) -> tuple[str, ...]:
        return self.service.secret_settings

    def is_configured(self, config: t.Mapping[str, t.Any]) -> bool:
        present = [s for s in self.credential_settings if config.get(s) not in (None, "")]
        if not present:
            return False
        missing = [
            s for s in (*self.credential_settings, *self.required_when_configured) if config.get(s) in (None, "")
        ]
        if missing:
            names = ", ".join(f"`{m}`" for m in missing)
            msg = f"{self.name} is partly configured: also set {names} (or remove its other settings)."
            raise ConfigError(msg)
        return True

    def streams(
        self,
        tap: Tap,
        stream_types: t.Sequence[type[JobSyncStream]] | None = None,
        *,
        run: ServiceRun | None = None,
    ) -> list[JobSyncStream]:
        """The service's streams for one run of ``tap`` (``stream_types``: only these).

        A service with ``new_run`` gets a new :class:`ServiceRun`, shared by all of them; ``run`` makes them
        join one under way instead (a connection test's probe during a sync), without becoming its ``streams``.
        """
        types = self.stream_types(tap.config) if stream_types is None else list(stream_types)
        if run is not None:
            return [stream_type(tap=tap, run=run) for stream_type in types]
        run = self.new_run(tap.config) if self.new_run is not None else None
        streams = [stream_type(tap=tap, run=run) for stream_type in types]
        if run is not None:
            run.streams = list(streams)
        return streams
