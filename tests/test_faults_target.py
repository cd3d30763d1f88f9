"""Fault matrix of target-jobsync: every fault kind at the first, a middle and the last request, per destination.

What the destinations do to a write-back run and what the target promises in return:

- 429 with ``Retry-After``, 500, 502, 503, a connection reset after the server acted, a
  body cut short after the server acted, a read timeout (the server acts *after* the
  client gave up) and a slow answer: the run completes, and the destination store equals
  the store a run without faults leaves (same objects by natural key, same content, no
  duplicate company, job, campaign, subscriber, job search or entry, no lost update).
- A failure past ``retry_max_tries`` exits non-zero naming service, endpoint and status;
  the STATE messages the target emitted cover only what was written, and re-running the
  same input then leaves the same store as a clean run.

Per destination, three real-CLI runs each put fault chains on the run's first request,
its middle write and its last request (positions from a clean run's request log): chain
``errors`` meets 429, 500, 502 and 503, then a reset after the server acted;
``truncate`` (with every answer of that run slow) and ``hang`` are alone, because each
lets the server act on the request. The non-idempotent calls (a ZipRecruiter job-search
submit always creates; a Jobcase ``addBudget`` always adds) get a chain of their own.
"""

from __future__ import annotations

import json
import re
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field

import pytest
from support import SingerRun, record_message, run_target, schema_message, state_message

from jobsync_sandbox import configs

RETRY_AFTER = 0.2
TIMEOUT = 0.4
FAST_RETRIES = {"retry_backoff_seconds": 0.01, "retry_max_backoff_seconds": 0.05}

CHAINS: dict[str, tuple[dict[str, t.Any], ...]] = {
    "errors": (
        {"kind": "status", "status": 429, "retry_after": RETRY_AFTER},
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 502},
        {"kind": "status", "status": 503},
        {"kind": "reset"},  # the server acted; the answer is lost
    ),
    # The server acted; the body is cut short. And every answer of the run is slow.
    "truncate+slow": ({"kind": "truncate"},),
    # The client gives up after TIMEOUT; the server acts on the request a quarter timeout later.
    "hang": ({"kind": "hang", "delay_ms": int(TIMEOUT * 1250)},),
}
#: API-wide latency of the chains named here (slow but successful answers).
SLOW_MS = {"truncate+slow": 80}
#: Hung requests are acted on after the client gave up: let the last ones land before comparing.
HANG_SETTLE_SECONDS = TIMEOUT * 1.5


# -- inputs: what a tap would send each destination -------------------------------------------------


def stream_messages(stream: str, records: list[dict], key: str | None, state: int) -> list[dict]:
    return [
        schema_message(stream, {}, [key] if key else []),
        *(record_message(stream, r) for r in records),
        state_message({"bookmarks": {stream: {"batch": state}}}),
    ]


