#!/usr/bin/env python3
"""Render the custom plugins' `capabilities` and `settings` in meltano.yml from `--about`.

tap-jobsync and target-jobsync declare their settings once, in code; Meltano needs
them again in meltano.yml (to read `TAP_JOBSYNC_*` variables, to list them in
`meltano config`, to redact secrets). This script runs each plugin's
`--about --format=json` and rewrites the block between its markers:

    # >>> generated from `tap-jobsync --about`: run scripts/gen_meltano_settings.py
    ...
    # <<< end of generated block (tap-jobsync)

Usage:
    .venv/bin/python scripts/gen_meltano_settings.py            # rewrite meltano.yml
    .venv/bin/python scripts/gen_meltano_settings.py --check    # exit 1 when out of date

Run it with the project's virtual environment (it imports nothing from the project,
but the plugins it asks must be installed there).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

#: Custom plugins whose settings come from code, and the module that runs each one.
PLUGINS: dict[str, str] = {
    "tap-jobsync": "tap_jobsync.tap",
    "target-jobsync": "target_jobsync.target",
}

#: Where the plugins publish their settings groups in `--about` (see jobsync_common/settings_groups.py).
GROUPS_KEY = "x-settings-group-validation"

BEGIN = "# >>> generated from `{plugin} --about`: run scripts/gen_meltano_settings.py"
END = "# <<< end of generated block ({plugin})"

# JSON Schema scalar type -> Meltano setting kind.
KINDS = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
}


class GeneratorError(Exception):
    """Something the user must fix; the message says what."""


def about(plugin: str, python: str) -> dict[str, t.Any]:
    """The plugin's `--about --format=json` document."""
    cmd = [python, "-m", PLUGINS[plugin], "--about", "--format=json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        msg = f"`{' '.join(cmd)}` failed (exit {proc.returncode}): " + " | ".join(tail)
        raise GeneratorError(msg)
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        msg = f"`{plugin} --about --format=json` did not print JSON: {exc}"
        raise GeneratorError(msg) from None


def setting_kind(schema: dict[str, t.Any]) -> str:
    """Meltano kind for one property schema (mixed or unknown types read as strings)."""
    if schema.get("enum"):
        return "options"
    types = schema.get("type")
    if types is None:
        # anyOf/oneOf (SDK's stream_maps, faker_config.seed...): the first typed branch decides.
        for branch in schema.get("anyOf") or schema.get("oneOf") or []:
            if isinstance(branch, dict) and branch.get("type") not in (None, "null"):
                return setting_kind(branch)
        return "string"
    types = [types] if isinstance(types, str) else list(types)
    concrete = [kind for kind in types if kind != "null"]
    if len(concrete) != 1:
        return "string"
    if concrete[0] == "string" and schema.get("format") == "date-time":
        return "date_iso8601"
    return KINDS.get(concrete[0], "string")


def label(name: str, schema: dict[str, t.Any]) -> str:
    if schema.get("title"):
        return str(schema["title"])
    words = name.replace("_", " ").split()
    return " ".join(w.upper() if w in {"id", "url", "api"} else w.capitalize() for w in words)


def meltano_settings(about_doc: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """One Meltano setting definition per property, in the plugin's own order."""
    settings = []
    for name, schema in (about_doc.get("settings", {}).get("properties") or {}).items():
        kind = setting_kind(schema)
        entry: dict[str, t.Any] = {"name": name, "kind": kind, "label": label(name, schema)}
        description = str(schema.get("description") or "").strip()
        if description:
            entry["description"] = description
        # The plugin's default, as Meltano's `value:` (`meltano config list` shows it as the default).
        if schema.get("default") is not None:
            entry["value"] = schema["default"]
        if kind == "options":
            entry["options"] = [{"label": str(v), "value": v} for v in schema["enum"] if v is not None]
        if schema.get("secret") or schema.get("writeOnly"):
            # `sensitive: true` is what Meltano 3+/4 uses for `kind: password` (now deprecated):
            # redacted in `meltano config list`, stored in .env by `meltano config set`.
            entry["sensitive"] = True
        settings.append(entry)
    return settings


def settings_groups(schema: dict[str, t.Any]) -> list[list[str]]:
    """Meltano's `settings_group_validation`: any one group complete makes a valid configuration.

    The plugins publish one group per service under GROUPS_KEY (jobsync_common/settings_groups.py);
    a schema without it falls back to its `required` list as the only group.
    """
    if schema.get(GROUPS_KEY):
        return [list(group) for group in schema[GROUPS_KEY]]
    required = schema.get("required") or []
    return [list(required)] if required else []


def render_block(plugin: str, about_doc: dict[str, t.Any], indent: str) -> list[str]:
    body: dict[str, t.Any] = {"capabilities": list(about_doc.get("capabilities") or [])}
    groups = settings_groups(about_doc.get("settings") or {})
    if groups:
        body["settings_group_validation"] = groups
    body["settings"] = meltano_settings(about_doc)
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=10**6, default_flow_style=False)
    lines = [BEGIN.format(plugin=plugin), *text.rstrip("\n").splitlines(), END.format(plugin=plugin)]
    return [f"{indent}{line}\n" for line in lines]


def regenerate(text: str, docs: dict[str, dict[str, t.Any]]) -> str:
    """``text`` with every plugin's generated block replaced."""
    lines = text.splitlines(keepends=True)
    for plugin, about_doc in docs.items():
        begin, end = BEGIN.format(plugin=plugin), END.format(plugin=plugin)
        starts = [i for i, line in enumerate(lines) if line.strip() == begin]
        ends = [i for i, line in enumerate(lines) if line.strip() == end]
        if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
            msg = (
                f"meltano.yml needs exactly one generated block for {plugin}: put the lines\n"
                f"    {begin}\n    {end}\n"
                f"inside the `{plugin}` plugin entry (found {len(starts)} start and {len(ends)} end markers)."
            )
            raise GeneratorError(msg)
        indent = re.match(r"\s*", lines[starts[0]]).group(0)
        lines[starts[0] : ends[0] + 1] = render_block(plugin, about_doc, indent)
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 (and show the diff) when meltano.yml is out of date"
    )
    parser.add_argument("--meltano-yml", type=Path, default=ROOT / "meltano.yml")
    default_python = ROOT / ".venv" / "bin" / "python"
    parser.add_argument(
        "--python",
        default=str(default_python) if default_python.exists() else sys.executable,
        help="interpreter that has tap-jobsync and target-jobsync installed (default: .venv)",
    )
    parser.add_argument(
        "--about-json",
        action="append",
        default=[],
        metavar="PLUGIN=FILE",
        help="read a plugin's --about JSON from FILE instead of running it (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        given = dict(item.split("=", 1) for item in args.about_json)
        unknown = sorted(set(given) - set(PLUGINS))
        if unknown:
            raise GeneratorError(f"--about-json names unknown plugin(s) {unknown}; known: {sorted(PLUGINS)}")
        docs = {
            plugin: json.loads(Path(given[plugin]).read_text()) if plugin in given else about(plugin, args.python)
            for plugin in PLUGINS
        }
        if not args.meltano_yml.exists():
            raise GeneratorError(f"{args.meltano_yml} does not exist")
        current = args.meltano_yml.read_text()
        updated = regenerate(current, docs)
        yaml.safe_load(updated)  # never write a file Meltano cannot read
    except (GeneratorError, OSError, ValueError, yaml.YAMLError) as exc:
        print(f"gen_meltano_settings: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if updated == current:
            print(f"{args.meltano_yml.name} is up to date with the plugins' --about.")
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True), updated.splitlines(keepends=True), "meltano.yml", "regenerated"
        )
        sys.stderr.writelines(list(diff)[:200])
        print(
            f"\n{args.meltano_yml.name} is out of date with the plugins' --about: "
            "run `.venv/bin/python scripts/gen_meltano_settings.py` and commit the result.",
            file=sys.stderr,
        )
        return 1
    if updated != current:
        args.meltano_yml.write_text(updated)
        print(f"Updated {args.meltano_yml}.")
    else:
        print(f"{args.meltano_yml.name} already up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
