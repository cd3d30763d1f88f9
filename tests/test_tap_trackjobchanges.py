"""tap-jobsync reads TrackJobChanges completely, incrementally, safely (real CLI, sandbox over HTTP)."""

from __future__ import annotations

import typing as t

import pytest
from support import discover, run_tap, select_streams

from jobsync_common.redact import REDACTED
from jobsync_sandbox import Sandbox, configs

API = "trackjobchanges"
CONNECTIONS = "trackjobchanges_connections"
EMPLOYMENTS = "trackjobchanges_employments"
PINGS = "trackjobchanges_pings"
ACCOUNT = "trackjobchanges_account"
# Three pages of connections, two groups: small enough to be quick, big enough to page.
SIZES = {API: {"connections": 12, "employments_per_connection": 3, "groups": 2, "pings": 4, "page_size": 5}}
SEEDED_PINGS = SIZES[API]["pings"]


@pytest.fixture
def config(sandbox, control, credentials) -> dict[str, t.Any]:
    """Fresh seeded data and a tap config for TrackJobChanges alone."""
    control.reset(sizes=SIZES)
    return configs.tap_config(sandbox.base_urls, credentials, services=[API])


@pytest.fixture(scope="module")
def catalog(sandbox) -> dict:
    creds = {name: api.credentials for name, api in sandbox.apis.items()}
    return discover(configs.tap_config(sandbox.base_urls, creds, services=[API]))


def store(control) -> dict:
    return control.store(API)


def all_employments(dumped: dict) -> list[dict]:
    return [row for rows in dumped["employments"].values() for row in rows]


def api_requests(control, path: str | None = None) -> list[dict]:
    return control.requests(api=API, path=path, limit=10_000)["entries"]


def bookmark(state: dict | None, stream: str) -> t.Any:
    return ((state or {}).get("bookmarks", {}).get(stream) or {}).get("replication_key_value")


def last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


# -- catalog ----------------------------------------------------------------------------------------


def test_catalog_declares_keys_and_replication(catalog):
    entries = {e["tap_stream_id"]: e for e in catalog["streams"]}
    assert set(entries) == {CONNECTIONS, EMPLOYMENTS, PINGS, ACCOUNT}
    root = {name: next(m["metadata"] for m in e["metadata"] if m["breadcrumb"] == []) for name, e in entries.items()}
    assert entries[CONNECTIONS]["key_properties"] == ["id"]
    assert entries[CONNECTIONS]["replication_key"] == "employment_checked_at"
    assert entries[EMPLOYMENTS]["key_properties"] == ["id"]
    assert entries[PINGS]["key_properties"] == ["created_at", "endpoint", "query_params_hash"]
    assert entries[PINGS]["replication_key"] == "created_at"
    assert entries[ACCOUNT]["key_properties"] == ["email"]
    assert root[ACCOUNT].get("forced-replication-method", "FULL_TABLE") == "FULL_TABLE"
    props = entries[CONNECTIONS]["schema"]["properties"]
    assert props["current_employment"]["properties"]["started_at"]["format"] == "date"
    assert props["new_job_flagged_at"]["format"] == "date-time"


# -- full and incremental syncs ----------------------------------------------------------------------


def test_full_sync_emits_everything_in_the_store(config, control):
    run = run_tap(config).check()
    dumped = store(control)
    assert run.records(CONNECTIONS) == dumped["connections"]
    assert run.records(EMPLOYMENTS) == all_employments(dumped)
    (account,) = run.records(ACCOUNT)
    assert account["email"] == dumped["account"]["email"]
    assert account["connections_count"] == 12 and account["snapshot_at"]
    # Pings are read last, so the history then holds exactly what was emitted (keys redacted).
    pings = run.records(PINGS)
    expected = [
        {**p, "query_params": {k: (REDACTED if k == "key" else v) for k, v in p["query_params"].items()}}
        for p in dumped["pings"]
    ]
    assert [{k: v for k, v in p.items() if k != "query_params_hash"} for p in pings] == expected
    keys = {(p["created_at"], p["endpoint"], p["query_params_hash"]) for p in pings}
    assert len(keys) == len(pings), "ping primary keys must be unique"


