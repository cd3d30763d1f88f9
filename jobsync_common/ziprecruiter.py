"""ZipRecruiter Job Alerts API v2: what the tap and the target share.

Source: ``ziprecruiter-job-alerts-v2.txt`` (v2.04). The document contradicts
itself in a few places (a property table says one thing, the example response
shows another); both connectors read either form through the ``normalize_*``
helpers below, so a change of the live API's choice needs no code change.

| table says                    | example shows                  | normalised to          |
|-------------------------------|--------------------------------|------------------------|
| response property ``email``   | ``email_md5``                  | ``email_md5``          |
| query page key ``skip``       | ``offset``                     | ``skip`` (int)         |
| ``total_count`` (a number)    | ``"total_count": "2"``         | int                    |
| batch ``result`` JSON string  | a JSON object                  | dict                   |

Where the document is silent, both connectors find out from the answers and remember it for the
process (:class:`Dialect`): how ``properties`` is sent (comma-joined or repeated; an API that ignores
it is reported loudly). Whether a submitted ``create_time`` may carry a UTC offset is the target's
alone (``target_jobsync/ziprecruiter.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import typing as t
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests.auth
from singer_sdk import typing as th

from jobsync_common.errors import APIRejectedError, JobSyncError, excerpt
from jobsync_common.service import ServiceSpec
from jobsync_common.timestamps import parse_timestamp

T = t.TypeVar("T")

API_KEY_SETTING = "ziprecruiter_api_key"

SERVICE = ServiceSpec(
    key="ziprecruiter",
    name="ZipRecruiter",
    default_base_url="https://api.ziprecruiter.com/job-alerts/v2",
    credential_settings=(API_KEY_SETTING,),
    secret_settings=(API_KEY_SETTING,),
    # The document states no rate limit: no proactive pacing by default; 429s are retried
    # honouring Retry-After.
    default_requests_per_minute=None,
    rate_limit_reason="The API documents no limit; set one if ZipRecruiter assigns it.",
)

# Query actions: "Must be between 1 and 100, inclusive. Defaults to 50."
MAX_PAGE_SIZE = 100

# Documented properties per resource (Properties tables, "response" scope).
# `email` is the name to ask for in `properties`; responses carry the MD5 (see module doc).
SUBSCRIBER_PROPERTIES = (
    "id",
    "email",
    "name",
    "create_time",
    "search",
    "location",
    "ip_address",
    "status",
    "deactivation_time",
    "deactivation_reason",
)
SEARCH_PROPERTIES = ("id", "create_time", "search", "location", "status", "deactivation_time", "deactivation_reason")
BATCH_PROPERTIES = ("id", "status", "create_time", "complete_time", "type", "result")

_TIME_PROPERTIES = ("create_time", "deactivation_time", "complete_time")

# The document's example submits create_time='2012-05-03 17:01:05' and later reads
# "2012-05-04T00:01:05": responses are UTC without an offset (an assumption drawn from that one
# example; the target's submit side reads the same example as US Pacific wall-clock time).
RESPONSE_TIMEZONE = dt.UTC


def basic_auth(api_key: str) -> requests.auth.HTTPBasicAuth:
    """HTTP Basic with the API key as user name and an empty password (per the document)."""
    return requests.auth.HTTPBasicAuth(str(api_key), "")


def setting_properties() -> list[th.Property[t.Any]]:
    """Settings the tap and the target both declare for ZipRecruiter."""
    return SERVICE.connection_settings(
        [SERVICE.credential(API_KEY_SETTING, "ZipRecruiter Job Alerts API key (sent as the HTTP Basic user name).")],
        base_url_description="Base URL of the Job Alerts API v2 (override for a sandbox or proxy).",
    )


def email_md5(email: str) -> str:
    """MD5 of the lower-cased address: how the API identifies a subscriber's email in responses."""
    return hashlib.md5(str(email).strip().lower().encode("utf-8")).hexdigest()  # noqa: S324 - API's choice


def is_md5(value: t.Any) -> bool:
    text = str(value or "")
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text.lower())


def to_int(value: t.Any) -> int | None:
    """``2`` or ``"2"`` (the document shows counts as strings) as an int."""
    if value is None or value == "":
        return None
    return int(value)


def normalize_query_page(payload: t.Any) -> tuple[list[dict[str, t.Any]], int, int | None]:
    """``(results, skip, total_count)`` of a query response, whichever documented form it has."""
    if not isinstance(payload, dict):
        return [], 0, None
    results = payload.get("results") or []
    skip = payload.get("skip", payload.get("offset"))
    return list(results), to_int(skip) or 0, to_int(payload.get("total_count"))


def normalize_timestamp(value: t.Any) -> str | None:
    """An API timestamp as ISO 8601 with an explicit offset (offset-less values are UTC)."""
    parsed = parse_timestamp(value, naive=RESPONSE_TIMEZONE)
    return None if parsed is None else parsed.astimezone(dt.UTC).isoformat()


def refuses_field(text: str, name: str) -> bool:
    """Whether an error body names a parameter (``invalid_create_time``, ``invalid_properties``...)."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    code = str(body.get("error") or "") if isinstance(body, dict) else text
    return name in code


# -- the forms the document leaves open, learned from the answers ------------------------------------
COMMA = "comma"
REPEATED = "repeated"


def properties_query(url: str, names: t.Sequence[str], form: str) -> str:
    """``url`` with its ``properties`` parameter(s) in ``form``: ``properties=a,b`` or ``properties=a&properties=b``."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "properties"]
    query += [("properties", ",".join(names))] if form == COMMA else [("properties", n) for n in names]
    return urlunsplit(parts._replace(query=urlencode(query, safe=",")))


