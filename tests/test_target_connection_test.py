"""`target-jobsync --test`: one read-only authenticated call per configured destination.

The real CLI against this module's sandbox. Nothing is written (the sandbox sees only GETs),
no input is read, a good credential gives `ok`, a wrong one `FAILED` naming the setting, and
any failure makes the exit status 1 while the other destinations are still checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

import pytest
from support import SingerRun

DESTINATIONS = ("Workable", "ZipRecruiter", "Jobcase")
WRONG_CREDENTIALS = {
    "Workable": "workable_api_token",
    "ZipRecruiter": "ziprecruiter_api_key",
    "Jobcase": "jobcase_api_key",
}


def run_test(config: dict[str, t.Any]) -> SingerRun:
    """`target-jobsync --config ... --test` with no input at all (stdin closed)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        proc = subprocess.run(
            [sys.executable, "-m", "target_jobsync.target", "--config", str(path), "--test"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, env=dict(os.environ), check=False,
        )  # fmt: skip
    return SingerRun(proc.returncode, proc.stdout, proc.stderr)


def lines(run: SingerRun) -> dict[str, str]:
    return {line.split(":", 1)[0]: line for line in run.stdout.splitlines() if line.strip()}


def test_every_configured_destination_answers_one_read_only_call(target_config, control):
    control.clear_requests()
    run = run_test(target_config)
    assert run.returncode == 0, run.stderr[-3000:]
    by_destination = lines(run)
    assert list(by_destination) == list(DESTINATIONS)
    assert all(line.startswith(f"{name}: ok (GET /") for name, line in by_destination.items())
    assert "ERROR" not in run.stderr and "Traceback" not in run.stderr
    log = control.requests()["entries"]
    assert sorted((e["api"], e["method"], e["path"].rstrip("/"), e["status"]) for e in log) == [
        ("jobcase", "GET", "/company", 200),
        ("workable", "GET", "/candidates", 200),
        ("ziprecruiter", "GET", "/subscriber", 200),
    ]


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_a_wrong_credential_fails_that_destination_naming_its_setting(target_config, control, destination):
    setting = WRONG_CREDENTIALS[destination]
    control.clear_requests()
    run = run_test(target_config | {setting: "wrong-value"})
    assert run.returncode == 1
    by_destination = lines(run)
    assert by_destination[destination].startswith(f"{destination}: FAILED: authentication failed with HTTP")
    assert f"`{setting}`" in by_destination[destination]
    assert all(by_destination[other].startswith(f"{other}: ok") for other in DESTINATIONS if other != destination)
    assert f"target-jobsync: error: connection test failed for {destination} " in run.stderr
    assert "wrong-value" not in run.stdout + run.stderr
    assert {e["method"] for e in control.requests()["entries"]} == {"GET"}, "a connection test writes nothing"


def test_unconfigured_destinations_are_skipped_and_a_wrong_base_url_names_its_setting(target_config):
    config = {k: v for k, v in target_config.items() if not k.startswith("ziprecruiter_")}
    config["jobcase_base_url"] = target_config["jobcase_base_url"] + "/wrong-prefix"
    run = run_test(config)
    by_destination = lines(run)
    assert by_destination["ZipRecruiter"] == "ZipRecruiter: skipped (not configured: set `ziprecruiter_api_key`)"
    assert by_destination["Jobcase"].startswith("Jobcase: FAILED:")
    assert "HTTP 404" in by_destination["Jobcase"] and "`jobcase_base_url`" in by_destination["Jobcase"]
    assert by_destination["Workable"].startswith("Workable: ok")
    assert run.returncode == 1


def test_nothing_configured_is_a_failure_not_a_pass():
    run = run_test({})
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        "target-jobsync: error: nothing was tested: no destination is configured."
    )
