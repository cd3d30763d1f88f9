"""What every benchmark needs: a sandbox in its own process, measured CLI runs, the machine.

Processes are measured with ``os.wait4``, which returns the resource usage of
exactly that child (wall time, CPU, peak RSS) with the standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from jobsync_sandbox.client import SandboxClient

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TAP = (PYTHON, "-m", "tap_jobsync.tap")
TARGET = (PYTHON, "-m", "target_jobsync.target")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

_METRIC_RE = re.compile(r"METRIC: (\{.*\})")


def log(message: str) -> None:
    """Progress goes to stderr; figures go to stdout."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def write_json(directory: Path, name: str, data: t.Any) -> Path:
    path = directory / name
    path.write_text(json.dumps(data))
    return path


# -- the sandbox, served by its own process (it must not share the measured process's GIL) --------------
class SandboxProcess:
    """``jobsync-sandbox serve`` in a child process; configs and control client once it is ready."""

    def __init__(self, sizes: t.Mapping[str, t.Mapping[str, int]] | None = None, *, seed: int = 1) -> None:
        self.sizes = dict(sizes or {})
        self.seed = seed
        self._tmp = tempfile.TemporaryDirectory(prefix="jobsync-bench-sandbox-")
        self.dir = Path(self._tmp.name)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> t.Self:
        ready = self.dir / "ready.json"
        cmd = [
            PYTHON, "-m", "jobsync_sandbox.cli", "serve",
            "--seed", str(self.seed),
            "--sizes", json.dumps(self.sizes),
            "--ready-file", str(ready),
            "--write-configs", str(self.dir),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.dir / "sandbox.log", "w"))
        deadline = time.monotonic() + 60
        while not ready.exists() or not ready.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                msg = f"sandbox did not start: {(self.dir / 'sandbox.log').read_text()[-2000:]}"
                raise RuntimeError(msg)
            time.sleep(0.05)
        urls = json.loads(ready.read_text())
        self.url = urls.pop("control")
        self.base_urls = urls
        self.control = SandboxClient(self.url, timeout=600)
        self.tap_config: dict[str, t.Any] = json.loads((self.dir / "tap.json").read_text())
        self.target_config: dict[str, t.Any] = json.loads((self.dir / "target.json").read_text())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._tmp.cleanup()

    def reset(self, sizes: t.Mapping[str, t.Mapping[str, int]]) -> None:
        self.control.reset(seed=self.seed, sizes=sizes)

    def requests_log(self, api: str | None = None, limit: int = 100_000) -> dict[str, t.Any]:
        return self.control.requests(api=api, limit=limit)

    def request_counts(self, api: str) -> dict[str, int]:
        """``"METHOD /path": n`` for one API since the last clear (paths below the API base)."""
        counts = self.control.requests(api=api, limit=1)["counts"]
        return {key.split(" ", 1)[1]: value for key, value in counts.items()}


