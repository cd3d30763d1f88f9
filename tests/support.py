"""Run the real tap/target CLIs as subprocesses and read their Singer output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import typing as t
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SingerRun:
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict] = field(default_factory=list)

    def records(self, stream: str | None = None) -> list[dict]:
        return [
            m["record"]
            for m in self.messages
            if m.get("type") == "RECORD" and (stream is None or m["stream"] == stream)
        ]

    def record_messages(self, stream: str | None = None) -> list[dict]:
        return [m for m in self.messages if m.get("type") == "RECORD" and (stream is None or m["stream"] == stream)]

    @property
    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m.get("type") == "STATE"]

    @property
    def last_state(self) -> dict | None:
        states = self.states
        return states[-1] if states else None

    def of_type(self, kind: str, stream: str | None = None) -> list[dict]:
        return [m for m in self.messages if m.get("type") == kind and (stream is None or m.get("stream") == stream)]

    def check(self) -> SingerRun:
        assert self.returncode == 0, f"exit {self.returncode}\n--- stderr ---\n{self.stderr[-4000:]}"
        return self


def _write_json(directory: Path, name: str, data: t.Any) -> str:
    path = directory / name
    path.write_text(json.dumps(data))
    return str(path)


def _parse_lines(text: str) -> list[dict]:
    stripped = (line.strip() for line in text.splitlines())
    return [json.loads(line) for line in stripped if line.startswith("{")]


def run_tap(
    config: dict,
    *,
    state: dict | None = None,
    catalog: dict | None = None,
    args: t.Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> SingerRun:
    """Run ``tap-jobsync`` (the real console entry point) and collect its messages."""
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        cmd = [sys.executable, "-m", "tap_jobsync.tap", "--config", _write_json(tmpdir, "config.json", config)]
        if state is not None:
            cmd += ["--state", _write_json(tmpdir, "state.json", state)]
        if catalog is not None:
            cmd += ["--catalog", _write_json(tmpdir, "catalog.json", catalog)]
        cmd += list(args)
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, check=False
        )
    messages = _parse_lines(proc.stdout) if "--discover" not in args and "--about" not in args else []
    return SingerRun(proc.returncode, proc.stdout, proc.stderr, messages)


def discover(config: dict) -> dict:
    run = run_tap(config, args=["--discover"])
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def select_streams(catalog: dict, names: t.Iterable[str]) -> dict:
    """Copy of ``catalog`` with only ``names`` selected."""
    wanted = set(names)
    catalog = json.loads(json.dumps(catalog))
    for entry in catalog["streams"]:
        selected = entry["tap_stream_id"] in wanted
        for meta in entry.get("metadata", []):
            if meta.get("breadcrumb") == []:
                meta["metadata"]["selected"] = selected
    return catalog


def run_target(
    config: dict,
    messages: t.Iterable[dict | str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> SingerRun:
    """Feed Singer messages to ``target-jobsync`` (the real console entry point)."""
    lines = "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "target_jobsync.target", "--config", _write_json(Path(tmp), "config.json", config)]
        proc = subprocess.run(
            cmd,
            input=lines,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )
    return SingerRun(proc.returncode, proc.stdout, proc.stderr, _parse_lines(proc.stdout))


def schema_message(stream: str, properties: dict, key_properties: t.Sequence[str] = ()) -> dict:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": list(key_properties),
    }


def record_message(stream: str, record: dict) -> dict:
    return {"type": "RECORD", "stream": stream, "record": record}


def state_message(value: dict) -> dict:
    return {"type": "STATE", "value": value}
