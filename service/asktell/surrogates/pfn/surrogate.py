"""A trained PFN as a BoTorch `Model` on unit-cube data.

`PFNModel` conditions the network on `train_X` (`n x d`) and `train_Y`
(`n x m`): each output is its own PFN dataset (a batch of `m` contexts
sharing the inputs), standardized by its own context statistics. Its
posterior is the bar distribution per point and output (`PFNPosterior`):
mean, variance, quantiles and samples are exact for that mixture; samples of
several points are drawn independently, since a PFN predicts marginals only.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from botorch.models.model import Model
from botorch.posteriors import Posterior
from torch import Tensor

from asktell.surrogates.pfn.bar import BarDistribution
from asktell.surrogates.pfn.model import PFN, load_pfn, standardize

__all__ = ["PFNModel", "PFNPosterior", "cached_pfn"]


@lru_cache(maxsize=4)
def cached_pfn(path: str, device: str) -> PFN:
    """Load a checkpoint once per process and device."""
    model, _ = load_pfn(Path(path), device)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class PFNPosterior(Posterior):
    """Independent bar distributions, `logits` of shape `batch x q x m x K`, in output units."""

    def __init__(self, logits: Tensor, bar: BarDistribution, mu: Tensor, sd: Tensor):
        self.logits, self.bar, self.mu, self.sd = logits, bar, mu, sd

    @property
    def device(self) -> torch.device:
        return self.logits.device

    @property
    def dtype(self) -> torch.dtype:
        return self.mu.dtype

    @property
    def mean(self) -> Tensor:
        m, _ = self.bar.mean_var(self.logits)
        return m.to(self.mu) * self.sd + self.mu

    @property
    def variance(self) -> Tensor:
        _, v = self.bar.mean_var(self.logits)
        return v.to(self.mu) * self.sd**2

    def _extended_shape(self, sample_shape: torch.Size = torch.Size()) -> torch.Size:
        return sample_shape + self.logits.shape[:-1]

    def rsample(self, sample_shape: torch.Size | None = None) -> Tensor:
        """Samples `sample_shape x batch x q x m` by inverting the bar CDF (not differentiable)."""
        shape = self._extended_shape(sample_shape or torch.Size())
        u = torch.rand(shape, device=self.device, dtype=self.logits.dtype).clamp(1e-6, 1 - 1e-6)
        return self.bar.icdf(self.logits, u).to(self.mu) * self.sd + self.mu


class PFNModel(Model):
    """A PFN conditioned on `train_X` (`n x d`, in [0, 1]) and `train_Y` (`n x m`)."""

    def __init__(self, pfn: PFN, train_X: Tensor, train_Y: Tensor):
        super().__init__()
        self.pfn = pfn
        self.train_X, self.train_Y = train_X, train_Y
        Y = train_Y.double()
        center = Y.mean(0)
        scale = Y.std(0) if Y.shape[0] > 1 else torch.ones_like(center)
        scale = torch.where(scale > 1e-12 * (1 + center.abs()), scale, torch.ones_like(scale))
        y0 = ((Y - center) / scale).T.float()  # m x n
        mu2, sd2 = standardize(y0)
        self.mu = center + scale * mu2.squeeze(-1).double()  # m
        self.sd = scale * sd2.squeeze(-1).double()  # m
        dev = self._device = next(pfn.parameters()).device
        y_std = ((y0 - mu2) / sd2).to(dev)
        X = train_X.float().to(dev).expand(Y.shape[-1], *train_X.shape)
        with torch.no_grad():
            self._cache = pfn.encode_context(X, y_std)

    @property
    def num_outputs(self) -> int:
        return self.train_Y.shape[-1]

    @property
    def bar(self) -> BarDistribution:
        return self.pfn.bar

    def logits(self, X: Tensor) -> Tensor:
        """Bucket logits `m x N x K` at `X` (`N x d`), in standardized units."""
        m = self.num_outputs
        x = X.float().to(self._device)
        with torch.no_grad():
            return self.pfn.predict(self._cache, x.expand(m, *x.shape))

    def standardized(self, Y: Tensor) -> Tensor:
        """Output values `... x m` in the PFN's standardized units."""
        return (Y.double() - self.mu) / self.sd

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool = False,
        posterior_transform=None,
        **kwargs,
    ) -> PFNPosterior:
        """Posterior at `X` (`batch x q x d`) over all outputs (`batch x q x m`)."""
        flat = X.reshape(-1, X.shape[-1])
        logits = self.logits(flat).permute(1, 0, 2)  # N x m x K
        logits = logits.reshape(*X.shape[:-1], self.num_outputs, -1)
        if posterior_transform is not None:
            raise NotImplementedError("PFNModel does not support posterior transforms")
        mu, sd = self.mu.to(X), self.sd.to(X)
        if output_indices is not None:
            logits, mu, sd = logits[..., output_indices, :], mu[output_indices], sd[output_indices]
        return PFNPosterior(logits, self.bar, mu, sd)
