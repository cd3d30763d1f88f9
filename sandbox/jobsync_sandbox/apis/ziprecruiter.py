"""Simulated ZipRecruiter Job Alerts API v2 (``ziprecruiter-job-alerts-v2.txt``).

Resources: ``/subscriber`` (submit, retrieve, query, deactivate),
``/subscriber/ID/searches`` (the same four actions) and ``/batch`` (CSV upload
applied asynchronously, retrieve, query).

Choices where the document is silent or contradicts itself:

- Errors answer ``{"error": "<code>", "message": "..."}`` with the status and code of
  the document's error table (403 ``unauthorized``, 404 ``unknown_subscriber`` /
  ``unknown_batch`` / ``unknown_resource``, 400 ``invalid_*`` / ``missing_*`` /
  ``invalid_parameters``). An unknown job-search id is 404 ``unknown_resource`` (the
  table has no code for searches).
- Response forms follow the *examples* (what the live API most likely sends): the
  subscriber's address comes back as ``email_md5``; query pages carry ``offset`` and a
  string ``total_count``; a batch ``result`` is an object; a batch submit answers
  ``id``, ``type`` and ``create_time``. The reading ``response_forms`` = ``table`` (also
  the control action ``response_forms`` ``{"forms": "table"}``) switches to the property
  tables' forms (``email``, ``skip``, numeric ``total_count``, ``result`` as a JSON string,
  submit answers ``id``) so tests can prove the connectors read both.
- Submitted ``create_time`` values without an offset are US Pacific wall-clock time;
  responses are UTC without an offset (the example submits ``2012-05-03 17:01:05`` and
  reads back ``2012-05-04T00:01:05``).
- Subscribing an address that exists never creates a second subscriber: it reactivates
  it and updates search/location/name/ip_address. A job search submit always creates a
  new search (the document does not say it deduplicates; connectors must not rely on it).
- Deactivating a subscriber does not deactivate its job searches.
- ``search`` is required on subscriber submit (as in the batch file) -> ``missing_search``.
- Only JSON is served: a ``content-type`` other than ``application/json`` -> 400.
- Batches complete ``batch_delay_ms`` (a size, default 1000) after submission on the
  sandbox clock, checked on every request; ``complete_batches`` completes all now. A
  file that is not UTF-8 CSV makes the batch ``failed``.

Seeded data is a pure function of ``seed`` and the index, and ids are an invertible
scramble of the index, so a million subscribers cost no memory until changed.
Changed and created records live in override dictionaries.

``dump()`` returns every subscriber and search while there are at most
``DUMP_LIMIT`` subscribers; above that only changed/created records (``"truncated":
true``). Raw emails appear only in ``dump()``, never in API responses.

Readings (``READINGS`` below; ``/_control/api/ziprecruiter/readings``): ``response_forms``
(example|table), ``properties_format`` (comma|repeated|ignored), ``subscribe_body``
(multipart_or_urlencoded|multipart_only), ``submit_timezone`` (pacific|utc), ``search_submit``
(always_new|deduplicate), ``subscriber_deactivation`` (keeps_searches|deactivates_searches).

Controls (``POST /_control/api/ziprecruiter/<action>``): ``complete_batches``,
``response_forms`` ``{"forms": "table"|"example"}`` (the same as the reading).
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import random
import re
import typing as t
import zoneinfo

from jobsync_sandbox.core import FilePart, HTTPError, Reading, Request, Response, SimulatedAPI, json_response, route

UTC = dt.UTC

# -- the document's rules, restated here (the sandbox imports nothing from the connectors) ----------------
# The example submits "create_time='2012-05-03 17:01:05'" and later reads back "2012-05-04T00:01:05":
# submitted wall-clock times are US Pacific (7 hours behind in May), responses UTC without an offset.
try:
    PACIFIC: dt.tzinfo = zoneinfo.ZoneInfo("America/Los_Angeles")
except zoneinfo.ZoneInfoNotFoundError:  # no tz database on this host: Pacific standard time
    PACIFIC = dt.timezone(dt.timedelta(hours=-8))
# Subscriber "Properties" table, names whose scope includes "response" (``email`` answers the MD5:
# "For response, the MD5 hash of the lowercased subscriber's email address").
SUBSCRIBER_PROPERTIES = (
    "id", "email", "name", "create_time", "search", "location", "ip_address", "status",
    "deactivation_time", "deactivation_reason",
)  # fmt: skip
# ... and whose scope includes "submit".
SUBSCRIBER_SUBMIT_FIELDS = ("email", "name", "create_time", "search", "location", "ip_address")
# Job Searches "Properties": response scope, then submit scope ("ip_address submit").
SEARCH_PROPERTIES = ("id", "create_time", "search", "location", "status", "deactivation_time", "deactivation_reason")
SEARCH_SUBMIT_FIELDS = ("create_time", "search", "location", "ip_address")
# Batch "Properties" with response scope ("ld" in the table is a typo of ``id``).
BATCH_PROPERTIES = ("id", "status", "create_time", "complete_time", "type", "result")
# "File Contents": the Subscribe and Unsubscribe column tables, in order (the example files are positional).
SUBSCRIBE_COLUMNS = ("email", "search", "location", "create_time", "ip_address", "brand")
UNSUBSCRIBE_COLUMNS = ("email", "brand")

# limit: "Must be between 1 and 100, inclusive. Defaults to 50."
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
DUMP_LIMIT = 10_000
# Above this many seeded subscribers an MD5 lookup scans instead of building an index.
MD5_INDEX_LIMIT = 200_000

SUBSCRIBER_RETRIEVE_DEFAULT = ("id", "email", "create_time", "deactivation_time", "deactivation_reason")
BATCH_SUBMIT_FIELDS = ("content", "type", "filetype")
COMMON_PARAMETERS = ("content-type", "properties")
QUERY_PARAMETERS = ("limit", "skip")

SUBSCRIBER_DEACTIVATION_REASONS = ("unsubscribed", "inactivity", "undeliverable", "complaint", "closed", "api")
SEARCH_DEACTIVATION_REASONS = ("user", "api")

EMAIL_RE = re.compile(r"^[^@\s,;\"<>]+@[^@\s,;\"<>]+\.[A-Za-z]{2,}$")
IP_RE = re.compile(r"^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$")
SEEDED_EMAIL_RE = re.compile(r"\.(\d+)@")

FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jamal", "Kenji", "Lena")
LAST_NAMES = ("Nguyen", "Smith", "Garcia", "Okafor", "Kowalski", "Haddad", "Ito", "Brown", "Silva", "Novak")
DOMAINS = ("example.com", "example.org", "mail.example.net")
SEARCHES = ("Legal Assistant", "CEO", "Nurse", "Forklift Operator", "Data Analyst", "Barista", "Truck Driver")
LOCATIONS = ("Houston, TX", "10023", "Santa Monica, CA", "Chicago, IL", "98101", "Austin, TX", "")
SEED_EPOCH = dt.datetime(2015, 1, 1, tzinfo=UTC)

_MASK = 0xFFFFFFFF
_MULT = 0x9E3779B1  # odd, so multiplication is a bijection modulo 2**32
_MULT_INV = pow(_MULT, -1, 1 << 32)


# -- the plausible readings of the document (see core.Reading) ------------------------------------------------
READINGS: dict[str, Reading] = {
    "response_forms": Reading(
        values={
            "example": "the examples' forms: email_md5, offset, total_count as a string, batch result an object, "
            "batch submit answers create_time, id and type",
            "table": "the property tables' forms: email, skip, total_count a number, batch result a JSON string, "
            "batch submit answers id (its default response property)",
        },
        default="example",
        doc='Query responses: "skip | The value of the "skip" parameter" vs the example\'s "offset":0, '
        '"total_count":"2"; subscriber "email ... For response, the MD5 hash" vs "email_md5"; batch "result | '
        "JSON string containing results\" vs the example's object.",
        why="The examples are what the live API sent when the document was written; the tables may describe an "
        "intent. Today's behaviour.",
    ),
    "properties_format": Reading(
        values={
            "comma": "properties=id,email,status: one comma-separated parameter",
            "repeated": "properties=id&properties=email: one parameter per property; a comma inside one is an "
            "unknown property (400 invalid_properties)",
            "ignored": "the parameter is accepted and ignored: every action answers its default response "
            "properties (query: id only)",
        },
        default="comma",
        doc='"properties | all | The resource-specific properties to include in the response." (no format)',
        why='The document writes property lists comma-separated ("Default Response Properties: id, status, '
        "create_time, complete_time, type, result\"). Today's behaviour.",
    ),
    "subscribe_body": Reading(
        values={
            "multipart_or_urlencoded": "subscriber and job-search submits read multipart/form-data and "
            "application/x-www-form-urlencoded bodies",
            "multipart_only": "they read multipart/form-data only: a urlencoded body counts as no fields "
            "(400 missing_email / missing_search)",
        },
        default="multipart_or_urlencoded",
        doc='Every submit example is curl --form (multipart/form-data): "--form email=user1@domain1.com"',
        why="Form fields are form fields to the web frameworks such APIs run on, whatever the encoding; the "
        "examples use --form because the batch example must upload a file. Today's behaviour (the target "
        "sends urlencoded submits), the literal multipart_only is opt-in.",
    ),
    "submit_timezone": Reading(
        values={
            "pacific": "a submitted create_time without an offset is US Pacific wall-clock time (answered in UTC)",
            "utc": "it is UTC (answered unchanged)",
        },
        default="pacific",
        doc='The example submits create_time=\'2012-05-03 17:01:05\' and retrieves "create_time":"2012-05-'
        '04T00:01:05" (7 hours later; the document names no time zone)',
        why="Seven hours is exactly Pacific daylight time on 3 May 2012 (ZipRecruiter is in Santa Monica).",
    ),
    "search_submit": Reading(
        values={
            "always_new": "every job-search submit creates a new search, even one equal to an active search",
            "deduplicate": "a submit equal to an active search of that subscriber (same search and location, "
            "case-insensitive) answers that search and creates nothing",
        },
        default="always_new",
        doc='"submit | POST | /searches | Create a job search for a job seeker."',
        why='"Create" in so many words; nothing says equal searches are merged. Today\'s behaviour.',
    ),
    "subscriber_deactivation": Reading(
        values={
            "keeps_searches": "deactivating a subscriber leaves its job searches as they are",
            "deactivates_searches": "it also deactivates each of its active job searches (reason api)",
        },
        default="keeps_searches",
        doc='"deactivate | DELETE | /subscriber/ID | Unsubscribe an existing job seeker." and separately "deactivate '
        '| DELETE | /searches/ID | Unsubscribe a specific job search for a seeker"',
        why="Searches have their own deactivate action and status; the document never says one cascades to the "
        "other. Today's behaviour.",
    ),
}


def _error(status: int, code: str, message: str) -> HTTPError:
    return HTTPError(status, {"error": code, "message": message})


def _fmt(value: dt.datetime | None) -> str | None:
    """Response timestamps: UTC without an offset, as in the document's examples."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if value else None


