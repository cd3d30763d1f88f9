"""target-jobsync: declares settings and routes streams to the destination sinks."""

from __future__ import annotations

import contextlib
import graphlib
import json
import os
import threading
import typing as t
from pathlib import Path

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, MissingKeyPropertiesError, RecordsWithoutSchemaException
from singer_sdk.helpers.capabilities import TargetCapabilities
from singer_sdk.singerlib.exceptions import InvalidInputLine
from singer_sdk.singerlib.json import deserialize_json
from typing_extensions import override

from jobsync_common import settings_groups, stopping
from jobsync_common.cli import register_run, run_plugin_cli
from jobsync_common.errors import ConfigError, JobSyncError, invalid_settings
from jobsync_common.sdk_internals import ReaderInternals, TargetInternals
from jobsync_common.settings import http_tuning_properties, register_config_secrets
from target_jobsync import connection_test
from target_jobsync.dead_letters import DEAD_LETTER_SETTING, DeadLetters
from target_jobsync.jobcase import DESTINATION as JOBCASE
from target_jobsync.sinks import JobSyncSink
from target_jobsync.workable import DESTINATION as WORKABLE
from target_jobsync.ziprecruiter import DESTINATION as ZIPRECRUITER

if t.TYPE_CHECKING:
    import click
    from singer_sdk.helpers.capabilities import CapabilitiesEnum
    from singer_sdk.sinks import Sink

    from jobsync_common.http import ServiceClient
    from target_jobsync.destination import Destination

DESTINATIONS: tuple[Destination, ...] = (WORKABLE, ZIPRECRUITER, JOBCASE)
SINKS: dict[str, tuple[Destination, type[JobSyncSink]]] = {
    sink.sink_name: (destination, sink) for destination in DESTINATIONS for sink in destination.sinks
}
#: Sinks other sinks depend on (``JobSyncSink.depends_on``), each after its own dependencies; a cycle fails at import.
DEPENDENCIES: tuple[str, ...] = tuple(
    name
    for name in graphlib.TopologicalSorter({name: sink.depends_on for name, (_, sink) in SINKS.items()}).static_order()
    if any(name in sink.depends_on for _, sink in SINKS.values())
)


class InputLineError(JobSyncError):
    """A line of the input is not a Singer message this target can take."""


# One per singer-sdk input error, so callers catching the SDK's type still catch it.
class _InvalidLineError(InputLineError, InvalidInputLine): ...


class _RecordBeforeSchemaError(InputLineError, RecordsWithoutSchemaException): ...


class _MissingKeyError(InputLineError, MissingKeyPropertiesError): ...


class NumberedSingerReader(ReaderInternals):
    """singer-sdk's reader; a bad input line fails the run in one line naming its number."""

    @override
    def process_lines(
        self, file_input: t.IO[str] | None, callbacks: dict[str, t.Callable[[dict[str, t.Any]], None]]
    ) -> t.Counter[str]:
        self.line_number = 0
        try:
            lines = _interruptible_lines(file_input or self.default_input)
            return super().process_lines(lines, callbacks)  # type: ignore[arg-type]  # singer-sdk only iterates it
        except (InvalidInputLine, RecordsWithoutSchemaException, MissingKeyPropertiesError) as exc:
            msg = f"input line {self.line_number}: {' '.join(str(exc).split())[:500]}"
            if isinstance(exc, RecordsWithoutSchemaException):
                raise _RecordBeforeSchemaError(msg) from None
            if isinstance(exc, MissingKeyPropertiesError):
                raise _MissingKeyError(msg) from None
            raise _InvalidLineError(msg) from None

    @override
    def deserialize_json(self, line: str) -> dict[str, t.Any]:
        self.line_number += 1
        try:
            # singer-sdk types the result a dict, but a line may hold any JSON value.
            message: object = deserialize_json(line)
        except json.JSONDecodeError as exc:
            msg = f"not valid JSON ({exc.msg} at character {exc.pos + 1}): {line.strip()[:200]}"
            raise InvalidInputLine(msg) from None
        except RecursionError:
            msg = f"JSON nested too deeply to process: {line.strip()[:80]}"
            raise InvalidInputLine(msg) from None
        if not isinstance(message, dict):
            msg = f'not a Singer message (a JSON object with a "type"): {line.strip()[:200]}'
            raise InvalidInputLine(msg)
        return message

    @override
    def unknown_message(self, message_dict: dict[str, t.Any]) -> None:
        msg = f"unknown Singer message type {message_dict.get('type')!r}"
        raise InvalidInputLine(msg)


