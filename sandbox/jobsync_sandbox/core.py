"""Building blocks of the sandbox: requests, responses, routing, the clock.

Each simulated API is a :class:`SimulatedAPI` subclass whose handler methods
are marked with :func:`route`. Handlers receive a :class:`Request` (path
relative to the API's base path) and return a :class:`Response`, or raise
:class:`HTTPError` to answer with an error.

Where an API document can be read more than one way, the API declares a :class:`Reading`
per ambiguity in ``readings_spec`` and its handlers ask ``self.reading(name)`` which one to
play. The default of each is the document's most literal reading (or, where two are equally
literal, today's behaviour, said so in its ``why``); tests switch them to prove a connector
copes with every reading.
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.parser
import email.policy
import email.utils
import json
import re
import threading
import typing as t
from dataclasses import dataclass, field
from urllib.parse import parse_qs

if t.TYPE_CHECKING:
    from jobsync_sandbox.server import Sandbox

UTC = dt.UTC


def isoformat(value: dt.datetime, *, millis: bool = True) -> str:
    """``2018-02-20T05:50:21.662Z`` style timestamps, as the API documents show."""
    value = value.astimezone(UTC)
    if millis:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """Wall-clock time plus an offset that tests advance (retention windows, batch completion)."""

    def __init__(self) -> None:
        self._offset = dt.timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC) + self._offset

    @property
    def offset(self) -> dt.timedelta:
        """How far tests have moved the clock ahead of wall-clock time."""
        return self._offset

    def set_offset(self, offset: dt.timedelta) -> None:
        """Move the clock to ``offset`` ahead of wall-clock time (a saved sandbox coming back)."""
        with self._lock:
            self._offset = offset

    def advance(self, seconds: float) -> dt.datetime:
        with self._lock:
            self._offset += dt.timedelta(seconds=seconds)
        return self.now()

    def reset(self) -> None:
        self.set_offset(dt.timedelta(0))


@dataclass(frozen=True)
class Reading:
    """One ambiguity of an API document and the interpretations the sandbox can play.

    ``values`` maps each value to what the API then does; ``doc`` quotes the document's
    words that allow more than one reading; ``why`` says why ``default`` is the default.
    """

    values: dict[str, str]
    default: str
    doc: str
    why: str

    def describe(self, value: str) -> dict[str, t.Any]:
        return {"value": value, "default": self.default, "values": dict(self.values), "doc": self.doc, "why": self.why}


def parse_reading_assignments(items: t.Iterable[str]) -> dict[str, dict[str, str]]:
    """``["jobcase.trailing_slash=optional", ...]`` -> ``{"jobcase": {"trailing_slash": "optional"}}``."""
    readings: dict[str, dict[str, str]] = {}
    for item in items:
        target, sep, value = item.partition("=")
        api, dot, name = target.strip().partition(".")
        if not sep or not dot or not api or not name or not value.strip():
            msg = f"reading {item!r} must look like api.name=value (e.g. jobcase.trailing_slash=optional)"
            raise ValueError(msg)
        readings.setdefault(api, {})[name.strip()] = value.strip()
    return readings


@dataclass
class FilePart:
    """One uploaded file of a multipart form."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    #: As ``http.server`` parses them: looked up case-insensitively, as HTTP header names are.
    headers: email.message.Message
    body: bytes = b""
    path_params: dict[str, str] = field(default_factory=dict)
    raw_query: str = ""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int) -> int:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise HTTPError(400, {"error": f"invalid_{name}", "message": f"{name} must be an integer"}) from None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def json(self) -> t.Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise HTTPError(400, {"error": "invalid_json", "message": "Request body is not valid JSON"}) from None

    def form(self) -> dict[str, t.Any]:
        """Fields of a urlencoded or multipart body (files as :class:`FilePart`); query as fallback."""
        ctype = self.header("Content-Type", "") or ""
        fields: dict[str, t.Any] = {}
        if ctype.startswith("multipart/form-data"):
            fields.update(parse_multipart(ctype, self.body))
        elif ctype.startswith("application/x-www-form-urlencoded") or (self.body and "json" not in ctype):
            for key, values in parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True).items():
                fields[key] = values[0]
        elif "json" in ctype:
            data = self.json()
            if isinstance(data, dict):
                fields.update(data)
        return fields


