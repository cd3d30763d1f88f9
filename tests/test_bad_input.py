"""Bad input: every kind gets a short error naming what is wrong, and never a write that cannot be resumed.

- Input the target cannot read (malformed JSON, a line that is no Singer message, a RECORD
  before its SCHEMA) stops the run with one line naming the input line; what an earlier
  STATE confirmed is written, and re-running the corrected input gives a clean run's store.
- A record its sink cannot take is dead-lettered with the reason (naming the field) or,
  without ``dead_letter_path``, fails the run naming the record and stream.
- Unknown streams, wrong types in config, missing credentials, invalid PCRecruiter app
  names, bad base URLs and an unparsable ``start_date`` fail naming the stream or setting,
  before any record is emitted or written.
- Property: for any record shape, each sink writes the record or rejects it with a reason;
  it never crashes and never drops a record silently (every record has one outcome).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import typing as t
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import record_message, run_tap, run_target, schema_message, state_message

from jobsync_sandbox import configs
from target_jobsync.target import TargetJobSync

SUBSCRIBERS = "ziprecruiter_subscribers"
SIZES = {
    "ziprecruiter": {"subscribers": 6, "searches_per_subscriber": 2, "batches": 0},
    "jobcase": {
        "companies": 3,
        "jobs_per_company": 2,
        "campaigns": 3,
        "products": 4,
        "cost_rows": 1,
        "rate_limit_requests": 0,
    },
    "workable": {"candidates": 4},
}


@pytest.fixture
def fresh(sandbox) -> None:
    sandbox.reset(seed=9, sizes=SIZES)
    with sandbox.apis["workable"].lock:
        sandbox.apis["workable"].control("rate_limit", {"limit": 0})


@pytest.fixture
def target_config(sandbox, credentials) -> dict[str, t.Any]:
    return configs.target_config(
        sandbox.base_urls, credentials, jobcase_requests_per_minute=0, workable_requests_per_minute=0, max_workers=1
    )


def last_line(run) -> str:
    return run.stderr.strip().splitlines()[-1]


def subscribers(sandbox) -> dict[str, dict]:
    return {s["email"]: s for s in sandbox.apis["ziprecruiter"].dump()["subscribers"]}


def seeker(i: int) -> dict:
    return record_message(
        SUBSCRIBERS, {"email": f"seeker{i}@example.com", "search": "Nurse", "location": "Houston, TX"}
    )


SCHEMA = schema_message(SUBSCRIBERS, {"email": {"type": "string"}})
STATE_1 = state_message({"bookmarks": {SUBSCRIBERS: {"n": 2}}})
STATE_2 = state_message({"bookmarks": {SUBSCRIBERS: {"n": 4}}})


# -- input the target cannot read ---------------------------------------------------------------------------


def test_a_malformed_json_line_fails_naming_the_line_after_writing_what_the_earlier_state_confirmed(
    sandbox, fresh, target_config
):
    good = [SCHEMA, seeker(1), seeker(2), STATE_1, seeker(3), seeker(4), STATE_2]
    clean = run_target(target_config, good).check()
    expected = subscribers(sandbox)

    sandbox.reset(seed=9, sizes=SIZES)
    broken = [*good[:5], '{"type": "RECORD", "stream": "ziprecruiter_subscribers", "record": {"email": ', *good[5:]]
    run = run_target(target_config, broken)

    assert run.returncode != 0
    assert last_line(run).startswith("target-jobsync: error: input line 6: not valid JSON")
    assert "Traceback" not in run.stderr
    assert run.messages == [STATE_1["value"]]  # only the state whose records were written
    assert {"seeker1@example.com", "seeker2@example.com"} <= set(subscribers(sandbox))
    run_target(target_config, good).check()  # the corrected input, from the start
    assert subscribers(sandbox).keys() == expected.keys()
    assert clean.messages == [STATE_1["value"], STATE_2["value"]]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("[1, 2]", 'not a Singer message (a JSON object with a "type")'),
        ("42", 'not a Singer message (a JSON object with a "type")'),
        ('{"stream": "ziprecruiter_subscribers"}', "missing required type key"),
        ('{"type": "RECORD", "stream": "ziprecruiter_subscribers"}', "missing required record key"),
        ('{"type": "GREETING"}', "unknown Singer message type 'GREETING'"),
    ],
)
def test_a_line_that_is_no_singer_message_fails_naming_the_line(fresh, target_config, line, problem):
    run = run_target(target_config, [SCHEMA, seeker(1), line])
    assert run.returncode != 0
    assert last_line(run).startswith("target-jobsync: error: input line 3: ")
    assert problem in last_line(run)
    assert "Traceback" not in run.stderr


def test_a_record_before_its_schema_fails_naming_the_stream_and_line(sandbox, fresh, target_config):
    run = run_target(target_config, [seeker(1), SCHEMA, seeker(2), STATE_1])
    assert run.returncode != 0
    assert last_line(run).startswith(
        "target-jobsync: error: input line 1: A record for stream 'ziprecruiter_subscribers'"
    )
    assert run.messages == []
    assert not {"seeker1@example.com", "seeker2@example.com"} & set(subscribers(sandbox))


def test_a_record_missing_its_declared_key_fails_naming_the_line(fresh, target_config):
    keyed = schema_message(SUBSCRIBERS, {"email": {"type": "string"}}, ["email"])
    run = run_target(target_config, [keyed, record_message(SUBSCRIBERS, {"search": "Nurse"})])
    assert run.returncode != 0
    assert last_line(run).startswith(
        "target-jobsync: error: input line 2: Record is missing one or more key_properties"
    )


# -- records the sink cannot take -----------------------------------------------------------------------------


def test_records_violating_the_sink_schema_are_dead_lettered_naming_the_field_and_the_rest_is_written(
    sandbox, fresh, target_config, tmp_path
):
    dead_letters = tmp_path / "dead.jsonl"
    bad = [
        record_message(SUBSCRIBERS, {"email": "nosearch@example.com"}),
        record_message(SUBSCRIBERS, {"email": 42, "search": "Nurse"}),
        record_message(SUBSCRIBERS, {"email": "when@example.com", "search": "Nurse", "create_time": "yesterday"}),
    ]
    run = run_target(
        {**target_config, "dead_letter_path": str(dead_letters)}, [SCHEMA, seeker(1), *bad, seeker(2), STATE_1]
    )
    run.check()
    letters = [json.loads(line) for line in dead_letters.read_text().splitlines()]
    assert [(d["stream"], d["record"].get("email")) for d in letters] == [
        (SUBSCRIBERS, "nosearch@example.com"), (SUBSCRIBERS, 42), (SUBSCRIBERS, "when@example.com"),
    ]  # fmt: skip
    assert "'search' is a required property" in letters[0]["error"]
    assert "email: 42 is not of type" in letters[1]["error"]
    assert "create_time" in letters[2]["error"]
    assert {"seeker1@example.com", "seeker2@example.com"} <= set(subscribers(sandbox))
    assert run.messages == [STATE_1["value"]]


def test_without_a_dead_letter_file_a_bad_record_fails_the_run_naming_record_and_stream_and_a_rerun_resumes(
    sandbox, fresh, target_config
):
    bad = record_message(SUBSCRIBERS, {"email": "nosearch@example.com"})
    run = run_target(target_config, [SCHEMA, seeker(1), STATE_1, seeker(2), bad, seeker(3), STATE_2])
    assert run.returncode != 0
    line = last_line(run)
    assert "Record email='nosearch@example.com' of stream 'ziprecruiter_subscribers' was rejected" in line
    assert "'search' is a required property" in line and "`dead_letter_path`" in line
    assert run.messages == [STATE_1["value"]]  # the failed batch's state is never confirmed
    fixed = run_target(target_config, [SCHEMA, seeker(2), seeker(3), STATE_2]).check()  # resumed after STATE_1
    assert fixed.messages == [STATE_2["value"]]
    assert {f"seeker{i}@example.com" for i in (1, 2, 3)} <= set(subscribers(sandbox))


def test_an_unknown_stream_fails_naming_it_and_the_routes_after_the_earlier_state_was_written(
    sandbox, fresh, target_config
):
    unknown = schema_message("positions", {"id": {"type": "integer"}})
    run = run_target(target_config, [SCHEMA, seeker(1), STATE_1, unknown, record_message("positions", {"id": 1})])
    assert run.returncode != 0
    assert last_line(run).startswith("target-jobsync: error: Unknown stream 'positions': target-jobsync writes ")
    assert "`stream_routes`" in last_line(run)
    assert run.messages == [STATE_1["value"]] and "seeker1@example.com" in subscribers(sandbox)


# -- configuration ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value"),
    [("max_workers", "four"), ("retry_max_tries", 2.5), ("dry_run", "maybe"), ("stream_routes", ["a"])],
)
def test_wrong_types_in_target_config_fail_naming_the_setting(sandbox, fresh, target_config, setting, value):
    run = run_target({**target_config, setting: value}, [SCHEMA, seeker(1), STATE_1])
    assert run.returncode != 0
    assert f"in config['{setting}']" in run.stderr
    assert run.messages == [] and "seeker1@example.com" not in subscribers(sandbox)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("retry_max_tries", "many"), ("request_timeout", "soon"), ("pcrecruiter_entities", "candidates"),
     ("jobcase_partner_id", "one")],
)  # fmt: skip
def test_wrong_types_in_tap_config_fail_naming_the_setting(tap_config, setting, value):
    run = run_tap({**tap_config, setting: value})
    assert run.returncode != 0
    assert f"in config['{setting}']" in run.stderr
    assert run.records() == []


@pytest.mark.parametrize("app_name", ["9lives", "WayTooLongName", "my-app", "ünïcode"])
def test_invalid_pcrecruiter_app_names_fail_naming_the_setting(tap_config, app_name):
    run = run_tap({**tap_config, "pcrecruiter_app_name": app_name})
    assert run.returncode != 0
    assert "config['pcrecruiter_app_name']" in run.stderr
    assert run.records() == []


def test_an_unparsable_start_date_fails_naming_the_setting_before_any_record(tap_config):
    run = run_tap({**tap_config, "start_date": "yesterday"})
    assert run.returncode != 0
    assert last_line(run) == (
        "tap-jobsync: error: Setting `start_date` must be an ISO 8601 date-time such as 2024-01-01T00:00:00Z, "
        "got 'yesterday'."
    )
    assert run.records() == []


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        (("pcrecruiter_password",), "PCRecruiter is partly configured: also set `pcrecruiter_password`"),
        (("jobcase_api_key", "trackjobchanges_api_key", "ziprecruiter_api_key", "pcrecruiter_database_id",
          "pcrecruiter_username", "pcrecruiter_password", "pcrecruiter_app_id", "pcrecruiter_api_key"),
         "No service is configured. Set the credentials of at least one"),
    ],
)  # fmt: skip
def test_missing_tap_credentials_fail_naming_the_settings(tap_config, remove, message):
    run = run_tap({k: v for k, v in tap_config.items() if k not in remove})
    assert run.returncode != 0
    assert message in last_line(run)
    assert run.records() == []


def test_missing_target_credentials_fail_naming_the_setting_before_any_write(sandbox, fresh, target_config):
    config = {k: v for k, v in target_config.items() if k != "ziprecruiter_api_key"}
    run = run_target(config, [SCHEMA, seeker(1), STATE_1])
    assert run.returncode != 0
    assert last_line(run) == (
        "target-jobsync: error: Stream 'ziprecruiter_subscribers' goes to ZipRecruiter, which needs "
        "`ziprecruiter_api_key`."
    )
    assert "seeker1@example.com" not in subscribers(sandbox)


def only(tap_config: dict, service: str) -> dict:
    """The tap settings of one service (and the shared ones)."""
    services = ("trackjobchanges", "pcrecruiter", "ziprecruiter", "jobcase")
    return {k: v for k, v in tap_config.items() if k.startswith(service) or not k.startswith(services)}


@pytest.mark.parametrize("url", ["not a url", "ftp://api.example.com/v1", "https://"])
def test_base_urls_that_are_not_http_fail_naming_the_setting(sandbox, fresh, tap_config, target_config, url):
    tap = run_tap({**only(tap_config, "jobcase"), "jobcase_base_url": url})
    assert tap.returncode != 0
    assert last_line(tap) == f"tap-jobsync: error: Setting `jobcase_base_url` must be an http(s) URL, got {url!r}."
    assert tap.records("jobcase_jobs") == []
    target = run_target({**target_config, "ziprecruiter_base_url": url}, [SCHEMA, seeker(1), STATE_1])
    assert target.returncode != 0
    assert last_line(target) == (
        f"target-jobsync: error: Setting `ziprecruiter_base_url` must be an http(s) URL, got {url!r}."
    )
    assert target.messages == []


def test_a_base_url_where_nothing_answers_fails_naming_service_and_endpoint(tap_config, target_config):
    nowhere = "http://127.0.0.1:9/nothing-here"  # the discard port: connection refused
    tap = run_tap({**only(tap_config, "ziprecruiter"), "ziprecruiter_base_url": nowhere, "retry_max_tries": 2})
    assert tap.returncode != 0
    assert "tap-jobsync: error: ZipRecruiter: GET /nothing-here/" in last_line(tap)
    assert "still failing after 2 attempts: connection refused by 127.0.0.1:9" in last_line(tap)
    target = run_target({**target_config, "ziprecruiter_base_url": nowhere, "retry_max_tries": 2},
                        [SCHEMA, seeker(1), STATE_1])  # fmt: skip
    assert target.returncode != 0
    assert "ZipRecruiter: GET /nothing-here/subscriber still failing after 2 attempts" in last_line(target)
    assert target.messages == []


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("retry_max_tries", -2, "-2 is less than the minimum of 1"),
        ("retry_max_tries", 0, "0 is less than the minimum of 1"),
        ("jobcase_page_size", -5, "-5 is less than the minimum of 1"),
        ("request_timeout", -1, "-1 is less than or equal to the minimum of 0"),
        ("max_response_mb", 0, "0 is less than or equal to the minimum of 0"),
        ("retry_max_retry_after_seconds", -3, "-3 is less than the minimum of 0"),
    ],
)
def test_numbers_out_of_range_fail_at_start_naming_the_setting(tap_config, setting, value, problem):
    run = run_tap({**tap_config, setting: value})
    assert run.returncode != 0
    assert f"{problem} in config['{setting}']" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.records() == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "was not found."),
        ("{not json", "is not valid JSON (line 1, column 2: Expecting property name enclosed in double quotes)."),
        ("[1, 2]", "must hold a JSON object, not a list."),
    ],
    ids=["missing", "not-json", "not-an-object"],
)
@pytest.mark.parametrize("plugin", ["tap_jobsync.tap", "target_jobsync.target"])
def test_a_config_file_that_is_missing_or_not_json_fails_in_one_line_naming_it(tmp_path, plugin, content, problem):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    proc = subprocess.run(
        [sys.executable, "-m", plugin, "--config", str(path)], input="", capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    prog = "tap-jobsync" if plugin.startswith("tap") else "target-jobsync"
    assert proc.stderr.strip().splitlines() == [f"{prog}: error: --config file {path} {problem}"]


@pytest.mark.parametrize("setting", ["dead_letter_path", "summary_path"])
def test_an_unwritable_output_path_fails_at_start_before_any_write(sandbox, fresh, target_config, setting):
    run = run_target({**target_config, setting: "/etc/hostname/not-a-directory/out.json"}, [SCHEMA, seeker(1), STATE_1])
    assert run.returncode != 0
    assert last_line(run).startswith(
        f"target-jobsync: error: Setting `{setting}`: /etc/hostname/not-a-directory/out.json cannot be written"
    )
    assert "seeker1@example.com" not in subscribers(sandbox)


def test_absurdly_nested_input_fails_in_one_line_naming_the_input_line(fresh, target_config):
    nested = '{"type": "RECORD", "stream": "ziprecruiter_subscribers", "record": ' + "[" * 100_000 + "]" * 100_000 + "}"
    run = run_target(target_config, [SCHEMA, nested])
    assert run.returncode != 0
    assert last_line(run).startswith("target-jobsync: error: input line 2: JSON nested too deeply")
    assert "Traceback" not in run.stderr


def test_a_base_url_with_user_and_password_names_the_real_failure_without_them(tap_config):
    url = "http://jobsync:hunter2-Secret@127.0.0.1:9/nothing-here"
    run = run_tap({**only(tap_config, "jobcase"), "jobcase_base_url": url, "retry_max_tries": 1})
    assert run.returncode != 0
    assert "connection refused by 127.0.0.1:9" in last_line(run)
    assert "hunter2-Secret" not in run.stderr and "jobsync:hunter" not in run.stderr


def test_a_collection_endpoint_answering_404_or_405_fails_at_once_naming_the_base_url_setting(
    sandbox, fresh, target_config, tmp_path
):
    dead = tmp_path / "dead.jsonl"
    sandbox.add_fault(api="ziprecruiter", method="POST", path="^/subscriber$", kind="status", status=405, count=100)
    run = run_target(
        {**target_config, "dead_letter_path": str(dead)}, [SCHEMA, *(seeker(i) for i in range(5)), STATE_1]
    )
    assert run.returncode != 0
    assert "POST /ziprecruiter/job-alerts/v2/subscriber answered HTTP 405" in last_line(run)
    assert "`ziprecruiter_base_url`" in last_line(run)
    assert not dead.exists() or dead.read_text() == ""
    assert run.stdout.strip() == ""


def test_the_same_record_independent_answer_for_records_in_a_row_fails_as_a_configuration_error(
    sandbox, fresh, target_config, tmp_path
):
    """Updates of existing Jobcase companies (item endpoints) all answer the same 410: not about the records.

    (A 405 there is first taken as the other update method's cue: see test_target_jobcase.py.)
    """
    dead = tmp_path / "dead.jsonl"
    companies = sandbox.apis["jobcase"].dump()["companies"]
    fields = ("partnerCompanyId", "companyUrl", "companyStreet", "companyCity", "companyState", "companyZipCode")
    renamed = [
        record_message("jobcase_companies", {**{k: c[k] for k in fields}, "companyName": f"Renamed {c['id']}"})
        for c in companies
    ]
    sandbox.add_fault(api="jobcase", method="PUT", path="^/company/", kind="status", status=410, count=100)
    messages = [schema_message("jobcase_companies", {}, ["partnerCompanyId"]), *renamed, STATE_1]
    run = run_target({**target_config, "dead_letter_path": str(dead)}, messages)
    assert run.returncode != 0
    assert "3 records in a row got the same answer" in last_line(run) and "HTTP 410" in last_line(run)
    assert not dead.exists() or dead.read_text() == "", "nothing is dead-lettered for a configuration error"
    assert run.stdout.strip() == ""


# -- property: every record gets one outcome -------------------------------------------------------------------

_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
    st.lists(st.integers(0, 50), max_size=3),
    st.dictionaries(st.sampled_from(["name", "email", "id"]), st.text(max_size=8), max_size=2),
)
DELETED = st.sampled_from(["2030-01-01T00:00:00Z"])


def _plausible(store: dict[str, t.Any]) -> dict[str, dict[str, st.SearchStrategy]]:
    """Per sink, valid values for each field (existing objects and new ones)."""
    jc, zr, wk = store["jobcase"], store["ziprecruiter"], store["workable"]
    people = wk["candidates"]
    return {
        "jobcase_companies": {
            "partnerCompanyId": st.sampled_from([jc["companies"][0]["partnerCompanyId"], "PC-HYP-1", "PC-HYP-2"]),
            "companyName": st.sampled_from(["Hyp Co", "Other Co"]),
            "companyUrl": st.just("https://hyp.example.com"),
            "companyStreet": st.just("1 Main St"),
            "companyCity": st.just("Austin"),
            "companyState": st.just("TX"),
            "companyZipCode": st.sampled_from(["73301", 2108]),
            "companyContact": st.just({"firstName": "Ada", "email": "ada@hyp.example.com"}),
            "_sdc_deleted_at": DELETED,
        },
        "jobcase_jobs": {
            "adNumber": st.sampled_from([jc["jobs"][0]["adNumber"], jc["jobs"][-1]["adNumber"], "AD-HYP-1"]),
            "companyId": st.just(jc["companies"][0]["id"]),
            "partnerCompanyId": st.just(jc["companies"][0]["partnerCompanyId"]),
            "jobTitle": st.sampled_from(["Welder", "Cook"]),
            "jobDescription": st.just("Day shift."),
            "jobCity": st.just("Austin"),
            "jobState": st.just("TX"),
            "jobZipCode": st.sampled_from(["73301", 2108]),
            "products": st.sampled_from([["college"], [["veterans"]], []]),
            "startDate": st.just("2030-01-01T00:00:00Z"),
            "worktimeId": st.just(1),
            "_sdc_deleted_at": DELETED,
        },
        "jobcase_campaigns": {
            "name": st.sampled_from([jc["campaigns"][0]["name"], "Hyp Campaign"]),
            "companyId": st.just(jc["campaigns"][0]["companyId"]),
            "partnerCompanyId": st.just(jc["companies"][0]["partnerCompanyId"]),
            "budget": st.sampled_from([100, 5000]),
            "aggressiveness": st.just(20),
            "jobs": st.sampled_from([[jc["jobs"][0]["id"]], [[jc["jobs"][0]["id"]]]]),
            "isPaused": st.booleans(),
            "endDate": st.just("2031-01-01T00:00:00Z"),
            "_sdc_deleted_at": DELETED,
        },
        "ziprecruiter_subscribers": {
            "email": st.sampled_from(["hyp1@example.com", "HYP1@Example.com", zr["subscribers"][0]["email"]]),
            "search": st.sampled_from(["Nurse", "Night Nurse"]),
            "location": st.sampled_from(["Houston, TX", "77001"]),
            "ip_address": st.just("1.2.3.4"),
            "create_time": st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01 10:00:00"]),
            "id": st.just(zr["subscribers"][1]["id"]),
            "name": st.just("Ada"),
            "_sdc_deleted_at": DELETED,
        },
        "ziprecruiter_subscriber_searches": {
            "subscriber_id": st.sampled_from([zr["subscribers"][0]["id"], zr["subscribers"][1]["id"]]),
            "search": st.sampled_from(["Welder", "Cook"]),
            "location": st.sampled_from(["Austin, TX", "73301"]),
            "id": st.sampled_from([s["id"] for s in zr["searches"][:2]]),
            "create_time": st.just("2024-01-01T00:00:00Z"),
            "_sdc_deleted_at": DELETED,
        },
        "workable_candidates": {
            "id": st.sampled_from([people[0]["id"], people[1]["id"]]),
            "email": st.sampled_from([people[2]["email"], people[2]["email"].upper()]),
            "headline": st.sampled_from(["Welder", "Cook"]),
            "tags": st.sampled_from([["hyp"], ["hyp", "HYP"]]),
            "skills": st.sampled_from([["Forklift"], [{"name": "Welding"}]]),
            "experience_entries": st.just([{"title": "Welder", "company": "Acme", "start_date": "2024-01-01"}]),
            "texting_consent": st.just("forced"),
            "resume": st.just({"name": "cv.pdf", "data": "aGVsbG8="}),
            "_sdc_deleted_at": DELETED,
        },
    }


#: Values each API or input schema refuses (or that point at nothing), tried in place of valid ones.
_invalid = st.sampled_from([
    "", "Texas", "hyp.example.com", "1", 12345678, 99999, "PC-NOPE", "nope", "soon-ish..", ["no-such-product"],
    "not-an-email", "999.1.1.1", "garbage", 14, 15.555, 25, 70, [99999], [{"company": "no title"}],
    [{"title": "Cook", "start_date": "01/02/2024"}], "maybe", {"name": "cv.pdf", "data": "%%%"}, {"firstName": "No"},
])  # fmt: skip


#: Fields a sink needs to write (its valid core); the rest are optional.
REQUIRED = {
    "jobcase_companies": ("partnerCompanyId", "companyName", "companyUrl", "companyStreet", "companyCity",
                          "companyState", "companyZipCode"),
    "jobcase_jobs": ("adNumber", "companyId", "jobTitle", "jobDescription", "jobCity", "jobState", "jobZipCode"),
    "jobcase_campaigns": ("name", "companyId", "budget"),
    "ziprecruiter_subscribers": ("email", "search"),
    "ziprecruiter_subscriber_searches": ("subscriber_id", "search"),
    "workable_candidates": ("id",),
}  # fmt: skip


@st.composite
def _record(draw: st.DrawFn, plausible: dict[str, st.SearchStrategy], required: tuple[str, ...]) -> dict:
    """A valid record (its core plus some optional fields), then up to two fields dropped, invalid or junk."""
    record = {name: draw(plausible[name]) for name in required}
    optional = sorted(set(plausible) - set(required))
    for name in draw(st.sets(st.sampled_from(optional), max_size=3)):
        record[name] = draw(plausible[name])
    for name in draw(st.sets(st.sampled_from([*sorted(plausible), "unexpected_field"]), max_size=2)):
        change = draw(st.sampled_from(["drop", "invalid", "junk"]))
        if change == "drop":
            record.pop(name, None)
        else:
            record[name] = draw(_invalid if change == "invalid" else _junk)
    return record


OUTCOMES = ("created", "updated", "unchanged", "deleted", "rejected")


@pytest.mark.parametrize(
    "stream",
    ["jobcase_companies", "jobcase_jobs", "jobcase_campaigns", "ziprecruiter_subscribers",
     "ziprecruiter_subscriber_searches", "workable_candidates"],
)  # fmt: skip
def test_any_record_is_written_or_rejected_with_a_reason_never_dropped_and_never_a_crash(
    sandbox, target_config, stream
):
    sandbox.reset(seed=9, sizes=SIZES)
    with sandbox.apis["workable"].lock:
        sandbox.apis["workable"].control("rate_limit", {"limit": 0})
    store = {name: json.loads(json.dumps(sandbox.apis[name].dump(), default=str)) for name in SIZES}
    records_of = st.lists(_record(_plausible(store)[stream], REQUIRED[stream]), min_size=1, max_size=4)

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(records=records_of)
    def check(records: list[dict]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            dead_letters, summary_path = Path(tmp) / "dead.jsonl", Path(tmp) / "summary.json"
            config = {**target_config, "dead_letter_path": str(dead_letters), "summary_path": str(summary_path)}
            lines = [schema_message(stream, {}), *(record_message(stream, r) for r in records), state_message({"n": 1})]
            target = TargetJobSync(config=config)
            with redirect_stdout(io.StringIO()) as out:
                target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in lines)))
            summary = json.loads(summary_path.read_text())[stream]
            letters = (
                [json.loads(line) for line in dead_letters.read_text().splitlines()] if dead_letters.exists() else []
            )
        assert sum(summary[o] for o in OUTCOMES) == len(records), summary
        assert len(letters) == summary["rejected"]
        assert all(letter["error"] and letter["stream"] == stream for letter in letters)
        assert json.loads(out.getvalue()) == {"n": 1}  # the state is confirmed once every record has its outcome

    check()
