"""README "Troubleshooting": every row is a case run here, and its one line is checked.

The table is the specification: each row names what happened and the line a user sees
(``…`` marks the parts that vary). A row without a case here, or a case whose last line
on stderr does not read as its row says, fails; so the table cannot rot.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest
from support import record_message, run_tap, run_target, schema_message, state_message

from jobsync_sandbox import configs

ROOT = Path(__file__).resolve().parent.parent
FAST = {"retry_max_tries": 2, "retry_backoff_seconds": 0.01, "retry_max_backoff_seconds": 0.02}


def readme_rows() -> dict[str, str]:
    """``what happened`` -> ``the line you see`` from README's Troubleshooting table."""
    section = (ROOT / "README.md").read_text().split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| ([^|]+?) \| `` (.+?) `` \|", line)
        if match:
            rows[match[1]] = match[2]
    return rows


ROWS = readme_rows()
SUBSCRIBERS = "ziprecruiter_subscribers"
COMPANIES = "jobcase_companies"


def company(i: int) -> dict:
    return {
        "partnerCompanyId": f"TS-{i}", "companyName": f"Trouble {i}", "companyUrl": "https://t.example.com",
        "companyStreet": "1 Main St", "companyCity": "Austin", "companyState": "TX", "companyZipCode": "73301",
    }  # fmt: skip


def companies_input(n: int = 1) -> list[dict]:
    return [
        schema_message(COMPANIES, {}, ["partnerCompanyId"]),
        *(record_message(COMPANIES, company(i)) for i in range(n)),
        state_message({"bookmarks": {COMPANIES: {"n": n}}}),
    ]


class Case:
    """What a scenario needs: the sandbox, its credentials and a scratch directory."""

    def __init__(self, sandbox: t.Any, credentials: dict, tmp: Path) -> None:
        self.sandbox = sandbox
        self.credentials = credentials
        self.tmp = tmp

    def tap_config(self, service: str = "jobcase", **settings: t.Any) -> dict:
        return configs.tap_config(
            self.sandbox.base_urls, self.credentials, services=(service,), jobcase_requests_per_minute=0, **settings
        )

    def target_config(self, **settings: t.Any) -> dict:
        return configs.target_config(
            self.sandbox.base_urls, self.credentials, jobcase_requests_per_minute=0, **settings
        )

    def tap(self, service: str = "jobcase", **settings: t.Any) -> str:
        return run_tap(self.tap_config(service, **{**FAST, **settings})).stderr

    def target(self, messages: list[t.Any], **settings: t.Any) -> str:
        return run_target(self.target_config(**{**FAST, **settings}), messages).stderr

    def cli(self, *args: str) -> str:
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, input="", check=False).stderr


def config_file_missing(case: Case) -> str:
    return case.cli("-m", "tap_jobsync.tap", "--config", str(case.tmp / "nope.json"))


def config_file_not_json(case: Case) -> str:
    (case.tmp / "config.json").write_text("{oops")
    return case.cli("-m", "target_jobsync.target", "--config", str(case.tmp / "config.json"))


def fault(case: Case, **rule: t.Any) -> None:
    case.sandbox.add_fault(**rule)


