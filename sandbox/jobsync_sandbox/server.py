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
- ``GET  /_control/readings``               every API's readings: value, allowed values, default, the
                                            document's words and why the default is the default
- ``POST /_control/readings``               ``{"jobcase": {"trailing_slash": "optional"}}``
- ``GET/POST /_control/api/<api>/readings`` one API's readings / switch them: ``{"trailing_slash": "optional"}``
                                            (an unknown name or value is a 400 naming what is allowed;
                                            nothing is switched then)

Readings given to the constructor (``Sandbox(readings=...)``, ``jobsync-sandbox serve --reading
api.name=value``) survive ``/_control/reset``; readings switched through ``/_control`` last until
the next reset (like the world itself). ``serve --state-file`` saves them with the world.
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import json
import re
import socket
import struct
import threading
import time
import typing as t
import zlib
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from jobsync_sandbox.core import Clock, HTTPError, Request, Response, SimulatedAPI, json_response

SENSITIVE_QUERY = {"key", "apikey", "password", "token"}


#: Every kind of fault a rule can inject (see :class:`FaultRule`).
FAULT_KINDS = (
    "status", "reset", "truncate", "hang", "latency",
    "ignore_paging", "trickle", "oversized", "wrong_shape", "drop",
)  # fmt: skip
#: Bytes of uncompressed padding fed to the compressor at a time by ``oversized``.
_PAD_CHUNK = b"x" * (1 << 20)
#: Placeholder value that marks where ``oversized`` inserts its padding in the serialised body.
_PAD_MARK = "__jobsync_sandbox_padding__"


@dataclass
class FaultRule:
    """Break matching requests on purpose.

    ``kind`` is one of:
      ``status``        answer ``status`` (429/500/502/503...) without processing the request.
                        ``retry_after`` adds a ``Retry-After`` header in seconds (any size: ``99999`` is
                        sent as ``99999``); with ``retry_after_date: true`` it is sent as an HTTP-date that
                        many seconds after the real (wall) clock, e.g. ``Fri, 01 Jan 2100 00:00:00 GMT``;
                        ``body`` (any JSON) replaces the default body ``{"error": "injected_fault", ...}``;
      ``reset``         process the request, send headers and half the body, then reset the connection;
      ``drop``          process the request (a write is applied), then close the connection without
                        sending a single byte of response: the "lost response" of a timeout or a proxy;
      ``truncate``      process the request, answer 200 with the JSON body cut in half (consistent length);
      ``hang``          wait ``delay_ms`` before processing (a client timeout shorter than that fires);
      ``latency``       same as hang, meant for slow-but-successful responses;
      ``ignore_paging`` answer as if no paging parameter had been sent, so every page request gets the
                        first page: the API's ``paging_parameters`` are removed from the query before it
                        is processed (TrackJobChanges ``page``, PCRecruiter ``Page``, ZipRecruiter ``skip``,
                        Jobcase ``offset``, Workable ``since_id``; page *sizes* are kept);
      ``trickle``       process the request, send the headers, then the body ``chunk_bytes`` (default 1)
                        at a time with ``delay_ms`` between writes: every read gets data in time, so a
                        client whose timeout is per read never times out;
      ``oversized``     process the request and answer its status with a gzip body
                        (``Content-Encoding: gzip``) that decompresses to exactly ``size_mb`` megabytes
                        (MiB) of valid JSON of the documented shape: the real body with a huge string
                        field ``padding`` added to its object (or to the first object of a top-level
                        list; any other body is preceded by whitespace). The padding is compressed a chunk
                        at a time, so only the compressed bytes (about a thousandth) are ever in memory;
      ``wrong_shape``   process the request (a write is applied) and answer its status with ``body``
                        instead of the real JSON (any JSON but null); without ``body``: ``[]`` where the
                        API answers an object, ``{}`` where it answers a list.
    Matching: ``api`` (name), optional ``method``, ``path`` (regex searched in the path below
    the API base), ``query`` (all listed parameters must have these values). The first
    ``skip`` matching requests pass untouched; the next ``count`` are broken.
    """

    api: str | None = None
    kind: str = "status"
    status: int = 503
    retry_after: float | None = None
    retry_after_date: bool = False
    delay_ms: int = 0
    chunk_bytes: int = 1
    size_mb: float = 100
    body: t.Any = None
    method: str | None = None
    path: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    skip: int = 0
    count: int = 1
    id: int = 0
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            msg = f"unknown fault kind {self.kind!r}: use one of {', '.join(FAULT_KINDS)}"
            raise ValueError(msg)
        if self.chunk_bytes < 1 or self.size_mb <= 0 or self.delay_ms < 0:
            msg = "chunk_bytes must be at least 1, size_mb above 0 and delay_ms not negative"
            raise ValueError(msg)

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

    def retry_after_header(self) -> str | None:
        """The ``Retry-After`` value: whole seconds as an integer, or an HTTP-date (RFC 9110)."""
        if self.retry_after is None and not self.retry_after_date:
            return None
        seconds = float(self.retry_after or 0)
        if self.retry_after_date:
            return email.utils.formatdate(time.time() + seconds, usegmt=True)
        return str(int(seconds)) if seconds.is_integer() else repr(seconds)

    def wrong_body(self, real: t.Any) -> t.Any:
        if self.body is not None:
            return self.body
        return {} if isinstance(real, list) else []


