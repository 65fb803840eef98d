"""GP surrogates with neural-network kernels on unit-cube data (BoTorch, float64).

- `fit_ibnn`: an exact GP whose kernel is the infinite-width ReLU BNN
  (NNGP arc-cosine) kernel, BoTorch's `InfiniteWidthBNNKernel`, on inputs
  centred to [-1, 1]^d. By default its weight and bias variances stay at Li et
  al.'s values (10, 1.3) and the noise and one relevance per input are fitted,
  the relevances under a prior that switches off inputs the data do not need.
  Optionally, chosen inputs are first warped by learned Kumaraswamy CDFs, and the
  kernel is normalized to a constant prior variance (`UnitVariance`).
- `fit_dkl`: deep kernel learning, a GP with a Matérn-5/2 ARD kernel on the
  features of a tanh MLP; the MLP is pre-trained by regression, then MLP and
  kernel hyperparameters are trained jointly by marginal likelihood (Adam).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.kernels import InfiniteWidthBNNKernel
from botorch.models.transforms.input import (
    AffineInputTransform,
    ChainedInputTransform,
    InputTransform,
    Warp,
)
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.distributions import MultivariateNormal
from gpytorch.kernels import Kernel, MaternKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior
from linear_operator.utils.errors import NotPSDError
from torch import Tensor, nn

from asktell.surrogates.gp import NOISELESS_NOISE_FLOOR, NOISY_NOISE_FLOOR

__all__ = [
    "DKLGP",
    "RelevanceScaled",
    "UnitVariance",
    "centered",
    "fit_dkl",
    "fit_ibnn",
    "kumaraswamy_warp",
]

IBNN_WEIGHT_VAR = 10.0
IBNN_BIAS_VAR = 1.3
IBNN_NOISE_FLOOR = 1e-4
"""Noise floor of `ibnn` (standardized units), noisy or not: the kernel's prior variance is
hundreds of times the data's, so a lower floor leaves its Gram matrix numerically singular."""
IBNN_SAFE_NOISE_FLOOR = 1e-2
"""Noise floor of the last retry of a failed `ibnn` ask. Learned relevances can raise the
kernel's prior variance to 1e5 times the data's; with many points close to the best one
(hundreds of evaluations in a few dimensions), the posterior covariance of the best point
then came out negative under the default floor, and every acquisition value NaN."""
MIN_RELEVANCE_SCALE = 0.05
"""Smallest input scale `l` of `RelevanceScaled` (at most 20x the plain kernel's relevance)."""
RELEVANCE_PRIOR_LOC = 8.0
"""Default `loc` of the LogNormal(loc, sqrt(3)) prior on the input scales `l` of `ibnn`:
a steady pull towards irrelevant inputs (median relevance `exp(-8)`), the analogue of
the dimension-scaled lengthscale prior of `gp` (see `RelevanceScaled`)."""

logger = logging.getLogger(__name__)


def _likelihood(m: int, floor: float) -> GaussianLikelihood:
    """Inferred homoscedastic noise (LogNormal(-4, 1) prior) of at least `floor`."""
    prior = LogNormalPrior(loc=-4.0, scale=1.0)
    return GaussianLikelihood(
        noise_prior=prior,
        batch_shape=torch.Size([m]) if m > 1 else torch.Size(),
        noise_constraint=GreaterThan(floor, initial_value=max(0.02, 2 * floor)),
    )


def _batch(m: int) -> torch.Size:
    return torch.Size([m]) if m > 1 else torch.Size()


