"""Hypervolume history of a multi-objective study: the volume its feasible Pareto front
dominates after each completed trial, against trial id.

The reference point is the objectives' `threshold` where set, else inferred from the
final feasible front the way the model-based strategies do it (botorch's
`infer_reference_point`: nadir minus a tenth of the front's range). The volume only
grows when a trial enters the front, so the payload is the step function through
those trials, thinned to `max_points`. A vectorised screen first drops the trials an
earlier one dominates; two objectives are then swept exactly, three or more estimated
from uniform samples of the dominated box. Results are memoised per change stamp.
"""

from __future__ import annotations

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
from asktell.dashboard.staircase import Staircase

__all__ = [
    "SAMPLES",
    "entry_candidates",
    "history_exact_2d",
    "history_sampled",
    "hypervolume_payload",
    "infer_reference_point",
    "sample_count",
    "router",
]

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])

SAMPLES = 1 << 14
"""Uniform samples of the dominated box behind the estimate for three or more objectives."""
MIN_SAMPLES = 1 << 10
SAMPLE_BUDGET = 1 << 27
FILTER_FRONT = 1024
"""Front rows kept to screen out trials that cannot change the hypervolume."""
SCALE = 0.1
MIN_RANGE = 1e-7
_CHUNK = 512
_BLOCK_CELLS = 1 << 21
_memo = Memo(size=64)


def infer_reference_point(front: np.ndarray) -> np.ndarray:
    """`nadir - 0.1 * range` of a front given as costs to minimize (the cost form of botorch's
    `infer_reference_point`, which maximizes); a single point steps back by a tenth of itself."""
    if front.shape[0] == 1:
        return front[0] + SCALE * np.maximum(np.abs(front[0]), MIN_RANGE)
    worst, best = front.max(axis=0), front.min(axis=0)
    return worst + SCALE * np.maximum(worst - best, MIN_RANGE)


def _weakly_dominates(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """`out[i, j]`: row i of A is no worse than row j of B in every column."""
    out = A[:, None, 0] <= B[None, :, 0]
    for k in range(1, A.shape[1]):
        out &= A[:, None, k] <= B[None, :, k]
    return out


def _dominated_by(front: np.ndarray, X: np.ndarray) -> np.ndarray:
    """For each row of X: whether some row of `front` is no worse in every column."""
    out = np.zeros(X.shape[0], dtype=bool)
    step = max(1, _BLOCK_CELLS // max(1, X.shape[0]))
    for s in range(0, front.shape[0], step):
        out |= _weakly_dominates(front[s : s + step], X).any(axis=0)
    return out


def _merge_front(front: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The non-dominated rows of a front and of new rows that no front row dominates."""
    kept = front[~_dominated_by(new, front)]
    beats = _weakly_dominates(new, new)
    np.fill_diagonal(beats, False)
    merged = np.concatenate([kept, new[~beats.any(axis=0)]])
    if merged.shape[0] > FILTER_FRONT:
        merged = merged[an.uniform_indices(merged.shape[0], FILTER_FRONT)]
    return merged


def entry_candidates(costs: np.ndarray) -> np.ndarray:
    """Rows (in order) that may have entered the Pareto front when they arrived: every row
    that did and, once the front outgrows the FILTER_FRONT rows kept to screen with, some
    that an earlier row dominates. Only entries change the hypervolume."""
    front = costs[:0]
    found = []
    for s in range(0, costs.shape[0], _CHUNK):
        X = costs[s : s + _CHUNK]
        alive = np.flatnonzero(~_dominated_by(front, X))
        if alive.size == 0:
            continue
        earlier = np.triu(_weakly_dominates(X[alive], X[alive]), 1).any(axis=0)
        new = alive[~earlier]
        found.append(new + s)
        front = _merge_front(front, X[new])
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def history_exact_2d(costs: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact hypervolume after each row of two costs to minimize, by one sweep over a
    staircase front. Returns the rows that increased it and the volume after each of them."""
    front = Staircase(float(ref[0]), float(ref[1]))
    rows, volumes = [], []
    for i, (a, b) in enumerate(costs.tolist()):
        if front.add(a, b) > 0:
            rows.append(i)
            volumes.append(front.area)
    return np.array(rows, dtype=np.int64), np.array(volumes)


def sample_count(candidates: int, m: int) -> int:
    """Samples for the estimate: SAMPLES, fewer (down to MIN_SAMPLES) when many trials
    entered the front, so the work stays within SAMPLE_BUDGET comparisons."""
    fit = SAMPLE_BUDGET // max(1, candidates * m)
    return int(min(SAMPLES, max(MIN_SAMPLES, 1 << max(0, int(fit).bit_length() - 1))))


def history_sampled(
    costs: np.ndarray, ref: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, int]:
    """Estimated hypervolume after each front entry, for any number of costs: the share of
    uniform samples of the box [best, ref] that some trial so far dominates, times its volume.

    Returns the rows that increased the estimate, the estimate after each, and the samples.
    """
    inside = np.flatnonzero(np.all(costs < ref, axis=1))
    rows = inside[entry_candidates(costs[inside])]
    if rows.size == 0:
        return rows, np.zeros(0), 0
    C = costs[rows]
    n = sample_count(rows.size, C.shape[1])
    low = C.min(axis=0)
    box = float(np.prod(ref - low))
    S = low + np.random.default_rng(seed).random((n, C.shape[1])) * (ref - low)
    first = np.full(n, rows.size, dtype=np.int64)
    open_ = np.arange(n)
    for s in range(0, rows.size, _CHUNK):
        if open_.size == 0:
            break
        hit = _weakly_dominates(C[s : s + _CHUNK], S[open_])
        got = hit.any(axis=0)
        first[open_[got]] = s + np.argmax(hit[:, got], axis=0)
        open_ = open_[~got]
    counts = np.bincount(first, minlength=rows.size + 1)[: rows.size]
    volumes = box * np.cumsum(counts) / n
    grew = np.diff(volumes, prepend=0.0) > 0
    return rows[grew], volumes[grew], n


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
        "samples": None,
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
        inside = np.flatnonzero(np.all(costs < ref.costs, axis=1))
        swept = inside[entry_candidates(costs[inside])]
        grew, volumes = history_exact_2d(costs[swept], ref.costs)
        grew = swept[grew]
    else:
        grew, volumes, out["samples"] = history_sampled(costs, ref.costs)
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
