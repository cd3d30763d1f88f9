"""The simulated ZipRecruiter Job Alerts API v2 behaves as its document says (real HTTP)."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from jobsync_sandbox import Sandbox

SUBSCRIBE_EXAMPLE = (
    b'"user1@domain1.com","Legal Assistant","Houston, TX","2012-05-03 09:45:23",\n'
    b'"user2@domain2.com","CEO","10023","2012-05-01 17:01:05",\n'
    b'"user3@domain3.com","Snakeoil Salesman",,"2012-05-02 12:00:01","194.133.209.43"\n'
)


def md5(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


class ZR:
    """A tiny client for the simulated API, authenticated like the document says."""

    def __init__(self, sandbox: Sandbox, key: str | None = None) -> None:
        self.base = sandbox.base_urls["ziprecruiter"]
        self.auth = (key if key is not None else sandbox.credentials_for("ziprecruiter")["api_key"], "")

    def get(self, path: str, **params: object) -> requests.Response:
        return requests.get(self.base + path, params=params, auth=self.auth, timeout=10)

    def post(self, path: str, data: dict | None = None, files: dict | None = None) -> requests.Response:
        return requests.post(self.base + path, data=data, files=files, auth=self.auth, timeout=10)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.base + path, auth=self.auth, timeout=10)

    def subscribe(self, **form: str) -> str:
        response = self.post("/subscriber", data=form)
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def batch(self, kind: str, content: bytes) -> dict:
        response = self.post("/batch", data={"type": kind}, files={"content": ("file.csv", content, "text/csv")})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def zr(sandbox: Sandbox, control) -> ZR:
    control.reset(sizes={"ziprecruiter": {"subscribers": 30, "searches_per_subscriber": 3, "batches": 2}})
    return ZR(sandbox)


def store(control) -> dict:
    return control.store("ziprecruiter")


def error_code(response: requests.Response) -> str:
    return response.json()["error"]


# -- authentication and common parameters ------------------------------------------------------


def test_requests_without_an_api_key_are_403_unauthorized(sandbox, zr):
    response = requests.get(zr.base + "/subscriber", timeout=10)
    assert response.status_code == 403
    assert error_code(response) == "unauthorized"


def test_an_unknown_api_key_is_403_unauthorized(sandbox, zr):
    response = ZR(sandbox, key="not-the-key").get("/subscriber")
    assert response.status_code == 403
    assert response.json() == {"error": "unauthorized", "message": "An unknown API key was received."}


def test_query_results_carry_only_id_unless_properties_are_asked_for(zr):
    page = zr.get("/subscriber").json()
    assert page["results"] and all(set(r) == {"id"} for r in page["results"])
    page = zr.get("/subscriber", properties="email,status,create_time").json()
    assert set(page["results"][0]) == {"id", "email_md5", "status", "create_time"}


def test_query_pages_follow_limit_and_skip_and_report_offset_and_a_string_total(zr):
    first = zr.get("/subscriber").json()
    assert first["limit"] == 50  # the documented default
    assert first["offset"] == 0 and first["total_count"] == "30"
    seen = []
    for skip in range(0, 30, 7):
        page = zr.get("/subscriber", limit=7, skip=skip).json()
        assert page["limit"] == 7 and page["offset"] == skip
        seen += [r["id"] for r in page["results"]]
    assert len(seen) == len(set(seen)) == 30
    assert zr.get("/subscriber", skip=30).json()["results"] == []


@pytest.mark.parametrize("limit", ["0", "101", "many"])
def test_limit_outside_1_to_100_is_400_invalid_limit(zr, limit):
    response = zr.get("/subscriber", limit=limit)
    assert response.status_code == 400
    assert error_code(response) == "invalid_limit"


def test_unknown_parameters_and_properties_are_400(zr):
    response = zr.get("/subscriber", colour="blue")
    assert (response.status_code, error_code(response)) == (400, "invalid_parameters")
    response = zr.get("/subscriber", properties="id,shoe_size")
    assert (response.status_code, error_code(response)) == (400, "invalid_properties")


def test_unknown_paths_are_404_unknown_resource(zr):
    response = zr.get("/widgets")
    assert (response.status_code, error_code(response)) == (404, "unknown_resource")


# -- subscribers ------------------------------------------------------------------------------------


def test_submit_returns_the_id_and_responses_carry_the_md5_of_the_lowercased_email(zr, control):
    subscriber_id = zr.subscribe(
        email="User2@Domain2.com", create_time="2012-05-03 17:01:05", search="CEO", location="10023"
    )
    body = zr.get(f"/subscriber/{subscriber_id}").json()
    # The document's retrieve example: these properties by default; submitted time is Pacific, shown in UTC.
    assert body == {
        "id": subscriber_id,
        "email_md5": md5("user2@domain2.com"),
        "create_time": "2012-05-04T00:01:05",
        "deactivation_time": None,
        "deactivation_reason": None,
    }
    assert "Domain2.com" not in json.dumps(
        zr.get("/subscriber", properties="email,name,search,location,ip_address,status").json()
    )
    assert any(s["id"] == subscriber_id and s["email"] == "User2@Domain2.com" for s in store(control)["subscribers"])


def test_subscribing_an_existing_email_creates_no_second_subscriber(zr, control):
    first = zr.subscribe(email="seeker@example.com", search="Nurse", location="Austin, TX")
    count = store(control)["counts"]["subscribers"]
    again = zr.subscribe(email="SEEKER@example.com", search="Night Nurse")
    assert again == first
    assert store(control)["counts"]["subscribers"] == count
    body = zr.get(f"/subscriber/{first}", properties="search,location,status").json()
    assert body == {"id": first, "search": "Night Nurse", "location": "Austin, TX", "status": "active"}


def test_deactivate_unsubscribes_with_reason_api_and_a_new_submit_reactivates(zr):
    subscriber_id = zr.subscribe(email="leaving@example.com", search="CEO")
    body = zr.delete(f"/subscriber/{subscriber_id}").json()
    assert body["deactivation_reason"] == "api" and body["deactivation_time"]
    assert zr.get(f"/subscriber/{subscriber_id}", properties="status").json()["status"] == "deactivated"
    assert zr.subscribe(email="leaving@example.com", search="CEO") == subscriber_id
    body = zr.get(f"/subscriber/{subscriber_id}", properties="status,deactivation_reason").json()
    assert body == {"id": subscriber_id, "status": "active", "deactivation_reason": None}


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"search": "CEO"}, "missing_email"),
        ({"email": "not-an-address", "search": "CEO"}, "invalid_email"),
        ({"email": "a@example.com"}, "missing_search"),
        ({"email": "a@example.com", "search": "CEO", "ip_address": "999.1.1.1"}, "invalid_ip_address"),
        ({"email": "a@example.com", "search": "CEO", "create_time": "yesterday"}, "invalid_create_time"),
        ({"email": "a@example.com", "search": "CEO", "favourite": "x"}, "invalid_parameters"),
    ],
)
def test_submit_rejects_bad_fields_with_the_documented_400_codes(zr, form, code):
    response = zr.post("/subscriber", data=form)
    assert (response.status_code, error_code(response)) == (400, code)


def test_query_filters_by_raw_email_or_its_md5_and_by_status(zr, control):
    subscriber_id = zr.subscribe(email="findme@example.com", search="Barista")
    for value in ("FindMe@example.com", md5("findme@example.com")):
        page = zr.get("/subscriber", email=value).json()
        assert [r["id"] for r in page["results"]] == [subscriber_id]
    assert zr.get("/subscriber", email="nobody@example.com").json()["total_count"] == "0"
    dump = store(control)["subscribers"]
    deactivated = {s["id"] for s in dump if s["status"] == "deactivated"}
    assert deactivated  # the seeded data has some
    page = zr.get("/subscriber", status="deactivated", limit=100).json()
    assert {r["id"] for r in page["results"]} == deactivated


def test_unknown_subscriber_ids_are_404_unknown_subscriber(zr):
    for response in (
        zr.get("/subscriber/00000000"),
        zr.delete("/subscriber/00000000"),
        zr.get("/subscriber/00000000/searches"),
        zr.post("/subscriber/00000000/searches", data={"search": "CEO"}),
    ):
        assert (response.status_code, error_code(response)) == (404, "unknown_subscriber")


# -- job searches -------------------------------------------------------------------------------------


def test_job_searches_are_submitted_retrieved_queried_and_deactivated(zr):
    subscriber_id = zr.subscribe(email="searcher@example.com", search="CEO")
    created = zr.post(
        f"/subscriber/{subscriber_id}/searches",
        data={"create_time": "2012-05-03 09:45:23", "search": "Legal Assistant", "location": "Houston, TX"},
    ).json()
    assert set(created) == {"id"}
    path = f"/subscriber/{subscriber_id}/searches/{created['id']}"
    # Retrieve answers every property by default (the document's example).
    assert zr.get(path).json() == {
        "id": created["id"],
        "search": "Legal Assistant",
        "location": "Houston, TX",
        "status": "active",
        "create_time": "2012-05-03T16:45:23",
        "deactivation_time": None,
        "deactivation_reason": None,
    }
    page = zr.get(f"/subscriber/{subscriber_id}/searches").json()
    assert page["results"] == [{"id": created["id"]}] and page["total_count"] == "1"
    body = zr.delete(path).json()
    assert body["status"] == "deactivated" and body["deactivation_reason"] == "api"
    assert zr.get(f"/subscriber/{subscriber_id}/searches", status="active").json()["results"] == []


def test_a_job_search_submitted_twice_exists_twice(zr):
    """The document does not promise deduplication of searches; the sandbox does not deduplicate."""
    subscriber_id = zr.subscribe(email="twice@example.com", search="CEO")
    for _ in range(2):
        zr.post(f"/subscriber/{subscriber_id}/searches", data={"search": "Nurse", "location": "10023"})
    assert zr.get(f"/subscriber/{subscriber_id}/searches").json()["total_count"] == "2"


def test_unknown_job_search_ids_are_404_unknown_resource(zr):
    subscriber_id = zr.subscribe(email="nosearch@example.com", search="CEO")
    response = zr.get(f"/subscriber/{subscriber_id}/searches/00000000")
    assert (response.status_code, error_code(response)) == (404, "unknown_resource")


def test_seeded_searches_belong_to_their_subscriber(zr, control):
    dump = store(control)
    by_subscriber: dict[str, int] = {}
    for search in dump["searches"]:
        by_subscriber[search["subscriber_id"]] = by_subscriber.get(search["subscriber_id"], 0) + 1
    assert dump["searches"] and max(by_subscriber.values()) <= 3
    subscriber_id, count = next(iter(by_subscriber.items()))
    assert zr.get(f"/subscriber/{subscriber_id}/searches").json()["total_count"] == str(count)


# -- batches ----------------------------------------------------------------------------------------------


def test_batch_subscribe_queues_then_completes_after_a_delay_with_documented_counts(zr, control):
    queued = zr.batch("subscribe", SUBSCRIBE_EXAMPLE)
    assert set(queued) == {"id", "type", "create_time"} and queued["type"] == "subscribe"
    pending = zr.get(f"/batch/{queued['id']}").json()
    assert pending["status"] == "pending" and pending["result"] is None and pending["complete_time"] is None
    assert zr.get("/subscriber", email="user1@domain1.com").json()["total_count"] == "0"  # not applied yet
    control.advance_clock(2)  # past the default 1 s batch delay on the sandbox clock
    done = zr.get(f"/batch/{queued['id']}").json()
    assert done["status"] == "complete" and done["complete_time"]
    assert done["result"] == {"errors": 0, "total_records": 3, "subscribed": 3, "search_updated": 0, "no_changes": 0}
    found = zr.get("/subscriber", email="user3@domain3.com", properties="search,ip_address").json()["results"]
    assert found[0]["search"] == "Snakeoil Salesman" and found[0]["ip_address"] == "194.133.209.43"


def test_batch_subscribe_counts_updates_unchanged_and_errors_and_accepts_a_header_row(zr, control):
    zr.subscribe(email="known@example.com", search="CEO", location="10023")
    zr.subscribe(email="same@example.com", search="Nurse")
    content = (
        b"email,search,location\n"
        b'"known@example.com","CFO","10023"\n'
        b'"same@example.com","Nurse",\n'
        b'"new@example.com","Barista","Austin, TX"\n'
        b'"broken-address","Barista",\n'
    )
    batch_id = zr.batch("subscribe", content)["id"]
    control.api_control("ziprecruiter", "complete_batches")
    result = zr.get(f"/batch/{batch_id}").json()["result"]
    assert result == {"errors": 1, "total_records": 4, "subscribed": 1, "search_updated": 1, "no_changes": 1}


def test_batch_unsubscribe_deactivates_by_email_and_counts_unknown_contacts(zr, control):
    subscriber_id = zr.subscribe(email="user1@domain1.com", search="CEO")
    zr.subscribe(email="gone@example.com", search="CEO")
    zr.batch("unsubscribe", b'"gone@example.com"\n')
    control.api_control("ziprecruiter", "complete_batches")
    batch_id = zr.batch("unsubscribe", b'"user1@domain1.com"\n"nobody@example.com"\n"gone@example.com"\n')["id"]
    control.api_control("ziprecruiter", "complete_batches")
    result = zr.get(f"/batch/{batch_id}").json()["result"]
    assert result == {"errors": 0, "no_such_contact": 1, "total_records": 3, "unsubscribed": 1, "no_changes": 1}
    body = zr.get(f"/subscriber/{subscriber_id}", properties="status,deactivation_reason").json()
    assert body["status"] == "deactivated" and body["deactivation_reason"] == "api"


def test_a_batch_file_that_is_not_utf8_csv_fails(zr, control):
    batch_id = zr.batch("subscribe", b"\xff\xfe\x00garbage")["id"]
    control.api_control("ziprecruiter", "complete_batches")
    assert zr.get(f"/batch/{batch_id}").json()["status"] == "failed"


@pytest.mark.parametrize(
    ("data", "with_file", "code"),
    [
        ({"type": "subscribe"}, False, "missing_content"),
        ({}, True, "missing_type"),
        ({"type": "resubscribe"}, True, "invalid_type"),
        ({"type": "subscribe", "filetype": "xlsx"}, True, "invalid_filetype"),
    ],
)
def test_batch_submit_rejects_bad_uploads(zr, data, with_file, code):
    files = {"content": ("f.csv", b'"a@example.com","CEO"\n', "text/csv")} if with_file else None
    response = zr.post("/batch", data=data, files=files)
    assert (response.status_code, error_code(response)) == (400, code)


def test_batches_are_retrieved_and_queried_and_unknown_ids_are_404_unknown_batch(zr):
    batch_id = zr.batch("unsubscribe", b'"x@example.com"\n')["id"]
    page = zr.get("/batch", properties="status,type").json()
    assert page["total_count"] == "3"  # two seeded batches and this one
    assert {"id": batch_id, "status": "pending", "type": "unsubscribe"} in page["results"]
    assert zr.get("/batch", status="pending").json()["results"] == [{"id": batch_id}]
    response = zr.get("/batch/00000000")
    assert (response.status_code, error_code(response)) == (404, "unknown_batch")


def test_the_control_action_completes_all_pending_batches_now(sandbox, control):
    control.reset(sizes={"ziprecruiter": {"batch_delay_ms": 3_600_000}})
    zr = ZR(sandbox)
    batch_id = zr.batch("subscribe", b'"late@example.com","CEO"\n')["id"]
    assert zr.get(f"/batch/{batch_id}").json()["status"] == "pending"
    assert control.api_control("ziprecruiter", "complete_batches") == {"completed": [batch_id]}
    assert zr.get(f"/batch/{batch_id}").json()["status"] == "complete"


# -- the document's other forms, seeding, scale -----------------------------------------------------------


def test_table_forms_switch_to_skip_numeric_total_email_and_result_as_json_string(zr, control):
    control.api_control("ziprecruiter", "response_forms", {"forms": "table"})
    page = zr.get("/subscriber", limit=2, properties="email").json()
    assert page["skip"] == 0 and page["total_count"] == 30 and "offset" not in page
    assert set(page["results"][0]) == {"id", "email"}
    queued = zr.batch("subscribe", b'"t@example.com","CEO"\n')
    assert set(queued) == {"id"}
    control.api_control("ziprecruiter", "complete_batches")
    result = zr.get(f"/batch/{queued['id']}").json()["result"]
    assert isinstance(result, str) and json.loads(result)["subscribed"] == 1


def test_seeded_data_is_deterministic_per_seed(sandbox):
    sizes = {"ziprecruiter": {"subscribers": 20}}
    one, two, other = Sandbox(seed=5, sizes=sizes), Sandbox(seed=5, sizes=sizes), Sandbox(seed=6, sizes=sizes)
    dump = one.apis["ziprecruiter"].dump()
    assert dump == two.apis["ziprecruiter"].dump()
    assert dump["subscribers"] != other.apis["ziprecruiter"].dump()["subscribers"]


def test_a_million_subscribers_are_served_lazily_and_dump_is_bounded(sandbox, control):
    control.reset(sizes={"ziprecruiter": {"subscribers": 1_000_000}})
    zr = ZR(sandbox)
    last = zr.get("/subscriber", skip=999_990, limit=100, properties="email,status").json()
    assert last["total_count"] == "1000000" and len(last["results"]) == 10
    subscriber_id = last["results"][-1]["id"]
    assert zr.get(f"/subscriber/{subscriber_id}").status_code == 200
    zr.delete(f"/subscriber/{subscriber_id}")
    dump = store(control)
    assert dump["truncated"] is True and dump["counts"]["subscribers"] == 1_000_000
    # Only the changed subscriber is listed (and kept in memory).
    assert [s["id"] for s in dump["subscribers"]] == [subscriber_id]
    control.reset()


# -- readings: every plausible reading of the document --------------------------------------------------------


def test_properties_format_reading_comma_repeated_or_ignored(zr, control):
    """ "properties | all | The resource-specific properties to include in the response." (no format given)"""
    first = {"id", "status", "search"}
    comma = zr.get("/subscriber", properties="id,status,search", limit=1).json()["results"][0]
    assert set(comma) == first
    control.set_readings("ziprecruiter", properties_format="repeated")
    repeated = zr.get("/subscriber", properties=["id", "status", "search"], limit=1).json()["results"][0]
    assert repeated == comma
    refused = zr.get("/subscriber", properties="id,status,search", limit=1)
    assert (refused.status_code, error_code(refused)) == (400, "invalid_properties")
    control.set_readings("ziprecruiter", properties_format="ignored")
    assert zr.get("/subscriber", properties="id,status,search", limit=1).json()["results"][0] == {"id": comma["id"]}
    retrieved = zr.get(f"/subscriber/{comma['id']}", properties="status").json()
    assert set(retrieved) == {"id", "email_md5", "create_time", "deactivation_time", "deactivation_reason"}


def test_subscribe_body_reading_multipart_only_ignores_a_urlencoded_body(zr, control):
    """Every submit example is `curl --form` (multipart/form-data)."""
    form = {"email": "encoded@example.com", "search": "Nurse"}
    assert zr.post("/subscriber", data=form).status_code == 200  # urlencoded
    control.set_readings("ziprecruiter", subscribe_body="multipart_only")
    refused = zr.post("/subscriber", data=form)
    assert (refused.status_code, error_code(refused)) == (400, "missing_email")
    multipart = {name: (None, value) for name, value in form.items()}
    subscriber = zr.post("/subscriber", files=multipart)
    assert subscriber.status_code == 200, subscriber.text
    search = f"/subscriber/{subscriber.json()['id']}/searches"
    assert error_code(zr.post(search, data={"search": "CEO"})) == "missing_search"
    assert zr.post(search, files={"search": (None, "CEO")}).status_code == 200


def test_submit_timezone_reading_pacific_or_utc(zr, control):
    """The example submits '2012-05-03 17:01:05' and reads back 2012-05-04T00:01:05."""
    pacific = zr.subscribe(email="pacific@example.com", create_time="2012-05-03 17:01:05", search="CEO")
    assert zr.get(f"/subscriber/{pacific}").json()["create_time"] == "2012-05-04T00:01:05"
    control.set_readings("ziprecruiter", submit_timezone="utc")
    utc = zr.subscribe(email="utc@example.com", create_time="2012-05-03 17:01:05", search="CEO")
    assert zr.get(f"/subscriber/{utc}").json()["create_time"] == "2012-05-03T17:01:05"


def test_search_submit_reading_always_new_or_deduplicate(zr, control):
    """ "submit | POST | /searches | Create a job search for a job seeker." """
    subscriber_id = zr.subscribe(email="dedupe@example.com", search="CEO")
    path = f"/subscriber/{subscriber_id}/searches"
    first = zr.post(path, data={"search": "Nurse", "location": "10023"}).json()["id"]
    control.set_readings("ziprecruiter", search_submit="deduplicate")
    again = zr.post(path, data={"search": " nurse ", "location": "10023"}).json()["id"]
    assert again == first
    assert zr.get(path).json()["total_count"] == "1"
    assert zr.post(path, data={"search": "Nurse", "location": "Austin, TX"}).json()["id"] != first


def test_subscriber_deactivation_reading_keeps_or_deactivates_searches(zr, control):
    def searches_after_deactivating(email: str) -> set[str]:
        subscriber_id = zr.subscribe(email=email, search="CEO")
        zr.post(f"/subscriber/{subscriber_id}/searches", data={"search": "Nurse"})
        assert zr.delete(f"/subscriber/{subscriber_id}").status_code == 200
        rows = zr.get(f"/subscriber/{subscriber_id}/searches", properties="id,status").json()["results"]
        return {r["status"] for r in rows}

    assert searches_after_deactivating("keeps@example.com") == {"active"}
    control.set_readings("ziprecruiter", subscriber_deactivation="deactivates_searches")
    assert searches_after_deactivating("cascades@example.com") == {"deactivated"}