def fit_ibnn(
    X: Tensor,
    Y: Tensor,
    *,
    depth: int = 3,
    learn_variances: bool = False,
    ard: bool = True,
    relevance_prior_loc: float = RELEVANCE_PRIOR_LOC,
    noise_floor: float = IBNN_NOISE_FLOOR,
    warp_dims: Sequence[int] = (),
    unit_variance: bool = False,
    timeout_sec: float | None = None,
) -> tuple[SingleTaskGP, dict[str, Any]]:
    """An exact GP with the infinite-width BNN kernel, fitted by marginal likelihood.

    The inputs are centred (see `centered`); with `ard`, each input also gets a
    learned relevance (see `RelevanceScaled`), and a fit that fails with them is
    redone without them (`info["ard"]` says which was kept).

    Args:
        X: A `n x d` tensor of inputs in [0, 1]^d.
        Y: A `n x m` tensor of outputs.
        depth: Hidden layers of the infinite-width network.
        learn_variances: Fit the weight and bias variances too (else fixed).
        ard: Learn one relevance (inverse input scale) per input.
        relevance_prior_loc: `loc` of the LogNormal(loc, sqrt(3)) prior on the input
            scales (0: centred on the plain kernel; larger: more inputs switched off).
        noise_floor: Lower bound of the inferred noise (standardized units), the same
            whether or not the study is noisy (see `IBNN_NOISE_FLOOR`).
        warp_dims: Inputs warped before the centring (see `kumaraswamy_warp`).
        unit_variance: Normalize the kernel to a constant prior variance under a learned
            output scale (see `UnitVariance`).
        timeout_sec: Cap on the fit time (single-output models).

    Returns:
        The model in eval mode and info: `weight_var`, `bias_var`, `ard`, `noise_floor`,
        `warped_inputs` (how many).
    """
    common = {
        "depth": depth,
        "learn_variances": learn_variances,
        "noise_floor": noise_floor,
        "warp_dims": list(warp_dims),
        "unit_variance": unit_variance,
    }
    if ard:
        try:
            if relevance_prior_loc == 0:
                return _fit_ibnn(X, Y, ard=True, loc=0.0, timeout_sec=timeout_sec, **common)
            # Continuation: a fit under the neutral prior finds the inputs that matter,
            # then the fit under the sparsifying prior starts from its input scales,
            # noise and input warp. Started from the plain kernel instead, the strong
            # prior can switch off every input before the data pull the relevant ones
            # up; started from the default noise (0.02), it sometimes ended with every
            # input off and the data explained as noise (bench/RESULTS.md).
            half = None if timeout_sec is None else timeout_sec / 2
            first, _ = _fit_ibnn(X, Y, ard=True, loc=0.0, timeout_sec=half, **common)
            scales = next(k for k in first.modules() if isinstance(k, RelevanceScaled))
            warp = next((w for w in first.modules() if isinstance(w, Warp)), None)
            return _fit_ibnn(
                X,
                Y,
                ard=True,
                loc=relevance_prior_loc,
                timeout_sec=half,
                init_scales=scales.lengthscale.detach(),
                init_noise=first.likelihood.noise.detach(),
                init_warp=None if warp is None else warp.state_dict(),
                **common,
            )
        except (ModelFittingError, NotPSDError):
            logger.info("ibnn: the fit with input relevances failed; fitting without")
    return _fit_ibnn(X, Y, ard=False, loc=0.0, timeout_sec=timeout_sec, **common)


def _fit_ibnn(
    X: Tensor,
    Y: Tensor,
    *,
    depth: int,
    learn_variances: bool,
    ard: bool,
    loc: float,
    noise_floor: float,
    warp_dims: list[int],
    unit_variance: bool,
    timeout_sec: float | None,
    init_scales: Tensor | None = None,
    init_noise: Tensor | None = None,
    init_warp: dict[str, Tensor] | None = None,
) -> tuple[SingleTaskGP, dict[str, Any]]:
    m = Y.shape[-1]
    kernel = InfiniteWidthBNNKernel(depth=depth, batch_shape=_batch(m)).to(X)
    kernel.weight_var = IBNN_WEIGHT_VAR
    kernel.bias_var = IBNN_BIAS_VAR
    if not learn_variances:
        kernel.raw_weight_var.requires_grad_(False)
        kernel.raw_bias_var.requires_grad_(False)
    covar: Kernel = kernel
    if ard:
        covar = RelevanceScaled(kernel, X.shape[-1], _batch(m), prior_loc=loc).to(X)
        if init_scales is not None:
            covar.lengthscale = init_scales
    if unit_variance:
        covar = ScaleKernel(UnitVariance(covar), batch_shape=_batch(m)).to(X)
    d = X.shape[-1]
    inputs: InputTransform = centered(d)
    if warp_dims:
        warp = kumaraswamy_warp(d, warp_dims)
        if init_warp is not None:
            warp.load_state_dict(init_warp)
        inputs = ChainedInputTransform(warp=warp, center=inputs)
    model = SingleTaskGP(
        X,
        Y,
        likelihood=_likelihood(m, noise_floor).to(X),
        covar_module=covar,
        input_transform=inputs.to(X),
        outcome_transform=Standardize(m=m),
    )
    if init_noise is not None:
        model.likelihood.noise = init_noise
    kwargs: dict[str, Any] = {}
    if timeout_sec is not None and m == 1:
        kwargs["timeout_sec"] = timeout_sec
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model), optimizer_kwargs=kwargs)
    model.eval()
    info = {
        "weight_var": kernel.weight_var.detach().reshape(-1).tolist(),
        "bias_var": kernel.bias_var.detach().reshape(-1).tolist(),
        "ard": ard,
        "noise_floor": noise_floor,
        "warped_inputs": len(warp_dims),
        "unit_variance": unit_variance,
    }
    return model, info


