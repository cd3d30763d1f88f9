"""Proactive client-side rate limiting, shared by every stream and sink of a service.

APIs such as Jobcase count requests in a rolling minute. A token bucket with a
large burst would let a client send a full minute's quota at once and then the
refill on top of it, which a rolling-window server answers with 429. We
therefore space requests evenly (burst of one) at a rate a little under the
configured limit, so any 60-second window holds at most the limit even when
requests reach the server with some jitter.
"""

from __future__ import annotations

import threading
import time

# Fraction of the configured limit we actually use: leaves room for the
# difference between when we send and when the server counts a request.
SAFETY_FACTOR = 0.98


class RateLimiter:
    """Thread-safe request pacing: at most ``requests_per_minute`` per rolling minute."""

    def __init__(self, requests_per_minute: float | None, *, safety_factor: float = SAFETY_FACTOR) -> None:
        self.requests_per_minute = requests_per_minute or 0
        self._interval = (
            60.0 / (self.requests_per_minute * safety_factor) if self.requests_per_minute > 0 else 0.0
        )
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self.waited_seconds = 0.0
        self.acquired = 0

    @property
    def enabled(self) -> bool:
        return self._interval > 0

    def acquire(self) -> float:
        """Block until the caller may send one request; return the seconds waited."""
        if not self._interval:
            self.acquired += 1
            return 0.0
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
            self.acquired += 1
        wait = slot - now
        if wait > 0:
            time.sleep(wait)
            self.waited_seconds += wait
        return wait

    def penalize(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` (after a 429 with ``Retry-After``)."""
        with self._lock:
            self._next_slot = max(self._next_slot, time.monotonic() + seconds)


_registry: dict[tuple[str, float], RateLimiter] = {}
_registry_lock = threading.Lock()


def get_rate_limiter(service: str, requests_per_minute: float | None) -> RateLimiter:
    """One limiter per service and limit in this process, shared by all callers."""
    key = (service, float(requests_per_minute or 0))
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = RateLimiter(requests_per_minute)
        return limiter
