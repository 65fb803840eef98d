"""The HEBO+ Gaussian-process prior of PFNs4BO, sampled in batches with torch.

Each dataset draws its own hyperparameters: a zero-mean GP with a Matérn-3/2
ARD kernel, lengthscales ~ Gamma(1.21, rate 1.52) per dimension, outputscale
~ Gamma(0.85, rate 0.40), noise variance ~ LogNormal(-4.63, 0.5), and each
dimension unused (infinite lengthscale) with probability 0.3 (at least one is
used). Inputs are uniform in [0, 1]^d; dimensions beyond `d` are zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Batch", "HyperPrior", "matern32", "sample_batch", "sample_gp"]


@dataclass(frozen=True)
class HyperPrior:
    """Hyperparameter priors (rates, not scales)."""

    lengthscale_shape: float = 1.21
    lengthscale_rate: float = 1.52
    outputscale_shape: float = 0.85
    outputscale_rate: float = 0.40
    noise_loc: float = -4.63
    noise_scale: float = 0.5
    p_unused: float = 0.3


@dataclass(frozen=True)
class Batch:
    """A batch of prior datasets sharing one context size.

    Attributes:
        x: `b x t x max_dim` inputs in [0, 1] (zero beyond each dataset's `d`).
        y: `b x t` noisy observations; the first `n_ctx` of each row are context.
        f: `b x t` noise-free function values.
        n_ctx: Number of context points.
        lengthscale: `b x max_dim` (inf for unused or absent dimensions).
        outputscale: `b` kernel variances.
        noise: `b` noise variances.
        d: `b` input dimensions.
    """

    x: Tensor
    y: Tensor
    f: Tensor
    n_ctx: int
    lengthscale: Tensor
    outputscale: Tensor
    noise: Tensor
    d: Tensor


def matern32(x1: Tensor, x2: Tensor, lengthscale: Tensor, outputscale: Tensor) -> Tensor:
    """Matérn-3/2 ARD kernel.

    Args:
        x1: `b x n x D`, x2: `b x m x D`, lengthscale: `b x D` (inf drops a dim), outputscale: `b`.

    Returns:
        `b x n x m` covariances.
    """
    ls = lengthscale.unsqueeze(-2)
    r = torch.cdist(x1 / ls, x2 / ls).clamp_min(0.0)
    s3r = math.sqrt(3.0) * r
    return outputscale[:, None, None] * (1.0 + s3r) * torch.exp(-s3r)


def _gamma(shape: float, rate: float, size: tuple[int, ...], gen: torch.Generator) -> Tensor:
    """Gamma draws via torch's sampler under a seeded generator state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
        return torch.distributions.Gamma(shape, rate).sample(size).double()


def sample_gp(
    x: Tensor, lengthscale: Tensor, outputscale: Tensor, noise: Tensor, gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Draw `f` and `y = f + noise` at `x` (`b x t x D`) by a batched Cholesky (float64).

    Returns:
        `(f, y)`, both `b x t`.
    """
    b, t, _ = x.shape
    K = matern32(x, x, lengthscale, outputscale)
    jitter = 1e-6 * outputscale[:, None, None] * torch.eye(t, dtype=x.dtype)
    L, info = torch.linalg.cholesky_ex(K + jitter)
    if bool((info > 0).any()):
        L = torch.linalg.cholesky(K + 100 * jitter)
    z = torch.randn(b, t, 1, dtype=x.dtype, generator=gen)
    f = (L @ z).squeeze(-1)
    y = f + noise.sqrt()[:, None] * torch.randn(b, t, dtype=x.dtype, generator=gen)
    return f, y


def sample_batch(
    batch_size: int,
    seq_len: int,
    n_ctx: int,
    max_dim: int,
    gen: torch.Generator,
    prior: HyperPrior | None = None,
    d: int | None = None,
) -> Batch:
    """Sample `batch_size` datasets of `seq_len` points, `n_ctx` of them context.

    Args:
        d: Fix every dataset's input dimension; uniform on `1..max_dim` when None.
    """
    p = prior or HyperPrior()
    b, dt = batch_size, torch.double
    dims = (
        torch.full((b,), d, dtype=torch.long)
        if d is not None
        else torch.randint(1, max_dim + 1, (b,), generator=gen)
    )
    present = torch.arange(max_dim)[None, :] < dims[:, None]
    used = present & (torch.rand(b, max_dim, generator=gen) >= p.p_unused)
    first = torch.zeros_like(used)
    pick = (torch.rand(b, generator=gen) * dims).long()
    first[torch.arange(b), pick] = True
    used = torch.where(used.any(-1, keepdim=True), used, first)
    ls = _gamma(p.lengthscale_shape, p.lengthscale_rate, (b, max_dim), gen).clamp_min(1e-3)
    ls = torch.where(used, ls, torch.full_like(ls, math.inf))
    outputscale = _gamma(p.outputscale_shape, p.outputscale_rate, (b,), gen).clamp_min(1e-4)
    noise = torch.exp(p.noise_loc + p.noise_scale * torch.randn(b, dtype=dt, generator=gen))
    x = torch.rand(b, seq_len, max_dim, dtype=dt, generator=gen) * present[:, None, :]
    f, y = sample_gp(x, ls, outputscale, noise, gen)
    return Batch(x, y, f, n_ctx, ls, outputscale, noise, dims)
