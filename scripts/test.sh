#!/usr/bin/env bash
# Install everything the tests need into .venv (Python 3.11 and pip are all a fresh
# machine has) and run the default test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e ".[test]"

exec .venv/bin/python -m pytest "$@"