def jobcase_input(store: dict) -> list[dict]:
    companies = [
        {
            "partnerCompanyId": f"PC-NEW-{i}",
            "companyName": f"New Co {i}",
            "companyUrl": f"https://new-{i}.example.com",
            "companyStreet": f"{i} Main St",
            "companyCity": "Austin",
            "companyState": "TX",
            "companyZipCode": "73301",
            "companyContact": {"firstName": "Ada", "lastName": f"Lovelace{i}", "email": f"ada{i}@new.example.com"},
        }
        for i in (1, 2)
    ]
    first = store["companies"][0]
    companies.append(
        {
            **{
                k: first[k]
                for k in (
                    "partnerCompanyId",
                    "companyUrl",
                    "companyStreet",
                    "companyCity",
                    "companyState",
                    "companyZipCode",
                )
            },
            "companyName": "Renamed Co",
        }
    )
    jobs = [
        {
            "adNumber": f"NEW-JOB-{i}",
            "partnerCompanyId": f"PC-NEW-{1 + i % 2}",
            "jobTitle": f"Welder {i}",
            "jobDescription": "Welding, day shift.",
            "jobCity": "Austin",
            "jobState": "TX",
            "jobZipCode": "73301",
            "products": ["college"],
            # Jobcase would default both to "now": explicit dates keep stores comparable.
            "startDate": "2030-01-01T00:00:00+00:00",
            "endDate": "2030-03-01T00:00:00+00:00",
        }
        for i in (1, 2, 3)
    ]
    active = [j for j in store["jobs"] if j["jobStatus"] == "Active"]
    fields = ("adNumber", "companyId", "jobTitle", "jobDescription", "jobCity", "jobState", "jobZipCode")
    jobs.append({**{k: active[0][k] for k in fields}, "jobTitle": "Retitled"})
    jobs.append({**{k: active[1][k] for k in fields}, "products": ["veterans", "college"]})
    jobs.append({"adNumber": active[2]["adNumber"], "_sdc_deleted_at": "2030-01-01T00:00:00Z"})
    live = [c for c in store["campaigns"] if c["status"] == "Active"]
    campaigns = [
        {"name": "Spring Hiring", "companyId": first["id"], "budget": 100, "aggressiveness": 20},
        {"name": live[0]["name"], "companyId": live[0]["companyId"], "budget": float(live[0]["budget"]) + 25},
        {"name": live[1]["name"], "companyId": live[1]["companyId"], "_sdc_deleted_at": "2030-01-01T00:00:00Z"},
    ]
    return [
        *stream_messages("jobcase_companies", companies, "partnerCompanyId", 1),
        *stream_messages("jobcase_jobs", jobs, "adNumber", 2),
        *stream_messages("jobcase_campaigns", campaigns, "name", 3),
    ]


def ziprecruiter_input(store: dict) -> list[dict]:
    seeded = store["subscribers"]
    subscribers = [{"email": f"z-new-{i}@example.com", "search": "Nurse", "location": "Houston, TX"} for i in (1, 2, 3)]
    subscribers.append({"email": seeded[0]["email"], "search": "Night Nurse", "location": seeded[0]["location"]})
    subscribers.append({"email": seeded[1]["email"], "_sdc_deleted_at": "2030-01-01T00:00:00Z"})
    with_searches = [s for s in store["searches"] if s["status"] == "active"]
    searches = [
        {"subscriber_id": seeded[2]["id"], "search": "Welder", "location": "Austin, TX"},
        {"subscriber_id": seeded[2]["id"], "search": "Plumber", "location": "Austin, TX"},
        {"subscriber_id": seeded[3]["id"], "search": "Welder", "location": "Austin, TX"},
        {"subscriber_id": with_searches[0]["subscriber_id"], "id": with_searches[0]["id"],
         "_sdc_deleted_at": "2030-01-01T00:00:00Z"},
    ]  # fmt: skip
    return [
        *stream_messages("ziprecruiter_subscribers", subscribers, "email", 1),
        *stream_messages("ziprecruiter_subscriber_searches", searches, "subscriber_id", 2),
    ]


def ziprecruiter_batch_input(store: dict) -> list[dict]:
    subscribers = [{"email": f"bulk-{i}@example.com", "search": "Cook", "location": "Denver, CO"} for i in range(24)]
    subscribers.append({"email": store["subscribers"][0]["email"], "_sdc_deleted_at": "2030-01-01T00:00:00Z"})
    return stream_messages("ziprecruiter_subscribers", subscribers, "email", 1)


def workable_input(store: dict) -> list[dict]:
    people = store["candidates"]
    records = [
        {"id": people[0]["id"], "headline": "Head Nurse"},
        {"email": people[1]["email"].upper(), "tags": ["night-shift"]},
        {
            "id": people[2]["id"],
            "experience_entries": [{"title": "Welder", "company": "Acme", "start_date": "2024-01-01"}],
        },
        {"id": people[3]["id"], "headline": people[3]["headline"]},  # unchanged: no write
        {"id": people[4]["id"], "skills": ["Forklift"], "summary": "Reliable."},
    ]
    return stream_messages("workable_candidates", records, None, 1)  # matched by id or email


# -- comparing stores: by natural key, without ids and clock values ------------------------------------


