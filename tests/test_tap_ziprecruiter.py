"""tap-jobsync's ZipRecruiter streams read the Job Alerts API completely and safely (real CLI, real HTTP)."""

from __future__ import annotations

import pytest
from support import discover, run_tap, select_streams

from jobsync_common import ziprecruiter as zr
from jobsync_sandbox import configs

SUBSCRIBERS = "ziprecruiter_subscribers"
SEARCHES = "ziprecruiter_subscriber_searches"
BATCHES = "ziprecruiter_batches"
ALL_STREAMS = (SUBSCRIBERS, SEARCHES, BATCHES)


@pytest.fixture
def zr_config(sandbox, credentials) -> dict:
    """Only ZipRecruiter configured, so these tests depend on no other service."""
    return configs.tap_config(sandbox.base_urls, credentials, services=("ziprecruiter",))


@pytest.fixture(scope="module")
def catalog(sandbox) -> dict:
    credentials = {name: api.credentials for name, api in sandbox.apis.items()}
    return discover(configs.tap_config(sandbox.base_urls, credentials, services=("ziprecruiter",)))


def sync(config: dict, catalog: dict, streams=ALL_STREAMS, **settings):
    return run_tap({**config, **settings}, catalog=select_streams(catalog, streams)).check()


def emitted(run) -> list[tuple[str, dict]]:
    """RECORD messages in order, without their extraction time."""
    return [(m["stream"], m["record"]) for m in run.record_messages()]


def test_discovery_declares_three_full_table_streams_keyed_by_id(catalog):
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert set(streams) == set(ALL_STREAMS)
    for entry in streams.values():
        top = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
        assert top["table-key-properties"] == ["id"]
        assert not top.get("valid-replication-keys")
    assert "email" not in streams[SUBSCRIBERS]["schema"]["properties"]  # the API only ever returns the MD5
    assert "subscriber_id" in streams[SEARCHES]["schema"]["properties"]


def test_a_full_sync_emits_exactly_the_store(control, zr_config, catalog):
    control.reset(sizes={"ziprecruiter": {"subscribers": 120, "searches_per_subscriber": 3, "batches": 3}})
    store = control.store("ziprecruiter")
    run = sync(zr_config, catalog)

    subscribers = run.records(SUBSCRIBERS)
    assert sorted(r["id"] for r in subscribers) == sorted(s["id"] for s in store["subscribers"])
    by_id = {s["id"]: s for s in store["subscribers"]}
    for record in subscribers:
        expected = by_id[record["id"]]
        assert record["email_md5"] == expected["email_md5"]
        assert (record["status"], record["search"], record["deactivation_reason"]) == (
            expected["status"],
            expected["search"],
            expected["deactivation_reason"],
        )
        assert record["create_time"].endswith("+00:00")

    searches = run.records(SEARCHES)
    assert sorted((r["subscriber_id"], r["id"]) for r in searches) == sorted(
        (s["subscriber_id"], s["id"]) for s in store["searches"]
    )
    batches = run.records(BATCHES)
    assert sorted(b["id"] for b in batches) == sorted(b["id"] for b in store["batches"])
    assert all(isinstance(b["result"], dict) and b["result"]["total_records"] > 0 for b in batches)
    # 120 subscribers: two pages of 100; one searches query per subscriber.
    log = control.requests(api="ziprecruiter", method="GET")["counts"]
    assert log["ziprecruiter GET /subscriber"] == 2
    assert sum(v for k, v in log.items() if k.endswith("/searches")) == 120
    # No raw address anywhere in the output: the API answers MD5s only.
    assert "@" not in run.stdout


def test_child_searches_fetched_concurrently_equal_a_sequential_sync(control, zr_config, catalog):
    control.reset(sizes={"ziprecruiter": {"subscribers": 40, "searches_per_subscriber": 4}})
    control.set_latency(5, api="ziprecruiter")  # lets concurrent requests overlap and finish out of order
    sequential = sync(zr_config, catalog, (SUBSCRIBERS, SEARCHES), max_workers=1)
    concurrent = sync(zr_config, catalog, (SUBSCRIBERS, SEARCHES), max_workers=4)
    control.set_latency(0, api="ziprecruiter")
    assert sequential.records(SEARCHES)
    assert emitted(concurrent) == emitted(sequential)
    assert concurrent.states == sequential.states


