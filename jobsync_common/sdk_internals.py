"""Every place JobSync relies on singer-sdk beyond its public API, gathered here (singer-sdk 0.54).

Anything else in the code base uses singer-sdk's public hooks only. Each touch below is a
named hook our classes implement, and ``tests/test_sdk_internals.py`` checks, touch by
touch, that singer-sdk still behaves as relied on: an upgrade that changes one fails there
loudly, naming it, instead of somewhere deep in a sync.

Tap streams (:class:`StreamInternals`):

1. ``Stream._write_schema_message``: called once per sync, so once per parent record for
   a child stream; ``should_write_schema()`` lets a child write its SCHEMA once per run.
2. ``Stream._generate_record_messages``: turns each record into RECORD messages; replaced
   by ``record_messages()`` (the same work, planned once per stream: tap_jobsync/messages.py).
3. ``Stream._stream_version``: the table version singer-sdk stamps on every RECORD
   (``table_version``).
4. ``Stream._write_activate_version_message``: writes ACTIVATE_VERSION
   (``write_activate_version``).
5. ``Stream.sync`` is marked final and has no hook after a stream's whole sync (children
   included): ``sync_whole()`` wraps it.
6. ``singer_sdk.helpers._catalog``, ``._typing``, ``._util``: the conformance and selection
   helpers the fast record path calls (re-exported below).

Plugins (:class:`TapInternals`, :class:`TargetInternals`):

7. ``PluginBase._handle_termination``: the SIGTERM/SIGINT handler singer-sdk installs; both
   connectors answer through ``on_stop_signal()``.
8. ``Target._process_state_message``: the STATE callback; ``after_state_message()`` drains.
9. ``Target._write_state_message``: where a target prints a STATE; ``may_confirm()`` vets it
   and ``state_confirmed()`` follows it.
10. ``Target.drain_one`` is marked final, yet every drain passes through it (a STATE, the end
    of input, a full sink, singer-sdk's parallel ``drain_all``): ``drain_sink()`` wraps it.
11. ``Tap.sync_all`` is marked final: ``before_sync_all()`` runs first (the preflight check).
12. ``SingerReader._process_unknown_message``: what a target's reader does with a message of an
    unknown type (singer-sdk: a warning); ``unknown_message()`` (:class:`ReaderInternals`).
11. ``Tap.sync_all`` is marked final and has no hook before a run's first message:
    ``before_sync_all()`` runs there.
"""

from __future__ import annotations

import typing as t
from types import FrameType

import singer_sdk.singerlib as singer
from singer_sdk import RESTStream, Tap, Target
from singer_sdk.helpers._catalog import pop_deselected_record_properties  # touch 6
from singer_sdk.helpers._typing import (  # touch 6
    _conform_primitive_property,
    _is_exclusive_boolean_type,
    conform_record_data_types,
    is_datetime_type,
    is_object_type,
    is_uniform_list,
)
from singer_sdk.helpers._util import utc_now  # touch 6
from singer_sdk.io_base import SingerReader
from typing_extensions import override

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context
    from singer_sdk.sinks import Sink

__all__ = [
    "ReaderInternals",
    "StreamInternals",
    "TapInternals",
    "TargetInternals",
    "conform_primitive_property",
    "conform_record_data_types",
    "is_datetime_type",
    "is_exclusive_boolean_type",
    "is_object_type",
    "is_uniform_list",
    "pop_deselected_record_properties",
    "utc_now",
]

conform_primitive_property = _conform_primitive_property
is_exclusive_boolean_type = _is_exclusive_boolean_type


