#!/usr/bin/env bash
# Install Meltano into .venv-meltano and the plugins of meltano.yml into .meltano/.
#
# Meltano gets its own virtual environment: its dependencies must not meet singer-sdk's
# in .venv. Plugins get one venv each (Meltano's default uv backend), so the loaders'
# pins (duckdb==1.0.0, singer-python for target-jsonl) never touch the project either.
#
# Usage: bash scripts/install-meltano.sh [PLUGIN...]   (no PLUGIN: every plugin)
#        MELTANO_INSTALL_PLUGINS=0 bash scripts/install-meltano.sh   (Meltano only)
set -euo pipefail
cd "$(dirname "$0")/.."

MELTANO_VERSION=${MELTANO_VERSION:-4.4.1}   # 4.x needs Python >= 3.10
PYTHON=${PYTHON:-python3}

seconds() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.1f", b - a }'; }

start=$(seconds)
if [ ! -x .venv-meltano/bin/python ]; then
  "$PYTHON" -m venv .venv-meltano
fi
# The `postgres` extra (psycopg) lets the system database be PostgreSQL (MELTANO_DATABASE_URI), which
# concurrent runs and schedulers on several machines can share (docs/scaling.md).
if ! .venv-meltano/bin/meltano --version 2>/dev/null | grep -qx "meltano, version $MELTANO_VERSION" \
  || ! .venv-meltano/bin/python -c "import psycopg" 2>/dev/null; then
  .venv-meltano/bin/python -m pip install --quiet --disable-pip-version-check "meltano[postgres]==$MELTANO_VERSION"
fi
echo "install-meltano: $(.venv-meltano/bin/meltano --version) in .venv-meltano ($(elapsed "$start")s)" >&2

# Loaders write under output/ (gitignored); target-duckdb cannot create the directory itself.
mkdir -p output
if [ "${MELTANO_INSTALL_PLUGINS:-1}" = "0" ]; then
  exit 0
fi
start=$(seconds)
# Meltano skips plugins whose pip_url has not changed since the last install.
.venv-meltano/bin/meltano install "$@"
echo "install-meltano: meltano install ${*:-(all plugins)} took $(elapsed "$start")s" >&2
