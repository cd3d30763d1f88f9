"""target-jobsync writes ZipRecruiter subscribers and job searches idempotently (real CLI, real HTTP)."""

from __future__ import annotations

import collections
import json
import typing as t
from pathlib import Path

import pytest
from support import record_message, run_target, schema_message, state_message

from target_jobsync.ziprecruiter import WALL_CLOCK, WITH_OFFSET, submit_time

SUBSCRIBERS = "ziprecruiter_subscribers"
SEARCHES = "ziprecruiter_subscriber_searches"


@pytest.fixture
def zr_config(sandbox, control, tmp_path) -> dict[str, t.Any]:
    """Only ZipRecruiter settings (as a user would write them), a fresh small store, fast polling."""
    control.reset(sizes={"ziprecruiter": {"subscribers": 20, "searches_per_subscriber": 2, "batch_delay_ms": 300}})
    return {
        "ziprecruiter_api_key": sandbox.credentials_for("ziprecruiter")["api_key"],
        "ziprecruiter_base_url": sandbox.base_urls["ziprecruiter"],
        "retry_backoff_seconds": 0.05,
        "retry_max_backoff_seconds": 0.5,
        "ziprecruiter_batch_poll_seconds": 0.1,
        "summary_path": str(tmp_path / "summary.json"),
    }


def write(config: dict, stream: str, records: list[dict], **settings: t.Any):
    """Run the target on one stream's records followed by a STATE; return the run and its summary."""
    messages = [
        schema_message(stream, {"email": {"type": "string"}}),
        *(record_message(stream, r) for r in records),
        state_message({"bookmarks": {stream: {"done": True}}}),
    ]
    config = {**config, **settings}
    run = run_target(config, messages)
    summary = json.loads(Path(config["summary_path"]).read_text()) if run.returncode == 0 else {}
    return run, summary.get(stream, {})


def calls(control) -> dict[str, int]:
    """API calls the sandbox saw since the last clear, as ``METHOD /path`` counts."""
    counts = control.requests(api="ziprecruiter")["counts"]
    return {key.split(" ", 1)[1]: value for key, value in counts.items()}


def writes(control) -> dict[str, int]:
    return {k: v for k, v in calls(control).items() if not k.startswith("GET ")}


def subscriber(control, email: str) -> dict | None:
    return next((s for s in control.store("ziprecruiter")["subscribers"] if s["email"].lower() == email), None)


def people(n: int, prefix: str = "seeker", **fields: str) -> list[dict]:
    return [
        {"email": f"{prefix}{i}@example.com", "search": "Nurse", "location": "Houston, TX", **fields} for i in range(n)
    ]


# -- single requests ------------------------------------------------------------------------------------


def test_few_records_are_subscribed_one_request_each_after_an_md5_lookup(control, zr_config):
    control.clear_requests()
    run, summary = write(
        zr_config,
        SUBSCRIBERS,
        [
            *people(3),
            {"email": "ceo@example.com", "search": "CEO", "name": "Ada", "create_time": "2012-05-04T00:01:05Z"},
        ],
    )
    run.check()
    assert summary["created"] == 4 and summary["batches"] == []
    # (A `properties` form refused with 400, under the `repeated` reading, is how the form is found, not a call.)
    entries = control.requests(api="ziprecruiter")["entries"]
    answered = [f"{e['method']} {e['path']}" for e in entries if e["status"] != 400]
    assert collections.Counter(answered) == {"GET /subscriber": 4, "POST /subscriber": 4}
    # The lookup sends the MD5, never the address.
    lookups = control.requests(api="ziprecruiter", method="GET")["entries"]
    assert all("@" not in json.dumps(e["query"]) for e in lookups)
    stored = subscriber(control, "ceo@example.com")
    assert (stored["search"], stored["name"], stored["create_time"]) == ("CEO", "Ada", "2012-05-04T00:01:05")
    assert run.messages[-1] == {"bookmarks": {SUBSCRIBERS: {"done": True}}}  # the confirmed state