class StreamInternals(RESTStream[t.Any]):
    """The tap's stream hooks into singer-sdk internals (touches 1 to 5)."""

    # -- touch 1 -----------------------------------------------------------------------------
    def should_write_schema(self) -> bool:
        """Whether this sync writes the stream's SCHEMA (default: every time, as singer-sdk does)."""
        return True

    @override
    def _write_schema_message(self) -> None:
        if self.should_write_schema():
            super()._write_schema_message()

    # -- touch 2 -----------------------------------------------------------------------------
    def record_messages(self, record: dict[str, t.Any]) -> t.Iterator[singer.RecordMessage]:
        """The RECORD messages of one record (default: singer-sdk's own)."""
        yield from self.sdk_record_messages(record)

    def sdk_record_messages(self, record: dict[str, t.Any]) -> t.Iterator[singer.RecordMessage]:
        """singer-sdk's own record-to-messages path."""
        yield from super()._generate_record_messages(record)

    @override
    def _generate_record_messages(self, record: dict[str, t.Any]) -> t.Generator[singer.RecordMessage, None, None]:
        yield from self.record_messages(record)

    # -- touches 3 and 4 ---------------------------------------------------------------------
    @property
    def table_version(self) -> int | None:
        """The version singer-sdk stamps on every RECORD of this stream (None: no version)."""
        return self._stream_version

    @table_version.setter
    def table_version(self, version: int | None) -> None:
        self._stream_version = version

    def write_activate_version(self, version: int) -> None:
        """Write ACTIVATE_VERSION for this stream: a loader drops (or flags) rows of older versions."""
        self._write_activate_version_message(version)

    # -- touch 5 -----------------------------------------------------------------------------
    def sync_whole(self, context: Context | None, sync: t.Callable[[Context | None], None]) -> None:
        """Run singer-sdk's sync of this stream (children included); override to act around it."""
        sync(context)

    @override  # type: ignore[misc]  # final in singer-sdk: touch 5
    def sync(self, context: Context | None = None) -> None:
        self.sync_whole(context, super().sync)


class TapInternals(Tap):
    """The tap's hooks into singer-sdk's signal handling and its sync of all streams (touches 7 and 11)."""

    # -- touch 7 -----------------------------------------------------------------------------
    def on_stop_signal(self, signum: int) -> None:
        """Called in the main thread on SIGTERM/SIGINT (default: singer-sdk's own handling)."""
        super()._handle_termination(signum, None)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self.on_stop_signal(signum)

    # -- touch 11 ----------------------------------------------------------------------------
    def before_sync_all(self) -> None:
        """Called before singer-sdk syncs the selected streams, ahead of any message (default: nothing)."""

    def sync_all(self) -> None:  # type: ignore[misc]  # final in singer-sdk: touch 11
        self.before_sync_all()
        super().sync_all()


class ReaderInternals(SingerReader):
    """The target's input reader hook (touch 12)."""

    def unknown_message(self, message_dict: dict[str, t.Any]) -> None:
        """A message whose type singer-sdk does not know (default: singer-sdk's own handling)."""
        super()._process_unknown_message(message_dict)

    @override
    def _process_unknown_message(self, message_dict: dict[str, t.Any]) -> None:
        self.unknown_message(message_dict)


class TargetInternals(Target):
    """The target's hooks into singer-sdk's state handling, draining and signals (touches 7 to 10)."""

    # -- touch 7 -----------------------------------------------------------------------------
    def on_stop_signal(self, signum: int) -> None:
        """Called in the main thread on SIGTERM/SIGINT (default: singer-sdk's own handling)."""
        super()._handle_termination(signum, None)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self.on_stop_signal(signum)

    # -- touch 8 -----------------------------------------------------------------------------
    def after_state_message(self) -> None:
        """Called after singer-sdk recorded an input STATE as the latest one (default: nothing)."""

    @override
    def _process_state_message(self, message_dict: dict[str, t.Any]) -> None:
        super()._process_state_message(message_dict)
        self.after_state_message()

    # -- touch 9 -----------------------------------------------------------------------------
    def may_confirm(self, state: dict[str, t.Any]) -> bool:  # noqa: ARG002
        """Whether this STATE may be printed now (default: yes)."""
        return True

    def state_confirmed(self, state: dict[str, t.Any]) -> None:
        """Called once a STATE was printed (default: nothing)."""

    @override
    def _write_state_message(self, state: dict[str, t.Any]) -> None:
        if not self.may_confirm(state):
            return
        super()._write_state_message(state)
        self.state_confirmed(state)

    # -- touch 10 ----------------------------------------------------------------------------
    def drain_sink(self, sink: Sink, drain: t.Callable[[Sink], None]) -> None:
        """Drain ``sink`` with singer-sdk's ``drain``, whoever asks; override to act around it."""
        drain(sink)

    @override  # type: ignore[misc]  # final in singer-sdk: touch 10
    def drain_one(self, sink: Sink) -> None:
        self.drain_sink(sink, super().drain_one)
