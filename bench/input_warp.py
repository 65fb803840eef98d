"""`gp` and `ibnn` of the BNN suite with a learned input warp per input.

Each input passes through the CDF of a Kumaraswamy distribution, `1 - (1 - x^a)^b`,
before the kernel sees it (BoTorch's `Warp`, Snoek et al. 2014), with `a` and `b` fitted
by marginal likelihood with the other hyperparameters under LogNormal(0, sqrt(0.75))
priors, BoTorch's own choice for them. A monotone warp per input makes a separable
non-stationary function (such as `nonstationary-4d`, whose wiggles speed up as `x^3`)
closer to stationary, so it tests whether such a problem needs a network or only a warp.
For `gp` the warp comes before its `Normalize`; for `ibnn`, before the centring.

Usage: `python -m bench.input_warp --problems nonstationary-4d --seeds 10 --out FILE`; its
runs are the methods `gp{"input_warp":true}` and `ibnn{"input_warp":true}` (with the
strategy's `--options`) of `python bench/bnn_suite.py --report FILE OTHER_FILES...`.
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.models.transforms.input import ChainedInputTransform, Normalize, Warp
from gpytorch.priors import LogNormalPrior

import asktell.surrogates.bnn_kernels as network_kernels
import asktell.surrogates.gp as gp_surrogate
from asktell.surrogates.bnn_kernels import centered
from bench.bnn_suite import run_one, variant_main

WARPED = {"input_warp": True}


def kumaraswamy_warp(d: int) -> Warp:
    """A learned Kumaraswamy-CDF warp of all `d` inputs of the unit cube (float64)."""
    return Warp(
        d=d,
        indices=list(range(d)),
        concentration1_prior=LogNormalPrior(0.0, 0.75**0.5),
        concentration0_prior=LogNormalPrior(0.0, 0.75**0.5),
        bounds=torch.stack([torch.zeros(d), torch.ones(d)]).double(),
    )


def warped_normalize(d: int, bounds: torch.Tensor, indices: list[int] | None = None):
    """`gp`'s `Normalize`, after the warp."""
    plain = Normalize(d=d, bounds=bounds, indices=indices)
    return ChainedInputTransform(warp=kumaraswamy_warp(d).to(bounds), norm=plain)


def warped_centered(d: int) -> ChainedInputTransform:
    """`ibnn`'s centring, after the warp."""
    return ChainedInputTransform(warp=kumaraswamy_warp(d), center=centered(d))


def warp_inputs(strategy: str) -> None:
    """Put the warp in front of the input transform of `strategy`'s surrogate (in this
    process; patching again changes nothing, as each patch wraps the original)."""
    if strategy == "gp":
        gp_surrogate.Normalize = warped_normalize
    else:
        network_kernels.centered = warped_centered


def run_warped(
    problem: str,
    strategy: str,
    seed: int,
    budget: int,
    init: int,
    batch: int,
    options: dict[str, Any],
) -> dict:
    """One run of `strategy` with warped inputs, labelled as its own method."""
    warp_inputs(strategy)
    run = run_one(problem, strategy, seed, budget, init, batch, extra=options)
    return {**run, "options": {**options, **WARPED}}


if __name__ == "__main__":
    variant_main(__doc__, run_warped, ["gp", "ibnn"])
