"""Many pipelines at once: the per-service jobs, a shared PostgreSQL system database, Dagster.

The jobs of meltano.yml run against this module's sandbox as a scheduler would run them: at the
same time, each with its own extractor (`tap-jobsync--<service>`) and state id, all writing into
one PostgreSQL warehouse and sharing one Meltano system database in PostgreSQL
(MELTANO_DATABASE_URI), as workers on several machines would.

- Dagster (orchestrate/dagster/definitions.py) runs `jobsync_all`: the system database's
  migrations, the four loads as parallel ops (at least three at once, per Meltano's own run
  records), then both write-backs; every step succeeds, each state id holds only its service's
  bookmarks (`meltano state get`) and the warehouse holds what the sandbox holds;
- the same four jobs started at once by hand read only what changed (the next round is
  incremental), and a Jobcase company gone from the source is flagged in the warehouse
  (ACTIVATE_VERSION, soft delete) -- or removed with `hard_delete`;
- one job cannot run twice at once: Meltano refuses the second run (the ops run without `--force`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import time
import typing as t
from pathlib import Path

import pytest
import yaml
from meltano_support import (
    DAGSTER,
    MELTANO,
    ROOT,
    Meltano,
    locks_for,
    needs_meltano,
    postgres_sql,
    project_locks,
    require,
    store_counts,
    system_database_uri,
)

from jobsync_sandbox import configs

pytestmark = pytest.mark.meltano

SERVICES = ("trackjobchanges", "pcrecruiter", "ziprecruiter", "jobcase")
LOAD_JOBS = [f"load-{service}" for service in SERVICES]
WRITEBACK_JOBS = ["writeback-pcr-to-jobcase", "writeback-changes-to-workable"]
#: Jobs in progress at one instant that prove the runs were parallel, not merely queued.
AT_ONCE = 3
_names = itertools.count()


def state_id(service: str) -> str:
    return f"sandbox:tap-jobsync--{service}-to-target-postgres"


class Deployment:
    """One warehouse schema and one system database (a schema of the test's PostgreSQL) for a test."""

    def __init__(self, meltano: Meltano, settings: dict[str, str], warehouse: str, system: str) -> None:
        self.meltano = meltano
        self.settings = settings
        self.warehouse = warehouse
        self.system = system

    def sql(self, *statements: str) -> list[list[list[t.Any]]]:
        return postgres_sql(self.settings, *statements)

    def counts(self) -> dict[str, int]:
        query = f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{self.warehouse}'"
        (tables,) = self.sql(query)
        statements = [f'SELECT count(*) FROM "{self.warehouse}"."{name}"' for (name,) in tables]
        return {name: rows[0][0] for (name,), rows in zip(tables, self.sql(*statements), strict=True)}

    def rows(self, table: str, key: str) -> dict[str, tuple[str, str | None]]:
        """key -> (_sdc_batched_at, _sdc_deleted_at) of every row of a warehouse table."""
        query = f'SELECT "{key}", _sdc_batched_at, _sdc_deleted_at FROM "{self.warehouse}"."{table}"'
        return {str(k): (batched, deleted) for k, batched, deleted in self.sql(query)[0]}

    def runs(self) -> list[tuple[str, dt.datetime, dt.datetime, str]]:
        """Meltano's record of every run in the shared system database: state id, start, end, outcome."""
        query = f'SELECT job_name, started_at, ended_at, state FROM "{self.system}".runs WHERE ended_at IS NOT NULL'
        return [
            (name, dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end), state)
            for name, start, end, state in self.sql(query)[0]
        ]

    def bookmarks(self, service: str) -> dict[str, t.Any]:
        return self.meltano.state(state_id(service))["bookmarks"]


def most_at_once(runs: t.Iterable[tuple[str, dt.datetime, dt.datetime, str]]) -> int:
    """The largest number of runs in progress at one instant."""
    events = sorted([(start, 1) for _, start, _, _ in runs] + [(end, -1) for _, _, end, _ in runs])
    running = best = 0
    for _, step in events:
        running += step
        best = max(best, running)
    return best


