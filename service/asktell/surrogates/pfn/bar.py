"""Riemann ("bar") distribution with half-normal tails, as in PFNs.

`K` buckets between `K + 1` sorted borders; inner buckets are uniform, the
first and last are replaced by half-normals that extend to -inf / +inf and put
half their mass inside their bucket, so every real target has a density.
"""

from __future__ import annotations

import math

import torch
from botorch.acquisition.analytic import _log_ei_helper
from torch import Tensor

__all__ = ["BarDistribution", "make_borders"]

LOG2 = math.log(2.0)
SQRT2 = math.sqrt(2.0)
HALF_MEDIAN = 0.6744897501960817  # median of a unit half-normal


def make_borders(targets: Tensor, num_buckets: int, clip: float = 10.0) -> Tensor:
    """Borders at quantiles of `targets` (1-d), clipped to `[-clip, clip]`.

    Returns:
        A `num_buckets + 1` float32 tensor of strictly increasing borders.
    """
    t = targets.flatten().double()
    t = t[torch.isfinite(t)].clamp(-clip, clip)
    q = torch.quantile(t, torch.linspace(0, 1, num_buckets + 1, dtype=t.dtype))
    q[0], q[-1] = min(q[0].item(), -clip), max(q[-1].item(), clip)
    min_width = 2 * clip / num_buckets * 1e-3
    v = q.tolist()
    for i in range(1, len(v)):  # collapsed quantiles (clipped mass) get tiny distinct buckets
        v[i] = max(v[i], v[i - 1] + min_width)
    v[-1] = clip
    for i in range(len(v) - 2, -1, -1):
        v[i] = min(v[i], v[i + 1] - min_width)
    return torch.tensor(v, dtype=torch.float32)


