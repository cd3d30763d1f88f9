"""tap-jobsync's Jobcase streams, run through the real CLI against the sandbox."""

from __future__ import annotations

import re

import pytest
from support import discover, run_tap, select_streams

from jobsync_common import jobcase as jc
from jobsync_sandbox import configs

STREAMS = (
    "jobcase_companies",
    "jobcase_jobs",
    "jobcase_campaigns",
    "jobcase_products",
    "jobcase_campaign_cost_data",
)
SIZES = {"companies": 4, "jobs_per_company": 5, "campaigns": 6, "products": 4, "cost_rows": 25}


def jobcase_config(sandbox) -> dict:
    credentials = {name: api.credentials for name, api in sandbox.apis.items()}
    # No client pacing here: the rate-limit tests set their own.
    return configs.tap_config(sandbox.base_urls, credentials, services=("jobcase",), jobcase_requests_per_minute=0)


@pytest.fixture(scope="module")
def catalog(sandbox):
    return discover(jobcase_config(sandbox))


@pytest.fixture
def config(control, sandbox):
    """Jobcase settings only, on fresh sandbox data."""
    control.reset(sizes={"jobcase": SIZES})
    return jobcase_config(sandbox)


def sync(config, catalog, streams=STREAMS, state=None, **overrides):
    return run_tap({**config, **overrides}, catalog=select_streams(catalog, streams), state=state).check()


def test_discovery_declares_keys_and_replication(catalog):
    entries = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert set(entries) == set(STREAMS)
    assert entries["jobcase_jobs"]["key_properties"] == ["id"]
    cost = entries["jobcase_campaign_cost_data"]
    assert cost["key_properties"] == ["campaignId", "jobId", "eventType", "source", "time"]
    assert cost["replication_key"] == "time"
    assert cost["schema"]["properties"]["time"]["format"] == "date-time"


def test_full_sync_emits_every_record_of_every_status(config, catalog, control):
    control.api_control("jobcase", "add_cost_events", {"count": 2})
    run = sync(config, catalog)
    assert config[jc.API_KEY_SETTING] not in run.stdout + run.stderr
    store = control.store("jobcase")
    for stream, table in (
        ("jobcase_companies", "companies"),
        ("jobcase_jobs", "jobs"),
        ("jobcase_campaigns", "campaigns"),
        ("jobcase_products", "products"),
    ):
        assert sorted(r["id"] for r in run.records(stream)) == sorted(r["id"] for r in store[table]), stream
    assert len(run.records("jobcase_campaign_cost_data")) == len(store["cost_data"]) == 27
    assert {j["jobStatus"] for j in run.records("jobcase_jobs")} == {"Active", "Expired"}
    assert {c["status"] for c in run.records("jobcase_campaigns")} == {"Active", "Paused", "Ended"}
    # The API answers jobZipCode 02108 as the number 2108; the tap restores the string.
    jobs = run.records("jobcase_jobs")
    assert all(isinstance(j["jobZipCode"], str) and 5 <= len(j["jobZipCode"]) <= 7 for j in jobs)
    assert "02108" in {j["jobZipCode"] for j in jobs}
    assert all(isinstance(code, str) for j in jobs for code in j["products"])


def events(records: list[dict]) -> list[tuple]:
    """Cost rows as comparable tuples, in no particular order (the stream does not rely on the API's order)."""
    return sorted((r["campaignId"], r["jobId"], r["eventType"], r["source"], r["time"]) for r in records)


