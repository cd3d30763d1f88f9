"""Simulated TrackJobChanges API v1 (``trackjobchanges-api-v1.txt``).

Choices where the document is silent or contradicts itself (each also noted
where it matters below):

- Auth: ``key`` as a query parameter or a header named ``key``; the query
  parameter wins when both are sent. Missing or wrong key: HTTP 401 with
  ``{"status": "ERROR", "message": ...}`` (the document names no body).
- Pagination: every GET list takes ``page`` (1-based, default 1). The page size
  is undocumented: 100 here (``sizes["page_size"]`` changes it). A page past the
  end is empty with ``last_page: true``; ``page`` that is not a positive integer
  is a 400 (so client bugs surface instead of silently reading page 1).
- ``total_count`` is sent where the document shows it (connection lists,
  search, employments), not on ping lists, whose examples lack it.
- Connections: list items and the single connection share one shape, which
  includes ``employment_checked_at``, ``new_job_flagged_at`` and
  ``has_new_title`` (the list example omits them, the single example has them; the
  reading ``employment_checked_at`` = ``absent`` answers lists without them).
  The ``starting_employment``/``current_employment`` objects carry the union of
  the two examples' fields (``domain`` and ``started_at``/``ended_at``).
  Lists are ordered by id, ascending.
- Groups: connection ``i`` of the seeded data belongs to group
  ``GROUP_IDS[(i - 1) % groups]``. Without ``group``, GET calls see every group
  (the document only says that *creating* defaults to the first group); with
  an unknown group, 404. Pings are account-wide and ignore ``group``.
- ``POST /connections``: parameters from the query string (as the example) or a
  form/JSON body. The documented minimum rule is enforced (``linkedin_url``, or
  ``first_name`` and ``last_name`` with ``email`` or ``company``) with a 400, even
  though the document's own example sends ``email`` alone. The new connection is
  "processing": ``has_new_job`` and ``employment_checked_at`` are null and it has
  no ``current_employment`` until the ``check`` control action. ``persist=false``
  answers the same but keeps nothing.
- Ping history: every authenticated call to a known endpoint is recorded (before
  it is handled, so a call sees its own ping), including failed ones, with
  ``query_params`` shaped like Rails params as in the example: the query string
  (so a key sent there comes back, as the real API does), body parameters, the
  route's id (``id`` or ``connection_id``), then ``action``, ``format`` and
  ``controller``. Requests refused by an injected fault never reach the API and
  leave no ping. Oldest first, so page-based reading stays stable while calls
  are appended. Endpoint names: ``account#show``, ``pings#index``,
  ``pings#search``, ``connections#<action>``, ``employments#index``.
- ``destroy_all`` is a GET (as documented) and honours ``group``.
- ``harvest`` only queues the request (kept in the store); it adds no connections.

Seeded data is a pure function of ``seed`` and the index, generated on demand;
only changes live in memory (override dictionaries), and the ping history is
kept in compact arrays, so a million connections (and the million calls that
read their employments) stay cheap. The people are shared with the Workable
sandbox: connection ``i`` is Workable's seeded candidate ``i - 1`` (names, and the
email of the first employment, i.e. ``starting_employment.email``), so with at
least as many Workable candidates as connections every job change names one.

Control actions (``POST /_control/api/trackjobchanges/<action>``):

- ``job_change`` ``{"connection_id", "company"?, "title"?, "email"?}``: the
  connection gets a new current employment; ``has_new_job`` true,
  ``employment_checked_at`` and ``new_job_flagged_at`` set to the sandbox clock.
- ``check`` ``{"connection_id"}``: employment re-checked, only
  ``employment_checked_at`` moves.
- ``add_connections`` ``{"count": 1, "group": null}``: new, already checked
  connections (with employments) appended after the last id.

``dump()`` holds every record while the store is small (up to ``DUMP_LIMIT``
connections/pings); above that it holds counts and the overrides only.
"""

from __future__ import annotations

import array
import bisect
import collections
import copy
import datetime as dt
import hmac
import itertools
import random
import typing as t
from urllib.parse import parse_qsl

from jobsync_sandbox.apis.workable import seeded_person
from jobsync_sandbox.core import HTTPError, Reading, Request, Response, SimulatedAPI, isoformat, json_response, route

PAGE_SIZE = 100
DUMP_LIMIT = 2000
GROUP_IDS = tuple(range(101, 121))  # up to 20 groups
_VIEW_CACHE_SIZE = 8

