"""Simulated Jobcase Partner Platform API (``/jobcase/api/platform/v1``).

Implements what JobSync uses from ``jobcase-partner-platform-api.txt``: companies
(+ logo), jobs (+ products, expire, unexpire), campaigns, campaign cost data,
products and the campaign estimate. Choices where the document is silent or
contradicts itself (``READINGS`` below holds the ones the sandbox can play several ways:
``update_method``, ``products_method``, ``job_statuses``, ``campaign_statuses``,
``trailing_slash``, ``campaign_budget``, ``zip_code_form``, ``company_url``, ``uniqueness``,
``cost_data_order``; each is set through ``/_control/api/jobcase/readings``):

- Auth: ``X-Platform-Api-Key``; missing or wrong key -> 401 with a DRF-style body
  ``{"detail": "..."}`` (the API is a Django REST Framework service).
- Errors: DRF-style 400 bodies naming each field, ``{"field": ["message", ...]}``.
- Updates are ``PUT`` (the document says "Updates"); ``PATCH`` answers 405 (reading
  ``update_method``; a PATCH is partial). The documented required fields are required on
  ``PUT`` too; optional fields left out keep their value. ``products``/``campaignId`` in a job ``PUT`` are ignored (the
  update table does not list them: products change through ``/job/{id}/products/``);
  ``budget`` in a campaign ``PUT`` is ignored (only ``addBudget`` adds to it).
- Status filters: the ``job_statuses``/``campaign_statuses`` readings (by default jobs
  active|expired, campaigns active|paused|ended; default active); an unknown value is a 400
  listing them.
- Paths end in ``/`` as documented; without it, Django's 301 to the slashed URL (reading
  ``trailing_slash``).
- Uniqueness: ``partnerCompanyId`` is documented as unique; ``adNumber`` ("your own
  system's unique identifier") and a campaign ``name`` within its company are
  assumed unique too (400 naming the field on a duplicate; reading ``uniqueness``).
- A campaign's ``budget`` is the total ever added (reading ``campaign_budget``: or what is left).
- ``jobZipCode``: tables say string [5..7], examples show a number. Stored as a
  string; job records answer it as a number when it is all digits (as the examples
  do, so a leading zero is lost exactly as it would be), else as a string. Company
  zips are answered as strings (as their examples show). Both forms are accepted.
- ``products``/``jobs`` ("Array of arrays") are flat lists; nested lists are flattened.
- The company example omits the required ``companyUrl``: records include it (reading ``company_url``).
- The jobs ``from``/``to`` filters ("job posting date") apply to ``startDate`` (the
  examples use the same timestamps); a bare date in ``to`` covers that whole day.
- Cost data rows are ordered by ``time`` (oldest first); they have no id.
- Products endpoint: replaces the job's product list (codes must exist). With a
  ``campaignId``, the job joins that campaign when products are given and leaves
  it when the list is empty.
- Estimate: ``POST /campaign/estimate/`` (path not shown in the document), limited
  to 50 calls per sandbox-clock day per key (429 afterwards).
- Page size: ``limit`` defaults to 100 and is capped at 1000 (assumed cap).

Rate limit: ``rate_limit_requests`` (200) per rolling ``rate_limit_window_seconds``
(60) per API key, counted in real (monotonic) time on accepted requests; an excess
request gets 429 with ``Retry-After`` = whole seconds until the oldest counted
request leaves the window. Adjust with sizes or the ``rate_limit`` control action.

Seeded data is generated from ``(seed, id)`` on demand; only changed and created
records are stored, so ``{"companies": 10000, "jobs_per_company": 100}`` (1M jobs)
costs no memory until written to. Seeded jobs get ``startDate`` one minute apart in
id order and statuses by id pattern, so status/date filters and paging are
arithmetic, not scans. Cost data filters (``jobId``, ``campaignId``) scan.

Control actions (``POST /_control/api/jobcase/<action>``):

- ``rate_limit``       ``{"requests": 15, "window_seconds": 3}`` (resets the window)
- ``add_cost_events``  ``{"count": 3, "campaignId": 1?, "jobId": 2?, "eventType": "Click"?}``:
                       new cost rows at the sandbox clock (campaign spend grows too)
- ``spend``            ``{"campaign_id": 1, "amount": 2.5}``: the campaign spends that much (no cost
                       row; refused above its remaining budget)

``dump()`` returns every table as the API answers it, bounded: a table with more
than ``DUMP_LIMIT`` records gives its first ``DUMP_LIMIT`` by id plus every changed
or created record, and ``truncated`` names it.
"""

from __future__ import annotations

import bisect
import collections
import datetime as dt
import math
import random
import re
import time
import typing as t
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from jobsync_sandbox.core import (
    UTC,
    FilePart,
    HTTPError,
    Reading,
    Request,
    Response,
    SimulatedAPI,
    json_response,
    route,
)

# -- the document's rules, restated here (the sandbox imports nothing from the connectors) ----------------
#: "headers: {'X-Platform-Api-Key': 'REPLACE_KEY_VALUE'}"
API_KEY_HEADER = "X-Platform-Api-Key"
#: "To avoid rate limiting, try to stay within 200 requests per minute."
DOCUMENTED_REQUESTS_PER_MINUTE = 200
#: "Lists all companies, paginated (100 per page by default)" (jobs and campaigns say the same).
DEFAULT_PAGE_SIZE = 100
#: "status | string Default: "active" Filter by job status:" (the values are not listed: see the readings).
DEFAULT_STATUS = "active"
#: The values themselves are not listed: the ``job_statuses`` and ``campaign_statuses`` readings.
#: "Create a company": the fields marked "required" (``companyUrl`` too, though the example omits it).
COMPANY_REQUIRED_FIELDS = (
    "partnerId", "companyName", "partnerCompanyId", "companyUrl",
    "companyStreet", "companyCity", "companyState", "companyZipCode",
)  # fmt: skip
#: ``"jobStatus": "Active"`` in every job example; "Expires a job so that it is no longer active" (the
#: expired value is not shown: "Expired" by analogy).
JOB_ACTIVE, JOB_EXPIRED = "Active", "Expired"
#: "budget required | number <float> decimal places <= 2 >= 15"
MIN_CAMPAIGN_BUDGET = Decimal(15)
#: "addBudget | number <float> decimal places <= 2 >= 1"
MIN_ADD_BUDGET = Decimal(1)
#: "jobs | Array of arrays <= 500 items"
MAX_CAMPAIGN_JOBS = 500


