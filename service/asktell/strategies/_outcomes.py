"""Outcome transforms applied before a surrogate is fit, after Ax's default ones.

- Objectives (signed so that larger is better) are winsorized from below, like
  Ax's automatic `Winsorize`: values under Tukey's fence `q1 - 1.5 iqr` are
  raised to it, so a few very bad points (an ill-conditioned function's far
  corners, a crashed run's sentinel) do not set the GP's scale. With an
  objective threshold (a hypervolume reference), the fence is taken below
  `min(q1, threshold)` so that no point is lifted past the reference.
- Constraint slacks (`<= 0` feasible) go through `sign(s) log(1 + |s|)`, Ax's
  `BilogY` around the bound: the sign, and with it feasibility, is unchanged,
  values near the boundary are spread out and far ones compressed.

The best value, the order of the values above the fence and every point's
feasibility are kept, so improvement baselines, `best_f` and feasibility
checks read the same from transformed data.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["bilog", "winsorize"]


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