@pytest.fixture
def deployment(sandbox, control, credentials, postgres, tmp_path: Path) -> Deployment:
    """A fresh seeded sandbox (rate limits lifted), an empty warehouse schema and system database."""
    needs_meltano()
    control.reset(seed=1)
    control.api_control("workable", "rate_limit", {"limit": 0})
    control.api_control("jobcase", "rate_limit", {"requests": 1_000_000})
    name = f"{os.getpid()}_{next(_names)}"
    warehouse, system = f"par_{name}", f"meltano_{name}"
    env = (
        configs.sandbox_env(sandbox.base_urls, credentials)
        | {"JOBSYNC_SANDBOX_URL": sandbox.url, "MELTANO_ENVIRONMENT": "sandbox"}
        | {k: v for k, v in postgres.items() if k.startswith("TARGET_POSTGRES_")}
        | {"TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": warehouse}
    )
    meltano = Meltano(tmp_path, env, database_uri=system_database_uri(postgres, system))
    deployment = Deployment(meltano, dict(postgres), warehouse, system)
    # The warehouse schema exists before the first round: parallel first runs of target-postgres
    # would race creating it (singer-sdk checks, then creates); docs/scaling.md says to create it.
    deployment.sql(f'DROP SCHEMA IF EXISTS "{warehouse}" CASCADE', f'CREATE SCHEMA "{warehouse}"')
    return deployment