def oversized_parts(body: t.Any, payload: bytes) -> tuple[bytes, bytes, bool]:
    """``(before, after, quoted)``: the serialised body split where the padding goes.

    The padding is a string value of a ``padding`` field of the body's object (or of the first
    object of a top-level list); other bodies get leading whitespace (still the same JSON value).
    Works on copies: the body may be an object the API keeps in its store.
    """
    if isinstance(body, dict):
        padded: t.Any = {**body, "padding": _PAD_MARK}
    elif isinstance(body, list) and body and isinstance(body[0], dict):
        padded = [{**body[0], "padding": _PAD_MARK}, *body[1:]]
    else:
        return b"", payload, False
    text = json.dumps(padded, separators=(",", ":"), default=str).encode()
    before, after = text.split(json.dumps(_PAD_MARK).encode(), 1)
    return before, after, True


def gzip_padded(before: bytes, after: bytes, quoted: bool, size: int) -> bytes:
    """Gzip of ``before + padding + after`` decompressing to ``size`` bytes, compressed a chunk at a time."""
    quotes = b'"' if quoted else b""
    padding = max(0, size - len(before) - len(after) - 2 * len(quotes))
    filler = _PAD_CHUNK if quoted else b" " * len(_PAD_CHUNK)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    parts = [compressor.compress(before + quotes)]
    while padding:
        piece = filler[: min(padding, len(filler))]
        parts.append(compressor.compress(piece))
        padding -= len(piece)
    parts += [compressor.compress(quotes + after), compressor.flush()]
    return b"".join(parts)


