"""bench/input_warp.py: `gp` and `ibnn` with a learned Kumaraswamy input warp."""

from __future__ import annotations

import pytest
import torch
from botorch.models.transforms.input import Warp

import asktell.surrogates.gp as gp_surrogate
from bench.bnn_suite import label, run_variant
from bench.input_warp import WARPED, warp_inputs


@pytest.fixture(autouse=True)
def _restore_gp(monkeypatch):
    # a `gp` run patches the module it fits with; restore it for the other tests
    monkeypatch.setattr(gp_surrogate, "Normalize", gp_surrogate.Normalize)


def test_gp_runs_warp_each_input_once_however_many_runs_a_worker_makes():
    for _ in range(2):
        run = run_variant(warp_inputs, WARPED, "nonstationary-4d", "gp", 0, 6, 4, 2, {})
    assert label(run) == 'gp{"input_warp":true}'
    assert len(run["regret"]) == 6
    X = torch.rand(8, 3, dtype=torch.float64)
    model = gp_surrogate.build_gp(X, X.sum(-1, keepdim=True))
    (warp,) = [m for m in model.modules() if isinstance(m, Warp)]
    assert warp.indices.tolist() == [0, 1, 2]


def test_ibnn_runs_use_the_strategy_option_under_the_same_label():
    run = run_variant(
        warp_inputs, WARPED, "nonstationary-4d", "ibnn", 0, 6, 4, 2, {"trust_region": 1.0}
    )
    assert label(run) == 'ibnn{"input_warp":true,"trust_region":1.0}'
    assert len(run["regret"]) == 6
