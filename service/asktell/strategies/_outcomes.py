"""Outcome transforms applied before a surrogate is fit, after Ax's default ones.

- Objectives (signed so that larger is better) are winsorized from below, like
  Ax's automatic `Winsorize`: values under Tukey's fence `q1 - 1.5 iqr` are
  raised to it, so a few very bad points (an ill-conditioned function's far
  corners, a crashed run's sentinel) do not set the GP's scale. With an
  objective threshold (a hypervolume reference), the fence is taken below
  `min(q1, threshold)` so that no point is lifted past the reference.
- The objective of a one-objective study can be warped (option `objective_warp`):
  `yeo-johnson` standardizes it and applies a Yeo-Johnson power transform with the
  exponent fitted by maximum likelihood (scipy), as HEBO does; `half-rank` follows
  OSS Vizier's default output warping: the values below the median are replaced by
  normal quantiles of their ranks, scaled by the spread of the good half (so the
  bad tail neither sets the scale nor carries its outliers), then a log warp
  stretches the differences among the best values. Both maps are increasing, so
  the best point and the order of the values stay.
- Constraint slacks (`<= 0` feasible) go through `sign(s) log(1 + |s|)`, Ax's
  `BilogY` around the bound: the sign, and with it feasibility, is unchanged,
  values near the boundary are spread out and far ones compressed.

The order of the values above the fence, which point is best, and every point's
feasibility are kept, so improvement baselines and feasibility checks read the
same from transformed data; `best_f` is read from the transformed values, in the
units the model was fit in (a warp changes them; winsorizing does not).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy import stats
from torch import Tensor

__all__ = ["OBJECTIVE_WARPS", "bilog", "half_rank_warp", "winsorize", "yeo_johnson_warp"]


def winsorize(Y: Tensor, thresholds: Sequence[float | None] | None = None) -> Tensor:
    """`Y` (`n x m`, larger is better) with each column raised to its lower fence.

    A column that the fence would make constant is left as it is.
    """
    if Y.shape[0] < 4:
        return Y
    out = Y.clone()
    for j in range(Y.shape[-1]):
        y = Y[:, j]
        q1 = torch.quantile(y, 0.25, interpolation="lower")
        q3 = torch.quantile(y, 0.75, interpolation="higher")
        t = thresholds[j] if thresholds else None
        if t is not None:
            q1 = torch.minimum(q1, torch.as_tensor(t, dtype=y.dtype, device=y.device))
        fence = q1 - 1.5 * (q3 - q1)
        clipped = y.clamp_min(fence)
        if clipped.max() > clipped.min():
            out[:, j] = clipped
    return out


def bilog(C: Tensor) -> Tensor:
    """`sign(C) log(1 + |C|)`, elementwise."""
    return torch.sign(C) * torch.log1p(C.abs())


def _warp_columns(Y: Tensor, warp: Callable[[np.ndarray], np.ndarray]) -> Tensor:
    """`Y` (`n x m`) with `warp` applied to each column (float64 numpy in and out).

    Under 4 rows, a column without spread, or a warp whose result is not finite or has
    no spread leaves the column as it is.
    """
    if Y.shape[0] < 4:
        return Y
    out = Y.clone()
    for j in range(Y.shape[-1]):
        y = Y[:, j].detach().cpu().numpy().astype(np.float64)
        if not y.max() > y.min():
            continue
        with np.errstate(all="ignore"):
            z = warp(y)
        if np.isfinite(z).all() and z.max() > z.min():
            out[:, j] = torch.as_tensor(z, dtype=Y.dtype, device=Y.device)
    return out


def _yeo_johnson(y: np.ndarray) -> np.ndarray:
    return stats.yeojohnson((y - y.mean()) / y.std())[0]


def yeo_johnson_warp(Y: Tensor) -> Tensor:
    """`Y` (`n x m`) with each column standardized, then Yeo-Johnson transformed (the
    exponent fitted by maximum likelihood); see `_warp_columns` for what is left alone."""
    return _warp_columns(Y, _yeo_johnson)


def _half_rank(y: np.ndarray, log_offset: float) -> np.ndarray:
    median = float(np.median(y))
    distinct = np.unique(y)
    below = int(distinct.searchsorted(median, "left"))
    k = below + 0.5 * float(distinct[below] == median)
    good = distinct[distinct >= median]
    spread = float(np.sqrt(np.mean((good - median) ** 2)))
    if not spread > 0:
        spread = float(np.sqrt(np.mean((distinct - median) ** 2)))
    warped = y.copy()
    bad = y < median
    if bad.any() and k > 0:
        rank = distinct.searchsorted(y[bad], "left") + 1.0
        warped[bad] = median + spread * stats.norm.ppf(0.5 * (rank - 0.5) / k)
    top, span = warped.max(), warped.max() - warped.min()
    return 0.5 - np.log1p((top - warped) / span * (log_offset - 1)) / np.log(log_offset)


def half_rank_warp(Y: Tensor, log_offset: float = 1.5) -> Tensor:
    """`Y` (`n x m`, larger is better) with each column half-rank and log warped.

    The good half (at or above the median) keeps its values. A value below the median
    with dense rank `r` among the distinct values (1 = worst) becomes
    `median + s * Phi^-1(0.5 (r - 0.5) / k)`, where `k` counts the distinct values
    below the median (plus 0.5 if the median is one of them) and `s` is the root mean
    square distance of the good half from the median. Then each value `y` becomes
    `0.5 - log1p((max - y) / range * (log_offset - 1)) / log(log_offset)`. See
    `_warp_columns` for what is left alone.
    """
    return _warp_columns(Y, lambda y: _half_rank(y, log_offset))


OBJECTIVE_WARPS: dict[str, Callable[[Tensor], Tensor]] = {
    "yeo-johnson": yeo_johnson_warp,
    "half-rank": half_rank_warp,
}
"""The `objective_warp` options of model-based strategies, by name (`none` is absent)."""
