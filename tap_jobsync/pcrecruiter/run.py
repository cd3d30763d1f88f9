"""What the PCRecruiter streams of one run share: one session, and one app-name pull (:class:`PCRecruiterRun`)."""

from __future__ import annotations

import datetime as dt
import threading
import typing as t

from tap_jobsync.pcrecruiter import api as pcr
from tap_jobsync.pcrecruiter.auth import PCRecruiterSessionAuthenticator
from tap_jobsync.service import ServiceRun

if t.TYPE_CHECKING:
    from jobsync_common.http import ServiceHttp
    from tap_jobsync.client import JobSyncStream

#: App-name mode, in the state of every pulled stream: when the START of the last committed pull was sent
#: (our clock), and the command that concluded it.
APP_READ_AT_KEY = "app_name_version_read_at"
APP_COMMIT_KEY = "app_name_commit_command"


def now_stamp() -> str:
    """Our clock, as kept in the state."""
    return dt.datetime.now(dt.UTC).isoformat()


class AppNamePull:
    """One app-name pull per run, shared by the run's PCRecruiter streams.

    PCRecruiter stores one version per app and user, not per entity: a STOP after the
    first stream would make the next stream's START skip everything changed before it.
    So START goes on the run's first request, the bare app name on every later one, and
    STOP only once the last selected stream has emitted its last record. A run that
    fails sends no STOP, and the next START re-reads the same changes.
    """

    def __init__(
        self,
        app_name: str,
        streams: t.Sequence[JobSyncStream],
        *,
        stored_read_at: str | None = None,
        commit_command: str | None = None,
    ) -> None:
        self.app_name = app_name
        #: The streams the pull spans (the run's selected ones).
        self.streams = list(streams)
        self.pending = {stream.name for stream in self.streams}
        self.started = False
        #: A START got a successful answer (the API holds a pull for us).
        self.established = False
        #: When the version PCRecruiter stores for the app was read (the last committed START), if known.
        self.stored_read_at = stored_read_at
        #: The command tried first to conclude the pull (the one that worked last time).
        self.commit_command = commit_command if commit_command in pcr.COMMIT_COMMANDS else pcr.COMMIT_COMMANDS[0]
        #: When this pull's START was sent: what the stored version's time becomes once committed.
        self.started_at: str | None = None

    def start(self) -> str:
        """The START header, noting when it was sent (PCRecruiter keeps the version of that moment)."""
        self.started = True
        self.started_at = now_stamp()
        return pcr.app_header(self.app_name, pcr.START_COMMAND)

    def header(self) -> str:
        return pcr.app_header(self.app_name) if self.started else self.start()

    def finish(self, stream_name: str) -> bool:
        """Mark a stream done; True when it was the last one (time to STOP)."""
        self.pending.discard(stream_name)
        return not self.pending

    def remember_commit(self, command: str) -> None:
        """Keep, in every pulled stream's state, when the committed version was read and what concluded it."""
        for stream in self.streams:
            state = stream.get_context_state(None)
            state[APP_COMMIT_KEY] = command
            if self.started_at is not None:
                state[APP_READ_AT_KEY] = self.started_at


class PCRecruiterRun(ServiceRun):
    """What the PCRecruiter streams of one run share; ``SOURCE.streams`` makes one and hands it to each stream."""

    def __init__(self, config: t.Mapping[str, t.Any]) -> None:
        super().__init__(config)
        self._lock = threading.Lock()
        self._authenticator: PCRecruiterSessionAuthenticator | None = None
        self._pull: AppNamePull | None = None

    def authenticator(self, http: ServiceHttp, base_url: str) -> PCRecruiterSessionAuthenticator:
        """The run's one session (a single access-token call), made with the first asking stream's HTTP policy."""
        with self._lock:
            if self._authenticator is None:
                self._authenticator = PCRecruiterSessionAuthenticator(self.config, base_url, http)
            return self._authenticator

    def app_name_pull(self) -> AppNamePull | None:
        """The run's one app-name pull (None: bookmark mode).

        Made when the first stream syncs: the selection and the state are known by then.
        """
        app_name = self.config.get(pcr.APP_NAME_SETTING)
        if not app_name:
            return None
        with self._lock:
            if self._pull is None:
                selected = [stream for stream in self.streams if stream.selected]
                states = [stream.get_context_state(None) for stream in selected]
                # Every pulled stream keeps the same stamp; the oldest one stands for the version PCRecruiter holds.
                stamps = sorted(str(state[APP_READ_AT_KEY]) for state in states if state.get(APP_READ_AT_KEY))
                commands = [state[APP_COMMIT_KEY] for state in states if state.get(APP_COMMIT_KEY)]
                self._pull = AppNamePull(
                    app_name,
                    selected,
                    stored_read_at=stamps[0] if stamps else None,
                    commit_command=commands[0] if commands else None,
                )
            return self._pull
