"""Meltano and the pinned loaders: what lands where, how deletes and state behave.

The Meltano tests run the real Meltano from ``.venv-meltano`` (``scripts/install-meltano.sh``)
in a throwaway copy of the project's meltano.yml, so the loaders, pins, settings and
environments under test are exactly the project's. Until tap-jobsync is finished they are fed
hand-written Singer messages, and ``tap-fixture`` (a small singer-sdk tap added to the copy)
stands in for tap-jobsync where Meltano needs an extractor (``meltano run``, state, stream maps).

The generator tests (``scripts/gen_meltano_settings.py``) need no Meltano.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
GENERATOR = ROOT / "scripts" / "gen_meltano_settings.py"

NO_MELTANO = ".venv-meltano is missing: run `bash scripts/install-meltano.sh` to run the Meltano tests"
needs_meltano = pytest.mark.skipif(not MELTANO.exists(), reason=NO_MELTANO)

# -- a stand-in extractor ------------------------------------------------------------------

TAP_FIXTURE = '''
"""tap-fixture: one incremental singer-sdk stream, standing in for tap-jobsync."""
from singer_sdk import Stream, Tap
from singer_sdk import typing as th

PEOPLE = [
    {"id": 1, "name": "Ada", "email": "Ada@Example.com", "updated_at": "2024-01-01T00:00:00+00:00"},
    {"id": 2, "name": "Bob", "email": "bob@example.com", "updated_at": "2024-01-02T00:00:00+00:00"},
]


class PeopleStream(Stream):
    name = "people"
    primary_keys = ("id",)
    replication_key = "updated_at"
    is_sorted = True
    schema = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("email", th.StringType),
        th.Property("updated_at", th.DateTimeType),
    ).to_dict()

    def get_records(self, context):
        start = self.get_starting_replication_key_value(context)
        return [p for p in PEOPLE if start is None or p["updated_at"] > start]


class TapFixture(Tap):
    name = "tap-fixture"
    config_jsonschema = th.PropertiesList().to_dict()

    def discover_streams(self):
        return [PeopleStream(self)]


if __name__ == "__main__":
    TapFixture.cli()
'''

#: The write-back mechanism, as `tap-jobsync--writeback` will use it: rename the stream to a
#: sink's name and build the sink's nested fields from the record.
WRITEBACK_MAPS = {
    "people": {
        "__alias__": "workable_candidates",
        "__else__": "__NULL__",
        "id": "id",  # with __else__ = __NULL__ the key must be mapped explicitly
        "candidate": "{'name': name, 'emails': [email.lower()], 'tags': [t for t in config['tags']]}",
    }
}


def fixture_plugins(executable: Path) -> list[dict[str, t.Any]]:
    return [
        {
            "name": "tap-fixture",
            "namespace": "tap_fixture",
            "executable": str(executable),
            "capabilities": ["catalog", "discover", "state", "about", "stream-maps"],
        },
        {
            "name": "tap-fixture--writeback",
            "inherit_from": "tap-fixture",
            "config": {"stream_maps": WRITEBACK_MAPS, "stream_map_config": {"tags": ["jobsync"]}},
        },
    ]


# -- running Meltano -----------------------------------------------------------------------


class MeltanoProject:
    """A copy of the project's meltano.yml (plus tap-fixture) in a temporary directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def env(extra: t.Mapping[str, str] | None = None) -> dict[str, str]:
        # The caller's shell may carry settings (TARGET_POSTGRES_PASSWORD from postgres.sh,
        # MELTANO_PROJECT_ROOT...): they must not leak into the project under test.
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TAP_", "TARGET_", "JOBSYNC_", "PG"))
        }
        env["MELTANO_CLI_DISABLE_VERSION_CHECK"] = "true"
        return env | dict(extra or {})

    def meltano(
        self,
        *args: str,
        messages: t.Sequence[dict] | None = None,
        env: t.Mapping[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        stdin = "".join(json.dumps(m) + "\n" for m in messages) if messages is not None else None
        proc = subprocess.run(
            [str(MELTANO), *args],
            cwd=self.root,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env(env),
            timeout=300,
            check=False,
        )
        if check:
            assert proc.returncode == 0, f"meltano {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
        return proc

    def loader_python(self, loader: str) -> Path:
        return self.root / ".meltano" / "loaders" / loader / "venv" / "bin" / "python"

    def query(self, loader: str, code: str, *args: str, env: t.Mapping[str, str] | None = None) -> t.Any:
        """Run ``code`` with the loader's own Python (it has the database driver); return its JSON."""
        proc = subprocess.run(
            [str(self.loader_python(loader)), "-c", code, *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    if not MELTANO.exists():
        pytest.skip(NO_MELTANO)
    root = tmp_path_factory.mktemp("meltano-project")
    (root / "tap_fixture.py").write_text(TAP_FIXTURE)
    executable = root / "tap-fixture"
    executable.write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(root / "tap_fixture.py"))} "$@"\n'
    )
    executable.chmod(0o755)
    config = yaml.safe_load((ROOT / "meltano.yml").read_text())
    config["plugins"]["extractors"].extend(fixture_plugins(executable))
    (root / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "output").mkdir()
    box = MeltanoProject(root)
    box.meltano("install", "--plugin-type", "loader", "target-duckdb", "target-jsonl", "target-postgres")
    return box


# -- Singer messages ---------------------------------------------------------------------------

PEOPLE_SCHEMA = {
    "type": "SCHEMA",
    "stream": "people",
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": ["string", "null"]},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
            "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "key_properties": ["id"],
}

#: First sync: Cy arrives flagged deleted (the way a tap reports a delete).
FIRST_SYNC = [
    {"id": 1, "name": "Ada", "updated_at": "2024-01-01T00:00:00Z"},
    {"id": 2, "name": "Bob", "updated_at": "2024-01-02T00:00:00Z"},
    {"id": 3, "name": "Cy", "updated_at": "2024-01-03T00:00:00Z", "_sdc_deleted_at": "2024-01-04T00:00:00Z"},
    {"id": 4, "name": "Di", "updated_at": "2024-01-05T00:00:00Z"},
]
#: Second full sync: Ada changed; Cy and Di are no longer in the source.
SECOND_SYNC = [
    {"id": 1, "name": "Ada L", "updated_at": "2024-02-01T00:00:00Z"},
    {"id": 2, "name": "Bob", "updated_at": "2024-01-02T00:00:00Z"},
]


def full_table_sync(version: int, people: list[dict], bookmark: str) -> list[dict]:
    """A full-table sync as a singer-sdk tap sends it: versioned records, STATE, ACTIVATE_VERSION."""
    return [
        PEOPLE_SCHEMA,
        {"type": "ACTIVATE_VERSION", "stream": "people", "version": version},
        *({"type": "RECORD", "stream": "people", "record": p, "version": version} for p in people),
        {"type": "STATE", "value": {"bookmarks": {"people": {"replication_key_value": bookmark}}}},
        {"type": "ACTIVATE_VERSION", "stream": "people", "version": version},
    ]


def emitted_states(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


# -- DuckDB: the embedded default loader -------------------------------------------------------

DUCKDB_PEOPLE = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
rows = con.execute("SELECT id, name, _sdc_deleted_at IS NOT NULL FROM jobsync.people ORDER BY id").fetchall()
print(json.dumps([list(row) for row in rows]))
"""


@pytest.mark.parametrize(
    ("hard_delete", "after_first", "after_second"),
    [
        pytest.param(
            "false",
            [[1, "Ada", False], [2, "Bob", False], [3, "Cy", True], [4, "Di", False]],
            [[1, "Ada L", False], [2, "Bob", False], [3, "Cy", True], [4, "Di", False]],
            id="soft-delete",
        ),
        pytest.param(
            "true",
            [[1, "Ada", False], [2, "Bob", False], [4, "Di", False]],
            [[1, "Ada L", False], [2, "Bob", False], [4, "Di", False]],
            id="hard-delete",
        ),
    ],
)
@pytest.mark.meltano
@needs_meltano
def test_duckdb_upserts_by_key_applies_deleted_flags_and_ignores_activate_version(
    project: MeltanoProject, tmp_path: Path, hard_delete: str, after_first: list, after_second: list
) -> None:
    """target-duckdb keeps one row per key (an update replaces the row) and echoes the STATE.

    A record with ``_sdc_deleted_at`` stays as a flagged row (default) or is deleted
    (``hard_delete``). ACTIVATE_VERSION is ignored: rows missing from a later full sync stay.
    """
    database = tmp_path / "warehouse.duckdb"
    env = {"TARGET_DUCKDB_PATH": str(database), "TARGET_DUCKDB_HARD_DELETE": hard_delete}

    first = project.meltano("invoke", "target-duckdb", messages=full_table_sync(1, FIRST_SYNC, "2024-01-05"), env=env)
    assert emitted_states(first.stdout)[-1] == {"bookmarks": {"people": {"replication_key_value": "2024-01-05"}}}
    assert project.query("target-duckdb", DUCKDB_PEOPLE, str(database)) == after_first

    project.meltano("invoke", "target-duckdb", messages=full_table_sync(2, SECOND_SYNC, "2024-02-01"), env=env)
    assert project.query("target-duckdb", DUCKDB_PEOPLE, str(database)) == after_second


@pytest.mark.meltano
@needs_meltano
def test_duckdb_keeps_the_first_record_of_a_batch(project: MeltanoProject, tmp_path: Path) -> None:
    """A one-record batch of string columns lands (guards the duckdb==1.0.0 pin).

    target-duckdb 0.8.0 loads a batch with ``COPY ... FROM 'batch.csv'`` and no ``HEADER false``;
    duckdb >= 1.1 takes such a first line for a header and drops it: this batch would load nothing.
    """
    database = tmp_path / "one.duckdb"
    messages = [
        {
            "type": "SCHEMA",
            "stream": "notes",
            "schema": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "text": {"type": ["string", "null"]}},
            },
            "key_properties": ["id"],
        },
        {"type": "RECORD", "stream": "notes", "record": {"id": "n-1", "text": "only change tonight"}},
    ]
    env = {
        "TARGET_DUCKDB_PATH": str(database),
        # Without metadata columns every column is text: the shape that loses its first row.
        "TARGET_DUCKDB_ADD_METADATA_COLUMNS": "false",
    }
    project.meltano("invoke", "target-duckdb", messages=messages, env=env)
    rows = project.query(
        "target-duckdb",
        "import duckdb, json, sys; print(json.dumps(duckdb.connect(sys.argv[1], read_only=True)"
        ".execute('SELECT id, text FROM jobsync.notes').fetchall()))",
        str(database),
    )
    assert rows == [["n-1", "only change tonight"]]


# -- JSON Lines ------------------------------------------------------------------------------------


@pytest.mark.meltano
@needs_meltano
def test_jsonl_appends_every_record_as_sent_and_echoes_the_last_state(project: MeltanoProject, tmp_path: Path) -> None:
    """target-jsonl is a log, not a table: every RECORD becomes a line (deleted ones too, flag kept),
    ACTIVATE_VERSION is ignored, and the last STATE is echoed once the input ends."""
    env = {"TARGET_JSONL_DESTINATION_PATH": str(tmp_path), "TARGET_JSONL_DO_TIMESTAMP_FILE": "false"}
    proc = project.meltano("invoke", "target-jsonl", messages=full_table_sync(1, FIRST_SYNC, "2024-01-05"), env=env)
    assert emitted_states(proc.stdout) == [{"bookmarks": {"people": {"replication_key_value": "2024-01-05"}}}]
    lines = [json.loads(line) for line in (tmp_path / "people.jsonl").read_text().splitlines()]
    assert lines == FIRST_SYNC


# -- PostgreSQL (meltanolabs-target-postgres) ------------------------------------------------------


POSTGRES_PEOPLE = """
import json, sys, psycopg
with psycopg.connect("") as con:  # PG* variables
    rows = con.execute(
        f"SELECT id, name, _sdc_deleted_at IS NOT NULL FROM {sys.argv[1]}.people ORDER BY id"
    ).fetchall()
print(json.dumps([list(row) for row in rows]))
"""


@pytest.mark.meltano
@needs_meltano
@pytest.mark.parametrize(
    ("hard_delete", "after_second"),
    [
        pytest.param(
            "false",
            [[1, "Ada L", False], [2, "Bob", False], [3, "Cy", True], [4, "Di", True]],
            id="activate-version-marks",
        ),
        pytest.param("true", [[1, "Ada L", False], [2, "Bob", False]], id="activate-version-deletes"),
    ],
)
def test_postgres_upserts_by_key_and_applies_activate_version(
    project: MeltanoProject, postgres: dict[str, str], hard_delete: str, after_second: list
) -> None:
    """target-postgres upserts on the key and keeps a record flagged ``_sdc_deleted_at`` as a flagged row.

    ACTIVATE_VERSION after a full sync removes (``hard_delete``) or flags with
    ``_sdc_deleted_at`` (default) every row of an older version: the rows the source dropped.
    ``hard_delete`` never deletes a flagged record by itself.
    """
    schema = f"people_hard_{hard_delete}"
    env = {
        **{k: v for k, v in postgres.items() if k.startswith("TARGET_POSTGRES_")},
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        "TARGET_POSTGRES_HARD_DELETE": hard_delete,
    }
    libpq = {k: v for k, v in postgres.items() if k.startswith("PG")}

    first = project.meltano("invoke", "target-postgres", messages=full_table_sync(1, FIRST_SYNC, "2024-01-05"), env=env)
    assert emitted_states(first.stdout)[-1] == {"bookmarks": {"people": {"replication_key_value": "2024-01-05"}}}
    assert project.query("target-postgres", POSTGRES_PEOPLE, schema, env=libpq) == [
        [1, "Ada", False],
        [2, "Bob", False],
        [3, "Cy", True],
        [4, "Di", False],
    ]

    project.meltano("invoke", "target-postgres", messages=full_table_sync(2, SECOND_SYNC, "2024-02-01"), env=env)
    assert project.query("target-postgres", POSTGRES_PEOPLE, schema, env=libpq) == after_second


# -- Meltano itself: state, stream maps, environments -----------------------------------------------


@pytest.mark.meltano
@needs_meltano
def test_meltano_run_saves_the_bookmark_and_the_next_run_resumes_from_it(
    project: MeltanoProject, tmp_path: Path
) -> None:
    """`meltano run` in the default environment stores the last STATE in .meltano/meltano.db.

    `meltano state list/get` show it, and the next run hands it to the tap (`--state`), so an
    unchanged source emits nothing new; target-jsonl wrote each record once.
    """
    env = {"TARGET_JSONL_DESTINATION_PATH": str(tmp_path), "TARGET_JSONL_DO_TIMESTAMP_FILE": "false"}
    project.meltano("run", "tap-fixture", "target-jsonl", env=env)
    written = [json.loads(line) for line in (tmp_path / "people.jsonl").read_text().splitlines()]
    assert [r["id"] for r in written] == [1, 2]

    state_id = "dev:tap-fixture-to-target-jsonl"
    assert state_id in project.meltano("state", "list").stdout.split()
    state = json.loads(project.meltano("state", "get", state_id).stdout)
    assert state["singer_state"]["bookmarks"]["people"]["replication_key_value"] == "2024-01-02T00:00:00+00:00"

    project.meltano("run", "tap-fixture", "target-jsonl", env=env)
    assert len((tmp_path / "people.jsonl").read_text().splitlines()) == 2


@pytest.mark.meltano
@needs_meltano
def test_stream_maps_in_an_inherited_plugin_rename_streams_and_build_nested_fields(project: MeltanoProject) -> None:
    """An inherited extractor's `stream_maps` reshape records inside the tap (singer-sdk).

    ``__alias__`` renames the stream; expressions build dicts and lists (comprehensions, str
    methods, ``config`` from `stream_map_config`). The SCHEMA declares such a built field as a
    string, so the receiving target must validate against its own schema, not the SCHEMA.
    The bookmark stays under the source stream's name.
    """
    proc = project.meltano("invoke", "tap-fixture--writeback")
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    schemas = [m for m in messages if m["type"] == "SCHEMA"]
    assert [(m["stream"], m["key_properties"]) for m in schemas] == [("workable_candidates", ["id"])]
    assert schemas[0]["schema"]["properties"]["candidate"]["type"] == ["string", "null"]
    records = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "workable_candidates"]
    assert records == [
        {"id": 1, "candidate": {"name": "Ada", "emails": ["ada@example.com"], "tags": ["jobsync"]}},
        {"id": 2, "candidate": {"name": "Bob", "emails": ["bob@example.com"], "tags": ["jobsync"]}},
    ]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    assert list(states[-1]["bookmarks"]) == ["people"]


@pytest.mark.meltano
@needs_meltano
def test_config_list_says_which_settings_each_service_needs_and_shows_the_defaults(project: MeltanoProject) -> None:
    """settings_group_validation: one group per service, any one complete is enough; each setting's
    default (`value:`) is shown as the default, and a configured group counts as complete."""
    proc = project.meltano("config", "list", "tap-jobsync")
    assert "Setting groups (one of the following combinations is required):" in proc.stdout
    groups = re.findall(r"^  Group \d+: (.+)$", proc.stdout, re.MULTILINE)
    assert sorted(groups) == sorted([
        "trackjobchanges_api_key",
        "pcrecruiter_api_key, pcrecruiter_app_id, pcrecruiter_database_id, pcrecruiter_password, pcrecruiter_username",
        "ziprecruiter_api_key",
        "jobcase_api_key",
    ])  # fmt: skip
    every = project.meltano("config", "list", "tap-jobsync", "--all").stdout
    assert "jobcase_page_size [env: TAP_JOBSYNC_JOBCASE_PAGE_SIZE] current value: 1000 (default)" in every
    target = project.meltano("config", "list", "target-jobsync").stdout
    assert re.findall(r"^  Group \d+: (.+)$", target, re.MULTILINE) == [
        "workable_api_token", "ziprecruiter_api_key", "jobcase_api_key"
    ]  # fmt: skip


@pytest.mark.meltano
@needs_meltano
def test_sandbox_environment_points_every_base_url_at_the_sandbox(project: MeltanoProject) -> None:
    """`--environment=sandbox` expands ${JOBSYNC_SANDBOX_URL} into every base URL; secrets print masked."""
    env = {"JOBSYNC_SANDBOX_URL": "http://127.0.0.1:8765", "TAP_JOBSYNC_JOBCASE_API_KEY": "not-shown-0123"}
    for plugin in ("tap-jobsync", "target-jobsync"):
        proc = project.meltano("--environment=sandbox", "config", "print", plugin, "--format=json", env=env)
        config = json.loads(proc.stdout)
        urls = {k: v for k, v in config.items() if k.endswith("_base_url")}
        assert urls, f"{plugin} has no base URL in the sandbox environment"
        assert all(v.startswith("http://127.0.0.1:8765/") for v in urls.values()), urls
        assert "not-shown-0123" not in proc.stdout


@pytest.mark.meltano
@needs_meltano
def test_variables_written_by_the_sandbox_configure_both_plugins(project: MeltanoProject) -> None:
    """`jobsync-sandbox serve --write-env` variables load into Meltano's config for both plugins.

    They hold no fractional number: Meltano 4.4.1 cannot pass a `kind: decimal` value read
    from the environment to a plugin; the sandbox environment sets the fast retry waits.
    """
    from jobsync_sandbox import configs
    from jobsync_sandbox.server import Sandbox

    box = Sandbox(seed=1)  # never started: only its URLs and credentials are needed
    base_urls = {name: f"http://127.0.0.1:8765{api.base_path}" for name, api in box.apis.items()}
    credentials = {name: api.credentials for name, api in box.apis.items()}
    env = configs.sandbox_env(base_urls, credentials) | {"JOBSYNC_SANDBOX_URL": "http://127.0.0.1:8765"}
    for plugin, settings in (
        ("tap-jobsync", configs.tap_config(base_urls, credentials)),
        ("target-jobsync", configs.target_config(base_urls, credentials)),
    ):
        proc = project.meltano("--environment=sandbox", "config", "--unsafe", "print", plugin, "--format=json", env=env)
        printed = json.loads(proc.stdout)
        assert {name: printed.get(name) for name in settings} == settings
        # Everything else is a declared default (`value:`) or set in meltano.yml itself.
        kind = "extractors" if plugin.startswith("tap") else "loaders"
        entry = plugin_entry(project.root / "meltano.yml", kind, plugin)
        defaults = {s["name"]: s["value"] for s in entry["settings"] if "value" in s}
        environments = yaml.safe_load((project.root / "meltano.yml").read_text())["environments"]
        sandbox_plugins = next(e for e in environments if e["name"] == "sandbox")["config"]["plugins"][kind]
        in_yml = entry.get("config", {}) | next(p.get("config", {}) for p in sandbox_plugins if p["name"] == plugin)
        for name, value in printed.items():
            if name not in settings:
                assert value == in_yml.get(name, defaults.get(name)), name


@pytest.mark.meltano
@needs_meltano
def test_sandbox_environment_without_the_sandbox_url_fails_naming_the_variable(project: MeltanoProject) -> None:
    """Strict env-var mode: an unset ${JOBSYNC_SANDBOX_URL} is an error, not an empty base URL."""
    proc = project.meltano("--environment=sandbox", "config", "print", "tap-jobsync", "--format=json", check=False)
    assert proc.returncode != 0
    assert "JOBSYNC_SANDBOX_URL" in proc.stderr


def test_sandbox_environment_sets_every_base_url_the_plugins_declare() -> None:
    """A service added to a plugin (a new `*_base_url` setting) must also be pointed at the sandbox."""
    config = yaml.safe_load((ROOT / "meltano.yml").read_text())
    sandbox = next(e for e in config["environments"] if e["name"] == "sandbox")["config"]["plugins"]
    for kind, plugin in (("extractors", "tap-jobsync"), ("loaders", "target-jobsync")):
        declared = next(p for p in config["plugins"][kind] if p["name"] == plugin)
        wanted = {s["name"] for s in declared.get("settings", []) if s["name"].endswith("_base_url")}
        overridden = next(p for p in sandbox[kind] if p["name"] == plugin)["config"]
        assert wanted <= set(overridden), f"sandbox environment misses {sorted(wanted - set(overridden))} for {plugin}"


# -- scripts/gen_meltano_settings.py --------------------------------------------------------------

SKELETON = """\
plugins:
  extractors:
  - name: tap-jobsync
    namespace: tap_jobsync
    # >>> generated from `tap-jobsync --about`: run scripts/gen_meltano_settings.py
    # <<< end of generated block (tap-jobsync)
  loaders:
  - name: target-jobsync
    namespace: target_jobsync
    # >>> generated from `target-jobsync --about`: run scripts/gen_meltano_settings.py
    # <<< end of generated block (target-jobsync)
"""


def about_doc(**properties: dict) -> dict:
    return {
        "name": "x",
        "capabilities": ["catalog", "state", "discover", "about", "stream-maps"],
        "settings": {"type": "object", "properties": properties},
    }


def generate(tmp_path: Path, tap_about: dict, target_about: dict, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the generator on tmp_path/meltano.yml (the skeleton unless the test wrote one)."""
    if not (tmp_path / "meltano.yml").exists():
        (tmp_path / "meltano.yml").write_text(SKELETON)
    (tmp_path / "tap.json").write_text(json.dumps(tap_about))
    (tmp_path / "target.json").write_text(json.dumps(target_about))
    return subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--meltano-yml",
            str(tmp_path / "meltano.yml"),
            "--about-json",
            f"tap-jobsync={tmp_path / 'tap.json'}",
            "--about-json",
            f"target-jobsync={tmp_path / 'target.json'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def plugin_entry(meltano_yml: Path, kind: str, name: str) -> dict:
    return next(p for p in yaml.safe_load(meltano_yml.read_text())["plugins"][kind] if p["name"] == name)


def test_generator_renders_each_setting_with_its_meltano_kind_and_secrets_as_sensitive(tmp_path: Path) -> None:
    tap = about_doc(
        start_date={"type": ["string", "null"], "format": "date-time", "description": "Lower bound."},
        jobcase_api_key={"type": ["string", "null"], "secret": True, "writeOnly": True, "description": "Key."},
        max_workers={"type": ["integer", "null"], "default": 4, "description": "Workers."},
        request_timeout={"type": ["number", "null"]},
        dry_run={"type": ["boolean", "null"]},
        stream_maps={"type": ["object", "null"]},
        pcrecruiter_entities={"type": ["array", "null"], "items": {"type": "string"}},
        trackjobchanges_group={"type": ["string", "integer", "null"]},
        load_method={"type": ["string", "null"], "enum": ["append-only", "upsert"]},
    )
    proc = generate(tmp_path, tap, about_doc(workable_api_token={"type": ["string", "null"], "secret": True}))
    assert proc.returncode == 0, proc.stderr

    entry = plugin_entry(tmp_path / "meltano.yml", "extractors", "tap-jobsync")
    assert entry["capabilities"] == ["catalog", "state", "discover", "about", "stream-maps"]
    settings = {s["name"]: s for s in entry["settings"]}
    assert list(settings) == list(tap["settings"]["properties"])  # the plugin's order
    assert {name: s["kind"] for name, s in settings.items()} == {
        "start_date": "date_iso8601",
        "jobcase_api_key": "string",
        "max_workers": "integer",
        "request_timeout": "decimal",
        "dry_run": "boolean",
        "stream_maps": "object",
        "pcrecruiter_entities": "array",
        "trackjobchanges_group": "string",
        "load_method": "options",
    }
    assert [name for name, s in settings.items() if s.get("sensitive")] == ["jobcase_api_key"]
    assert settings["max_workers"]["description"] == "Workers."
    assert settings["max_workers"]["value"] == 4, "the plugin's default, as Meltano's default value"
    assert [name for name, s in settings.items() if "value" in s] == ["max_workers"]
    assert [o["value"] for o in settings["load_method"]["options"]] == ["append-only", "upsert"]
    target = plugin_entry(tmp_path / "meltano.yml", "loaders", "target-jobsync")
    assert target["settings"] == [
        {"name": "workable_api_token", "kind": "string", "label": "Workable API Token", "sensitive": True}
    ]


def test_generator_declares_one_settings_group_per_service(tmp_path: Path) -> None:
    """The plugins publish their groups in `--about` (`x-settings-group-validation`); Meltano's
    settings_group_validation gets them as they are: any one group complete is a valid config."""
    tap = about_doc(jobcase_api_key={"type": ["string", "null"]}, ziprecruiter_api_key={"type": ["string", "null"]})
    tap["settings"]["x-settings-group-validation"] = [["jobcase_api_key"], ["ziprecruiter_api_key"]]
    target = about_doc(workable_api_token={"type": ["string", "null"]})
    target["settings"]["required"] = ["workable_api_token"]
    assert generate(tmp_path, tap, target).returncode == 0
    entry = plugin_entry(tmp_path / "meltano.yml", "extractors", "tap-jobsync")
    assert entry["settings_group_validation"] == [["jobcase_api_key"], ["ziprecruiter_api_key"]]
    target_entry = plugin_entry(tmp_path / "meltano.yml", "loaders", "target-jobsync")
    assert target_entry["settings_group_validation"] == [["workable_api_token"]], "without groups: `required`"


def test_generator_check_fails_when_a_plugin_gained_a_setting_and_leaves_the_file_alone(tmp_path: Path) -> None:
    tap = about_doc(start_date={"type": ["string", "null"], "format": "date-time"})
    target = about_doc()
    assert generate(tmp_path, tap, target).returncode == 0
    assert generate(tmp_path, tap, target, "--check").returncode == 0

    before = (tmp_path / "meltano.yml").read_text()
    tap["settings"]["properties"]["jobcase_page_size"] = {"type": ["integer", "null"]}
    stale = generate(tmp_path, tap, target, "--check")
    assert stale.returncode == 1
    assert "+    - name: jobcase_page_size" in stale.stderr  # the diff shows what changed
    assert "out of date" in stale.stderr
    assert (tmp_path / "meltano.yml").read_text() == before


def test_generator_names_the_plugin_whose_markers_are_missing(tmp_path: Path) -> None:
    (tmp_path / "meltano.yml").write_text(SKELETON.replace("    # <<< end of generated block (target-jobsync)\n", ""))
    proc = generate(tmp_path, about_doc(), about_doc())
    assert proc.returncode == 2
    assert "target-jobsync" in proc.stderr
    assert "# <<< end of generated block (target-jobsync)" in proc.stderr


def test_generator_reads_the_real_plugins_and_marks_every_secret_sensitive(tmp_path: Path) -> None:
    """End to end with `--about --format=json` of tap-jobsync and target-jobsync themselves."""
    shutil.copy(ROOT / "meltano.yml", tmp_path / "meltano.yml")
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--meltano-yml", str(tmp_path / "meltano.yml"), "--python", sys.executable],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for kind, plugin, module in (
        ("extractors", "tap-jobsync", "tap_jobsync.tap"),
        ("loaders", "target-jobsync", "target_jobsync.target"),
    ):
        about = json.loads(
            subprocess.run(
                [sys.executable, "-m", module, "--about", "--format=json"], capture_output=True, text=True, check=True
            ).stdout
        )
        secrets = {name for name, schema in about["settings"]["properties"].items() if schema.get("secret")}
        entry = plugin_entry(tmp_path / "meltano.yml", kind, plugin)
        assert {s["name"] for s in entry["settings"]} == set(about["settings"]["properties"])
        assert {s["name"] for s in entry["settings"] if s.get("sensitive")} == secrets
        assert set(entry["capabilities"]) >= {"about", "stream-maps"}
