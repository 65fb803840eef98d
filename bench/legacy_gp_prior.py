"""`gp` of the BNN suite under BoTorch's GP prior from before 0.12, the baseline of Li et al.

Li et al.'s study compared its networks with `botorch.models.SingleTaskGP` as it was in
2023: a Matérn-5/2 ARD kernel with Gamma(3, 6) lengthscales under a scale kernel with a
Gamma(2, 0.15) outputscale. BoTorch 0.12 (September 2024) replaced these by its
dimension-scaled log-normal lengthscale prior, which asktell's `gp` uses. This script runs
`gp` of `bench/bnn_suite.py` unchanged but for that kernel (the noise prior stays
asktell's), so the suite's networks can be compared with the study's baseline as well.

Usage: `python -m bench.legacy_gp_prior --problems poly-40d --seeds 10 --out FILE`; read
the file with `python bench/bnn_suite.py --report FILE OTHER_FILES...`, where its runs are
the method `gp{"prior":"botorch<0.12"}`.
"""

from __future__ import annotations

from typing import Any

from bench.bnn_suite import variant_main

LEGACY = {"prior": "botorch<0.12"}


def legacy_kernel(ard_num_dims, batch_shape=None, use_rbf_kernel=True, active_dims=None):
    """BoTorch's `SingleTaskGP` kernel before 0.12 (the arguments of the function it
    replaces; the kernel is Matérn-5/2 whatever `use_rbf_kernel` says)."""
    from gpytorch.kernels import MaternKernel, ScaleKernel
    from gpytorch.priors import GammaPrior

    base = MaternKernel(
        nu=2.5,
        ard_num_dims=ard_num_dims,
        batch_shape=batch_shape,
        active_dims=active_dims,
        lengthscale_prior=GammaPrior(3.0, 6.0),
    )
    return ScaleKernel(base, batch_shape=batch_shape, outputscale_prior=GammaPrior(2.0, 0.15))


def use_legacy_kernel(strategy: str, options: dict[str, Any]) -> dict[str, Any]:
    """Swap `gp`'s kernel for the legacy one in this process; `gp`'s options for it."""
    import asktell.surrogates.gp as gp_surrogate

    gp_surrogate.get_covar_module_with_dim_scaled_prior = legacy_kernel
    return {"kernel": "matern52", **options}


if __name__ == "__main__":
    variant_main(__doc__, use_legacy_kernel, LEGACY, ["gp"])
