#!/usr/bin/env python3
"""Write the sample catalogs in catalogs/ from `tap-jobsync --discover` against a sandbox.

Every catalog holds every stream the tap discovers (schemas, keys, metadata exactly as
discovered); they differ only in which streams are selected:

    all.json                    every stream
    <service>.json              the streams of one service (trackjobchanges, pcrecruiter, ...)
    <pipeline>.json             what a write-back extractor in meltano.yml selects:
                                `tap-jobsync--pcr-to-jobcase` -> pcr-to-jobcase.json

Usage:
    .venv/bin/python scripts/gen_catalogs.py            # rewrite catalogs/
    .venv/bin/python scripts/gen_catalogs.py --check    # exit 1 when a catalog is stale or missing

Use one with the tap (`tap-jobsync --config tap.json --catalog catalogs/pcrecruiter.json`) or
with Meltano (the `catalog:` extra of an extractor; Meltano then applies no `select` rules).
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "sandbox")]  # also when run outside .venv

from jobsync_sandbox import Sandbox, configs  # noqa: E402

#: Stream name prefixes, one per tap service (the first part of every stream name).
SERVICES = ("trackjobchanges", "pcrecruiter", "ziprecruiter", "jobcase")
WRITEBACK_PREFIX = "tap-jobsync--"


class CatalogError(Exception):
    """Something the user must fix; the message says what."""


def discover(python: str) -> dict[str, t.Any]:
    """`tap-jobsync --discover` with every service configured against a throwaway sandbox."""
    with Sandbox(seed=1) as sandbox, tempfile.TemporaryDirectory() as tmp:
        credentials = {name: api.credentials for name, api in sandbox.apis.items()}
        config = Path(tmp) / "tap.json"
        config.write_text(json.dumps(configs.tap_config(sandbox.base_urls, credentials)))
        cmd = [python, "-m", "tap_jobsync.tap", "--config", str(config), "--discover"]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-5:])
        raise CatalogError(f"`tap-jobsync --discover` failed (exit {proc.returncode}): {tail}")
    return json.loads(proc.stdout)


def writeback_selections(meltano_yml: Path) -> dict[str, list[str]]:
    """``{catalog name: [stream, ...]}`` from the `select` of each write-back extractor.

    The per-service extractors (`tap-jobsync--<service>`) are checked to select what
    catalogs/<service>.json selects.
    """
    project = yaml.safe_load(meltano_yml.read_text())
    selections: dict[str, list[str]] = {}
    for plugin in project.get("plugins", {}).get("extractors", []):
        name = plugin.get("name", "")
        if plugin.get("inherit_from") != "tap-jobsync" or not name.startswith(WRITEBACK_PREFIX):
            continue
        service = name[len(WRITEBACK_PREFIX) :]
        if service in SERVICES:
            # A per-service extractor: catalogs/<service>.json selects the same streams.
            if [str(rule) for rule in plugin.get("select") or []] != [f"{service}_*.*"]:
                raise CatalogError(f"meltano.yml: {name} must select exactly `{service}_*.*` (catalogs/{service}.json)")
            continue
        streams = []
        for rule in plugin.get("select") or []:
            stream, _, prop = str(rule).partition(".")
            if prop != "*" or not stream or any(c in stream for c in "*?[!"):
                raise CatalogError(
                    f"meltano.yml: {name} selects {rule!r}; catalogs are generated for whole streams only "
                    "(`<stream>.*`)"
                )
            streams.append(stream)
        if not streams:
            raise CatalogError(f"meltano.yml: {name} has no `select`; a write-back extractor must name its streams")
        selections[name[len(WRITEBACK_PREFIX) :]] = streams
    return selections


def with_selection(catalog: dict[str, t.Any], wanted: set[str]) -> dict[str, t.Any]:
    """A copy of ``catalog`` where exactly the streams in ``wanted`` are selected."""
    result = copy.deepcopy(catalog)
    found = set()
    for entry in result["streams"]:
        selected = entry["tap_stream_id"] in wanted
        found.add(entry["tap_stream_id"])
        for meta in entry.get("metadata", []):
            if meta.get("breadcrumb") == []:
                meta["metadata"]["selected"] = selected
    unknown = sorted(wanted - found)
    if unknown:
        raise CatalogError(f"no stream named {', '.join(unknown)} in the discovered catalog")
    return result


def build(catalog: dict[str, t.Any], meltano_yml: Path) -> dict[str, dict[str, t.Any]]:
    """File name -> catalog, for every sample catalog."""
    names = [entry["tap_stream_id"] for entry in catalog["streams"]]
    selections: dict[str, set[str]] = {"all": set(names)}
    for service in SERVICES:
        selections[service] = {n for n in names if n.startswith(f"{service}_")}
    for pipeline, streams in writeback_selections(meltano_yml).items():
        if pipeline in selections:
            raise CatalogError(f"meltano.yml: tap-jobsync--{pipeline} would overwrite catalogs/{pipeline}.json")
        selections[pipeline] = set(streams)
    return {f"{name}.json": with_selection(catalog, wanted) for name, wanted in selections.items()}


def render(catalog: dict[str, t.Any]) -> str:
    return json.dumps(catalog, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 (with a diff) when catalogs/ is out of date")
    parser.add_argument("--out", type=Path, default=ROOT / "catalogs")
    parser.add_argument("--meltano-yml", type=Path, default=ROOT / "meltano.yml")
    parser.add_argument("--python", default=sys.executable, help="interpreter with tap-jobsync installed")
    args = parser.parse_args(argv)
    try:
        files = build(discover(args.python), args.meltano_yml)
    except (CatalogError, OSError, ValueError, yaml.YAMLError, subprocess.TimeoutExpired) as exc:
        print(f"gen_catalogs: error: {exc}", file=sys.stderr)
        return 2
    wanted = {name: render(catalog) for name, catalog in files.items()}
    present = {path.name: path.read_text() for path in sorted(args.out.glob("*.json"))} if args.out.exists() else {}
    if args.check:
        stale = sorted(name for name in wanted if present.get(name) != wanted[name])
        extra = sorted(set(present) - set(wanted))
        for name in stale:
            diff = difflib.unified_diff(
                present.get(name, "").splitlines(keepends=True), wanted[name].splitlines(keepends=True),
                f"catalogs/{name}", "regenerated",
            )  # fmt: skip
            sys.stderr.writelines(list(diff)[:40])
        if stale or extra:
            problems = [f"stale or missing: {', '.join(stale)}"] if stale else []
            problems += [f"not generated (delete them): {', '.join(extra)}"] if extra else []
            print(
                f"catalogs/ is out of date ({'; '.join(problems)}): run "
                "`.venv/bin/python scripts/gen_catalogs.py` and commit the result.",
                file=sys.stderr,
            )
            return 1
        print(f"catalogs/ is up to date ({len(wanted)} catalogs).")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name in sorted(set(present) - set(wanted)):
        (args.out / name).unlink()
        print(f"removed catalogs/{name}")
    for name, text in wanted.items():
        if present.get(name) != text:
            (args.out / name).write_text(text)
            print(f"wrote catalogs/{name}")
    print(f"{len(wanted)} catalogs in {args.out}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