def check_writable_file(config: t.Mapping[str, t.Any], setting: str) -> None:
    """Fail at start, naming the setting, when a file setting cannot be written (before any write)."""
    value = config.get(setting)
    if not value:
        return
    path = Path(str(value))
    if path.is_dir():
        msg = f"Setting `{setting}` is a directory ({path}); give a file path."
        raise ConfigError(msg)
    if path.exists():
        writable = os.access(path, os.W_OK)
    else:
        parent = next((p for p in path.absolute().parents if p.exists()), None)
        writable = parent is not None and parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)
    if not writable:
        msg = f"Setting `{setting}`: {path} cannot be written (check the directory and its permissions)."
        raise ConfigError(msg)


def _is_empty(value: t.Any) -> bool:
    """True for a state holding nothing but empty objects and lists (``{}``, ``{"bookmarks": {}}``)."""
    if isinstance(value, dict):
        return all(_is_empty(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_empty(v) for v in value)
    return value is None


def _interruptible_lines(file_input: t.Iterable[str]) -> t.Iterator[str]:
    """The input's lines; a stop signal while waiting for the next one ends the run at once."""
    lines = iter(file_input)
    while True:
        with stopping.interruptible():
            line = next(lines, None)
        if line is None:
            return
        yield line


class TargetJobSync(TargetInternals):
    """Singer target writing to Workable, ZipRecruiter Job Alerts and Jobcase."""

    name = "target-jobsync"
    package_name = "jobsync"
    # Sinks validate against their own input schemas, not the incoming SCHEMA.
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        c for c in Target.capabilities if c != TargetCapabilities.VALIDATE_RECORDS
    ]
    message_reader_class = NumberedSingerReader

    config_jsonschema = th.PropertiesList(
        th.Property(
            "stream_routes",
            th.ObjectType(additional_properties=th.StringType),
            description="Map incoming stream names to sink names, e.g. "
            '{"positions_for_jobcase": "jobcase_jobs"}. Stream names equal to a sink name need no route.',
        ),
        th.Property(
            DEAD_LETTER_SETTING,
            th.StringType,
            description="JSONL file that receives records the destination rejects, with the reason. "
            "Without it, a rejected record fails the run.",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Validate and report what would be written; call no write endpoint.",
        ),
        th.Property(
            "summary_path",
            th.StringType,
            description="Optional JSON file for the end-of-run summary per sink.",
        ),
        *http_tuning_properties(),
        *(prop for destination in DESTINATIONS for prop in destination.settings),
    ).to_dict()

    @classmethod
    @override
    def append_builtin_config(cls, config_jsonschema: dict[str, t.Any]) -> None:
        super().append_builtin_config(config_jsonschema)
        # Writes are matched create-or-update by design (no load method), and the sinks keep
        # `_sdc_deleted_at` themselves: these warehouse settings would only mislead here.
        for name in ("load_method", "add_record_metadata"):
            config_jsonschema["properties"].pop(name, None)
        settings_groups.declare(config_jsonschema, (d.required_settings for d in DESTINATIONS))  # one per destination

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        #: One HTTP client per destination, shared by its sinks (created with the first of them).
        self._clients: dict[str, ServiceClient] = {}
        #: Every sink created in this run by sink name, oldest first (a changed SCHEMA makes another one).
        self._sinks_by_name: dict[str, list[JobSyncSink]] = {}
        #: One per attached sink, held while it drains: a dependency two threads ask for is drained once.
        self._drain_locks: dict[Sink, threading.Lock] = {}
        self._summaries: dict[str, dict[str, t.Any]] = {}
        #: What the last printed STATE confirmed: (input line, records received, records done).
        self._confirmed: tuple[int, int, int] = (0, 0, 0)
        self._last_written_state: dict[str, t.Any] | None = None
        try:
            super().__init__(*args, **kwargs)
        except ConfigValidationError as exc:
            raise invalid_settings(exc) from None
        register_config_secrets(self.config, (s for d in DESTINATIONS for s in d.secret_settings))
        for setting in (DEAD_LETTER_SETTING, "summary_path"):
            check_writable_file(self.config, setting)
        self.dead_letters = DeadLetters(self.config.get(DEAD_LETTER_SETTING), self.logger)
        register_run(self)

    # -- routing ---------------------------------------------------------------------------
    def sink_name_for(self, stream_name: str) -> str:
        routes = self.config.get("stream_routes") or {}
        sink_name: str = routes.get(stream_name, stream_name)  # the settings' schema: names are strings
        return sink_name

    @override
    def get_sink_class(self, stream_name: str) -> type[Sink]:
        sink_name = self.sink_name_for(stream_name)
        if sink_name not in SINKS:
            routes = self.config.get("stream_routes") or {}
            msg = (
                f"Unknown stream {stream_name!r}: target-jobsync writes {', '.join(sorted(SINKS))}. "
                f"Route other stream names with `stream_routes` (now {json.dumps(routes)})."
            )
            raise ConfigError(msg)
        destination, sink_class = SINKS[sink_name]
        missing = [s for s in destination.required_settings if self.config.get(s) in (None, "")]
        if missing:
            msg = f"Stream {stream_name!r} goes to {destination.name}, which needs {', '.join(f'`{m}`' for m in missing)}."
            raise ConfigError(msg)
        return sink_class

    @override
    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict[str, t.Any] | None = None,
        schema: dict[str, t.Any] | None = None,
        key_properties: t.Sequence[str] | None = None,
    ) -> Sink:
        """singer-sdk's sink lookup; a sink it has just created (only a SCHEMA creates one) is attached first."""
        sink = super().get_sink(stream_name, record=record, schema=schema, key_properties=key_properties)
        if schema is not None and isinstance(sink, JobSyncSink) and sink not in self._drain_locks:  # a new sink
            self._attach(sink)
        return sink

    def _attach(self, sink: JobSyncSink) -> None:
        """Hand a new sink its destination's client and the dead-letter file: sinks never reach up to the target."""
        destination, _ = SINKS[sink.sink_name]
        client = self._clients.get(destination.key)
        if client is None:
            client = self._clients[destination.key] = destination.make_client(self.config)
        sink.attach(client=client, dead_letters=self.dead_letters)
        self._sinks_by_name.setdefault(sink.sink_name, []).append(sink)
        self._drain_locks[sink] = threading.Lock()

    # -- drain order ---------------------------------------------------------------------------
    @override
    def drain_sink(self, sink: Sink, drain: t.Callable[[Sink], None]) -> None:
        """Drain ``sink`` after the sinks it depends on, whoever asks: a STATE, the end of input, a full sink.

        singer-sdk drains a sink that fills up on its own, and all sinks in parallel threads, both
        through here: the dependencies (companies for jobs and campaigns) are written first, and a
        dependency two threads ask for is drained once, the other thread waiting for it.
        """
        for dependency in self._dependencies_of(sink):
            self.drain_one(dependency)
        with self._drain_locks.get(sink) or contextlib.nullcontext():
            drain(sink)

    def drain_in_order(self) -> None:
        """Drain the sinks others depend on (in dependency order), then all the rest in parallel, then the STATE."""
        self.drain_dependencies()
        self.drain_all()

    def drain_dependencies(self) -> None:
        """Drain every sink another one depends on, each after its own dependencies."""
        for name in DEPENDENCIES:
            for sink in self._sinks_by_name.get(name, ()):
                self.drain_one(sink)

    def _dependencies_of(self, sink: Sink) -> list[JobSyncSink]:
        names = sink.depends_on if isinstance(sink, JobSyncSink) else ()
        return [dependency for name in names for dependency in self._sinks_by_name.get(name, ())]

    # -- data safety -------------------------------------------------------------------------
    @override
    def after_state_message(self) -> None:
        """Drain every sink, then emit the state: it now covers only accepted records.

        singer-sdk would otherwise hold the state until a sink fills up or the stream
        ends; a stopped write-back run keeps what it confirmed this way.
        """
        self.drain_in_order()

    @override
    def may_confirm(self, state: dict[str, t.Any]) -> bool:
        # Never an empty state such as {} or {"bookmarks": {}} (Meltano would store it and lose
        # every bookmark), never the same one twice.
        return not _is_empty(state) and state != self._last_written_state

    @override
    def state_confirmed(self, state: dict[str, t.Any]) -> None:
        self._last_written_state = state
        self._confirmed = (getattr(self.message_reader, "line_number", 0), *self._record_counts())

    # -- stop signals -------------------------------------------------------------------------
    @override
    def on_stop_signal(self, signum: int) -> None:
        # singer-sdk's handler drains and prints the latest STATE, then exits 0: that would confirm
        # records of an interrupted batch. Here a write on the wire finishes, nothing new starts.
        stopping.handle_signal(signum, interrupt_anywhere=False)

    def _record_counts(self) -> tuple[int, int]:
        """(records received by the sinks, records whose write finished) so far."""
        received = done = 0
        for sink in self._all_sinks():
            received += getattr(sink, "received", 0)
            done += getattr(sink, "done", 0)
        return received, done

    def _all_sinks(self) -> list[JobSyncSink]:
        return [sink for sinks in self._sinks_by_name.values() for sink in sinks]

    def on_stopped(self, stop: stopping.StopRequested) -> str:  # noqa: ARG002
        """Nothing more is written or confirmed; the summary says what each sink did."""
        self.report_summary()
        line, confirmed_received, confirmed_done = self._confirmed
        received, done = self._record_counts()
        covered = (
            f"the last STATE printed confirms input up to line {line} ({confirmed_done} records)"
            if self._last_written_state
            else "no STATE was printed"
        )
        pending = received - confirmed_received
        return (
            f"{covered}; {pending} records received after it are not confirmed ({done - confirmed_done} of them "
            "were written). Re-run from the last confirmed STATE: the writes are idempotent."
        )

    # -- reporting ---------------------------------------------------------------------------
    @override
    def process_endofpipe(self) -> None:
        self.drain_dependencies()  # then singer-sdk drains the rest and prints the last STATE
        super().process_endofpipe()
        self.report_summary()

    def report_summary(self) -> None:
        summary: dict[str, t.Any] = {}
        for sink in self._all_sinks():
            entry = summary.setdefault(sink.stream_name, {"sink": getattr(sink, "sink_name", sink.stream_name)})
            for outcome, count in getattr(sink, "summary", dict)().items():
                # Counts add up; lists (e.g. ZipRecruiter batch ids) concatenate.
                entry[outcome] = entry[outcome] + count if outcome in entry else count
        for key, client in self._clients.items():
            summary.setdefault("_api_calls", {})[key] = {"total": client.total_calls, **client.calls}
        if self.config.get("dry_run"):
            summary["_dry_run"] = True
        for stream, entry in summary.items():
            self.logger.info("Summary %s: %s", stream, json.dumps(entry, sort_keys=True))
        if self.config.get("summary_path"):
            Path(self.config["summary_path"]).write_text(json.dumps(summary, indent=2, sort_keys=True))

    # -- connection test (target_jobsync/connection_test.py) ---------------------------------------
    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        command.params.append(connection_test.cli_option())
        return command

    @classmethod
    @override
    def invoke(cls, **kwargs: t.Any) -> None:
        if not kwargs.get("about") and connection_test.requested():
            connection_test.run_cli(cls, DESTINATIONS, kwargs.get("config"))
            return
        super().invoke(**kwargs)


def main() -> None:
    run_plugin_cli(TargetJobSync, "target-jobsync")


if __name__ == "__main__":
    main()
