"""Save and load a sandbox's world, so a restarted sandbox carries on where it stopped.

``jobsync-sandbox serve --state-file PATH`` loads PATH at start (when it exists) and saves
it on shutdown: every API's store (seed, sizes, seeded-data overrides, change logs,
sessions...), its readings (which interpretation of its document it plays) and the clock offset. Running the demo twice then meets the same world: the
second run's bookmarks still point into it, so it reads only what changed.

What is saved is each API object's attributes, pickled, except what belongs to the live
process: the sandbox, the clock and locks are written as references and re-attached to
the new process's objects on load; credentials are not saved (the command line's win).
The request log and fault rules are not saved either: they describe one session.

A pickle runs code when loaded: load only state files this sandbox wrote.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import pickle
import threading
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from jobsync_sandbox.core import SimulatedAPI
    from jobsync_sandbox.server import Sandbox

#: Bumped when the file's layout changes; an older file is refused with a clear message.
FORMAT = 1
#: Attributes of an API that belong to the process, not to the simulated world.
_LIVE_ATTRIBUTES = frozenset({"sandbox", "clock", "lock", "credentials"})
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


class StateFileError(Exception):
    """The state file cannot be used; the message says which file and what to do."""


class _Pickler(pickle.Pickler):
    def __init__(self, file: t.BinaryIO, sandbox: Sandbox) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._refs: dict[int, tuple[str, ...]] = {id(sandbox): ("sandbox",), id(sandbox.clock): ("clock",)}
        self._refs |= {id(api): ("api", name) for name, api in sandbox.apis.items()}

    def persistent_id(self, obj: t.Any) -> tuple[str, ...] | None:
        if isinstance(obj, _LOCK_TYPES):
            return ("rlock",) if isinstance(obj, type(threading.RLock())) else ("lock",)
        return self._refs.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: t.BinaryIO, sandbox: Sandbox) -> None:
        super().__init__(file)
        self._sandbox = sandbox

    def persistent_load(self, pid: tuple[str, ...]) -> t.Any:
        kind = pid[0]
        if kind == "sandbox":
            return self._sandbox
        if kind == "clock":
            return self._sandbox.clock
        if kind == "api":
            return self._sandbox.apis[pid[1]]
        if kind == "rlock":
            return threading.RLock()
        if kind == "lock":
            return threading.Lock()
        msg = f"unknown reference {pid!r}"
        raise pickle.UnpicklingError(msg)


def _world(api: SimulatedAPI) -> dict[str, t.Any]:
    # An API names attributes that only mean something in this process (e.g. rate-limit
    # windows on the monotonic clock) in `persist_exclude`; a loaded sandbox keeps fresh ones.
    skip = _LIVE_ATTRIBUTES | set(getattr(type(api), "persist_exclude", ()))
    return {k: v for k, v in vars(api).items() if k not in skip}


def save(sandbox: Sandbox, path: Path) -> None:
    """Write the sandbox's world to ``path`` atomically (a crash mid-write keeps the old file)."""
    buffer = io.BytesIO()
    apis = sandbox.apis
    # Each API's lock: a request handled during the save cannot leave a half-changed store.
    for api in apis.values():
        api.lock.acquire()
    try:
        document = {
            "format": FORMAT,
            "saved_at": dt.datetime.now(dt.UTC).isoformat(),
            "clock_offset": sandbox.clock.offset,
            "apis": {name: _world(api) for name, api in apis.items()},
        }
        _Pickler(buffer, sandbox).dump(document)
    finally:
        for api in apis.values():
            api.lock.release()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(buffer.getvalue())
    os.replace(temporary, path)


def load(sandbox: Sandbox, path: Path) -> dict[str, t.Any]:
    """Replace the sandbox's world with the one saved in ``path``; return what was loaded.

    The sandbox must have the same APIs as the one that saved the file.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        msg = f"cannot read sandbox state file {path}: {exc.strerror}"
        raise StateFileError(msg) from None
    try:
        document = _Unpickler(io.BytesIO(raw), sandbox).load()
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing
        msg = f"sandbox state file {path} is unreadable ({type(exc).__name__}: {exc}); delete it to start afresh"
        raise StateFileError(msg) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else None
        msg = f"sandbox state file {path} has format {found!r}, this sandbox reads {FORMAT}; delete it to start afresh"
        raise StateFileError(msg)
    saved = document["apis"]
    if set(saved) != set(sandbox.apis):
        msg = (
            f"sandbox state file {path} holds the APIs {sorted(saved)}, this sandbox serves "
            f"{sorted(sandbox.apis)}; delete it to start afresh"
        )
        raise StateFileError(msg)
    for name, world in saved.items():
        api = sandbox.apis[name]
        with api.lock:
            api.__dict__.update(world)
            # Readings a newer sandbox added keep their defaults; ones it dropped are ignored.
            api.restore_readings(dict(api.readings))
    sandbox.clock.set_offset(document["clock_offset"])
    return {"saved_at": document["saved_at"], "apis": sorted(saved)}
