"""The sandbox HTTP server: every simulated API on one loopback port, plus ``/_control``.

Control endpoints (JSON in, JSON out):

- ``GET  /_control/health``                 base URLs of every API
- ``POST /_control/reset``                  ``{"seed": 1, "sizes": {"jobcase": {"jobs": 500}}}``
- ``POST /_control/faults``                 add a fault rule (see :class:`FaultRule`)
- ``GET/DELETE /_control/faults``           list / clear fault rules
- ``POST /_control/latency``                ``{"api": "jobcase", "ms": 20}`` (``api`` omitted: all)
- ``GET/POST /_control/clock``              read / ``{"advance_seconds": 86400}``
- ``GET/DELETE /_control/requests``         request log (``?api=&method=&path=`` filters) / clear it
- ``GET  /_control/store/<api>``            dump of an API's store
- ``POST /_control/api/<api>/<action>``     API-specific control (see each API module)
"""

from __future__ import annotations

import collections
import re
import socket
import struct
import threading
import time
import typing as t
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from jobsync_sandbox.core import Clock, HTTPError, Request, Response, SimulatedAPI, json_response

SENSITIVE_QUERY = {"key", "apikey", "password", "token"}


@dataclass
class FaultRule:
    """Break matching requests on purpose.

    ``kind`` is one of:
      ``status``   answer ``status`` (429/500/502/503...) without processing the request;
                   ``retry_after`` adds a ``Retry-After`` header;
      ``reset``    process the request, send headers and half the body, then reset the connection;
      ``truncate`` process the request, answer 200 with the JSON body cut in half (consistent length);
      ``hang``     wait ``delay_ms`` before processing (a client timeout shorter than that fires);
      ``latency``  same as hang, meant for slow-but-successful responses.
    Matching: ``api`` (name), optional ``method``, ``path`` (regex searched in the path below
    the API base), ``query`` (all listed parameters must have these values). The first
    ``skip`` matching requests pass untouched; the next ``count`` are broken.
    """

    api: str | None = None
    kind: str = "status"
    status: int = 503
    retry_after: float | None = None
    delay_ms: int = 0
    method: str | None = None
    path: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    skip: int = 0
    count: int = 1
    id: int = 0
    seen: int = 0
    fired: int = 0

    def matches(self, api: str, request: Request) -> bool:
        if self.api and self.api != api:
            return False
        if self.method and self.method.upper() != request.method:
            return False
        if self.path and not re.search(self.path, request.path):
            return False
        return all(request.arg(k) == str(v) for k, v in self.query.items())

    @property
    def exhausted(self) -> bool:
        return self.fired >= self.count


