"""target-jobsync's Jobcase sinks, run through the real CLI and verified in the sandbox store."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from support import record_message, run_target, schema_message, state_message

from jobsync_common import jobcase as jc
from jobsync_sandbox import configs

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
    summary = json.loads(Path(config["summary_path"]).read_text())
    summary["_run"] = run
    return summary


def writes_logged(control) -> list[str]:
    entries = control.requests(api="jobcase")["entries"]
    return [f"{e['method']} {e['path']}" for e in entries if e["method"] in WRITES]


def campaign_updates(control) -> list[str]:
    """Paths of the writes Jobcase acted on, all campaign updates (PUT or PATCH: a 405 changes nothing)."""
    entries = control.requests(api="jobcase")["entries"]
    writes = [e for e in entries if e["method"] in WRITES and e["status"] != 405]
    assert all(e["method"] in ("PUT", "PATCH") for e in writes), writes
    return [e["path"] for e in writes]


def store_job(control, ad_number: str) -> dict:
    return next(j for j in control.store("jobcase")["jobs"] if j["adNumber"] == ad_number)


def store_company(control, partner_company_id: str) -> list[dict]:
    return [c for c in control.store("jobcase")["companies"] if c["partnerCompanyId"] == partner_company_id]


# -- companies and jobs ---------------------------------------------------------------------------


def test_companies_and_jobs_are_created_then_updated_then_expired(config, control):
    summary = write(
        config,
        messages("jobcase_companies", [COMPANY], "partnerCompanyId"),
        messages("jobcase_jobs", [JOB], "adNumber"),
    )
    assert (summary["jobcase_companies"]["created"], summary["jobcase_jobs"]["created"]) == (1, 1)
    [company] = store_company(control, "PCR-COMPANY-1")
    assert company["companyZipCode"] == "94111" and company["companyContact"]["email"] == "jack@rodeo.example.com"
    job = store_job(control, "PCR-POS-1")
    assert (job["companyId"], job["jobStatus"], job["products"]) == (company["id"], "Active", ["college"])

    renamed = {**COMPANY, "companyName": "Rodeo & Co"}
    retitled = {**JOB, "jobTitle": "Senior Rodeo Clown", "products": ["college", "veterans"]}
    summary = write(
        config,
        messages("jobcase_companies", [renamed], "partnerCompanyId"),
        messages("jobcase_jobs", [retitled], "adNumber"),
    )
    assert (summary["jobcase_companies"]["updated"], summary["jobcase_jobs"]["updated"]) == (1, 1)
    assert store_company(control, "PCR-COMPANY-1")[0]["companyName"] == "Rodeo & Co"
    job = store_job(control, "PCR-POS-1")
    assert job["jobTitle"] == "Senior Rodeo Clown" and sorted(job["products"]) == ["college", "veterans"]
    assert len(control.store("jobcase")["companies"]) == 5  # updated, not duplicated

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
        messages(
            "jobcase_campaigns",
            [{"partnerCompanyId": "PCR-COMPANY-1", "name": "Spring", "budget": 40, "jobs": [1, 2]}],
            "name",
        ),
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


def test_a_create_whose_answer_is_lost_is_found_on_re_read_and_not_sent_again(config, control):
    """The connection drops after Jobcase created the company: before any retry the sink looks it up."""
    control.add_fault(api="jobcase", method="POST", path="^/company/?$", kind="reset", count=1)
    summary = write(config, messages("jobcase_companies", [COMPANY], "partnerCompanyId"))
    assert len(store_company(control, "PCR-COMPANY-1")) == 1
    assert (summary["jobcase_companies"]["created"], summary["jobcase_companies"]["rejected"]) == (1, 0)
    log = control.requests(api="jobcase", method="POST", path="^/company/?$")["entries"]
    assert [e["status"] for e in log] == [201], "never a second POST, never relying on a duplicate 400"


def test_a_job_may_name_its_company_by_partner_company_id(config, control):
    known = {**JOB, "adNumber": "PCR-POS-2", "partnerCompanyId": "PC-000002"}
    unknown = {**JOB, "adNumber": "PCR-POS-3", "partnerCompanyId": "NOT-THERE"}
    dead_letters = config["summary_path"] + ".dead.jsonl"
    summary = write(config, messages("jobcase_jobs", [known, unknown], "adNumber"), dead_letter_path=dead_letters)
    assert store_job(control, "PCR-POS-2")["companyId"] == 2
    assert summary["jobcase_jobs"]["rejected"] == 1
    with open(dead_letters) as dead_letter_file:
        [line] = [json.loads(x) for x in dead_letter_file]
    assert line["key"] == "adNumber='PCR-POS-3'" and "partnerCompanyId 'NOT-THERE'" in line["error"]


@pytest.mark.parametrize("drained_by", ["state", "full_sink"])
def test_jobs_find_companies_sent_in_the_same_batch(config, control, drained_by):
    """No STATE between them: the target writes the companies before the jobs naming them, whether the jobs
    are drained on the STATE with every sink (company creates slowed, so a jobs drain alongside would look
    too early) or early, because the jobs sink filled up while the companies were still waiting."""
    companies = [{**COMPANY, "partnerCompanyId": f"SAME-{n}"} for n in range(6)]
    jobs = [{**JOB, "adNumber": f"SAME-POS-{n}", "partnerCompanyId": f"SAME-{n}"} for n in range(6)]
    if drained_by == "state":
        control.add_fault(api="jobcase", method="POST", path="^/company/$", kind="latency", delay_ms=400, count=6)
        # Each job even comes before its company.
        records = [r for company, job in zip(companies, jobs, strict=True) for r in (job, company)]
    else:
        # Two jobs per company: the jobs sink is full (4 records) while the companies sink holds 2.
        jobs = [{**job, "partnerCompanyId": f"SAME-{n // 2}"} for n, job in enumerate(jobs)]
        config = {**config, "batch_size_rows": 4}
        records = [r for n in range(3) for r in (companies[n], jobs[2 * n], jobs[2 * n + 1])]
    lines = [
        schema_message("jobcase_jobs", {}, ["adNumber"]),
        schema_message("jobcase_companies", {}, ["partnerCompanyId"]),
        *(record_message("jobcase_jobs" if "adNumber" in r else "jobcase_companies", r) for r in records),
        state_message({"all": "done"}),
    ]
    run_target(config, lines).check()
    store = control.store("jobcase")
    company_ids = {c["partnerCompanyId"]: c["id"] for c in store["companies"]}
    assert {j["adNumber"]: j["companyId"] for j in store["jobs"] if j["adNumber"].startswith("SAME-")} == {
        job["adNumber"]: company_ids[job["partnerCompanyId"]] for job in jobs
    }


def test_a_job_without_its_required_fields_is_rejected_before_any_call(config, control):
    control.clear_requests()
    run = run_target(config, [*messages("jobcase_jobs", [{"adNumber": "X-1", "companyId": 1}], "adNumber")])
    assert run.returncode != 0
    assert "adNumber='X-1'" in run.stderr and "jobTitle" in run.stderr
    assert writes_logged(control) == []


# -- campaigns ------------------------------------------------------------------------------------


TOP_UP = {"jobcase_budget_updates": "top_up", "jobcase_max_budget_added_per_run": 100}


def test_campaign_budget_is_topped_up_to_the_total_never_added_twice(config, control):
    campaign = {"companyId": 1, "name": "Campaign 1", "budget": 60, "aggressiveness": 40}
    seeded = next(c for c in control.store("jobcase")["campaigns"] if c["id"] == 1)
    assert seeded["budget"] == 20
    control.clear_requests()
    assert (
        write(config, messages("jobcase_campaigns", [campaign], "name"), **TOP_UP)["jobcase_campaigns"]["updated"] == 1
    )
    assert (
        write(config, messages("jobcase_campaigns", [campaign], "name"), **TOP_UP)["jobcase_campaigns"]["unchanged"]
        == 1
    )
    updated = next(c for c in control.store("jobcase")["campaigns"] if c["id"] == 1)
    assert (updated["budget"], updated["aggressiveness"]) == (60, 40)
    assert campaign_updates(control) == ["/campaign/1/"]


def test_a_budget_top_up_whose_answer_is_lost_is_not_sent_again(config, control):
    """Jobcase applies the addBudget PUT, then the connection drops: the retry would add it twice."""
    control.add_fault(api="jobcase", method="PUT", path="^/campaign/1/?$", kind="reset", count=1)
    campaign = {"companyId": 1, "name": "Campaign 1", "budget": 60}
    assert (
        write(config, messages("jobcase_campaigns", [campaign], "name"), **TOP_UP)["jobcase_campaigns"]["updated"] == 1
    )
    assert next(c for c in control.store("jobcase")["campaigns"] if c["id"] == 1)["budget"] == 60
    assert campaign_updates(control) == ["/campaign/1/"]


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


# -- exactly-once writes: a lost answer never makes a second object, nor a second top-up ------------------


@pytest.mark.parametrize(
    ("stream", "record", "key", "path", "count"),
    [
        (
            "jobcase_jobs",
            {**JOB, "partnerCompanyId": "PC-000001"},
            "adNumber",
            "^/job/?$",
            lambda s: [j for j in s["jobs"] if j["adNumber"] == "PCR-POS-1"],
        ),
        (
            "jobcase_campaigns",
            {"companyId": 2, "name": "Autumn", "budget": 30},
            "name",
            "^/campaign/?$",
            lambda s: [c for c in s["campaigns"] if c["name"] == "Autumn"],
        ),
    ],
    ids=["job", "campaign"],
)
@pytest.mark.parametrize("uniqueness", ["enforced", "partner_company_id_only"])
def test_a_create_whose_answer_is_lost_makes_exactly_one_object_counted_created(
    config, control, stream, record, key, path, count, uniqueness
):
    """Whether or not Jobcase would refuse a duplicate adNumber or campaign name: the sink looks before retrying."""
    control.set_readings("jobcase", uniqueness=uniqueness)
    control.add_fault(api="jobcase", method="POST", path=path, kind="reset", count=1)
    summary = write(config, messages(stream, [record], key))
    assert len(count(control.store("jobcase"))) == 1
    assert (summary[stream]["created"], summary[stream]["updated"], summary[stream]["rejected"]) == (1, 0, 0)
    posts = control.requests(api="jobcase", method="POST", path=path)["entries"]
    assert len(posts) == 1, "the create is looked up before any retry, never sent twice"


def test_job_products_whose_answer_is_lost_are_not_posted_again(config, control):
    job = next(j for j in control.store("jobcase")["jobs"] if j["jobStatus"] == "Active")
    fields = ("adNumber", "companyId", "jobTitle", "jobDescription", "jobCity", "jobState", "jobZipCode")
    record = {**{k: job[k] for k in fields}, "products": ["veterans", "college"]}
    path = f"^/job/{job['id']}/products/?$"
    method = "PUT" if control.reading("jobcase", "products_method") == "PUT" else "POST"  # the one that writes
    control.add_fault(api="jobcase", method=method, path=path, kind="reset", count=1)
    summary = write(config, messages("jobcase_jobs", [record], "adNumber"))
    assert summary["jobcase_jobs"]["updated"] == 1
    assert sorted(store_job(control, job["adNumber"])["products"]) == ["college", "veterans"]
    assert len(control.requests(api="jobcase", method=method, path=path)["entries"]) == 1


def test_a_target_killed_right_after_a_create_then_rerun_leaves_one_job(config, control, sandbox, tmp_path):
    """kill -9 between Jobcase applying the POST and the target reading the answer, then the same input."""
    import signal
    import subprocess
    import sys
    import time

    record = {**JOB, "adNumber": "KILLED-1", "partnerCompanyId": "PC-000001"}
    lines = [*messages("jobcase_jobs", [record], "adNumber"), state_message({"batch": 1})]
    # Jobcase applies the create but its answer is cut short; the target is killed while it checks (the
    # re-listing before a retry hangs), before it knows whether its create took effect.
    control.add_fault(api="jobcase", method="POST", path="^/job/?$", kind="truncate", count=1)
    relisting = sandbox.add_fault(api="jobcase", method="GET", path="^/job/?$", kind="hang", delay_ms=5000, skip=2)
    (tmp_path / "target.json").write_text(json.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "target_jobsync.target", "--config", str(tmp_path / "target.json")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write("".join(json.dumps(m) + "\n" for m in lines))
    proc.stdin.close()
    deadline = time.monotonic() + 30
    while not relisting.fired:
        assert time.monotonic() < deadline, "the target never re-listed the jobs"
        time.sleep(0.01)
    assert [j for j in sandbox.apis["jobcase"].dump()["jobs"] if j["adNumber"] == "KILLED-1"], "the create was applied"
    proc.send_signal(signal.SIGKILL)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    proc.wait(timeout=30)
    assert stdout == "", "killed before its answer: nothing was confirmed"
    sandbox.clear_faults()
    summary = write(config, messages("jobcase_jobs", [record], "adNumber"))
    assert len([j for j in control.store("jobcase")["jobs"] if j["adNumber"] == "KILLED-1"]) == 1
    assert summary["jobcase_jobs"]["created"] == 0


# -- the spend guard ---------------------------------------------------------------------------------------


def test_budget_top_ups_are_off_by_default_and_never_call_add_budget(config, control):
    campaign = {"companyId": 1, "name": "Campaign 1", "budget": 60}
    summary = write(config, messages("jobcase_campaigns", [campaign], "name"))
    assert summary["jobcase_campaigns"]["unchanged"] == 1
    assert next(c for c in control.store("jobcase")["campaigns"] if c["id"] == 1)["budget"] == 20
    assert writes_logged(control) == []
    assert "not topped up (`jobcase_budget_updates` is 'off')" in summary["_run"].stderr


def test_top_ups_beyond_the_per_run_cap_are_refused_naming_the_campaign_and_cap(config, control, tmp_path):
    dead = tmp_path / "dead.jsonl"
    campaigns = [
        {"companyId": 1, "name": "Campaign 1", "budget": 60},
        {"companyId": 2, "name": "Campaign 2", "budget": 60},
    ]
    summary = write(
        config,
        messages("jobcase_campaigns", campaigns, "name"),
        jobcase_budget_updates="top_up",
        jobcase_max_budget_added_per_run=50,
        dead_letter_path=str(dead),
    )
    assert (summary["jobcase_campaigns"]["updated"], summary["jobcase_campaigns"]["rejected"]) == (1, 1)
    [line] = [json.loads(x) for x in dead.read_text().splitlines()]
    assert (
        "Campaign 2" in line["error"]
        and "jobcase_max_budget_added_per_run" in line["error"]
        and "(50)" in line["error"]
    )


@pytest.mark.parametrize("meaning", ["total", "remaining"])
def test_with_top_ups_off_no_add_budget_is_ever_sent_whatever_budget_means(config, control, meaning):
    control.api_control("jobcase", "readings", {"campaign_budget": meaning})
    control.api_control("jobcase", "spend", {"campaign_id": 1, "amount": 5})
    campaigns = [
        {"companyId": 1, "name": "Campaign 1", "budget": 60},
        {"companyId": 2, "name": "Campaign 2", "budget": 90},
    ]
    write(config, messages("jobcase_campaigns", campaigns, "name"))
    assert writes_logged(control) == []


def test_top_up_refuses_a_campaign_whose_budget_reads_as_what_remains(config, control, tmp_path):
    """Under the other meaning (budget = what remains), topping up to the record's total would spend again."""
    dead = tmp_path / "dead.jsonl"
    control.api_control("jobcase", "readings", {"campaign_budget": "remaining"})
    control.api_control("jobcase", "spend", {"campaign_id": 1, "amount": 5})
    campaigns = [
        {"companyId": 1, "name": "Campaign 1", "budget": 60},
        {"companyId": 2, "name": "Campaign 2", "budget": 90},
    ]
    summary = write(config, messages("jobcase_campaigns", campaigns, "name"), **TOP_UP, dead_letter_path=str(dead))
    assert writes_logged(control) == [], "no addBudget once the guard saw budget is not the running total"
    assert summary["jobcase_campaigns"]["rejected"] == 2
    first, second = [json.loads(line) for line in dead.read_text().splitlines()]
    assert re.search(r"budget (\d+) is not budgetRemaining \1 \+ budgetSpent \d+", first["error"]), first["error"]
    assert "budget top-ups stopped earlier in this run" in second["error"]


