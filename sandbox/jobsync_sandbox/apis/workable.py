"""Simulated Workable SPI v3 candidates: lookup and ``PATCH /candidates/:id``.

The document (``workable-candidates-patch.txt``) only describes the PATCH body.
What it leaves out follows Workable's public API as published elsewhere:

- Auth: ``Authorization: Bearer <token>``; a missing or wrong token gets
  ``401 {"error": "Not authorized"}``. The account subdomain is part of the
  real host name; the sandbox has one account and ignores it.
- ``GET /candidates/:id`` -> ``{"candidate": {...}}``; ``GET /candidates?email=``
  (also ``limit``, ``since_id``) -> ``{"candidates": [summaries], "paging": {"next": url}}``,
  ``next`` only when more results follow. Emails match case-insensitively.
  Several candidates can share an email (Workable keeps one candidate per job applied to).
- ``PATCH /candidates/:id`` with ``{"candidate": {...}}`` -> ``{"candidate": {...}}``
  (the updated candidate in the GET form; the document shows no response).
- Unknown id -> ``404 {"error": "Not found"}``. Invalid input -> ``422`` with
  ``{"error": "Validation failed: <field> <problem>; ...", "validation_errors": {field: [problem]}}``
  (Workable's exact 422 body is not documented; each message names the field).
- Rate limit: 10 requests per 10 seconds per token (Workable's public limit), then
  ``429`` with ``Retry-After`` (whole seconds) and ``X-Rate-Limit-*`` headers. Refused
  requests do not count. Adjustable with the ``rate_limit`` control.
- Skills are written as a list of strings (the document) but read back as
  ``[{"name": ...}]`` objects, as Workable's GET answers them.

Choices where the document is loose or contradicts itself:

- Array keys (``education_entries``, ``experience_entries``, ``social_profiles``, ``tags``)
  have PUT semantics: the stored list becomes exactly the input; an entry with an
  ``id`` updates that entry (fields it omits keep their values), one without is
  created with a new id, omitted ones are deleted, ``[]`` deletes all, an absent key
  keeps its values. ``skills`` (not in the document's list) is replaced the same way.
  An ``id`` that is not one of the candidate's entries is a 422.
- Scalars change only when present. ``name`` (in the document's second example, not
  in its table) is accepted: it fills firstname/lastname when those are absent; the
  stored ``name`` is always "firstname lastname".
- Social profiles: the table has no ``name`` but the example does: accepted, optional.
  Both "dribble" and "dribbble" are listed types, so both are accepted. One per type.
- Unknown top-level or entry keys are refused (422) so a connector sending a misspelt
  field fails loudly here; the real API probably ignores them (reading ``unknown_fields``).
- Scopes: the token reads and writes (reading ``token_scopes``: with ``w_candidates`` only,
  a GET answers 403 naming ``r_candidates``).
- Files: the first example's ``data:`` keys are unquoted (invalid JSON); that is a typo
  in the document, irrelevant to the wire format. The second example's
  ``"6622116356e175ed0394b0d=="`` is not valid base64 (25 characters) and is refused.
  ``resume`` needs a name ending .pdf/.doc/.docx/.rtf; ``resume`` and ``resume_url``
  (or ``image`` and ``image_url``) together are a 422. Only name/size/source of a file
  are stored; like Workable, the candidate then shows a re-hosted ``resume_url`` /
  ``image_url``, never the URL that was sent.

Seeded candidates share their people with the other sandboxes: candidate ``i`` of
seed ``s`` is :func:`seeded_person(s, i) <seeded_person>` (email
``first.last.i@example.com``), so another simulator that uses the same function for
its record ``i`` (TrackJobChanges' ``starting_employment.email``) overlaps with Workable.

Controls (``POST /_control/api/workable/<action>``):

- ``add_candidate`` ``{candidate fields...}`` -> ``{"candidate": {...}}`` (unset
  firstname/lastname/email come from :func:`seeded_person` of the new index);
  ``add_candidates`` ``{"candidates": [{...}, ...]}`` adds several (a demo can give
  Workable the people another sandbox holds, e.g. TrackJobChanges' emails);
- ``rate_limit`` ``{"limit": 10, "window_seconds": 10}`` (``limit`` 0: no limit);
- ``seeded_person`` ``{"index": i}`` -> the person and the id of candidate ``i``.
"""