def _parse_submit_time(value: str, field: str, zone: dt.tzinfo = PACIFIC) -> dt.datetime:
    """``2012-05-03 09:45:23`` (in ``zone``: the ``submit_timezone`` reading) or ISO 8601 (an offset is honoured)."""
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise _error(400, f"invalid_{field}", f"{field} must look like 2012-05-03 09:45:23") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _plain(record: t.Mapping[str, t.Any], drop: str) -> dict[str, t.Any]:
    """A stored record as JSON-ready values, without one internal field."""
    return {k: (_fmt(v) if k.endswith("_time") else v) for k, v in record.items() if k != drop}


def _same_search(record: t.Mapping[str, t.Any], search: str, location: str | None) -> bool:
    """Equal search and location, ignoring case and surrounding spaces (the ``deduplicate`` reading)."""
    return (record["search"] or "").strip().lower() == search.lower() and (
        record["location"] or ""
    ).strip().lower() == (location or "").lower()


def md5_of(email: str) -> str:
    """The document's "MD5 hash" of a subscriber's address: an identifier, not a protection."""
    return hashlib.md5(email.strip().lower().encode("utf-8"), usedforsecurity=False).hexdigest()


class ZipRecruiterAPI(SimulatedAPI):
    name = "ziprecruiter"
    base_path = "/ziprecruiter/job-alerts/v2"
    default_sizes: t.ClassVar[dict[str, int]] = {
        "subscribers": 60,
        "searches_per_subscriber": 3,  # each seeded subscriber has 0..this many searches
        "batches": 2,
        "batch_delay_ms": 1000,
    }
    default_credentials: t.ClassVar[dict[str, t.Any]] = {"api_key": "sandbox-zr-key"}
    #: "skip: The number of matching records to skip before constructing the resultant set of records."
    paging_parameters = ("skip",)
    readings_spec = READINGS

    # -- store -----------------------------------------------------------------------------
    def reset(self) -> None:
        self.size = int(self.sizes["subscribers"])
        self.searches_max = int(self.sizes["searches_per_subscriber"])
        self.batch_delay = dt.timedelta(milliseconds=int(self.sizes["batch_delay_ms"]))
        self._salt = int.from_bytes(hashlib.sha256(f"zr:{self.seed}".encode()).digest()[:4], "big")
        # index -> subscriber (seeded ones once changed, and every created one)
        self._subscribers: dict[int, dict[str, t.Any]] = {}
        self._created_subscribers = 0
        self._email_index: dict[str, int] = {}  # lower-cased email of created subscribers
        self._md5_index: dict[str, int] = {}  # MD5 of created subscribers
        self._seeded_md5_index: dict[str, int] | None = None
        # global search index -> search (seeded ones once changed, and every created one)
        self._searches: dict[int, dict[str, t.Any]] = {}
        self._created_search_ids: dict[int, list[int]] = {}  # subscriber index -> created search indexes
        self._created_searches = 0
        self._batches: list[dict[str, t.Any]] = [self._seed_batch(i) for i in range(int(self.sizes["batches"]))]

    # ids: an invertible scramble of (kind, index), 8 hex digits like the document's ids
    def _encode_id(self, kind: int, index: int) -> str:
        return f"{((index * 4 + kind + self._salt) * _MULT) & _MASK:08x}"

    def _decode_id(self, kind: int, value: str) -> int | None:
        if not re.fullmatch(r"[0-9a-f]{8}", value or ""):
            return None
        raw = ((int(value, 16) * _MULT_INV) - self._salt) & _MASK
        index, got_kind = divmod(raw, 4)
        return index if got_kind == kind else None

    def _rng(self, *parts: t.Any) -> random.Random:
        return random.Random(":".join(map(str, (self.seed, *parts))))  # noqa: S311 - seeded, reproducible fake data, no secret

    @property
    def subscriber_count(self) -> int:
        return self.size + self._created_subscribers

    @property
    def _seeded_search_space(self) -> int:
        return self.size * self.searches_max

    def _seed_subscriber(self, index: int) -> dict[str, t.Any]:
        r = self._rng("subscriber", index)
        first, last = r.choice(FIRST_NAMES), r.choice(LAST_NAMES)
        email = f"{first}.{last}.{index}@{r.choice(DOMAINS)}".lower()
        created = SEED_EPOCH + dt.timedelta(minutes=index * 7 + r.randint(0, 6))
        deactivated = r.random() < 0.15
        return {
            "id": self._encode_id(0, index),
            "email": email,
            "email_md5": md5_of(email),
            "name": f"{first} {last}" if r.random() < 0.8 else None,
            "create_time": created,
            "search": r.choice(SEARCHES),
            "location": r.choice(LOCATIONS) or None,
            "ip_address": f"{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
            "status": "deactivated" if deactivated else "active",
            "deactivation_time": created + dt.timedelta(days=r.randint(1, 400)) if deactivated else None,
            "deactivation_reason": r.choice(SUBSCRIBER_DEACTIVATION_REASONS) if deactivated else None,
            "search_count": r.randint(0, self.searches_max),
        }

    def _subscriber(self, index: int) -> dict[str, t.Any] | None:
        if index in self._subscribers:
            return self._subscribers[index]
        if 0 <= index < self.size:
            return self._seed_subscriber(index)
        return None

    def _known_subscriber(self, index: int) -> dict[str, t.Any]:
        """The subscriber at an index known to exist (found, checked by ``_subscriber_by_id``, or below the count)."""
        record = self._subscriber(index)
        assert record is not None, f"no subscriber at index {index}"
        return record

    def _mutable_subscriber(self, index: int) -> dict[str, t.Any]:
        record = self._subscribers.get(index)
        if record is None:
            record = self._subscribers[index] = self._seed_subscriber(index)
        return record

    def _subscriber_by_id(self, subscriber_id: str) -> int:
        index = self._decode_id(0, subscriber_id)
        if index is None or self._subscriber(index) is None:
            raise _error(404, "unknown_subscriber", f"No subscriber with id {subscriber_id!r}")
        return index

    def _find_email(self, email: str) -> int | None:
        """Index of the subscriber with this address (raw, any case) or MD5."""
        text = email.strip().lower()
        if "@" not in text:
            return self._find_md5(text)
        if text in self._email_index:
            return self._email_index[text]
        match = SEEDED_EMAIL_RE.search(text)
        if match:
            index = int(match.group(1))
            if index < self.size and self._seed_subscriber(index)["email"] == text:
                return index
        return None

    def _find_md5(self, digest: str) -> int | None:
        if digest in self._md5_index:
            return self._md5_index[digest]
        if self.size <= MD5_INDEX_LIMIT:
            if self._seeded_md5_index is None:
                self._seeded_md5_index = {self._seed_subscriber(i)["email_md5"]: i for i in range(self.size)}
            return self._seeded_md5_index.get(digest)
        return next((i for i in range(self.size) if self._seed_subscriber(i)["email_md5"] == digest), None)

    def _seed_search(self, subscriber_index: int, slot: int) -> dict[str, t.Any]:
        r = self._rng("search", subscriber_index, slot)
        subscriber = self._seed_subscriber(subscriber_index)
        created = subscriber["create_time"] + dt.timedelta(hours=r.randint(0, 2000))
        deactivated = r.random() < 0.2
        return {
            "id": self._encode_id(1, subscriber_index * self.searches_max + slot),
            "subscriber_index": subscriber_index,
            "create_time": created,
            "search": r.choice(SEARCHES),
            "location": r.choice(LOCATIONS) or None,
            "status": "deactivated" if deactivated else "active",
            "deactivation_time": created + dt.timedelta(days=r.randint(1, 90)) if deactivated else None,
            "deactivation_reason": r.choice(SEARCH_DEACTIVATION_REASONS) if deactivated else None,
        }

    def _search_indexes(self, subscriber_index: int) -> list[int]:
        """Global search indexes of one subscriber: seeded first, then created, in creation order."""
        seeded: list[int] = []
        if subscriber_index < self.size:
            count = self._seed_subscriber(subscriber_index)["search_count"]
            seeded = [subscriber_index * self.searches_max + slot for slot in range(count)]
        return seeded + self._created_search_ids.get(subscriber_index, [])

    def _search(self, index: int) -> dict[str, t.Any] | None:
        if index in self._searches:
            return self._searches[index]
        if 0 <= index < self._seeded_search_space:
            subscriber_index, slot = divmod(index, self.searches_max)
            if slot < self._seed_subscriber(subscriber_index)["search_count"]:
                return self._seed_search(subscriber_index, slot)
        return None

    def _search_by_id(self, subscriber_index: int, search_id: str) -> int:
        index = self._decode_id(1, search_id)
        search = self._search(index) if index is not None else None
        if index is None or search is None or search["subscriber_index"] != subscriber_index:
            raise _error(404, "unknown_resource", f"No job search with id {search_id!r} for this subscriber")
        return index

    def _known_search(self, index: int) -> dict[str, t.Any]:
        """The search at an index known to exist (checked by ``_search_by_id``, or listed for its subscriber)."""
        record = self._search(index)
        assert record is not None, f"no job search at index {index}"
        return record

    def _mutable_search(self, index: int) -> dict[str, t.Any]:
        record = self._searches.get(index)
        if record is None:
            record = self._searches[index] = self._known_search(index)
        return record

    def _seed_batch(self, index: int) -> dict[str, t.Any]:
        r = self._rng("batch", index)
        created = SEED_EPOCH + dt.timedelta(days=30 * index, minutes=r.randint(0, 600))
        kind = "subscribe" if index % 2 == 0 else "unsubscribe"
        total = r.randint(1, 500)
        errors = r.randint(0, 2)
        done = total - errors
        if kind == "subscribe":
            result = {"errors": errors, "total_records": total, "subscribed": done}
            result |= {"search_updated": 0, "no_changes": 0}
        else:
            result = {"errors": errors, "no_such_contact": 0, "total_records": total}
            result |= {"unsubscribed": done, "no_changes": 0}
        return {
            "id": self._encode_id(2, index),
            "type": kind,
            "status": "complete",
            "create_time": created,
            "complete_time": created + dt.timedelta(minutes=r.randint(5, 90)),
            "result": result,
            "content": b"",
            "due": created,
        }

    # -- auth and common parameters -----------------------------------------------------------
    def authenticate(self, request: Request) -> None:
        header = request.header("Authorization") or ""
        user = None
        if header.lower().startswith("basic "):
            try:
                user = base64.b64decode(header[6:].strip()).decode("utf-8").split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                user = None
        if not user:
            raise _error(403, "unauthorized", "No API key was received.")
        if user != self.credentials["api_key"]:
            raise _error(403, "unauthorized", "An unknown API key was received.")

    def before_dispatch(self, request: Request) -> None:  # noqa: ARG002 - the SimulatedAPI hook's signature
        with self.lock:
            self._complete_due_batches()

    def not_found(self, request: Request) -> Response:
        return json_response({"error": "unknown_resource", "message": f"No resource at {request.path}"}, 404)

    def _params(self, request: Request, allowed: t.Iterable[str], *, form: bool = False) -> dict[str, t.Any]:
        """Query (and form) parameters; unknown ones -> 400 ``invalid_parameters``.

        ``properties`` is kept as the list of every value sent (see :meth:`_properties`).
        """
        params: dict[str, t.Any] = {k: v[0] for k, v in request.query.items()}
        properties = list(request.query.get("properties", []))
        if form:
            multipart = (request.header("Content-Type") or "").startswith("multipart/form-data")
            # `subscribe_body` = multipart_only: any other body is not read at all.
            fields = request.form() if multipart or self.reading("subscribe_body") != "multipart_only" else {}
            params.update(fields)
            if "properties" in fields:
                properties.append(str(fields["properties"]))
        if properties:
            params["properties"] = properties
        unknown = sorted(set(params) - set(allowed) - set(COMMON_PARAMETERS))
        if unknown:
            raise _error(400, "invalid_parameters", f"Unknown parameters: {', '.join(unknown)}")
        content_type = params.get("content-type")
        if content_type and content_type != "application/json":
            raise _error(400, "invalid_content-type", "This sandbox answers application/json only")
        return params

    def _properties(
        self, params: t.Mapping[str, t.Any], known: tuple[str, ...], default: tuple[str, ...]
    ) -> tuple[str, ...]:
        """The properties to answer, as the ``properties_format`` reading parses the parameter."""
        values = [v for v in params.get("properties") or [] if v]
        reading = self.reading("properties_format")
        if not values or reading == "ignored":
            return default
        # comma: the first parameter, split on commas; repeated: one name per parameter, taken whole.
        wanted = str(values[0]).split(",") if reading == "comma" else values
        names = []
        for sent in wanted:
            name = "email" if sent.strip() == "email_md5" else sent.strip()  # the examples' name for it
            if name not in known:
                raise _error(400, "invalid_properties", f"Unknown property {name!r}")
            if name and name not in names:
                names.append(name)
        return ("id", *[n for n in names if n != "id"])

    @staticmethod
    def _page_args(params: t.Mapping[str, t.Any]) -> tuple[int, int]:
        try:
            limit = int(params.get("limit") or DEFAULT_LIMIT)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise _error(400, "invalid_limit", f"limit must be between 1 and {MAX_LIMIT}, inclusive")
        try:
            skip = int(params.get("skip") or 0)
        except ValueError:
            skip = -1
        if skip < 0:
            raise _error(400, "invalid_skip", "skip must be a non-negative integer")
        return limit, skip

    def _page(
        self, params: t.Mapping[str, t.Any], total: int, rows: t.Callable[[int, int], list[dict[str, t.Any]]]
    ) -> Response:
        limit, skip = self._page_args(params)
        results = rows(skip, min(total, skip + limit)) if skip < total else []
        if self.reading("response_forms") == "table":
            return json_response({"limit": limit, "results": results, "skip": skip, "total_count": total})
        return json_response({"limit": limit, "results": results, "offset": skip, "total_count": str(total)})

    # -- rendering ------------------------------------------------------------------------------
    def _render_subscriber(self, record: t.Mapping[str, t.Any], properties: t.Iterable[str]) -> dict[str, t.Any]:
        out: dict[str, t.Any] = {}
        for name in properties:
            if name == "email":
                out["email" if self.reading("response_forms") == "table" else "email_md5"] = record["email_md5"]
            elif name.endswith("_time"):
                out[name] = _fmt(record[name])
            else:
                out[name] = record[name]
        return out

    @staticmethod
    def _render_search(record: t.Mapping[str, t.Any], properties: t.Iterable[str]) -> dict[str, t.Any]:
        return {name: _fmt(record[name]) if name.endswith("_time") else record[name] for name in properties}

    def _render_batch(self, record: t.Mapping[str, t.Any], properties: t.Iterable[str]) -> dict[str, t.Any]:
        out: dict[str, t.Any] = {}
        for name in properties:
            value = record[name]
            if name.endswith("_time"):
                value = _fmt(value)
            elif name == "result" and value is not None and self.reading("response_forms") == "table":
                value = json.dumps(value)
            out[name] = value
        return out

    # -- subscribers ----------------------------------------------------------------------------------
    @route("POST", "/subscriber")
    def submit_subscriber(self, request: Request) -> Response:
        params = self._params(request, SUBSCRIBER_SUBMIT_FIELDS, form=True)
        properties = self._properties(params, SUBSCRIBER_PROPERTIES, ("id",))
        with self.lock:
            index, _ = self._subscribe(params)
            return json_response(self._render_subscriber(self._known_subscriber(index), properties))

    def _validated_subscription(self, fields: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        email = str(fields.get("email") or "").strip()
        if not email:
            raise _error(400, "missing_email", "email is required")
        if not EMAIL_RE.match(email):
            raise _error(400, "invalid_email", f"{email!r} is not a valid email address")
        if not str(fields.get("search") or "").strip():
            raise _error(400, "missing_search", "search is required")
        clean: dict[str, t.Any] = {
            k: str(v).strip() for k, v in fields.items() if k in SUBSCRIBER_SUBMIT_FIELDS and v not in (None, "")
        }
        if "ip_address" in clean and not IP_RE.match(clean["ip_address"]):
            raise _error(400, "invalid_ip_address", "ip_address must be a dotted quad")
        if "create_time" in clean:
            clean["create_time"] = _parse_submit_time(clean["create_time"], "create_time", self._submit_zone)
        return clean

    def _subscribe(self, fields: t.Mapping[str, t.Any]) -> tuple[int, str]:
        """Subscribe an address; returns its index and the batch outcome it counts as."""
        clean = self._validated_subscription(fields)
        now = self.clock.now()
        index = self._find_email(clean["email"])
        if index is None:
            index = self.size + self._created_subscribers
            self._created_subscribers += 1
            email = clean["email"]
            self._subscribers[index] = {
                "id": self._encode_id(0, index),
                "email": email,
                "email_md5": md5_of(email),
                "name": clean.get("name"),
                "create_time": clean.get("create_time", now),
                "search": clean["search"],
                "location": clean.get("location"),
                "ip_address": clean.get("ip_address"),
                "status": "active",
                "deactivation_time": None,
                "deactivation_reason": None,
                "search_count": 0,
            }
            self._email_index[email.lower()] = index
            self._md5_index[md5_of(email)] = index
            return index, "subscribed"
        record = self._mutable_subscriber(index)
        changed = False
        for name in ("name", "search", "location", "ip_address"):
            if name in clean and clean[name] != record[name]:
                record[name] = clean[name]
                changed = True
        if record["status"] != "active":
            record.update(status="active", deactivation_time=None, deactivation_reason=None)
            return index, "subscribed"
        return index, "search_updated" if changed else "no_changes"

    def _deactivate_subscriber(self, index: int) -> bool:
        record = self._mutable_subscriber(index)
        if record["status"] != "active":
            return False
        record.update(status="deactivated", deactivation_time=self.clock.now(), deactivation_reason="api")
        if self.reading("subscriber_deactivation") == "deactivates_searches":
            for search_index in self._search_indexes(index):
                search = self._mutable_search(search_index)
                if search["status"] == "active":
                    search.update(status="deactivated", deactivation_time=self.clock.now(), deactivation_reason="api")
        return True

    @route("GET", "/subscriber/(?P<id>[^/]+)")
    def retrieve_subscriber(self, request: Request) -> Response:
        params = self._params(request, ())
        properties = self._properties(params, SUBSCRIBER_PROPERTIES, SUBSCRIBER_RETRIEVE_DEFAULT)
        with self.lock:
            index = self._subscriber_by_id(request.path_params["id"])
            return json_response(self._render_subscriber(self._known_subscriber(index), properties))

    @route("DELETE", "/subscriber/(?P<id>[^/]+)")
    def deactivate_subscriber(self, request: Request) -> Response:
        params = self._params(request, ())
        properties = self._properties(params, SUBSCRIBER_PROPERTIES, SUBSCRIBER_RETRIEVE_DEFAULT)
        with self.lock:
            index = self._subscriber_by_id(request.path_params["id"])
            self._deactivate_subscriber(index)
            return json_response(self._render_subscriber(self._known_subscriber(index), properties))

    @route("GET", "/subscriber")
    def query_subscribers(self, request: Request) -> Response:
        filters_allowed = SUBSCRIBER_PROPERTIES
        params = self._params(request, (*QUERY_PARAMETERS, *filters_allowed))
        properties = self._properties(params, SUBSCRIBER_PROPERTIES, ("id",))
        filters = {k: v for k, v in params.items() if k in filters_allowed}
        with self.lock:
            if not filters:
                return self._page(
                    params,
                    self.subscriber_count,
                    lambda start, stop: [
                        self._render_subscriber(self._known_subscriber(i), properties) for i in range(start, stop)
                    ],
                )
            matches = self._matching_subscribers(filters)
            return self._page(
                params,
                len(matches),
                lambda start, stop: [
                    self._render_subscriber(self._known_subscriber(i), properties) for i in matches[start:stop]
                ],
            )

    def _matching_subscribers(self, filters: dict[str, str]) -> list[int]:
        filters = dict(filters)
        candidates: t.Iterable[int]
        if "email" in filters:
            # Query accepts the raw address or its MD5 (document: "For query, either of the above").
            found = self._find_email(filters.pop("email"))
            candidates = [] if found is None else [found]
        elif "id" in filters:
            found = self._decode_id(0, filters.pop("id"))
            candidates = [] if found is None or self._subscriber(found) is None else [found]
        else:
            candidates = range(self.subscriber_count)
        return [i for i in candidates if self._matches(self._known_subscriber(i), filters)]

    @property
    def _submit_zone(self) -> dt.tzinfo:
        return PACIFIC if self.reading("submit_timezone") == "pacific" else UTC

    def _matches(self, record: t.Mapping[str, t.Any], filters: t.Mapping[str, str]) -> bool:
        for name, wanted in filters.items():
            value = record.get(name)
            if isinstance(value, dt.datetime):
                if value != _parse_submit_time(wanted, name, self._submit_zone) and _fmt(value) != wanted:
                    return False
            elif str(value if value is not None else "") != wanted:
                return False
        return True

    # -- job searches -----------------------------------------------------------------------------------
    @route("POST", "/subscriber/(?P<sid>[^/]+)/searches")
    def submit_search(self, request: Request) -> Response:
        params = self._params(request, SEARCH_SUBMIT_FIELDS, form=True)
        properties = self._properties(params, SEARCH_PROPERTIES, ("id",))
        with self.lock:
            subscriber_index = self._subscriber_by_id(request.path_params["sid"])
            search = str(params.get("search") or "").strip()
            if not search:
                raise _error(400, "missing_search", "search is required")
            ip_address = str(params.get("ip_address") or "").strip()
            if ip_address and not IP_RE.match(ip_address):
                raise _error(400, "invalid_ip_address", "ip_address must be a dotted quad")
            location = str(params.get("location") or "").strip() or None
            if self.reading("search_submit") == "deduplicate":
                for existing in (self._search(i) for i in self._search_indexes(subscriber_index)):
                    if existing and existing["status"] == "active" and _same_search(existing, search, location):
                        return json_response(self._render_search(existing, properties))
            create_time = params.get("create_time")
            index = self._seeded_search_space + self._created_searches
            self._created_searches += 1
            record = {
                "id": self._encode_id(1, index),
                "subscriber_index": subscriber_index,
                "create_time": (
                    _parse_submit_time(create_time, "create_time", self._submit_zone)
                    if create_time
                    else self.clock.now()
                ),
                "search": search,
                "location": location,
                "ip_address": ip_address or None,
                "status": "active",
                "deactivation_time": None,
                "deactivation_reason": None,
            }
            self._searches[index] = record
            self._created_search_ids.setdefault(subscriber_index, []).append(index)
            return json_response(self._render_search(record, properties))

    @route("GET", "/subscriber/(?P<sid>[^/]+)/searches/(?P<id>[^/]+)")
    def retrieve_search(self, request: Request) -> Response:
        params = self._params(request, ())
        properties = self._properties(params, SEARCH_PROPERTIES, SEARCH_PROPERTIES)
        with self.lock:
            subscriber_index = self._subscriber_by_id(request.path_params["sid"])
            index = self._search_by_id(subscriber_index, request.path_params["id"])
            return json_response(self._render_search(self._known_search(index), properties))

    @route("DELETE", "/subscriber/(?P<sid>[^/]+)/searches/(?P<id>[^/]+)")
    def deactivate_search(self, request: Request) -> Response:
        params = self._params(request, ())
        properties = self._properties(params, SEARCH_PROPERTIES, SEARCH_PROPERTIES)
        with self.lock:
            subscriber_index = self._subscriber_by_id(request.path_params["sid"])
            index = self._search_by_id(subscriber_index, request.path_params["id"])
            record = self._mutable_search(index)
            if record["status"] == "active":
                record.update(status="deactivated", deactivation_time=self.clock.now(), deactivation_reason="api")
            return json_response(self._render_search(record, properties))

    @route("GET", "/subscriber/(?P<sid>[^/]+)/searches")
    def query_searches(self, request: Request) -> Response:
        filters_allowed = SEARCH_PROPERTIES
        params = self._params(request, (*QUERY_PARAMETERS, *filters_allowed))
        properties = self._properties(params, SEARCH_PROPERTIES, ("id",))
        filters = {k: v for k, v in params.items() if k in filters_allowed}
        with self.lock:
            subscriber_index = self._subscriber_by_id(request.path_params["sid"])
            found = [self._search(i) for i in self._search_indexes(subscriber_index)]
            matches = [s for s in found if s is not None and self._matches(s, filters)]
            return self._page(
                params,
                len(matches),
                lambda start, stop: [self._render_search(s, properties) for s in matches[start:stop]],
            )

    # -- batches ---------------------------------------------------------------------------------------------
    @route("POST", "/batch")
    def submit_batch(self, request: Request) -> Response:
        params = self._params(request, BATCH_SUBMIT_FIELDS, form=True)
        content = params.get("content")
        if content in (None, ""):
            raise _error(400, "missing_content", "content (the uploaded file) is required")
        kind = params.get("type")
        if not kind:
            raise _error(400, "missing_type", "type is required ('subscribe' or 'unsubscribe')")
        if kind not in ("subscribe", "unsubscribe"):
            raise _error(400, "invalid_type", "type must be 'subscribe' or 'unsubscribe'")
        if (params.get("filetype") or "csv") != "csv":
            raise _error(400, "invalid_filetype", "The only supported filetype is 'csv'")
        data = content.content if isinstance(content, FilePart) else str(content).encode("utf-8")
        with self.lock:
            now = self.clock.now()
            batch = {
                "id": self._encode_id(2, len(self._batches)),
                "type": kind,
                "status": "pending",
                "create_time": now,
                "complete_time": None,
                "result": None,
                "content": data,
                "due": now + self.batch_delay,
            }
            self._batches.append(batch)
            # The document's example answers more than the table's default `id`.
            default = ("id",) if self.reading("response_forms") == "table" else ("create_time", "id", "type")
            return json_response(self._render_batch(batch, self._properties(params, BATCH_PROPERTIES, default)))

    def _batch_by_id(self, batch_id: str) -> dict[str, t.Any]:
        index = self._decode_id(2, batch_id)
        if index is None or index >= len(self._batches):
            raise _error(404, "unknown_batch", f"No batch with id {batch_id!r}")
        return self._batches[index]

    @route("GET", "/batch/(?P<id>[^/]+)")
    def retrieve_batch(self, request: Request) -> Response:
        params = self._params(request, ())
        properties = self._properties(params, BATCH_PROPERTIES, BATCH_PROPERTIES)
        with self.lock:
            return json_response(self._render_batch(self._batch_by_id(request.path_params["id"]), properties))

    @route("GET", "/batch")
    def query_batches(self, request: Request) -> Response:
        filters_allowed = ("id", "status", "create_time", "complete_time", "type")
        params = self._params(request, (*QUERY_PARAMETERS, *filters_allowed))
        properties = self._properties(params, BATCH_PROPERTIES, ("id",))
        filters = {k: v for k, v in params.items() if k in filters_allowed}
        with self.lock:
            matches = [b for b in self._batches if self._matches(b, filters)]
            return self._page(
                params,
                len(matches),
                lambda start, stop: [self._render_batch(b, properties) for b in matches[start:stop]],
            )

    def _complete_due_batches(self, *, everything: bool = False) -> list[str]:
        now = self.clock.now()
        done = []
        for batch in self._batches:
            if batch["status"] == "pending" and (everything or batch["due"] <= now):
                self._apply_batch(batch)
                batch["complete_time"] = max(now, batch["create_time"])
                done.append(batch["id"])
        return done

    def _apply_batch(self, batch: dict[str, t.Any]) -> None:
        try:
            rows = self._csv_rows(batch["content"], batch["type"])
        except (UnicodeDecodeError, csv.Error) as exc:
            batch.update(status="failed", result={"errors": 1, "total_records": 0, "message": str(exc)})
            return
        if batch["type"] == "subscribe":
            result = {"errors": 0, "total_records": 0, "subscribed": 0, "search_updated": 0, "no_changes": 0}
            for row in rows:
                result["total_records"] += 1
                try:
                    _, outcome = self._subscribe(row)
                except HTTPError:
                    outcome = "errors"
                result[outcome] += 1
        else:
            result = {"errors": 0, "no_such_contact": 0, "total_records": 0, "unsubscribed": 0, "no_changes": 0}
            for row in rows:
                result["total_records"] += 1
                email = str(row.get("email") or "").strip()
                if not EMAIL_RE.match(email):
                    result["errors"] += 1
                    continue
                index = self._find_email(email)
                if index is None:
                    result["no_such_contact"] += 1
                elif self._deactivate_subscriber(index):
                    result["unsubscribed"] += 1
                else:
                    result["no_changes"] += 1
        batch.update(status="complete", result=result)

    @staticmethod
    def _csv_rows(content: bytes, kind: str) -> list[dict[str, str]]:
        """Rows of a batch file: positional columns, or named ones after a header row."""
        text = content.decode("utf-8-sig")
        rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
        known: tuple[str, ...] = SUBSCRIBE_COLUMNS if kind == "subscribe" else UNSUBSCRIBE_COLUMNS
        columns = known
        if rows and rows[0] and rows[0][0].strip().lower() == "email":
            # An optional header row (the document's example has none); unknown names are ignored.
            columns = tuple(cell.strip().lower() for cell in rows.pop(0))
        # Not strict: a row may stop short (its missing columns are left out) or run long (extra cells ignored).
        return [
            {name: cell for name, cell in zip(columns, row, strict=False) if name in known and cell.strip()}
            for row in rows
        ]

    # -- tests' view ---------------------------------------------------------------------------------------------
    def dump(self) -> dict[str, t.Any]:
        self._complete_due_batches()
        truncated = self.subscriber_count > DUMP_LIMIT
        indexes = sorted(self._subscribers) if truncated else range(self.subscriber_count)
        subscribers = [_plain(self._known_subscriber(i), drop="search_count") for i in indexes]
        search_indexes: t.Iterable[int] = (
            sorted(self._searches) if truncated else (s for i in indexes for s in self._search_indexes(i))
        )
        searches = []
        for s in search_indexes:
            record = self._known_search(s)
            searches.append(
                {
                    **_plain(record, drop="subscriber_index"),
                    "subscriber_id": self._encode_id(0, record["subscriber_index"]),
                }
            )
        batches = [{**self._render_batch(b, BATCH_PROPERTIES), "result": b["result"]} for b in self._batches]
        return {
            "truncated": truncated,
            "counts": {"subscribers": self.subscriber_count, "batches": len(self._batches)},
            "subscribers": subscribers,
            "searches": searches,
            "batches": batches,
        }

    def control(self, action: str, payload: t.Mapping[str, t.Any]) -> t.Any:
        if action == "complete_batches":
            return {"completed": self._complete_due_batches(everything=True)}
        if action == "response_forms":
            forms = payload.get("forms", "example")
            if forms not in READINGS["response_forms"].values:
                raise _error(400, "invalid_forms", "forms must be 'example' or 'table'")
            self.set_readings({"response_forms": forms})
            return {"forms": forms}
        return super().control(action, payload)
