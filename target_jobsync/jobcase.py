"""Jobcase sinks of target-jobsync: companies, jobs and campaigns, written idempotently.

Each sink looks the object up in an index of the existing Jobcase objects
(listed once per run, every status, and kept current by the writes), creates
it only when absent, sends an update only when a field it carries differs, and
otherwise reports ``unchanged`` without a call. A create that fails after the
server acted on it is retried by the HTTP policy and then meets the API's
uniqueness check (400): the sink re-lists, finds the object and updates it.
"""

from __future__ import annotations

import datetime as dt
import threading
import typing as t
from decimal import Decimal

from jobsync_common import jobcase as jc
from jobsync_common.errors import APIRejectedError, ConfigError
from jobsync_common.http import ServiceClient, decode_json
from jobsync_common.settings import check_base_url
from target_jobsync.destination import Destination
from target_jobsync.sinks import CREATED, DELETED, UNCHANGED, UPDATED, JobSyncSink, RecordRejected

COMPANY_FIELDS = (*jc.COMPANY_REQUIRED_FIELDS, "companyContact", "salesRep")
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


# -- comparing what we would send with what Jobcase has ------------------------------------------


def _as_datetime(value: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


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
    return desired == existing


def changed_fields(desired: t.Mapping[str, t.Any], existing: t.Mapping[str, t.Any]) -> list[str]:
    return [field for field, value in desired.items() if not same(value, existing.get(field))]


def _pick(record: t.Mapping[str, t.Any], fields: t.Iterable[str]) -> dict[str, t.Any]:
    """The fields the record carries; a null never clears a Jobcase field (it is left out)."""
    return {f: record[f] for f in fields if record.get(f) is not None}


def _is_duplicate(exc: APIRejectedError, field: str) -> bool:
    """A 400 from the API's uniqueness check on ``field`` (DRF: "... already exists.")."""
    return exc.status == 400 and field in exc.text and "already exist" in exc.text.lower()


class _AlreadyApplied(Exception):  # noqa: N818 - control flow, never shown to users
    """Raised before a retry: the earlier attempt of a non-idempotent call took effect."""

    def __init__(self, campaign: dict) -> None:
        super().__init__("already applied")
        self.campaign = campaign


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
        key: t.Callable[[dict], t.Hashable],
        normalize: t.Callable[[dict], dict] = lambda record: record,
    ) -> None:
        self.path = path
        self.statuses = statuses
        self.key = key
        self.normalize = normalize
        self._lock = threading.Lock()
        self._by_key: dict[t.Hashable, dict] | None = None

    def lookup(self, sink: JobcaseSink, key: t.Hashable) -> dict | None:
        with self._lock:
            if self._by_key is None:
                self._by_key = self._load(sink)
            return self._by_key.get(key)

    def refresh(self, sink: JobcaseSink) -> None:
        with self._lock:
            self._by_key = self._load(sink)

    def remember(self, record: dict) -> dict:
        record = self.normalize(record)
        with self._lock:
            if self._by_key is not None:
                self._by_key[self.key(record)] = record
        return record

    def _load(self, sink: JobcaseSink) -> dict[t.Hashable, dict]:
        found: dict[t.Hashable, dict] = {}
        duplicates = 0
        # Statuses are listed active first: when two objects share a key, the active one wins.
        for status in self.statuses:
            for record in sink.list_all(self.path, {"status": status} if status else {}):
                key = self.key(record)
                if key in found:
                    duplicates += 1
                    continue
                found[key] = self.normalize(record)
        if duplicates:
            sink.logger.warning("Jobcase has %d %s sharing a match key; the first listed is used.", duplicates, self.path)
        sink.logger.info("Indexed %d existing Jobcase objects from %s", len(found), self.path)
        return found


def _normalize_company(company: dict) -> dict:
    return {**company, "companyZipCode": jc.normalize_zip(company.get("companyZipCode"))}


def _normalize_job(job: dict) -> dict:
    job = {**job, "jobZipCode": jc.normalize_zip(job.get("jobZipCode"))}
    if "products" in job:
        job["products"] = jc.normalize_products(job["products"]) or []
    return job


