"""Proactive client-side rate limiting and the per-service throttle, shared by every stream and sink.

APIs such as Jobcase count requests in a rolling minute. A token bucket with a
large burst would let a client send a full minute's quota at once and then the
refill on top of it, which a rolling-window server answers with 429. We
therefore space requests evenly (burst of one) at a rate a little under the
configured limit, so any 60-second window holds at most the limit even when
requests reach the server with some jitter.

After a 429 with ``Retry-After`` the whole service is throttled: no request to it
leaves the process until the wait is over, including requests that other workers
had already scheduled (they wake at their slot, see the window, and take a new slot
after it). Waits end at once on a stop signal (:mod:`jobsync_common.stopping`).
"""

from __future__ import annotations

import threading
import time

from jobsync_common import stopping

# Fraction of the configured limit we actually use: leaves room for the
# difference between when we send and when the server counts a request.
SAFETY_FACTOR = 0.98


class RateLimiter:
    """Thread-safe request pacing: at most ``requests_per_minute`` per rolling minute, plus the throttle."""

    def __init__(self, requests_per_minute: float | None, *, safety_factor: float = SAFETY_FACTOR) -> None:
        self.requests_per_minute = requests_per_minute or 0
        self._interval = 60.0 / (self.requests_per_minute * safety_factor) if self.requests_per_minute > 0 else 0.0
        self._lock = threading.Lock()
        self._next_slot = 0.0
        #: No request leaves before this moment (monotonic clock): the server asked us to wait.
        self._blocked_until = 0.0
        self.waited_seconds = 0.0
        self.acquired = 0

    @property
    def enabled(self) -> bool:
        return self._interval > 0

    def acquire(self) -> float:
        """Block until the caller may send one request; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                slot = max(now, self._next_slot, self._blocked_until)
                if self._interval:
                    self._next_slot = slot + self._interval
            wait = slot - now
            if wait > 0:
                stopping.sleep(wait)
                waited += wait
            with self._lock:
                # A 429 may have arrived while we waited for our slot: then wait out its window too.
                if time.monotonic() >= self._blocked_until:
                    self.acquired += 1
                    self.waited_seconds += waited
                    return waited

    def penalize(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` (after a 429 with ``Retry-After``); the caller caps it."""
        with self._lock:
            until = time.monotonic() + max(0.0, seconds)
            self._blocked_until = max(self._blocked_until, until)
            self._next_slot = max(self._next_slot, self._blocked_until)

    @property
    def blocked_for(self) -> float:
        """Seconds left in the current throttle window (0 when none)."""
        with self._lock:
            return max(0.0, self._blocked_until - time.monotonic())


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