def test_a_subscribe_whose_answer_is_lost_is_looked_up_and_not_sent_again(control, zr_config):
    control.clear_requests()
    control.add_fault(api="ziprecruiter", method="POST", path="^/subscriber$", kind="reset", count=1)
    run, summary = write(zr_config, SUBSCRIBERS, people(1, prefix="lost"))
    run.check()
    assert summary["created"] == 1
    assert calls(control)["POST /subscriber"] == 1, "before any retry the subscriber is looked up: found, not resent"
    assert subscriber(control, "lost0@example.com")["status"] == "active"


def test_the_same_input_twice_creates_no_second_subscriber_and_no_second_write(control, zr_config):
    write(zr_config, SUBSCRIBERS, people(3))[0].check()
    count = control.store("ziprecruiter")["counts"]["subscribers"]
    control.clear_requests()
    run, summary = write(zr_config, SUBSCRIBERS, people(3))
    run.check()
    assert summary["unchanged"] == 3 and summary["created"] == 0
    assert writes(control) == {}
    assert control.store("ziprecruiter")["counts"]["subscribers"] == count


def test_a_changed_search_updates_the_existing_subscriber(control, zr_config):
    write(zr_config, SUBSCRIBERS, people(1))[0].check()
    count = control.store("ziprecruiter")["counts"]["subscribers"]
    run, summary = write(zr_config, SUBSCRIBERS, people(1, search="Night Nurse"))
    run.check()
    assert summary["updated"] == 1
    assert subscriber(control, "seeker0@example.com")["search"] == "Night Nurse"
    assert control.store("ziprecruiter")["counts"]["subscribers"] == count


@pytest.mark.parametrize("subscriber_deactivation", ["keeps_searches", "deactivates_searches"])
def test_deleted_records_deactivate_the_subscriber_by_email_or_id(control, zr_config, subscriber_deactivation):
    control.set_readings("ziprecruiter", subscriber_deactivation=subscriber_deactivation)
    write(zr_config, SUBSCRIBERS, people(2))[0].check()
    by_id = subscriber(control, "seeker1@example.com")["id"]
    deletes = [
        {"email": "seeker0@example.com", "_sdc_deleted_at": "2024-01-01T00:00:00Z"},
        {"id": by_id, "_sdc_deleted_at": "2024-01-01T00:00:00Z"},
        {"email": "never-subscribed@example.com", "_sdc_deleted_at": "2024-01-01T00:00:00Z"},
    ]
    control.clear_requests()
    run, summary = write(zr_config, SUBSCRIBERS, deletes)
    run.check()
    assert (summary["deleted"], summary["unchanged"]) == (2, 1)
    assert writes(control) == {
        f"DELETE /subscriber/{subscriber(control, 'seeker0@example.com')['id']}": 1,
        f"DELETE /subscriber/{by_id}": 1,
    }
    for email in ("seeker0@example.com", "seeker1@example.com"):
        stored = subscriber(control, email)
        assert (stored["status"], stored["deactivation_reason"]) == ("deactivated", "api")
    control.clear_requests()
    run, summary = write(zr_config, SUBSCRIBERS, deletes)
    assert summary["unchanged"] == 3 and writes(control) == {}


# -- batch uploads -----------------------------------------------------------------------------------------


def test_a_delete_whose_subscriber_shows_no_status_unsubscribes_anyway(control, zr_config):
    """`properties` not honoured: the lookup shows only `id`. Keeping a person subscribed is the worse guess."""
    write(zr_config, SUBSCRIBERS, people(1, prefix="leaving"))[0].check()
    control.api_control("ziprecruiter", "readings", {"properties_format": "ignored"})
    run, summary = write(
        zr_config, SUBSCRIBERS, [{"email": "leaving0@example.com", "_sdc_deleted_at": "2024-01-01T00:00:00Z"}]
    )
    run.check()
    assert summary["deleted"] == 1
    assert subscriber(control, "leaving0@example.com")["status"] == "deactivated"


