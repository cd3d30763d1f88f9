"""The sandbox's shared machinery: routing, control endpoints, faults, request log, clock.

Faults are checked over real HTTP with raw clients (``http.client``, sockets): what a
connector's guard will meet is exactly what arrives on the wire.
"""

from __future__ import annotations

import email.utils
import gzip
import http.client
import json
import socket
import time
import typing as t
import zlib
from urllib.parse import urlsplit

import pytest
import requests

from jobsync_sandbox import Sandbox
from jobsync_sandbox.client import ControlError, SandboxClient
from jobsync_sandbox.core import FilePart, parse_multipart

JOBCASE_KEY = {"X-Platform-Api-Key": "sandbox-jobcase-key"}
TJC_KEY = {"key": "sandbox-tjc-key"}
ZR_AUTH = ("sandbox-zr-key", "")


@pytest.fixture(autouse=True)
def _no_faults_left(control: SandboxClient) -> t.Iterator[None]:
    yield
    control.clear_faults()


def raw_request(
    sandbox: Sandbox, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    """One request with ``http.client``: no retries, no decoding of the body."""
    host, port = urlsplit(sandbox.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def jobcase(path: str) -> str:
    return "/jobcase/api/platform/v1" + path


# -- control endpoints ---------------------------------------------------------------------------------------


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


def test_an_unknown_fault_kind_is_refused_naming_the_kinds(control):
    with pytest.raises(ControlError) as refused:
        control.add_fault(api="jobcase", kind="explode")
    assert refused.value.status == 400
    assert "explode" in refused.value.body and "wrong_shape" in refused.value.body


# -- status and Retry-After ----------------------------------------------------------------------------------


def test_a_429_carries_a_huge_retry_after_in_whole_seconds(control, sandbox):
    control.add_fault(api="jobcase", kind="status", status=429, retry_after=99999)
    response, _ = raw_request(sandbox, "GET", jobcase("/company/"), JOBCASE_KEY)
    assert response.status == 429
    assert response.getheader("Retry-After") == "99999"


def test_a_429_can_carry_retry_after_as_an_http_date(control, sandbox):
    control.add_fault(api="jobcase", kind="status", status=429, retry_after=99999, retry_after_date=True)
    response, _ = raw_request(sandbox, "GET", jobcase("/company/"), JOBCASE_KEY)
    assert response.status == 429
    value = response.getheader("Retry-After")
    assert value.endswith(" GMT")
    when = email.utils.parsedate_to_datetime(value).timestamp()
    assert when >= time.time() + 99990  # about 27.8 hours from now


def test_a_status_fault_answers_its_body_when_given_one(control, sandbox):
    control.add_fault(api="jobcase", kind="status", status=400, body={"error": "invalid_create_time"}, count=1)
    response, body = raw_request(sandbox, "GET", jobcase("/company/"), JOBCASE_KEY)
    assert (response.status, json.loads(body)) == (400, {"error": "invalid_create_time"})
    control.add_fault(api="jobcase", kind="status", status=503, count=1)
    response, body = raw_request(sandbox, "GET", jobcase("/company/"), JOBCASE_KEY)
    assert (response.status, json.loads(body)) == (503, {"error": "injected_fault", "status": 503})


# -- ignore_paging -------------------------------------------------------------------------------------------


def test_ignore_paging_answers_the_first_page_to_every_jobcase_offset(control, sandbox):
    _, second = raw_request(sandbox, "GET", jobcase("/company/?offset=1&limit=1"), JOBCASE_KEY)
    _, first = raw_request(sandbox, "GET", jobcase("/company/?offset=0&limit=1"), JOBCASE_KEY)
    assert json.loads(second)["results"] != json.loads(first)["results"]
    control.add_fault(api="jobcase", kind="ignore_paging", path="^/company/$", count=5)
    _, paged = raw_request(sandbox, "GET", jobcase("/company/?offset=1&limit=1"), JOBCASE_KEY)
    assert json.loads(paged) == json.loads(first)  # the size (limit) is still honoured
    assert control.requests(api="jobcase", path="^/company/$")["entries"][-1]["fault"] == "ignore_paging"


def test_ignore_paging_answers_the_first_page_to_every_trackjobchanges_page(control, sandbox):
    _, first = raw_request(sandbox, "GET", "/trackjobchanges/api/v1/connections?page=1", TJC_KEY)
    _, past_the_end = raw_request(sandbox, "GET", "/trackjobchanges/api/v1/connections?page=9", TJC_KEY)
    assert json.loads(past_the_end)["data"] == []
    control.add_fault(api="trackjobchanges", kind="ignore_paging", query={"page": "9"})
    _, answered = raw_request(sandbox, "GET", "/trackjobchanges/api/v1/connections?page=9", TJC_KEY)
    assert json.loads(answered)["data"] == json.loads(first)["data"] != []


def test_ignore_paging_answers_the_first_page_to_every_ziprecruiter_skip(control, sandbox):
    auth = requests.auth.HTTPBasicAuth(*ZR_AUTH)
    url = f"{sandbox.url}/ziprecruiter/job-alerts/v2/subscriber"
    first = requests.get(url, params={"limit": 5}, auth=auth, timeout=10).json()
    control.add_fault(api="ziprecruiter", kind="ignore_paging")
    answered = requests.get(url, params={"limit": 5, "skip": 10}, auth=auth, timeout=10).json()
    assert answered == first  # including the echoed offset 0


# -- trickle -------------------------------------------------------------------------------------------------


def test_trickle_sends_the_body_a_few_bytes_at_a_time_so_no_single_read_waits_long(control, sandbox):
    _, whole = raw_request(sandbox, "GET", jobcase("/company/1/"), JOBCASE_KEY)
    chunk, delay_ms, per_read_timeout = 8, 15, 0.5
    control.add_fault(api="jobcase", kind="trickle", path="^/company/1/$", chunk_bytes=chunk, delay_ms=delay_ms)
    host, port = urlsplit(sandbox.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=per_read_timeout) as sock:
        sock.sendall(
            b"GET /jobcase/api/platform/v1/company/1/ HTTP/1.1\r\nHost: sandbox\r\n"
            b"X-Platform-Api-Key: sandbox-jobcase-key\r\nConnection: close\r\n\r\n"
        )
        received, reads = b"", []
        while True:
            data = sock.recv(65536)  # raises socket.timeout if a read waited past the per-read timeout
            if not data:
                break
            received += data
            reads.append(len(data))
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"200 OK" in head.split(b"\r\n")[0]
    assert body == whole
    writes = -(-len(whole) // chunk)
    assert len(reads) > writes // 2  # the body came in many small pieces...
    assert (writes - 1) * delay_ms / 1000 > per_read_timeout  # ...over longer than any one read may wait


# -- oversized -----------------------------------------------------------------------------------------------


def test_oversized_is_gzip_of_exactly_size_mb_of_the_documented_shape(control, sandbox):
    _, real = raw_request(sandbox, "GET", jobcase("/company/"), JOBCASE_KEY)
    control.add_fault(api="jobcase", kind="oversized", size_mb=2)
    response, compressed = raw_request(sandbox, "GET", jobcase("/company/"), JOBCASE_KEY)
    assert response.status == 200
    assert response.getheader("Content-Encoding") == "gzip"
    assert int(response.getheader("Content-Length")) == len(compressed) < 64 * 1024
    text = gzip.decompress(compressed)
    assert len(text) == 2 * 1024 * 1024
    body = json.loads(text)
    padding = body.pop("padding")
    assert body == json.loads(real)  # the real page, plus one huge string field
    assert isinstance(padding, str) and len(padding) > 2_000_000


def test_oversized_pads_the_first_object_of_a_list_body(control, sandbox):
    _, real = raw_request(sandbox, "GET", jobcase("/product/?partnerId=1"), JOBCASE_KEY)
    control.add_fault(api="jobcase", kind="oversized", size_mb=1, path="^/product/")
    _, compressed = raw_request(sandbox, "GET", jobcase("/product/?partnerId=1"), JOBCASE_KEY)
    body = json.loads(gzip.decompress(compressed))
    assert isinstance(body, list) and len(json.dumps(body, separators=(",", ":"))) == 1024 * 1024
    del body[0]["padding"]
    assert body == json.loads(real)


def test_oversized_bodies_are_compressed_as_they_are_made(control, sandbox):
    """A large answer costs the sandbox (and the wire) about a thousandth of its size."""
    control.add_fault(api="trackjobchanges", kind="oversized", size_mb=64)
    _, compressed = raw_request(sandbox, "GET", "/trackjobchanges/api/v1/account", TJC_KEY)
    assert len(compressed) < 256 * 1024
    inflater = zlib.decompressobj(31)
    size = len(inflater.decompress(compressed, 0)) + len(inflater.flush())
    assert size == 64 * 1024 * 1024


# -- wrong_shape ---------------------------------------------------------------------------------------------


def test_wrong_shape_answers_a_list_where_an_object_is_documented_and_vice_versa(control, sandbox):
    control.add_fault(api="jobcase", kind="wrong_shape", count=2)
    response, body = raw_request(sandbox, "GET", jobcase("/company/"), JOBCASE_KEY)
    assert (response.status, json.loads(body)) == (200, [])
    _, body = raw_request(sandbox, "GET", jobcase("/product/?partnerId=1"), JOBCASE_KEY)
    assert json.loads(body) == {}


def test_wrong_shape_answers_the_given_body_after_applying_the_write(control, sandbox):
    control.add_fault(api="jobcase", kind="wrong_shape", method="POST", body={"unexpected": [1, 2]})
    company = {
        "partnerId": 1, "companyName": "Shape Co", "partnerCompanyId": "SHAPE-1", "companyUrl": "https://shape.example",
        "companyStreet": "1 Main St", "companyCity": "Boston", "companyState": "MA", "companyZipCode": "02108",
    }  # fmt: skip
    response, body = raw_request(
        sandbox, "POST", jobcase("/company/"), {**JOBCASE_KEY, "Content-Type": "application/json"},
        json.dumps(company).encode(),
    )  # fmt: skip
    assert (response.status, json.loads(body)) == (201, {"unexpected": [1, 2]})
    assert "SHAPE-1" in {c["partnerCompanyId"] for c in control.store("jobcase")["companies"]}


# -- drop ----------------------------------------------------------------------------------------------------


def test_drop_applies_the_write_and_loses_the_response(control, sandbox):
    control.add_fault(api="jobcase", kind="drop", method="POST")
    company = {
        "partnerId": 1, "companyName": "Lost Co", "partnerCompanyId": "LOST-1", "companyUrl": "https://lost.example",
        "companyStreet": "1 Main St", "companyCity": "Boston", "companyState": "MA", "companyZipCode": "02108",
    }  # fmt: skip
    with pytest.raises(http.client.RemoteDisconnected):
        raw_request(
            sandbox, "POST", jobcase("/company/"), {**JOBCASE_KEY, "Content-Type": "application/json"},
            json.dumps(company).encode(),
        )  # fmt: skip
    assert "LOST-1" in {c["partnerCompanyId"] for c in control.store("jobcase")["companies"]}
    assert control.requests(api="jobcase", method="POST")["entries"][-1] | {"time": 0, "seq": 0, "arrived": 0} == {
        "seq": 0, "time": 0, "arrived": 0, "api": "jobcase", "method": "POST", "path": "/company/", "query": {}, "status": 201,
        "fault": "drop",
    }  # fmt: skip


# -- request parsing -----------------------------------------------------------------------------------------


def test_multipart_fields_and_files_are_parsed_with_rfc_2231_names_decoded():
    body = (
        b"--b\r\nContent-Disposition: form-data; name*=utf-8''company%5Flogo; filename*=utf-8''log%C3%B3.png\r\n"
        b"Content-Type: image/png\r\n\r\nPNG\r\n"
        b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--b--\r\n'
    )
    assert parse_multipart("multipart/form-data; boundary=b", body) == {
        "company_logo": FilePart("logó.png", b"PNG", "image/png"),
        "note": "hello",
    }


# -- readings ------------------------------------------------------------------------------------------------


def test_readings_are_listed_with_values_default_and_the_documents_words(control):
    readings = control.readings()
    assert set(readings) == {"trackjobchanges", "pcrecruiter", "ziprecruiter", "jobcase", "workable"}
    forms = readings["ziprecruiter"]["response_forms"]
    assert forms["value"] == forms["default"] == "example"
    assert set(forms["values"]) == {"example", "table"}
    assert forms["doc"] and forms["why"]
    assert control.readings("ziprecruiter")["response_forms"] == forms


def test_a_reading_is_switched_over_http_and_lasts_until_the_next_reset(control):
    answer = control.set_readings("ziprecruiter", response_forms="table")
    assert answer["response_forms"]["value"] == "table"
    assert control.reading("ziprecruiter", "response_forms") == "table"
    control.reset()
    assert control.reading("ziprecruiter", "response_forms") == "example"


def test_several_apis_readings_are_switched_in_one_call(sandbox, control):
    response = requests.post(
        f"{sandbox.url}/_control/readings", json={"ziprecruiter": {"response_forms": "table"}}, timeout=5
    )
    assert response.status_code == 200
    assert response.json()["ziprecruiter"]["response_forms"]["value"] == "table"
    control.reset()


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("api/ziprecruiter/readings", {"response_forms": "tables"}, "example, table"),
        ("api/ziprecruiter/readings", {"no_such_reading": "x"}, "response_forms"),
        ("readings", {"nowhere": {"x": "y"}}, "ziprecruiter"),
    ],
    ids=["unknown value", "unknown name", "unknown API"],
)
def test_an_unknown_reading_or_value_is_a_400_naming_what_is_allowed_and_switches_nothing(
    sandbox, control, path, body, named
):
    response = requests.post(f"{sandbox.url}/_control/{path}", json=body, timeout=5)
    assert response.status_code == 400
    assert named in response.json()["error"]
    assert control.reading("ziprecruiter", "response_forms") == "example"


def test_readings_given_to_the_constructor_survive_a_reset():
    with Sandbox(readings={"ziprecruiter": {"response_forms": "table"}}) as box:
        client = SandboxClient(box.url)
        client.reset()
        assert client.reading("ziprecruiter", "response_forms") == "table"


def test_the_constructor_refuses_an_unknown_api_reading_or_value():
    with pytest.raises(ValueError, match="no API named nowhere"):
        Sandbox(readings={"nowhere": {"x": "y"}})
    with pytest.raises(ValueError, match="ziprecruiter has no reading 'nope'"):
        Sandbox(readings={"ziprecruiter": {"nope": "x"}})
    with pytest.raises(ValueError, match="must be one of example, table"):
        Sandbox(readings={"ziprecruiter": {"response_forms": "x"}})