# -- the plausible readings of the document (see core.Reading) ------------------------------------------------
READINGS: dict[str, Reading] = {
    "update_method": Reading(
        values={
            "PUT": "company, job and campaign updates are PUT (every required field sent); PATCH answers 405",
            "PATCH": "updates are PATCH (partial: fields left out keep their value); PUT answers 405",
            "both": "PUT (full) and PATCH (partial) both update, as a Django REST Framework UpdateAPIView does",
        },
        default="PUT",
        doc='"Updates a company by company identifier." (no method shown), with the create table\'s "required" '
        "fields repeated for the update",
        why="The update tables require every field a create requires: a full replacement, i.e. PUT. Today's behaviour.",
    ),
    "products_method": Reading(
        values={
            "POST": "POST /job/{id}/products/ replaces the job's products; PUT answers 405",
            "PUT": "PUT replaces them; POST answers 405",
            "both": "POST and PUT both replace them",
        },
        default="POST",
        doc='"Adds or removes products for a job" (no method shown)',
        why="It is an action on a job (like expire/unexpire, which the document shows as POST), not an update "
        "of a resource. Today's behaviour.",
    ),
    "job_statuses": Reading(
        values={
            "active,expired": "jobs filter on status=active|expired; records say Active/Expired",
            "active,inactive": "status=active|inactive; an expired job is listed (and shown) as Inactive",
            "active,expired,deleted": "status=active|expired|deleted (deleted lists nothing: the API deletes no jobs)",
        },
        default="active,expired",
        doc='"status | string Default: "active" Filter by job status:" (the list of values is empty)',
        why='Records show "jobStatus": "Active", and the only transitions are the expire and unexpire '
        "endpoints. Today's behaviour. Any other value answers 400 in every reading.",
    ),
    "campaign_statuses": Reading(
        values={
            "active,paused,ended": "campaigns filter on status=active|paused|ended (isPaused, endDate passed)",
            "active,inactive": "status=active|inactive; paused and ended campaigns are listed (and shown) as Inactive",
        },
        default="active,paused,ended",
        doc='"status | string Default: "active" Filter by campaign status:" (the list of values is empty)',
        why='Records show "status": "Active"; a campaign can be paused ("isPaused") or ended ("endDate ... When '
        "to end the campaign\"). Today's behaviour.",
    ),
    "trailing_slash": Reading(
        values={
            "required": "every path ends in / as documented; without it the answer is Django's 301 "
            "(APPEND_SLASH) to the same URL with the slash, whatever the method",
            "optional": "paths are served with or without the trailing slash",
        },
        default="required",
        doc="Every URL in the document ends in a slash: \"url: '.../api/platform/v1/company/'\", "
        '".../job/%7BjobId%7D/expire/"',
        why="The document's URLs all end in / and the API is a Django REST Framework service, whose "
        "CommonMiddleware answers a slash-less URL with a 301 (a client that follows it for a POST or PUT "
        "turns it into a GET and loses the body).",
    ),
    "campaign_budget": Reading(
        values={
            "total": "a campaign's budget is the total of every amount added (budget, then each addBudget)",
            "remaining": "budget is that total minus what was spent so far (it falls as the campaign spends)",
        },
        default="total",
        doc='"budget | Amount of budget to add to the campaign" and "addBudget | Amount of budget to add"; the '
        'example answers "budgetRemaining": 14.25, "budgetSpent": 0.75, "budget": 15',
        why="In the example budget = budgetRemaining + budgetSpent = the 15 created: the total. Today's behaviour. "
        "Spend grows with add_cost_events or the spend control.",
    ),
    "zip_code_form": Reading(
        values={
            "number": "job records answer jobZipCode as a number when it is all digits (company zips as strings)",
            "string": "every zip code is answered as the string the tables document",
        },
        default="number",
        doc='"jobZipCode required | string [ 5 .. 7 ] characters" vs the examples\' "jobZipCode": 94111',
        why="The examples show what the API sent; a number loses a leading zero (02108 -> 2108) exactly as "
        "the live API would. Today's behaviour; both forms are accepted on input in every reading.",
    ),
    "company_url": Reading(
        values={
            "required": "creating or updating a company without companyUrl answers 400",
            "optional": "companyUrl may be left out (as the examples do); the record then has none",
        },
        default="required",
        doc='"companyUrl required | string <uri> non-empty" vs examples that never send it',
        why="The table marks it required in so many words; an example leaving it out proves nothing.",
    ),
    "uniqueness": Reading(
        values={
            "enforced": "partnerCompanyId, adNumber and a campaign's name within its company are unique (400 "
            "naming the field on a duplicate)",
            "partner_company_id_only": "only partnerCompanyId is unique; a second job with the same adNumber, "
            "or campaign with the same name, is created",
        },
        default="enforced",
        doc='partnerCompanyId: "(must be unique)"; adNumber: "Your own system\'s unique identifier for this job"; '
        "campaign name: nothing",
        why="adNumber is called a unique identifier and a campaign is looked up by its name; only partnerCompanyId "
        "says the API enforces it, so tests opt into the looser reading. Today's behaviour.",
    ),
    "cost_data_order": Reading(
        values={
            "oldest_first": "campaign cost data rows are answered oldest first (by time)",
            "newest_first": "they are answered newest first",
        },
        default="oldest_first",
        doc='"Lists applicant and click cost data for a campaign" (no order given)',
        why="An append-only event list paged by offset is stable only oldest first (new rows land at the end). "
        "Today's behaviour.",
    ),
}
#: ``jobStatus`` / campaign ``status`` shown for a filter value that renames a state.
_INACTIVE = "Inactive"


def aggressiveness_problem(value: t.Any) -> bool:
    """ "aggressiveness | number non-empty multiple of 10 [ 10 .. 60 ]": True when ``value`` breaks it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        return True
    return not 10 <= value <= 60 or int(value) % 10 != 0


def flat_codes(value: t.Any) -> list[t.Any] | None:
    """A flat list from a field typed "Array of arrays" whose examples are flat (``"products": ["college"]``,
    ``"jobs": [10]``): nested lists are flattened, a single scalar is a one-item list."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        return [value]
    flat: list[t.Any] = []
    for item in value:
        if isinstance(item, (list, tuple)):
            flat.extend(flat_codes(item) or [])
        else:
            flat.append(item)
    return flat


DUMP_LIMIT = 10_000
MAX_PAGE_SIZE = 1000
ESTIMATES_PER_DAY = 50

JOB_EPOCH = dt.datetime(2023, 1, 1, tzinfo=UTC)  # seeded job i starts at JOB_EPOCH + i minutes
JOB_STEP = dt.timedelta(minutes=1)
COST_EPOCH = dt.datetime(2024, 1, 1, tzinfo=UTC)  # seeded cost row i happened at COST_EPOCH + 10 i seconds
COST_STEP = dt.timedelta(seconds=10)
EXPIRED_EVERY = 5  # seeded job i is expired when i % 5 == 0
CAMPAIGN_STATUS_BY_RESIDUE = {1: "active", 2: "paused", 0: "ended"}  # seeded campaign c by c % 3

WORKTIME_IDS = {1, 4, 5, 6, 7}
APPLY_ACTION_TYPES = ("Email Address", "Nothing", "URL Redirect")
EVENT_TYPES = ("Click", "Applicant")
EVENT_COSTS = {"Click": 0.15, "Applicant": 1.5}
PRODUCT_CATALOG = (
    ("college", "College Network", "This product distributes to college sites"),
    ("veterans", "Veterans Network", "This product distributes to veteran communities"),
    ("healthcare", "Healthcare Boost", "This product distributes to healthcare job sites"),
    ("drivers", "Drivers Network", "This product distributes to commercial driver sites"),
    ("hourly", "Hourly Boost", "This product distributes to hourly job sites"),
)
PLACES = (
    ("98 Battery St", "San Francisco", "CA", "94111"),
    ("1 Beacon St", "Boston", "MA", "02108"),
    ("350 5th Ave", "New York", "NY", "10118"),
    ("233 S Wacker Dr", "Chicago", "IL", "60606"),
    ("24 Sussex Dr", "Ottawa", "ON", "K1M 1M4"),
    ("400 Broad St", "Seattle", "WA", "98109"),
)
TITLES = ("Rodeo Clown", "Forklift Operator", "Registered Nurse", "Line Cook", "Delivery Driver", "Cashier")
SOURCES = ("ABC XYZ Job Board", "Jobcase", "Partner Network")


# -- lazily seeded tables ------------------------------------------------------------------------


