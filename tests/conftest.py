"""Shared fixtures: a sandbox per test module, served on a loopback port."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import typing as t
from pathlib import Path

import pytest

from jobsync_sandbox import Sandbox, configs
from jobsync_sandbox.client import SandboxClient
from jobsync_sandbox.core import parse_reading_assignments

ROOT = Path(__file__).resolve().parent.parent
#: Under CI nothing may be skipped for want of an install (.ci/run sets CI=true).
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
#: Run the tests against other readings of the API documents, e.g.
#: JOBSYNC_SANDBOX_READINGS="pcrecruiter.commit_command=END jobcase.trailing_slash=optional" (the `sandbox`
#: fixture plays them; `jobsync-sandbox readings` lists them all). Empty: every default.
READINGS = parse_reading_assignments(os.environ.get("JOBSYNC_SANDBOX_READINGS", "").split())


@pytest.fixture(scope="module")
def sandbox() -> t.Iterator[Sandbox]:
    """A fresh sandbox (seed 1, default sizes) for the whole test module."""
    box = Sandbox(seed=1, readings=READINGS).start()
    yield box
    box.stop()


@pytest.fixture
def control(sandbox: Sandbox) -> SandboxClient:
    """The sandbox's /_control endpoints over HTTP."""
    return SandboxClient(sandbox.url)


@pytest.fixture
def credentials(sandbox: Sandbox) -> dict[str, dict[str, t.Any]]:
    return {name: api.credentials for name, api in sandbox.apis.items()}


@pytest.fixture
def tap_config(sandbox: Sandbox, credentials: dict) -> dict[str, t.Any]:
    """Tap config with every service pointed at the sandbox."""
    return configs.tap_config(sandbox.base_urls, credentials)


@pytest.fixture
def target_config(sandbox: Sandbox, credentials: dict) -> dict[str, t.Any]:
    """Target config with every destination pointed at the sandbox."""
    return configs.target_config(sandbox.base_urls, credentials)


@pytest.fixture(scope="session")
def postgres() -> t.Iterator[dict[str, str]]:
    """A PostgreSQL server started by scripts/postgres.sh for the session; its connection settings
    (``PG*`` for libpq, ``TARGET_POSTGRES_*`` for the loader)."""
    # Under /tmp itself (not pytest's 0700 tree): the server runs as `postgres` when we are root.
    directory = tempfile.mkdtemp(prefix="jobsync-pg-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TARGET_", "JOBSYNC_", "MELTANO_"))}
    env["JOBSYNC_PG_DIR"] = directory
    script = ["bash", str(ROOT / "scripts" / "postgres.sh")]
    proc = subprocess.run([*script, "start"], capture_output=True, text=True, env=env, timeout=900, check=False)
    if proc.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        reason = f"scripts/postgres.sh could not start PostgreSQL: {last}"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    settings = {}
    for line in proc.stdout.splitlines():
        for word in shlex.split(line)[1:]:
            name, _, value = word.partition("=")
            settings[name] = value
    try:
        yield settings
    finally:
        subprocess.run([*script, "stop"], capture_output=True, env=env, timeout=120, check=False)
        shutil.rmtree(directory, ignore_errors=True)