def test_a_top_up_that_does_not_move_the_budget_by_exactly_the_amount_stops_all_top_ups(
    config, control, sandbox, tmp_path
):
    """The campaign spends while the top-up lands (budget = what remains): 40 sent, 37 seen; nothing more is added."""
    import threading

    dead = tmp_path / "dead.jsonl"
    control.api_control("jobcase", "readings", {"campaign_budget": "remaining"})
    fresh = [{"companyId": 1, "name": "Fresh", "budget": 20}, {"companyId": 2, "name": "Campaign 2", "budget": 90}]
    write(config, messages("jobcase_campaigns", fresh[:1], "name"))  # created with 20, nothing spent yet
    fresh_id = next(c["id"] for c in control.store("jobcase")["campaigns"] if c["name"] == "Fresh")
    control.clear_requests()
    # The check after the top-up is slow; the campaign spends 3 in the meantime.
    check = sandbox.add_fault(
        api="jobcase", method="GET", path=f"^/campaign/{fresh_id}/$", kind="latency", delay_ms=600
    )

    def spend_during_the_check() -> None:
        while not check.fired:
            time.sleep(0.01)
        with sandbox.apis["jobcase"].lock:
            sandbox.apis["jobcase"].control("spend", {"campaign_id": fresh_id, "amount": 3})

    spender = threading.Thread(target=spend_during_the_check, daemon=True)
    spender.start()
    campaigns = [{**fresh[0], "budget": 60}, fresh[1]]
    summary = write(
        config, messages("jobcase_campaigns", campaigns, "name"), **TOP_UP, max_workers=1, dead_letter_path=str(dead)
    )
    spender.join(timeout=10)
    assert campaign_updates(control) == [f"/campaign/{fresh_id}/"], "one top-up, then none"
    assert summary["jobcase_campaigns"]["rejected"] == 2
    first, second = [json.loads(line) for line in dead.read_text().splitlines()]
    assert "addBudget 40 sent, but its budget went from 20 to 57" in first["error"]
    assert "budget top-ups stopped earlier in this run" in second["error"]


