#!/usr/bin/env bash
# README command 1: the whole JobSync pipeline under Meltano, against the local sandbox.
#
#   bash scripts/demo.sh           install what is missing, start the sandbox (its world kept in
#                                  .sandbox/state.pickle), make a few changes in it, run
#                                    meltano run tap-jobsync target-duckdb                 (warehouse)
#                                    meltano run tap-jobsync--pcr-to-jobcase target-jobsync   (write-back)
#                                    meltano run tap-jobsync--changes-to-workable target-jobsync
#                                  print what landed, stop the sandbox.
#   bash scripts/demo.sh --fresh   the same from a new world: wipes .sandbox/, the demo's warehouse
#                                  and Meltano's `sandbox:*` state first.
#
# Run it twice: the second run reads only what changed (Meltano keeps the bookmarks) and the
# destinations get no duplicates. Logs of every phase go to output/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

FRESH=0
for arg in "$@"; do
  case "$arg" in
    --fresh) FRESH=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option '$arg' (use --fresh or --help)" >&2; exit 2 ;;
  esac
done

PYTHON=${PYTHON:-python3}
MELTANO=.venv-meltano/bin/meltano
STATE_DIR=.sandbox
LOGS=output/demo
WAREHOUSE=output/sandbox.duckdb        # the sandbox environment's target-duckdb path (meltano.yml)
DEAD_LETTERS=output/sandbox-dead-letters.jsonl
START=$(date +%s)
PHASE_PID=
SANDBOX_PID=

say() { echo "[demo $(( $(date +%s) - START ))s] $*"; }
die() { echo "demo: error: $*" >&2; exit 1; }

# run_phase LABEL LOG CMD...: run CMD with its output in LOG, a progress line every 10 s.
run_phase() {
  local label=$1 log=$2 started pid status=0
  shift 2
  started=$(date +%s)
  "$@" >"$log" 2>&1 &
  pid=$!
  PHASE_PID=$pid
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if kill -0 "$pid" 2>/dev/null && (( ($(date +%s) - started) % 10 == 0 )); then
      say "  ... $label: $(( $(date +%s) - started ))s, $(wc -l <"$log") log lines"
    fi
  done
  wait "$pid" || status=$?
  PHASE_PID=
  if [ "$status" != 0 ]; then
    echo "----- last lines of $log -----" >&2
    tail -n 25 "$log" >&2
    die "$label failed (exit $status); full log: $log"
  fi
  say "  $label: done in $(( $(date +%s) - started ))s (log: $log)"
}

cleanup() {
  # A background phase ignores Ctrl-C (non-interactive shells start jobs that way): stop it first.
  if [ -n "$PHASE_PID" ] && kill -0 "$PHASE_PID" 2>/dev/null; then
    kill -TERM "$PHASE_PID" 2>/dev/null || true
    wait "$PHASE_PID" 2>/dev/null || true
  fi
  if [ -n "$SANDBOX_PID" ] && kill -0 "$SANDBOX_PID" 2>/dev/null; then
    kill -TERM "$SANDBOX_PID"
    wait "$SANDBOX_PID" 2>/dev/null || true
    say "sandbox stopped; its world is saved in $STATE_DIR/state.pickle (bash scripts/demo.sh --fresh starts over)"
  fi
}
trap cleanup EXIT

# -- 1. install ---------------------------------------------------------------------------------------
mkdir -p "$LOGS"
say "1/6 project environment (.venv)"
# The connectors (.) and the sandbox (./sandbox, its own distribution); reinstalled when either is missing
# or stale (a .venv made before the sandbox moved to ./sandbox cannot import it).
if [ ! -x .venv/bin/jobsync-sandbox ] || ! .venv/bin/python -c 'import jobsync_sandbox.cli, tap_jobsync.tap' 2>/dev/null; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  run_phase "pip install -e ." "$LOGS/install-project.log" \
    .venv/bin/python -m pip install --disable-pip-version-check -e .
  # After the root: upgrading an old .venv removes the `jobsync-sandbox` script the root used to own.
  run_phase "pip install -e ./sandbox" "$LOGS/install-sandbox.log" \
    .venv/bin/python -m pip install --disable-pip-version-check -e ./sandbox
fi
say "2/6 Meltano and its plugins (scripts/install-meltano.sh)"
run_phase "install-meltano" "$LOGS/install-meltano.log" bash scripts/install-meltano.sh

sandbox_state_ids() { "$MELTANO" state list --pattern 'sandbox:*' 2>/dev/null | grep '^sandbox:' || true; }
clear_sandbox_state() {
  local id
  for id in $(sandbox_state_ids); do
    "$MELTANO" state clear --force "$id" >/dev/null 2>&1
  done
}
if [ "$FRESH" = 1 ]; then
  say "--fresh: removing $STATE_DIR/, $WAREHOUSE and Meltano's sandbox:* state"
  rm -rf "$STATE_DIR" "$WAREHOUSE" "$WAREHOUSE.wal" output/sandbox-*.json "$DEAD_LETTERS"
  clear_sandbox_state
