"""Exact Gaussian-process surrogates on unit-cube data (BoTorch, float64).

`build_gp` makes a `SingleTaskGP` (or a `MixedSingleTaskGP` when there are
unordered categorical dimensions) with `Normalize` on the unit cube and
`Standardize` on the outputs. Several outputs (objectives and constraint
slacks) share one batched model. `fit_gp` fits its hyperparameters by maximum
marginal likelihood, optionally starting from hyperparameters exported by
`export_hyperparameters` on an earlier fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import MixedSingleTaskGP, SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.constraints import GreaterThan
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior
from torch import Tensor

__all__ = [
    "NOISELESS_NOISE_FLOOR",
    "NOISY_NOISE_FLOOR",
    "build_gp",
    "export_hyperparameters",
    "fit_gp",
    "load_hyperparameters",
]

NOISY_NOISE_FLOOR = 1e-4
"""Lower bound on the inferred noise variance (standardized units) for noisy studies."""

NOISELESS_NOISE_FLOOR = 1e-6
"""Lower bound for studies marked not noisy: near-interpolation is allowed, not forced."""


def _likelihood(batch_shape: torch.Size, noisy: bool) -> GaussianLikelihood:
    """Inferred homoscedastic noise with BoTorch's LogNormal(-4, 1) prior."""
    prior = LogNormalPrior(loc=-4.0, scale=1.0)
    floor = NOISY_NOISE_FLOOR if noisy else NOISELESS_NOISE_FLOOR
    return GaussianLikelihood(
        noise_prior=prior,
        batch_shape=batch_shape,
        noise_constraint=GreaterThan(floor, transform=None, initial_value=prior.mode),
    )


def build_gp(
    X: Tensor,
    Y: Tensor,
    *,
    cat_dims: Sequence[int] = (),
    noisy: bool = False,
    kernel: str = "rbf",
) -> SingleTaskGP:
    """An unfitted GP on unit-cube inputs.

    Args:
        X: A `n x d` tensor of training inputs in [0, 1]^d.
        Y: A `n x m` tensor of training outputs (one column per outcome).
        cat_dims: Indices of unordered categorical dimensions; with any, the
            model is a `MixedSingleTaskGP` and `Normalize` skips them.
        noisy: Whether observations are noisy (sets the noise floor).
        kernel: `rbf` (BoTorch's default) or `matern52`, both with BoTorch's
            dimension-scaled lengthscale prior (continuous dimensions without categoricals).

    Returns:
        A `SingleTaskGP` (batched over the `m` outputs when `m > 1`).
    """
    d, m = X.shape[-1], Y.shape[-1]
    batch_shape = torch.Size([m]) if m > 1 else torch.Size()
    likelihood = _likelihood(batch_shape, noisy).to(X)
    bounds = torch.stack([torch.zeros(d), torch.ones(d)]).to(X)
    outcome_transform = Standardize(m=m)
    if cat_dims:
        cont = [i for i in range(d) if i not in set(cat_dims)]
        input_transform = Normalize(d=d, bounds=bounds, indices=cont) if cont else None
        return MixedSingleTaskGP(
            X,
            Y,
            cat_dims=list(cat_dims),
            likelihood=likelihood,
            outcome_transform=outcome_transform,
            input_transform=input_transform,
        )
    covar_module = get_covar_module_with_dim_scaled_prior(
        ard_num_dims=d, batch_shape=batch_shape, use_rbf_kernel=kernel == "rbf"
    ).to(X)
    return SingleTaskGP(
        X,
        Y,
        likelihood=likelihood,
        covar_module=covar_module,
        outcome_transform=outcome_transform,
        input_transform=Normalize(d=d, bounds=bounds),
    )


def export_hyperparameters(model: torch.nn.Module) -> dict[str, list]:
    """The model's raw hyperparameters as JSON-safe nested lists, keyed by name."""
    return {name: p.detach().cpu().tolist() for name, p in model.named_parameters()}