def test_top_up_without_a_cap_fails_naming_the_setting(config):
    run = run_target(
        {**config, "jobcase_budget_updates": "top_up"},
        messages("jobcase_campaigns", [{"companyId": 1, "name": "Campaign 1", "budget": 60}], "name"),
    )
    assert run.returncode != 0
    assert "`jobcase_max_budget_added_per_run`" in run.stderr.strip().splitlines()[-1]


# -- configuration errors fail the run; the service throttle holds every worker -------------------------


def test_a_mistyped_base_url_fails_at_once_with_no_state_and_no_dead_letters(config, tmp_path):
    dead = tmp_path / "dead.jsonl"
    wrong = config[jc.SERVICE.base_url_setting].replace("/v1", "/v2")
    run = run_target(
        {**config, jc.SERVICE.base_url_setting: wrong, "dead_letter_path": str(dead)},
        [*messages("jobcase_companies", [COMPANY], "partnerCompanyId"), state_message({"batch": 1})],
    )
    assert run.returncode != 0
    assert run.stdout.strip() == ""
    assert not dead.exists() or dead.read_text() == ""
    last = run.stderr.strip().splitlines()[-1]
    assert "answered HTTP 404" in last and f"`{jc.SERVICE.base_url_setting}`" in last


def test_after_a_429_no_worker_sends_to_jobcase_before_the_retry_after_window_ends(config, control):
    companies = [{**COMPANY, "partnerCompanyId": f"THROTTLE-{n}"} for n in range(12)]
    control.add_fault(
        api="jobcase", method="POST", path="^/company/?$", kind="status", status=429, retry_after=1, skip=2
    )
    summary = write(config, messages("jobcase_companies", companies, "partnerCompanyId"), max_workers=4)
    assert summary["jobcase_companies"]["created"] == 12
    entries = control.requests(api="jobcase")["entries"]
    throttled = next(e["time"] for e in entries if e["status"] == 429)  # when the 429 was answered
    # A request sent in the instant before the 429's answer reached the target was already on the wire.
    on_the_wire = 0.1
    inside = [round(e["arrived"] - throttled, 2) for e in entries if on_the_wire < e["arrived"] - throttled < 1.0]
    assert inside == [], f"requests Jobcase received inside the 1 s Retry-After window: {inside}"


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
    summary = write(
        config, messages("jobcase_companies", companies, "partnerCompanyId"), jobcase_requests_per_minute=300
    )
    assert summary["jobcase_companies"]["created"] == 24
    log = control.requests(api="jobcase")
    assert log["total"] > 20
    assert [e for e in log["entries"] if e["status"] == 429] == []