from __future__ import annotations

import base64
import binascii
import collections
import copy
import datetime as dt
import math
import random
import re
import typing as t
from urllib.parse import quote, urlencode, urlsplit

from jobsync_sandbox.core import (
    UTC,
    HTTPError,
    Reading,
    Request,
    Response,
    SimulatedAPI,
    isoformat,
    json_response,
    route,
)

SOCIAL_TYPES = frozenset(
    [
        "academiaedu",
        "angellist",
        "behance",
        "bitbucket",
        "blogger",
        "crunchbase",
        "dandyid",
        "delicious",
        "deviantart",
        "digg",
        "doyoubuzz",
        "dribble",
        "dribbble",
        "econsultancy",
        "facebook",
        "flavorsme",
        "flickr",
        "fullcontact",
        "getglue",
        "gist",
        "github",
        "goodreads",
        "googleplus",
        "gravatar",
        "hackernews",
        "hiim",
        "klout",
        "lanyrd",
        "linkedin",
        "myspace",
        "ohloh",
        "orkut",
        "pinterest",
        "quora",
        "reddit",
        "scribd",
        "skype",
        "slideshare",
        "stackexchange",
        "stackoverflow",
        "tumblr",
        "twitter",
        "typepad",
        "vk",
        "wordpress",
        "xing",
    ]
)
IMAGE_SOURCES = SOCIAL_TYPES  # the document lists the same networks for image_source
RESUME_EXTENSIONS = (".pdf", ".doc", ".docx", ".rtf")
TEXTING_CONSENT = ("forced", "declined")

STRING_FIELDS = ("headline", "summary", "address", "phone", "cover_letter")
EDUCATION_FIELDS = ("school", "degree", "field_of_study", "start_date", "end_date")
EXPERIENCE_FIELDS = ("title", "summary", "company", "industry", "start_date", "end_date", "current")
SOCIAL_FIELDS = ("type", "name", "username", "url")
ACCEPTED_FIELDS = frozenset(
    {
        "firstname", "lastname", "name", "email", "texting_consent", *STRING_FIELDS,
        "resume", "resume_url", "image", "image_url", "image_source",
        "education_entries", "experience_entries", "social_profiles", "tags", "skills",
    }
)  # fmt: skip
SUMMARY_FIELDS = (
    "id", "name", "firstname", "lastname", "headline", "account", "job", "stage", "disqualified",
    "sourced", "profile_url", "email", "domain", "created_at", "updated_at",
)  # fmt: skip

FILES_HOST = "https://files.workable-sandbox.invalid"
SEED_EPOCH = dt.datetime(2024, 1, 1, tzinfo=UTC)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

FIRST_NAMES = (
    "Ada", "Ben", "Carla", "Dev", "Elena", "Femi", "Grace", "Hugo", "Ines", "Jon", "Kara", "Liam", "Maya",
    "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wen", "Yara", "Zane",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Botha", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski",
    "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Quinto", "Rossi", "Silva", "Tanaka", "Usman", "Varga",
)  # fmt: skip
TITLES = ("Sales Director", "Account Executive", "Data Analyst", "Office Manager", "Nurse", "Software Engineer")
COMPANIES = ("Vox Mobile", "Acme Corp", "Globex", "Initech", "Umbrella Health", "Hooli", "Stark Logistics")
INDUSTRIES = ("Telecommunications", "Software", "Healthcare", "Logistics", "Retail", None)
SCHOOLS = ("University of Pennsylvania", "University of Chicago", "Ohio State University", "City College")
DEGREES = ("MBA", "B.S.", "B.A.", "M.Sc.", None)
TAGS = ("globetrotter", "adventurer", "referral", "silver-medalist", "relocating")
SKILLS = ("Travel Planning", "Problem Solving", "Negotiation", "SQL", "Scheduling", "Customer Service")
STAGES = ("Sourced", "Applied", "Phone Screen", "Interview", "Offer")


