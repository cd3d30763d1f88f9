"""target-jobsync's `workable_candidates` sink, run as the real CLI against the Workable sandbox."""

from __future__ import annotations

import base64
import json
import re
import typing as t

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import record_message, run_target, schema_message, state_message

from jobsync_sandbox import Sandbox
from jobsync_sandbox.apis.workable import WorkableAPI
from target_jobsync.workable import plan_update, to_payload

STREAM = "workable_candidates"


@pytest.fixture(autouse=True)
def fresh(control):
    """Five seeded candidates, no server-side rate limit unless a test sets one."""
    control.reset(seed=1, sizes={"workable": {"candidates": 5}})
    control.api_control("workable", "rate_limit", {"limit": 0})


@pytest.fixture
def config(sandbox, credentials) -> dict[str, t.Any]:
    """What a Workable-only user configures, pointed at the sandbox (no client pacing: tests stay fast)."""
    workable = credentials["workable"]
    return {
        "workable_subdomain": workable["subdomain"],
        "workable_api_token": workable["api_token"],
        "workable_base_url": sandbox.base_urls["workable"],
        "workable_requests_per_minute": 0,
        "retry_backoff_seconds": 0.05,
        "retry_max_backoff_seconds": 0.5,
    }


def messages(*records: dict) -> list[dict]:
    return [
        schema_message(STREAM, {"id": {"type": ["string", "null"]}, "email": {"type": ["string", "null"]}}),
        *(record_message(STREAM, r) for r in records),
        state_message({"bookmarks": {"upstream": {"replication_key_value": "2024-06-01"}}}),
    ]


def candidates(control) -> list[dict]:
    return control.store("workable")["candidates"]


def write_calls(control) -> int:
    return control.requests(api="workable", method="PATCH")["total"]


def summary_of(run) -> dict:
    line = next(line for line in run.stderr.splitlines() if f"Summary {STREAM}:" in line)
    return json.loads(line.split(f"Summary {STREAM}: ", 1)[1])


