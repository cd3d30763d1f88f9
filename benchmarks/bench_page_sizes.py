"""Page sizes: what the size of a list page costs where requests are scarce or slow.

Per request, the tap pays the API's latency (live APIs: tens to hundreds of ms)
or a slot of its rate limit (Jobcase: 200 a minute), so records per request
decide a sync's duration. Each row syncs the same records with the page size
the connectors used to request and with today's default:

- ``jobcase_jobs`` under the documented 200 requests/minute (the sandbox enforces it);
- ``pcrecruiter_candidates`` with 20 ms added to every request;
- the target's index of existing Jobcase jobs, listed before its first write (200/minute;
  its page size is not a setting, so only today's figure is measured here).

ZipRecruiter already asks for its documented maximum (100); TrackJobChanges has no
page-size parameter.
"""

from __future__ import annotations

import tempfile
import typing as t
from pathlib import Path

from benchmarks.common import (
    SandboxProcess,
    TapRunner,
    bench_args,
    finish,
    jobcase_job,
    log,
    markdown_table,
    run_target,
    write_singer_input,
)
from jobsync_common import jobcase as jc
from tap_jobsync.pcrecruiter import api as pcr

OLD_JOBCASE_PAGE = 100
OLD_PCRECRUITER_PAGE = 100


def tap_row(n: int, stream: str, sizes: dict, setting: str, old: int, new: int, latency_ms: int = 0) -> dict:
    row: dict[str, t.Any] = {"records": n, "setting": setting}
    with SandboxProcess(sizes) as sandbox:
        for label, page in (("old", old), ("new", new)):
            sandbox.reset(sizes)
            if latency_ms:
                sandbox.control.set_latency(latency_ms)
            run = TapRunner({**sandbox.tap_config, setting: page}).run([stream]).check()
            row[label] = {
                "page_size": page,
                "requests": sandbox.requests_log(limit=1)["total"],
                "seconds": round(run.wall, 1),
                "records": run.record_counts().get(stream, 0),
            }
            log(f"{stream} page {page}: {row[label]}")
    return row


def target_index_row(existing_jobs: int, workdir: Path) -> dict:
    """One new job written to an account holding ``existing_jobs``: the index listing dominates."""
    sizes = {"jobcase": {"companies": max(1, existing_jobs // 100), "jobs_per_company": 100, "campaigns": 1}}
    input_path = workdir / "one-job.jsonl"
    write_singer_input(input_path, {"jobcase_jobs": ("adNumber", [jobcase_job("BENCH-1")])})
    row: dict[str, t.Any] = {"records": existing_jobs, "setting": "target index listing"}
    with SandboxProcess(sizes) as sandbox:
        run = run_target(sandbox.target_config, input_path, workdir=workdir).check()
        row["new"] = {
            "page_size": jc.LIST_PAGE_SIZE,
            "requests": sandbox.requests_log(limit=1)["total"],
            "seconds": round(run.wall, 1),
        }
    log(f"target index of {existing_jobs} jobs: {row}")
    return row


def measure(quick: bool) -> dict[str, t.Any]:
    jobs = 5_000 if quick else 20_000
    candidates = 20_000 if quick else 100_000
    rows = [
        tap_row(
            jobs,
            "jobcase_jobs",
            {"jobcase": {"companies": jobs // 100, "jobs_per_company": 100, "campaigns": 1}},
            "jobcase_page_size",
            OLD_JOBCASE_PAGE,
            jc.LIST_PAGE_SIZE,
        ),
        tap_row(
            candidates,
            "pcrecruiter_candidates",
            {"pcrecruiter": {"candidates": candidates, "companies": 1, "positions": 1}},
            pcr.RESULTS_PER_PAGE_SETTING,
            OLD_PCRECRUITER_PAGE,
            pcr.MAX_RESULTS_PER_PAGE,
            latency_ms=20,
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="jobsync-bench-pages-") as tmp:
        rows.append(target_index_row(jobs, Path(tmp)))
    return {"rows": rows}


def table(figures: dict[str, t.Any]) -> str:
    names = (
        "jobcase_jobs (200/min)",
        "pcrecruiter_candidates (+20 ms/request)",
        "target: index of existing Jobcase jobs (200/min)",
    )
    rows = []
    for name, row in zip(names, figures["rows"], strict=True):
        old = row.get("old")
        rows.append(
            (
                name,
                f"{row['records']:,}",
                f"{old['page_size']}: {old['requests']:,} requests, {old['seconds']} s" if old else "(see README)",
                f"{row['new']['page_size']}: {row['new']['requests']:,} requests, **{row['new']['seconds']} s**",
            )
        )
    return markdown_table(("run", "records", "old page size", "default page size now"), rows)


def main() -> dict[str, t.Any]:
    args = bench_args(__doc__ or "")
    figures = measure(args.quick)
    return finish("Page sizes", figures, table(figures), args.json)


if __name__ == "__main__":
    main()
