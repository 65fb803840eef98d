"""The neural-network surrogate strategies: `ibnn`, `bnn-ensemble`, `bnn-hmc`, `dkl`."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.sampling import SobolQMCNormalSampler
from botorch.sampling.index_sampler import IndexSampler
from strategy_cases import BOX_2D, StrategyCases, check_proposal, make_snapshot

from asktell.strategies.bnn import BNNHMC, DKL, IBNN, BNNEnsemble
from asktell.strategies.registry import get_strategy
from asktell.surrogates.bnn import fit_ensemble, predict
from asktell.surrogates.bnn_hmc import sample_hmc

FAST = {"num_restarts": 1, "raw_samples": 32, "maxiter": 25, "mc_samples": 16}
ENSEMBLE = {**FAST, "members": 4, "hidden": [16, 16], "epochs": 60}
HMC = {
    **FAST,
    "hidden": [16],
    "chains": 2,
    "num_samples": 4,
    "burn_in": 6,
    "leapfrog_steps": 5,
    "pretrain_steps": 30,
}
DKL_OPTIONS = {**FAST, "hidden": [16], "pretrain_steps": 20, "train_steps": 20}


class TestIBNN(StrategyCases):
    strategy_name = "ibnn"
    options = {**FAST, "depth": 2}

    def test_registered(self):
        assert get_strategy("ibnn") is IBNN


class TestBNNEnsemble(StrategyCases):
    strategy_name = "bnn-ensemble"
    options = ENSEMBLE

    def test_registered(self):
        assert get_strategy("bnn-ensemble") is BNNEnsemble


class TestBNNHMC(StrategyCases):
    strategy_name = "bnn-hmc"
    options = HMC

    def test_registered(self):
        assert get_strategy("bnn-hmc") is BNNHMC


class TestDKL(StrategyCases):
    strategy_name = "dkl"
    options = DKL_OPTIONS

    def test_registered(self):
        assert get_strategy("dkl") is DKL


def _data(n: int = 12, d: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g, dtype=torch.double)
    return X, (X - 0.3).pow(2).sum(-1, keepdim=True)


def test_ensemble_posterior_is_a_mixture_usable_by_both_samplers():
    X, Y = _data()
    model, info = fit_ensemble(X, Y, members=4, hidden=[8], epochs=30)
    assert info["epochs"] == 30
    posterior = model.posterior(X[:3])
    assert model(X[:3]).shape == (4, 3, 1)
    assert posterior.mean.shape == (3, 1)
    for sampler in (SobolQMCNormalSampler(torch.Size([8]), seed=0), IndexSampler(torch.Size([8]))):
        samples = sampler(model.posterior(X[:2].unsqueeze(0).expand(5, 2, 2)))
        assert samples.shape == (8, 5, 2, 1)
        assert torch.isfinite(samples).all()
    acq = qLogNoisyExpectedImprovement(model, X_baseline=X, X_pending=X[:1])
    assert torch.isfinite(acq(torch.rand(3, 1, 2, dtype=torch.double))).all()
    mean, var = predict(model, X[:3])
    assert mean.shape == var.shape == (3, 1) and (var > 0).all()


def test_hmc_respects_its_time_budget_and_keeps_a_draw_per_chain():
    X, Y = _data(30, 3)
    t0 = time.perf_counter()
    model, info = sample_hmc(X, Y, hidden=[16], chains=3, burn_in=1000, time_budget_sec=0.3)
    assert time.perf_counter() - t0 < 3.0
    assert info["stopped_early"] and info["draws"] >= 3
    assert model.size == info["draws"]


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("ibnn", FAST),
        ("bnn-ensemble", {**ENSEMBLE, "epochs": 100_000}),
        ("bnn-hmc", {**HMC, "burn_in": 100_000}),
        ("dkl", {**DKL_OPTIONS, "train_steps": 100_000}),
    ],
)
def test_tiny_time_budget_still_returns_valid_points(name, options):
    snapshot = make_snapshot(BOX_2D, 10)
    t0 = time.perf_counter()
    proposal = get_strategy(name)({**options, "time_budget_sec": 0.5}).suggest(snapshot, 2, None)
    elapsed = time.perf_counter() - t0
    check_proposal(snapshot, proposal, 2)
    assert proposal.strategies == [name, name]
    assert elapsed < 20.0  # generous: the machine running the tests may be shared


def test_ensemble_suggests_near_the_optimum_of_a_bowl():
    snapshot = make_snapshot(BOX_2D, 16, lambda p: {"value": (p["x"] - 0.3) ** 2 + p["y"] ** 2})
    proposal = BNNEnsemble({**ENSEMBLE, "epochs": 200}).suggest(snapshot, 1, None)
    x = np.array([proposal.points[0]["x"], proposal.points[0]["y"]])
    assert np.linalg.norm(x - np.array([0.3, 0.0])) < 0.35


def test_multi_objective_with_an_ensemble():
    from asktell_client.types import ObjectiveSpec

    def two(p):
        return {"f1": (p["x"] - 0.2) ** 2 + p["y"] ** 2, "f2": (p["x"] - 0.8) ** 2 + p["y"] ** 2}

    objectives = [ObjectiveSpec(name="f1"), ObjectiveSpec(name="f2")]
    snapshot = make_snapshot(BOX_2D, 10, two, objectives=objectives)
    proposal = BNNEnsemble(ENSEMBLE).suggest(snapshot, 1, None)
    check_proposal(snapshot, proposal, 1)
    assert proposal.info["acquisition"] == "qLogNoisyExpectedHypervolumeImprovement"
