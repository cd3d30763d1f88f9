"""``target-jobsync --test``: one read-only authenticated call per configured destination.

Each destination is reached through its own ``Destination.make_client`` (base URL, auth,
rate limiter, error messages) with a call that changes nothing, chosen as the cheapest read
the target itself makes before writing:

- Workable: ``GET /candidates?limit=1`` (the sink looks candidates up by email the same way;
  the token needs ``r_candidates`` as well as ``w_candidates``);
- ZipRecruiter: ``GET /subscriber?limit=1`` (the subscribers query);
- Jobcase: ``GET /company/?limit=1`` (the companies list the sinks index).

One line per destination, exit status 1 when any checked destination failed
(``jobsync_common/connection_test.py``).
"""

from __future__ import annotations

import typing as t

import click

from jobsync_common import connection_test as ct
from jobsync_common import jobcase as jc
from jobsync_common import ziprecruiter as zr
from jobsync_common.errors import JobSyncError
from target_jobsync import workable

if t.TYPE_CHECKING:
    import requests
    from singer_sdk import Target

    from target_jobsync.destination import Destination

#: ``ctx.meta`` key set by the ``--test`` option, read by ``TargetJobSync.invoke``.
CLI_FLAG = "target_jobsync.connection_test"

#: Per destination: the read-only probe (path and query) and the base-URL setting to name on failure.
PROBES: dict[str, tuple[str, dict[str, t.Any], str]] = {
    workable.SERVICE.key: ("candidates", {"limit": 1}, workable.SERVICE.base_url_setting),
    zr.SERVICE.key: ("subscriber", {"limit": 1}, zr.SERVICE.base_url_setting),
    jc.SERVICE.key: ("company/", {"offset": 0, "limit": 1}, jc.SERVICE.base_url_setting),
}


def cli_option() -> click.Option:
    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            ctx.meta[CLI_FLAG] = True

    return click.Option(
        ["--test"],
        is_flag=True,
        expose_value=False,
        callback=remember,
        help="Check each configured destination with one read-only call, print one line per destination, "
        "exit 1 if any failed. Reads no input.",
    )


def requested() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context and context.meta.get(CLI_FLAG))


def probe(destination: Destination, config: t.Mapping[str, t.Any]) -> tuple[str, requests.Response]:
    path, params, _ = PROBES[destination.key]
    client = destination.make_client(config)
    response = client.request("GET", path, params=params)
    return f"GET /{path}", response


def check_destination(destination: Destination, config: t.Mapping[str, t.Any]) -> ct.CheckResult:
    credentials = destination.required_settings
    if all(config.get(s) in (None, "") for s in credentials):
        return ct.not_configured(destination.name, credentials)
    base_url_setting = PROBES[destination.key][2]
    return ct.timed_check(destination.name, base_url_setting, lambda: probe(destination, config))


def run_cli(target_class: type[Target], destinations: t.Sequence[Destination], config: t.Any) -> None:
    """``target-jobsync --test``: print one line per destination; fail when any checked one failed."""
    target = target_class(
        config=getattr(config, "config", None) or {},
        parse_env_config=getattr(config, "parse_env", False),
        validate_config=True,
    )
    probe_config = ct.probe_config(target.config)
    results = ct.run_all(destinations, lambda destination: check_destination(destination, probe_config))
    for result in results:
        click.echo(result.line())
    message = ct.failures_message(results, "destination is configured")
    if message:
        raise JobSyncError(message)
