"""`zo-model` studies over HTTP: shared steps, the replay log, dropped pairs, hostile input."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from asktell_client.zo_types import zo_model_study
from tests.conftest import SPACE

JSON = {"content-type": "application/json"}
MAXIMIZED_MINUS = {"name": "loss_minus", "direction": "maximize"}


def zo_body(name: str = "mezo", **kwargs) -> dict:
    return zo_model_study(name, **kwargs).model_dump(mode="json", exclude_none=True)


@pytest.fixture
def zo_study(http):
    def make(**kwargs) -> dict:
        r = http.post("/v1/studies", json=zo_body(**kwargs))
        assert r.status_code == 201, r.text
        return r.json()

    return make


def ask(http, sid, count=1, evaluator="w1"):
    r = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": count, "evaluator": evaluator})
    assert r.status_code == 200, r.text
    return r.json()["trials"]


def tell(http, trial, plus, minus):
    r = http.post(
        f"/v1/trials/{trial['id']}:tell", json={"values": {"loss_plus": plus, "loss_minus": minus}}
    )
    assert r.status_code == 200, r.text


def read_log(http, sid, **params):
    r = http.get(f"/v1/studies/{sid}/zo-log", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_evaluators_share_a_step_and_the_log_records_it(http, zo_study):
    study = zo_study(directions=2, lr=0.1, scale=0.01, optimizer="adam")
    (a,) = ask(http, study["id"], evaluator="a")
    (b,) = ask(http, study["id"], evaluator="b")
    assert a["params"]["zo_step"] == b["params"]["zo_step"] == 0
    assert a["params"]["zo_seed"] != b["params"]["zo_seed"]
    assert a["params"]["zo_scale"] == 0.01
    assert read_log(http, study["id"])["steps"] == 0
    tell(http, a, 1.5, 1.3)
    tell(http, b, 1.0, 1.2)
    (c,) = ask(http, study["id"], evaluator="a")
    assert c["params"]["zo_step"] == 1
    log = read_log(http, study["id"])
    assert log["steps"] == 1 and log["optimizer"]["name"] == "adam"
    (entry,) = log["entries"]
    assert entry["seeds"] == [a["params"]["zo_seed"], b["params"]["zo_seed"]]
    assert entry["grads"] == pytest.approx([0.2 / 0.02 / 2, -0.2 / 0.02 / 2])
    assert entry["lr"] == 0.1 and entry["loss"] == pytest.approx(1.25)


def test_failed_pair_is_dropped_and_a_late_pair_counts_in_the_next_step(http, zo_study):
    study = zo_study(directions=2)
    a, b = ask(http, study["id"], 2)
    r = http.post(f"/v1/trials/{a['id']}:tell", json={"state": "failed", "reason": "oom"})
    assert r.status_code == 200
    tell(http, b, 2.0, 1.0)
    (c,) = ask(http, study["id"])
    assert c["params"]["zo_step"] == 1
    assert read_log(http, study["id"])["entries"][0]["seeds"] == [b["params"]["zo_seed"]]
    # A third evaluator gets a further pair of step 1; two tells close the step.
    d, e = ask(http, study["id"], 2)
    assert {d["params"]["zo_step"], e["params"]["zo_step"]} == {1}
    tell(http, c, 1.0, 1.0)
    tell(http, d, 1.0, 1.0)
    (f,) = ask(http, study["id"])
    assert f["params"]["zo_step"] == 2
    tell(http, e, 3.0, 1.0)  # late: step 1 is closed, so it counts in step 2
    tell(http, f, 1.0, 1.0)
    (g,) = ask(http, study["id"])
    assert g["params"]["zo_step"] == 3
    log = read_log(http, study["id"], since=1)
    assert log["since"] == 1 and log["steps"] == 3
    assert log["entries"][0]["seeds"] == [c["params"]["zo_seed"], d["params"]["zo_seed"]]
    late = log["entries"][1]
    assert late["seeds"] == [f["params"]["zo_seed"], e["params"]["zo_seed"]]
    assert late["grads"] == pytest.approx([0.0, 2.0 / (2 * 1e-3) / 2])


def test_late_pairs_past_max_staleness_are_dropped(http, zo_study):
    study = zo_study(options={"max_staleness": 0})
    a, b = ask(http, study["id"], 2)
    tell(http, a, 1.0, 1.0)
    (c,) = ask(http, study["id"])
    tell(http, b, 5.0, 1.0)
    tell(http, c, 1.0, 1.0)
    ask(http, study["id"])
    entries = read_log(http, study["id"])["entries"]
    assert [e["seeds"] for e in entries] == [[a["params"]["zo_seed"]], [c["params"]["zo_seed"]]]


def test_a_step_waits_for_open_pairs_until_enough_are_told(http, zo_study):
    study = zo_study(directions=3)
    a, b = ask(http, study["id"], 2)
    tell(http, a, 1.0, 0.5)
    (c,) = ask(http, study["id"])
    assert c["params"]["zo_step"] == 0  # b still out, only one told
    tell(http, b, 1.0, 0.5)
    tell(http, c, 1.0, 0.5)
    assert ask(http, study["id"])[0]["params"]["zo_step"] == 1


def test_overflowing_losses_are_dropped(http, zo_study):
    study = zo_study(directions=2)
    a, b = ask(http, study["id"], 2)
    tell(http, a, 1e308, -1e308)
    tell(http, b, 1.0, 0.5)
    (c,) = ask(http, study["id"])
    assert c["params"]["zo_step"] == 1
    (entry,) = read_log(http, study["id"])["entries"]
    assert entry["seeds"] == [b["params"]["zo_seed"]] and entry["grads"] == [250.0]


def test_log_pages_and_since_past_the_end(http, zo_study):
    study = zo_study()
    for _ in range(5):
        (t,) = ask(http, study["id"])
        tell(http, t, 1.0, 0.9)
    ask(http, study["id"])
    page = read_log(http, study["id"], since=1, limit=2)
    assert [e["step"] for e in page["entries"]] == [1, 2] and page["steps"] == 5
    assert read_log(http, study["id"], since=99)["entries"] == []


def test_maximized_losses_flip_the_gradient(http, zo_study):
    study = zo_study(maximize=True, scale=0.5)
    (t,) = ask(http, study["id"])
    tell(http, t, 2.0, 1.0)
    ask(http, study["id"])
    assert read_log(http, study["id"])["entries"][0]["grads"] == [-1.0]


def test_ask_and_tell_stay_under_one_kilobyte(http, zo_study):
    study = zo_study()
    body = json.dumps({"count": 1, "evaluator": "evaluator-1"})
    r = http.post(f"/v1/studies/{study['id']}/trials:ask", content=body, headers=JSON)
    assert len(body) < 1024 and len(r.content) < 1024, r.content
    trial = r.json()["trials"][0]
    tell_body = json.dumps({"values": {"loss_plus": 2.302585092994046, "loss_minus": 2.30258}})
    r = http.post(f"/v1/trials/{trial['id']}:tell", content=tell_body, headers=JSON)
    assert r.status_code == 200 and len(tell_body) < 1024 and len(r.content) < 1024


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": -1}, "since"),
        ({"since": "abc"}, "since"),
        ({"since": 2**40}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 10**6}, "limit"),
    ],
)
def test_bad_log_queries_are_422_naming_the_field(http, zo_study, params, field):
    study = zo_study()
    r = http.get(f"/v1/studies/{study['id']}/zo-log", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_log_of_unknown_or_other_study(http, make_study):
    assert http.get("/v1/studies/999999/zo-log").status_code == 404
    assert http.get("/v1/studies/0/zo-log").status_code == 422
    other = make_study()
    r = http.get(f"/v1/studies/{other['id']}/zo-log")
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_zo_model"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"space": SPACE}, "needs the space"),
        ({"objectives": [{"name": "loss_plus"}]}, "needs the objectives"),
        ({"objectives": [{"name": "loss_plus"}, MAXIMIZED_MINUS]}, "one direction"),
        ({"strategy": {"name": "zo-model", "options": {"scale": 1e6}}}, "scale"),
        ({"strategy": {"name": "zo-model", "options": {"optimizer": "rmsprop"}}}, "optimizer"),
    ],
)
def test_bad_zo_model_studies_are_422(http, change, message):
    body = {**zo_body(), **change}
    r = http.post("/v1/studies", json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert message in error["message"] or message in (error["field"] or "")
    assert error["field"].startswith("strategy")


def test_other_projects_token_gets_404(settings):
    from asktell.api.app import create_app
    from asktell.db import repository as repo

    settings.require_token = True
    settings.token_cache_seconds = 0.0
    app = create_app(settings)
    with TestClient(app) as client:
        with app.state.ctx.db.write() as session:
            a = repo.create_token(session, project="a", name="ta")
            b = repo.create_token(session, project="b", name="tb")
        sid = client.post(
            "/v1/studies", json=zo_body(), headers={"Authorization": f"Bearer {a}"}
        ).json()["id"]
        ok = client.get(f"/v1/studies/{sid}/zo-log", headers={"Authorization": f"Bearer {a}"})
        assert ok.status_code == 200
        r = client.get(f"/v1/studies/{sid}/zo-log", headers={"Authorization": f"Bearer {b}"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "study_not_found"
        assert client.get(f"/v1/studies/{sid}/zo-log").status_code == 401
