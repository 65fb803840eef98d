"""The surrogate view: a worker slices the study's model along one parameter, on demand."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

D = "/v1/dashboard"
SPACE = [
    {"name": "x", "type": "float", "low": -5.0, "high": 5.0},
    {"name": "n", "type": "int", "low": 1, "high": 9, "step": 2},
    {"name": "c", "type": "fixed", "value": 3},
]
XS = [-4.0, -2.5, -1.0, 0.0, 0.5, 1.5, 3.0, 4.5]


def f(x: float, n: int) -> float:
    return (x - 1.0) ** 2 + 0.5 * n


def gp_study(http, make_study, headers=None, **overrides) -> int:
    if headers is None:
        sid = make_study(space=SPACE, strategy={"name": "gp"}, **overrides)["id"]
    else:
        body = {"name": "s", "space": SPACE, "strategy": {"name": "gp"}, **overrides}
        sid = http.post("/v1/studies", json=body, headers=headers).json()["id"]
    for i, x in enumerate(XS):
        n = [1, 3, 5, 7, 9][i % 5]
        body = {"params": {"x": x, "n": n, "c": 3}, "values": {"value": f(x, n)}}
        r = http.post(f"/v1/studies/{sid}/trials", json=body, headers=headers)
        assert r.status_code == 201, r.text
    return sid


def surrogate(http, sid: int, param: str, headers=None) -> dict:
    """POST, then poll on 202 until the job is done."""
    r = http.post(f"{D}/studies/{sid}/surrogate", json={"param": param}, headers=headers)
    assert r.status_code in (200, 202), r.text
    body = r.json()
    deadline = time.monotonic() + 60
    while r.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
        r = http.get(f"{D}/studies/{sid}/surrogate/{body['job_id']}", params={"param": param})
        assert r.status_code == 200, r.text
        body = r.json()
        if body["state"] in ("done", "failed"):
            break
    assert body["state"] == "done", body
    assert body["param"] == param and body["study_id"] == sid
    return body


def test_slice_of_a_gp_study(http, make_study):
    sid = gp_study(http, make_study)
    body = surrogate(http, sid, "x")
    out = body["result"]
    assert "error" not in out, out
    k = len(out["x"])
    assert k == 64 and len(out["mean"]) == len(out["std"]) == len(out["acquisition"]) == k
    assert out["x"][0] == -5.0 and out["x"][-1] == 5.0
    assert all(s > 0 for s in out["std"])
    assert out["objective"] == "value" and out["direction"] == "minimize"
    best = out["best"]
    values = [f(x, [1, 3, 5, 7, 9][i % 5]) for i, x in enumerate(XS)]
    assert best["value"] == min(values) and best["params"]["x"] == best["x"]
    at_best = np.interp(best["x"], out["x"], out["mean"])
    assert abs(at_best - best["value"]) < 0.1 * (max(values) - min(values))
    assert len(out["observed"]["x"]) == len(XS) and out["observed"]["distance"][0] == 0.0
    assert out["acquisition_name"] == "LogExpectedImprovement"
    again = http.get(f"{D}/studies/{sid}/surrogate/{body['job_id']}").json()
    assert again == body
    queue = http.get(f"{D}/studies/{sid}/queue").json()
    assert any(j["kind"] == "surrogate" and j["state"] == "done" for j in queue["jobs"])


def test_integer_parameter_takes_its_values(http, make_study):
    sid = gp_study(http, make_study)
    out = surrogate(http, sid, "n")["result"]
    assert out["type"] == "int" and out["x"] == [1, 3, 5, 7, 9]
    assert all(s > 0 for s in out["std"])


def test_no_model_is_an_error_result(http, make_study):
    sid = make_study(space=SPACE, strategy={"name": "random"})["id"]
    out = surrogate(http, sid, "x")["result"]
    assert "no surrogate model" in out["error"]
    empty = make_study(space=SPACE, strategy={"name": "gp"})["id"]
    assert "not enough data" in surrogate(http, empty, "x")["result"]["error"]


def test_bad_input(http, make_study):
    sid = make_study(space=SPACE, strategy={"name": "gp"})["id"]
    url = f"{D}/studies/{sid}/surrogate"
    for body in ({"param": "nope"}, {"param": "c"}):
        r = http.post(url, json=body)
        assert r.status_code == 422 and r.json()["error"]["field"] == "param", r.text
    assert http.post(url, json={}).status_code == 422
    assert http.post(url, json={"param": "x", "extra": 1}).status_code == 422
    assert http.post(f"{D}/studies/0/surrogate", json={"param": "x"}).status_code == 422
    assert http.post(f"{D}/studies/999999/surrogate", json={"param": "x"}).status_code == 404
    assert http.get(f"{url}/0").status_code == 422
    assert http.get(f"{url}/999999").status_code == 404
    other = make_study(space=SPACE, strategy={"name": "gp"})["id"]
    job = http.post(f"{D}/studies/{other}/surrogate", json={"param": "x"}).json()["job_id"]
    assert http.get(f"{url}/{job}").status_code == 404
    r = http.get(f"{D}/studies/{other}/surrogate/{job}", params={"param": "n"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "param"


@pytest.fixture
def secured(settings):
    from asktell.api.app import create_app
    from asktell.db import repository as repo

    settings.require_token = True
    app = create_app(settings)
    with TestClient(app) as client:
        with app.state.ctx.db.write() as session:
            tokens = {
                "a": repo.create_token(session, project="a", name="ta"),
                "b": repo.create_token(session, project="b", name="tb"),
                "a_ro": repo.create_token(session, project="a", name="ro", can_write=False),
            }
        yield client, {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}


def test_scoped_to_the_project_and_open_to_read_only_tokens(secured):
    client, h = secured
    body = {"name": "s", "space": SPACE, "strategy": {"name": "random"}}
    sid = client.post("/v1/studies", json=body, headers=h["a"]).json()["id"]
    url = f"{D}/studies/{sid}/surrogate"
    assert client.post(url, json={"param": "x"}, headers=h["b"]).status_code == 404
    r = client.post(url, json={"param": "x"}, headers=h["a_ro"])
    assert r.status_code in (200, 202), r.text
    job = r.json()["job_id"]
    assert client.get(f"{url}/{job}", headers=h["b"]).status_code == 404
    assert client.get(f"{url}/{job}", headers=h["a_ro"]).status_code == 200
    assert client.post(url, json={"param": "x"}).status_code == 401
