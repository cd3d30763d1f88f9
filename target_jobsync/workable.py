"""Workable destination: candidate updates through ``PATCH /candidates/:id``.

Workable replaces a candidate's array keys (education/experience entries, social
profiles, tags) with whatever a PATCH sends. In ``merge`` mode (the default) the
sink reads the candidate first and sends the full merged lists, so a record that
adds one experience entry never deletes the others; in ``replace`` mode the lists
become what the record holds. Either way, the PATCH carries only the keys that
would change, and none is sent when nothing would (``unchanged``).

Only the target reaches Workable (SPI v3), so its service declaration, settings,
account URL and token live here too.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
import typing as t
from dataclasses import dataclass
from urllib.parse import quote

from singer_sdk import typing as th
from singer_sdk.authenticators import BearerTokenAuthenticator
from typing_extensions import override

from jobsync_common.errors import ConfigError, ServiceAuthError, excerpt
from jobsync_common.http import ServiceClient, decode_json, describe_request
from jobsync_common.service import ServiceSpec
from jobsync_common.settings import check_base_url, rate_limit_property
from target_jobsync.destination import Destination
from target_jobsync.sinks import UNCHANGED, UPDATED, JobSyncSink, UnwritableRecordError

if t.TYPE_CHECKING:
    import requests

LOGGER = logging.getLogger("target_jobsync.workable")

SUBDOMAIN_SETTING = "workable_subdomain"
TOKEN_SETTING = "workable_api_token"  # noqa: S105 - a setting's name, not a secret
ARRAY_MODE_SETTING = "workable_array_mode"

SERVICE = ServiceSpec(
    key="workable",
    name="Workable",
    # The account's URL: built from `workable_subdomain` unless `workable_base_url` is set.
    default_base_url="https://{subdomain}.workable.com/spi/v3",
    credential_settings=(TOKEN_SETTING,),
    secret_settings=(TOKEN_SETTING,),
    # Assumption: Workable's public API documents "10 requests every 10 seconds" per token (the
    # candidates document is silent), i.e. 60 a minute; the limiter spaces requests evenly, so no
    # 10-second window ever holds more than 10.
    default_requests_per_minute=60,
    rate_limit_reason="Default: Workable's public limit of 10 requests per 10 seconds per token (an assumption: "
    "the candidates document does not state it).",
)

# The document names one scope: "Partially updates a candidate. Required scope: w_candidates." The
# target also reads candidates (GET /candidates, ?email=, /candidates/:id) to find and compare each one
# before a PATCH, which needs r_candidates (Workable's public API).
READ_SCOPE = "r_candidates"
WRITE_SCOPE = "w_candidates"
_SCOPE_RE = re.compile(r"\b[rw]_[a-z_]+\b")


def missing_scope_message(method: str, endpoint: str, status: int, text: str) -> str:
    """What a 403 means here: the scope the call needs (the one Workable names, else the one we know it needs)."""
    named = _SCOPE_RE.search(text or "")
    needed = named.group(0) if named else (READ_SCOPE if method.upper() == "GET" else WRITE_SCOPE)
    said = f" ({excerpt(text, 120)})" if (text or "").strip() else ""
    return (
        f"{SERVICE.name}: {endpoint} answered HTTP {status}{said}: the token lacks the scope {needed}. The target reads each "
        f"candidate (GET /candidates, ?email=, /candidates/:id) before it PATCHes it, so `{TOKEN_SETTING}` needs "
        f"{READ_SCOPE} as well as {WRITE_SCOPE} (the only scope the document names)."
    )


MERGE = "merge"
REPLACE = "replace"
ARRAY_MODES = (MERGE, REPLACE)


def settings() -> list[th.Property[t.Any]]:
    """Every Workable setting of the target (no tap shares them)."""
    return [
        th.Property(
            SUBDOMAIN_SETTING,
            th.StringType,
            description="Workable account subdomain (`acme` for acme.workable.com); builds the API URL.",
        ),
        SERVICE.credential(
            TOKEN_SETTING,
            "Workable API access token, sent as a Bearer token; needs the scopes r_candidates (the target reads each "
            "candidate first) and w_candidates.",
        ),
        # No default: the account URL is built from the subdomain unless this overrides it.
        th.Property(
            SERVICE.base_url_setting,
            th.StringType,
            description=f"Override of the API base URL (default {SERVICE.default_base_url}); the sandbox sets it.",
        ),
        th.Property(
            ARRAY_MODE_SETTING,
            th.StringType,
            default=MERGE,
            allowed_values=list(ARRAY_MODES),
            description="Workable replaces a candidate's education/experience entries, social profiles and tags "
            "with whatever a PATCH sends. `merge` reads the candidate first and keeps the entries the record does "
            "not mention; `replace` makes the lists exactly what the record holds.",
        ),
        rate_limit_property(SERVICE.key, SERVICE.name, SERVICE.default_requests_per_minute, SERVICE.rate_limit_reason),
    ]


def base_url(config: t.Mapping[str, t.Any]) -> str:
    """``workable_base_url`` when set, else the account URL built from ``workable_subdomain``."""
    if config.get(SERVICE.base_url_setting):
        return check_base_url(config, SERVICE.base_url_setting)
    subdomain = str(config.get(SUBDOMAIN_SETTING) or "").strip()
    if not subdomain:
        msg = f"{SERVICE.name}: set `{SUBDOMAIN_SETTING}` (your account's subdomain) or `{SERVICE.base_url_setting}`."
        raise ConfigError(msg)
    if not subdomain.replace("-", "").isalnum():
        msg = f"Setting `{SUBDOMAIN_SETTING}` must be the bare subdomain (like `acme`), got {subdomain!r}."
        raise ConfigError(msg)
    return SERVICE.default_base_url.format(subdomain=subdomain)


def authenticator(config: t.Mapping[str, t.Any]) -> BearerTokenAuthenticator:
    token = config.get(TOKEN_SETTING)
    if not token:
        msg = f"{SERVICE.name}: set `{TOKEN_SETTING}`."
        raise ConfigError(msg)
    return BearerTokenAuthenticator(token=str(token))


def array_mode(config: t.Mapping[str, t.Any]) -> str:
    mode = config.get(ARRAY_MODE_SETTING) or MERGE
    if mode not in ARRAY_MODES:
        msg = f"Setting `{ARRAY_MODE_SETTING}` must be one of {', '.join(ARRAY_MODES)}, got {mode!r}."
        raise ConfigError(msg)
    return mode


# -- what a candidate record becomes ------------------------------------------------------------------
SCALARS = (
    "firstname", "lastname", "name", "email", "headline", "summary", "address", "phone", "texting_consent",
    "cover_letter",
)  # fmt: skip
# Workable re-hosts uploaded files and shows only its own (changing) URL, so a file
# cannot be compared: each group is sent as one unit (see ``plan_files``).
FILE_GROUPS = (("resume_url", ("resume", "resume_url")), ("image_url", ("image", "image_url", "image_source")))
SOCIAL_FIELDS = ("type", "name", "username", "url")
STRING_LISTS = ("tags", "skills")

DELETE_REASON = (
    "the source deleted this candidate, but Workable's API offers no candidate delete through "
    "PATCH /candidates/:id; nothing was changed in Workable (remove or archive the candidate there by hand)"
)


@dataclass(frozen=True)
class EntryKind:
    """An array of Workable entries with ids (PUT semantics) and the natural key used to match them."""

    key: str
    fields: tuple[str, ...]
    #: First part is the required field; a missing value of the other parts matches anything.
    natural_key: tuple[str, ...]


ENTRY_KINDS = (
    EntryKind(
        "experience_entries",
        ("title", "summary", "company", "industry", "start_date", "end_date", "current"),
        ("title", "company", "start_date"),
    ),
    EntryKind(
        "education_entries",
        ("school", "degree", "field_of_study", "start_date", "end_date"),
        ("school", "degree", "start_date"),
    ),
)


# -- normalising records --------------------------------------------------------------------------
def as_date(value: t.Any) -> t.Any:
    """Workable takes YYYY-MM-DD; a date-time from a tap is cut to its date."""
    return value[:10] if isinstance(value, str) and len(value) > 10 and value[4] == "-" else value


def skill_name(value: t.Any) -> str:
    """Skills are written as strings but read back as ``{"name": ...}``: accept both."""
    name = value.get("name") if isinstance(value, dict) else value
    return t.cast("str", name)  # a string in both forms (the input schema's and Workable's)


def to_payload(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The record in the form Workable takes: no id or ``_sdc_`` keys, dates cut, skills as strings."""
    wanted = {k: v for k, v in record.items() if k != "id" and not k.startswith("_sdc_")}
    for kind in ENTRY_KINDS:
        if wanted.get(kind.key) is not None:
            wanted[kind.key] = [
                {
                    **{k: as_date(v) if k.endswith("_date") else v for k, v in entry.items()},
                    **({"id": str(entry["id"])} if entry.get("id") is not None else {}),
                }
                for entry in wanted[kind.key]
            ]
    if wanted.get("skills") is not None:
        wanted["skills"] = [skill_name(s) for s in wanted["skills"]]
    if wanted.get("firstname") and wanted.get("lastname"):
        # Workable derives `name` from these two; sending a different `name` too would never settle.
        wanted.pop("name", None)
    return wanted


