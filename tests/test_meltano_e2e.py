"""JobSync under Meltano, end to end: the project's own meltano.yml, plugins and pipelines.

Every pipeline runs as a user runs it, `meltano --environment=sandbox run <extractor> <loader>`
in the project directory (the plugins `meltano install` put in .meltano/ are reused), against
this module's sandbox. Each test has its own Meltano system database (state), warehouse files
and target-jobsync summary, so tests neither see each other's bookmarks nor a developer's.

- the embedded warehouse (target-duckdb) holds exactly what the sandbox holds, and the next
  run, handed its bookmarks by Meltano, loads only what changed (a delete arrives flagged);
- write-back: PCRecruiter positions become Jobcase jobs (a delete or a filled position expires
  the job), TrackJobChanges job changes become Workable experience entries; a re-run writes nothing;
- PostgreSQL (meltanolabs-target-postgres) into a server scripts/postgres.sh starts: row counts,
  and a PCRecruiter delete reflected as `_sdc_deleted_at`;
- `meltano state list/get` show the bookmarks; catalogs/ is current;
- `meltano config test` checks every service (the tap's preflight connection test), not only the
  service whose record comes first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from meltano_support import (
    INSTALL,
    MELTANO,
    ROOT,
    Meltano,
    clean_environ,
    loader_query,
    needs_meltano,
    project_locks,
    store_counts,
)

from jobsync_sandbox import configs
from target_jobsync.jobcase import JOB_ACTIVE, JOB_EXPIRED

pytestmark = pytest.mark.meltano

PCR_TO_JOBCASE = "tap-jobsync--pcr-to-jobcase"
CHANGES_TO_WORKABLE = "tap-jobsync--changes-to-workable"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


# -- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def installed() -> subprocess.CompletedProcess[str]:
    """`meltano install` in the project: every plugin of meltano.yml, from pinned pip_urls, no Hub."""
    needs_meltano()
    with project_locks([INSTALL]):
        proc = subprocess.run(
            [str(MELTANO), "install"], cwd=ROOT, env=clean_environ() | {"MELTANO_CLI_DISABLE_VERSION_CHECK": "true"},
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    assert proc.returncode == 0, f"meltano install exited {proc.returncode}:\n{proc.stderr[-5000:]}"
    (ROOT / "output").mkdir(exist_ok=True)
    return proc


@pytest.fixture
def meltano(installed, sandbox, control, credentials, tmp_path: Path) -> Meltano:
    """A fresh seeded sandbox (rate limits lifted) and Meltano pointed at it with empty state."""
    control.reset(seed=1)
    control.api_control("workable", "rate_limit", {"limit": 0})
    control.api_control("jobcase", "rate_limit", {"requests": 1_000_000})
    env = configs.sandbox_env(sandbox.base_urls, credentials) | {"JOBSYNC_SANDBOX_URL": sandbox.url}
    return Meltano(tmp_path, env)


def test_meltano_install_installs_every_plugin_without_a_hub(installed):
    """Both custom plugins, the three pinned loaders and the mapper install; the per-service and
    write-back extractors reuse tap-jobsync's venv."""
    log = installed.stderr
    plugins = {
        "extractors": ["tap-jobsync"],
        "loaders": ["target-jobsync", "target-duckdb", "target-jsonl", "target-postgres"],
        "mappers": ["meltano-map-transformer"],
    }
    for kind, names in plugins.items():
        for plugin in names:
            assert (ROOT / ".meltano" / kind / plugin / "venv" / "bin" / "python").exists(), plugin
    per_service = [f"tap-jobsync--{s}" for s in ("trackjobchanges", "pcrecruiter", "ziprecruiter", "jobcase")]
    for inherited in (PCR_TO_JOBCASE, CHANGES_TO_WORKABLE, *per_service):
        assert f"'{inherited}' does not require installation: reusing parent virtualenv" in log


