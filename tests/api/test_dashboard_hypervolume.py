"""The hypervolume history: exact for two objectives, estimated for more, checked against
botorch, fast on 100,000 trials; and its endpoint on both engines."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.hypervolume import (
    infer_reference_point as botorch_reference_point,
)
from botorch.utils.multi_objective.pareto import is_non_dominated

from asktell.dashboard.analysis import pareto_mask
from asktell.dashboard.hypervolume import (
    entry_candidates,
    history_exact_2d,
    history_sampled,
    infer_reference_point,
    sample_count,
)
from tests.api.test_auth import auth, secured  # noqa: F401 (fixture)
from tests.api.test_dashboard_api import D, add, get


def exact(costs: np.ndarray, ref: np.ndarray) -> float:
    """botorch's exact hypervolume of the rows better than `ref` (costs to minimize)."""
    Y, r = torch.tensor(-costs), torch.tensor(-ref)
    Y = Y[(r < Y).all(dim=1)]
    return float(Hypervolume(r).compute(Y[is_non_dominated(Y)])) if len(Y) else 0.0


def step_value(rows: np.ndarray, volumes: np.ndarray, i: int) -> float:
    k = np.searchsorted(rows, i, side="right")
    return float(volumes[k - 1]) if k else 0.0


@pytest.mark.parametrize("seed", range(6))
def test_reference_point_is_botorchs(seed):
    rng = np.random.default_rng(seed)
    costs = rng.normal(size=(int(rng.integers(1, 40)), 2 + seed % 3))
    front = costs[pareto_mask(costs)]
    expected = -botorch_reference_point(torch.tensor(-front)).numpy()
    assert np.allclose(infer_reference_point(front), expected)


@pytest.mark.parametrize("seed", range(8))
def test_two_objectives_exact_after_every_trial(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 50))
    grid = seed % 2 == 1  # ties and duplicates
    costs = rng.integers(0, 5, size=(n, 2)).astype(float) if grid else rng.random((n, 2))
    ref = infer_reference_point(costs[pareto_mask(costs)])
    rows, volumes = history_exact_2d(costs, ref)
    assert np.all(np.diff(volumes) > 0)
    for i in range(n):
        assert step_value(rows, volumes, i) == pytest.approx(exact(costs[: i + 1], ref), abs=1e-12)


def area_2d(costs: np.ndarray, ref: np.ndarray) -> float:
    """The area two costs dominate below `ref`, from the sorted front."""
    inside = costs[np.all(costs < ref, axis=1)]
    front = np.unique(inside[pareto_mask(inside)], axis=0)
    x, y = front[:, 0], front[:, 1]
    return float(np.sum((np.append(x[1:], ref[0]) - x) * (ref[1] - y)))


@pytest.mark.parametrize("order", ["random", "ascending", "descending"])
def test_two_objectives_with_a_front_of_thousands(order):
    rng = np.random.default_rng(7)
    x = np.round(rng.random(6000), 3)  # ties on the front too
    if order != "random":
        x = np.sort(x) if order == "ascending" else -np.sort(-x)
    costs = np.column_stack([x, 1 - x + rng.choice([0.0, 0.0, 0.05], size=x.size)])
    ref = np.array([1.05, 1.2])
    rows, volumes = history_exact_2d(costs, ref)
    for i in (10, 700, 2500, 5999):
        assert step_value(rows, volumes, i) == pytest.approx(area_2d(costs[: i + 1], ref))


def test_entry_candidates_are_the_trials_that_entered_the_front():
    rng = np.random.default_rng(3)
    costs = np.round(rng.random((700, 3)), 1)
    brute = [i for i in range(len(costs)) if not (costs[:i] <= costs[i]).all(axis=1).any()]
    assert entry_candidates(costs).tolist() == brute


@pytest.mark.parametrize("m", [3, 4])
def test_more_objectives_are_estimated_closely(m):
    rng = np.random.default_rng(m)
    costs = rng.random((300, m))
    ref = np.full(m, 1.1)
    rows, volumes, samples = history_sampled(costs, ref)
    assert samples == sample_count(rows.size, m) and np.all(np.diff(volumes) > 0)
    for i in (20, 100, 299):
        assert step_value(rows, volumes, i) == pytest.approx(exact(costs[: i + 1], ref), rel=0.03)


def test_100k_trials_are_fast():
    rng = np.random.default_rng(0)
    for m in (2, 3, 4):
        costs = rng.random((100_000, m))
        costs[:, 0] += np.linspace(0.5, 0.0, costs.shape[0])  # a study that improves
        ref = np.full(m, 2.0)
        started = time.process_time()
        history = history_exact_2d if m == 2 else history_sampled
        rows, volumes = history(costs, ref)[:2]
        assert time.process_time() - started < 2.0, m
        assert rows.size and volumes[-1] > 0


