"""`jobsync-sandbox serve --state-file`: a restarted sandbox serves the same world it stopped with.

Each test runs the real CLI as a subprocess, changes the world over HTTP (the APIs' own
endpoints and `/_control`), stops it with SIGTERM or SIGINT, starts it again on the same
state file and reads the world back over HTTP.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest
import requests
import requests.auth

from jobsync_sandbox.client import SandboxClient

CREDENTIALS = {
    "trackjobchanges": {"api_key": "sandbox-tjc-key"},
    "ziprecruiter": {"api_key": "sandbox-zr-key"},
    "jobcase": {"api_key": "sandbox-jobcase-key"},
    "workable": {"api_token": "sandbox-workable-token"},
}
APIS = ("trackjobchanges", "pcrecruiter", "ziprecruiter", "jobcase", "workable")


class ServedSandbox:
    """`jobsync-sandbox serve` in a subprocess; ``stop()`` sends a signal and waits for it to save."""

    def __init__(self, state_file: Path, *args: str) -> None:
        ready = state_file.with_name(f"ready-{time.monotonic_ns()}.json")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobsync_sandbox.cli", "serve", "--port", "0", "--ready-file", str(ready),
             "--state-file", str(state_file), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out, err = self.proc.communicate(timeout=10)
                pytest.fail(f"sandbox did not start (exit {self.proc.returncode}):\n{out}\n{err}")
            time.sleep(0.05)
        self.urls = json.loads(ready.read_text())
        self.control = SandboxClient(self.urls["control"])

    def call(self, api: str, method: str, path: str, **kwargs: t.Any) -> requests.Response:
        return requests.request(method, self.urls[api] + path, timeout=10, **kwargs)

    def stop(self, sig: int = signal.SIGTERM) -> str:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return out

    def world(self) -> dict[str, t.Any]:
        """Every API's store dump and the sandbox clock (minus the wall clock that moved)."""
        return {api: self.control.store(api) for api in APIS}


def change_every_api(box: ServedSandbox) -> None:
    """One change per API, through its own endpoints where it has them."""
    tjc = {"key": CREDENTIALS["trackjobchanges"]["api_key"]}
    created = box.call("trackjobchanges", "POST", "/connections", headers=tjc,
                       params={"first_name": "ines", "last_name": "ito", "email": "ines@ito.example"})  # fmt: skip
    assert created.status_code == 200, created.text
    box.control.api_control("trackjobchanges", "job_change", {"connection_id": 2, "company": "Persisted Co"})
    assert box.call("trackjobchanges", "DELETE", "/connections/5", headers=tjc).status_code == 200

    box.control.api_control("pcrecruiter", "insert", {"entity": "positions", "record": {"JobTitle": "Kept"}})
    box.control.api_control("pcrecruiter", "delete", {"entity": "companies", "id": 110_000_000_000_007})

    zr = requests.auth.HTTPBasicAuth(CREDENTIALS["ziprecruiter"]["api_key"], "")
    sub = box.call("ziprecruiter", "POST", "/subscriber", auth=zr,
                   data={"email": "kept@example.com", "search": "nurse", "location": "Austin, TX"})  # fmt: skip
    assert sub.status_code == 200, sub.text

    jobcase = {"X-Platform-Api-Key": CREDENTIALS["jobcase"]["api_key"]}
    company = box.call("jobcase", "POST", "/company/", headers=jobcase, json={
        "partnerId": 1, "companyName": "Kept Inc", "partnerCompanyId": "KEPT-1", "companyUrl": "https://kept.example",
        "companyStreet": "1 Main St", "companyCity": "Austin", "companyState": "TX", "companyZipCode": "73301",
    })  # fmt: skip
    assert company.status_code in (200, 201), company.text

    workable = {"Authorization": f"Bearer {CREDENTIALS['workable']['api_token']}"}
    candidate = box.control.api_control("workable", "seeded_person", {"index": 1})["id"]
    patched = box.call("workable", "PATCH", f"/candidates/{candidate}", headers=workable,
                       json={"candidate": {"headline": "Kept across restarts", "tags": ["persisted"]}})  # fmt: skip
    assert patched.status_code == 200, patched.text

    box.control.advance_clock(3 * 86400)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_every_api_store_and_the_clock_survive_a_restart(tmp_path: Path, sig: int) -> None:
    """What each API holds after writes (creates, updates, deletes), and the advanced clock, come back."""
    state = tmp_path / "state.pickle"
    first = ServedSandbox(state)
    change_every_api(first)
    before = first.world()
    clock_before = first.control.now()
    assert f"saved state to {state}" in first.stop(sig)
    assert state.exists()

    second = ServedSandbox(state)
    try:
        after = second.world()
        for api in APIS:
            if api == "trackjobchanges":
                # Reading the store is not a call to the API, but the checks above were: pings are compared apart.
                before[api].pop("pings", None), after[api].pop("pings", None)
                before[api]["counts"].pop("pings"), after[api]["counts"].pop("pings")
            assert after[api] == before[api], f"{api} store changed across the restart"
        # The clock kept its three-day advance (the wall clock moved a little meanwhile).
        assert second.control.now() >= clock_before
    finally:
        second.stop()