def load_hyperparameters(model: torch.nn.Module, hyperparameters: Mapping[str, Any]) -> bool:
    """Copy exported hyperparameters into `model` when every name and shape matches.

    Returns:
        True if they were loaded, False if they did not fit this model (it is left as is).
    """
    params = dict(model.named_parameters())
    if set(params) != set(hyperparameters):
        return False
    values = {}
    for name, p in params.items():
        try:
            v = torch.as_tensor(hyperparameters[name], dtype=p.dtype, device=p.device)
        except (TypeError, ValueError):
            return False
        if v.shape != p.shape or not torch.isfinite(v).all():
            return False
        values[name] = v
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(values[name])
    return True


def fit_gp(
    X: Tensor,
    Y: Tensor,
    *,
    cat_dims: Sequence[int] = (),
    noisy: bool = False,
    warm_start: Mapping[str, Any] | None = None,
    maxiter: int | None = None,
    ftol: float | None = None,
    timeout_sec: float | None = None,
    max_fit_points: int | None = None,
    optimize: bool = True,
    kernel: str = "rbf",
) -> tuple[SingleTaskGP, dict[str, Any]]:
    """Build a GP and fit its hyperparameters by maximum marginal likelihood.

    With more than `max_fit_points` points, the hyperparameters are fit on a
    random subset of that size (drawn from torch's global generator) and the
    returned model conditions on all points with them.

    Args:
        X: A `n x d` tensor of training inputs in [0, 1]^d.
        Y: A `n x m` tensor of training outputs.
        cat_dims: Indices of unordered categorical dimensions.
        noisy: Whether observations are noisy.
        warm_start: Hyperparameters from `export_hyperparameters` to start the
            fit from; ignored when they do not match the model.
        maxiter: Cap on L-BFGS-B iterations per fit attempt.
        ftol: L-BFGS-B's relative tolerance on the marginal likelihood (scipy's
            default when None).
        timeout_sec: Cap on the time of the fit (single-output models only; BoTorch
            fits the outputs of a batched model independently and without a timeout).
        max_fit_points: Cap on the points the hyperparameters are fit on.
        optimize: False keeps the `warm_start` hyperparameters as they are (no fit) when
            they match the model; a model they do not match is fit anyway.
        kernel: See `build_gp`.

    Returns:
        The fitted model in eval mode and info: `warm_started` (bool) and
        `fit_points` (how many points the hyperparameters were fit on).
    """
    n = X.shape[0]
    if warm_start and not optimize:
        model = build_gp(X, Y, cat_dims=cat_dims, noisy=noisy, kernel=kernel)
        if load_hyperparameters(model, warm_start):
            return model.eval(), {"warm_started": True, "fit_points": 0}
    if max_fit_points is not None and n > max_fit_points:
        subset = torch.randperm(n, device=X.device)[:max_fit_points]
        fitted, info = fit_gp(
            X[subset],
            Y[subset],
            cat_dims=cat_dims,
            noisy=noisy,
            warm_start=warm_start,
            maxiter=maxiter,
            ftol=ftol,
            timeout_sec=timeout_sec,
            kernel=kernel,
        )
        model = build_gp(X, Y, cat_dims=cat_dims, noisy=noisy, kernel=kernel)
        load_hyperparameters(model, export_hyperparameters(fitted))
        return model.eval(), info
    model = build_gp(X, Y, cat_dims=cat_dims, noisy=noisy, kernel=kernel)
    warm = bool(warm_start) and load_hyperparameters(model, warm_start)
    options: dict[str, Any] = {}
    if maxiter is not None:
        options["maxiter"] = maxiter
    if ftol is not None:
        options["ftol"] = ftol
        if Y.shape[-1] > 1:  # BoTorch's batched L-BFGS-B takes ftol only with factr unset
            options["factr"] = None
    optimizer_kwargs: dict[str, Any] = {"options": options}
    if timeout_sec is not None and Y.shape[-1] == 1:  # batched fits take no timeout
        optimizer_kwargs["timeout_sec"] = timeout_sec
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    fit_gpytorch_mll(mll, optimizer_kwargs=optimizer_kwargs)
    model.eval()
    return model, {"warm_started": warm, "fit_points": n}
