#!/usr/bin/env python3
"""The steps of scripts/demo.sh that talk to the sandbox and read what landed.

    demo_steps.py changes --run N       make run N's changes in the sandbox (same N, same changes)
    demo_steps.py clear-requests        empty the sandbox's request log (before the write-back)
    demo_steps.py report ...            print rows per DuckDB table and writes per destination
    demo_steps.py bookmarks ID          summarise `meltano state get ID` (JSON on stdin) in one line

Both read the sandbox's control URL from ``--control`` (``$JOBSYNC_SANDBOX_URL``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "sandbox")]  # also when run outside .venv

from jobsync_sandbox.client import SandboxClient  # noqa: E402

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


# -- changes --------------------------------------------------------------------------------------


def _pick(items: list[t.Any], run: int, offset: int = 0) -> t.Any:
    """The same item for the same run number, a different one from run to run."""
    return items[(run * 7 + offset) % len(items)]


def make_changes(control: SandboxClient, run: int) -> list[str]:
    """Run ``run``'s changes: something for each pipeline to pick up incrementally."""
    done = []
    store = control.store("pcrecruiter")["entities"]
    companies = sorted(store["companies"]["records"], key=lambda r: r["CompanyId"])
    open_positions = sorted(
        (p for p in store["positions"]["records"] if p.get("Status") == "Open" and p.get("CompanyId")),
        key=lambda r: r["JobId"],
    )
    company = _pick(companies, run)
    inserted = control.api_control("pcrecruiter", "insert", {"entity": "positions", "record": {
        "JobTitle": f"Demo Specialist {run}", "CompanyId": company["CompanyId"], "CompanyName": company["CompanyName"],
        "City": company["City"], "State": company["State"], "Status": "Open",
    }})["records"][0]  # fmt: skip
    done.append(
        f"PCRecruiter: position {inserted['JobId']} inserted ({inserted['JobTitle']!r} at {company['CompanyName']})"
    )
    if len(open_positions) >= 2:
        updated = _pick(open_positions, run)
        title = f"{updated['JobTitle'].split(' (')[0]} (revised in run {run})"
        control.api_control(
            "pcrecruiter", "update", {"entity": "positions", "id": updated["JobId"], "fields": {"JobTitle": title}}
        )
        done.append(f"PCRecruiter: position {updated['JobId']} retitled {title!r}")
        deleted = _pick([p for p in open_positions if p is not updated], run, 3)
        control.api_control("pcrecruiter", "delete", {"entity": "positions", "id": deleted["JobId"]})
        done.append(f"PCRecruiter: position {deleted['JobId']} deleted ({deleted['JobTitle']!r})")
    connections = control.store("trackjobchanges")["connections"]
    connection = _pick(connections, run, 1)
    control.api_control(
        "trackjobchanges", "job_change",
        {"connection_id": connection["id"], "company": f"Demo Labs {run}", "title": "head of operations"},
    )  # fmt: skip
    done.append(
        f"TrackJobChanges: connection {connection['id']} ({connection['starting_employment']['email']}) "
        f"now works at 'Demo Labs {run}'"
    )
    return done


# -- report ---------------------------------------------------------------------------------------

DUCKDB_COUNTS = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
since = sys.argv[2]
tables = [r[0] for r in con.execute(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'jobsync' ORDER BY 1").fetchall()]
out = {}
for table in tables:
    total, live, loaded = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE _sdc_deleted_at IS NULL), "
        f"count(*) FILTER (WHERE _sdc_batched_at >= CAST(? AS TIMESTAMP)) FROM jobsync.{table}", [since]).fetchone()
    out[table] = {"rows": total, "live": live, "deleted": total - live, "loaded_this_run": loaded}
