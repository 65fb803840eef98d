"""Ask, tell, report, heartbeat, stale trials, best and Pareto, and bad input."""

from __future__ import annotations

import time

import pytest

from tests.conftest import SPACE


def ask(http, sid, count=1, **extra):
    r = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": count, **extra})
    assert r.status_code == 200, r.text
    return r.json()["trials"]


def test_ask_returns_valid_distinct_points(http, make_study):
    study = make_study()
    trials = ask(http, study["id"], 20, evaluator="w1")
    assert len(trials) == 20
    assert len({t["id"] for t in trials}) == 20
    for t in trials:
        p = t["params"]
        assert -5 <= p["x"] <= 5 and p["n"] in (1, 3, 5, 7, 9) and p["opt"] in ("adam", "sgd")
        assert ("momentum" in p) == (p["opt"] == "sgd")
        assert t["state"] == "running" and t["evaluator"] == "w1" and t["strategy"] == "random"


def test_tell_is_idempotent_and_conflicts(http, make_study):
    study = make_study()
    (t,) = ask(http, study["id"])
    url = f"/v1/trials/{t['id']}:tell"
    first = http.post(url, json={"values": {"value": 1.25}})
    assert first.status_code == 200 and first.json()["state"] == "completed"
    again = http.post(url, json={"values": {"value": 1.25}})
    assert again.status_code == 200 and again.json() == first.json()
    other = http.post(url, json={"values": {"value": 2.0}})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "trial_already_finished"
    failed = http.post(url, json={"state": "failed", "reason": "x"})
    assert failed.status_code == 409
    assert http.get(f"/v1/trials/{t['id']}").json()["values"] == {"value": 1.25}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"values": {"value": float("nan")}}, "values.value"),
        ({"values": {"value": float("inf")}}, "values.value"),
        ({"values": {}}, "values"),
        ({"values": {"other": 1.0}}, "values.other"),
        ({"values": {"value": "high"}}, "values.value"),
        ({"values": {"value": True}}, "values.value"),
        ({"state": "completed"}, "values"),
        ({"state": "exploded", "values": {"value": 1}}, "state"),
        ({"state": "failed", "values": {"value": 1}}, "values"),
        ({"values": {"value": 1}, "extra": 1}, "extra"),
    ],
)
def test_bad_tells_are_422_and_change_nothing(http, make_study, body, field):
    study = make_study()
    (t,) = ask(http, study["id"])
    import json

    raw = json.dumps(body, allow_nan=True)
    r = http.post(
        f"/v1/trials/{t['id']}:tell", content=raw, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert http.get(f"/v1/trials/{t['id']}").json()["state"] == "running"


def test_missing_metric_of_several(http, make_study):
    study = make_study(
        objectives=[{"name": "a"}, {"name": "b", "direction": "maximize"}],
        constraints=[{"name": "c", "upper": 1.0}],
    )
    (t,) = ask(http, study["id"])
    r = http.post(f"/v1/trials/{t['id']}:tell", json={"values": {"a": 1, "b": 2}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "values.c"


def test_fail_and_stop(http, make_study):
    study = make_study()
    a, b = ask(http, study["id"], 2)
    r = http.post(f"/v1/trials/{a['id']}:tell", json={"state": "failed", "reason": "diverged"})
    assert r.json()["state"] == "failed" and r.json()["failure_reason"] == "diverged"
    r = http.post(f"/v1/trials/{b['id']}:tell", json={"state": "stopped"})
    assert r.json()["state"] == "stopped"


def test_unknown_trial_is_404(http):
    r = http.post("/v1/trials/987654:tell", json={"values": {"value": 1}})
    assert r.status_code == 404 and r.json()["error"]["code"] == "trial_not_found"


def test_bad_ask_bodies(http, make_study):
    sid = make_study()["id"]
    for body, field in [
        ({"count": 0}, "count"),
        ({"count": 10**6}, "count"),
        ({"count": "two"}, "count"),
        ({"evaluator": ""}, "evaluator"),
        ({"wait": -1}, "wait"),
        ({"bogus": 1}, "bogus"),
    ]:
        r = http.post(f"/v1/studies/{sid}/trials:ask", json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["field"] == field
    assert http.get(f"/v1/studies/{sid}/trials").json()["items"] == []


def test_ask_request_id_is_idempotent(http, make_study):
    sid = make_study()["id"]
    first = ask(http, sid, 3, request_id="req-1")
    again = ask(http, sid, 3, request_id="req-1")
    assert [t["id"] for t in first] == [t["id"] for t in again]
    assert len(http.get(f"/v1/studies/{sid}/trials").json()["items"]) == 3


def test_open_trials_never_share_a_point(http, make_study):
    space = [{"name": "k", "type": "int", "low": 0, "high": 3}]
    sid = make_study(space=space)["id"]
    trials = ask(http, sid, 4)
    assert sorted(t["params"]["k"] for t in trials) == [0, 1, 2, 3]
    r = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "space_exhausted"
    http.post(f"/v1/trials/{trials[0]['id']}:tell", json={"values": {"value": 0}})
    (again,) = ask(http, sid, 1)
    assert again["params"]["k"] == trials[0]["params"]["k"]


def test_allow_repeats(http, make_study):
    space = [{"name": "k", "type": "int", "low": 0, "high": 1}]
    sid = make_study(space=space, settings={"allow_repeats": True})["id"]
    assert len(ask(http, sid, 6)) == 6


def test_added_trial_is_handed_to_next_ask(http, make_study):
    sid = make_study()["id"]
    r = http.post(f"/v1/studies/{sid}/trials", json={"params": {"x": 1.5, "n": 3, "opt": "adam"}})
    assert r.status_code == 201 and r.json()["state"] == "pending"
    (t,) = ask(http, sid, 1, evaluator="e")
    assert t["id"] == r.json()["id"] and t["state"] == "running" and t["evaluator"] == "e"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"x": 9.0, "n": 3, "opt": "adam"}, "params.x"),
        ({"x": 1.0, "n": 4, "opt": "adam"}, "params.n"),
        ({"x": 1.0, "n": 3, "opt": "rmsprop"}, "params.opt"),
        ({"x": 1.0, "n": 3}, "params.opt"),
        ({"x": 1.0, "n": 3, "opt": "adam", "momentum": 0.5}, "params.momentum"),
        ({"x": 1.0, "n": 3, "opt": "sgd"}, "params.momentum"),
        ({"x": 1.0, "n": 3, "opt": "adam", "zzz": 1}, "params.zzz"),
        ({"x": "one", "n": 3, "opt": "adam"}, "params.x"),
        ({"x": True, "n": 3, "opt": "adam"}, "params.x"),
    ],
)
def test_added_trial_outside_space_is_422(http, make_study, params, field):
    sid = make_study()["id"]
    r = http.post(f"/v1/studies/{sid}/trials", json={"params": params})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_added_trial_with_values_is_completed(http, make_study):
    sid = make_study()["id"]
    r = http.post(
        f"/v1/studies/{sid}/trials",
        json={"params": {"x": 1.0, "n": 3, "opt": "adam"}, "values": {"value": 0.5}},
    )
    assert r.json()["state"] == "completed"
    assert http.get(f"/v1/studies/{sid}/trials:best").json()["id"] == r.json()["id"]


