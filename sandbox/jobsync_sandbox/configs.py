"""Tap and target configs that point every base URL and credential at a sandbox.

Used by the tests, the benchmarks and the demo, so all of them exercise the
connectors with exactly the settings a user would write.
"""

from __future__ import annotations

import typing as t


def tap_config(
    base_urls: t.Mapping[str, str],
    credentials: t.Mapping[str, t.Mapping[str, t.Any]],
    *,
    services: t.Iterable[str] = ("trackjobchanges", "ziprecruiter", "jobcase", "pcrecruiter"),
    **extra: t.Any,
) -> dict[str, t.Any]:
    services = set(services)
    config: dict[str, t.Any] = {
        "start_date": "2000-01-01T00:00:00Z",
        # Keep failure tests quick; production defaults are in the settings.
        "retry_backoff_seconds": 0.05,
        "retry_max_backoff_seconds": 0.5,
    }
    if "trackjobchanges" in services:
        config |= {
            "trackjobchanges_base_url": base_urls["trackjobchanges"],
            "trackjobchanges_api_key": credentials["trackjobchanges"]["api_key"],
        }
    if "ziprecruiter" in services:
        config |= {
            "ziprecruiter_base_url": base_urls["ziprecruiter"],
            "ziprecruiter_api_key": credentials["ziprecruiter"]["api_key"],
        }
    if "jobcase" in services:
        config |= {
            "jobcase_base_url": base_urls["jobcase"],
            "jobcase_api_key": credentials["jobcase"]["api_key"],
            "jobcase_partner_id": credentials["jobcase"]["partner_id"],
        }
    if "pcrecruiter" in services:
        pcr = credentials["pcrecruiter"]
        config |= {
            "pcrecruiter_base_url": base_urls["pcrecruiter"],
            "pcrecruiter_database_id": pcr["database_id"],
            "pcrecruiter_username": pcr["username"],
            "pcrecruiter_password": pcr["password"],
            "pcrecruiter_app_id": pcr["app_id"],
            "pcrecruiter_api_key": pcr["api_key"],
        }
    return config | extra


def target_config(
    base_urls: t.Mapping[str, str],
    credentials: t.Mapping[str, t.Mapping[str, t.Any]],
    **extra: t.Any,
) -> dict[str, t.Any]:
    workable = credentials["workable"]
    config: dict[str, t.Any] = {
        "workable_subdomain": workable["subdomain"],
        "workable_api_token": workable["api_token"],
        "workable_base_url": base_urls["workable"],
        "ziprecruiter_api_key": credentials["ziprecruiter"]["api_key"],
        "ziprecruiter_base_url": base_urls["ziprecruiter"],
        "jobcase_api_key": credentials["jobcase"]["api_key"],
        "jobcase_base_url": base_urls["jobcase"],
        "jobcase_partner_id": credentials["jobcase"]["partner_id"],
        "retry_backoff_seconds": 0.05,
        "retry_max_backoff_seconds": 0.5,
    }
    return config | extra


def sandbox_env(base_urls: t.Mapping[str, str], credentials: t.Mapping[str, t.Mapping[str, t.Any]]) -> dict[str, str]:
    """Environment variables Meltano reads for both plugins (``TAP_JOBSYNC_*``/``TARGET_JOBSYNC_*``).

    Fractional numbers are left out: Meltano (3.9 to 4.4.1 at least) turns a ``kind: decimal``
    setting read from the environment into ``Decimal`` and then cannot write the plugin's
    config.json. meltano.yml's ``sandbox`` environment sets them (the fast retry waits).
    """
    env: dict[str, str] = {}
    for key, value in tap_config(base_urls, credentials).items():
        if not isinstance(value, float):
            env[f"TAP_JOBSYNC_{key.upper()}"] = str(value)
    for key, value in target_config(base_urls, credentials).items():
        if not isinstance(value, float):
            env[f"TARGET_JOBSYNC_{key.upper()}"] = str(value)
    return env