def test_a_large_drain_is_uploaded_as_batch_files_of_at_most_1000_records(control, zr_config):
    control.clear_requests()
    run, summary = write(
        zr_config,
        SUBSCRIBERS,
        people(1200, prefix="bulk"),
        ziprecruiter_batch_threshold=1000,
        ziprecruiter_wait_for_batches=True,
    )
    run.check()
    assert calls(control)["POST /batch"] == 2
    assert "POST /subscriber" not in calls(control)
    assert [b["records"] for b in summary["batches"]] == [1000, 200]
    assert all(b["status"] == "complete" and b["result"]["subscribed"] == b["records"] for b in summary["batches"])
    assert (summary["batched"], summary["created"]) == (1200, 1200)
    for batch in summary["batches"]:
        assert batch["id"] in run.stderr  # every batch id is logged
    assert subscriber(control, "bulk1199@example.com")["status"] == "active"


def test_batches_not_waited_for_are_reported_pending_and_a_rerun_adds_no_subscriber(control, zr_config):
    run, summary = write(zr_config, SUBSCRIBERS, people(6), ziprecruiter_batch_threshold=5)
    run.check()
    assert [b["status"] for b in summary["batches"]] == ["pending"]
    assert not any(k.startswith("GET /batch/") for k in calls(control)), "not waiting: no batch is polled"
    control.api_control("ziprecruiter", "complete_batches")
    count = control.store("ziprecruiter")["counts"]["subscribers"]
    run, summary = write(
        zr_config, SUBSCRIBERS, people(6), ziprecruiter_batch_threshold=5, ziprecruiter_wait_for_batches=True
    )
    run.check()
    assert summary["batches"][0]["result"]["no_changes"] == 6 and summary["unchanged"] == 6
    assert control.store("ziprecruiter")["counts"]["subscribers"] == count


def test_batch_unsubscribe_deactivates_deleted_records_by_email(control, zr_config):
    write(zr_config, SUBSCRIBERS, people(6), ziprecruiter_batch_threshold=5, ziprecruiter_wait_for_batches=True)
    deletes = [{"email": r["email"], "_sdc_deleted_at": "2024-01-01T00:00:00Z"} for r in people(6)]
    control.clear_requests()
    run, summary = write(
        zr_config, SUBSCRIBERS, deletes, ziprecruiter_batch_threshold=5, ziprecruiter_wait_for_batches=True
    )
    run.check()
    assert calls(control)["POST /batch"] == 1 and summary["batches"][0]["type"] == "unsubscribe"
    assert summary["deleted"] == 6
    assert all(subscriber(control, r["email"])["status"] == "deactivated" for r in people(6))


def test_within_one_bulk_drain_the_last_record_per_email_wins(control, zr_config):
    records = [*people(5), {"email": "SEEKER0@example.com", "search": "Head Nurse"}]
    run, summary = write(
        zr_config, SUBSCRIBERS, records, ziprecruiter_batch_threshold=5, ziprecruiter_wait_for_batches=True
    )
    run.check()
    assert summary["superseded"] == 1 and summary["batches"][0]["records"] == 5
    assert subscriber(control, "seeker0@example.com")["search"] == "Head Nurse"


def test_a_batch_still_pending_after_the_wait_timeout_fails_without_confirming_the_state(control, zr_config):
    control.reset(sizes={"ziprecruiter": {"batch_delay_ms": 3_600_000}})
    run, _ = write(
        zr_config,
        SUBSCRIBERS,
        people(5),
        ziprecruiter_batch_threshold=5,
        ziprecruiter_wait_for_batches=True,
        ziprecruiter_batch_wait_timeout_seconds=0.3,
    )
    assert run.returncode != 0
    batch_id = control.store("ziprecruiter")["batches"][-1]["id"]
    error = next(line for line in run.stderr.splitlines() if line.startswith("target-jobsync: error:"))
    assert batch_id in error and "still pending" in error
    assert run.messages == []


def test_batch_errors_are_reported_as_a_warning_with_counts(control, zr_config):
    records = [*people(5), {"email": "broken-address", "search": "CEO"}]
    run, summary = write(
        zr_config, SUBSCRIBERS, records, ziprecruiter_batch_threshold=5, ziprecruiter_wait_for_batches=True
    )
    run.check()
    assert summary["batch_errors"] == 1 and summary["created"] == 5
    assert "1 of 6 records failed" in run.stderr


