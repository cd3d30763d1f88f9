"""Settings both connectors share: HTTP tuning and per-service credentials checks."""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th

from jobsync_common.errors import ConfigError
from jobsync_common.http import HttpPolicy
from jobsync_common.redact import register_secrets


def http_tuning_properties() -> list[th.Property[t.Any]]:
    """Retry, timeout, size and concurrency settings (same names in tap and target), with their valid ranges."""
    policy = HttpPolicy()

    def plain(value: float) -> float | int:
        return int(value) if float(value).is_integer() else value

    bound = (
        "A whole request, every attempt and wait included, lasts at most retry_max_tries * request_timeout "
        "+ (retry_max_tries - 1) * max(retry_max_backoff_seconds, retry_max_retry_after_seconds), plus "
        "rate-limit pacing."
    )
    return [
        th.Property(
            "request_timeout",
            th.NumberType(exclusive_minimum=0, maximum=3600),
            default=plain(policy.timeout),
            description="Seconds for one attempt: connecting and receiving the whole answer. Past it the attempt "
            "counts as failed (and is retried).",
        ),
        th.Property(
            "retry_max_tries",
            th.IntegerType(minimum=1, maximum=20),
            default=plain(policy.max_tries),
            description="Attempts per request before a retryable failure (429, 5xx, reset, timeout, "
            f"undecodable body) fails the run. {bound}",
        ),
        th.Property(
            "retry_backoff_seconds",
            th.NumberType(minimum=0, maximum=600),
            default=plain(policy.backoff_seconds),
            description="First back-off wait; doubles on each retry (with jitter). A 429's Retry-After wins.",
        ),
        th.Property(
            "retry_max_backoff_seconds",
            th.NumberType(minimum=0, maximum=3600),
            default=plain(policy.max_backoff_seconds),
            description="Upper bound for one exponential back-off wait.",
        ),
        th.Property(
            "retry_max_retry_after_seconds",
            th.NumberType(minimum=0, maximum=86400),
            default=plain(policy.max_retry_after_seconds),
            description="Longest Retry-After the connectors wait out (the whole service pauses meanwhile). A longer "
            "one fails the request at once, naming the service, the endpoint and the wait asked for.",
        ),
        th.Property(
            "max_response_mb",
            th.NumberType(exclusive_minimum=0, maximum=10240),
            default=plain(policy.max_response_bytes / 2**20),
            description="Largest answer accepted, in MB once decompressed; a larger one fails the request "
            "instead of exhausting memory.",
        ),
        th.Property(
            "max_workers",
            th.IntegerType(minimum=1, maximum=64),
            default=4,
            description="Upper bound on concurrent requests per service (child streams in the tap, writes "
            "in the target). The rate limiter still applies.",
        ),
    ]


def api_key_property(setting: str, description: str) -> th.Property[t.Any]:
    """A service credential: secret in --about, sensitive in meltano.yml, scrubbed from output."""
    return th.Property(setting, th.StringType, secret=True, description=description)


def base_url_property(setting: str, default: str, description: str) -> th.Property[t.Any]:
    return th.Property(setting, th.StringType, default=default, description=description)


def rate_limit_property(service_key: str, service_name: str, default: int | None, why: str) -> th.Property[t.Any]:
    return th.Property(
        f"{service_key}_requests_per_minute",
        th.IntegerType(minimum=0),
        default=default,
        description=f"Proactive limit for {service_name} requests from this process (0 or empty: no limit). {why}",
    )


def check_base_url(config: t.Mapping[str, t.Any], setting: str) -> str:
    """Return a base URL setting, or fail naming it when it is not an http(s) URL."""
    value = str(config.get(setting) or "")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        msg = f"Setting `{setting}` must be an http(s) URL, got {value!r}."
        raise ConfigError(msg)
    return value.rstrip("/")


def register_config_secrets(config: t.Mapping[str, t.Any], secret_settings: t.Iterable[str]) -> None:
    register_secrets(config.get(name) for name in secret_settings)
