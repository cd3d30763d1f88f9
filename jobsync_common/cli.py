"""Console entry points: secrets scrubbed from stderr, known errors as one line."""

from __future__ import annotations

import sys
import typing as t

from jobsync_common.errors import JobSyncError
from jobsync_common.redact import install_stderr_scrubber, scrub


def run_plugin_cli(plugin_cls: t.Any, prog: str) -> None:
    """Run a singer-sdk plugin's CLI; a :class:`JobSyncError` ends it with a short message."""
    install_stderr_scrubber()
    try:
        plugin_cls.cli()
    except JobSyncError as exc:
        sys.stderr.write(f"{prog}: error: {exc}\n")
        sys.stderr.flush()
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - keep the traceback, but never a secret in it
        cause = _first_jobsync_cause(exc)
        if cause is not None:
            sys.stderr.write(f"{prog}: error: {cause}\n")
            sys.stderr.flush()
            sys.exit(1)
        sys.stderr.write(f"{prog}: error: {type(exc).__name__}: {scrub(exc)}\n")
        raise


def _first_jobsync_cause(exc: BaseException) -> JobSyncError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, JobSyncError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