def test_second_run_with_unchanged_data_emits_no_connections_and_requests_no_employments(config, control):
    first = run_tap(config).check()
    control.clear_requests()
    second = run_tap(config, state=first.last_state).check()
    assert second.records(CONNECTIONS) == [] and second.records(EMPLOYMENTS) == []
    assert api_requests(control, path="employments") == []
    # The only new pings are this run's own calls (the history records every call);
    # nothing the first run emitted comes again.
    calls = api_requests(control)
    pings = second.records(PINGS)
    assert len(pings) == len(calls)
    assert {p["endpoint"] for p in pings} == {"account#show", "connections#index", "pings#index"}
    assert all(p["created_at"] > bookmark(first.last_state, PINGS) for p in pings)
    first_keys = {(p["created_at"], p["endpoint"], p["query_params_hash"]) for p in first.records(PINGS)}
    assert not first_keys & {(p["created_at"], p["endpoint"], p["query_params_hash"]) for p in pings}
    assert bookmark(second.last_state, CONNECTIONS) == bookmark(first.last_state, CONNECTIONS)


@pytest.mark.parametrize("action", ["job_change", "check"])
def test_after_a_change_only_that_connection_and_its_employments_are_emitted(config, control, action):
    first = run_tap(config).check()
    control.api_control(API, action, {"connection_id": 7})
    control.clear_requests()
    second = run_tap(config, state=first.last_state).check()
    dumped = store(control)
    assert second.records(CONNECTIONS) == [c for c in dumped["connections"] if c["id"] == 7]
    assert second.records(EMPLOYMENTS) == dumped["employments"]["7"]
    assert [e["path"] for e in api_requests(control, path="employments")] == ["/connections/7/employments"]
    if action == "job_change":
        assert len(dumped["employments"]["7"]) == 4
        assert second.records(CONNECTIONS)[0]["has_new_job"] is True
    assert bookmark(second.last_state, CONNECTIONS) == dumped["connections"][6]["employment_checked_at"]
    third = run_tap(config, state=second.last_state).check()
    assert third.records(CONNECTIONS) == []


def test_start_date_bounds_the_first_run(config, control):
    checked = sorted(c["employment_checked_at"] for c in store(control)["connections"])
    start = checked[6]
    run = run_tap({**config, "start_date": start}).check()
    emitted = run.records(CONNECTIONS)
    assert sorted(c["employment_checked_at"] for c in emitted) == checked[6:]  # inclusive
    assert {e["connection_id"] for e in run.records(EMPLOYMENTS)} == {c["id"] for c in emitted}
    assert all(p["created_at"] >= start for p in run.records(PINGS))


def test_an_interrupted_run_does_not_advance_the_bookmark_so_the_next_run_loses_nothing(config, control):
    first = run_tap(config).check()
    for cid in (2, 11):  # one on the first page, one on the last
        control.api_control(API, "job_change", {"connection_id": cid})
    control.add_fault(api=API, status=503, path="^/connections$", query={"page": "3"}, count=100)
    failed = run_tap({**config, "retry_max_tries": 1}, state=first.last_state)
    assert failed.returncode != 0
    control.clear_faults()
    state = failed.last_state or first.last_state
    assert bookmark(state, CONNECTIONS) == bookmark(first.last_state, CONNECTIONS)
    resumed = run_tap(config, state=state).check()
    assert sorted(c["id"] for c in resumed.records(CONNECTIONS)) == [2, 11]


def test_connections_deleted_mid_run_do_not_make_later_changes_get_lost(config, control, sandbox):
    """Pages are positional: a deletion on page 1 while page 2 is pending skips a record.

    The tap sees ``total_count`` shrink and keeps the old bookmark, so the next run
    reads the skipped change again.
    """
    first = run_tap(config).check()
    for cid in (6, 12):  # head of page 2, and page 3
        control.api_control(API, "job_change", {"connection_id": cid})
    api = sandbox.apis[API]
    list_connections = api.list_connections

    def delete_before_page_two(request):  # another user deletes a connection between page reads
        if request.arg("page") == "2" and api.is_live(1):
            api._delete(1)
        return list_connections(request)

    api.list_connections = delete_before_page_two
    try:
        during = run_tap(config, state=first.last_state).check()
    finally:
        del api.list_connections
    assert [c["id"] for c in during.records(CONNECTIONS)] == [12]  # 6 slid onto page 1, already read
    assert "deleted while the list was read" in during.stderr
    after = run_tap(config, state=during.last_state).check()
    assert 6 in [c["id"] for c in after.records(CONNECTIONS)]


def test_selected_streams_only(config, control, catalog):
    run = run_tap(config, catalog=select_streams(catalog, [ACCOUNT])).check()
    assert {m["stream"] for m in run.record_messages()} == {ACCOUNT}
    assert {e["path"] for e in api_requests(control)} == {"/account"}


# -- settings ---------------------------------------------------------------------------------------


