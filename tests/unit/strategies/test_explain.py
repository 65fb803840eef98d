"""`ModelBasedStrategy.explain`: the surrogate's slice along one parameter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from strategy_cases import BOX_2D, MIXED_SPACE, make_snapshot, quadratic, with_pending

from asktell.strategies.gp import GP
from asktell_client.types import Direction, ObjectiveSpec


def bowl(p):
    return {"value": float((p["x"] - 0.3) ** 2 + (p["y"] - 0.7) ** 2)}


@pytest.mark.parametrize("warp", ["none", "yeo-johnson", "half-rank"])
def test_slice_through_the_best_point_in_original_units(warp):
    snapshot = make_snapshot(BOX_2D, 12, bowl)
    out = GP({"objective_warp": warp}).explain(snapshot, "x", None, points=33)
    assert "error" not in out, out
    assert out["type"] == "float" and out["log"] is False
    assert out["direction"] == "minimize"
    assert len(out["x"]) == len(out["mean"]) == len(out["std"]) == len(out["acquisition"]) == 33
    assert out["x"][0] == 0.0 and out["x"][-1] == 1.0 and out["x"] == sorted(out["x"])
    assert all(s > 0 for s in out["std"])
    assert all(a is not None and math.isfinite(a) for a in out["acquisition"])
    assert out["acquisition_name"] == "LogExpectedImprovement"
    values = [t.values["value"] for t in snapshot.completed]
    best = out["best"]
    assert best["value"] == min(values) and best["params"]["x"] == best["x"]
    at_best = np.interp(best["x"], out["x"], out["mean"])
    assert abs(at_best - best["value"]) < 0.1 * (max(values) - min(values))
    # a bowl in x: the model's minimum along the slice is near 0.3
    assert abs(out["x"][int(np.argmin(out["mean"]))] - 0.3) < 0.2
    obs = out["observed"]
    assert len(obs["x"]) == 12 and obs["trial_id"][0] == best["trial_id"]
    assert obs["distance"][0] == 0.0 and obs["distance"] == sorted(obs["distance"])


def test_maximized_objective_keeps_its_sign():
    objective = ObjectiveSpec(name="value", direction=Direction.maximize)
    snapshot = make_snapshot(
        BOX_2D, 10, lambda p: {"value": -bowl(p)["value"]}, objectives=[objective]
    )
    out = GP().explain(snapshot, "y", None, points=16)
    assert out["direction"] == "maximize"
    assert out["best"]["value"] == max(t.values["value"] for t in snapshot.completed)
    assert max(out["mean"]) <= 0.2


def test_discrete_parameters_take_their_allowed_values():
    snapshot = make_snapshot(MIXED_SPACE, 12, quadratic)
    ints = GP().explain(snapshot, "k", None)
    assert ints["type"] == "int" and ints["x"] == [1, 3, 5, 7, 9]
    cats = GP().explain(snapshot, "kind", None)
    assert cats["type"] == "categorical" and cats["x"] == ["a", "b", "c"]
    assert len(cats["mean"]) == len(cats["acquisition"]) == 3


def test_pending_points_lower_the_acquisition_next_to_them():
    snapshot = make_snapshot(BOX_2D, 12, bowl)
    gp = GP({"analytic_ei": False})  # the same acquisition with and without pending points
    out = gp.explain(snapshot, "x", None, points=21)
    best = out["best"]["params"]
    pending = with_pending(snapshot, [{"x": 0.5, "y": best["y"]}])
    busy = gp.explain(pending, "x", None, points=21)
    assert busy["n_pending"] == 1
    assert busy["acquisition"][10] < out["acquisition"][10]


def test_errors_are_reasons_not_exceptions():
    snapshot = make_snapshot(BOX_2D, 12, bowl)
    assert "unknown parameter" in GP().explain(snapshot, "nope", None)["error"]
    few = make_snapshot(BOX_2D, 1, bowl)
    assert "not enough data" in GP().explain(few, "x", None)["error"]


def test_auto_and_non_model_strategies():
    from asktell.worker.surrogate_view import explain_params, model_strategy

    strategy, state = model_strategy("auto", {"gp": {"fit_maxiter": 50}}, {"version": 1, "gp": {}})
    assert isinstance(strategy, GP) and strategy.config.fit_maxiter == 50 and state == {}
    snapshot = make_snapshot(BOX_2D, 12, bowl)
    out = explain_params("auto", {}, None, snapshot, ["x", "zz"])
    assert out["x"]["model"] == "SingleTaskGP" and "unknown" in out["zz"]["error"]
    assert "no surrogate model" in explain_params("random", {}, None, snapshot, ["x"])["x"]["error"]