def test_a_wrong_api_key_fails_naming_the_setting_without_showing_it(config):
    run = run_target(
        {**config, jc.API_KEY_SETTING: "wrong-key-456"}, messages("jobcase_companies", [COMPANY], "partnerCompanyId")
    )
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


# -- readings of what the document leaves open ----------------------------------------------------


DOCUMENTED = {"job_statuses": "active,expired", "campaign_statuses": "active,paused,ended"}


def campaign_records(control, *ids: int, **fields) -> list[dict]:
    campaigns = {c["id"]: c for c in control.store("jobcase")["campaigns"]}
    return [{"companyId": campaigns[i]["companyId"], "name": campaigns[i]["name"], **fields} for i in ids]


@pytest.mark.parametrize(("update_method", "products_method"), [("PUT", "POST"), ("PATCH", "PUT"), ("both", "both")])
def test_updates_and_products_use_the_method_jobcase_takes_found_by_one_405_and_remembered(
    config, control, update_method, products_method
):
    """The document shows no method for updates (PUT or PATCH) nor for a job's products (POST or PUT)."""
    control.set_readings("jobcase", update_method=update_method, products_method=products_method, **DOCUMENTED)
    companies = [{**COMPANY, "partnerCompanyId": f"M-{n}"} for n in range(2)]
    jobs = [{**JOB, "adNumber": f"M-POS-{n}", "partnerCompanyId": f"M-{n}"} for n in range(2)]
    write(
        config, messages("jobcase_companies", companies, "partnerCompanyId"), messages("jobcase_jobs", jobs, "adNumber")
    )

    renamed = [{**c, "companyName": f"Renamed {n}"} for n, c in enumerate(companies)]
    retitled = [{**j, "jobTitle": "Chief Clown", "products": ["college", "veterans"]} for j in jobs]
    campaigns = campaign_records(control, 1, 2, aggressiveness=50)
    paused = campaign_records(control, 4, _sdc_deleted_at="2030-01-01T00:00:00Z")
    batches = (
        messages("jobcase_companies", renamed, "partnerCompanyId"),
        messages("jobcase_jobs", retitled, "adNumber"),
        messages("jobcase_campaigns", campaigns + paused, "name"),
    )
    control.clear_requests()
    summary = write(config, *batches, max_workers=1)
    assert [summary[s]["updated"] for s in ("jobcase_companies", "jobcase_jobs", "jobcase_campaigns")] == [2, 2, 2]
    assert summary["jobcase_campaigns"]["deleted"] == 1
    store = control.store("jobcase")
    names = {c["companyName"] for c in store["companies"] if c["partnerCompanyId"].startswith("M-")}
    assert names == {"Renamed 0", "Renamed 1"}
    for job in (store_job(control, f"M-POS-{n}") for n in range(2)):
        assert job["jobTitle"] == "Chief Clown" and sorted(job["products"]) == ["college", "veterans"]
    by_id = {c["id"]: c for c in store["campaigns"]}
    assert (by_id[1]["aggressiveness"], by_id[2]["aggressiveness"], by_id[4]["status"]) == (50, 50, "Paused")
    # One 405 per kind of write when the first guess is wrong, then the method that worked.
    entries = control.requests(api="jobcase")["entries"]
    refusals = [f"{e['method']} {e['path'].split('/')[1]}" for e in entries if e["status"] == 405]
    expected = (["PUT company", "PUT job", "PUT campaign"] if update_method == "PATCH" else []) + (
        ["POST job"] if products_method == "PUT" else []
    )
    assert sorted(refusals) == sorted(expected)
    assert summary["_run"].stderr.count("answered HTTP 405") == len(expected)
    if expected:
        assert "are sent as" in summary["_run"].stderr and "for the rest of this run" in summary["_run"].stderr

    control.clear_requests()
    write(config, *batches)
    assert writes_logged(control) == []


