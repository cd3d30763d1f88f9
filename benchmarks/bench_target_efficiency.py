"""4. Target efficiency: API calls per record per sink.

a. ZipRecruiter bulk subscribe: calls per 1,000 records (target: <= 1, plus polling
   when ``ziprecruiter_wait_for_batches`` is on).
b. Jobcase burst: achieved request rate vs the configured limit, and 429s, while
   creating jobs for ``duration`` seconds (target: >= 95 %, zero 429s). The full run
   uses the documented 200/minute for 3 minutes against a sandbox enforcing 200 per
   rolling minute; ``--quick`` scales it to 1,200/minute (200 per rolling 10 s) for 30 s.
c. Re-running identical input: calls per record of each sink on the first and on the
   second run, and the write calls of the second run (target: none where the API
   lets the target tell that nothing changed).
"""

from __future__ import annotations

import bisect
import re
import tempfile
import typing as t
from pathlib import Path

from benchmarks.bench_memory import subscribers
from benchmarks.common import (
    WRITE_METHODS,
    SandboxProcess,
    bench_args,
    finish,
    jobcase_job,
    log,
    markdown_table,
    run_target,
    write_singer_input,
)

# Which sink a request belongs to: (API, path pattern) in order.
SINK_OF_PATH = (
    ("workable", r"^/candidates", "workable_candidates"),
    ("ziprecruiter", r"^/subscriber/[^/]+/searches", "ziprecruiter_subscriber_searches"),
    ("ziprecruiter", r"^/(subscriber|batch)", "ziprecruiter_subscribers"),
    ("jobcase", r"^/company", "jobcase_companies"),
    ("jobcase", r"^/job", "jobcase_jobs"),
    ("jobcase", r"^/campaign", "jobcase_campaigns"),
)


def sink_of(api: str, path: str) -> str:
    return next((sink for a, pattern, sink in SINK_OF_PATH if a == api and re.match(pattern, path)), f"{api} other")


# -- a. ZipRecruiter bulk ----------------------------------------------------------------------------------
def ziprecruiter_bulk(n: int, *, wait: bool, workdir: Path) -> dict[str, t.Any]:
    input_path = workdir / "bulk.jsonl"
    write_singer_input(input_path, {"ziprecruiter_subscribers": ("email", subscribers(n))}, state_every=10_000)
    with SandboxProcess({"ziprecruiter": {"subscribers": 10, "batches": 0, "batch_delay_ms": 500}}) as sandbox:
        config = {
            **sandbox.target_config,
            "ziprecruiter_wait_for_batches": wait,
            "ziprecruiter_batch_poll_seconds": 0.2,
        }
        run_target(config, input_path, workdir=workdir).check()
        counts = sandbox.request_counts("ziprecruiter")
    uploads = counts.get("POST /batch", 0)
    polls = sum(v for k, v in counts.items() if k.startswith("GET /batch/"))
    total = sum(counts.values())
    figures = {
        "records": n,
        "wait_for_batches": wait,
        "uploads": uploads,
        "polls": polls,
        "other_calls": total - uploads - polls,
        "calls_per_1000": round(total / (n / 1000), 2),
        "upload_calls_per_1000": round(uploads / (n / 1000), 2),
    }
    log(f"ziprecruiter bulk: {figures}")
    return figures


