"""The simulated TrackJobChanges API v1 behaves as its document describes (over real HTTP)."""

from __future__ import annotations

import typing as t

import pytest
import requests

API = "trackjobchanges"
KEY = "sandbox-tjc-key"


class TJC:
    """A client of the simulated API that sends the key the way each test asks."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def call(self, method: str, path: str, *, key: str | None = KEY, in_query: bool = False, **kwargs: t.Any):
        params = dict(kwargs.pop("params", {}) or {})
        headers = dict(kwargs.pop("headers", {}) or {})
        if key is not None:
            if in_query:
                params["key"] = key
            else:
                headers["key"] = key
        return self.session.request(method, self.base_url + path, params=params, headers=headers, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: t.Any) -> dict:
        response = self.call("GET", path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def all_pages(self, path: str, params: dict | None = None) -> list[dict]:
        rows, page = [], 1
        while True:
            body = self.get(path, params={**(params or {}), "page": page})
            rows += body["data"]
            if body["last_page"]:
                return rows
            page += 1

    def calls_in_history(self) -> list[dict]:
        """The ping history without the pings of reading it."""
        return [p for p in self.all_pages("/account/pings") if p["endpoint"] != "pings#index"]


@pytest.fixture
def tjc(sandbox, control) -> TJC:
    """Fresh seeded data: 12 connections over 2 groups, 3 employments each, pages of 5."""
    control.reset(
        sizes={API: {"connections": 12, "employments_per_connection": 3, "groups": 2, "pings": 4, "page_size": 5}}
    )
    return TJC(sandbox.base_urls[API])


def store(control) -> dict:
    return control.store(API)


# -- authentication ---------------------------------------------------------------------------


def test_key_is_accepted_as_a_header_or_as_a_query_parameter(tjc):
    assert tjc.call("GET", "/account").status_code == 200
    assert tjc.call("GET", "/account", in_query=True).status_code == 200


@pytest.mark.parametrize(
    ("key", "in_query"),
    [(None, False), ("wrong-key", False), ("wrong-key", True)],
    ids=["missing", "wrong-header", "wrong-query"],
)
def test_missing_or_wrong_key_is_401_with_a_json_error_body(tjc, key, in_query):
    response = tjc.call("GET", "/connections", key=key, in_query=in_query)
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "ERROR"
    assert body["message"]


def test_a_wrong_key_in_the_query_string_wins_over_a_right_header(tjc):
    response = tjc.call("GET", "/account", params={"key": "wrong"}, headers={"key": KEY}, key=None)
    assert response.status_code == 401


# -- pagination ---------------------------------------------------------------------------------


def test_connections_are_paginated_with_page_last_page_and_total_count(tjc):
    pages = [tjc.get("/connections", params={"page": n}) for n in (1, 2, 3)]
    assert [len(p["data"]) for p in pages] == [5, 5, 2]
    assert [p["last_page"] for p in pages] == [False, False, True]
    assert {p["total_count"] for p in pages} == {12}
    assert all(p["status"] == "SUCCESS" and p["message"] == "Loaded all connections." for p in pages)
    ids = [c["id"] for p in pages for c in p["data"]]
    assert ids == sorted(ids) and len(set(ids)) == 12


def test_page_defaults_to_one_and_past_the_end_is_empty_and_last(tjc):
    assert tjc.get("/connections")["data"] == tjc.get("/connections", params={"page": 1})["data"]
    past = tjc.get("/connections", params={"page": 9})
    assert past["data"] == [] and past["last_page"] is True


@pytest.mark.parametrize("page", ["0", "-1", "two"])
def test_a_page_that_is_not_a_positive_integer_is_400(tjc, page):
    response = tjc.call("GET", "/connections", params={"page": page})
    assert response.status_code == 400
    assert response.json()["status"] == "ERROR"


def test_seeded_data_is_deterministic_and_large_stores_are_generated_lazily(tjc, control):
    first = tjc.get("/connections")["data"]
    control.reset(sizes={API: {"connections": 12, "page_size": 5}})
    assert tjc.get("/connections")["data"] == first
    control.reset(sizes={API: {"connections": 1_000_000}})
    body = tjc.get("/connections", params={"page": 10_000})
    assert body["total_count"] == 1_000_000 and body["last_page"] is True
    assert [c["id"] for c in body["data"]] == list(range(999_901, 1_000_001))
    dumped = store(control)
    # Bounded dump: counts and overrides, not a million records.
    assert dumped["counts"]["connections"] == 1_000_000
    assert "connections" not in dumped and "overrides" in dumped


# -- connections -------------------------------------------------------------------------------------


def test_list_items_and_the_single_connection_share_one_shape(tjc):
    listed = tjc.get("/connections")["data"][0]
    single = tjc.get(f"/connections/{listed['id']}")
    assert single["message"] == "Loaded connection."
    assert single["data"] == listed
    for field in ("employment_checked_at", "new_job_flagged_at", "has_new_title", "has_new_job", "in_eu"):
        assert field in listed
    for field in ("email", "title", "company", "domain", "started_at", "ended_at", "current", "email_confidence"):
        assert field in listed["starting_employment"] and field in listed["current_employment"]
    assert listed["current_employment"]["current"] is True


def test_unknown_connection_is_404(tjc):
    response = tjc.call("GET", "/connections/999999")
    assert response.status_code == 404
    assert response.json()["status"] == "ERROR"


def test_has_new_job_true_lists_only_flagged_connections(tjc, control):
    flagged = tjc.all_pages("/connections", {"has_new_job": "true"})
    expected = [c["id"] for c in store(control)["connections"] if c["has_new_job"] is True]
    assert [c["id"] for c in flagged] == expected
    assert expected, "seeded data should flag some connections"
    assert tjc.get("/connections", params={"has_new_job": "true"})["total_count"] == len(expected)


def test_search_matches_names_emails_companies_and_titles_and_needs_a_query(tjc, control):
    assert tjc.call("GET", "/connections/search").status_code == 400
    target = store(control)["connections"][3]
    for query in (target["last_name"], target["current_employment"]["email"].upper()):
        found = tjc.all_pages("/connections/search", {"query": query})
        assert target["id"] in [c["id"] for c in found]
    body = tjc.get("/connections/search", params={"query": "no-such-person-anywhere"})
    assert body["data"] == [] and body["total_count"] == 0 and body["message"] == "Searched your connections."


@pytest.mark.parametrize(
    "params",
    [
        {"linkedin_url": "https://www.linkedin.com/in/new"},
        {"first_name": "ryan", "last_name": "buckley", "email": "ryan@toofr.com"},
        {"first_name": "ryan", "last_name": "buckley", "company": "toofr"},
    ],
    ids=["linkedin-alone", "names-and-email", "names-and-company"],
)
def test_creating_a_connection_needs_the_documented_minimum(tjc, params):
    before = tjc.get("/connections")["total_count"]
    response = tjc.call("POST", "/connections", params=params)
    assert response.status_code == 200, response.text
    created = response.json()["data"]
    assert created["has_new_job"] is None and created["employment_checked_at"] is None
    assert tjc.get(f"/connections/{created['id']}")["data"]["id"] == created["id"]
    assert tjc.get("/connections")["total_count"] == before + 1


@pytest.mark.parametrize(
    "params",
    [
        {"email": "ryan@toofr.llc"},
        {"first_name": "ryan", "last_name": "buckley"},
        {"first_name": "ryan", "company": "x"},
    ],
    ids=["email-alone", "names-alone", "one-name"],
)
def test_creating_with_less_than_the_minimum_is_400(tjc, params):
    response = tjc.call("POST", "/connections", params=params)
    assert response.status_code == 400
    assert response.json()["status"] == "ERROR"


def test_created_connection_joins_the_requested_group_or_the_first_one(tjc, control):
    groups = store(control)["groups"]
    data = {"first_name": "a", "last_name": "b", "company": "c"}
    in_second = tjc.call("POST", "/connections", params={**data, "group": groups[1]}).json()["data"]["id"]
    in_default = tjc.call("POST", "/connections", data=data).json()["data"]["id"]  # form body works too
    dumped = store(control)
    assert dumped["connection_groups"][str(in_second)] == groups[1]
    assert dumped["connection_groups"][str(in_default)] == groups[0]


def test_persist_false_answers_but_keeps_nothing(tjc):
    before = tjc.get("/connections")["total_count"]
    response = tjc.call("POST", "/connections", params={"linkedin_url": "https://l.example/x", "persist": "false"})
    assert response.status_code == 200
    assert tjc.get("/connections")["total_count"] == before


def test_harvest_needs_company_and_term_and_is_queued(tjc, control):
    assert tjc.call("POST", "/connections/harvest", params={"company": "salesforce"}).status_code == 400
    response = tjc.call("POST", "/connections/harvest", params={"company": "salesforce", "term": "engineering"})
    assert response.json() == {"status": "SUCCESS", "message": "Harvester job is queued."}
    assert store(control)["harvests"][-1]["company"] == "salesforce"


def test_unflag_clears_has_new_job_and_unflag_title_clears_has_new_title(tjc):
    cid = tjc.get("/connections", params={"has_new_job": "true"})["data"][0]["id"]
    assert tjc.call("POST", f"/connections/{cid}/unflag").json()["message"] == "Unflagged the connection."
    assert tjc.get(f"/connections/{cid}")["data"]["has_new_job"] is False
    response = tjc.call("POST", f"/connections/{cid}/unflag_title")
    assert response.json()["message"] == "Unflagged the connection title change."
    assert tjc.get(f"/connections/{cid}")["data"]["has_new_title"] is False
    assert tjc.call("POST", "/connections/999999/unflag").status_code == 404


def test_destroy_deletes_one_connection_and_shifts_later_pages(tjc):
    second_page_first = tjc.get("/connections", params={"page": 2})["data"][0]["id"]
    response = tjc.call("DELETE", "/connections/1")
    assert response.json() == {"status": "SUCCESS", "message": "Destroyed the connection."}
    assert tjc.call("GET", "/connections/1").status_code == 404
    assert tjc.get("/connections")["total_count"] == 11
    # Pages are positional: the deletion moved the old page-2 head onto page 1.
    assert tjc.get("/connections", params={"page": 1})["data"][-1]["id"] == second_page_first
    assert tjc.call("DELETE", "/connections/1").status_code == 404


def test_destroy_all_is_a_get_and_honours_group(tjc, control):
    groups = store(control)["groups"]
    assert tjc.get("/connections/destroy_all", params={"group": groups[0]})["message"] == "Destroyed all connections."
    left = tjc.all_pages("/connections")
    assert left and {store(control)["connection_groups"][str(c["id"])] for c in left} == {groups[1]}
    tjc.get("/connections/destroy_all")
    assert tjc.get("/connections")["total_count"] == 0
    assert tjc.get("/account")["data"]["connections_count"] == 0


# -- groups ---------------------------------------------------------------------------------------


def test_group_parameter_filters_connections_and_account_counts(tjc, control):
    dumped = store(control)
    for group in dumped["groups"]:
        expected = [int(cid) for cid, g in dumped["connection_groups"].items() if g == group]
        assert [c["id"] for c in tjc.all_pages("/connections", {"group": group})] == expected
        assert tjc.get("/account", params={"group": group})["data"]["connections_count"] == len(expected)
    assert len(tjc.all_pages("/connections")) == 12  # no group: every group


def test_unknown_group_is_404(tjc):
    response = tjc.call("GET", "/connections", params={"group": "999"})
    assert response.status_code == 404
    assert response.json()["status"] == "ERROR"


# -- employments -------------------------------------------------------------------------------------


def test_employments_of_a_connection_carry_its_id_and_end_with_the_current_job(tjc):
    connection = tjc.get("/connections/4")["data"]
    body = tjc.get("/connections/4/employments")
    assert body["message"] == "Loaded all employments." and body["total_count"] == 3 and body["last_page"] is True
    rows = body["data"]
    assert {r["connection_id"] for r in rows} == {4}
    assert [r["current"] for r in rows] == [False, False, True]
    assert rows[-1]["company"] == connection["current_employment"]["company"]
    assert rows[0]["company"] == connection["starting_employment"]["company"]
    assert tjc.call("GET", "/connections/999999/employments").status_code == 404


# -- account and ping history ----------------------------------------------------------------------------


def test_account_reports_email_and_connections_count(tjc):
    body = tjc.get("/account")
    assert body["message"] == "Loaded user data"
    assert body["data"]["connections_count"] == 12 and "@" in body["data"]["email"]


def test_every_call_is_recorded_in_the_ping_history_with_rails_style_params(tjc):
    tjc.get("/connections/search", params={"query": "ryan@scripted.com"}, in_query=True)
    history = tjc.all_pages("/account/pings")
    # Reading the history is a call too: its own ping is already on the last page.
    assert history[-1]["endpoint"] == "pings#index"
    search = tjc.calls_in_history()[-1]
    assert search["endpoint"] == "connections#search"
    assert search["query_params"] == {
        "key": KEY,  # a key sent in the query string comes back in the history
        "query": "ryan@scripted.com",
        "action": "search",
        "format": "json",
        "controller": "api/v1/connections",
    }
    assert search["created_at"].endswith("Z")


def test_a_key_sent_as_a_header_is_not_in_the_ping_history(tjc):
    tjc.get("/connections/7/employments")
    employments_ping = tjc.calls_in_history()[-1]
    assert employments_ping["endpoint"] == "employments#index"
    assert employments_ping["query_params"] == {
        "connection_id": "7",
        "action": "index",
        "format": "json",
        "controller": "api/v1/employments",
    }


def test_ping_history_is_oldest_first_and_appended_without_total_count(tjc):
    before = tjc.get("/account/pings")
    assert "total_count" not in before and before["message"] == "Loaded pings"
    for _ in range(6):
        tjc.get("/account")
    pings = tjc.all_pages("/account/pings")
    stamps = [p["created_at"] for p in pings]
    assert stamps == sorted(stamps)
    assert pings[: len(before["data"])] == before["data"]  # earlier pages do not move


def test_rejected_calls_are_recorded_but_unauthenticated_ones_are_not(tjc):
    tjc.call("POST", "/connections", params={"email": "x@y.z"})  # 400, still a call to the API
    tjc.call("GET", "/connections", key="wrong")
    last = tjc.calls_in_history()[-1]
    assert last["endpoint"] == "connections#create"
    assert last["query_params"]["email"] == "x@y.z"


def test_ping_search_matches_endpoint_and_params_and_needs_a_query(tjc):
    assert tjc.call("GET", "/account/pings/search").status_code == 400
    tjc.call("POST", "/connections", params={"linkedin_url": "https://l.example/findme"})
    found = tjc.all_pages("/account/pings/search", {"query": "findme"})
    # The search is a call too, recorded before it runs: it finds itself.
    assert [p["endpoint"] for p in found] == ["connections#create", "pings#search"]
    created = tjc.get("/account/pings/search", params={"query": "create"})["data"]
    assert created and all("create" in p["endpoint"] or "create" in str(p["query_params"]) for p in created)


def test_injected_faults_never_reach_the_api_so_leave_no_ping(tjc, control):
    before = tjc.calls_in_history()
    control.add_fault(api=API, status=503, path="^/account$", count=1)
    assert tjc.call("GET", "/account").status_code == 503
    assert tjc.calls_in_history() == before


# -- control actions -----------------------------------------------------------------------------


def test_job_change_adds_a_current_employment_and_flags_the_connection(tjc, control):
    before = tjc.get("/connections/5")["data"]
    history = tjc.get("/connections/5/employments")["data"]
    result = control.api_control(API, "job_change", {"connection_id": 5, "company": "Initech", "title": "cto"})
    after = tjc.get("/connections/5")["data"]
    rows = tjc.get("/connections/5/employments")["data"]
    assert after["has_new_job"] is True
    assert after["employment_checked_at"] == after["new_job_flagged_at"] > before["employment_checked_at"]
    assert after["current_employment"]["company"] == "Initech" and after["current_employment"]["title"] == "cto"
    assert len(rows) == len(history) + 1 and rows[-1] == result["employment"]
    assert [r["current"] for r in rows].count(True) == 1 and rows[-1]["current"] is True
    assert after["employment_checked_at"][:10] == control.now()[:10]  # the sandbox clock's date


def test_check_moves_only_employment_checked_at(tjc, control):
    before = tjc.get("/connections/6")["data"]
    control.api_control(API, "check", {"connection_id": 6})
    after = tjc.get("/connections/6")["data"]
    assert after["employment_checked_at"] > before["employment_checked_at"]
    assert {k: v for k, v in after.items() if k != "employment_checked_at"} == {
        k: v for k, v in before.items() if k != "employment_checked_at"
    }


def test_add_connections_appends_checked_connections_with_employments(tjc, control):
    ids = control.api_control(API, "add_connections", {"count": 3})["ids"]
    assert ids == [13, 14, 15]
    assert tjc.get("/connections")["total_count"] == 15
    assert tjc.get("/connections/15/employments")["total_count"] == 3
    assert tjc.get("/connections/15")["data"]["employment_checked_at"] is not None


def test_store_dump_holds_every_record_while_small(tjc, control):
    dumped = store(control)
    assert len(dumped["connections"]) == 12
    assert dumped["counts"]["employments"] == 36
    assert len(dumped["pings"]) == dumped["counts"]["pings"]


# -- readings: every plausible reading of the document --------------------------------------------------------


def test_employment_checked_at_reading_absent_answers_lists_in_the_list_examples_shape(tjc, control):
    """The single connection example has employment_checked_at; the list and search examples do not."""
    listed = tjc.get("/connections")["data"][0]
    assert "employment_checked_at" in listed
    control.set_readings(API, employment_checked_at="absent")
    shorter = tjc.get("/connections")["data"][0]
    searched = tjc.get("/connections/search", params={"query": listed["first_name"]})["data"][0]
    for row in (shorter, searched):
        assert not {"employment_checked_at", "new_job_flagged_at", "has_new_title"} & set(row)
    assert shorter == {k: v for k, v in listed.items() if k in shorter}
    assert tjc.get(f"/connections/{listed['id']}")["data"]["employment_checked_at"] == listed["employment_checked_at"]
