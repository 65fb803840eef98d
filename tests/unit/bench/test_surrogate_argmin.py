"""bench/surrogate_argmin.py: the posterior mean's minimizer."""

from __future__ import annotations

import numpy as np
import torch

from bench.surrogate_argmin import FITS, mean_minimizer


def test_the_minimizer_of_a_fitted_bowl_is_near_its_bottom():
    rng = np.random.default_rng(0)
    X = rng.random((30, 2))
    y = ((X - [0.3, 0.7]) ** 2).sum(axis=1)
    Y = torch.tensor((y - y.mean()) / y.std()).unsqueeze(-1)
    model = FITS["gp"](torch.tensor(X), Y)
    x = mean_minimizer(model, np.vstack([X[y.argmin()], rng.random((2, 2))]))
    assert np.all((x >= 0) & (x <= 1))
    assert np.abs(x - [0.3, 0.7]).max() < 0.05