class UnitVariance(Kernel):
    """`base(x, x') / sqrt(base(x, x) base(x', x'))`: the correlations of `base` with a
    prior variance of 1 everywhere.

    The infinite-width kernel's prior variance grows towards the faces of the box (see
    `centered`), so its acquisition values do too, which the strategies counter with a
    trust region. Normalized, the kernel keeps the network's correlations (by angle and
    norm from the centre) but is as uncertain at a face as in the middle, like `gp`'s.
    """

    def __init__(self, base: Kernel) -> None:
        super().__init__()
        self.base = base

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        var1 = self.base.forward(x1, x1, diag=True)
        if diag:
            return torch.ones_like(var1)
        var2 = self.base.forward(x2, x2, diag=True)
        k = self.base.forward(x1, x2, **params)
        return k / (var1.sqrt().unsqueeze(-1) * var2.sqrt().unsqueeze(-2))


class RelevanceScaled(Kernel):
    """`base(x / l, x' / l)` with one learned `l` per input (automatic relevance
    determination).

    For the infinite-width kernel this is a network whose first-layer weights on input
    `i` have prior variance proportional to `1 / l_i^2` (Neal's ARD prior), so
    irrelevant inputs can be switched off by marginal likelihood. For this kernel a
    larger input scale is also a larger function scale, so `l` sets the prior's
    amplitude too (rescaling `1 / l` to a fixed mean fitted worse; under `UnitVariance`
    a learned output scale sets it instead). `l` starts at 1 (the plain kernel) under a
    LogNormal(`prior_loc`, sqrt(3)) prior and stays above `MIN_RELEVANCE_SCALE`.

    The kernel already divides `x . x'` by `d`, so unlike `gp`'s dimension-scaled
    lengthscale prior this one needs no `log(d)` term; but a prior centred on the plain
    kernel (`prior_loc = 0`) leaves every input about as relevant as the others, and
    the fitted model is far too rough in high dimension. A large `prior_loc` pulls
    every `l` up steadily (a penalty of about `(prior_loc - log l) / 3` on the gradient
    of `log l`), so only inputs the data need keep a high relevance, and unneeded ones
    make the function smoother rather than rougher. At `n = 80` on `branin-in-30d`
    the prediction RMSE fell from about 14 (`prior_loc = 0`) to 2.5 / 1.4 (8; `gp`: 2.0
    / 1.0); larger values made `ellipsoid-50d` worse (see bench/RESULTS.md). Started
    from the plain kernel, such a prior can switch off every input at once, so
    `fit_ibnn` starts it from a fit under the neutral prior.
    """

    has_lengthscale = True

    def __init__(
        self, base: Kernel, d: int, batch_shape: torch.Size, prior_loc: float = 0.0
    ) -> None:
        super().__init__(
            ard_num_dims=d,
            batch_shape=batch_shape,
            lengthscale_prior=LogNormalPrior(loc=prior_loc, scale=math.sqrt(3.0)),
            lengthscale_constraint=GreaterThan(
                MIN_RELEVANCE_SCALE, transform=None, initial_value=1.0
            ),
        )
        self.base = base

    def relevance(self) -> Tensor:
        """`1 / l`, one per input."""
        return self.lengthscale.reciprocal()

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        r = self.relevance()
        return self.base.forward(x1 * r, x2 * r, diag=diag, **params)


def centered(d: int) -> AffineInputTransform:
    """The map `x -> 2x - 1` from [0, 1]^d to [-1, 1]^d, as a BoTorch input transform.

    The infinite-width kernel is not stationary: its prior variance grows with `|x|`
    and its correlations depend on the angle between inputs seen from the origin.
    On raw unit-cube inputs the origin is a corner: with Li et al.'s variances and
    depth 3 the far corner `(1, ..., 1)` has 7 times the prior variance of the
    origin (2.3 times that of a typical uniform point), so the model is lopsided
    towards one corner. Centred inputs make the kernel symmetric about the middle of
    the search box (its variance still grows towards the faces; see the strategies'
    trust region).
    """
    half = torch.full((d,), 0.5)
    return AffineInputTransform(d=d, coefficient=half, offset=half)


