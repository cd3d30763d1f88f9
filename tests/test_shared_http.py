"""The HTTP policy both connectors share, driven by a scripted local HTTP server.

Each test scripts the server's answers for one endpoint and checks what the
shared client does with them: retry, wait, give up with a clear message, or
stop at once.
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobsync_common import stopping
from jobsync_common.errors import (
    APIRejectedError,
    ResponseTooLargeError,
    RetriesExhaustedError,
    RetryAfterTooLongError,
    ServiceAuthError,
)
from jobsync_common.http import HttpPolicy, ServiceClient, ServiceHttp, retry_after_seconds
from jobsync_common.ratelimit import RateLimiter
from jobsync_common.redact import REDACTED, ScrubbingTextStream, register_secret, scrub, scrub_url

SECRET = "shared-http-test-secret-9f1c"


class ScriptedServer:
    """Answers requests from a queue of (status, headers, body) tuples; records arrival times."""

    def __init__(self) -> None:
        #: Answers in order: (status, headers, body), or a callable writing its own answer to the handler.
        self.script: list[t.Any] = []
        self.arrivals: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: t.Any) -> None:
                pass

            def do_GET(self) -> None:
                server.arrivals.append(time.monotonic())
                entry = server.script.pop(0) if server.script else (200, {}, b'{"ok": true}')
                if callable(entry):
                    entry(self)
                    return
                status, headers, body = entry
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
    http = ServiceHttp(
        "Example",
        policy=HttpPolicy(max_tries=max_tries, backoff_seconds=0.01, max_backoff_seconds=0.05),
        limiter=RateLimiter(None),
        auth_settings=("example_api_key",),
    )
    return ServiceClient(http, server.url, headers={"key": SECRET})


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
        headers: t.ClassVar[dict[str, str]] = {
            "Retry-After": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
        }

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


# -- bounded time: one deadline per attempt, a cap on waits, a cap on sizes ---------------------------


def trickle(handler: t.Any) -> None:
    """200 with a 1 kB body promised, sent one byte every 0.1 s (a per-read timeout never fires)."""
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    try:
        for _ in range(1000):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.1)
    except OSError:
        pass  # the client gave up, as it should


def test_a_trickled_body_fails_the_attempt_at_its_deadline_not_per_read(server):
    server.script = [trickle, trickle]
    client = make_client(server, max_tries=2)
    client.http.policy = HttpPolicy(timeout=0.5, max_tries=2, backoff_seconds=0.01, max_backoff_seconds=0.01)
    started = time.monotonic()
    with pytest.raises(RetriesExhaustedError) as err:
        client.request("GET", "/slow")
    elapsed = time.monotonic() - started
    assert "no complete answer" in str(err.value) and "within request_timeout (0.5s)" in str(err.value)
    assert elapsed < 2 * 0.5 * 3, f"two attempts of 0.5 s took {elapsed:.1f}s"


def test_a_retry_after_beyond_the_cap_fails_at_once_naming_service_endpoint_and_wait(server):
    server.script = [(429, {"Retry-After": "99999"}, b"{}")]
    client = make_client(server)
    started = time.monotonic()
    with pytest.raises(RetryAfterTooLongError) as err:
        client.request("GET", "/items")
    assert time.monotonic() - started < 2
    message = str(err.value)
    assert "Example: GET /items" in message and "99999s" in message and "retry_max_retry_after_seconds" in message
    assert client.http.limiter.blocked_for == 0, "the service throttle must never hold longer than the cap"


def test_after_a_429_no_request_to_the_service_leaves_inside_the_window_even_from_other_workers(server):
    server.script = [(429, {"Retry-After": "1"}, b"{}")] + [(200, {}, b"{}")] * 8
    client = make_client(server)

    def call(i: int) -> None:
        time.sleep(0.05 * i)  # the first one meets the 429; the others are already queued behind it
        client.request("GET", f"/items/{i}")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, *later = server.arrivals
    inside = [round(a - first, 2) for a in later if a - first < 1.0]
    assert inside == [], f"requests sent inside the Retry-After window: {inside}"


def test_a_response_larger_than_the_cap_once_decompressed_fails_without_reading_it_all(server):
    payload = gzip.compress(b'{"data": "' + b"x" * (8 * 2**20) + b'"}')  # 8 MB of JSON in ~8 kB
    server.script = [(200, {"Content-Encoding": "gzip", "Content-Type": "application/json"}, payload)]
    client = make_client(server)
    client.http.policy = HttpPolicy(max_response_bytes=2**20)
    with pytest.raises(ResponseTooLargeError) as err:
        client.request("GET", "/huge")
    assert "Example: GET /huge answered more than 1 MB" in str(err.value)
    assert len(server.arrivals) == 1, "a too-large answer is not retried"


def test_a_closed_port_is_named_with_host_port_and_refused_without_credentials():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends
    http = ServiceHttp(
        "Example", policy=HttpPolicy(max_tries=2, backoff_seconds=0.01), limiter=RateLimiter(None), auth_settings=()
    )
    client = ServiceClient(http, f"http://user:{SECRET}@127.0.0.1:{port}/api")
    register_secret(SECRET)
    with pytest.raises(RetriesExhaustedError) as err:
        client.request("GET", "/items")
    message = str(err.value)
    assert f"connection refused by 127.0.0.1:{port}" in message
    assert SECRET not in message and "user:" not in message


def test_a_stop_signal_ends_a_long_wait_at_once():
    limiter = RateLimiter(None)
    limiter.penalize(30)
    stopping.reset()
    timer = threading.Timer(0.2, lambda: stopping._stop.set())
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(stopping.StopRequested):
            limiter.acquire()
    finally:
        stopping.reset()
    assert time.monotonic() - started < 2
