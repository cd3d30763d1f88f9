"""target-jobsync's Jobcase sinks, run through the real CLI and verified in the sandbox store."""

from __future__ import annotations

import json

import pytest

from jobsync_common import jobcase as jc
from jobsync_sandbox import configs
from support import record_message, run_target, schema_message, state_message

SIZES = {"companies": 4, "jobs_per_company": 5, "campaigns": 6, "products": 4, "cost_rows": 5}
WRITES = ("POST", "PUT", "PATCH", "DELETE")

COMPANY = {
    "partnerCompanyId": "PCR-COMPANY-1",
    "companyName": "Battery Street Rodeo",
    "companyUrl": "https://rodeo.example.com",
    "companyStreet": "98 Battery St",
    "companyCity": "San Francisco",
    "companyState": "CA",
    "companyZipCode": 94111,
    "companyContact": {"firstName": "Jack", "lastName": "Sparrow", "email": "jack@rodeo.example.com"},
}
JOB = {
    "adNumber": "PCR-POS-1",
    "partnerCompanyId": "PCR-COMPANY-1",
    "jobTitle": "Rodeo Clown",
    "jobDescription": "A rodeo clown has many on-site duties.",
    "jobCity": "San Francisco",
    "jobState": "CA",
    "jobZipCode": "94111",
    "products": [["college"]],
}


@pytest.fixture
def config(control, sandbox, tmp_path):
    """Target settings on fresh sandbox data; no client pacing (the rate-limit test sets its own)."""
    control.reset(sizes={"jobcase": SIZES})
    credentials = {name: api.credentials for name, api in sandbox.apis.items()}
    return configs.target_config(
        sandbox.base_urls, credentials, jobcase_requests_per_minute=0, summary_path=str(tmp_path / "summary.json")
    )


def messages(stream: str, records: list[dict], key: str) -> list[dict]:
    return [schema_message(stream, {}, [key]), *(record_message(stream, r) for r in records)]


def write(config: dict, *batches: list[dict], **overrides) -> dict:
    """Run the target on the batches (a STATE after each); return its summary."""
    lines = [m for batch in batches for m in (*batch, state_message({"batch": len(batch)}))]
    config = {**config, **overrides}
    run = run_target(config, lines).check()
    summary = json.loads(open(config["summary_path"]).read())
    summary["_run"] = run
    return summary


def writes_logged(control) -> list[str]:
    entries = control.requests(api="jobcase")["entries"]
    return [f"{e['method']} {e['path']}" for e in entries if e["method"] in WRITES]


def store_job(control, ad_number: str) -> dict:
    return next(j for j in control.store("jobcase")["jobs"] if j["adNumber"] == ad_number)


def store_company(control, partner_company_id: str) -> list[dict]:
    return [c for c in control.store("jobcase")["companies"] if c["partnerCompanyId"] == partner_company_id]


# -- companies and jobs ---------------------------------------------------------------------------


def test_companies_and_jobs_are_created_then_updated_then_expired(config, control):
    summary = write(config, messages("jobcase_companies", [COMPANY], "partnerCompanyId"), messages("jobcase_jobs", [JOB], "adNumber"))
    assert (summary["jobcase_companies"]["created"], summary["jobcase_jobs"]["created"]) == (1, 1)
    [company] = store_company(control, "PCR-COMPANY-1")
    assert company["companyZipCode"] == "94111" and company["companyContact"]["email"] == "jack@rodeo.example.com"
    job = store_job(control, "PCR-POS-1")
    assert (job["companyId"], job["jobStatus"], job["products"]) == (company["id"], "Active", ["college"])

    renamed = {**COMPANY, "companyName": "Rodeo & Co"}
    retitled = {**JOB, "jobTitle": "Senior Rodeo Clown", "products": ["college", "veterans"]}
    summary = write(config, messages("jobcase_companies", [renamed], "partnerCompanyId"), messages("jobcase_jobs", [retitled], "adNumber"))
    assert (summary["jobcase_companies"]["updated"], summary["jobcase_jobs"]["updated"]) == (1, 1)
    assert store_company(control, "PCR-COMPANY-1")[0]["companyName"] == "Rodeo & Co"
    job = store_job(control, "PCR-POS-1")
    assert job["jobTitle"] == "Senior Rodeo Clown" and sorted(job["products"]) == ["college", "veterans"]
    assert len([c for c in control.store("jobcase")["companies"]]) == 5  # updated, not duplicated

    deleted = {"adNumber": "PCR-POS-1", "_sdc_deleted_at": "2030-01-01T00:00:00Z"}
    assert write(config, messages("jobcase_jobs", [deleted], "adNumber"))["jobcase_jobs"]["deleted"] == 1
    assert store_job(control, "PCR-POS-1")["jobStatus"] == "Expired"

    control.clear_requests()
    assert write(config, messages("jobcase_jobs", [retitled], "adNumber"))["jobcase_jobs"]["updated"] == 1
    assert store_job(control, "PCR-POS-1")["jobStatus"] == "Active"
    assert writes_logged(control) == [f"POST /job/{job['id']}/unexpire/"]  # nothing else differed


