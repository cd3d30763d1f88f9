"""tap-jobsync's PCRecruiter streams, run through the real CLI against the sandbox."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import typing as t

import pytest
from support import SingerRun, discover, run_tap

from jobsync_sandbox import configs
from jobsync_sandbox.client import SandboxClient
from tap_jobsync.pcrecruiter import api as pcr

SIZES = {"pcrecruiter": {"candidates": 23, "companies": 6, "positions": 9}}
PER_PAGE = 5
DAY = 86400
CANDIDATES = "pcrecruiter_candidates"
COMPANIES = "pcrecruiter_companies"
EXPIRED_WARNING = "older than PCRecruiter keeps changes"


@pytest.fixture
def config(sandbox, credentials) -> dict[str, t.Any]:
    """PCRecruiter only, fresh seeded data, small pages so every stream spans several."""
    sandbox.reset(sizes=SIZES)
    return configs.tap_config(
        sandbox.base_urls, credentials, services=("pcrecruiter",), pcrecruiter_results_per_page=PER_PAGE
    )


def only(config: dict, *entities: str, **extra: t.Any) -> dict:
    return {**config, "pcrecruiter_entities": list(entities), **extra}


def key_of(sandbox, entity: str, index: int) -> int:
    return sandbox.apis["pcrecruiter"].stores[entity].key_of(index)


def live_keys(sandbox, entity: str) -> set[int]:
    return set(sandbox.apis["pcrecruiter"].stores[entity].all_live_keys())


def mutate(control, action: str, entity: str = "candidates", **payload: t.Any) -> list[dict]:
    return control.api_control("pcrecruiter", action, {"entity": entity, **payload})["records"]


def current_version(control) -> int:
    return control.api_control("pcrecruiter", "version")["version"]


def keys(run: SingerRun, stream: str) -> list[int]:
    return [r[pcr.ENTITIES[stream.removeprefix("pcrecruiter_")]] for r in run.records(stream)]


def deleted(run: SingerRun, stream: str) -> dict[int, dict]:
    key = pcr.ENTITIES[stream.removeprefix("pcrecruiter_")]
    return {r[key]: r for r in run.records(stream) if r.get("_sdc_deleted_at")}


def bookmark(run: SingerRun, stream: str) -> dict:
    return (run.last_state or {})["bookmarks"][stream]


def commands(control) -> list[str]:
    return [c["command"] for c in control.store("pcrecruiter")["commands"]]


def when_requested(sandbox, path: str, action: t.Callable[[SandboxClient], t.Any], count: int = 1) -> threading.Thread:
    """Run ``action`` (over HTTP) once ``count`` requests to ``path`` are in the request log."""

    def watch() -> None:
        client = SandboxClient(sandbox.url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(client.requests(api="pcrecruiter", path=path)["entries"]) >= count:
                action(client)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


# -- discovery and configuration ------------------------------------------------------------------------------------
def test_discovery_has_one_log_based_stream_per_entity_keyed_as_the_api_names_it(config):
    catalog = discover(config)
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert set(streams) == {"pcrecruiter_candidates", "pcrecruiter_companies", "pcrecruiter_positions"}
    for name, entry in streams.items():
        assert entry["key_properties"] == [pcr.ENTITIES[name.removeprefix("pcrecruiter_")]]
        # Loaders create the soft-delete column from the schema.
        assert entry["schema"]["properties"]["_sdc_deleted_at"]["format"] == "date-time"
        root = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
        assert root["forced-replication-method"] == "LOG_BASED"


def test_invalid_app_name_is_rejected_at_config_validation(config, control):
    control.clear_requests()
    run = run_tap({**config, "pcrecruiter_app_name": "9lives"})
    assert run.returncode == 1
    assert "config['pcrecruiter_app_name']" in run.stderr
    assert run.messages == []
    discovered = run_tap({**config, "pcrecruiter_app_name": "WayTooLongName"}, args=["--discover"])
    assert discovered.returncode == 1
    assert "`pcrecruiter_app_name` must start with a letter and be at most 10 letters or digits" in discovered.stderr
    assert control.requests(api="pcrecruiter")["total"] == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pcrecruiter_app_name": "my-app"}, "config['pcrecruiter_app_name']"),
        (
            {"pcrecruiter_entities": ["candidates", "invoices"]},
            "`pcrecruiter_entities` has unknown entities ['invoices']",
        ),
        ({"pcrecruiter_fields": {"candidates": ["FirstName", "ShoeSize"]}}, "`pcrecruiter_fields` lists unknown"),
        ({"pcrecruiter_query": {"contacts": "x eq y"}}, "`pcrecruiter_query` names entities that are not synced"),
        ({"pcrecruiter_operations": "IX"}, "config['pcrecruiter_operations']"),
        ({"pcrecruiter_results_per_page": 501}, "config['pcrecruiter_results_per_page']"),
        ({"pcrecruiter_username": None}, "PCRecruiter is partly configured: also set `pcrecruiter_username`"),
    ],
)
def test_bad_settings_fail_before_any_request_naming_the_setting(config, change, message):
    """The tap's own config checks, in process (the CLI turns them into one-line errors, as above)."""
    from singer_sdk.exceptions import ConfigValidationError

    from jobsync_common.errors import ConfigError
    from tap_jobsync.tap import TapJobSync

    settings = {k: v for k, v in {**config, **change}.items() if v is not None}
    with pytest.raises((ConfigError, ConfigValidationError)) as caught:
        TapJobSync(config=settings)
    assert message in str(caught.value) + " ".join(getattr(caught.value, "errors", []))