def test_meltano_config_test_checks_every_service_not_only_the_first_record(meltano: Meltano):
    """`meltano config test` waits for the first RECORD only -- which comes from Jobcase; with
    preflight_connection_test (set for tap-jobsync in meltano.yml) a wrong PCRecruiter password
    fails the tap before any record, so the test says the configuration is invalid and why."""
    good = meltano("--environment=sandbox", "config", "test", "tap-jobsync", check=False)
    assert good.returncode == 0, good.stderr[-3000:]
    assert "Plugin configuration is valid" in good.stdout + good.stderr

    bad = meltano(
        "--environment=sandbox", "config", "test", "tap-jobsync",
        env={"TAP_JOBSYNC_PCRECRUITER_PASSWORD": "not-the-password"}, check=False,
    )  # fmt: skip
    output = bad.stdout + bad.stderr
    assert bad.returncode != 0 and "Plugin configuration is invalid" in output
    assert "PCRecruiter" in output and "pcrecruiter_password" in output
    assert "not-the-password" not in output


# -- the embedded warehouse ------------------------------------------------------------------------------

DUCKDB_COUNTS = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
tables = [r[0] for r in con.execute(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'jobsync'").fetchall()]
print(json.dumps({t: con.execute(f"SELECT count(*) FROM jobsync.{t}").fetchone()[0] for t in tables}))
"""
DUCKDB_POSITIONS = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
rows = con.execute(
    "SELECT jobid, jobtitle, _sdc_deleted_at IS NOT NULL, _sdc_batched_at FROM jobsync.pcrecruiter_positions"
).fetchall()
print(json.dumps([[str(r[0]), r[1], r[2], str(r[3])] for r in rows]))
"""


def test_warehouse_holds_what_the_sandbox_holds_and_the_next_run_loads_only_changes(meltano: Meltano, control):
    """`meltano run tap-jobsync target-duckdb`: one table per stream, one row per sandbox record.

    Meltano stores the tap's last STATE (`sandbox:tap-jobsync-to-target-duckdb`) and hands it
    back: after a PCRecruiter insert and delete the next run upserts just those two positions,
    the deleted one kept as a row with `_sdc_deleted_at` set.
    """
    meltano.run("tap-jobsync", "target-duckdb")
    warehouse = str(meltano.workdir / "warehouse.duckdb")
    counts = loader_query("target-duckdb", DUCKDB_COUNTS, warehouse)
    expected = store_counts(control)
    assert {table: counts.get(table) for table in expected} == expected
    assert counts["trackjobchanges_pings"] > 0

    state_id = "sandbox:tap-jobsync-to-target-duckdb"
    assert state_id in meltano("state", "list").stdout.split()
    bookmarks = meltano.state(state_id)["bookmarks"]
    version = control.api_control("pcrecruiter", "version")["version"]
    assert bookmarks["pcrecruiter_positions"]["change_tracking_version"] == version
    assert bookmarks["trackjobchanges_connections"]["replication_key"] == "employment_checked_at"

    first = {row[0]: row for row in loader_query("target-duckdb", DUCKDB_POSITIONS, warehouse)}
    inserted = control.api_control(
        "pcrecruiter", "insert", {"entity": "positions", "record": {"JobTitle": "Night Nurse"}}
    )
    new_id = str(inserted["records"][0]["JobId"])
    gone = sorted(first)[5]
    control.api_control("pcrecruiter", "delete", {"entity": "positions", "id": int(gone)})

    meltano.run("tap-jobsync", "target-duckdb")
    second = {row[0]: row for row in loader_query("target-duckdb", DUCKDB_POSITIONS, warehouse)}
    assert set(second) == set(first) | {new_id}
    assert second[new_id][1] == "Night Nurse" and second[new_id][2] is False
    assert second[gone][2] is True, "the PCRecruiter delete is a row flagged with _sdc_deleted_at"
    reloaded = sorted(key for key, row in second.items() if row[3] != first.get(key, [None] * 4)[3])
    assert reloaded == sorted([new_id, gone]), "the incremental run loads only the changed positions"
    assert meltano.state(state_id)["bookmarks"]["pcrecruiter_positions"]["change_tracking_version"] == version + 2


# -- write-back: PCRecruiter -> Jobcase ---------------------------------------------------------------------


def jobcase_jobs_by_ad(control) -> dict[str, dict]:
    return {job["adNumber"]: job for job in control.store("jobcase")["jobs"]}


def jobcase_writes(control) -> list[str]:
    return [
        f"{e['method']} {e['path']}" for e in control.requests(api="jobcase")["entries"] if e["method"] in WRITE_METHODS
    ]


def test_pcrecruiter_positions_become_jobcase_jobs_and_a_rerun_writes_nothing(meltano: Meltano, control):
    """Each Open PCRecruiter position is a Jobcase job (adNumber = JobId) of the company made from
    its PCRecruiter company (partnerCompanyId = CompanyId); other positions are not posted. The same
    run again changes nothing and makes no write call."""
    positions = control.store("pcrecruiter")["entities"]["positions"]["records"]
    proc = meltano.run(PCR_TO_JOBCASE, "target-jobsync")
    assert meltano.dead_letters() == []
    # The first run lists PCRecruiter in full and ends with ACTIVATE_VERSION: target-jobsync takes it quietly.
    assert "ACTIVATE_VERSION message received but not implemented" not in proc.stderr

    jobcase = control.store("jobcase")
    companies = {c["id"]: c for c in jobcase["companies"]}
    jobs = jobcase_jobs_by_ad(control)
    open_positions = [p for p in positions if p["Status"] == "Open"]
    assert open_positions and len(open_positions) < len(positions)
    for position in open_positions:
        job = jobs[str(position["JobId"])]
        assert job["jobTitle"] == position["JobTitle"] and job["jobStatus"] == JOB_ACTIVE
        assert job["jobCity"] == position["City"] and job["jobState"] == position["State"]
        assert 5 <= len(str(job["jobZipCode"])) <= 7 and position["JobTitle"] in job["jobDescription"]
        assert companies[job["companyId"]]["partnerCompanyId"] == str(position["CompanyId"])
    assert not {str(p["JobId"]) for p in positions if p["Status"] != "Open"} & set(jobs)
    summary = meltano.summary()
    assert summary["jobcase_jobs"]["created"] == len(open_positions)
    assert summary["jobcase_companies"]["created"] == control.store("pcrecruiter")["entities"]["companies"]["count"]

    control.clear_requests()
    meltano.run(PCR_TO_JOBCASE, "target-jobsync")
    assert jobcase_writes(control) == []
    assert jobcase_jobs_by_ad(control) == jobs
    ads = [j["adNumber"] for j in control.store("jobcase")["jobs"]]
    assert len(ads) == len(set(ads))


def test_a_deleted_or_filled_pcrecruiter_position_expires_its_jobcase_job(meltano: Meltano, control):
    """PCRecruiter change tracking reports the delete (`_sdc_deleted_at`), the stream map passes it
    through, target-jobsync expires the job; a position no longer Open expires the same way, and
    one Open again comes back. Only those jobs are written."""
    meltano.run(PCR_TO_JOBCASE, "target-jobsync")
    live = sorted(
        ad for ad, job in jobcase_jobs_by_ad(control).items() if job["jobStatus"] == JOB_ACTIVE and ad.isdigit()
    )
    deleted, filled = live[0], live[1]
    control.api_control("pcrecruiter", "delete", {"entity": "positions", "id": int(deleted)})
    control.api_control(
        "pcrecruiter", "update", {"entity": "positions", "id": int(filled), "fields": {"Status": "Filled"}}
    )

    control.clear_requests()
    meltano.run(PCR_TO_JOBCASE, "target-jobsync")
    jobs = jobcase_jobs_by_ad(control)
    assert jobs[deleted]["jobStatus"] == JOB_EXPIRED and jobs[filled]["jobStatus"] == JOB_EXPIRED
    assert sorted(jobcase_writes(control)) == sorted(f"POST /job/{jobs[ad]['id']}/expire/" for ad in (deleted, filled))
    assert meltano.summary()["jobcase_jobs"]["deleted"] == 2

    control.api_control(
        "pcrecruiter", "update", {"entity": "positions", "id": int(filled), "fields": {"Status": "Open"}}
    )
    meltano.run(PCR_TO_JOBCASE, "target-jobsync")
    assert jobcase_jobs_by_ad(control)[filled]["jobStatus"] == JOB_ACTIVE


# -- write-back: TrackJobChanges -> Workable -------------------------------------------------------------------


def test_a_job_change_becomes_the_workable_candidates_current_experience_entry(meltano: Meltano, control):
    """A connection flagged with a new job adds that job to the Workable candidate who applied with
    the connection's starting email (merge mode keeps their other entries). Nobody else changes,
    and a re-run makes no write call."""
    connection = control.store("trackjobchanges")["connections"][6]
    control.api_control(
        "trackjobchanges", "job_change",
        {"connection_id": connection["id"], "company": "Hooli", "title": "vp engineering"},
    )  # fmt: skip
    flagged = [
        c
        for c in control.store("trackjobchanges")["connections"]
        if c["has_new_job"] and c["current_employment"]["title"]
    ]
    before = {c["email"]: c for c in control.store("workable")["candidates"]}

    meltano.run(CHANGES_TO_WORKABLE, "target-jobsync")
    assert meltano.dead_letters() == []
    after = {c["email"]: c for c in control.store("workable")["candidates"]}
    changed = {email for email in after if after[email] != before[email]}
    assert changed == {c["starting_employment"]["email"] for c in flagged}

    candidate = after[connection["starting_employment"]["email"]]
    new_entries = [e for e in candidate["experience_entries"] if e["company"] == "Hooli"]
    assert len(new_entries) == 1
    assert new_entries[0]["title"] == "vp engineering" and new_entries[0]["current"] is True
    assert new_entries[0]["start_date"] == control.now()[:10]
    old_entries = before[connection["starting_employment"]["email"]]["experience_entries"]
    assert [e["id"] for e in old_entries] == [e["id"] for e in candidate["experience_entries"][: len(old_entries)]]
    assert meltano.summary()["workable_candidates"]["updated"] == len(flagged)

    control.clear_requests()
    meltano.run(CHANGES_TO_WORKABLE, "target-jobsync")
    assert [e for e in control.requests(api="workable")["entries"] if e["method"] in WRITE_METHODS] == []
    assert {c["email"]: c for c in control.store("workable")["candidates"]} == after
    bookmarks = meltano.state(f"sandbox:{CHANGES_TO_WORKABLE}-to-target-jobsync")["bookmarks"]
    assert list(bookmarks) == ["trackjobchanges_connections"]


def test_stream_maps_declare_built_fields_as_strings_and_target_jobsync_still_writes_them(meltano: Meltano, control):
    """singer-sdk types a field built by an expression as a string in the SCHEMA (here a list of
    objects) and never the source's `id`; target-jobsync validates against its own input schema
    (not the SCHEMA it receives), so the list is written as a list."""
    proc = meltano("--environment=sandbox", "invoke", CHANGES_TO_WORKABLE)
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    schema = next(m for m in messages if m["type"] == "SCHEMA")
    assert schema["stream"] == "workable_candidates" and schema["key_properties"] == ["email"]
    assert schema["schema"]["properties"]["experience_entries"]["type"] == ["string", "null"]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert records and all(set(r) == {"email", "experience_entries"} for r in records)
    assert all(
        isinstance(r["experience_entries"], list) and isinstance(r["experience_entries"][0], dict) for r in records
    )

    proc = subprocess.run(
        [str(MELTANO), "--environment=sandbox", "invoke", "target-jobsync"],
        cwd=ROOT, env=meltano.env, input=proc.stdout, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    entry = records[0]["experience_entries"][0]
    candidate = next(c for c in control.store("workable")["candidates"] if c["email"] == records[0]["email"])
    assert any(
        e["title"] == entry["title"] and e["company"] == entry["company"] for e in candidate["experience_entries"]
    )


# -- PostgreSQL ---------------------------------------------------------------------------------------------------


POSTGRES_COUNTS = """
import json, sys, psycopg
schema = sys.argv[1]
with psycopg.connect("") as con:  # PG* variables
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)).fetchall()]
    counts = {t: con.execute(f'SELECT count(*) FROM "{schema}"."{t}"').fetchone()[0] for t in tables}
    deleted = [str(r[0]) for r in con.execute(
        f'SELECT "JobId" FROM "{schema}".pcrecruiter_positions WHERE _sdc_deleted_at IS NOT NULL').fetchall()]
print(json.dumps({"counts": counts, "deleted_positions": deleted}))
"""


def test_postgres_holds_what_the_sandbox_holds_and_reflects_a_pcrecruiter_delete(meltano: Meltano, control, postgres):
    """`meltano run tap-jobsync target-postgres` into a local PostgreSQL: row counts equal the
    sandbox's; after a PCRecruiter delete, the incremental run flags that row with `_sdc_deleted_at`."""
    schema = f"e2e_{os.getpid()}"
    env = {k: v for k, v in postgres.items() if k.startswith("TARGET_POSTGRES_")} | {
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema
    }
    libpq = {k: v for k, v in postgres.items() if k.startswith("PG")}

    meltano.run("tap-jobsync", "target-postgres", env=env)
    landed = loader_query("target-postgres", POSTGRES_COUNTS, schema, env=libpq)
    expected = store_counts(control)
    assert {table: landed["counts"].get(table) for table in expected} == expected
    assert landed["deleted_positions"] == []

    position = control.store("pcrecruiter")["entities"]["positions"]["records"][3]["JobId"]
    control.api_control("pcrecruiter", "delete", {"entity": "positions", "id": position})
    meltano.run("tap-jobsync", "target-postgres", env=env)
    landed = loader_query("target-postgres", POSTGRES_COUNTS, schema, env=libpq)
    assert landed["deleted_positions"] == [str(position)]
    assert landed["counts"]["pcrecruiter_positions"] == expected["pcrecruiter_positions"]

    state_ids = meltano("state", "list").stdout.split()
    assert "sandbox:tap-jobsync-to-target-postgres" in state_ids
    bookmarks = meltano.state("sandbox:tap-jobsync-to-target-postgres")["bookmarks"]
    assert (
        bookmarks["pcrecruiter_positions"]["change_tracking_version"]
        == control.api_control("pcrecruiter", "version")["version"]
    )


# -- catalogs/ (no Meltano needed) ----------------------------------------------------------------------------------


def test_catalogs_are_current_with_the_tap_and_meltano_yml():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_catalogs.py"), "--check"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]


def _selected(path: Path) -> set[str]:
    catalog = json.loads(path.read_text())
    return {
        entry["tap_stream_id"]
        for entry in catalog["streams"]
        for meta in entry["metadata"]
        if meta["breadcrumb"] == [] and meta["metadata"].get("selected")
    }


def test_each_catalog_selects_exactly_what_its_name_says():
    catalogs = ROOT / "catalogs"
    every = {entry["tap_stream_id"] for entry in json.loads((catalogs / "all.json").read_text())["streams"]}
    assert _selected(catalogs / "all.json") == every
    for service in ("trackjobchanges", "pcrecruiter", "ziprecruiter", "jobcase"):
        selected = _selected(catalogs / f"{service}.json")
        assert selected and selected == {s for s in every if s.startswith(f"{service}_")}, service
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    inherited = {p["name"]: p for p in project["plugins"]["extractors"] if p.get("inherit_from") == "tap-jobsync"}
    services = ("trackjobchanges", "pcrecruiter", "ziprecruiter", "jobcase")
    for service in services:
        assert inherited[f"tap-jobsync--{service}"]["select"] == [f"{service}_*.*"], (
            "catalogs/<service>.json's selection"
        )
    pipelines = {name: p for name, p in inherited.items() if name.removeprefix("tap-jobsync--") not in services}
    assert {PCR_TO_JOBCASE, CHANGES_TO_WORKABLE} <= set(pipelines)
    for name, plugin in pipelines.items():
        selected = _selected(catalogs / f"{name.removeprefix('tap-jobsync--')}.json")
        assert selected == {rule.removesuffix(".*") for rule in plugin["select"]}
        assert set(plugin["config"]["stream_maps"]) == selected, f"{name} maps streams it does not select"
    assert _selected(catalogs / "pcr-to-jobcase.json") == {"pcrecruiter_companies", "pcrecruiter_positions"}
    assert _selected(catalogs / "changes-to-workable.json") == {"trackjobchanges_connections"}
