"""Python client of the sandbox's ``/_control`` endpoints (tests, benchmarks, the demo).

Standard library only (``urllib``): the sandbox is its own distribution with no dependencies.
"""

from __future__ import annotations

import json
import typing as t
import urllib.error
import urllib.parse
import urllib.request


class ControlError(Exception):
    """A control endpoint answered an error status; the message holds the status and the body."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} answered HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class SandboxClient:
    """Talks to a running sandbox over HTTP; mirrors :class:`jobsync_sandbox.Sandbox` controls."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: t.Any = None,
        params: t.Mapping[str, t.Any] | None = None,
    ) -> t.Any:
        url = f"{self.url}/_control/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if json_body is None else json.dumps(json_body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the caller's sandbox URL
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the sandbox's URL
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            raise ControlError(method, url, err.code, err.read().decode("utf-8", "replace")) from None

    # JSON from the control endpoints is untyped; each method states the shape its endpoint answers.
    def health(self) -> dict[str, t.Any]:
        answer: dict[str, t.Any] = self._call("GET", "health")
        return answer

    @property
    def base_urls(self) -> dict[str, str]:
        urls: dict[str, str] = self.health()["base_urls"]
        return urls

    def reset(self, seed: int = 1, sizes: t.Mapping[str, t.Mapping[str, int]] | None = None) -> dict[str, t.Any]:
        answer: dict[str, t.Any] = self._call("POST", "reset", json_body={"seed": seed, "sizes": sizes or {}})
        return answer

    def add_fault(self, **rule: t.Any) -> dict[str, t.Any]:
        fault: dict[str, t.Any] = self._call("POST", "faults", json_body=rule)
        return fault

    def faults(self) -> list[dict[str, t.Any]]:
        faults: list[dict[str, t.Any]] = self._call("GET", "faults")
        return faults

    def clear_faults(self) -> dict[str, t.Any]:
        answer: dict[str, t.Any] = self._call("DELETE", "faults")
        return answer

    def set_latency(self, ms: int, api: str | None = None) -> dict[str, t.Any]:
        answer: dict[str, t.Any] = self._call("POST", "latency", json_body={"api": api, "ms": ms})
        return answer

    def advance_clock(self, seconds: float) -> str:
        now: str = self._call("POST", "clock", json_body={"advance_seconds": seconds})["now"]
        return now

    def now(self) -> str:
        now: str = self._call("GET", "clock")["now"]
        return now

    def requests(
        self, api: str | None = None, method: str | None = None, path: str | None = None, limit: int = 1000
    ) -> dict[str, t.Any]:
        params = {k: v for k, v in {"api": api, "method": method, "path": path, "limit": limit}.items() if v}
        log: dict[str, t.Any] = self._call("GET", "requests", params=params)
        return log

    def clear_requests(self) -> dict[str, t.Any]:
        answer: dict[str, t.Any] = self._call("DELETE", "requests")
        return answer

    def store(self, api: str) -> t.Any:
        return self._call("GET", f"store/{api}")

    def api_control(self, api: str, action: str, payload: t.Mapping[str, t.Any] | None = None) -> t.Any:
        return self._call("POST", f"api/{api}/{action}", json_body=dict(payload or {}))

    def readings(self, api: str | None = None) -> dict[str, t.Any]:
        """Every API's readings, or one API's: ``{name: {"value", "default", "values", "doc", "why"}}``."""
        readings: dict[str, t.Any] = self._call("GET", f"api/{api}/readings" if api else "readings")
        return readings

    def set_readings(self, api: str, **values: str) -> dict[str, t.Any]:
        """Switch readings of one API, e.g. ``set_readings("jobcase", trailing_slash="optional")``."""
        readings: dict[str, t.Any] = self._call("POST", f"api/{api}/readings", json_body=values)
        return readings

    def reading(self, api: str, name: str) -> str:
        value: str = self.readings(api)[name]["value"]
        return value