def test_change_tracking_and_the_ping_history_continue_after_a_restart(tmp_path: Path) -> None:
    """PCRecruiter's version counter and change log, and TrackJobChanges' ping history, carry on."""
    state = tmp_path / "state.pickle"
    first = ServedSandbox(state)
    version = first.control.api_control("pcrecruiter", "version")["version"]
    first.control.api_control("pcrecruiter", "update", {"entity": "candidates", "id": 330_000_000_000_007,
                                                         "fields": {"Title": "Persisted"}})  # fmt: skip
    tjc = {"key": CREDENTIALS["trackjobchanges"]["api_key"]}
    assert first.call("trackjobchanges", "GET", "/account", headers=tjc).status_code == 200
    pings = first.control.store("trackjobchanges")["counts"]["pings"]
    first.stop()

    second = ServedSandbox(state)
    try:
        assert second.control.api_control("pcrecruiter", "version")["version"] == version + 1
        changes = second.control.store("pcrecruiter")["entities"]["candidates"]["changes"]
        assert [(c["op"], c["key"]) for c in changes] == [("U", 330_000_000_000_007)]
        inserted = second.control.api_control("pcrecruiter", "insert", {"entity": "candidates"})
        assert inserted["version"] == version + 2
        assert second.control.store("trackjobchanges")["counts"]["pings"] == pings
    finally:
        second.stop()


def test_a_saved_world_wins_over_seed_and_sizes_on_the_command_line(tmp_path: Path) -> None:
    state = tmp_path / "state.pickle"
    first = ServedSandbox(state, "--sizes", json.dumps({"workable": {"candidates": 3}}))
    candidates = first.control.store("workable")["candidates"]
    first.stop()

    second = ServedSandbox(state, "--seed", "7", "--sizes", json.dumps({"workable": {"candidates": 9}}))
    try:
        assert second.control.store("workable")["candidates"] == candidates
    finally:
        second.stop()


def test_without_a_state_file_yet_the_sandbox_starts_seeded_and_creates_it_on_shutdown(tmp_path: Path) -> None:
    state = tmp_path / "nested" / "state.pickle"
    box = ServedSandbox(state)
    assert len(box.control.store("workable")["candidates"]) == 30
    box.stop()
    assert state.exists()


def test_an_unreadable_state_file_stops_the_sandbox_naming_the_file(tmp_path: Path) -> None:
    state = tmp_path / "state.pickle"
    state.write_bytes(b"not a pickle")
    proc = subprocess.run(
        [sys.executable, "-m", "jobsync_sandbox.cli", "serve", "--port", "0", "--state-file", str(state)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert str(state) in proc.stderr and "delete it" in proc.stderr
    assert state.read_bytes() == b"not a pickle"  # never overwritten by a sandbox that did not load it


def test_readings_come_from_the_command_line_and_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.pickle"
    first = ServedSandbox(state, "--reading", "ziprecruiter.response_forms=table")
    assert first.control.reading("ziprecruiter", "response_forms") == "table"
    first.stop()

    second = ServedSandbox(state)  # no flag: the saved reading is played again
    try:
        assert second.control.reading("ziprecruiter", "response_forms") == "table"
    finally:
        second.stop()

    third = ServedSandbox(state, "--reading", "ziprecruiter.response_forms=example")  # the command line wins
    try:
        assert third.control.reading("ziprecruiter", "response_forms") == "example"
    finally:
        third.stop()


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("ziprecruiter.response_forms", "must look like api.name=value"),
        ("ziprecruiter.response_forms=tables", "ziprecruiter.response_forms must be one of example, table"),
        ("nowhere.x=y", "no API named nowhere"),
    ],
)
def test_a_bad_reading_flag_stops_the_sandbox_with_one_line(tmp_path: Path, flag: str, message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "jobsync_sandbox.cli", "serve", "--port", "0", "--reading", flag],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jobsync-sandbox: error: ")
    assert message in lines[0]


def test_readings_lists_every_reading_with_its_default() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "jobsync_sandbox.cli", "readings"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "ziprecruiter.response_forms = example   (example|table)" in proc.stdout.splitlines()


def test_readings_markdown_is_one_table_row_per_reading_of_the_api() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "jobsync_sandbox.cli", "readings", "--api", "ziprecruiter", "--markdown"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "| switch | values | default | the document's words |"
    rows = [line for line in lines[2:] if line.startswith("| `ziprecruiter.")]
    assert len(rows) == len(lines) - 2 >= 6
    for row in rows:  # pipes inside a cell are escaped: exactly five column separators
        assert row.replace("\\|", "").count("|") == 5