def dead_letters(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- merge vs replace ----------------------------------------------------------------------------------
def test_merge_mode_adds_an_experience_entry_and_keeps_the_others(config, control):
    before = candidates(control)[0]
    new_job = {"title": "Head of Sales", "company": "Globex", "start_date": "2024-03-01T00:00:00Z", "current": True}
    run = run_target(config, messages({"id": before["id"], "experience_entries": [new_job]})).check()
    after = candidates(control)[0]
    assert after["experience_entries"][: len(before["experience_entries"])] == before["experience_entries"]
    added = after["experience_entries"][-1]
    assert (added["title"], added["company"], added["start_date"], added["current"]) == (
        "Head of Sales", "Globex", "2024-03-01", True,
    )  # fmt: skip
    assert len(after["experience_entries"]) == len(before["experience_entries"]) + 1
    assert summary_of(run)["updated"] == 1
    # The target emits the state (as a bare JSON line) once the write is confirmed.
    assert run.messages[-1] == {"bookmarks": {"upstream": {"replication_key_value": "2024-06-01"}}}


def test_merge_mode_matches_entries_by_natural_key_instead_of_duplicating(config, control):
    before = candidates(control)[0]
    job = before["experience_entries"][0]
    # Same title and company, no start date known upstream: the same job, now ended.
    ended = {"title": job["title"].upper(), "company": job["company"], "end_date": "2024-05-31", "current": False}
    record = {"id": before["id"], "experience_entries": [ended]}
    run_target(config, messages(record)).check()
    after = candidates(control)[0]
    assert len(after["experience_entries"]) == len(before["experience_entries"])
    assert after["experience_entries"][0] == {**job, "end_date": "2024-05-31", "current": False}


def test_merge_mode_adds_tags_skills_and_profiles_without_dropping_any(config, control):
    before = candidates(control)[0]
    record = {
        "id": before["id"],
        "tags": ["job-changer"],
        "skills": ["Forecasting"],
        "social_profiles": [{"type": "github", "url": "https://github.com/someone"}],
    }
    run_target(config, messages(record)).check()
    after = candidates(control)[0]
    assert after["tags"] == [*before["tags"], "job-changer"]
    assert after["skills"] == [*before["skills"], {"name": "Forecasting"}]
    assert after["social_profiles"][:-1] == before["social_profiles"]
    assert after["social_profiles"][-1]["type"] == "github"


def test_replace_mode_makes_the_lists_exactly_the_record(config, control):
    before = candidates(control)[0]
    assert len(before["experience_entries"]) >= 1
    record = {
        "id": before["id"],
        "experience_entries": [{"title": "Head of Sales", "company": "Globex"}],
        "tags": ["only"],
    }
    run_target({**config, "workable_array_mode": "replace"}, messages(record)).check()
    after = candidates(control)[0]
    assert [(e["title"], e["company"]) for e in after["experience_entries"]] == [("Head of Sales", "Globex")]
    assert after["tags"] == ["only"]
    assert after["education_entries"] == before["education_entries"]  # keys the record leaves out stay


# -- finding the candidate --------------------------------------------------------------------------------
def test_update_by_id_changes_only_what_the_record_says(config, control):
    before = candidates(control)[1]
    run_target(config, messages({"id": before["id"], "headline": "VP Sales at Globex", "phone": None})).check()
    after = candidates(control)[1]
    assert after["headline"] == "VP Sales at Globex"
    assert after["phone"] == before["phone"]  # a null never erases a Workable value
    assert after["experience_entries"] == before["experience_entries"]


def test_a_record_without_id_is_matched_by_email(config, control):
    target = candidates(control)[2]
    run_target(config, messages({"email": target["email"].upper(), "headline": "Found by email"})).check()
    assert candidates(control)[2]["headline"] == "Found by email"
    assert candidates(control)[2]["email"] == target["email"]  # the case-only difference is not a change


def test_unknown_email_is_dead_lettered_with_the_reason(config, control, tmp_path):
    dead = tmp_path / "dead.jsonl"
    run = run_target(
        {**config, "dead_letter_path": str(dead)}, messages({"email": "ghost@example.org", "headline": "x"})
    )
    run.check()
    [letter] = dead_letters(dead)
    assert letter["stream"] == STREAM
    assert "no Workable candidate has the email 'ghost@example.org'" in letter["error"]
    assert letter["record"]["email"] == "ghost@example.org"
    assert write_calls(control) == 0


def test_unknown_email_without_dead_letter_path_fails_the_run_naming_the_record(config, control):
    run = run_target(config, messages({"email": "ghost@example.org", "headline": "x"}))
    assert run.returncode != 0
    error = [line for line in run.stderr.splitlines() if "target-jobsync: error:" in line]
    assert len(error) == 1
    assert "ghost@example.org" in error[0]
    assert "dead_letter_path" in error[0]
    assert run.messages == []  # nothing confirmed, no state emitted


def test_an_email_shared_by_several_candidates_is_rejected_as_ambiguous(config, control, tmp_path):
    first = candidates(control)[0]
    twin = control.api_control("workable", "add_candidate", {"email": first["email"]})["candidate"]
    dead = tmp_path / "dead.jsonl"
    run_target({**config, "dead_letter_path": str(dead)}, messages({"email": first["email"], "headline": "x"})).check()
    [letter] = dead_letters(dead)
    assert "ambiguous" in letter["error"]
    assert first["id"] in letter["error"]
    assert twin["id"] in letter["error"]
    assert write_calls(control) == 0


def test_unknown_id_is_dead_lettered(config, control, tmp_path):
    dead = tmp_path / "dead.jsonl"
    run_target({**config, "dead_letter_path": str(dead)}, messages({"id": "deadbeef99", "headline": "x"})).check()
    [letter] = dead_letters(dead)
    assert "no Workable candidate has the id 'deadbeef99'" in letter["error"]


# -- rejections ---------------------------------------------------------------------------------------------
def test_a_422_from_workable_is_dead_lettered_with_the_apis_error_text(config, control, tmp_path):
    before = candidates(control)[0]
    dead = tmp_path / "dead.jsonl"
    record = {"id": before["id"], "experience_entries": [{"title": "CTO", "start_date": "2024-13-01"}]}
    run_target({**config, "dead_letter_path": str(dead)}, messages(record)).check()
    [letter] = dead_letters(dead)
    assert letter["status"] == 422
    assert "PATCH" in letter["endpoint"]
    assert re.search(r"experience_entries\[\d+\]\.start_date must be a date", letter["error"])
    assert candidates(control)[0] == before


def test_records_workable_cannot_take_are_refused_before_any_call(config, control, tmp_path):
    cid = candidates(control)[0]["id"]
    dead = tmp_path / "dead.jsonl"
    records = [
        {"headline": "no key"},
        {"id": cid, "resume": {"name": "cv.pdf", "data": "not base64!"}},
        {"id": cid, "social_profiles": [{"type": "friendster", "url": "https://x.example"}]},
        {"id": cid, "favourite_colour": "blue"},
    ]
    run = run_target({**config, "dead_letter_path": str(dead)}, messages(*records)).check()
    errors = [letter["error"] for letter in dead_letters(dead)]
    assert "needs `id` or `email`" in errors[0]
    assert "`resume.data` is not valid base64" in errors[1]
    assert "social_profiles/0/type" in errors[2]
    assert "favourite_colour" in errors[3]
    assert summary_of(run)["api_calls"] == 0


def test_a_deleted_record_is_dead_lettered_because_workable_has_no_delete(config, control, tmp_path):
    before = candidates(control)[0]
    dead = tmp_path / "dead.jsonl"
    record = {"id": before["id"], "headline": "gone", "_sdc_deleted_at": "2024-06-01T00:00:00Z"}
    run_target({**config, "dead_letter_path": str(dead)}, messages(record)).check()
    [letter] = dead_letters(dead)
    assert "no candidate delete" in letter["error"]
    assert candidates(control)[0] == before


# -- idempotency, dry run, files -------------------------------------------------------------------------------
def test_the_same_input_twice_writes_once(config, control):
    people = candidates(control)
    no_resume = next(c for c in people if not c["resume_url"])
    records = [
        {
            "email": people[0]["email"],
            "headline": "Director at Globex",
            "experience_entries": [{"title": "Director", "company": "Globex", "start_date": "2024-01-01"}],
            "education_entries": [{"school": "MIT", "degree": "MBA", "start_date": "2020-09-01"}],
            "tags": ["job-changer"],
            "skills": [{"name": "Forecasting"}],
            "social_profiles": [{"type": "twitter", "username": "dir", "url": "https://twitter.com/dir"}],
        },
        {
            "id": no_resume["id"],
            "texting_consent": "forced",
            "resume": {"name": "cv.pdf", "data": base64.b64encode(b"%PDF-1.4").decode()},
        },
    ]
    first = run_target(config, messages(*records)).check()
    assert summary_of(first)["updated"] == 2
    store = candidates(control)
    control.clear_requests()
    second = run_target(config, messages(*records)).check()
    assert write_calls(control) == 0
    assert candidates(control) == store
    assert summary_of(second)["unchanged"] == 2


def test_merge_mode_keeps_an_existing_resume_and_replace_mode_overwrites_it(config, control):
    with_resume = next(c for c in candidates(control) if c["resume_url"])
    record = {"id": with_resume["id"], "resume_url": "https://cdn.example.com/new.pdf"}
    run = run_target(config, messages(record)).check()
    assert summary_of(run)["unchanged"] == 1
    assert next(c for c in candidates(control) if c["id"] == with_resume["id"]) == with_resume
    run_target({**config, "workable_array_mode": "replace"}, messages(record)).check()
    after = next(c for c in candidates(control) if c["id"] == with_resume["id"])
    assert after["resume_file"]["url"] == "https://cdn.example.com/new.pdf"


def test_dry_run_reads_but_never_writes(config, control, tmp_path):
    before = candidates(control)
    summary_file = tmp_path / "summary.json"
    record = {"id": before[0]["id"], "headline": "would change"}
    run_target({**config, "dry_run": True, "summary_path": str(summary_file)}, messages(record)).check()
    assert write_calls(control) == 0
    assert candidates(control) == before
    summary = json.loads(summary_file.read_text())
    assert summary["_dry_run"] is True
    assert summary[STREAM]["updated"] == 1


# -- HTTP behaviour ---------------------------------------------------------------------------------------------
def test_429_retry_after_is_honoured_and_every_record_lands(config, control):
    """Workable answers 429 past its limit; the target waits as told and carries on."""
    control.api_control("workable", "rate_limit", {"limit": 2, "window_seconds": 1})
    people = candidates(control)[:3]
    records = [{"id": c["id"], "headline": f"Paced {n}"} for n, c in enumerate(people)]
    run = run_target({**config, "max_workers": 1}, messages(*records)).check()
    assert [c["headline"] for c in candidates(control)[:3]] == ["Paced 0", "Paced 1", "Paced 2"]
    refused = [e for e in control.requests(api="workable")["entries"] if e["status"] == 429]
    waits = [float(w) for w in re.findall(r"HTTP 429[^;]*; retry \d+ in ([\d.]+)s", run.stderr)]
    assert refused
    assert len(waits) == len(refused)
    # The sandbox sent Retry-After: 1; the configured back-off alone would wait at most 0.5 s.
    assert all(wait >= 1.0 for wait in waits)


def test_a_patch_retried_after_a_lost_response_adds_the_entry_once(config, control):
    """The first PATCH takes effect but its answer is cut off; Workable's PUT semantics make the retry safe."""
    before = candidates(control)[0]
    control.add_fault(api="workable", kind="reset", method="PATCH", count=1)
    record = {"id": before["id"], "experience_entries": [{"title": "Head of Sales", "company": "Globex"}]}
    run_target(config, messages(record)).check()
    after = candidates(control)[0]
    assert [e["title"] for e in after["experience_entries"]].count("Head of Sales") == 1
    assert len(after["experience_entries"]) == len(before["experience_entries"]) + 1
    assert control.requests(api="workable", method="PATCH")["total"] == 2


def test_401_fails_with_one_line_naming_the_token_setting_and_never_the_token(config, control):
    secret = "wrong-secret-token-12345"
    record = {"id": candidates(control)[0]["id"], "headline": "x"}
    run = run_target({**config, "workable_api_token": secret}, messages(record))
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert "HTTP 401" in errors[0]
    assert "`workable_api_token`" in errors[0]
    assert "Traceback" not in run.stderr
    assert secret not in run.stderr + run.stdout


def test_a_wrong_account_url_fails_once_naming_the_setting_instead_of_dead_lettering_everything(
    config, sandbox, tmp_path
):
    dead = tmp_path / "dead.jsonl"
    wrong = {**config, "workable_base_url": sandbox.url + "/workable/spi/v2", "dead_letter_path": str(dead)}
    run = run_target(wrong, messages({"id": "10000000", "headline": "x"}, {"email": "a@example.com"}))
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert "HTTP 404" in errors[0]
    assert "`workable_subdomain`" in errors[0]
    assert not dead.exists()


def test_without_subdomain_or_base_url_the_run_fails_naming_both_settings(config, control):
    config = {k: v for k, v in config.items() if k not in {"workable_subdomain", "workable_base_url"}}
    run = run_target(config, messages({"id": candidates(control)[0]["id"], "headline": "x"}))
    assert run.returncode != 0
    [error] = [line for line in run.stderr.splitlines() if "error:" in line]
    assert "`workable_subdomain`" in error
    assert "`workable_base_url`" in error


# -- the merge planner against the simulator's PATCH semantics (no HTTP) ---------------------------------------
_text = st.sampled_from(["Nurse", "nurse", "CTO", "Hooli", "Acme", "", None])
_date = st.sampled_from([None, "2021-11-01", "2018-04-01", "2024-01-01T00:00:00Z"])
_experience = st.fixed_dictionaries(
    {"title": st.sampled_from(["Nurse", "NURSE", "CTO", "Office Manager"])},
    optional={"company": _text, "start_date": _date, "end_date": _date, "current": st.booleans(), "industry": _text},
)
_education = st.fixed_dictionaries(
    {"school": st.sampled_from(["MIT", "University of Chicago", "city college"])},
    optional={"degree": st.sampled_from(["MBA", "B.S.", None]), "start_date": _date},
)
_profile = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["linkedin", "twitter", "github"]),
        "url": st.sampled_from(["https://a.example", "https://b.example"]),
    },
    optional={"username": _text},
)
_record = st.fixed_dictionaries(
    {},
    optional={
        "headline": _text,
        "texting_consent": st.sampled_from(["forced", "declined", None]),
        "experience_entries": st.lists(_experience, max_size=3),
        "education_entries": st.lists(_education, max_size=2),
        "social_profiles": st.lists(_profile, max_size=3, unique_by=lambda p: p["type"]),
        "tags": st.lists(st.sampled_from(["referral", "Referral", "relocating"]), max_size=3),
        "skills": st.lists(st.sampled_from(["SQL", "sql", "Negotiation"]), max_size=3),
    },
)


