"""Dagster definitions for the JobSync Meltano project.

    bash scripts/install-dagster.sh                                    # .venv-dagster
    .venv-dagster/bin/dagster job execute -f orchestrate/dagster/definitions.py -j jobsync_all
    .venv-dagster/bin/dagster dev -f orchestrate/dagster/definitions.py  # UI, schedules (daemon)

Built with elt-dagster-meltano (the `dagster_meltano` module: its op runs a Meltano command and
streams the output into Dagster's log) from the `jobs:` and `schedules:` of meltano.yml:

- one Dagster job per Meltano job (`load_pcrecruiter`: its op `run_load_pcrecruiter` runs
  `meltano run load-pcrecruiter`),
  tagged `jobsync/meltano-job` so a run queue can allow one run per Meltano job at a time;
- one Dagster schedule per Meltano schedule, on that job (stopped until turned on in the UI or
  with `dagster schedule start`: loading this file never starts pipelines by itself);
- `jobsync_all`: `meltano upgrade database` (the system database's migrations, which must
  not run concurrently on a fresh database), then every `load-*` job as parallel ops, then
  the write-back jobs in parallel (they read sources the loads do not write, and running
  them after the loads keeps the Jobcase extraction and write-back from sharing the key's
  200 requests a minute at the same moment).

Every op runs `meltano run <job>` *without* `--force` (dagster-meltano's own `meltano_run_op`
adds it): Meltano then refuses to start a job whose state id is already running, as recorded in
the shared system database (MELTANO_DATABASE_URI). The environment of the ops is Dagster's own:
set MELTANO_ENVIRONMENT, MELTANO_DATABASE_URI and the credentials where Dagster runs.
docs/scaling.md explains how this maps to many machines.

meltano.yml is read as a file, not through `meltano job list`/`schedule list` (dagster-meltano's
`load_jobs_from_meltano_project`): Dagster imports this file in every step's process, and those
commands would touch the system database from each of them -- on a fresh PostgreSQL system
database, concurrently, which races its migrations (hence `upgrade_system_database` first).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from dagster import (
    DefaultScheduleStatus,
    Definitions,
    JobDefinition,
    OpDefinition,
    ScheduleDefinition,
    job,
    multiprocess_executor,
)
from dagster_meltano import meltano_command_op, meltano_resource
from dagster_meltano.utils import generate_dagster_name

ROOT = Path(__file__).resolve().parents[2]
# The project's Meltano (scripts/install-meltano.sh), whatever the PATH Dagster was started with.
os.environ["PATH"] = f"{ROOT / '.venv-meltano' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"

MELTANO_YML = yaml.safe_load((ROOT / "meltano.yml").read_text())
RESOURCES = {"meltano": meltano_resource.configured({"project_dir": str(ROOT)})}
#: Tag naming the Meltano job of a run (docs/scaling.md: a run queue limit of 1 per value).
JOB_TAG = "jobsync/meltano-job"
#: All the loads at once (each op is a `meltano run` process tree); step processes fork from a server
#: that has imported Dagster once (the default, spawn, imports it again for every step).
PARALLEL = multiprocess_executor.configured({"max_concurrent": 8, "start_method": {"forkserver": {}}})

MELTANO_JOBS = [meltano_job["name"] for meltano_job in MELTANO_YML.get("jobs") or []]
LOAD_JOBS = [name for name in MELTANO_JOBS if name.startswith("load-")]
WRITEBACK_JOBS = [name for name in MELTANO_JOBS if name.startswith("writeback-")]


def run_op(meltano_job: str) -> OpDefinition:
    """The op `run_<job>` running `meltano run <job>` (no --force); `<job>` names the Dagster job."""
    return meltano_command_op(f"run {meltano_job}", dagster_name=generate_dagster_name(f"run-{meltano_job}"))


upgrade_system_database = meltano_command_op("upgrade database", dagster_name="upgrade_system_database")


def dagster_job(meltano_job: str) -> JobDefinition:
    @job(
        name=generate_dagster_name(meltano_job),
        description=f"`meltano run {meltano_job}`",
        resource_defs=RESOURCES,
        tags={JOB_TAG: meltano_job},
    )
    def run_one() -> None:
        run_op(meltano_job)()

    return run_one


@job(
    description="System database migrations, then every load-* job in parallel, then the write-back jobs.",
    resource_defs=RESOURCES,
    executor_def=PARALLEL,
    tags={JOB_TAG: "jobsync_all"},
)
def jobsync_all() -> None:
    ready = upgrade_system_database()
    loaded = [run_op(name)(after=[ready]) for name in LOAD_JOBS]
    for name in WRITEBACK_JOBS:
        run_op(name)(after=loaded)


JOBS = {name: dagster_job(name) for name in MELTANO_JOBS}
SCHEDULES = [
    ScheduleDefinition(
        name=generate_dagster_name(schedule["name"]),
        job=JOBS[schedule["job"]],
        cron_schedule=schedule["interval"],
        default_status=DefaultScheduleStatus.STOPPED,
    )
    for schedule in MELTANO_YML.get("schedules") or []
    if "job" in schedule  # a schedule of an extractor/loader pair (no job) has no Dagster job here
]

defs = Definitions(jobs=[jobsync_all, *JOBS.values()], schedules=SCHEDULES)
