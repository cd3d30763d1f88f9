#!/usr/bin/env bash
# README command 2: install everything the tests need and run the default test suite.
# A fresh machine needs only Python 3.11, pip and (for PostgreSQL) Debian's apt-get:
#   .venv           the project and its test dependencies, and the sandbox (its own distribution, ./sandbox)
#   .venv-meltano   Meltano, and the plugins of meltano.yml in .meltano/  (scripts/install-meltano.sh)
#   .venv-dagster   Dagster and elt-dagster-meltano, the orchestrator      (scripts/install-dagster.sh)
#   PostgreSQL      Debian's package, when missing and running as root     (for target-postgres)
# What cannot be installed is said here, with the reason; the tests that need it then skip
# with the same reason (under CI=true they fail instead: CI must run them).
# Then the code checks (scripts/lint.sh: ruff check, ruff format --check, mypy strict), then pytest.
# Extra arguments go to pytest. JOBSYNC_SKIP_MELTANO=1 skips the Meltano install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
CI=${CI:-}
seconds() { date +%s; }
step() { echo "test.sh: $*" >&2; }

start=$(seconds)
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
# Separately and after: upgrading a .venv made when the sandbox was part of the root distribution
# removes the old `jobsync-sandbox` script with the old root install.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ./sandbox
step "project and sandbox installed in .venv ($(( $(seconds) - start ))s)"

# -- Meltano and its plugins -------------------------------------------------------------------------
if [ "${JOBSYNC_SKIP_MELTANO:-0}" = 1 ]; then
  step "JOBSYNC_SKIP_MELTANO=1: not installing Meltano; the Meltano tests will skip"
else
  start=$(seconds)
  if bash scripts/install-meltano.sh; then
    step "Meltano and plugins ready ($(( $(seconds) - start ))s)"
  else
    step "could not install Meltano or its plugins (see above): the Meltano tests will skip"
    [ -n "$CI" ] && { step "CI=$CI: failing instead"; exit 1; }
  fi
fi

# -- the orchestrator: Dagster and its Meltano integration (tests/test_meltano_parallel.py) -----------------
if [ "${JOBSYNC_SKIP_MELTANO:-0}" != 1 ]; then
  start=$(seconds)
  if bash scripts/install-dagster.sh; then
    step "Dagster ready ($(( $(seconds) - start ))s)"
  else
    step "could not install Dagster (see above): the orchestrator test will skip"
    [ -n "$CI" ] && { step "CI=$CI: failing instead"; exit 1; }
  fi
fi

# -- PostgreSQL (target-postgres tests; scripts/postgres.sh starts a private server) --------------------
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  :
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  start=$(seconds)
  step "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  # The package list may be missing or stale on a fresh machine: update once and retry.
  if apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends postgresql >/dev/null; }; then
    step "PostgreSQL installed ($(( $(seconds) - start ))s)"
  else
    step "apt-get could not install postgresql: the PostgreSQL tests will skip"
    [ -z "$CI" ] || { step "CI=$CI: failing instead"; exit 1; }
  fi
else
  step "PostgreSQL is not installed and this is not root (or has no apt-get): the PostgreSQL tests will skip." \
    "Install it with: sudo apt-get install postgresql"
fi

# -- code checks: ruff (lint and format) and mypy strict; any finding fails (scripts/lint.sh) ---------------
start=$(seconds)
bash scripts/lint.sh
step "code checks passed ($(( $(seconds) - start ))s)"

exec .venv/bin/python -m pytest "$@"