elif [ ! -f "$STATE_DIR/state.pickle" ] && [ -n "$(sandbox_state_ids)" ]; then
  # Bookmarks into a world that is gone would skip its changes: start both afresh.
  say "no saved sandbox world but Meltano has sandbox:* bookmarks: clearing them"
  clear_sandbox_state
fi

# -- 2. the sandbox -------------------------------------------------------------------------------------
# One sandbox per state file: one started by scripts/sandbox.sh is stopped (its world saved) first.
if [ -s "$STATE_DIR/pid" ] && kill -0 "$(cat "$STATE_DIR/pid")" 2>/dev/null; then
  say "stopping the sandbox scripts/sandbox.sh started (its world is this demo's: $STATE_DIR/state.pickle)"
  bash scripts/sandbox.sh stop
fi
mkdir -p "$STATE_DIR"
RUN=$(( $(cat "$STATE_DIR/runs" 2>/dev/null || echo 0) + 1 ))
say "3/6 starting the sandbox (run $RUN of this world; state file $STATE_DIR/state.pickle)"
rm -f "$STATE_DIR/ready.json"
.venv/bin/jobsync-sandbox serve --state-file "$STATE_DIR/state.pickle" --write-env "$STATE_DIR/env" \
  --ready-file "$STATE_DIR/ready.json" >"$STATE_DIR/sandbox.log" 2>&1 &
SANDBOX_PID=$!
for _ in $(seq 1 300); do
  [ -s "$STATE_DIR/ready.json" ] && break
  kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$STATE_DIR/sandbox.log" >&2; die "the sandbox exited"; }
  sleep 0.1
done
[ -s "$STATE_DIR/ready.json" ] || die "the sandbox did not start within 30 s (log: $STATE_DIR/sandbox.log)"
# TAP_JOBSYNC_*/TARGET_JOBSYNC_* credentials and JOBSYNC_SANDBOX_URL for the `sandbox` environment.
set -a
# shellcheck disable=SC1091
. "$STATE_DIR/env"
set +a
echo "$RUN" >"$STATE_DIR/runs"
say "  serving every API at $JOBSYNC_SANDBOX_URL"

say "4/6 changes in the sandbox for run $RUN (PCRecruiter positions, a TrackJobChanges job change)"
.venv/bin/python scripts/demo_steps.py changes --run "$RUN"

# -- 3. Meltano pipelines ------------------------------------------------------------------------------------
SINCE=$(date '+%Y-%m-%d %H:%M:%S')   # target-duckdb stamps _sdc_batched_at in local time
say "5/6 meltano run tap-jobsync target-duckdb (every stream into $WAREHOUSE)"
run_phase "tap-jobsync -> target-duckdb" "$LOGS/run$RUN-duckdb.log" \
  "$MELTANO" --environment=sandbox run tap-jobsync target-duckdb

say "6/6 write-back pipelines into target-jobsync"
# A record a destination refuses is kept (with the reason) instead of failing the run.
export TARGET_JOBSYNC_DEAD_LETTER_PATH=$PWD/$DEAD_LETTERS
.venv/bin/python scripts/demo_steps.py clear-requests
SUMMARIES=()
for pipeline in pcr-to-jobcase changes-to-workable; do
  summary=output/sandbox-summary-$pipeline.json
  rm -f "$summary"
  SUMMARIES+=(--summary "$summary")
  TARGET_JOBSYNC_SUMMARY_PATH=$PWD/$summary run_phase "tap-jobsync--$pipeline -> target-jobsync" \
    "$LOGS/run$RUN-$pipeline.log" "$MELTANO" --environment=sandbox run "tap-jobsync--$pipeline" target-jobsync
done

# -- 4. what landed ------------------------------------------------------------------------------------------
.venv/bin/python scripts/demo_steps.py report --duckdb "$WAREHOUSE" \
  --duckdb-python .meltano/loaders/target-duckdb/venv/bin/python --since "$SINCE" \
  "${SUMMARIES[@]}" --dead-letters "$DEAD_LETTERS"
echo
echo "Meltano state (\`$MELTANO state get <id>\` shows it in full):"
for id in $(sandbox_state_ids); do
  "$MELTANO" state get "$id" 2>/dev/null | .venv/bin/python scripts/demo_steps.py bookmarks "$id"
done
echo
say "run $RUN done. Run it again to see an incremental run; query the warehouse with"
echo "  .meltano/loaders/target-duckdb/venv/bin/python -c \"import duckdb; print(duckdb.connect('$WAREHOUSE', read_only=True).sql('SELECT * FROM jobsync.jobcase_jobs LIMIT 5'))\""