def test_stale_trial_is_reoffered_and_late_tell_accepted(http, make_study):
    sid = make_study(settings={"heartbeat_timeout": 0.3})["id"]
    (t,) = ask(http, sid, 1)
    time.sleep(0.5)
    (again,) = ask(http, sid, 1)
    assert again["params"] == t["params"] and again["id"] != t["id"]
    assert http.get(f"/v1/trials/{t['id']}").json()["state"] == "stale"
    late = http.post(f"/v1/trials/{t['id']}:tell", json={"values": {"value": 3.0}})
    assert late.status_code == 200 and late.json()["state"] == "completed"


def test_heartbeat_keeps_trial_alive(http, make_study):
    sid = make_study(settings={"heartbeat_timeout": 0.6})["id"]
    (t,) = ask(http, sid, 1)
    for _ in range(4):
        time.sleep(0.25)
        r = http.post(f"/v1/trials/{t['id']}:heartbeat")
        assert r.status_code == 200 and r.json()["state"] == "running"
    (other,) = ask(http, sid, 1)
    assert other["params"] != t["params"]
    assert http.get(f"/v1/trials/{t['id']}").json()["state"] == "running"


def test_report_and_median_stopping(http, make_study):
    sid = make_study(settings={"early_stopping_min_trials": 3})["id"]
    finished = ask(http, sid, 3)
    for i, t in enumerate(finished):
        for step in range(3):
            r = http.post(
                f"/v1/trials/{t['id']}:report", json={"step": step, "values": {"value": 1.0 + i}}
            )
            assert r.status_code == 200 and r.json() == {"should_stop": False}
        http.post(f"/v1/trials/{t['id']}:tell", json={"values": {"value": 1.0 + i}})
    good, bad = ask(http, sid, 2)
    r = http.post(f"/v1/trials/{good['id']}:report", json={"step": 1, "values": {"value": 0.5}})
    assert r.json()["should_stop"] is False
    r = http.post(f"/v1/trials/{bad['id']}:report", json={"step": 1, "values": {"value": 9.0}})
    assert r.json()["should_stop"] is True
    same = http.post(f"/v1/trials/{bad['id']}:report", json={"step": 1, "values": {"value": 9.0}})
    assert same.status_code == 200
    clash = http.post(f"/v1/trials/{bad['id']}:report", json={"step": 1, "values": {"value": 1}})
    assert clash.status_code == 409
    trial = http.get(f"/v1/trials/{finished[0]['id']}").json()
    assert trial["intermediate"] == {"0": {"value": 1.0}, "1": {"value": 1.0}, "2": {"value": 1.0}}


