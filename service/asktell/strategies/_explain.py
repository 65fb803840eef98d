"""A one-parameter slice of a fitted surrogate, for the dashboard's surrogate view.

The slice runs through the best feasible completed point (on the first
objective): the chosen parameter sweeps its range (every allowed value for ints
and categoricals) while the others stay at the best point. Values are in the
first objective's own units and direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.models.model import Model
from torch import Tensor

from asktell.core.encoding import SpaceEncoder
from asktell_client.types import ArrayParam, CategoricalParam, FixedParam, FloatParam, IntParam

__all__ = ["MAX_OBSERVED", "SliceError", "best_index", "check_param", "slice_grid", "slice_values"]

MAX_OBSERVED = 500
CHUNK = 256


class SliceError(ValueError):
    """The slice cannot be computed for this study and parameter (a reason to show)."""


def check_param(encoder: SpaceEncoder, param: str) -> int:
    """The encoded dimension of `param`, or `SliceError` when it has none."""
    if isinstance(encoder.space.by_name.get(param), ArrayParam):
        raise SliceError(f"parameter {param!r} is an array; slices take scalar parameters")
    for i, dim in enumerate(encoder.dims):
        if dim.name == param:
            return i
    spec = next((p for p in encoder.space if p.name == param), None)
    if isinstance(spec, FixedParam):
        raise SliceError(f"parameter {param!r} is fixed")
    raise SliceError(f"unknown parameter {param!r}")


def best_index(Y: Tensor, feasible: Tensor) -> int:
    """Row of the best first objective (maximization signs), feasible rows first."""
    score = Y[:, 0].clone()
    if feasible.any():
        score[~feasible] = -math.inf
    return int(torch.argmax(score))


def slice_grid(encoder: SpaceEncoder, x_best: Tensor, j: int, points: int) -> Tensor:
    """`k x d` cube points: `x_best` with dimension `j` swept over its range."""
    discrete = {**encoder.integer_dims, **encoder.categorical_dims}
    if j in discrete:
        values = torch.tensor(discrete[j], dtype=x_best.dtype, device=x_best.device)
    else:
        values = torch.linspace(0, 1, points, dtype=x_best.dtype, device=x_best.device)
    X = x_best.reshape(1, -1).repeat(len(values), 1)
    X[:, j] = values
    if j in discrete:  # where the allowed values decode to (log ints are not evenly spaced)
        snapped = encoder.encode(encoder.decode(X.cpu().numpy()))[:, j]
        X[:, j] = torch.as_tensor(snapped, dtype=X.dtype, device=X.device)
    return X


@torch.no_grad()
def slice_values(
    model: Model,
    acq: AcquisitionFunction,
    X: Tensor,
    sign: float,
    unwarp: Callable[[Tensor], Tensor] | None = None,
) -> tuple[list, list, list]:
    """Posterior mean and std of the first output (times `sign`) and acquisition values.

    With `unwarp` (the inverse of an increasing outcome warp), the mean is the unwarped
    posterior mean and the std half the width of the unwarped mean +- one std band.
    """
    means, stds, acqs = [], [], []
    for chunk in X.split(CHUNK):
        posterior = model.posterior(chunk)
        mean = posterior.mean[..., 0].reshape(-1)
        std = posterior.variance[..., 0].reshape(-1).clamp_min(0).sqrt()
        if unwarp is not None:
            mean, std = unwarp(mean), (unwarp(mean + std) - unwarp(mean - std)) / 2
        means.append(mean * sign)
        stds.append(std)
        acqs.append(acq(chunk.unsqueeze(-2)).reshape(-1))
    return tuple(_floats(torch.cat(v)) for v in (means, stds, acqs))  # type: ignore[return-value]


def monotone_inverse(warped: Tensor, raw: Tensor) -> Callable[[Tensor], Tensor] | None:
    """The inverse of an increasing map known at points (`raw` -> `warped`, both `n`):
    piecewise linear between them, linear beyond the ends; None when the map is the
    identity there or has fewer than two distinct points."""
    if torch.equal(warped, raw):
        return None
    order = torch.argsort(warped)
    xs, ys = warped[order], raw[order]
    keep = torch.cat([torch.tensor([True], device=xs.device), xs.diff() > 0])
    xs, ys = xs[keep], ys[keep]
    if len(xs) < 2:
        return None

    def inverse(w: Tensor) -> Tensor:
        i = torch.searchsorted(xs, w.contiguous()).clamp(1, len(xs) - 1)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 + (w - x0) * (y1 - y0) / (x1 - x0)

    return inverse


def _floats(t: Tensor) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in t.detach().cpu().double().tolist()]


def param_kind(encoder: SpaceEncoder, param: str) -> dict[str, Any]:
    """The swept parameter's type and scale, for the plot's axis."""
    spec = next(p for p in encoder.space if p.name == param)
    if isinstance(spec, CategoricalParam):
        return {"type": "categorical", "log": False, "choices": list(spec.choices)}
    assert isinstance(spec, FloatParam | IntParam)
    return {"type": "float" if isinstance(spec, FloatParam) else "int", "log": bool(spec.log)}


def observed(
    X: Tensor, y: np.ndarray, ids: list[int], params: list[dict], x_best: Tensor, j: int, name: str
) -> dict[str, list]:
    """Completed trials nearest the slice (at most `MAX_OBSERVED`): their value of `name`,
    objective and distance to the slice (RMS over the other cube dimensions)."""
    others = [i for i in range(X.shape[-1]) if i != j]
    if others:
        diff = (X[:, others] - x_best[others]).pow(2).mean(dim=-1).sqrt().cpu().numpy()
    else:
        diff = np.zeros(X.shape[0])
    order = [i for i in np.argsort(diff, kind="stable") if name in params[i]][:MAX_OBSERVED]
    return {
        "trial_id": [ids[i] for i in order],
        "x": [params[i][name] for i in order],
        "y": [float(y[i]) for i in order],
        "distance": [round(float(diff[i]), 6) for i in order],
    }
