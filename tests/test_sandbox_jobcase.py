"""The simulated Jobcase Partner Platform API behaves as its document says (over real HTTP)."""

from __future__ import annotations

import typing as t

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from jobsync_sandbox.apis.jobcase import LazyTable, Pattern

KEY = "sandbox-jobcase-key"
# Small store: 4 companies x 5 jobs (every 5th expired), 6 campaigns (2 per status), 4 products, 25 cost rows.
SIZES = {"companies": 4, "jobs_per_company": 5, "campaigns": 6, "products": 4, "cost_rows": 25}

COMPANY = {
    "partnerId": 1,
    "companyName": "Test Company",
    "partnerCompanyId": "abc123",
    "companyUrl": "https://test.example.com",
    "companyStreet": "98 Battery St",
    "companyCity": "San Francisco",
    "companyState": "CA",
    "companyZipCode": "94111",
    "companyContact": {"firstName": "Jack", "lastName": "Sparrow", "email": "jack.sparrow@jobcase.com"},
    "salesRep": {"firstName": "Sales", "lastName": "Rep", "email": "sales.rep@jobcase.com"},
}
JOB = {
    "companyId": 1,
    "adNumber": "My_Job_12300-1",
    "jobTitle": "Rodeo Clown",
    "jobDescription": "A rodeo clown has many on-site duties.",
    "jobStreet": "98 Battery St",
    "jobCity": "San Francisco",
    "jobState": "CA",
    "jobZipCode": 94111,
    "products": ["college"],
}


