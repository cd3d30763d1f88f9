"""Stop signals: SIGTERM/SIGINT (how Meltano, Airflow, Dagster and Kubernetes stop a run).

- target-jobsync, stopped before its first write, mid-batch, or while a ZipRecruiter batch
  upload is on the wire: calls already sent finish, no new write starts, every STATE it
  printed covers only objects that exist in the destination, and it exits 143 (SIGTERM) or
  130 (SIGINT) with one line saying what was confirmed. A second signal exits at once.
- tap-jobsync, stopped mid-run: it prints the last good STATE again, names the streams it did
  not finish, and exits non-zero; resuming from that STATE completes the run.
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
from support import discover, record_message, run_tap, schema_message, state_message

from jobsync_sandbox import configs

COMPANIES = "jobcase_companies"
SUBSCRIBERS = "ziprecruiter_subscribers"


def company(i: int) -> dict:
    return {
        "partnerCompanyId": f"STOP-{i}",
        "companyName": f"Stop Co {i}",
        "companyUrl": f"https://stop-{i}.example.com",
        "companyStreet": f"{i} Main St",
        "companyCity": "Austin",
        "companyState": "TX",
        "companyZipCode": "73301",
    }


def company_batches(sizes: t.Sequence[int]) -> list[dict]:
    """SCHEMA, then per batch its companies and a STATE numbering the batch."""
    messages = [schema_message(COMPANIES, {}, ["partnerCompanyId"])]
    n = 0
    for number, size in enumerate(sizes, start=1):
        messages += [record_message(COMPANIES, company(n + i)) for i in range(size)]
        n += size
        messages.append(state_message({"bookmarks": {COMPANIES: {"batch": number, "through": n}}}))
    return messages


class RunningTarget:
    """target-jobsync fed by a pipe that stays open (as under an orchestrator); stdout read live."""

    def __init__(self, config: dict, messages: list[dict], tmp: Path) -> None:
        path = tmp / "target.json"
        path.write_text(json.dumps(config))
        self.stderr_path = tmp / "target.stderr"
        with self.stderr_path.open("w") as stderr:  # the child writes to its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "target_jobsync.target", "--config", str(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        self.proc.stdin.flush()

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float = 30) -> tuple[int, list[dict], str]:
        self.proc.send_signal(sig)
        stdout, _ = self.proc.communicate(timeout=timeout)
        stderr = self.stderr_path.read_text()
        states = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        return self.proc.returncode, states, stderr


def wait_for_requests(control, *, api: str, method: str, path: str, at_least: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if control.requests(api=api, method=method, path=path)["total"] >= at_least:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} {method} {path} requests arrived in {timeout}s")


def wait_for_fault(fault, *, fired: int, timeout: float = 30) -> None:
    """Until ``fired`` requests met the fault (counted on arrival, unlike the request log)."""
    deadline = time.monotonic() + timeout
    while fault.fired < fired:
        assert time.monotonic() < deadline, f"the fault fired {fault.fired} times, not {fired}"
        time.sleep(0.01)


def stored_companies(sandbox) -> set[str]:
    return {
        c["partnerCompanyId"]
        for c in sandbox.apis["jobcase"].dump()["companies"]
        if c["partnerCompanyId"].startswith("STOP-")
    }


@pytest.fixture
def jobcase_config(sandbox, control, credentials) -> dict:
    control.reset(sizes={"jobcase": {"companies": 1, "jobs_per_company": 0, "campaigns": 0, "rate_limit_requests": 0}})
    sandbox.latency_ms["jobcase"] = 150
    return configs.target_config(sandbox.base_urls, credentials, jobcase_requests_per_minute=0, max_workers=1)


def assert_states_cover_only_written(states: list[dict], written: set[str]) -> None:
    for state in states:
        through = state["bookmarks"][COMPANIES]["through"]
        missing = {f"STOP-{i}" for i in range(through)} - written
        assert not missing, f"STATE {state} was printed but {sorted(missing)} are not in Jobcase"


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_target_stopped_before_its_first_write_confirms_nothing(
    sandbox, control, jobcase_config, tmp_path, sig, status
):
    # The company listing (index) is slow: the signal arrives while nothing was written yet.
    slow = sandbox.add_fault(api="jobcase", method="GET", path="^/company", kind="latency", delay_ms=1500)
    target = RunningTarget(jobcase_config, company_batches([4]), tmp_path)
    wait_for_fault(slow, fired=1)
    code, states, stderr = target.stop(sig)
    assert code == status
    assert states == []
    assert stored_companies(sandbox) == set()
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"target-jobsync: stopped by {signal.Signals(sig).name}: no STATE was printed"), last
    assert "4 records received after it are not confirmed (0 of them were written)" in last


def test_a_target_stopped_mid_batch_prints_only_states_whose_records_are_written(
    sandbox, control, jobcase_config, tmp_path
):
    target = RunningTarget(jobcase_config, company_batches([3, 6]), tmp_path)
    # Batch 1 (3 companies) is confirmed; the signal lands after the 2nd company of batch 2.
    wait_for_requests(control, api="jobcase", method="POST", path="^/company", at_least=5)
    code, states, stderr = target.stop()
    written = stored_companies(sandbox)
    assert code == 143
    assert [s["bookmarks"][COMPANIES]["batch"] for s in states] == [1]
    assert_states_cover_only_written(states, written)
    # The write on the wire finished; no new one started after the signal.
    assert 5 <= len(written) <= 6 and len(written) < 9
    assert "confirms input up to line 5 (3 records)" in stderr.strip().splitlines()[-1]


def test_a_second_signal_exits_at_once_without_printing_anything_unconfirmed(
    sandbox, control, jobcase_config, tmp_path
):
    # Each POST takes 1.5 s: the first signal waits for the one on the wire, the second does not.
    slow = sandbox.add_fault(api="jobcase", method="POST", path="^/company", kind="latency", delay_ms=1500, count=10)
    target = RunningTarget(jobcase_config, company_batches([3]), tmp_path)
    wait_for_fault(slow, fired=1)
    target.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    started = time.monotonic()
    code, states, stderr = target.stop(signal.SIGTERM, timeout=10)
    assert time.monotonic() - started < 1.0
    assert code == 143
    assert states == []
    assert "second SIGTERM: exiting at once" in stderr


def test_a_target_stopped_during_a_ziprecruiter_batch_upload_confirms_nothing_of_that_batch(
    sandbox, control, credentials, tmp_path
):
    control.reset(sizes={"ziprecruiter": {"subscribers": 0, "batches": 0}})
    slow = sandbox.add_fault(api="ziprecruiter", method="POST", path="^/batch", kind="latency", delay_ms=1000, count=10)
    config = configs.target_config(
        sandbox.base_urls, credentials, ziprecruiter_batch_threshold=10, ziprecruiter_batch_chunk_size=50
    )
    people = [record_message(SUBSCRIBERS, {"email": f"p{i}@example.com", "search": "Nurse"}) for i in range(200)]
    messages = [
        schema_message(SUBSCRIBERS, {}, ["email"]),
        *people,
        state_message({"bookmarks": {SUBSCRIBERS: {"n": 200}}}),
    ]
    target = RunningTarget(config, messages, tmp_path)
    wait_for_fault(slow, fired=1)
    code, states, stderr = target.stop()
    assert code == 143
    assert states == [], "the STATE covers 200 subscribers; at most one of four batch files was uploaded"
    uploads = control.requests(api="ziprecruiter", method="POST", path="^/batch")["total"]
    assert uploads == 1, "the upload on the wire finishes; no further upload starts"
    assert "(50 of them were written)" in stderr.strip().splitlines()[-1]


# -- the tap ---------------------------------------------------------------------------------------------


def test_a_tap_stopped_mid_run_reprints_its_last_state_names_unfinished_streams_and_exits_non_zero(
    sandbox, control, credentials, tmp_path
):
    control.reset(sizes={"jobcase": {"companies": 6, "jobs_per_company": 4, "campaigns": 3, "rate_limit_requests": 0}})
    config = configs.tap_config(
        sandbox.base_urls, credentials, services=("jobcase",), jobcase_requests_per_minute=0, jobcase_page_size=5
    )
    catalog = discover(config)
    sandbox.add_fault(api="jobcase", method="GET", path="^/job/", kind="latency", delay_ms=400, count=100)
    (tmp_path / "tap.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tap_jobsync.tap",
            "--config",
            str(tmp_path / "tap.json"),
            "--catalog",
            str(tmp_path / "catalog.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_requests(control, api="jobcase", method="GET", path="^/job", at_least=2)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143
    messages = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("tap-jobsync: stopped by SIGTERM:"), last
    assert "jobcase_jobs" in last.split("not finished:")[1], last
    assert len(states) >= 2 and messages[-1]["type"] == "STATE", "the last good STATE is printed again, last"
    assert states[-1] == states[-2]
    assert "jobcase_jobs" not in states[-1].get("bookmarks", {}), "an unfinished stream has no bookmark"

    sandbox.clear_faults()
    resumed = run_tap(config, state=states[-1], catalog=catalog).check()
    finished = {name for name, bookmark in resumed.last_state["bookmarks"].items()}
    assert {"jobcase_jobs", "jobcase_campaigns"} <= finished