@pytest.mark.parametrize("cost_data_order", ["oldest_first", "newest_first"])
def test_cost_data_is_incremental_on_time(config, catalog, control, cost_data_order):
    """The document gives no order: the bookmark is the newest time seen once every page was read."""
    control.set_readings("jobcase", cost_data_order=cost_data_order)
    first = sync(config, catalog, ["jobcase_campaign_cost_data"])
    assert len(first.records()) == 25
    bookmark = first.last_state["bookmarks"]["jobcase_campaign_cost_data"]["replication_key_value"]
    assert bookmark == max(r["time"] for r in first.records())

    unchanged = sync(config, catalog, ["jobcase_campaign_cost_data"], state=first.last_state)
    assert unchanged.records() == []

    control.advance_clock(60)
    added = control.api_control("jobcase", "add_cost_events", {"count": 3})["added"]
    third = sync(config, catalog, ["jobcase_campaign_cost_data"], state=unchanged.last_state)
    assert sorted((r["campaignId"], r["jobId"], r["cost"]) for r in third.records()) == sorted(
        (a["campaignId"], a["jobId"], a["cost"]) for a in added
    )
    assert third.last_state["bookmarks"]["jobcase_campaign_cost_data"]["replication_key_value"] > bookmark


def test_start_date_bounds_the_first_cost_data_run(config, catalog):
    """Seeded rows are 10 s apart from 2024-01-01T00:00:10Z; start_date is inclusive."""
    run = sync(config, catalog, ["jobcase_campaign_cost_data"], start_date="2024-01-01T00:03:20Z")
    assert len(run.records()) == 25 - 19


def test_429_with_retry_after_is_waited_out_and_output_is_identical(config, catalog, control):
    baseline = sync(config, catalog, ["jobcase_jobs", "jobcase_companies"])
    control.add_fault(api="jobcase", path="^/job/?$", status=429, retry_after=1, count=1)
    control.clear_requests()
    throttled = sync(config, catalog, ["jobcase_jobs", "jobcase_companies"])
    assert throttled.records() == baseline.records()
    assert [e["status"] for e in control.requests(api="jobcase", path="job")["entries"]].count(429) == 1
    waits = [float(w) for w in re.findall(r"HTTP 429[^;]*; retry \d+ in ([\d.]+)s", throttled.stderr)]
    assert len(waits) == 1 and waits[0] >= 1.0  # the wait Jobcase asked for, not a short back-off


def test_a_burst_at_the_configured_limit_gets_no_429(config, catalog, control):
    """50 jobs in pages of 2 (25 requests) against a limit of 20 per rolling 4 s (= 300/min)."""
    control.reset(sizes={"jobcase": {**SIZES, "companies": 5, "jobs_per_company": 10}})
    control.api_control("jobcase", "rate_limit", {"requests": 20, "window_seconds": 4})
    run = sync(config, catalog, ["jobcase_jobs"], jobcase_requests_per_minute=300, jobcase_page_size=2)
    assert len(run.records()) == 50
    log = control.requests(api="jobcase")
    assert log["total"] > 20
    assert [e for e in log["entries"] if e["status"] == 429] == []


def test_a_wrong_api_key_fails_with_one_line_naming_the_setting(config, catalog):
    run = run_tap(
        {**config, "jobcase_api_key": "wrong-key-123"}, catalog=select_streams(catalog, ["jobcase_companies"])
    )
    assert run.returncode != 0
    last_line = run.stderr.strip().splitlines()[-1]
    assert "HTTP 401" in last_line and f"`{jc.API_KEY_SETTING}`" in last_line
    assert "wrong-key-123" not in run.stderr + run.stdout


def test_products_without_a_partner_id_fail_naming_the_setting(config, catalog):
    config = {k: v for k, v in config.items() if k != jc.PARTNER_ID_SETTING}
    run = run_tap(config, catalog=select_streams(catalog, ["jobcase_products"]))
    assert run.returncode != 0
    assert f"`{jc.PARTNER_ID_SETTING}`" in run.stderr.strip().splitlines()[-1]
    assert sync(config, catalog, ["jobcase_companies"]).records()  # other streams need no partner id


def test_a_partner_id_jobcase_refuses_fails_naming_the_setting(config, catalog):
    run = run_tap({**config, jc.PARTNER_ID_SETTING: 2}, catalog=select_streams(catalog, ["jobcase_products"]))
    assert run.returncode != 0
    assert f"`{jc.PARTNER_ID_SETTING}`" in run.stderr.strip().splitlines()[-1]


