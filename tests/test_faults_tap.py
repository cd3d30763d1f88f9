"""Fault matrix of tap-jobsync: every fault kind, at the first, a middle and the last page, for every service.

What the APIs do to a nightly sync and what the tap promises in return:

- 429 with ``Retry-After``, 500, 502, 503, a connection reset mid-body, a JSON body cut
  short, a read timeout and a slow answer are all transient: the run completes and emits
  exactly the records and final STATE of a run that met no fault.
- A failure that outlasts ``retry_max_tries`` ends the run with a non-zero exit and one
  line naming the service, the endpoint and the status (or kind of network failure); the
  last STATE the run emitted is safe to resume from: the resumed run plus the failed one
  cover every record, and the resumed run ends at the same STATE as a clean run.

Each service gets one real-CLI run in which every fault kind hits the first, a middle and
the last page of a paged list (plus one request of a child stream or the login): a
request meets the kinds one after the other (a "chain"), so each kind is retried at each
position. Positions are taken from the sandbox's request log of a clean run.
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass, field

import pytest
from support import SingerRun, discover, run_tap, select_streams

from jobsync_sandbox import configs

RETRY_AFTER = 0.2
TIMEOUT = 0.4  # request_timeout of the faulted runs (a fraction: int(0.4) would be 0)
HANG_MS = 1500  # far beyond the timeout: the attempt times out
SLOW_MS = 150  # slow but within the timeout: the attempt succeeds

#: One rule per attempt: a request fails seven different ways in a row, then succeeds slowly.
FAULT_CHAIN: tuple[dict[str, t.Any], ...] = (
    {"kind": "status", "status": 429, "retry_after": RETRY_AFTER},
    {"kind": "status", "status": 500},
    {"kind": "status", "status": 502},
    {"kind": "status", "status": 503},
    {"kind": "reset"},
    {"kind": "truncate"},
    {"kind": "hang", "delay_ms": HANG_MS},
    {"kind": "latency", "delay_ms": SLOW_MS},
)
#: How the tap's retry warnings describe each failing kind of the chain (all but the slow success).
LOGGED_FAILURES = (
    "HTTP 429",
    "HTTP 500",
    "HTTP 502",
    "HTTP 503",
    "response body cut short",  # the reset: headers and half the promised body, then RST
    "undecodable JSON body",
    "timed out",
)
#: A chain's attempts plus one spare (a loaded machine may time out once more); the bound
#: itself is tested exactly below.
CHAIN_TRIES = len(FAULT_CHAIN) + 1
FAST_RETRIES = {"retry_backoff_seconds": 0.01, "retry_max_backoff_seconds": 0.05}


@dataclass(frozen=True)
class Case:
    """One service: the streams synced, the paged list that gets the faults, the data sizes."""

    service: str
    name: str
    streams: tuple[str, ...]
    #: Path regex (below the API base) of the paged list whose pages get fault chains.
    paged: str
    sizes: dict[str, int]
    settings: dict[str, t.Any] = field(default_factory=dict)
    #: Path regexes of other requests (child stream, login) that get one chain, at their middle occurrence.
    extra: tuple[str, ...] = ()
    #: Query keys marking requests to ``paged`` that are not pages of the listing itself.
    not_pages: tuple[str, ...] = ()


CASES = (
    Case(
        "trackjobchanges",
        "TrackJobChanges",
        ("trackjobchanges_connections", "trackjobchanges_employments"),
        paged="^/connections$",
        sizes={"connections": 30, "page_size": 5, "employments_per_connection": 2},
        extra=("/employments$",),
    ),
    Case(
        "pcrecruiter",
        "PCRecruiter",
        ("pcrecruiter_candidates", "pcrecruiter_companies"),
        paged="^/candidates$",
        sizes={"candidates": 60, "companies": 8, "positions": 4},
        settings={"pcrecruiter_results_per_page": 10},
        extra=("access-token$",),
        # The deleted-since check after the listing asks for the key field only.
        not_pages=("fields",),
    ),
    Case(
        "ziprecruiter",
        "ZipRecruiter",
        ("ziprecruiter_subscribers", "ziprecruiter_subscriber_searches"),
        paged="^/subscriber$",
        sizes={"subscribers": 250, "searches_per_subscriber": 1},
        extra=("/searches$",),
    ),
    Case(
        "jobcase",
        "Jobcase",
        ("jobcase_jobs", "jobcase_campaign_cost_data"),
        paged="^/job/$",
        sizes={"companies": 4, "jobs_per_company": 8, "cost_rows": 30, "rate_limit_requests": 0},
        settings={"jobcase_page_size": 5, "jobcase_requests_per_minute": 0},
        extra=("^/campaign/cost_data/$",),
    ),
)


def case_config(sandbox, case: Case, **extra: t.Any) -> dict[str, t.Any]:
    credentials = {name: api.credentials for name, api in sandbox.apis.items()}
    return configs.tap_config(sandbox.base_urls, credentials, services=(case.service,), **{**case.settings, **extra})


@pytest.fixture(scope="module")
def catalogs(sandbox) -> dict[str, dict]:
    return {case.service: discover(case_config(sandbox, case)) for case in CASES}


@pytest.fixture(scope="module")
def baselines(sandbox, catalogs) -> dict[str, tuple[SingerRun, list[dict]]]:
    """Per service: a clean run on fresh data, and the request log it left."""
    result = {}
    for case in CASES:
        fresh(sandbox, case)
        run = sync(sandbox, case, catalogs).check()
        result[case.service] = (run, list(sandbox.requests.query(case.service, None, None, 100_000)["entries"]))
    return result


def fresh(sandbox, case: Case) -> None:
    sandbox.reset(seed=7, sizes={case.service: case.sizes})


def sync(sandbox, case: Case, catalogs, *, state: dict | None = None, **settings: t.Any) -> SingerRun:
    config = case_config(sandbox, case, **settings)
    return run_tap(config, catalog=select_streams(catalogs[case.service], case.streams), state=state)


def pages(case: Case, log: list[dict]) -> list[dict]:
    """The listing's page requests of a clean run, in order, one per distinct query."""
    seen: list[dict] = []
    for entry in log:
        is_page = re.search(case.paged, entry["path"]) and not set(case.not_pages) & set(entry["query"])
        if is_page and entry["query"] not in seen:
            seen.append(entry["query"])
    return seen