def test_an_update_neither_put_nor_patch_reaches_fails_at_once_naming_both(config, control, tmp_path):
    write(config, messages("jobcase_companies", [COMPANY], "partnerCompanyId"))
    for method in ("PUT", "PATCH"):
        control.add_fault(api="jobcase", method=method, path=r"^/company/\d+/$", status=405, count=10)
    dead = tmp_path / "dead.jsonl"
    renamed = {**COMPANY, "companyName": "Nobody Home"}
    lines = [*messages("jobcase_companies", [renamed], "partnerCompanyId"), state_message({"b": 1})]
    run = run_target({**config, "dead_letter_path": str(dead)}, lines)
    assert run.returncode != 0 and run.stdout.strip() == ""
    last = run.stderr.strip().splitlines()[-1]
    assert "PUT and PATCH" in last and "both answered HTTP 405" in last and "company updates cannot be sent" in last
    assert not dead.exists() or dead.read_text() == ""


INACTIVE = {"job_statuses": "active,inactive", "campaign_statuses": "active,inactive"}


def test_a_status_jobcase_refuses_stops_the_target_before_any_write_naming_the_setting(config, control):
    """An object in a status the index cannot list would look absent and be created a second time."""
    control.set_readings("jobcase", **INACTIVE)
    control.clear_requests()
    job = {**JOB, "partnerCompanyId": "PC-000001"}
    run = run_target(config, [*messages("jobcase_jobs", [job], "adNumber"), state_message({"b": 1})])
    assert run.returncode != 0 and run.stdout.strip() == ""
    last = run.stderr.strip().splitlines()[-1]
    assert "`expired` is not a job status" in last and "Set `jobcase_statuses`" in last
    assert "avoid creating it twice" in last
    assert writes_logged(control) == []


