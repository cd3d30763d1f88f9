"""Jobcase sinks of target-jobsync: companies, jobs and campaigns, written idempotently.

Each sink looks the object up in an index of the existing Jobcase objects
(listed once per run, every status, and kept current by the writes), creates
it only when absent, sends an update only when a field it carries differs, and
otherwise reports ``unchanged`` without a call.

Creates are exactly-once without relying on the API to refuse a duplicate (the
document promises uniqueness for ``partnerCompanyId`` only): before any retry of a
create, the sink lists the objects again and looks for its match key (after a timeout,
once Jobcase had time to apply the late attempt); found, it is the object this create
made. Budget top-ups are opt-in, capped per run and verified (see ``BudgetGuard``).
"""

from __future__ import annotations

import datetime as dt
import threading
import typing as t
from decimal import Decimal, InvalidOperation

from singer_sdk import typing as th
from typing_extensions import override

from jobsync_common import jobcase as jc
from jobsync_common.errors import APIRejectedError, ConfigError, excerpt
from jobsync_common.http import ServiceClient, decode_json
from jobsync_common.paging import PageGuard
from jobsync_common.timestamps import parse_timestamp
from target_jobsync.destination import Destination
from target_jobsync.sinks import (
    CREATED,
    DELETED,
    UNCHANGED,
    UPDATED,
    JobSyncSink,
    Page,
    UnwritableRecordError,
    iter_pages,
)

# -- what only the target needs of the document: write methods, required fields, campaign rules ----------

# The document shows no method for updates ("Updates a company by company identifier.") nor for
# "Adds or removes products for a job". Tried in this order; on a 405 the other is tried once and
# used for the rest of the run (per endpoint).
UPDATE_METHODS = ("PUT", "PATCH")
PRODUCTS_METHODS = ("POST", "PUT")

# "Create a company" fields marked required (companyUrl too, though the example omits it).
COMPANY_REQUIRED_FIELDS = (
    "partnerId",
    "companyName",
    "partnerCompanyId",
    "companyUrl",
    "companyStreet",
    "companyCity",
    "companyState",
    "companyZipCode",
)

# `jobStatus` values in job records. Only "Active" is shown; whatever else a record says (Expired,
# Inactive...) is taken as not live.
JOB_ACTIVE = "Active"
JOB_EXPIRED = "Expired"

# Campaign rules from the create/update tables.
MIN_CAMPAIGN_BUDGET = Decimal(15)
MIN_ADD_BUDGET = Decimal(1)
AGGRESSIVENESS_RANGE = (10, 60)
AGGRESSIVENESS_STEP = 10
MAX_CAMPAIGN_JOBS = 500


def is_live(status: t.Any) -> bool:
    """Whether a record's ``jobStatus``/``status`` is the one live state; an unknown (missing) one counts as live."""
    return status is None or str(status).strip().lower() == "active"


def decimal_places(value: t.Any) -> int | None:
    """Decimal places of a JSON number (None when it is not a number)."""
    if isinstance(value, bool):
        return None
    try:
        exponent = Decimal(str(value)).normalize().as_tuple().exponent
    except (InvalidOperation, ValueError):
        return None
    return max(0, -exponent) if isinstance(exponent, int) else None


def budget_problem(value: t.Any, *, minimum: Decimal = MIN_CAMPAIGN_BUDGET, name: str = "budget") -> str | None:
    """Why a budget amount breaks the documented rule (``>= minimum``, ``<= 2`` decimal places)."""
    places = decimal_places(value)
    if places is None:
        return f"{name} must be a number, got {value!r}"
    if places > 2:
        return f"{name} {value} has more than 2 decimal places"
    if Decimal(str(value)) < minimum:
        return f"{name} {value} is below the minimum of {minimum}"
    return None


def aggressiveness_problem(value: t.Any) -> str | None:
    """Why an aggressiveness breaks the rule "multiple of 10, [10 .. 60]"."""
    low, high = AGGRESSIVENESS_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        return f"aggressiveness must be a whole number, got {value!r}"
    if not low <= value <= high or int(value) % AGGRESSIVENESS_STEP:
        return f"aggressiveness {value} must be a multiple of {AGGRESSIVENESS_STEP} between {low} and {high}"
    return None


