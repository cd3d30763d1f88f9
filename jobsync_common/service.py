"""What identifies an API to both connectors, declared once per service: ``SERVICE = ServiceSpec(...)``.

Every service module (``tap_jobsync/<service>/api.py``, ``jobsync_common/<service>.py``,
``target_jobsync/<service>.py``) names its API the same way: a setting prefix (``key``), a
name for messages, a default base URL, the settings that authenticate and those that are
secret, and the documented request rate. Settings follow one scheme: ``<key>_base_url``,
``<key>_requests_per_minute``, and ``<key>_<what>`` for the rest, each declared in one place.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from singer_sdk import typing as th

from jobsync_common.http import ServiceClient, ServiceHttp
from jobsync_common.settings import api_key_property, base_url_property, check_base_url, rate_limit_property

if t.TYPE_CHECKING:
    import logging

_Client = t.TypeVar("_Client", bound=ServiceClient)


@dataclass(frozen=True)
class ServiceSpec:
    """One API as both connectors see it (see the module docstring)."""

    #: Prefix of every setting of the service, e.g. ``"jobcase"``.
    key: str
    #: Name in messages, e.g. ``"Jobcase"``.
    name: str
    default_base_url: str
    #: Settings that authenticate: all are needed, and a 401/403 points at them.
    credential_settings: tuple[str, ...]
    #: Credentials scrubbed from every output.
    secret_settings: tuple[str, ...]
    #: Requests per minute when the user sets none (None: no proactive limit).
    default_requests_per_minute: int | None
    #: Why that limit (shown in the rate-limit setting's description).
    rate_limit_reason: str

    @property
    def base_url_setting(self) -> str:
        return f"{self.key}_base_url"

    @property
    def requests_per_minute_setting(self) -> str:
        return f"{self.key}_requests_per_minute"

    def base_url(self, config: t.Mapping[str, t.Any]) -> str:
        """The configured base URL, or one line naming the setting when it is not an http(s) URL."""
        return check_base_url(config, self.base_url_setting)

    def connection_settings(
        self, credentials: t.Sequence[th.Property[t.Any]], *, base_url_description: str
    ) -> list[th.Property[t.Any]]:
        """The credential, base-URL and rate-limit settings, declared alike for every service."""
        return [
            *credentials,
            base_url_property(self.base_url_setting, self.default_base_url, base_url_description),
            rate_limit_property(self.key, self.name, self.default_requests_per_minute, self.rate_limit_reason),
        ]

    def credential(self, setting: str, description: str) -> th.Property[t.Any]:
        """A secret credential setting of this service."""
        return api_key_property(setting, description)

    def http(self, config: t.Mapping[str, t.Any], *, logger: logging.Logger | None = None) -> ServiceHttp:
        """The service's HTTP policy for this config (its rate limiter is shared in the process)."""
        return ServiceHttp.for_service(
            config,
            key=self.key,
            name=self.name,
            auth_settings=self.credential_settings,
            default_requests_per_minute=self.default_requests_per_minute,
            logger=logger,
        )

    @t.overload
    def client(
        self,
        config: t.Mapping[str, t.Any],
        *,
        base_url: str | None = None,
        client_class: type[_Client],
        logger: logging.Logger | None = None,
        **kwargs: t.Any,
    ) -> _Client: ...

    @t.overload
    def client(
        self,
        config: t.Mapping[str, t.Any],
        *,
        base_url: str | None = None,
        logger: logging.Logger | None = None,
        **kwargs: t.Any,
    ) -> ServiceClient: ...

    def client(
        self,
        config: t.Mapping[str, t.Any],
        *,
        base_url: str | None = None,
        client_class: type[ServiceClient] = ServiceClient,
        logger: logging.Logger | None = None,
        **kwargs: t.Any,
    ) -> ServiceClient:
        """A :class:`ServiceClient` (or ``client_class``, a subclass) for the target's sinks and logins."""
        return client_class(
            self.http(config, logger=logger),
            base_url or self.base_url(config),
            base_url_setting=self.base_url_setting,
            **kwargs,
        )