SCENARIOS: dict[str, t.Callable[[Case], str]] = {
    "config file missing": config_file_missing,
    "config file not JSON": config_file_not_json,
    "a setting of the wrong type": lambda c: c.tap(retry_max_tries="many"),
    "a number out of range": lambda c: c.tap(retry_max_tries=-2),
    "no service configured": lambda c: run_tap({"start_date": "2000-01-01T00:00:00Z"}).stderr,
    "a service partly configured": lambda c: (
        run_tap({k: v for k, v in c.tap_config("pcrecruiter").items() if k != "pcrecruiter_password"}).stderr
    ),
    "a base URL that is not http(s)": lambda c: c.tap(jobcase_base_url="ftp://example.com"),
    "wrong credentials": lambda c: c.tap(jobcase_api_key="not-the-key"),
    "nothing listens at the base URL": lambda c: c.tap(jobcase_base_url="http://127.0.0.1:9/api"),
    "a host name that does not resolve": lambda c: c.tap(jobcase_base_url="https://jobsync-test.invalid/api"),
    "https to a server that does not speak TLS": lambda c: c.tap(
        jobcase_base_url=c.sandbox.base_urls["jobcase"].replace("http://", "https://")
    ),
    "a mistyped base URL path": lambda c: c.target(
        companies_input(), jobcase_base_url=c.sandbox.base_urls["jobcase"].replace("/v1", "/v2")
    ),
    "the server kept failing": lambda c: (
        fault(c, api="jobcase", method="GET", kind="status", status=503, count=100),
        c.tap(),
    )[1],
    "the server asked to wait a day": lambda c: (
        fault(c, api="jobcase", method="GET", kind="status", status=429, retry_after=99999),
        c.tap(),
    )[1],
    "the answer never completed": lambda c: (
        fault(c, api="jobcase", method="GET", kind="trickle", delay_ms=300, count=100),
        c.tap(request_timeout=1.5),
    )[1],
    "an answer too large": lambda c: (
        fault(c, api="jobcase", method="GET", kind="oversized", size_mb=8),
        c.tap(max_response_mb=2),
    )[1],
    "the server ignores paging": lambda c: (
        fault(c, api="jobcase", method="GET", path="^/job/$", kind="ignore_paging", count=100),
        c.tap(jobcase_page_size=2),
    )[1],
    "an answer of the wrong shape": lambda c: (
        fault(c, api="jobcase", method="GET", path="^/job/$", kind="wrong_shape", body=[{"id": 1}]),
        c.tap(),
    )[1],
    "a record without its key": lambda c: (
        fault(
            c, api="jobcase", method="GET", path="^/company/$", kind="wrong_shape", body={"count": 1, "results": [{}]}
        ),
        c.tap(),
    )[1],
    "input that is not JSON (target)": lambda c: c.target([schema_message(SUBSCRIBERS, {}), "{not json"]),
    "absurdly nested input (target)": lambda c: c.target(
        [schema_message(SUBSCRIBERS, {}), '{"type": "RECORD", "record": ' + "[" * 50_000 + "]" * 50_000 + "}"]
    ),
    "a stream the target does not write": lambda c: c.target([schema_message("candidates", {})]),
    "a record the destination refused": lambda c: c.target(
        [schema_message(SUBSCRIBERS, {}), record_message(SUBSCRIBERS, {"email": "not-an-address"})]
    ),
    "the same answer for every record": lambda c: (
        fault(c, api="jobcase", method="PUT", path="^/company/", kind="status", status=410, count=100),
        c.target(
            [
                schema_message(COMPANIES, {}, ["partnerCompanyId"]),
                *(
                    record_message(
                        COMPANIES, {**company(i), "partnerCompanyId": f"PC-00000{i}", "companyName": "Renamed"}
                    )
                    for i in (1, 2, 3)
                ),
            ]
        ),
    )[1],
    "an output path that cannot be written": lambda c: c.target(
        companies_input(), dead_letter_path="/etc/hostname/not-a-directory/dead.jsonl"
    ),
    "budget top-ups without a cap": lambda c: c.target(
        [
            schema_message("jobcase_campaigns", {}),
            record_message("jobcase_campaigns", {"companyId": 1, "name": "C", "budget": 60}),
        ],
        jobcase_budget_updates="top_up",
    ),
    "`--test` finds a service failing": lambda c: c.cli(
        "-m",
        "tap_jobsync.tap",
        "--config",
        write_json(c.tmp / "tap.json", c.tap_config(jobcase_api_key="bad")),
        "--test",
    ),
    "stopped by the orchestrator": lambda c: stopped_target(c),
    "the sandbox's port is taken": lambda c: sandbox_on_a_taken_port(),
}


def write_json(path: Path, data: t.Any) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def stopped_target(case: Case) -> str:
    path = case.tmp / "target.json"
    path.write_text(json.dumps(case.target_config()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "target_jobsync.target", "--config", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)  # started and waiting for input
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143
    return stderr


def sandbox_on_a_taken_port() -> str:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        return subprocess.run(
            [sys.executable, "-m", "jobsync_sandbox.cli", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stderr


def test_every_row_of_the_table_has_a_case_and_every_case_a_row():
    assert set(ROWS) == set(SCENARIOS)


@pytest.mark.parametrize("what", list(SCENARIOS))
def test_each_row_reads_as_the_table_says(sandbox, credentials, tmp_path, what):
    sandbox.reset(sizes={"jobcase": {"companies": 3, "jobs_per_company": 2, "campaigns": 1, "rate_limit_requests": 0}})
    stderr = SCENARIOS[what](Case(sandbox, credentials, tmp_path))
    assert "Traceback" not in stderr, stderr[-2000:]
    last = stderr.strip().splitlines()[-1]
    position = 0
    for fragment in (f.strip() for f in ROWS[what].split("…")):
        found = last.find(fragment, position)
        assert found >= 0, f"{what!r}: {fragment!r} not in the last line:\n{last}"
        position = found + len(fragment)
