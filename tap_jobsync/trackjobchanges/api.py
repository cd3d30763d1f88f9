"""TrackJobChanges API v1: the service's constants and settings.

Source: ``trackjobchanges-api-v1.txt``. The document contradicts itself in a few
places; the tap reads every form (its schemas allow the union) and the sandbox
picks one, saying so where it does:

| where                          | one place shows                      | another shows                       |
|--------------------------------|--------------------------------------|-------------------------------------|
| connection list items          | no ``employment_checked_at``         | single connection has it            |
| ``*_employment`` objects       | ``domain`` (single connection)       | ``started_at``/``ended_at`` (list)  |
| ``POST /connections``          | rule: linkedin_url, or names + email | example sends ``email`` alone       |
| ``total_count``                | connection/employment lists          | absent from ping lists              |
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from jobsync_common.service import ServiceSpec

API_KEY_SETTING = "trackjobchanges_api_key"
GROUP_SETTING = "trackjobchanges_group"
HAS_NEW_JOB_ONLY_SETTING = "trackjobchanges_has_new_job_only"

SERVICE = ServiceSpec(
    key="trackjobchanges",
    name="TrackJobChanges",
    default_base_url="https://www.trackjobchanges.com/api/v1",
    credential_settings=(API_KEY_SETTING,),
    secret_settings=(API_KEY_SETTING,),
    # The document states no rate limit: no proactive pacing unless the user sets one;
    # 429s are still retried honouring Retry-After.
    default_requests_per_minute=None,
    rate_limit_reason="The API documents no limit; set one if TrackJobChanges assigns it.",
)

# "include key as a query parameter or a header parameter": we always use the header,
# because the API echoes query parameters (the key included) into the ping history.
AUTH_HEADER = "key"

# Query parameters of every GET list ("All GET calls ... are paginated"; pages are 1-based).
PAGE_PARAM = "page"
GROUP_PARAM = "group"


def setting_properties() -> list[th.Property[t.Any]]:
    """TrackJobChanges settings (public interface: keep the names)."""
    return [
        *SERVICE.connection_settings(
            [
                SERVICE.credential(
                    API_KEY_SETTING, "TrackJobChanges API key (sent in the `key` header, never in the URL)."
                )
            ],
            base_url_description="Base URL of the TrackJobChanges API v1 (override for a sandbox or proxy).",
        ),
        th.Property(
            GROUP_SETTING,
            # Group IDs are numbers in TrackJobChanges, but a string is as good in a query string.
            th.CustomType({"type": ["string", "integer", "null"]}),
            description="Group ID sent as `group` on every call, for accounts with several groups. "
            "Empty: the API's default scope.",
        ),
        th.Property(
            HAS_NEW_JOB_ONLY_SETTING,
            th.BooleanType,
            default=False,
            description="Read only connections flagged with a new job (`has_new_job=true`). Connections whose "
            "flag was cleared are then not read at all.",
        ),
    ]


def group_param(config: t.Mapping[str, t.Any]) -> dict[str, str]:
    """``{"group": ...}`` when a group is configured, else nothing."""
    group = config.get(GROUP_SETTING)
    if group in (None, ""):
        return {}
    return {GROUP_PARAM: str(group)}