def test_a_503_on_the_upload_is_retried_and_applied_once(control, zr_config):
    control.add_fault(api="ziprecruiter", method="POST", path="^/batch$", status=503)
    control.clear_requests()
    run, summary = write(
        zr_config, SUBSCRIBERS, people(6), ziprecruiter_batch_threshold=5, ziprecruiter_wait_for_batches=True
    )
    run.check()
    assert calls(control)["POST /batch"] == 2  # the refused attempt and the retry
    store = control.store("ziprecruiter")
    assert len(store["batches"]) == 1 + 2  # seeded batches plus exactly one upload
    assert summary["created"] == 6


def test_an_upload_whose_answer_is_lost_is_found_pending_and_not_uploaded_again(control, zr_config):
    """The server queued the first attempt before the connection broke: before any retry the sink looks for it."""
    control.add_fault(api="ziprecruiter", method="POST", path="^/batch$", kind="reset")
    count = control.store("ziprecruiter")["counts"]["subscribers"]
    run, _ = write(
        zr_config, SUBSCRIBERS, people(6), ziprecruiter_batch_threshold=5, ziprecruiter_wait_for_batches=True
    )
    run.check()
    control.api_control("ziprecruiter", "complete_batches")
    store = control.store("ziprecruiter")
    uploads = store["batches"][2:]
    assert len(uploads) == 1
    assert uploads[0]["result"]["subscribed"] == 6
    assert store["counts"]["subscribers"] == count + 6


# -- job searches ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("search_submit", ["always_new", "deduplicate"])
def test_job_searches_are_created_once_and_deactivated_by_delete(control, zr_config, search_submit):
    """Whether or not ZipRecruiter merges an equal search, the sink matches search and location itself."""
    control.set_readings("ziprecruiter", search_submit=search_submit)
    write(zr_config, SUBSCRIBERS, people(1))[0].check()
    owner = subscriber(control, "seeker0@example.com")["id"]
    searches = [
        {"subscriber_id": owner, "search": "Legal Assistant", "location": "Houston, TX"},
        {"subscriber_id": owner, "search": "Paralegal", "location": "77001"},
    ]
    run, summary = write(zr_config, SEARCHES, searches)
    run.check()
    assert summary["created"] == 2
    control.clear_requests()
    run, summary = write(zr_config, SEARCHES, [{**searches[0], "search": "legal  assistant"}, searches[1]])
    assert summary["unchanged"] == 2 and writes(control) == {}
    run, summary = write(zr_config, SEARCHES, [{**searches[1], "_sdc_deleted_at": "2024-01-01T00:00:00Z"}])
    assert summary["deleted"] == 1
    stored = {s["search"]: s for s in control.store("ziprecruiter")["searches"] if s["subscriber_id"] == owner}
    assert stored["Paralegal"]["status"] == "deactivated" and stored["Legal Assistant"]["status"] == "active"


def test_searches_of_an_unknown_subscriber_are_dead_lettered(control, zr_config, tmp_path):
    dead = tmp_path / "dead.jsonl"
    run, summary = write(
        zr_config, SEARCHES, [{"subscriber_id": "00000000", "search": "CEO"}], dead_letter_path=str(dead)
    )
    run.check()
    line = json.loads(dead.read_text())
    assert summary["rejected"] == 1 and line["status"] == 404 and "unknown_subscriber" in line["error"]


# -- dry run, rejections, auth --------------------------------------------------------------------------------


def test_a_dry_run_makes_no_write_call_on_either_path(control, zr_config):
    write(zr_config, SUBSCRIBERS, people(1))[0].check()
    before = control.store("ziprecruiter")
    control.clear_requests()
    records = [*people(3, search="CEO"), {"email": "seeker0@example.com", "_sdc_deleted_at": "2024-01-01T00:00:00Z"}]
    run, summary = write(zr_config, SUBSCRIBERS, records, dry_run=True)
    run.check()
    # What would happen is still reported: lookups are reads.
    assert (summary["created"], summary["updated"], summary["deleted"]) == (2, 1, 1)
    run, summary = write(zr_config, SUBSCRIBERS, people(8, prefix="dry"), dry_run=True, ziprecruiter_batch_threshold=5)
    run.check()
    assert summary["batched"] == 8
    assert writes(control) == {}
    assert control.store("ziprecruiter") == before