# -- the plausible readings of the document (see core.Reading) ------------------------------------------------
READINGS: dict[str, Reading] = {
    "token_scopes": Reading(
        values={
            "r_candidates,w_candidates": "the token may read candidates (GET) and update them (PATCH)",
            "w_candidates": "the token has only the scope the document names: PATCH works, every GET answers 403 "
            "naming the missing r_candidates scope",
        },
        default="r_candidates,w_candidates",
        doc='"Partially updates a candidate. Required scope: w_candidates." (the only scope the document names)',
        why="The document says what PATCH requires, not what a token holds; Workable's public API needs "
        "r_candidates for GET /candidates, which any client must call to find the id it patches. Today's "
        "behaviour; the literal single-scope token is opt-in.",
    ),
    "unknown_fields": Reading(
        values={
            "refused": "a key the document does not list (top level, entry or social profile) answers 422 naming it",
            "ignored": "such keys are ignored, the rest of the update is applied",
        },
        default="refused",
        doc='"Here is a list of fields that can be provided:" (what happens to others is not said)',
        why="A misspelt field then fails loudly in tests instead of being dropped silently; the live API may "
        "well ignore it, which the ignored reading plays. Today's behaviour.",
    ),
}
#: Scopes a request needs (Workable's public API): reading candidates, and the document's w_candidates.
_SCOPE_BY_METHOD = {"GET": "r_candidates", "PATCH": "w_candidates"}


def seeded_person(seed: int, index: int) -> dict[str, str]:
    """The person behind seeded record ``index`` of ``seed``: shared by the sandboxes.

    Email rule: ``<first>.<last>.<index>@example.com`` in lower case.
    """
    rng = random.Random(f"jobsync-person:{seed}:{index}")  # noqa: S311 - seeded, reproducible fake data, no secret
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {"firstname": first, "lastname": last, "email": f"{first}.{last}.{index}@example.com".lower()}


SEEDED_EMAIL_RE = re.compile(r"^[a-z]+\.[a-z]+\.(\d+)@example\.com$")


def _date(rng: random.Random, year: int) -> str:
    return f"{year:04d}-{rng.randint(1, 12):02d}-01"


class _Errors:
    """Validation problems of one request, answered together as one 422."""

    def __init__(self) -> None:
        self.items: dict[str, list[str]] = {}

    def add(self, field: str, problem: str) -> None:
        self.items.setdefault(field, []).append(problem)

    def raise_if_any(self) -> None:
        if self.items:
            text = "; ".join(f"{field} {problem}" for field, problems in self.items.items() for problem in problems)
            raise HTTPError(422, {"error": f"Validation failed: {text}", "validation_errors": self.items})


