"""GP surrogates with neural-network kernels on unit-cube data (BoTorch, float64).

- `fit_ibnn`: an exact GP whose kernel is the infinite-width ReLU BNN
  (NNGP arc-cosine) kernel, BoTorch's `InfiniteWidthBNNKernel`. By default its
  weight and bias variances stay at Li et al.'s values (10, 1.3) and only the
  noise (and the output standardization) is fitted.
- `fit_dkl`: deep kernel learning, a GP with a Matérn-5/2 ARD kernel on the
  features of a tanh MLP; the MLP is pre-trained by regression, then MLP and
  kernel hyperparameters are trained jointly by marginal likelihood (Adam).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.kernels import InfiniteWidthBNNKernel
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.distributions import MultivariateNormal
from gpytorch.kernels import MaternKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior
from torch import Tensor, nn

__all__ = ["DKLGP", "fit_dkl", "fit_ibnn"]

IBNN_WEIGHT_VAR = 10.0
IBNN_BIAS_VAR = 1.3


def _likelihood(m: int, noisy: bool) -> GaussianLikelihood:
    """Inferred homoscedastic noise (LogNormal(-4, 1) prior), floored by `noisy`."""
    prior = LogNormalPrior(loc=-4.0, scale=1.0)
    return GaussianLikelihood(
        noise_prior=prior,
        batch_shape=torch.Size([m]) if m > 1 else torch.Size(),
        noise_constraint=GreaterThan(1e-4 if noisy else 1e-6, initial_value=0.02),
    )


def _batch(m: int) -> torch.Size:
    return torch.Size([m]) if m > 1 else torch.Size()


def fit_ibnn(
    X: Tensor,
    Y: Tensor,
    *,
    depth: int = 3,
    learn_variances: bool = False,
    noisy: bool = False,
    timeout_sec: float | None = None,
) -> tuple[SingleTaskGP, dict[str, Any]]:
    """An exact GP with the infinite-width BNN kernel, fitted by marginal likelihood.

    Args:
        X: A `n x d` tensor of inputs in [0, 1]^d (the kernel is not stationary:
            it depends on the origin and scale of the inputs).
        Y: A `n x m` tensor of outputs.
        depth: Hidden layers of the infinite-width network.
        learn_variances: Fit the weight and bias variances too (else fixed).
        noisy: Whether observations are noisy (sets the noise floor).
        timeout_sec: Cap on the fit time (single-output models).

    Returns:
        The model in eval mode and info: `weight_var`, `bias_var`.
    """
    m = Y.shape[-1]
    kernel = InfiniteWidthBNNKernel(depth=depth, batch_shape=_batch(m)).to(X)
    kernel.weight_var = IBNN_WEIGHT_VAR
    kernel.bias_var = IBNN_BIAS_VAR
    if not learn_variances:
        kernel.raw_weight_var.requires_grad_(False)
        kernel.raw_bias_var.requires_grad_(False)
    model = SingleTaskGP(
        X,
        Y,
        likelihood=_likelihood(m, noisy).to(X),
        covar_module=kernel,
        outcome_transform=Standardize(m=m),
    )
    kwargs: dict[str, Any] = {}
    if timeout_sec is not None and m == 1:
        kwargs["timeout_sec"] = timeout_sec
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model), optimizer_kwargs=kwargs)
    model.eval()
    info = {
        "weight_var": kernel.weight_var.detach().reshape(-1).tolist(),
        "bias_var": kernel.bias_var.detach().reshape(-1).tolist(),
    }
    return model, info


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
            likelihood=_likelihood(m, noisy),
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