@pytest.fixture(scope="module")
def workable_api() -> WorkableAPI:
    return Sandbox(seed=1, sizes={"workable": {"candidates": 1}}, api_classes=[WorkableAPI]).apis["workable"]


@settings(max_examples=150, deadline=None)
@given(record=_record, mode=st.sampled_from(["merge", "replace"]))
def test_one_planned_patch_settles_and_merge_never_loses_an_entry(workable_api, record, mode):
    """After the planned PATCH, planning the same record again sends nothing; merge keeps every entry."""
    workable_api.changed.clear()
    before = workable_api.public(workable_api.candidate(0))
    wanted = to_payload(record)
    payload = plan_update(before, wanted, mode)
    if payload:
        workable_api.changed[0] = workable_api.apply(workable_api.candidate(0), payload)
    after = workable_api.public(workable_api.candidate(0))
    assert plan_update(after, wanted, mode) == {}
    if mode == "merge":
        for key in ("experience_entries", "education_entries"):
            assert {e["id"] for e in before[key]} <= {e["id"] for e in after[key]}
        assert {p["type"] for p in before["social_profiles"]} <= {p["type"] for p in after["social_profiles"]}
        assert set(before["tags"]) <= set(after["tags"])


# -- readings of what the document leaves open ---------------------------------------------------------------


