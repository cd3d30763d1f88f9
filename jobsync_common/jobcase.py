"""What tap-jobsync and target-jobsync share about the Jobcase Partner Platform API.

Source: ``/work/shared/api-docs/jobcase-partner-platform-api.txt``. Where the
document is silent or contradicts itself, the choice made is written next to
the constant or function it affects, so changing it is a one-line edit.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from jobsync_common.service import ServiceSpec

API_KEY_SETTING = "jobcase_api_key"
PARTNER_ID_SETTING = "jobcase_partner_id"
STATUSES_SETTING = "jobcase_statuses"

SERVICE = ServiceSpec(
    key="jobcase",
    name="Jobcase",
    default_base_url="https://platform-api.partners.jobcase.com/api/platform/v1",
    credential_settings=(API_KEY_SETTING,),
    secret_settings=(API_KEY_SETTING,),
    # "To avoid rate limiting, try to stay within 200 requests per minute."
    default_requests_per_minute=200,
    rate_limit_reason="Jobcase asks partners to stay within 200 requests per minute per API key; "
    "lower it when another process uses the same key at the same time.",
)
API_KEY_HEADER = "X-Platform-Api-Key"
# Rows the connectors ask for per list request. No maximum is documented; this is our
# choice (a request costs 1/200 of a minute's quota). A server that caps `limit` lower is
# followed correctly: paging advances by the rows received and stops at `count`.
LIST_PAGE_SIZE = 1000

# The document gives the `status` filters a default ("active") but lists no values.
# Assumed values (lower case in the query, capitalised in records, as `jobStatus:
# "Active"` is shown): jobs are active or expired (the expire/unexpire endpoints are
# the only status transitions); campaigns are active, paused (`isPaused`) or ended
# (`endDate` passed). The tap lists every value; `jobcase_statuses` overrides them.
JOB_STATUSES = ("active", "expired")
CAMPAIGN_STATUSES = ("active", "paused", "ended")
DEFAULT_STATUSES = {"jobs": JOB_STATUSES, "campaigns": CAMPAIGN_STATUSES}


def setting_properties() -> list[th.Property[t.Any]]:
    """Settings both the tap and the target declare for Jobcase."""
    return [
        *SERVICE.connection_settings(
            [SERVICE.credential(API_KEY_SETTING, "Jobcase partner API key, sent in the `X-Platform-Api-Key` header.")],
            base_url_description="Jobcase Partner Platform API base URL (change only for a sandbox).",
        ),
        th.Property(
            PARTNER_ID_SETTING,
            th.IntegerType,
            description="Jobcase partner identifier (`partnerId`): needed to list products and to create companies.",
        ),
        th.Property(
            STATUSES_SETTING,
            th.ObjectType(
                th.Property(
                    "jobs",
                    th.ArrayType(th.StringType(pattern=r"^[a-z_]+$")),
                    description="Job status filter values (default: active, expired).",
                ),
                th.Property(
                    "campaigns",
                    th.ArrayType(th.StringType(pattern=r"^[a-z_]+$")),
                    description="Campaign status filter values (default: active, paused, ended).",
                ),
                additional_properties=False,
            ),
            description='Values of the `status` filter to list, e.g. {"jobs": ["active", "inactive"]}; the document '
            "lists none. Default: jobs active, expired; campaigns active, paused, ended. The tap skips a value Jobcase "
            "refuses (with a warning); the target stops, since it must see every object to avoid duplicates.",
        ),
    ]


def statuses(config: t.Mapping[str, t.Any], kind: str) -> tuple[str, ...]:
    """The `status` filter values to list for ``kind`` (``jobs`` or ``campaigns``)."""
    configured = (config.get(STATUSES_SETTING) or {}).get(kind)
    return tuple(dict.fromkeys(configured)) if configured else DEFAULT_STATUSES[kind]


def refused_status_message(kind: str, status: str, endpoint: str, answer: str, consequence: str) -> str:
    """What to say when Jobcase refuses a `status` value (the document lists none)."""
    listed = ", ".join(DEFAULT_STATUSES[kind])
    return (
        f"{SERVICE.name}: {endpoint} was refused ({answer}): `{status}` is not a {kind[:-1]} status this account accepts "
        f"(the document lists none; assumed {listed}). {consequence} Set `{STATUSES_SETTING}` to the values Jobcase "
        f'accepts, e.g. {{"{kind}": ["active", ...]}}.'
    )


# -- normalisers for the document's contradictions -----------------------------------------


def normalize_zip(value: t.Any) -> str | None:
    """A zip/postal code as the string the tables document ("string [5 .. 7] characters").

    The examples send and return ``jobZipCode`` as a number (``94111``). A number
    cannot keep a leading zero, so a US ZIP such as 02108 arrives as ``2108``:
    numbers are zero-padded back to 5 digits (assumption: numeric codes are US ZIPs).
    """
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:05d}"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):05d}"
    text = str(value).strip()
    return text or None


def normalize_codes(value: t.Any) -> list[t.Any] | None:
    """A flat list from a field the tables call "Array of arrays".

    ``products`` ("A list of Jobcase product codes") and campaign ``jobs`` are
    shown as flat lists in every example; a nested list is flattened, a single
    scalar becomes a one-item list.
    """
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        return [value]
    flat: list[t.Any] = []
    for item in value:
        if isinstance(item, (list, tuple)):
            flat.extend(normalize_codes(item) or [])
        else:
            flat.append(item)
    return flat


def normalize_products(value: t.Any) -> list[str] | None:
    """Product codes as a flat list of strings (records may also carry ``{"code": ...}`` objects)."""
    codes = normalize_codes(value)
    if codes is None:
        return None
    return [str(c["code"]) if isinstance(c, dict) and "code" in c else str(c) for c in codes]


# -- paging (the tap's paginator and the target's listings) ------------------------------------


def next_offset(offset: int, payload: t.Any, page_size: int) -> int | None:
    """Offset of the next page of a ``{"count", "results"}`` body, or None after the last page.

    Advances by the rows actually received (a server that caps ``limit`` must not
    make us skip rows) and stops at ``count``, so the last page costs no extra request.
    """
    results = (payload or {}).get("results") if isinstance(payload, dict) else None
    received = len(results or [])
    if not received:
        return None
    count = payload.get("count")
    if not isinstance(count, int):
        return offset + received if received >= page_size else None
    return offset + received if offset + received < count else None
