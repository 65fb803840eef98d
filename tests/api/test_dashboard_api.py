"""Dashboard JSON endpoints: aggregates, downsampling, paging, auth scoping and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import SPACE

D = "/v1/dashboard"
STATIC = Path(__file__).resolve().parents[2] / "service" / "asktell" / "dashboard" / "static"


def add(http, sid: int, x: float, values: dict | None = None, opt: str = "adam", n: int = 1):
    params = {"x": x, "n": n, "opt": opt}
    if opt == "sgd":
        params["momentum"] = 0.5
    body = {"params": params}
    if values is not None:
        body["values"] = values
    r = http.post(f"/v1/studies/{sid}/trials", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def ask(http, sid: int, count: int = 1, evaluator: str = "w1") -> list[dict]:
    r = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": count, "evaluator": evaluator})
    assert r.status_code == 200, r.text
    return r.json()["trials"]


def get(http, url: str, **params) -> dict:
    r = http.get(url, params=params)
    assert r.status_code == 200, r.text
    return r.json()


# --------------------------------------------------------------------------- page and files


def test_page_and_static_files_ship_with_the_package(http):
    page = http.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="studies"' in page.text
    names = set(re.findall(r"/static/([\w.-]+)", page.text))
    for path in STATIC.iterdir():
        text = path.read_text()
        names |= set(re.findall(r'from "\./([\w.-]+)"', text))
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{path.name} refers to {urls}: everything must be served locally"
    assert {"app.js", "app.css", "plot.js", "charts.js", "study.js"} <= names
    for name in names:
        r = http.get(f"/static/{name}")
        assert r.status_code == 200, name
        if name.endswith(".js"):
            assert "javascript" in r.headers["content-type"]
    missing = http.get("/static/nope.js")
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "name"
    assert http.get("/static/..%2Fapi.py").status_code == 404


def test_me_reports_write_rights_in_open_mode(http):
    assert get(http, f"{D}/me") == {"can_write": True, "open_mode": True}


# --------------------------------------------------------------------------- studies list


def test_studies_list_counts_best_sort_and_filter(http, make_study):
    a = make_study(name="alpha")
    b = make_study(name="beta", objectives=[{"name": "acc", "direction": "maximize"}])
    c = make_study(name="gamma")
    for v in (3.0, 1.5, 2.0):
        add(http, a["id"], v, {"value": v})
    add(http, b["id"], 0.1, {"acc": 0.9})
    add(http, b["id"], 0.2, {"acc": 0.7})
    add(http, b["id"], 0.3)
    http.patch(f"/v1/studies/{c['id']}", json={"state": "paused"})

    items = {s["name"]: s for s in get(http, f"{D}/studies")["items"]}
    assert items["alpha"]["best"] == 1.5 and items["alpha"]["completed"] == 3
    assert items["beta"]["best"] == 0.9 and items["beta"]["direction"] == "maximize"
    assert (
        items["beta"]["counts"] == {"completed": 2, "pending": 1} and items["beta"]["trials"] == 3
    )
    assert items["gamma"]["best"] is None and items["gamma"]["state"] == "paused"
    assert items["alpha"]["strategy"] == "random" and items["alpha"]["last_activity"]

    by_best = [s["name"] for s in get(http, f"{D}/studies", sort="best", order="desc")["items"]]
    assert by_best == ["alpha", "beta", "gamma"]
    by_trials = [s["name"] for s in get(http, f"{D}/studies", sort="trials")["items"]]
    assert by_trials[0] == "gamma"
    assert [s["name"] for s in get(http, f"{D}/studies", state="paused")["items"]] == ["gamma"]
    assert [s["name"] for s in get(http, f"{D}/studies", search="ET")["items"]] == ["beta"]


# --------------------------------------------------------------------------- one study


def test_summary_and_history_follow_new_trials(http, make_study):
    study = make_study()
    sid = study["id"]
    empty = get(http, f"{D}/studies/{sid}")
    assert empty["best"] is None and empty["trials"] == 0 and empty["can_write"] is True
    assert get(http, f"{D}/studies/{sid}/history")["ids"] == []

    values = [5.0, 4.0, 6.0, 1.0, 2.0]
    ids = [add(http, sid, 0.5, {"value": v})["id"] for v in values]
    summary = get(http, f"{D}/studies/{sid}")
    assert summary["best"]["id"] == ids[3] and summary["best"]["values"] == {"value": 1.0}
    assert summary["counts"] == {"completed": 5} and summary["strategies"] == {
        "manual": {"completed": 5}
    }
    h = get(http, f"{D}/studies/{sid}/history")
    assert h["ids"] == ids and h["values"] == values and h["total"] == 5
    assert h["best_ids"] == [ids[0], ids[1], ids[3]] and h["best_values"] == [5.0, 4.0, 1.0]
    assert h["strategies"] == ["manual"] and h["strategy"] == [0] * 5

    (trial,) = ask(http, sid)
    http.post(f"/v1/trials/{trial['id']}:tell", json={"values": {"value": 0.5}})
    later = get(http, f"{D}/studies/{sid}")
    assert later["stamp"] != summary["stamp"] and later["best"]["id"] == trial["id"]
    h = get(http, f"{D}/studies/{sid}/history")
    assert h["ids"][-1] == trial["id"] and h["best_values"][-1] == 0.5

    # trials open when the columns were cached, told afterwards, in any order
    first, second, third = ask(http, sid, 3)
    assert len(get(http, f"{D}/studies/{sid}/history")["ids"]) == 6
    http.post(f"/v1/trials/{third['id']}:tell", json={"values": {"value": 0.25}})
    http.post(f"/v1/trials/{first['id']}:tell", json={"state": "failed", "reason": "x"})
    assert get(http, f"{D}/studies/{sid}/history")["ids"][-1] == third["id"]
    http.post(f"/v1/trials/{second['id']}:tell", json={"values": {"value": 9.0}})
    h = get(http, f"{D}/studies/{sid}/history")
    assert h["ids"][-2:] == [second["id"], third["id"]] and h["total"] == 8
    assert get(http, f"{D}/studies/{sid}")["best"]["id"] == third["id"]


def test_history_downsamples_and_keeps_every_improvement(http, make_study, db_url):
    study = make_study()
    sid = study["id"]
    rng = np.random.default_rng(0)
    _bulk_completed(http, sid, rng.normal(size=300))
    h = get(http, f"{D}/studies/{sid}/history", max_points=40)
    assert h["total"] == 300 and h["shown"] == len(h["ids"]) <= 40
    assert set(h["best_ids"]) <= set(h["ids"]) and h["ids"] == sorted(h["ids"])
    full = get(http, f"{D}/studies/{sid}/history", max_points=10_000)
    run = np.minimum.accumulate(np.array(full["values"]))
    assert full["best_values"] == sorted(set(run.tolist()), reverse=True)
    edf = get(http, f"{D}/studies/{sid}/edf", points=20)
    assert len(edf["x"]) <= 20 and edf["y"][-1] == 1.0 and edf["x"] == sorted(edf["x"])
    assert edf["n"] == 300


def _bulk_completed(http, sid: int, values) -> None:
    """Ask for len(values) trials and tell each its value."""
    trials = ask(http, sid, len(values))
    for t, v in zip(trials, values, strict=True):
        r = http.post(f"/v1/trials/{t['id']}:tell", json={"values": {"value": float(v)}})
        assert r.status_code == 200, r.text


def test_trials_table_sorts_filters_and_pages(http, make_study):
    study = make_study()
    sid = study["id"]
    for i, v in enumerate([3.0, 1.0, 2.0, 5.0, 4.0]):
        add(http, sid, -1.0 + i, {"value": v}, opt="sgd" if i % 2 else "adam")
    (running,) = ask(http, sid, evaluator="gpu-7")
    http.post(f"/v1/trials/{ask(http, sid)[0]['id']}:tell", json={"state": "failed", "reason": "x"})

    page = get(http, f"{D}/studies/{sid}/trials", limit=2)
    assert page["total"] == 7 and len(page["items"]) == 2
    assert page["items"][0]["id"] > page["items"][1]["id"]
    by_value = get(http, f"{D}/studies/{sid}/trials", sort="value.value", order="asc", limit=10)
    vals = [t["values"]["value"] if t["values"] else None for t in by_value["items"]]
    assert vals == [1.0, 2.0, 3.0, 4.0, 5.0, None, None]
    by_x = get(http, f"{D}/studies/{sid}/trials", sort="param.x", order="desc", limit=3)
    xs = [t["params"]["x"] for t in by_x["items"]]
    assert xs == sorted(xs, reverse=True)
    by_opt = get(http, f"{D}/studies/{sid}/trials", sort="param.opt", order="asc", limit=10)
    assert by_opt["items"][0]["params"]["opt"] == "adam"
    second = get(http, f"{D}/studies/{sid}/trials", limit=3, offset=3, sort="id", order="asc")
    assert [t["id"] for t in second["items"]] == sorted(t["id"] for t in second["items"])
    assert len(get(http, f"{D}/studies/{sid}/trials", offset=6)["items"]) == 1
    assert get(http, f"{D}/studies/{sid}/trials", offset=50)["items"] == []
    failed = get(http, f"{D}/studies/{sid}/trials", state="failed")
    assert failed["total"] == 1 and failed["items"][0]["failure_reason"] == "x"
    both = get(http, f"{D}/studies/{sid}/trials", state=["failed", "running"])
    assert both["total"] == 2
    by_ev = get(http, f"{D}/studies/{sid}/trials", evaluator="gpu-7")
    assert [t["id"] for t in by_ev["items"]] == [running["id"]]
    assert get(http, f"{D}/studies/{sid}/trials", strategy="manual")["total"] == 5


def test_parameter_plots(http, make_study):
    study = make_study()
    sid = study["id"]
    rng = np.random.default_rng(1)
    for _ in range(60):
        x = float(rng.uniform(-5, 5))
        opt = "sgd" if rng.random() < 0.5 else "adam"
        add(http, sid, round(x, 3), {"value": x * x}, opt=opt, n=int(rng.choice([1, 3, 5])))
    sample = get(http, f"{D}/studies/{sid}/sample", max_points=20)
    assert sample["shown"] == len(sample["ids"]) <= 20 and sample["total"] == 60
    assert [p["name"] for p in sample["params"]] == ["x", "n", "opt", "momentum"]
    assert set(sample["columns"]["opt"]) <= {0.0, 1.0}
    assert min(sample["values"]) == min(get(http, f"{D}/studies/{sid}/history")["values"])
    momentum = sample["columns"]["momentum"]
    opts = sample["columns"]["opt"]
    assert all((m is None) == (o == 0.0) for m, o in zip(momentum, opts, strict=True))

    # trials completed after the columns were cached are appended with their parameters
    later = [add(http, sid, x, {"value": x * x}, opt="sgd", n=5) for x in (4.5, -4.25)]
    sample = get(http, f"{D}/studies/{sid}/sample", max_points=5000)
    for t in later:
        i = sample["ids"].index(t["id"])
        assert sample["columns"]["x"][i] == t["params"]["x"]
        assert sample["columns"]["opt"][i] == 1.0 and sample["columns"]["n"][i] == 5.0
        assert sample["columns"]["momentum"][i] == 0.5

    imp = get(http, f"{D}/studies/{sid}/importance")
    assert imp["items"][0]["name"] == "x"
    assert sum(i["importance"] for i in imp["items"]) == pytest.approx(1.0, abs=1e-3)

    grid = get(http, f"{D}/studies/{sid}/contour", x="x", y="opt", bins=5)
    assert len(grid["x"]["edges"]) == 6 and grid["y"]["choices"] == ["adam", "sgd"]
    assert len(grid["z"]) == 2 and len(grid["z"][0]) == 5
    assert sum(map(sum, grid["count"])) == 62 and len(grid["points"]["x"]) == 62


def test_pareto_front_matches_brute_force(http, make_study):
    study = make_study(
        objectives=[{"name": "a"}, {"name": "b", "direction": "maximize"}],
        constraints=[{"name": "c", "upper": 1.0}],
    )
    sid = study["id"]
    rng = np.random.default_rng(2)
    pts = rng.integers(0, 6, size=(40, 2)).astype(float)
    ids = []
    for i, (a, b) in enumerate(pts):
        c = 2.0 if i % 10 == 0 else 0.0
        ids.append(add(http, sid, 0.1 * (i % 50), {"a": a, "b": b, "c": c})["id"])
    d = get(http, f"{D}/studies/{sid}/pareto")
    feasible = [i for i in range(40) if i % 10]
    assert d["total"] == len(feasible)
    expect = {
        ids[i]
        for i in feasible
        if not any(
            pts[j][0] <= pts[i][0] and pts[j][1] >= pts[i][1] and (pts[j] != pts[i]).any()
            for j in feasible
        )
    }
    got = {tid for tid, f in zip(d["ids"], d["front"], strict=True) if f}
    assert got == expect and d["front_size"] == len(expect)
    assert get(http, f"{D}/studies/{sid}/history", objective="b")["direction"] == "maximize"


def test_intermediates_timeline_and_queue(http, make_study):
    study = make_study()
    sid = study["id"]
    trials = ask(http, sid, 3, evaluator="gpu-1")
    for step in range(4):
        http.post(
            f"/v1/trials/{trials[0]['id']}:report",
            json={"step": step, "values": {"value": 4.0 - step}},
        )
    http.post(f"/v1/trials/{trials[0]['id']}:tell", json={"values": {"value": 0.5}})
    http.post(f"/v1/trials/{trials[1]['id']}:tell", json={"state": "failed", "reason": "oom"})

    curves = get(http, f"{D}/studies/{sid}/intermediates", max_steps=3)
    (curve,) = curves["curves"]
    assert curve["id"] == trials[0]["id"] and curve["state"] == "completed"
    assert curve["steps"][0] == 0 and curve["steps"][-1] == 3 and len(curve["steps"]) == 3

    tl = get(http, f"{D}/studies/{sid}/timeline")
    assert tl["evaluators"] == ["gpu-1"] and tl["trials"]["id"] == [t["id"] for t in trials]
    assert tl["trials"]["state"] == ["completed", "failed", "running"]
    assert tl["trials"]["end"][2] is None and tl["trials"]["start"][0] <= tl["now"]
    assert get(http, f"{D}/studies/{sid}/timeline", limit=1)["trials"]["id"] == [trials[2]["id"]]

    q = get(http, f"{D}/studies/{sid}/queue")
    assert q["waiting_asks"] == 0 and isinstance(q["jobs"], list)
    assert any(w["device"] == "cpu" and w["alive"] for w in q["workers"])


def test_compare_several_studies(http, make_study):
    a, b = make_study(), make_study(objectives=[{"name": "r", "direction": "maximize"}])
    add(http, a["id"], 0.1, {"value": 2.0})
    add(http, a["id"], 0.2, {"value": 1.0})
    add(http, b["id"], 0.3, {"r": 3.0})
    d = get(http, f"{D}/compare", study_id=[a["id"], b["id"], a["id"]])
    assert [s["id"] for s in d["studies"]] == [a["id"], b["id"]]
    assert d["studies"][0]["history"]["best_values"] == [2.0, 1.0]
    assert d["studies"][1]["edf"]["x"] == [3.0] and d["studies"][1]["history"]["objective"] == "r"


# --------------------------------------------------------------------------- bad input


def _study_endpoints(sid: int) -> list[str]:
    s = f"{D}/studies/{sid}"
    return [
        s,
        f"{s}/history",
        f"{s}/edf",
        f"{s}/sample",
        f"{s}/importance",
        f"{s}/contour?x=x&y=n",
        f"{s}/pareto",
        f"{s}/trials",
        f"{s}/timeline",
        f"{s}/intermediates",
        f"{s}/queue",
        f"{D}/compare?study_id={sid}",
    ]


def test_bad_study_ids_are_422(http):
    for bad in ["abc", "0", "-3", "1.5", str(2**63)]:
        for url in _study_endpoints(1):
            url = url.replace("/studies/1", f"/studies/{bad}")
            url = url.replace("study_id=1", f"study_id={bad}")
            r = http.get(url)
            assert r.status_code == 422, (url, r.text)
            assert r.json()["error"]["field"] in ("study_id", "study_id[0]"), url


def test_unknown_study_is_404(http):
    for url in _study_endpoints(987654):
        r = http.get(url)
        assert r.status_code == 404, (url, r.text)
        assert r.json()["error"] == {
            "code": "study_not_found",
            "message": "study 987654 not found",
            "field": "study_id",
        }


BAD_QUERIES = [
    ("/history", {"objective": "nope"}, "objective"),
    ("/history", {"max_points": 5}, "max_points"),
    ("/history", {"max_points": "many"}, "max_points"),
    ("/edf", {"points": 1}, "points"),
    ("/edf", {"objective": "x"}, "objective"),
    ("/sample", {"max_points": 10**6}, "max_points"),
    ("/importance", {"objective": ""}, "objective"),
    ("/contour", {"y": "n"}, "x"),
    ("/contour", {"x": "x", "y": "nope"}, "y"),
    ("/contour", {"x": "nope", "y": "n"}, "x"),
    ("/contour", {"x": "x", "y": "n", "bins": 1}, "bins"),
    ("/pareto", {"max_points": 0}, "max_points"),
    ("/trials", {"sort": "bogus"}, "sort"),
    ("/trials", {"sort": "value.nope"}, "sort"),
    ("/trials", {"sort": "param.nope"}, "sort"),
    ("/trials", {"order": "sideways"}, "order"),
    ("/trials", {"limit": 0}, "limit"),
    ("/trials", {"limit": 501}, "limit"),
    ("/trials", {"offset": -1}, "offset"),
    ("/trials", {"state": "exploded"}, "state[0]"),
    ("/timeline", {"limit": 0}, "limit"),
    ("/intermediates", {"metric": "nope"}, "metric"),
    ("/intermediates", {"max_steps": 1}, "max_steps"),
]


def test_bad_query_parameters_are_422(http, make_study):
    sid = make_study()["id"]
    for path, params, field in BAD_QUERIES:
        r = http.get(f"{D}/studies/{sid}{path}", params=params)
        assert r.status_code == 422, (path, params, r.text)
        body = r.json()["error"]
        assert body["code"] == "invalid_input" and body["field"] == field, (path, params, body)


def test_bad_compare_is_422(http):
    for params, field in [
        ({}, "study_id"),
        ({"study_id": [1] * 9}, "study_id"),
        ({"study_id": "x"}, "study_id[0]"),
        ({"study_id": 1, "max_points": 2}, "max_points"),
    ]:
        r = http.get(f"{D}/compare", params=params)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (params, r.text)


def test_bad_studies_list_query_is_422(http):
    for params, field in [
        ({"sort": "colour"}, "sort"),
        ({"order": "up"}, "order"),
        ({"state": "asleep"}, "state"),
        ({"limit": 0}, "limit"),
        ({"search": "x" * 200}, "search"),
    ]:
        r = http.get(f"{D}/studies", params=params)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (params, r.text)


# --------------------------------------------------------------------------- projects and tokens


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
                "a_ro": repo.create_token(session, project="a", name="ta-ro", can_write=False),
            }
        yield client, tokens


def _h(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def test_other_projects_study_is_404_and_list_is_scoped(secured):
    client, tokens = secured
    body = {"name": "s", "space": SPACE, "strategy": {"name": "random"}}
    sid = client.post("/v1/studies", json=body, headers=_h(tokens["a"])).json()["id"]
    for url in _study_endpoints(sid):
        r = client.get(url, headers=_h(tokens["b"]))
        assert r.status_code == 404, (url, r.text)
        assert r.json()["error"]["field"] == "study_id"
        assert client.get(url, headers=_h(tokens["a_ro"])).status_code == 200, url
        r = client.get(url)
        assert r.status_code == 401 and r.json()["error"]["field"] == "authorization"
    assert client.get(f"{D}/studies", headers=_h(tokens["b"])).json()["items"] == []
    assert len(client.get(f"{D}/studies", headers=_h(tokens["a_ro"])).json()["items"]) == 1
    me = client.get(f"{D}/me", headers=_h(tokens["a_ro"])).json()
    assert me == {"can_write": False, "open_mode": False}
    assert client.get(f"{D}/me").status_code == 401
    summary = client.get(f"{D}/studies/{sid}", headers=_h(tokens["a_ro"])).json()
    assert summary["can_write"] is False


# --------------------------------------------------------------------------- reductions


def test_pareto_mask_matches_brute_force_in_three_dimensions():
    from asktell.dashboard.analysis import pareto_mask

    rng = np.random.default_rng(3)
    for d in (2, 3):
        costs = rng.integers(0, 5, size=(200, d)).astype(float)
        brute = np.array(
            [not np.any(np.all(costs <= c, axis=1) & np.any(costs < c, axis=1)) for c in costs]
        )
        assert (pareto_mask(costs) == brute).all()


def test_history_indices_and_edf_points():
    from asktell.dashboard.analysis import (
        best_so_far,
        edf_points,
        history_indices,
        improvements,
    )

    y = np.array([5.0, np.nan, 3.0, 4.0, 3.0, 1.0])
    feasible = np.array([True, False, True, True, True, False])
    best = best_so_far(y, feasible, -1.0)
    assert best.tolist() == [5.0, 5.0, 3.0, 3.0, 3.0, 3.0]
    assert improvements(best).tolist() == [0, 2]
    keep = history_indices(10_000, np.array([3, 5000, 9998]), 100)
    assert len(keep) <= 100 and {0, 3, 5000, 9998, 9999} <= set(keep.tolist())
    x, frac = edf_points(np.array([1.0, 1.0, 2.0, 3.0]), 50)
    assert x.tolist() == [1.0, 2.0, 3.0] and frac.tolist() == [0.5, 0.75, 1.0]