def test_a_refused_api_key_fails_with_one_line_naming_the_setting(zr_config, catalog):
    run = run_tap(
        {**zr_config, "ziprecruiter_api_key": "wrong-zr-key-123"}, catalog=select_streams(catalog, ALL_STREAMS)
    )
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if line.startswith("tap-jobsync: error:")]
    assert len(errors) == 1
    assert "HTTP 403" in errors[0] and "`ziprecruiter_api_key`" in errors[0]
    assert "Traceback" not in run.stderr
    assert "wrong-zr-key-123" not in run.stderr + run.stdout


def test_server_errors_and_throttling_mid_pagination_are_retried_with_identical_output(control, zr_config, catalog):
    control.reset(sizes={"ziprecruiter": {"subscribers": 250, "searches_per_subscriber": 0}})
    baseline = sync(zr_config, catalog, (SUBSCRIBERS,))
    control.add_fault(
        api="ziprecruiter", method="GET", path="^/subscriber$", query={"skip": "100"}, status=503, count=2
    )
    control.add_fault(
        api="ziprecruiter", method="GET", path="^/subscriber$", query={"skip": "200"}, status=429, retry_after=0.1
    )
    control.add_fault(api="ziprecruiter", method="GET", path="^/subscriber$", query={"skip": "200"}, kind="truncate")
    control.clear_requests()
    faulted = sync(zr_config, catalog, (SUBSCRIBERS,))
    assert [f["fired"] for f in control.faults()] == [2, 1, 1]
    assert faulted.records(SUBSCRIBERS) == baseline.records(SUBSCRIBERS)
    assert len(faulted.records(SUBSCRIBERS)) == 250
    # 3 faults and 4 pages (a 400 refusing the `properties` form, under the `repeated` reading, is no retry).
    entries = control.requests(api="ziprecruiter", path="^/subscriber$")["entries"]
    assert len([e for e in entries if e["status"] != 400]) == 3 + 4


def test_the_table_forms_of_the_document_are_read_the_same(control, zr_config, catalog):
    """``email``/``skip``/numeric ``total_count``/``result`` as a JSON string give the same records."""
    control.reset(sizes={"ziprecruiter": {"subscribers": 30, "searches_per_subscriber": 2, "batches": 2}})
    example = sync(zr_config, catalog)
    control.api_control("ziprecruiter", "response_forms", {"forms": "table"})
    table = sync(zr_config, catalog)
    assert emitted(table) == emitted(example)
    assert all(r["email_md5"] for r in table.records(SUBSCRIBERS))
    assert all(isinstance(b["result"], dict) for b in table.records(BATCHES))


def test_the_batches_stream_shows_pending_and_completed_uploads(sandbox, control, zr_config, catalog):
    import requests

    control.reset(sizes={"ziprecruiter": {"batches": 0, "batch_delay_ms": 3_600_000}})
    response = requests.post(
        sandbox.base_urls["ziprecruiter"] + "/batch",
        auth=(zr_config["ziprecruiter_api_key"], ""),
        data={"type": "subscribe"},
        files={"content": ("subs.csv", b'"a@example.com","CEO"\n"b@example.com","CFO"\n')},
        timeout=10,
    )
    batch_id = response.json()["id"]
    pending = sync(zr_config, catalog, (BATCHES,)).records(BATCHES)
    assert pending == [
        {
            "id": batch_id,
            "type": "subscribe",
            "status": "pending",
            "create_time": pending[0]["create_time"],
            "complete_time": None,
            "result": None,
        }
    ]
    control.api_control("ziprecruiter", "complete_batches")
    done = sync(zr_config, catalog, (BATCHES,)).records(BATCHES)[0]
    assert done["status"] == "complete" and done["complete_time"]
    assert done["result"] == {"errors": 0, "total_records": 2, "subscribed": 2, "search_updated": 0, "no_changes": 0}


# -- readings of what the document leaves open ---------------------------------------------------------------