def test_seeded_jobs_are_matched_on_ad_number_in_every_status(config, control):
    """AD-0000005 is expired in Jobcase: a record for it re-activates it instead of creating a copy."""
    existing = store_job(control, "AD-0000005")
    record = {
        "adNumber": "AD-0000005",
        "companyId": existing["companyId"],
        "jobTitle": existing["jobTitle"],
        "jobDescription": existing["jobDescription"],
        "jobCity": existing["jobCity"],
        "jobState": existing["jobState"],
        "jobZipCode": existing["jobZipCode"],  # the number Jobcase answers
    }
    summary = write(config, messages("jobcase_jobs", [record], "adNumber"))
    assert summary["jobcase_jobs"]["updated"] == 1
    assert store_job(control, "AD-0000005")["jobStatus"] == "Active"
    assert control.store("jobcase")["counts"]["jobs"] == 20


def test_same_input_twice_leaves_the_store_unchanged_and_costs_no_write(config, control):
    batches = (
        messages("jobcase_companies", [COMPANY], "partnerCompanyId"),
        messages("jobcase_jobs", [JOB], "adNumber"),
        messages("jobcase_campaigns", [{"partnerCompanyId": "PCR-COMPANY-1", "name": "Spring", "budget": 40, "jobs": [1, 2]}], "name"),
    )
    write(config, *batches)
    before = control.store("jobcase")
    control.clear_requests()
    summary = write(config, *batches)
    assert control.store("jobcase") == before
    assert writes_logged(control) == []
    assert {s: summary[s]["unchanged"] for s in ("jobcase_companies", "jobcase_jobs", "jobcase_campaigns")} == {
        "jobcase_companies": 1,
        "jobcase_jobs": 1,
        "jobcase_campaigns": 1,
    }


def test_a_create_retried_after_a_mid_flight_failure_updates_instead_of_duplicating(config, control):
    """The connection drops after Jobcase created the company; the retry meets the uniqueness 400."""
    control.add_fault(api="jobcase", method="POST", path="^/company/?$", kind="reset", count=1)
    summary = write(config, messages("jobcase_companies", [COMPANY], "partnerCompanyId"))
    assert len(store_company(control, "PCR-COMPANY-1")) == 1
    assert summary["jobcase_companies"]["rejected"] == 0
    log = control.requests(api="jobcase", method="POST", path="^/company/?$")["entries"]
    assert [e["status"] for e in log] == [201, 400]


def test_a_job_may_name_its_company_by_partner_company_id(config, control):
    known = {**JOB, "adNumber": "PCR-POS-2", "partnerCompanyId": "PC-000002"}
    unknown = {**JOB, "adNumber": "PCR-POS-3", "partnerCompanyId": "NOT-THERE"}
    dead_letters = config["summary_path"] + ".dead.jsonl"
    summary = write(config, messages("jobcase_jobs", [known, unknown], "adNumber"), dead_letter_path=dead_letters)
    assert store_job(control, "PCR-POS-2")["companyId"] == 2
    assert summary["jobcase_jobs"]["rejected"] == 1
    [line] = [json.loads(x) for x in open(dead_letters)]
    assert line["key"] == "adNumber='PCR-POS-3'" and "partnerCompanyId 'NOT-THERE'" in line["error"]


