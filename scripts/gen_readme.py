#!/usr/bin/env python3
"""Fill README.md's settings tables from `tap-jobsync`/`target-jobsync --about --format=markdown`.

Usage: gen_readme.py [--check]   (--check: exit 1 when README.md is out of date)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PLUGINS = {"tap-jobsync": "tap_jobsync.tap", "target-jobsync": "target_jobsync.target"}


def settings_table(module: str) -> str:
    about = subprocess.run(
        [sys.executable, "-m", module, "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    section = about.split("## Settings", 1)[1]
    lines = [line for line in section.strip().splitlines() if line.startswith("|")]
    return "\n".join(lines)


def render(text: str) -> str:
    for plugin, module in PLUGINS.items():
        begin = f"<!-- BEGIN GENERATED: {plugin} settings -->"
        end = f"<!-- END GENERATED: {plugin} settings -->"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            sys.exit(f"README.md has no '{begin}' ... '{end}' block")
        block = f"{begin}\n{settings_table(module)}\n{end}"
        text = pattern.sub(lambda _, block=block: block, text)
    return text


def main() -> None:
    current = README.read_text()
    wanted = render(current)
    if "--check" in sys.argv[1:]:
        if current != wanted:
            sys.exit("README.md settings tables are out of date: run scripts/gen_readme.py")
        print("README.md settings tables are up to date.")
        return
    README.write_text(wanted)


if __name__ == "__main__":
    main()
