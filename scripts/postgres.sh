#!/usr/bin/env bash
# A project-local PostgreSQL for the target-postgres loader (and its tests).
#
# Usage: bash scripts/postgres.sh start|stop|status|env
#   start   install Debian's postgresql if missing, create a cluster in $JOBSYNC_PG_DIR,
#           start it on 127.0.0.1 only, create the role and database, and print the
#           connection settings as `export` lines:  eval "$(bash scripts/postgres.sh start)"
#   stop    stop the server (the data stays; `start` again reuses it)
#   status  exit 0 when the server is running
#   env     print the `export` lines again (server must have been started once)
#
# Settings (environment):
#   JOBSYNC_PG_DIR       cluster, socket, log and credentials   (default: .meltano/postgres)
#   JOBSYNC_PG_PORT      TCP port                                (default: a free port, kept)
#   JOBSYNC_PG_DATABASE  database to create                      (default: jobsync)
#   JOBSYNC_PG_SYSTEM_DATABASE  database for Meltano's system database (default: meltano)
#   JOBSYNC_PG_USER      login role to create                    (default: jobsync)
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user
# (created by the Debian package) through runuser; otherwise as the calling user.
# The role's password is random, kept in $JOBSYNC_PG_DIR/connection.env (mode 600).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${JOBSYNC_PG_DIR:-$ROOT/.meltano/postgres}
DATABASE=${JOBSYNC_PG_DATABASE:-jobsync}
SYSTEM_DATABASE=${JOBSYNC_PG_SYSTEM_DATABASE:-meltano}
DBUSER=${JOBSYNC_PG_USER:-jobsync}
DATA=$DIR/data
SOCKETS=$DIR/run
LOG=$DIR/postgres.log
ENV_FILE=$DIR/connection.env

log() { echo "postgres.sh: $*" >&2; }
die() { echo "postgres.sh: error: $*" >&2; exit 1; }

find_bindir() {
  # Debian keeps the server binaries out of PATH, one directory per major version.
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/psql" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

install_postgres() {
  [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed; install it first: sudo apt-get install -y postgresql"
  log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  # The package list may be missing or stale on a fresh machine: update once and retry.
  apt-get install -y -q --no-install-recommends postgresql >&2 \
    || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends postgresql >&2; } \
    || die "apt-get could not install postgresql"
}

if [ "$(id -u)" = 0 ]; then
  OS_USER=postgres
  as_server() { runuser -u "$OS_USER" -- "$@"; }
else
  OS_USER=$(id -un)
  as_server() { "$@"; }
fi

bindir() {
  BIN=$(find_bindir) || { install_postgres; BIN=$(find_bindir) || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin after installing"; }
}

running() { [ -s "$DATA/PG_VERSION" ] && as_server "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

prepare_dir() {
  mkdir -p "$DIR"
  if [ "$(id -u)" = 0 ]; then
    id "$OS_USER" >/dev/null 2>&1 || die "user '$OS_USER' does not exist (it comes with Debian's postgresql package)"
    chown "$OS_USER" "$DIR"
  fi
  chmod 700 "$DIR"
  as_server test -w "$DIR" \
    || die "the server runs as '$OS_USER', who cannot write $DIR (is a parent directory closed to it?); set JOBSYNC_PG_DIR to a directory it can reach, e.g. /tmp/jobsync-postgres"
}

init_cluster() {
  local password
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  log "creating a cluster in $DATA"
  # Socket connections are trusted: the socket directory is private to the server's user.
  # TCP (127.0.0.1 only) needs the role's password.
  as_server "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
  echo "include_if_exists = 'jobsync.conf'" | as_server tee -a "$DATA/postgresql.conf" >/dev/null
  (umask 077 && printf '%s\n' "$password" >"$DIR/password")
}

write_env() {
  local port=$1 password
  password=$(cat "$DIR/password")
  (
    umask 077
    {
      for prefix in JOBSYNC_PG TARGET_POSTGRES; do
        echo "export ${prefix}_HOST=127.0.0.1"
        echo "export ${prefix}_PORT=$port"
        echo "export ${prefix}_USER=$DBUSER"
        echo "export ${prefix}_PASSWORD=$password"
        echo "export ${prefix}_DATABASE=$DATABASE"
      done
      # A Meltano system database that concurrent runs and schedulers can share (docs/scaling.md):
      # `export MELTANO_DATABASE_URI=$JOBSYNC_MELTANO_DATABASE_URI`.
      echo "export JOBSYNC_MELTANO_DATABASE_URI=postgresql+psycopg://$DBUSER:$password@127.0.0.1:$port/$SYSTEM_DATABASE"
      # ...and libpq's own variables, so a bare `psql` connects too.
      echo "export PGHOST=127.0.0.1 PGPORT=$port PGUSER=$DBUSER PGPASSWORD=$password PGDATABASE=$DATABASE"
    } >"$ENV_FILE"
  )
}

start() {
  bindir
  prepare_dir
  [ -s "$DATA/PG_VERSION" ] || init_cluster
  local port
  port=${JOBSYNC_PG_PORT:-$(cat "$DIR/port" 2>/dev/null || free_port)}
  if running; then
    port=$(cat "$DIR/port")
    log "already running on 127.0.0.1:$port"
  else
    as_server mkdir -p "$SOCKETS"
    as_server chmod 700 "$SOCKETS"
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\n" "$port" "$SOCKETS" \
      | as_server tee "$DATA/jobsync.conf" >/dev/null
    echo "$port" >"$DIR/port"
    as_server "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null \
      || { tail -n 20 "$LOG" >&2 || true; die "PostgreSQL did not start on 127.0.0.1:$port (log: $LOG)"; }
    log "started PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data: $DATA)"
  fi
  local password
  password=$(cat "$DIR/password")
  # Idempotent: creates the role and database once; the password always matches the file.
  as_server "$BIN/psql" -h "$SOCKETS" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt \
    -v role="$DBUSER" -v password="$password" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" PASSWORD :'password';
SQL
  as_server "$BIN/psql" -h "$SOCKETS" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt \
    -v role="$DBUSER" -v db="$DATABASE" -v sysdb="$SYSTEM_DATABASE" >/dev/null <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'sysdb', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'sysdb') \gexec
SQL
  # The warehouse schemas meltano.yml's target-postgres writes to, made up front: parallel first
  # runs of the loader would race creating them (docs/scaling.md).
  as_server "$BIN/psql" -h "$SOCKETS" -p "$port" -U postgres -d "$DATABASE" -v ON_ERROR_STOP=1 -qAt \
    -v role="$DBUSER" >/dev/null <<'SQL'
CREATE SCHEMA IF NOT EXISTS jobsync AUTHORIZATION :"role";
CREATE SCHEMA IF NOT EXISTS jobsync_sandbox AUTHORIZATION :"role";
SQL
  write_env "$port"
  cat "$ENV_FILE"
}

stop() {
  bindir
  if running; then
    as_server "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    log "stopped (data kept in $DATA)"
  else
    log "not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    BIN=$(find_bindir) || die "PostgreSQL is not installed"
    if running; then log "running on 127.0.0.1:$(cat "$DIR/port")"; else log "not running"; exit 3; fi
    ;;
  env)
    [ -s "$ENV_FILE" ] || die "no $ENV_FILE yet: run \`bash scripts/postgres.sh start\` first"
    cat "$ENV_FILE"
    ;;
  *)
    echo "usage: bash scripts/postgres.sh start|stop|status|env" >&2
    exit 2
    ;;
esac