class Jobcase:
    """A client of the simulated API with the partner's key."""

    def __init__(self, base_url: str, key: str | None = KEY) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if key is not None:
            self.session.headers["X-Platform-Api-Key"] = key

    def __call__(self, method: str, path: str, **kwargs: t.Any) -> requests.Response:
        return self.session.request(method, self.base_url + path, timeout=10, **kwargs)

    def get(self, path: str, **params: t.Any) -> t.Any:
        response = self("GET", path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(sandbox, control) -> Jobcase:
    control.reset(sizes={"jobcase": SIZES})
    return Jobcase(sandbox.base_urls["jobcase"])


# -- auth -----------------------------------------------------------------------------------------


def test_missing_or_wrong_api_key_is_401_with_a_detail(sandbox, api):
    missing = Jobcase(sandbox.base_urls["jobcase"], key=None)("GET", "/company/")
    wrong = Jobcase(sandbox.base_urls["jobcase"], key="not-the-key")("GET", "/company/")
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert "not provided" in missing.json()["detail"]
    assert wrong.json() == {"detail": "Invalid API key."}


# -- lists and paging -----------------------------------------------------------------------------


def test_lists_answer_count_and_results_paged_by_offset_and_limit(api):
    everything = api.get("/company/")
    assert everything["count"] == 4
    assert [c["id"] for c in everything["results"]] == [1, 2, 3, 4]
    page = api.get("/company/", offset=1, limit=2)
    assert page["count"] == 4
    assert [c["id"] for c in page["results"]] == [2, 3]
    assert api.get("/company/", offset=4)["results"] == []


def test_lists_default_to_100_per_page(control, api):
    control.reset(sizes={"jobcase": {**SIZES, "companies": 150}})
    assert len(api.get("/company/")["results"]) == 100
    assert len(api.get("/company/", offset=100)["results"]) == 50


def test_paths_end_in_a_slash_and_a_path_without_it_is_redirected_to_it(api):
    assert api.get("/company/1/")["id"] == 1
    redirect = api("GET", "/job", params={"status": "expired"}, allow_redirects=False)
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == "/jobcase/api/platform/v1/job/?status=expired"


def test_update_is_put_and_patch_is_not_allowed(api):
    patch = api("PATCH", "/company/1/", json={"companyName": "x"})
    assert patch.status_code == 405
    assert patch.json() == {"detail": 'Method "PATCH" not allowed.'}


# -- companies ------------------------------------------------------------------------------------


def test_create_company_returns_it_with_ids_for_contact_and_sales_rep(api):
    response = api("POST", "/company/", json=COMPANY)
    assert response.status_code == 201, response.text
    company = response.json()
    assert company["id"] == 5 and company["partnerCompanyId"] == "abc123" and company["companyUrl"]
    assert company["companyContact"]["email"] == "jack.sparrow@jobcase.com" and company["companyContact"]["id"]
    assert api.get("/company/5/") == company


def test_an_existing_contact_is_reused_by_email(api):
    first = api("POST", "/company/", json=COMPANY).json()
    second = api("POST", "/company/", json={**COMPANY, "partnerCompanyId": "other"}).json()
    assert first["companyContact"]["id"] == second["companyContact"]["id"]
    assert first["salesRep"]["id"] == second["salesRep"]["id"]


def test_create_company_names_every_missing_required_field(api):
    response = api("POST", "/company/", json={"partnerId": 1, "companyName": "Only a name"})
    assert response.status_code == 400
    assert set(response.json()) == {
        "partnerCompanyId",
        "companyUrl",
        "companyStreet",
        "companyCity",
        "companyState",
        "companyZipCode",
    }


def test_company_example_without_company_url_is_rejected(api):
    """The document's own example omits companyUrl, which its table marks required."""
    body = {k: v for k, v in COMPANY.items() if k != "companyUrl"}
    response = api("POST", "/company/", json=body)
    assert response.status_code == 400
    assert "companyUrl" in response.json()


def test_partner_company_id_must_be_unique(api):
    duplicate = api("POST", "/company/", json={**COMPANY, "partnerCompanyId": "PC-000001"})
    assert duplicate.status_code == 400
    assert "already exists" in duplicate.json()["partnerCompanyId"][0]
    taken_by_update = api("PUT", "/company/2/", json={**COMPANY, "partnerCompanyId": "PC-000001"})
    assert taken_by_update.status_code == 400
    keeps_its_own = api("PUT", "/company/1/", json={**COMPANY, "partnerCompanyId": "PC-000001"})
    assert keeps_its_own.status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("companyState", "CA", True),
        ("companyState", "Cal", False),
        ("companyZipCode", "94111", True),
        ("companyZipCode", 94111, True),
        ("companyZipCode", "K1M 1M4", True),
        ("companyZipCode", "1234", False),
        ("companyZipCode", "12345678", False),
        ("companyUrl", "not a url", False),
        ("partnerId", 2, False),
    ],
)
def test_company_field_rules(api, field, value, accepted):
    response = api("POST", "/company/", json={**COMPANY, field: value})
    assert (response.status_code == 201) is accepted, response.text
    if not accepted:
        assert field in response.json()


def test_update_company_with_put_replaces_the_documented_fields(api):
    response = api("PUT", "/company/2/", json={**COMPANY, "partnerCompanyId": "PC-000002", "companyName": "Renamed"})
    assert response.status_code == 200, response.text
    assert api.get("/company/2/")["companyName"] == "Renamed"
    assert api("PUT", "/company/99/", json=COMPANY).status_code == 404


def test_company_logo_is_a_multipart_upload(api):
    files = {"company_logo": ("logo.png", b"\x89PNG fake image", "image/png")}
    assert api("POST", "/company/1/logo/", files=files).json() == {"success": True}
    assert api("POST", "/company/1/logo/", data={"x": "y"}).status_code == 400


# -- jobs -----------------------------------------------------------------------------------------


def test_job_list_answers_active_jobs_unless_asked_for_another_status(api):
    default = api.get("/job/")
    active = api.get("/job/", status="active")
    expired = api.get("/job/", status="expired")
    assert default == active
    assert (active["count"], expired["count"]) == (16, 4)
    assert {j["jobStatus"] for j in active["results"]} == {"Active"}
    assert {j["jobStatus"] for j in expired["results"]} == {"Expired"}