class RequestLog:
    """Counts every request per endpoint and keeps the most recent entries."""

    def __init__(self, keep: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._entries: collections.deque[dict[str, t.Any]] = collections.deque(maxlen=keep)
        self._counts: collections.Counter[str] = collections.Counter()
        self._seq = 0

    def add(self, api: str, request: Request, status: int, fault: str | None) -> None:
        query = {k: ("[REDACTED]" if k.lower() in SENSITIVE_QUERY else v[0]) for k, v in request.query.items()}
        with self._lock:
            self._seq += 1
            self._counts[f"{api} {request.method} {request.path.rstrip('/') or '/'}"] += 1
            self._entries.append(
                {
                    "seq": self._seq,
                    "time": time.time(),
                    "api": api,
                    "method": request.method,
                    "path": request.path,
                    "query": query,
                    "status": status,
                    "fault": fault,
                }
            )

    def query(self, api: str | None, method: str | None, path: str | None, limit: int) -> dict[str, t.Any]:
        with self._lock:
            entries = [
                e
                for e in self._entries
                if (not api or e["api"] == api)
                and (not method or e["method"] == method.upper())
                and (not path or re.search(path, e["path"]))
            ]
            counts = {
                k: v
                for k, v in self._counts.items()
                if (not api or k.split(" ", 2)[0] == api)
                and (not method or k.split(" ", 2)[1] == method.upper())
                and (not path or re.search(path, k.split(" ", 2)[2]))
            }
        return {"total": sum(counts.values()), "counts": counts, "entries": entries[-limit:]}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()


def _api_classes() -> list[type[SimulatedAPI]]:
    from jobsync_sandbox.apis import API_CLASSES  # noqa: PLC0415 - avoid an import cycle

    return list(API_CLASSES)


class Sandbox:
    """All simulated APIs, their clock, faults and request log; serves them on loopback."""

    def __init__(
        self,
        *,
        seed: int = 1,
        sizes: t.Mapping[str, t.Mapping[str, int]] | None = None,
        credentials: t.Mapping[str, t.Mapping[str, t.Any]] | None = None,
        api_classes: t.Sequence[type[SimulatedAPI]] | None = None,
    ) -> None:
        self.clock = Clock()
        self.requests = RequestLog()
        self.faults: list[FaultRule] = []
        self.latency_ms: dict[str | None, int] = {}
        self._faults_lock = threading.Lock()
        self._fault_seq = 0
        self._api_classes = list(api_classes or _api_classes())
        self.credentials = {k: dict(v) for k, v in (credentials or {}).items()}
        self.apis: dict[str, SimulatedAPI] = {}
        self.reset(seed=seed, sizes=sizes)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------
    def reset(self, *, seed: int = 1, sizes: t.Mapping[str, t.Mapping[str, int]] | None = None) -> None:
        sizes = sizes or {}
        self.clock.reset()
        self.requests.clear()
        with self._faults_lock:
            self.faults.clear()
        self.latency_ms.clear()
        self.apis = {
            cls.name: cls(self, seed=seed, sizes=sizes.get(cls.name), credentials=self.credentials.get(cls.name))
            for cls in self._api_classes
        }

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        handler = type("SandboxHandler", (_Handler,), {"sandbox": self})
        self._server = _Server((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="jobsync-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Sandbox:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "sandbox is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_urls(self) -> dict[str, str]:
        return {name: self.url + api.base_path for name, api in self.apis.items()}

    def credentials_for(self, api: str) -> dict[str, t.Any]:
        return dict(self.apis[api].credentials)

    # -- faults -----------------------------------------------------------------------
    def add_fault(self, **rule: t.Any) -> FaultRule:
        with self._faults_lock:
            self._fault_seq += 1
            fault = FaultRule(**{**rule, "id": self._fault_seq})
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._faults_lock:
            self.faults.clear()

    def _take_fault(self, api: str, request: Request) -> FaultRule | None:
        with self._faults_lock:
            for fault in self.faults:
                if fault.exhausted or not fault.matches(api, request):
                    continue
                fault.seen += 1
                if fault.seen <= fault.skip:
                    continue
                fault.fired += 1
                return fault
        return None

    # -- request handling ---------------------------------------------------------------
    def route(self, path: str) -> tuple[SimulatedAPI | None, str]:
        for api in self.apis.values():
            if path == api.base_path or path.startswith(api.base_path + "/"):
                return api, path[len(api.base_path) :] or "/"
        return None, path

    def control(self, method: str, path: str, request: Request) -> Response:  # noqa: C901, PLR0911
        parts = [p for p in path.split("/") if p][1:]  # drop "_control"
        body = request.json() or {}
        if parts == ["health"]:
            return json_response({"status": "ok", "url": self.url, "base_urls": self.base_urls})
        if parts == ["reset"] and method == "POST":
            self.reset(seed=int(body.get("seed", 1)), sizes=body.get("sizes"))
            return json_response({"status": "reset", "base_urls": self.base_urls})
        if parts == ["faults"]:
            if method == "POST":
                return json_response(asdict(self.add_fault(**body)), 201)
            if method == "DELETE":
                self.clear_faults()
                return json_response({"status": "cleared"})
            return json_response([asdict(f) for f in self.faults])
        if parts == ["latency"] and method == "POST":
            self.latency_ms[body.get("api")] = int(body.get("ms", 0))
            return json_response({"latency_ms": {str(k): v for k, v in self.latency_ms.items()}})
        if parts == ["clock"]:
            if method == "POST":
                self.clock.advance(float(body.get("advance_seconds", 0)))
            return json_response({"now": self.clock.now().isoformat()})
        if parts == ["requests"]:
            if method == "DELETE":
                self.requests.clear()
                return json_response({"status": "cleared"})
            return json_response(
                self.requests.query(
                    request.arg("api"), request.arg("method"), request.arg("path"), request.int_arg("limit", 1000)
                )
            )
        if len(parts) == 2 and parts[0] == "store" and parts[1] in self.apis:
            api = self.apis[parts[1]]
            with api.lock:
                return json_response(api.dump())
        if len(parts) == 3 and parts[0] == "api" and parts[1] in self.apis and method == "POST":
            api = self.apis[parts[1]]
            with api.lock:
                return json_response(api.control(parts[2], body))
        raise HTTPError(404, {"error": "unknown control endpoint", "path": path})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, keep-alive clients wait ~40 ms per request.
    disable_nagle_algorithm = True
    sandbox: Sandbox

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002
        """Quiet: the request log is available through /_control/requests."""

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            raw_query=split.query,
        )
        if split.path.startswith("/_control"):
            try:
                response = self.sandbox.control(self.command, split.path, request)
            except HTTPError as err:
                response = err.response
            except (TypeError, ValueError, KeyError) as err:
                response = json_response({"error": str(err)}, 400)
            self._send(response)
            return

        api, sub_path = self.sandbox.route(split.path)
        if api is None:
            self._send(json_response({"error": "unknown_resource", "path": split.path}, 404))
            return
        request.path = sub_path
        delay = self.sandbox.latency_ms.get(api.name, self.sandbox.latency_ms.get(None, 0))
        fault = self.sandbox._take_fault(api.name, request)
        if fault is not None and fault.kind in {"hang", "latency"}:
            delay += fault.delay_ms
        if delay:
            time.sleep(delay / 1000)
        if fault is not None and fault.kind == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            self.sandbox.requests.add(api.name, request, fault.status, "status")
            self._send(json_response({"error": "injected_fault", "status": fault.status}, fault.status, headers))
            return

        response = api.dispatch(request)
        kind = fault.kind if fault is not None else None
        self.sandbox.requests.add(api.name, request, response.status, kind)
        if kind == "reset":
            self._send_reset(response)
        elif kind == "truncate":
            payload = response.encode()
            response.body = payload[: max(1, len(payload) // 2)]
            self._send(response)
        else:
            self._send(response)

    def _send(self, response: Response) -> None:
        payload = response.encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_reset(self, response: Response) -> None:
        """Promise the full body, send half of it, then abort the TCP connection (RST)."""
        payload = response.encode() or b"{}" * 64
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 2])
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle  # noqa: N815