def iso(value: dt.datetime) -> str:
    """``2030-01-05T19:09:35.334843+00:00``: the form every document example uses."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Pattern:
    """The seeded ids ``lo..hi`` whose ``id % step`` is in ``residues``: which pristine records match a filter."""

    lo: int
    hi: int
    step: int = 1
    residues: frozenset[int] = frozenset({0})

    def __contains__(self, i: int) -> bool:
        return self.lo <= i <= self.hi and i % self.step in self.residues

    def _count_from_one(self, n: int) -> int:
        total = 0
        for r in self.residues:
            if r == 0:
                total += n // self.step
            elif n >= r:
                total += (n - r) // self.step + 1
        return total

    def count_upto(self, x: int) -> int:
        x = min(x, self.hi)
        if x < self.lo:
            return 0
        return self._count_from_one(x) - self._count_from_one(self.lo - 1)

    def first_from(self, x: int) -> int | None:
        for i in range(max(x, self.lo), min(max(x, self.lo) + self.step, self.hi + 1)):
            if i % self.step in self.residues:
                return i
        return None


#: A table's unique business key: ``partnerCompanyId``, ``adNumber``, ``(companyId, lower-case name)``.
_Key = t.TypeVar("_Key", bound=t.Hashable)


class LazyTable(t.Generic[_Key]):
    """Records ``1..seeded`` made on demand by ``make(id)``; changed and created ones stored.

    ``unique_key(record)`` names a record's unique business key and ``seeded_id(key)``
    inverts it for pristine records, so uniqueness checks need no scan either.
    """

    def __init__(
        self,
        seeded: int,
        make: t.Callable[[int], dict[str, t.Any]],
        unique_key: t.Callable[[dict[str, t.Any]], _Key] | None = None,
        seeded_id: t.Callable[[_Key], int | None] | None = None,
    ) -> None:
        self.seeded = max(0, seeded)
        self.make = make
        self.unique_key = unique_key
        self.seeded_id = seeded_id
        self.changed: dict[int, dict[str, t.Any]] = {}
        self._changed_ids: list[int] = []  # sorted
        self._key_index: dict[_Key, int] = {}
        self.last_id = self.seeded

    def __len__(self) -> int:
        return self.last_id

    def get(self, i: int) -> dict[str, t.Any] | None:
        if i in self.changed:
            return self.changed[i]
        if 1 <= i <= self.seeded:
            return self.make(i)
        return None

    def put(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        i = record["id"]
        if self.unique_key is not None:
            previous = self.get(i)
            if previous is not None:
                self._key_index.pop(self.unique_key(previous), None)
            self._key_index[self.unique_key(record)] = i
        if i not in self.changed:
            bisect.insort(self._changed_ids, i)
        self.changed[i] = record
        return record

    def create(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        self.last_id += 1
        return self.put({"id": self.last_id, **record})

    def find(self, key: _Key) -> int | None:
        """Id of the record whose unique key is ``key``."""
        i = self._key_index.get(key)
        if i is not None:
            return i
        i = self.seeded_id(key) if self.seeded_id is not None else None
        if i is not None and 1 <= i <= self.seeded and i not in self.changed:
            return i
        return None

    def select(
        self, matches: t.Callable[[dict[str, t.Any]], bool], pattern: Pattern | None, offset: int, limit: int
    ) -> tuple[int, list[dict[str, t.Any]]]:
        """``(count, page)`` of the records that match, in id order.

        With a ``pattern`` (the pristine seeded ids that match), counting and
        finding the page are arithmetic plus the changed records; without one,
        every record is made and tested (fine for small tables).
        """
        if pattern is None:
            return self._select_by_scan(matches, offset, limit)
        return self._select_by_pattern(matches, pattern, offset, limit)

    def _select_by_scan(
        self, matches: t.Callable[[dict[str, t.Any]], bool], offset: int, limit: int
    ) -> tuple[int, list[dict[str, t.Any]]]:
        page: list[dict[str, t.Any]] = []
        count = 0
        for i in range(1, self.last_id + 1):
            record = self.get(i)
            if record is not None and matches(record):
                if offset <= count < offset + limit:
                    page.append(record)
                count += 1
        return count, page

    def _select_by_pattern(
        self, matches: t.Callable[[dict[str, t.Any]], bool], pattern: Pattern, offset: int, limit: int
    ) -> tuple[int, list[dict[str, t.Any]]]:
        pattern = Pattern(max(1, pattern.lo), min(pattern.hi, self.seeded), pattern.step, pattern.residues)
        hits = [i for i in self._changed_ids if matches(self.changed[i])]
        shadowed = [i for i in self._changed_ids if i in pattern]  # pristine matches now changed

        def count_upto(x: int) -> int:
            return pattern.count_upto(x) - bisect.bisect_right(shadowed, x) + bisect.bisect_right(hits, x)

        count = count_upto(self.last_id)
        if offset >= count or limit <= 0:
            return count, []
        low, high = 1, self.last_id  # smallest id with count_upto(id) > offset
        while low < high:
            mid = (low + high) // 2
            if count_upto(mid) > offset:
                high = mid
            else:
                low = mid + 1
        page: list[dict[str, t.Any]] = []
        hit = bisect.bisect_left(hits, low)
        seeded_next = pattern.first_from(low)
        while len(page) < limit:
            while seeded_next is not None and seeded_next in self.changed:
                seeded_next = pattern.first_from(seeded_next + 1)
            changed_next = hits[hit] if hit < len(hits) else None
            if seeded_next is not None and (changed_next is None or seeded_next < changed_next):
                page.append(self.make(seeded_next))
                seeded_next = pattern.first_from(seeded_next + 1)
            elif changed_next is not None:
                page.append(self.changed[changed_next])
                hit += 1
            else:  # neither seeded nor changed records are left
                break
        return count, page

    def records(self, limit: int | None = None) -> tuple[list[dict[str, t.Any]], bool]:
        """Records in id order for a dump: all, or the first ``limit`` plus every changed one."""
        if limit is None or self.last_id <= limit:
            ids: t.Iterable[int] = range(1, self.last_id + 1)
            truncated = False
        else:
            ids = sorted(set(range(1, limit + 1)) | set(self._changed_ids))
            truncated = True
        return [r for r in (self.get(i) for i in ids) if r is not None], truncated


# -- validation helpers (DRF-style messages) -------------------------------------------------------

Errors = dict[str, list[str]]


def _error(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _body(request: Request) -> dict[str, t.Any]:
    body = request.json()
    if not isinstance(body, dict):
        kind = type(body).__name__ if body is not None else "nothing"
        raise HTTPError(400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]})
    return body


def _blank(value: t.Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _require(body: dict[str, t.Any], fields: t.Iterable[str], errors: Errors) -> None:
    for field in fields:
        if _blank(body.get(field)):
            _error(
                errors, field, "This field is required." if body.get(field) is None else "This field may not be blank."
            )


def _check_state(body: dict[str, t.Any], field: str, errors: Errors) -> None:
    value = body.get(field)
    if not _blank(value) and (not isinstance(value, str) or len(value.strip()) != 2):
        _error(errors, field, "Ensure this field has exactly 2 characters.")


def _check_zip(body: dict[str, t.Any], field: str, errors: Errors) -> str | None:
    """Accept a string or a number; the stored form is the string the tables document."""
    value = body.get(field)
    if _blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        _error(errors, field, "Not a valid string.")
        return None
    text = str(value).strip()
    if not 5 <= len(text) <= 7:
        _error(errors, field, "Ensure this field has between 5 and 7 characters.")
        return None
    return text


def _check_url(body: dict[str, t.Any], field: str, errors: Errors) -> None:
    value = body.get(field)
    if _blank(value):
        return
    parts = urlsplit(str(value))
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        _error(errors, field, "Enter a valid URL.")


def _parse_when(value: t.Any, *, end_of_day: bool = False) -> dt.datetime | None:
    """ISO 8601 date or date-time (naive means UTC); None when it does not parse."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_when(body: dict[str, t.Any], field: str, errors: Errors) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    moment = _parse_when(value)
    if moment is None:
        _error(errors, field, "Datetime has wrong format. Use ISO 8601.")
        return None
    return iso(moment)


def _check_int(body: dict[str, t.Any], field: str, errors: Errors, allowed: t.Container[int] | None = None) -> None:
    value = body.get(field)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        _error(errors, field, "A valid integer is required.")
    elif allowed is not None and int(value) not in allowed:
        _error(errors, field, f'"{value}" is not a valid choice.')


def _check_apply_channels(body: dict[str, t.Any], errors: Errors) -> None:
    """How a candidate applies: the action type and the addresses applications are emailed to."""
    if body.get("applyActionType") is not None and body["applyActionType"] not in APPLY_ACTION_TYPES:
        _error(errors, "applyActionType", f'"{body["applyActionType"]}" is not a valid choice.')
    emails = body.get("applyEmails")
    if emails is not None and (
        not isinstance(emails, list) or not all(isinstance(e, str) and "@" in e for e in emails)
    ):
        _error(errors, "applyEmails", "Enter a list of valid email addresses.")


def _check_bool(body: dict[str, t.Any], field: str, errors: Errors) -> None:
    if body.get(field) is not None and not isinstance(body[field], bool):
        _error(errors, field, "Must be a valid boolean.")


def _money(value: t.Any, field: str, minimum: Decimal, errors: Errors) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        _error(errors, field, "A valid number is required.")
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        _error(errors, field, "A valid number is required.")
        return None
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        _error(errors, field, "Ensure that there are no more than 2 decimal places.")
    elif amount < minimum:
        _error(errors, field, f"Ensure this value is greater than or equal to {minimum}.")
    else:
        return amount
    return None


def _page_args(request: Request) -> tuple[int, int]:
    offset = request.int_arg("offset", 0)
    limit = request.int_arg("limit", DEFAULT_PAGE_SIZE)
    if offset < 0 or limit < 1:
        raise HTTPError(400, {"detail": "offset must be >= 0 and limit >= 1."})
    return offset, min(limit, MAX_PAGE_SIZE)


def _status_arg(request: Request, allowed: tuple[str, ...]) -> str:
    status = (request.arg("status") or DEFAULT_STATUS).strip().lower()
    if status not in allowed:
        raise HTTPError(400, {"status": [f'"{status}" is not a valid choice: {", ".join(allowed)}.']})
    return status