def test_an_unknown_status_filter_is_400_listing_the_values(api):
    response = api("GET", "/job/", params={"status": "all"})
    assert response.status_code == 400
    assert "active, expired" in response.json()["status"][0]
    assert "active, paused, ended" in api("GET", "/campaign/", params={"status": "x"}).json()["status"][0]


def test_job_from_and_to_filter_on_the_posting_date(api):
    """Seeded job i starts at 2023-01-01 + i minutes; `to` as a bare date covers that whole day."""
    window = api.get("/job/", **{"from": "2023-01-01T00:03:00+00:00", "to": "2023-01-01T00:07:00Z"})
    assert [j["id"] for j in window["results"]] == [3, 4, 6, 7]
    assert api.get("/job/", to="2023-01-01")["count"] == 16
    assert api.get("/job/", **{"from": "2023-01-02"})["count"] == 0
    assert api("GET", "/job/", params={"from": "yesterday"}).status_code == 400


def test_job_zip_code_is_answered_as_a_number_when_all_digits(api):
    """Examples show `"jobZipCode": 94111`; a leading zero is lost the same way (02108 -> 2108)."""
    jobs = api.get("/job/")["results"]
    assert {type(j["jobZipCode"]) for j in jobs} == {int, str}
    assert any(j["jobZipCode"] == 2108 for j in jobs)
    assert any(j["jobZipCode"] == "K1M 1M4" for j in jobs)


def test_create_job_accepts_the_documented_example(api):
    response = api("POST", "/job/", json={**JOB, "campaignId": 1})
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["jobStatus"] == "Active" and job["products"] == ["college"] and job["jobZipCode"] == 94111
    assert job["worktimeId"] == 1 and job["applyActionType"] == "Nothing"  # documented defaults
    assert job["id"] in [j["id"] for j in api.get("/campaign/1/")["jobs"]]


def test_create_job_names_missing_fields_and_bad_values(api):
    missing = api("POST", "/job/", json={"adNumber": "x"})
    assert missing.status_code == 400
    assert set(missing.json()) == {"companyId", "jobTitle", "jobDescription", "jobCity", "jobState", "jobZipCode"}
    bad = api(
        "POST", "/job/", json={**JOB, "companyId": 999, "jobState": "Cal", "jobZipCode": 123, "products": ["nope"]}
    )
    assert set(bad.json()) == {"companyId", "jobState", "jobZipCode", "products"}


def test_products_given_as_array_of_arrays_are_flattened(api):
    job = api("POST", "/job/", json={**JOB, "products": [["college"], ["veterans"]]}).json()
    assert job["products"] == ["college", "veterans"]


def test_ad_number_is_unique(api):
    assert api("POST", "/job/", json=JOB).status_code == 201
    again = api("POST", "/job/", json=JOB)
    assert again.status_code == 400
    assert "already exists" in again.json()["adNumber"][0]
    assert api("POST", "/job/", json={**JOB, "adNumber": "AD-0000001"}).status_code == 400


def test_update_job_keeps_omitted_optional_fields_and_ignores_products(api):
    before = api.get("/job/1/")
    body = {k: before[k] for k in ("companyId", "adNumber", "jobDescription", "jobCity", "jobState")}
    body["jobZipCode"] = f"{before['jobZipCode']:05d}"  # 2108 as answered is 4 characters: "02108"
    response = api("PUT", "/job/1/", json={**body, "jobTitle": "New title", "products": ["drivers"]})
    assert response.status_code == 200, response.text
    after = api.get("/job/1/")
    assert after["jobTitle"] == "New title"
    assert after["products"] == before["products"]
    assert after["worktimeId"] == before["worktimeId"]