class BarDistribution(torch.nn.Module):
    """Densities, moments, CDFs and improvements from bucket logits (`... x K`)."""

    def __init__(self, borders: Tensor):
        super().__init__()
        self.register_buffer("borders", borders.float().clone())

    @property
    def num_buckets(self) -> int:
        return self.borders.numel() - 1

    def _parts(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        b = self.borders
        widths = b[1:] - b[:-1]
        centers = (b[1:] + b[:-1]) / 2
        left_scale = widths[0] / HALF_MEDIAN
        right_scale = widths[-1] / HALF_MEDIAN
        return widths, centers, left_scale, right_scale

    def nll(self, logits: Tensor, y: Tensor) -> Tensor:
        """Negative log density of `y` (`...`) under `logits` (`... x K`)."""
        b = self.borders.to(logits)
        widths, _, ls, rs = self._parts()
        logp = torch.log_softmax(logits, dim=-1)
        K = self.num_buckets
        idx = (torch.searchsorted(b, y.contiguous(), right=True) - 1).clamp(0, K - 1)
        lp = logp.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
        inner = lp - torch.log(widths.to(logits)[idx])
        # half-normal with scale s: density 2 phi(z / s) / s, weighted by the bucket's mass
        z_left = (b[1] - y).clamp_min(0) / ls
        z_right = (y - b[-2]).clamp_min(0) / rs
        left = lp + LOG2 - 0.5 * z_left**2 - 0.5 * math.log(2 * math.pi) - torch.log(ls)
        right = lp + LOG2 - 0.5 * z_right**2 - 0.5 * math.log(2 * math.pi) - torch.log(rs)
        out = torch.where(idx == 0, left, torch.where(idx == K - 1, right, inner))
        return -out

    def mean_var(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance (`...`) of the distribution."""
        p = torch.softmax(logits, dim=-1)
        widths, centers, ls, rs = self._parts()
        c, w = centers.to(p), widths.to(p)
        b = self.borders.to(p)
        hm, hv = math.sqrt(2 / math.pi), 1 - 2 / math.pi  # half-normal mean / variance
        m = c.clone()
        m2 = c**2 + w**2 / 12
        m[0] = b[1] - ls * hm
        m2[0] = m[0] ** 2 + ls**2 * hv
        m[-1] = b[-2] + rs * hm
        m2[-1] = m[-1] ** 2 + rs**2 * hv
        mean = p @ m
        var = (p @ m2 - mean**2).clamp_min(1e-12)
        return mean, var

    def cdf(self, logits: Tensor, v: Tensor) -> Tensor:
        """`P(Y <= v)` for thresholds `v` broadcastable to `logits.shape[:-1]`."""
        p = torch.softmax(logits, dim=-1)
        b = self.borders.to(p)
        _, _, ls, rs = self._parts()
        v = torch.as_tensor(v, dtype=p.dtype, device=p.device).expand(p.shape[:-1]).unsqueeze(-1)
        frac = ((v - b[:-1]) / (b[1:] - b[:-1])).clamp(0, 1)
        left = torch.special.erfc((b[1] - v) / (ls * SQRT2)).clamp(0, 1)
        left = torch.where(v >= b[1], torch.ones_like(v), left)
        right = torch.where(v <= b[-2], torch.zeros_like(v), torch.erf((v - b[-2]) / (rs * SQRT2)))
        frac = torch.cat([left, frac[..., 1:-1], right], dim=-1)
        return (p * frac).sum(-1).clamp(0, 1)

    def icdf(self, logits: Tensor, u: Tensor) -> Tensor:
        """Quantiles at `u` (`s x ...`, in (0, 1)) for `logits` (`... x K`); returns `s x ...`."""
        p = torch.softmax(logits, dim=-1)
        b = self.borders.to(p)
        _, _, ls, rs = self._parts()
        cum = torch.cumsum(p, dim=-1)
        cum = cum.expand((*u.shape, p.shape[-1])).contiguous()
        idx = torch.searchsorted(cum, u.unsqueeze(-1).contiguous()).squeeze(-1)
        idx = idx.clamp(0, self.num_buckets - 1)
        pk = p.expand_as(cum).gather(-1, idx.unsqueeze(-1)).squeeze(-1).clamp_min(1e-30)
        before = (cum.gather(-1, idx.unsqueeze(-1)).squeeze(-1) - pk).clamp_min(0)
        r = ((u - before) / pk).clamp(1e-6, 1 - 1e-6)
        inner = b[idx] + r * (b[idx + 1] - b[idx])
        left = b[1] - ls * SQRT2 * torch.special.erfinv(1 - r)
        right = b[-2] + rs * SQRT2 * torch.special.erfinv(r)
        return torch.where(idx == 0, left, torch.where(idx == self.num_buckets - 1, right, inner))

    def bucket_log_ei(self, best: float) -> Tensor:
        """`log E[max(Y - best, 0) | bucket k]` for each bucket (`K`, float64)."""
        return self._log_bucket_ei(torch.tensor([best], dtype=torch.double))

    def _log_bucket_ei(self, f: Tensor) -> Tensor:
        """`log E[max(Y - f, 0) | bucket k]` (`... x K`) for thresholds `f` (`... x 1`)."""
        b = self.borders.to(f)
        _, _, ls, rs = self._parts()
        lo, hi = b[1:-2], b[2:-1]  # inner buckets
        below = (lo + hi) / 2 - f
        inside = (hi - f).clamp_min(0) ** 2 / (2 * (hi - lo))
        ei_inner = torch.where(f <= lo, below, inside)
        # right tail: Y = b[-2] + Z, Z half-normal(rs): E[(Z - c)+] = 2 rs h(-c / rs) for c > 0
        c = f - b[-2]
        log_right = torch.where(
            c > 0,
            LOG2 + torch.log(rs) + _log_ei_helper(-c.clamp_min(1e-12) / rs),
            torch.log((rs * math.sqrt(2 / math.pi) - c).clamp_min(1e-300)),
        )
        # left tail: Y = b[1] - Z: E[(c - Z)+] = c - ls*sqrt(2/pi) + 2 ls h(-c / ls), c = b[1] - f
        cl = b[1] - f
        ei_left = cl - ls * math.sqrt(2 / math.pi) + 2 * ls * torch.exp(_log_ei_helper(-cl / ls))
        ei_left = torch.where(cl > 0, ei_left.clamp_min(0), torch.zeros_like(ei_left))
        ei = torch.cat([ei_left, ei_inner], dim=-1)
        log_ei = torch.where(
            ei > 0, torch.log(ei.clamp_min(1e-300)), torch.full_like(ei, -torch.inf)
        )
        return torch.cat([log_ei, log_right], dim=-1)

    def log_ei(
        self, logits: Tensor, best: Tensor | float, log_bucket: Tensor | None = None
    ) -> Tensor:
        """`log E[max(Y - best, 0)]` (`...`), exact for the piecewise density.

        `best` is a scalar or broadcastable to `logits.shape[:-1]`; for a scalar,
        `log_bucket` may pass `bucket_log_ei(best)` computed once.
        """
        f = torch.as_tensor(best, dtype=torch.double, device=logits.device)
        if f.numel() == 1:  # one threshold: a matrix-vector product, log-space where tiny
            if log_bucket is None:
                log_bucket = self.bucket_log_ei(float(f))
            log_bucket = log_bucket.to(logits.device)
            shift = log_bucket.max()
            weights = torch.exp(log_bucket - shift).to(logits.dtype)
            ei = torch.softmax(logits, dim=-1) @ weights
            out = torch.log(ei.clamp_min(1e-300)).double() + shift
            tiny = ei < 1e-20
            if bool(tiny.any()):
                logp = torch.log_softmax(logits[tiny], dim=-1).double()
                out[tiny] = torch.logsumexp(logp + log_bucket, dim=-1)
            return out.to(logits.dtype)
        logp = torch.log_softmax(logits, dim=-1)
        f = f.expand(logp.shape[:-1])
        log_bucket = self._log_bucket_ei(f.reshape(*f.shape, 1)).to(logp.dtype)
        return torch.logsumexp(logp + log_bucket, dim=-1)
