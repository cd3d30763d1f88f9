"""5. Incremental cost: PCRecruiter API calls of an incremental run, against data size.

A first run lists every candidate and bookmarks the change-tracking version; then
10 records change (4 updated, 3 inserted, 3 deleted) and the tap runs again
from that state. Calls are counted by the sandbox. Target: the incremental run
costs a handful of calls, whatever the number of records (proportional to changes).
"""

from __future__ import annotations

import typing as t

import requests

from benchmarks.common import (
    SandboxProcess,
    TapRunner,
    bench_args,
    finish,
    log,
    markdown_table,
)
from tap_jobsync.pcrecruiter import api as pcr

STREAM = "pcrecruiter_candidates"
ENTITY = "candidates"


def change_ten(sandbox: SandboxProcess, keys: list[int]) -> None:
    control = sandbox.control
    control.api_control("pcrecruiter", "update", {"entity": ENTITY, "ids": keys[:4], "fields": {"Status": "Placed"}})
    control.api_control("pcrecruiter", "insert", {"entity": ENTITY, "count": 3})
    control.api_control("pcrecruiter", "delete", {"entity": ENTITY, "ids": keys[4:7]})


def calls(sandbox: SandboxProcess) -> int:
    return sandbox.requests_log("pcrecruiter", limit=1)["total"]


def measure_size(n: int) -> dict[str, t.Any]:
    with SandboxProcess({"pcrecruiter": {ENTITY: n, "companies": 1, "positions": 1}}) as sandbox:
        tap = TapRunner(sandbox.tap_config)
        sandbox.control.clear_requests()
        first = tap.run([STREAM], keep_last_state=True).check()
        first_calls = calls(sandbox)
        change_ten(sandbox, first_keys(sandbox, 7))
        sandbox.control.clear_requests()
        second = tap.run([STREAM], state=first.last_state, keep_last_state=True).check()
        second_calls = calls(sandbox)
        sandbox.control.clear_requests()
        third = tap.run([STREAM], state=second.last_state, keep_last_state=True).check()
        third_calls = calls(sandbox)
    figures = {
        "records": n,
        "full_run_calls": first_calls,
        "full_run_seconds": round(first.wall, 1),
        "changes": 10,
        "incremental_calls": second_calls,
        "incremental_records": second.record_counts().get(STREAM, 0),
        "incremental_seconds": round(second.wall, 1),
        "quiet_run_calls": third_calls,
        "quiet_run_records": third.record_counts().get(STREAM, 0),
    }
    log(f"pcrecruiter incremental at {n:,}: {figures}")
    return figures


def first_keys(sandbox: SandboxProcess, count: int) -> list[int]:
    """The first ``count`` candidate keys, read through the API like a client would."""
    config = sandbox.tap_config
    base = config["pcrecruiter_base_url"]
    login = {
        "DatabaseId": config["pcrecruiter_database_id"],
        "Username": config["pcrecruiter_username"],
        "Password": config["pcrecruiter_password"],
        "AppId": config["pcrecruiter_app_id"],
        "ApiKey": config["pcrecruiter_api_key"],
    }
    session_id = requests.get(f"{base}/access-token", params=login, timeout=60).json()["SessionId"]
    rows = requests.get(
        f"{base}/{ENTITY}",
        params={"ResultsPerPage": count, "Page": 1},
        headers={"Authorization": f"BEARER {session_id}"},
        timeout=60,
    ).json()["Results"]
    return [row[pcr.ENTITIES[ENTITY]] for row in rows]


def measure(sizes: t.Sequence[int]) -> dict[str, t.Any]:
    return {"runs": [measure_size(n) for n in sizes]}


def table(figures: dict[str, t.Any]) -> str:
    rows = [
        (
            f"{f['records']:,}",
            f"{f['full_run_calls']:,} ({f['full_run_seconds']} s)",
            f"{f['changes']} → {f['incremental_records']} records",
            f"**{f['incremental_calls']}** ({f['incremental_seconds']} s)",
            f["quiet_run_calls"],
        )
        for f in figures["runs"]
    ]
    return markdown_table(
        ("candidates", "first (full) run calls", "changes → emitted", "incremental run calls", "no-change run calls"),
        rows,
    )


def main() -> dict[str, t.Any]:
    args = bench_args(__doc__ or "")
    figures = measure((10_000, 100_000) if args.quick else (10_000, 1_000_000))
    return finish("5. PCRecruiter incremental cost", figures, table(figures), args.json)


if __name__ == "__main__":
    main()
