"""The rank plot: parameter against parameter, each trial coloured by its objective's rank.

One payload carries a downsampled set of completed trials with every plotted
parameter, so the page switches axes without asking again. Ranks are computed
over all feasible trials before sampling: 0 is the best trial, 1 the worst.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import Response

from asktell.api.deps import CallerDep, ContextDep, StudyId
from asktell.dashboard import analysis as an
from asktell.dashboard import payloads as pl
from asktell.dashboard.common import Objective, load, stamped
from asktell.dashboard.data import StudyData

__all__ = ["rank_payload", "ranks", "router"]

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])


def ranks(score: np.ndarray) -> np.ndarray:
    """Rank of each finite score in [0, 1] (larger score is better, 0 is the best; ties
    share a rank); NaN where the score is not finite."""
    out = np.full(score.shape, np.nan)
    ok = np.isfinite(score)
    m = int(ok.sum())
    if m:
        worst_first = np.sort(-score[ok])
        better = np.searchsorted(worst_first, -score[ok], side="left")
        out[ok] = better / max(m - 1, 1)
    return out


def rank_payload(data: StudyData, X: np.ndarray, j: int, max_points: int) -> dict:
    """A sample of completed trials (the best ones included) with parameters and ranks."""
    y = data.objectives[:, j] if data.n else np.zeros(0)
    sign = data.signs()[j] if data.n else -1.0
    score = np.where(data.feasible & np.isfinite(y), sign * y, np.nan)
    rank = ranks(score)
    keep = an.sample_indices(score, max_points, max(1, max_points // 10))
    o = data.definition.objectives[j]
    return {
        "objective": o.name,
        "direction": o.direction.value,
        "total": data.n,
        "ranked": int(np.isfinite(rank).sum()),
        "shown": int(keep.size),
        "params": [pl.param_info(p) for p in data.params],
        "ids": data.ids[keep].tolist(),
        "values": an.numbers(y[keep]),
        "rank": an.numbers(rank[keep], 4),
        "columns": {p.name: an.numbers(X[keep, k]) for k, p in enumerate(data.params)},
    }


@router.get("/studies/{study_id}/rank")
def rank(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    objective: Objective = None,
    max_points: Annotated[int, Query(ge=10, le=5000)] = 1000,
) -> Response:
    """Completed trials' parameters with their objective rank (0 best, 1 worst)."""
    got = load(ctx, caller, study_id, params=True)
    j = pl.objective_index(got.data, objective)
    return stamped(rank_payload(got.data, got.X, j, max_points), got.stamp)