# -- b. Jobcase burst --------------------------------------------------------------------------------------
def jobcase_burst(per_minute: int, window_seconds: int, duration_seconds: int, workdir: Path) -> dict[str, t.Any]:
    allowed = per_minute * window_seconds // 60
    sizes = {
        "jobcase": {
            "companies": 4,
            "jobs_per_company": 5,
            "campaigns": 2,
            "rate_limit_requests": allowed,
            "rate_limit_window_seconds": window_seconds,
        }
    }
    jobs = [jobcase_job(f"BENCH-{i:06d}") for i in range(per_minute * duration_seconds // 60)]
    input_path = workdir / "burst.jsonl"
    write_singer_input(input_path, {"jobcase_jobs": ("adNumber", jobs)})
    with SandboxProcess(sizes) as sandbox:
        config = {**sandbox.target_config, "jobcase_requests_per_minute": per_minute}
        run = run_target(config, input_path, workdir=workdir).check()
        entries = sandbox.requests_log("jobcase")["entries"]
    times = sorted(e["time"] for e in entries)
    span = times[-1] - times[0]
    rate = (len(times) - 1) / span * 60
    busiest = max(bisect.bisect_left(times, start + window_seconds) - i for i, start in enumerate(times))
    figures = {
        "configured_per_minute": per_minute,
        "sandbox_limit": f"{allowed} per rolling {window_seconds} s",
        "requests": len(times),
        "seconds": round(span, 1),
        "achieved_per_minute": round(rate, 1),
        "achieved_pct": round(rate / per_minute * 100, 1),
        "busiest_window": busiest,
        "429s": sum(1 for e in entries if e["status"] == 429),
        "created": run.extra["summary"]["jobcase_jobs"]["created"],
    }
    log(f"jobcase burst: {figures}")
    return figures


# -- c. the same input twice ---------------------------------------------------------------------------------
def rerun_inputs(sandbox: SandboxProcess) -> dict[str, tuple[str, list[dict]]]:
    candidates = sandbox.control.store("workable")["candidates"][:10]
    zr_subscribers = sandbox.control.store("ziprecruiter")["subscribers"][:10]
    company = {
        "companyUrl": "https://bench.example.com",
        "companyStreet": "1 Main St",
        "companyCity": "Boston",
        "companyState": "MA",
        "companyZipCode": "02108",
    }
    return {
        "workable_candidates": (
            "id",
            [{"id": c["id"], "headline": "Updated by JobSync", "tags": ["jobsync"]} for c in candidates],
        ),
        "ziprecruiter_subscribers": (
            "email",
            [{"email": f"rerun{i}@example.com", "search": "Welder", "location": "Tulsa, OK"} for i in range(20)],
        ),
        "ziprecruiter_subscriber_searches": (
            "subscriber_id",
            [{"subscriber_id": s["id"], "search": "Welder", "location": "Tulsa, OK"} for s in zr_subscribers],
        ),
        "jobcase_companies": (
            "partnerCompanyId",
            [{**company, "partnerCompanyId": f"BENCH-C{i}", "companyName": f"Bench {i}"} for i in range(10)],
        ),
        "jobcase_jobs": (
            "adNumber",
            [jobcase_job(f"BENCH-J{i}") for i in range(20)],
        ),
        "jobcase_campaigns": (
            "name",
            [{"companyId": 1, "name": f"Bench {i}", "budget": 50, "aggressiveness": 40} for i in range(5)],
        ),
    }


def writes_by_sink(sandbox: SandboxProcess) -> dict[str, int]:
    writes: dict[str, int] = {}
    for api in ("workable", "ziprecruiter", "jobcase"):
        for key, count in sandbox.request_counts(api).items():
            method, path = key.split(" ", 1)
            if method in WRITE_METHODS:
                sink = sink_of(api, path)
                writes[sink] = writes.get(sink, 0) + count
    return writes


def same_input_twice(workdir: Path) -> dict[str, t.Any]:
    sizes = {
        "workable": {"candidates": 20},
        "ziprecruiter": {"subscribers": 20, "searches_per_subscriber": 2, "batches": 0},
        "jobcase": {"companies": 4, "jobs_per_company": 5, "campaigns": 6},
    }
    with SandboxProcess(sizes) as sandbox:
        sandbox.control.api_control("workable", "rate_limit", {"limit": 0})
        streams = rerun_inputs(sandbox)
        input_path = workdir / "rerun.jsonl"
        write_singer_input(input_path, streams)
        # Counting calls, not pacing them: the client-side limits are off for this one.
        config = {**sandbox.target_config, "jobcase_requests_per_minute": 0, "workable_requests_per_minute": 0}
        runs = []
        for _ in range(2):
            sandbox.control.clear_requests()
            run = run_target(config, input_path, workdir=workdir).check()
            runs.append((run.extra["summary"], writes_by_sink(sandbox)))
    figures = {}
    for stream, (_, records) in streams.items():
        (first, first_writes), (second, second_writes) = runs
        figures[stream] = {
            "records": len(records),
            "first_calls_per_record": round(first[stream]["api_calls"] / len(records), 2),
            "first_writes": first_writes.get(stream, 0),
            "second_calls_per_record": round(second[stream]["api_calls"] / len(records), 2),
            "second_writes": second_writes.get(stream, 0),
            "second_unchanged": second[stream]["unchanged"],
        }
    log(f"same input twice: {figures}")
    return figures


def measure(quick: bool) -> dict[str, t.Any]:
    with tempfile.TemporaryDirectory(prefix="jobsync-bench-target-") as tmp:
        workdir = Path(tmp)
        bulk_records = 5_000 if quick else 50_000
        return {
            "ziprecruiter_bulk": [
                ziprecruiter_bulk(bulk_records, wait=False, workdir=workdir),
                ziprecruiter_bulk(bulk_records, wait=True, workdir=workdir),
            ],
            "jobcase_burst": jobcase_burst(1200, 10, 30, workdir) if quick else jobcase_burst(200, 60, 180, workdir),
            "same_input_twice": same_input_twice(workdir),
        }


def table(figures: dict[str, t.Any]) -> str:
    bulk = markdown_table(
        (
            "ZipRecruiter bulk subscribe",
            "records",
            "uploads",
            "polls",
            "other calls",
            "calls per 1,000 (target <= 1 + polls)",
        ),
        [
            (
                "waiting for batches" if f["wait_for_batches"] else "not waiting",
                f"{f['records']:,}",
                f["uploads"],
                f["polls"],
                f["other_calls"],
                f"**{f['calls_per_1000']}** ({f['upload_calls_per_1000']} uploads)",
            )
            for f in figures["ziprecruiter_bulk"]
        ],
    )
    b = figures["jobcase_burst"]
    burst = markdown_table(
        (
            "Jobcase burst",
            "sandbox enforces",
            "requests",
            "seconds",
            "achieved / configured (target >= 95 %)",
            "busiest window",
            "429s",
        ),
        [
            (
                f"{b['configured_per_minute']}/min configured",
                b["sandbox_limit"],
                b["requests"],
                b["seconds"],
                f"**{b['achieved_per_minute']}/min = {b['achieved_pct']} %**",
                b["busiest_window"],
                f"**{b['429s']}**",
            )
        ],
    )
    rerun = markdown_table(
        ("sink", "records", "run 1 calls/record", "run 1 writes", "run 2 calls/record", "run 2 writes (target 0)"),
        [
            (
                sink,
                f["records"],
                f["first_calls_per_record"],
                f["first_writes"],
                f["second_calls_per_record"],
                f"**{f['second_writes']}**",
            )
            for sink, f in figures["same_input_twice"].items()
        ],
    )
    return f"{bulk}\n\n{burst}\n\n{rerun}"


def main() -> dict[str, t.Any]:
    args = bench_args(__doc__ or "")
    figures = measure(args.quick)
    return finish("4. Target efficiency", figures, table(figures), args.json)


if __name__ == "__main__":
    main()
