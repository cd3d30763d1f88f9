"""Shared fixtures: a sandbox per test module, served on a loopback port."""

from __future__ import annotations

import typing as t

import pytest

from jobsync_sandbox import Sandbox
from jobsync_sandbox import configs
from jobsync_sandbox.client import SandboxClient


@pytest.fixture(scope="module")
def sandbox() -> t.Iterator[Sandbox]:
    """A fresh sandbox (seed 1, default sizes) for the whole test module."""
    box = Sandbox(seed=1).start()
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
