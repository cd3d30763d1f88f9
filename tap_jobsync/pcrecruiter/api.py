"""PCRecruiter REST API: the facts the tap relies on, and its settings, in one place.

Source: ``pcrecruiter-change-tracking.txt`` (change tracking only). Everything
else here is PCRecruiter's public REST behaviour as we know it, or our own
choice where nothing is published; each such line says so, so that a
correction is a one-line change. The sandbox restates the document itself
(``sandbox/jobsync_sandbox/apis/pcrecruiter.py``) and shares none of this code.

Where the document contradicts itself, the tap accepts both forms:

| the document says                           | and also                       |
|---------------------------------------------|--------------------------------|
| deleted key "has a minus (-) sign in front" | example ``"CandidateId": -222``|
| step 3 is the ``END`` command               | example request ``MyApp STOP`` |

The tap sends ``STOP`` (the example's wire form) and, when PCRecruiter refuses it with a 4xx,
``END``; the command that worked is remembered in the state.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import typing as t

from singer_sdk import typing as th

from jobsync_common.errors import ConfigError
from jobsync_common.service import ServiceSpec
from jobsync_common.timestamps import parse_timestamp

#: Path of the API below the host (the sandbox mounts it below ``/pcrecruiter``).
BASE_PATH = "/rest/api"

# -- settings (names are the tap's public interface) --------------------------------------
DATABASE_ID_SETTING = "pcrecruiter_database_id"
USERNAME_SETTING = "pcrecruiter_username"
PASSWORD_SETTING = "pcrecruiter_password"  # noqa: S105 - a setting name, not a password
APP_ID_SETTING = "pcrecruiter_app_id"
API_KEY_SETTING = "pcrecruiter_api_key"
ENTITIES_SETTING = "pcrecruiter_entities"
FIELDS_SETTING = "pcrecruiter_fields"
QUERY_SETTING = "pcrecruiter_query"
APP_NAME_SETTING = "pcrecruiter_app_name"
OPERATIONS_SETTING = "pcrecruiter_operations"
RESULTS_PER_PAGE_SETTING = "pcrecruiter_results_per_page"

SERVICE = ServiceSpec(
    key="pcrecruiter",
    name="PCRecruiter",
    default_base_url="https://www2.pcrecruiter.net/rest/api",
    # Everything the access-token call needs: a 401 names these.
    credential_settings=(DATABASE_ID_SETTING, USERNAME_SETTING, PASSWORD_SETTING, APP_ID_SETTING, API_KEY_SETTING),
    secret_settings=(PASSWORD_SETTING, API_KEY_SETTING),
    # PCRecruiter publishes no request limit: none by default, 429s are retried honouring Retry-After.
    default_requests_per_minute=None,
    rate_limit_reason="PCRecruiter publishes no limit; set one if your account is throttled.",
)

# -- sessions ------------------------------------------------------------------------------
# GET access-token?DatabaseId=&Username=&Password=&AppId=&ApiKey= -> {"SessionId": "..."};
# the session then goes in `Authorization: BEARER <SessionId>`. The query string carries the
# password and API key: never log that URL (jobsync_common.redact hides Password/ApiKey).
LOGIN_PATH = "access-token"
SESSION_ID_KEY = "SessionId"
AUTH_SCHEME = "BEARER"

# -- lists ---------------------------------------------------------------------------------
# Lists take ResultsPerPage and Page (1-based) and answer {"TotalRecords": n, "Results": [...]}.
PAGE_PARAM = "Page"
RESULTS_PER_PAGE_PARAM = "ResultsPerPage"
QUERY_PARAM = "query"  # e.g. "firstname eq fred" (field names are case-insensitive)
FIELDS_PARAM = "fields"  # comma-separated, case-insensitive; the primary key always comes back
TOTAL_KEY = "TotalRecords"
RESULTS_KEY = "Results"
#: Assumptions (not published): the default page size and the largest one accepted.
#: The sandbox refuses more than the maximum, so a wrong guess fails loudly, never silently.
DEFAULT_RESULTS_PER_PAGE = 100
MAX_RESULTS_PER_PAGE = 500

#: Entities we sync and their primary keys, as the API names them.
ENTITIES: dict[str, str] = {
    "candidates": "CandidateId",
    "companies": "CompanyId",
    "positions": "JobId",
}
DEFAULT_ENTITIES = tuple(ENTITIES)

# -- change tracking (the document) ------------------------------------------------------------
TRACKING_HEADER = "X-CHANGETRACKING"
OPERATION_HEADER = "X-CHANGETRACKING-OPERATION"
#: The null endpoint: `X-CHANGETRACKING: GET` there answers the current version in the header.
NULL_PATH = "null"
CURRENT_VERSION_COMMAND = "GET"
START_COMMAND = "START"
STOP_COMMAND = "STOP"
END_COMMAND = "END"
#: The commands that may conclude an app-name pull, in the order tried (see the module docstring).
COMMIT_COMMANDS = (STOP_COMMAND, END_COMMAND)
INSERT, UPDATE, DELETE = "I", "U", "D"
OPERATIONS = INSERT + UPDATE + DELETE
#: What ``pcrecruiter_operations`` accepts (any case; :func:`normalize_operations` orders it).
OPERATIONS_PATTERN = r"^[IUDiud]{1,3}$"
#: "Change Tracking is usually only retained for up to seven days."
RETENTION = dt.timedelta(days=7)
#: A bookmark read longer ago than this (our clock) is resynced in full, whatever the API answers: past
#: the retention window an API may answer only what it still keeps, without an error. The hour is a
#: margin for the two clocks disagreeing.
BOOKMARK_MAX_AGE = RETENTION - dt.timedelta(hours=1)
# "Appnames must start with a non-numeric character and be a total of 10 alphanumeric
# characters or less": all alphanumeric, so the first one is a letter.
APP_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9]{0,9}$"
_APP_NAME_RE = re.compile(APP_NAME_PATTERN)
APP_NAME_RULE = "must start with a letter and be at most 10 letters or digits"


def is_valid_app_name(name: t.Any) -> bool:
    return isinstance(name, str) and bool(_APP_NAME_RE.match(name))


def normalize_operations(value: t.Any) -> str | None:
    """``"iu"`` -> ``"IU"`` (document order); None when not a non-empty subset of I, U, D."""
    if not isinstance(value, str) or not value.strip():
        return None
    letters = set(value.strip().upper())
    if not letters <= set(OPERATIONS):
        return None
    return "".join(op for op in OPERATIONS if op in letters)


def parse_version(value: t.Any) -> int | None:
    """A change-tracking version from a header value (``"1234567899"``), else None."""
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def age_of(stamp: t.Any, now: dt.datetime) -> dt.timedelta | None:
    """How long before ``now`` an ISO 8601 stamp kept in the state was taken (None: absent or unreadable)."""
    if not isinstance(stamp, str):
        return None
    try:
        taken = parse_timestamp(stamp)
    except ValueError:
        return None
    return None if taken is None else now - taken


def app_header(app_name: str, command: str | None = None) -> str:
    """``X-CHANGETRACKING`` value of app-name mode: ``MyApp START``, ``MyApp``, ``MyApp STOP``."""
    return f"{app_name} {command}" if command else app_name


# -- deleted records ------------------------------------------------------------------------------
def split_deleted_key(value: t.Any, *, only_deletes: bool) -> tuple[t.Any, bool]:
    """``(primary key, deleted?)`` from a change-set key: ``-222``, ``"-222"`` or (D only) ``222``.

    The document says a minus sign is put *in front of* the key ("this does not mean the
    value is negative") and its example shows a negative number: both are read.
    """
    if isinstance(value, bool):
        return value, only_deletes
    if isinstance(value, int):
        return (abs(value), True) if value < 0 else (value, only_deletes)
    if isinstance(value, float) and value.is_integer():
        return split_deleted_key(int(value), only_deletes=only_deletes)
    if isinstance(value, str):
        text = value.strip()
        deleted = text.startswith("-")
        text = text[1:] if deleted else text
        key: t.Any = int(text) if text.isdigit() else text
        return key, deleted or only_deletes
    return value, only_deletes


# -- expired versions (undocumented: our choice, and the rule the tap detects it by) ---------------
# A version older than the retention window cannot say what changed since: the API answers
# HTTP 400 with a message naming the minimum valid version. The tap treats a 400 whose body
# mentions "minimum valid version" (or carries MinimumValidVersion) as "bookmark expired" and
# resyncs in full. If the live API words it differently, change EXPIRED_VERSION_RE.
EXPIRED_VERSION_STATUS = 400
EXPIRED_VERSION_RE = re.compile(r"minimum\s+valid\s+(?:change\s+tracking\s+)?version\D{0,20}(\d+)?", re.IGNORECASE)
MINIMUM_VERSION_KEY = "MinimumValidVersion"


def is_expired_version_answer(status: int, text: str) -> bool:
    """The detection rule: HTTP 400 naming the minimum valid version."""
    if status != EXPIRED_VERSION_STATUS or not text:
        return False
    return bool(EXPIRED_VERSION_RE.search(text)) or f'"{MINIMUM_VERSION_KEY}"' in text


def minimum_valid_version(text: str) -> int | None:
    """The minimum valid version named by an expired-version answer, when it says."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get(MINIMUM_VERSION_KEY), int):
        return int(body[MINIMUM_VERSION_KEY])
    match = EXPIRED_VERSION_RE.search(text or "")
    return int(match.group(1)) if match and match.group(1) else None


# -- settings ------------------------------------------------------------------------------------
def setting_properties() -> list[th.Property[t.Any]]:
    """PCRecruiter settings (public interface: keep the names)."""
    return [
        *SERVICE.connection_settings(
            [
                th.Property(DATABASE_ID_SETTING, th.StringType, description="PCRecruiter database id."),
                th.Property(USERNAME_SETTING, th.StringType, description="PCRecruiter user name."),
                SERVICE.credential(PASSWORD_SETTING, "PCRecruiter password."),
                th.Property(APP_ID_SETTING, th.StringType, description="PCRecruiter API application id."),
                SERVICE.credential(API_KEY_SETTING, "PCRecruiter API key."),
            ],
            base_url_description="PCRecruiter REST API base URL (ending in /rest/api).",
        ),
        th.Property(
            ENTITIES_SETTING,
            th.ArrayType(th.StringType),
            default=list(DEFAULT_ENTITIES),
            description=f"Entities to sync, one stream each (pcrecruiter_<entity>): {', '.join(ENTITIES)}.",
        ),
        th.Property(
            FIELDS_SETTING,
            th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
            description='Fields to ask for, per entity, e.g. {"candidates": ["FirstName", "LastName"]} '
            "(the primary key is always included). Default: every field.",
        ),
        th.Property(
            QUERY_SETTING,
            th.ObjectType(additional_properties=th.StringType),
            description='PCRecruiter query per entity, e.g. {"candidates": "status eq Active"}. Deleted records '
            "always come through (the API cannot apply a query to them).",
        ),
        th.Property(
            APP_NAME_SETTING,
            th.StringType(pattern=APP_NAME_PATTERN),
            description="Use PCRecruiter's change-tracking version handling by application name (per app and "
            f"user) instead of the tap's bookmarks. The name {APP_NAME_RULE}.",
        ),
        th.Property(
            OPERATIONS_SETTING,
            th.StringType(pattern=OPERATIONS_PATTERN),
            default=OPERATIONS,
            description="Changes to read: any of I (inserts), U (updates), D (deletes). Without D, deleted "
            "records are not reported and full listings send no ACTIVATE_VERSION.",
        ),
        th.Property(
            RESULTS_PER_PAGE_SETTING,
            th.IntegerType(minimum=1, maximum=MAX_RESULTS_PER_PAGE),
            default=DEFAULT_RESULTS_PER_PAGE,
            description="ResultsPerPage of every list request. Larger pages mean fewer requests (up to "
            f"{MAX_RESULTS_PER_PAGE}, assumed the largest PCRecruiter accepts); a server that answers "
            "fewer results than asked while more remain fails the run rather than skipping records.",
        ),
    ]


def _entities(config: t.Mapping[str, t.Any]) -> list[str]:
    value = config.get(ENTITIES_SETTING) or list(DEFAULT_ENTITIES)
    entities = [e.strip() for e in value.split(",")] if isinstance(value, str) else [str(e).strip() for e in value]
    unknown = [e for e in entities if e not in ENTITIES]
    if unknown or not entities:
        msg = f"Setting `{ENTITIES_SETTING}` has unknown entities {unknown}; use any of {', '.join(ENTITIES)}."
        raise ConfigError(msg)
    return list(dict.fromkeys(entities))


def check_config(config: t.Mapping[str, t.Any]) -> list[str]:
    """The configured entities; a :class:`ConfigError` naming the setting for anything invalid."""
    entities = _entities(config)
    app_name = config.get(APP_NAME_SETTING)
    if app_name not in (None, "") and not is_valid_app_name(app_name):
        msg = f"Setting `{APP_NAME_SETTING}` {APP_NAME_RULE} (PCRecruiter's rule), got {app_name!r}."
        raise ConfigError(msg)
    operations = config.get(OPERATIONS_SETTING)
    if operations not in (None, "") and normalize_operations(operations) is None:
        msg = f"Setting `{OPERATIONS_SETTING}` must combine the letters I, U and D, got {operations!r}."
        raise ConfigError(msg)
    for setting in (FIELDS_SETTING, QUERY_SETTING):
        extra = sorted(set(config.get(setting) or {}) - set(entities))
        if extra:
            msg = f"Setting `{setting}` names entities that are not synced: {extra} (synced: {entities})."
            raise ConfigError(msg)
    return entities


def results_per_page(config: t.Mapping[str, t.Any]) -> int:
    """ResultsPerPage of every list request."""
    return int(config.get(RESULTS_PER_PAGE_SETTING) or DEFAULT_RESULTS_PER_PAGE)
