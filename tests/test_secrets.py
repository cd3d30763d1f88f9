"""Secrets never leave the connectors: one test runs every pipeline with distinctive credentials.

The sandbox of this module accepts only the credentials below. Every pipeline the other
reliability modules exercise runs with them — full tap and target runs, retried faults,
retries exhausted, refused credentials, a PCRecruiter login that keeps failing (its URL
carries the password and API key), app-name mode, a killed and resumed tap, dead
letters, bad input, a batch upload — and none of the values (nor their URL-encoded or
HTTP-Basic base64 forms, nor the PCRecruiter session ids the sandbox issued) appears in
any stdout, stderr, STATE, dead-letter file, summary file or exception text.
"""

from __future__ import annotations

import base64
import io
import json
import signal
import subprocess
import sys
import traceback
import typing as t
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import requests
from support import discover, record_message, run_tap, run_target, schema_message, select_streams, state_message

from jobsync_sandbox import Sandbox, configs
from tap_jobsync.tap import TapJobSync
from target_jobsync.target import TargetJobSync

CREDENTIALS = {
    "trackjobchanges": {"api_key": "tjc-K3y+Secret/7f3a9c"},
    "ziprecruiter": {"api_key": "zr-K3y-Secret-5e8d21"},
    "jobcase": {"api_key": "jc-K3y-Secret-0b4c77", "partner_id": 1},
    "workable": {"api_token": "wk-T0ken-Secret-9a1e33", "subdomain": "sandbox"},
    "pcrecruiter": {
        "database_id": "SANDBOX",
        "username": "sandbox",
        "password": "pcr-P@ss w0rd&Secret",
        "app_id": "jobsync",
        "api_key": "pcr-K3y-Secret-c4d2e8",
    },
}
SECRET_VALUES = (
    CREDENTIALS["trackjobchanges"]["api_key"],
    CREDENTIALS["ziprecruiter"]["api_key"],
    CREDENTIALS["jobcase"]["api_key"],
    CREDENTIALS["workable"]["api_token"],
    CREDENTIALS["pcrecruiter"]["password"],
    CREDENTIALS["pcrecruiter"]["api_key"],
)
FAST = {"retry_backoff_seconds": 0.01, "retry_max_backoff_seconds": 0.05}


def forms(value: str) -> set[str]:
    """A secret as it could leak: raw, URL-encoded, or inside an HTTP Basic header."""
    found = {value, quote(value, safe=""), quote_plus(value)}
    found |= {base64.b64encode(pair.encode()).decode() for pair in (f"{value}:", f":{value}")}
    return found


@pytest.fixture(scope="module")
def sandbox() -> t.Iterator[Sandbox]:
    """This module's sandbox: accepts only the distinctive credentials above."""
    box = Sandbox(
        seed=2,
        credentials=CREDENTIALS,
        sizes={
            "trackjobchanges": {"connections": 12, "page_size": 5},
            "ziprecruiter": {"subscribers": 8, "batch_delay_ms": 0},
            "jobcase": {"companies": 2, "jobs_per_company": 2, "campaigns": 2, "rate_limit_requests": 0},
            "workable": {"candidates": 3},
            "pcrecruiter": {"candidates": 12, "companies": 4, "positions": 4},
        },
    ).start()
    with box.apis["workable"].lock:
        box.apis["workable"].control("rate_limit", {"limit": 0})
    yield box
    box.stop()


