"""Misbehaving servers: every run ends within a bound derived from its settings, non-zero, in one line.

Each case puts one fault kind of the sandbox on a service and runs the real CLI:

- a server that ignores paging (page 1 for every page): the paging guard stops at page 2;
- a body trickled one byte at a time: the attempt's deadline (``request_timeout``) ends it;
- ``Retry-After: 99999`` (as seconds or as an HTTP date): fails at once, naming the wait;
- a gzip body that decompresses past ``max_response_mb``: fails without holding it in memory;
- a body of the wrong shape, and records without their primary key: fail naming the endpoint.

The bound: process start-up plus the policy's worst case for the requests involved
(``HttpPolicy.worst_case_seconds``), asserted loosely (3x), never as a performance figure.
"""

from __future__ import annotations

import time
import typing as t

import pytest
from support import SingerRun, record_message, run_tap, run_target, schema_message, state_message

from jobsync_common.http import HttpPolicy
from jobsync_sandbox import configs

#: Starting a connector process and discovering its streams (generous; the machine has 2 busy cores).
STARTUP_SECONDS = 8
SETTINGS = {
    "request_timeout": 1.5,
    "retry_max_tries": 2,
    "retry_backoff_seconds": 0.05,
    "retry_max_backoff_seconds": 0.1,
}
POLICY = HttpPolicy(
    timeout=1.5, max_tries=2, backoff_seconds=0.05, max_backoff_seconds=0.1, max_retry_after_seconds=300
)
#: A failing request retried to the end, without a Retry-After wait (the waits here are back-offs).
ONE_REQUEST_BOUND = POLICY.max_tries * POLICY.timeout + (POLICY.max_tries - 1) * POLICY.max_backoff_seconds

SIZES = {
    "trackjobchanges": {"connections": 30, "page_size": 10, "employments_per_connection": 1, "pings": 3},
    "pcrecruiter": {"candidates": 30, "companies": 5, "positions": 5},
    "ziprecruiter": {"subscribers": 250, "searches_per_subscriber": 0, "batches": 0},
    "jobcase": {"companies": 3, "jobs_per_company": 1, "campaigns": 1, "cost_rows": 1, "rate_limit_requests": 0},
}
#: Per service: a paged list endpoint (path regex below the API base) and settings making it span pages.
PAGED = {
    "trackjobchanges": ("^/connections$", {}),
    "pcrecruiter": ("^/candidates$", {"pcrecruiter_results_per_page": 10}),
    "ziprecruiter": ("^/subscriber$", {}),
    "jobcase": ("^/company/$", {"jobcase_page_size": 2}),
}
NAMES = {
    "trackjobchanges": "TrackJobChanges",
    "pcrecruiter": "PCRecruiter",
    "ziprecruiter": "ZipRecruiter",
    "jobcase": "Jobcase",
}


@pytest.fixture
def fresh(sandbox) -> None:
    sandbox.reset(sizes=SIZES)


def tap(sandbox, credentials, service: str, **settings: t.Any) -> tuple[SingerRun, float]:
    config = configs.tap_config(
        sandbox.base_urls, credentials, services=(service,), jobcase_requests_per_minute=0, **{**SETTINGS, **settings}
    )
    started = time.monotonic()
    run = run_tap(config, timeout=120)
    return run, time.monotonic() - started


def last_line(run: SingerRun) -> str:
    return run.stderr.strip().splitlines()[-1]


def assert_one_line_failure(run: SingerRun, prog: str) -> str:
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    line = last_line(run)
    assert line.startswith(f"{prog}: error: "), line
    return line


# -- the tap --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", list(PAGED))
def test_a_server_that_ignores_paging_is_stopped_at_the_second_page(sandbox, fresh, credentials, service):
    path, settings = PAGED[service]
    sandbox.add_fault(api=service, method="GET", path=path, kind="ignore_paging", count=1000)
    run, elapsed = tap(sandbox, credentials, service, **settings)
    line = assert_one_line_failure(run, "tap-jobsync")
    assert f"{NAMES[service]}: " in line and "page 2" in line, line
    assert "ignores the paging parameter" in line or "already received on earlier pages" in line, line
    assert elapsed < 3 * (STARTUP_SECONDS + 2 * POLICY.timeout)
    fired = next(f.fired for f in sandbox.faults)
    assert fired <= 3, f"{fired} pages read from a server that ignores paging"


def test_a_trickled_body_ends_at_the_attempt_deadline(sandbox, fresh, credentials):
    sandbox.add_fault(api="jobcase", method="GET", path="^/company/$", kind="trickle", delay_ms=200, count=1000)
    run, elapsed = tap(sandbox, credentials, "jobcase")
    line = assert_one_line_failure(run, "tap-jobsync")
    assert "Jobcase: GET /" in line and "/company/" in line and "still failing after 2 attempts" in line, line
    assert "no complete answer from 127.0.0.1:" in line and "within request_timeout (1.5s)" in line, line
    assert elapsed < 3 * (STARTUP_SECONDS + ONE_REQUEST_BOUND)


@pytest.mark.parametrize("as_date", [False, True], ids=["seconds", "http-date"])
def test_a_retry_after_of_a_day_fails_at_once_naming_service_endpoint_and_wait(sandbox, fresh, credentials, as_date):
    sandbox.add_fault(
        api="ziprecruiter", method="GET", path="^/subscriber$", kind="status", status=429, retry_after=99999,
        retry_after_date=as_date,
    )  # fmt: skip
    run, elapsed = tap(sandbox, credentials, "ziprecruiter")
    line = assert_one_line_failure(run, "tap-jobsync")
    assert "ZipRecruiter: GET /" in line and "/subscriber?" in line, line
    assert "answered HTTP 429 asking to wait 9999" in line and "`retry_max_retry_after_seconds` (300s)" in line, line
    assert elapsed < 3 * (STARTUP_SECONDS + POLICY.timeout)


