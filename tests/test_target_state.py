"""What target-jobsync prints as STATE: only what the destinations accepted, and never an empty state.

Meltano stores the last STATE a target prints as the pipeline's bookmarks: an empty ``{}``
would wipe them, and the next run would extract everything again (or, for a write-back,
write everything again). So the target prints no STATE when its input has none, and never
relays an empty one, even when the tap's last STATE is ``{}``.
"""

from __future__ import annotations

import json

import pytest
from support import record_message, run_target, schema_message, state_message

from jobsync_sandbox import configs

SUBSCRIBERS = "ziprecruiter_subscribers"


@pytest.fixture
def target_config(sandbox, credentials) -> dict:
    sandbox.reset(sizes={"ziprecruiter": {"subscribers": 2, "batches": 0}})
    return configs.target_config(sandbox.base_urls, credentials)


def seeker(i: int) -> dict:
    return record_message(SUBSCRIBERS, {"email": f"state{i}@example.com", "search": "Nurse", "location": "Austin, TX"})


def printed_lines(run) -> list[str]:
    return [line for line in run.stdout.splitlines() if line.strip()]


def test_input_without_any_state_prints_no_state(target_config):
    run = run_target(target_config, [schema_message(SUBSCRIBERS, {}, ["email"]), seeker(1), seeker(2)]).check()
    assert printed_lines(run) == []


def test_an_empty_last_state_is_not_relayed(target_config):
    first = {"bookmarks": {SUBSCRIBERS: {"n": 1}}}
    run = run_target(
        target_config,
        [schema_message(SUBSCRIBERS, {}, ["email"]), seeker(3), state_message(first), seeker(4), state_message({})],
    ).check()
    assert [json.loads(line) for line in printed_lines(run)] == [first]
    assert "{}" not in printed_lines(run)


@pytest.mark.parametrize("empty", [{}, {"bookmarks": {}}, {"bookmarks": {SUBSCRIBERS: {}}}])
def test_a_state_without_any_bookmark_is_never_printed(target_config, empty):
    run = run_target(
        target_config, [schema_message(SUBSCRIBERS, {}, ["email"]), seeker(5), state_message(empty)]
    ).check()
    assert printed_lines(run) == []
