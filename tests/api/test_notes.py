"""Study and trial notes: versioned saves, conflicts, hostile input, export and import."""

from __future__ import annotations

import pytest

from asktell_client.attachments import NOTE_MAX_CHARS


@pytest.fixture
def study(make_study) -> dict:
    return make_study()


def _trial(http, sid: int) -> int:
    r = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1})
    assert r.status_code == 200, r.text
    return r.json()["trials"][0]["id"]


def test_study_note_starts_empty_and_saves_with_versions(http, study):
    url = f"/v1/studies/{study['id']}/note"
    assert http.get(url).json() == {
        "study_id": study["id"],
        "trial_id": None,
        "body": "",
        "version": 0,
        "updated_at": None,
    }
    first = http.put(url, json={"body": "# Plan\n- try *lr*", "version": 0})
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1 and first.json()["updated_at"]
    second = http.put(url, json={"body": "v2", "version": 1}).json()
    assert second["version"] == 2
    assert http.get(url).json()["body"] == "v2"


def test_stale_version_is_409_and_keeps_the_newer_note(http, study):
    url = f"/v1/studies/{study['id']}/note"
    http.put(url, json={"body": "mine", "version": 0})
    http.put(url, json={"body": "theirs", "version": 1})
    for version in (0, 1, 7):
        r = http.put(url, json={"body": "late edit", "version": version})
        assert r.status_code == 409, (version, r.text)
        assert r.json()["error"]["field"] == "version"
        assert r.json()["error"]["code"] == "note_version_conflict"
    assert http.get(url).json() == {**http.get(url).json(), "body": "theirs", "version": 2}


def test_trial_notes_are_separate_from_the_study_note(http, study):
    a, b = _trial(http, study["id"]), _trial(http, study["id"])
    http.put(f"/v1/studies/{study['id']}/note", json={"body": "study", "version": 0})
    r = http.put(f"/v1/trials/{a}/note", json={"body": "trial a", "version": 0})
    assert r.status_code == 200 and r.json()["trial_id"] == a
    assert http.get(f"/v1/trials/{a}/note").json()["body"] == "trial a"
    assert http.get(f"/v1/trials/{b}/note").json()["version"] == 0
    assert http.get(f"/v1/studies/{study['id']}/note").json()["body"] == "study"


def test_html_in_a_note_is_stored_verbatim_as_json_text(http, study):
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    url = f"/v1/studies/{study['id']}/note"
    r = http.put(url, json={"body": evil, "version": 0})
    assert r.headers["content-type"].startswith("application/json")
    assert http.get(url).json()["body"] == evil


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "x", "version": -1}, "version"),
        ({"body": "x", "version": "one"}, "version"),
        ({"body": "x"}, "version"),
        ({"version": 0}, "body"),
        ({"body": 5, "version": 0}, "body"),
        ({"body": "x" * (NOTE_MAX_CHARS + 1), "version": 0}, "body"),
        ({"body": "x", "version": 0, "extra": 1}, "extra"),
        ({"body": "a\x00b", "version": 0}, "body"),
    ],
)
def test_bad_note_bodies_are_422_naming_the_field(http, study, body, field):
    r = http.put(f"/v1/studies/{study['id']}/note", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_unknown_study_or_trial_is_404(http):
    for url in ("/v1/studies/999999/note", "/v1/trials/999999/note"):
        assert http.get(url).status_code == 404
        assert http.put(url, json={"body": "x", "version": 0}).status_code == 404


def test_export_and_import_carry_notes(http, study):
    sid = study["id"]
    tid = _trial(http, sid)
    http.post(f"/v1/trials/{tid}:tell", json={"values": {"value": 1.5}})
    http.put(f"/v1/studies/{sid}/note", json={"body": "about the study", "version": 0})
    http.put(f"/v1/trials/{tid}/note", json={"body": "about the trial", "version": 0})
    exported = http.get(f"/v1/studies/{sid}:export").json()
    assert exported["note"] == "about the study"
    assert exported["trials"][0]["note"] == "about the trial"
    exported["study"]["name"] = "copy"
    r = http.post("/v1/studies:import", json=exported)
    assert r.status_code == 201, r.text
    copy = r.json()["id"]
    assert http.get(f"/v1/studies/{copy}/note").json()["body"] == "about the study"
    trial = http.get(f"/v1/studies/{copy}/trials").json()["items"][0]
    assert http.get(f"/v1/trials/{trial['id']}/note").json()["body"] == "about the trial"


def test_import_with_a_bad_note_writes_nothing(http, study):
    exported = http.get(f"/v1/studies/{study['id']}:export").json()
    exported["study"]["name"] = "bad-copy"
    exported["note"] = "nul \x00 inside"
    r = http.post("/v1/studies:import", json=exported)
    assert r.status_code == 422 and r.json()["error"]["field"] == "note"
    names = [s["name"] for s in http.get("/v1/studies").json()["items"]]
    assert "bad-copy" not in names