def test_expire_and_unexpire_move_a_job_between_status_lists(api):
    assert api("POST", "/job/1/expire/").json() == {"success": True}
    assert api.get("/job/1/")["jobStatus"] == "Expired"
    assert 1 in [j["id"] for j in api.get("/job/", status="expired")["results"]]
    assert 1 not in [j["id"] for j in api.get("/job/")["results"]]
    assert api("POST", "/job/1/expire/").json() == {"success": True}  # idempotent
    assert api("POST", "/job/1/unexpire/").json() == {"success": True}
    assert api.get("/job/1/")["jobStatus"] == "Active"
    assert api("POST", "/job/999/expire/").status_code == 404


def test_products_endpoint_replaces_the_job_products(api):
    response = api("POST", "/job/2/products/", json={"products": ["college", "veterans"]})
    assert response.json() == {"id": 2, "products": ["college", "veterans"]}
    assert api.get("/job/2/")["products"] == ["college", "veterans"]
    assert api("POST", "/job/2/products/", json={"products": []}).json()["products"] == []
    unknown = api("POST", "/job/2/products/", json={"products": ["college", "nope"]})
    assert unknown.status_code == 400 and "nope" in unknown.json()["products"][0]
    assert api("POST", "/job/2/products/", json={}).status_code == 400


def test_products_endpoint_with_campaign_adds_or_removes_the_job(api):
    api("POST", "/job/20/products/", json={"products": ["college"], "campaignId": 1})
    assert 20 in [j["id"] for j in api.get("/campaign/1/")["jobs"]]
    api("POST", "/job/20/products/", json={"products": [], "campaignId": 1})
    assert 20 not in [j["id"] for j in api.get("/campaign/1/")["jobs"]]


# -- campaigns ------------------------------------------------------------------------------------

CAMPAIGN = {"companyId": 1, "name": "My Campaign", "aggressiveness": 20, "isPaused": False, "budget": 15, "jobs": [1]}


def test_create_campaign_answers_budget_and_job_details(api):
    response = api("POST", "/campaign/", json=CAMPAIGN)
    assert response.status_code == 201, response.text
    campaign = response.json()
    assert campaign["status"] == "Active"
    assert (campaign["budget"], campaign["budgetSpent"], campaign["budgetRemaining"]) == (15, 0, 15)
    assert campaign["jobs"][0]["id"] == 1 and campaign["jobs"][0]["jobTitle"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"budget": 14.99}, "budget"),
        ({"budget": 15.001}, "budget"),
        ({"aggressiveness": 25}, "aggressiveness"),
        ({"aggressiveness": 70}, "aggressiveness"),
        ({"aggressiveness": 0}, "aggressiveness"),
        ({"jobs": list(range(1, 502))}, "jobs"),
        ({"jobs": [999]}, "jobs"),
        ({"budget": None}, "budget"),
        ({"companyId": 999}, "companyId"),
    ],
)
def test_campaign_rules_are_enforced(api, change, field):
    response = api("POST", "/campaign/", json={**CAMPAIGN, **change})
    assert response.status_code == 400
    assert field in response.json()


def test_campaign_budget_with_two_decimals_and_aggressiveness_60_are_fine(api):
    assert api("POST", "/campaign/", json={**CAMPAIGN, "budget": 15.25, "aggressiveness": 60}).status_code == 201


def test_campaign_update_adds_add_budget_to_the_budget(api):
    campaign = api("POST", "/campaign/", json=CAMPAIGN).json()
    body = {"companyId": 1, "name": "My Campaign", "addBudget": 1}
    updated = api("PUT", f"/campaign/{campaign['id']}/", json=body).json()
    assert (updated["budget"], updated["budgetRemaining"]) == (16, 16)
    assert api("PUT", f"/campaign/{campaign['id']}/", json={**body, "addBudget": 0.5}).status_code == 400
    ignored = api("PUT", f"/campaign/{campaign['id']}/", json={"companyId": 1, "name": "My Campaign", "budget": 99})
    assert ignored.json()["budget"] == 16  # budget is not an update field


