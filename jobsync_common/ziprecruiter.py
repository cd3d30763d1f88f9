"""ZipRecruiter Job Alerts API v2: what the tap and the target share.

Source: ``ziprecruiter-job-alerts-v2.txt`` (v2.04). The document contradicts
itself in a few places (a property table says one thing, the example response
shows another); both connectors read either form through the ``normalize_*``
helpers below, so a change of the live API's choice needs no code change.

| table says                    | example shows                  | normalised to          |
|-------------------------------|--------------------------------|------------------------|
| response property ``email``   | ``email_md5``                  | ``email_md5``          |
| query page key ``skip``       | ``offset``                     | ``skip`` (int)         |
| ``total_count`` (a number)    | ``"total_count": "2"``         | int                    |
| batch ``result`` JSON string  | a JSON object                  | dict                   |
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import typing as t
import zoneinfo

import requests.auth
from singer_sdk import typing as th

from jobsync_common.settings import api_key_property, base_url_property, rate_limit_property

SERVICE_KEY = "ziprecruiter"
SERVICE_NAME = "ZipRecruiter"
DEFAULT_BASE_URL = "https://api.ziprecruiter.com/job-alerts/v2"

API_KEY_SETTING = "ziprecruiter_api_key"
BASE_URL_SETTING = "ziprecruiter_base_url"
REQUESTS_PER_MINUTE_SETTING = "ziprecruiter_requests_per_minute"
AUTH_SETTINGS = (API_KEY_SETTING,)
SECRET_SETTINGS = (API_KEY_SETTING,)

# The document states no rate limit: no proactive pacing by default; 429s are retried
# honouring Retry-After. Set `ziprecruiter_requests_per_minute` if ZipRecruiter assigns one.
DEFAULT_REQUESTS_PER_MINUTE: int | None = None

# Query actions: "Must be between 1 and 100, inclusive. Defaults to 50."
MAX_PAGE_SIZE = 100

# Documented properties per resource (Properties tables, "response" scope).
# `email` is the name to ask for in `properties`; responses carry the MD5 (see module doc).
SUBSCRIBER_PROPERTIES = (
    "id",
    "email",
    "name",
    "create_time",
    "search",
    "location",
    "ip_address",
    "status",
    "deactivation_time",
    "deactivation_reason",
)
SEARCH_PROPERTIES = ("id", "create_time", "search", "location", "status", "deactivation_time", "deactivation_reason")
BATCH_PROPERTIES = ("id", "status", "create_time", "complete_time", "type", "result")


ACTIVE = "active"
DEACTIVATED = "deactivated"
BATCH_PENDING = "pending"
BATCH_COMPLETE = "complete"
BATCH_FAILED = "failed"

_TIME_PROPERTIES = ("create_time", "deactivation_time", "complete_time")

# The document's example submits create_time='2012-05-03 17:01:05' and later reads
# "2012-05-04T00:01:05": submitted wall-clock times are US Pacific, responses are UTC
# without an offset. Both are assumptions drawn from that one example; change here.
try:
    SUBMIT_TIMEZONE: dt.tzinfo = zoneinfo.ZoneInfo("America/Los_Angeles")
except zoneinfo.ZoneInfoNotFoundError:  # no tz database on this host: Pacific standard time
    SUBMIT_TIMEZONE = dt.timezone(dt.timedelta(hours=-8))
RESPONSE_TIMEZONE = dt.timezone.utc
SUBMIT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def basic_auth(api_key: str) -> requests.auth.HTTPBasicAuth:
    """HTTP Basic with the API key as user name and an empty password (per the document)."""
    return requests.auth.HTTPBasicAuth(str(api_key), "")


def setting_properties() -> list[th.Property]:
    """Settings the tap and the target both declare for ZipRecruiter."""
    return [
        api_key_property(API_KEY_SETTING, "ZipRecruiter Job Alerts API key (sent as the HTTP Basic user name)."),
        base_url_property(
            BASE_URL_SETTING, DEFAULT_BASE_URL, "Base URL of the Job Alerts API v2 (override for a sandbox or proxy)."
        ),
        rate_limit_property(
            SERVICE_KEY,
            SERVICE_NAME,
            DEFAULT_REQUESTS_PER_MINUTE,
            "The API documents no limit; set one if ZipRecruiter assigns it.",
        ),
    ]


def email_md5(email: str) -> str:
    """MD5 of the lower-cased address: how the API identifies a subscriber's email in responses."""
    return hashlib.md5(str(email).strip().lower().encode("utf-8")).hexdigest()  # noqa: S324 - API's choice


def is_md5(value: t.Any) -> bool:
    text = str(value or "")
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text.lower())


def to_int(value: t.Any) -> int | None:
    """``2`` or ``"2"`` (the document shows counts as strings) as an int."""
    if value is None or value == "":
        return None
    return int(value)


def normalize_query_page(payload: t.Any) -> tuple[list[dict], int, int | None]:
    """``(results, skip, total_count)`` of a query response, whichever documented form it has."""
    if not isinstance(payload, dict):
        return [], 0, None
    results = payload.get("results") or []
    skip = payload.get("skip", payload.get("offset"))
    return list(results), to_int(skip) or 0, to_int(payload.get("total_count"))


def normalize_timestamp(value: t.Any) -> str | None:
    """An API timestamp as ISO 8601 with an explicit offset (offset-less values are UTC)."""
    if value in (None, ""):
        return None
    text = str(value).strip().replace(" ", "T", 1)
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=RESPONSE_TIMEZONE)
    return parsed.astimezone(dt.timezone.utc).isoformat()


def submit_time(value: t.Any) -> str | None:
    """A record's timestamp as the submit form expects it: Pacific wall-clock time.

    Values without an offset are taken as UTC, like every other timestamp in a Singer record.
    """
    if value in (None, ""):
        return None
    text = str(value).strip().replace(" ", "T", 1).replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(SUBMIT_TIMEZONE).strftime(SUBMIT_TIME_FORMAT)


def parse_batch_result(value: t.Any) -> dict[str, t.Any] | None:
    """A batch ``result``: an object, or a JSON string containing one (both documented)."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        return None
    return {k: (to_int(v) if isinstance(v, (int, str)) and str(v).isdigit() else v) for k, v in value.items()}


def _normalize_times(record: dict[str, t.Any]) -> dict[str, t.Any]:
    for key in _TIME_PROPERTIES:
        if key in record:
            record[key] = normalize_timestamp(record[key])
    return record


def normalize_subscriber(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A subscriber with ``email_md5`` (never ``email``) and ISO timestamps."""
    out = dict(record)
    email = out.pop("email", None)
    if out.get("email_md5") in (None, "") and email not in (None, ""):
        # The table calls the response property `email`; it is documented to hold the MD5.
        out["email_md5"] = str(email).lower() if is_md5(email) else email_md5(email)
    if "id" in out and out["id"] is not None:
        out["id"] = str(out["id"])
    return _normalize_times(out)


def normalize_search(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    out = dict(record)
    if "id" in out and out["id"] is not None:
        out["id"] = str(out["id"])
    return _normalize_times(out)


def normalize_batch(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    out = dict(record)
    if "id" in out and out["id"] is not None:
        out["id"] = str(out["id"])
    if "result" in out:
        out["result"] = parse_batch_result(out["result"])
    return _normalize_times(out)
