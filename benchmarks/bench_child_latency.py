"""2. Child streams under latency: employments and job searches with 20 ms added per request.

The tap reads each parent's children concurrently (``prefetch_children``, bounded
by ``max_workers``, default 4) while it still emits records in order; the
baseline is the bare loop reading parent pages and then each parent's children
one request after the other. The figure is child records per second, tap vs
baseline (target: >= 2x), with the 429s the sandbox answered (target: none).
"""

from __future__ import annotations

import json
import typing as t

from benchmarks.common import (
    PYTHON,
    SandboxProcess,
    TapRunner,
    bench_args,
    finish,
    log,
    markdown_table,
    run_measured,
    write_json,
)

LATENCY_MS = 20
# parent stream -> (child stream, API)
PAIRS = {
    "trackjobchanges_connections": ("trackjobchanges_employments", "trackjobchanges"),
    "ziprecruiter_subscribers": ("ziprecruiter_subscriber_searches", "ziprecruiter"),
}


def sizes_for(parents: int) -> dict[str, dict[str, int]]:
    return {
        "trackjobchanges": {"connections": parents, "employments_per_connection": 3, "pings": 1},
        "ziprecruiter": {"subscribers": parents, "searches_per_subscriber": 3, "batches": 0},
    }


def throttled(sandbox: SandboxProcess, api: str) -> int:
    entries = sandbox.requests_log(api)["entries"]
    return sum(1 for entry in entries if entry["status"] == 429)


def measure(parents: int) -> dict[str, t.Any]:
    figures: dict[str, t.Any] = {"parents": parents, "latency_ms": LATENCY_MS, "streams": {}}
    sizes = sizes_for(parents)
    with SandboxProcess(sizes) as sandbox:
        tap = TapRunner(sandbox.tap_config)
        config_path = str(write_json(tap.dir, "bare-config.json", sandbox.tap_config))
        for parent, (child, api) in PAIRS.items():
            sandbox.reset(sizes)
            sandbox.control.set_latency(LATENCY_MS)
            bare = run_measured(
                [PYTHON, "-m", "benchmarks.bare_loops", "--config", config_path, "--stream", parent, "--children"],
                workdir=tap.dir,
            ).check()
            bare_report = json.loads(bare.stderr_tail.strip().splitlines()[-1])
            sandbox.reset(sizes)
            sandbox.control.set_latency(LATENCY_MS)
            run = tap.run([parent, child]).check()
            counts = run.record_counts()
            children = counts.get(child, 0)
            bare_children = bare_report["records"] - counts.get(parent, 0)
            requests = sandbox.requests_log(api, limit=1)["total"]
            figures["streams"][child] = {
                "child_records": children,
                "bare_child_records": bare_children,
                "bare_child_records_per_s": round(bare_children / bare.wall),
                "tap_child_records_per_s": round(children / run.wall),
                "speedup": round((children / run.wall) / (bare_children / bare.wall), 2),
                "tap_requests": requests,
                "bare_requests": bare_report["requests"],
                "tap_429s": throttled(sandbox, api),
                "tap_seconds": round(run.wall, 1),
                "bare_seconds": round(bare.wall, 1),
            }
            log(f"{child}: {figures['streams'][child]}")
    return figures


def table(figures: dict[str, t.Any]) -> str:
    rows = [
        (
            child,
            f"{f['child_records']:,}",
            f"{f['bare_child_records_per_s']:,} ({f['bare_seconds']} s)",
            f"{f['tap_child_records_per_s']:,} ({f['tap_seconds']} s)",
            f"**{f['speedup']:.2f}x**",
            f"{f['tap_requests']:,} / {f['bare_requests']:,}",
            f["tap_429s"],
        )
        for child, f in figures["streams"].items()
    ]
    return markdown_table(
        (
            f"child stream ({figures['parents']:,} parents, +{figures['latency_ms']} ms/request)",
            "child records",
            "sequential rec/s",
            "tap rec/s",
            "tap / sequential (target >= 2)",
            "requests tap / bare",
            "429s",
        ),
        rows,
    )


def main() -> dict[str, t.Any]:
    args = bench_args(__doc__ or "")
    figures = measure(300 if args.quick else 2000)
    return finish("2. Child streams with 20 ms latency", figures, table(figures), args.json)


if __name__ == "__main__":
    main()