@pytest.mark.parametrize("properties_format", ["comma", "repeated"])
def test_properties_are_asked_for_in_the_form_the_api_takes_found_once_per_run(
    control, zr_config, catalog, properties_format
):
    """The document does not say how `properties` is sent: comma-joined first, one parameter per property if refused."""
    control.reset(sizes={"ziprecruiter": {"subscribers": 12, "searches_per_subscriber": 2, "batches": 2}})
    control.set_readings("ziprecruiter", properties_format=properties_format)
    store = control.store("ziprecruiter")
    control.clear_requests()
    run = sync(zr_config, catalog)
    by_id = {s["id"]: s for s in store["subscribers"]}
    assert sorted(r["id"] for r in run.records(SUBSCRIBERS)) == sorted(by_id)
    for record in run.records(SUBSCRIBERS):
        assert (record["email_md5"], record["status"], record["search"]) == (
            by_id[record["id"]]["email_md5"],
            by_id[record["id"]]["status"],
            by_id[record["id"]]["search"],
        )
    assert all(r["status"] and r["search"] for r in run.records(SEARCHES))
    assert len(run.records(SEARCHES)) == len(store["searches"])
    assert all(b["status"] and b["result"] for b in run.records(BATCHES))
    refused = [e for e in control.requests(api="ziprecruiter")["entries"] if e["status"] == 400]
    assert len(refused) == (properties_format == "repeated")  # the first request only: the form is remembered
    assert "ignores `properties`" not in run.stderr


def test_an_api_that_ignores_properties_is_reported_once_per_stream_naming_what_is_missing(control, zr_config, catalog):
    control.reset(sizes={"ziprecruiter": {"subscribers": 5, "searches_per_subscriber": 2, "batches": 2}})
    control.set_readings("ziprecruiter", properties_format="ignored")
    store = control.store("ziprecruiter")
    run = sync(zr_config, catalog)
    assert sorted(r["id"] for r in run.records(SUBSCRIBERS)) == sorted(s["id"] for s in store["subscribers"])
    assert len(run.records(SEARCHES)) == len(store["searches"])
    warnings = [line for line in run.stderr.splitlines() if "ignores `properties`" in line]
    assert len(warnings) == 3
    (subscribers,) = [w for w in warnings if "ziprecruiter_subscribers records" in w]
    assert "lacks email, name, create_time, search, location, ip_address, status" in subscribers
    assert "sent comma-joined and as repeated parameters" in subscribers


# -- the normalisation both connectors share (pure functions: the document's two forms) -------------------


def test_query_pages_are_read_in_either_documented_form():
    assert zr.normalize_query_page({"limit": 50, "results": [{"id": "a"}], "offset": 0, "total_count": "2"}) == (
        [{"id": "a"}],
        0,
        2,
    )
    assert zr.normalize_query_page({"limit": 50, "results": [], "skip": 100, "total_count": 100}) == ([], 100, 100)


def test_subscriber_email_property_becomes_email_md5():
    digest = zr.email_md5("User1@Domain1.com")
    assert zr.normalize_subscriber({"id": 1, "email": digest}) == {"id": "1", "email_md5": digest}
    assert zr.normalize_subscriber({"id": "1", "email_md5": digest}) == {"id": "1", "email_md5": digest}


def test_batch_result_is_parsed_from_a_json_string_or_kept_as_an_object():
    counts = {"errors": 0, "total_records": 3, "subscribed": 3, "search_updated": 0, "no_changes": 0}
    assert (
        zr.parse_batch_result('{"errors":0,"total_records":3,"subscribed":3,"search_updated":0,"no_changes":0}')
        == counts
    )
    assert zr.parse_batch_result(counts) == counts
    assert zr.parse_batch_result(None) is None


def test_timestamps_in_responses_are_utc():
    assert zr.normalize_timestamp("2012-05-04T00:01:05") == "2012-05-04T00:01:05+00:00"


def test_properties_are_rewritten_comma_joined_or_repeated():
    url = "https://x/job-alerts/v2/subscriber?limit=100&skip=0"
    assert zr.properties_query(url, ["id", "email"], zr.COMMA).endswith("limit=100&skip=0&properties=id,email")
    assert zr.properties_query(url, ["id", "email"], zr.REPEATED).endswith("&properties=id&properties=email")
