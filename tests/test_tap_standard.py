"""singer-sdk's standard tap test suite, run against the sandbox (every service configured).

The suite syncs every stream once (in-process, over loopback HTTP) and checks the
tap's CLI, discovery, the final state, that every stream returns records matching
its catalog schema, primary keys, and the declared types of each attribute.
"""

from __future__ import annotations

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from jobsync_sandbox import Sandbox, configs
from tap_jobsync.tap import TapJobSync

# The class-level runner needs its config when the module is imported, so this module
# starts its own sandbox here and stops it when the module's tests are done.
SANDBOX = Sandbox(seed=7).start()
CONFIG = configs.tap_config(SANDBOX.base_urls, {name: api.credentials for name, api in SANDBOX.apis.items()})


@pytest.fixture(scope="module", autouse=True)
def _stop_sandbox():
    yield
    SANDBOX.stop()


TestTapJobSyncStandard = get_tap_test_class(
    TapJobSync,
    config=CONFIG,
    suite_config=SuiteConfig(ignore_no_records_for_streams=[]),
)
