"""Hypervolume history of a multi-objective study: the volume its feasible Pareto front
dominates after each completed trial, against trial id.

The reference point is the objectives' `threshold` where set, else inferred from the
final feasible front the way the model-based strategies do it (botorch's
`infer_reference_point`: nadir minus a tenth of the front's range). The volume only
grows when a trial enters the front, so the payload is the step function through
those trials, thinned to `max_points`. Two objectives are swept exactly; three or
more are estimated from a fixed set of uniform samples. Results are memoised per
change stamp.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import Response

from asktell.api.deps import CallerDep, ContextDep, StudyId
from asktell.core.errors import InvalidInput
from asktell.dashboard import analysis as an
from asktell.dashboard.common import load, stamped
from asktell.dashboard.data import StudyData
from asktell.dashboard.memo import Memo

__all__ = [
    "SAMPLES",
    "entry_indices",
    "history_exact_2d",
    "history_sampled",
    "hypervolume_payload",
    "infer_reference_point",
    "router",
]

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])

SAMPLES = 1 << 14
"""Uniform samples of the dominated box behind the estimate for three or more objectives."""
SCALE = 0.1
MIN_RANGE = 1e-7
_CHUNK = 512
_BLOCK_CELLS = 1 << 22
_memo = Memo(size=64)


def infer_reference_point(front: np.ndarray) -> np.ndarray:
    """`nadir - 0.1 * range` of a front given as costs to minimize (the cost form of botorch's
    `infer_reference_point`, which maximizes); a single point steps back by a tenth of itself."""
    if front.shape[0] == 1:
        return front[0] + SCALE * np.maximum(np.abs(front[0]), MIN_RANGE)
    worst, best = front.max(axis=0), front.min(axis=0)
    return worst + SCALE * np.maximum(worst - best, MIN_RANGE)


def _dominated_by(front: np.ndarray, X: np.ndarray) -> np.ndarray:
    """For each row of X: whether some row of `front` is no worse in every column."""
    out = np.zeros(X.shape[0], dtype=bool)
    step = max(1, _BLOCK_CELLS // max(1, X.shape[0] * X.shape[1]))
    for s in range(0, front.shape[0], step):
        out |= np.all(front[s : s + step, None, :] <= X[None, :, :], axis=2).any(axis=0)
    return out


def _merge_front(front: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The non-dominated rows of a front and new rows that no front row dominates."""
    kept = front[~_dominated_by(new, front)]
    beats = np.all(new[:, None, :] <= new[None, :, :], axis=2)
    np.fill_diagonal(beats, False)
    return np.concatenate([kept, new[~beats.any(axis=0)]])


def entry_indices(costs: np.ndarray) -> np.ndarray:
    """Rows (in order) that no earlier row weakly dominates: the trials that entered the
    front when they arrived. Only these can change the hypervolume."""
    n = costs.shape[0]
    front = costs[:0]
    entered = []
    for s in range(0, n, _CHUNK):
        X = costs[s : s + _CHUNK]
        beaten = _dominated_by(front, X)
        earlier = np.all(X[:, None, :] <= X[None, :, :], axis=2)
        beaten |= np.triu(earlier, 1).any(axis=0)
        new = np.flatnonzero(~beaten)
        if new.size:
            entered.append(new + s)
            front = _merge_front(front, X[new])
    return np.concatenate(entered) if entered else np.zeros(0, dtype=np.int64)


