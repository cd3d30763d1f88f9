"""singer-sdk's standard target tests, where they apply to a write-back target.

Most of the SDK's sample streams (camelcase, arrays, special characters...) are
table-shaped data for warehouse loaders: they map to no destination object here,
so they are not part of this suite. What applies: the CLI prints, records before
their schema and records without their key property fail, an invalid schema fails.

The SDK's own multiple-STATE test is known broken upstream (it compares parsed
states with strings and is left out of the SDK's default suite); the test at the
end of this module checks the stricter behaviour we promise with the same sample
file: every distinct STATE is relayed, in order, once the records before it are
handled (here they are rejected by the sink's input schema into the dead-letter
file, which counts as handled).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_test_streams import __file__ as samples_init
from singer_sdk.testing.target_tests import (
    TargetCliPrintsTest,
    TargetInvalidSchemaTest,
    TargetRecordBeforeSchemaTest,
    TargetRecordMissingKeyProperty,
)
from support import run_target

from jobsync_sandbox import Sandbox, configs
from target_jobsync.target import TargetJobSync

SANDBOX = Sandbox(seed=7).start()
DEAD_LETTERS = Path(tempfile.mkdtemp()) / "dead.jsonl"
SAMPLE_STREAMS = (
    "test_multiple_state_messages_a",
    "test_multiple_state_messages_b",
    "test_record_missing_key_property",
    "test_record_before_schema",
    "test_invalid_schema",
)
CONFIG = configs.target_config(
    SANDBOX.base_urls,
    {name: api.credentials for name, api in SANDBOX.apis.items()},
    stream_routes=dict.fromkeys(SAMPLE_STREAMS, "jobcase_companies"),
    dead_letter_path=str(DEAD_LETTERS),
)


@pytest.fixture(scope="module", autouse=True)
def _stop_sandbox():
    yield
    SANDBOX.stop()


TestTargetJobSyncStandard = get_target_test_class(
    TargetJobSync,
    config=CONFIG,
    include_target_tests=False,
    custom_suites=[
        SingerTestSuite(
            kind="target",
            tests=[
                TargetCliPrintsTest,
                TargetRecordBeforeSchemaTest,
                TargetRecordMissingKeyProperty,
                TargetInvalidSchemaTest,
            ],
        )
    ],
)


def test_every_state_checkpoint_is_relayed_in_order_after_its_records():
    sample = Path(samples_init).parent / "multiple_state_messages.singer"
    lines = sample.read_text().splitlines()
    sent = [json.loads(line)["value"] for line in lines if '"STATE"' in line]
    run = run_target(CONFIG, lines).check()
    relayed = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert relayed == sent
    assert len(DEAD_LETTERS.read_text().splitlines()) >= 12
