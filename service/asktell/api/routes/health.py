"""Liveness, readiness, Prometheus metrics and the list of strategies."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

from asktell import metrics
from asktell.api.deps import ContextDep
from asktell.db.migrate import is_at_head
from asktell.db.models import TrialRow
from asktell.db.queue import queue_depths
from asktell.strategies.registry import available_strategies
from asktell_client.types import StrategyInfo

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(ctx: ContextDep) -> JSONResponse:
    """The database answers and its schema is at the newest migration."""
    try:
        with ctx.db.read() as session:
            session.execute(text("SELECT 1"))
        at_head = is_at_head(ctx.db.engine)
    except Exception as exc:
        return JSONResponse(status_code=503, content={"status": "unavailable", "reason": str(exc)})
    if not at_head:
        return JSONResponse(
            status_code=503, content={"status": "unavailable", "reason": "migrations not at head"}
        )
    return JSONResponse(content={"status": "ready"})


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(ctx: ContextDep) -> Response:
    """Prometheus text format; queue and trial gauges are read from the database."""
    with ctx.db.read() as session:
        depths = queue_depths(session)
        trial_states = dict(
            session.execute(select(TrialRow.state, func.count()).group_by(TrialRow.state)).all()
        )
    for state in ("queued", "leased"):
        metrics.JOBS.labels(state).set(depths.get(state, 0))
    for state in ("pending", "running", "completed", "failed", "stopped", "stale"):
        metrics.TRIALS.labels(state).set(trial_states.get(state, 0))
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/strategies", response_model=list[StrategyInfo], tags=["strategies"])
def list_strategies() -> list[StrategyInfo]:
    """Registered strategies with a one-line description."""
    return [
        StrategyInfo(name=n, description=c.description, inline=c.inline)
        for n, c in available_strategies().items()
    ]
