"""3. Memory: peak RSS of the tap and of the target, small run vs large run.

Peak RSS comes from ``os.wait4`` (the kernel's ``ru_maxrss`` of that one child).
A flat figure (large within +20 % of small) means nothing holds a whole stream.

- tap: ``pcrecruiter_candidates`` (a full listing) and ``trackjobchanges_connections``;
- target: ``ziprecruiter_subscribers`` in bulk mode (CSV batch uploads of 1,000),
  fed a Singer file with a STATE every 10,000 records, as a tap would send it.
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
    log,
    markdown_table,
    run_target,
    write_singer_input,
)

TAP_STREAMS = {
    "pcrecruiter_candidates": lambda n: {"pcrecruiter": {"candidates": n, "companies": 1, "positions": 1}},
    "trackjobchanges_connections": lambda n: {"trackjobchanges": {"connections": n, "pings": 1}},
}
TARGET_STREAM = "ziprecruiter_subscribers"


def subscribers(n: int) -> t.Iterator[dict]:
    for i in range(n):
        yield {
            "email": f"seeker{i}@example.com",
            "name": f"Seeker {i}",
            "search": "Registered Nurse",
            "location": "Houston, TX",
            "create_time": "2024-05-04T00:01:05Z",
            "ip_address": "203.0.113.7",
        }


def tap_peak(n: int, stream: str) -> dict[str, t.Any]:
    with SandboxProcess(TAP_STREAMS[stream](n)) as sandbox:
        run = TapRunner(sandbox.tap_config).run([stream]).check()
    records = run.record_counts().get(stream, 0)
    log(f"tap {stream} {records:,} records: peak RSS {run.max_rss_mb:.0f} MB in {run.wall:.0f} s")
    return {"records": records, "peak_rss_mb": round(run.max_rss_mb, 1), "seconds": round(run.wall, 1)}


def target_peak(n: int, workdir: Path) -> dict[str, t.Any]:
    input_path = workdir / f"subscribers-{n}.jsonl"
    write_singer_input(input_path, {TARGET_STREAM: ("email", subscribers(n))}, state_every=10_000)
    with SandboxProcess({"ziprecruiter": {"subscribers": 10, "batches": 0}}) as sandbox:
        run = run_target(sandbox.target_config, input_path, workdir=workdir).check()
        calls = sandbox.requests_log("ziprecruiter", limit=1)["total"]
    input_path.unlink()
    log(f"target {n:,} records: peak RSS {run.max_rss_mb:.0f} MB in {run.wall:.0f} s, {calls} API calls")
    return {"records": n, "peak_rss_mb": round(run.max_rss_mb, 1), "seconds": round(run.wall, 1), "api_calls": calls}


def measure(small: int, large: int) -> dict[str, t.Any]:
    figures: dict[str, t.Any] = {"small": small, "large": large, "runs": {}}
    for stream in TAP_STREAMS:
        figures["runs"][f"tap {stream}"] = {"small": tap_peak(small, stream), "large": tap_peak(large, stream)}
    with tempfile.TemporaryDirectory(prefix="jobsync-bench-memory-") as tmp:
        figures["runs"][f"target {TARGET_STREAM}"] = {
            "small": target_peak(small, Path(tmp)),
            "large": target_peak(large, Path(tmp)),
        }
    for run in figures["runs"].values():
        run["growth_pct"] = round((run["large"]["peak_rss_mb"] / run["small"]["peak_rss_mb"] - 1) * 100, 1)
    return figures


def table(figures: dict[str, t.Any]) -> str:
    rows = [
        (
            name,
            f"{run['small']['peak_rss_mb']} MB",
            f"{run['large']['peak_rss_mb']} MB ({run['large']['seconds']} s)",
            f"**{run['growth_pct']:+.1f} %**",
        )
        for name, run in figures["runs"].items()
    ]
    return markdown_table(
        (
            "process",
            f"peak RSS at {figures['small']:,}",
            f"peak RSS at {figures['large']:,}",
            "growth (target <= +20 %)",
        ),
        rows,
    )


def main() -> dict[str, t.Any]:
    args = bench_args(__doc__ or "")
    figures = measure(10_000, 100_000 if args.quick else 1_000_000)
    return finish("3. Peak memory", figures, table(figures), args.json)


if __name__ == "__main__":
    main()