COMPANY_FIELDS = (*COMPANY_REQUIRED_FIELDS, "companyContact", "salesRep")
PERSON_FIELDS = ("firstName", "lastName", "email")
# Fields a job PUT takes (the update table); products go through /job/{id}/products/.
JOB_FIELDS = (
    "companyId",
    "adNumber",
    "jobTitle",
    "jobDescription",
    "jobStreet",
    "jobCity",
    "jobState",
    "jobZipCode",
    "worktimeId",
    "jobCategoryId",
    "experienceId",
    "applyUrl",
    "applyEmails",
    "startDate",
    "endDate",
    "isConfidential",
    "jobAttributes",
    "applyActionType",
    "resumeRequired",
)
CAMPAIGN_FIELDS = ("aggressiveness", "endDate", "isPaused")

# Budget top-ups of existing campaigns spend money: off unless asked for, capped per run.
BUDGET_UPDATES_SETTING = "jobcase_budget_updates"
MAX_BUDGET_SETTING = "jobcase_max_budget_added_per_run"
BUDGET_OFF = "off"
BUDGET_TOP_UP = "top_up"


def settings() -> list[th.Property[t.Any]]:
    """The Jobcase settings of the target: the shared ones and the spend guard's."""
    return [
        *jc.setting_properties(),
        th.Property(
            BUDGET_UPDATES_SETTING,
            th.StringType(allowed_values=[BUDGET_OFF, BUDGET_TOP_UP]),
            default=BUDGET_OFF,
            description="What a record's higher `budget` does to an existing campaign: `off` (default: nothing, a "
            "warning) or `top_up` (addBudget the difference, within the per-run cap, verified by reading the campaign "
            "back; the first mismatch stops all top-ups). A new campaign is always created with its budget.",
        ),
        th.Property(
            MAX_BUDGET_SETTING,
            th.NumberType(minimum=0),
            description="Most budget the target may add to existing campaigns in one run (required with "
            "`jobcase_budget_updates: top_up`); a top-up past it is refused (dead-lettered or failing the run).",
        ),
    ]


# -- comparing what we would send with what Jobcase has ------------------------------------------