class Captured:
    """Everything the pipelines wrote, labelled, to search for secrets at the end."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, label: str, text: t.Any) -> None:
        self.texts.append((label, text if isinstance(text, str) else json.dumps(text, default=str)))

    def run(self, label: str, run: t.Any) -> t.Any:
        self.add(f"{label}: stdout", run.stdout)
        self.add(f"{label}: stderr", run.stderr)
        return run

    def leaks(self, secrets: t.Iterable[str]) -> list[tuple[str, str]]:
        return [(label, secret) for label, text in self.texts for secret in secrets if secret in text]


def test_no_pipeline_lets_a_credential_out(sandbox, tmp_path):
    seen = Captured()
    tap_config = configs.tap_config(sandbox.base_urls, CREDENTIALS, jobcase_requests_per_minute=0, **FAST)
    target_config = configs.target_config(
        sandbox.base_urls,
        CREDENTIALS,
        jobcase_requests_per_minute=0,
        workable_requests_per_minute=0,
        dead_letter_path=str(tmp_path / "dead.jsonl"),
        summary_path=str(tmp_path / "summary.json"),
        **FAST,
    )

    # -- tap: discovery, about, a full sync of every service ---------------------------------------
    # Another client of the account sent the key in the query string: TrackJobChanges keeps it in its ping history.
    tjc_key = CREDENTIALS["trackjobchanges"]["api_key"]
    requests.get(f"{sandbox.base_urls['trackjobchanges']}/connections", params={"key": tjc_key, "page": 2}, timeout=10)
    catalog = discover(tap_config)
    seen.add("discover", catalog)
    seen.run("about", run_tap(tap_config, args=["--about", "--format", "json"]))
    full = seen.run("full tap run", run_tap(tap_config, catalog=catalog).check())
    assert full.records("pcrecruiter_candidates")
    echoed = [p for p in full.records("trackjobchanges_pings") if "page" in (p.get("query_params") or {})]
    assert echoed and echoed[0]["query_params"]["key"] == "[REDACTED]"

    # -- tap: every fault kind retried, then a resume from the state ---------------------------------
    for api, path in (("trackjobchanges", "^/connections$"), ("pcrecruiter", "^/candidates$"),
                      ("ziprecruiter", "^/subscriber$"), ("jobcase", "^/job/$")):  # fmt: skip
        for fault in ({"status": 429, "retry_after": 0.05}, {"status": 503}, {"kind": "reset"}, {"kind": "truncate"},
                      {"kind": "hang", "delay_ms": 800}):  # fmt: skip
            sandbox.add_fault(api=api, method="GET", path=path, count=1, **fault)
    faulted = seen.run("faulted tap run", run_tap({**tap_config, "request_timeout": 0.3}, catalog=catalog).check())
    assert faulted.stderr.count("; retry ") >= 20
    resumed = seen.run("resumed tap run", run_tap(tap_config, catalog=catalog, state=faulted.last_state).check())
    seen.add("tap states", [faulted.states, resumed.states])

    # -- tap: retries exhausted (the login URL carries the password and key), refused credentials ----------
    sandbox.add_fault(api="pcrecruiter", path="access-token", count=100, status=503)
    login = seen.run("failing login", run_tap({**tap_config, "retry_max_tries": 2}, catalog=catalog))
    assert login.returncode != 0 and "access-token" in login.stderr.strip().splitlines()[-1]
    sandbox.clear_faults()
    for api in ("trackjobchanges", "ziprecruiter", "jobcase", "pcrecruiter"):
        sandbox.add_fault(api=api, path="^/(connections|subscriber|company/|candidates)$", count=1, status=401)
        refused = seen.run(f"{api} 401", run_tap(configs.tap_config(sandbox.base_urls, CREDENTIALS, services=(api,),
                                                                    **FAST), catalog=catalog))  # fmt: skip
        assert refused.returncode != 0 or api == "pcrecruiter"  # PCRecruiter renews its session once
        sandbox.clear_faults()

    # -- tap: PCRecruiter app-name mode, and a tap killed mid-run then resumed -------------------------------
    seen.run("app-name mode", run_tap({**tap_config, "pcrecruiter_app_name": "SecretTest"}, catalog=catalog).check())
    config_file = tmp_path / "tap.json"
    config_file.write_text(json.dumps(tap_config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tap_jobsync.tap", "--config", str(config_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    head = [proc.stdout.readline() for _ in range(40)]  # type: ignore[union-attr]
    proc.send_signal(signal.SIGKILL)
    _, tail_err = proc.communicate(timeout=30)
    seen.add("killed tap stdout", "".join(head))
    seen.add("killed tap stderr", tail_err)
    killed_state = next((json.loads(line)["value"] for line in reversed(head) if '"STATE"' in line), None)
    seen.run("tap resumed after kill", run_tap(tap_config, catalog=catalog, state=killed_state).check())

    # -- tap in-process: the exception a caller sees ---------------------------------------------------------
    sandbox.add_fault(api="ziprecruiter", path="^/subscriber$", count=100, status=502)
    zr_only = configs.tap_config(sandbox.base_urls, CREDENTIALS, services=("ziprecruiter",), retry_max_tries=2, **FAST)
    tap = TapJobSync(config=zr_only, catalog=select_streams(catalog, ["ziprecruiter_subscribers"]))
    with (
        redirect_stdout(io.StringIO()) as out,
        redirect_stderr(io.StringIO()) as err,
        pytest.raises(Exception) as raised,
    ):
        tap.sync_all()
    seen.add("in-process tap exception", f"{raised.value}\n{''.join(traceback.format_exception(raised.value))}")
    seen.add("in-process tap output", out.getvalue() + err.getvalue())
    sandbox.clear_faults()

    # -- target: every destination, with dead letters, faults, a batch upload, bad input, failures -----------
    ziprecruiter = sandbox.apis["ziprecruiter"].dump()
    candidates = sandbox.apis["workable"].dump()["candidates"]
    companies = sandbox.apis["jobcase"].dump()["companies"]
    messages = [
        schema_message("ziprecruiter_subscribers", {}),
        *(record_message("ziprecruiter_subscribers", {"email": f"s{i}@example.com", "search": "Nurse"}) for i in (1, 2)),
        record_message("ziprecruiter_subscribers", {"email": "bad@example.com"}),  # dead-lettered
        schema_message("ziprecruiter_subscriber_searches", {}),
        record_message(
            "ziprecruiter_subscriber_searches", {"subscriber_id": ziprecruiter["subscribers"][0]["id"], "search": "Cook"}
        ),
        schema_message("workable_candidates", {}),
        record_message("workable_candidates", {"id": candidates[0]["id"], "headline": "Secret keeper"}),
        record_message("workable_candidates", {"email": "nobody@example.com", "headline": "x"}),  # dead-lettered
        schema_message("jobcase_companies", {}),
        record_message("jobcase_companies", {**{k: companies[0][k] for k in ("partnerCompanyId", "companyUrl",
                       "companyStreet", "companyCity", "companyState", "companyZipCode")}, "companyName": "Renamed"}),
        state_message({"bookmarks": {"all": 1}}),
    ]  # fmt: skip
    for api in ("ziprecruiter", "workable", "jobcase"):
        sandbox.add_fault(api=api, count=1, status=429, retry_after=0.05)
        sandbox.add_fault(api=api, count=1, kind="reset")
        sandbox.add_fault(api=api, count=1, kind="truncate")
    seen.run("target run", run_target(target_config, messages).check())
    seen.add("dead letters", Path(target_config["dead_letter_path"]).read_text())
    seen.add("summary", Path(target_config["summary_path"]).read_text())
    assert len(Path(target_config["dead_letter_path"]).read_text().splitlines()) == 2

    bulk = [
        schema_message("ziprecruiter_subscribers", {}),
        *(
            record_message("ziprecruiter_subscribers", {"email": f"b{i}@example.com", "search": "Cook"})
            for i in range(30)
        ),
        state_message({"bulk": 1}),
    ]
    sandbox.add_fault(api="ziprecruiter", method="POST", path="^/batch$", count=1, status=429, retry_after=0.05)
    seen.run("batch upload", run_target({**target_config, "ziprecruiter_batch_threshold": 10,
                                         "ziprecruiter_batch_chunk_size": 10}, bulk).check())  # fmt: skip
    seen.run("bad input", run_target(target_config, [messages[0], "{not json"]))
    no_dead_letters = {k: v for k, v in target_config.items() if k != "dead_letter_path"}
    seen.run("rejected without dead letters", run_target(no_dead_letters, messages))
    for api in ("ziprecruiter", "workable", "jobcase"):
        sandbox.add_fault(api=api, count=1000, status=503)
    seen.run("target retries exhausted", run_target({**target_config, "retry_max_tries": 2}, messages))
    sandbox.clear_faults()
    for api in ("ziprecruiter", "workable", "jobcase"):
        sandbox.add_fault(api=api, count=1000, status=401)
    seen.run("target refused", run_target(target_config, messages))
    sandbox.clear_faults()

    # -- target in-process: the exception a caller sees ---------------------------------------------------
    sandbox.add_fault(api="workable", count=1000, status=503)
    target = TargetJobSync(config={**no_dead_letters, "retry_max_tries": 2})
    lines = "".join(
        json.dumps(m) + "\n" for m in messages if m.get("stream", "workable_candidates") == "workable_candidates"
    )
    with (
        redirect_stdout(io.StringIO()) as out,
        redirect_stderr(io.StringIO()) as err,
        pytest.raises(Exception) as raised,
    ):
        target.listen(io.StringIO(lines))
    seen.add("in-process target exception", f"{raised.value}\n{''.join(traceback.format_exception(raised.value))}")
    seen.add("in-process target output", out.getvalue() + err.getvalue())
    sandbox.clear_faults()

    # The credentials did reach the APIs (every run above authenticated), and never came back out.
    sessions = list(sandbox.apis["pcrecruiter"].sessions)
    assert sessions, "PCRecruiter issued no session: the pipelines did not log in"
    secrets = {form for value in (*SECRET_VALUES, *sessions) for form in forms(value)}
    assert len(seen.texts) > 40
    assert seen.leaks(secrets) == []