def test_jobs_find_companies_sent_in_the_same_batch(config, control):
    """No STATE between them: the target drains both sinks at once; jobs wait for the companies."""
    companies = [{**COMPANY, "partnerCompanyId": f"SAME-{n}"} for n in range(6)]
    jobs = [{**JOB, "adNumber": f"SAME-POS-{n}", "partnerCompanyId": f"SAME-{n}"} for n in range(6)]
    lines = [
        schema_message("jobcase_jobs", {}, ["adNumber"]),
        schema_message("jobcase_companies", {}, ["partnerCompanyId"]),
        *(m for company, job in zip(companies, jobs) for m in (record_message("jobcase_jobs", job), record_message("jobcase_companies", company))),
        state_message({"all": "done"}),
    ]
    run_target(config, lines).check()
    store = control.store("jobcase")
    company_ids = {c["partnerCompanyId"]: c["id"] for c in store["companies"]}
    assert {j["adNumber"]: j["companyId"] for j in store["jobs"] if j["adNumber"].startswith("SAME-")} == {
        f"SAME-POS-{n}": company_ids[f"SAME-{n}"] for n in range(6)
    }


def test_a_job_without_its_required_fields_is_rejected_before_any_call(config, control):
    control.clear_requests()
    run = run_target(config, [*messages("jobcase_jobs", [{"adNumber": "X-1", "companyId": 1}], "adNumber")])
    assert run.returncode != 0
    assert "adNumber='X-1'" in run.stderr and "jobTitle" in run.stderr
    assert writes_logged(control) == []


# -- campaigns ------------------------------------------------------------------------------------


def test_campaign_budget_is_topped_up_to_the_total_never_added_twice(config, control):
    campaign = {"companyId": 1, "name": "Campaign 1", "budget": 60, "aggressiveness": 40}
    seeded = next(c for c in control.store("jobcase")["campaigns"] if c["id"] == 1)
    assert seeded["budget"] == 20
    control.clear_requests()
    assert write(config, messages("jobcase_campaigns", [campaign], "name"))["jobcase_campaigns"]["updated"] == 1
    assert write(config, messages("jobcase_campaigns", [campaign], "name"))["jobcase_campaigns"]["unchanged"] == 1
    updated = next(c for c in control.store("jobcase")["campaigns"] if c["id"] == 1)
    assert (updated["budget"], updated["aggressiveness"]) == (60, 40)
    assert writes_logged(control) == ["PUT /campaign/1/"]


def test_a_budget_top_up_whose_answer_is_lost_is_not_sent_again(config, control):
    """Jobcase applies the addBudget PUT, then the connection drops: the retry would add it twice."""
    control.add_fault(api="jobcase", method="PUT", path="^/campaign/1/?$", kind="reset", count=1)
    campaign = {"companyId": 1, "name": "Campaign 1", "budget": 60}
    assert write(config, messages("jobcase_campaigns", [campaign], "name"))["jobcase_campaigns"]["updated"] == 1
    assert next(c for c in control.store("jobcase")["campaigns"] if c["id"] == 1)["budget"] == 60
    assert writes_logged(control) == ["PUT /campaign/1/"]


def test_a_new_campaign_is_created_once_even_when_its_create_is_retried(config, control):
    control.add_fault(api="jobcase", method="POST", path="^/campaign/?$", kind="reset", count=1)
    campaign = {"companyId": 2, "name": "Summer", "budget": 25}
    write(config, messages("jobcase_campaigns", [campaign], "name"))
    summers = [c for c in control.store("jobcase")["campaigns"] if c["name"] == "Summer"]
    assert [(c["companyId"], c["budget"]) for c in summers] == [(2, 25)]


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"budget": 10}, "budget 10 is below the minimum of 15"),
        ({"budget": 15.555}, "more than 2 decimal places"),
        ({"aggressiveness": 25}, "multiple of 10 between 10 and 60"),
        ({"aggressiveness": 70}, "multiple of 10 between 10 and 60"),
    ],
)
def test_campaign_rules_are_checked_before_sending(config, control, tmp_path, change, rule):
    record = {"companyId": 1, "name": "Bad", "budget": 20, **change}
    dead_letters = tmp_path / "dead.jsonl"
    control.clear_requests()
    summary = write(config, messages("jobcase_campaigns", [record], "name"), dead_letter_path=str(dead_letters))
    assert summary["jobcase_campaigns"]["rejected"] == 1
    [line] = [json.loads(x) for x in dead_letters.read_text().splitlines()]
    assert rule in line["error"] and line["record"]["name"] == "Bad"
    assert writes_logged(control) == []