def parse_multipart(content_type: str, body: bytes) -> dict[str, t.Any]:
    """Parse ``multipart/form-data`` with the standard library's email parser."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, t.Any] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = _disposition_param(part, "name")
        if not name:
            continue
        filename = _disposition_param(part, "filename")
        # Bytes for a leaf part; None for a nested multipart (its parts are not fields of this form).
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        if filename is not None:
            fields[name] = FilePart(filename, payload, part.get_content_type())
        else:
            fields[name] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return fields


def _disposition_param(part: email.message.Message, name: str) -> str | None:
    """A ``Content-Disposition`` parameter as text.

    The HTTP policy has already decoded an RFC 2231 value (``name*=utf-8''...``); ``Message.get_param``
    may in general answer it as ``(charset, language, text)``, which collapses to the same text.
    """
    value = part.get_param(name, header="content-disposition")
    if isinstance(value, tuple):
        return email.utils.collapse_rfc2231_value(value)
    return value


@dataclass
class Response:
    status: int = 200
    body: t.Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        self.headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body, separators=(",", ":"), default=str).encode()


def json_response(body: t.Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, body, dict(headers or {}))


class HTTPError(Exception):
    """Raised by handlers to answer with an error status and body."""

    def __init__(self, status: int, body: t.Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.response = Response(status, body, dict(headers or {}))


#: A handler method of a :class:`SimulatedAPI`: ``(self, request) -> Response``.
_HandlerMethod = t.TypeVar("_HandlerMethod", bound=t.Callable[..., Response])


def route(method: str, pattern: str) -> t.Callable[[_HandlerMethod], _HandlerMethod]:
    """Mark an API method as the handler of ``method`` on paths matching ``pattern``.

    ``pattern`` is a regular expression over the path below the API's base path;
    named groups become ``request.path_params``. A trailing slash is optional.
    """

    def mark(func: _HandlerMethod) -> _HandlerMethod:
        func.__dict__.setdefault("_routes", []).append((method.upper(), pattern))
        return func

    return mark


class SimulatedAPI:
    """One simulated service mounted under ``base_path``."""

    name: t.ClassVar[str]
    base_path: t.ClassVar[str]
    #: Defaults for this API's seeded data sizes (overridable per sandbox).
    default_sizes: t.ClassVar[dict[str, int]] = {}
    #: Credentials the sandbox accepts unless told otherwise.
    default_credentials: t.ClassVar[dict[str, t.Any]] = {}
    #: Query parameters that choose *which* page a list answers (not its size): the ``ignore_paging``
    #: fault removes them, so every page request is answered with the first page.
    paging_parameters: t.ClassVar[tuple[str, ...]] = ()
    #: The plausible readings of this API's document the sandbox can play (see :class:`Reading`).
    readings_spec: t.ClassVar[dict[str, Reading]] = {}

    _route_table: t.ClassVar[list[tuple[str, re.Pattern[str], str]]]

    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        super().__init_subclass__(**kwargs)
        table = []
        for attr in dir(cls):
            func = getattr(cls, attr, None)
            for method, pattern in getattr(func, "_routes", []):
                table.append((method, re.compile(f"^{pattern.rstrip('/')}/?$"), attr))
        # Literal paths before patterns with groups, so /connections/search beats /connections/(?P<id>...).
        table.sort(key=lambda r: (r[1].pattern.count("(?P<"), -len(r[1].pattern)))
        cls._route_table = table

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        seed: int = 1,
        sizes: t.Mapping[str, int] | None = None,
        credentials: t.Mapping[str, t.Any] | None = None,
        readings: t.Mapping[str, str] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.clock = sandbox.clock
        self.lock = threading.RLock()
        self.seed = seed
        self.sizes = {**self.default_sizes, **(sizes or {})}
        self.credentials = {**self.default_credentials, **(credentials or {})}
        self.readings = {name: spec.default for name, spec in self.readings_spec.items()}
        self.set_readings(readings or {})
        self.reset()

    # -- readings ------------------------------------------------------------------------------
    def reading(self, name: str) -> str:
        """The value of one reading (a name from ``readings_spec``)."""
        return self.readings[name]

    def check_readings(self, values: t.Mapping[str, t.Any]) -> dict[str, str]:
        """``values`` validated against ``readings_spec``; ValueError names what is allowed."""
        checked: dict[str, str] = {}
        for name, value in values.items():
            spec = self.readings_spec.get(name)
            if spec is None:
                known = ", ".join(self.readings_spec) or "none"
                msg = f"{self.name} has no reading {name!r} (its readings: {known})"
                raise ValueError(msg)
            if not isinstance(value, str) or value not in spec.values:
                msg = f"{self.name}.{name} must be one of {', '.join(spec.values)}, got {value!r}"
                raise ValueError(msg)
            checked[name] = value
        return checked

    def set_readings(self, values: t.Mapping[str, t.Any]) -> dict[str, dict[str, t.Any]]:
        """Switch readings (all or none: every value is checked first); returns :meth:`describe_readings`."""
        checked = self.check_readings(values)
        with self.lock:
            self.readings.update(checked)
            self.readings_changed(set(checked))
        return self.describe_readings()

    def restore_readings(self, saved: t.Mapping[str, t.Any]) -> None:
        """Readings loaded from a state file: known names with allowed values win, the rest stay default."""
        self.readings = {name: spec.default for name, spec in self.readings_spec.items()}
        for name, value in saved.items():
            spec = self.readings_spec.get(name)
            if spec is not None and value in spec.values:
                self.readings[name] = value
        self.readings_changed(set(self.readings))

    def describe_readings(self) -> dict[str, dict[str, t.Any]]:
        return {name: spec.describe(self.readings[name]) for name, spec in self.readings_spec.items()}

    def readings_changed(self, names: set[str]) -> None:
        """Hook: readings ``names`` were just switched (drop caches that depend on them)."""

    # -- to implement per API -------------------------------------------------
    def reset(self) -> None:
        """(Re)build the seeded store from ``self.seed`` and ``self.sizes``."""

    def authenticate(self, request: Request) -> None:
        """Raise :class:`HTTPError` with the documented status/body when auth fails."""

    def dump(self) -> t.Any:
        """The whole store, for tests that verify writes."""
        return {}

    def control(self, action: str, payload: t.Mapping[str, t.Any]) -> t.Any:  # noqa: ARG002 - the hook's signature
        """API-specific test controls (mutate records, complete batches, ...)."""
        raise HTTPError(404, {"error": f"unknown control action {action!r} for {self.name}"})

    def before_dispatch(self, request: Request) -> None:
        """Hook run for every authenticated request (rate limits, ping history...)."""

    def not_found(self, request: Request) -> Response:
        return json_response({"error": "not_found", "path": request.path}, 404)

    # -- dispatch ---------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        handler: t.Callable[[Request], Response] | None = None
        method_mismatch = False
        for method, regex, attr in self._route_table:
            match = regex.match(request.path)
            if not match:
                continue
            if method != request.method:
                method_mismatch = True
                continue
            request.path_params = match.groupdict()
            handler = getattr(self, attr)
            break
        try:
            self.authenticate(request)
            self.before_dispatch(request)
            if handler is None:
                if method_mismatch:
                    return json_response({"error": "method_not_allowed"}, 405)
                return self.not_found(request)
            return handler(request)
        except HTTPError as err:
            return err.response
