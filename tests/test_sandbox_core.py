"""The sandbox's shared machinery: routing, control endpoints, faults, request log, clock."""

from __future__ import annotations

import requests


def test_health_lists_one_base_url_per_api(control, sandbox):
    health = control.health()
    assert set(health["base_urls"]) == {"trackjobchanges", "pcrecruiter", "ziprecruiter", "jobcase", "workable"}
    for url in health["base_urls"].values():
        assert url.startswith("http://127.0.0.1:")


def test_unknown_path_is_404(sandbox):
    response = requests.get(f"{sandbox.url}/nowhere", timeout=5)
    assert response.status_code == 404


def test_clock_advances(control):
    before = control.now()
    after = control.advance_clock(86400)
    assert after > before


def test_fault_rules_are_listed_and_cleared(control):
    control.add_fault(api="jobcase", status=503, count=2)
    assert len(control.faults()) == 1
    control.clear_faults()
    assert control.faults() == []