def test_an_answer_past_the_size_cap_fails_without_being_held_in_memory(sandbox, fresh, credentials):
    sandbox.add_fault(api="trackjobchanges", method="GET", path="^/connections$", kind="oversized", size_mb=64)
    run, elapsed = tap(sandbox, credentials, "trackjobchanges", max_response_mb=2)
    line = assert_one_line_failure(run, "tap-jobsync")
    assert "TrackJobChanges: GET /" in line and "/connections?page=1" in line, line
    assert "answered more than 2 MB (decompressed)" in line and "`max_response_mb`" in line, line
    assert elapsed < 3 * (STARTUP_SECONDS + POLICY.timeout)


@pytest.mark.parametrize(
    ("service", "path", "body", "said"),
    [
        ("jobcase", "^/job/$", [{"id": 1}], "answered a JSON list where an object with `results` is documented"),
        ("trackjobchanges", "^/connections$", {"data": "none"}, "where `data` as a list of objects is documented"),
        ("ziprecruiter", "^/batch$", 42, "answered a JSON number where an object with `results` is documented"),
    ],
    ids=["list-for-object", "string-for-list", "number-for-object"],
)
def test_a_body_of_the_wrong_shape_fails_the_stream_naming_endpoint_and_excerpt(
    sandbox, fresh, credentials, service, path, body, said
):
    sandbox.add_fault(api=service, method="GET", path=path, kind="wrong_shape", body=body)
    run, _ = tap(sandbox, credentials, service)
    line = assert_one_line_failure(run, "tap-jobsync")
    assert f"{NAMES[service]}: GET /" in line and said in line, line


def test_records_without_their_primary_key_fail_the_stream(sandbox, fresh, credentials):
    body = {"count": 1, "results": [{"companyName": "No Id Co", "partnerCompanyId": "X"}]}
    sandbox.add_fault(api="jobcase", method="GET", path="^/company/$", kind="wrong_shape", body=body)
    run, _ = tap(sandbox, credentials, "jobcase")
    line = assert_one_line_failure(run, "tap-jobsync")
    assert "Jobcase: stream jobcase_companies (/company/): a record has no primary key `id`" in line, line
    assert run.records("jobcase_companies") == []


# -- the target's listings and writes -------------------------------------------------------------------------


def jobcase_company(i: int) -> dict:
    return {
        "partnerCompanyId": f"HOSTILE-{i}", "companyName": f"Hostile {i}", "companyUrl": "https://h.example.com",
        "companyStreet": "1 Main St", "companyCity": "Austin", "companyState": "TX", "companyZipCode": "73301",
    }  # fmt: skip


def write_companies(sandbox, credentials, **settings: t.Any) -> tuple[SingerRun, float]:
    config = configs.target_config(
        sandbox.base_urls, credentials, jobcase_requests_per_minute=0, **{**SETTINGS, **settings}
    )
    messages = [
        schema_message("jobcase_companies", {}, ["partnerCompanyId"]),
        *(record_message("jobcase_companies", jobcase_company(i)) for i in range(3)),
        state_message({"bookmarks": {"jobcase_companies": {"n": 3}}}),
    ]
    started = time.monotonic()
    run = run_target(config, messages, timeout=120)
    return run, time.monotonic() - started


def test_the_target_stops_a_listing_that_ignores_paging(sandbox, credentials):
    sandbox.reset(
        sizes={"jobcase": {"companies": 2500, "jobs_per_company": 0, "campaigns": 0, "rate_limit_requests": 0}}
    )
    sandbox.add_fault(api="jobcase", method="GET", path="^/company/$", kind="ignore_paging", count=1000)
    run, elapsed = write_companies(sandbox, credentials)
    line = assert_one_line_failure(run, "target-jobsync")
    assert "Jobcase: GET /company/: page 2 is identical to page 1" in line, line
    assert run.stdout.strip() == "", "no STATE"
    assert elapsed < 3 * (STARTUP_SECONDS + 2 * POLICY.timeout)


def test_the_target_fails_a_write_answered_with_a_retry_after_of_a_day(sandbox, credentials):
    sandbox.reset(sizes={"jobcase": {"companies": 1, "jobs_per_company": 0, "campaigns": 0, "rate_limit_requests": 0}})
    sandbox.add_fault(api="jobcase", method="POST", path="^/company/$", kind="status", status=429, retry_after=99999)
    run, elapsed = write_companies(sandbox, credentials)
    line = assert_one_line_failure(run, "target-jobsync")
    assert "Jobcase: POST /" in line and "/company/ answered HTTP 429 asking to wait 99999s" in line, line
    assert run.stdout.strip() == ""
    assert elapsed < 3 * (STARTUP_SECONDS + POLICY.timeout)


def test_the_target_ends_a_trickled_answer_at_the_deadline(sandbox, credentials):
    sandbox.reset(sizes={"jobcase": {"companies": 1, "jobs_per_company": 0, "campaigns": 0, "rate_limit_requests": 0}})
    sandbox.add_fault(api="jobcase", method="GET", path="^/company/$", kind="trickle", delay_ms=200, count=1000)
    run, elapsed = write_companies(sandbox, credentials)
    line = assert_one_line_failure(run, "target-jobsync")
    assert "Jobcase: GET /" in line and "within request_timeout (1.5s)" in line, line
    assert elapsed < 3 * (STARTUP_SECONDS + ONE_REQUEST_BOUND)
