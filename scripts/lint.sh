#!/usr/bin/env bash
# The code checks CI runs (scripts/test.sh calls this first) and pre-commit runs on each commit:
# ruff's lint rules and formatting over the whole repository, and mypy (strict) on the shared
# code, the tap, the target and the sandbox. Any finding fails; the rules are in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${JOBSYNC_VENV:-.venv}/bin
"$BIN/ruff" check .
"$BIN/ruff" format --check .
"$BIN/mypy" jobsync_common tap_jobsync target_jobsync sandbox/jobsync_sandbox
