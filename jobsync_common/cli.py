"""Console entry points: one line on every failure a user can cause, stop signals, secrets scrubbed.

Every way a run ends badly ends in one line on stderr, ``<prog>: error: ...`` or
``<prog>: stopped by SIGTERM: ...``, and a non-zero exit. A traceback is shown only
when asked for (``JOBSYNC_DEBUG=1``, or the plugin's log level set to debug, e.g.
``TAP_JOBSYNC_LOGLEVEL=debug``).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import typing as t
from pathlib import Path

from jobsync_common import stopping
from jobsync_common.errors import JobSyncError
from jobsync_common.redact import install_stderr_scrubber, scrub

#: Options whose value is a JSON file the plugin reads (``--config ENV`` reads the environment).
_JSON_FILE_OPTIONS = ("--config", "--state", "--catalog")


class StoppableRun(t.Protocol):
    def on_stopped(self, stop: stopping.StopRequested) -> str:
        """Finish after a stop signal (write only what is confirmed); return what was confirmed, in one line."""


_active_runs: list[StoppableRun] = []


def register_run(run: StoppableRun) -> None:
    """The plugin instance running now: told when a stop signal ends the run."""
    _active_runs.append(run)


def debug_enabled(prog: str) -> bool:
    level_vars = (f"{prog.upper().replace('-', '_')}_LOGLEVEL", "LOGLEVEL")
    if os.environ.get("JOBSYNC_DEBUG", "").lower() in {"1", "true", "yes"}:
        return True
    return any(os.environ.get(name, "").lower() == "debug" for name in level_vars)


def _fail(prog: str, message: str, status: int = 1) -> t.NoReturn:
    sys.stderr.write(f"{prog}: error: {scrub(message)}\n")
    sys.stderr.flush()
    sys.exit(status)


def _option_values(argv: t.Sequence[str], option: str) -> list[str]:
    values = []
    for index, arg in enumerate(argv):
        if arg == option and index + 1 < len(argv):
            values.append(argv[index + 1])
        elif arg.startswith(option + "="):
            values.append(arg.split("=", 1)[1])
    return values


def check_input_files(prog: str, argv: t.Sequence[str]) -> None:
    """Fail in one line, naming the option and file, when a JSON input file is missing or not JSON."""
    for option in _JSON_FILE_OPTIONS:
        for value in _option_values(argv, option):
            if option == "--config" and value == "ENV":
                continue
            path = Path(value)
            if not path.is_file():
                _fail(prog, f"{option} file {value} was not found.", 2)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                _fail(prog, f"{option} file {value} cannot be read: {exc.__class__.__name__}: {exc}", 2)
            except (json.JSONDecodeError, RecursionError) as exc:
                where = (
                    f" (line {exc.lineno}, column {exc.colno}: {exc.msg})"
                    if isinstance(exc, json.JSONDecodeError)
                    else ""
                )
                _fail(prog, f"{option} file {value} is not valid JSON{where}.", 2)
            if not isinstance(data, dict):
                _fail(prog, f"{option} file {value} must hold a JSON object, not a {type(data).__name__}.", 2)


def run_plugin_cli(plugin_cls: t.Any, prog: str) -> None:
    """Run a singer-sdk plugin's CLI with the endings described in the module docstring."""
    install_stderr_scrubber()
    stopping.set_program(prog)
    check_input_files(prog, sys.argv[1:])
    try:
        plugin_cls.cli()
    except stopping.StopRequested as stop:
        confirmed = _active_runs[-1].on_stopped(stop) if _active_runs else "nothing was confirmed"
        sys.stderr.write(f"{prog}: stopped by {stop.signal_name}: {scrub(confirmed)}\n")
        sys.stderr.flush()
        sys.exit(stop.exit_status)
    except JobSyncError as exc:
        _fail(prog, str(exc))
    except RecursionError:
        _fail(prog, "input nested too deeply to process (RecursionError).")
    except Exception as exc:  # noqa: BLE001 - a traceback only on request, never a secret in it
        cause = _first_jobsync_cause(exc)
        if cause is not None:
            _fail(prog, str(cause))
        if debug_enabled(prog):
            sys.stderr.write(scrub("".join(traceback.format_exception(exc))))
        hint = "" if debug_enabled(prog) else " (set JOBSYNC_DEBUG=1 for the traceback)"
        _fail(prog, f"{type(exc).__name__}: {exc}{hint}")


def _first_jobsync_cause(exc: BaseException) -> JobSyncError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, JobSyncError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
