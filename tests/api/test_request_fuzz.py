"""Property tests: whatever JSON a client sends, the answer is a 2xx or a 4xx naming a field."""

from __future__ import annotations

import json
import tempfile

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from(
    [
        "name",
        "space",
        "objectives",
        "constraints",
        "strategy",
        "settings",
        "type",
        "low",
        "high",
        "log",
        "step",
        "choices",
        "value",
        "condition",
        "values",
        "count",
        "state",
        "step",
        "params",
        "evaluator",
        "wait",
    ]
)
bodies = st.dictionaries(keys, json_values, max_size=6) | json_values


@pytest.fixture(scope="module")
def client():
    from asktell.api.app import create_app
    from asktell.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(database_url=f"sqlite:///{tmp}/fuzz.db"), start_worker=False)
        with TestClient(app) as c:
            study = c.post(
                "/v1/studies",
                json={
                    "name": "target",
                    "strategy": {"name": "random"},
                    "space": [{"name": "x", "type": "float", "low": 0, "high": 1}],
                },
            ).json()
            trial = c.post(f"/v1/studies/{study['id']}/trials:ask", json={}).json()["trials"][0]
            c.study_id, c.trial_id = study["id"], trial["id"]
            yield c


def _check(r):
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        error = r.json()["error"]
        assert error["code"] and error["message"]
        if r.status_code == 422:
            assert error["field"], r.text


ROUTES = [
    "/v1/studies",
    "/v1/studies/{s}/trials:ask",
    "/v1/studies/{s}/trials",
    "/v1/trials/{t}:tell",
    "/v1/trials/{t}:report",
    "/v1/studies:import",
]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies, route=st.sampled_from(ROUTES))
def test_any_json_body_gets_a_clear_answer(client, body, route):
    url = route.format(s=client.study_id, t=client.trial_id)
    raw = json.dumps(body, allow_nan=True)
    _check(client.post(url, content=raw, headers={"content-type": "application/json"}))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(segment=st.text(min_size=1, max_size=30))
def test_any_path_id_gets_a_clear_answer(client, segment):
    from urllib.parse import quote

    for template in ("/v1/studies/{}", "/v1/trials/{}", "/v1/operations/{}"):
        _check(client.get(template.format(quote(segment, safe=""))))