def _without(record: dict, *names: str) -> dict:
    return {k: v for k, v in record.items() if k not in names}


def unique(items: t.Iterable[tuple[t.Hashable, t.Any]], what: str) -> dict:
    result: dict = {}
    for key, value in items:
        assert key not in result, f"duplicate {what} {key!r}"
        result[key] = value
    return result


def jobcase_view(store: dict) -> dict:
    company_key = {c["id"]: c["partnerCompanyId"] for c in store["companies"]}
    job_key = {j["id"]: j["adNumber"] for j in store["jobs"]}

    def person(value: t.Any) -> t.Any:
        return _without(value, "id") if isinstance(value, dict) else value

    companies = unique(
        ((c["partnerCompanyId"], {**_without(c, "id"), "companyContact": person(c.get("companyContact")),
                                  "salesRep": person(c.get("salesRep"))}) for c in store["companies"]),
        "company",
    )  # fmt: skip
    jobs = unique(
        ((j["adNumber"], {**_without(j, "id"), "companyId": company_key[j["companyId"]],
                          "products": sorted(j.get("products") or [])}) for j in store["jobs"]),
        "job",
    )  # fmt: skip
    campaigns = unique(
        (
            ((company_key[c["companyId"]], c["name"].lower()),
             {**_without(c, "id"), "companyId": company_key[c["companyId"]],
              "jobs": sorted(job_key.get(j["id"] if isinstance(j, dict) else j, j) for j in c.get("jobs") or [])})
            for c in store["campaigns"]
        ),
        "campaign",
    )  # fmt: skip
    return {"companies": companies, "jobs": jobs, "campaigns": campaigns}


def ziprecruiter_view(store: dict) -> dict:
    volatile = ("id", "create_time", "deactivation_time", "email_md5")
    subscribers = unique(((s["email"].lower(), _without(s, *volatile)) for s in store["subscribers"]), "subscriber")
    email_of = {s["id"]: s["email"].lower() for s in store["subscribers"]}
    # A job-search submit always creates a search: a duplicate shows up as a count of 2.
    searches = Counter(
        (email_of[s["subscriber_id"]], s["search"], s.get("location"), s["status"], s.get("deactivation_reason"))
        for s in store["searches"]
    )
    return {"subscribers": subscribers, "searches": searches}


def workable_view(store: dict) -> dict:
    def entries(values: list[dict] | None) -> list[dict]:
        # Workable re-numbers entries a repeated PATCH sends without ids; content and count must match.
        return sorted((_without(e, "id") for e in values or []), key=lambda e: json.dumps(e, sort_keys=True))

    return unique(
        (
            (c["id"], {**_without(c, "updated_at"), "experience_entries": entries(c.get("experience_entries")),
                       "education_entries": entries(c.get("education_entries"))})
            for c in store["candidates"]
        ),
        "candidate",
    )  # fmt: skip


@dataclass(frozen=True)
class Destination:
    name: str
    api: str
    sizes: dict[str, int]
    build_input: t.Callable[[dict], list[dict]]
    view: t.Callable[[dict], dict]
    settings: dict[str, t.Any] = field(default_factory=dict)
    #: Sandbox controls to apply after each reset (server-side rate limits off: faults are injected instead).
    controls: tuple[tuple[str, dict], ...] = ()
    #: The call that is not idempotent (method, path regex from the seeded store): it gets a chain too.
    risky: t.Callable[[dict], tuple[str, str]] | None = None
    #: What the sink logs when it finds the risky call already applied and does not resend it.
    guard_log: str | None = None
    #: Path regexes standing for paths with ids that differ from run to run.
    id_paths: tuple[str, ...] = ()


