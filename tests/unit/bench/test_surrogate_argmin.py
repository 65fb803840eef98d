"""bench/surrogate_argmin.py: the posterior mean's minimizer."""

from __future__ import annotations

import numpy as np
import torch

from bench.surrogate_argmin import FITS, ibnn_variant, mean_minimizer, normalized_rmse


def test_the_minimizer_of_a_fitted_bowl_is_near_its_bottom():
    rng = np.random.default_rng(0)
    X = rng.random((30, 2))
    y = ((X - [0.3, 0.7]) ** 2).sum(axis=1)
    Y = torch.tensor((y - y.mean()) / y.std()).unsqueeze(-1)
    model = FITS["gp"](torch.tensor(X), Y)
    x = mean_minimizer(model, np.vstack([X[y.argmin()], rng.random((2, 2))]))
    assert np.all((x >= 0) & (x <= 1))
    assert np.abs(x - [0.3, 0.7]).max() < 0.05


def test_an_ibnn_variant_passes_its_keywords_to_the_fit():
    rng = np.random.default_rng(1)
    X = torch.tensor(rng.random((20, 3)))
    Y = (X**2).sum(-1, keepdim=True)
    name, fit = ibnn_variant('uv={"unit_variance": true, "depth": 2}')
    model = fit(X, (Y - Y.mean()) / Y.std())
    assert name == "uv"
    assert any(type(m).__name__ == "UnitVariance" for m in model.modules())
    assert {m.depth for m in model.modules() if hasattr(m, "depth")} == {2}


class _ConstantMean:
    """A stand-in posterior whose mean is one value everywhere (standardized units)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def posterior(self, X: torch.Tensor):
        return type("Posterior", (), {"mean": torch.full((len(X), 1), self.value)})()


def test_the_normalized_rmse_is_the_error_over_the_spread_in_the_outcomes_units():
    X = np.zeros((4, 1))
    y = np.array([0.0, 2.0, 0.0, 2.0])  # spread 1
    # a standardized mean of 0.5 with mean 0 and std 2 predicts 1 everywhere
    assert normalized_rmse(_ConstantMean(0.5), X, y, mean=0.0, std=2.0) == 1.0
    assert normalized_rmse(_ConstantMean(0.0), X, y, mean=0.0, std=2.0) == np.sqrt(2.0)
