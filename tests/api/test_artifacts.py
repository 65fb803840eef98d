"""Artifacts: files on studies and trials, stored in the database, with hostile input."""

from __future__ import annotations

import hashlib
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def study(make_study) -> dict:
    return make_study()


def _trial(http, sid: int) -> int:
    r = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1})
    assert r.status_code == 200, r.text
    return r.json()["trials"][0]["id"]


def upload(http, url: str, data: bytes, name: str, content_type: str | None = "text/csv"):
    headers = {"content-type": content_type} if content_type else {}
    return http.post(url, params={"name": name}, content=data, headers=headers)


def test_study_artifact_round_trip(http, study):
    data = b"step,loss\n0,1.5\n"
    r = upload(http, f"/v1/studies/{study['id']}/artifacts", data, "loss.csv")
    assert r.status_code == 201, r.text
    meta = r.json()
    assert meta["name"] == "loss.csv" and meta["size"] == len(data)
    assert meta["sha256"] == hashlib.sha256(data).hexdigest() and meta["trial_id"] is None
    listed = http.get(f"/v1/studies/{study['id']}/artifacts").json()["items"]
    assert [a["id"] for a in listed] == [meta["id"]]
    assert http.get(f"/v1/artifacts/{meta['id']}").json() == meta
    got = http.get(f"/v1/artifacts/{meta['id']}/content")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"].startswith('attachment; filename="loss.csv"')
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]


def test_trial_artifacts_are_listed_per_trial(http, study):
    a, b = _trial(http, study["id"]), _trial(http, study["id"])
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    r = upload(http, f"/v1/trials/{a}/artifacts", png, "plot.png", "image/png")
    assert r.status_code == 201 and r.json()["trial_id"] == a
    assert r.json()["study_id"] == study["id"]
    assert [x["name"] for x in http.get(f"/v1/trials/{a}/artifacts").json()["items"]] == [
        "plot.png"
    ]
    assert http.get(f"/v1/trials/{b}/artifacts").json()["items"] == []
    assert http.get(f"/v1/studies/{study['id']}/artifacts").json()["items"] == []
    assert http.get(f"/v1/artifacts/{r.json()['id']}/content").content == png


def test_missing_content_type_is_octet_stream_and_empty_files_are_fine(http, study):
    r = upload(http, f"/v1/studies/{study['id']}/artifacts", b"", "empty.bin", None)
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "application/octet-stream" and r.json()["size"] == 0


def test_delete_removes_the_file(http, study):
    meta = upload(http, f"/v1/studies/{study['id']}/artifacts", b"x", "a.txt").json()
    assert http.delete(f"/v1/artifacts/{meta['id']}").status_code == 204
    assert http.get(f"/v1/artifacts/{meta['id']}").status_code == 404
    assert http.delete(f"/v1/artifacts/{meta['id']}").status_code == 404
    assert http.get(f"/v1/studies/{study['id']}/artifacts").json()["items"] == []


def test_deleting_the_study_deletes_its_files(http, study):
    tid = _trial(http, study["id"])
    a = upload(http, f"/v1/studies/{study['id']}/artifacts", b"x", "a.txt").json()
    b = upload(http, f"/v1/trials/{tid}/artifacts", b"y", "b.txt").json()
    assert http.delete(f"/v1/studies/{study['id']}").status_code == 204
    assert http.get(f"/v1/artifacts/{a['id']}").status_code == 404
    assert http.get(f"/v1/artifacts/{b['id']}").status_code == 404


def test_oversized_upload_is_413_naming_the_limit(settings, make_study):
    from asktell.api.app import create_app

    settings.artifact_max_bytes = 1000
    with TestClient(create_app(settings)) as http:
        sid = http.post(
            "/v1/studies",
            json={"name": "s", "space": [{"name": "x", "type": "float", "low": 0, "high": 1}]},
        ).json()["id"]
        r = upload(http, f"/v1/studies/{sid}/artifacts", b"x" * 1001, "big.bin")
        assert r.status_code == 413, r.text
        err = r.json()["error"]
        assert err["field"] == "body" and "1000 bytes" in err["message"]
        assert "ASKTELL_ARTIFACT_MAX_BYTES" in err["message"]

        def chunks():  # no Content-Length: the limit holds while streaming
            for _ in range(5):
                yield b"x" * 300

        r = http.post(f"/v1/studies/{sid}/artifacts", params={"name": "s.bin"}, content=chunks())
        assert r.status_code == 413, r.text
        assert (
            upload(http, f"/v1/studies/{sid}/artifacts", b"x" * 1000, "ok.bin").status_code == 201
        )
        assert len(http.get(f"/v1/studies/{sid}/artifacts").json()["items"]) == 1


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "..",
        ".",
        "a/b.txt",
        "..\\win.ini",
        "/abs",
        "tab\there",
        "nul\x00",
        "",
        " ",
        "x" * 256,
    ],
)
def test_path_like_or_control_file_names_are_422(http, study, name):
    r = upload(http, f"/v1/studies/{study['id']}/artifacts", b"x", name)
    assert r.status_code == 422, (name, r.text)
    assert r.json()["error"]["field"] == "name"
    assert http.get(f"/v1/studies/{study['id']}/artifacts").json()["items"] == []


def test_odd_but_legal_names_download_with_a_safe_disposition(http, study):
    name = 'rés"ult; x=1 <b>.txt'
    meta = upload(http, f"/v1/studies/{study['id']}/artifacts", b"x", name).json()
    assert meta["name"] == name
    disp = http.get(f"/v1/artifacts/{meta['id']}/content").headers["content-disposition"]
    fallback = disp.split('filename="')[1].split('"')[0]
    assert all(c.isalnum() or c in "._ ()+-" for c in fallback)
    assert unquote(disp.split("filename*=UTF-8''")[1]) == name


def test_html_upload_cannot_run_in_the_dashboard_origin(http, study):
    page = b"<script>alert(1)</script>"
    meta = upload(http, f"/v1/studies/{study['id']}/artifacts", page, "x.html", "text/html").json()
    got = http.get(f"/v1/artifacts/{meta['id']}/content")
    assert got.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in got.headers["content-security-policy"]


@pytest.mark.parametrize("content_type", ["not a type", "text/", "a/b; c", "x" * 300 + "/y"])
def test_bad_content_type_is_422(http, study, content_type):
    r = upload(http, f"/v1/studies/{study['id']}/artifacts", b"x", "a.bin", content_type)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "content-type"


def test_unknown_ids_are_404(http):
    assert upload(http, "/v1/studies/999999/artifacts", b"x", "a.txt").status_code == 404
    assert upload(http, "/v1/trials/999999/artifacts", b"x", "a.txt").status_code == 404
    for url in (
        "/v1/studies/999999/artifacts",
        "/v1/trials/999999/artifacts",
        "/v1/artifacts/999999",
        "/v1/artifacts/999999/content",
    ):
        r = http.get(url)
        assert r.status_code == 404, url
    assert http.get("/v1/artifacts/0").status_code == 422
    assert http.post("/v1/studies/1/artifacts", content=b"x").json()["error"]["field"] == "name"


def test_retried_upload_with_the_same_key_stores_one_file(http, study):
    url = f"/v1/studies/{study['id']}/artifacts"
    headers = {"Idempotency-Key": "k-1", "content-type": "text/plain"}
    a = http.post(url, params={"name": "a.txt"}, content=b"x", headers=headers).json()
    b = http.post(url, params={"name": "a.txt"}, content=b"x", headers=headers).json()
    assert a == b
    assert len(http.get(url).json()["items"]) == 1
