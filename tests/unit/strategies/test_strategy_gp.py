"""The `gp` strategy, the shared model-based pipeline and the GP surrogate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from strategy_cases import BOX_2D, StrategyCases, check_proposal, cube, make_snapshot

from asktell.core.encoding import SpaceEncoder
from asktell.strategies._model_based import select_history, training_data
from asktell.strategies.gp import GP
from asktell.strategies.registry import get_strategy
from asktell.surrogates.gp import export_hyperparameters, fit_gp, load_hyperparameters
from asktell_client.types import (
    CategoricalParam,
    ConstraintSpec,
    Direction,
    FloatParam,
    IntParam,
    ObjectiveSpec,
    StudySettings,
)

OPTIMUM = np.array([0.3, 0.7])


def bowl(p):
    return {"value": float((p["x"] - OPTIMUM[0]) ** 2 + (p["y"] - OPTIMUM[1]) ** 2)}


def two_objectives(p):
    return {
        "f1": (p["x"] - 0.2) ** 2 + (p["y"] - 0.2) ** 2,
        "f2": (p["x"] - 0.8) ** 2 + (p["y"] - 0.6) ** 2,
        "total": p["x"] + p["y"],
    }


class TestGP(StrategyCases):
    strategy_name = "gp"

    def test_registered(self):
        assert get_strategy("gp") is GP
        assert GP.inline is False


def test_beats_random_points_on_a_quadratic():
    snapshot = make_snapshot(BOX_2D, 15, bowl)
    proposal = GP().suggest(snapshot, 1, None)
    assert proposal.strategies == ["gp"]
    assert proposal.info["acquisition"] == "LogExpectedImprovement"
    distance = np.linalg.norm(cube(snapshot, proposal.points)[0] - OPTIMUM)
    random = np.random.default_rng(0).random((1000, 2))
    assert distance < np.median(np.linalg.norm(random - OPTIMUM, axis=-1))
    assert distance < 0.15


def test_mixed_space_uses_categorical_kernel():
    space = [
        FloatParam(name="x", low=0.0, high=1.0),
        IntParam(name="k", low=0, high=30),
        CategoricalParam(name="c", choices=["a", "b", "c"]),
    ]
    snapshot = make_snapshot(space, 12, lambda p: {"value": p["x"] + p["k"] / 30 + (p["c"] == "b")})
    proposal = GP().suggest(snapshot, 2, None)
    check_proposal(snapshot, proposal, 2)
    assert proposal.info["model"] == "MixedSingleTaskGP"
    assert proposal.info["optimizer"] == "optimize_acqf_mixed_alternating"
    assert proposal.strategies == ["gp", "gp"]


def test_the_alternating_optimizer_gets_its_own_starts(monkeypatch):
    from asktell.strategies import _model_based

    seen = {}
    real = _model_based.optimize_acqf_mixed_alternating

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(_model_based, "optimize_acqf_mixed_alternating", spy)
    space = [FloatParam(name="x", low=0.0, high=1.0), IntParam(name="k", low=0, high=3000)]
    snapshot = make_snapshot(space, 10, lambda p: {"value": (p["x"] - 0.5) ** 2 + p["k"] / 3000})
    options = {"num_restarts": 2, "raw_samples": 64, "mixed_restarts": 3, "mixed_raw_samples": 96}
    proposal = GP(options).suggest(snapshot, 1, None)
    check_proposal(snapshot, proposal, 1)
    assert proposal.info["optimizer"] == "optimize_acqf_mixed_alternating"
    assert (seen["num_restarts"], seen["raw_samples"]) == (3, 96)


def test_ordered_discrete_space_is_enumerated_without_repeats():
    space = [IntParam(name="i", low=0, high=4), IntParam(name="j", low=0, high=2)]
    snapshot = make_snapshot(space, 8, lambda p: {"value": (p["i"] - 2) ** 2 + p["j"]})
    proposal = GP().suggest(snapshot, 3, None)
    check_proposal(snapshot, proposal, 3)
    assert proposal.info["model"] == "SingleTaskGP"
    assert proposal.info["optimizer"] == "optimize_acqf_discrete"
    seen = {snapshot.space.point_key(t.params) for t in snapshot.completed}
    new = [snapshot.space.point_key(p) for p in proposal.points]
    assert len(set(new)) == 3 and not seen & set(new)


def test_outcome_constraint_is_modelled():
    snapshot = make_snapshot(
        BOX_2D,
        15,
        two_objectives,
        objectives=[ObjectiveSpec(name="f1")],
        constraints=[ConstraintSpec(name="total", lower=0.9)],
    )
    proposal = GP().suggest(snapshot, 1, None)
    assert proposal.info["acquisition"] == "qLogNoisyExpectedImprovement"
    assert "fallback" not in proposal.info
    point = proposal.points[0]
    assert point["x"] + point["y"] > 0.8  # the unconstrained optimum (0.2, 0.2) is infeasible


def test_no_feasible_point_seeks_feasibility():
    snapshot = make_snapshot(
        BOX_2D,
        10,
        two_objectives,
        objectives=[ObjectiveSpec(name="f1")],
        constraints=[ConstraintSpec(name="total", upper=-1.0)],
    )
    proposal = GP().suggest(snapshot, 1, None)
    assert proposal.info["acquisition"] == "qLogProbabilityOfFeasibility"
    point = proposal.points[0]
    assert point["x"] + point["y"] < min(t.values["total"] for t in snapshot.completed)


def test_two_objectives_with_a_constraint():
    snapshot = make_snapshot(
        BOX_2D,
        12,
        two_objectives,
        objectives=[ObjectiveSpec(name="f1", threshold=1.0), ObjectiveSpec(name="f2")],
        constraints=[ConstraintSpec(name="total", upper=1.5)],
    )
    proposal = GP().suggest(snapshot, 2, None)
    check_proposal(snapshot, proposal, 2)
    assert proposal.info["acquisition"] == "qLogNoisyExpectedHypervolumeImprovement"


def test_two_objectives_head_for_the_thresholds_before_any_point_meets_them():
    # Both at most 0.15 only in a small region between the two minima; no trial is there.
    objectives = [
        ObjectiveSpec(name="f1", threshold=0.15),
        ObjectiveSpec(name="f2", threshold=0.15),
    ]
    snapshot = make_snapshot(BOX_2D, 40, two_objectives, objectives=objectives)

    def meets(values):
        return values["f1"] <= 0.15 and values["f2"] <= 0.15

    outside = [t for t in snapshot.completed if not meets(t.values)]
    snapshot = dataclasses.replace(snapshot, completed=outside[:14])
    proposal = GP().suggest(snapshot, 1, None)
    assert proposal.info["acquisition"] == "qLogProbabilityOfFeasibility"
    assert meets(two_objectives(proposal.points[0]))
    middle = {"x": 0.5, "y": 0.4}
    met = dataclasses.replace(outside[0], id=999, params=middle, values=two_objectives(middle))
    proposal = GP().suggest(dataclasses.replace(snapshot, completed=[*outside[:14], met]), 1, None)
    assert proposal.info["acquisition"] == "qLogNoisyExpectedHypervolumeImprovement"


def test_many_objectives_use_parego():
    objectives = [ObjectiveSpec(name=f"o{i}", direction=Direction.maximize) for i in range(5)]
    snapshot = make_snapshot(
        BOX_2D,
        10,
        lambda p: {f"o{i}": -((p["x"] - i / 4) ** 2) - p["y"] for i in range(5)},
        objectives=objectives,
    )
    proposal = GP().suggest(snapshot, 1, None)
    check_proposal(snapshot, proposal, 1)
    assert proposal.info["acquisition"] == "qLogNParEGO"


def test_failed_trials_are_left_out():
    snapshot = make_snapshot(BOX_2D, 8, bowl, n_failed=5, n_pending=1)
    proposal = GP().suggest(snapshot, 1, None)
    check_proposal(snapshot, proposal, 1)
    assert proposal.info["n_fit"] == 8
    assert proposal.strategies == ["gp"]


def test_too_little_data_falls_back_to_sobol():
    one = make_snapshot(BOX_2D, 1, bowl, n_pending=2)
    proposal = GP().suggest(one, 2, None)
    check_proposal(one, proposal, 2)
    assert proposal.strategies == ["sobol", "sobol"]
    flat = make_snapshot(BOX_2D, 6, lambda p: {"value": 1.0})
    assert GP().suggest(flat, 1, None).strategies == ["sobol"]


def test_model_failure_falls_back_to_sobol(monkeypatch):
    def broken(self, data, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(GP, "fit", broken)
    snapshot = make_snapshot(BOX_2D, 6, bowl)
    proposal = GP().suggest(snapshot, 2, None)
    check_proposal(snapshot, proposal, 2)
    assert proposal.strategies == ["sobol", "sobol"]
    assert "boom" in proposal.info["fallback"]


def test_large_history_is_subsampled():
    snapshot = make_snapshot(BOX_2D, 40, bowl, settings=StudySettings(noisy=True))
    proposal = GP({"max_history": 20}).suggest(snapshot, 1, None)
    assert proposal.info["n_fit"] == 20
    assert "20 of 40" in proposal.info["subsampled"]


def test_select_history_keeps_the_best():
    snapshot = make_snapshot(BOX_2D, 40, bowl)
    data = training_data(snapshot, SpaceEncoder(snapshot.space))
    keep = select_history(data, 20, seed=0)
    assert len(keep) == 20 == len(set(keep.tolist()))
    top = torch.argsort(data.Y[:, 0], descending=True)[:5].tolist()
    assert set(top) <= set(keep.tolist())


def test_state_warm_starts_the_next_fit():
    snapshot = make_snapshot(BOX_2D, 10, bowl)
    first = GP().suggest(snapshot, 1, None)
    assert first.state["version"] == 1 and first.info["warm_started"] is False
    second = GP().suggest(make_snapshot(BOX_2D, 11, bowl), 1, first.state)
    assert second.info["warm_started"] is True
    cold = GP({"warm_start": False}).suggest(make_snapshot(BOX_2D, 11, bowl), 1, first.state)
    assert cold.info["warm_started"] is False


def test_unknown_option_is_rejected():
    with pytest.raises(ValueError):
        GP({"num_restart": 3})


def test_hyperparameters_load_only_into_a_matching_model():
    X = torch.rand(8, 2, dtype=torch.double)
    Y = X.sum(-1, keepdim=True)
    model, _ = fit_gp(X, Y)
    saved = export_hyperparameters(model)
    same, _ = fit_gp(X, Y, warm_start=saved)
    assert load_hyperparameters(same, saved)
    wider, info = fit_gp(torch.rand(8, 3, dtype=torch.double), Y, warm_start=saved)
    assert info["warm_started"] is False
    assert not load_hyperparameters(wider, saved)


@pytest.mark.parametrize(("growth", "expected"), [(0.1, [1, 0, 0, 0, 0, 1, 0]), (0.0, [1] * 7)])
def test_hyperparameters_are_refit_as_the_history_grows(growth, expected):
    """At 50 points and `refit_growth=0.1` the fit is redone every 5 new points; in between
    an ask conditions on the new points with the cached hyperparameters."""
    gp = GP({"refit_growth": growth, "num_restarts": 1, "raw_samples": 16})
    state, refits = None, []
    for k in range(7):
        proposal = gp.suggest(make_snapshot(BOX_2D, n_completed=50 + k, fn=bowl), 1, state)
        state = proposal.state
        refits.append(int(proposal.info["refit"]))
        if not proposal.info["refit"]:
            assert proposal.info["fit_points"] == 0
    assert refits == expected
    assert state["fit_n"] == 55 if growth else state["fit_n"] == 56


def test_matern_kernel_option():
    snapshot = make_snapshot(BOX_2D, 15, bowl)
    proposal = GP({"kernel": "matern52"}).suggest(snapshot, 1, None)
    assert proposal.strategies == ["gp"]
    assert proposal.state["signature"]["kernel"] == "matern52"
    assert "kernel" not in GP().suggest(snapshot, 1, None).state["signature"]
    X = torch.rand(12, 2, dtype=torch.double)
    Y = ((X - 0.3) ** 2).sum(-1, keepdim=True)
    model, _ = fit_gp(X, Y, kernel="matern52")
    assert type(model.covar_module).__name__ == "MaternKernel" and model.covar_module.nu == 2.5
    assert type(fit_gp(X, Y)[0].covar_module).__name__ == "RBFKernel"
    with pytest.raises(ValueError, match="kernel"):
        GP({"kernel": "linear"})


def test_sample_around_best_option_reaches_the_start_points(monkeypatch):
    import botorch.optim.initializers as initializers

    calls = []
    original = initializers.sample_points_around_best

    def counted(*args, **kwargs):
        calls.append(kwargs.get("n_discrete_points"))
        return original(*args, **kwargs)

    monkeypatch.setattr(initializers, "sample_points_around_best", counted)
    snapshot = make_snapshot(BOX_2D, 15, bowl)
    GP().suggest(snapshot, 1, None)
    assert calls == []
    proposal = GP({"sample_around_best": True}).suggest(snapshot, 1, None)
    assert calls and proposal.strategies == ["gp"]
    assert np.linalg.norm(cube(snapshot, proposal.points)[0] - OPTIMUM) < 0.15


def test_ei_incumbent_option():
    snapshot = make_snapshot(BOX_2D, 15, bowl)
    proposal = GP({"ei_incumbent": "posterior_mean"}).suggest(snapshot, 1, None)
    assert proposal.info["acquisition"] == "LogExpectedImprovement"
    assert np.linalg.norm(cube(snapshot, proposal.points)[0] - OPTIMUM) < 0.15
    with pytest.raises(ValueError, match="ei_incumbent"):
        GP({"ei_incumbent": "best"})


def test_posterior_mean_incumbent_is_the_models_best_mean():
    from asktell.strategies._model_based import TrainingData, _incumbent

    torch.manual_seed(0)
    X = torch.rand(20, 2, dtype=torch.double)
    Y = -((X - 0.5) ** 2).sum(-1, keepdim=True) + 0.05 * torch.randn(20, 1, dtype=torch.double)
    data = TrainingData(X, Y, torch.zeros(20, 0, dtype=torch.double), torch.zeros(0, 2))
    model, _ = fit_gp(X, Y)
    assert _incumbent(model, data, "observed") == Y.max()
    expected = model.posterior(X).mean.max()
    assert torch.isclose(_incumbent(model, data, "posterior_mean"), expected)
    assert _incumbent(model, data, "posterior_mean") < Y.max()  # the noise is smoothed away
