"""bench/input_warp.py: `gp` and `ibnn` with a learned Kumaraswamy input warp."""

from __future__ import annotations

import math

import pytest
import torch
from botorch.models.transforms.input import Warp

import asktell.surrogates.bnn_kernels as network_kernels
import asktell.surrogates.gp as gp_surrogate
from bench.bnn_suite import label
from bench.input_warp import run_warped, warp_inputs


@pytest.fixture(autouse=True)
def _restore_the_surrogates(monkeypatch):
    # the runs patch the modules they fit with; restore them for the other tests
    monkeypatch.setattr(gp_surrogate, "Normalize", gp_surrogate.Normalize)
    monkeypatch.setattr(network_kernels, "centered", network_kernels.centered)


def _data(n: int = 30, d: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.rand(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    Y = (X**2 + 0.5 * torch.sin(10 * math.pi * X**3)).sum(-1, keepdim=True)
    return X, Y


@pytest.mark.parametrize("strategy", ["gp", "ibnn"])
def test_the_fitted_model_warps_each_input_once_even_when_patched_twice(strategy):
    warp_inputs(strategy)
    warp_inputs(strategy)  # a worker process runs many jobs: the patch must not stack
    X, Y = _data()
    if strategy == "gp":
        model, _ = gp_surrogate.fit_gp(X, Y)
    else:
        model, _ = network_kernels.fit_ibnn(X, Y)
    warps = [m for m in model.modules() if isinstance(m, Warp)]
    assert len(warps) == 1
    # the warp's shape was fitted, not left at the identity it starts from
    learned = torch.cat([warps[0].concentration0, warps[0].concentration1]).detach()
    assert not torch.allclose(learned, torch.ones_like(learned))
    # a warp keeps the corners (but for the clipping at 1e-7); the inside moves
    corners = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    inside = torch.full((1, 2), 0.5, dtype=torch.float64)
    expected = corners if strategy == "gp" else 2 * corners - 1
    assert torch.allclose(model.input_transform(corners), expected, atol=1e-2)
    plain = inside if strategy == "gp" else 2 * inside - 1
    assert not torch.allclose(model.input_transform(inside), plain, atol=1e-3)


def test_a_warped_run_is_a_method_of_its_own():
    run = run_warped("nonstationary-4d", "gp", 0, 8, 4, 2, {})
    assert label(run) == 'gp{"input_warp":true}'
    assert len(run["regret"]) == 8
