"""Records a destination refuses: one JSON line each in ``dead_letter_path``, or the run fails naming the record."""

from __future__ import annotations

import datetime as dt
import json
import threading
import typing as t
from pathlib import Path

from jobsync_common.errors import JobSyncError
from jobsync_common.redact import scrub

if t.TYPE_CHECKING:
    import logging

#: The setting naming the dead-letter file.
DEAD_LETTER_SETTING = "dead_letter_path"


class RecordRejectedError(JobSyncError):
    """A record was refused and no dead-letter file is configured."""


class DeadLetters:
    """The run's dead-letter file, shared by every sink (writes from concurrent sinks never interleave)."""

    def __init__(self, path: str | None, logger: logging.Logger) -> None:
        #: Without a file, the first refused record fails the run in one line naming it.
        self.path = Path(path) if path else None
        self.logger = logger
        self._lock = threading.Lock()

    def write(
        self,
        *,
        stream: str,
        sink: str,
        record: dict[str, t.Any],
        reason: str,
        status: int | None,
        endpoint: str | None,
        key: str,
    ) -> None:
        """Append the record with why it was refused; raise :class:`RecordRejectedError` when there is no file."""
        if self.path is None:
            where = f" (HTTP {status} from {endpoint})" if status else ""
            msg = (
                f"Record {key} of stream {stream!r} was rejected{where}: {reason}. "
                f"Set `{DEAD_LETTER_SETTING}` to collect rejected records instead of failing."
            )
            raise RecordRejectedError(msg)
        line = {
            "time": dt.datetime.now(dt.UTC).isoformat(),
            "stream": stream,
            "sink": sink,
            "key": key,
            "status": status,
            "endpoint": endpoint,
            "error": scrub(reason),
            "record": record,
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line, default=str) + "\n")
        self.logger.warning("Dead-lettered record %s of %s: %s", key, stream, scrub(reason))
