"""The HTTP policy both connectors share, driven by a scripted local HTTP server.

Each test scripts the server's answers for one endpoint and checks what the
shared client does with them: retry, wait, give up with a clear message, or
stop at once.
"""

from __future__ import annotations

import io
import json
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobsync_common.errors import APIRejectedError, RetriesExhaustedError, ServiceAuthError
from jobsync_common.http import RetryPolicy, ServiceClient, retry_after_seconds
from jobsync_common.ratelimit import RateLimiter
from jobsync_common.redact import REDACTED, ScrubbingTextStream, register_secret, scrub, scrub_url

SECRET = "shared-http-test-secret-9f1c"


class ScriptedServer:
    """Answers requests from a queue of (status, headers, body) tuples; records arrival times."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], bytes]] = []
        self.arrivals: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: t.Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.arrivals.append(time.monotonic())
                status, headers, body = server.script.pop(0) if server.script else (200, {}, b'{"ok": true}')
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> t.Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


def make_client(server: ScriptedServer, *, max_tries: int = 4) -> ServiceClient:
    return ServiceClient(
        "Example",
        server.url,
        auth_settings=("example_api_key",),
        policy=RetryPolicy(max_tries=max_tries, backoff_seconds=0.01, max_backoff_seconds=0.05),
        limiter=RateLimiter(None),
        headers={"key": SECRET},
    )


def test_retry_after_is_honoured_before_the_next_attempt(server):
    server.script = [(429, {"Retry-After": "1"}, b"{}"), (200, {}, b'{"ok": 1}')]
    response = make_client(server).request("GET", "/items")
    assert response.json() == {"ok": 1}
    assert server.arrivals[1] - server.arrivals[0] >= 1.0


def test_server_errors_are_retried_then_succeed(server):
    server.script = [(500, {}, b""), (502, {}, b""), (503, {}, b""), (200, {}, b"[1]")]
    assert make_client(server).request("GET", "/items").json() == [1]
    assert len(server.arrivals) == 4


def test_undecodable_body_is_retried(server):
    server.script = [(200, {}, b'{"data": [1, 2'), (200, {}, b'{"data": [1, 2]}')]
    assert make_client(server).request("GET", "/items").json() == {"data": [1, 2]}


def test_retry_bound_fails_with_service_endpoint_and_status_without_secrets(server):
    server.script = [(503, {}, b"")] * 3
    with pytest.raises(RetriesExhaustedError) as err:
        make_client(server, max_tries=3).request("GET", f"/items?key={SECRET}&page=2")
    message = str(err.value)
    assert "Example" in message and "/items" in message and "503" in message and "3 attempts" in message
    assert SECRET not in message


def test_auth_failure_stops_at_once_naming_the_setting(server):
    server.script = [(401, {}, b'{"message": "bad key"}')]
    with pytest.raises(ServiceAuthError) as err:
        make_client(server).request("GET", "/items")
    assert "example_api_key" in str(err.value)
    assert len(server.arrivals) == 1


def test_client_error_is_a_rejection_with_the_api_text(server):
    server.script = [(400, {}, b'{"error": "invalid_email"}')]
    with pytest.raises(APIRejectedError) as err:
        make_client(server).request("GET", "/items")
    assert err.value.status == 400 and "invalid_email" in err.value.text
    assert len(server.arrivals) == 1


def test_ok_statuses_are_returned_to_the_caller(server):
    server.script = [(404, {}, b'{"error": "unknown"}')]
    assert make_client(server).request("GET", "/items/9", ok_statuses=(404,)).status_code == 404


def test_retry_after_accepts_http_dates():
    class Fake:
        headers = {"Retry-After": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))}

    assert 25 <= retry_after_seconds(Fake()) <= 31  # type: ignore[arg-type]


def test_rate_limiter_spaces_requests_under_the_limit():
    limiter = RateLimiter(600)  # 10 per second, a little slower with the safety factor
    waits = [limiter.acquire() for _ in range(5)]
    assert waits[0] == 0
    assert sum(waits) >= 4 * 0.1


def test_scrub_hides_registered_secrets_and_their_encodings():
    register_secret(SECRET)
    assert SECRET not in scrub(f"token={SECRET}")
    assert REDACTED in scrub(f"Authorization: {SECRET}")
    assert "key=" + REDACTED.replace("[", "%5B").replace("]", "%5D") not in scrub_url("http://x/y?key=abc")
    assert "abc" not in scrub_url("http://x/y?key=abc&page=2")
    assert "page=2" in scrub_url("http://x/y?key=abc&page=2")


def test_scrubbing_stream_filters_everything_written():
    register_secret(SECRET)
    sink = io.StringIO()
    stream = ScrubbingTextStream(sink)
    stream.write(f"Traceback: GET /x?key={SECRET}\n")
    assert SECRET not in sink.getvalue()
    assert json.dumps(REDACTED)[1:-1] in sink.getvalue()