class RequestLog:
    """Counts every request per endpoint and keeps the most recent entries."""

    def __init__(self, keep: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._entries: collections.deque[dict[str, t.Any]] = collections.deque(maxlen=keep)
        self._counts: collections.Counter[str] = collections.Counter()
        self._seq = 0

    def add(self, api: str, request: Request, status: int, fault: str | None, arrived: float | None = None) -> None:
        query = {k: ("[REDACTED]" if k.lower() in SENSITIVE_QUERY else v[0]) for k, v in request.query.items()}
        with self._lock:
            self._seq += 1
            self._counts[f"{api} {request.method} {request.path.rstrip('/') or '/'}"] += 1
            self._entries.append(
                {
                    "seq": self._seq,
                    "time": time.time(),
                    # When the request arrived (``time`` is when it was answered).
                    "arrived": arrived if arrived is not None else time.time(),
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
    from jobsync_sandbox.apis import API_CLASSES

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
        readings: t.Mapping[str, t.Mapping[str, str]] | None = None,
    ) -> None:
        self.clock = Clock()
        self.requests = RequestLog()
        self.faults: list[FaultRule] = []
        self.latency_ms: dict[str | None, int] = {}
        self._faults_lock = threading.Lock()
        self._fault_seq = 0
        self._api_classes = list(api_classes or _api_classes())
        self.credentials = {k: dict(v) for k, v in (credentials or {}).items()}
        known = {cls.name for cls in self._api_classes}
        unknown = sorted(set(readings or {}) - known)
        if unknown:
            msg = f"no API named {', '.join(unknown)} (the APIs: {', '.join(sorted(known))})"
            raise ValueError(msg)
        #: Readings chosen at construction: every reset starts from them.
        self.readings = {k: dict(v) for k, v in (readings or {}).items()}
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
            cls.name: cls(
                self,
                seed=seed,
                sizes=sizes.get(cls.name),
                credentials=self.credentials.get(cls.name),
                readings=self.readings.get(cls.name),
            )
            for cls in self._api_classes
        }

    def start(self, host: str = "127.0.0.1", port: int = 0) -> t.Self:
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

    def __enter__(self) -> t.Self:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "sandbox is not started"
        host, port = self._server.server_address[:2]
        # server_bind() sets server_address from getsockname(), which names an AF_INET host as a str.
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    @property
    def base_urls(self) -> dict[str, str]:
        return {name: self.url + api.base_path for name, api in self.apis.items()}

    def credentials_for(self, api: str) -> dict[str, t.Any]:
        return dict(self.apis[api].credentials)

    # -- readings -------------------------------------------------------------------------
    def describe_readings(self) -> dict[str, dict[str, dict[str, t.Any]]]:
        return {name: api.describe_readings() for name, api in self.apis.items()}

    def set_readings(self, readings: t.Mapping[str, t.Mapping[str, t.Any]]) -> dict[str, dict[str, dict[str, t.Any]]]:
        """Switch readings of several APIs: every value is checked before any is switched."""
        unknown = sorted(set(readings) - set(self.apis))
        if unknown:
            msg = f"no API named {', '.join(unknown)} (the APIs: {', '.join(sorted(self.apis))})"
            raise ValueError(msg)
        for name, values in readings.items():
            self.apis[name].check_readings(values)
        for name, values in readings.items():
            self.apis[name].set_readings(values)
        return self.describe_readings()

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

    def take_fault(self, api: str, request: Request) -> FaultRule | None:
        """The first fault rule that breaks this request (counted as seen and fired), if any."""
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

    def control(self, method: str, path: str, request: Request) -> Response:
        parts = [p for p in path.split("/") if p][1:]  # drop "_control"
        body = request.json() or {}
        if parts == ["health"]:
            response = json_response({"status": "ok", "url": self.url, "base_urls": self.base_urls})
        elif parts == ["reset"] and method == "POST":
            self.reset(seed=int(body.get("seed", 1)), sizes=body.get("sizes"))
            response = json_response({"status": "reset", "base_urls": self.base_urls})
        elif parts == ["faults"]:
            response = self._control_faults(method, body)
        elif parts == ["latency"] and method == "POST":
            self.latency_ms[body.get("api")] = int(body.get("ms", 0))
            response = json_response({"latency_ms": {str(k): v for k, v in self.latency_ms.items()}})
        elif parts == ["clock"]:
            if method == "POST":
                self.clock.advance(float(body.get("advance_seconds", 0)))
            response = json_response({"now": self.clock.now().isoformat()})
        elif parts == ["requests"]:
            response = self._control_requests(method, request)
        elif len(parts) == 2 and parts[0] == "store" and parts[1] in self.apis:
            api = self.apis[parts[1]]
            with api.lock:
                response = json_response(api.dump())
        elif parts == ["readings"]:
            response = self._control_readings(method, body)
        elif len(parts) == 3 and parts[0] == "api" and parts[1] in self.apis and parts[2] == "readings":
            response = self._control_api_readings(self.apis[parts[1]], method, body)
        elif len(parts) == 3 and parts[0] == "api" and parts[1] in self.apis and method == "POST":
            api = self.apis[parts[1]]
            with api.lock:
                response = json_response(api.control(parts[2], body))
        else:
            raise HTTPError(404, {"error": "unknown control endpoint", "path": path})
        return response

    def _control_faults(self, method: str, body: t.Any) -> Response:
        if method == "POST":
            return json_response(asdict(self.add_fault(**body)), 201)
        if method == "DELETE":
            self.clear_faults()
            return json_response({"status": "cleared"})
        return json_response([asdict(f) for f in self.faults])

    def _control_requests(self, method: str, request: Request) -> Response:
        if method == "DELETE":
            self.requests.clear()
            return json_response({"status": "cleared"})
        return json_response(
            self.requests.query(
                request.arg("api"), request.arg("method"), request.arg("path"), request.int_arg("limit", 1000)
            )
        )

    def _control_readings(self, method: str, body: t.Any) -> Response:
        if method == "POST":
            if not isinstance(body, dict) or not all(isinstance(v, dict) for v in body.values()):
                raise HTTPError(400, {"error": 'readings must look like {"jobcase": {"trailing_slash": "optional"}}'})
            return json_response(self.set_readings(body))
        return json_response(self.describe_readings())

    @staticmethod
    def _control_api_readings(api: SimulatedAPI, method: str, body: t.Any) -> Response:
        if method == "POST":
            if not isinstance(body, dict):
                raise HTTPError(400, {"error": 'readings must look like {"trailing_slash": "optional"}'})
            return json_response(api.set_readings(body))
        return json_response(api.describe_readings())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, keep-alive clients wait ~40 ms per request.
    disable_nagle_algorithm = True
    sandbox: Sandbox

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002 - http.server's name for it
        """Quiet: the request log is available through /_control/requests."""

    def _handle(self) -> None:
        arrived = time.time()
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
            self._send(self._control(split.path, request))
            return
        api, sub_path = self.sandbox.route(split.path)
        if api is None:
            self._send(json_response({"error": "unknown_resource", "path": split.path}, 404))
            return
        request.path = sub_path
        self._serve(api, request, arrived)

    def _control(self, path: str, request: Request) -> Response:
        try:
            return self.sandbox.control(self.command, path, request)
        except HTTPError as err:
            return err.response
        except (TypeError, ValueError, KeyError) as err:
            return json_response({"error": str(err)}, 400)

    def _serve(self, api: SimulatedAPI, request: Request, arrived: float) -> None:
        """Answer a request to ``api``, broken as the first fault rule it meets says."""
        delay = self.sandbox.latency_ms.get(api.name, self.sandbox.latency_ms.get(None, 0))
        fault = self.sandbox.take_fault(api.name, request)
        kind = fault.kind if fault is not None else None
        if fault is not None and kind in {"hang", "latency"}:
            delay += fault.delay_ms
        if delay:
            time.sleep(delay / 1000)
        if fault is not None and kind == "status":
            retry_after = fault.retry_after_header()
            headers = {} if retry_after is None else {"Retry-After": retry_after}
            self.sandbox.requests.add(api.name, request, fault.status, "status", arrived)
            fault_body = fault.body if fault.body is not None else {"error": "injected_fault", "status": fault.status}
            self._send(json_response(fault_body, fault.status, headers))
            return
        if kind == "ignore_paging":
            _strip_parameters(request, api.paging_parameters)

        response = api.dispatch(request)
        self.sandbox.requests.add(api.name, request, response.status, kind, arrived)
        self._send_with_fault(response, fault)

    def _send_with_fault(self, response: Response, fault: FaultRule | None) -> None:
        """Send the API's response, or break it on the way out as ``fault`` says."""
        kind = fault.kind if fault is not None else None
        if fault is None:
            self._send(response)
        elif kind == "reset":
            self._send_reset(response)
        elif kind == "drop":
            self._drop()
        elif kind == "truncate":
            payload = response.encode()
            response.body = payload[: max(1, len(payload) // 2)]
            self._send(response)
        elif kind == "trickle":
            self._send_trickle(response, fault.chunk_bytes, fault.delay_ms)
        elif kind == "oversized":
            self._send_oversized(response, int(fault.size_mb * 1024 * 1024))
        elif kind == "wrong_shape":
            response.body = fault.wrong_body(response.body)
            response.headers["Content-Type"] = "application/json"
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
        self._abort_quietly()

    def _abort_quietly(self) -> None:
        """The client went away (or we drop it): close, and let the server move on."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        self.connection.close()

    def _drop(self) -> None:
        """Close the connection without a byte of response (FIN): the response is lost."""
        self._abort_quietly()

    def _send_trickle(self, response: Response, chunk_bytes: int, delay_ms: int) -> None:
        payload = response.encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            for start in range(0, len(payload), chunk_bytes):
                if start:
                    time.sleep(delay_ms / 1000)
                self.wfile.write(payload[start : start + chunk_bytes])
                self.wfile.flush()
        except OSError:  # the client gave up: nothing more to do
            self._abort_quietly()

    def _send_oversized(self, response: Response, size: int) -> None:
        payload = response.encode()
        compressed = gzip_padded(*oversized_parts(response.body, payload), size)
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in {"content-length", "content-encoding", "content-type"}:
                self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(compressed)))
        self.end_headers()
        try:
            self.wfile.write(compressed)
        except OSError:
            self._abort_quietly()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle  # noqa: N815 - the names http.server calls


def _strip_parameters(request: Request, names: t.Iterable[str]) -> None:
    """Remove query parameters, from the parsed query and the raw query string alike."""
    drop = set(names)
    for name in drop:
        request.query.pop(name, None)
    pairs = [p for p in request.raw_query.split("&") if p and p.split("=", 1)[0] not in drop]
    request.raw_query = "&".join(pairs)