def test_the_key_travels_in_a_header_never_in_the_query_string(config, control):
    control.clear_requests()
    run = run_tap(config).check()
    calls = api_requests(control)
    assert calls and all(e["status"] == 200 for e in calls)  # authenticated...
    assert all("key" not in e["query"] for e in calls)  # ...without a `key` parameter
    own_pings = run.records(PINGS)[SEEDED_PINGS:]  # oldest first: the seeded ones, then this run's
    assert own_pings and all("key" not in p["query_params"] for p in own_pings)


def test_group_setting_sends_group_on_every_call_and_reads_that_group(config, control):
    dumped = store(control)
    group = dumped["groups"][1]
    control.clear_requests()
    run = run_tap({**config, "trackjobchanges_group": group}).check()
    assert all(e["query"].get("group") == str(group) for e in api_requests(control))
    members = [c for c in dumped["connections"] if dumped["connection_groups"][str(c["id"])] == group]
    assert run.records(CONNECTIONS) == members
    assert run.records(ACCOUNT)[0]["connections_count"] == len(members)


def test_has_new_job_only_reads_flagged_connections(config, control):
    control.clear_requests()
    run = run_tap({**config, "trackjobchanges_has_new_job_only": True}).check()
    flagged = [c for c in store(control)["connections"] if c["has_new_job"] is True]
    assert flagged and run.records(CONNECTIONS) == flagged
    assert all(e["query"].get("has_new_job") == "true" for e in api_requests(control, path="^/connections$"))


# -- secrets ---------------------------------------------------------------------------------------------


def test_ping_history_never_leaks_the_key():
    """The API echoes a query-string key into ping history; the tap redacts it everywhere."""
    key = "tjc-Distinctive-Key-7f3a9c21"
    with Sandbox(seed=3, sizes=SIZES, credentials={API: {"api_key": key}}) as box:
        import requests

        base = box.base_urls[API]
        # A call with the key in the query string, and one whose search text is the key itself.
        requests.get(f"{base}/connections/search", params={"key": key, "query": key}, timeout=10)
        creds = {name: api.credentials for name, api in box.apis.items()}
        run = run_tap({**configs.tap_config(box.base_urls, creds, services=[API]), "log_level": "DEBUG"}).check()
        raw_history = box.apis[API].dump()["pings"]
    assert any(p["query_params"].get("key") == key for p in raw_history), "the sandbox must echo the key"
    assert key not in run.stdout and key not in run.stderr
    pings = run.records(PINGS)
    search = next(p for p in pings[SEEDED_PINGS:] if p["endpoint"] == "connections#search")
    assert search["query_params"]["key"] == REDACTED
    assert search["query_params"]["query"] == REDACTED  # a registered secret anywhere is scrubbed
    assert all(p["query_params"].get("key") in (None, REDACTED) for p in pings)


def test_ping_history_redacts_a_rotated_key_and_every_credential_named_parameter():
    """Pings recorded under an old key keep it in `query_params`: redacted by name, not only when it is today's key."""
    old_key, new_key = "tjc-Old-Rotated-Key-51c0de", "tjc-New-Current-Key-9a7b3e"
    with Sandbox(seed=3, sizes=SIZES, credentials={API: {"api_key": old_key}}) as box:
        import requests

        base = box.base_urls[API]
        requests.get(f"{base}/connections", params={"key": old_key, "api_token": "tok-Ab12Cd34", "page": 1}, timeout=10)
        box.apis[API].credentials["api_key"] = new_key  # the account rotated its key since
        creds = {name: api.credentials for name, api in box.apis.items()}
        run = run_tap(configs.tap_config(box.base_urls, creds, services=[API])).check()
    assert old_key not in run.stdout and old_key not in run.stderr
    old_call = next(p for p in run.records(PINGS)[SEEDED_PINGS:] if p["query_params"].get("page") in (1, "1"))
    assert old_call["query_params"]["key"] == REDACTED
    assert old_call["query_params"]["api_token"] == REDACTED
    assert "tok-Ab12Cd34" not in run.stdout


# -- failures ----------------------------------------------------------------------------------------------


def test_wrong_key_fails_at_once_with_a_one_line_message_naming_the_setting(config, control):
    control.clear_requests()
    run = run_tap({**config, "trackjobchanges_api_key": "not-the-key-123"})
    assert run.returncode != 0
    line = last_line(run.stderr)
    assert "TrackJobChanges" in line and "`trackjobchanges_api_key`" in line and "401" in line
    assert "not-the-key-123" not in run.stderr
    assert len(api_requests(control)) == 1  # 401 is not retried