def test_with_the_statuses_jobcase_takes_jobs_and_campaigns_are_matched_in_every_status(config, control):
    control.set_readings("jobcase", **INACTIVE)
    statuses = {"jobcase_statuses": {"jobs": ["active", "inactive"], "campaigns": ["active", "inactive"]}}
    inactive_job = next(j for j in control.store("jobcase")["jobs"] if j["jobStatus"] == "Inactive")
    fields = ("adNumber", "companyId", "jobTitle", "jobDescription", "jobCity", "jobState", "jobZipCode")
    comeback = {k: inactive_job[k] for k in fields}
    active = next(c["id"] for c in control.store("jobcase")["campaigns"] if c["status"] == "Active")
    paused = campaign_records(control, active, _sdc_deleted_at="2030-01-01T00:00:00Z")
    summary = write(
        config,
        messages("jobcase_jobs", [comeback], "adNumber"),
        messages("jobcase_campaigns", paused, "name"),
        **statuses,
    )
    assert (summary["jobcase_jobs"]["updated"], summary["jobcase_jobs"]["created"]) == (1, 0)
    assert store_job(control, inactive_job["adNumber"])["jobStatus"] == "Active"  # un-expired, not copied
    assert summary["jobcase_campaigns"]["deleted"] == 1
    gone = {"adNumber": inactive_job["adNumber"], "_sdc_deleted_at": "2030-01-01T00:00:00Z"}
    assert write(config, messages("jobcase_jobs", [gone], "adNumber"), **statuses)["jobcase_jobs"]["deleted"] == 1
    control.clear_requests()
    # An Inactive campaign whose end date is ahead is a paused one: asking for that again changes nothing.
    still_paused = campaign_records(control, active, isPaused=True)
    again = write(
        config,
        messages("jobcase_jobs", [gone], "adNumber"),
        messages("jobcase_campaigns", paused + still_paused, "name"),
        **statuses,
    )
    assert (again["jobcase_jobs"]["unchanged"], again["jobcase_campaigns"]["unchanged"]) == (1, 2)
    assert writes_logged(control) == []
    assert control.store("jobcase")["counts"]["jobs"] == 20