UTC = dt.UTC
# Seeded timestamps start here, one connection a minute, so a million stay in the past.
_CONNECTIONS_EPOCH = dt.datetime(2020, 1, 1, tzinfo=UTC)
_PINGS_EPOCH = dt.datetime(2023, 6, 1, tzinfo=UTC)

_FIRST = ("ryan", "maria", "li", "aisha", "jonas", "sofia", "tomas", "priya", "kenji", "amara", "lucas", "noor")
_LAST = ("buckley", "garcia", "chen", "okafor", "berg", "rossi", "novak", "shah", "sato", "diallo", "silva", "haddad")
_COMPANIES = (
    ("scripted", "scripted.com"),
    ("toofr", "toofr.com"),
    ("rapleaf", "rapleaf.com"),
    ("hired, inc", "hired.com"),
    ("diablo valley college", "dvc.edu"),
    ("acme corp", "acme.example"),
    ("globex", "globex.example"),
    ("initech", "initech.example"),
    ("umbrella", "umbrella.example"),
    ("stark industries", "stark.example"),
)
_TITLES = ("ceo", "founder", "advisor", "engineer", "business development", "recruiter", "designer", None)
_LOCATIONS = (
    ("San Francisco, CA, US", False),
    ("Berlin, DE", True),
    ("Lisbon, PT", True),
    ("Austin, TX, US", False),
    ("", False),
)

# Handler name -> (endpoint as the ping history names it, Rails controller, route id param).
_ENDPOINTS: dict[str, tuple[str, str, str | None]] = {
    "get_account": ("account#show", "api/v1/account", None),
    "list_pings": ("pings#index", "api/v1/pings", None),
    "search_pings": ("pings#search", "api/v1/pings", None),
    "list_connections": ("connections#index", "api/v1/connections", None),
    "create_connection": ("connections#create", "api/v1/connections", None),
    "search_connections": ("connections#search", "api/v1/connections", None),
    "harvest": ("connections#harvest", "api/v1/connections", None),
    "destroy_all": ("connections#destroy_all", "api/v1/connections", None),
    "get_connection": ("connections#show", "api/v1/connections", "id"),
    "destroy_connection": ("connections#destroy", "api/v1/connections", "id"),
    "unflag": ("connections#unflag", "api/v1/connections", "id"),
    "unflag_title": ("connections#unflag_title", "api/v1/connections", "id"),
    "list_employments": ("employments#index", "api/v1/employments", "connection_id"),
}
_ENDPOINT_NAMES = tuple(_ENDPOINTS)


#: Keys of the single-connection example that the list example ("Get all connections") does not show.
_SINGLE_ONLY_KEYS = ("new_job_flagged_at", "employment_checked_at", "has_new_title")

# -- the plausible readings of the document (see core.Reading) ------------------------------------------------
READINGS: dict[str, Reading] = {
    "employment_checked_at": Reading(
        values={
            "present": "list items (all connections, search) have the single connection's shape, including "
            "employment_checked_at, new_job_flagged_at and has_new_title",
            "absent": "list items have exactly the list example's keys: without employment_checked_at, "
            "new_job_flagged_at and has_new_title (the single connection still has them)",
        },
        default="present",
        doc='"Get connection" shows "employment_checked_at": "2020-12-14T14:37:26.391Z"; the "Get all connections" '
        "and search examples show no employment_checked_at, new_job_flagged_at or has_new_title",
        why="A Rails API renders one serializer for a record whether listed or fetched; the list example is "
        "shorter, not a different resource. Today's behaviour (the tap's incremental key is employment_checked_at).",
    ),
}


def _error(status: int, message: str) -> HTTPError:
    return HTTPError(status, {"status": "ERROR", "message": message})


def _hash_flag(seed: int, cid: int, salt: int) -> int:
    """Cheap deterministic 0..99 per connection (filters need it without building the record)."""
    return (((cid * 2654435761) ^ (seed * 40503 + salt * 97)) & 0xFFFFFFFF) % 100


