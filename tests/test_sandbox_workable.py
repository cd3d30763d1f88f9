"""The simulated Workable SPI v3 candidates API, over HTTP: what a client can rely on."""

from __future__ import annotations

import base64
import typing as t

import pytest
import requests

from jobsync_sandbox.apis.workable import seeded_person

TOKEN = "sandbox-workable-token"


@pytest.fixture(autouse=True)
def fresh(control):
    """Five seeded candidates and no rate limit, unless a test says otherwise."""
    control.reset(seed=1, sizes={"workable": {"candidates": 5}})
    control.api_control("workable", "rate_limit", {"limit": 0})


@pytest.fixture
def api(sandbox) -> t.Callable[..., requests.Response]:
    base = sandbox.base_urls["workable"]

    def call(method: str, path: str, *, token: str | None = TOKEN, **kwargs: t.Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, base + path, headers=headers, timeout=10, **kwargs)

    return call


def first_candidate(control) -> dict:
    return control.store("workable")["candidates"][0]


def patch(api, candidate_id: str, fields: dict) -> requests.Response:
    return api("PATCH", f"/candidates/{candidate_id}", json={"candidate": fields})


# -- auth ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_missing_or_wrong_bearer_token_is_401_not_authorized(api, token):
    response = api("GET", "/candidates", token=token)
    assert response.status_code == 401
    assert response.json() == {"error": "Not authorized"}


# -- reading ------------------------------------------------------------------------------------------
def test_get_candidate_by_id_wraps_it_in_candidate(api, control):
    stored = first_candidate(control)
    response = api("GET", f"/candidates/{stored['id']}")
    assert response.status_code == 200
    candidate = response.json()["candidate"]
    assert candidate["id"] == stored["id"]
    assert candidate["email"] == stored["email"]
    assert all("id" in e for e in candidate["experience_entries"] + candidate["education_entries"])
    # What was uploaded is stored, but the API shows only its own URL.
    assert "resume_file" not in candidate


def test_unknown_candidate_id_is_404(api):
    assert api("GET", "/candidates/nope").status_code == 404
    assert patch(api, "ffffffffff", {"headline": "x"}).status_code == 404


def test_candidates_are_found_by_email_case_insensitively(api, control):
    stored = first_candidate(control)
    body = api("GET", "/candidates", params={"email": stored["email"].upper()}).json()
    assert [c["id"] for c in body["candidates"]] == [stored["id"]]
    assert "next" not in body["paging"]
    assert api("GET", "/candidates", params={"email": "nobody@example.org"}).json()["candidates"] == []


def test_an_email_can_belong_to_several_candidates(api, control):
    """Workable keeps one candidate per job applied to: the same person shows up twice."""
    stored = first_candidate(control)
    added = control.api_control("workable", "add_candidate", {"email": stored["email"]})["candidate"]
    found = api("GET", "/candidates", params={"email": stored["email"]}).json()["candidates"]
    assert [c["id"] for c in found] == [stored["id"], added["id"]]