def kumaraswamy_warp(d: int, dims: Sequence[int]) -> Warp:
    """A learned warp `x -> 1 - (1 - x^a)^b` of each input in `dims` of [0, 1]^d (the
    Kumaraswamy CDF, BoTorch's `Warp`, Snoek et al. 2014), `a` and `b` under BoTorch's
    LogNormal(0, sqrt(0.75)) priors, starting at the identity.

    A monotone warp per input lets a kernel fit a function whose wiggles speed up or slow
    down along an input (non-stationary along it) as if they did not.
    """
    prior = math.sqrt(0.75)
    return Warp(
        d=d,
        indices=list(dims),
        concentration1_prior=LogNormalPrior(0.0, prior),
        concentration0_prior=LogNormalPrior(0.0, prior),
        bounds=torch.stack([torch.zeros(d), torch.ones(d)]).double(),
    )


class DKLGP(SingleTaskGP):
    """`SingleTaskGP` whose kernel sees `feature_extractor(x)` instead of `x`."""

    def __init__(self, X: Tensor, Y: Tensor, feature_extractor: nn.Module, features: int, noisy):
        m = Y.shape[-1]
        kernel = ScaleKernel(
            MaternKernel(nu=2.5, ard_num_dims=features, batch_shape=_batch(m)),
            batch_shape=_batch(m),
        )
        super().__init__(
            X,
            Y,
            likelihood=_likelihood(m, NOISY_NOISE_FLOOR if noisy else NOISELESS_NOISE_FLOOR),
            covar_module=kernel,
            outcome_transform=Standardize(m=m),
        )
        self.feature_extractor = feature_extractor

    def forward(self, x: Tensor) -> MultivariateNormal:
        if self.training:
            x = self.transform_inputs(x)
        z = self.feature_extractor(x)
        return MultivariateNormal(self.mean_module(z), self.covar_module(z))


def _extractor(d: int, hidden: Sequence[int], features: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip([d, *hidden], [*hidden, features], strict=True):
        layers += [nn.Linear(a, b), nn.Tanh()]
    return nn.Sequential(*layers)


def fit_dkl(
    X: Tensor,
    Y: Tensor,
    *,
    hidden: Sequence[int] = (32, 32),
    features: int | None = None,
    pretrain_steps: int = 200,
    train_steps: int = 200,
    lr: float = 1e-2,
    noisy: bool = False,
    time_budget_sec: float | None = None,
) -> tuple[DKLGP, dict[str, Any]]:
    """Deep kernel learning: pre-train the MLP with a linear head, then fit everything by MLL.

    Args:
        X: A `n x d` tensor of inputs in [0, 1]^d.
        Y: A `n x m` tensor of outputs.
        features: Width of the learned feature space (default `min(d, 8)`, at least 2).
        time_budget_sec: Wall-clock cap; pre-training may use up to a third of it.

    Returns:
        The model in eval mode and info: `pretrain_steps`, `train_steps` run.
    """
    start = time.perf_counter()
    budget = math.inf if time_budget_sec is None else time_budget_sec
    d, m = X.shape[-1], Y.shape[-1]
    k = features or max(2, min(d, 8))
    extractor = _extractor(d, hidden, k).to(X)
    head = nn.Linear(k, m).to(X)
    Z = (Y - Y.mean(0)) / Y.std(0).clamp_min(1e-9)
    optimizer = torch.optim.Adam([*extractor.parameters(), *head.parameters()], lr=lr)
    pre = 0
    for pre in range(1, pretrain_steps + 1):
        optimizer.zero_grad()
        loss = (head(extractor(X)) - Z).pow(2).mean()
        loss.backward()
        optimizer.step()
        if pre % 10 == 0 and time.perf_counter() - start > budget / 3:
            break
    model = DKLGP(X, Y, extractor, k, noisy).to(X)
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = 0
    for steps in range(1, train_steps + 1):
        optimizer.zero_grad()
        output = model(*model.train_inputs)
        loss = -mll(output, model.train_targets).sum()
        loss.backward()
        optimizer.step()
        if steps % 5 == 0 and time.perf_counter() - start > budget:
            break
    model.eval()
    return model, {"pretrain_steps": pre, "train_steps": steps, "features": k}
