"""Sustained load through the target, with throttling: zero records lost, the rate limit held.

- 100,000 ZipRecruiter subscribers go through the real target CLI as batch CSV uploads
  (the bulk path a large write-back takes: 1,000 records per ``POST /batch``), paced by
  ``ziprecruiter_requests_per_minute``, while the API answers some uploads with 429 and
  ``Retry-After``. Every subscriber ends up in the store, every batch reports all of its
  records subscribed, no upload arrived closer to a throttled one than its
  ``Retry-After``, and no rolling window held more requests than the configured rate.
  Why this path: Jobcase allows 200 requests a minute, so 100,000 Jobcase writes take
  over eight hours at its limit; Workable's 10 per 10 s is slower still. ZipRecruiter's
  batch files carry the volume in about a hundred requests.
- A smaller Jobcase burst checks the limit against a server that enforces it: a rolling
  window in the sandbox answers 429 to anything over the limit. With the client pacing
  at that limit and injected 429s on top, every company is written and the sandbox's own
  limiter never fires.
"""

from __future__ import annotations

import json
import typing as t

import pytest
from support import record_message, run_target, schema_message, state_message

SUBSCRIBERS = "ziprecruiter_subscribers"
RECORDS = 100_000
STATE_EVERY = 10_000  # a drain (and a STATE) per 10,000 records, as the sink's batch size
ZR_REQUESTS_PER_MINUTE = 2400
THROTTLED_UPLOADS = (3, 20, 41, 67, 88)  # uploads answered 429 first
RETRY_AFTER = 0.3
FAST = {"retry_backoff_seconds": 0.05, "retry_max_backoff_seconds": 0.5}


def throttle_events(entries: list[dict]) -> list[tuple[dict, dict]]:
    """Each injected 429 with the request that followed it."""
    ordered = sorted(entries, key=lambda e: e["seq"])
    return [(entry, ordered[i + 1]) for i, entry in enumerate(ordered[:-1]) if entry["status"] == 429]


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > window:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_100k_subscribers_through_batch_uploads_with_429s_lose_nothing_and_keep_the_rate(sandbox, credentials):
    sandbox.reset(seed=4, sizes={"ziprecruiter": {"subscribers": 10, "batches": 0, "batch_delay_ms": 0}})
    for n, skip in enumerate(THROTTLED_UPLOADS):
        # Rules see the uploads the earlier rules let through: skip counts from there.
        sandbox.add_fault(api="ziprecruiter", method="POST", path="^/batch$", kind="status", status=429,
                          retry_after=RETRY_AFTER, skip=skip - n, count=1)  # fmt: skip
    config = {
        "ziprecruiter_api_key": credentials["ziprecruiter"]["api_key"],
        "ziprecruiter_base_url": sandbox.base_urls["ziprecruiter"],
        "ziprecruiter_batch_threshold": 1000,
        "ziprecruiter_requests_per_minute": ZR_REQUESTS_PER_MINUTE,
        **FAST,
    }
    emails = [f"load-{i}@example.com" for i in range(RECORDS)]
    messages: list[dict] = [schema_message(SUBSCRIBERS, {"email": {"type": "string"}})]
    for i, email in enumerate(emails, 1):
        messages.append(record_message(SUBSCRIBERS, {"email": email, "search": "Nurse", "location": "Houston, TX"}))
        if i % STATE_EVERY == 0:
            messages.append(state_message({"bookmarks": {SUBSCRIBERS: {"sent": i}}}))

    run = run_target(config, messages, timeout=600).check()

    # Every STATE was confirmed, in order, once its uploads were accepted.
    assert run.messages == [
        {"bookmarks": {SUBSCRIBERS: {"sent": i}}} for i in range(STATE_EVERY, RECORDS + 1, STATE_EVERY)
    ]
    api = sandbox.apis["ziprecruiter"]
    with api.lock:
        api.control("complete_batches", {})
        store = api.dump()
    stored = {s["email"] for s in store["subscribers"]}
    assert set(emails) <= stored, f"{len(set(emails) - stored)} subscribers lost"
    assert sum(b["result"].get("subscribed", 0) for b in store["batches"]) == RECORDS
    assert all(b["status"] == "complete" and not b["result"].get("errors") for b in store["batches"])
    assert len(store["batches"]) == RECORDS // 1000  # a throttled upload is retried, never doubled

    entries = sandbox.requests.query("ziprecruiter", None, None, 100_000)["entries"]
    assert [f.fired for f in sandbox.faults] == [1] * len(THROTTLED_UPLOADS)
    for throttled, after in throttle_events(entries):
        assert after["time"] - throttled["time"] >= RETRY_AFTER * 0.95, "an upload came before Retry-After"
    # The pacing: no second (nor any 5 s) holds more than the configured rate, with slack
    # for when the server logs a request (after reading its CSV) rather than when it was sent.
    times = [e["time"] for e in entries if e["status"] != 429]
    per_second = ZR_REQUESTS_PER_MINUTE / 60
    assert max_in_window(times, 1.0) <= per_second + 3
    assert max_in_window(times, 5.0) <= per_second * 5 + 3