def test_campaign_update_replaces_jobs_and_pauses(api):
    campaign = api("POST", "/campaign/", json=CAMPAIGN).json()
    body = {"companyId": 1, "name": "My Campaign", "jobs": [2, 3], "isPaused": True}
    updated = api("PUT", f"/campaign/{campaign['id']}/", json=body).json()
    assert [j["id"] for j in updated["jobs"]] == [2, 3]
    assert updated["status"] == "Paused"


def test_campaign_name_is_unique_within_its_company(api):
    assert api("POST", "/campaign/", json=CAMPAIGN).status_code == 201
    duplicate = api("POST", "/campaign/", json={**CAMPAIGN, "name": "my campaign"})
    assert duplicate.status_code == 400 and "already exists" in duplicate.json()["name"][0]
    assert api("POST", "/campaign/", json={**CAMPAIGN, "companyId": 2}).status_code == 201


def test_campaign_list_filters_by_status_defaulting_to_active(api):
    counts = {s: api.get("/campaign/", status=s)["count"] for s in ("active", "paused", "ended")}
    assert counts == {"active": 2, "paused": 2, "ended": 2}
    assert api.get("/campaign/") == api.get("/campaign/", status="active")
    assert {c["status"] for c in api.get("/campaign/", status="ended")["results"]} == {"Ended"}


def test_an_active_campaign_ends_when_its_end_date_passes(api, control):
    campaign = api("POST", "/campaign/", json={**CAMPAIGN, "endDate": "2099-01-01T00:00:00Z"}).json()
    assert campaign["status"] == "Active"
    control.advance_clock(100 * 365 * 86400)
    assert api.get(f"/campaign/{campaign['id']}/")["status"] == "Ended"


# -- cost data, products, estimate -----------------------------------------------------------------


def test_cost_data_lists_click_and_applicant_events_oldest_first(api):
    rows = api.get("/campaign/cost_data/")
    assert rows["count"] == 25
    first = rows["results"][0]
    assert set(first) == {"campaignId", "jobId", "source", "cost", "eventType", "time"}
    times = [r["time"] for r in rows["results"]]
    assert times == sorted(times)
    assert {r["eventType"] for r in rows["results"]} == {"Click", "Applicant"}


def test_cost_data_filters_by_campaign_and_job(api):
    by_campaign = api.get("/campaign/cost_data/", campaignId=2)["results"]
    assert by_campaign and {r["campaignId"] for r in by_campaign} == {2}
    job_id = by_campaign[0]["jobId"]
    by_job = api.get("/campaign/cost_data/", jobId=job_id)["results"]
    assert by_job and {r["jobId"] for r in by_job} == {job_id}


def test_new_cost_events_arrive_at_the_sandbox_clock(api, control):
    before = api.get("/campaign/1/")["budgetSpent"]
    added = control.api_control("jobcase", "add_cost_events", {"count": 2, "campaignId": 1})["added"]
    rows = api.get("/campaign/cost_data/")
    assert rows["count"] == 27
    assert rows["results"][-2:] == added
    assert added[0]["time"] > rows["results"][-3]["time"] and added[0]["time"] < added[1]["time"]
    assert api.get("/campaign/1/")["budgetSpent"] > before


def test_products_need_the_partner_id_and_answer_a_bare_list(api):
    products = api.get("/product/", partnerId=1)
    assert isinstance(products, list) and len(products) == 4
    assert products[0] == {
        "id": 1,
        "code": "college",
        "runtime": 30,
        "shortCode": "abc:101",
        "description": "This product distributes to college sites",
        "title": "College Network",
    }
    assert api("GET", "/product/").status_code == 400
    assert api("GET", "/product/", params={"partnerId": 2}).status_code == 400


def test_estimate_answers_a_candidate_range_and_allows_50_per_day(api, control):
    body = {"budget": 15, "jobTitle": "Rodeo Clown", "jobDescription": "Clowning.", "jobZipCode": 94111}
    estimate = api("POST", "/campaign/estimate/", json=body).json()
    assert 0 < estimate["minCandidates"] < estimate["maxCandidates"]
    assert api("POST", "/campaign/estimate/", json={**body, "budget": 10}).status_code == 400
    for _ in range(49):
        assert api("POST", "/campaign/estimate/", json=body).status_code == 200
    throttled = api("POST", "/campaign/estimate/", json=body)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    control.advance_clock(86400)
    assert api("POST", "/campaign/estimate/", json=body).status_code == 200


