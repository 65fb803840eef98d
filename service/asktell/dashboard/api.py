"""Dashboard endpoints for studies: the list, one study's summary, its trials table, timeline
and queue, and the comparison of several studies (plots are in `plots`).

All are under /v1/dashboard and project-scoped like the rest of the API. The page never
downloads every trial: the trials table is paged, sorted and filtered on the server and
plots get downsampled payloads. Writes go through the regular API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy.orm import Session

from asktell.api.deps import MAX_ID, CallerDep, ContextDep, StudyId
from asktell.core.arrays import summarize_params
from asktell.dashboard import payloads as pl
from asktell.dashboard import queries as q
from asktell.dashboard.common import load, respond, stamped, study_of
from asktell.dashboard.data import StudyData, load_study_data
from asktell.dashboard.memo import Memo
from asktell.db import repository as repo
from asktell.db.models import StudyRow, TrialRow, utcnow
from asktell_client.types import StudyState, TrialState

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])

StudySort = Literal[
    "id", "name", "state", "strategy", "trials", "completed", "best", "last_activity"
]
Order = Literal["asc", "desc"]

_best = Memo()
BIG_STUDY = 2000
"""Completed trials above which the studies list reads best values from the cached columns."""


@router.get("/me")
def me(caller: CallerDep, ctx: ContextDep) -> Response:
    """Who the page acts as: whether it may write, and whether the server is in open mode."""
    return respond({"can_write": caller.can_write, "open_mode": ctx.open_mode})


@router.get("/studies")
def list_studies(
    caller: CallerDep,
    ctx: ContextDep,
    search: Annotated[str | None, Query(max_length=128)] = None,
    state: StudyState | None = None,
    sort: StudySort = "id",
    order: Order = "asc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> Response:
    """Every study of the project with its state, strategy, trial counts, best value, activity."""
    with ctx.db.read() as session:
        rows = repo.list_studies(session, project_id=caller.project_id, cursor=None, limit=10_000)
        if search:
            rows = [r for r in rows if search.lower() in r.name.lower()]
        if state is not None:
            rows = [r for r in rows if r.state == state.value]
        ids = [r.id for r in rows]
        stats = q.study_stats(session, ids)
        items = [_study_item(session, r, stats[r.id]) for r in rows]
    items.sort(key=_study_key(sort), reverse=order == "desc")
    if sort in ("best", "last_activity"):
        known = [i for i in items if i[sort] is not None]
        items = known + [i for i in items if i[sort] is None]
    return respond({"total": len(items), "items": items[:limit]})


def _study_item(session: Session, row: StudyRow, stats: q.Stats) -> dict:
    objective = row.spec["objectives"][0]
    counts, stamp = stats.counts, stats.stamp
    completed = counts.get("completed", 0)
    best = _best.get((row.id, row.created_at, stamp), lambda: _best_of(session, row, stats))
    return {
        "id": row.id,
        "name": row.name,
        "state": row.state,
        "strategy": row.strategy.get("name"),
        "objective": objective["name"],
        "direction": objective.get("direction", "minimize"),
        "n_objectives": len(row.spec["objectives"]),
        "counts": counts,
        "trials": sum(counts.values()),
        "completed": completed,
        "best": best[0],
        "best_trial_id": best[1],
        "last_activity": q.last_activity(session, row, stats),
        "stamp": stamp,
    }


def _best_of(session: Session, row: StudyRow, stats: q.Stats) -> tuple[float | None, int | None]:
    """Best value of the first objective and its trial: from the cached columns on big studies."""
    if stats.completed[0] > BIG_STUDY:
        data = load_study_data(session, row, stats)
        i = _best_index(data)
        return (None, None) if i is None else (float(data.objectives[i, 0]), int(data.ids[i]))
    found = repo.best_trials(session, study=row)
    if not found:
        return None, None
    name = row.spec["objectives"][0]["name"]
    return found[0].values[name], found[0].id


def _best_index(data: StudyData) -> int | None:
    """Row of the best feasible value of the first objective."""
    if not data.n or not data.feasible.any():
        return None
    score = np.where(data.feasible, data.signs()[0] * data.objectives[:, 0], -np.inf)
    return int(np.argmax(score))


def _study_key(sort: str):
    def key(item: dict):
        value = item[sort]
        if value is None:
            return (0, 0)
        return (1, value.lower()) if isinstance(value, str) else (1, value)

    return key


@router.get("/studies/{study_id}")
def study_summary(study_id: StudyId, caller: CallerDep, ctx: ContextDep) -> Response:
    """One study: definition, counts, best trial, strategies used, a stamp that changes on news."""
    with ctx.db.read() as session:
        row = study_of(session, caller, study_id)
        stats = q.study_stats(session, [row.id])[row.id]
        counts, stamp = stats.counts, stats.stamp
        data = load_study_data(session, row, stats)
        best = _best_trial(session, data)
        content = {
            "id": row.id,
            "name": row.name,
            "state": row.state,
            "strategy": row.strategy,
            "settings": row.settings,
            "metadata": row.meta or {},
            "space": row.spec["space"],
            "plotted_params": [p.name for p in data.params],
            "objectives": row.spec["objectives"],
            "constraints": row.spec.get("constraints", []),
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "last_activity": q.last_activity(session, row, stats),
            "counts": counts,
            "trials": sum(counts.values()),
            "stamp": stamp,
            "best": best,
            "strategies": q.strategy_counts(session, row.id, _completed_by_strategy(data)),
            "can_write": caller.can_write,
        }
    return respond(content)


def _completed_by_strategy(data: StudyData) -> dict[str, int]:
    counts = np.bincount(data.strategy, minlength=len(data.strategy_names))
    return {name: int(n) for name, n in zip(data.strategy_names, counts, strict=True) if n}


def _best_trial(session: Session, data: StudyData) -> dict | None:
    """The best feasible completed trial on the first objective."""
    i = _best_index(data)
    trial = session.get(TrialRow, int(data.ids[i])) if i is not None else None
    if trial is None:
        return None
    return {
        "id": trial.id,
        "values": trial.values,
        "params": summarize_params(trial.params),
        "strategy": trial.strategy,
    }


@router.get("/studies/{study_id}/trials")
def trials(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    sort: Annotated[str, Query(min_length=1, max_length=140)] = "id",
    order: Order = "desc",
    state: Annotated[list[TrialState] | None, Query()] = None,
    strategy: Annotated[str | None, Query(max_length=64)] = None,
    evaluator: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """One page of the trials table: sorted, filtered and counted on the server."""
    with ctx.db.read() as session:
        study = study_of(session, caller, study_id)
        stats = q.study_stats(session, [study.id])[study.id]
        where = q.TrialFilter(
            states=[s.value for s in state] if state else None,
            strategy=strategy,
            evaluator=evaluator,
        )
        total, rows = q.trials_page(
            session,
            study,
            stats,
            where=where,
            sort=sort,
            descending=order == "desc",
            offset=offset,
            limit=limit,
        )
        items = [_trial_item(r) for r in rows]
    content = {"total": total, "offset": offset, "limit": limit, "items": items}
    return stamped(content, stats.stamp)


def _trial_item(r: TrialRow) -> dict:
    return {
        "id": r.id,
        "state": r.state,
        "params": summarize_params(r.params),
        "values": r.values,
        "evaluator": r.evaluator,
        "strategy": r.strategy,
        "failure_reason": r.failure_reason,
        "created_at": r.created_at,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "heartbeat_at": r.heartbeat_at,
    }


@router.get("/studies/{study_id}/timeline")
def timeline(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> Response:
    """The latest trials per evaluator: when each ran and how it ended."""
    with ctx.db.read() as session:
        study_of(session, caller, study_id)
        stats = q.study_stats(session, [study_id])[study_id]
        rows = q.timeline_rows(session, study_id, stats, limit)
    evaluators: dict[str, int] = {}
    keys = ("id", "evaluator", "state", "strategy", "start", "end")
    cols: dict[str, list] = {k: [] for k in keys}
    for tid, ev, state, strategy, created, started, finished, beat in reversed(rows):
        cols["id"].append(tid)
        cols["evaluator"].append(evaluators.setdefault(ev or "(unassigned)", len(evaluators)))
        cols["state"].append(state)
        cols["strategy"].append(strategy)
        cols["start"].append(_epoch(started or created))
        end = finished or (beat if state == "stale" else None)
        cols["end"].append(_epoch(end) if end else None)
    content = {"now": _epoch(utcnow()), "evaluators": list(evaluators), "trials": cols}
    return stamped(content, stats.stamp)


def _epoch(t: datetime) -> float:
    return round(t.timestamp(), 3)


@router.get("/studies/{study_id}/queue")
def queue(study_id: StudyId, caller: CallerDep, ctx: ContextDep) -> Response:
    """Suggestion jobs of the study (leased ones with their age and worker) and the workers."""
    with ctx.db.read() as session:
        study_of(session, caller, study_id)
        return respond(q.queue_status(session, study_id, caller.project_id))


@router.get("/compare")
def compare(
    caller: CallerDep,
    ctx: ContextDep,
    study_id: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Query(max_length=8)],
    max_points: Annotated[int, Query(ge=10, le=5000)] = 1000,
) -> Response:
    """Histories and EDFs of several studies' first objectives, for one plot each."""
    out = []
    for sid in dict.fromkeys(study_id):
        got = load(ctx, caller, sid)
        item = {"id": got.study.id, "name": got.study.name, "stamp": got.stamp}
        item["history"] = pl.history_payload(got.data, 0, max_points)
        item["edf"] = pl.edf_payload(got.data, 0, 200)
        out.append(item)
    return respond({"studies": out})