JOBCASE_LIMIT = {"requests": 40, "window_seconds": 4}  # 600 a minute, enforced by the sandbox
COMPANIES = 48


def company(i: int) -> dict[str, t.Any]:
    return {
        "partnerCompanyId": f"LOAD-{i}",
        "companyName": f"Load Co {i}",
        "companyUrl": f"https://load-{i}.example.com",
        "companyStreet": f"{i} Main St",
        "companyCity": "Austin",
        "companyState": "TX",
        "companyZipCode": "73301",
    }


def test_a_jobcase_burst_at_the_enforced_limit_with_injected_429s_writes_everything_and_meets_no_server_429(
    sandbox, credentials, tmp_path
):
    sandbox.reset(seed=4, sizes={"jobcase": {"companies": 2, "jobs_per_company": 1, "campaigns": 1}})
    api = sandbox.apis["jobcase"]
    with api.lock:
        api.control("rate_limit", JOBCASE_LIMIT)
    for skip in (8, 20):
        sandbox.add_fault(api="jobcase", method="POST", path="^/company/$", kind="status", status=429,
                          retry_after=0.5, skip=skip, count=1)  # fmt: skip
    config = {
        "jobcase_api_key": credentials["jobcase"]["api_key"],
        "jobcase_base_url": sandbox.base_urls["jobcase"],
        "jobcase_partner_id": credentials["jobcase"]["partner_id"],
        "jobcase_requests_per_minute": JOBCASE_LIMIT["requests"] * 60 // JOBCASE_LIMIT["window_seconds"],
        "summary_path": str(tmp_path / "summary.json"),
        **FAST,
    }
    messages = [
        schema_message("jobcase_companies", {}, ["partnerCompanyId"]),
        *(record_message("jobcase_companies", company(i)) for i in range(COMPANIES)),
        state_message({"bookmarks": {"jobcase_companies": {"done": True}}}),
    ]

    run = run_target(config, messages).check()

    assert json.loads((tmp_path / "summary.json").read_text())["jobcase_companies"]["created"] == COMPANIES
    with api.lock:
        stored = {c["partnerCompanyId"] for c in api.dump()["companies"]}
    assert {f"LOAD-{i}" for i in range(COMPANIES)} <= stored
    log = sandbox.requests.query("jobcase", None, None, 10_000)
    assert log["total"] > JOBCASE_LIMIT["requests"], "the burst must be larger than one window's allowance"
    assert [f.fired for f in sandbox.faults] == [1, 1]
    server_429s = [e for e in log["entries"] if e["status"] == 429 and e["fault"] is None]
    assert server_429s == [], "the client went over the limit the server enforces"
    assert run.stderr.count("HTTP 429") == 2  # only the injected ones, each retried once


@pytest.fixture(autouse=True)
def _no_leftover_faults(sandbox):
    yield
    sandbox.clear_faults()