def test_a_record_the_api_refuses_is_dead_lettered_with_its_reason(control, zr_config, tmp_path):
    dead = tmp_path / "dead.jsonl"
    records = [{"email": "not-an-address", "search": "CEO"}, {"email": "fine@example.com"}, *people(1)]
    run, summary = write(zr_config, SUBSCRIBERS, records, dead_letter_path=str(dead))
    run.check()
    lines = [json.loads(line) for line in dead.read_text().splitlines()]
    assert summary["rejected"] == 2 and summary["created"] == 1
    refused = next(line for line in lines if line["record"]["email"] == "not-an-address")
    assert refused["status"] == 400 and "invalid_email" in refused["error"]
    schema_miss = next(line for line in lines if line["record"]["email"] == "fine@example.com")
    assert "search" in schema_miss["error"] and schema_miss["status"] is None


def test_without_a_dead_letter_path_a_refused_record_fails_the_run(zr_config):
    run, _ = write(zr_config, SUBSCRIBERS, [{"email": "not-an-address", "search": "CEO"}])
    assert run.returncode != 0
    assert "not-an-address" in run.stderr and "`dead_letter_path`" in run.stderr and "HTTP 400" in run.stderr
    assert run.messages == []  # the state is not confirmed


def test_a_refused_api_key_fails_naming_the_setting_without_showing_it(zr_config):
    run, _ = write({**zr_config, "ziprecruiter_api_key": "wrong-zr-key-456"}, SUBSCRIBERS, people(1))
    assert run.returncode != 0
    assert "`ziprecruiter_api_key`" in run.stderr and "HTTP 403" in run.stderr
    assert "wrong-zr-key-456" not in run.stderr + run.stdout


# -- readings of what the document leaves open ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("properties_format", "subscribe_body"),
    [("comma", "multipart_only"), ("repeated", "multipart_or_urlencoded"), ("repeated", "multipart_only")],
)
def test_subscribers_and_searches_are_written_once_under_every_properties_form_and_submit_body(
    control, zr_config, properties_format, subscribe_body
):
    """Submits are multipart/form-data like the document's --form examples; `properties` goes in the form taken."""
    control.set_readings("ziprecruiter", properties_format=properties_format, subscribe_body=subscribe_body)
    control.clear_requests()
    seekers = [*people(2), {"email": "ceo@example.com", "search": "CEO", "name": "Ada", "location": "10023"}]
    run, summary = write(zr_config, SUBSCRIBERS, seekers)
    run.check()
    assert summary["created"] == 3
    assert (subscriber(control, "ceo@example.com")["name"], subscriber(control, "ceo@example.com")["location"]) == (
        "Ada",
        "10023",
    )
    owner = subscriber(control, "ceo@example.com")["id"]
    searches = [{"subscriber_id": owner, "search": "Chief Executive", "location": "Houston, TX"}]
    run, summary = write(zr_config, SEARCHES, searches)
    assert summary["created"] == 1
    refused = [e for e in control.requests(api="ziprecruiter")["entries"] if e["status"] == 400]
    # Found on each run's first lookup (workers wait for it), then remembered for the run.
    assert len(refused) == 2 * (properties_format == "repeated")
    control.clear_requests()
    assert write(zr_config, SUBSCRIBERS, seekers)[1]["unchanged"] == 3
    assert write(zr_config, SEARCHES, searches)[1]["unchanged"] == 1
    assert writes(control) == {}