print(json.dumps(out))
"""


def warehouse_counts(python: str, database: str, since: str) -> dict[str, dict[str, int]]:
    """Rows per table (live, flagged deleted, upserted by this run), read with target-duckdb's own Python."""
    proc = subprocess.run([python, "-c", DUCKDB_COUNTS, database, since], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"demo: cannot read {database}: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout)


def duplicates(control: SandboxClient) -> dict[str, int]:
    """Objects that exist twice in the destinations (what a non-idempotent write-back would leave)."""
    jobcase = control.store("jobcase")
    counts = {
        "Jobcase companies sharing a partnerCompanyId": _repeats(
            c.get("partnerCompanyId") for c in jobcase["companies"]
        ),
        "Jobcase jobs sharing an adNumber": _repeats(j.get("adNumber") for j in jobcase["jobs"]),
    }
    entries = 0
    for candidate in control.store("workable")["candidates"]:
        keys = [
            (e.get("title"), e.get("company"), e.get("start_date")) for e in candidate.get("experience_entries") or []
        ]
        entries += _repeats(keys)
    counts["Workable experience entries listed twice on a candidate"] = entries
    return counts


def _repeats(values: t.Iterable[t.Any]) -> int:
    return sum(n - 1 for value, n in collections.Counter(values).items() if value is not None and n > 1)


def print_report(args: argparse.Namespace, control: SandboxClient) -> None:
    counts = warehouse_counts(args.duckdb_python, args.duckdb, args.since)
    print(f"\nWarehouse ({args.duckdb}, schema jobsync): rows per table")
    print(f"  {'table':34} {'rows':>6} {'live':>6} {'deleted':>8} {'loaded this run':>16}")
    for table, row in counts.items():
        print(f"  {table:34} {row['rows']:>6} {row['live']:>6} {row['deleted']:>8} {row['loaded_this_run']:>16}")

    print("\nWrite-back: what target-jobsync did per destination (its summary_path)")
    for path in args.summary:
        summary = json.loads(Path(path).read_text()) if Path(path).exists() else {}
        for stream, entry in summary.items():
            if stream.startswith("_"):
                continue
            outcomes = ", ".join(
                f"{k} {entry.get(k, 0)}" for k in ("created", "updated", "deleted", "unchanged", "rejected")
            )
            print(f"  {entry.get('sink', stream):22} {outcomes}; {entry.get('api_calls', 0)} API calls")
    log = control.requests()["counts"]
    writes: collections.Counter[str] = collections.Counter()
    for endpoint, n in log.items():
        api, method, _ = endpoint.split(" ", 2)
        if method in WRITE_METHODS:
            writes[api] += n
    seen = ", ".join(f"{api} {n}" for api, n in sorted(writes.items())) or "none"
    print(f"  write calls the sandbox received during the write-back (its request log): {seen}")

    dead = Path(args.dead_letters)
    rejected = len(dead.read_text().splitlines()) if dead.exists() else 0
    print(f"  dead-lettered records (all runs): {rejected}" + (f" -> {dead}" if rejected else ""))
    problems = {k: v for k, v in duplicates(control).items() if v}
    print("\nDuplicates in the destinations: " + (", ".join(f"{k}: {v}" for k, v in problems.items()) or "none"))


def bookmark_line(state_id: str, state: dict[str, t.Any]) -> str:
    """``id: stream key=value, ...`` for the bookmarks Meltano keeps."""
    parts = []
    for stream, bookmark in sorted((state.get("singer_state") or {}).get("bookmarks", {}).items()):
        if "replication_key_value" in bookmark:
            parts.append(f"{stream} {bookmark.get('replication_key')}={bookmark['replication_key_value']}")
        elif "change_tracking_version" in bookmark:
            parts.append(f"{stream} change_tracking_version={bookmark['change_tracking_version']}")
    return f"{state_id}: " + (", ".join(parts) or "(no incremental bookmarks)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--control", default=os.environ.get("JOBSYNC_SANDBOX_URL"), help="sandbox URL")
    sub = parser.add_subparsers(dest="command", required=True)
    changes = sub.add_parser("changes", help="make this run's changes in the sandbox")
    changes.add_argument("--run", type=int, required=True)
    sub.add_parser("clear-requests", help="empty the sandbox's request log")
    bookmarks = sub.add_parser("bookmarks", help="one line per `meltano state get` JSON on stdin")
    bookmarks.add_argument("state_id")
    report = sub.add_parser("report", help="print what landed")
    report.add_argument("--duckdb", required=True)
    report.add_argument("--duckdb-python", required=True, help="target-duckdb's Python (it has duckdb)")
    report.add_argument("--since", required=True, help="UTC start of this run, YYYY-MM-DD HH:MM:SS")
    report.add_argument("--summary", action="append", default=[], help="target-jobsync summary_path file")
    report.add_argument("--dead-letters", required=True)
    args = parser.parse_args(argv)
    if args.command == "bookmarks":
        print(f"  {bookmark_line(args.state_id, json.load(sys.stdin))}")
        return 0
    if not args.control:
        parser.error("--control (or JOBSYNC_SANDBOX_URL) is required")
    control = SandboxClient(args.control)
    if args.command == "changes":
        for line in make_changes(control, args.run):
            print(f"  {line}")
    elif args.command == "clear-requests":
        control.clear_requests()
    else:
        print_report(args, control)
    return 0


if __name__ == "__main__":
    sys.exit(main())
