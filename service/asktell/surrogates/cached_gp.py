"""A lean stand-in for a fitted exact GP, for optimizing acquisition functions.

GPyTorch's exact posterior re-evaluates the prior on training and test points
together and builds lazy linear operators on every call; at tens to hundreds of
training points that Python overhead, not arithmetic, dominates each L-BFGS-B
step of the acquisition optimization. `CachedExactGP` factors the training
covariance once and computes each posterior with a few dense torch ops. It
calls the fitted model's own mean, kernel, input and outcome transforms, so its
predictions are those of the original model up to rounding, and it returns a
`GPyTorchPosterior`, so BoTorch acquisition functions (including cached-root
ones such as `qLogNoisyExpectedImprovement`) use it unchanged.

It supports `SingleTaskGP` (one output, or several as a batched model) and its
subclasses that keep the same exact-inference structure (e.g. `MixedSingleTaskGP`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from botorch.acquisition.analytic import LogExpectedImprovement
from botorch.models import SingleTaskGP
from botorch.models.gpytorch import GPyTorchModel
from botorch.models.transforms.outcome import Standardize
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultitaskMultivariateNormal, MultivariateNormal
from gpytorch.kernels import Kernel, MaternKernel, RBFKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from linear_operator import to_dense, to_linear_operator
from linear_operator.utils.cholesky import psd_safe_cholesky
from torch import Tensor

__all__ = ["CachedExactGP", "CachedLogExpectedImprovement", "can_cache"]


def can_cache(model: Any) -> bool:
    """Whether `model` is an exact GP that `CachedExactGP` reproduces."""
    return (
        isinstance(model, SingleTaskGP)
        and isinstance(model.likelihood, GaussianLikelihood)
        and len(model.train_inputs) == 1
        and model._input_batch_shape == torch.Size()
        and model.train_inputs[0].dtype == torch.float64
    )


Stationary = Callable[[Tensor, Tensor], Tensor]


def _stationary(kernel: Kernel) -> Stationary | None:
    """A plain-torch `k(x1, x2)` for (scaled) RBF and Matern kernels, else None.

    Equal to the module's own evaluation up to rounding, with far less overhead
    per call; other kernels are evaluated through the module.
    """
    scale = None
    if isinstance(kernel, ScaleKernel) and kernel.active_dims is None:
        scale = kernel.outputscale.detach().unsqueeze(-1).unsqueeze(-1)
        kernel = kernel.base_kernel
    if not isinstance(kernel, RBFKernel | MaternKernel) or kernel.active_dims is not None:
        return None
    if isinstance(kernel, MaternKernel) and kernel.nu not in (0.5, 1.5, 2.5):
        return None
    lengthscale = kernel.lengthscale.detach()  # (m x) 1 x d
    nu = getattr(kernel, "nu", None)

    def k(x1: Tensor, x2: Tensor) -> Tensor:
        a, b = x1 / lengthscale, x2 / lengthscale  # batch dimensions broadcast in the matmul
        sq = a.pow(2).sum(-1).unsqueeze(-1) + b.pow(2).sum(-1).unsqueeze(-2) - 2 * a @ b.mT
        sq = sq.clamp_min(0)
        if nu is None:
            out = torch.exp(-0.5 * sq)
        else:
            r = math.sqrt(2 * nu) * sq.clamp_min(1e-30).sqrt()
            out = torch.exp(-r)
            if nu == 1.5:
                out = (1 + r) * out
            elif nu == 2.5:
                out = (1 + r + r.pow(2) / 3) * out
        return out if scale is None else scale * out

    return k


def _solve_lower(L: Tensor, B: Tensor) -> Tensor:
    """`L^-1 B` for `L` (`(m x) n x n`) and `B` (`batch x (m x) n x q`) in one solve:
    the leading batch dimensions are moved into the columns (a broadcast solve loops
    over them)."""
    lead = B.dim() - L.dim()
    if lead <= 0:
        return torch.linalg.solve_triangular(L, B, upper=False)
    cols = B.movedim(tuple(range(lead)), tuple(range(-lead, 0)))  # (m x) n x q x batch
    V = torch.linalg.solve_triangular(L, cols.reshape(*L.shape[:-1], -1), upper=False)
    V = V.reshape(cols.shape)
    return V.movedim(tuple(range(-lead, 0)), tuple(range(lead)))


class CachedExactGP(GPyTorchModel):
    """The posterior of a fitted `SingleTaskGP` from a Cholesky factor computed once.

    The fitted model must stay unchanged (hyperparameters, training data) while this
    one is in use; it is read, never modified. Only `posterior` is provided: no
    conditioning on new observations or fantasies.
    """

    _supports_cache_root = True

    def __init__(self, model: SingleTaskGP):
        """Precompute (in the model's dtype) the transformed training inputs, the
        Cholesky factor of `K(X, X) + noise` and `(K + noise)^-1 (y - mean)`."""
        if not can_cache(model):
            raise ValueError(f"cannot cache the posterior of a {type(model).__name__}")
        super().__init__()
        model.eval()
        self._num_outputs = model.num_outputs
        self._input_batch_shape = model._input_batch_shape
        self.likelihood = model.likelihood
        self._source = [model]  # a list, so the fitted model is not a registered submodule
        self._kernel = _stationary(model.covar_module)
        with torch.no_grad():
            X_train = model.train_inputs[0]  # (m x) n x d, already input-transformed
            K = to_dense(model.covar_module(X_train))
            noise = model.likelihood.noise  # (m x) 1
            K = K + torch.diag_embed(noise.expand(K.shape[:-1]))
            L = psd_safe_cholesky(K)
            resid = model.train_targets - model.mean_module(X_train)
            alpha = torch.cholesky_solve(resid.unsqueeze(-1), L).squeeze(-1)
        self.register_buffer("X_train", X_train.detach())
        self.register_buffer("L", L.detach())
        self.register_buffer("alpha", alpha.detach())

    @property
    def source(self) -> SingleTaskGP:
        """The fitted model whose posterior this reproduces."""
        return self._source[0]

    @property
    def batch_shape(self) -> torch.Size:
        return self._input_batch_shape

    @property
    def train_inputs(self) -> tuple[Tensor, ...]:
        """The fitted model's (for BoTorch helpers that look for training points)."""
        return self.source.train_inputs

    @property
    def _has_transformed_inputs(self) -> bool:
        return getattr(self.source, "_has_transformed_inputs", False)

    @property
    def _original_train_inputs(self) -> Tensor:
        return self.source._original_train_inputs

    def _covar(self, x1: Tensor, x2: Tensor) -> Tensor:
        if self._kernel is not None:
            return self._kernel(x1, x2)
        batch = torch.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
        x1, x2 = x1.expand(*batch, *x1.shape[-2:]), x2.expand(*batch, *x2.shape[-2:])
        return to_dense(self.source.covar_module(x1, x2))

    def _latent(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Mean `... x q` and covariance `... x q x q` of the latent function in
        standardized units, at input-transformed `X` (`... x q x d`)."""
        model = self.source
        if self._num_outputs > 1:
            X = X.unsqueeze(-3)  # ... x 1 x q x d, broadcast against the m outputs
        k_train_test = self._covar(self.X_train, X)  # ... x n x q
        k_test = self._covar(X, X)  # ... x q x q
        mean = model.mean_module(X) + (k_train_test.mT @ self.alpha.unsqueeze(-1)).squeeze(-1)
        V = _solve_lower(self.L, k_train_test)
        return mean, k_test - V.mT @ V

    def _standardization(self) -> tuple[Tensor, Tensor] | None:
        """`(offset, scale)` (`m`) of a plain `Standardize` outcome transform, else None."""
        transform = getattr(self.source, "outcome_transform", None)
        if isinstance(transform, Standardize) and transform._outputs is None:
            return transform.means.squeeze(-2), transform.stdvs.squeeze(-2)
        return None

    def marginals(self, X: Tensor) -> tuple[Tensor, Tensor] | None:
        """Mean and variance (`... x q`) of a one-output model at `X` (`... x q x d`), in
        the original units, without building a posterior object; None where the model
        has several outputs or an outcome transform other than `Standardize`."""
        model = self.source
        rescale = self._standardization()
        if self._num_outputs > 1 or (rescale is None and model.outcome_transform is not None):
            return None
        mean, covar = self._latent(model.transform_inputs(X))
        var = covar.diagonal(dim1=-2, dim2=-1)
        if rescale is not None:
            offset, scale = rescale
            mean, var = offset + scale * mean, var * scale.pow(2)
        return mean, var

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: Any = None,
        **kwargs: Any,
    ) -> GPyTorchPosterior:
        """The joint posterior at `X` (`batch_shape x q x d`), in the original units."""
        model = self.source
        if isinstance(observation_noise, Tensor):
            raise NotImplementedError("CachedExactGP takes observation_noise as a bool only")
        mean, covar = self._latent(model.transform_inputs(X))
        if observation_noise:
            covar = covar + torch.diag_embed(model.likelihood.noise.expand(mean.shape))
        transform = getattr(model, "outcome_transform", None)
        rescale = self._standardization()
        standardize = rescale is not None
        if standardize:  # rescale here: BoTorch's version factors dense covariances
            offset, scale = rescale  # m
            if self._num_outputs > 1:
                offset, scale = offset.unsqueeze(-1), scale.unsqueeze(-1)  # m x 1
            mean = offset + scale * mean
            covar = covar * (scale.unsqueeze(-1) * scale.unsqueeze(-2))
        if self._num_outputs > 1:
            outputs = output_indices or range(self._num_outputs)
            mvn = MultitaskMultivariateNormal.from_independent_mvns(
                [
                    MultivariateNormal(mean[..., t, :], to_linear_operator(covar[..., t, :, :]))
                    for t in outputs
                ]
            )
        else:
            mvn = MultivariateNormal(mean, to_linear_operator(covar))
        posterior = GPyTorchPosterior(distribution=mvn)
        if transform is not None and not standardize:
            posterior = transform.untransform_posterior(posterior, X=X)
        if posterior_transform is not None:
            return posterior_transform(posterior=posterior, X=X)
        return posterior


class CachedLogExpectedImprovement(LogExpectedImprovement):
    """BoTorch's `LogExpectedImprovement` reading a `CachedExactGP`'s marginals directly.

    The same values as the parent's (which goes through a posterior object and its
    linear operators) with fewer torch ops per call, which is most of the cost at the
    sizes where acquisition optimization runs many small evaluations.
    """

    def _mean_and_sigma(
        self, X: Tensor, compute_sigma: bool = True, min_var: float = 1e-12
    ) -> tuple[Tensor, Tensor | None]:
        marginals = None
        if isinstance(self.model, CachedExactGP) and self.posterior_transform is None:
            marginals = self.model.marginals(X)
        if marginals is None:
            return super()._mean_and_sigma(X, compute_sigma, min_var)
        mean, var = marginals
        return mean, var.clamp_min(min_var).sqrt() if compute_sigma else None