def missing_properties(record: t.Mapping[str, t.Any], names: t.Iterable[str]) -> list[str]:
    """Properties asked for that a record does not carry (``email`` comes back as ``email_md5`` too)."""
    present = set(record) | ({"email"} if "email_md5" in record else set())
    return [n for n in names if n not in present]


@dataclass
class Dialect:
    """How this API reads what the document leaves open, learned from its answers (one per base URL and process).

    ``properties`` ("The resource-specific properties to include in the response", no format): sent
    comma-joined, as the document writes property lists. When that is refused as an unknown property,
    or the answer lacks properties asked for, the same request is sent once with one parameter per
    property; the form that brings them back is kept. When neither does, the API ignores the parameter:
    ``properties_ignored`` is set and callers warn, naming what is missing.
    """

    properties: str = COMMA
    properties_known: bool = False
    properties_ignored: bool = False
    warned: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: Held while the form is not known yet: concurrent requests wait for the first answer that tells.
    probing: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def settled(self) -> bool:
        return self.properties_known or self.properties_ignored

    def fetch(
        self,
        send: t.Callable[[str], T],
        records_of: t.Callable[[T], t.Sequence[t.Any]],
        names: t.Sequence[str],
    ) -> tuple[T, list[str]]:
        """``send(form)`` an answer asked with ``properties`` ``names``; the answer, and the names it lacks when
        the API ignores ``properties`` (else an empty list).

        The form in use first; the other once, when that is refused naming ``properties`` or answers
        without them. Missing names after both forms mean the API ignores the parameter.
        """
        if len(names) > 1 and not self.settled:
            with self.probing:
                return self._fetch(send, records_of, names)
        return self._fetch(send, records_of, names)

    def _fetch(
        self, send: t.Callable[[str], T], records_of: t.Callable[[T], t.Sequence[t.Any]], names: t.Sequence[str]
    ) -> tuple[T, list[str]]:
        sent = self.properties
        if len(names) < 2 or self.properties_ignored:
            answer = send(sent)
            records = records_of(answer)
            ignored = self.properties_ignored and records and len(names) > 1
            return answer, (missing_properties(first_record(records), names) if ignored else [])
        other = REPEATED if sent == COMMA else COMMA
        #: The form to try when an answer lacks properties: none once a form was refused.
        fallback: str | None = other
        try:
            answer = send(sent)
        except APIRejectedError as refused:
            if refused.status != 400 or not refuses_field(refused.text, "properties"):
                raise
            try:
                answer = send(other)
            except APIRejectedError as again:
                if again.status != 400 or not refuses_field(again.text, "properties"):
                    raise
                msg = (
                    f"{SERVICE.name}: {refused.endpoint} refused `properties` sent comma-joined and as repeated "
                    f"parameters ({excerpt(again.text, 120)}); the document does not say how it is sent."
                )
                raise JobSyncError(msg) from None
            sent, fallback = other, None  # the refused form is not tried again
            with self.lock:
                self.properties = sent  # accepted where the other was refused: sent first from now on
        missing = self._judge(sent, records_of(answer), names)
        if missing and not self.properties_known and fallback is not None:
            retried = send(fallback)
            still = self._judge(fallback, records_of(retried), names)
            if len(still) < len(missing):
                answer, missing = retried, still
        if missing:
            with self.lock:
                self.properties_ignored = not self.properties_known
        return answer, (missing if self.properties_ignored else [])

    def _judge(self, sent: str, records: t.Sequence[t.Any], names: t.Sequence[str]) -> list[str]:
        """The names an answer lacks; an answer carrying them all settles the form."""
        if not records:
            return []  # nothing to tell by
        missing = missing_properties(first_record(records), names)
        if not missing:
            with self.lock:
                self.properties, self.properties_known, self.properties_ignored = sent, True, False
        return missing

    def warn_once(self, key: str) -> bool:
        """True the first time ``key`` is seen (for one warning per kind and process)."""
        with self.lock:
            if key in self.warned:
                return False
            self.warned.add(key)
            return True


def first_record(records: t.Sequence[t.Any]) -> t.Mapping[str, t.Any]:
    return records[0] if records and isinstance(records[0], t.Mapping) else {}


_dialects: dict[str, Dialect] = {}
_dialects_lock = threading.Lock()


def dialect(base_url: str) -> Dialect:
    """The :class:`Dialect` of the API at ``base_url`` in this process."""
    with _dialects_lock:
        return _dialects.setdefault(base_url.rstrip("/"), Dialect())


def parse_batch_result(value: t.Any) -> dict[str, t.Any] | None:
    """A batch ``result``: an object, or a JSON string containing one (both documented)."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        return None
    return {k: (to_int(v) if isinstance(v, (int, str)) and str(v).isdigit() else v) for k, v in value.items()}


def _normalize_times(record: dict[str, t.Any]) -> dict[str, t.Any]:
    for key in _TIME_PROPERTIES:
        if key in record:
            record[key] = normalize_timestamp(record[key])
    return record


def normalize_subscriber(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A subscriber with ``email_md5`` (never ``email``) and ISO timestamps."""
    out = dict(record)
    email = out.pop("email", None)
    if out.get("email_md5") in (None, "") and email not in (None, ""):
        # The table calls the response property `email`; it is documented to hold the MD5.
        out["email_md5"] = str(email).lower() if is_md5(email) else email_md5(email)
    if "id" in out and out["id"] is not None:
        out["id"] = str(out["id"])
    return _normalize_times(out)


def normalize_search(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    out = dict(record)
    if "id" in out and out["id"] is not None:
        out["id"] = str(out["id"])
    return _normalize_times(out)


def normalize_batch(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    out = dict(record)
    if "id" in out and out["id"] is not None:
        out["id"] = str(out["id"])
    if "result" in out:
        out["result"] = parse_batch_result(out["result"])
    return _normalize_times(out)