class TrackJobChangesAPI(SimulatedAPI):
    name = "trackjobchanges"
    base_path = "/trackjobchanges/api/v1"
    default_sizes: t.ClassVar[dict[str, int]] = {
        "connections": 30,
        "employments_per_connection": 3,
        "groups": 2,
        "pings": 5,
        "page_size": PAGE_SIZE,
    }
    default_credentials: t.ClassVar[dict[str, t.Any]] = {"api_key": "sandbox-tjc-key"}
    #: "Simply append a page= parameter to paginate through the results."
    paging_parameters = ("page",)
    readings_spec = READINGS

    # -- store --------------------------------------------------------------------------
    def reset(self) -> None:
        self.page_size = max(1, int(self.sizes["page_size"]))
        self.employments_per_connection = max(1, int(self.sizes["employments_per_connection"]))
        self.groups = list(GROUP_IDS[: max(1, min(len(GROUP_IDS), int(self.sizes["groups"])))])
        self.seeded_connections = max(0, int(self.sizes["connections"]))
        self.seeded_pings = max(0, int(self.sizes["pings"]))
        self.email = f"sandbox+{self.seed}@jobsync.example"
        # Live ids are [min_id, next_id) minus `deleted`; changed/new records live in `changed`.
        self.min_id = 1
        self.next_id = self.seeded_connections + 1
        self.deleted: set[int] = set()
        self.deleted_sorted: list[int] = []
        self.changed: dict[int, dict[str, t.Any]] = {}
        self.group_of: dict[int, int] = {}
        self.employments: dict[int, list[dict[str, t.Any]]] = {}
        self.next_employment_id = self.seeded_connections * self.employments_per_connection + 1
        self.harvests: list[dict[str, t.Any]] = []
        self.version = 0
        # (group, has_new_job, query, store version) -> the matching ids, most recently used last.
        self._views: collections.OrderedDict[tuple[int | None, bool, str | None, int], array.array[int]] = (
            collections.OrderedDict()
        )
        # Recorded pings, one slot per call, in compact parallel arrays.
        self.ping_ms = array.array("q")
        self.ping_endpoint = array.array("B")
        self.ping_route_id = array.array("q")
        self.ping_query: list[str] = []
        self.ping_body: dict[int, dict[str, str]] = {}
        self._interned: dict[str, str] = {}

    def _touch(self) -> None:
        self.version += 1
        self._views.clear()

    # -- seeded data --------------------------------------------------------------------------
    def _seeded_group(self, cid: int) -> int:
        return self.groups[(cid - 1) % len(self.groups)]

    def group_for(self, cid: int) -> int:
        return self.group_of.get(cid) or self._seeded_group(cid)

    def _person(self, cid: int, rng: random.Random) -> tuple[str, str, str]:
        """First name, last name and the email connection ``cid`` applied with.

        Connection ``cid`` is Workable's seeded candidate ``cid - 1`` of the same seed
        (:func:`seeded_person`), so a job change found here names a real Workable candidate
        and the write-back pipeline has someone to update. Names are lower case, as the
        document's examples show them. ``rng`` still draws the old names, so every other
        seeded field keeps its value.
        """
        rng.choice(_FIRST), rng.choice(_LAST)
        person = seeded_person(self.seed, cid - 1)
        return person["firstname"].lower(), person["lastname"].lower(), person["email"]

    def _seeded_employments(self, cid: int) -> list[dict[str, t.Any]]:
        rng = random.Random(self.seed * 1_000_003 + cid)  # noqa: S311 - seeded, reproducible fake data, no secret
        first, last, applied_with = self._person(cid, rng)
        count = self.employments_per_connection
        year = 2000 + rng.randrange(0, 8)
        rows = []
        for j in range(count):
            company, domain = rng.choice(_COMPANIES)
            started = dt.date(year, rng.randrange(1, 13), 1)
            year += rng.randrange(1, 4)
            rows.append(
                {
                    "id": (cid - 1) * count + j + 1,
                    # The first job's address is the one the person applied with (Workable's email).
                    "email": applied_with if j == 0 else f"{first}.{last}@{domain}",
                    "title": rng.choice(_TITLES),
                    "company": company,
                    "started_at": None if j == 0 and rng.random() < 0.3 else started.isoformat(),
                    "ended_at": None,
                    "current": j == count - 1,
                    "email_confidence": None if rng.random() < 0.2 else rng.randrange(20, 101),
                    "connection_id": cid,
                }
            )
        for earlier, later in itertools.pairwise(rows):
            earlier["ended_at"] = later["started_at"]
        return rows

    def _seeded_connection(self, cid: int) -> dict[str, t.Any]:
        rng = random.Random(self.seed * 1_000_003 + cid)  # noqa: S311 - seeded, reproducible fake data, no secret
        first, last, _ = self._person(cid, rng)
        created = _CONNECTIONS_EPOCH + dt.timedelta(minutes=cid, milliseconds=rng.randrange(1000))
        checked = created + dt.timedelta(days=rng.randrange(1, 400), seconds=rng.randrange(86400))
        has_new_job = _hash_flag(self.seed, cid, 1) < 15
        location, in_eu = _LOCATIONS[cid % len(_LOCATIONS)]
        employments = self._seeded_employments(cid)
        handle = f"{first}{last}{cid}"
        return {
            "id": cid,
            "created_at": isoformat(created),
            "has_new_job": has_new_job,
            "new_job_flagged_at": isoformat(checked) if has_new_job else None,
            "first_name": first,
            "last_name": last,
            "linkedin_url": f"https://www.linkedin.com/in/{handle}",
            "facebook_url": f"https://www.facebook.com/{handle}" if cid % 3 == 0 else None,
            "twitter_url": f"https://twitter.com/{handle}" if cid % 4 == 0 else None,
            "avatar_url": f"https://avatars.example/{handle}.png" if cid % 2 == 0 else None,
            "employment_checked_at": isoformat(checked),
            "has_new_title": _hash_flag(self.seed, cid, 2) < 10,
            "location": location,
            "in_eu": in_eu,
            "starting_employment": _summary(employments[0]),
            "current_employment": _summary(employments[-1]),
        }

    # -- reading the store ---------------------------------------------------------------------
    def is_live(self, cid: int) -> bool:
        return self.min_id <= cid < self.next_id and cid not in self.deleted

    def connection(self, cid: int) -> dict[str, t.Any] | None:
        if not self.is_live(cid):
            return None
        record = self.changed.get(cid)
        return record if record is not None else self._seeded_connection(cid)

    def _live_connection(self, cid: int) -> dict[str, t.Any]:
        """The connection of an id known to be live (from ``iter_live_ids`` or a view of this store version)."""
        record = self.connection(cid)
        assert record is not None, f"connection {cid} is not live"
        return record

    def employments_of(self, cid: int) -> list[dict[str, t.Any]]:
        rows = self.employments.get(cid)
        return rows if rows is not None else self._seeded_employments(cid)

    def _mutable(self, cid: int) -> dict[str, t.Any]:
        record = self.connection(cid)
        if record is None:
            raise _error(404, "Connection not found.")
        if cid not in self.changed:
            self.changed[cid] = copy.deepcopy(record)
        self._touch()
        return self.changed[cid]

    def live_count(self) -> int:
        return self.next_id - self.min_id - len(self.deleted)

    def _nth_live(self, k: int) -> int:
        """Id of the k-th (0-based) live connection, without scanning (deletions kept sorted)."""
        cid = self.min_id + k
        while True:
            nxt = self.min_id + k + bisect.bisect_right(self.deleted_sorted, cid)
            if nxt == cid:
                return cid
            cid = nxt

    def iter_live_ids(self, start: int | None = None) -> t.Iterator[int]:
        cid = self.min_id if start is None else start
        while cid < self.next_id:
            if cid not in self.deleted:
                yield cid
            cid += 1

    def _matching_ids(self, group: int | None, has_new_job: bool, query: str | None) -> array.array[int]:
        """Ids passing the filters, computed once per store version (filtered lists need a scan)."""
        key = (group, has_new_job, query, self.version)
        view = self._views.get(key)
        if view is not None:
            self._views.move_to_end(key)
            return view
        view = array.array("q")
        for cid in self.iter_live_ids():
            if group is not None and self.group_for(cid) != group:
                continue
            if has_new_job or query:
                record = self._live_connection(cid)
                if has_new_job and record.get("has_new_job") is not True:
                    continue
                if query and not _connection_matches(record, query):
                    continue
            view.append(cid)
        self._views[key] = view
        while len(self._views) > _VIEW_CACHE_SIZE:
            self._views.popitem(last=False)
        return view

    def _page_of_connections(
        self, page: int, group: int | None, has_new_job: bool = False, query: str | None = None
    ) -> tuple[list[dict[str, t.Any]], int]:
        start = (page - 1) * self.page_size
        if group is None and not has_new_job and not query:
            total = self.live_count()
            if start >= total:
                return [], total
            ids = []
            for cid in self.iter_live_ids(self._nth_live(start)):
                ids.append(cid)
                if len(ids) == self.page_size:
                    break
        else:
            view = self._matching_ids(group, has_new_job, query)
            total = len(view)
            ids = list(view[start : start + self.page_size])
        return [self._live_connection(cid) for cid in ids], total

    # -- pings ----------------------------------------------------------------------------------
    def ping_count(self) -> int:
        return self.seeded_pings + len(self.ping_ms)

    def _seeded_ping(self, index: int) -> dict[str, t.Any]:
        rng = random.Random(self.seed * 7919 + index)  # noqa: S311 - seeded, reproducible fake data, no secret
        handler = rng.choice(("list_connections", "search_connections", "get_connection", "create_connection"))
        endpoint, controller, id_param = _ENDPOINTS[handler]
        params: dict[str, t.Any] = {}
        # Half of the seeded calls sent the key in the query string: the history echoes it.
        if index % 2 == 0:
            params["key"] = self.credentials.get("api_key")
        if handler == "search_connections":
            params["query"] = f"{rng.choice(_FIRST)}@{rng.choice(_COMPANIES)[1]}"
        if handler == "create_connection":
            params["email"] = f"{rng.choice(_FIRST)}@{rng.choice(_COMPANIES)[1]}"
        if id_param:
            params[id_param] = str(rng.randrange(1, max(2, self.seeded_connections + 1)))
        params |= {"action": endpoint.split("#")[1], "format": "json", "controller": controller}
        created = _PINGS_EPOCH + dt.timedelta(minutes=10 * index, milliseconds=rng.randrange(1000))
        return {"query_params": params, "endpoint": endpoint, "created_at": isoformat(created)}

    def ping(self, index: int) -> dict[str, t.Any]:
        if index < self.seeded_pings:
            return self._seeded_ping(index)
        slot = index - self.seeded_pings
        endpoint, controller, id_param = _ENDPOINTS[_ENDPOINT_NAMES[self.ping_endpoint[slot]]]
        params: dict[str, t.Any] = dict(parse_qsl(self.ping_query[slot], keep_blank_values=True))
        params |= self.ping_body.get(slot, {})
        if id_param:
            params[id_param] = str(self.ping_route_id[slot])
        params |= {"action": endpoint.split("#")[1], "format": "json", "controller": controller}
        created = dt.datetime.fromtimestamp(self.ping_ms[slot] / 1000, UTC)
        return {"query_params": params, "endpoint": endpoint, "created_at": isoformat(created)}

    def _record_ping(self, handler: str, request: Request) -> None:
        route_id = request.path_params.get("id")
        body = {}
        if request.method in {"POST", "PUT", "PATCH"} and request.body:
            try:
                body = {str(k): str(v) for k, v in request.form().items()}
            except HTTPError:
                body = {}
        query = self._interned.setdefault(request.raw_query, request.raw_query)
        now = self.clock.now()
        last = self.ping_ms[-1] if self.ping_ms else 0
        # Never earlier than the previous ping: the history is ordered by creation.
        self.ping_ms.append(max(last, int(now.timestamp() * 1000)))
        self.ping_endpoint.append(_ENDPOINT_NAMES.index(handler))
        self.ping_route_id.append(int(route_id) if route_id and route_id.isdigit() else 0)
        self.ping_query.append(query)
        if body:
            self.ping_body[len(self.ping_ms) - 1] = body

    # -- dispatch hooks -----------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        # One lock per API: handlers read and write the store, which is not thread-safe.
        with self.lock:
            return super().dispatch(request)

    def authenticate(self, request: Request) -> None:
        # Assumption: a key in the query string wins over the header (Rails `params[:key] || header`).
        key = (request.arg("key") if "key" in request.query else request.header("key")) or ""
        if not key:
            raise _error(401, "Missing API key: send `key` as a query parameter or a header.")
        expected = str(self.credentials.get("api_key") or "")
        if not hmac.compare_digest(key.encode(), expected.encode()):
            raise _error(401, "Invalid API key.")

    def before_dispatch(self, request: Request) -> None:
        handler = self._handler_name(request)
        if handler is not None:
            self._record_ping(handler, request)

    def _handler_name(self, request: Request) -> str | None:
        for method, regex, attr in self._route_table:
            if method == request.method and regex.match(request.path):
                return attr
        return None

    def not_found(self, request: Request) -> Response:
        return json_response({"status": "ERROR", "message": f"No route matches {request.path}."}, 404)

    # -- request helpers ----------------------------------------------------------------------------
    def _page(self, request: Request) -> int:
        raw = request.arg("page")
        if raw in (None, ""):
            return 1
        try:
            page = int(raw)
        except ValueError:
            raise _error(400, "page must be a positive integer.") from None
        if page < 1:
            raise _error(400, "page must be a positive integer.")
        return page

    def _group(self, request: Request) -> int | None:
        raw = request.arg("group")
        if raw in (None, ""):
            return None
        try:
            group = int(raw)
        except ValueError:
            group = None
        if group not in self.groups:
            raise _error(404, "Group not found.")
        return group

    def _connection_id(self, request: Request, name: str = "id") -> int:
        raw = request.path_params.get(name) or ""
        cid = int(raw) if raw.isdigit() else -1
        if not self.is_live(cid):
            raise _error(404, "Connection not found.")
        return cid

    def _listing(
        self, message: str, rows: list[dict[str, t.Any]], page: int, total: int | None, *, with_total: bool = True
    ) -> Response:
        body: dict[str, t.Any] = {"status": "SUCCESS", "message": message, "data": rows}
        body["last_page"] = page * self.page_size >= (total or 0)
        if with_total:
            body["total_count"] = total
        return json_response(body)

    @staticmethod
    def _params(request: Request) -> dict[str, t.Any]:
        """Parameters from the query string (as the document's examples) and any body."""
        params: dict[str, t.Any] = {k: v[-1] for k, v in request.query.items()}
        if request.body:
            params |= {k: v for k, v in request.form().items() if isinstance(v, (str, int, float, bool))}
        params.pop("key", None)
        return params

    # -- account --------------------------------------------------------------------------------
    @route("GET", "/account")
    def get_account(self, request: Request) -> Response:
        group = self._group(request)
        count = self.live_count() if group is None else len(self._matching_ids(group, False, None))
        return json_response(
            {
                "status": "SUCCESS",
                "message": "Loaded user data",
                "data": {"email": self.email, "connections_count": count},
            }
        )

    @route("GET", "/account/pings")
    def list_pings(self, request: Request) -> Response:
        page = self._page(request)
        total = self.ping_count()
        start = (page - 1) * self.page_size
        rows = [self.ping(i) for i in range(start, min(total, start + self.page_size))]
        # The ping examples show no total_count.
        return self._listing("Loaded pings", rows, page, total, with_total=False)

    @route("GET", "/account/pings/search")
    def search_pings(self, request: Request) -> Response:
        query = (request.arg("query") or "").strip().lower()
        if not query:
            raise _error(400, "query is required.")
        page = self._page(request)
        # Matches the endpoint or any query_params value, case-insensitively.
        matches = [
            p
            for p in (self.ping(i) for i in range(self.ping_count()))
            if query in p["endpoint"].lower() or any(query in str(v).lower() for v in p["query_params"].values())
        ]
        start = (page - 1) * self.page_size
        return self._listing(
            "Loaded pings", matches[start : start + self.page_size], page, len(matches), with_total=False
        )

    # -- connections ----------------------------------------------------------------------------
    @route("GET", "/connections")
    def list_connections(self, request: Request) -> Response:
        page = self._page(request)
        group = self._group(request)
        has_new_job = (request.arg("has_new_job") or "").lower() in {"true", "1"}
        rows, total = self._page_of_connections(page, group, has_new_job)
        return self._listing("Loaded all connections.", self._list_items(rows), page, total)

    @route("GET", "/connections/search")
    def search_connections(self, request: Request) -> Response:
        query = (request.arg("query") or "").strip().lower()
        if not query:
            raise _error(400, "query is required.")
        page = self._page(request)
        rows, total = self._page_of_connections(page, self._group(request), query=query)
        return self._listing("Searched your connections.", self._list_items(rows), page, total)

    def _list_items(self, rows: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        """Connections as a list shows them (the ``employment_checked_at`` reading)."""
        if self.reading("employment_checked_at") == "present":
            return rows
        return [{k: v for k, v in row.items() if k not in _SINGLE_ONLY_KEYS} for row in rows]

    @route("GET", r"/connections/(?P<id>[^/]+)")
    def get_connection(self, request: Request) -> Response:
        record = self.connection(self._connection_id(request))
        return json_response({"status": "SUCCESS", "message": "Loaded connection.", "data": record})

    @route("POST", "/connections")
    def create_connection(self, request: Request) -> Response:
        params = self._params(request)
        text = {k: str(params.get(k) or "").strip() for k in ("email", "first_name", "last_name", "company", "title")}
        linkedin = str(params.get("linkedin_url") or "").strip()
        # Documented minimum (the document's own example, `email` alone, would fail it).
        named = text["first_name"] and text["last_name"] and (text["email"] or text["company"])
        if not linkedin and not named:
            raise _error(
                400,
                "Not enough data: send linkedin_url, or first_name and last_name with email or company.",
            )
        group = self._group(request) or self.groups[0]
        persist = str(params.get("persist", "true")).lower() not in {"false", "0"}
        now = isoformat(self.clock.now())
        cid = self.next_id
        domain = text["email"].rpartition("@")[2] or None
        record: dict[str, t.Any] = {
            "id": cid,
            "created_at": now,
            "has_new_job": None,
            "new_job_flagged_at": None,
            "first_name": text["first_name"] or None,
            "last_name": text["last_name"] or None,
            "linkedin_url": linkedin or None,
            "facebook_url": None,
            "twitter_url": None,
            "avatar_url": None,
            "employment_checked_at": None,
            "has_new_title": False,
            "location": "",
            "in_eu": False,
            "starting_employment": {
                "email": text["email"] or None,
                "title": text["title"] or None,
                "company": text["company"] or None,
                "domain": domain,
                "started_at": None,
                "ended_at": None,
                "current": None,
                "email_confidence": None,
            },
        }
        if persist:
            self.next_id += 1
            self.changed[cid] = record
            self.group_of[cid] = group
            employment = {k: v for k, v in record["starting_employment"].items() if k != "domain"}
            self.employments[cid] = [{"id": self._new_employment_id(), **employment, "connection_id": cid}]
            self._touch()
        return json_response(
            {
                "status": "SUCCESS",
                "message": "Your connection is processing. Use the ID to check again in a few minutes.",
                "data": record,
            }
        )

    @route("POST", "/connections/harvest")
    def harvest(self, request: Request) -> Response:
        params = self._params(request)
        company, term = str(params.get("company") or "").strip(), str(params.get("term") or "").strip()
        if not company or not term:
            raise _error(400, "company and term are required.")
        self.harvests.append({"company": company, "term": term, "group": self._group(request)})
        return json_response({"status": "SUCCESS", "message": "Harvester job is queued."})

    @route("POST", r"/connections/(?P<id>[^/]+)/unflag")
    def unflag(self, request: Request) -> Response:
        self._mutable(self._connection_id(request))["has_new_job"] = False
        return json_response({"status": "SUCCESS", "message": "Unflagged the connection."})

    @route("POST", r"/connections/(?P<id>[^/]+)/unflag_title")
    def unflag_title(self, request: Request) -> Response:
        self._mutable(self._connection_id(request))["has_new_title"] = False
        return json_response({"status": "SUCCESS", "message": "Unflagged the connection title change."})

    @route("DELETE", r"/connections/(?P<id>[^/]+)")
    def destroy_connection(self, request: Request) -> Response:
        self._delete(self._connection_id(request))
        return json_response({"status": "SUCCESS", "message": "Destroyed the connection."})

    @route("GET", "/connections/destroy_all")
    def destroy_all(self, request: Request) -> Response:
        group = self._group(request)
        if group is None:
            # Everything goes: move the window instead of remembering a million ids.
            self.min_id = self.next_id
            self.deleted.clear()
            self.deleted_sorted.clear()
            self.changed.clear()
            self.employments.clear()
            self.group_of.clear()
            self._touch()
        else:
            for cid in list(self._matching_ids(group, False, None)):
                self._delete(cid)
        return json_response({"status": "SUCCESS", "message": "Destroyed all connections."})

    def _delete(self, cid: int) -> None:
        self.deleted.add(cid)
        bisect.insort(self.deleted_sorted, cid)
        self.changed.pop(cid, None)
        self.employments.pop(cid, None)
        self._touch()

    # -- employments ------------------------------------------------------------------------------
    @route("GET", r"/connections/(?P<id>[^/]+)/employments")
    def list_employments(self, request: Request) -> Response:
        cid = self._connection_id(request)
        page = self._page(request)
        rows = self.employments_of(cid)
        start = (page - 1) * self.page_size
        return self._listing("Loaded all employments.", rows[start : start + self.page_size], page, len(rows))

    # -- control ----------------------------------------------------------------------------------
    def _new_employment_id(self) -> int:
        self.next_employment_id += 1
        return self.next_employment_id - 1

    def _control_connection_id(self, payload: t.Mapping[str, t.Any]) -> int:
        cid = int(payload.get("connection_id") or payload.get("id") or 0)
        if not self.is_live(cid):
            raise HTTPError(404, {"error": f"no connection {cid}"})
        return cid

    def control(self, action: str, payload: t.Mapping[str, t.Any]) -> t.Any:
        if action == "job_change":
            return self._job_change(self._control_connection_id(payload), payload)
        if action == "check":
            record = self._mutable(self._control_connection_id(payload))
            record["employment_checked_at"] = isoformat(self.clock.now())
            return record
        if action == "add_connections":
            group = payload.get("group")
            if group is not None and int(group) not in self.groups:
                raise HTTPError(400, {"error": f"unknown group {group}"})
            count = int(payload.get("count", 1))
            return {"ids": [self._add_connection(int(group) if group is not None else None) for _ in range(count)]}
        return super().control(action, payload)

    def _job_change(self, cid: int, payload: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        record = self._mutable(cid)
        rows = [dict(r) for r in self.employments_of(cid)]
        now = self.clock.now()
        company = str(payload.get("company") or "newco inc")
        domain = company.lower().replace(" ", "").replace(",", "") + ".example"
        for row in rows:
            if row.get("current"):
                row["current"] = False
                row["ended_at"] = now.date().isoformat()
        new = {
            "id": self._new_employment_id(),
            "email": str(payload.get("email") or f"{record.get('first_name') or 'someone'}@{domain}"),
            "title": payload.get("title", "engineer"),
            "company": company,
            "started_at": now.date().isoformat(),
            "ended_at": None,
            "current": True,
            "email_confidence": 90,
            "connection_id": cid,
        }
        rows.append(new)
        self.employments[cid] = rows
        record["current_employment"] = _summary(new, domain)
        record["has_new_job"] = True
        record["new_job_flagged_at"] = record["employment_checked_at"] = isoformat(now)
        return {"connection": record, "employment": new}

    def _add_connection(self, group: int | None) -> int:
        cid = self.next_id
        self.next_id += 1
        record = self._seeded_connection(cid)
        rows = self._seeded_employments(cid)
        for row in rows:
            row["id"] = self._new_employment_id()
        now = isoformat(self.clock.now())
        record["created_at"] = record["employment_checked_at"] = now
        record["has_new_job"], record["new_job_flagged_at"] = False, None
        self.changed[cid] = record
        self.employments[cid] = rows
        if group is not None:
            self.group_of[cid] = group
        self._touch()
        return cid

    def dump(self) -> dict[str, t.Any]:
        live = self.live_count()
        pings = self.ping_count()
        out: dict[str, t.Any] = {
            "account": {"email": self.email, "connections_count": live},
            "groups": list(self.groups),
            "page_size": self.page_size,
            "counts": {"connections": live, "pings": pings, "harvests": len(self.harvests)},
            "harvests": list(self.harvests),
        }
        if live <= DUMP_LIMIT:
            ids = list(self.iter_live_ids())
            out["connections"] = [self.connection(cid) for cid in ids]
            out["connection_groups"] = {str(cid): self.group_for(cid) for cid in ids}
            out["employments"] = {str(cid): self.employments_of(cid) for cid in ids}
            out["counts"]["employments"] = sum(len(rows) for rows in out["employments"].values())
        else:
            out["overrides"] = {
                "changed": {str(k): v for k, v in list(self.changed.items())[:DUMP_LIMIT]},
                "deleted": sorted(self.deleted)[:DUMP_LIMIT],
                "id_window": [self.min_id, self.next_id],
            }
        if pings <= DUMP_LIMIT:
            out["pings"] = [self.ping(i) for i in range(pings)]
        return out


def _summary(employment: t.Mapping[str, t.Any], domain: str | None = None) -> dict[str, t.Any]:
    """A connection's ``starting_employment``/``current_employment`` object (both examples' fields)."""
    email = employment.get("email") or ""
    return {
        "email": employment.get("email"),
        "title": employment.get("title"),
        "company": employment.get("company"),
        "domain": domain or (email.rpartition("@")[2] or None),
        "started_at": employment.get("started_at"),
        "ended_at": employment.get("ended_at"),
        "current": employment.get("current"),
        "email_confidence": employment.get("email_confidence"),
    }


def _connection_matches(record: t.Mapping[str, t.Any], query: str) -> bool:
    """Search: first name, last name, email, company or title (case-insensitive substring)."""
    fields = [record.get("first_name"), record.get("last_name")]
    for key in ("starting_employment", "current_employment"):
        employment = record.get(key) or {}
        fields += [employment.get("email"), employment.get("company"), employment.get("title")]
    return any(query in str(f).lower() for f in fields if f)
