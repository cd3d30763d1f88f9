"""Paging that does not advance fails: the guard every listing of both connectors uses.

A server that ignores the paging parameter answers page 1 for every page; a client that
trusts "more pages" flags then loops forever, emitting the same records again and again.
Each listing pass (one endpoint, one filter, first page to last) keeps a :class:`PageGuard`
that fails the run, naming the endpoint and page, when

- a page's body is identical to the previous page's;
- every record on a page was already received earlier in the same pass;
- there are more pages than the total the server itself reported allows.
"""

from __future__ import annotations

import array
import bisect
import math
import typing as t

from jobsync_common.errors import JobSyncError


class PagingError(JobSyncError):
    """Paging did not advance (or ran past the reported total): stopping instead of looping."""


class SeenKeys:
    """A compact set of record keys (8 bytes a key, not ~60 as a ``set`` of tuples).

    Keys are stored as 64-bit hashes, recent ones in a small set, the rest in a sorted
    array merged in batches; a hash collision can only make a key look seen (a false
    duplicate warning), never hide a loop.
    """

    _BATCH = 65_536

    def __init__(self) -> None:
        self._sorted = array.array("q")
        self._recent: set[int] = set()

    def add(self, key: t.Hashable) -> bool:
        """Remember ``key``; return True when it was seen before."""
        value = hash(key)
        if value in self._recent:
            return True
        index = bisect.bisect_left(self._sorted, value)
        if index < len(self._sorted) and self._sorted[index] == value:
            return True
        self._recent.add(value)
        if len(self._recent) >= self._BATCH:
            merged = sorted([*self._sorted, *self._recent])
            self._sorted = array.array("q", merged)
            self._recent = set()
        return False

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)


class PageGuard:
    """Checks each page of one listing pass (see the module docstring)."""

    def __init__(self, service: str, endpoint: str, key: t.Callable[[dict[str, t.Any]], t.Hashable] | None) -> None:
        self.service = service
        self.endpoint = endpoint
        self.key = key
        self.pages = 0
        self._previous_body: bytes | None = None
        self._seen = SeenKeys()

    def check(self, body: bytes, records: t.Sequence[t.Any], *, pages_allowed: int | None = None) -> None:
        """Check the next page (its raw body and its records); raise :class:`PagingError` when paging is stuck."""
        self.pages += 1
        page = self.pages
        where = f"{self.service}: {self.endpoint}"
        if pages_allowed is not None and page > pages_allowed:
            msg = (
                f"{where}: page {page} is beyond the {pages_allowed} page(s) the server's own total allows; "
                "stopping instead of paging without end."
            )
            raise PagingError(msg)
        if records and self._previous_body is not None and body == self._previous_body:
            msg = (
                f"{where}: page {page} is identical to page {page - 1}: the server ignores the paging "
                "parameter; stopping instead of reading the same page forever."
            )
            raise PagingError(msg)
        self._previous_body = body
        if self.key is None or not records:
            return
        new = 0
        for record in records:
            if isinstance(record, dict) and not self._seen.add(self.key(record)):
                new += 1
        if not new and page > 1:
            msg = (
                f"{where}: every record on page {page} was already received on earlier pages: paging does not "
                "advance; stopping."
            )
            raise PagingError(msg)


def pages_for(total: t.Any, page_size: int) -> int | None:
    """Pages a reported total allows at ``page_size`` records a page (None when there is no usable total)."""
    if isinstance(total, bool) or not isinstance(total, int) or total < 0 or page_size <= 0:
        return None
    # One page more than the arithmetic: a total that grows while we page is legitimate.
    return max(1, math.ceil(total / page_size)) + 1
