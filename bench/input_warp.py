"""`gp` and `ibnn` of the BNN suite with a learned input warp per input.

Each input passes through the CDF of a Kumaraswamy distribution, `1 - (1 - x^a)^b`,
before the kernel sees it (BoTorch's `Warp`, Snoek et al. 2014), with `a` and `b` fitted
by marginal likelihood with the other hyperparameters under LogNormal(0, sqrt(0.75))
priors, BoTorch's own choice for them. A monotone warp per input makes a separable
non-stationary function (such as `nonstationary-4d`, whose wiggles speed up as `x^3`)
closer to stationary, so it tests whether such a problem needs a network or only a warp.
`ibnn` has the warp as its option `input_warp`; for `gp` this script puts it in front of
`Normalize` (in its own worker processes only), as a control.

Usage: `python -m bench.input_warp --problems nonstationary-4d --seeds 10 --out FILE`; its
runs are the methods `gp{"input_warp":true}` and `ibnn{"input_warp":true}` (with the
strategy's `--options`) of `python bench/bnn_suite.py --report FILE OTHER_FILES...`.
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.models.transforms.input import ChainedInputTransform, Normalize

import asktell.surrogates.gp as gp_surrogate
from asktell.surrogates.bnn_kernels import kumaraswamy_warp
from bench.bnn_suite import variant_main

WARPED = {"input_warp": True}


def warped_normalize(d: int, bounds: torch.Tensor, indices: list[int] | None = None):
    """`gp`'s `Normalize`, after the warp of every input."""
    plain = Normalize(d=d, bounds=bounds, indices=indices)
    return ChainedInputTransform(warp=kumaraswamy_warp(d, range(d)).to(bounds), norm=plain)


def warp_inputs(strategy: str, options: dict[str, Any]) -> dict[str, Any]:
    """Warp the inputs of `strategy` in this process; its options for that. Patching
    again in a reused worker changes nothing: the patch wraps the original."""
    if strategy == "gp":
        gp_surrogate.Normalize = warped_normalize
        return options
    return {**options, **WARPED}


if __name__ == "__main__":
    variant_main(__doc__, warp_inputs, WARPED, ["gp", "ibnn"])
