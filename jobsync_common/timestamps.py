"""Reading the ISO 8601 timestamps the APIs, the settings and the state hold: one parser for every module."""

from __future__ import annotations

import datetime as dt
import typing as t


def parse_timestamp(value: t.Any, *, naive: dt.tzinfo = dt.UTC) -> dt.datetime | None:
    """An ISO 8601 timestamp (``Z``, an offset, or none: then in ``naive``, UTC unless said), None when empty.

    A space may stand for the ``T`` (``2012-05-03 17:01:05``, as some documents write them).

    Raises:
        ValueError: the value is not an ISO 8601 timestamp.
    """
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value).strip().replace("Z", "+00:00").replace(" ", "T", 1)
        parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=naive)
