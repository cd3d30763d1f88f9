"""PCRecruiter sessions: one ``access-token`` call per run, renewed when the API answers 401."""

from __future__ import annotations

import threading
import typing as t

import requests
from singer_sdk.authenticators import APIAuthenticatorBase

from jobsync_common.errors import JobSyncError, ServiceAuthError
from jobsync_common.http import ServiceClient, ServiceHttp, decode_json
from jobsync_common.redact import register_secret
from tap_jobsync.pcrecruiter import api as pcr


class SessionRefusedError(ServiceAuthError):
    """``access-token`` refused the credentials: renewing the session cannot help."""


class PCRecruiterSessionAuthenticator(APIAuthenticatorBase):
    """Adds ``Authorization: BEARER <SessionId>``, logging in on first use.

    Shared by every PCRecruiter stream of a run (one login, not one per stream). The
    access-token URL carries the password and API key in its query string, so the login
    goes through :class:`ServiceClient`, whose messages show the path only; the session id
    itself is registered as a secret as soon as it arrives.
    """

    def __init__(self, config: t.Mapping[str, t.Any], base_url: str, http: ServiceHttp) -> None:
        super().__init__()
        self._config = dict(config)
        self._lock = threading.Lock()
        self._session_id: str | None = None
        self.logins = 0
        # The streams' own policy and limiter: the login is one more request to the same service.
        self.client = ServiceClient(http, base_url)

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"{pcr.AUTH_SCHEME} {self.session_id()}"
        return request

    def session_id(self) -> str:
        with self._lock:
            if self._session_id is None:
                self._session_id = self._login()
            return self._session_id

    def renew(self, failed_request: requests.PreparedRequest) -> None:
        """Forget the session a request was refused with (another stream may have renewed it already)."""
        sent = (failed_request.headers.get("Authorization") or "").partition(" ")[2]
        with self._lock:
            if self._session_id is None or self._session_id == sent:
                self._session_id = None

    def _login(self) -> str:
        params = {
            "DatabaseId": self._config.get(pcr.DATABASE_ID_SETTING),
            "Username": self._config.get(pcr.USERNAME_SETTING),
            "Password": self._config.get(pcr.PASSWORD_SETTING),
            "AppId": self._config.get(pcr.APP_ID_SETTING),
            "ApiKey": self._config.get(pcr.API_KEY_SETTING),
        }
        try:
            response = self.client.request("GET", pcr.LOGIN_PATH, params=params)
        except ServiceAuthError as exc:
            raise SessionRefusedError(
                exc.service, exc.status, f"GET {pcr.LOGIN_PATH}", pcr.SERVICE.credential_settings
            ) from None
        body = decode_json(response)
        session_id = body.get(pcr.SESSION_ID_KEY) if isinstance(body, dict) else None
        if not session_id:
            msg = f"{pcr.SERVICE.name}: {pcr.LOGIN_PATH} answered without a {pcr.SESSION_ID_KEY}."
            raise JobSyncError(msg)
        register_secret(session_id)
        self.logins += 1
        return str(session_id)