def positions(case: Case, log: list[dict]) -> dict[str, dict[str, t.Any]]:
    """Where the chains go: first, middle and last page, plus the middle request of each ``extra`` path."""
    listing = pages(case, log)
    assert len(listing) >= 3, f"{case.service}: the matrix needs at least three pages, got {listing}"
    where = {
        "first page": {"path": case.paged, "query": listing[0]},
        "middle page": {"path": case.paged, "query": listing[len(listing) // 2]},
        "last page": {"path": case.paged, "query": listing[-1]},
    }
    for path in case.extra:
        matching = [e for e in log if re.search(path, e["path"])]
        assert matching, f"{case.service}: no request matched {path}"
        entry = matching[len(matching) // 2]
        # The log hides credentials in queries (the login's): match on the rest.
        query = {k: v for k, v in entry["query"].items() if v != "[REDACTED]"}
        where[f"request {entry['path']}"] = {"path": f"^{re.escape(entry['path'])}$", "query": query}
    return where


def add_chain(sandbox, api: str, *, path: str, query: dict[str, str] | None = None, skip: int = 0) -> None:
    for fault in FAULT_CHAIN:
        sandbox.add_fault(api=api, method="GET", path=path, query=dict(query or {}), skip=skip, count=1, **fault)


def normalized_state(state: dict | None) -> dict:
    """The STATE without values that depend on the wall clock (PCRecruiter's table version and read times)."""
    clock = {"table_version", "change_tracking_read_at", "app_name_version_read_at"}

    def strip(value: t.Any) -> t.Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in clock}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(state or {})


def record_keys(run: SingerRun, stream: str, key_properties: t.Sequence[str]) -> set[tuple]:
    return {tuple(r.get(k) for k in key_properties) for r in run.records(stream)}


def key_properties(catalog: dict, stream: str) -> list[str]:
    return next(s["key_properties"] for s in catalog["streams"] if s["tap_stream_id"] == stream)


@pytest.mark.parametrize("case", CASES, ids=[c.service for c in CASES])
def test_every_fault_kind_at_first_middle_and_last_page_leaves_records_and_state_unchanged(
    sandbox, catalogs, baselines, case
):
    clean, log = baselines[case.service]
    fresh(sandbox, case)
    where = positions(case, log)
    for spot in where.values():
        add_chain(sandbox, case.service, **spot)

    faulted = sync(
        sandbox, case, catalogs, request_timeout=TIMEOUT, retry_max_tries=CHAIN_TRIES, **FAST_RETRIES
    ).check()

    unfired = [(f.path, f.query, f.kind, f.status) for f in sandbox.faults if f.fired != 1]
    assert unfired == [], f"faults that never hit a request (the matrix would test nothing): {unfired}"
    for stream in case.streams:
        assert faulted.records(stream) == clean.records(stream), stream
        assert clean.records(stream), f"{stream}: the clean run emitted nothing to compare"
    assert normalized_state(faulted.last_state) == normalized_state(clean.last_state)
    # Every kind was met and retried at every position (the slow answer just succeeded).
    for failure in LOGGED_FAILURES:
        assert faulted.stderr.count(failure) >= len(where), f"{failure!r} retried fewer than {len(where)} times"
    # Throttling waits what the API asked for, not the (much shorter) back-off.
    waits = [float(w) for w in re.findall(r"HTTP 429[^;]*; retry \d+ in ([\d.]+)s", faulted.stderr)]
    assert len(waits) == len(where) and min(waits) >= RETRY_AFTER


#: A failure that never stops, per service, and how the final error names it.
BOUND_FAULTS = {
    "trackjobchanges": ({"kind": "status", "status": 503}, "HTTP 503"),
    "pcrecruiter": ({"kind": "status", "status": 429, "retry_after": 0.05}, "HTTP 429"),
    "ziprecruiter": ({"kind": "reset"}, "response body cut short"),
    "jobcase": ({"kind": "hang", "delay_ms": 1500}, "timed out"),
}


@pytest.mark.parametrize("case", CASES, ids=[c.service for c in CASES])
def test_past_the_retry_bound_the_run_fails_naming_service_endpoint_and_status_and_its_state_resumes(
    sandbox, catalogs, baselines, case
):
    clean, log = baselines[case.service]
    fresh(sandbox, case)
    fault, described = BOUND_FAULTS[case.service]
    middle = positions(case, log)["middle page"]
    sandbox.add_fault(api=case.service, method="GET", count=1000, **middle, **fault)

    failed = sync(sandbox, case, catalogs, request_timeout=TIMEOUT, retry_max_tries=3, **FAST_RETRIES)

    assert failed.returncode != 0
    last_line = failed.stderr.strip().splitlines()[-1]
    path = case.paged.strip("^$")
    assert re.search(
        rf"{case.name}: GET \S*{re.escape(path)}\S* still failing after 3 attempts: {described}", last_line
    ), last_line
    fired = sum(f.fired for f in sandbox.faults)
    assert fired == 3, f"the bound is 3 attempts of the failing request, saw {fired}"

    sandbox.clear_faults()
    resumed = sync(sandbox, case, catalogs, state=failed.last_state).check()
    catalog = catalogs[case.service]
    for stream in case.streams:
        keys = key_properties(catalog, stream)
        expected = record_keys(clean, stream, keys)
        covered = record_keys(failed, stream, keys) | record_keys(resumed, stream, keys)
        assert expected <= covered, f"{stream}: lost {sorted(expected - covered)[:5]}"
    assert normalized_state(resumed.last_state) == normalized_state(clean.last_state)