def start_meltano(deployment: Deployment, *args: str, env: t.Mapping[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [str(MELTANO), *args], cwd=ROOT, env=deployment.meltano.env | dict(env or {}),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def run_at_once(deployment: Deployment, jobs: t.Sequence[str], env: t.Mapping[str, str] | None = None) -> None:
    """`meltano run <job>` for every job, all started together, as a scheduler's workers would."""
    with project_locks(locks_for(jobs)):
        procs = {job: start_meltano(deployment, "run", job, env=env) for job in jobs}
        results = {job: proc.communicate(timeout=300) for job, proc in procs.items()}
    for job, (_, stderr) in results.items():
        assert procs[job].returncode == 0, f"meltano run {job} exited {procs[job].returncode}:\n{stderr[-4000:]}"


def dagster_execute(deployment: Deployment, job: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`dagster job execute -f orchestrate/dagster/definitions.py -j <job>`, its ops running Meltano."""
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # nothing leaves the machine
    with project_locks(locks_for([*LOAD_JOBS, *WRITEBACK_JOBS])):
        return subprocess.run(
            [str(DAGSTER), "job", "execute", "-f", str(ROOT / "orchestrate" / "dagster" / "definitions.py"), "-j", job],
            cwd=ROOT, env=deployment.meltano.env | {"DAGSTER_HOME": str(home)}, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip


DAGSTER_RUN_REPORT = """
import json
from dagster import DagsterInstance
instance = DagsterInstance.get()  # DAGSTER_HOME
(run,) = instance.get_runs()
steps = {s.step_key: s.status.value for s in instance.get_run_step_stats(run.run_id)}
print(json.dumps({"job": run.job_name, "status": run.status.value, "steps": steps}))
"""


def dagster_run_report(home: Path) -> dict[str, t.Any]:
    """The run that Dagster recorded in its instance: its status and each step's."""
    python = DAGSTER.parent / "python"
    proc = subprocess.run(
        [str(python), "-c", DAGSTER_RUN_REPORT], env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


# -- the scenario -----------------------------------------------------------------------------------------------


def test_orchestrated_parallel_jobs_keep_their_own_state_and_the_next_round_is_incremental(
    deployment: Deployment, control, tmp_path: Path
):
    require(DAGSTER, "bash scripts/install-dagster.sh")
    expected_counts = store_counts(control)  # the write-backs then add Jobcase companies and jobs
    run = dagster_execute(deployment, "jobsync_all", tmp_path)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    report = dagster_run_report(tmp_path / "dagster-home")
    steps = ["upgrade_system_database", *(f"run_{job}".replace("-", "_") for job in LOAD_JOBS + WRITEBACK_JOBS)]
    assert report == {"job": "jobsync_all", "status": "SUCCESS", "steps": dict.fromkeys(steps, "SUCCESS")}

    runs = deployment.runs()
    loads = [r for r in runs if r[0] in {state_id(s) for s in SERVICES}]
    assert sorted(r[0] for r in loads) == sorted(state_id(s) for s in SERVICES)
    assert all(r[3] == "SUCCESS" for r in runs)
    assert most_at_once(loads) >= AT_ONCE, f"the loads ran one after the other: {loads}"

    # Each job keeps its own bookmarks, under its own state id, in the shared system database.
    bookmarks = {service: deployment.bookmarks(service) for service in SERVICES}
    for service, streams in bookmarks.items():
        assert streams and all(stream.startswith(f"{service}_") for stream in streams), (service, streams)
    version = control.api_control("pcrecruiter", "version")["version"]
    assert bookmarks["pcrecruiter"]["pcrecruiter_positions"]["change_tracking_version"] == version
    landed = deployment.counts()
    assert {table: landed.get(table) for table in expected_counts} == expected_counts
    assert {r[0] for r in runs} >= {
        "sandbox:tap-jobsync--pcr-to-jobcase-to-target-jobsync",
        "sandbox:tap-jobsync--changes-to-workable-to-target-jobsync",
    }

    # Round 2, the same jobs started at once by hand. The source changed: a position inserted,
    # a job change, and Jobcase lost a company (a smaller world of the same seed; with it go its
    # jobs). Incremental services load only what changed; full-table ones flag what is gone.
    positions_before = deployment.rows("pcrecruiter_positions", "JobId")
    connections_before = deployment.rows("trackjobchanges_connections", "id")
    companies = expected_counts["jobcase_companies"]
    control.reset(seed=1, sizes={"jobcase": {"companies": companies - 1}})
    control.api_control("jobcase", "rate_limit", {"requests": 1_000_000})
    inserted = control.api_control("pcrecruiter", "insert", {"entity": "positions", "record": {"JobTitle": "Welder"}})
    new_position = str(inserted["records"][0]["JobId"])
    changed = control.store("trackjobchanges")["connections"][4]["id"]
    control.api_control(
        "trackjobchanges", "job_change", {"connection_id": changed, "company": "Initech", "title": "cto"}
    )

    run_at_once(deployment, LOAD_JOBS)
    assert most_at_once([r for r in deployment.runs() if r not in runs]) >= AT_ONCE

    positions = deployment.rows("pcrecruiter_positions", "JobId")
    assert set(positions) == set(positions_before) | {new_position}
    assert [k for k, row in positions.items() if row != positions_before.get(k)] == [new_position], (
        "PCRecruiter: only the inserted position was loaded again"
    )
    connections = deployment.rows("trackjobchanges_connections", "id")
    assert [k for k, row in connections.items() if row != connections_before[k]] == [str(changed)]
    assert deployment.bookmarks("pcrecruiter")["pcrecruiter_positions"]["change_tracking_version"] == version + 1

    gone = str(companies)  # the sandbox numbers companies from 1
    flagged = {k for k, (_, deleted) in deployment.rows("jobcase_companies", "id").items() if deleted is not None}
    assert flagged == {gone}, "ACTIVATE_VERSION flags the company the full listing no longer had"


def test_a_row_deleted_at_the_source_disappears_with_hard_delete(deployment: Deployment, control):
    """target-postgres with `activate_version: true` and `hard_delete: true`: after a full listing
    without it, a Jobcase company (and its jobs) is gone from the warehouse, not flagged."""
    hard = {"TARGET_POSTGRES_HARD_DELETE": "true"}
    deployment.meltano.run("load-jobcase", env=hard)
    companies = control.store("jobcase")["counts"]["companies"]
    jobs_before = deployment.counts()["jobcase_jobs"]
    assert deployment.counts()["jobcase_companies"] == companies

    control.reset(seed=1, sizes={"jobcase": {"companies": companies - 1}})
    control.api_control("jobcase", "rate_limit", {"requests": 1_000_000})
    deployment.meltano.run("load-jobcase", env=hard)
    rows = deployment.rows("jobcase_companies", "id")
    assert set(rows) == {str(i) for i in range(1, companies)}
    assert all(deleted is None for _, deleted in rows.values())
    assert deployment.counts()["jobcase_jobs"] == control.store("jobcase")["counts"]["jobs"] < jobs_before


def test_one_job_never_runs_twice_at_once(deployment: Deployment, control):
    """With a shared system database Meltano refuses a second run of a job whose state id is
    running (the orchestrator's ops never pass --force); the first run is unaffected."""
    control.set_latency(600, api="pcrecruiter")  # a run of several seconds: longer than a second start-up
    deployment.meltano("upgrade", "database")
    with project_locks(locks_for(["load-pcrecruiter"])):
        first = start_meltano(deployment, "run", "load-pcrecruiter")
        try:
            deadline = time.monotonic() + 60
            running = f"SELECT count(*) FROM \"{deployment.system}\".runs WHERE state = 'RUNNING'"
            while deployment.sql(running)[0][0][0] == 0:
                assert first.poll() is None and time.monotonic() < deadline, "the first run never started"
                time.sleep(0.2)
            second = subprocess.run(
                [str(MELTANO), "run", "load-pcrecruiter"], cwd=ROOT, env=deployment.meltano.env,
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            _, first_stderr = first.communicate(timeout=300)
        finally:
            control.set_latency(0, api="pcrecruiter")
            if first.poll() is None:
                first.kill()
    assert second.returncode != 0
    assert f"Another '{state_id('pcrecruiter')}' pipeline is already running" in second.stderr
    assert first.returncode == 0, first_stderr[-3000:]


# -- what Dagster is given -----------------------------------------------------------------------------------------

DAGSTER_DEFINITIONS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import definitions as d

def upstream(deps):
    items = [x for dep in deps.values() for x in (
        dep.get_dependencies_and_mappings() if hasattr(dep, "get_dependencies_and_mappings") else [dep])]
    return sorted(x.node for x in items)

jobs = d.defs.resolve_all_job_defs()
all_job = d.defs.resolve_job_def("jobsync_all")
print(json.dumps({
    "tags": {job.name: job.tags.get(d.JOB_TAG) for job in jobs},
    "schedules": {s.name: [s.job_name, s.cron_schedule, s.default_status.value] for s in d.defs.schedules},
    "after": {(i.alias or i.name): upstream(deps) for i, deps in all_job.graph.dependencies.items()},
}))
"""


def test_dagster_gets_a_job_per_meltano_job_a_stopped_schedule_per_meltano_schedule():
    """orchestrate/dagster/definitions.py as Dagster loads it: every Meltano job and schedule of
    meltano.yml, each job tagged with its Meltano job (for a run-queue limit), schedules stopped
    until started, and in jobsync_all the write-backs after every load, the loads after the migrations."""
    require(DAGSTER, "bash scripts/install-dagster.sh")
    proc = subprocess.run(
        [str(DAGSTER.parent / "python"), "-c", DAGSTER_DEFINITIONS, str(ROOT / "orchestrate" / "dagster")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    dagster = json.loads(proc.stdout)
    meltano_yml = yaml.safe_load((ROOT / "meltano.yml").read_text())
    meltano_jobs = [job["name"] for job in meltano_yml["jobs"]]
    assert dagster["tags"] == {job.replace("-", "_"): job for job in meltano_jobs} | {"jobsync_all": "jobsync_all"}
    assert dagster["schedules"] == {
        s["name"].replace("-", "_"): [s["job"].replace("-", "_"), s["interval"], "STOPPED"]
        for s in meltano_yml["schedules"]
    }
    loads = sorted(f"run_{job}".replace("-", "_") for job in LOAD_JOBS)
    assert dagster["after"] == {
        "upgrade_system_database": [],
        **{load: ["upgrade_system_database"] for load in loads},
        **{f"run_{job}".replace("-", "_"): loads for job in WRITEBACK_JOBS},
    }