def test_throttling_and_server_errors_on_a_middle_page_are_retried_to_the_same_output(config, control, catalog):
    chosen = select_streams(catalog, [CONNECTIONS, EMPLOYMENTS])
    clean = run_tap(config, catalog=chosen).check()
    control.add_fault(api=API, status=429, retry_after=0.2, path="^/connections$", query={"page": "2"}, count=1)
    control.add_fault(api=API, status=503, path="^/connections$", query={"page": "2"}, count=1)
    control.add_fault(api=API, status=503, path="/employments$", skip=4, count=1)
    faulted = run_tap(config, catalog=chosen).check()
    assert [f["fired"] for f in control.faults()] == [1, 1, 1]
    assert faulted.records(CONNECTIONS) == clean.records(CONNECTIONS)
    assert faulted.records(EMPLOYMENTS) == clean.records(EMPLOYMENTS)
    assert "HTTP 429" in faulted.stderr and "HTTP 503" in faulted.stderr


def test_past_the_retry_bound_the_run_fails_naming_service_endpoint_and_status(config, control):
    control.add_fault(api=API, status=503, path="^/connections$", query={"page": "2"}, count=100)
    run = run_tap({**config, "retry_max_tries": 2})
    assert run.returncode != 0
    line = last_line(run.stderr)
    assert "TrackJobChanges" in line and "GET /trackjobchanges/api/v1/connections" in line and "503" in line
    assert "page=2" in line and "sandbox-tjc-key" not in run.stderr


def test_a_base_url_that_is_not_http_fails_naming_the_setting(config):
    run = run_tap({**config, "trackjobchanges_base_url": "ftp://example.com/api/v1"})
    assert run.returncode != 0
    assert "`trackjobchanges_base_url`" in last_line(run.stderr)


def test_an_unknown_group_fails_with_one_line_naming_the_group_setting(config):
    run = run_tap({**config, "trackjobchanges_group": "999"})
    assert run.returncode != 0
    line = last_line(run.stderr)
    assert "TrackJobChanges" in line and "`trackjobchanges_group`" in line and "404" in line


def test_a_connection_destroyed_before_its_employments_are_read_does_not_fail_the_run(config, control, sandbox):
    api = sandbox.apis[API]
    list_connections = api.list_connections

    def delete_after_page_one(request):  # another user destroys connection 3 right after page 1 was served
        response = list_connections(request)
        if request.arg("page") in (None, "1") and api.is_live(3):
            api._delete(3)
        return response

    api.list_connections = delete_after_page_one
    try:
        run = run_tap({**config, "max_workers": 1}).check()
    finally:
        del api.list_connections
    emitted = [c["id"] for c in run.records(CONNECTIONS)]
    assert 3 in emitted
    assert {e["connection_id"] for e in run.records(EMPLOYMENTS)} == set(emitted) - {3}
    assert "connection destroyed during the run" in run.stderr


# -- readings of what the document leaves open ---------------------------------------------------------------


@pytest.mark.parametrize("employment_checked_at", ["present", "absent"])
def test_connections_listed_without_the_incremental_key_are_re_emitted_every_run_with_one_warning(
    config, control, employment_checked_at
):
    """The list example shows no `employment_checked_at`: without it nothing is lost, but nothing is skipped."""
    control.set_readings(API, employment_checked_at=employment_checked_at)
    selected = select_streams(discover(config), [CONNECTIONS, EMPLOYMENTS])
    first = run_tap(config, catalog=selected).check()
    dumped = store(control)
    assert sorted(c["id"] for c in first.records(CONNECTIONS)) == sorted(c["id"] for c in dumped["connections"])
    control.api_control(API, "check", {"connection_id": 7})
    control.clear_requests()
    second = run_tap(config, catalog=selected, state=first.last_state).check()
    employments = api_requests(control, path="employments")
    output = first.stderr.splitlines() + second.stderr.splitlines()
    warnings = [line for line in output if "employment_checked_at`" in line]
    if employment_checked_at == "present":
        assert [c["id"] for c in second.records(CONNECTIONS)] == [7] and len(employments) == 1
        assert warnings == []
    else:
        assert len(second.records(CONNECTIONS)) == 12 and len(employments) == 12
        assert len(second.records(EMPLOYMENTS)) == len(all_employments(store(control)))
        assert len(warnings) == 2  # once per run
        assert "none of the 12 connections listed carries `employment_checked_at`" in warnings[1]
        assert "incremental runs cost as much as full ones" in warnings[1]
