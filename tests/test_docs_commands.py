"""Docs that cannot rot: every `bash` block of the README and docs/meltano.md runs as written.

The blocks run in a fresh copy of the project (the files git knows, the three virtual
environments linked rather than reinstalled, no `.meltano/`, no `.sandbox/`, no `output/`), one
`bash` process per block, in the order a reader meets them, with none of the caller's MELTANO_*,
TAP_*, TARGET_*, JOBSYNC_* or PG* variables -- as a new user would run them. A block that fails,
or leaves a process it started running, fails its test. What each block must show is checked
too: the README's Meltano block loads the sandbox and lists its state id, the connection tests
print an `ok` line per service, the mapper pipeline's files hold MD5 emails and no names.

README command 2 (`bash scripts/test.sh`) is this test suite: CI runs it (`.ci/run`); command 1
(the demo) is docs/meltano.md's first block.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import typing as t
from pathlib import Path

import pytest
from meltano_support import DAGSTER, ROOT, clean_environ, needs_meltano, require

pytestmark = pytest.mark.meltano

DOCS = ("README.md", "docs/meltano.md")
LINKED = (".venv", ".venv-meltano", ".venv-dagster")
BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def bash_blocks(doc: str) -> list[tuple[int, str]]:
    """(line number, text) of every ```bash block of a document."""
    text = (ROOT / doc).read_text()
    return [(text[: m.start()].count("\n") + 1, m.group(1)) for m in BLOCK.finditer(text)]


#: Every block but the README's first: its two set-up commands are checked on their own below.
BLOCKS = [(doc, line, text) for doc in DOCS for line, text in bash_blocks(doc)][1:]


@pytest.fixture(scope="module")
def copy() -> t.Iterator[Path]:
    """A fresh copy of the project; the virtual environments are links to this checkout's."""
    needs_meltano()
    require(DAGSTER, "bash scripts/install-dagster.sh")
    # Under /tmp itself, readable by all: scripts/postgres.sh runs its server as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="jobsync-docs-"))
    root.chmod(0o755)
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file() and not any(name.startswith(f"{linked}/") for linked in LINKED):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    for linked in LINKED:
        (root / linked).symlink_to(ROOT / linked)
    yield root
    subprocess.run(
        ["bash", "scripts/sandbox.sh", "stop"], cwd=root, env=clean_environ(), capture_output=True, check=False
    )
    shutil.rmtree(root, ignore_errors=True)


def run_block(copy: Path, text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", text], cwd=copy, env=clean_environ(), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def sandbox_left_running(copy: Path) -> bool:
    pid = copy / ".sandbox" / "pid"
    if not pid.exists():
        return False
    try:
        os.kill(int(pid.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def test_the_readme_starts_with_the_two_setup_commands_each_run_somewhere():
    """Command 2 is this suite (CI runs it through .ci/run); command 1, the demo, runs as the
    first block of docs/meltano.md."""
    assert bash_blocks("README.md")[0][1].splitlines() == [
        "bash scripts/demo.sh    # 1. install, start the sandbox, run the Meltano pipelines, show what landed",
        "bash scripts/test.sh    # 2. install and run the tests",
    ]
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    demo = bash_blocks("docs/meltano.md")[0][1]
    assert [line.split("#")[0].strip() for line in demo.splitlines()] == ["bash scripts/demo.sh"]


@pytest.mark.parametrize(("doc", "line", "text"), BLOCKS, ids=[f"{doc}:{line}" for doc, line, _ in BLOCKS])
def test_command_block_runs_as_written(copy: Path, doc: str, line: int, text: str):
    proc = run_block(copy, text)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{doc}:{line} exited {proc.returncode}:\n{text}\n--- output ---\n{output[-6000:]}"
    assert not sandbox_left_running(copy), f"{doc}:{line} left the sandbox running"
    for marker, check in CHECKS:
        if marker in text:
            check(copy, output)


# -- what particular blocks must show -------------------------------------------------------------------------


def shows_the_sandbox_loaded(copy: Path, output: str) -> None:
    assert "sandbox:tap-jobsync-to-target-duckdb" in output  # `meltano state list`
    assert (copy / "output" / "sandbox.duckdb").exists()


def shows_every_connection_ok(copy: Path, output: str) -> None:
    for service in ("TrackJobChanges", "PCRecruiter", "ZipRecruiter", "Jobcase", "Workable"):
        assert re.search(rf"^{service}: ok \(GET /", output, re.MULTILINE), service
    assert "Plugin configuration is valid" in output


def shows_pseudonymized_candidates(copy: Path, output: str) -> None:
    (path,) = (copy / "output" / "sandbox-jsonl").glob("pcrecruiter_candidates*.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records and all(re.fullmatch(r"[0-9a-f]{32}", r["EmailAddress"]) for r in records if r.get("EmailAddress"))
    assert not any({"FirstName", "LastName", "MobilePhone"} & set(r) for r in records)


def shows_tap_records(copy: Path, output: str) -> None:
    lines = (copy / "output" / "pcrecruiter.jsonl").read_text().splitlines()
    assert any(json.loads(line)["type"] == "RECORD" for line in lines)


def shows_the_demo_without_duplicates(copy: Path, output: str) -> None:
    assert "Duplicates in the destinations: none" in output
    assert (copy / "output" / "sandbox.duckdb").exists()


def shows_jobcase_state(copy: Path, output: str) -> None:
    state = json.loads(next(line for line in output.splitlines() if line.startswith('{"singer_state"')))
    assert set(state["singer_state"]["bookmarks"]) == {
        "jobcase_companies", "jobcase_jobs", "jobcase_campaigns", "jobcase_products", "jobcase_campaign_cost_data"
    }  # fmt: skip


#: A block containing the marker must show what the check looks for.
CHECKS: list[tuple[str, t.Callable[[Path, str], None]]] = [
    ("bash scripts/demo.sh", shows_the_demo_without_duplicates),
    ("state get sandbox:tap-jobsync--jobcase-to-target-jsonl", shows_jobcase_state),
    ("--environment=sandbox state list", shows_the_sandbox_loaded),
    ("tap-jobsync --config .sandbox/tap.json --test", shows_every_connection_ok),
    ("pseudonymize-candidates target-jsonl", shows_pseudonymized_candidates),
    ("> output/pcrecruiter.jsonl", shows_tap_records),
]
