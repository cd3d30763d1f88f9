"""Run every benchmark, one process each, and print the figures as markdown tables.

    .venv/bin/python -m benchmarks.run_all            # full sizes (1M records; about 20 minutes)
    .venv/bin/python -m benchmarks.run_all --quick    # small sizes (about 3 minutes)
    .venv/bin/python -m benchmarks.run_all --only tap_throughput child_latency

Figures are written to ``--out`` (default ``benchmarks/results/``) as JSON, with
the machine they were measured on. Nothing here passes or fails on timing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import PYTHON, REPO, machine_info, markdown_table

BENCHMARKS = ("tap_throughput", "child_latency", "memory", "target_efficiency", "incremental", "page_sizes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    mode = "quick" if args.quick else "full"
    machine = machine_info()
    print(f"## JobSync benchmarks ({mode}, {time.strftime('%Y-%m-%d %H:%M')})\n")
    print(markdown_table(("machine", ""), [(k, v) for k, v in machine.items()]), flush=True)
    results: dict[str, object] = {"mode": mode, "machine_at_start": machine, "benchmarks": {}}
    failed = []
    for name in args.only:
        json_path = args.out / f"{name}-{mode}.json"
        cmd = [PYTHON, "-m", f"benchmarks.bench_{name}", "--json", str(json_path), *(["--quick"] if args.quick else [])]
        started = time.monotonic()
        code = subprocess.call(cmd, cwd=REPO)
        if code != 0:
            failed.append(name)
            print(f"\n### {name}: FAILED (exit {code}); see its output above\n", flush=True)
            continue
        results["benchmarks"][name] = {  # type: ignore[index]
            "seconds": round(time.monotonic() - started),
            "figures": json.loads(json_path.read_text()),
        }
    results["load_average_at_end"] = machine_info()["load_average"]
    combined = args.out / f"all-{mode}.json"
    combined.write_text(json.dumps(results, indent=2, default=str))
    print(f"Load average at the end: {results['load_average_at_end']}. Figures: {combined}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