# -- measured child processes ---------------------------------------------------------------------------
@dataclass
class Measured:
    """One finished child process: exit code, wall/CPU seconds, peak RSS, its stderr file."""

    returncode: int
    wall: float
    user: float
    sys: float
    max_rss_mb: float
    stderr_path: Path
    lines: int = 0
    last_state: dict | None = None
    extra: dict[str, t.Any] = field(default_factory=dict)

    @property
    def stderr_tail(self) -> str:
        with open(self.stderr_path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 3000))
            return handle.read().decode("utf-8", "replace")

    def check(self) -> Measured:
        if self.returncode != 0:
            msg = f"process failed with exit {self.returncode}:\n{self.stderr_tail}"
            raise RuntimeError(msg)
        return self

    def record_counts(self) -> dict[str, int]:
        """Records per stream, from the SDK's ``record_count`` metrics (summed: each log resets the count)."""
        counts: dict[str, int] = {}
        with open(self.stderr_path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                match = _METRIC_RE.search(line)
                if not match:
                    continue
                point = json.loads(match.group(1))
                if point.get("metric") == "record_count":
                    stream = point.get("tags", {}).get("stream", "?")
                    counts[stream] = counts.get(stream, 0) + int(point.get("value", 0))
        return counts


def run_measured(
    cmd: t.Sequence[str],
    *,
    stdin_path: Path | None = None,
    keep_last_state: bool = False,
    env: t.Mapping[str, str] | None = None,
    workdir: Path | None = None,
) -> Measured:
    """Run ``cmd``; stdout to /dev/null, or scanned for its last STATE line when asked."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="jobsync-bench-run-"))
    stderr_path = workdir / f"stderr-{time.monotonic_ns()}.log"
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL  # noqa: SIM115
    stdout = subprocess.PIPE if keep_last_state else subprocess.DEVNULL
    started = time.perf_counter()
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=stderr, env={**os.environ, **(env or {})})
    result: dict[str, t.Any] = {"lines": 0, "state": None}

    def scan() -> None:
        # Only the line count and the last STATE are kept: the scanner holds no stream in memory.
        assert proc.stdout is not None
        for line in proc.stdout:
            result["lines"] += 1
            if b'"type":"STATE"' in line or b'"type": "STATE"' in line:
                result["state"] = line
        proc.stdout.close()

    reader = threading.Thread(target=scan, daemon=True) if keep_last_state else None
    if reader:
        reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if reader:
        reader.join()
    if stdin_path:
        stdin.close()  # type: ignore[union-attr]
    state = json.loads(result["state"])["value"] if result["state"] else None
    return Measured(
        returncode=proc.returncode,
        wall=wall,
        user=usage.ru_utime,
        sys=usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        stderr_path=stderr_path,
        lines=result["lines"],
        last_state=state,
    )


# -- the tap and the target ---------------------------------------------------------------------------------
class TapRunner:
    """Runs ``tap-jobsync`` against one sandbox with a config and a selected catalog."""

    def __init__(self, config: t.Mapping[str, t.Any]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="jobsync-bench-tap-"))
        self.config_path = write_json(self.dir, "config.json", dict(config))
        discovered = subprocess.run(
            [*TAP, "--config", str(self.config_path), "--discover"], capture_output=True, check=True
        )
        self.catalog = json.loads(discovered.stdout)

    def selected_catalog(self, streams: t.Iterable[str]) -> Path:
        wanted = set(streams)
        catalog = json.loads(json.dumps(self.catalog))
        for entry in catalog["streams"]:
            for meta in entry.get("metadata", []):
                if meta.get("breadcrumb") == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] in wanted
        return write_json(self.dir, f"catalog-{'-'.join(sorted(wanted))}.json", catalog)

    def run(self, streams: t.Iterable[str], *, state: dict | None = None, keep_last_state: bool = False) -> Measured:
        cmd = [*TAP, "--config", str(self.config_path), "--catalog", str(self.selected_catalog(streams))]
        if state is not None:
            cmd += ["--state", str(write_json(self.dir, "state.json", state))]
        return run_measured(cmd, keep_last_state=keep_last_state, workdir=self.dir)


def run_target(config: t.Mapping[str, t.Any], input_path: Path, *, workdir: Path | None = None) -> Measured:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="jobsync-bench-target-"))
    summary_path = workdir / "summary.json"
    config_path = write_json(workdir, "target.json", {**config, "summary_path": str(summary_path)})
    measured = run_measured([*TARGET, "--config", str(config_path)], stdin_path=input_path, workdir=workdir)
    if summary_path.exists():
        measured.extra["summary"] = json.loads(summary_path.read_text())
    return measured


def write_singer_input(
    path: Path, streams: t.Mapping[str, tuple[str, t.Iterable[dict]]], *, state_every: int = 0
) -> int:
    """A Singer message file: per stream (name -> (key, records)) a SCHEMA and its RECORDs.

    A STATE follows every ``state_every`` records and the end, as a tap would send them.
    """
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for stream, (key, records) in streams.items():
            schema = {"type": "object", "properties": {}}
            out.write(
                json.dumps({"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": [key]}) + "\n"
            )
            for record in records:
                out.write(
                    json.dumps({"type": "RECORD", "stream": stream, "record": record}, separators=(",", ":")) + "\n"
                )
                count += 1
                if state_every and count % state_every == 0:
                    out.write(
                        json.dumps({"type": "STATE", "value": {"bookmarks": {"upstream": {"sent": count}}}}) + "\n"
                    )
        out.write(
            json.dumps({"type": "STATE", "value": {"bookmarks": {"upstream": {"sent": count, "done": True}}}}) + "\n"
        )
    return count


def jobcase_job(ad_number: str) -> dict[str, t.Any]:
    """A new Jobcase job record for seeded company 1 (the required fields only)."""
    return {
        "adNumber": ad_number,
        "companyId": 1,
        "jobTitle": "Warehouse Associate",
        "jobDescription": "Pick, pack and ship; weekly pay.",
        "jobCity": "Boston",
        "jobState": "MA",
        "jobZipCode": "02108",
    }


# -- the machine ----------------------------------------------------------------------------------------------
def machine_info() -> dict[str, t.Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def best(values: t.Iterable[float]) -> float:
    return max(values)


def markdown_table(headers: t.Sequence[str], rows: t.Iterable[t.Sequence[t.Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def bench_args(description: str) -> t.Any:
    """``--quick`` (small sizes, minutes) and ``--json PATH`` (the figures, machine-readable)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes in all)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args()


def finish(name: str, figures: dict[str, t.Any], table: str, json_path: Path | None) -> dict[str, t.Any]:
    print(f"\n### {name}\n\n{table}\n", flush=True)
    if json_path:
        json_path.write_text(json.dumps(figures, indent=2, default=str))
    return figures
