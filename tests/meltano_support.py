"""Running the project's Meltano from tests: environment, extractor locks, warehouse queries.

Meltano keeps one run directory per extractor (`.meltano/run/<extractor>/`: catalog, state
file): two runs of the *same* extractor at once mix them. Test modules run on two workers at
a time and several use the project's own `.meltano/` (test_meltano_e2e, test_meltano_parallel,
test_docs_commands), so every `meltano` command a test runs first takes a file lock per
extractor it involves (named directly, or through a job of meltano.yml): runs of different
extractors go in parallel, runs of the same one wait for each other. `meltano install`
(which reinstalls the editable tap-jobsync and target-jobsync) takes the lock INSTALL.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import typing as t
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
DAGSTER = ROOT / ".venv-dagster" / "bin" / "dagster"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
LOCKS = ROOT / ".meltano" / "test-locks"
#: Lock name for `meltano install` (scripts/install-meltano.sh) into the project's .meltano/.
INSTALL = "meltano-install"
#: Variables of the caller's shell that must not reach the project under test (credentials, MELTANO_*, PG*).
FOREIGN_PREFIXES = ("MELTANO_", "TAP_", "TARGET_", "JOBSYNC_", "PG", "DAGSTER_")


def require(path: Path, install: str) -> None:
    """Skip when an install is missing -- or, under CI, fail: CI must run every Meltano test."""
    if path.exists():
        return
    reason = f"{path.relative_to(ROOT)} is missing: run `{install}` (scripts/test.sh does)"
    if IN_CI:
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


def needs_meltano() -> None:
    require(MELTANO, "bash scripts/install-meltano.sh")


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_PREFIXES)}


# -- which extractors a command uses --------------------------------------------------------------------------


@cache
def project() -> dict[str, t.Any]:
    return yaml.safe_load((ROOT / "meltano.yml").read_text())


def extractor_names() -> set[str]:
    return {p["name"] for p in project()["plugins"]["extractors"]}


def job_tasks() -> dict[str, list[str]]:
    return {job["name"]: [str(task) for task in job["tasks"]] for job in project().get("jobs") or []}


def extractors_in(words: t.Iterable[str]) -> set[str]:
    """The extractors a command line (or a shell script's words) runs: named, or through a job."""
    known, jobs = extractor_names(), job_tasks()
    found = set()
    for word in words:
        if word in known:
            found.add(word)
        for task in jobs.get(word, []):
            found |= {part for part in task.split() if part in known}
    return found


def locks_for(words: t.Sequence[str]) -> set[str]:
    """What a command line (or a shell script's words) must lock: its extractors, and installs."""
    installs = "install" in words or "install-meltano.sh" in " ".join(words)
    return extractors_in(words) | ({INSTALL} if installs else set())


def locks_for_text(text: str) -> set[str]:
    return locks_for(re.findall(r"[A-Za-z0-9_./-]+", text))


@contextlib.contextmanager
def project_locks(names: t.Iterable[str]) -> t.Iterator[None]:
    """Hold one file lock per name (in name order: no deadlock between two holders)."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        for name in sorted(set(names)):
            handle = stack.enter_context((LOCKS / f"{name}.lock").open("a"))
            fcntl.flock(handle, fcntl.LOCK_EX)
            stack.callback(fcntl.flock, handle, fcntl.LOCK_UN)
        yield


# -- running Meltano ----------------------------------------------------------------------------------------------


class Meltano:
    """`meltano` in the project directory, with the sandbox's settings and a private system database."""

    def __init__(self, workdir: Path, sandbox_env: dict[str, str], database_uri: str | None = None) -> None:
        self.workdir = workdir
        self.env = (
            clean_environ()
            | sandbox_env
            | {
                "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
                "MELTANO_DATABASE_URI": database_uri or f"sqlite:///{workdir / 'meltano.db'}",
                "TARGET_DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
                "TARGET_JOBSYNC_SUMMARY_PATH": str(workdir / "summary.json"),
                "TARGET_JOBSYNC_DEAD_LETTER_PATH": str(workdir / "dead-letters.jsonl"),
                # The sandbox's rate limits are lifted by the fixtures; pacing is tested in the target's own tests.
                "TAP_JOBSYNC_JOBCASE_REQUESTS_PER_MINUTE": "0",
                "TAP_JOBSYNC__JOBCASE_JOBCASE_REQUESTS_PER_MINUTE": "0",
                "TARGET_JOBSYNC_JOBCASE_REQUESTS_PER_MINUTE": "0",
                "TARGET_JOBSYNC_WORKABLE_REQUESTS_PER_MINUTE": "0",
            }
        )

    def __call__(
        self, *args: str, env: t.Mapping[str, str] | None = None, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        with project_locks(locks_for(args)):
            proc = subprocess.run(
                [str(MELTANO), *args],
                cwd=ROOT,
                env=self.env | dict(env or {}),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        if check:
            assert proc.returncode == 0, f"meltano {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-5000:]}"
        return proc

    def run(self, *blocks: str, **kwargs: t.Any) -> subprocess.CompletedProcess[str]:
        return self("--environment=sandbox", "run", *blocks, **kwargs)

    def state(self, state_id: str) -> dict[str, t.Any]:
        return json.loads(self("state", "get", state_id).stdout)["singer_state"]

    def summary(self) -> dict[str, t.Any]:
        return json.loads((self.workdir / "summary.json").read_text())

    def dead_letters(self) -> list[dict]:
        path = self.workdir / "dead-letters.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def loader_query(loader: str, code: str, *args: str, env: t.Mapping[str, str] | None = None) -> t.Any:
    """Run ``code`` with a loader's own Python (it has the database driver); return its JSON output."""
    python = ROOT / ".meltano" / "loaders" / loader / "venv" / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-c", code, *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
        timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


POSTGRES_EXECUTE = """
import json, sys, psycopg
results = []
with psycopg.connect("", autocommit=True) as con:  # PG* variables
    for statement in sys.argv[1:]:
        cursor = con.execute(statement)
        results.append(cursor.fetchall() if cursor.description else [])
print(json.dumps(results, default=str))
"""


def postgres_sql(settings: t.Mapping[str, str], *statements: str) -> list[list[list[t.Any]]]:
    """Run SQL statements on the test's PostgreSQL (``settings``: the `postgres` fixture); SELECTs' rows."""
    libpq = {k: v for k, v in settings.items() if k.startswith("PG")}
    return loader_query("target-postgres", POSTGRES_EXECUTE, *statements, env=libpq)


def system_database_uri(settings: t.Mapping[str, str], schema: str) -> str:
    """A Meltano system database in its own schema of the test's PostgreSQL (created empty here)."""
    postgres_sql(settings, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', f'CREATE SCHEMA "{schema}"')
    user, password = settings["PGUSER"], settings["PGPASSWORD"]
    host, port, database = settings["PGHOST"], settings["PGPORT"], settings["PGDATABASE"]
    return f"postgresql+psycopg://{user}:{password}@{host}:{port}/{database}?options=-csearch_path%3D{schema}"


def store_counts(control) -> dict[str, int]:
    """Rows the sandbox holds, per warehouse table (the tables whose source is listed in full)."""
    pcr = control.store("pcrecruiter")["entities"]
    tjc = control.store("trackjobchanges")
    jobcase = control.store("jobcase")["counts"]
    zr = control.store("ziprecruiter")
    return {
        "pcrecruiter_candidates": pcr["candidates"]["count"],
        "pcrecruiter_companies": pcr["companies"]["count"],
        "pcrecruiter_positions": pcr["positions"]["count"],
        "trackjobchanges_connections": tjc["counts"]["connections"],
        "trackjobchanges_employments": tjc["counts"]["employments"],
        "trackjobchanges_account": 1,
        "jobcase_companies": jobcase["companies"],
        "jobcase_jobs": jobcase["jobs"],
        "jobcase_campaigns": jobcase["campaigns"],
        "jobcase_products": jobcase["products"],
        "jobcase_campaign_cost_data": jobcase["cost_data"],
        "ziprecruiter_subscribers": zr["counts"]["subscribers"],
        "ziprecruiter_subscriber_searches": len(zr["searches"]),
        "ziprecruiter_batches": zr["counts"]["batches"],
    }
