"""kill -9 and resume: what a killed tap or target leaves behind is safe to resume from.

- Tap: a long sync of every service is killed (SIGKILL) after a random number of
  messages, resumed from the last STATE it emitted, killed again, and finally resumed to
  the end (several seeds, bounded in count and time). Together the runs emit every record
  of the sandbox store (nothing lost), and the duplicates stay within the at-least-once
  bound: one run never emits a record twice, and a stream whose bookmark was in the STATE
  a run resumed from emits nothing again (only streams re-read in full and the stream in
  progress at the kill repeat records). See docs/reliability.md.
- Target: killed after a random number of writes, the same input run again leaves the
  destination stores exactly as a clean run does: no duplicate company, job, campaign,
  subscriber, job search or candidate entry, and no update lost or applied twice.
- PCRecruiter app-name mode: a killed run has not sent STOP, so the next run reads the
  same changes again.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import pytest
import test_faults_target as destinations
from support import discover, run_tap, select_streams

from jobsync_sandbox import configs

TAP_SIZES = {
    "trackjobchanges": {"connections": 40, "page_size": 10, "employments_per_connection": 2, "pings": 12},
    "pcrecruiter": {"candidates": 60, "companies": 15, "positions": 25},
    "ziprecruiter": {"subscribers": 80, "searches_per_subscriber": 1, "batches": 3},
    "jobcase": {"companies": 4, "jobs_per_company": 5, "campaigns": 6, "cost_rows": 40, "rate_limit_requests": 0},
}
TAP_SETTINGS = {"pcrecruiter_results_per_page": 20, "jobcase_page_size": 10, "jobcase_requests_per_minute": 0}
SEEDS = (11, 22, 33, 44)
KILLS_PER_SEED = 2
TIME_BUDGET_SECONDS = 12  # seeds start only while the budget lasts (at least two always run)
#: Streams with a bookmark: once their bookmark is in the STATE a run resumes from, it emits nothing again.
BOOKMARKED = {
    "trackjobchanges_connections": "replication_key_value",
    "jobcase_campaign_cost_data": "replication_key_value",
    "pcrecruiter_candidates": "change_tracking_version",
    "pcrecruiter_companies": "change_tracking_version",
    "pcrecruiter_positions": "change_tracking_version",
}


# -- the tap ---------------------------------------------------------------------------------------------


def read_until_killed(cmd: list[str], kill_after: int | None) -> tuple[list[dict], int | None]:
    """Run a Singer CLI, read its stdout line by line, SIGKILL it after ``kill_after`` messages.

    Returns the messages read (a line cut by the kill is not a message) and the exit code
    (None when the process was killed before it finished).
    """
    messages: list[dict] = []
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert proc.stdout is not None
        killed = False
        for line in proc.stdout:
            if not line.endswith("\n"):
                break  # cut short: never reached a reader in one piece
            messages.append(json.loads(line))
            if kill_after is not None and len(messages) >= kill_after:
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
        proc.stdout.close()
        code = proc.wait(timeout=60)
        if not killed and code != 0:
            stderr.seek(0)
            raise AssertionError(f"exit {code}: {stderr.read().decode()[-3000:]}")
    return messages, None if killed else code


def tap_cmd(directory: Path, config: dict, catalog: dict, state: dict | None) -> list[str]:
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "catalog.json").write_text(json.dumps(catalog))
    cmd = [sys.executable, "-m", "tap_jobsync.tap", "--config", str(directory / "config.json"),
           "--catalog", str(directory / "catalog.json")]  # fmt: skip
    if state is not None:
        (directory / "state.json").write_text(json.dumps(state))
        cmd += ["--state", str(directory / "state.json")]
    return cmd


def store_keys(sandbox) -> dict[str, set[tuple]]:
    """Primary keys of every record the tap must deliver, read from the sandbox store."""
    dumps = {name: api.dump() for name, api in sandbox.apis.items()}
    tjc, pcr, zr, jc = dumps["trackjobchanges"], dumps["pcrecruiter"], dumps["ziprecruiter"], dumps["jobcase"]
    keys: dict[str, set[tuple]] = {
        "trackjobchanges_connections": {(c["id"],) for c in tjc["connections"]},
        "trackjobchanges_employments": {(e["id"],) for rows in tjc["employments"].values() for e in rows},
        # Pings carry a hash of their redacted parameters: created_at and endpoint identify them here.
        "trackjobchanges_pings": {(p["created_at"], p["endpoint"]) for p in tjc["pings"]},
        "trackjobchanges_account": {(tjc["account"]["email"],)},
        "ziprecruiter_subscribers": {(s["id"],) for s in zr["subscribers"]},
        "ziprecruiter_subscriber_searches": {(s["id"],) for s in zr["searches"]},
        "ziprecruiter_batches": {(b["id"],) for b in zr["batches"]},
        "jobcase_companies": {(c["id"],) for c in jc["companies"]},
        "jobcase_jobs": {(j["id"],) for j in jc["jobs"]},
        "jobcase_campaigns": {(c["id"],) for c in jc["campaigns"]},
        "jobcase_products": {(p["id"],) for p in jc["products"]},
        "jobcase_campaign_cost_data": {
            (c["campaignId"], c["jobId"], c["eventType"], c["source"], c["time"]) for c in jc["cost_data"]
        },
    }
    for entity, key in (("candidates", "CandidateId"), ("companies", "CompanyId"), ("positions", "JobId")):
        keys[f"pcrecruiter_{entity}"] = {(r[key],) for r in pcr["entities"][entity]["records"]}
    return keys


def emitted_keys(messages: list[dict], stream: str, *, primary: bool = False) -> list[tuple]:
    """Keys of the stream's records, as :func:`store_keys` builds them (one entry per RECORD).

    ``primary``: the stream's full primary key instead (pings add the hash of their parameters).
    """
    if primary and stream == "trackjobchanges_pings":
        fields = ("created_at", "endpoint", "query_params_hash")
        return [
            tuple(m["record"].get(k) for k in fields)
            for m in messages
            if m["type"] == "RECORD" and m["stream"] == stream
        ]
    key_fields = {
        "trackjobchanges_pings": ("created_at", "endpoint"),
        "trackjobchanges_account": ("email",),
        "jobcase_campaign_cost_data": ("campaignId", "jobId", "eventType", "source", "time"),
        "pcrecruiter_candidates": ("CandidateId",),
        "pcrecruiter_companies": ("CompanyId",),
        "pcrecruiter_positions": ("JobId",),
    }.get(stream, ("id",))
    return [
        tuple(m["record"].get(k) for k in key_fields)
        for m in messages
        if m["type"] == "RECORD" and m["stream"] == stream
    ]


@pytest.fixture(scope="module")
def tap_setup(sandbox):
    credentials = {name: api.credentials for name, api in sandbox.apis.items()}
    config = configs.tap_config(sandbox.base_urls, credentials, **TAP_SETTINGS)
    catalog = discover(config)
    return config, catalog


def test_a_tap_killed_at_random_points_and_resumed_from_its_last_state_loses_nothing(sandbox, tap_setup, tmp_path):
    config, catalog = tap_setup
    sandbox.reset(seed=SEEDS[0], sizes=TAP_SIZES)
    # A clean run's length bounds the kill points.
    total = len(run_tap(config, catalog=catalog).check().messages)
    started = time.monotonic()
    seeds_run = kills = bookmarks_checked = 0
    for seed in SEEDS:
        if seeds_run >= 2 and time.monotonic() - started > TIME_BUDGET_SECONDS:
            break
        seeds_run += 1
        sandbox.reset(seed=seed, sizes=TAP_SIZES)
        expected = store_keys(sandbox)
        rng = random.Random(seed)

        runs: list[tuple[dict | None, list[dict]]] = []  # (state resumed from, messages read)
        state: dict | None = None
        for attempt in range(KILLS_PER_SEED + 1):
            kill_after = rng.randint(1, total - 1) if attempt < KILLS_PER_SEED else None
            messages, code = read_until_killed(tap_cmd(tmp_path, config, catalog, state), kill_after)
            kills += code is None
            runs.append((state, messages))
            states = [m["value"] for m in messages if m["type"] == "STATE"]
            state = states[-1] if states else state
        assert code == 0, f"seed {seed}: the last resume must run to the end"

        for stream, wanted in expected.items():
            per_run = [emitted_keys(messages, stream) for _, messages in runs]
            seen = {key for keys in per_run for key in keys}
            assert wanted <= seen, f"seed {seed}: {stream} lost {sorted(wanted - seen)[:3]}"
            for _, messages in runs:
                keys = emitted_keys(messages, stream, primary=True)
                assert len(keys) == len(set(keys)), f"seed {seed}: {stream} emitted a record twice in one run"
        for resumed_from, messages in runs[1:]:
            for stream, marker in BOOKMARKED.items():
                bookmark = ((resumed_from or {}).get("bookmarks") or {}).get(stream) or {}
                if marker in bookmark:
                    bookmarks_checked += 1
                    again = emitted_keys(messages, stream)
                    assert again == [], f"seed {seed}: {stream} re-sent {len(again)} records its bookmark covered"
    # The runs above must have tested something: kills mid-run, and resumes past finished streams.
    assert kills >= seeds_run and bookmarks_checked > 0, (kills, bookmarks_checked)


def test_pcrecruiter_app_name_mode_killed_mid_run_sent_no_stop_and_the_next_run_rereads_everything(
    sandbox, tap_setup, tmp_path
):
    config, catalog = tap_setup
    sandbox.reset(seed=3, sizes=TAP_SIZES)
    settings = {**config, "pcrecruiter_app_name": "KillTest"}
    chosen = select_streams(catalog, ["pcrecruiter_candidates", "pcrecruiter_companies"])
    expected = store_keys(sandbox)
    # The last page of the last stream answers slowly: the kill surely lands before the end of the pull.
    sandbox.add_fault(api="pcrecruiter", path="^/companies$", query={"Page": "1"}, kind="latency", delay_ms=5000)

    killed, code = read_until_killed(tap_cmd(tmp_path, settings, chosen, None), kill_after=3)
    assert code is None and any(m["type"] == "RECORD" for m in killed)
    commands = sandbox.apis["pcrecruiter"].dump()["commands"]
    assert [c["command"] for c in commands][:1] == ["START"]
    assert not [c for c in commands if c["command"] in ("STOP", "END")], "a killed run must not commit its pull"
    assert sandbox.apis["pcrecruiter"].dump()["app_versions"] == {}

    sandbox.clear_faults()
    complete = run_tap(settings, catalog=chosen).check()
    for stream in ("pcrecruiter_candidates", "pcrecruiter_companies"):
        # Nothing was committed, so the next run reads every change (every record, first time) again.
        assert set(emitted_keys(complete.messages, stream)) == expected[stream]
    assert [c["command"] for c in sandbox.apis["pcrecruiter"].dump()["commands"]][-1] in ("STOP", "END")
    assert run_tap(settings, catalog=chosen).check().records() == []  # the completed run committed


# -- the target -----------------------------------------------------------------------------------------

TARGET_SIZES = {d.api: d.sizes for d in destinations.DESTINATIONS if d.name != "ziprecruiter-batch"}
WRITE_LATENCY_MS = 25  # every answer a little slow, so a kill lands mid-run
TARGET_SEEDS = (1, 2, 3, 4)


def target_views(sandbox) -> dict[str, t.Any]:
    views = {}
    for destination in destinations.DESTINATIONS:
        if destination.name != "ziprecruiter-batch":
            views[destination.name] = destinations.store_view(sandbox, destination)
    return views


def fresh_destinations(sandbox) -> list[dict]:
    """Seeded stores for the three destinations; the mixed input a tap would send them."""
    sandbox.reset(seed=5, sizes=TARGET_SIZES)
    with sandbox.apis["workable"].lock:
        sandbox.apis["workable"].control("rate_limit", {"limit": 0})
    messages = []
    for destination in destinations.DESTINATIONS:
        if destination.name != "ziprecruiter-batch":
            store = json.loads(json.dumps(sandbox.apis[destination.api].dump(), default=str))
            messages += destination.build_input(store)
    return messages


def target_config(sandbox, directory: Path) -> list[str]:
    credentials = {name: api.credentials for name, api in sandbox.apis.items()}
    config = configs.target_config(
        sandbox.base_urls,
        credentials,
        jobcase_requests_per_minute=0,
        workable_requests_per_minute=0,
        # Budget top-ups on: a kill right after an addBudget must not make the re-run add it again.
        jobcase_budget_updates="top_up",
        jobcase_max_budget_added_per_run=1000,
    )
    (directory / "target.json").write_text(json.dumps(config))
    return [sys.executable, "-m", "target_jobsync.target", "--config", str(directory / "target.json")]


def run_target_killed_after_writes(cmd: list[str], messages: list[dict], sandbox, writes: int) -> None:
    """Feed the target its input, SIGKILL it once the sandbox has seen ``writes`` write requests."""
    with tempfile.TemporaryFile() as stdin_file:
        stdin_file.write("".join(json.dumps(m) + "\n" for m in messages).encode())
        stdin_file.seek(0)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        proc = subprocess.Popen(cmd, stdin=stdin_file, **quiet)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if count_writes(sandbox) >= writes:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the target finished before the kill: the test killed nothing"


def count_writes(sandbox) -> int:
    counts = sandbox.requests.query(None, None, None, 1)["counts"]
    return sum(n for key, n in counts.items() if key.split(" ")[1] != "GET")


def test_a_target_killed_mid_write_and_rerun_on_the_same_input_leaves_the_stores_of_a_clean_run(sandbox, tmp_path):
    messages = fresh_destinations(sandbox)
    cmd = target_config(sandbox, tmp_path)
    clean = subprocess.run(cmd, input="".join(json.dumps(m) + "\n" for m in messages), capture_output=True,
                           text=True, check=False, timeout=120)  # fmt: skip
    assert clean.returncode == 0, clean.stderr[-3000:]
    total_writes = count_writes(sandbox)
    expected = target_views(sandbox)

    for seed in TARGET_SEEDS:
        fresh_destinations(sandbox)
        sandbox.latency_ms[None] = WRITE_LATENCY_MS
        writes = random.Random(seed).randint(1, total_writes - 1)
        run_target_killed_after_writes(cmd, messages, sandbox, writes)
        sandbox.latency_ms.clear()
        rerun = subprocess.run(cmd, input="".join(json.dumps(m) + "\n" for m in messages), capture_output=True,
                               text=True, check=False, timeout=120)  # fmt: skip
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert target_views(sandbox) == expected, f"seed {seed}: killed after {writes} of {total_writes} writes"
