"""What each service contributes to the tap: its settings and its streams."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from singer_sdk import typing as th

from jobsync_common.errors import ConfigError

if t.TYPE_CHECKING:
    from singer_sdk import Stream, Tap

    from jobsync_common.service import ServiceSpec


@dataclass(frozen=True)
class TapService:
    """What a service contributes to the tap: its settings and its streams (the module's ``SOURCE``)."""

    service: ServiceSpec
    settings: list[th.Property]
    stream_types: t.Callable[[t.Mapping[str, t.Any]], list[type[Stream]]]
    #: Settings that must be set once the service is configured (checked with a clear message).
    required_when_configured: tuple[str, ...] = field(default=())

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
        missing = [s for s in (*self.credential_settings, *self.required_when_configured) if config.get(s) in (None, "")]
        if missing:
            names = ", ".join(f"`{m}`" for m in missing)
            msg = f"{self.name} is partly configured: also set {names} (or remove its other settings)."
            raise ConfigError(msg)
        return True

    def streams(self, tap: Tap) -> list[Stream]:
        return [stream_type(tap=tap) for stream_type in self.stream_types(tap.config)]
