"""The Python client's notes and artifacts against the real app (sync and async)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import asktell_client as at
from tests.conftest import SPACE


@pytest.fixture
def client(http) -> at.Client:
    return at.Client(base_url=str(http.base_url), http_client=http)


def test_trial_and_study_artifacts_and_notes(client, tmp_path):
    study = client.studies.create("files", space=SPACE)
    [trial] = study.ask(1)
    path = tmp_path / "loss.csv"
    path.write_bytes(b"step,loss\n0,1\n")
    a = trial.upload_artifact(path)
    assert (a.name, a.content_type, a.trial_id) == ("loss.csv", "text/csv", trial.id)
    b = trial.upload_artifact(b"\x00\x01", name="weights.bin")
    assert b.content_type == "application/octet-stream"
    assert [x.name for x in trial.artifacts()] == ["loss.csv", "weights.bin"]
    assert trial.download_artifact(a) == path.read_bytes()
    assert trial.download_artifact(b.id) == b"\x00\x01"
    trial.delete_artifact(b)
    assert [x.id for x in trial.artifacts()] == [a.id]
    s = study.upload_artifact(b"{}", name="config.json")
    assert s.trial_id is None and [x.id for x in study.artifacts()] == [s.id]

    assert study.note().version == 0
    saved = study.set_note("# Plan")
    assert (saved.body, saved.version) == ("# Plan", 1)
    assert study.set_note("# Plan v2").version == 2
    with pytest.raises(at.ConflictError) as err:
        study.set_note("stale", version=1)
    assert err.value.field == "version"
    assert trial.set_note("good run").body == trial.note().body == "good run"


def test_bytes_need_a_name_and_server_errors_name_the_field(client):
    study = client.studies.create("bad-files", space=SPACE)
    with pytest.raises(ValueError, match="name"):
        study.upload_artifact(b"x")
    with pytest.raises(at.UnprocessableEntityError) as err:
        study.upload_artifact(b"x", name="../up.txt")
    assert err.value.field == "name"


def test_a_retried_upload_stores_one_file(http):
    """The first answer is lost (503 after the server stored the file): the retry, with the
    same idempotency key, gets the stored answer back."""
    lost = []

    def transport(request: httpx.Request) -> httpx.Response:
        response = http.send(request)
        if request.url.path.endswith("/artifacts") and request.method == "POST" and not lost:
            lost.append(request.headers["Idempotency-Key"])
            return httpx.Response(503, json={"error": {"code": "x", "message": "lost"}})
        return response

    wrapped = httpx.Client(transport=httpx.MockTransport(transport), base_url=http.base_url)
    client = at.Client(base_url=str(http.base_url), http_client=wrapped, max_retries=2)
    study = client.studies.create("retry-files", space=SPACE)
    a = study.upload_artifact(b"once", name="once.txt")
    assert lost and len(study.artifacts()) == 1 and study.artifacts()[0].id == a.id


def test_async_handles(http, app):
    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as h:
            client = at.AsyncClient(base_url="http://testserver", http_client=h)
            study = await client.studies.create("async-files", space=SPACE)
            [trial] = await study.ask(1)
            a = await trial.upload_artifact(b"abc", name="a.txt")
            assert a.content_type == "text/plain"
            assert [x.id for x in await trial.artifacts()] == [a.id]
            assert await trial.download_artifact(a) == b"abc"
            await trial.delete_artifact(a)
            assert await trial.artifacts() == []
            assert (await study.set_note("async note")).version == 1
            assert (await study.note()).body == "async note"

    asyncio.run(main())


def test_upload_sends_the_bytes_with_their_length_and_type():
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            201,
            json={
                "id": 1,
                "study_id": 3,
                "trial_id": 7,
                "name": "a.json",
                "content_type": "application/json",
                "size": 2,
                "sha256": "0" * 64,
                "created_at": "2026-01-01T00:00:00Z",
            },
        )

    http = httpx.Client(transport=httpx.MockTransport(server))
    client = at.Client(base_url="http://asktell.test", token="tok", http_client=http)
    trial = at.TrialHandle.__new__(at.TrialHandle)
    trial._client = client
    trial.data = at.Trial(
        id=7, study_id=3, state="running", params={}, created_at="2026-01-01T00:00:00Z"
    )
    trial.upload_artifact(b"{}", name="a.json")
    (request,) = seen
    assert request.url.path == "/v1/trials/7/artifacts" and request.url.params["name"] == "a.json"
    assert request.headers["content-length"] == "2" and request.content == b"{}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer tok"
    assert request.headers["idempotency-key"]