# -- bookmark mode --------------------------------------------------------------------------------------------------
def test_first_run_lists_everything_then_later_runs_read_inserts_updates_and_deletes(config, sandbox, control):
    control.clear_requests()
    first = run_tap(config).check()
    for stream, entity in ((CANDIDATES, "candidates"), (COMPANIES, "companies")):
        assert sorted(keys(first, stream)) == sorted(live_keys(sandbox, entity))
        (activate,) = first.of_type("ACTIVATE_VERSION", stream)
        assert {m["version"] for m in first.record_messages(stream)} == {activate["version"]}
        # ACTIVATE_VERSION follows the listing's last record (a loader then drops older versions).
        last_record = max(i for i, m in enumerate(first.messages) if m["type"] == "RECORD" and m["stream"] == stream)
        assert first.messages.index(activate) > last_record
        kept = dict(bookmark(first, stream))
        read_at = dt.datetime.fromisoformat(kept.pop("change_tracking_read_at"))  # when we read it (our clock)
        assert abs(read_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
        assert kept == {"change_tracking_version": 1000, "table_version": activate["version"]}
    # The version is read before the listing starts, so nothing changed during it is missed.
    log = control.requests(api="pcrecruiter")["entries"]
    assert next(e["seq"] for e in log if e["path"] == "/null") < next(
        e["seq"] for e in log if e["path"] == "/candidates"
    )

    table_version = bookmark(first, CANDIDATES)["table_version"]
    updated, removed, churned = (key_of(sandbox, "candidates", i) for i in (4, 11, 17))
    inserted = mutate(control, "insert", record={"FirstName": "Bamm"})[0]["CandidateId"]
    short_lived = mutate(control, "insert")[0]["CandidateId"]
    mutate(control, "update", id=updated, fields={"FirstName": "Fred", "Title": "Crane operator"})
    mutate(control, "delete", id=removed)
    mutate(control, "update", id=churned, fields={"Title": "Temp"})
    mutate(control, "delete", id=churned)
    mutate(control, "delete", id=short_lived)
    company = key_of(sandbox, "companies", 2)
    mutate(control, "update", entity="companies", id=company, fields={"Phone": "555-0000"})

    run = run_tap(config, state=first.last_state).check()
    assert sorted(keys(run, CANDIDATES)) == sorted([updated, removed, churned, inserted, short_lived])
    assert set(deleted(run, CANDIDATES)) == {removed, churned, short_lived}
    assert all(set(r) == {"CandidateId", "_sdc_deleted_at"} for r in deleted(run, CANDIDATES).values())
    assert all(k > 0 for k in keys(run, CANDIDATES))
    by_key = {r["CandidateId"]: r for r in run.records(CANDIDATES)}
    assert by_key[updated]["FirstName"] == "Fred" and by_key[updated]["Title"] == "Crane operator"
    assert by_key[inserted]["FirstName"] == "Bamm" and by_key[inserted].get("_sdc_deleted_at") is None
    assert keys(run, COMPANIES) == [company]
    assert keys(run, "pcrecruiter_positions") == []
    # No full listing: no ACTIVATE_VERSION; change records keep the last full listing's version.
    assert run.of_type("ACTIVATE_VERSION") == []
    assert {m["version"] for m in run.record_messages(CANDIDATES)} == {table_version}
    new_version = current_version(control)
    assert bookmark(run, CANDIDATES)["change_tracking_version"] == new_version
    # The new bookmark reaches STATE only after the stream's records.
    state_at = next(
        i
        for i, m in enumerate(run.messages)
        if m["type"] == "STATE" and m["value"]["bookmarks"][CANDIDATES].get("change_tracking_version") == new_version
    )
    assert state_at > max(i for i, m in enumerate(run.messages) if m.get("stream") == CANDIDATES)

    again = run_tap(config, state=run.last_state).check()
    assert again.records() == []


def test_an_idle_streams_bookmark_advances_so_a_quiet_week_does_not_expire_it(config, control, sandbox):
    companies_only = only(config, "companies")
    first = run_tap(companies_only).check()
    mutate(control, "insert")  # candidates change; companies stay idle
    idle = run_tap(companies_only, state=first.last_state).check()
    assert idle.records() == []
    assert bookmark(idle, COMPANIES)["change_tracking_version"] == current_version(control)

    control.advance_clock(8 * DAY)  # the candidate change is pruned
    later = run_tap(companies_only, state=idle.last_state).check()
    # (test_a_bookmark_past_retention... shows the same clock jump expiring an old bookmark)
    assert later.records() == [] and EXPIRED_WARNING not in later.stderr
    assert later.of_type("ACTIVATE_VERSION") == []


def test_operations_setting_filters_what_later_runs_read(config, sandbox, control):
    iu = only(config, "candidates", pcrecruiter_operations="iu")
    first = run_tap(iu).check()
    assert first.of_type("ACTIVATE_VERSION") == []  # without D it would drop rows the user keeps
    inserted = mutate(control, "insert")[0]["CandidateId"]
    updated, removed = key_of(sandbox, "candidates", 2), key_of(sandbox, "candidates", 3)
    mutate(control, "update", id=updated, fields={"Title": "X"})
    mutate(control, "delete", id=removed)

    assert sorted(keys(run_tap(iu, state=first.last_state).check(), CANDIDATES)) == sorted([updated, inserted])
    deletes_only = run_tap(only(config, "candidates", pcrecruiter_operations="D"), state=first.last_state).check()
    # The API sends these keys without a minus sign; they are still deletes.
    assert keys(deletes_only, CANDIDATES) == [removed]
    assert deletes_only.records(CANDIDATES)[0]["_sdc_deleted_at"]


def test_query_and_fields_settings_reach_the_api(config, sandbox, control):
    fred = key_of(sandbox, "candidates", 6)
    mutate(control, "update", id=fred, fields={"FirstName": "Fred", "LastName": "Quarryman"})
    settings = only(
        config,
        "candidates",
        pcrecruiter_query={"candidates": "lastname eq quarryman"},
        pcrecruiter_fields={"candidates": ["firstname"]},
    )
    first = run_tap(settings).check()
    assert first.records(CANDIDATES) == [{"CandidateId": fred, "FirstName": "Fred"}]
    gone = key_of(sandbox, "candidates", 8)
    mutate(control, "delete", id=gone)
    run = run_tap(settings, state=first.last_state).check()
    assert set(deleted(run, CANDIDATES)) == {gone}  # deletes skip the query


def test_changes_made_during_an_incremental_run_appear_on_the_next_run(config, sandbox, control):
    settings = only(config, "candidates")
    first = run_tap(settings).check()
    changed = [key_of(sandbox, "candidates", i) for i in range(5, 23)]
    mutate(control, "update", ids=changed, fields={"Status": "Placed"})  # 18 changes: 4 pages

    mid_run = {"early": key_of(sandbox, "candidates", 0), "again": changed[1], "gone": changed[2]}

    def change_while_paging(client: SandboxClient) -> None:
        client.api_control(
            "pcrecruiter", "update", {"entity": "candidates", "id": mid_run["early"], "fields": {"Title": "Mid"}}
        )
        client.api_control(
            "pcrecruiter", "update", {"entity": "candidates", "id": mid_run["again"], "fields": {"Title": "Mid"}}
        )
        client.api_control("pcrecruiter", "delete", {"entity": "candidates", "id": mid_run["gone"]})
        mid_run["inserted"] = client.api_control("pcrecruiter", "insert", {"entity": "candidates"})["records"][0][
            "CandidateId"
        ]

    control.clear_requests()
    control.set_latency(150, api="pcrecruiter")
    watcher = when_requested(sandbox, "^/candidates$", change_while_paging)
    second = run_tap(settings, state=first.last_state).check()
    watcher.join(5)
    control.set_latency(0, api="pcrecruiter")
    assert "inserted" in mid_run, "the mutation thread did not run"
    assert set(changed) <= set(keys(second, CANDIDATES))  # nothing changed before the run is lost

    third = run_tap(settings, state=second.last_state).check()
    assert {mid_run["early"], mid_run["again"], mid_run["gone"], mid_run["inserted"]} <= set(keys(third, CANDIDATES))
    assert mid_run["gone"] in deleted(third, CANDIDATES)


def test_a_record_deleted_during_the_full_listing_does_not_hide_the_next_one(config, sandbox, control):
    victim = key_of(sandbox, "candidates", 1)  # on page 1
    control.clear_requests()
    control.set_latency(100, api="pcrecruiter")
    watcher = when_requested(
        sandbox,
        "^/candidates$",
        lambda c: c.api_control("pcrecruiter", "delete", {"entity": "candidates", "id": victim}),
    )
    run = run_tap(only(config, "candidates")).check()
    watcher.join(5)
    control.set_latency(0, api="pcrecruiter")
    assert victim not in live_keys(sandbox, "candidates")
    # Deleting a page-1 record moved the first record of page 2 onto page 1 after we read it.
    assert live_keys(sandbox, "candidates") <= set(keys(run, CANDIDATES))
    first_pages = [
        e for e in control.requests(api="pcrecruiter", path="^/candidates$")["entries"] if e["query"].get("Page") == "1"
    ]
    assert len(first_pages) >= 2  # page 1 read again
    assert len(run.of_type("ACTIVATE_VERSION", CANDIDATES)) == 1
    after = run_tap(only(config, "candidates"), state=run.last_state).check()
    assert set(deleted(after, CANDIDATES)) == {victim}


def test_the_apis_expired_version_answer_triggers_a_full_resync_with_activate_version(config, sandbox, control):
    """The state is fresh by our clock, but PCRecruiter says the version is gone (400 naming the minimum)."""
    control.set_readings("pcrecruiter", expired_version="error")
    settings = only(config, "candidates")
    first = run_tap(settings).check()
    mutate(control, "insert")
    control.advance_clock(8 * DAY)
    run = run_tap(settings, state=first.last_state).check()
    assert EXPIRED_WARNING in run.stderr and "resyncing in full" in run.stderr and "minimum valid version" in run.stderr
    assert sorted(keys(run, CANDIDATES)) == sorted(live_keys(sandbox, "candidates"))
    (activate,) = run.of_type("ACTIVATE_VERSION", CANDIDATES)
    assert activate["version"] > bookmark(first, CANDIDATES)["table_version"]
    assert {m["version"] for m in run.record_messages(CANDIDATES)} == {activate["version"]}
    assert bookmark(run, CANDIDATES)["change_tracking_version"] == current_version(control)


def aged(state: dict, days: float) -> dict:
    """A copy of ``state`` as if its versions had been read ``days`` earlier (by the tap's clock)."""
    state = json.loads(json.dumps(state))
    for stream_state in state["bookmarks"].values():
        for key in ("change_tracking_read_at", "app_name_version_read_at"):
            if key in stream_state:
                read_at = dt.datetime.fromisoformat(stream_state[key]) - dt.timedelta(days=days)
                stream_state[key] = read_at.isoformat()
    return state


@pytest.mark.parametrize("expired_version", ["error", "partial"])
def test_a_bookmark_read_more_than_seven_days_ago_is_resynced_in_full_whatever_the_api_answers(
    config, sandbox, control, expired_version
):
    """`partial`: past its window the API answers 200 with what it still keeps; only our clock can tell."""
    control.set_readings("pcrecruiter", expired_version=expired_version)
    settings = only(config, "candidates")
    first = run_tap(settings).check()
    updated = key_of(sandbox, "candidates", 3)
    mutate(control, "update", id=updated, fields={"Title": "Pruned"})  # a change the API forgets
    control.advance_clock(8 * DAY)
    mutate(control, "insert")
    control.clear_requests()
    run = run_tap(settings, state=aged(first.last_state, 8)).check()
    assert EXPIRED_WARNING in run.stderr and "days ago by this tap's clock" in run.stderr
    assert sorted(keys(run, CANDIDATES)) == sorted(live_keys(sandbox, "candidates"))
    assert {r["CandidateId"]: r for r in run.records(CANDIDATES)}[updated]["Title"] == "Pruned"
    assert len(run.of_type("ACTIVATE_VERSION", CANDIDATES)) == 1
    # Decided before asking for changes: no change-tracking list request was made.
    assert [e["status"] for e in control.requests(api="pcrecruiter")["entries"]].count(400) == 0
    assert bookmark(run, CANDIDATES)["change_tracking_version"] == current_version(control)
    # The new bookmark is stamped now: the next run reads changes again.
    assert run_tap(settings, state=run.last_state).check().records() == []


# -- app-name mode ---------------------------------------------------------------------------------------------------
def test_app_name_mode_starts_once_and_stops_after_the_last_page(config, sandbox, control):
    settings = only(config, "candidates", "companies", pcrecruiter_app_name="JobSync")
    control.clear_requests()
    first = run_tap(settings).check()
    # Nothing stored yet for the app: every record comes as an insert.
    assert sorted(keys(first, CANDIDATES)) == sorted(live_keys(sandbox, "candidates"))
    assert sorted(keys(first, COMPANIES)) == sorted(live_keys(sandbox, "companies"))
    seen = commands(control)
    assert seen[0] == "START" and seen[-1] in pcr.COMMIT_COMMANDS
    assert set(seen[1:-1]) == {"CONTINUE"} and len(seen) == 5 + 2 + 1  # 23 candidates, 6 companies
    log = control.requests(api="pcrecruiter")["entries"]
    stop_at = max(e["seq"] for e in log if e["path"] == "/null")
    assert stop_at > max(e["seq"] for e in log if e["path"] in ("/candidates", "/companies"))
    assert "change_tracking_version" not in bookmark(first, CANDIDATES)  # the API keeps it

    updated = key_of(sandbox, "candidates", 9)
    mutate(control, "update", id=updated, fields={"Title": "Foreman"})
    company = mutate(control, "insert", entity="companies")[0]["CompanyId"]
    second = run_tap(settings).check()
    assert keys(second, CANDIDATES) == [updated]
    assert keys(second, COMPANIES) == [company]
    assert run_tap(settings).check().records() == []


def test_app_name_mode_failure_mid_run_sends_no_stop_and_the_next_run_rereads(config, sandbox, control):
    settings = only(config, "candidates", "companies", pcrecruiter_app_name="JobSync", retry_max_tries=2)
    run_tap(settings).check()
    removed = key_of(sandbox, "candidates", 2)
    mutate(control, "delete", id=removed)
    company = key_of(sandbox, "companies", 1)
    mutate(control, "update", entity="companies", id=company, fields={"Industry": "Gravel"})

    store_before = len(commands(control))
    control.add_fault(api="pcrecruiter", path="^/companies$", status=503, count=50)
    failed = run_tap(settings)
    assert failed.returncode != 0
    assert "still failing after 2 attempts" in failed.stderr
    assert removed in deleted(failed, CANDIDATES)  # emitted before the failure...
    assert not set(pcr.COMMIT_COMMANDS) & set(commands(control)[store_before:])  # ...but not committed
    control.clear_faults()

    retried = run_tap(settings).check()
    assert removed in deleted(retried, CANDIDATES)
    assert keys(retried, COMPANIES) == [company]
    assert commands(control)[-1] in pcr.COMMIT_COMMANDS


def test_app_name_mode_with_an_expired_stored_version_resyncs_in_full(config, sandbox, control):
    """No state to tell the version's age: PCRecruiter's 400 naming the minimum valid version does."""
    control.set_readings("pcrecruiter", expired_version="error")
    settings = only(config, "candidates", pcrecruiter_app_name="JobSync")
    run_tap(settings).check()
    mutate(control, "insert")
    control.advance_clock(8 * DAY)
    run = run_tap(settings).check()
    assert EXPIRED_WARNING in run.stderr
    assert sorted(keys(run, CANDIDATES)) == sorted(live_keys(sandbox, "candidates"))
    assert len(run.of_type("ACTIVATE_VERSION", CANDIDATES)) == 1
    # The refused START, a pull opened on null (after the version expired), its commit.
    assert commands(control)[-3:-1] == ["START", "START"] and commands(control)[-1] in pcr.COMMIT_COMMANDS
    assert control.store("pcrecruiter")["app_versions"] == {"jobsync/sandbox": current_version(control)}


@pytest.mark.parametrize("expired_version", ["error", "partial"])
def test_app_name_mode_resyncs_in_full_when_the_committed_pull_began_more_than_seven_days_ago(
    config, sandbox, control, expired_version
):
    control.set_readings("pcrecruiter", expired_version=expired_version)
    settings = only(config, "candidates", "companies", pcrecruiter_app_name="JobSync")
    first = run_tap(settings).check()
    for stream in (CANDIDATES, COMPANIES):
        assert first.last_state["bookmarks"][stream]["app_name_version_read_at"]
    updated = key_of(sandbox, "candidates", 5)
    mutate(control, "update", id=updated, fields={"Title": "Pruned"})
    control.advance_clock(8 * DAY)
    mutate(control, "insert")
    run = run_tap(settings, state=aged(first.last_state, 8)).check()
    assert EXPIRED_WARNING in run.stderr
    for stream, entity in ((CANDIDATES, "candidates"), (COMPANIES, "companies")):
        assert sorted(keys(run, stream)) == sorted(live_keys(sandbox, entity))
        assert len(run.of_type("ACTIVATE_VERSION", stream)) == 1
    # One pull: opened on null before the listings, committed after them.
    assert commands(control)[-2] == "START" and commands(control)[-1] in pcr.COMMIT_COMMANDS
    assert control.store("pcrecruiter")["app_versions"] == {"jobsync/sandbox": current_version(control)}
    assert run_tap(settings, state=run.last_state).check().records() == []


@pytest.mark.parametrize(("commit_command", "committed_by"), [("both", "STOP"), ("STOP", "STOP"), ("END", "END")])
def test_an_app_name_pull_is_concluded_by_stop_or_end_and_the_one_that_worked_is_remembered(
    config, sandbox, control, commit_command, committed_by
):
    """Step 3 says END, the example sends STOP: STOP first, END when STOP is refused, remembered in the state."""
    control.set_readings("pcrecruiter", commit_command=commit_command)
    settings = only(config, "candidates", "companies", pcrecruiter_app_name="JobSync")
    control.clear_requests()
    first = run_tap(settings).check()
    assert commands(control)[-1] == committed_by
    refused = [e for e in control.requests(api="pcrecruiter", path="^/null$")["entries"] if e["status"] == 400]
    assert len(refused) == (committed_by != "STOP")
    assert ("concluded the pull instead" in first.stderr) == (committed_by != "STOP")
    remembered = {first.last_state["bookmarks"][s]["app_name_commit_command"] for s in (CANDIDATES, COMPANIES)}
    assert remembered == {committed_by}

    updated = key_of(sandbox, "candidates", 9)
    mutate(control, "update", id=updated, fields={"Title": "Foreman"})
    control.clear_requests()
    second = run_tap(settings, state=first.last_state).check()
    assert keys(second, CANDIDATES) == [updated]  # the first pull was committed
    assert [e["status"] for e in control.requests(api="pcrecruiter", path="^/null$")["entries"]] == [200]
    assert run_tap(settings, state=second.last_state).check().records() == []


def test_a_pull_neither_stop_nor_end_concludes_fails_naming_both_and_commits_nothing(config, control):
    settings = only(config, "companies", pcrecruiter_app_name="JobSync")
    control.add_fault(api="pcrecruiter", path="^/null$", status=400, count=2)
    run = run_tap(settings)
    assert run.returncode == 1
    last_line = run.stderr.strip().splitlines()[-1]
    assert "could not conclude the change-tracking pull of app name 'JobSync'" in last_line
    assert "`JobSync STOP` answered HTTP 400" in last_line and "`JobSync END` answered HTTP 400" in last_line
    assert control.store("pcrecruiter")["app_versions"] == {}


@pytest.mark.parametrize(
    "readings",
    [{"operations": "letters"}, {"operations": "all"}, {"operations": "both"}, {"deleted_key": "string"}],
    ids=lambda r: "-".join(f"{k}={v}" for k, v in r.items()),
)
def test_changes_are_read_alike_under_every_reading_of_operations_and_deleted_keys(config, sandbox, control, readings):
    """All operations: the header is left out (all three in every reading); a subset: its letters, never ALL/IUD."""
    control.set_readings("pcrecruiter", **readings)
    settings = only(config, "candidates")
    first = run_tap(settings).check()
    inserted = mutate(control, "insert")[0]["CandidateId"]
    updated, removed = key_of(sandbox, "candidates", 2), key_of(sandbox, "candidates", 3)
    mutate(control, "update", id=updated, fields={"Title": "X"})
    mutate(control, "delete", id=removed)
    for operations, expected, deletes in (
        ("IUD", {inserted, updated, removed}, {removed}),
        ("iu", {inserted, updated}, set()),
        ("D", {removed}, {removed}),
    ):
        run = run_tap({**settings, "pcrecruiter_operations": operations}, state=first.last_state).check()
        assert set(keys(run, CANDIDATES)) == expected, operations
        assert set(deleted(run, CANDIDATES)) == deletes, operations
    app = {**settings, "pcrecruiter_app_name": "JobSync", "pcrecruiter_operations": "IU"}
    run_tap(app).check()
    mutate(control, "update", id=updated, fields={"Title": "Y"})
    assert keys(run_tap(app).check(), CANDIDATES) == [updated]


# -- sessions, errors, secrets ---------------------------------------------------------------------------------------
def test_a_server_that_caps_the_page_size_fails_the_run_instead_of_skipping_records(config, control):
    """Page numbers assume our ResultsPerPage: a silently smaller page would skip records."""
    control.api_control("pcrecruiter", "cap_page_size", {"results_per_page": PER_PAGE // 2})
    try:
        run = run_tap(only(config, "candidates"))
    finally:
        control.api_control("pcrecruiter", "cap_page_size", {"results_per_page": 0})
    assert run.returncode == 1
    assert "caps the page size" in run.stderr and "`pcrecruiter_results_per_page`" in run.stderr
    assert not any(state.get("bookmarks", {}).get(CANDIDATES) for state in run.states)


def test_an_expired_session_is_renewed_once(config, sandbox, control):
    control.clear_requests()
    control.set_latency(50, api="pcrecruiter")
    watcher = when_requested(sandbox, "^/companies$", lambda c: c.api_control("pcrecruiter", "expire_sessions"))
    run = run_tap(only(config, "candidates", "companies")).check()
    watcher.join(5)
    control.set_latency(0, api="pcrecruiter")
    assert sorted(keys(run, COMPANIES)) == sorted(live_keys(sandbox, "companies"))
    log = control.requests(api="pcrecruiter")
    assert log["counts"]["pcrecruiter GET /access-token"] == 2
    assert any(e["status"] == 401 for e in log["entries"])


def test_a_second_401_is_an_auth_failure_naming_the_settings(config, control):
    control.clear_requests()
    control.add_fault(api="pcrecruiter", path="^/candidates$", status=401, count=10)
    run = run_tap(only(config, "candidates"))
    assert run.returncode == 1
    assert "PCRecruiter: authentication failed with HTTP 401" in run.stderr
    assert "`pcrecruiter_password`" in run.stderr and "`pcrecruiter_api_key`" in run.stderr
    assert control.requests(api="pcrecruiter")["counts"]["pcrecruiter GET /access-token"] == 2


def test_wrong_credentials_fail_at_login_without_retrying(config, control):
    control.clear_requests()
    run = run_tap({**config, "pcrecruiter_password": "not-the-password-42"})
    assert run.returncode == 1
    assert "authentication failed with HTTP 401 on GET access-token" in run.stderr
    assert "not-the-password-42" not in run.stdout + run.stderr
    assert control.requests(api="pcrecruiter")["counts"]["pcrecruiter GET /access-token"] == 1


def test_password_api_key_and_session_never_appear_in_output(config, sandbox, control, credentials):
    control.add_fault(api="pcrecruiter", path="access-token", status=503, count=1)
    run = run_tap(config, env={"TAP_JOBSYNC_LOGLEVEL": "DEBUG"}).check()
    output = run.stdout + run.stderr
    assert "access-token failed (HTTP 503 Service Unavailable); retry 1" in output  # the retried login is logged...
    creds = credentials["pcrecruiter"]
    for secret in (creds["password"], creds["api_key"], *sandbox.apis["pcrecruiter"].sessions):
        assert secret not in output  # ...without what identifies us


# -- the document's two spellings (the sandbox sends one of each; the tap reads both) -------------------------------------
@pytest.mark.parametrize(
    ("value", "only_deletes", "expected"),
    [
        (-222222222222222, False, (222222222222222, True)),  # the example: a negative number
        ("-222222222222222", False, (222222222222222, True)),  # the text: a minus sign in front
        (333333333333333, False, (333333333333333, False)),
        ("333333333333333", False, (333333333333333, False)),
        (222222222222222, True, (222222222222222, True)),  # only D asked for: no sign
        ("222222222222222", True, (222222222222222, True)),
    ],
)
def test_deleted_keys_are_read_as_negative_numbers_or_minus_prefixed_text(value, only_deletes, expected):
    assert pcr.split_deleted_key(value, only_deletes=only_deletes) == expected


def test_expired_versions_are_recognised_by_status_and_wording():
    worded = '{"Message": "Change tracking version 5 is invalid; minimum valid version: 17"}'
    assert pcr.is_expired_version_answer(400, worded)
    assert pcr.minimum_valid_version(worded) == 17
    assert pcr.is_expired_version_answer(400, '{"MinimumValidVersion": 17}')
    assert not pcr.is_expired_version_answer(400, '{"Message": "Unknown field in query"}')
    assert not pcr.is_expired_version_answer(500, worded)
