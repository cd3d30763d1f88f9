#!/usr/bin/env python3
"""Write MeltanoHub plugin definitions for tap-jobsync and target-jobsync from their `--about`.

MeltanoHub keeps one YAML file per plugin variant (`_data/meltano/<type>/<name>/<variant>.yml`
in the hub repository). The same files live here under `hub/`, generated from the plugins'
own `--about --format=json` with the settings rendering `scripts/gen_meltano_settings.py` uses
for `meltano.yml`, so the two never disagree:

    hub/extractors/tap-jobsync/jobsync.yml
    hub/loaders/target-jobsync/jobsync.yml

Usage:
    .venv/bin/python scripts/gen_hub_definitions.py            # rewrite the files
    .venv/bin/python scripts/gen_hub_definitions.py --check    # exit 1 when one is out of date
"""

from __future__ import annotations

import argparse
import sys
import typing as t
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_meltano_settings as meltano_settings

ROOT = Path(__file__).resolve().parent.parent
VARIANT = "jobsync"
#: Where the package is published is not decided in this repository: one place to change it.
REPOSITORY = "https://github.com/jobsync/jobsync"

PLUGINS: dict[str, dict[str, t.Any]] = {
    "tap-jobsync": {
        "type": "extractors",
        "namespace": "tap_jobsync",
        "label": "JobSync (TrackJobChanges, PCRecruiter, ZipRecruiter, Jobcase)",
        "description": "HR and job-board data: TrackJobChanges job changes, PCRecruiter records through change "
        "tracking, ZipRecruiter Job Alerts subscribers and batches, Jobcase companies, jobs, campaigns and costs",
        "keywords": ["api", "meltano_sdk", "hr", "recruiting", "job-board"],
    },
    "target-jobsync": {
        "type": "loaders",
        "namespace": "target_jobsync",
        "label": "JobSync write-back (Workable, ZipRecruiter, Jobcase)",
        "description": "Writes records back to Workable candidates, ZipRecruiter Job Alerts subscribers and "
        "searches, and Jobcase companies, jobs and campaigns: idempotent, rate limited, exactly-once creates",
        "keywords": ["api", "meltano_sdk", "hr", "recruiting", "reverse-etl"],
    },
}


def definition(plugin: str, about_doc: dict[str, t.Any]) -> dict[str, t.Any]:
    meta = PLUGINS[plugin]
    body: dict[str, t.Any] = {
        "name": plugin,
        "variant": VARIANT,
        "namespace": meta["namespace"],
        "label": meta["label"],
        "description": meta["description"],
        "keywords": meta["keywords"],
        "maintenance_status": "active",
        "repo": REPOSITORY,
        "pip_url": f"git+{REPOSITORY}.git",
        "executable": plugin,
        "capabilities": sorted(about_doc.get("capabilities") or []),
    }
    groups = meltano_settings.settings_groups(about_doc.get("settings") or {})
    if groups:
        body["settings_group_validation"] = groups
    body["settings"] = sorted(meltano_settings.meltano_settings(about_doc), key=lambda s: s["name"])
    return body


def render(plugin: str, about_doc: dict[str, t.Any]) -> str:
    header = f"# Generated from `{plugin} --about` by scripts/gen_hub_definitions.py: do not edit by hand.\n"
    return header + yaml.safe_dump(definition(plugin, about_doc), sort_keys=False, allow_unicode=True, width=10**6)


def path_of(plugin: str) -> Path:
    return ROOT / "hub" / PLUGINS[plugin]["type"] / plugin / f"{VARIANT}.yml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a definition is out of date")
    default_python = ROOT / ".venv" / "bin" / "python"
    parser.add_argument("--python", default=str(default_python) if default_python.exists() else sys.executable)
    args = parser.parse_args(argv)
    stale = []
    for plugin in PLUGINS:
        try:
            text = render(plugin, meltano_settings.about(plugin, args.python))
        except meltano_settings.GeneratorError as exc:
            print(f"gen_hub_definitions: error: {exc}", file=sys.stderr)
            return 2
        path = path_of(plugin)
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(str(path.relative_to(ROOT)))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"Updated {path.relative_to(ROOT)}.")
    if stale:
        print(
            f"Out of date with the plugins' --about: {', '.join(stale)}; run "
            "`.venv/bin/python scripts/gen_hub_definitions.py` and commit the result.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