def _scalar(key: str, value: t.Any) -> t.Any:
    """Comparable form of a scalar: Workable stores "" as null; emails compare without case."""
    if value == "":
        return None
    return _fold(value) if key == "email" else value


def _fold(value: t.Any) -> t.Any:
    return value.strip().casefold() if isinstance(value, str) else value


# -- planning one PATCH ------------------------------------------------------------------------------
def plan_update(current: t.Mapping[str, t.Any], wanted: t.Mapping[str, t.Any], mode: str) -> dict[str, t.Any]:
    """The PATCH body that turns ``current`` into what ``wanted`` asks for: changed keys only.

    A null never clears a Workable value, in either mode (a source that does not know a
    value must not erase it; the mode is about lists): send "" to clear a text field.
    """
    payload: dict[str, t.Any] = {}
    for key in SCALARS:
        value = wanted.get(key)
        if value is None or _scalar(key, value) == _scalar(key, current.get(key)):
            continue
        payload[key] = value
    for kind in ENTRY_KINDS:
        if wanted.get(kind.key) is None:
            continue
        existing = [_pick(e, ("id", *kind.fields)) for e in current.get(kind.key) or []]
        send = merge_entries(kind, existing, wanted[kind.key]) if mode == MERGE else wanted[kind.key]
        if predict_entries(kind, existing, send) != [_content(e, kind.fields) for e in existing]:
            payload[kind.key] = send
    if wanted.get("social_profiles") is not None:
        existing = [_pick(p, SOCIAL_FIELDS) for p in current.get("social_profiles") or []]
        send = wanted["social_profiles"]
        if mode == MERGE:
            send = merge_by(existing, send, lambda p: p.get("type"), SOCIAL_FIELDS)
        if [_content(p, SOCIAL_FIELDS) for p in send] != [_content(p, SOCIAL_FIELDS) for p in existing]:
            payload["social_profiles"] = send
    for key in STRING_LISTS:
        if wanted.get(key) is None:
            continue
        existing_values = [skill_name(v) for v in current.get(key) or []]
        send_values = merge_strings(existing_values, wanted[key]) if mode == MERGE else list(dict.fromkeys(wanted[key]))
        if sorted(send_values) != sorted(existing_values):
            payload[key] = send_values
    payload.update(plan_files(current, wanted, mode))
    return payload