def test_a_rejected_campaign_fails_the_run_without_a_dead_letter_file(config):
    run = run_target(config, messages("jobcase_campaigns", [{"companyId": 1, "name": "Bad", "budget": 10}], "name"))
    assert run.returncode != 0
    last_line = run.stderr.strip().splitlines()[-1]
    assert "budget 10 is below the minimum of 15" in last_line and "dead_letter_path" in last_line


def test_a_deleted_campaign_is_paused(config, control):
    deleted = {"companyId": 1, "name": "Campaign 1", "_sdc_deleted_at": "2030-01-01T00:00:00Z"}
    assert write(config, messages("jobcase_campaigns", [deleted], "name"))["jobcase_campaigns"]["deleted"] == 1
    assert next(c for c in control.store("jobcase")["campaigns"] if c["id"] == 1)["status"] == "Paused"


# -- run modes ------------------------------------------------------------------------------------


def test_dry_run_reports_what_it_would_write_without_writing(config, control):
    control.clear_requests()
    summary = write(
        config,
        messages("jobcase_companies", [COMPANY], "partnerCompanyId"),
        messages("jobcase_jobs", [JOB, {"adNumber": "AD-0000001", "_sdc_deleted_at": "2030-01-01"}], "adNumber"),
        dry_run=True,
    )
    assert writes_logged(control) == []
    assert summary["_dry_run"] is True
    assert (summary["jobcase_companies"]["created"], summary["jobcase_jobs"]["created"]) == (1, 1)
    assert summary["jobcase_jobs"]["deleted"] == 1
    assert store_company(control, "PCR-COMPANY-1") == []


def test_a_burst_of_writes_at_the_configured_limit_gets_no_429(config, control):
    """24 new companies (25 requests, written 4 at a time) against 20 per rolling 4 s (= 300/min)."""
    control.api_control("jobcase", "rate_limit", {"requests": 20, "window_seconds": 4})
    companies = [{**COMPANY, "partnerCompanyId": f"BURST-{n}"} for n in range(24)]
    summary = write(config, messages("jobcase_companies", companies, "partnerCompanyId"), jobcase_requests_per_minute=300)
    assert summary["jobcase_companies"]["created"] == 24
    log = control.requests(api="jobcase")
    assert log["total"] > 20
    assert [e for e in log["entries"] if e["status"] == 429] == []


def test_a_wrong_api_key_fails_naming_the_setting_without_showing_it(config):
    run = run_target({**config, jc.API_KEY_SETTING: "wrong-key-456"}, messages("jobcase_companies", [COMPANY], "partnerCompanyId"))
    assert run.returncode != 0
    assert f"`{jc.API_KEY_SETTING}`" in run.stderr.strip().splitlines()[-1]
    assert "wrong-key-456" not in run.stderr + run.stdout


def test_activate_version_after_a_full_listing_changes_nothing_and_warns_nothing(config, control):
    """A full-table source ends its listing with ACTIVATE_VERSION (for a loader: drop older rows).
    Jobcase objects are never deleted for it -- deletes arrive as `_sdc_deleted_at` records -- and
    the target logs no "not implemented" warning."""
    write(config, messages("jobcase_companies", [COMPANY], "partnerCompanyId"))
    before = control.store("jobcase")
    activate = {"type": "ACTIVATE_VERSION", "stream": "jobcase_companies", "version": 2}
    lines = [*messages("jobcase_companies", [], "partnerCompanyId"), activate, state_message({"done": True})]
    run = run_target(config, lines).check()
    assert "ACTIVATE_VERSION" not in run.stderr.replace("1 activate version messages", "")
    assert "WARNING" not in run.stderr
    assert control.store("jobcase") == before