def test_a_token_with_only_the_documented_w_candidates_scope_fails_at_once_naming_the_missing_scope(config, control):
    """The document names w_candidates (PATCH); finding and comparing a candidate first needs r_candidates."""
    control.set_readings("workable", token_scopes="w_candidates")
    first = candidates(control)[0]
    control.clear_requests()
    run = run_target(config, messages({"id": first["id"], "headline": "Scope check"}))
    assert run.returncode != 0 and run.stdout.strip() == ""
    last = run.stderr.strip().splitlines()[-1]
    assert "answered HTTP 403" in last and "the token lacks the scope r_candidates" in last
    assert "`workable_api_token` needs r_candidates as well as w_candidates" in last
    assert config["workable_api_token"] not in run.stderr
    assert control.requests(api="workable")["total"] == 1 and write_calls(control) == 0  # stopped at the first read


@pytest.mark.parametrize("unknown_fields", ["refused", "ignored"])
def test_only_documented_fields_are_sent_so_unknown_field_handling_never_matters(config, control, unknown_fields):
    control.set_readings("workable", unknown_fields=unknown_fields, token_scopes="r_candidates,w_candidates")
    first = candidates(control)[0]
    entry = {"title": "Pilot", "company": "Acme Air", "start_date": "2020-01-01"}
    run = run_target(config, messages({"id": first["id"], "headline": "Flies", "experience_entries": [entry]}))
    run.check()
    stored = next(c for c in candidates(control) if c["id"] == first["id"])
    assert stored["headline"] == "Flies" and any(e["title"] == "Pilot" for e in stored["experience_entries"])
    assert run_target(config, messages({"id": first["id"], "shoe_size": 44})).returncode != 0  # refused before any call