def _digits_as_number(code: str | None) -> t.Any:
    return int(code) if code and code.isdigit() else code


def _money_out(value: Decimal | float) -> float | int:
    number = float(value)
    return int(number) if number.is_integer() else round(number, 2)


# Unique keys of the tables, as named functions (not lambdas) so the store pickles
# (`jobsync-sandbox serve --state-file`, see jobsync_sandbox/persist.py).
def _partner_company_id(company: dict[str, t.Any]) -> str:
    return str(company["partnerCompanyId"])  # always a string already: stored stripped, seeded formatted


def _seeded_company_id(key: str) -> int | None:
    return int(key[3:]) if re.fullmatch(r"PC-\d{6,}", key) else None


def _ad_number(job: dict[str, t.Any]) -> str:
    return str(job["adNumber"])  # always a string already: stored stripped, seeded formatted


def _seeded_job_id(key: str) -> int | None:
    return int(key[3:]) if re.fullmatch(r"AD-\d{7,}", key) else None


def _campaign_key(campaign: dict[str, t.Any]) -> tuple[int, str]:
    return (campaign["companyId"], campaign["name"].strip().lower())


# -- the API ---------------------------------------------------------------------------------------


class JobcaseAPI(SimulatedAPI):
    name = "jobcase"
    base_path = "/jobcase/api/platform/v1"
    default_sizes: t.ClassVar[dict[str, int]] = {
        "companies": 4,
        "jobs_per_company": 5,
        "campaigns": 6,
        "products": 4,
        "cost_rows": 25,
        "rate_limit_requests": DOCUMENTED_REQUESTS_PER_MINUTE,
        "rate_limit_window_seconds": 60,
    }
    default_credentials: t.ClassVar[dict[str, t.Any]] = {"api_key": "sandbox-jobcase-key", "partner_id": 1}
    #: "offset | integer The number of items to skip before starting to collect the result set"
    paging_parameters = ("offset",)
    readings_spec = READINGS
    #: Not saved by `serve --state-file`: rate-limit windows are readings of this process's monotonic clock.
    persist_exclude: t.ClassVar[tuple[str, ...]] = ("windows",)

    # -- store ------------------------------------------------------------------------------------
    def reset(self) -> None:
        self.partner_id = int(self.credentials["partner_id"])
        sizes = self.sizes
        self.jobs_per_company = max(0, int(sizes["jobs_per_company"]))
        self.companies = LazyTable(
            int(sizes["companies"]),
            self._seed_company,
            unique_key=_partner_company_id,
            seeded_id=_seeded_company_id,
        )
        self.jobs = LazyTable(
            self.companies.seeded * self.jobs_per_company,
            self._seed_job,
            unique_key=_ad_number,
            seeded_id=_seeded_job_id,
        )
        self.campaigns = LazyTable(
            int(sizes["campaigns"]) if self.companies.seeded else 0,
            self._seed_campaign,
            unique_key=_campaign_key,
            seeded_id=self._seeded_campaign_id,
        )
        # Cost data rows have no unique key (nor an id in the API): nothing is ever looked up by key.
        self.cost_rows: LazyTable[t.Never] = LazyTable(
            int(sizes["cost_rows"]) if self.campaigns.seeded else 0, self._seed_cost_row
        )
        self.products = [self._seed_product(i) for i in range(1, int(sizes["products"]) + 1)]
        self.people: dict[str, dict[str, t.Any]] = {}
        self.next_person_id = 1_000_000
        self.rate_limit_requests = int(sizes["rate_limit_requests"])
        self.rate_limit_window = float(sizes["rate_limit_window_seconds"])
        self.windows: dict[str, collections.deque[float]] = {}
        self.estimates: collections.Counter[tuple[str, str]] = collections.Counter()

    def _rng(self, kind: str, i: int) -> random.Random:
        return random.Random(f"{self.seed}:{kind}:{i}")  # noqa: S311 - seeded, reproducible fake data, no secret

    def _seed_company(self, k: int) -> dict[str, t.Any]:
        rng = self._rng("company", k)
        street, city, state, zip_code = PLACES[k % len(PLACES)]
        return {
            "id": k,
            "partnerId": self.partner_id,
            "companyName": f"{rng.choice(('Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli'))} {k}",
            "partnerCompanyId": f"PC-{k:06d}",
            "companyUrl": f"https://company-{k}.example.com",
            "companyStreet": street,
            "companyCity": city,
            "companyState": state,
            "companyZipCode": zip_code,
            "companyContact": {
                "id": 2 * k - 1,
                "firstName": "Jack",
                "lastName": f"Sparrow{k}",
                "email": f"contact{k}@example.com",
            },
            "salesRep": {
                "id": 2 * k,
                "firstName": "Sales",
                "lastName": f"Rep{k}",
                "email": f"rep{k}@jobcase.example.com",
            },
        }

    def _seed_job(self, i: int) -> dict[str, t.Any]:
        rng = self._rng("job", i)
        street, city, state, zip_code = PLACES[i % len(PLACES)]
        start = JOB_EPOCH + i * JOB_STEP
        action = APPLY_ACTION_TYPES[i % len(APPLY_ACTION_TYPES)]
        title = rng.choice(TITLES)
        job = {
            "id": i,
            "partnerId": self.partner_id,
            "companyId": (i - 1) // self.jobs_per_company + 1,
            "adNumber": f"AD-{i:07d}",
            "jobTitle": title,
            "jobDescription": f"{title} wanted. " + "Friendly team, weekly pay, growth opportunities. " * 3,
            "jobStreet": street,
            "jobCity": city,
            "jobState": state,
            "jobZipCode": zip_code,
            "worktimeId": rng.choice(sorted(WORKTIME_IDS)),
            "jobCategoryId": rng.choice((0, 101, 118, 137, 192)),
            "experienceId": rng.choice((4, 5, 6, 7, 8, 9)),
            "applyEmails": [f"apply-{i}@example.com"] if action == "Email Address" else [],
            "startDate": iso(start),
            "endDate": iso(start + dt.timedelta(days=30)),
            "isConfidential": i % 7 == 0,
            "jobAttributes": {"Department": rng.choice(("Operations", "Sales", "Care"))},
            "jobStatus": JOB_EXPIRED if i % EXPIRED_EVERY == 0 else JOB_ACTIVE,
            "applyActionType": action,
            "resumeRequired": action == "Email Address" and i % 2 == 0,
            "products": [self.products[i % len(self.products)]["code"]] if self.products else [],
        }
        if action == "URL Redirect":
            job["applyUrl"] = f"https://careers.example.com/jobs/{i}"
        return job

    def _seeded_campaign_jobs(self, c: int) -> list[int]:
        companies = self.companies.seeded
        company, round_ = (c - 1) % companies + 1, (c - 1) // companies
        if not self.jobs_per_company:
            return []
        first = (company - 1) * self.jobs_per_company + 1
        return sorted({first + (round_ * 3 + n) % self.jobs_per_company for n in range(min(3, self.jobs_per_company))})

    def _seed_campaign(self, c: int) -> dict[str, t.Any]:
        status = CAMPAIGN_STATUS_BY_RESIDUE[c % 3]
        budget = Decimal(15 + 5 * (c % 10))
        spent = (budget * Decimal(c % 4) / 10).quantize(Decimal("0.01"))
        jobs = self._seeded_campaign_jobs(c)
        return {
            "id": c,
            "partnerId": self.partner_id,
            "companyId": (c - 1) % self.companies.seeded + 1,
            "name": f"Campaign {c}",
            "aggressiveness": 10 * (c % 6 + 1),
            "endDate": iso(dt.datetime(2024, 6, 30, tzinfo=UTC))
            if status == "ended"
            else iso(dt.datetime(2035, 1, 1, tzinfo=UTC)),
            "isPaused": status == "paused",
            "budget": budget,
            "budgetSpent": spent,
            "jobs": jobs,
            "jobStats": {
                j: {"budgetSpent": float(spent / len(jobs)) if jobs else 0.0, "totalClicks": c % 4} for j in jobs
            },
        }

    def _seeded_campaign_id(self, key: tuple[int, str]) -> int | None:
        company, name = key
        match = re.fullmatch(r"campaign (\d+)", name)
        if not match or not self.companies.seeded:
            return None
        c = int(match.group(1))
        return c if (c - 1) % self.companies.seeded + 1 == company else None

    def _seed_cost_row(self, i: int) -> dict[str, t.Any]:
        campaigns = self.campaigns.seeded
        c = (i - 1) % campaigns + 1
        jobs = self._seeded_campaign_jobs(c)
        event = "Applicant" if i % 7 == 0 else "Click"
        return {
            "id": i,  # internal only: cost rows have no id in the API
            "campaignId": c,
            "jobId": jobs[((i - 1) // campaigns) % len(jobs)] if jobs else None,
            "source": SOURCES[i % len(SOURCES)],
            "cost": EVENT_COSTS[event],
            "eventType": event,
            "time": iso(COST_EPOCH + i * COST_STEP),
        }

    def _seed_product(self, i: int) -> dict[str, t.Any]:
        if i <= len(PRODUCT_CATALOG):
            code, title, description = PRODUCT_CATALOG[i - 1]
        else:
            code, title, description = f"product{i}", f"Product {i}", f"Distribution product {i}"
        return {
            "id": i,
            "code": code,
            "runtime": 30,
            "shortCode": f"abc:{100 + i}",
            "description": description,
            "title": title,
        }

    # -- rendering (records as the API answers them) ------------------------------------------------
    def render_company(self, company: dict[str, t.Any]) -> dict[str, t.Any]:
        # `company_url` = optional: a company created without one has none (as the examples show).
        return {k: v for k, v in company.items() if not k.startswith("_") and (k != "companyUrl" or v is not None)}

    def render_job(self, job: dict[str, t.Any]) -> dict[str, t.Any]:
        out = {k: v for k, v in job.items() if v is not None and not k.startswith("_")}
        if self.reading("zip_code_form") == "number":
            out["jobZipCode"] = _digits_as_number(job.get("jobZipCode"))
        out["jobStatus"] = self.job_status(job)
        return out

    def job_status(self, job: dict[str, t.Any]) -> str:
        """``jobStatus`` as shown: the ``job_statuses`` reading ``active,inactive`` calls an expired job Inactive."""
        if job["jobStatus"] == JOB_EXPIRED and "inactive" in self.job_statuses:
            return _INACTIVE
        return str(job["jobStatus"])

    @property
    def job_statuses(self) -> tuple[str, ...]:
        return tuple(self.reading("job_statuses").split(","))

    @property
    def campaign_statuses(self) -> tuple[str, ...]:
        return tuple(self.reading("campaign_statuses").split(","))

    def campaign_status(self, campaign: dict[str, t.Any]) -> str:
        if campaign.get("isPaused"):
            state = "Paused"
        else:
            end = _parse_when(campaign.get("endDate"))
            state = "Ended" if end is not None and end <= self.clock.now() else "Active"
        if state != "Active" and "inactive" in self.campaign_statuses:
            return _INACTIVE
        return state

    def render_campaign(self, campaign: dict[str, t.Any]) -> dict[str, t.Any]:
        jobs = []
        for job_id in campaign["jobs"]:
            job = self.jobs.get(job_id) or {}
            stats = campaign["jobStats"].get(job_id, {})
            jobs.append(
                {
                    "id": job_id,
                    "status": self.job_status(job) if job else None,
                    "jobTitle": job.get("jobTitle"),
                    "budgetSpent": round(stats.get("budgetSpent", 0.0), 2),
                    "totalClicks": stats.get("totalClicks", 0),
                }
            )
        return {
            "id": campaign["id"],
            "partnerId": campaign["partnerId"],
            "companyId": campaign["companyId"],
            "name": campaign["name"],
            "budgetRemaining": _money_out(campaign["budget"] - campaign["budgetSpent"]),
            "budgetSpent": _money_out(campaign["budgetSpent"]),
            "aggressiveness": campaign["aggressiveness"],
            "endDate": campaign.get("endDate"),
            "status": self.campaign_status(campaign),
            # `campaign_budget`: the total ever added, or (remaining) that total minus the spend so far.
            "budget": _money_out(
                campaign["budget"] - campaign["budgetSpent"]
                if self.reading("campaign_budget") == "remaining"
                else campaign["budget"]
            ),
            "jobs": jobs,
        }

    @staticmethod
    def render_cost_row(row: dict[str, t.Any]) -> dict[str, t.Any]:
        return {k: v for k, v in row.items() if k != "id"}

    # -- trailing slash, auth and rate limit -------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        # `trailing_slash` = required: Django's CommonMiddleware (APPEND_SLASH) runs before DRF's auth and
        # throttling, and answers a slash-less URL that would match with a slash by a 301 there.
        if self.reading("trailing_slash") == "required" and not request.path.endswith("/"):
            slashed = request.path + "/"
            if any(regex.match(slashed) for _, regex, _ in self._route_table):
                location = self.base_path + slashed + (f"?{request.raw_query}" if request.raw_query else "")
                return Response(301, b"", {"Location": location, "Content-Type": "text/html; charset=utf-8"})
        return super().dispatch(request)

    def _allow_method(self, request: Request, reading: str) -> None:
        """405 (DRF's wording) for a method the reading ``reading`` does not accept."""
        allowed = self.reading(reading)
        if allowed not in {"both", request.method}:
            raise HTTPError(405, {"detail": f'Method "{request.method}" not allowed.'}, {"Allow": allowed})

    def _update_body(self, request: Request, existing: dict[str, t.Any], required: t.Iterable[str]) -> dict[str, t.Any]:
        """The body of an update; a PATCH is partial (DRF ``partial=True``): required fields left out keep
        their value."""
        body = _body(request)
        if request.method == "PATCH":
            body = {**{f: existing.get(f) for f in required if f not in body}, **body}
        return body

    def authenticate(self, request: Request) -> None:
        key = request.header(API_KEY_HEADER)
        if not key:
            raise HTTPError(401, {"detail": "Authentication credentials were not provided."})
        if key != self.credentials["api_key"]:
            raise HTTPError(401, {"detail": "Invalid API key."})

    def before_dispatch(self, request: Request) -> None:
        key = request.header(API_KEY_HEADER) or ""
        now = time.monotonic()
        with self.lock:
            window = self.windows.setdefault(key, collections.deque())
            while window and window[0] <= now - self.rate_limit_window:
                window.popleft()
            if self.rate_limit_requests > 0 and len(window) >= self.rate_limit_requests:
                wait = max(1, math.ceil(window[0] + self.rate_limit_window - now))
                raise HTTPError(
                    429,
                    {"detail": f"Request was throttled. Expected available in {wait} seconds."},
                    {"Retry-After": str(wait)},
                )
            window.append(now)

    # -- lookups --------------------------------------------------------------------------------------
    def _get_or_404(self, table: LazyTable[_Key], request: Request, what: str) -> dict[str, t.Any]:
        record = table.get(int(request.path_params["id"]))
        if record is None:
            raise HTTPError(404, {"detail": f"{what} not found."})
        return record

    def _check_company_id(self, body: dict[str, t.Any], errors: Errors) -> None:
        value = body.get("companyId")
        if _blank(value):
            return
        if isinstance(value, bool) or not isinstance(value, int) or self.companies.get(value) is None:
            _error(errors, "companyId", f'Invalid pk "{value}" - object does not exist.')

    def _person(self, data: t.Any) -> dict[str, t.Any] | None:
        """Contacts and sales reps are reused by email, else created (as documented)."""
        if not isinstance(data, dict) or not data.get("email"):
            return None
        email = str(data["email"]).strip().lower()
        person = self.people.get(email)
        if person is None:
            self.next_person_id += 1
            person = {
                "id": self.next_person_id,
                "firstName": data.get("firstName"),
                "lastName": data.get("lastName"),
                "email": data["email"],
            }
            self.people[email] = person
        return dict(person)

    # -- companies ------------------------------------------------------------------------------------
    COMPANY_REQUIRED = COMPANY_REQUIRED_FIELDS

    def _company_from(self, body: dict[str, t.Any], existing: dict[str, t.Any] | None) -> dict[str, t.Any]:
        errors: Errors = {}
        required: tuple[str, ...] = self.COMPANY_REQUIRED
        if self.reading("company_url") == "optional":
            required = tuple(f for f in required if f != "companyUrl")
        _require(body, required, errors)
        if not _blank(body.get("partnerId")) and body.get("partnerId") != self.partner_id:
            _error(errors, "partnerId", "Invalid partner for this API key.")
        _check_url(body, "companyUrl", errors)
        _check_state(body, "companyState", errors)
        zip_code = _check_zip(body, "companyZipCode", errors)
        pcid = body.get("partnerCompanyId")
        if not _blank(pcid):
            owner = self.companies.find(str(pcid))
            if owner is not None and (existing is None or owner != existing["id"]):
                _error(errors, "partnerCompanyId", "company with this partnerCompanyId already exists.")
        if errors:
            raise HTTPError(400, errors)
        company = dict(existing or {})
        for field in ("companyName", "partnerCompanyId", "companyStreet", "companyCity", "companyState"):
            company[field] = str(body[field]).strip()
        company["companyUrl"] = None if _blank(body.get("companyUrl")) else str(body["companyUrl"]).strip()
        company["partnerId"] = self.partner_id
        company["companyZipCode"] = zip_code
        for field in ("companyContact", "salesRep"):
            if field in body:
                company[field] = self._person(body[field])
        company.setdefault("companyContact", None)
        company.setdefault("salesRep", None)
        return company

    @route("GET", "/company/")
    def list_companies(self, request: Request) -> Response:
        offset, limit = _page_args(request)
        with self.lock:
            count, page = self.companies.select(lambda _: True, Pattern(1, self.companies.seeded), offset, limit)
            return json_response({"count": count, "results": [self.render_company(c) for c in page]})

    @route("POST", "/company/")
    def create_company(self, request: Request) -> Response:
        body = _body(request)
        with self.lock:
            company = self.companies.create(self._company_from(body, None))
            return json_response(self.render_company(company), 201)

    @route("GET", r"/company/(?P<id>\d+)/")
    def get_company(self, request: Request) -> Response:
        with self.lock:
            return json_response(self.render_company(self._get_or_404(self.companies, request, "Company")))

    @route("PUT", r"/company/(?P<id>\d+)/")
    @route("PATCH", r"/company/(?P<id>\d+)/")
    def update_company(self, request: Request) -> Response:
        self._allow_method(request, "update_method")  # DRF answers 405 before looking the object up
        with self.lock:
            existing = self._get_or_404(self.companies, request, "Company")
            body = self._update_body(request, existing, self.COMPANY_REQUIRED)
            company = self.companies.put(self._company_from(body, existing))
            return json_response(self.render_company(company))

    @route("POST", r"/company/(?P<id>\d+)/logo/")
    def upload_logo(self, request: Request) -> Response:
        logo = request.form().get("company_logo")
        with self.lock:
            company = dict(self._get_or_404(self.companies, request, "Company"))
            if not isinstance(logo, FilePart) or not logo.content:
                raise HTTPError(400, {"company_logo": ["No file was submitted."]})
            company["_logo"] = {
                "filename": logo.filename,
                "bytes": len(logo.content),
                "content_type": logo.content_type,
            }
            self.companies.put(company)
            return json_response({"success": True})

    # -- jobs -----------------------------------------------------------------------------------------
    JOB_REQUIRED = ("companyId", "adNumber", "jobTitle", "jobDescription", "jobCity", "jobState", "jobZipCode")
    JOB_OPTIONAL = (
        "jobStreet",
        "worktimeId",
        "jobCategoryId",
        "experienceId",
        "applyUrl",
        "applyEmails",
        "isConfidential",
        "jobAttributes",
        "applyActionType",
        "resumeRequired",
    )
    JOB_DEFAULTS: t.ClassVar[dict[str, t.Any]] = {
        "worktimeId": 1,
        "jobCategoryId": 0,
        "experienceId": 5,
        "applyEmails": [],
        "isConfidential": False,
        "jobAttributes": {},
        "applyActionType": "Nothing",
        "resumeRequired": False,
    }

    def _check_products(self, value: t.Any, errors: Errors) -> list[str] | None:
        codes = flat_codes(value)
        if codes is None:
            return None
        known = {p["code"] for p in self.products}
        unknown = [c for c in codes if not isinstance(c, str) or c not in known]
        if unknown:
            _error(errors, "products", f"Invalid product code(s): {', '.join(map(str, unknown))}.")
            return None
        return list(dict.fromkeys(codes))

    def _campaign_or_error(self, value: t.Any, errors: Errors) -> dict[str, t.Any] | None:
        if value is None:
            return None
        campaign = self.campaigns.get(value) if isinstance(value, int) and not isinstance(value, bool) else None
        if campaign is None:
            _error(errors, "campaignId", f'Invalid pk "{value}" - object does not exist.')
        return campaign

    def _job_from(self, body: dict[str, t.Any], existing: dict[str, t.Any] | None) -> dict[str, t.Any]:
        errors: Errors = {}
        _require(body, self.JOB_REQUIRED, errors)
        self._check_company_id(body, errors)
        _check_state(body, "jobState", errors)
        zip_code = _check_zip(body, "jobZipCode", errors)
        if "jobStreet" in body and body["jobStreet"] is not None and _blank(body["jobStreet"]):
            _error(errors, "jobStreet", "This field may not be blank.")
        _check_int(body, "worktimeId", errors, WORKTIME_IDS)
        # The examples send jobCategoryId/experienceId 1, which no mapping lists: any integer is accepted.
        _check_int(body, "jobCategoryId", errors)
        _check_int(body, "experienceId", errors)
        _check_url(body, "applyUrl", errors)
        _check_bool(body, "isConfidential", errors)
        _check_bool(body, "resumeRequired", errors)
        _check_apply_channels(body, errors)
        if body.get("jobAttributes") is not None and not isinstance(body["jobAttributes"], dict):
            _error(errors, "jobAttributes", "Expected a dictionary of items.")
        start = _check_when(body, "startDate", errors)
        end = _check_when(body, "endDate", errors)
        self._check_unique_ad_number(body, existing, errors)
        products = campaign = None
        if existing is None:  # products and campaignId only on create (the update table lists neither)
            products = self._check_products(body.get("products"), errors)
            campaign = self._campaign_or_error(body.get("campaignId"), errors)
            if campaign is not None and len(campaign["jobs"]) >= MAX_CAMPAIGN_JOBS:
                _error(errors, "campaignId", f"A campaign holds at most {MAX_CAMPAIGN_JOBS} jobs.")
        if errors:
            raise HTTPError(400, errors)
        now = self.clock.now()
        job = (
            dict(existing) if existing else {"partnerId": self.partner_id, "jobStatus": JOB_ACTIVE, **self.JOB_DEFAULTS}
        )
        for field in ("adNumber", "jobTitle", "jobDescription", "jobCity", "jobState"):
            job[field] = str(body[field]).strip()
        job["companyId"] = body["companyId"]
        job["jobZipCode"] = zip_code
        for field in self.JOB_OPTIONAL:
            if body.get(field) is not None:
                job[field] = body[field]
        if start or existing is None:
            job["startDate"] = start or iso(now)
        if end or existing is None:
            job["endDate"] = end or iso(now + dt.timedelta(days=30))
        if existing is None:
            job["products"] = products or []
            job["_campaignId"] = campaign["id"] if campaign else None
        return job

    def _check_unique_ad_number(
        self, body: dict[str, t.Any], existing: dict[str, t.Any] | None, errors: Errors
    ) -> None:
        ad_number = body.get("adNumber")
        if not _blank(ad_number) and self.reading("uniqueness") == "enforced":
            owner = self.jobs.find(str(ad_number))
            if owner is not None and (existing is None or owner != existing["id"]):
                _error(errors, "adNumber", "job with this adNumber already exists.")

    def _add_job_to_campaign(self, campaign: dict[str, t.Any], job_id: int) -> None:
        if job_id not in campaign["jobs"]:
            campaign = {**campaign, "jobs": [*campaign["jobs"], job_id]}
            self.campaigns.put(campaign)

    def _job_selection(self, request: Request) -> tuple[t.Callable[[dict[str, t.Any]], bool], Pattern]:
        status = _status_arg(request, self.job_statuses)
        # "inactive" is another name for expired; "deleted" is a status no job ever reaches here.
        wanted = {"active": JOB_ACTIVE, "expired": JOB_EXPIRED, "inactive": JOB_EXPIRED}.get(status)
        bounds = []
        for name, end_of_day in (("from", False), ("to", True)):
            raw = request.arg(name)
            moment = _parse_when(raw, end_of_day=end_of_day) if raw else None
            if raw and moment is None:
                raise HTTPError(400, {name: ["Date has wrong format. Use ISO 8601."]})
            bounds.append(moment)
        since, until = bounds
        residues = {
            JOB_EXPIRED: frozenset({0}),
            JOB_ACTIVE: frozenset(range(1, EXPIRED_EVERY)),
            None: frozenset(),
        }[wanted]
        # Seeded job i starts at JOB_EPOCH + i minutes: the date range is an id range.
        lo = 1 if since is None else math.ceil((since - JOB_EPOCH) / JOB_STEP)
        hi = self.jobs.seeded if until is None else math.floor((until - JOB_EPOCH) / JOB_STEP)

        def matches(job: dict[str, t.Any]) -> bool:
            if job["jobStatus"] != wanted:
                return False
            start = _parse_when(job["startDate"])
            assert start is not None, "a stored startDate is always a timestamp written by iso()"
            return (since is None or start >= since) and (until is None or start <= until)

        return matches, Pattern(max(1, lo), hi, EXPIRED_EVERY, residues)

    @route("GET", "/job/")
    def list_jobs(self, request: Request) -> Response:
        offset, limit = _page_args(request)
        with self.lock:
            matches, pattern = self._job_selection(request)
            count, page = self.jobs.select(matches, pattern, offset, limit)
            return json_response({"count": count, "results": [self.render_job(j) for j in page]})

    @route("POST", "/job/")
    def create_job(self, request: Request) -> Response:
        body = _body(request)
        with self.lock:
            job = self.jobs.create(self._job_from(body, None))
            campaign = self.campaigns.get(job["_campaignId"]) if job["_campaignId"] is not None else None
            if campaign is not None:  # _job_from answered 400 for a campaignId that does not exist
                self._add_job_to_campaign(campaign, job["id"])
            return json_response(self.render_job(job), 201)

    @route("GET", r"/job/(?P<id>\d+)/")
    def get_job(self, request: Request) -> Response:
        with self.lock:
            return json_response(self.render_job(self._get_or_404(self.jobs, request, "Job")))

    @route("PUT", r"/job/(?P<id>\d+)/")
    @route("PATCH", r"/job/(?P<id>\d+)/")
    def update_job(self, request: Request) -> Response:
        self._allow_method(request, "update_method")  # DRF answers 405 before looking the object up
        with self.lock:
            existing = self._get_or_404(self.jobs, request, "Job")
            body = self._update_body(request, existing, self.JOB_REQUIRED)
            job = self.jobs.put(self._job_from(body, existing))
            return json_response(self.render_job(job))

    @route("POST", r"/job/(?P<id>\d+)/products/")
    @route("PUT", r"/job/(?P<id>\d+)/products/")
    def set_job_products(self, request: Request) -> Response:
        self._allow_method(request, "products_method")
        body = _body(request)
        with self.lock:
            job = dict(self._get_or_404(self.jobs, request, "Job"))
            errors: Errors = {}
            if body.get("products") is None:
                _error(errors, "products", "This field is required.")
            products = self._check_products(body.get("products"), errors)
            campaign = self._campaign_or_error(body.get("campaignId"), errors)
            if errors:
                raise HTTPError(400, errors)
            job["products"] = products or []
            self.jobs.put(job)
            if campaign is not None:
                if job["products"]:
                    self._add_job_to_campaign(campaign, job["id"])
                else:
                    self.campaigns.put({**campaign, "jobs": [j for j in campaign["jobs"] if j != job["id"]]})
            return json_response({"id": job["id"], "products": job["products"]})

    def _set_job_status(self, request: Request, status: str) -> Response:
        with self.lock:
            job = self._get_or_404(self.jobs, request, "Job")
            if job["jobStatus"] != status:  # already in that status: still a success (idempotent)
                self.jobs.put({**job, "jobStatus": status})
            return json_response({"success": True})

    @route("POST", r"/job/(?P<id>\d+)/expire/")
    def expire_job(self, request: Request) -> Response:
        return self._set_job_status(request, JOB_EXPIRED)

    @route("POST", r"/job/(?P<id>\d+)/unexpire/")
    def unexpire_job(self, request: Request) -> Response:
        return self._set_job_status(request, JOB_ACTIVE)

    # -- campaigns ------------------------------------------------------------------------------------
    def _campaign_from(self, body: dict[str, t.Any], existing: dict[str, t.Any] | None) -> dict[str, t.Any]:
        errors: Errors = {}
        _require(body, ("companyId", "name") if existing else ("companyId", "name", "budget"), errors)
        self._check_company_id(body, errors)
        aggressiveness = body.get("aggressiveness")
        if aggressiveness is not None and aggressiveness_problem(aggressiveness):
            _error(errors, "aggressiveness", "Ensure this value is a multiple of 10 between 10 and 60.")
        _check_bool(body, "isPaused", errors)
        end = _check_when(body, "endDate", errors)
        budget = add = None
        if existing is None and body.get("budget") is not None:
            budget = _money(body["budget"], "budget", MIN_CAMPAIGN_BUDGET, errors)
        if existing is not None and body.get("addBudget") is not None:
            add = _money(body["addBudget"], "addBudget", MIN_ADD_BUDGET, errors)
        jobs = self._check_campaign_jobs(body, errors)
        self._check_unique_campaign_name(body, existing, errors)
        name = body.get("name")
        if errors:
            raise HTTPError(400, errors)
        campaign = (
            dict(existing)
            if existing
            else {
                "partnerId": self.partner_id,
                "aggressiveness": 20,
                "endDate": None,
                "isPaused": False,
                "budget": budget,
                "budgetSpent": Decimal(0),
                "jobs": [],
                "jobStats": {},
            }
        )
        campaign["companyId"] = body["companyId"]
        campaign["name"] = str(name).strip()
        if aggressiveness is not None:
            campaign["aggressiveness"] = int(aggressiveness)
        if body.get("isPaused") is not None:
            campaign["isPaused"] = body["isPaused"]
        if end is not None:
            campaign["endDate"] = end
        if jobs is not None:
            campaign["jobs"] = list(dict.fromkeys(jobs))
        if add is not None:
            campaign["budget"] = campaign["budget"] + add
        return campaign

    def _check_campaign_jobs(self, body: dict[str, t.Any], errors: Errors) -> list[t.Any] | None:
        """The ``jobs`` of a campaign body (flattened), each the id of a job that exists."""
        jobs = flat_codes(body.get("jobs"))
        if jobs is not None:
            if len(jobs) > MAX_CAMPAIGN_JOBS:
                _error(errors, "jobs", f"Ensure this field has no more than {MAX_CAMPAIGN_JOBS} elements.")
            for job_id in jobs:
                if isinstance(job_id, bool) or not isinstance(job_id, int) or self.jobs.get(job_id) is None:
                    _error(errors, "jobs", f'Invalid pk "{job_id}" - object does not exist.')
        return jobs

    def _check_unique_campaign_name(
        self, body: dict[str, t.Any], existing: dict[str, t.Any] | None, errors: Errors
    ) -> None:
        name = body.get("name")
        unique = self.reading("uniqueness") == "enforced"
        if unique and not _blank(name) and isinstance(body.get("companyId"), int):
            owner = self.campaigns.find((body["companyId"], str(name).strip().lower()))
            if owner is not None and (existing is None or owner != existing["id"]):
                _error(errors, "name", "campaign with this name already exists for this company.")

    def _campaign_selection(self, request: Request) -> tuple[t.Callable[[dict[str, t.Any]], bool], Pattern]:
        status = _status_arg(request, self.campaign_statuses)
        # "inactive" (the campaign_statuses reading active,inactive) gathers paused and ended campaigns.
        states = {"paused", "ended"} if status == "inactive" else {status}
        residues = frozenset(r for r, state in CAMPAIGN_STATUS_BY_RESIDUE.items() if state in states)
        return (lambda c: self.campaign_status(c).lower() == status), Pattern(1, self.campaigns.seeded, 3, residues)

    @route("GET", "/campaign/")
    def list_campaigns(self, request: Request) -> Response:
        offset, limit = _page_args(request)
        with self.lock:
            matches, pattern = self._campaign_selection(request)
            count, page = self.campaigns.select(matches, pattern, offset, limit)
            return json_response({"count": count, "results": [self.render_campaign(c) for c in page]})

    @route("POST", "/campaign/")
    def create_campaign(self, request: Request) -> Response:
        body = _body(request)
        with self.lock:
            campaign = self.campaigns.create(self._campaign_from(body, None))
            return json_response(self.render_campaign(campaign), 201)

    @route("GET", r"/campaign/(?P<id>\d+)/")
    def get_campaign(self, request: Request) -> Response:
        with self.lock:
            return json_response(self.render_campaign(self._get_or_404(self.campaigns, request, "Campaign")))

    @route("PUT", r"/campaign/(?P<id>\d+)/")
    @route("PATCH", r"/campaign/(?P<id>\d+)/")
    def update_campaign(self, request: Request) -> Response:
        self._allow_method(request, "update_method")  # DRF answers 405 before looking the object up
        with self.lock:
            existing = self._get_or_404(self.campaigns, request, "Campaign")
            body = self._update_body(request, existing, ("companyId", "name"))
            campaign = self.campaigns.put(self._campaign_from(body, existing))
            return json_response(self.render_campaign(campaign))

    @route("GET", "/campaign/cost_data/")
    def list_cost_data(self, request: Request) -> Response:
        offset, limit = _page_args(request)
        job_id = request.int_arg("jobId", 0) or None
        campaign_id = request.int_arg("campaignId", 0) or None

        def matches(row: dict[str, t.Any]) -> bool:
            return (job_id is None or row["jobId"] == job_id) and (
                campaign_id is None or row["campaignId"] == campaign_id
            )

        # Unfiltered, every seeded row matches: paging is arithmetic; a filter scans.
        pattern = Pattern(1, self.cost_rows.seeded) if job_id is None and campaign_id is None else None
        with self.lock:
            if self.reading("cost_data_order") == "oldest_first":
                count, page = self.cost_rows.select(matches, pattern, offset, limit)
            else:  # newest first: the same rows counted from the end
                count, _ = self.cost_rows.select(matches, pattern, 0, 0)
                stop = max(0, count - offset)
                _, page = self.cost_rows.select(matches, pattern, max(0, stop - limit), min(limit, stop))
                page.reverse()
            return json_response({"count": count, "results": [self.render_cost_row(r) for r in page]})

    @route("POST", "/campaign/estimate/")
    def estimate(self, request: Request) -> Response:
        body = _body(request)
        key = request.header(API_KEY_HEADER) or ""
        with self.lock:
            day = self.clock.now().date().isoformat()
            if self.estimates[(key, day)] >= ESTIMATES_PER_DAY:
                tomorrow = dt.datetime.combine(self.clock.now().date() + dt.timedelta(days=1), dt.time.min, UTC)
                wait = max(1, math.ceil((tomorrow - self.clock.now()).total_seconds()))
                raise HTTPError(
                    429, {"detail": "Estimate limit of 50 requests per day reached."}, {"Retry-After": str(wait)}
                )
            errors: Errors = {}
            _require(body, ("budget", "jobTitle", "jobDescription"), errors)
            if _blank(body.get("jobZipCode")):
                _require(body, ("jobCity", "jobState"), errors)
            elif len(str(body["jobZipCode"]).strip()) > 7:
                _error(errors, "jobZipCode", "Ensure this field has no more than 7 characters.")
            _check_state(body, "jobState", errors)
            budget = (
                _money(body["budget"], "budget", MIN_CAMPAIGN_BUDGET, errors)
                if body.get("budget") is not None
                else None
            )
            aggressiveness = body.get("aggressiveness", 20)
            if aggressiveness_problem(aggressiveness):
                _error(errors, "aggressiveness", "Ensure this value is a multiple of 10 between 10 and 60.")
            if errors:
                raise HTTPError(400, errors)
            assert budget is not None, "budget is required, and _money adds an error whenever it gives None"
            self.estimates[(key, day)] += 1
            reach = float(budget) * int(aggressiveness) / 20
            return json_response({"minCandidates": max(1, int(reach / 3)), "maxCandidates": max(2, int(reach * 5))})

    # -- products -------------------------------------------------------------------------------------
    @route("GET", "/product/")
    def list_products(self, request: Request) -> Response:
        partner = request.arg("partnerId")
        if not partner:
            raise HTTPError(400, {"partnerId": ["This field is required."]})
        if partner.strip() != str(self.partner_id):
            raise HTTPError(400, {"partnerId": ["Invalid partner for this API key."]})
        with self.lock:
            return json_response([dict(p) for p in self.products])

    # -- test controls --------------------------------------------------------------------------------
    def control(self, action: str, payload: t.Mapping[str, t.Any]) -> t.Any:
        if action == "rate_limit":
            self.rate_limit_requests = int(payload.get("requests", self.rate_limit_requests))
            self.rate_limit_window = float(payload.get("window_seconds", self.rate_limit_window))
            self.windows.clear()
            return {"requests": self.rate_limit_requests, "window_seconds": self.rate_limit_window}
        if action == "add_cost_events":
            return {"added": self._add_cost_events(payload)}
        if action == "spend":
            return self._spend(payload)
        return super().control(action, payload)

    def _spend(self, payload: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """The campaign spends ``amount`` (no cost row: ``add_cost_events`` spends with cost data)."""
        campaign = self.campaigns.get(int(payload.get("campaign_id") or 0))
        if campaign is None:
            raise HTTPError(404, {"error": f"no campaign {payload.get('campaign_id')!r}"})
        errors: Errors = {}
        amount = _money(payload.get("amount"), "amount", Decimal("0.01"), errors)
        if amount is None:
            raise HTTPError(400, {"error": f"amount must be a positive number with at most 2 decimals: {errors}"})
        remaining = campaign["budget"] - campaign["budgetSpent"]
        if amount > remaining:
            raise HTTPError(400, {"error": f"spend {amount} exceeds the campaign's remaining budget {remaining}"})
        return self.render_campaign(self.campaigns.put({**campaign, "budgetSpent": campaign["budgetSpent"] + amount}))

    def _add_cost_events(self, payload: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
        count = int(payload.get("count", 1))
        if not len(self.campaigns):
            raise HTTPError(400, {"error": "no campaigns to add cost events to"})
        now = self.clock.now()
        added = []
        for n in range(count):
            campaign_id = int(payload.get("campaignId") or (n % len(self.campaigns)) + 1)
            campaign = self.campaigns.get(campaign_id)
            if campaign is None:
                raise HTTPError(400, {"error": f"unknown campaign {campaign_id}"})
            job_id = payload.get("jobId") or (campaign["jobs"][n % len(campaign["jobs"])] if campaign["jobs"] else None)
            event = payload.get("eventType") or EVENT_TYPES[n % 2]
            cost = EVENT_COSTS.get(event, 0.15)
            row = self.cost_rows.create(
                {
                    "campaignId": campaign_id,
                    "jobId": job_id,
                    "source": SOURCES[n % len(SOURCES)],
                    "cost": cost,
                    "eventType": event,
                    # Distinct, increasing times even within one call.
                    "time": iso(now + dt.timedelta(microseconds=n)),
                }
            )
            stats = dict(campaign["jobStats"])
            if job_id is not None:
                previous = stats.get(job_id, {"budgetSpent": 0.0, "totalClicks": 0})
                stats[job_id] = {
                    "budgetSpent": previous["budgetSpent"] + cost,
                    "totalClicks": previous["totalClicks"] + (event == "Click"),
                }
            self.campaigns.put(
                {**campaign, "budgetSpent": campaign["budgetSpent"] + Decimal(str(cost)), "jobStats": stats}
            )
            added.append(self.render_cost_row(row))
        return added

    def dump(self) -> dict[str, t.Any]:
        out: dict[str, t.Any] = {"partner_id": self.partner_id, "truncated": [], "counts": {}}
        self._dump_table(out, "companies", self.companies, self.render_company)
        self._dump_table(out, "jobs", self.jobs, self.render_job)
        self._dump_table(out, "campaigns", self.campaigns, self.render_campaign)
        self._dump_table(out, "cost_data", self.cost_rows, self.render_cost_row)
        out["products"] = [dict(p) for p in self.products]
        out["counts"]["products"] = len(self.products)
        return out

    @staticmethod
    def _dump_table(
        out: dict[str, t.Any],
        name: str,
        table: LazyTable[_Key],
        render: t.Callable[[dict[str, t.Any]], dict[str, t.Any]],
    ) -> None:
        records, truncated = table.records(DUMP_LIMIT)
        out[name] = [render(r) for r in records]
        out["counts"][name] = len(table)
        if truncated:
            out["truncated"].append(name)