def history_exact_2d(costs: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact hypervolume after each row of two costs to minimize, by one sweep.

    Returns the rows that increased it and the volume after each of them. The front is kept
    sorted by the first cost (the second then strictly decreasing); a new point adds the
    part of its box under the front's staircase and removes the points it dominates.
    """
    rx, ry = float(ref[0]), float(ref[1])
    xs: list[float] = []
    ys: list[float] = []
    volume = 0.0
    rows, volumes = [], []
    for i, (a, b) in enumerate(costs.tolist()):
        if not (a < rx and b < ry):
            continue
        right = bisect.bisect_right(xs, a)
        if right and ys[right - 1] <= b:
            continue
        height = ys[right - 1] if right else ry
        left = bisect.bisect_left(xs, a)
        x, k, added = a, right, 0.0
        while k < len(xs) and ys[k] >= b:
            added += (xs[k] - x) * (height - b)
            x, height = xs[k], ys[k]
            k += 1
        added += ((xs[k] if k < len(xs) else rx) - x) * (height - b)
        xs[left:k] = [a]
        ys[left:k] = [b]
        volume += added
        rows.append(i)
        volumes.append(volume)
    return np.array(rows, dtype=np.int64), np.array(volumes)


def history_sampled(
    costs: np.ndarray, ref: np.ndarray, samples: int = SAMPLES, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Estimated hypervolume after each front entry, for any number of costs: the share of
    uniform samples of the box [best, ref] that some trial so far dominates, times its volume.

    Returns the rows that increased the estimate and the estimate after each of them.
    """
    inside = np.flatnonzero(np.all(costs < ref, axis=1))
    rows = inside[entry_indices(costs[inside])]
    if rows.size == 0:
        return rows, np.zeros(0)
    C = costs[rows]
    low = C.min(axis=0)
    box = float(np.prod(ref - low))
    S = low + np.random.default_rng(seed).random((samples, C.shape[1])) * (ref - low)
    first = np.full(samples, rows.size, dtype=np.int64)
    open_ = np.arange(samples)
    step = max(1, _BLOCK_CELLS // max(1, samples * C.shape[1]))
    for s in range(0, rows.size, step):
        if open_.size == 0:
            break
        hit = np.all(C[s : s + step, None, :] <= S[None, open_, :], axis=2)
        got = hit.any(axis=0)
        first[open_[got]] = s + np.argmax(hit[:, got], axis=0)
        open_ = open_[~got]
    counts = np.bincount(first, minlength=rows.size + 1)[: rows.size]
    volumes = box * np.cumsum(counts) / samples
    grew = np.concatenate([[volumes[0] > 0], np.diff(volumes) > 0])
    return rows[grew], volumes[grew]


@dataclass(frozen=True)
class _Reference:
    costs: np.ndarray
    sources: list[str]


def _reference(data: StudyData, costs: np.ndarray) -> _Reference | None:
    """The reference point as costs: thresholds where set, the inferred point elsewhere."""
    objectives = data.definition.objectives
    sources = ["threshold" if o.threshold is not None else "inferred" for o in objectives]
    ref = np.full(len(objectives), np.nan)
    if "inferred" in sources:
        if costs.shape[0] == 0:
            return None
        ref = infer_reference_point(costs[an.pareto_mask(costs)])
    for k, o in enumerate(objectives):
        if o.threshold is not None:
            ref[k] = -data.definition.sign(o) * o.threshold
    return _Reference(ref, sources)


def hypervolume_payload(data: StudyData, max_points: int) -> dict:
    """The hypervolume step function of a study with two or more objectives."""
    signs = data.signs()
    m = signs.size
    rows = np.flatnonzero(data.feasible)
    costs = -data.objectives[rows] * signs
    out: dict = {
        "objectives": [
            {"name": o.name, "direction": o.direction.value} for o in data.definition.objectives
        ],
        "total": data.n,
        "feasible": int(rows.size),
        "method": "exact" if m == 2 else "estimate",
        "samples": None if m == 2 else SAMPLES,
        "reference_point": None,
        "reference_sources": None,
        "ids": [],
        "values": [],
        "entries": 0,
        "hypervolume": 0.0,
        "last_id": int(data.ids[-1]) if data.n else None,
    }
    ref = _reference(data, costs)
    if ref is None:
        return out
    out["reference_point"] = an.numbers(-ref.costs * signs)
    out["reference_sources"] = ref.sources
    if m == 2:
        grew, volumes = history_exact_2d(costs, ref.costs)
    else:
        grew, volumes = history_sampled(costs, ref.costs)
    keep = an.uniform_indices(grew.size, max_points)
    out.update(
        ids=data.ids[rows[grew[keep]]].tolist(),
        values=an.numbers(volumes[keep]),
        entries=int(grew.size),
        hypervolume=an.numbers(volumes[-1:])[0] if volumes.size else 0.0,
    )
    return out


@router.get("/studies/{study_id}/hypervolume")
def hypervolume(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    max_points: Annotated[int, Query(ge=10, le=10_000)] = 2000,
) -> Response:
    """Hypervolume of the feasible Pareto front after each completed trial (2+ objectives)."""
    got = load(ctx, caller, study_id)
    m = len(got.data.definition.objectives)
    if m < 2:
        raise InvalidInput(
            f"study {study_id} has one objective: the hypervolume needs two or more",
            field="study_id",
        )
    key = (got.study.id, got.study.created_at, got.data.stamp, max_points)
    content = _memo.get(key, lambda: hypervolume_payload(got.data, max_points))
    return stamped(dict(content), got.stamp)
