"""tap-jobsync: declares settings and streams; the services live in their own packages."""

from __future__ import annotations

import logging
import sys
import typing as t

import click
from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from jobsync_common import settings_groups, stopping
from jobsync_common.cli import register_run, run_plugin_cli
from jobsync_common.errors import ConfigError, invalid_settings
from jobsync_common.sdk_internals import TapInternals
from jobsync_common.settings import http_tuning_properties, register_config_secrets
from jobsync_common.timestamps import parse_timestamp
from tap_jobsync import connection_test, versions
from tap_jobsync.client import JobSyncStream
from tap_jobsync.jobcase import SOURCE as JOBCASE
from tap_jobsync.messages import JobSyncMessageWriter
from tap_jobsync.pcrecruiter import SOURCE as PCRECRUITER
from tap_jobsync.service import TapService
from tap_jobsync.trackjobchanges import SOURCE as TRACKJOBCHANGES
from tap_jobsync.ziprecruiter import SOURCE as ZIPRECRUITER

SERVICES: tuple[TapService, ...] = (TRACKJOBCHANGES, PCRECRUITER, ZIPRECRUITER, JOBCASE)


class TapJobSync(TapInternals):
    """Singer tap for TrackJobChanges, PCRecruiter, ZipRecruiter Job Alerts and Jobcase."""

    name = "tap-jobsync"
    package_name = "jobsync"
    # msgspec encoding, no flush per RECORD: see benchmarks/README.md for the figures.
    message_writer_class = JobSyncMessageWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "start_date",
            th.DateTimeType,
            description="ISO 8601 lower bound for incremental streams on their first run.",
        ),
        *http_tuning_properties(),
        *(prop for service in SERVICES for prop in service.settings),
        *versions.settings(),
        *connection_test.settings(),
    ).to_dict()

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict[str, t.Any]) -> None:
        super().append_builtin_config(config_jsonschema)
        # One group per service (Meltano's settings_group_validation): any one service is enough.
        settings_groups.declare(
            config_jsonschema, ((*s.credential_settings, *s.required_when_configured) for s in SERVICES)
        )

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        try:
            super().__init__(*args, **kwargs)
        except ConfigValidationError as exc:
            raise invalid_settings(exc) from None
        register_config_secrets(self.config, (s for service in SERVICES for s in service.secret_settings))
        register_run(self)

    # -- stop signals ---------------------------------------------------------------------------
    def on_stop_signal(self, signum: int) -> None:
        # singer-sdk's handler prints the in-memory state and exits 0; a stopped tap must do neither.
        stopping.handle_signal(signum, interrupt_anywhere=True)

    def on_stopped(self, stop: stopping.StopRequested) -> str:  # noqa: ARG002
        """Emit the last good STATE again (records after it are only flushed); name the unfinished streams."""
        writer = self.message_writer
        last_state = getattr(writer, "last_state", None)
        if last_state is not None:
            writer.write_message(last_state)
        sys.stdout.flush()
        wanted = [s for s in self.streams.values() if (s.selected or s.has_selected_descendents)]
        unfinished = [s.name for s in wanted if not (isinstance(s, JobSyncStream) and s.finished)]
        finished = len(wanted) - len(unfinished)
        resume = "resume from the last STATE" if last_state is not None else "no STATE was emitted: run again in full"
        return (
            f"{finished} of {len(wanted)} streams finished; not finished: {', '.join(unfinished) or 'none'}; {resume}."
        )

    def configured_services(self) -> list[TapService]:
        configured = [service for service in SERVICES if service.is_configured(self.config)]
        if not configured:
            wanted = "; ".join(
                f"{service.name}: {', '.join(f'`{s}`' for s in service.credential_settings)}" for service in SERVICES
            )
            msg = f"No service is configured. Set the credentials of at least one: {wanted}."
            raise ConfigError(msg)
        return configured

    def discover_streams(self) -> list[Stream]:
        register_config_secrets(self.config, (s for service in SERVICES for s in service.secret_settings))
        self.check_start_date()
        return [stream for service in self.configured_services() for stream in service.streams(self)]

    def check_start_date(self) -> None:
        # The JSON schema's date-time format is not enforced: an unparsable value would fail mid-sync.
        start = self.config.get("start_date")
        try:
            parse_timestamp(start)
        except (TypeError, ValueError):
            msg = f"Setting `start_date` must be an ISO 8601 date-time such as 2024-01-01T00:00:00Z, got {start!r}."
            raise ConfigError(msg) from None

    # -- connection test (tap_jobsync/connection_test.py) ------------------------------------------
    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        # `--test` (no value): our per-service check, run by invoke() once --catalog is parsed too.
        if value == CliTestOptionValue.All.value:
            ctx.meta[connection_test.CLI_FLAG] = True
            return
        super().cb_test(ctx, param, value)

    @classmethod
    def invoke(cls, **kwargs: t.Any) -> None:
        if not kwargs.get("about") and click.get_current_context().meta.get(connection_test.CLI_FLAG):
            connection_test.run_cli(cls, SERVICES, kwargs.get("config"), kwargs.get("catalog"))
            return
        super().invoke(**kwargs)

    @override
    def before_sync_all(self) -> None:
        if self.config.get(connection_test.PREFLIGHT_SETTING):
            connection_test.preflight(self, SERVICES)


class _UnsortedNotice(logging.Filter):
    """singer-sdk warns "Stream is assumed to be unsorted" once per unsorted incremental stream and run.

    For these streams that is by design (their APIs list in no order a checkpoint could use;
    docs/reliability.md says what it means on an interruption), so it is kept at DEBUG. So is its
    "New replication value is null", once per record without the key: the stream says it once
    per run, with what it means (TrackJobChanges connections without `employment_checked_at`).
    """

    QUIET = ("Stream is assumed to be unsorted", "New replication value is null")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith(self.QUIET):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


logging.getLogger("singer_sdk").addFilter(_UnsortedNotice())


def main() -> None:
    run_plugin_cli(TapJobSync, "tap-jobsync")


if __name__ == "__main__":
    main()