def test_when_the_api_ignores_properties_subscribers_are_resubmitted_and_searches_read_one_by_one(control, zr_config):
    control.set_readings("ziprecruiter", properties_format="ignored")
    run, summary = write(zr_config, SUBSCRIBERS, people(2))
    run.check()
    assert summary["created"] == 2
    run, summary = write(zr_config, SUBSCRIBERS, people(2))
    # Nothing to compare with: submitted again (ZipRecruiter matches on email), never a second subscriber.
    assert summary["updated"] == 2 and len(control.store("ziprecruiter")["subscribers"]) == 22
    (warning,) = [line for line in run.stderr.splitlines() if "ignores `properties`" in line]
    assert "lacks email, name, create_time, search, location, ip_address, status" in warning
    assert "each record is submitted again" in warning

    owner = subscriber(control, "seeker0@example.com")["id"]
    searches = [{"subscriber_id": owner, "search": "Welder", "location": "Austin, TX"}]
    assert write(zr_config, SEARCHES, searches)[1]["created"] == 1
    control.clear_requests()
    run, summary = write(zr_config, SEARCHES, searches)
    assert summary["unchanged"] == 1 and writes(control) == {}  # no second copy of the search
    assert any(key.startswith(f"GET /subscriber/{owner}/searches/") for key in calls(control))
    assert "Each job search is retrieved on its own" in run.stderr


def test_create_time_is_submitted_with_an_offset_or_as_pacific_wall_clock():
    assert submit_time("2012-05-04T00:01:05Z", WITH_OFFSET) == "2012-05-04T00:01:05+00:00"
    assert submit_time("2012-05-04T02:01:05+02:00", WITH_OFFSET) == "2012-05-04T00:01:05+00:00"
    assert submit_time("2012-05-04T00:01:05Z", WALL_CLOCK) == "2012-05-03 17:01:05"
    assert submit_time("2013-01-15T20:00:00+00:00", WALL_CLOCK) == "2013-01-15 12:00:00"  # PST in winter


@pytest.mark.parametrize("submit_timezone", ["pacific", "utc"])
def test_create_time_is_sent_with_its_offset_so_either_time_zone_reading_stores_the_same_instant(
    control, zr_config, submit_timezone
):
    """The example implies Pacific wall-clock time without saying so: an explicit offset needs no guess."""
    control.set_readings("ziprecruiter", submit_timezone=submit_timezone)
    single = {"email": "one@example.com", "search": "CEO", "create_time": "2012-05-04T00:01:05Z"}
    write(zr_config, SUBSCRIBERS, [single])[0].check()
    assert subscriber(control, "one@example.com")["create_time"] == "2012-05-04T00:01:05"
    owner = subscriber(control, "one@example.com")["id"]
    search = {"subscriber_id": owner, "search": "CFO", "create_time": "2013-05-13T19:20:02+02:00"}
    write(zr_config, SEARCHES, [search])[0].check()
    searches = control.store("ziprecruiter")["searches"]
    (stored,) = [s for s in searches if s["subscriber_id"] == owner and s["search"] == "CFO"]
    assert stored["create_time"] == "2013-05-13T17:20:02"
    bulk = [{**p, "create_time": "2014-01-15T20:00:00Z"} for p in people(3, prefix="bulk")]
    run, _ = write(zr_config, SUBSCRIBERS, bulk, ziprecruiter_batch_threshold=3, ziprecruiter_wait_for_batches=True)
    run.check()
    assert {subscriber(control, f"bulk{n}@example.com")["create_time"] for n in range(3)} == {"2014-01-15T20:00:00"}


def test_a_create_time_offset_the_api_refuses_is_sent_as_pacific_wall_clock_from_then_on(control, zr_config):
    """The fallback is the example's implied zone; an API refusing offsets *and* meaning UTC would be 7-8 h off."""
    control.set_readings("ziprecruiter", submit_timezone="pacific")
    control.add_fault(
        api="ziprecruiter",
        method="POST",
        path="^/subscriber$",
        status=400,
        body={"error": "invalid_create_time", "message": "create_time must look like 2012-05-03 09:45:23"},
        count=1,
    )
    control.clear_requests()
    seekers = [{**p, "create_time": "2012-05-04T00:01:05Z"} for p in people(2, prefix="tz")]
    run, summary = write(zr_config, SUBSCRIBERS, seekers, max_workers=1)
    run.check()
    assert summary["created"] == 2
    # Read as the document's example implies (Pacific): the same instant.
    assert {subscriber(control, f"tz{n}@example.com")["create_time"] for n in range(2)} == {"2012-05-04T00:01:05"}
    assert calls(control)["POST /subscriber"] == 3  # one refusal, then each record once
    assert run.stderr.count("refused create_time with a UTC offset") == 1