def plan_files(current: t.Mapping[str, t.Any], wanted: t.Mapping[str, t.Any], mode: str) -> dict[str, t.Any]:
    """Resume/image keys to send.

    Workable cannot tell us whether its file is the one in the record, so merge mode
    sends a file only when the candidate has none yet: re-runs cost no write and a
    resume a recruiter attached is never overwritten. Replace mode always sends it.
    """
    files: dict[str, t.Any] = {}
    for shown_as, group in FILE_GROUPS:
        given = {k: wanted[k] for k in group if wanted.get(k) is not None}
        if given and (mode == REPLACE or not current.get(shown_as)):
            files.update(given)
    return files


def merge_entries(
    kind: EntryKind, existing: list[dict[str, t.Any]], incoming: list[dict[str, t.Any]]
) -> list[dict[str, t.Any]]:
    """Existing entries (with ids, so Workable keeps them) updated or extended by ``incoming``."""
    result = [dict(e) for e in existing]
    # Entries already standing for one incoming entry: a loose match must not take them again.
    claimed: list[dict[str, t.Any]] = []
    for entry in _collapse_same_key(kind, incoming):
        if entry.get("id") is not None:
            match = next((r for r in result if r.get("id") == str(entry["id"])), None)
            if match is None:
                msg = f"{kind.key}: entry id {entry['id']!r} is not one of this candidate's entries in Workable"
                raise UnwritableRecordError(msg)
        else:
            match = _natural_match(kind, result, entry, claimed)
        if match is None:
            result.append({f: entry[f] for f in kind.fields if f in entry})
            claimed.append(result[-1])
            continue
        claimed.append(match)
        for field in kind.fields:
            value = entry.get(field)
            # Keep Workable's spelling of a key that matched ignoring case ("ceo" vs "CEO").
            if value is None or (field in kind.natural_key and _fold(value) == _fold(match.get(field))):
                continue
            match[field] = value
    return result


