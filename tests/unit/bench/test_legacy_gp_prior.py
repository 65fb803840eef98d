"""bench/legacy_gp_prior.py: `gp` under BoTorch's GP prior from before 0.12."""

from __future__ import annotations

import torch
from gpytorch.kernels import MaternKernel, ScaleKernel
from gpytorch.priors import GammaPrior

import asktell.surrogates.gp as gp_surrogate
from bench.bnn_suite import label, run_variant
from bench.legacy_gp_prior import LEGACY, legacy_kernel, use_legacy_kernel


def test_the_legacy_kernel_is_a_scaled_matern_under_gamma_priors():
    kernel = legacy_kernel(3, torch.Size())
    assert isinstance(kernel, ScaleKernel) and isinstance(kernel.base_kernel, MaternKernel)
    assert kernel.base_kernel.nu == 2.5 and kernel.base_kernel.lengthscale.shape[-1] == 3
    prior = kernel.base_kernel.lengthscale_prior
    assert isinstance(prior, GammaPrior)
    assert (prior.concentration.item(), prior.rate.item()) == (3.0, 6.0)


def test_a_legacy_run_fits_the_legacy_kernel_and_is_a_method_of_its_own(monkeypatch):
    # the run patches the module it fits with; restore it for the other tests
    monkeypatch.setattr(
        gp_surrogate,
        "get_covar_module_with_dim_scaled_prior",
        gp_surrogate.get_covar_module_with_dim_scaled_prior,
    )
    run = run_variant(use_legacy_kernel, LEGACY, "nonstationary-4d", "gp", 0, 8, 4, 2, {})
    assert label(run) == 'gp{"prior":"botorch<0.12"}'
    assert len(run["regret"]) == 8
    X, Y = torch.rand(6, 2, dtype=torch.float64), torch.rand(6, 1, dtype=torch.float64)
    assert isinstance(gp_surrogate.build_gp(X, Y).covar_module, ScaleKernel)  # patched