def _as_datetime(value: str) -> dt.datetime | None:
    """The instant a string names (UTC when it has no offset), None when it names none."""
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def same(desired: t.Any, existing: t.Any) -> bool:
    """Whether sending ``desired`` would leave ``existing`` as it is.

    Objects compare on the keys we send (Jobcase adds ids to contacts), numbers
    numerically (15 == 15.0), and timestamps as instants (``Z`` == ``+00:00``).
    """
    if isinstance(desired, dict):
        return isinstance(existing, dict) and all(same(v, existing.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(existing, list) and len(desired) == len(existing) and all(map(same, desired, existing))
    if isinstance(desired, bool) or isinstance(existing, bool):
        return desired is existing
    if isinstance(desired, (int, float)) and isinstance(existing, (int, float)):
        return Decimal(str(desired)) == Decimal(str(existing))
    if isinstance(desired, str) and isinstance(existing, str) and desired != existing:
        left, right = _as_datetime(desired), _as_datetime(existing)
        return left is not None and left == right
    return bool(desired == existing)


def changed_fields(desired: t.Mapping[str, t.Any], existing: t.Mapping[str, t.Any]) -> list[str]:
    return [field for field, value in desired.items() if not same(value, existing.get(field))]


def _pick(record: t.Mapping[str, t.Any], fields: t.Iterable[str]) -> dict[str, t.Any]:
    """The fields the record carries; a null never clears a Jobcase field (it is left out)."""
    return {f: record[f] for f in fields if record.get(f) is not None}


class _AlreadyApplied(Exception):  # noqa: N818 - control flow, never shown to users
    """Raised before a retry: the earlier attempt of a non-idempotent call took effect."""

    def __init__(self, found: dict[str, t.Any]) -> None:
        super().__init__("already applied")
        self.found = found


def campaign_paused(campaign: t.Mapping[str, t.Any]) -> bool:
    """Whether a campaign read from Jobcase is paused: records carry ``status``, not ``isPaused``.

    A status that is neither Active nor Ended (Paused, or one word for paused and ended such as
    Inactive) counts as paused unless its ``endDate`` has passed.
    """
    status = str(campaign.get("status") or "").strip().lower()
    if status in ("active", "ended", ""):
        return False
    end = _as_datetime(str(campaign.get("endDate") or ""))
    return status == "paused" or end is None or end > dt.datetime.now(dt.UTC)


def campaign_key(company_id: t.Any, name: t.Any) -> tuple[t.Any, str]:
    # Names match case-insensitively, as the uniqueness check is assumed to.
    return (company_id, str(name or "").strip().lower())


# -- the per-run index of existing objects --------------------------------------------------------


class ObjectIndex:
    """Existing Jobcase objects of one kind by match key: listed once per run, updated by writes."""

    def __init__(
        self,
        path: str,
        statuses: tuple[str | None, ...],
        key: t.Callable[[dict[str, t.Any]], t.Hashable],
        normalize: t.Callable[[dict[str, t.Any]], dict[str, t.Any]] = lambda record: record,
        kind: str | None = None,
    ) -> None:
        self.path = path
        self.statuses = statuses
        #: The ``jobcase_statuses`` key the statuses come from (named when Jobcase refuses one).
        self.kind = kind
        self.key = key
        self.normalize = normalize
        self._lock = threading.Lock()
        self._by_key: dict[t.Hashable, dict[str, t.Any]] | None = None

    def lookup(self, sink: JobcaseSink, key: t.Hashable) -> dict[str, t.Any] | None:
        with self._lock:
            if self._by_key is None:
                self._by_key = self._load(sink)
            return self._by_key.get(key)

    def refresh(self, sink: JobcaseSink) -> None:
        with self._lock:
            self._by_key = self._load(sink)

    def remember(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        record = self.normalize(record)
        with self._lock:
            if self._by_key is not None:
                self._by_key[self.key(record)] = record
        return record

    def _load(self, sink: JobcaseSink) -> dict[t.Hashable, dict[str, t.Any]]:
        found: dict[t.Hashable, dict[str, t.Any]] = {}
        duplicates = 0
        # Statuses are listed active first: when two objects share a key, the active one wins.
        for status in self.statuses:
            for record in self._listing(sink, status):
                key = self.key(record)
                if key in found:
                    duplicates += 1
                    continue
                found[key] = self.normalize(record)
        if duplicates:
            sink.logger.warning(
                "Jobcase has %d %s sharing a match key; the first listed is used.", duplicates, self.path
            )
        sink.logger.info("Indexed %d existing Jobcase objects from %s", len(found), self.path)
        return found

    def _listing(self, sink: JobcaseSink, status: str | None) -> t.Iterator[dict[str, t.Any]]:
        try:
            yield from sink.list_all(self.path, {"status": status} if status else {})
        except APIRejectedError as exc:
            if status is None or exc.status != 400 or self.kind is None:
                raise
            # An object in a status we cannot list would look absent and be created a second time.
            consequence = "The target must see every existing object to avoid creating it twice, so it stops."
            raise ConfigError(
                jc.refused_status_message(self.kind, status, exc.endpoint, excerpt(exc.text, 160), consequence)
            ) from None


def _normalize_company(company: dict[str, t.Any]) -> dict[str, t.Any]:
    return {**company, "companyZipCode": jc.normalize_zip(company.get("companyZipCode"))}


def _normalize_job(job: dict[str, t.Any]) -> dict[str, t.Any]:
    job = {**job, "jobZipCode": jc.normalize_zip(job.get("jobZipCode"))}
    if "products" in job:
        job["products"] = jc.normalize_products(job["products"]) or []
    return job


class JobcaseClient(ServiceClient):
    """The Jobcase HTTP client of one target run, holding the indexes every Jobcase sink shares."""

    def __init__(
        self,
        *args: t.Any,
        partner_id: int | None,
        budget_guard: BudgetGuard,
        statuses: t.Mapping[str, tuple[str, ...]],
        **kwargs: t.Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.partner_id = partner_id
        self.companies = ObjectIndex("company/", (None,), lambda c: c.get("partnerCompanyId"), _normalize_company)
        self.jobs = ObjectIndex("job/", statuses["jobs"], lambda j: j.get("adNumber"), _normalize_job, "jobs")
        self.campaigns = ObjectIndex(
            "campaign/",
            statuses["campaigns"],
            lambda c: campaign_key(c.get("companyId"), c.get("name")),
            kind="campaigns",
        )
        #: The method each write endpoint answered to (see ``JobcaseSink.send_write``), for the rest of the run.
        self.methods: dict[str, str] = {}
        self.methods_lock = threading.Lock()
        self.budget_guard = budget_guard


def make_client(config: t.Mapping[str, t.Any]) -> JobcaseClient:
    if not config.get(jc.API_KEY_SETTING):
        msg = f"Jobcase needs the setting `{jc.API_KEY_SETTING}`."
        raise ConfigError(msg)
    return jc.SERVICE.client(
        config,
        client_class=JobcaseClient,
        headers={jc.API_KEY_HEADER: str(config[jc.API_KEY_SETTING])},
        partner_id=config.get(jc.PARTNER_ID_SETTING),
        budget_guard=BudgetGuard(config),
        statuses={kind: jc.statuses(config, kind) for kind in jc.DEFAULT_STATUSES},
    )


# -- sinks ------------------------------------------------------------------------------------------


class BudgetGuard:
    """Campaign budget top-ups of one run: opt-in, capped, verified, and stopped at the first surprise.

    ``addBudget`` spends money and cannot be undone. A top-up is sent only with
    ``jobcase_budget_updates: top_up``, only while the run's total stays within
    ``jobcase_max_budget_added_per_run``, and only when the campaign reads as the document's
    example does (``budget`` = ``budgetRemaining`` + ``budgetSpent``: the running total).
    After each top-up the campaign is read again; unless its budget moved by exactly the
    amount sent, the guard trips and no further top-up is sent in this run.
    """

    def __init__(self, config: t.Mapping[str, t.Any]) -> None:
        self.mode = config.get(BUDGET_UPDATES_SETTING) or BUDGET_OFF
        cap = config.get(MAX_BUDGET_SETTING)
        if self.mode == BUDGET_TOP_UP and cap is None:
            msg = f"`{BUDGET_UPDATES_SETTING}: {BUDGET_TOP_UP}` needs `{MAX_BUDGET_SETTING}`: how much one run may add."
            raise ConfigError(msg)
        self.cap = Decimal(str(cap)) if cap is not None else None
        self.added = Decimal(0)
        self.tripped: str | None = None
        self._lock = threading.Lock()

    def check_open(self, campaign: str) -> None:
        """Refuse any top-up once the guard tripped in this run."""
        if self.tripped:
            msg = f"budget top-ups stopped earlier in this run ({self.tripped}); campaign {campaign!r} not topped up"
            raise UnwritableRecordError(msg)

    def reserve(self, campaign: str, amount: Decimal) -> None:
        """Count ``amount`` against the run's cap before sending it; refuse when the guard forbids it."""
        with self._lock:
            self.check_open(campaign)
            if self.cap is not None and self.added + amount > self.cap:
                msg = (
                    f"topping campaign {campaign!r} up by {amount} would add {self.added + amount} this run, more than "
                    f"`{MAX_BUDGET_SETTING}` ({self.cap}); not sent"
                )
                raise UnwritableRecordError(msg)
            self.added += amount

    def release(self, amount: Decimal) -> None:
        with self._lock:
            self.added -= amount

    def trip(self, reason: str) -> None:
        with self._lock:
            self.tripped = self.tripped or reason


class JobcaseSink(JobSyncSink):
    """What the Jobcase sinks share: listing, company resolution, exactly-once creates, JSON calls."""

    service_key = jc.SERVICE.key

    @property
    def jobcase(self) -> JobcaseClient:
        return t.cast(JobcaseClient, self.client)

    def call(
        self, method: str, path: str, payload: dict[str, t.Any] | None = None, **kwargs: t.Any
    ) -> dict[str, t.Any]:
        if payload is not None:
            kwargs["json"] = payload
        return decode_json(self.request(method, path, **kwargs)) or {}

    def send_write(
        self, endpoint: str, methods: tuple[str, str], path: str, payload: dict[str, t.Any], **kwargs: t.Any
    ) -> dict[str, t.Any]:
        """A write whose method the document does not show: the remembered one, or the other once on a 405.

        A 405 is answered before anything is applied, so the second method is no retry of the first.
        The method that worked is used for ``endpoint`` (e.g. "job updates") for the rest of the run.
        """
        client = self.jobcase
        with client.methods_lock:
            method = client.methods.get(endpoint, methods[0])
        try:
            return self.call(method, path, payload, **kwargs)
        except APIRejectedError as exc:
            if exc.status != 405:
                raise
            refused = exc
        other = methods[1] if method == methods[0] else methods[0]
        try:
            answer = self.call(other, path, payload, **kwargs)
        except APIRejectedError as again:
            if again.status != 405:
                raise
            msg = (
                f"{jc.SERVICE.name}: {method} and {other} {refused.endpoint.split(' ', 1)[-1]} both answered HTTP 405: "
                f"{endpoint} cannot be sent (the document shows no method for them; tried {', '.join(methods)})."
            )
            raise ConfigError(msg) from None
        with client.methods_lock:
            first_time = client.methods.get(endpoint) != other
            client.methods[endpoint] = other
        if first_time:
            self.logger.warning(
                "%s: %s answered HTTP 405 (%s); %s are sent as %s for the rest of this run (the document shows no "
                "method for them).",
                jc.SERVICE.name,
                refused.endpoint,
                excerpt(refused.text, 80),
                endpoint,
                other,
            )
        return answer

    def send_update(self, kind: str, path: str, payload: dict[str, t.Any], **kwargs: t.Any) -> dict[str, t.Any]:
        """Update a company, job or campaign (``kind``), with the update method Jobcase takes."""
        return self.send_write(f"{kind} updates", UPDATE_METHODS, path, payload, **kwargs)

    def list_all(self, path: str, params: t.Mapping[str, t.Any]) -> t.Iterator[dict[str, t.Any]]:
        """Every object of a ``{"count", "results"}`` listing, paged by ``offset`` (see ``jc.next_offset``)."""

        def fetch_page(offset: int) -> Page:
            page_params = {**params, "offset": offset, "limit": jc.LIST_PAGE_SIZE}
            response = self.request("GET", path, params=page_params, collection=True)
            payload = decode_json(response)
            body = payload if isinstance(payload, dict) else {}
            count = body.get("count")
            return Page(response.content, payload, body.get("results") or [], count if isinstance(count, int) else None)

        def next_offset(offset: int, page: Page) -> int | None:
            return jc.next_offset(offset, page.payload, jc.LIST_PAGE_SIZE)

        guard = PageGuard(jc.SERVICE.name, f"GET /{path}", lambda record: record.get("id"))
        yield from iter_pages(fetch_page, next_offset, guard, first=0, page_size=jc.LIST_PAGE_SIZE)

    def create_once(self, index: ObjectIndex, key: t.Hashable, path: str, body: dict[str, t.Any]) -> dict[str, t.Any]:
        """POST a create exactly once and return the object (see the module docstring)."""

        def created_by_an_earlier_attempt() -> None:
            index.refresh(self)
            found = index.lookup(self, key)
            if found is not None:
                raise _AlreadyApplied(found)

        try:
            created = self.call(
                "POST",
                path,
                body,
                before_retry=self.verify_before_retry(created_by_an_earlier_attempt),
                collection=True,
            )
        except _AlreadyApplied as applied:
            self.logger.info(
                "Jobcase %s %r: an earlier attempt created it (its answer was lost); not sent again.", path, key
            )
            return applied.found
        return index.remember(created)

    def existing_after_refusal(self, index: ObjectIndex, key: t.Hashable, exc: APIRejectedError) -> dict[str, t.Any]:
        """A create refused with a 400: the object may exist beyond our index (another writer); else re-raise."""
        if exc.status != 400:
            raise exc
        index.refresh(self)
        existing = index.lookup(self, key)
        if existing is None:
            raise exc
        return existing

    def resolve_company_id(self, record: dict[str, t.Any]) -> int | None:
        """``companyId``, or the id of the company whose ``partnerCompanyId`` the record names."""
        if record.get("companyId") is not None:
            company_id: int = record["companyId"]
            return company_id
        partner_company_id = record.get("partnerCompanyId")
        company = self.jobcase.companies.lookup(self, partner_company_id)
        if company is None:
            msg = (
                f"partnerCompanyId {partner_company_id!r} is not a Jobcase company; "
                "send it in jobcase_companies first, or give companyId"
            )
            raise UnwritableRecordError(msg)
        found_id: int | None = company["id"]  # None: created in this dry run
        return found_id


class JobcaseCompaniesSink(JobcaseSink):
    """``jobcase_companies``: create or update, matched on ``partnerCompanyId``."""

    sink_name = "jobcase_companies"
    match_fields = ("partnerCompanyId",)

    def payload(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        payload = _pick(record, COMPANY_FIELDS)
        if "partnerId" not in payload:
            if self.jobcase.partner_id is None:
                msg = (
                    f"Record partnerCompanyId={record['partnerCompanyId']!r} of jobcase_companies has no partnerId: "
                    f"set `{jc.PARTNER_ID_SETTING}`."
                )
                raise ConfigError(msg)
            payload["partnerId"] = self.jobcase.partner_id
        payload["companyZipCode"] = jc.normalize_zip(payload["companyZipCode"])
        for person in ("companyContact", "salesRep"):
            if person in payload:
                payload[person] = _pick(payload[person], PERSON_FIELDS)
        return payload

    @override
    def write_record(self, record: dict[str, t.Any]) -> str:
        key = record["partnerCompanyId"]
        index = self.jobcase.companies
        existing = index.lookup(self, key)
        if record.get("_sdc_deleted_at"):
            # The API has no company delete (or deactivate): the company stays; its jobs expire on their own records.
            self.logger.warning("Jobcase cannot delete companies; partnerCompanyId=%r left as is.", key)
            return UNCHANGED
        payload = self.payload(record)
        if existing is None:
            if self.dry_run:
                index.remember({"id": None, **payload})
                return CREATED
            try:
                created = self.create_once(index, key, "company/", payload)
            except APIRejectedError as exc:
                existing = self.existing_after_refusal(index, key, exc)
            else:
                self.update_if_changed(created, payload)
                return CREATED
        return UPDATED if self.update_if_changed(existing, payload) else UNCHANGED

    def update_if_changed(self, existing: dict[str, t.Any], payload: dict[str, t.Any]) -> bool:
        if not changed_fields(payload, existing):
            return False
        if not self.dry_run:
            self.jobcase.companies.remember(self.send_update("company", f"company/{existing['id']}/", payload))
        return True


class JobcaseJobsSink(JobcaseSink):
    """``jobcase_jobs``: create or update on ``adNumber``; ``_sdc_deleted_at`` expires, a comeback un-expires."""

    sink_name = "jobcase_jobs"
    match_fields = ("adNumber",)
    # A job may name its company by partnerCompanyId: companies received before it are written first.
    depends_on = (JobcaseCompaniesSink.sink_name,)

    @override
    def write_record(self, record: dict[str, t.Any]) -> str:
        key = record["adNumber"]
        index = self.jobcase.jobs
        existing = index.lookup(self, key)
        if record.get("_sdc_deleted_at"):
            return self.expire(existing)
        payload = _pick(record, JOB_FIELDS)
        payload["companyId"] = self.resolve_company_id(record)
        payload["jobZipCode"] = jc.normalize_zip(payload["jobZipCode"])
        products = jc.normalize_products(record.get("products"))
        if existing is None:
            body = {**payload, **({"products": products} if products is not None else {})}
            if record.get("campaignId") is not None:
                body["campaignId"] = record["campaignId"]
            if self.dry_run:
                index.remember({"id": None, "jobStatus": JOB_ACTIVE, **body})
                return CREATED
            try:
                created = self.create_once(index, key, "job/", body)
            except APIRejectedError as exc:
                existing = self.existing_after_refusal(index, key, exc)
            else:
                # Found on re-read after a lost answer: make sure it holds what we sent.
                self.update(created, payload, products, record.get("campaignId"))
                return CREATED
        return self.update(existing, payload, products, record.get("campaignId"))

    def update(
        self, existing: dict[str, t.Any], payload: dict[str, t.Any], products: list[str] | None, campaign_id: int | None
    ) -> str:
        index = self.jobcase.jobs
        job_id = existing["id"]
        writes = 0
        if changed_fields(payload, existing):
            writes += 1
            if not self.dry_run:
                existing = index.remember({**existing, **self.send_update("job", f"job/{job_id}/", payload)})
        if not is_live(existing.get("jobStatus")):  # the job is back in the source: re-activate it
            writes += 1
            if not self.dry_run:
                self.call("POST", f"job/{job_id}/unexpire/")
                existing = index.remember({**existing, "jobStatus": JOB_ACTIVE})
        # The products list is compared as a set: the endpoint replaces it, order carries no meaning.
        if products is not None and set(products) != set(existing.get("products") or []):
            writes += 1
            if not self.dry_run:
                self.set_products(existing, products, campaign_id)
        return UPDATED if writes else UNCHANGED

    def set_products(self, existing: dict[str, t.Any], products: list[str], campaign_id: int | None) -> None:
        """POST the job's products once: before a retry, read the job and stop when it already has them."""
        job_id = existing["id"]
        body: dict[str, t.Any] = {"products": products}
        if campaign_id is not None:
            body["campaignId"] = campaign_id

        def already_set() -> None:
            job = _normalize_job(self.call("GET", f"job/{job_id}/"))
            if set(job.get("products") or []) == set(products):
                raise _AlreadyApplied(job)

        try:
            answer = self.send_write(
                "job products",
                PRODUCTS_METHODS,
                f"job/{job_id}/products/",
                body,
                before_retry=self.verify_before_retry(already_set),
            )
        except _AlreadyApplied as applied:
            answer = applied.found
        self.jobcase.jobs.remember({**existing, "products": answer.get("products", products)})

    def expire(self, existing: dict[str, t.Any] | None) -> str:
        if existing is None or not is_live(existing.get("jobStatus")):
            return UNCHANGED  # nothing live to take down
        if not self.dry_run:
            self.call("POST", f"job/{existing['id']}/expire/")
            self.jobcase.jobs.remember({**existing, "jobStatus": JOB_EXPIRED})
        return DELETED


class JobcaseCampaignsSink(JobcaseSink):
    """``jobcase_campaigns``: create or update on (companyId, name); budget top-ups only through the guard."""

    sink_name = "jobcase_campaigns"
    match_fields = ("companyId", "partnerCompanyId", "name")
    # A campaign may name its company by partnerCompanyId, as a job does.
    depends_on = (JobcaseCompaniesSink.sink_name,)

    @property
    def budget_guard(self) -> BudgetGuard:
        return self.jobcase.budget_guard

    @staticmethod
    def check_rules(record: dict[str, t.Any]) -> list[int] | None:
        """The documented campaign rules, checked before any call; returns the job ids."""
        problems = []
        if record.get("budget") is not None:
            problems.append(budget_problem(record["budget"]))
        if record.get("aggressiveness") is not None:
            problems.append(aggressiveness_problem(record["aggressiveness"]))
        jobs = jc.normalize_codes(record.get("jobs"))
        if jobs is not None and len(jobs) > MAX_CAMPAIGN_JOBS:
            problems.append(f"jobs lists {len(jobs)} jobs; a campaign holds at most {MAX_CAMPAIGN_JOBS}")
        reasons = [p for p in problems if p]
        if reasons:
            raise UnwritableRecordError("; ".join(reasons))
        return jobs

    @override
    def write_record(self, record: dict[str, t.Any]) -> str:
        jobs = self.check_rules(record)
        company_id = self.resolve_company_id(record)
        key = campaign_key(company_id, record["name"])
        index = self.jobcase.campaigns
        existing = index.lookup(self, key)
        identity = {"companyId": company_id, "name": record["name"]}
        if record.get("_sdc_deleted_at"):
            # No delete endpoint: pausing stops the spend and keeps the history.
            if existing is None or not is_live(existing.get("status")):
                return UNCHANGED
            if not self.dry_run:
                pause = {**identity, "isPaused": True}
                index.remember(self.send_update("campaign", f"campaign/{existing['id']}/", pause))
            return DELETED
        wanted = {**identity, **_pick(record, CAMPAIGN_FIELDS)}
        if jobs is not None:
            wanted["jobs"] = jobs
        if existing is None:
            if record.get("budget") is None:
                raise UnwritableRecordError("budget is required to create a campaign (at least 15)")
            body = {**wanted, "budget": record["budget"]}
            if self.dry_run:
                index.remember({"id": None, **body, "status": "Active"})
                return CREATED
            try:
                # Its initial budget is part of the create, which is exactly-once: never a second campaign.
                self.create_once(index, key, "campaign/", body)
            except APIRejectedError as exc:
                existing = self.existing_after_refusal(index, key, exc)
            else:
                return CREATED
        return self.update(existing, wanted, record)

    def update(self, existing: dict[str, t.Any], wanted: dict[str, t.Any], record: dict[str, t.Any]) -> str:
        current = {
            **existing,
            "isPaused": campaign_paused(existing),
            "jobs": sorted(j["id"] if isinstance(j, dict) else j for j in existing.get("jobs") or []),
        }
        compared = {**wanted, **({"jobs": sorted(wanted["jobs"])} if "jobs" in wanted else {})}
        changed = bool(changed_fields(compared, current))
        add = self.budget_to_add(existing, record)
        if not changed and add is None:
            return UNCHANGED
        if self.dry_run:
            return UPDATED
        if add is not None:
            self.top_up(existing, wanted, add)  # one PUT: the changed fields and the addBudget
        else:
            self.jobcase.campaigns.remember(self.send_update("campaign", f"campaign/{existing['id']}/", wanted))
        return UPDATED

    def budget_to_add(self, existing: dict[str, t.Any], record: dict[str, t.Any]) -> Decimal | None:
        """The ``addBudget`` taking the campaign to the record's total, when the guard allows one."""
        if record.get("budget") is None or existing.get("budget") is None:
            return None
        name = record["name"]
        difference = Decimal(str(record["budget"])) - Decimal(str(existing["budget"]))
        if difference <= 0:
            if difference < 0:
                self.logger.warning(
                    "Campaign %r: budget %s is below its Jobcase budget %s; Jobcase budgets only grow, left as is.",
                    name,
                    record["budget"],
                    existing["budget"],
                )
            return None
        if self.budget_guard.mode != BUDGET_TOP_UP:
            self.logger.warning(
                "Campaign %r: budget %s is above its Jobcase budget %s; not topped up (`%s` is %r).",
                name,
                record["budget"],
                existing["budget"],
                BUDGET_UPDATES_SETTING,
                self.budget_guard.mode,
            )
            self.tally("budget_not_topped_up")
            return None
        if difference < MIN_ADD_BUDGET:
            self.logger.warning(
                "Campaign %r: budget %s is %s above its Jobcase budget; addBudget must be at least %s, left as is.",
                name,
                record["budget"],
                difference,
                MIN_ADD_BUDGET,
            )
            return None
        self.budget_guard.check_open(name)
        problem = running_total_problem(existing)
        if problem:
            self.budget_guard.trip(f"campaign {name!r}: {problem}")
            msg = f"not topped up: {problem}"
            raise UnwritableRecordError(msg)
        return difference

    def top_up(self, existing: dict[str, t.Any], wanted: dict[str, t.Any], add: Decimal) -> None:
        """Send one ``addBudget`` (never twice), then verify the campaign's budget moved by exactly that much."""
        name = wanted["name"]
        path = f"campaign/{existing['id']}/"
        before = Decimal(str(existing["budget"]))
        self.budget_guard.reserve(name, add)

        def already_applied() -> None:
            # Any move of the budget since we read it means the lost attempt may have added: never add again.
            current = self.call("GET", path)
            if Decimal(str(current.get("budget", before))) != before:
                raise _AlreadyApplied(current)

        try:
            body = {**wanted, "addBudget": float(add)}
            self.send_update("campaign", path, body, before_retry=self.verify_before_retry(already_applied))
        except _AlreadyApplied:
            self.logger.info("Campaign %r: an earlier attempt already reached Jobcase; addBudget not sent again.", name)
        except BaseException:
            self.budget_guard.release(add)
            raise
        after = self.jobcase.campaigns.remember(self.call("GET", path))
        moved = Decimal(str(after.get("budget", before))) - before
        if moved != add:
            problem = (
                f"campaign {name!r}: addBudget {add} sent, but its budget went from {before} to {after.get('budget')} "
                f"(moved {moved})"
            )
            self.budget_guard.trip(problem)
            msg = f"budget top-up not verified: {problem}; no further top-up is sent in this run"
            raise UnwritableRecordError(msg)
        self.logger.info(
            "Campaign %r: budget topped up by %s (verified: %s -> %s).", name, add, before, after.get("budget")
        )


def running_total_problem(campaign: t.Mapping[str, t.Any]) -> str | None:
    """Why a campaign's ``budget`` does not read as the running total the top-up arithmetic assumes.

    The document's example has ``budget`` 15 = ``budgetRemaining`` 14.25 + ``budgetSpent`` 0.75.
    """
    remaining, spent = campaign.get("budgetRemaining"), campaign.get("budgetSpent")
    if remaining is None or spent is None:
        return None  # nothing to check against; the verification after the top-up still applies
    total = Decimal(str(remaining)) + Decimal(str(spent))
    if Decimal(str(campaign["budget"])) != total:
        return (
            f"budget {campaign['budget']} is not budgetRemaining {remaining} + budgetSpent {spent} ({total}), so "
            "`budget` is not the running total this target assumes"
        )
    return None


DESTINATION = Destination(
    service=jc.SERVICE,
    settings=settings(),
    required_settings=(jc.API_KEY_SETTING,),
    make_client=make_client,
    sinks=(JobcaseCompaniesSink, JobcaseJobsSink, JobcaseCampaignsSink),
)
