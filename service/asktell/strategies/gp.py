"""Gaussian-process Bayesian optimization (BoTorch)."""

from __future__ import annotations

import contextlib
from typing import Any, Literal

import gpytorch
from pydantic import Field

from asktell.strategies._model_based import (
    FitResult,
    ModelBasedConfig,
    ModelBasedStrategy,
    TrainingData,
)
from asktell.strategies.registry import register_strategy
from asktell.surrogates.cached_gp import CachedExactGP, can_cache
from asktell.surrogates.gp import export_hyperparameters, fit_gp

__all__ = ["GP", "GPConfig"]

STATE_VERSION = 1


class GPConfig(ModelBasedConfig):
    """Options of the `gp` strategy (on top of the shared model-based ones)."""

    warm_start: bool = Field(
        default=True,
        description="Start each fit from the hyperparameters of the previous ask.",
    )
    refit_growth: float = Field(
        default=0.1,
        ge=0,
        le=10,
        description="Refit the hyperparameters once the history has grown by this fraction "
        "(at least one point) since the last fit; in between, warm asks condition on the new "
        "points with the cached hyperparameters. 0 refits on every ask.",
    )
    fit_timeout_sec: float = Field(
        default=5.0, gt=0, description="Time budget of the hyperparameter fit per ask."
    )
    fit_maxiter: int = Field(
        default=200, ge=1, le=10_000, description="L-BFGS-B iterations of the hyperparameter fit."
    )
    fit_ftol: float = Field(
        default=1e-6,
        gt=0,
        lt=1,
        description="Relative tolerance of the hyperparameter fit (scipy L-BFGS-B `ftol`).",
    )
    max_fit_points: int = Field(
        default=500,
        ge=10,
        description="Fit hyperparameters on at most this many points (a random subset); "
        "the model still conditions on up to `max_history` points.",
    )
    analytic_ei: bool = Field(
        default=True,
        description="For one objective without constraints, pending points or noise, "
        "maximize analytic log expected improvement over the best observed value instead "
        "of the MC noisy version (see the `_model_based` module docstring).",
    )
    cached_posterior: bool = Field(
        default=True,
        description="Optimize the acquisition function on a copy of the fitted GP that "
        "factors its training covariance once (same predictions, much less overhead per "
        "posterior); off, BoTorch's model is used throughout.",
    )
    kernel: Literal["rbf", "matern52"] = Field(
        default="rbf",
        description="Kernel of the continuous dimensions, under BoTorch's dimension-scaled "
        "lengthscale prior (spaces with categoricals use BoTorch's mixed kernel).",
    )
    max_cholesky_size: int = Field(
        default=4096, ge=0, description="Use exact Cholesky solves up to this many points."
    )


@register_strategy("gp")
class GP(ModelBasedStrategy):
    """Exact GP on the encoded space: `SingleTaskGP` (`MixedSingleTaskGP` with
    categorical parameters), refit every ask, warm-started from the last fit.

    The state, `{"version", "signature", "hyperparameters", "fit_n",
    "asks_since_fit"}`, caches the fitted hyperparameters and when they were fit;
    without it the fit starts from the priors. Between refits (see `refit_growth`)
    an ask reuses the cached hyperparameters without fitting.
    """

    description = (
        "Gaussian-process Bayesian optimization: log expected improvement (noisy MC "
        "version with pending points, constraints or noise; hypervolume for several "
        "objectives), pending-aware, mixed spaces."
    )
    Config = GPConfig
    config: GPConfig

    def context(self) -> contextlib.AbstractContextManager:
        return gpytorch.settings.max_cholesky_size(self.config.max_cholesky_size)

    def fit(
        self,
        data: TrainingData,
        *,
        cat_dims: list[int],
        noisy: bool,
        state: dict[str, Any] | None,
    ) -> FitResult:
        Y = data.train_Y
        signature = {"d": data.X.shape[-1], "m": Y.shape[-1], "cat_dims": cat_dims, "noisy": noisy}
        if self.config.kernel != "rbf":
            signature["kernel"] = self.config.kernel
        warm = None
        if (
            self.config.warm_start
            and state
            and state.get("version") == STATE_VERSION
            and state.get("signature") == signature
        ):
            warm = state.get("hyperparameters")
        n = data.X.shape[0]
        fit_n = int(state.get("fit_n", 0)) if warm else 0
        since = int(state.get("asks_since_fit", 0)) + 1 if warm else 0
        step = max(1, int(self.config.refit_growth * fit_n))
        refit = not warm or n < fit_n or n - fit_n >= step or since >= step
        model, info = fit_gp(
            data.X,
            Y,
            cat_dims=cat_dims,
            noisy=noisy,
            warm_start=warm,
            maxiter=self.config.fit_maxiter,
            ftol=self.config.fit_ftol,
            timeout_sec=self.config.fit_timeout_sec,
            max_fit_points=self.config.max_fit_points,
            optimize=refit,
            kernel=self.config.kernel,
        )
        refitted = refit or not info["warm_started"]
        new_state = {
            "version": STATE_VERSION,
            "signature": signature,
            "hyperparameters": export_hyperparameters(model),
            "fit_n": n if refitted else fit_n,
            "asks_since_fit": 0 if refitted else since,
        }
        info["refit"] = refitted
        info["model"] = type(model).__name__
        acq_model = None
        if self.config.cached_posterior and can_cache(model):
            acq_model = CachedExactGP(model)
        return FitResult(model=model, state=new_state, info=info, acquisition_model=acq_model)
