"""Stop signals (SIGTERM/SIGINT): how orchestrators end a run, and what the connectors do then.

The first signal asks the run to stop: nothing new starts (every wait of the HTTP policy and
the rate limiter wakes up and raises :class:`StopRequested`), calls already on the wire finish
within their deadline, and the connector ends non-zero without confirming anything it did not
finish. Where the main thread is only waiting (for input, or in the tap, anywhere: reads are
safe to abandon), the signal handler raises :class:`StopRequested` at once.

A second signal ends the process immediately (``os._exit``), still without writing anything
unconfirmed: the connectors flush stdout only when what they print there is confirmed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import typing as t

#: Exit statuses by convention 128 + the signal number.
EXIT_STATUS = {signal.SIGTERM: 143, signal.SIGINT: 130}


class StopRequested(BaseException):
    """Raised where work would start after a stop signal (a BaseException: ``except Exception`` lets it pass)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS.get(signal.Signals(self.signum), 128 + self.signum)


_stop = threading.Event()
_signum: int | None = None
_interruptible = threading.local()
_prog = "jobsync"


def requested() -> bool:
    return _stop.is_set()


def signum() -> int | None:
    return _signum


def check() -> None:
    """Raise :class:`StopRequested` when a stop was asked for (call before starting new work)."""
    if _stop.is_set():
        raise StopRequested(_signum or signal.SIGTERM)


def sleep(seconds: float) -> None:
    """``time.sleep`` that a stop signal ends at once (with :class:`StopRequested`)."""
    if seconds > 0 and _stop.wait(seconds):
        check()
    check()


@contextlib.contextmanager
def interruptible() -> t.Iterator[None]:
    """Mark the main thread as safe to interrupt: a signal arriving here raises at once."""
    previous = getattr(_interruptible, "on", False)
    _interruptible.on = True
    try:
        check()
        yield
    finally:
        _interruptible.on = previous


def handle_signal(signum: int, *, interrupt_anywhere: bool) -> None:
    """The connectors' signal handler (called from the SDK's termination hook, in the main thread).

    ``interrupt_anywhere``: the tap may abandon whatever it is doing (it only reads); the
    target raises only where the main thread waits for input, so that a write on the wire
    gets its answer.
    """
    global _signum  # noqa: PLW0603 - one stop per process by design
    name = signal.Signals(signum).name
    if _stop.is_set():
        # Second signal: at once. Nothing unconfirmed is flushed (os._exit skips buffers).
        with contextlib.suppress(Exception):
            sys.stderr.write(f"{_prog}: second {name}: exiting at once; nothing more is confirmed.\n")
            sys.stderr.flush()
        os._exit(EXIT_STATUS.get(signal.Signals(signum), 128 + signum))
    _signum = signum
    _stop.set()
    with contextlib.suppress(Exception):
        sys.stderr.write(f"{_prog}: {name} received: stopping (no new work; calls on the wire finish).\n")
        sys.stderr.flush()
    if interrupt_anywhere or getattr(_interruptible, "on", False):
        raise StopRequested(signum)


def set_program(prog: str) -> None:
    global _prog  # noqa: PLW0603
    _prog = prog


def reset() -> None:
    """Forget a stop (tests running connectors in-process)."""
    global _signum  # noqa: PLW0603
    _stop.clear()
    _signum = None
