"""The simulators share one world: TrackJobChanges' people are Workable's candidates.

TrackJobChanges tracks the people a recruiter placed or interviewed; the address a
connection started with (``starting_employment.email``) is the one they applied with,
so it finds them in Workable. The demo's write-back pipeline depends on it.
"""

from __future__ import annotations

import requests

from jobsync_sandbox.apis.workable import seeded_person


def _reset(control, seed: int) -> None:
    control.reset(seed=seed)
    # Many lookups in a row: Workable's 10-per-10-seconds limit is tested elsewhere.
    control.api_control("workable", "rate_limit", {"limit": 0})


def _tjc_connections(sandbox, **params) -> list[dict]:
    api = sandbox.apis["trackjobchanges"]
    response = requests.get(
        sandbox.base_urls["trackjobchanges"] + "/connections",
        headers={"key": api.credentials["api_key"]},
        params=params,
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["data"]


def _workable_ids_with_email(sandbox, email: str) -> list[str]:
    api = sandbox.apis["workable"]
    response = requests.get(
        sandbox.base_urls["workable"] + "/candidates",
        headers={"Authorization": f"Bearer {api.credentials['api_token']}"},
        params={"email": email},
        timeout=10,
    )
    response.raise_for_status()
    return [c["id"] for c in response.json()["candidates"]]


def test_every_default_connection_started_with_the_email_of_exactly_one_workable_candidate(control, sandbox):
    _reset(control, 1)
    connections = _tjc_connections(sandbox)
    assert len(connections) == 30
    for connection in connections:
        email = connection["starting_employment"]["email"]
        assert email == seeded_person(1, connection["id"] - 1)["email"]
        assert _workable_ids_with_email(sandbox, email) == [sandbox.apis["workable"].candidate_id(connection["id"] - 1)]
        # The same person: names agree (TrackJobChanges writes them in lower case).
        assert connection["first_name"] == seeded_person(1, connection["id"] - 1)["firstname"].lower()


def test_job_changes_in_the_seeded_data_name_workable_candidates_for_any_seed(control, sandbox):
    for seed in (1, 2, 3):
        _reset(control, seed)
        flagged = _tjc_connections(sandbox, has_new_job="true")
        assert flagged, f"seed {seed} flags no job change: the write-back demo would have nothing to do"
        for connection in flagged:
            assert len(_workable_ids_with_email(sandbox, connection["starting_employment"]["email"])) == 1


def test_a_job_change_keeps_the_starting_email_and_adds_a_current_employment(control, sandbox):
    _reset(control, 1)
    before = _tjc_connections(sandbox)[6]
    changed = control.api_control(
        "trackjobchanges", "job_change", {"connection_id": before["id"], "company": "Hooli", "title": "cto"}
    )
    connection = changed["connection"]
    assert connection["starting_employment"]["email"] == before["starting_employment"]["email"]
    assert connection["has_new_job"] is True
    assert connection["current_employment"]["company"] == "Hooli" and connection["current_employment"]["title"] == "cto"


def test_employment_history_starts_with_the_application_email(control, sandbox):
    _reset(control, 1)
    api = sandbox.apis["trackjobchanges"]
    response = requests.get(
        sandbox.base_urls["trackjobchanges"] + "/connections/4/employments",
        headers={"key": api.credentials["api_key"]},
        timeout=10,
    )
    rows = response.json()["data"]
    assert rows[0]["email"] == seeded_person(1, 3)["email"]
    assert all(row["email"] != rows[0]["email"] for row in rows[1:])  # later jobs: work addresses
