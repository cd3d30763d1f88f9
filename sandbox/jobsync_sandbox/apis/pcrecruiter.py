"""Simulated PCRecruiter REST API with change tracking (``pcrecruiter-change-tracking.txt``).

What it serves below ``/pcrecruiter/rest/api`` (the document's rules are restated below, each next to
the words it comes from; the sandbox shares no code with the connectors):

- ``GET access-token?DatabaseId=&Username=&Password=&AppId=&ApiKey=`` -> ``{"SessionId"}``;
  every other call needs ``Authorization: BEARER <SessionId>`` (else 401).
- ``GET candidates|companies|positions`` (``ResultsPerPage``, ``Page``, ``query``, ``fields``)
  -> ``{"TotalRecords", "Results"}`` ordered by primary key; ``GET <entity>/<id>``.
- ``X-CHANGETRACKING: <version>`` on a list: only records changed since that version (net
  effect per record), filtered by ``X-CHANGETRACKING-OPERATION``; the response header
  carries the current version. ``GET null`` with ``X-CHANGETRACKING: GET`` reads it.
- App-name mode: ``MyApp START`` / ``MyApp`` / ``MyApp STOP`` (or ``END``: the ``commit_command``
  reading) per app and user.

Choices where the document is silent (each also noted where it is made):

- Versions are database-wide (one counter, starting at 1000). A change log entry older
  than seven days on the sandbox clock is pruned lazily (on the next request); a version
  below the newest pruned one answers 400 naming the minimum valid version.
- A change set is ordered by primary key and never shrinks while it is read (an inserted
  then deleted record stays in it as D): changes made while a client pages through it can
  only move records to later pages (read twice), never to pages already read (lost).
- ``X-CHANGETRACKING: GET`` on a list answers the plain listing plus the version header.
- App-name mode with nothing stored yet for (app, user) returns every record as an insert.
  A continuation or STOP with no START before it answers 400. App names are matched
  case-insensitively.

Readings (``READINGS`` below; ``/_control/api/pcrecruiter/readings``, ``serve --reading
pcrecruiter.<name>=<value>``): ``expired_version`` (error|partial), ``commit_command``
(both|END|STOP), ``operations`` (letters|all|both), ``deleted_key`` (number|string).

Controls (``POST /_control/api/pcrecruiter/<action>``): ``insert`` ``{"entity", "record"?,
"count"?}``, ``update`` ``{"entity", "id"|"ids", "fields"}``, ``delete`` ``{"entity",
"id"|"ids"}``, ``expire_sessions``, ``version``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
import re
import secrets
import typing as t
from dataclasses import dataclass, field

from jobsync_sandbox.core import HTTPError, Reading, Request, Response, SimulatedAPI, isoformat, json_response, route

# -- the document's rules, restated here (the sandbox imports nothing from the connectors) ----------------
#: "There are two headers that you can set to control Change Tracking within API calls:
#:  1. X-CHANGETRACKING ... 2. X-CHANGETRACKING-OPERATION"
TRACKING_HEADER = "X-CHANGETRACKING"
OPERATION_HEADER = "X-CHANGETRACKING-OPERATION"
#: "based on whether they were inserted, updated, or deleted (I, U, and D respectively). If this header
#:  is omitted, all three types of operations are returned."
INSERT, UPDATE, DELETE = "I", "U", "D"
ALL_OPERATIONS = INSERT + UPDATE + DELETE
#: "This API call is to the null endpoint and requests the current Change Tracking Version":
#: "GET /rest/api/null", "Request header: X-CHANGETRACKING: GET".
CURRENT_VERSION_COMMAND = "GET"
#: "The first request includes the START command after the application name"; "The third request
#: includes the END command" (its example sends "X-CHANGETRACKING: MyApp STOP": see `commit_command`).
START_COMMAND, END_COMMAND, STOP_COMMAND = "START", "END", "STOP"
#: "Change Tracking is usually only retained for up to seven days."
RETENTION = dt.timedelta(days=7)
#: "Appnames must start with a non-numeric character and be a total of 10 alphanumeric characters or less."
APP_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,9}")
APP_NAME_RULE = "must start with a letter and be at most 10 letters or digits"

# -- not in the document: PCRecruiter's public REST API (each one a sandbox assumption) -----------------------
#: ``GET access-token?DatabaseId=&Username=&Password=&AppId=&ApiKey=`` -> ``{"SessionId": ...}``, then
#: ``Authorization: BEARER <SessionId>``.
ACCESS_TOKEN_PATH = "access-token"  # noqa: S105 - the endpoint's path, not a password
SESSION_ID_KEY = "SessionId"
AUTH_SCHEME = "BEARER"
#: 401 bodies, in the ASP.NET Web API wording PCRecruiter's REST service answers with.
UNAUTHORIZED_MESSAGE = "Authorization has been denied for this request."
BAD_CREDENTIALS_MESSAGE = "Invalid DatabaseId, Username, Password, AppId or ApiKey."
#: Lists: ``ResultsPerPage`` and 1-based ``Page`` in, ``{"TotalRecords", "Results"}`` out; the document's
#: example query string supplies ``query`` and ``fields``.
PAGE_PARAM, RESULTS_PER_PAGE_PARAM, QUERY_PARAM, FIELDS_PARAM = "Page", "ResultsPerPage", "query", "fields"
TOTAL_KEY, RESULTS_KEY = "TotalRecords", "Results"
#: Page sizes: 100 by default and at most 500 (refused above it, so a client's wrong guess fails loudly).
DEFAULT_RESULTS_PER_PAGE = 100
MAX_RESULTS_PER_PAGE = 500
#: The entities served and their primary keys (the example's ``CandidateId``; the others by analogy).
ENTITIES: dict[str, str] = {"candidates": "CandidateId", "companies": "CompanyId", "positions": "JobId"}
#: A version older than what is retained: HTTP 400 naming the minimum valid version (the document names no error).
EXPIRED_VERSION_STATUS = 400


# -- the plausible readings of the document (see core.Reading) ------------------------------------------------
READINGS: dict[str, Reading] = {
    "expired_version": Reading(
        values={
            "error": "a version older than what is retained answers 400 naming the minimum valid version",
            "partial": "it answers 200 with only the changes still retained: older changes are silently lost",
        },
        default="error",
        doc='"Keep in mind that Change Tracking is usually only retained for up to seven days." (what happens '
        "past that is not said)",
        why="The document promises 'an efficient and reliable way to discover which records changed': an API "
        "that silently drops changes would break that promise, so it is the reading tests must opt into. "
        "Today's behaviour.",
    ),
    "commit_command": Reading(
        values={
            "both": "END and STOP both conclude an app-name pull",
            "END": "only END concludes it (step 3's words); STOP answers 400",
            "STOP": "only STOP concludes it (the example request); END answers 400",
        },
        default="both",
        doc='"3. End Command The third request includes the END command" vs "REQUEST 3 ... '
        'X-CHANGETRACKING: MyApp STOP"',
        why="The prose and the example are equally literal and contradict each other; accepting both is "
        "today's behaviour (the tap sends STOP). END and STOP alone prove a connector copes with either.",
    ),
    "operations": Reading(
        values={
            "letters": "X-CHANGETRACKING-OPERATION is a combination of I, U and D (IU, IUD...); ALL answers 400",
            "all": "everything is asked for with ALL; the explicit list IUD answers 400 (subsets such as IU, "
            "as in the example, still work)",
            "both": "ALL and any combination of I, U and D are accepted",
        },
        default="letters",
        doc='"you can specify whether you want to see only ADDS, EDITS, or DELETES... or ALL" vs "(I, U, and D '
        'respectively)", "X-CHANGETRACKING-OPERATION: IU"',
        why="The Headers section defines the header's values as the letters I, U and D and the only example "
        "value is IU; ALL appears only in the introduction's prose. Omitting the header returns all three "
        'in every reading ("If this header is omitted, all three types of operations are returned").',
    ),
    "deleted_key": Reading(
        values={
            "number": "a deleted record's key is a negative JSON number (-222222222222222)",
            "string": 'it is a string with a minus sign in front ("-222222222222222")',
        },
        default="number",
        doc='"it will have a minus (-) sign in front of it. This does not mean the primary key value is '
        'negative" vs the example "CandidateId": -222222222222222',
        why="The example shows the exact wire form (a negative number); the prose explains its meaning.",
    ),
}


def is_valid_app_name(name: str) -> bool:
    return bool(APP_NAME_RE.fullmatch(name))


def parse_version(value: str) -> int | None:
    """A change-tracking version (``1234567890`` in the examples): digits only."""
    text = value.strip()
    return int(text) if text.isdigit() else None


def parse_operations(value: str) -> str | None:
    """``IU`` -> ``IU``: letters of I, U and D (any order, any case), in document order; else None."""
    letters = set(value.strip().upper())
    if not letters or not letters <= set(ALL_OPERATIONS):
        return None
    return "".join(op for op in ALL_OPERATIONS if op in letters)


def deleted_key(primary_key: int, *, only_deletes: bool, form: str = "number") -> int | str:
    """ "it will have a minus (-) sign in front of it" (the example: ``"CandidateId": -222222222222222``),
    but "If only Deleted records are requested, the primary key value will NOT have a minus (-) sign".
    ``form`` is the ``deleted_key`` reading: a negative number, or a string with a minus in front."""
    if only_deletes:
        return primary_key
    return f"-{primary_key}" if form == "string" else -primary_key


def expired_version_body(requested: int, minimum: int) -> dict[str, t.Any]:
    return {
        "Message": f"Change tracking version {requested} is no longer available: changes are kept for "
        f"{RETENTION.days} days and the minimum valid version is {minimum}.",
        "MinimumValidVersion": minimum,
    }


INITIAL_VERSION = 1000
#: Records listed in full by ``dump()``; beyond that only the changed ones are.
DUMP_LIMIT = 5000
_EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
#: Seeded keys are spaced, 15 digits long like the document's examples.
_KEY_BASE = {"companies": 110_000_000_000_000, "positions": 220_000_000_000_000, "candidates": 330_000_000_000_000}
_KEY_STEP = 7

FIELDS: dict[str, tuple[str, ...]] = {
    "candidates": (
        "CandidateId", "FirstName", "LastName", "EmailAddress", "MobilePhone", "Title", "CompanyName",
        "City", "State", "Country", "Status", "DateEntered", "LastModified",
    ),
    "companies": (
        "CompanyId", "CompanyName", "Industry", "WebSite", "Phone", "City", "State", "Country", "Status",
        "DateEntered", "LastModified",
    ),
    "positions": (
        "JobId", "CompanyId", "CompanyName", "JobTitle", "City", "State", "Country", "Status",
        "NumberOfOpenings", "SalaryMin", "SalaryMax", "DateEntered", "LastModified",
    ),
}  # fmt: skip

_FIRST = ("Fred", "Barney", "Wilma", "Betty", "Pebbles", "Bamm", "Dino", "George", "Jane", "Judy", "Elroy", "Astro")
_LAST = ("Flintstone", "Rubble", "Slate", "Jetson", "Spacely", "Cogswell", "Gazoo", "Rockhead")
_CITIES = (("Bedrock", "AZ"), ("Orbit City", "CA"), ("Rockvegas", "NV"), ("Cleveland", "OH"), ("Austin", "TX"))
_TITLES = ("Engineer", "Recruiter", "Dispatcher", "Accountant", "Nurse", "Driver", "Analyst", "Manager")
_INDUSTRIES = ("Quarrying", "Aerospace", "Healthcare", "Logistics", "Finance", "Retail")
_STATUSES = {
    "candidates": ("Active", "Placed", "Inactive"),
    "companies": ("Client", "Prospect"),
    "positions": ("Open", "Filled", "On Hold"),
}


@dataclass
class _Change:
    version: int
    op: str
    key: int
    at: dt.datetime


@dataclass
class _Pull:
    """An app-name pull in progress: read changes since ``since``, commit ``temp`` on STOP."""

    since: int | None
    temp: int


@dataclass
class _EntityStore:
    """One entity: seeded records generated from their index, changes kept in overrides."""

    name: str
    key_name: str
    size: int
    api: PCRecruiterAPI
    overrides: dict[int, dict[str, t.Any]] = field(default_factory=dict)
    deleted_indexes: list[int] = field(default_factory=list)  # sorted seeded indexes
    deleted: set[int] = field(default_factory=set)
    inserted: list[int] = field(default_factory=list)  # live inserted keys, ascending
    next_index: int = 0
    log: list[_Change] = field(default_factory=list)
    log_versions: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.next_index = self.size

    # -- keys and records ---------------------------------------------------------------------
    def key_of(self, index: int) -> int:
        return _KEY_BASE[self.name] + (index + 1) * _KEY_STEP

    def index_of(self, key: int) -> int | None:
        offset = key - _KEY_BASE[self.name]
        if offset <= 0 or offset % _KEY_STEP:
            return None
        return offset // _KEY_STEP - 1

    def exists(self, key: int) -> bool:
        index = self.index_of(key)
        return index is not None and index < self.next_index and key not in self.deleted

    def record(self, key: int) -> dict[str, t.Any] | None:
        if not self.exists(key):
            return None
        if key in self.overrides:
            return self.overrides[key]
        index = self.index_of(key)
        assert index is not None  # exists() checked it
        return self.api.generate(self.name, index)

    @property
    def live_count(self) -> int:
        return self.size - len(self.deleted_indexes) + len(self.inserted)

    def live_keys(self, start: int, count: int) -> list[int]:
        """``count`` live keys from position ``start`` in key order, without listing them all."""
        keys: list[int] = []
        seeded_live = self.size - len(self.deleted_indexes)
        if start < seeded_live:
            index = self._seeded_index_at(start)
            while len(keys) < count and index < self.size:
                key = self.key_of(index)
                if key not in self.deleted:
                    keys.append(key)
                index += 1
            start = seeded_live
        offset = start - seeded_live
        keys.extend(self.inserted[offset : offset + count - len(keys)])
        return keys

    def _seeded_index_at(self, position: int) -> int:
        # Smallest seeded index with `position + 1` live seeded records up to and including it.
        lo, hi = position, position + len(self.deleted_indexes)
        while lo < hi:
            mid = (lo + hi) // 2
            if mid + 1 - bisect.bisect_right(self.deleted_indexes, mid) >= position + 1:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def all_live_keys(self) -> t.Iterator[int]:
        for index in range(self.size):
            key = self.key_of(index)
            if key not in self.deleted:
                yield key
        yield from self.inserted

    # -- mutations (the caller bumps the version) ---------------------------------------------------
    def insert(self, record: dict[str, t.Any]) -> int:
        index = self.next_index
        self.next_index += 1
        key = self.key_of(index)
        self.overrides[key] = {**self.api.generate(self.name, index), **record, self.key_name: key}
        self.inserted.append(key)
        return key

    def update(self, key: int, fields: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        current = self.record(key)
        assert current is not None
        self.overrides[key] = {**current, **fields, self.key_name: key}
        return self.overrides[key]

    def delete(self, key: int) -> None:
        index = self.index_of(key)
        assert index is not None
        self.deleted.add(key)
        self.overrides.pop(key, None)
        if index < self.size:
            bisect.insort(self.deleted_indexes, index)
        else:
            self.inserted.remove(key)

    # -- change log ---------------------------------------------------------------------------------
    def log_change(self, change: _Change) -> None:
        self.log.append(change)
        self.log_versions.append(change.version)

    def prune(self, cutoff: dt.datetime) -> int | None:
        """Drop entries older than ``cutoff``; return the newest dropped version."""
        count = 0
        while count < len(self.log) and self.log[count].at < cutoff:
            count += 1
        if not count:
            return None
        newest = self.log[count - 1].version
        del self.log[:count]
        del self.log_versions[:count]
        return newest

    def net_changes(self, since: int) -> list[tuple[int, str]]:
        """``(key, I|U|D)`` of every record changed after ``since``, in key order.

        Net effect per record: deleted last -> D (even when it was inserted after ``since``:
        dropping it would shrink the set under a client paging through it); inserted
        first -> I; otherwise U.
        """
        first: dict[int, str] = {}
        last: dict[int, str] = {}
        for change in self.log[bisect.bisect_right(self.log_versions, since) :]:
            first.setdefault(change.key, change.op)
            last[change.key] = change.op
        net = []
        for key in sorted(last):
            if last[key] == DELETE:
                net.append((key, DELETE))
            elif first[key] == INSERT:
                net.append((key, INSERT))
            else:
                net.append((key, UPDATE))
        return net


# -- query: "firstname eq fred and city co rock" ----------------------------------------------------------
# PCRecruiter's query syntax beyond the document's `firstname eq fred` is assumed: conditions
# `field op value` joined by `and`; ops eq ne co (contains) sw (starts with) gt ge lt le;
# field names and text compare case-insensitively; quote values that contain spaces.
_CONDITION_RE = re.compile(
    r"\s*(?P<field>\w+)\s+(?P<op>\w+)\s+(?P<value>'[^']*'|\"[^\"]*\"|.+?)\s*(?:\s+and\s+|$)", re.IGNORECASE
)
_COMPARISONS: dict[str, t.Callable[[t.Any, t.Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}
_TEXT_OPS: dict[str, t.Callable[[str, str], bool]] = {
    "co": lambda a, b: b in a,
    "sw": lambda a, b: a.startswith(b),
}
Condition = tuple[str, str, str]  # (field, operator, value)


def _bad_request(message: str) -> HTTPError:
    return HTTPError(400, {"Message": message})


def parse_query(text: str, fields: t.Sequence[str]) -> list[Condition]:
    canonical = {f.lower(): f for f in fields}
    conditions: list[Condition] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _CONDITION_RE.match(text, position)
        if not match or match.end() == position:
            raise _bad_request(f"Invalid query near {text[position:]!r}.")
        name = canonical.get(match["field"].lower())
        if name is None:
            raise _bad_request(f"Unknown field {match['field']!r} in query.")
        op = match["op"].lower()
        if op not in _COMPARISONS and op not in _TEXT_OPS:
            raise _bad_request(f"Unknown operator {match['op']!r} in query (use eq, ne, co, sw, gt, ge, lt, le).")
        value = match["value"]
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        conditions.append((name, op, value))
        position = match.end()
    return conditions


def _text(value: t.Any) -> str:
    return str(value if value is not None else "").lower()


def _holds(record_value: t.Any, op: str, wanted: str) -> bool:
    if op in _TEXT_OPS:
        return _TEXT_OPS[op](_text(record_value), wanted.lower())
    if isinstance(record_value, (int, float)) and not isinstance(record_value, bool):
        try:
            return _COMPARISONS[op](record_value, float(wanted))
        except ValueError:
            pass
    return _COMPARISONS[op](_text(record_value), wanted.lower())


def matches(record: t.Mapping[str, t.Any], conditions: t.Sequence[Condition]) -> bool:
    return all(_holds(record.get(name), op, wanted) for name, op, wanted in conditions)


class PCRecruiterAPI(SimulatedAPI):
    name = "pcrecruiter"
    base_path = "/pcrecruiter/rest/api"
    default_sizes: t.ClassVar[dict[str, int]] = {"companies": 20, "positions": 40, "candidates": 60}
    default_credentials: t.ClassVar[dict[str, t.Any]] = {
        "database_id": "SANDBOX",
        "username": "sandbox",
        "password": "sandbox-pcr-password",
        "app_id": "jobsync",
        "api_key": "sandbox-pcr-key",
    }
    paging_parameters = (PAGE_PARAM,)
    readings_spec = READINGS

    def reset(self) -> None:
        self.stores = {
            name: _EntityStore(name, key_name, int(self.sizes.get(name, 0)), self)
            for name, key_name in ENTITIES.items()
        }
        self.version = INITIAL_VERSION
        # Nothing before change tracking was switched on can be asked for.
        self.min_valid_version = INITIAL_VERSION
        self.sessions: dict[str, str] = {}
        self.app_versions: dict[tuple[str, str], int] = {}
        self.pulls: dict[tuple[str, str], _Pull] = {}
        self.commands: list[dict[str, t.Any]] = []
        # Cleared whenever the data or the oldest valid version changes: (entity, query) -> matching live keys,
        # and (entity, since, operations, query) -> the net changes (key, operation) a change set pages through.
        self._listing_cache: dict[tuple[str, str], list[int]] = {}
        self._change_cache: dict[tuple[str, int, str, str], list[tuple[int, str]]] = {}

    # -- seeded data ------------------------------------------------------------------------------------
    def generate(self, entity: str, index: int) -> dict[str, t.Any]:
        rng = random.Random(f"{self.seed}:{entity}:{index}")  # noqa: S311 - seeded, reproducible fake data, no secret
        entered = _EPOCH + dt.timedelta(minutes=37 * index)
        city, state = rng.choice(_CITIES)
        common = {
            "City": city,
            "State": state,
            "Country": "US",
            "Status": rng.choice(_STATUSES[entity]),
            "DateEntered": isoformat(entered, millis=False),
            "LastModified": isoformat(entered + dt.timedelta(hours=rng.randint(0, 400)), millis=False),
        }
        store = self.stores[entity]
        if entity == "companies":
            name = f"{rng.choice(_LAST)} {rng.choice(_INDUSTRIES)} {index}"
            return {
                "CompanyId": store.key_of(index),
                "CompanyName": name,
                "Industry": rng.choice(_INDUSTRIES),
                "WebSite": f"https://company{index}.example.com",
                "Phone": f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
                **common,
            }
        if entity == "positions":
            companies = self.stores["companies"]
            company_index = rng.randrange(max(1, companies.size))
            company = self.generate("companies", company_index) if companies.size else {}
            low = rng.randint(30, 90) * 1000
            return {
                "JobId": store.key_of(index),
                "CompanyId": company.get("CompanyId"),
                "CompanyName": company.get("CompanyName"),
                "JobTitle": f"{rng.choice(_TITLES)} {index}",
                "NumberOfOpenings": rng.randint(1, 5),
                "SalaryMin": low,
                "SalaryMax": low + rng.randint(5, 40) * 1000,
                **common,
            }
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        return {
            "CandidateId": store.key_of(index),
            "FirstName": first,
            "LastName": last,
            "EmailAddress": f"{first}.{last}.{index}@example.com".lower(),
            "MobilePhone": f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
            "Title": rng.choice(_TITLES),
            "CompanyName": f"{rng.choice(_LAST)} {rng.choice(_INDUSTRIES)}",
            **common,
        }

    # -- sessions ---------------------------------------------------------------------------------------
    def authenticate(self, request: Request) -> None:
        if request.path.rstrip("/") == f"/{ACCESS_TOKEN_PATH}":
            return
        if self._user(request) is None:
            raise HTTPError(401, {"Message": UNAUTHORIZED_MESSAGE})

    def _user(self, request: Request) -> str | None:
        scheme, _, token = (request.header("Authorization") or "").strip().partition(" ")
        if scheme.upper() != AUTH_SCHEME:
            return None
        with self.lock:
            return self.sessions.get(token.strip())

    @route("GET", "/access-token")
    def access_token(self, request: Request) -> Response:
        account = {
            "DatabaseId": self.credentials["database_id"],
            "AppId": self.credentials["app_id"],
            "ApiKey": self.credentials["api_key"],
        }
        # Optional extra users of the same database ({"users": {name: password}}), for per-user tests.
        passwords = {str(self.credentials["username"]): str(self.credentials["password"])}
        passwords |= {str(k): str(v) for k, v in (self.credentials.get("users") or {}).items()}
        username = request.arg("Username") or ""
        if any(request.arg(name) != str(value) for name, value in account.items()) or (
            passwords.get(username) is None or passwords[username] != request.arg("Password")
        ):
            raise HTTPError(401, {"Message": BAD_CREDENTIALS_MESSAGE})
        session_id = secrets.token_hex(16)
        with self.lock:
            self.sessions[session_id] = username
        return json_response({SESSION_ID_KEY: session_id})

    # -- change log -------------------------------------------------------------------------------------
    def before_dispatch(self, request: Request) -> None:  # noqa: ARG002 - the SimulatedAPI hook's signature
        with self.lock:
            self._prune()

    def _prune(self) -> None:
        """Lazy retention: drop log entries older than seven days (sandbox clock)."""
        cutoff = self.clock.now() - RETENTION
        for store in self.stores.values():
            newest = store.prune(cutoff)
            if newest is not None and newest > self.min_valid_version:
                self.min_valid_version = newest
                self._clear_caches()

    def _record_change(self, store: _EntityStore, op: str, key: int) -> None:
        self.version += 1
        store.log_change(_Change(self.version, op, key, self.clock.now()))
        self._clear_caches()

    def _clear_caches(self) -> None:
        self._listing_cache.clear()
        self._change_cache.clear()

    def _check_version(self, since: int) -> None:
        # `expired_version` = partial: no error; the change set is then what the pruned log still holds.
        if since < self.min_valid_version and self.reading("expired_version") == "error":
            raise HTTPError(EXPIRED_VERSION_STATUS, expired_version_body(since, self.min_valid_version))

    # -- request parsing ----------------------------------------------------------------------------------
    def _paging(self, request: Request) -> tuple[int, int]:
        per_page = request.int_arg(RESULTS_PER_PAGE_PARAM, DEFAULT_RESULTS_PER_PAGE)
        page = request.int_arg(PAGE_PARAM, 1)
        if not 1 <= per_page <= MAX_RESULTS_PER_PAGE:
            raise _bad_request(f"ResultsPerPage must be between 1 and {MAX_RESULTS_PER_PAGE}.")
        if page < 1:
            raise _bad_request("Page must be 1 or more.")
        # `cap_page_size` control: behave like a server whose real maximum is lower and caps silently.
        cap = getattr(self, "page_size_cap", None)
        return (min(per_page, cap) if cap else per_page), page

    def _fields(self, entity: str, text: str | None) -> tuple[str, ...]:
        names = FIELDS[entity]
        if not text:
            return names
        canonical = {f.lower(): f for f in names}
        wanted = {ENTITIES[entity]}
        for raw in text.split(","):
            if not raw.strip():
                continue
            name = canonical.get(raw.strip().lower())
            if name is None:
                raise _bad_request(f"Unknown field {raw.strip()!r} for {entity}.")
            wanted.add(name)
        # The primary key always comes back, even when not asked for.
        return tuple(f for f in names if f in wanted)

    def _operations(self, request: Request) -> str:
        raw = request.header(OPERATION_HEADER)
        if raw is None or not raw.strip():
            return ALL_OPERATIONS  # omitted: all three
        reading = self.reading("operations")
        if raw.strip().upper() == "ALL":
            if reading == "letters":
                raise _bad_request(f"{OPERATION_HEADER} must be a combination of I, U and D, got {raw!r}.")
            return ALL_OPERATIONS
        ops = parse_operations(raw)
        if ops is None:
            allowed = "a combination of I, U and D" if reading == "letters" else "ALL or a combination of I, U and D"
            raise _bad_request(f"{OPERATION_HEADER} must be {allowed}, got {raw!r}.")
        if ops == ALL_OPERATIONS and reading == "all":
            raise _bad_request(f"{OPERATION_HEADER}: ask for every operation with ALL, got {raw!r}.")
        return ops

    def _commit_commands(self) -> tuple[str, ...]:
        reading = self.reading("commit_command")
        return (END_COMMAND, STOP_COMMAND) if reading == "both" else (reading,)

    def _tracking(self, request: Request) -> tuple[str, t.Any] | None:
        """Parse ``X-CHANGETRACKING``: ("get",), ("version", n), ("app", (name, command))."""
        raw = request.header(TRACKING_HEADER)
        if raw is None or not raw.strip():
            return None
        value = raw.strip()
        if value.upper() == CURRENT_VERSION_COMMAND:
            return ("get", None)
        if parse_version(value) is not None:
            return ("version", parse_version(value))
        parts = value.split()
        if len(parts) > 2 or not is_valid_app_name(parts[0]):
            raise _bad_request(
                f"Invalid change tracking application name {parts[0]!r}: application names {APP_NAME_RULE}."
            )
        command = parts[1].upper() if len(parts) == 2 else None
        if command not in (None, START_COMMAND, *self._commit_commands()):
            allowed = " or ".join((START_COMMAND, *self._commit_commands()))
            raise _bad_request(f"Unknown change tracking command {parts[1]!r} (use {allowed}).")
        return ("app", (parts[0], command))

    # -- app-name mode ------------------------------------------------------------------------------------
    def _app(self, request: Request, name: str, command: str | None, *, on_null: bool) -> _Pull | None:
        """Apply an app-name command; return the pull whose changes this request reads."""
        user = self._user(request) or ""
        key = (name.lower(), user)
        label = command or "CONTINUE"
        entry = {"app": name, "user": user, "command": label, "path": request.path, "version": self.version}
        self.commands.append(entry)
        if command == START_COMMAND:
            # Choice: nothing stored yet for (app, user) -> since None = every record as an insert.
            self.pulls[key] = _Pull(since=self.app_versions.get(key), temp=self.version)
            return self.pulls[key]
        pull = self.pulls.get(key)
        if pull is None:
            entry["rejected"] = True
            raise _bad_request(
                f"No change tracking pull in progress for application {name!r}: send '{name} START' first."
            )
        if command in self._commit_commands():
            if not on_null:
                raise _bad_request(f"Send '{name} {command}' to the null endpoint.")
            self.app_versions[key] = pull.temp
            del self.pulls[key]
            entry["committed"] = pull.temp
            return None
        return pull

    # -- endpoints ----------------------------------------------------------------------------------------
    @route("GET", "/null")
    def null(self, request: Request) -> Response:
        with self.lock:
            tracking = self._tracking(request)
            version = self.version
            if tracking is not None and tracking[0] == "app":
                name, command = tracking[1]
                self._app(request, name, command, on_null=True)
                if command in self._commit_commands():
                    version = self.app_versions[(name.lower(), self._user(request) or "")]
            headers = {TRACKING_HEADER: str(version)} if tracking is not None else {}
            return Response(200, None, headers)

    @route("GET", "/(?P<entity>candidates|companies|positions)")
    def list_entity(self, request: Request) -> Response:
        entity = request.path_params["entity"]
        with self.lock:
            per_page, page = self._paging(request)
            fields = self._fields(entity, request.arg(FIELDS_PARAM))
            query = request.arg(QUERY_PARAM) or ""
            conditions = parse_query(query, FIELDS[entity]) if query.strip() else []
            tracking = self._tracking(request)
            if tracking is None or tracking[0] == "get":
                rows, total = self._listing(entity, fields, query, conditions, per_page=per_page, page=page)
            else:
                if tracking[0] == "version":
                    since: int | None = tracking[1]
                else:
                    pull = self._app(request, *tracking[1], on_null=False)
                    since = pull.since if pull is not None else None
                rows, total = self._change_page(
                    entity,
                    since,
                    self._operations(request),
                    fields=fields,
                    query=query,
                    conditions=conditions,
                    per_page=per_page,
                    page=page,
                )
            headers = {TRACKING_HEADER: str(self.version)} if tracking is not None else {}
            return json_response({TOTAL_KEY: total, RESULTS_KEY: rows}, headers=headers)

    @route("GET", "/(?P<entity>candidates|companies|positions)/(?P<id>[^/]+)")
    def get_entity(self, request: Request) -> Response:
        entity = request.path_params["entity"]
        with self.lock:
            fields = self._fields(entity, request.arg(FIELDS_PARAM))
            key = parse_version(request.path_params["id"])  # a non-negative integer
            record = self.stores[entity].record(key) if key is not None else None
            if record is None:
                raise HTTPError(404, {"Message": f"No {entity} record {request.path_params['id']}."})
            return json_response(self._project(record, fields))

    # -- listings and change sets ---------------------------------------------------------------------------
    @staticmethod
    def _project(record: t.Mapping[str, t.Any], fields: t.Sequence[str]) -> dict[str, t.Any]:
        return {f: record.get(f) for f in fields}

    def _listing(
        self,
        entity: str,
        fields: tuple[str, ...],
        query: str,
        conditions: list[Condition],
        *,
        per_page: int,
        page: int,
    ) -> tuple[list[dict[str, t.Any]], int]:
        """A plain listing, ordered by primary key (no change tracking)."""
        store = self.stores[entity]
        start = (page - 1) * per_page
        if not conditions:
            keys = store.live_keys(start, per_page)
            return [self._project(store.record(k) or {}, fields) for k in keys], store.live_count
        cache_key = (entity, query.strip().lower())
        matching = self._listing_cache.get(cache_key)
        if matching is None:
            matching = self._listing_cache[cache_key] = [
                k for k in store.all_live_keys() if matches(store.record(k) or {}, conditions)
            ]
        keys = matching[start : start + per_page]
        return [self._project(store.record(k) or {}, fields) for k in keys], len(matching)

    def _change_page(
        self,
        entity: str,
        since: int | None,
        ops: str,
        *,
        fields: tuple[str, ...],
        query: str,
        conditions: list[Condition],
        per_page: int,
        page: int,
    ) -> tuple[list[dict[str, t.Any]], int]:
        store = self.stores[entity]
        if since is None:
            # App name seen for the first time: every record, as an insert.
            if INSERT not in ops:
                return [], 0
            return self._listing(entity, fields, query, conditions, per_page=per_page, page=page)
        self._check_version(since)
        cache_key = (entity, since, ops, query.strip().lower())
        changes = self._change_cache.get(cache_key)
        if changes is None:
            changes = []
            for key, op in store.net_changes(since):
                if op not in ops:
                    continue
                # Deleted records skip the query: their field data is gone.
                if op != DELETE and conditions and not matches(store.record(key) or {}, conditions):
                    continue
                changes.append((key, op))
            self._change_cache[cache_key] = changes
        start = (page - 1) * per_page
        only_deletes = ops == DELETE
        rows = []
        for key, op in changes[start : start + per_page]:
            if op == DELETE:
                form = self.reading("deleted_key")
                rows.append({store.key_name: deleted_key(key, only_deletes=only_deletes, form=form)})
            else:
                rows.append(self._project(store.record(key) or {}, fields))
        return rows, len(changes)

    # -- controls ---------------------------------------------------------------------------------------
    def _store(self, payload: t.Mapping[str, t.Any]) -> _EntityStore:
        entity = payload.get("entity")
        if entity not in self.stores:
            raise HTTPError(400, {"error": f"entity must be one of {sorted(self.stores)}, got {entity!r}"})
        return self.stores[entity]

    def _keys(self, store: _EntityStore, payload: t.Mapping[str, t.Any]) -> list[int]:
        keys = [int(k) for k in payload.get("ids") or [payload.get("id")] if k is not None]
        missing = [k for k in keys if not store.exists(k)]
        if missing or not keys:
            raise HTTPError(404, {"error": f"no live {store.name} record(s) {missing or keys}"})
        return keys

    def control(self, action: str, payload: t.Mapping[str, t.Any]) -> t.Any:
        self._prune()
        if action == "expire_sessions":
            expired = len(self.sessions)
            self.sessions.clear()
            return {"expired": expired}
        if action == "cap_page_size":
            self.page_size_cap = int(payload.get("results_per_page") or 0) or None
            return {"page_size_cap": self.page_size_cap}
        if action == "version":
            return {"version": self.version, "min_valid_version": self.min_valid_version}
        if action not in {"insert", "update", "delete"}:
            return super().control(action, payload)
        store = self._store(payload)
        now = isoformat(self.clock.now(), millis=False)
        result: list[dict[str, t.Any]] = []
        if action == "insert":
            for _ in range(int(payload.get("count", 1))):
                fields = {"DateEntered": now, "LastModified": now, **dict(payload.get("record") or {})}
                key = store.insert(fields)
                self._record_change(store, INSERT, key)
                result.append(dict(store.record(key) or {}))
        elif action == "update":
            for key in self._keys(store, payload):
                record = store.update(key, {"LastModified": now, **dict(payload.get("fields") or {})})
                self._record_change(store, UPDATE, key)
                result.append(dict(record))
        else:
            for key in self._keys(store, payload):
                store.delete(key)
                self._record_change(store, DELETE, key)
                result.append({store.key_name: key})
        return {"version": self.version, "records": result}

    def dump(self) -> dict[str, t.Any]:
        self._prune()
        entities: dict[str, t.Any] = {}
        for name, store in self.stores.items():
            listed = store.live_count <= DUMP_LIMIT
            keys = list(store.all_live_keys()) if listed else sorted(store.overrides)
            entities[name] = {
                "count": store.live_count,
                "truncated": not listed,
                "records": [store.record(k) for k in keys],
                "deleted": sorted(store.deleted),
                "changes": [{"version": c.version, "op": c.op, "key": c.key, "at": isoformat(c.at)} for c in store.log],
            }
        return {
            "version": self.version,
            "min_valid_version": self.min_valid_version,
            "entities": entities,
            "sessions": len(self.sessions),
            "app_versions": {f"{app}/{user}": v for (app, user), v in self.app_versions.items()},
            "pulls": {f"{app}/{user}": {"since": p.since, "temp": p.temp} for (app, user), p in self.pulls.items()},
            "commands": list(self.commands),
        }
