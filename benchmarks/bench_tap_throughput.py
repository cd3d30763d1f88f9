"""1. Tap throughput vs the on-machine limit, per top-level stream.

For each stream, ``tap-jobsync`` (stdout to /dev/null) and the bare loop of
``benchmarks/bare_loops.py`` read the same sandbox pages, each in its own
process, the sandbox in a third. Runs alternate and the best of each side is
kept, so a burst of load from other work hurts both sides alike; the figure is
the ratio tap/bare (target: >= 0.6). Jobcase's rate limit is off on both sides
here: this measures per-record cost, not the 200/minute pacing.
"""

from __future__ import annotations

import json
import typing as t

from benchmarks.common import (
    PYTHON,
    Measured,
    SandboxProcess,
    TapRunner,
    bench_args,
    finish,
    log,
    markdown_table,
    run_measured,
    write_json,
)

# Sandbox sizes giving `n` records in each measured stream.
STREAM_SIZES: dict[str, t.Callable[[int], dict[str, dict[str, int]]]] = {
    "trackjobchanges_connections": lambda n: {"trackjobchanges": {"connections": n, "pings": 1}},
    "ziprecruiter_subscribers": lambda n: {"ziprecruiter": {"subscribers": n, "batches": 0}},
    "pcrecruiter_candidates": lambda n: {"pcrecruiter": {"candidates": n, "companies": 1, "positions": 1}},
    "jobcase_jobs": lambda n: {
        "jobcase": {"companies": max(1, n // 100), "jobs_per_company": 100, "rate_limit_requests": 0}
    },
}


def sizes_for(n: int) -> dict[str, dict[str, int]]:
    sizes: dict[str, dict[str, int]] = {}
    for make in STREAM_SIZES.values():
        sizes.update(make(n))
    return sizes


def run_bare(config_path: str, stream: str, workdir: t.Any) -> tuple[Measured, int]:
    measured = run_measured(
        [PYTHON, "-m", "benchmarks.bare_loops", "--config", config_path, "--stream", stream], workdir=workdir
    ).check()
    report = json.loads(measured.stderr_tail.strip().splitlines()[-1])
    return measured, int(report["records"])


def measure(n: int, repeats: int) -> dict[str, t.Any]:
    figures: dict[str, t.Any] = {"records_per_stream": n, "repeats": repeats, "streams": {}}
    with SandboxProcess(sizes_for(n)) as sandbox:
        config = {**sandbox.tap_config, "jobcase_requests_per_minute": 0}
        tap = TapRunner(config)
        config_path = str(write_json(tap.dir, "bare-config.json", config))
        for stream in STREAM_SIZES:
            bare_rates, tap_rates, tap_cpu, bare_cpu = [], [], [], []
            for attempt in range(repeats):
                bare, records = run_bare(config_path, stream, tap.dir)
                run = tap.run([stream]).check()
                emitted = run.record_counts().get(stream, 0)
                if emitted != records:
                    log(f"warning: {stream}: tap emitted {emitted} records, bare loop {records}")
                bare_rates.append(records / bare.wall)
                tap_rates.append(emitted / run.wall)
                bare_cpu.append((bare.user + bare.sys) / records * 1e6)
                tap_cpu.append((run.user + run.sys) / emitted * 1e6)
                log(
                    f"{stream} #{attempt + 1}: bare {bare_rates[-1]:,.0f} rec/s, tap {tap_rates[-1]:,.0f} rec/s "
                    f"(tap CPU {tap_cpu[-1]:.0f} us/record)"
                )
            figures["streams"][stream] = {
                "records": records,
                "bare_records_per_s": round(max(bare_rates)),
                "tap_records_per_s": round(max(tap_rates)),
                "ratio": round(max(tap_rates) / max(bare_rates), 2),
                "tap_cpu_us_per_record": round(min(tap_cpu), 1),
                "bare_cpu_us_per_record": round(min(bare_cpu), 1),
            }
    return figures


def table(figures: dict[str, t.Any]) -> str:
    rows = [
        (
            stream,
            f"{f['records']:,}",
            f"{f['bare_records_per_s']:,}",
            f"{f['tap_records_per_s']:,}",
            f"**{f['ratio']:.2f}x**",
            f"{f['tap_cpu_us_per_record']} / {f['bare_cpu_us_per_record']}",
        )
        for stream, f in figures["streams"].items()
    ]
    return markdown_table(
        ("stream", "records", "bare loop rec/s", "tap rec/s", "tap / bare (target >= 0.6)", "CPU us/record tap / bare"),
        rows,
    )


def main() -> dict[str, t.Any]:
    args = bench_args(__doc__ or "")
    figures = measure(20_000 if args.quick else 200_000, 2 if args.quick else 3)
    return finish("1. Tap throughput vs the bare loop", figures, table(figures), args.json)


if __name__ == "__main__":
    main()
