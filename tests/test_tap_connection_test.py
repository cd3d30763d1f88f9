"""`tap-jobsync --test`: one cheap authenticated call per configured service, one line each.

Every run is the real CLI against this module's sandbox. A good credential gives `ok`; a wrong one
gives `FAILED` naming the setting to fix, and the run exits 1, whatever the other services did
(the check of one service never stops the others). On success nothing on stderr says ERROR
and stdout holds only the lines (no Singer message). With `preflight_connection_test` the
same check runs before a sync, so a wrong credential stops it before the first record.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest
from support import discover, run_tap, select_streams

from jobsync_sandbox import configs

ROOT = Path(__file__).resolve().parent.parent

SERVICES = ("TrackJobChanges", "PCRecruiter", "ZipRecruiter", "Jobcase")

#: Per service: the setting given a wrong value, and the setting the failure line must name.
WRONG_CREDENTIALS = {
    "TrackJobChanges": ("trackjobchanges_api_key", "trackjobchanges_api_key"),
    "PCRecruiter": ("pcrecruiter_password", "pcrecruiter_password"),
    "ZipRecruiter": ("ziprecruiter_api_key", "ziprecruiter_api_key"),
    "Jobcase": ("jobcase_api_key", "jobcase_api_key"),
}


def lines(run) -> dict[str, str]:
    """The per-service lines of a `--test` run, by service."""
    return {line.split(":", 1)[0]: line for line in run.stdout.splitlines() if line.strip()}


def test_every_configured_service_answers_one_authenticated_call(tap_config, control):
    """Four `ok` lines, exit 0, and exactly one read per service (PCRecruiter: its login, then one row
    with the session token: the sandbox answers 401 to a data call without it)."""
    control.clear_requests()
    run = run_tap(tap_config, args=["--test"])
    assert run.returncode == 0, run.stderr[-3000:]
    by_service = lines(run)
    assert list(by_service) == list(SERVICES)
    assert all(line.startswith(f"{service}: ok (GET /") for service, line in by_service.items())
    assert "ERROR" not in run.stderr and "Traceback" not in run.stderr
    assert run.messages == [], "a connection test emits no Singer message"

    log = control.requests()["entries"]
    assert sorted((e["api"], e["method"], e["path"].rstrip("/"), e["status"]) for e in log) == sorted(
        [
            ("trackjobchanges", "GET", "/account", 200),
            ("pcrecruiter", "GET", "/access-token", 200),
            ("pcrecruiter", "GET", "/candidates", 200),
            ("ziprecruiter", "GET", "/subscriber", 200),
            ("jobcase", "GET", "/company", 200),
        ]
    )
    pcr_read = next(e for e in log if e["path"] == "/candidates")
    assert pcr_read["query"]["ResultsPerPage"] == "1"


@pytest.mark.parametrize("service", SERVICES)
def test_a_wrong_credential_fails_that_service_naming_its_setting(tap_config, service):
    """One wrong credential: that service's line says FAILED with the setting to fix, every other
    service is still checked and ok, and the run exits 1 with one line saying which failed."""
    wrong, named = WRONG_CREDENTIALS[service]
    run = run_tap(tap_config | {wrong: "wrong-value"}, args=["--test"])
    assert run.returncode == 1
    by_service = lines(run)
    assert by_service[service].startswith(f"{service}: FAILED: authentication failed with HTTP")
    assert f"`{named}`" in by_service[service]
    assert all(by_service[other].startswith(f"{other}: ok") for other in SERVICES if other != service)
    assert f"tap-jobsync: error: connection test failed for {service} " in run.stderr
    assert "wrong-value" not in run.stdout + run.stderr, "a secret in output"
    assert "Traceback" not in run.stderr


def test_an_unreachable_base_url_names_the_base_url_setting(tap_config):
    run = run_tap(tap_config | {"jobcase_base_url": "http://127.0.0.1:9/api"}, args=["--test"])
    assert run.returncode == 1
    line = lines(run)["Jobcase"]
    assert line.startswith("Jobcase: FAILED:") and "check the setting `jobcase_base_url`" in line


def test_unconfigured_services_are_skipped_and_a_catalog_limits_the_check_to_its_services(
    tap_config, sandbox, credentials
):
    """A service without credentials is `skipped`, not a failure; with a catalog only the services
    with a selected stream are called (a Jobcase-only pipeline does not need PCRecruiter to answer)."""
    only_jobcase = configs.tap_config(sandbox.base_urls, credentials, services=("jobcase", "pcrecruiter"))
    run = run_tap(only_jobcase | {"pcrecruiter_password": "wrong"}, args=["--test"])
    by_service = lines(run)
    assert by_service["TrackJobChanges"] == "TrackJobChanges: skipped (not configured: set `trackjobchanges_api_key`)"
    assert by_service["PCRecruiter"].startswith("PCRecruiter: FAILED")
    assert run.returncode == 1

    catalog = json.loads((ROOT / "catalogs" / "jobcase.json").read_text())
    run = run_tap(only_jobcase | {"pcrecruiter_password": "wrong"}, catalog=catalog, args=["--test"])
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    by_service = lines(run)
    assert by_service["Jobcase"].startswith("Jobcase: ok")
    assert by_service["PCRecruiter"] == "PCRecruiter: skipped (no selected stream)"


def test_no_configured_service_fails_listing_what_to_set():
    run = run_tap({}, args=["--test"])
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith("tap-jobsync: error: No service is configured.")


def test_test_schema_is_still_the_sdks(tap_config):
    """`--test=schema` keeps singer-sdk's meaning: the SCHEMA messages, no call."""
    run = run_tap(tap_config, args=["--test=schema"])
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.messages and {m["type"] for m in run.messages} == {"SCHEMA"}


# -- preflight_connection_test --------------------------------------------------------------------------------


def _small_catalog(tap_config) -> dict[str, t.Any]:
    return select_streams(discover(tap_config), ["jobcase_companies", "pcrecruiter_companies"])


def test_preflight_stops_a_sync_with_a_wrong_credential_before_any_record(tap_config):
    """Jobcase would sync first; with a wrong PCRecruiter password the preflight fails the run first,
    so nothing of Jobcase is emitted (and `meltano config test` sees the failure)."""
    catalog = _small_catalog(tap_config)
    config = tap_config | {"pcrecruiter_password": "wrong", "preflight_connection_test": True}
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 1
    assert run.of_type("RECORD") == [] and run.of_type("SCHEMA") == []
    assert "PCRecruiter: FAILED: authentication failed" in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-jobsync: error: preflight_connection_test: PCRecruiter: FAILED: authentication")
    assert "`pcrecruiter_password`" in last, "the last line alone names the setting to fix"

    run = run_tap(tap_config | {"pcrecruiter_password": "wrong"}, catalog=catalog)
    assert run.returncode == 1 and run.records("jobcase_companies"), "without preflight Jobcase lands first"


def test_preflight_passes_and_the_sync_reuses_the_pcrecruiter_session(tap_config, control):
    catalog = _small_catalog(tap_config)
    control.clear_requests()
    run = run_tap(tap_config | {"preflight_connection_test": True}, catalog=catalog).check()
    assert run.records("jobcase_companies") and run.records("pcrecruiter_companies")
    assert "Connection test: Jobcase: ok" in run.stderr and "ERROR" not in run.stderr
    assert control.requests(api="pcrecruiter")["counts"]["pcrecruiter GET /access-token"] == 1
