"""``jobsync-sandbox serve``: run every simulated API on one loopback port."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import typing as t
from pathlib import Path

from jobsync_sandbox import persist
from jobsync_sandbox.configs import sandbox_env, tap_config, target_config
from jobsync_sandbox.core import parse_reading_assignments
from jobsync_sandbox.server import Sandbox


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="jobsync-sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the sandbox until interrupted")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--seed", type=int, default=1)
    serve.add_argument(
        "--sizes",
        default="{}",
        help='JSON of seeded data sizes per API, e.g. \'{"jobcase": {"jobs": 1000}}\'',
    )
    serve.add_argument("--credentials", type=Path, help="JSON file of credentials per API (default: sandbox ones)")
    serve.add_argument("--write-env", type=Path, help="write TAP_JOBSYNC_*/TARGET_JOBSYNC_* variables here")
    serve.add_argument("--write-configs", type=Path, help="write tap.json and target.json into this directory")
    serve.add_argument("--ready-file", type=Path, help="write the base URLs here (JSON) once serving")
    serve.add_argument(
        "--reading",
        action="append",
        default=[],
        metavar="API.NAME=VALUE",
        help="play one reading of an ambiguous API document, e.g. jobcase.trailing_slash=optional "
        "(repeatable; `jobsync-sandbox readings` lists them all). Wins over a reading saved in --state-file",
    )
    serve.add_argument(
        "--state-file",
        type=Path,
        help="load every API's store and the clock from this file at start (when it exists; it then wins "
        "over --seed/--sizes) and save them there on shutdown (SIGTERM/SIGINT)",
    )
    readings = sub.add_parser("readings", help="list every reading the sandbox can play (name, values, default)")
    readings.add_argument("--api", help="only this API's readings")
    readings.add_argument("--markdown", action="store_true", help="a Markdown table per API (for docs/<service>.md)")
    return parser.parse_args(argv)


def _fail(message: str) -> t.NoReturn:
    print(f"jobsync-sandbox: error: {message}", file=sys.stderr)
    sys.exit(2)


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _print_readings(only: str | None, *, markdown: bool) -> None:
    described = Sandbox().describe_readings()
    if only is not None and only not in described:
        _fail(f"no API named {only} (the APIs: {', '.join(described)})")
    for api, readings in described.items():
        if only is not None and api != only:
            continue
        if markdown:
            print("| switch | values | default | the document's words |\n|---|---|---|---|")
        for name, reading in readings.items():
            if markdown:
                cell = _markdown_cell
                values = "<br>".join(f"`{value}`: {cell(meaning)}" for value, meaning in reading["values"].items())
                default = f"`{reading['default']}`: {cell(reading['why'])}"
                print(f"| `{api}.{name}` | {values} | {default} | {cell(reading['doc'])} |")
            else:
                print(f"{api}.{name} = {reading['default']}   ({'|'.join(reading['values'])})", flush=True)


def _read_json_file(path: Path, option: str) -> t.Any:
    """A JSON file named on the command line, or one line saying what is wrong with it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"{option} file {path} cannot be read ({exc.strerror or exc})")
    except ValueError as exc:
        _fail(f"{option} file {path} is not JSON ({exc})")


def _build_sandbox(args: argparse.Namespace) -> tuple[Sandbox, dict[str, dict[str, str]]]:
    """The sandbox the command line asks for, and the readings it names (they win over a state file's)."""
    credentials = _read_json_file(args.credentials, "--credentials") if args.credentials else None
    try:
        sizes = json.loads(args.sizes)
    except ValueError as exc:
        _fail(f"--sizes is not JSON ({exc})")
    try:
        readings = parse_reading_assignments(args.reading)
        sandbox = Sandbox(seed=args.seed, sizes=sizes, credentials=credentials, readings=readings)
    except ValueError as exc:
        _fail(str(exc))
    return sandbox, readings


def _load_state(sandbox: Sandbox, state_file: Path, readings: dict[str, dict[str, str]]) -> None:
    try:
        loaded = persist.load(sandbox, state_file)
    except persist.StateFileError as exc:
        _fail(str(exc))
    sandbox.set_readings(readings)  # the command line wins over the saved readings
    print(f"loaded state from {state_file} (saved {loaded['saved_at']})", flush=True)


def _write_settings(sandbox: Sandbox, args: argparse.Namespace) -> None:
    """The --write-env and --write-configs files that point the connectors here (and the --ready-file folder)."""
    creds = {name: api.credentials for name, api in sandbox.apis.items()}
    for path in (args.write_env, args.ready_file):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    if args.write_env:
        env = sandbox_env(sandbox.base_urls, creds) | {"JOBSYNC_SANDBOX_URL": sandbox.url}
        args.write_env.write_text("".join(f"export {k}={json.dumps(v)}\n" for k, v in env.items()))
    if args.write_configs:
        args.write_configs.mkdir(parents=True, exist_ok=True)
        (args.write_configs / "tap.json").write_text(json.dumps(tap_config(sandbox.base_urls, creds), indent=2))
        (args.write_configs / "target.json").write_text(json.dumps(target_config(sandbox.base_urls, creds), indent=2))


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    if args.command == "readings":
        _print_readings(args.api, markdown=args.markdown)
        return
    sandbox, readings = _build_sandbox(args)
    if args.state_file and args.state_file.exists():
        _load_state(sandbox, args.state_file, readings)
    try:
        sandbox.start(args.host, args.port)
    except OSError as exc:
        _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    _write_settings(sandbox, args)
    urls = {"control": sandbox.url, **sandbox.base_urls}
    for name, url in urls.items():
        print(f"{name:16} {url}", flush=True)
    if args.ready_file:
        args.ready_file.write_text(json.dumps(urls))

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    sandbox.stop()
    if args.state_file:
        persist.save(sandbox, args.state_file)
        print(f"saved state to {args.state_file}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
