#!/usr/bin/env bash
# The local sandbox of the five APIs in the background, for Meltano and the connectors by hand.
#
#   eval "$(bash scripts/sandbox.sh start)"   start it (installing .venv if missing), wait until it
#                                             serves, print `export` lines: JOBSYNC_SANDBOX_URL (the
#                                             `sandbox` environment of meltano.yml) and the
#                                             TAP_JOBSYNC_*/TARGET_JOBSYNC_* credentials Meltano reads;
#                                             .sandbox/tap.json and .sandbox/target.json for the CLIs
#   bash scripts/sandbox.sh env               print the `export` lines again
#   bash scripts/sandbox.sh stop              stop it; its world is saved in .sandbox/state.pickle
#
# The world persists like the demo's (the same state file): bookmarks Meltano keeps for the
# `sandbox` environment stay valid across restarts. `bash scripts/demo.sh` stops this sandbox and
# starts its own on the same world. JOBSYNC_SANDBOX_DIR moves .sandbox/ elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${JOBSYNC_SANDBOX_DIR:-.sandbox}
PYTHON=${PYTHON:-python3}
die() { echo "sandbox.sh: error: $*" >&2; exit 1; }
running() { [ -s "$DIR/pid" ] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; }
exports() { cat "$DIR/env"; }  # `export NAME="value"` lines (jobsync-sandbox --write-env)

case "${1:-}" in
  start)
    if running; then
      exports
      exit 0
    fi
    if [ ! -x .venv/bin/jobsync-sandbox ]; then
      echo "sandbox.sh: installing the project and the sandbox into .venv" >&2
      [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv >&2
      .venv/bin/python -m pip install --quiet --disable-pip-version-check -e . >&2
      .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ./sandbox >&2
    fi
    mkdir -p "$DIR"
    rm -f "$DIR/ready.json"
    nohup .venv/bin/jobsync-sandbox serve --state-file "$DIR/state.pickle" --write-env "$DIR/env" \
      --write-configs "$DIR" --ready-file "$DIR/ready.json" >"$DIR/sandbox.log" 2>&1 </dev/null &
    echo $! >"$DIR/pid"
    for _ in $(seq 1 300); do
      [ -s "$DIR/ready.json" ] && break
      running || { cat "$DIR/sandbox.log" >&2; die "the sandbox exited (log: $DIR/sandbox.log)"; }
      sleep 0.1
    done
    [ -s "$DIR/ready.json" ] || die "the sandbox did not start within 30 s (log: $DIR/sandbox.log)"
    echo "sandbox.sh: serving every API at $(sed -n 's/^export JOBSYNC_SANDBOX_URL=//p' "$DIR/env" | tr -d '"')" >&2
    exports
    ;;
  env)
    [ -s "$DIR/env" ] || die "not started: eval \"\$(bash scripts/sandbox.sh start)\""
    exports
    ;;
  stop)
    if running; then
      pid=$(cat "$DIR/pid")
      kill -TERM "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "sandbox.sh: stopped; its world is saved in $DIR/state.pickle" >&2
    fi
    rm -f "$DIR/pid" "$DIR/ready.json"
    ;;
  *)
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