def _collapse_same_key(kind: EntryKind, incoming: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """One entry per natural key (later values win): a record listing a job twice means one job."""
    collapsed: dict[t.Hashable, dict[str, t.Any]] = {}
    for entry in incoming:
        if entry.get("id") is not None:
            key: tuple[t.Any, ...] = ("id", str(entry["id"]))
        else:
            key = tuple(_fold(entry.get(p)) for p in kind.natural_key)
        if key in collapsed:
            collapsed[key].update({f: v for f, v in entry.items() if v is not None})
        else:
            collapsed[key] = dict(entry)
    return list(collapsed.values())


def _natural_match(
    kind: EntryKind, entries: list[dict[str, t.Any]], entry: t.Mapping[str, t.Any], claimed: list[dict[str, t.Any]]
) -> dict[str, t.Any] | None:
    """The entry describing the same thing: exact natural key first, else an unclaimed one where only unknowns differ."""
    wanted = [_fold(entry.get(p)) for p in kind.natural_key]
    exact = loose = None
    for candidate in entries:
        have = [_fold(candidate.get(p)) for p in kind.natural_key]
        if have == wanted:
            exact = candidate
            break
        if (
            loose is None
            and not any(candidate is c for c in claimed)
            and have[0] == wanted[0]
            and all(a == b or a in (None, "") or b in (None, "") for a, b in zip(have[1:], wanted[1:], strict=True))
        ):
            loose = candidate
    return exact or loose


def predict_entries(
    kind: EntryKind, existing: list[dict[str, t.Any]], send: list[dict[str, t.Any]]
) -> list[tuple[t.Any, ...]] | None:
    """What Workable will store for ``send`` (PUT semantics), ids aside; None when we cannot tell."""
    by_id = {e["id"]: e for e in existing if e.get("id") is not None}
    predicted = []
    for entry in send:
        if entry.get("id") is not None:
            base = by_id.get(str(entry["id"]))
            if base is None:
                return None
            entry = {**base, **{f: entry[f] for f in kind.fields if f in entry}}  # noqa: PLW2901
        predicted.append(_content(entry, kind.fields))
    return predicted


def merge_by(
    existing: list[dict[str, t.Any]],
    incoming: list[dict[str, t.Any]],
    key: t.Callable[[t.Mapping[str, t.Any]], t.Any],
    fields: tuple[str, ...],
) -> list[dict[str, t.Any]]:
    result = [dict(e) for e in existing]
    for item in incoming:
        match = next((r for r in result if key(r) == key(item)), None)
        if match is None:
            result.append({f: item[f] for f in fields if f in item})
        else:
            match.update({f: item[f] for f in fields if item.get(f) is not None})
    return result


def merge_strings(existing: list[str], incoming: list[str]) -> list[str]:
    """Existing values plus new ones; a value differing only in case or spacing is not new."""
    result = list(existing)
    seen = {_fold(v) for v in existing}
    for value in incoming:
        if _fold(value) not in seen:
            seen.add(_fold(value))
            result.append(value)
    return result


def _pick(item: t.Mapping[str, t.Any], fields: tuple[str, ...]) -> dict[str, t.Any]:
    picked = {f: item.get(f) for f in fields if f in item}
    if picked.get("id") is not None:
        picked["id"] = str(picked["id"])
    return picked


def _content(item: t.Mapping[str, t.Any], fields: tuple[str, ...]) -> tuple[t.Any, ...]:
    return tuple(as_date(item.get(f)) if f.endswith("_date") else item.get(f) for f in fields)


def _is_base64(data: t.Any) -> bool:
    try:
        base64.b64decode(str(data), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


# -- the sink ------------------------------------------------------------------------------------------
class WorkableCandidatesSink(JobSyncSink):
    """Updates Workable candidates, found by ``id`` or by a unique ``email``."""

    sink_name = "workable_candidates"
    service_key = SERVICE.key
    match_fields = ("id", "email")

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.mode = array_mode(self.config)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._account_lock = threading.Lock()
        self._account_checked = False

    # -- before any call -----------------------------------------------------------------------
    @override
    def process_record(self, record: dict[str, t.Any], context: dict[str, t.Any]) -> None:
        problem = self.record_problem(record)
        if problem:
            self.reject(record, problem)
            return
        super().process_record(record, context)

    @staticmethod
    def record_problem(record: t.Mapping[str, t.Any]) -> str | None:
        """Why this record cannot be applied, found without calling Workable."""
        if record.get("_sdc_deleted_at"):
            return DELETE_REASON
        if record.get("id") in (None, "") and not record.get("email"):
            return "needs `id` or `email` to find the Workable candidate"
        for key, alternative in (("resume", "resume_url"), ("image", "image_url")):
            if record.get(key) is not None and record.get(alternative) is not None:
                return f"`{key}` and `{alternative}` are alternatives: Workable takes one of them"
            given = record.get(key)
            data = given.get("data") if isinstance(given, dict) else None
            if data is not None and not _is_base64(data):
                return f"`{key}.data` is not valid base64"
        return None

    @override
    def match_key(self, record: dict[str, t.Any]) -> t.Hashable:
        if record.get("id") not in (None, ""):
            return ("id", str(record["id"]))
        return ("email", str(record.get("email") or "").strip().casefold())

    # -- writing ----------------------------------------------------------------------------------------
    @override
    def request(self, method: str, path: str, **kwargs: t.Any) -> requests.Response:
        """A 403 names the scope the call needs (a wrong token is a 401): it fails the run, naming the setting."""
        try:
            return super().request(method, path, **kwargs)
        except ServiceAuthError as exc:
            if exc.status != 403:
                raise
            raise ConfigError(missing_scope_message(method, exc.endpoint, exc.status, exc.text)) from None

    @override
    def write_record(self, record: dict[str, t.Any]) -> str:
        self.check_account()
        wanted = to_payload(record)
        candidate_id = str(record["id"]) if record.get("id") not in (None, "") else self.find_by_email(record["email"])
        # Records reaching one candidate by id and by email must not interleave read and write.
        with self._lock_for(candidate_id):
            current = self.fetch(candidate_id)
            payload = plan_update(current, wanted, self.mode)
            if not payload:
                return UNCHANGED
            if self.dry_run:
                self.logger.info("Dry run: would PATCH candidate %s with keys %s", candidate_id, sorted(payload))
                return UPDATED
            self.request("PATCH", f"candidates/{quote(candidate_id, safe='')}", json={"candidate": payload})
            return UPDATED

    def check_account(self) -> None:
        """Fail the run once, naming the setting, when the account URL is wrong.

        Otherwise every candidate lookup would answer 404 and each record would be
        dead-lettered as unknown.
        """
        with self._account_lock:
            if self._account_checked:
                return
            response = self.request("GET", "candidates", params={"limit": 1}, ok_statuses=(404,))
            if response.status_code == 404:
                msg = (
                    f"{SERVICE.name}: {describe_request('GET', response.url)} answered HTTP 404: no Workable account "
                    f"there; check `{SUBDOMAIN_SETTING}` (or `{SERVICE.base_url_setting}`)."
                )
                raise ConfigError(msg)
            self._account_checked = True

    def find_by_email(self, email: str) -> str:
        response = self.request("GET", "candidates", params={"email": email.strip()})
        body = decode_json(response) or {}
        found = [c["id"] for c in body.get("candidates") or [] if isinstance(c, dict) and c.get("id")]
        more = bool((body.get("paging") or {}).get("next"))
        if not found:
            msg = f"no Workable candidate has the email {email!r} (this target updates candidates, never creates them)"
            raise UnwritableRecordError(msg)
        if len(found) > 1 or more:
            ids = ", ".join(map(str, found)) + (", ..." if more else "")
            msg = f"the email {email!r} is ambiguous: Workable candidates {ids} share it; send `id` instead"
            raise UnwritableRecordError(msg)
        return str(found[0])

    def fetch(self, candidate_id: str) -> dict[str, t.Any]:
        response = self.request("GET", f"candidates/{quote(candidate_id, safe='')}", ok_statuses=(404,))
        if response.status_code == 404:
            msg = f"no Workable candidate has the id {candidate_id!r}"
            raise UnwritableRecordError(msg, 404)
        body = decode_json(response) or {}
        return body.get("candidate", body) if isinstance(body, dict) else {}

    def _lock_for(self, candidate_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(candidate_id, threading.Lock())


def make_client(config: t.Mapping[str, t.Any]) -> ServiceClient:
    return SERVICE.client(
        config,
        base_url=base_url(config),
        headers={"Accept": "application/json"},
        auth=authenticator(config),
        logger=LOGGER,
    )


DESTINATION = Destination(
    service=SERVICE,
    settings=settings(),
    required_settings=(TOKEN_SETTING,),
    make_client=make_client,
    sinks=(WorkableCandidatesSink,),
)