# -- readings of what the document leaves open ----------------------------------------------------


INACTIVE = {"job_statuses": "active,inactive", "campaign_statuses": "active,inactive"}
DOCUMENTED = {"job_statuses": "active,expired", "campaign_statuses": "active,paused,ended"}


@pytest.mark.parametrize(
    ("readings", "setting", "job_statuses", "campaign_statuses"),
    [
        (DOCUMENTED, None, {"Active", "Expired"}, {"Active", "Paused", "Ended"}),
        (
            {**DOCUMENTED, "job_statuses": "active,expired,deleted"},
            {"jobs": ["active", "expired", "deleted"]},
            {"Active", "Expired"},
            {"Active", "Paused", "Ended"},
        ),
        (
            INACTIVE,
            {"jobs": ["active", "inactive"], "campaigns": ["active", "inactive"]},
            {"Active", "Inactive"},
            {"Active", "Inactive"},
        ),
    ],
    ids=["documented", "deleted-too", "inactive"],
)
def test_status_partitions_follow_the_setting_and_every_record_is_read(
    config, catalog, control, readings, setting, job_statuses, campaign_statuses
):
    control.set_readings("jobcase", **readings)
    overrides = {"jobcase_statuses": setting} if setting else {}
    run = sync(config, catalog, ["jobcase_jobs", "jobcase_campaigns"], **overrides)
    store = control.store("jobcase")
    assert sorted(r["id"] for r in run.records("jobcase_jobs")) == sorted(j["id"] for j in store["jobs"])
    assert sorted(r["id"] for r in run.records("jobcase_campaigns")) == sorted(c["id"] for c in store["campaigns"])
    assert {j["jobStatus"] for j in run.records("jobcase_jobs")} == job_statuses
    assert {c["status"] for c in run.records("jobcase_campaigns")} == campaign_statuses
    assert "jobcase_jobs statuses seen in records:" in run.stderr
    assert "status this account accepts" not in run.stderr


def test_a_status_jobcase_refuses_is_skipped_with_one_warning_naming_it_and_the_setting(config, catalog, control):
    """Default statuses against an API whose values are active/inactive: the rest of the stream still syncs."""
    control.set_readings("jobcase", **INACTIVE)
    run = sync(config, catalog, ["jobcase_jobs", "jobcase_campaigns", "jobcase_companies"])
    store = control.store("jobcase")
    assert sorted(r["id"] for r in run.records("jobcase_jobs")) == sorted(
        j["id"] for j in store["jobs"] if j["jobStatus"] == "Active"
    )
    assert {c["status"] for c in run.records("jobcase_campaigns")} == {"Active"}
    assert len(run.records("jobcase_companies")) == len(store["companies"])
    warnings = [line for line in run.stderr.splitlines() if "status this account accepts" in line]
    assert len(warnings) == 3  # expired; paused and ended
    (expired,) = [line for line in warnings if "`expired` is not a job status" in line]
    assert "Stream `jobcase_jobs` skips it: jobs in that status are not synced" in expired
    assert "is not a valid choice" in expired  # Jobcase's own answer is quoted
    assert "Set `jobcase_statuses`" in expired
    assert "jobcase_jobs statuses seen in records: Active" in run.stderr and "refused: expired" in run.stderr


@pytest.mark.parametrize("zip_code_form", ["number", "string"])
def test_zip_codes_are_strings_whichever_form_jobcase_answers(config, catalog, control, zip_code_form):
    control.set_readings("jobcase", zip_code_form=zip_code_form)
    run = sync(config, catalog, ["jobcase_jobs", "jobcase_companies"])
    jobs = run.records("jobcase_jobs")
    assert all(isinstance(j["jobZipCode"], str) and 5 <= len(j["jobZipCode"]) <= 7 for j in jobs)
    assert "02108" in {j["jobZipCode"] for j in jobs}
    assert all(isinstance(c["companyZipCode"], str) for c in run.records("jobcase_companies"))