def test_candidate_list_pages_with_since_id_and_a_next_url(api):
    first = api("GET", "/candidates", params={"limit": 2}).json()
    assert len(first["candidates"]) == 2
    second = requests.get(first["paging"]["next"], headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
    ids = [c["id"] for c in first["candidates"] + second["candidates"]]
    assert len(ids) == len(set(ids)) == 4


def test_seeded_candidates_are_deterministic_and_share_the_people_rule(control):
    one = control.store("workable")["candidates"]
    control.reset(seed=1, sizes={"workable": {"candidates": 5}})
    assert control.store("workable")["candidates"] == one
    for index, candidate in enumerate(one):
        person = seeded_person(1, index)
        assert (
            candidate["email"]
            == person["email"]
            == f"{person['firstname']}.{person['lastname']}.{index}@example.com".lower()
        )
    assert control.api_control("workable", "seeded_person", {"index": 3})["email"] == one[3]["email"]
    control.reset(seed=2, sizes={"workable": {"candidates": 5}})
    assert control.store("workable")["candidates"][0]["id"] != one[0]["id"]


# -- PATCH: scalars -------------------------------------------------------------------------------------
def test_patch_updates_present_scalars_only_and_answers_the_updated_candidate(api, control):
    before = first_candidate(control)
    response = patch(api, before["id"], {"headline": "Chief Everything", "phone": "1-555-000-0000"})
    assert response.status_code == 200
    candidate = response.json()["candidate"]
    assert candidate["headline"] == "Chief Everything"
    assert candidate["phone"] == "1-555-000-0000"
    assert candidate["address"] == before["address"]
    assert candidate["experience_entries"] == before["experience_entries"]
    assert candidate["updated_at"] != before["updated_at"]
    assert first_candidate(control)["headline"] == "Chief Everything"


def test_name_fills_firstname_and_lastname(api, control):
    cid = first_candidate(control)["id"]
    candidate = patch(api, cid, {"name": "Mary Ann Smith"}).json()["candidate"]
    assert (candidate["firstname"], candidate["lastname"], candidate["name"]) == ("Mary", "Ann Smith", "Mary Ann Smith")


# -- PATCH: PUT semantics of array keys ----------------------------------------------------------------
def test_entries_with_id_update_without_id_are_created_omitted_are_deleted(api, control):
    before = first_candidate(control)
    kept = before["experience_entries"][0]
    candidate = patch(
        api,
        before["id"],
        {"experience_entries": [{"id": kept["id"], "end_date": "2024-02-29", "current": False}, {"title": "CTO"}]},
    ).json()["candidate"]
    updated, created = candidate["experience_entries"]
    assert updated == {**kept, "end_date": "2024-02-29", "current": False}  # omitted fields keep their values
    assert created["title"] == "CTO"
    assert created["id"] not in {e["id"] for e in before["experience_entries"]}
    assert len(candidate["experience_entries"]) == 2  # the entries not sent are gone


def test_empty_array_deletes_all_and_absent_key_keeps_all(api, control):
    before = first_candidate(control)
    candidate = patch(api, before["id"], {"experience_entries": [], "tags": []}).json()["candidate"]
    assert candidate["experience_entries"] == []
    assert candidate["tags"] == []
    assert candidate["education_entries"] == before["education_entries"]
    assert candidate["social_profiles"] == before["social_profiles"]


def test_social_profiles_tags_and_skills_become_exactly_the_input(api, control):
    cid = first_candidate(control)["id"]
    candidate = patch(
        api,
        cid,
        {
            "social_profiles": [{"type": "github", "url": "https://github.com/x"}],
            "tags": ["globetrotter", "adventurer"],
            "skills": ["Travel Planning", "Problem Solving"],
        },
    ).json()["candidate"]
    assert candidate["social_profiles"] == [
        {"type": "github", "name": None, "username": None, "url": "https://github.com/x"}
    ]
    assert candidate["tags"] == ["globetrotter", "adventurer"]
    # Written as strings, read back as objects (as Workable answers them).
    assert candidate["skills"] == [{"name": "Travel Planning"}, {"name": "Problem Solving"}]


# -- PATCH: validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"experience_entries": [{"company": "Acme"}]}, "experience_entries[0].title"),
        ({"education_entries": [{"degree": "MBA"}]}, "education_entries[0].school"),
        ({"social_profiles": [{"url": "https://x.example"}]}, "social_profiles[0].type"),
        ({"social_profiles": [{"type": "twitter"}]}, "social_profiles[0].url"),
        ({"social_profiles": [{"type": "friendster", "url": "https://x.example"}]}, "social_profiles[0].type"),
        ({"texting_consent": "yes"}, "texting_consent"),
        ({"experience_entries": [{"title": "CTO", "start_date": "2020-13-01"}]}, "experience_entries[0].start_date"),
        ({"experience_entries": [{"id": "someone-elses", "title": "CTO"}]}, "experience_entries[0].id"),
        ({"firstname": ""}, "firstname"),
        ({"email": "not-an-email"}, "email"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ],
)
def test_invalid_input_is_422_naming_the_field_and_changes_nothing(api, control, fields, named):
    before = first_candidate(control)
    response = patch(api, before["id"], fields)
    assert response.status_code == 422
    assert named in response.json()["error"]
    assert named in response.json()["validation_errors"]
    assert first_candidate(control) == before


def test_body_without_candidate_object_is_422(api, control):
    response = api("PATCH", f"/candidates/{first_candidate(control)['id']}", json={"headline": "x"})
    assert response.status_code == 422
    assert "candidate" in response.json()["error"]


# -- PATCH: resume and image ----------------------------------------------------------------------------
def test_base64_resume_is_stored_as_name_and_size_and_shown_as_a_workable_url(api, control):
    cid = first_candidate(control)["id"]
    data = base64.b64encode(b"%PDF-1.4 resume").decode()
    candidate = patch(api, cid, {"resume": {"name": "jj_botha.pdf", "data": data}}).json()["candidate"]
    assert candidate["resume_url"].endswith("/resume/jj_botha.pdf")
    stored = first_candidate(control)
    assert stored["resume_file"] == {"name": "jj_botha.pdf", "size": 15, "source": "upload"}
    assert data not in str(stored)


def test_resume_url_is_downloaded_and_re_hosted(api, control):
    cid = first_candidate(control)["id"]
    candidate = patch(api, cid, {"resume_url": "https://cdn.example.com/cv/ada.pdf"}).json()["candidate"]
    assert candidate["resume_url"] != "https://cdn.example.com/cv/ada.pdf"
    assert first_candidate(control)["resume_file"]["url"] == "https://cdn.example.com/cv/ada.pdf"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        # The document's own example: 25 characters is not base64.
        ({"resume": {"name": "jj_botha.doc", "data": "6622116356e175ed0394b0d=="}}, "resume.data"),
        ({"resume": {"name": "cv.exe", "data": "SGVsbG8h"}}, "resume.name"),
        ({"resume": {"name": "cv.pdf", "data": "SGVsbG8h"}, "resume_url": "https://x.example/cv.pdf"}, "resume"),
        ({"image": {"name": "me.jpg", "data": "SGVsbG8h", "source": "myspace2"}}, "image.source"),
        ({"image_url": "https://x.example/me.jpg", "image_source": "nowhere"}, "image_source"),
    ],
)
def test_invalid_files_are_422(api, control, fields, named):
    response = patch(api, first_candidate(control)["id"], fields)
    assert response.status_code == 422
    assert named in response.json()["validation_errors"]


