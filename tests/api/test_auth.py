"""Projects and tokens: a token sees and changes only its own project's studies."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SPACE


@pytest.fixture
def secured(settings):
    """An app that requires tokens, with write tokens for projects a and b and a read-only one."""
    from asktell.api.app import create_app
    from asktell.db import repository as repo

    settings.require_token = True
    settings.token_cache_seconds = 0.0
    app = create_app(settings)
    with TestClient(app) as client:
        db = app.state.ctx.db
        with db.write() as session:
            tokens = {
                "a": repo.create_token(session, project="a", name="ta"),
                "b": repo.create_token(session, project="b", name="tb"),
                "a_ro": repo.create_token(session, project="a", name="ta-ro", can_write=False),
            }
        yield client, tokens, db


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _seed(client, token) -> dict:
    h = auth(token)
    study = client.post(
        "/v1/studies", json={"name": "s", "space": SPACE, "strategy": {"name": "random"}}, headers=h
    ).json()
    trials = client.post(
        f"/v1/studies/{study['id']}/trials:ask", json={"count": 2}, headers=h
    ).json()["trials"]
    client.post(f"/v1/trials/{trials[0]['id']}:tell", json={"values": {"value": 1.0}}, headers=h)
    artifact = client.post(
        f"/v1/studies/{study['id']}/artifacts", params={"name": "a.txt"}, content=b"x", headers=h
    ).json()
    return {
        "study": study["id"],
        "trial": trials[1]["id"],
        "done": trials[0]["id"],
        "artifact": artifact["id"],
    }


def _endpoints(ids: dict) -> list[tuple[str, str, dict | None]]:
    s, t, a = ids["study"], ids["trial"], ids["artifact"]
    return [
        ("GET", f"/v1/studies/{s}", None),
        ("PATCH", f"/v1/studies/{s}", {"state": "paused"}),
        ("GET", f"/v1/studies/{s}:export", None),
        ("POST", f"/v1/studies/{s}/trials:ask", {"count": 1}),
        ("GET", f"/v1/studies/{s}/trials", None),
        ("POST", f"/v1/studies/{s}/trials", {"params": {"x": 1.0, "n": 1, "opt": "adam"}}),
        ("GET", f"/v1/studies/{s}/trials:best", None),
        ("GET", f"/v1/studies/{s}/trials:pareto", None),
        ("GET", f"/v1/trials/{t}", None),
        ("POST", f"/v1/trials/{t}:tell", {"values": {"value": 2.0}}),
        ("POST", f"/v1/trials/{t}:report", {"step": 0, "values": {"value": 2.0}}),
        ("POST", f"/v1/trials/{t}:heartbeat", None),
        ("GET", f"/v1/studies/{s}/note", None),
        ("PUT", f"/v1/studies/{s}/note", {"body": "n", "version": 0}),
        ("GET", f"/v1/trials/{t}/note", None),
        ("PUT", f"/v1/trials/{t}/note", {"body": "n", "version": 0}),
        ("GET", f"/v1/studies/{s}/artifacts", None),
        ("POST", f"/v1/studies/{s}/artifacts?name=b.txt", None),
        ("GET", f"/v1/trials/{t}/artifacts", None),
        ("POST", f"/v1/trials/{t}/artifacts?name=b.txt", None),
        ("GET", f"/v1/artifacts/{a}", None),
        ("GET", f"/v1/artifacts/{a}/content", None),
        ("GET", f"/v1/dashboard/studies/{s}/rank", None),
        ("GET", f"/v1/dashboard/studies/{s}/events?timeout=0", None),
        ("GET", f"/v1/dashboard/studies/{s}/trials.csv", None),
        ("DELETE", f"/v1/artifacts/{a}", None),
        ("DELETE", f"/v1/studies/{s}", None),
    ]


def test_other_projects_token_sees_nothing(secured):
    client, tokens, _ = secured
    ids = _seed(client, tokens["a"])
    before = client.get(f"/v1/studies/{ids['study']}:export", headers=auth(tokens["a"])).json()
    for method, url, body in _endpoints(ids):
        r = client.request(method, url, json=body, headers=auth(tokens["b"]))
        assert r.status_code == 404, (method, url, r.text)
    assert client.get("/v1/studies", headers=auth(tokens["b"])).json()["items"] == []
    after = client.get(f"/v1/studies/{ids['study']}:export", headers=auth(tokens["a"])).json()
    assert after == before


def test_same_name_in_two_projects(secured):
    client, tokens, _ = secured
    _seed(client, tokens["a"])
    assert _seed(client, tokens["b"])["study"]


def test_missing_and_bad_tokens_are_401(secured):
    client, tokens, _ = secured
    ids = _seed(client, tokens["a"])
    for method, url, body in [*_endpoints(ids), ("GET", "/v1/studies", None)]:
        for headers in ({}, auth("at_nope"), {"Authorization": "Basic abc"}):
            r = client.request(method, url, json=body, headers=headers)
            assert r.status_code == 401, (method, url, headers, r.text)
            assert r.json()["error"]["field"] == "authorization"


def test_read_only_token_cannot_write(secured):
    client, tokens, _ = secured
    ids = _seed(client, tokens["a"])
    for method, url, body in _endpoints(ids):
        r = client.request(method, url, json=body, headers=auth(tokens["a_ro"]))
        expected = 200 if method == "GET" else 403
        assert r.status_code == expected, (method, url, r.text)


def test_revoked_token_is_refused(secured):
    client, tokens, db = secured
    from asktell.db import repository as repo

    assert client.get("/v1/studies", headers=auth(tokens["b"])).status_code == 200
    with db.write() as session:
        assert repo.revoke_token(session, prefix_or_name="tb") == 1
    assert client.get("/v1/studies", headers=auth(tokens["b"])).status_code == 401


def test_operations_are_project_scoped(secured):
    client, tokens, db = secured
    from asktell.db.models import OperationRow

    ids = _seed(client, tokens["a"])
    with db.write() as session:
        op = OperationRow(study_id=ids["study"], count=1, evaluator="e", state="done")
        session.add(op)
        session.flush()
        op_id = op.id
    assert client.get(f"/v1/operations/{op_id}", headers=auth(tokens["a"])).status_code == 200
    assert client.get(f"/v1/operations/{op_id}", headers=auth(tokens["b"])).status_code == 404


def test_tokens_are_stored_hashed(secured):
    _, tokens, db = secured
    from sqlalchemy import select

    from asktell.db.models import TokenRow

    with db.read() as session:
        stored = list(session.scalars(select(TokenRow.token_hash)))
    assert len(stored) == 3
    assert not set(tokens.values()) & set(stored)
