"""``tap-jobsync --test``: one cheap authenticated call per configured service.

singer-sdk's own ``--test`` syncs one record per stream: it stops at the first failing
service and logs an ERROR line per stream even when everything works. Here each
service (or, with a catalog, each service with a selected stream) gets one read made
through that service's own base stream -- its base-URL setting, auth (PCRecruiter logs
in and sends the session token), rate limiter and error messages -- and one line
(``jobsync_common/connection_test.py``). The exit status is 1 when any checked service failed.

The same check can run before every sync (``preflight_connection_test``), so a pipeline
with a wrong credential stops before it emits a record -- which is also what makes
``meltano config test`` (it waits for the first record only) see it.
"""

from __future__ import annotations

import json
import logging
import typing as t
from dataclasses import dataclass

import click
from singer_sdk import typing as th

from jobsync_common import connection_test as ct
from jobsync_common import jobcase as jc
from jobsync_common import ziprecruiter as zr
from jobsync_common.errors import ConfigError, JobSyncError
from tap_jobsync.client import JobSyncStream
from tap_jobsync.jobcase.streams import JobcaseCompaniesStream
from tap_jobsync.pcrecruiter import api as pcr
from tap_jobsync.pcrecruiter.streams import STREAM_TYPES as PCRECRUITER_STREAMS
from tap_jobsync.pcrecruiter.streams import PCRecruiterEntityStream
from tap_jobsync.trackjobchanges import api as tjc
from tap_jobsync.trackjobchanges.streams import TrackJobChangesAccountStream
from tap_jobsync.ziprecruiter.streams import ZipRecruiterSubscribersStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk import Stream, Tap

    from tap_jobsync.service import TapService
    from tap_jobsync.tap import TapJobSync

PREFLIGHT_SETTING = "preflight_connection_test"
#: ``ctx.meta`` key set by the ``--test`` option, read by ``TapJobSync.invoke``.
CLI_FLAG = "tap_jobsync.connection_test"


def settings() -> list[th.Property[t.Any]]:
    return [
        th.Property(
            PREFLIGHT_SETTING,
            th.BooleanType,
            default=False,
            description="Before a sync, make `--test`'s one call per service that has a selected stream; any "
            "failure stops the run before a record is emitted, naming every failing service and its setting. "
            "(`meltano config test` then checks every service, not only the first one to send a record.)",
        ),
    ]


_ProbeStream = t.TypeVar("_ProbeStream", bound=JobSyncStream)


@dataclass(frozen=True)
class Probe(t.Generic[_ProbeStream]):
    """The cheap read that proves a service's settings: which stream sends it, with which parameters."""

    stream_type: t.Callable[[t.Mapping[str, t.Any]], type[_ProbeStream]]
    params: t.Callable[[_ProbeStream], dict[str, t.Any]]


PROBES: dict[str, Probe[t.Any]] = {
    # The account snapshot: one small object (and the `group`, when set, must exist).
    tjc.SERVICE.key: Probe(lambda _config: TrackJobChangesAccountStream, lambda _stream: {}),
    # Log in (access-token), then one row of the first synced entity with the session token.
    pcr.SERVICE.key: Probe[PCRecruiterEntityStream](
        lambda config: PCRECRUITER_STREAMS[pcr.check_config(config)[0]],
        lambda stream: {pcr.RESULTS_PER_PAGE_PARAM: 1, pcr.FIELDS_PARAM: stream.key_name},
    ),
    zr.SERVICE.key: Probe(lambda _config: ZipRecruiterSubscribersStream, lambda _stream: {"limit": 1}),
    jc.SERVICE.key: Probe(lambda _config: JobcaseCompaniesStream, lambda _stream: {"limit": 1}),
}


def probe(tap: Tap, service: TapService, synced: t.Sequence[Stream] = ()) -> tuple[str, requests.Response]:
    """Send the service's probe through a stream of that service (auth, retries, error messages).

    ``synced``: the streams of the sync about to run; the probe joins their run, so the sync reuses what
    the probe set up (PCRecruiter's session).
    """
    run = next((s.service_run for s in synced if isinstance(s, JobSyncStream) and s.service is service.service), None)
    stream = service.streams(tap, [PROBES[service.key].stream_type(tap.config)], run=run)[0]
    params = stream.get_url_params(None, None)
    params = {**(params if isinstance(params, dict) else {}), **PROBES[service.key].params(stream)}
    url = stream.get_url(None)
    response = stream.send_get(url, params=params, headers=stream.http_headers)
    return f"GET {url[len(stream.url_base) :] or '/'}", response


