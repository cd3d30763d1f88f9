"""Generated documentation stays in step with the code it documents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def check(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--check"], capture_output=True, text=True, check=False
    )


def test_readme_settings_tables_match_about_output():
    result = check("gen_readme.py")
    assert result.returncode == 0, result.stderr + result.stdout


def test_meltano_yml_plugin_settings_match_about_output():
    result = check("gen_meltano_settings.py")
    assert result.returncode == 0, result.stderr + result.stdout


def test_meltanohub_plugin_definitions_match_about_output():
    result = check("gen_hub_definitions.py")
    assert result.returncode == 0, result.stderr + result.stdout
