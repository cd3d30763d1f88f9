"""The simulated PCRecruiter API, over real HTTP: sessions, listings, change tracking, app names."""

from __future__ import annotations

import typing as t

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from jobsync_sandbox import Sandbox
from jobsync_sandbox.apis.pcrecruiter import BAD_CREDENTIALS_MESSAGE, UNAUTHORIZED_MESSAGE
from tap_jobsync.pcrecruiter import api as pcr

SIZES = {"pcrecruiter": {"candidates": 30, "companies": 8, "positions": 12}}
DAY = 86400


class PCR:
    """A logged-in PCRecruiter client for one sandbox user."""

    def __init__(self, sandbox: Sandbox, username: str | None = None, password: str | None = None) -> None:
        creds = sandbox.credentials_for("pcrecruiter")
        self.base = sandbox.base_urls["pcrecruiter"]
        self.http = requests.Session()
        response = self.http.get(
            f"{self.base}/access-token",
            params={
                "DatabaseId": creds["database_id"],
                "Username": username or creds["username"],
                "Password": password or creds["password"],
                "AppId": creds["app_id"],
                "ApiKey": creds["api_key"],
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text
        self.session_id = response.json()["SessionId"]

    def get(self, path: str, tracking: str | None = None, operations: str | None = None, **params: t.Any):
        headers = {"Authorization": f"BEARER {self.session_id}"}
        if tracking is not None:
            headers[pcr.TRACKING_HEADER] = tracking
        if operations is not None:
            headers[pcr.OPERATION_HEADER] = operations
        return self.http.get(f"{self.base}/{path}", headers=headers, params=params, timeout=10)

    def version(self) -> int:
        response = self.get("null", "GET")
        assert response.status_code == 200
        return int(response.headers[pcr.TRACKING_HEADER])

    def all_pages(self, path: str, per_page: int = 7, **kwargs: t.Any) -> list[dict]:
        rows, page = [], 1
        while True:
            body = self.get(path, ResultsPerPage=per_page, Page=page, **kwargs).json()
            rows += body["Results"]
            if len(body["Results"]) < per_page:
                return rows
            page += 1


@pytest.fixture
def api(sandbox: Sandbox) -> PCR:
    sandbox.reset(sizes=SIZES)
    return PCR(sandbox)


def key_of(sandbox: Sandbox, entity: str, index: int) -> int:
    return sandbox.apis["pcrecruiter"].stores[entity].key_of(index)


def mutate(control, action: str, entity: str = "candidates", **payload: t.Any) -> dict:
    return control.api_control("pcrecruiter", action, {"entity": entity, **payload})


# -- sessions ----------------------------------------------------------------------------------------------
def test_access_token_returns_a_session_used_as_bearer(api):
    response = api.get("candidates", ResultsPerPage=1)
    assert response.status_code == 200
    assert response.json()["TotalRecords"] == 30


@pytest.mark.parametrize("wrong", ["Password", "ApiKey", "DatabaseId", "AppId", "Username"])
def test_access_token_with_wrong_credentials_is_401(sandbox, wrong):
    sandbox.reset(sizes=SIZES)
    creds = sandbox.credentials_for("pcrecruiter")
    params = {
        "DatabaseId": creds["database_id"],
        "Username": creds["username"],
        "Password": creds["password"],
        "AppId": creds["app_id"],
        "ApiKey": creds["api_key"],
    }
    params[wrong] = "nope"
    response = requests.get(f"{sandbox.base_urls['pcrecruiter']}/access-token", params=params, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"Message": BAD_CREDENTIALS_MESSAGE}


def test_calls_without_a_valid_session_are_401(api, sandbox):
    base = sandbox.base_urls["pcrecruiter"]
    assert requests.get(f"{base}/candidates", timeout=10).status_code == 401
    response = requests.get(f"{base}/candidates", headers={"Authorization": "BEARER not-a-session"}, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"Message": UNAUTHORIZED_MESSAGE}


def test_expire_sessions_control_makes_the_next_call_401_until_a_new_login(api, control, sandbox):
    assert api.get("null", "GET").status_code == 200
    assert control.api_control("pcrecruiter", "expire_sessions")["expired"] == 1
    assert api.get("null", "GET").status_code == 401
    assert PCR(sandbox).get("null", "GET").status_code == 200


def test_request_log_hides_password_and_api_key(api, control, sandbox):
    creds = sandbox.credentials_for("pcrecruiter")
    logged = str(control.requests(api="pcrecruiter", path="access-token")["entries"])
    assert "access-token" in logged
    assert creds["password"] not in logged
    assert creds["api_key"] not in logged


# -- plain listings ------------------------------------------------------------------------------------------
def test_listing_is_paged_and_ordered_by_primary_key(api):
    first = api.get("candidates", ResultsPerPage=7, Page=1).json()
    assert first["TotalRecords"] == 30
    assert len(first["Results"]) == 7
    rows = api.all_pages("candidates")
    keys = [r["CandidateId"] for r in rows]
    assert len(keys) == 30
    assert keys == sorted(keys)
    assert len(set(keys)) == 30
    assert api.get("candidates", ResultsPerPage=7, Page=6).json()["Results"] == []


def test_results_per_page_above_the_maximum_is_refused(api):
    response = api.get("candidates", ResultsPerPage=pcr.MAX_RESULTS_PER_PAGE + 1)
    assert response.status_code == 400
    assert api.get("candidates", ResultsPerPage=pcr.MAX_RESULTS_PER_PAGE).status_code == 200


def test_query_filters_case_insensitively(api, control, sandbox):
    target = key_of(sandbox, "candidates", 5)
    mutate(control, "update", id=target, fields={"FirstName": "Fred", "LastName": "Quarry"})
    rows = api.get("candidates", query="lastname eq quarry").json()["Results"]
    assert [r["CandidateId"] for r in rows] == [target]
    freds = api.all_pages("candidates", query="firstname eq FRED")
    assert target in {r["CandidateId"] for r in freds}
    assert all(r["FirstName"] == "Fred" for r in freds)
    both = api.all_pages("candidates", query="firstname eq fred and lastname co uarr")
    assert [r["CandidateId"] for r in both] == [target]


def test_query_on_an_unknown_field_is_400(api):
    response = api.get("candidates", query="shoesize eq 9")
    assert response.status_code == 400
    assert "shoesize" in response.json()["Message"]


def test_fields_projects_and_always_includes_the_primary_key(api):
    rows = api.get("candidates", fields="firstname,lastname", ResultsPerPage=3).json()["Results"]
    assert rows and all(set(r) == {"CandidateId", "FirstName", "LastName"} for r in rows)
    assert api.get("candidates", fields="nosuchfield").status_code == 400


def test_single_record_by_primary_key(api, control, sandbox):
    key = key_of(sandbox, "candidates", 2)
    record = api.get(f"candidates/{key}").json()
    assert record["CandidateId"] == key
    assert set(api.get(f"candidates/{key}", fields="firstname").json()) == {"CandidateId", "FirstName"}
    mutate(control, "delete", id=key)
    assert api.get(f"candidates/{key}").status_code == 404
    assert api.get("candidates/123").status_code == 404


def test_seeded_data_is_deterministic_and_positions_reference_companies(api, sandbox):
    twin = Sandbox(seed=1, sizes=SIZES).start()
    other = Sandbox(seed=2, sizes=SIZES).start()
    try:
        mine = api.all_pages("positions")
        assert PCR(twin).all_pages("positions") == mine
        assert PCR(other).all_pages("positions") != mine
    finally:
        twin.stop()
        other.stop()
    companies = {c["CompanyId"] for c in api.all_pages("companies")}
    assert {p["CompanyId"] for p in mine} <= companies


def test_a_million_records_are_generated_lazily(sandbox, control):
    sandbox.reset(sizes={"pcrecruiter": {"candidates": 1_000_000}})
    api = PCR(sandbox)
    last = api.get("candidates", ResultsPerPage=500, Page=2000).json()
    assert last["TotalRecords"] == 1_000_000
    assert len(last["Results"]) == 500
    mutate(control, "delete", id=key_of(sandbox, "candidates", 10))
    shifted = api.get("candidates", ResultsPerPage=500, Page=2000).json()["Results"]
    assert len(shifted) == 499
    dump = control.store("pcrecruiter")
    assert dump["entities"]["candidates"]["count"] == 999_999
    assert dump["entities"]["candidates"]["truncated"] is True


@settings(max_examples=60, deadline=None)
@given(
    deletes=st.lists(st.integers(0, 59), max_size=25),
    inserts=st.integers(0, 8),
    late_deletes=st.lists(st.integers(0, 7), max_size=4),
    per_page=st.integers(1, 13),
)
def test_lazy_paging_matches_a_plain_sorted_listing(deletes, inserts, late_deletes, per_page):
    """Pages computed from the index (no list of all keys) equal slicing the sorted live keys."""
    box = Sandbox(seed=3, sizes={"pcrecruiter": {"candidates": 60}})
    api = box.apis["pcrecruiter"]
    store = api.stores["candidates"]
    for index in set(deletes):
        api.control("delete", {"entity": "candidates", "id": store.key_of(index)})
    new = [r["CandidateId"] for r in api.control("insert", {"entity": "candidates", "count": inserts})["records"]]
    for i in set(late_deletes):
        if i < len(new):
            api.control("delete", {"entity": "candidates", "id": new[i]})
    expected = sorted(store.all_live_keys())
    assert store.live_count == len(expected)
    paged = [k for start in range(0, len(expected) + per_page, per_page) for k in store.live_keys(start, per_page)]
    assert paged == expected


def test_mutations_use_the_sandbox_clock(api, control):
    now = control.advance_clock(3 * DAY)
    record = mutate(control, "insert", record={"FirstName": "Pebbles"})["records"][0]
    assert record["DateEntered"][:10] == now[:10]
    assert record["LastModified"] == record["DateEntered"]


# -- change tracking -------------------------------------------------------------------------------------------
def test_null_with_get_reports_the_current_version_and_every_change_bumps_it(api, control, sandbox):
    start = api.version()
    mutate(control, "insert")
    mutate(control, "update", entity="companies", id=key_of(sandbox, "companies", 1), fields={"Phone": "1"})
    mutate(control, "delete", entity="positions", id=key_of(sandbox, "positions", 1))
    assert api.version() == start + 3


def test_changes_since_a_version_are_the_net_effect_per_record_in_key_order(api, control, sandbox):
    since = api.version()
    updated, deleted, updated_then_deleted = (key_of(sandbox, "candidates", i) for i in (20, 3, 9))
    inserted = mutate(control, "insert")["records"][0]["CandidateId"]
    mutate(control, "update", id=inserted, fields={"FirstName": "Wilma"})
    mutate(control, "update", id=updated, fields={"FirstName": "Dino"})
    mutate(control, "update", id=updated, fields={"Title": "Boss"})
    mutate(control, "delete", id=deleted)
    mutate(control, "update", id=updated_then_deleted, fields={"Title": "Gone"})
    mutate(control, "delete", id=updated_then_deleted)
    mutate(control, "update", entity="companies", id=key_of(sandbox, "companies", 0), fields={"Phone": "2"})

    response = api.get("candidates", str(since))
    assert response.status_code == 200
    assert int(response.headers[pcr.TRACKING_HEADER]) == since + 8
    body = response.json()
    assert body["TotalRecords"] == 4
    assert body["Results"] == [
        {"CandidateId": -deleted},
        {"CandidateId": -updated_then_deleted},
        {**body["Results"][2], "CandidateId": updated, "FirstName": "Dino", "Title": "Boss"},
        {**body["Results"][3], "CandidateId": inserted, "FirstName": "Wilma"},
    ]
    assert len(body["Results"][2]) > 5  # full records for inserts and updates


def test_change_sets_are_paged_with_results_per_page(api, control, sandbox):
    since = api.version()
    keys = [key_of(sandbox, "candidates", i) for i in range(0, 30, 3)]
    mutate(control, "update", ids=keys, fields={"Status": "Placed"})
    pages = [api.get("candidates", str(since), ResultsPerPage=4, Page=p).json() for p in (1, 2, 3)]
    assert [len(p["Results"]) for p in pages] == [4, 4, 2]
    assert all(p["TotalRecords"] == 10 for p in pages)
    assert [r["CandidateId"] for p in pages for r in p["Results"]] == keys


def test_operation_header_filters_inserts_updates_and_deletes(api, control, sandbox):
    since = api.version()
    inserted = mutate(control, "insert")["records"][0]["CandidateId"]
    updated, deleted = key_of(sandbox, "candidates", 1), key_of(sandbox, "candidates", 2)
    mutate(control, "update", id=updated, fields={"Title": "Chief"})
    mutate(control, "delete", id=deleted)

    def keys(ops: str | None) -> list:
        return [r["CandidateId"] for r in api.get("candidates", str(since), ops).json()["Results"]]

    assert keys(None) == [updated, -deleted, inserted]
    assert keys("IUD") == [updated, -deleted, inserted]
    assert keys("I") == [inserted]
    assert keys("U") == [updated]
    assert keys("IU") == [updated, inserted]
    assert keys("UD") == [updated, -deleted]
    # Only deletes asked for: no minus sign, nothing to tell apart.
    assert keys("D") == [deleted]
    assert api.get("candidates", str(since), "X").status_code == 400


def test_deleted_records_skip_the_query_and_fields(api, control, sandbox):
    since = api.version()
    fred, barney, gone = (key_of(sandbox, "candidates", i) for i in (4, 5, 6))
    mutate(control, "update", id=fred, fields={"FirstName": "Fred"})
    mutate(control, "update", id=barney, fields={"FirstName": "Barney"})
    mutate(control, "update", id=gone, fields={"FirstName": "Barney"})
    mutate(control, "delete", id=gone)
    rows = api.get("candidates", str(since), query="firstname eq fred", fields="candidateid,firstname").json()
    assert rows["Results"] == [{"CandidateId": fred, "FirstName": "Fred"}, {"CandidateId": -gone}]


def test_an_inserted_then_deleted_record_stays_in_the_change_set_as_a_delete(api, control):
    since = api.version()
    key = mutate(control, "insert")["records"][0]["CandidateId"]
    assert api.get("candidates", str(since)).json()["Results"][0]["CandidateId"] == key
    mutate(control, "delete", id=key)
    assert api.get("candidates", str(since)).json()["Results"] == [{"CandidateId": -key}]


def test_changes_made_while_paging_never_move_records_onto_pages_already_read(api, control, sandbox):
    since = api.version()
    changed = [key_of(sandbox, "candidates", i) for i in range(10, 30, 2)]
    mutate(control, "update", ids=changed, fields={"Status": "Placed"})
    page1 = api.get("candidates", str(since), ResultsPerPage=4, Page=1).json()["Results"]
    # Mid-read: a new change sorts before everything read so far, one read record changes
    # again, and one is deleted.
    mutate(control, "update", id=key_of(sandbox, "candidates", 0), fields={"Status": "Placed"})
    mutate(control, "update", id=changed[1], fields={"Title": "Again"})
    mutate(control, "delete", id=changed[2])
    rest = []
    for page in (2, 3, 4):
        rest += api.get("candidates", str(since), ResultsPerPage=4, Page=page).json()["Results"]
    seen = {abs(r["CandidateId"]) for r in page1 + rest}
    assert set(changed) <= seen  # re-reads are possible, losses are not


def test_versions_older_than_the_retention_window_are_refused_naming_the_minimum(api, control):
    old = api.version()
    mutate(control, "insert")
    fresh = api.version()
    control.advance_clock(8 * DAY)
    assert control.store("pcrecruiter")["entities"]["candidates"]["changes"] == []  # pruned lazily
    response = api.get("candidates", str(old))
    assert response.status_code == pcr.EXPIRED_VERSION_STATUS
    assert response.json()["MinimumValidVersion"] == fresh
    assert f"minimum valid version is {fresh}" in response.json()["Message"]
    assert pcr.is_expired_version_answer(response.status_code, response.text)
    assert pcr.minimum_valid_version(response.text) == fresh
    # A version at or after the newest pruned change lost nothing: still answered.
    assert api.get("candidates", str(fresh)).json()["Results"] == []


def test_recent_changes_survive_pruning_of_older_ones(api, control):
    since = api.version()
    mutate(control, "insert")
    control.advance_clock(5 * DAY)
    kept = mutate(control, "insert")["records"][0]["CandidateId"]
    middle = api.version() - 1
    control.advance_clock(3 * DAY)
    assert api.get("candidates", str(since)).status_code == 400
    assert [r["CandidateId"] for r in api.get("candidates", str(middle)).json()["Results"]] == [kept]


# -- app-name mode --------------------------------------------------------------------------------------------------
def test_app_name_start_continue_stop(api, control, sandbox):
    first = api.get("candidates", "MyApp START", ResultsPerPage=100)
    assert first.status_code == 200
    # Nothing stored yet for (MyApp, user): every record, as an insert.
    assert first.json()["TotalRecords"] == 30
    assert api.get("companies", "MyApp").json()["TotalRecords"] == 8
    stop = api.get("null", "MyApp STOP")
    assert stop.status_code == 200
    committed = int(stop.headers[pcr.TRACKING_HEADER])
    assert committed == api.version()

    inserted = mutate(control, "insert")["records"][0]["CandidateId"]
    updated = key_of(sandbox, "candidates", 7)
    mutate(control, "update", id=updated, fields={"FirstName": "Fred"})
    start = api.get("candidates", "MyApp START", "IU")
    assert [r["CandidateId"] for r in start.json()["Results"]] == [updated, inserted]
    assert api.get("candidates", "MyApp", "IU", query="firstname eq fred").json()["Results"][0]["FirstName"] == "Fred"
    # The document's step 3 says END: it commits like STOP.
    assert api.get("null", "MyApp END").status_code == 200
    assert api.get("candidates", "MyApp START").json()["Results"] == []

    commands = [c["command"] for c in control.store("pcrecruiter")["commands"]]
    assert commands == ["START", "CONTINUE", "STOP", "START", "CONTINUE", "END", "START"]


def test_app_name_without_stop_re_reads_the_same_changes(api, control):
    api.get("candidates", "Nightly START")
    api.get("null", "Nightly STOP")
    key = mutate(control, "insert")["records"][0]["CandidateId"]
    assert [r["CandidateId"] for r in api.get("candidates", "Nightly START").json()["Results"]] == [key]
    # No STOP (the pull failed): the next START begins from the same stored version.
    assert [r["CandidateId"] for r in api.get("candidates", "Nightly START").json()["Results"]] == [key]


def test_app_name_continuation_or_stop_without_start_is_400(api):
    response = api.get("candidates", "Orphan")
    assert response.status_code == 400
    assert "START" in response.json()["Message"]
    assert api.get("null", "Orphan STOP").status_code == 400


@pytest.mark.parametrize("name", ["1App", "ElevenChars", "My-App", "My App START", "App STARTED"])
def test_invalid_app_names_and_commands_are_400(api, name):
    response = api.get("candidates", name)
    assert response.status_code == 400
    assert "Message" in response.json()


def test_app_versions_are_kept_per_user_and_app_names_ignore_case(sandbox):
    creds = dict(sandbox.credentials_for("pcrecruiter"))
    box = Sandbox(seed=1, sizes=SIZES, credentials={"pcrecruiter": {**creds, "users": {"betty": "betty-pw"}}})
    with box:
        wilma, betty = PCR(box), PCR(box, "betty", "betty-pw")
        wilma.get("candidates", "Sync START")
        wilma.get("null", "SYNC STOP")
        assert wilma.get("candidates", "sync START").json()["TotalRecords"] == 0
        # Another user's START still sees everything.
        assert betty.get("candidates", "Sync START").json()["TotalRecords"] == 30


def test_app_name_with_an_expired_stored_version_is_refused(api, control):
    api.get("candidates", "Weekly START")
    api.get("null", "Weekly STOP")
    mutate(control, "insert")
    control.advance_clock(8 * DAY)
    response = api.get("candidates", "Weekly START")
    assert pcr.is_expired_version_answer(response.status_code, response.text)
    # START on null reads nothing, so it opens a pull; STOP then commits the current version.
    assert api.get("null", "Weekly START").status_code == 200
    assert api.get("null", "Weekly STOP").status_code == 200
    assert api.get("candidates", "Weekly START").json()["Results"] == []


# -- readings: every plausible reading of the document ---------------------------------------------------------------
def test_expired_version_reading_error_refuses_and_partial_silently_answers_what_is_left(api, control):
    """ "Change Tracking is usually only retained for up to seven days": past that, an error or a partial set."""
    since = api.version()
    mutate(control, "insert")
    control.advance_clock(5 * DAY)
    kept = mutate(control, "insert")["records"][0]["CandidateId"]
    control.advance_clock(3 * DAY)  # the first insert is now past retention
    assert control.reading("pcrecruiter", "expired_version") == "error"
    refused = api.get("candidates", str(since))
    assert refused.status_code == 400 and "minimum valid version" in refused.json()["Message"]

    control.set_readings("pcrecruiter", expired_version="partial")
    answered = api.get("candidates", str(since))
    assert answered.status_code == 200
    assert [r["CandidateId"] for r in answered.json()["Results"]] == [kept]  # the older insert is lost
    assert int(answered.headers["X-CHANGETRACKING"]) == api.version()


@pytest.mark.parametrize(
    ("reading", "commits", "refused"),
    [("both", ["END", "STOP"], []), ("END", ["END"], ["STOP"]), ("STOP", ["STOP"], ["END"])],
)
def test_commit_command_reading_decides_whether_end_stop_or_both_conclude_a_pull(
    api, control, reading, commits, refused
):
    """Step 3 "includes the END command"; its example request sends "MyApp STOP"."""
    control.set_readings("pcrecruiter", commit_command=reading)
    for command in refused:
        api.get("candidates", "Pull START")
        answer = api.get("null", f"Pull {command}")
        assert answer.status_code == 400
        assert f"Unknown change tracking command '{command}'" in answer.json()["Message"]
    for command in commits:
        api.get("candidates", "Pull START")
        assert api.get("null", f"Pull {command}").status_code == 200
        assert api.get("candidates", "Pull START").json()["TotalRecords"] == 0  # committed


@pytest.mark.parametrize(
    ("reading", "accepted", "refused"),
    [
        ("letters", ["IUD", "IU", "D"], ["ALL"]),
        ("all", ["ALL", "IU", "D"], ["IUD"]),
        ("both", ["ALL", "IUD", "IU"], []),
    ],
)
def test_operations_reading_decides_between_all_and_explicit_letters(api, control, sandbox, reading, accepted, refused):
    """ "only ADDS, EDITS, or DELETES... or ALL" vs "(I, U, and D respectively)" and the example's IU."""
    since = api.version()
    inserted = mutate(control, "insert")["records"][0]["CandidateId"]
    deleted = key_of(sandbox, "candidates", 3)
    mutate(control, "delete", id=deleted)
    control.set_readings("pcrecruiter", operations=reading)
    expected = {"ALL": [-deleted, inserted], "IUD": [-deleted, inserted], "IU": [inserted], "D": [deleted]}
    for value in accepted:
        answer = api.get("candidates", str(since), value)
        assert answer.status_code == 200, (value, answer.text)
        assert [r["CandidateId"] for r in answer.json()["Results"]] == expected[value]
    for value in refused:
        answer = api.get("candidates", str(since), value)
        assert answer.status_code == 400
        assert "X-CHANGETRACKING-OPERATION" in answer.json()["Message"]
    # Omitted: all three, whatever the reading.
    assert [r["CandidateId"] for r in api.get("candidates", str(since)).json()["Results"]] == [-deleted, inserted]


def test_deleted_key_reading_sends_a_negative_number_or_a_minus_prefixed_string(api, control, sandbox):
    """ "a minus (-) sign in front of it. This does not mean the primary key value is negative" vs -222222222222222."""
    since = api.version()
    gone = key_of(sandbox, "candidates", 5)
    mutate(control, "delete", id=gone)
    assert api.get("candidates", str(since)).json()["Results"] == [{"CandidateId": -gone}]
    control.set_readings("pcrecruiter", deleted_key="string")
    assert api.get("candidates", str(since)).json()["Results"] == [{"CandidateId": f"-{gone}"}]
    # Only deletes asked for: no minus sign in either reading.
    assert api.get("candidates", str(since), "D").json()["Results"] == [{"CandidateId": gone}]