def test_median_stopping_multi_objective(http, make_study):
    sid = make_study(
        objectives=[{"name": "a"}, {"name": "b", "direction": "maximize"}],
        settings={"early_stopping_min_trials": 2},
    )["id"]
    for t in ask(http, sid, 2):
        http.post(f"/v1/trials/{t['id']}:report", json={"step": 0, "values": {"a": 1, "b": 1}})
        http.post(f"/v1/trials/{t['id']}:tell", json={"values": {"a": 1, "b": 1}})
    (t,) = ask(http, sid, 1)
    mixed = http.post(f"/v1/trials/{t['id']}:report", json={"step": 0, "values": {"a": 5, "b": 5}})
    assert mixed.json()["should_stop"] is False
    (u,) = ask(http, sid, 1)
    worse = http.post(f"/v1/trials/{u['id']}:report", json={"step": 0, "values": {"a": 5, "b": 0}})
    assert worse.json()["should_stop"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"step": -1, "values": {"value": 1}}, "step"),
        ({"step": 0, "values": {}}, "values"),
        ({"step": 0, "values": {"zz": 1}}, "values.zz"),
        ({"values": {"value": 1}}, "step"),
    ],
)
def test_bad_reports(http, make_study, body, field):
    sid = make_study()["id"]
    (t,) = ask(http, sid)
    r = http.post(f"/v1/trials/{t['id']}:report", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == field


def test_best_and_pareto(http, make_study):
    sid = make_study(
        objectives=[{"name": "a"}, {"name": "b"}], constraints=[{"name": "c", "upper": 0.0}]
    )["id"]
    assert http.get(f"/v1/studies/{sid}/trials:best").status_code == 404
    values = [(1, 5, -1), (2, 2, -1), (5, 1, -1), (3, 3, -1), (0, 0, 1)]
    ids = []
    for t, (a, b, c) in zip(ask(http, sid, 5), values, strict=True):
        http.post(f"/v1/trials/{t['id']}:tell", json={"values": {"a": a, "b": b, "c": c}})
        ids.append(t["id"])
    best = http.get(f"/v1/studies/{sid}/trials:best").json()
    assert best["id"] == ids[0]
    front = http.get(f"/v1/studies/{sid}/trials:pareto").json()["trials"]
    assert sorted(t["id"] for t in front) == sorted(ids[:3])


def test_list_trials_filters_and_pages(http, make_study):
    sid = make_study()["id"]
    trials = ask(http, sid, 5)
    for t in trials[:2]:
        http.post(f"/v1/trials/{t['id']}:tell", json={"values": {"value": 1}})
    done = http.get(f"/v1/studies/{sid}/trials", params={"state": "completed"}).json()["items"]
    assert [t["id"] for t in done] == [t["id"] for t in trials[:2]]
    page = http.get(f"/v1/studies/{sid}/trials", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    bad = http.get(f"/v1/studies/{sid}/trials", params={"state": "weird"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "state[0]"


def test_budget(http, make_study):
    sid = make_study(settings={"budget": 3})["id"]
    assert len(ask(http, sid, 5)) == 3
    r = http.post(f"/v1/studies/{sid}/trials:ask", json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "budget_exhausted"


def test_fixed_params_are_carried(http, make_study):
    space = [*SPACE[:1], {"name": "bs", "type": "fixed", "value": 32}]
    sid = make_study(space=space)["id"]
    assert all(t["params"]["bs"] == 32 for t in ask(http, sid, 3))


def test_sobol_continues_its_sequence(http, make_study):
    sid = make_study(space=SPACE[:1], strategy={"name": "sobol"})["id"]
    xs = [t["params"]["x"] for t in ask(http, sid, 4)] + [ask(http, sid, 1)[0]["params"]["x"]]
    assert len(set(xs)) == 5