@pytest.mark.parametrize("m", [2, 3])
def test_100k_trials_all_on_the_front_are_fast_too(m):
    rng = np.random.default_rng(1)
    X = np.abs(rng.normal(size=(100_000, m)))
    costs = 1 - X / np.linalg.norm(X, axis=1, keepdims=True)  # on a sphere: none dominated
    started = time.process_time()
    history = history_exact_2d if m == 2 else history_sampled
    rows, volumes = history(costs, np.full(m, 1.1))[:2]
    assert time.process_time() - started < 3.0
    assert rows.size > (50_000 if m == 2 else 50) and volumes[-1] > 0


# --------------------------------------------------------------------------- endpoint


TWO = [{"name": "loss", "direction": "minimize"}, {"name": "acc", "direction": "maximize"}]


def test_history_of_a_two_objective_study(http, make_study):
    s = make_study(objectives=TWO)
    sid = s["id"]
    assert get(http, f"{D}/studies/{sid}/hypervolume")["ids"] == []
    points = [(4.0, 0.9), (3.0, 0.5), (5.0, 0.8), (1.0, 0.2), (0.5, 0.1), (2.0, 0.15)]
    ids = [add(http, sid, 0.0, {"loss": a, "acc": b})["id"] for a, b in points]
    add(http, sid, 0.0)  # pending: not counted
    d = get(http, f"{D}/studies/{sid}/hypervolume")
    costs = np.array([[a, -b] for a, b in points])
    ref_costs = infer_reference_point(costs[pareto_mask(costs)])
    assert d["reference_point"] == pytest.approx([ref_costs[0], -ref_costs[1]])
    assert d["reference_sources"] == ["inferred", "inferred"] and d["method"] == "exact"
    assert d["ids"] == [ids[0], ids[1], ids[3], ids[4]]  # trials 2 and 5 were dominated
    for tid, v in zip(d["ids"], d["values"], strict=True):
        k = ids.index(tid)
        assert v == pytest.approx(exact(costs[: k + 1], ref_costs), rel=1e-6)
    assert d["hypervolume"] == d["values"][-1] and d["last_id"] == ids[-1]
    assert d["total"] == d["feasible"] == 6 and d["entries"] == 4 and d["stamp"]
    thin = get(http, f"{D}/studies/{sid}/hypervolume", max_points=10)
    assert thin["values"][-1] == d["values"][-1]


def test_thresholds_constraints_and_more_objectives(http, make_study):
    objectives = [
        {"name": "loss", "direction": "minimize", "threshold": 10.0},
        {"name": "acc", "direction": "maximize", "threshold": 0.0},
        {"name": "size", "direction": "minimize"},
    ]
    s = make_study(objectives=objectives, constraints=[{"name": "mem", "upper": 1.0}])
    sid = s["id"]
    rng = np.random.default_rng(0)
    for _ in range(30):
        loss, acc, size = rng.random(3) * [5, 1, 3]
        add(http, sid, 0.0, {"loss": loss, "acc": acc, "size": size, "mem": 0.5})
    add(http, sid, 0.0, {"loss": 0.0, "acc": 1.0, "size": 0.0, "mem": 5.0})  # infeasible
    d = get(http, f"{D}/studies/{sid}/hypervolume")
    assert d["method"] == "estimate" and d["samples"] >= 1024
    assert d["reference_sources"] == ["threshold", "threshold", "inferred"]
    assert d["reference_point"][:2] == [10.0, 0.0]
    assert d["total"] == 31 and d["feasible"] == 30
    assert d["values"] == sorted(d["values"]) and 0 < d["hypervolume"] < 10 * 1 * 4


def test_hostile_values_and_bad_requests(http, make_study):
    s = make_study(objectives=TWO)
    sid = s["id"]
    add(http, sid, 0.0, {"loss": -1e308, "acc": 1e308})
    add(http, sid, 0.0, {"loss": 1e308, "acc": -1e308})
    d = get(http, f"{D}/studies/{sid}/hypervolume")  # overflowing volumes come back as null
    assert d["total"] == 2
    one = make_study()
    r = http.get(f"{D}/studies/{one['id']}/hypervolume")
    assert r.status_code == 422 and r.json()["error"]["field"] == "study_id"
    assert "two or more" in r.json()["error"]["message"]
    r = http.get(f"{D}/studies/{sid}/hypervolume", params={"max_points": 1})
    assert r.status_code == 422 and r.json()["error"]["field"] == "max_points"
    assert http.get(f"{D}/studies/999999/hypervolume").status_code == 404
    assert http.get(f"{D}/studies/-1/hypervolume").status_code in (404, 422)


def test_read_tokens_read_it_and_other_projects_get_404(secured):  # noqa: F811
    client, tokens, _ = secured
    body = {"name": "mo", "space": [{"name": "x", "type": "float", "low": 0, "high": 1}]}
    body["objectives"] = TWO
    sid = client.post("/v1/studies", json=body, headers=auth(tokens["a"])).json()["id"]
    url = f"{D}/studies/{sid}/hypervolume"
    assert client.get(url, headers=auth(tokens["a_ro"])).status_code == 200
    assert client.get(url, headers=auth(tokens["b"])).status_code == 404
    assert client.get(url).status_code == 401