def check_service(
    tap: Tap, service: TapService, selected: set[str] | None, synced: t.Sequence[Stream] = ()
) -> ct.CheckResult:
    """One service's line; ``selected``: the stream names a catalog selects (None: no catalog)."""
    if selected is not None and not any(name.startswith(f"{service.key}_") for name in selected):
        return ct.skipped(service.name, "no selected stream")
    try:
        if not service.is_configured(tap.config):
            return ct.not_configured(service.name, service.credential_settings)
    except ConfigError as exc:
        return ct.CheckResult(service.name, ct.FAILED, ct.explain(service.name, "", exc))
    return ct.timed_check(service.name, service.service.base_url_setting, lambda: probe(tap, service, synced))


def check_services(
    tap: Tap, services: t.Sequence[TapService], selected: set[str] | None, synced: t.Sequence[Stream] = ()
) -> list[ct.CheckResult]:
    return ct.run_all(services, lambda service: check_service(tap, service, selected, synced))


def selected_in_catalog(catalog: t.Mapping[str, t.Any]) -> set[str]:
    """Names of the streams a Singer catalog selects (root metadata ``selected``)."""
    names = set()
    for entry in catalog.get("streams") or []:
        metadata = entry.get("metadata") or []
        root: dict[str, t.Any] = next((m.get("metadata", {}) for m in metadata if m.get("breadcrumb") == []), {})
        if root.get("selected", root.get("selected-by-default", False)):
            names.add(entry.get("tap_stream_id") or entry.get("stream"))
    return names


def _configured_or_partly(service: TapService, config: t.Mapping[str, t.Any]) -> bool:
    try:
        return service.is_configured(config)
    except ConfigError:
        return True


def run_cli(
    tap_class: type[TapJobSync], services: t.Sequence[TapService], config: t.Any, catalog: t.IO[str] | None
) -> None:
    """``tap-jobsync --test``: print one line per service; fail when any checked service failed.

    ``config`` is the SDK's parsed ``--config`` input; ``catalog`` the ``--catalog`` file, if any.
    """
    given = tap_class(
        config=getattr(config, "config", None) or {},
        parse_env_config=getattr(config, "parse_env", False),
        validate_config=True,
        setup_mapper=False,
    )
    tap = tap_class(config=ct.probe_config(given.config, **{PREFLIGHT_SETTING: False}), setup_mapper=False)
    # The result is the lines below; a timing metric per call would only bury them.
    logging.getLogger("singer_sdk.metrics").setLevel(logging.WARNING)
    if not any(_configured_or_partly(service, tap.config) for service in services):
        tap.configured_services()  # raises "No service is configured ..."
    selected = selected_in_catalog(json.loads(catalog.read())) if catalog is not None else None
    results = check_services(tap, services, selected)
    for result in results:
        click.echo(result.line())
    message = ct.failures_message(results, "configured service has a selected stream")
    if message:
        raise JobSyncError(message)


def preflight(tap: Tap, services: t.Sequence[TapService]) -> None:
    """Before a sync: the check of every service with a selected stream, logged; fail before any record.

    It runs with the sync's own settings (full retry budget); PCRecruiter's session is then reused by the sync.
    """
    selected = {s.name for s in tap.streams.values() if s.selected or s.has_selected_descendents}
    services = [s for s in services if any(name.startswith(f"{s.key}_") for name in selected)]
    if not services:
        return
    results = check_services(tap, services, selected, list(tap.streams.values()))
    for result in results:
        level = logging.ERROR if result.outcome == ct.FAILED else logging.INFO
        tap.logger.log(level, "Connection test: %s", result.line())
    failed = [r.line() for r in results if r.outcome == ct.FAILED]
    if failed:
        # Whole lines: a caller that shows only the last line (`meltano config test`) still names the setting.
        raise JobSyncError(f"{PREFLIGHT_SETTING}: {' | '.join(failed)}")