class WorkableAPI(SimulatedAPI):
    name = "workable"
    base_path = "/workable/spi/v3"
    # As many as TrackJobChanges has connections by default: connection i is candidate i - 1,
    # so every job change the default sandbox reports names a Workable candidate.
    default_sizes: t.ClassVar[dict[str, int]] = {"candidates": 30}
    default_credentials: t.ClassVar[dict[str, t.Any]] = {"api_token": "sandbox-workable-token", "subdomain": "sandbox"}
    #: Workable pages with ``since_id`` (the ``paging.next`` URL carries it).
    paging_parameters = ("since_id",)
    readings_spec = READINGS
    #: Workable's public limit: 10 requests per 10 seconds per token.
    default_rate_limit: t.ClassVar[tuple[int, float]] = (10, 10.0)

    def reset(self) -> None:
        self.size = int(self.sizes.get("candidates", 0))
        self.added = 0
        # index -> candidate, for every candidate changed or added since the seed.
        self.changed: dict[int, dict[str, t.Any]] = {}
        self.entry_seq = 0
        self.rate_limit, self.rate_window = self.default_rate_limit
        self.hits: dict[str, collections.deque[float]] = {}

    # -- identity -------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return self.size + self.added

    def candidate_id(self, index: int) -> str:
        return f"{self.seed:x}{index:07x}"

    def index_of(self, candidate_id: str) -> int | None:
        prefix = f"{self.seed:x}"
        rest = candidate_id[len(prefix) :]
        if not candidate_id.startswith(prefix) or len(rest) < 7:
            return None
        try:
            index = int(rest, 16)
        except ValueError:
            return None
        return index if index < self.total and self.candidate_id(index) == candidate_id else None

    def new_entry_id(self) -> str:
        self.entry_seq += 1
        return f"n{self.entry_seq:x}"

    # -- seeded data ----------------------------------------------------------------------
    def seeded(self, index: int) -> dict[str, t.Any]:
        rng = random.Random(f"workable:{self.seed}:{index}")  # noqa: S311 - seeded, reproducible fake data, no secret
        person = seeded_person(self.seed, index)
        cid = self.candidate_id(index)
        created = SEED_EPOCH + dt.timedelta(minutes=37 * index)
        year = 2023 - rng.randint(0, 4)
        experience = []
        for n in range(rng.randint(1, 3)):
            end = None if n == 0 else _date(rng, year - 1)
            experience.append(
                {
                    "id": f"{cid}x{n}",
                    "title": rng.choice(TITLES),
                    "summary": None,
                    "company": rng.choice(COMPANIES),
                    "industry": rng.choice(INDUSTRIES),
                    "start_date": _date(rng, year - 2),
                    "end_date": end,
                    "current": end is None,
                }
            )
            year -= 3
        education = [
            {
                "id": f"{cid}d{n}",
                "school": rng.choice(SCHOOLS),
                "degree": rng.choice(DEGREES),
                "field_of_study": None,
                "start_date": _date(rng, year - 4 - 4 * n),
                "end_date": _date(rng, year - 4 * n),
            }
            for n in range(rng.randint(0, 2))
        ]
        slug = f"{person['firstname']}-{person['lastname']}-{index}".lower()
        social = [
            {"type": "linkedin", "name": "LinkedIn", "username": None, "url": f"https://www.linkedin.com/in/{slug}"}
        ]
        if rng.random() < 0.3:
            social.append(
                {"type": "twitter", "name": "Twitter", "username": slug, "url": f"https://twitter.com/{slug}"}
            )
        has_resume = rng.random() < 0.5
        resume_name = f"{slug}.pdf"
        subdomain = self.credentials.get("subdomain", "sandbox")
        return {
            "id": cid,
            "name": f"{person['firstname']} {person['lastname']}",
            "firstname": person["firstname"],
            "lastname": person["lastname"],
            "headline": f"{experience[0]['title']} at {experience[0]['company']}",
            "account": {"subdomain": subdomain, "name": "Sandbox Inc."},
            "job": {"shortcode": f"SBX{index % 5 + 1:03d}", "title": rng.choice(TITLES)},
            "stage": rng.choice(STAGES),
            "disqualified": False,
            "disqualification_reason": None,
            "sourced": rng.random() < 0.3,
            "profile_url": f"https://{subdomain}.workable.com/backend/candidates/{cid}",
            "email": person["email"],
            "domain": rng.choice(("linkedin.com", "indeed.com", None)),
            "created_at": isoformat(created),
            "updated_at": isoformat(created + dt.timedelta(hours=rng.randint(1, 500))),
            "address": f"{rng.randint(1, 999)} Main Street, Springfield, USA",
            "phone": f"1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
            "texting_consent": rng.choice((None, "forced", "declined")),
            "summary": None,
            "cover_letter": None,
            "education_entries": education,
            "experience_entries": experience,
            "skills": [{"name": s} for s in rng.sample(SKILLS, rng.randint(0, 3))],
            "tags": rng.sample(TAGS, rng.randint(0, 2)),
            "social_profiles": social,
            "resume_url": f"{FILES_HOST}/{subdomain}/candidates/{cid}/resume/{resume_name}" if has_resume else None,
            "image_url": None,
            # Stored, never shown by GET: what was uploaded (name/size/source), never the bytes.
            "resume_file": {"name": resume_name, "size": rng.randint(20_000, 90_000), "source": "seed"}
            if has_resume
            else None,
            "image_file": None,
        }

    def candidate(self, index: int) -> dict[str, t.Any]:
        """The stored candidate (a copy: callers may modify it)."""
        stored = self.changed.get(index)
        return copy.deepcopy(stored) if stored is not None else self.seeded(index)

    def indexes_with_email(self, email: str) -> list[int]:
        """Indexes of candidates whose email equals ``email`` (case-insensitive), without a full scan."""
        wanted = email.strip().lower()
        found = {i for i, c in self.changed.items() if (c.get("email") or "").lower() == wanted}
        match = SEEDED_EMAIL_RE.match(wanted)
        if match:
            index = int(match.group(1))
            if index < self.size and index not in self.changed and self.seeded(index)["email"] == wanted:
                found.add(index)
        return sorted(found)

    @staticmethod
    def public(candidate: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        return {k: v for k, v in candidate.items() if k not in {"resume_file", "image_file"}}

    # -- auth and rate limit ----------------------------------------------------------------
    def authenticate(self, request: Request) -> None:
        if request.header("Authorization") != f"Bearer {self.credentials['api_token']}":
            raise HTTPError(401, {"error": "Not authorized"})
        # The token's scopes (the `token_scopes` reading): a known token without the scope is a 403.
        needed = _SCOPE_BY_METHOD.get(request.method)
        if needed and needed not in self.reading("token_scopes").split(","):
            raise HTTPError(403, {"error": f"The access token does not have the required scope: {needed}"})

    def before_dispatch(self, request: Request) -> None:
        if not self.rate_limit:
            return
        now = self.clock.now().timestamp()
        with self.lock:
            hits = self.hits.setdefault(request.header("Authorization") or "", collections.deque())
            while hits and hits[0] <= now - self.rate_window:
                hits.popleft()
            if len(hits) >= self.rate_limit:
                reset_at = hits[0] + self.rate_window
                raise HTTPError(
                    429,
                    {"error": "Too many requests"},
                    {
                        "Retry-After": str(max(1, math.ceil(reset_at - now))),
                        "X-Rate-Limit-Limit": str(self.rate_limit),
                        "X-Rate-Limit-Remaining": "0",
                        "X-Rate-Limit-Reset": str(math.ceil(reset_at)),
                    },
                )
            hits.append(now)

    # -- endpoints ------------------------------------------------------------------------------
    @route("GET", "/candidates")
    def list_candidates(self, request: Request) -> Response:
        limit = min(max(request.int_arg("limit", 50), 1), 100)
        since_id = request.arg("since_id")
        email = request.arg("email")
        with self.lock:
            indexes: t.Iterable[int] = self.indexes_with_email(email) if email is not None else range(self.total)
            start = -1
            if since_id:
                since = self.index_of(since_id)
                if since is None:
                    raise HTTPError(422, {"error": f"Validation failed: since_id {since_id!r} is not a candidate id"})
                start = since
            page: list[dict[str, t.Any]] = []
            more = False
            for index in indexes:
                if index <= start:
                    continue
                if len(page) == limit:
                    more = True
                    break
                page.append(self.candidate(index))
        paging = {}
        if more:
            query = {k: v for k, v in {"email": email, "limit": limit, "since_id": page[-1]["id"]}.items() if v}
            paging["next"] = f"{self.sandbox.url}{self.base_path}/candidates?{urlencode(query)}"
        summaries = [{k: c.get(k) for k in SUMMARY_FIELDS} for c in page]
        return json_response({"candidates": summaries, "paging": paging})

    @route("GET", r"/candidates/(?P<id>[^/]+)")
    def get_candidate(self, request: Request) -> Response:
        with self.lock:
            index = self._existing_index(request.path_params["id"])
            return json_response({"candidate": self.public(self.candidate(index))})

    @route("PATCH", r"/candidates/(?P<id>[^/]+)")
    def patch_candidate(self, request: Request) -> Response:
        body = request.json()
        with self.lock:
            index = self._existing_index(request.path_params["id"])
            if not isinstance(body, dict) or not isinstance(body.get("candidate"), dict):
                raise HTTPError(422, {"error": "Validation failed: candidate is missing or not an object"})
            updated = self.apply(self.candidate(index), body["candidate"])
            self.changed[index] = updated
            return json_response({"candidate": self.public(updated)})

    def _existing_index(self, candidate_id: str) -> int:
        index = self.index_of(candidate_id)
        if index is None:
            raise HTTPError(404, {"error": "Not found"})
        return index

    # -- the PATCH semantics ---------------------------------------------------------------------
    def apply(self, candidate: dict[str, t.Any], fields: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """Return ``candidate`` updated with ``fields`` (PUT semantics for arrays), or raise a 422."""
        errors = _Errors()
        strict = self.reading("unknown_fields") == "refused"
        unknown = sorted(set(fields) - ACCEPTED_FIELDS) if strict else []
        for key in unknown:
            errors.add(key, "is not a candidate field")
        self._apply_names(candidate, fields, errors)
        if "email" in fields:
            email = fields["email"]
            if email not in (None, "") and not (isinstance(email, str) and EMAIL_RE.match(email)):
                errors.add("email", "is invalid")
            candidate["email"] = email or None
        if "texting_consent" in fields:
            if fields["texting_consent"] not in TEXTING_CONSENT:
                errors.add("texting_consent", f"must be one of {', '.join(TEXTING_CONSENT)}")
            candidate["texting_consent"] = fields["texting_consent"]
        for key in STRING_FIELDS:
            if key in fields:
                if fields[key] is not None and not isinstance(fields[key], str):
                    errors.add(key, "must be a string")
                candidate[key] = fields[key]
        self._apply_lists(candidate, fields, errors, strict=strict)
        self._apply_files(candidate, fields, errors)
        errors.raise_if_any()
        candidate["updated_at"] = isoformat(self.clock.now())
        return candidate

    def _apply_lists(
        self, candidate: dict[str, t.Any], fields: t.Mapping[str, t.Any], errors: _Errors, *, strict: bool
    ) -> None:
        """The array fields: each one sent replaces the candidate's whole array (PUT semantics)."""
        entries = (
            ("education_entries", EDUCATION_FIELDS, "school"),
            ("experience_entries", EXPERIENCE_FIELDS, "title"),
        )
        for key, entry_fields, required in entries:
            if key in fields:
                candidate[key] = self._put_entries(
                    key,
                    candidate[key],
                    fields[key],
                    entry_fields=entry_fields,
                    required=required,
                    errors=errors,
                    strict=strict,
                )
        if "social_profiles" in fields:
            candidate["social_profiles"] = self._put_social_profiles(fields["social_profiles"], errors, strict=strict)
        if "tags" in fields:
            candidate["tags"] = self._string_list("tags", fields["tags"], errors)
        if "skills" in fields:
            candidate["skills"] = [{"name": s} for s in self._string_list("skills", fields["skills"], errors)]

    @staticmethod
    def _apply_names(candidate: dict[str, t.Any], fields: t.Mapping[str, t.Any], errors: _Errors) -> None:
        names = {k: fields[k] for k in ("firstname", "lastname") if k in fields}
        if "name" in fields:
            full = fields["name"]
            if not isinstance(full, str) or not full.strip():
                errors.add("name", "can't be blank")
            else:
                first, _, last = full.strip().partition(" ")
                names.setdefault("firstname", first)
                names.setdefault("lastname", last.strip() or candidate["lastname"])
        for key, value in names.items():
            if not isinstance(value, str) or not value.strip():
                errors.add(key, "can't be blank")
            candidate[key] = value
        candidate["name"] = f"{candidate['firstname']} {candidate['lastname']}".strip()

    def _put_entries(
        self,
        key: str,
        current: list[dict[str, t.Any]],
        value: t.Any,
        *,
        entry_fields: tuple[str, ...],
        required: str,
        errors: _Errors,
        strict: bool = True,
    ) -> list[dict[str, t.Any]]:
        if not isinstance(value, list):
            errors.add(key, "must be an array")
            return current
        existing = {entry["id"]: entry for entry in current}
        seen: set[str] = set()
        result = []
        for n, entry in enumerate(value):
            where = f"{key}[{n}]"
            if not isinstance(entry, dict):
                errors.add(where, "must be an object")
                continue
            for extra in sorted(set(entry) - {"id", *entry_fields}) if strict else ():
                errors.add(f"{where}.{extra}", "is not a field of this entry")
            if entry.get("id") is not None:
                entry_id = str(entry["id"])
                if entry_id not in existing or entry_id in seen:
                    errors.add(f"{where}.id", f"{entry_id!r} is not an entry of this candidate (or is repeated)")
                    continue
                seen.add(entry_id)
                merged = {**existing[entry_id], **{f: entry[f] for f in entry_fields if f in entry}}
            else:
                merged = {"id": self.new_entry_id(), **{f: entry.get(f) for f in entry_fields}}
            self._check_entry(where, merged, entry_fields, required, errors)
            result.append(merged)
        return result

    @staticmethod
    def _check_entry(
        where: str, entry: dict[str, t.Any], entry_fields: tuple[str, ...], required: str, errors: _Errors
    ) -> None:
        for field in entry_fields:
            value = entry.get(field)
            if field == required:
                if not isinstance(value, str) or not value.strip():
                    errors.add(f"{where}.{field}", "can't be blank")
            elif field == "current":
                if value is not None and not isinstance(value, bool):
                    errors.add(f"{where}.current", "must be true or false")
            elif value is not None and not isinstance(value, str):
                errors.add(f"{where}.{field}", "must be a string")
            elif field.endswith("_date") and value not in (None, ""):
                try:
                    if not DATE_RE.match(value):
                        raise ValueError
                    dt.date.fromisoformat(value)
                except ValueError:
                    errors.add(f"{where}.{field}", "must be a date in ISO 8601 format (YYYY-MM-DD)")

    @staticmethod
    def _put_social_profiles(value: t.Any, errors: _Errors, *, strict: bool = True) -> list[dict[str, t.Any]]:
        if not isinstance(value, list):
            errors.add("social_profiles", "must be an array")
            return []
        result = []
        types: set[str] = set()
        for n, profile in enumerate(value):
            where = f"social_profiles[{n}]"
            if not isinstance(profile, dict):
                errors.add(where, "must be an object")
                continue
            for extra in sorted(set(profile) - set(SOCIAL_FIELDS)) if strict else ():
                errors.add(f"{where}.{extra}", "is not a field of a social profile")
            kind, url = profile.get("type"), profile.get("url")
            if not kind:
                errors.add(f"{where}.type", "can't be blank")
            elif kind not in SOCIAL_TYPES:
                errors.add(f"{where}.type", f"{kind!r} is not a supported social network")
            elif kind in types:
                errors.add(f"{where}.type", f"{kind!r} is given twice (one profile per network)")
            else:
                types.add(kind)
            if not isinstance(url, str) or not url.strip():
                errors.add(f"{where}.url", "can't be blank")
            for field in ("name", "username"):
                if profile.get(field) is not None and not isinstance(profile[field], str):
                    errors.add(f"{where}.{field}", "must be a string")
            result.append({f: profile.get(f) for f in SOCIAL_FIELDS})
        return result

    @staticmethod
    def _string_list(key: str, value: t.Any, errors: _Errors) -> list[str]:
        if not isinstance(value, list):
            errors.add(key, "must be an array of strings")
            return []
        result: list[str] = []
        for n, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                errors.add(f"{key}[{n}]", "must be a non-empty string")
            elif item not in result:
                result.append(item)
        return result

    # -- resume and image ----------------------------------------------------------------------------
    def _apply_files(self, candidate: dict[str, t.Any], fields: t.Mapping[str, t.Any], errors: _Errors) -> None:
        base = f"{FILES_HOST}/{self.credentials.get('subdomain', 'sandbox')}/candidates/{candidate['id']}"
        self._apply_resume(candidate, fields, errors, base)
        self._apply_image(candidate, fields, errors, base)

    def _apply_resume(
        self, candidate: dict[str, t.Any], fields: t.Mapping[str, t.Any], errors: _Errors, base: str
    ) -> None:
        if "resume" in fields and "resume_url" in fields:
            errors.add("resume", "and resume_url are alternatives: send one")
        elif "resume" in fields:
            upload = self._decode_upload("resume", fields["resume"], errors)
            if upload is not None and not upload["name"].lower().endswith(RESUME_EXTENSIONS):
                errors.add("resume.name", f"must end with one of {', '.join(RESUME_EXTENSIONS)}")
            elif upload is not None:
                candidate["resume_file"] = upload
                candidate["resume_url"] = f"{base}/resume/{quote(upload['name'])}"
        elif "resume_url" in fields:
            name = self._url_file_name("resume_url", fields["resume_url"], errors)
            if name is not None:
                candidate["resume_file"] = {"name": name, "size": None, "source": "url", "url": fields["resume_url"]}
                candidate["resume_url"] = f"{base}/resume/{quote(name)}"

    def _apply_image(
        self, candidate: dict[str, t.Any], fields: t.Mapping[str, t.Any], errors: _Errors, base: str
    ) -> None:
        source = fields.get("image_source")
        if source is not None and source not in IMAGE_SOURCES:
            errors.add("image_source", f"{source!r} is not a supported source")
        if "image" in fields and "image_url" in fields:
            errors.add("image", "and image_url are alternatives: send one")
        elif "image" in fields:
            upload = self._decode_upload("image", fields["image"], errors)
            image_source = fields["image"].get("source") if isinstance(fields["image"], dict) else None
            if image_source is not None and image_source not in IMAGE_SOURCES:
                errors.add("image.source", f"{image_source!r} is not a supported source")
            if upload is not None:
                candidate["image_file"] = {**upload, "image_source": image_source or source}
                candidate["image_url"] = f"{base}/image/{quote(upload['name'])}"
        elif "image_url" in fields:
            name = self._url_file_name("image_url", fields["image_url"], errors)
            if name is not None:
                candidate["image_file"] = {"name": name, "size": None, "source": "url", "image_source": source}
                candidate["image_url"] = f"{base}/image/{quote(name)}"
        elif "image_source" in fields:
            errors.add("image_source", "needs image_url or image")

    @staticmethod
    def _decode_upload(key: str, value: t.Any, errors: _Errors) -> dict[str, t.Any] | None:
        if not isinstance(value, dict):
            errors.add(key, "must be an object with name and data")
            return None
        allowed = {"name", "data", "source"} if key == "image" else {"name", "data"}
        for extra in sorted(set(value) - allowed):
            errors.add(f"{key}.{extra}", "is not a field of this file")
        name, data = value.get("name"), value.get("data")
        if not isinstance(name, str) or not name.strip():
            errors.add(f"{key}.name", "can't be blank")
        if not isinstance(data, str) or not data.strip():
            errors.add(f"{key}.data", "can't be blank")
            return None
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            errors.add(f"{key}.data", "is not valid base64")
            return None
        if not isinstance(name, str) or not name.strip():
            return None
        return {"name": name, "size": len(content), "source": "upload"}

    @staticmethod
    def _url_file_name(key: str, value: t.Any, errors: _Errors) -> str | None:
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in {"http", "https"} or not parts.netloc:
            errors.add(key, "must be an http(s) URL")
            return None
        return parts.path.rsplit("/", 1)[-1] or key

    # -- controls and dump -------------------------------------------------------------------------------
    def control(self, action: str, payload: t.Mapping[str, t.Any]) -> t.Any:
        if action == "add_candidate":
            return {"candidate": self.public(self.add_candidate(payload))}
        if action == "add_candidates":
            return {"candidates": [self.public(self.add_candidate(c)) for c in payload.get("candidates") or []]}
        if action == "rate_limit":
            self.rate_limit = int(payload.get("limit", self.rate_limit) or 0)
            self.rate_window = float(payload.get("window_seconds", self.rate_window))
            self.hits.clear()
            return {"limit": self.rate_limit, "window_seconds": self.rate_window}
        if action == "seeded_person":
            index = int(payload["index"])
            return {**seeded_person(self.seed, index), "index": index, "id": self.candidate_id(index)}
        return super().control(action, payload)

    def add_candidate(self, fields: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """Create a candidate (Workable creates them per job; the sandbox only needs the person)."""
        index = self.total
        person = seeded_person(self.seed, index)
        now = isoformat(self.clock.now())
        cid = self.candidate_id(index)
        subdomain = self.credentials.get("subdomain", "sandbox")
        candidate: dict[str, t.Any] = {
            **dict.fromkeys((*STRING_FIELDS, "texting_consent", "domain", "resume_url", "image_url")),
            "id": cid,
            "firstname": person["firstname"],
            "lastname": person["lastname"],
            "name": "",
            "email": person["email"],
            "account": {"subdomain": subdomain, "name": "Sandbox Inc."},
            "job": {"shortcode": "SBX001", "title": TITLES[0]},
            "stage": "Applied",
            "disqualified": False,
            "disqualification_reason": None,
            "sourced": True,
            "profile_url": f"https://{subdomain}.workable.com/backend/candidates/{cid}",
            "created_at": now,
            "updated_at": now,
            "education_entries": [],
            "experience_entries": [],
            "skills": [],
            "tags": [],
            "social_profiles": [],
            "resume_file": None,
            "image_file": None,
        }
        candidate = self.apply(candidate, fields)
        self.changed[index] = candidate
        self.added += 1
        return candidate

    def dump(self) -> dict[str, t.Any]:
        return {
            "candidates": [self.candidate(i) for i in range(self.total)],
            "rate_limit": {"limit": self.rate_limit, "window_seconds": self.rate_window},
        }
