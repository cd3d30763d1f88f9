"""Workable: what the target (and any future tap stream) needs to reach the SPI v3 API."""

from __future__ import annotations

import re
import typing as t

from singer_sdk import typing as th
from singer_sdk.authenticators import BearerTokenAuthenticator

from jobsync_common.errors import ConfigError, excerpt
from jobsync_common.service import ServiceSpec
from jobsync_common.settings import check_base_url, rate_limit_property

SUBDOMAIN_SETTING = "workable_subdomain"
TOKEN_SETTING = "workable_api_token"
ARRAY_MODE_SETTING = "workable_array_mode"

SERVICE = ServiceSpec(
    key="workable",
    name="Workable",
    # The account's URL: built from `workable_subdomain` unless `workable_base_url` is set.
    default_base_url="https://{subdomain}.workable.com/spi/v3",
    credential_settings=(TOKEN_SETTING,),
    secret_settings=(TOKEN_SETTING,),
    # Assumption: Workable's public API documents "10 requests every 10 seconds" per token (the
    # candidates document is silent), i.e. 60 a minute; the limiter spaces requests evenly, so no
    # 10-second window ever holds more than 10.
    default_requests_per_minute=60,
    rate_limit_reason="Default: Workable's public limit of 10 requests per 10 seconds per token (an assumption: "
    "the candidates document does not state it).",
)

# The document names one scope: "Partially updates a candidate. Required scope: w_candidates." The
# target also reads candidates (GET /candidates, ?email=, /candidates/:id) to find and compare each one
# before a PATCH, which needs r_candidates (Workable's public API).
READ_SCOPE = "r_candidates"
WRITE_SCOPE = "w_candidates"
_SCOPE_RE = re.compile(r"\b[rw]_[a-z_]+\b")


def missing_scope_message(method: str, endpoint: str, status: int, text: str) -> str:
    """What a 403 means here: the scope the call needs (the one Workable names, else the one we know it needs)."""
    named = _SCOPE_RE.search(text or "")
    needed = named.group(0) if named else (READ_SCOPE if method.upper() == "GET" else WRITE_SCOPE)
    said = f" ({excerpt(text, 120)})" if (text or "").strip() else ""
    return (
        f"{SERVICE.name}: {endpoint} answered HTTP {status}{said}: the token lacks the scope {needed}. The target reads each "
        f"candidate (GET /candidates, ?email=, /candidates/:id) before it PATCHes it, so `{TOKEN_SETTING}` needs "
        f"{READ_SCOPE} as well as {WRITE_SCOPE} (the only scope the document names)."
    )

MERGE = "merge"
REPLACE = "replace"
ARRAY_MODES = (MERGE, REPLACE)


def settings() -> list[th.Property]:
    return [
        th.Property(
            SUBDOMAIN_SETTING,
            th.StringType,
            description="Workable account subdomain (`acme` for acme.workable.com); builds the API URL.",
        ),
        th.Property(
            TOKEN_SETTING,
            th.StringType,
            secret=True,
            description="Workable API access token, sent as a Bearer token; needs the scopes r_candidates (the target "
            "reads each candidate first) and w_candidates.",
        ),
        th.Property(
            SERVICE.base_url_setting,
            th.StringType,
            description=f"Override of the API base URL (default {SERVICE.default_base_url}); the sandbox sets it.",
        ),
        th.Property(
            ARRAY_MODE_SETTING,
            th.StringType,
            default=MERGE,
            allowed_values=list(ARRAY_MODES),
            description="Workable replaces a candidate's education/experience entries, social profiles and tags "
            "with whatever a PATCH sends. `merge` reads the candidate first and keeps the entries the record does "
            "not mention; `replace` makes the lists exactly what the record holds.",
        ),
        rate_limit_property(
            SERVICE.key, SERVICE.name, SERVICE.default_requests_per_minute, SERVICE.rate_limit_reason
        ),
    ]


def base_url(config: t.Mapping[str, t.Any]) -> str:
    """``workable_base_url`` when set, else the account URL built from ``workable_subdomain``."""
    if config.get(SERVICE.base_url_setting):
        return check_base_url(config, SERVICE.base_url_setting)
    subdomain = str(config.get(SUBDOMAIN_SETTING) or "").strip()
    if not subdomain:
        msg = f"{SERVICE.name}: set `{SUBDOMAIN_SETTING}` (your account's subdomain) or `{SERVICE.base_url_setting}`."
        raise ConfigError(msg)
    if not subdomain.replace("-", "").isalnum():
        msg = f"Setting `{SUBDOMAIN_SETTING}` must be the bare subdomain (like `acme`), got {subdomain!r}."
        raise ConfigError(msg)
    return SERVICE.default_base_url.format(subdomain=subdomain)


def authenticator(config: t.Mapping[str, t.Any]) -> BearerTokenAuthenticator:
    token = config.get(TOKEN_SETTING)
    if not token:
        msg = f"{SERVICE.name}: set `{TOKEN_SETTING}`."
        raise ConfigError(msg)
    return BearerTokenAuthenticator(token=str(token))


def array_mode(config: t.Mapping[str, t.Any]) -> str:
    mode = config.get(ARRAY_MODE_SETTING) or MERGE
    if mode not in ARRAY_MODES:
        msg = f"Setting `{ARRAY_MODE_SETTING}` must be one of {', '.join(ARRAY_MODES)}, got {mode!r}."
        raise ConfigError(msg)
    return mode