DESTINATIONS = (
    Destination(
        "jobcase",
        "jobcase",
        {
            "companies": 4,
            "jobs_per_company": 3,
            "campaigns": 4,
            "products": 4,
            "cost_rows": 1,
            "rate_limit_requests": 0,
        },
        jobcase_input,
        jobcase_view,
        # Top-ups are opt-in: on here, so the non-idempotent addBudget is part of the matrix.
        {
            "jobcase_requests_per_minute": 0,
            "jobcase_budget_updates": "top_up",
            "jobcase_max_budget_added_per_run": 1000,
        },
        # addBudget adds on every call: the PUT topping up the first active campaign.
        risky=lambda store: (
            "PUT",
            f"^/campaign/{next(c for c in store['campaigns'] if c['status'] == 'Active')['id']}/$",
        ),
        guard_log="addBudget not sent again",
    ),
    Destination(
        "ziprecruiter",
        "ziprecruiter",
        {"subscribers": 12, "searches_per_subscriber": 2, "batches": 0, "batch_delay_ms": 0},
        ziprecruiter_input,
        ziprecruiter_view,
        # A job-search submit always creates a search.
        risky=lambda store: ("POST", r"^/subscriber/[^/]+/searches$"),
        guard_log="an earlier attempt created it",
    ),
    Destination(
        "ziprecruiter-batch",
        "ziprecruiter",
        {"subscribers": 6, "searches_per_subscriber": 1, "batches": 0, "batch_delay_ms": 0},
        ziprecruiter_batch_input,
        ziprecruiter_view,
        {
            "ziprecruiter_batch_threshold": 10,
            "ziprecruiter_batch_chunk_size": 10,
            "ziprecruiter_wait_for_batches": True,
            "ziprecruiter_batch_poll_seconds": 0.05,
        },
        id_paths=(r"^/batch/[^/]+$",),  # batch ids are random
    ),
    Destination(
        "workable",
        "workable",
        {"candidates": 6},
        workable_input,
        workable_view,
        {"workable_requests_per_minute": 0},
        controls=(("rate_limit", {"limit": 0}),),
    ),
)


def fresh(sandbox, destination: Destination) -> dict:
    """Reset the sandbox to the destination's seeded data; return its store."""
    sandbox.reset(seed=5, sizes={destination.api: destination.sizes})
    api = sandbox.apis[destination.api]
    for action, payload in destination.controls:
        with api.lock:
            api.control(action, payload)
    with api.lock:
        return json.loads(json.dumps(api.dump(), default=str))


def store_view(sandbox, destination: Destination) -> dict:
    api = sandbox.apis[destination.api]
    with api.lock:
        if destination.api == "ziprecruiter":
            api.control("complete_batches", {})
        return destination.view(json.loads(json.dumps(api.dump(), default=str)))


def write(sandbox, destination: Destination, messages: list[dict], **settings: t.Any) -> SingerRun:
    credentials = {name: api.credentials for name, api in sandbox.apis.items()}
    config = configs.target_config(sandbox.base_urls, credentials, **{**destination.settings, **settings})
    return run_target(config, messages)


@pytest.fixture(scope="module")
def clean_runs(sandbox) -> dict[str, dict[str, t.Any]]:
    """Per destination: the input, a clean run's request log and the store it leaves."""
    result = {}
    for destination in DESTINATIONS:
        seeded = fresh(sandbox, destination)
        messages = destination.build_input(seeded)
        run = write(sandbox, destination, messages).check()
        log = sandbox.requests.query(destination.api, None, None, 100_000)["entries"]
        result[destination.name] = {
            "messages": messages,
            "run": run,
            "spots": fault_spots(destination, seeded, log),
            "view": store_view(sandbox, destination),
        }
    return result


