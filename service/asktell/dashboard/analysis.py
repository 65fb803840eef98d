"""Numeric reductions behind the plots: downsampling, best-so-far, EDF, Pareto, importance."""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "best_so_far",
    "binned_means",
    "edf_points",
    "importance",
    "numbers",
    "pareto_mask",
    "sample_indices",
    "uniform_indices",
]


def numbers(arr, digits: int = 7) -> list[float | None]:
    """A JSON-ready list: finite values to `digits` significant digits, others as null."""
    out: list[float | None] = []
    for x in np.asarray(arr, dtype=float).tolist():
        out.append(float(f"{x:.{digits}g}") if math.isfinite(x) else None)
    return out


def uniform_indices(n: int, k: int) -> np.ndarray:
    """At most `k` evenly spread indices of range(n), first and last included."""
    if n <= k:
        return np.arange(n)
    if k <= 1:
        return np.array([n - 1][:k], dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(np.int64))


def best_so_far(values: np.ndarray, feasible: np.ndarray, sign: float) -> np.ndarray:
    """Running best of feasible values (NaN until the first one); sign +1 maximizes."""
    oriented = np.where(feasible & np.isfinite(values), sign * values, -np.inf)
    run = np.maximum.accumulate(oriented) if oriented.size else oriented
    return np.where(np.isfinite(run), sign * run, np.nan)


def improvements(best: np.ndarray) -> np.ndarray:
    """Indices where the running best changes (the first finite one included)."""
    if best.size == 0:
        return np.zeros(0, dtype=np.int64)
    finite = np.isfinite(best)
    prev = np.concatenate([[np.nan], best[:-1]])
    changed = finite & (~np.isfinite(prev) | (best != prev))
    return np.flatnonzero(changed)


def history_indices(n: int, improved: np.ndarray, max_points: int) -> np.ndarray:
    """Every improvement (thinned if there are too many) plus a uniform sample of the rest."""
    if n <= max_points:
        return np.arange(n)
    keep = improved
    if keep.size > max_points // 2:
        keep = keep[uniform_indices(keep.size, max_points // 2)]
    rest = uniform_indices(n, max_points - keep.size)
    return np.union1d(keep, rest)


def edf_points(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The empirical distribution at up to `k` ranks: (value, fraction of values <= it)."""
    v = np.sort(values[np.isfinite(values)])
    if v.size == 0:
        return v, v
    ranks = uniform_indices(v.size, k)
    # the last rank of each run of equal values, so the fraction is exact
    last = np.searchsorted(v, v[ranks], side="right") - 1
    ranks = np.unique(last)
    return v[ranks], (ranks + 1) / v.size


def pareto_mask(costs: np.ndarray) -> np.ndarray:
    """True for rows no other row dominates (every column minimized)."""
    n = costs.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    if costs.shape[1] == 2:
        order = np.lexsort((costs[:, 1], costs[:, 0]))
        y = costs[order, 1]
        best = np.minimum.accumulate(y)
        prev = np.concatenate([[np.inf], best[:-1]])
        keep = y < prev
        x = costs[order, 0]
        # equal points are mutually non-dominated: keep duplicates of a front point
        dup = np.zeros(n, dtype=bool)
        dup[1:] = (x[1:] == x[:-1]) & (y[1:] == y[:-1])
        for i in np.flatnonzero(dup):
            keep[i] = keep[i - 1]
        mask = np.zeros(n, dtype=bool)
        mask[order] = keep
        return mask
    idx = np.arange(n)
    rest = costs
    i = 0
    while i < rest.shape[0]:
        better = np.any(rest < rest[i], axis=1) | np.all(rest == rest[i], axis=1)
        idx, rest = idx[better], rest[better]
        i = int(np.sum(better[:i])) + 1
    mask = np.zeros(n, dtype=bool)
    mask[idx] = True
    return mask


def sample_indices(score: np.ndarray, k: int, top: int) -> np.ndarray:
    """The `top` best rows by score (larger is better) and an even spread of the others."""
    n = score.size
    if n <= k:
        return np.arange(n)
    finite = np.where(np.isfinite(score), score, -np.inf)
    best = np.argsort(-finite, kind="stable")[:top]
    rest = uniform_indices(n, k - best.size)
    return np.union1d(best, rest)


def _bins(x: np.ndarray, categorical: bool, bins: int) -> np.ndarray:
    """Bin codes of a column: categories as they are, numbers by quantile; -1 when missing."""
    out = np.full(x.shape, -1, dtype=np.int64)
    ok = np.isfinite(x)
    if not ok.any():
        return out
    if categorical:
        out[ok] = x[ok].astype(np.int64)
        return out
    edges = np.unique(np.quantile(x[ok], np.linspace(0, 1, bins + 1)[1:-1]))
    out[ok] = np.searchsorted(edges, x[ok], side="right")
    return out


def importance(X: np.ndarray, y: np.ndarray, categorical: list[bool], bins: int = 10) -> np.ndarray:
    """Share of the objective's variance each parameter explains on its own (binned).

    The correlation ratio of y over the parameter's bins (an inactive conditional
    parameter counts as a bin of its own), normalised to sum to 1.
    """
    ok = np.isfinite(y)
    X, y = X[ok], y[ok]
    d = X.shape[1]
    out = np.zeros(d)
    if y.size < 3 or np.var(y) == 0:
        return out
    total = np.sum((y - y.mean()) ** 2)
    for j in range(d):
        codes = _bins(X[:, j], categorical[j], bins) + 1
        counts = np.bincount(codes)
        sums = np.bincount(codes, weights=y)
        used = counts > 0
        means = sums[used] / counts[used]
        out[j] = np.sum(counts[used] * (means - y.mean()) ** 2) / total
    s = out.sum()
    return out / s if s > 0 else out


def binned_means(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of z and count per (y bin, x bin) cell; NaN mean where a cell is empty."""
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
    nx, ny = x_edges.size - 1, y_edges.size - 1
    ix = np.clip(np.searchsorted(x_edges, x[ok], side="right") - 1, 0, nx - 1)
    iy = np.clip(np.searchsorted(y_edges, y[ok], side="right") - 1, 0, ny - 1)
    flat = iy * nx + ix
    counts = np.bincount(flat, minlength=nx * ny).reshape(ny, nx)
    sums = np.bincount(flat, weights=z[ok], minlength=nx * ny).reshape(ny, nx)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return means, counts
