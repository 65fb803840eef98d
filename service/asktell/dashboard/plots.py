"""Plot endpoints of a study: history, EDF, parameter plots, Pareto front, learning curves.

Every payload is downsampled on the server and carries the study's change stamp.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from asktell.api.deps import CallerDep, ContextDep, StudyId
from asktell.core.errors import InvalidInput
from asktell.dashboard import payloads as pl
from asktell.dashboard import queries as q
from asktell.dashboard.analysis import numbers, uniform_indices
from asktell.dashboard.common import Objective, load, stamped, study_of
from asktell.db import repository as repo

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])


@router.get("/studies/{study_id}/history")
def history(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    objective: Objective = None,
    max_points: Annotated[int, Query(ge=10, le=10_000)] = 2000,
) -> Response:
    """Completed values in trial order with the best-so-far, downsampled to `max_points`."""
    got = load(ctx, caller, study_id)
    j = pl.objective_index(got.data, objective)
    return stamped(pl.history_payload(got.data, j, max_points), got.stamp)


@router.get("/studies/{study_id}/edf")
def edf(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    objective: Objective = None,
    points: Annotated[int, Query(ge=2, le=2000)] = 200,
) -> Response:
    """The empirical distribution function of an objective's feasible values."""
    got = load(ctx, caller, study_id)
    j = pl.objective_index(got.data, objective)
    return stamped(pl.edf_payload(got.data, j, points), got.stamp)


@router.get("/studies/{study_id}/sample")
def sample(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    objective: Objective = None,
    max_points: Annotated[int, Query(ge=10, le=5000)] = 1000,
) -> Response:
    """A sample of completed trials (the best ones included) with their parameters."""
    got = load(ctx, caller, study_id, params=True)
    j = pl.objective_index(got.data, objective)
    return stamped(pl.sample_payload(got.data, got.X, j, max_points), got.stamp)


@router.get("/studies/{study_id}/importance")
def importance(
    study_id: StudyId, caller: CallerDep, ctx: ContextDep, objective: Objective = None
) -> Response:
    """How much of the objective's variance each parameter explains on its own."""
    got = load(ctx, caller, study_id, params=True)
    j = pl.objective_index(got.data, objective)
    return stamped(pl.importance_payload(got.data, got.X, j), got.stamp)


@router.get("/studies/{study_id}/contour")
def contour(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    x: Annotated[str, Query(min_length=1, max_length=128)],
    y: Annotated[str, Query(min_length=1, max_length=128)],
    objective: Objective = None,
    bins: Annotated[int, Query(ge=2, le=100)] = 24,
) -> Response:
    """Mean objective over a grid of two parameters."""
    got = load(ctx, caller, study_id, params=True)
    j = pl.objective_index(got.data, objective)
    return stamped(pl.contour_payload(got.data, got.X, j, x, y, bins), got.stamp)


@router.get("/studies/{study_id}/pareto")
def pareto(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    max_points: Annotated[int, Query(ge=10, le=10_000)] = 2000,
) -> Response:
    """Feasible trials on all objectives, with the non-dominated front marked."""
    got = load(ctx, caller, study_id)
    return stamped(pl.pareto_payload(got.data, max_points), got.stamp)


@router.get("/studies/{study_id}/intermediates")
def intermediates(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    metric: Annotated[str | None, Query(max_length=128)] = None,
    max_trials: Annotated[int, Query(ge=1, le=500)] = 50,
    max_steps: Annotated[int, Query(ge=2, le=5000)] = 200,
) -> Response:
    """Learning curves of the latest trials that reported intermediate values."""
    with ctx.db.read() as session:
        study = study_of(session, caller, study_id)
        names = repo.definition_of(study).metric_names
        if metric is not None and metric not in names:
            raise InvalidInput(f"unknown metric {metric!r}; this study has {names}", field="metric")
        name = metric or names[0]
        stamp = q.study_stats(session, [study_id])[study_id].stamp
        curves = []
        for tid, state, steps in q.intermediate_curves(session, study_id, max_trials):
            pts = [(s, v[name]) for s, v in steps if name in v]
            keep = uniform_indices(len(pts), max_steps).tolist()
            curves.append(
                {
                    "id": tid,
                    "state": state,
                    "steps": [pts[i][0] for i in keep],
                    "values": numbers([pts[i][1] for i in keep]),
                }
            )
    return stamped({"metric": name, "metrics": names, "curves": curves}, stamp)