def test_image_with_source_is_stored(api, control):
    cid = first_candidate(control)["id"]
    candidate = patch(api, cid, {"image": {"name": "me.jpg", "data": "SGVsbG8h", "source": "linkedin"}}).json()[
        "candidate"
    ]
    assert candidate["image_url"].endswith("/image/me.jpg")
    stored = first_candidate(control)["image_file"]
    assert stored == {"name": "me.jpg", "size": 6, "source": "upload", "image_source": "linkedin"}


# -- rate limit ----------------------------------------------------------------------------------------------
def test_more_than_the_limit_in_the_window_is_429_with_retry_after(api, control):
    control.api_control("workable", "rate_limit", {"limit": 3, "window_seconds": 10})
    assert [api("GET", "/candidates").status_code for _ in range(3)] == [200, 200, 200]
    refused = api("GET", "/candidates")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    assert refused.headers["X-Rate-Limit-Limit"] == "3"
    assert refused.headers["X-Rate-Limit-Remaining"] == "0"
    # Refused requests do not count; once the window has passed, requests go through again.
    control.advance_clock(10)
    assert api("GET", "/candidates").status_code == 200


def test_default_limit_is_ten_requests_per_ten_seconds(control):
    control.reset(seed=1, sizes={"workable": {"candidates": 1}})
    assert control.store("workable")["rate_limit"] == {"limit": 10, "window_seconds": 10.0}


# -- controls ---------------------------------------------------------------------------------------------------
def test_add_candidate_takes_the_next_seeded_person_unless_told(api, control):
    added = control.api_control("workable", "add_candidate", {"headline": "Walk-in"})["candidate"]
    assert added["email"] == seeded_person(1, 5)["email"]
    assert api("GET", f"/candidates/{added['id']}").json()["candidate"]["headline"] == "Walk-in"
    assert len(control.store("workable")["candidates"]) == 6


def test_add_candidates_gives_workable_people_from_elsewhere(api, control):
    """How a demo makes Workable know the people another system (TrackJobChanges) tracks."""
    emails = ["ryan@scripted.com", "ryan@toofr.com"]
    added = control.api_control("workable", "add_candidates", {"candidates": [{"email": e} for e in emails]})
    assert [c["email"] for c in added["candidates"]] == emails
    for email in emails:
        assert len(api("GET", "/candidates", params={"email": email}).json()["candidates"]) == 1


# -- readings: every plausible reading of the document ---------------------------------------------------------
def test_token_scopes_reading_w_candidates_only_refuses_reads_but_allows_the_patch(api, control):
    """ "Required scope: w_candidates." is the only scope the document names."""
    candidate = first_candidate(control)
    assert api("GET", f"/candidates/{candidate['id']}").status_code == 200
    control.set_readings("workable", token_scopes="w_candidates")
    for path in (f"/candidates/{candidate['id']}", "/candidates", f"/candidates?email={candidate['email']}"):
        refused = api("GET", path)
        assert refused.status_code == 403
        assert "r_candidates" in refused.json()["error"]
    patched = patch(api, candidate["id"], {"headline": "Written without reading"})
    assert patched.status_code == 200 and patched.json()["candidate"]["headline"] == "Written without reading"
    assert api("GET", "/candidates", token="wrong-token").status_code == 401  # a bad token is still a 401


def test_unknown_fields_reading_refused_or_ignored(api, control):
    """ "Here is a list of fields that can be provided:" says nothing about other keys."""
    candidate = first_candidate(control)
    fields = {
        "headline": "Kept",
        "favourite_colour": "green",
        "experience_entries": [{"title": "Nurse", "company": "Acme", "salary": 1}],
        "social_profiles": [{"type": "github", "url": "https://github.com/x", "followers": 3}],
    }
    refused = patch(api, candidate["id"], fields)
    assert refused.status_code == 422
    assert set(refused.json()["validation_errors"]) == {
        "favourite_colour", "experience_entries[0].salary", "social_profiles[0].followers",
    }  # fmt: skip
    control.set_readings("workable", unknown_fields="ignored")
    applied = patch(api, candidate["id"], fields)
    assert applied.status_code == 200, applied.text
    stored = applied.json()["candidate"]
    assert stored["headline"] == "Kept" and "favourite_colour" not in stored
    assert [(e["title"], "salary" in e) for e in stored["experience_entries"]] == [("Nurse", False)]
    assert stored["social_profiles"][0]["type"] == "github" and "followers" not in stored["social_profiles"][0]