class JobcaseClient(ServiceClient):
    """The Jobcase HTTP client of one target run, holding the indexes every Jobcase sink shares."""

    def __init__(self, *args: t.Any, partner_id: int | None, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.partner_id = partner_id
        self.companies = ObjectIndex("company/", (None,), lambda c: c.get("partnerCompanyId"), _normalize_company)
        self.jobs = ObjectIndex("job/", jc.JOB_STATUSES, lambda j: j.get("adNumber"), _normalize_job)
        self.campaigns = ObjectIndex(
            "campaign/", jc.CAMPAIGN_STATUSES, lambda c: campaign_key(c.get("companyId"), c.get("name"))
        )
        # Company batches being written: jobs and campaigns wait for them before resolving partnerCompanyId.
        self.company_batches = threading.Condition()
        self.company_batches_in_flight = 0


def make_client(config: t.Mapping[str, t.Any]) -> JobcaseClient:
    if not config.get(jc.API_KEY_SETTING):
        msg = f"Jobcase needs the setting `{jc.API_KEY_SETTING}`."
        raise ConfigError(msg)
    return JobcaseClient.for_service(
        config,
        key=jc.KEY,
        name=jc.NAME,
        base_url=check_base_url(config, jc.BASE_URL_SETTING),
        auth_settings=jc.AUTH_SETTINGS,
        default_requests_per_minute=jc.DOCUMENTED_REQUESTS_PER_MINUTE,
        headers={jc.API_KEY_HEADER: str(config[jc.API_KEY_SETTING])},
        partner_id=config.get(jc.PARTNER_ID_SETTING),
    )


# -- sinks ------------------------------------------------------------------------------------------


class JobcaseSink(JobSyncSink):
    """What the Jobcase sinks share: listing, company resolution, JSON calls."""

    service_key = jc.KEY

    @property
    def jobcase(self) -> JobcaseClient:
        return t.cast(JobcaseClient, self.client)

    def call(self, method: str, path: str, payload: dict | None = None, **kwargs: t.Any) -> dict:
        if payload is not None:
            kwargs["json"] = payload
        return decode_json(self.request(method, path, **kwargs)) or {}

    def list_all(self, path: str, params: t.Mapping[str, t.Any]) -> t.Iterator[dict]:
        offset: int | None = 0
        while offset is not None:
            payload = decode_json(
                self.request("GET", path, params={**params, "offset": offset, "limit": jc.LIST_PAGE_SIZE})
            )
            yield from (payload or {}).get("results") or []
            offset = jc.next_offset(offset, payload, jc.LIST_PAGE_SIZE)

    def wait_for_companies(self) -> None:
        """Write the company records received so far before resolving ``partnerCompanyId``.

        The target drains sinks in parallel: a job may arrive in the same batch
        window as the company it names. Pending company records are drained here
        (in this thread), and batches another thread is writing are waited for.
        """
        target = self.jobsync_target
        for sink in list(target._sinks_active.values()):  # noqa: SLF001 - the target's sinks, as target.py reads them
            if isinstance(sink, JobcaseCompaniesSink):
                target.drain_one(sink)
        client = self.jobcase
        with client.company_batches:
            client.company_batches.wait_for(lambda: client.company_batches_in_flight == 0)

    def resolve_company_id(self, record: dict) -> int | None:
        """``companyId``, or the id of the company whose ``partnerCompanyId`` the record names."""
        if record.get("companyId") is not None:
            return record["companyId"]
        partner_company_id = record.get("partnerCompanyId")
        company = self.jobcase.companies.lookup(self, partner_company_id)
        if company is None:
            msg = (
                f"partnerCompanyId {partner_company_id!r} is not a Jobcase company; "
                "send it in jobcase_companies first, or give companyId"
            )
            raise RecordRejected(msg)
        return company["id"]


class JobcaseCompaniesSink(JobcaseSink):
    """``jobcase_companies``: create or update, matched on ``partnerCompanyId``."""

    sink_name = "jobcase_companies"
    match_fields = ("partnerCompanyId",)

    def start_drain(self) -> dict:
        client = self.jobcase
        with client.company_batches:
            client.company_batches_in_flight += 1
        return super().start_drain()

    def process_batch(self, context: dict) -> None:
        client = self.jobcase
        try:
            super().process_batch(context)
        finally:
            with client.company_batches:
                client.company_batches_in_flight -= 1
                client.company_batches.notify_all()

    def payload(self, record: dict) -> dict:
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

    def write_record(self, record: dict) -> str:
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
                index.remember(self.call("POST", "company/", payload))
            except APIRejectedError as exc:
                if not _is_duplicate(exc, "partnerCompanyId"):
                    raise
                index.refresh(self)  # an earlier attempt created it: update that one
                existing = index.lookup(self, key)
                if existing is None:
                    raise
            else:
                return CREATED
        if not changed_fields(payload, existing):
            return UNCHANGED
        if not self.dry_run:
            index.remember(self.call("PUT", f"company/{existing['id']}/", payload))
        return UPDATED


class JobcaseJobsSink(JobcaseSink):
    """``jobcase_jobs``: create or update on ``adNumber``; ``_sdc_deleted_at`` expires, a comeback un-expires."""

    sink_name = "jobcase_jobs"
    match_fields = ("adNumber",)

    def process_batch(self, context: dict) -> None:
        if any(r.get("companyId") is None for r in context.get("records", [])):
            self.wait_for_companies()
        super().process_batch(context)

    def write_record(self, record: dict) -> str:
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
            created = self.create(payload, products, record.get("campaignId"))
            if created is not None:
                return CREATED
            existing = index.lookup(self, key)  # created by an earlier attempt of this run
        return self.update(existing, payload, products, record.get("campaignId"))  # type: ignore[arg-type]

    def create(self, payload: dict, products: list[str] | None, campaign_id: int | None) -> dict | None:
        body = {**payload, **({"products": products} if products is not None else {})}
        if campaign_id is not None:
            body["campaignId"] = campaign_id
        if self.dry_run:
            return self.jobcase.jobs.remember({"id": None, "jobStatus": jc.JOB_ACTIVE, **body})
        try:
            return self.jobcase.jobs.remember(self.call("POST", "job/", body))
        except APIRejectedError as exc:
            if not _is_duplicate(exc, "adNumber"):
                raise
            self.jobcase.jobs.refresh(self)
            if self.jobcase.jobs.lookup(self, payload["adNumber"]) is None:
                raise
            return None

    def update(self, existing: dict, payload: dict, products: list[str] | None, campaign_id: int | None) -> str:
        index = self.jobcase.jobs
        job_id = existing["id"]
        writes = 0
        if changed_fields(payload, existing):
            writes += 1
            if not self.dry_run:
                existing = index.remember({**existing, **self.call("PUT", f"job/{job_id}/", payload)})
        if existing.get("jobStatus") == jc.JOB_EXPIRED:  # the job is back in the source: re-activate it
            writes += 1
            if not self.dry_run:
                self.call("POST", f"job/{job_id}/unexpire/")
                existing = index.remember({**existing, "jobStatus": jc.JOB_ACTIVE})
        # The products list is compared as a set: the endpoint replaces it, order carries no meaning.
        if products is not None and set(products) != set(existing.get("products") or []):
            writes += 1
            if not self.dry_run:
                body: dict[str, t.Any] = {"products": products}
                if campaign_id is not None:
                    body["campaignId"] = campaign_id
                answer = self.call("POST", f"job/{job_id}/products/", body)
                index.remember({**existing, "products": answer.get("products", products)})
        return UPDATED if writes else UNCHANGED

    def expire(self, existing: dict | None) -> str:
        if existing is None or existing.get("jobStatus") == jc.JOB_EXPIRED:
            return UNCHANGED  # nothing live to take down
        if not self.dry_run:
            self.call("POST", f"job/{existing['id']}/expire/")
            self.jobcase.jobs.remember({**existing, "jobStatus": jc.JOB_EXPIRED})
        return DELETED


class JobcaseCampaignsSink(JobcaseSink):
    """``jobcase_campaigns``: create or update on (companyId, name); budget grows by the difference only."""

    sink_name = "jobcase_campaigns"
    match_fields = ("companyId", "partnerCompanyId", "name")

    def process_batch(self, context: dict) -> None:
        if any(r.get("companyId") is None for r in context.get("records", [])):
            self.wait_for_companies()
        super().process_batch(context)

    @staticmethod
    def check_rules(record: dict) -> list[int] | None:
        """The documented campaign rules, checked before any call; returns the job ids."""
        problems = []
        if record.get("budget") is not None:
            problems.append(jc.budget_problem(record["budget"]))
        if record.get("aggressiveness") is not None:
            problems.append(jc.aggressiveness_problem(record["aggressiveness"]))
        jobs = jc.normalize_codes(record.get("jobs"))
        if jobs is not None and len(jobs) > jc.MAX_CAMPAIGN_JOBS:
            problems.append(f"jobs lists {len(jobs)} jobs; a campaign holds at most {jc.MAX_CAMPAIGN_JOBS}")
        reasons = [p for p in problems if p]
        if reasons:
            raise RecordRejected("; ".join(reasons))
        return jobs

    def write_record(self, record: dict) -> str:
        jobs = self.check_rules(record)
        company_id = self.resolve_company_id(record)
        key = campaign_key(company_id, record["name"])
        index = self.jobcase.campaigns
        existing = index.lookup(self, key)
        identity = {"companyId": company_id, "name": record["name"]}
        if record.get("_sdc_deleted_at"):
            # No delete endpoint: pausing stops the spend and keeps the history.
            if existing is None or existing.get("status") in ("Paused", "Ended"):
                return UNCHANGED
            if not self.dry_run:
                index.remember(self.call("PUT", f"campaign/{existing['id']}/", {**identity, "isPaused": True}))
            return DELETED
        wanted = {**identity, **_pick(record, CAMPAIGN_FIELDS)}
        if jobs is not None:
            wanted["jobs"] = jobs
        if existing is None:
            if record.get("budget") is None:
                raise RecordRejected("budget is required to create a campaign (at least 15)")
            body = {**wanted, "budget": record["budget"]}
            if self.dry_run:
                index.remember({"id": None, **body, "status": "Active"})
                return CREATED
            try:
                index.remember(self.call("POST", "campaign/", body))
            except APIRejectedError as exc:
                if not _is_duplicate(exc, "name"):
                    raise
                index.refresh(self)  # an earlier attempt created it: never add its budget twice
                existing = index.lookup(self, key)
                if existing is None:
                    raise
            else:
                return CREATED
        return self.update(existing, wanted, record)

    def update(self, existing: dict, wanted: dict, record: dict) -> str:
        current = {
            **existing,
            "isPaused": existing.get("status") == "Paused",
            "jobs": sorted(j["id"] if isinstance(j, dict) else j for j in existing.get("jobs") or []),
        }
        compared = {**wanted, **({"jobs": sorted(wanted["jobs"])} if "jobs" in wanted else {})}
        body = dict(wanted) if changed_fields(compared, current) else {}
        add = self.budget_to_add(existing, record)
        if add is not None:
            body = {**wanted, **body, "addBudget": add}
        if not body:
            return UNCHANGED
        if not self.dry_run:
            self.jobcase.campaigns.remember(self.put_campaign(existing, body))
        return UPDATED

    def put_campaign(self, existing: dict, body: dict) -> dict:
        """PUT a campaign update; an ``addBudget`` is never applied twice.

        ``addBudget`` adds on every call, so a retry after an attempt that Jobcase
        applied but whose answer was lost would spend the money twice. Before each
        retry the campaign is read again (after a timeout, once Jobcase had time to
        apply the late attempt); when its budget already shows the top-up, the retry
        is dropped.
        """
        path = f"campaign/{existing['id']}/"
        if "addBudget" not in body:
            return self.call("PUT", path, body)
        target = Decimal(str(existing["budget"])) + Decimal(str(body["addBudget"]))

        def stop_if_applied() -> None:
            current = self.call("GET", path)
            if Decimal(str(current.get("budget", 0))) >= target:
                raise _AlreadyApplied(current)

        try:
            return self.call("PUT", path, body, before_retry=self.verify_before_retry(stop_if_applied))
        except _AlreadyApplied as applied:
            self.logger.info("Campaign %s: an earlier attempt already added the budget; not sent again.", existing["id"])
            return applied.campaign

    def budget_to_add(self, existing: dict, record: dict) -> float | None:
        """``addBudget`` taking the campaign from its budget to the record's total (never twice)."""
        if record.get("budget") is None or existing.get("budget") is None:
            return None
        difference = Decimal(str(record["budget"])) - Decimal(str(existing["budget"]))
        if difference <= 0:
            if difference < 0:
                self.logger.warning(
                    "Campaign %r: budget %s is below its Jobcase budget %s; Jobcase budgets only grow, left as is.",
                    record["name"],
                    record["budget"],
                    existing["budget"],
                )
            return None
        if difference < jc.MIN_ADD_BUDGET:
            self.logger.warning(
                "Campaign %r: budget %s is %s above its Jobcase budget; addBudget must be at least %s, left as is.",
                record["name"],
                record["budget"],
                difference,
                jc.MIN_ADD_BUDGET,
            )
            return None
        return float(difference)


DESTINATION = Destination(
    key=jc.KEY,
    name=jc.NAME,
    settings=jc.setting_properties(),
    secret_settings=jc.SECRET_SETTINGS,
    required_settings=(jc.API_KEY_SETTING,),
    make_client=make_client,
    sinks=(JobcaseCompaniesSink, JobcaseJobsSink, JobcaseCampaignsSink),
)
