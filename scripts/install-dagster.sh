#!/usr/bin/env bash
# Install the orchestrator, Dagster with its Meltano integration, into .venv-dagster.
#
# Dagster runs the Meltano jobs of meltano.yml as ops (orchestrate/dagster/definitions.py): one
# Dagster job per Meltano job, a schedule per Meltano schedule, and `jobsync_all`, which runs the
# per-service jobs in parallel. Its own environment: Dagster's dependencies (grpcio, SQLAlchemy,
# pydantic...) never meet Meltano's in .venv-meltano or singer-sdk's in .venv; the ops call
# .venv-meltano/bin/meltano (scripts/install-meltano.sh installs it).
#
# elt-dagster-meltano is the maintained fork of dagster-meltano (same `dagster_meltano` module):
# dagster-meltano 1.5.5 still needs dagster-shell, whose releases on PyPI predate Dagster 1.x APIs.
#
# Usage: bash scripts/install-dagster.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DAGSTER_VERSION=${DAGSTER_VERSION:-1.13.28}
DAGSTER_MELTANO_VERSION=${DAGSTER_MELTANO_VERSION:-1.0.1}
PYTHON=${PYTHON:-python3}

seconds() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.1f", b - a }'; }

start=$(seconds)
if [ ! -x .venv-dagster/bin/python ]; then
  "$PYTHON" -m venv .venv-dagster
fi
wanted="dagster==$DAGSTER_VERSION dagster-webserver==$DAGSTER_VERSION elt-dagster-meltano==$DAGSTER_MELTANO_VERSION"
installed=$(.venv-dagster/bin/python -m pip list --format=freeze --disable-pip-version-check 2>/dev/null || true)
missing=0
for requirement in $wanted; do
  grep -qix "$requirement" <<<"$installed" || missing=1
done
if [ "$missing" = 1 ]; then
  # shellcheck disable=SC2086 # one word per requirement
  .venv-dagster/bin/python -m pip install --quiet --disable-pip-version-check $wanted
fi
echo "install-dagster: $(.venv-dagster/bin/dagster --version) with elt-dagster-meltano $DAGSTER_MELTANO_VERSION in .venv-dagster ($(elapsed "$start")s)" >&2
