"""Sample-based neural-network surrogates on unit-cube data (BoTorch models, float64).

A network here is a small tanh MLP. Many of them (ensemble members or
posterior draws of a Bayesian network) are held as stacked weights with a
leading member dimension `s` and evaluated in one batched pass;
`MLPEnsembleModel` wraps them as a BoTorch `EnsembleModel`, so every MC
acquisition function sees a mixture over the members. `fit_ensemble` trains a
deep ensemble (bootstrapped members, MAP with a Gaussian weight prior).
`predict` gives predictive means and variances (observation noise included)
for any surrogate used here, GP or not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from botorch.models.ensemble import EnsembleModel
from botorch.models.model import Model
from botorch.posteriors.ensemble import EnsemblePosterior
from botorch.posteriors.posterior import Posterior
from torch import Tensor

__all__ = [
    "Layers",
    "MLPEnsembleModel",
    "MLPLayout",
    "MemberPosterior",
    "fit_ensemble",
    "mlp",
    "predict",
    "standardize",
]

Layers = list[tuple[Tensor, Tensor]]
"""Per layer `(W, b)`: `W` is `s x fan_in x fan_out`, `b` is `s x 1 x fan_out`."""

MIN_NOISE_VAR = 1e-4
"""Floor on the noise variance in standardized units."""


class MemberPosterior(EnsemblePosterior):
    """An ensemble posterior that also accepts standard-normal base samples.

    Each MC sample picks one member for all `q` points and outputs. Integer
    base samples (`IndexSampler`) are member indices; floating base samples
    (e.g. from `SobolQMCNormalSampler`) are mapped to members through the
    normal CDF of their first entry, so quasi-random draws stratify the members.
    """

    @property
    def base_sample_shape(self) -> torch.Size:
        return self.values.shape[:-3] + self.values.shape[-2:]

    @property
    def batch_range(self) -> tuple[int, int]:
        return (0, -2)

    def rsample_from_base_samples(self, sample_shape: torch.Size, base_samples: Tensor) -> Tensor:
        if base_samples.is_floating_point():
            u = torch.special.ndtr(base_samples[..., 0, 0])
            cdf = self.weights.cumsum(-1)
            index = torch.searchsorted(cdf.contiguous(), u.contiguous().reshape(-1))
            base_samples = index.clamp(max=self.ensemble_size - 1).reshape(u.shape)
        return super().rsample_from_base_samples(sample_shape, base_samples)


class MLPLayout:
    """Layer sizes of an MLP and the map between stacked layers and flat vectors."""

    def __init__(self, sizes: Sequence[int]):
        self.sizes = list(sizes)
        self.shapes = [(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True)]
        self.numel = sum(a * b + b for a, b in self.shapes)

    def unflatten(self, theta: Tensor) -> Layers:
        """`s x P` flat parameters → stacked layers."""
        layers, i = [], 0
        for a, b in self.shapes:
            W = theta[:, i : i + a * b].reshape(-1, a, b)
            i += a * b
            layers.append((W, theta[:, i : i + b].reshape(-1, 1, b)))
            i += b
        return layers

    def prior_scale(self, like: Tensor) -> Tensor:
        """`P` standard deviations: `1 / sqrt(fan_in)` for weights, 1 for biases."""
        parts = []
        for a, b in self.shapes:
            parts += [torch.full((a * b,), a**-0.5), torch.ones(b)]
        return torch.cat(parts).to(like)

    def init(self, s: int, like: Tensor) -> Tensor:
        """`s x P` random parameters drawn from the prior (torch's global generator)."""
        return torch.randn(s, self.numel, dtype=like.dtype, device=like.device) * self.prior_scale(
            like
        )


def mlp(layers: Layers, X: Tensor) -> Tensor:
    """Evaluate `s` stacked tanh MLPs.

    Args:
        layers: Stacked layers (see `Layers`).
        X: A `batch x q x d` (or `q x d`) tensor of inputs.

    Returns:
        A `batch x s x q x m` (or `s x q x m`) tensor of outputs.
    """
    h = X.unsqueeze(-3)
    for i, (W, b) in enumerate(layers):
        h = h @ W + b
        if i < len(layers) - 1:
            h = torch.tanh(h)
    return h


def standardize(Y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """`n x m` outputs → (standardized `n x m`, mean `m`, std `m`)."""
    mean = Y.mean(0)
    std = Y.std(0) if Y.shape[0] > 1 else torch.ones_like(mean)
    std = torch.where(std > 1e-9, std, torch.ones_like(std))
    return (Y - mean) / std, mean, std


class MLPEnsembleModel(EnsembleModel):
    """A mixture of `s` MLPs as a BoTorch model (outputs in the original units).

    Args:
        layers: Stacked layers of the members, trained on standardized outputs.
        y_mean: A `m` tensor, the output mean removed before training.
        y_std: A `m` tensor, the output scale removed before training.
        noise_var: A `m` tensor, the observation-noise variance in standardized units.
    """

    def __init__(self, layers: Layers, y_mean: Tensor, y_std: Tensor, noise_var: Tensor):
        super().__init__()
        self.layers = [(W.detach(), b.detach()) for W, b in layers]
        self.y_mean, self.y_std, self.noise_var = y_mean, y_std, noise_var
        self._num_outputs = int(y_mean.shape[-1])

    @property
    def size(self) -> int:
        return int(self.layers[0][0].shape[0])

    def forward(self, X: Tensor) -> Tensor:
        """`batch x q x d` → `batch x s x q x m`."""
        return mlp(self.layers, X) * self.y_std + self.y_mean

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        posterior_transform: Any = None,
        **kwargs: Any,
    ) -> Posterior:
        values = self.forward(X)
        if output_indices is not None:
            values = values[..., output_indices]
        posterior = MemberPosterior(values=values)
        return posterior_transform(posterior=posterior, X=X) if posterior_transform else posterior


def _bootstrap(s: int, n: int, like: Tensor) -> Tensor:
    """`s x n x 1` bootstrap multiplicities (each row sums to `n`)."""
    idx = torch.randint(0, n, (s, n), device=like.device)
    counts = torch.zeros(s, n, dtype=like.dtype, device=like.device)
    counts.scatter_add_(1, idx, torch.ones_like(counts))
    return counts.unsqueeze(-1)


def fit_ensemble(
    X: Tensor,
    Y: Tensor,
    *,
    members: int = 8,
    hidden: Sequence[int] = (64, 64),
    epochs: int = 500,
    lr: float = 1e-2,
    weight_decay: float = 1e-3,
    bootstrap: bool = True,
    time_budget_sec: float | None = None,
) -> tuple[MLPEnsembleModel, dict[str, Any]]:
    """Train a deep ensemble on all members at once (full-batch Adam).

    Each member starts from its own prior draw and, with `bootstrap`, sees its
    own bootstrap resample of the data; its loss is the weighted mean squared
    error plus `weight_decay` times its squared prior-scaled weights. Training
    stops after `epochs` or when `time_budget_sec` has passed, whichever is first.

    Args:
        X: A `n x d` tensor of inputs in [0, 1]^d.
        Y: A `n x m` tensor of outputs.

    Returns:
        The model and info: `epochs` run, `members`, `noise_var` (standardized).
    """
    deadline = math.inf if time_budget_sec is None else time.perf_counter() + time_budget_sec
    n, d = X.shape
    Z, y_mean, y_std = standardize(Y)
    layout = MLPLayout([d, *hidden, Y.shape[-1]])
    scale = layout.prior_scale(X)
    raw = (layout.init(members, X) / scale).requires_grad_(True)
    weights = _bootstrap(members, n, X) if bootstrap else torch.ones(members, n, 1).to(X)
    optimizer = torch.optim.Adam([raw], lr=lr)
    done = 0
    for done in range(1, epochs + 1):
        optimizer.zero_grad()
        err = (mlp(layout.unflatten(raw * scale), X) - Z).pow(2)
        loss = (weights * err).sum((-2, -1)) / n + weight_decay * raw.pow(2).sum(-1)
        loss.sum().backward()
        optimizer.step()
        if done % 10 == 0 and time.perf_counter() > deadline:
            break
    layers = layout.unflatten((raw * scale).detach())
    with torch.no_grad():
        residual = (mlp(layers, X).mean(0) - Z).pow(2).mean(0)
    noise_var = residual.clamp_min(MIN_NOISE_VAR)
    model = MLPEnsembleModel(layers, y_mean, y_std, noise_var)
    info = {"epochs": done, "members": members, "noise_var": noise_var.tolist()}
    return model, info


def predict(model: Model, X: Tensor) -> tuple[Tensor, Tensor]:
    """Predictive mean and variance of new observations at `X` (`k x d`), each `k x m`."""
    with torch.no_grad():
        if isinstance(model, MLPEnsembleModel):
            posterior = model.posterior(X)
            spread = torch.nan_to_num(posterior.variance, nan=0.0)  # NaN for one member
            var = spread + model.noise_var * model.y_std**2
            return posterior.mean, var
        posterior = model.posterior(X, observation_noise=True)
        return posterior.mean, posterior.variance