def fault_spots(destination: Destination, seeded: dict, log: list[dict]) -> dict[str, dict[str, t.Any]]:
    """First request, middle write, last request and the non-idempotent call of a clean run, as rule matchers.

    ``skip`` counts the earlier requests the rule matches, less those an earlier chain on
    the same endpoint takes whole (a chain's rules see every attempt of its request).
    """

    def matcher(entry: dict) -> tuple[str, str]:
        path = next((p for p in destination.id_paths if re.search(p, entry["path"])), None)
        return entry["method"], path or f"^{re.escape(entry['path'])}$"

    def matches(entry: dict, method: str, path: str) -> bool:
        return entry["method"] == method and re.search(path, entry["path"]) is not None

    writes = [i for i, e in enumerate(log) if e["method"] != "GET"]
    assert writes, "the input must make the destination write"
    chosen = {"first request": 0, "middle write": writes[len(writes) // 2], "last request": len(log) - 1}
    if destination.risky is not None:
        method, path = destination.risky(seeded)
        chosen["non-idempotent write"] = next(i for i, e in enumerate(log) if matches(e, method, path))
    spots: dict[str, dict[str, t.Any]] = {}
    taken: Counter[tuple[str, str]] = Counter()
    for name, index in sorted(chosen.items(), key=lambda item: item[1]):
        if any(spot["index"] == index for spot in spots.values()):
            continue  # two positions on one request
        method, path = matcher(log[index])
        before = sum(1 for e in log[:index] if matches(e, method, path))
        spots[name] = {"index": index, "method": method, "path": path, "skip": before - taken[(method, path)]}
        taken[(method, path)] += 1
    return spots


@pytest.mark.parametrize("chain", list(CHAINS))
@pytest.mark.parametrize("destination", DESTINATIONS, ids=[d.name for d in DESTINATIONS])
def test_every_fault_kind_at_first_middle_and_last_request_leaves_the_same_store(
    sandbox, clean_runs, destination, chain
):
    clean = clean_runs[destination.name]
    fresh(sandbox, destination)
    sandbox.latency_ms[destination.api] = SLOW_MS.get(chain, 0)
    for spot in clean["spots"].values():
        for fault in CHAINS[chain]:
            sandbox.add_fault(api=destination.api, method=spot["method"], path=spot["path"], skip=spot["skip"],
                              count=1, **fault)  # fmt: skip

    run = write(sandbox, destination, clean["messages"], request_timeout=TIMEOUT,
                retry_max_tries=len(CHAINS[chain]) + 2, **FAST_RETRIES).check()  # fmt: skip

    unfired = [(f.method, f.path, f.skip, f.kind) for f in sandbox.faults if f.fired != 1]
    assert unfired == [], f"faults that never hit a request (the matrix would test nothing): {unfired}"
    if chain == "hang":
        time.sleep(HANG_SETTLE_SECONDS)  # the hung requests are acted on late: let them land
    assert store_view(sandbox, destination) == clean["view"]
    if destination.guard_log:
        # The call the destination had acted on (reset, cut body, applied late) was not sent again.
        assert destination.guard_log in run.stderr
    # The target confirms (prints) the same states, in the same order.
    assert run.messages == clean["run"].messages


@pytest.mark.parametrize("destination", DESTINATIONS, ids=[d.name for d in DESTINATIONS])
def test_past_the_retry_bound_the_run_fails_naming_the_endpoint_and_a_rerun_of_the_same_input_matches_a_clean_run(
    sandbox, clean_runs, destination
):
    clean = clean_runs[destination.name]
    fresh(sandbox, destination)
    spot = clean["spots"]["middle write"]
    sandbox.add_fault(api=destination.api, method=spot["method"], path=spot["path"], skip=spot["skip"],
                      count=1000, kind="status", status=503)  # fmt: skip

    failed = write(sandbox, destination, clean["messages"], retry_max_tries=3, **FAST_RETRIES)

    assert failed.returncode != 0
    last_line = failed.stderr.strip().splitlines()[-1]
    name = {"jobcase": "Jobcase", "ziprecruiter": "ZipRecruiter", "workable": "Workable"}[destination.api]
    path = spot["path"].strip("^$").replace("\\", "")
    assert f"{name}: {spot['method']} " in last_line and path in last_line, last_line
    assert "still failing after 3 attempts: HTTP 503" in last_line
    # Every state it confirmed is one a clean run confirms too, in order (it stopped early).
    assert failed.messages == clean["run"].messages[: len(failed.messages)]
    assert len(failed.messages) < len(clean["run"].messages)

    sandbox.clear_faults()
    write(sandbox, destination, clean["messages"]).check()
    assert store_view(sandbox, destination) == clean["view"]