# -- rate limit -----------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_once_the_window_is_full(api, control):
    control.api_control("jobcase", "rate_limit", {"requests": 3, "window_seconds": 30})
    statuses = [api("GET", "/company/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = api("GET", "/company/")
    assert 1 <= int(throttled.headers["Retry-After"]) <= 30
    assert "throttled" in throttled.json()["detail"]


def test_the_documented_limit_is_200_requests_per_minute(api, control):
    statuses = [api("GET", "/company/", params={"limit": 1}).status_code for _ in range(201)]
    assert statuses.count(200) == 200 and statuses[-1] == 429
    assert 1 <= int(api("GET", "/company/").headers["Retry-After"]) <= 60


# -- scale and the store --------------------------------------------------------------------------


def test_a_million_jobs_are_generated_lazily(control, api, sandbox):
    control.reset(sizes={"jobcase": {"companies": 10_000, "jobs_per_company": 100, "cost_rows": 1_000_000}})
    assert api.get("/job/", limit=1)["count"] == 800_000
    last_page = api.get("/job/", status="expired", offset=199_999)
    assert [j["id"] for j in last_page["results"]] == [1_000_000]
    assert api.get("/campaign/cost_data/", offset=999_999)["results"][0]["time"] > "2024"
    api("POST", "/job/500001/expire/")
    assert api.get("/job/", status="expired", limit=1)["count"] == 200_001
    store = control.store("jobcase")
    assert store["counts"]["jobs"] == 1_000_000
    assert "jobs" in store["truncated"] and len(store["jobs"]) == 10_001  # first 10,000 plus the changed one
    assert len(sandbox.apis["jobcase"].jobs.changed) == 1


def test_the_store_dump_shows_records_as_the_api_answers_them(api, control):
    store = control.store("jobcase")
    assert store["counts"] == {"companies": 4, "jobs": 20, "campaigns": 6, "cost_data": 25, "products": 4}
    assert store["jobs"][0] == api.get("/job/1/")
    assert store["truncated"] == []


@settings(max_examples=60, deadline=None)
@given(
    seeded=st.integers(0, 40),
    step=st.integers(1, 5),
    residues=st.sets(st.integers(0, 4), min_size=1),
    bounds=st.tuples(st.integers(-2, 45), st.integers(-2, 45)),
    changes=st.lists(st.tuples(st.integers(1, 50), st.booleans()), max_size=8),
    offset=st.integers(0, 45),
    limit=st.integers(1, 12),
)
def test_paging_arithmetic_equals_filtering_every_record(seeded, step, residues, bounds, changes, offset, limit):
    """The sandbox pages lazily generated tables without scanning; it must match a scan."""
    pattern = Pattern(bounds[0], bounds[1], step, frozenset(r % step for r in residues))
    table = LazyTable(seeded, lambda i: {"id": i, "hit": i in pattern})
    for record_id, hit in changes:
        if record_id <= table.last_id:
            table.put({"id": record_id, "hit": hit})
        else:
            table.create({"hit": hit})
    expected = [r for r in (table.get(i) for i in range(1, table.last_id + 1)) if r["hit"]]
    count, page = table.select(lambda r: r["hit"], pattern, offset, limit)
    assert count == len(expected)
    assert page == expected[offset : offset + limit]


# -- readings: every plausible reading of the document --------------------------------------------------------


def test_trailing_slash_reading_required_redirects_and_optional_serves_both_forms(api, control):
    """Every documented URL ends in "/": a Django REST Framework service redirects a URL without it."""
    for method in ("GET", "POST", "PUT"):
        moved = api(method, "/company/1" if method == "PUT" else "/company", json=COMPANY, allow_redirects=False)
        assert moved.status_code == 301, method
        assert moved.headers["Location"].endswith("/company/1/" if method == "PUT" else "/company/")
    assert api("GET", "/nowhere", allow_redirects=False).status_code == 404  # no slashed route either
    control.set_readings("jobcase", trailing_slash="optional")
    assert api.get("/company/1")["id"] == api.get("/company/1/")["id"] == 1
    assert api.get("/job")["count"] == api.get("/job/")["count"]


@pytest.mark.parametrize(
    ("reading", "allowed", "refused"),
    [("PUT", ["PUT"], ["PATCH"]), ("PATCH", ["PATCH"], ["PUT"]), ("both", ["PUT", "PATCH"], [])],
)
def test_update_method_reading_accepts_put_patch_or_both(api, control, reading, allowed, refused):
    """ "Updates a company by company identifier." shows no method."""
    control.set_readings("jobcase", update_method=reading)
    full = {k: v for k, v in COMPANY.items() if k not in ("companyContact", "salesRep")}
    full["partnerCompanyId"] = "PC-000001"
    for method in refused:
        answer = api(method, "/company/1/", json=full)
        assert answer.status_code == 405
        assert answer.json() == {"detail": f'Method "{method}" not allowed.'}
    for method in allowed:
        body = full if method == "PUT" else {"companyName": f"Renamed by {method}"}  # PATCH is partial
        answer = api(method, "/company/1/", json={**body, "companyName": f"Renamed by {method}"})
        assert answer.status_code == 200, answer.text
        assert api.get("/company/1/")["companyName"] == f"Renamed by {method}"
    if "PATCH" in allowed:
        job = api("PATCH", "/job/2/", json={"jobTitle": "Patched"})
        assert job.status_code == 200 and job.json()["jobTitle"] == "Patched"
        assert job.json()["adNumber"] == "AD-0000002"  # untouched fields keep their value
        campaign = api("PATCH", "/campaign/1/", json={"addBudget": 5})
        assert campaign.status_code == 200, campaign.text


@pytest.mark.parametrize(("reading", "allowed", "refused"), [("POST", "POST", "PUT"), ("PUT", "PUT", "POST")])
def test_products_method_reading_decides_post_or_put(api, control, reading, allowed, refused):
    """ "Adds or removes products for a job" shows no method."""
    control.set_readings("jobcase", products_method=reading)
    assert api(refused, "/job/1/products/", json={"products": ["drivers"]}).status_code == 405
    answer = api(allowed, "/job/1/products/", json={"products": ["drivers"]})
    assert answer.status_code == 200 and answer.json()["products"] == ["drivers"]
    control.set_readings("jobcase", products_method="both")
    assert api(refused, "/job/1/products/", json={"products": ["college"]}).status_code == 200


def test_job_statuses_reading_active_inactive_renames_expired_and_refuses_expired(api, control):
    expired = api.get("/job/", status="expired")
    assert expired["count"] == 4 and {j["jobStatus"] for j in expired["results"]} == {"Expired"}
    control.set_readings("jobcase", job_statuses="active,inactive")
    assert api("GET", "/job/", params={"status": "expired"}).status_code == 400
    inactive = api.get("/job/", status="inactive")
    assert [j["id"] for j in inactive["results"]] == [j["id"] for j in expired["results"]]
    assert {j["jobStatus"] for j in inactive["results"]} == {"Inactive"}
    assert api.get("/job/5/")["jobStatus"] == "Inactive"


def test_job_statuses_reading_with_deleted_lists_no_deleted_jobs(api, control):
    assert api("GET", "/job/", params={"status": "deleted"}).status_code == 400
    control.set_readings("jobcase", job_statuses="active,expired,deleted")
    assert api.get("/job/", status="deleted") == {"count": 0, "results": []}
    assert api.get("/job/", status="expired")["count"] == 4


def test_campaign_statuses_reading_active_inactive_gathers_paused_and_ended(api, control):
    control.set_readings("jobcase", campaign_statuses="active,inactive")
    assert api("GET", "/campaign/", params={"status": "paused"}).status_code == 400
    inactive = api.get("/campaign/", status="inactive")
    assert inactive["count"] == 4 and {c["status"] for c in inactive["results"]} == {"Inactive"}
    assert api.get("/campaign/")["count"] == 2


def test_campaign_budget_reading_total_or_remaining_after_spend(api, control):
    campaign = api("POST", "/campaign/", json=CAMPAIGN).json()
    spent = control.api_control("jobcase", "spend", {"campaign_id": campaign["id"], "amount": 2.5})
    assert (spent["budget"], spent["budgetSpent"], spent["budgetRemaining"]) == (15, 2.5, 12.5)
    control.set_readings("jobcase", campaign_budget="remaining")
    read = api.get(f"/campaign/{campaign['id']}/")
    assert (read["budget"], read["budgetSpent"], read["budgetRemaining"]) == (12.5, 2.5, 12.5)
    added = api("PUT", f"/campaign/{campaign['id']}/", json={"companyId": 1, "name": "My Campaign", "addBudget": 5})
    assert added.json()["budget"] == 17.5  # addBudget still adds to the total; what is shown is what is left
    too_much = requests.post(
        f"{control.url}/_control/api/jobcase/spend", json={"campaign_id": campaign["id"], "amount": 100}, timeout=5
    )
    assert too_much.status_code == 400 and "remaining budget" in too_much.json()["error"]


def test_zip_code_form_reading_number_or_string(api, control):
    assert api.get("/job/1/")["jobZipCode"] == 2108  # "02108" answered as the examples' number
    control.set_readings("jobcase", zip_code_form="string")
    assert api.get("/job/1/")["jobZipCode"] == "02108"


def test_company_url_reading_required_or_optional(api, control):
    without = {k: v for k, v in COMPANY.items() if k != "companyUrl"}
    refused = api("POST", "/company/", json=without)
    assert refused.status_code == 400 and "companyUrl" in refused.json()
    control.set_readings("jobcase", company_url="optional")
    created = api("POST", "/company/", json=without)
    assert created.status_code == 201, created.text
    assert "companyUrl" not in created.json()


def test_uniqueness_reading_enforced_or_partner_company_id_only(api, control):
    duplicate_job = {**JOB, "adNumber": "AD-0000001"}
    assert api("POST", "/job/", json=duplicate_job).status_code == 400
    assert api("POST", "/campaign/", json=CAMPAIGN).status_code == 201
    assert api("POST", "/campaign/", json=CAMPAIGN).status_code == 400
    control.set_readings("jobcase", uniqueness="partner_company_id_only")
    assert api("POST", "/job/", json=duplicate_job).status_code == 201
    assert api("POST", "/campaign/", json=CAMPAIGN).status_code == 201
    assert [c["name"] for c in api.get("/campaign/")["results"]].count("My Campaign") == 2
    refused = api("POST", "/company/", json={**COMPANY, "partnerCompanyId": "PC-000001"})
    assert refused.status_code == 400 and "partnerCompanyId" in refused.json()


def test_cost_data_order_reading_oldest_or_newest_first(api, control):
    oldest = api.get("/campaign/cost_data/", limit=100)["results"]
    control.set_readings("jobcase", cost_data_order="newest_first")
    newest = api.get("/campaign/cost_data/", limit=100)["results"]
    assert newest == oldest[::-1]
    pages = [api.get("/campaign/cost_data/", offset=o, limit=10)["results"] for o in (0, 10, 20)]
    assert [r for page in pages for r in page] == newest
    by_campaign = api.get("/campaign/cost_data/", campaignId=2, limit=2)
    assert [r["time"] for r in by_campaign["results"]] == sorted(
        (r["time"] for r in by_campaign["results"]), reverse=True
    )
