"""Full-table streams carry source deletes through table versions (`emit_activate_version_messages`).

A full listing stamps every RECORD with one `version` and ends with ACTIVATE_VERSION for that
version, *after* its last record (a loader then drops or flags the rows the listing lacked).
Every full-table stream does it, and a full-table child of a full-table parent (ZipRecruiter's
searches); incremental streams and a child of an incremental parent (TrackJobChanges
employments, which sees only changed connections) never do. `false` turns it off everywhere,
PCRecruiter's full listings included. The effect in a warehouse (target-postgres) is proven
in tests/test_meltano_parallel.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

from support import run_tap

FULL_TABLE = {
    "trackjobchanges_account",
    "ziprecruiter_subscribers",
    "ziprecruiter_subscriber_searches",
    "ziprecruiter_batches",
    "jobcase_companies",
    "jobcase_jobs",
    "jobcase_campaigns",
    "jobcase_products",
}
#: PCRecruiter versions its own full listings (first run, expired bookmark): see test_tap_pcrecruiter.py.
PCRECRUITER = {"pcrecruiter_candidates", "pcrecruiter_companies", "pcrecruiter_positions"}


def test_every_full_table_stream_activates_its_version_after_its_last_record(tap_config):
    run = run_tap(tap_config).check()
    activations = {
        m["stream"]: (i, m["version"]) for i, m in enumerate(run.messages) if m["type"] == "ACTIVATE_VERSION"
    }
    assert len(run.of_type("ACTIVATE_VERSION")) == len(activations), "one ACTIVATE_VERSION per stream and run"
    assert set(activations) == FULL_TABLE | PCRECRUITER
    for stream in FULL_TABLE:
        position, version = activations[stream]
        records = [(i, m) for i, m in enumerate(run.messages) if m["type"] == "RECORD" and m["stream"] == stream]
        assert records, stream
        assert {m.get("version") for _, m in records} == {version}, f"{stream}: every record of the listing"
        assert position > records[-1][0], f"{stream}: ACTIVATE_VERSION comes after the listing"
    versioned = {m["stream"] for m in run.of_type("RECORD") if m.get("version") is not None}
    assert versioned == FULL_TABLE | PCRECRUITER
    assert not run.of_type("ACTIVATE_VERSION", "trackjobchanges_employments")

    later = run_tap(tap_config, state=run.last_state).check()
    first_version = activations["jobcase_companies"][1]
    (again,) = later.of_type("ACTIVATE_VERSION", "jobcase_companies")
    assert again["version"] > first_version, "each listing is a newer version"


def test_false_turns_table_versions_off_for_every_stream(tap_config):
    run = run_tap(tap_config | {"emit_activate_version_messages": False}).check()
    assert run.of_type("ACTIVATE_VERSION") == []
    assert all(m.get("version") is None for m in run.of_type("RECORD") if m["stream"] not in PCRECRUITER)


def test_a_listing_that_fails_half_way_activates_nothing(tap_config, control):
    """ACTIVATE_VERSION after a partial listing would delete the rows not yet read: never sent."""
    control.add_fault(api="ziprecruiter", path="/searches", status=500, skip=5, count=1000)
    try:
        config = tap_config | {"retry_max_tries": 1}
        run = run_tap({k: v for k, v in config.items() if not k.startswith(("jobcase_", "pcrecruiter_", "trackjob"))})
    finally:
        control.clear_faults()
    assert run.returncode != 0
    assert run.records("ziprecruiter_subscribers"), "the listing had started"
    assert run.of_type("ACTIVATE_VERSION", "ziprecruiter_subscribers") == []
    assert run.of_type("ACTIVATE_VERSION", "ziprecruiter_subscriber_searches") == []


def test_the_setting_is_declared_in_about_and_defaults_to_on():
    proc = subprocess.run(
        [sys.executable, "-m", "tap_jobsync.tap", "--about", "--format=json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    setting = json.loads(proc.stdout)["settings"]["properties"]["emit_activate_version_messages"]
    assert setting["type"] == ["boolean", "null"] and setting["default"] is True
