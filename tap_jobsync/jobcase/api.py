"""Jobcase Partner Platform API as the tap alone sees it: its tap-only settings.

What both connectors know of the API (service, credentials, statuses, paging rules, the settings
both declare) is in ``jobsync_common/jobcase.py``; this module adds what only the tap reads.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from jobsync_common import jobcase as jc

PAGE_SIZE_SETTING = "jobcase_page_size"


def setting_properties() -> list[th.Property[t.Any]]:
    """Every Jobcase setting of the tap: those both connectors declare, then the tap's own."""
    return [
        *jc.setting_properties(),
        th.Property(
            PAGE_SIZE_SETTING,
            th.IntegerType(minimum=1, maximum=10_000),
            default=jc.LIST_PAGE_SIZE,
            description="Rows per list request (`limit`). Jobcase's own default is 100 and no maximum is "
            "documented; fewer, larger pages use less of the 200 requests a minute.",
        ),
    ]


def page_size(config: t.Mapping[str, t.Any]) -> int:
    """Rows the tap asks for per list request."""
    return int(config.get(PAGE_SIZE_SETTING) or jc.LIST_PAGE_SIZE)
