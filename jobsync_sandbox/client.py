"""Python client of the sandbox's ``/_control`` endpoints (tests, benchmarks, the demo)."""

from __future__ import annotations

import typing as t

import requests


class SandboxClient:
    """Talks to a running sandbox over HTTP; mirrors :class:`jobsync_sandbox.Sandbox` controls."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: t.Any) -> t.Any:
        response = self.session.request(method, f"{self.url}/_control/{path}", timeout=self.timeout, **kwargs)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, t.Any]:
        return self._call("GET", "health")

    @property
    def base_urls(self) -> dict[str, str]:
        return self.health()["base_urls"]

    def reset(self, seed: int = 1, sizes: t.Mapping[str, t.Mapping[str, int]] | None = None) -> dict:
        return self._call("POST", "reset", json={"seed": seed, "sizes": sizes or {}})

    def add_fault(self, **rule: t.Any) -> dict:
        return self._call("POST", "faults", json=rule)

    def faults(self) -> list[dict]:
        return self._call("GET", "faults")

    def clear_faults(self) -> dict:
        return self._call("DELETE", "faults")

    def set_latency(self, ms: int, api: str | None = None) -> dict:
        return self._call("POST", "latency", json={"api": api, "ms": ms})

    def advance_clock(self, seconds: float) -> str:
        return self._call("POST", "clock", json={"advance_seconds": seconds})["now"]

    def now(self) -> str:
        return self._call("GET", "clock")["now"]

    def requests(
        self, api: str | None = None, method: str | None = None, path: str | None = None, limit: int = 1000
    ) -> dict:
        params = {k: v for k, v in {"api": api, "method": method, "path": path, "limit": limit}.items() if v}
        return self._call("GET", "requests", params=params)

    def clear_requests(self) -> dict:
        return self._call("DELETE", "requests")

    def store(self, api: str) -> t.Any:
        return self._call("GET", f"store/{api}")

    def api_control(self, api: str, action: str, payload: t.Mapping[str, t.Any] | None = None) -> t.Any:
        return self._call("POST", f"api/{api}/{action}", json=dict(payload or {}))
