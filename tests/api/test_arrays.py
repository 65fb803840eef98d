"""Array parameters over HTTP: creation, both wire formats, hostile values, strategies,
export/import and the client's numpy helpers."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import numpy as np
import pytest

from asktell_client import AsyncClient, Client

ARRAY = {"name": "w", "type": "array", "length": 1000, "low": -1.0, "high": 1.0}
SPACE = [ARRAY, {"name": "x", "type": "float", "low": 0.0, "high": 1.0}]


def block(x) -> dict:
    data = np.asarray(x, dtype="<f4").tobytes()
    return {"dtype": "float32", "b64": base64.b64encode(data).decode()}


def decode(value) -> np.ndarray:
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["b64"]), dtype="<f4")
    return np.asarray(value, dtype="<f4")


def ask(http, sid, fmt=None, count=1):
    query = f"?array_format={fmt}" if fmt else ""
    r = http.post(f"/v1/studies/{sid}/trials:ask{query}", json={"count": count})
    assert r.status_code == 200, r.text
    return r.json()["trials"]


def post_json(http, url, body):
    """Send `body` as raw JSON text (NaN and Infinity included, as a careless client would)."""
    return http.post(url, content=json.dumps(body), headers={"content-type": "application/json"})


@pytest.fixture
def study(make_study) -> dict:
    return make_study(space=SPACE)


# --------------------------------------------------------------------------- creation


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"length": 0}, "space[0].length"),
        ({"length": 1_000_001}, "space[0].length"),
        ({"length": "many"}, "space[0].length"),
        ({"low": 1.0, "high": 1.0}, "space[0].high"),
        ({"low": 2.0}, "space[0].high"),
        ({"high": float("inf")}, "space[0].high"),
        ({"high": 1e39}, "space[0].high"),
        ({"low": 1.0, "high": 1.00000001}, "space[0].high"),
        ({"log": True}, "space[0].low"),
        ({"condition": {"parent": "x", "values": [1]}}, "space[0].condition"),
        ({"step": 2}, "space[0].step"),
    ],
)
def test_bad_array_definitions_are_422_naming_the_field(http, change, field):
    body = {"name": "bad", "space": [{**ARRAY, **change}], "strategy": {"name": "random"}}
    r = post_json(http, "/v1/studies", body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_a_condition_on_an_array_parent_is_refused(http):
    child = {"name": "y", "type": "float", "low": 0, "high": 1}
    child["condition"] = {"parent": "w", "values": [1]}
    r = http.post("/v1/studies", json={"name": "c", "space": [ARRAY, child]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "space[1].condition.parent"


def test_study_reads_back_its_array_parameter(http, study):
    (w, _) = http.get(f"/v1/studies/{study['id']}").json()["space"]
    assert (w["type"], w["length"], w["low"], w["high"], w["log"]) == ("array", 1000, -1, 1, False)


# --------------------------------------------------------------------------- wire formats


def test_asked_arrays_come_as_lists_or_blocks_and_agree(http, study):
    (listed,) = ask(http, study["id"])
    w = listed["params"]["w"]
    assert isinstance(w, list) and len(w) == 1000 and all(-1 <= v <= 1 for v in w)
    (blocked,) = ask(http, study["id"], "b64")
    assert set(blocked["params"]["w"]) == {"dtype", "b64"}
    assert decode(blocked["params"]["w"]).shape == (1000,)
    # The same trial reads the same in both formats.
    as_list = http.get(f"/v1/trials/{blocked['id']}").json()["params"]["w"]
    as_block = http.get(f"/v1/trials/{blocked['id']}?array_format=b64").json()["params"]["w"]
    assert np.array_equal(decode(as_list), decode(as_block))
    told = http.post(
        f"/v1/trials/{blocked['id']}:tell?array_format=b64", json={"values": {"value": 1.0}}
    )
    assert told.status_code == 200 and told.json()["params"]["w"] == as_block


def test_an_unknown_array_format_is_422(http, study):
    r = http.post(f"/v1/studies/{study['id']}/trials:ask?array_format=npy", json={})
    assert r.status_code == 422 and r.json()["error"]["field"] == "array_format"


@pytest.mark.parametrize("form", ["list", "b64"])
def test_added_trials_take_both_forms_and_keep_float32_values(http, study, form):
    w = np.linspace(-1, 1, 1000)
    value = w.tolist() if form == "list" else block(w)
    r = http.post(f"/v1/studies/{study['id']}/trials", json={"params": {"w": value, "x": 0.5}})
    assert r.status_code == 201, r.text
    assert np.array_equal(decode(r.json()["params"]["w"]), w.astype("<f4"))


def test_the_same_point_in_either_form_is_one_open_point(http, study):
    w = np.full(1000, 0.25)
    url = f"/v1/studies/{study['id']}/trials"
    assert http.post(url, json={"params": {"w": w.tolist(), "x": 0.5}}).status_code == 201
    again = http.post(url, json={"params": {"w": block(w), "x": 0.5}})
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_point"


def test_bounds_hold_at_float32_precision(make_study, http):
    study = make_study(space=[{**ARRAY, "length": 3, "low": 0.1, "high": 0.3}])
    url = f"/v1/studies/{study['id']}/trials"
    r = http.post(url, json={"params": {"w": [0.1, 0.2, 0.3]}})
    assert r.status_code == 201, r.text
    # Values read back (float32, a hair off 0.1 and 0.3) are accepted again.
    back = r.json()["params"]["w"]
    assert http.post(url, json={"params": {"w": back}, "values": {"value": 1}}).status_code == 201


# --------------------------------------------------------------------------- hostile input


def _b64(data: bytes) -> dict:
    return {"dtype": "float32", "b64": base64.b64encode(data).decode()}


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        ([0.0] * 999, "params.w", "1000 numbers"),
        ([0.0] * 1001, "params.w", "1000 numbers"),
        ([], "params.w", "1000 numbers"),
        ([float("nan")] + [0.0] * 999, "params.w", "element 0 is not finite"),
        ([0.0] * 5 + [float("inf")] + [0.0] * 994, "params.w", "element 5 is not finite"),
        ([0.0] * 7 + [1.5] + [0.0] * 992, "params.w", "element 7"),
        ([0.0] * 999 + ["0.5"], "params.w", "list of numbers"),
        ([True] * 1000, "params.w", "list of numbers"),
        ([[0.0]] * 1000, "params.w", "list of numbers"),
        ([10**400] * 1000, "params.w", "list of numbers"),
        (0.5, "params.w", "list of numbers or an array block"),
        ("AAAA", "params.w", "list of numbers or an array block"),
        ({"dtype": "float32", "b64": "not base64!"}, "params.w.b64", "base64"),
        ({"dtype": "float32", "b64": "AAAAAAA="}, "params.w.b64", "whole number of float32"),
        ({"dtype": "float64", "b64": "AAAA"}, "params.w.dtype", "float32"),
        ({"b64": "AAAA", "extra": 1}, "params.w.extra", "not permitted"),
        ({"dtype": "float32"}, "params.w.b64", "required"),
        (_b64(np.zeros(999, "<f4").tobytes()), "params.w", "1000 numbers"),
        (_b64(np.full(1000, np.nan, "<f4").tobytes()), "params.w", "not finite"),
        (_b64(np.full(1000, 2.0, "<f4").tobytes()), "params.w", "outside"),
        (_b64(np.zeros(1000, ">f4").tobytes() + b"\0"), "params.w.b64", "whole number"),
    ],
)
def test_bad_array_values_are_422_naming_the_field(http, study, value, field, words):
    r = post_json(http, f"/v1/studies/{study['id']}/trials", {"params": {"w": value, "x": 0.5}})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == field and words in error["message"]
    assert http.get(f"/v1/studies/{study['id']}/trials").json()["items"] == []


def test_an_array_block_past_the_size_limit_is_refused(http, study):
    huge = {"dtype": "float32", "b64": "A" * (6 * 1024 * 1024)}
    r = http.post(f"/v1/studies/{study['id']}/trials", json={"params": {"w": huge, "x": 0.5}})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("params.w")


# --------------------------------------------------------------------------- strategies


def _sphere(w: np.ndarray) -> float:
    return float(np.sum((w - 0.3) ** 2))


@pytest.mark.parametrize("strategy", ["zo-sgd", "cma-es"])
def test_population_strategies_run_on_a_1000_long_array(make_study, http, strategy):
    study = make_study(space=[ARRAY], strategy={"name": strategy})
    seen = []
    for _ in range(6):
        for t in ask(http, study["id"], "b64", count=4):
            assert t["strategy"] == strategy
            value = _sphere(decode(t["params"]["w"]))
            seen.append(value)
            r = http.post(f"/v1/trials/{t['id']}:tell", json={"values": {"value": value}})
            assert r.status_code == 200
    assert len(seen) == 24 and all(np.isfinite(seen))


@pytest.mark.parametrize(
    "strategy", ["random", "sobol", "zo-adam", "spsa", "direct-search", "cbo", "auto", "gp"]
)
def test_other_strategies_take_a_short_array_beside_scalars(make_study, http, strategy):
    space = [{**ARRAY, "length": 8}, {"name": "x", "type": "float", "low": 0, "high": 1}]
    study = make_study(space=space, strategy={"name": strategy})
    for _ in range(3):
        for t in ask(http, study["id"], count=2):
            assert len(t["params"]["w"]) == 8
            value = _sphere(decode(t["params"]["w"])) + t["params"]["x"]
            r = http.post(f"/v1/trials/{t['id']}:tell", json={"values": {"value": value}})
            assert r.status_code == 200


@pytest.mark.parametrize(
    ("strategy", "limit"),
    [("sobol", 21201), ("cbo", 1000), ("direct-search", 1000), ("cma-es", 100_000)],
)
def test_strategies_refuse_past_their_dimension_limit(http, strategy, limit):
    space = [{**ARRAY, "length": limit + 1}]
    r = http.post("/v1/studies", json={"name": "s", "space": space, "strategy": {"name": strategy}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "strategy.name"
    assert str(limit) in r.json()["error"]["message"]


@pytest.mark.parametrize("strategy", ["gp", "ibnn", "pfn"])
def test_model_based_strategies_refuse_a_10000_long_array(http, strategy):
    body = {"name": "big", "space": [{**ARRAY, "length": 10_000}], "strategy": {"name": strategy}}
    r = http.post("/v1/studies", json=body)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["field"] == "strategy.name"
    assert "10000" in error["message"] and "'w'" in error["message"]


def test_switching_an_array_study_to_gp_is_refused(http, make_study):
    study = make_study(space=[{**ARRAY, "length": 10_000}])
    r = http.patch(f"/v1/studies/{study['id']}", json={"strategy": {"name": "gp"}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "strategy.name"


def test_auto_uses_cma_es_past_the_model_limit(make_study, http):
    study = make_study(space=[{**ARRAY, "length": 2000}], strategy={"name": "auto"})
    (t,) = ask(http, study["id"], "b64")
    assert t["strategy"] == "cma-es" and decode(t["params"]["w"]).shape == (2000,)


def test_auto_refuses_past_the_cma_es_limit(http):
    space = [{**ARRAY, "length": 200_000}]
    r = http.post("/v1/studies", json={"name": "a", "space": space, "strategy": {"name": "auto"}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "strategy.name"
    assert "100000" in r.json()["error"]["message"]


def test_auto_refuses_a_huge_space_cma_es_cannot_take(http):
    space = [{**ARRAY, "length": 3000}, {"name": "k", "type": "int", "low": 0, "high": 3}]
    r = http.post("/v1/studies", json={"name": "mixed", "space": space})
    assert r.status_code == 422 and r.json()["error"]["field"] == "strategy.name"
    assert "auto" in r.json()["error"]["message"]


# --------------------------------------------------------------------------- export, dashboard


def test_export_and_import_round_trip_array_trials(http, study):
    (t,) = ask(http, study["id"])
    http.post(f"/v1/trials/{t['id']}:tell", json={"values": {"value": 2.0}})
    ask(http, study["id"])
    export = http.get(f"/v1/studies/{study['id']}:export").json()
    export["study"]["name"] = "copy"
    r = http.post("/v1/studies:import", json=export)
    assert r.status_code == 201, r.text
    copy = http.get(f"/v1/studies/{r.json()['id']}/trials?array_format=b64").json()["items"]
    original = http.get(f"/v1/studies/{study['id']}/trials?array_format=b64").json()["items"]
    assert [c["params"] for c in copy] == [o["params"] for o in original]
    assert [c["state"] for c in copy] == ["completed", "running"]
    # Exports written with lists import too.
    for trial in export["trials"]:
        trial["params"]["w"] = decode(trial["params"]["w"]).tolist()
    export["study"]["name"] = "from-lists"
    assert http.post("/v1/studies:import", json=export).status_code == 201


def test_dashboard_summarizes_arrays(http, study):
    (t,) = ask(http, study["id"])
    http.post(f"/v1/trials/{t['id']}:tell", json={"values": {"value": 2.0}})
    r = http.get(f"/v1/dashboard/studies/{study['id']}/trials")
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["params"]["w"].startswith("float32[1000]")
    bad_sort = http.get(f"/v1/dashboard/studies/{study['id']}/trials?sort=param.w")
    assert bad_sort.status_code == 422 and bad_sort.json()["error"]["field"] == "sort"


# --------------------------------------------------------------------------- client


def test_client_hands_numpy_arrays_to_the_evaluator(http):
    with Client(base_url=str(http.base_url), http_client=http) as client:
        study = client.studies.create("np", space=SPACE, strategy="random")
        (trial,) = study.ask()
        assert set(trial.params["w"].model_dump()) == {"dtype", "b64"}  # asked as blocks
        w = trial.array("w")
        assert w.dtype == np.float32 and w.shape == (1000,)
        assert (
            isinstance(trial.inputs()["w"], np.ndarray) and trial.inputs()["x"] == trial.params["x"]
        )
        trial.tell(_sphere(w))
        seen = []

        def objective(params):
            seen.append(params["w"])
            return _sphere(params["w"])

        study.optimize(objective, n_trials=3, show_progress=False)
        assert len(seen) == 3 and all(isinstance(w, np.ndarray) for w in seen)
        added = study.add_trial({"w": np.full(1000, 0.5), "x": 0.1}, values=1.0)
        assert np.array_equal(added.array("w"), np.full(1000, 0.5, np.float32))


def test_async_client_hands_numpy_arrays_to_the_evaluator(http, app):
    seen = []

    async def objective(params):
        seen.append(params["w"])
        return _sphere(params["w"])

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        raw = httpx.AsyncClient(transport=transport, base_url="http://test")
        async with raw, AsyncClient(base_url="http://test", http_client=raw) as client:
            study = await client.studies.create("np-async", space=SPACE, strategy="random")
            await study.optimize(objective, n_trials=2, show_progress=False)
            (trial,) = await study.ask()
            assert trial.array("w").shape == (1000,)

    asyncio.run(main())
    assert len(seen) == 2 and all(isinstance(w, np.ndarray) and w.shape == (1000,) for w in seen)
