"""Trials: ask, tell, report, heartbeat, list, best, Pareto front; operations."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from asktell import metrics
from asktell.api.context import AppContext
from asktell.api.deps import Caller, CallerDep, ContextDep, OperationId, StudyId, TrialId, WriterDep
from asktell.api.idempotency import IdempotencyKey, run_once
from asktell.api.responses import ModelResponse
from asktell.api.threads import run_blocking
from asktell.ask import AskOutcome, answer_with_fallback, read_operation, start_ask
from asktell.core.errors import Conflict, NotFound
from asktell.db import repository as repo
from asktell.db.convert import trial_to_wire
from asktell.tell import finish_trial, heartbeat_trial, report_trial
from asktell_client.types import (
    ArrayFormat,
    AskRequest,
    AskResponse,
    HeartbeatResponse,
    Operation,
    ReportRequest,
    ReportResponse,
    TellRequest,
    Trial,
    TrialCreate,
    TrialList,
    TrialPage,
    TrialState,
)

router = APIRouter(prefix="/v1", tags=["trials"])

ArrayFormatQuery = Annotated[
    ArrayFormat,
    Query(description="Array parameter values as JSON lists (`list`) or float32 blocks (`b64`)"),
]


@router.post(
    "/studies/{study_id}/trials:ask",
    response_model=AskResponse,
    responses={202: {"model": Operation, "description": "Still computing: poll the operation"}},
)
async def ask_trials(
    study_id: StudyId,
    body: AskRequest,
    caller: WriterDep,
    ctx: ContextDep,
    array_format: ArrayFormatQuery = ArrayFormat.list,
) -> Response:
    """Get `count` trials to evaluate; 202 with an operation if a worker is still computing."""
    return await answer_ask(ctx, caller, study_id, body, array_format)


async def answer_ask(
    ctx: AppContext, caller: Caller, study_id: int, body: AskRequest, array_format: ArrayFormat
) -> Response:
    """The ask's answer (also served by the fast lane, `asktell.api.fast_lane`)."""
    started = time.monotonic()
    outcome = await run_blocking(
        start_ask, ctx.db, project_id=caller.project_id, study_id=study_id, req=body
    )
    if outcome.refill or not outcome.done:
        ctx.hub.wake_jobs()
    if outcome.done:
        trials = [trial_to_wire(t, None, array_format) for t in outcome.trials]
        return ModelResponse(AskResponse(trials=trials))
    return await _wait_for_operation(ctx, caller.project_id, outcome, body, started, array_format)


async def _wait_for_operation(
    ctx: AppContext,
    project_id: int,
    outcome: AskOutcome,
    body: AskRequest,
    started: float,
    array_format: ArrayFormat,
) -> Response:
    """Wait for a worker, up to the ask's wait; past the study's deadline use its fallback."""
    op_id, settings = outcome.operation_id, outcome.settings
    deadline = settings.suggestion_deadline
    limit = body.wait if body.wait is not None else settings.ask_timeout
    metrics.ASKS_WAITING.inc()
    try:
        while True:
            op, trials = await run_in_threadpool(
                read_operation, ctx.db, project_id=project_id, op_id=op_id
            )
            if op.state == "done":
                trials = [trial_to_wire(t, None, array_format) for t in trials]
                return ModelResponse(AskResponse(trials=trials))
            if op.state == "failed":
                raise Conflict(op.error or "suggestion failed", code="suggestion_failed")
            elapsed = time.monotonic() - started
            if deadline is not None and elapsed >= deadline:
                await run_in_threadpool(answer_with_fallback, ctx.db, op_id=op_id)
                deadline = None
                continue
            if elapsed >= limit:
                content = Operation(
                    id=op.id,
                    study_id=op.study_id,
                    done=False,
                    count=op.count,
                    trials=[trial_to_wire(t, None, array_format) for t in trials],
                )
                return JSONResponse(status_code=202, content=content.model_dump(mode="json"))
            until = min(limit, deadline) if deadline is not None else limit
            await ctx.hub.wait_op(op_id, min(ctx.settings.poll_interval, until - elapsed))
    finally:
        metrics.ASKS_WAITING.dec()


@router.get("/operations/{operation_id}", response_model=Operation)
def read_operation_route(
    operation_id: OperationId,
    caller: CallerDep,
    ctx: ContextDep,
    array_format: ArrayFormatQuery = ArrayFormat.list,
) -> Operation:
    """Poll an ask that answered 202."""
    op, trials = read_operation(ctx.db, project_id=caller.project_id, op_id=operation_id)
    return Operation(
        id=op.id,
        study_id=op.study_id,
        done=op.state != "waiting",
        count=op.count,
        trials=[trial_to_wire(t, None, array_format) for t in trials],
        error=op.error,
    )


@router.get("/studies/{study_id}/trials", response_model=TrialPage)
def list_trials(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    state: Annotated[list[TrialState] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    array_format: ArrayFormatQuery = ArrayFormat.list,
) -> TrialPage:
    """List a study's trials, oldest first, optionally filtered by state."""
    with ctx.db.read() as session:
        repo.get_study(session, project_id=caller.project_id, study_id=study_id)
        rows = repo.list_trials(
            session,
            study_id=study_id,
            states=[s.value for s in state] if state else None,
            cursor=repo.parse_cursor(cursor),
            limit=limit,
        )
        inter = repo.intermediates_of(session, trial_ids=[r.id for r in rows])
        items = [trial_to_wire(r, inter.get(r.id), array_format) for r in rows]
    return TrialPage(items=items, next_cursor=str(rows[-1].id) if len(rows) == limit else None)


@router.post("/studies/{study_id}/trials", status_code=201, response_model=Trial)
def create_trial(
    study_id: StudyId,
    body: TrialCreate,
    caller: WriterDep,
    ctx: ContextDep,
    key: IdempotencyKey = None,
    array_format: ArrayFormatQuery = ArrayFormat.list,
) -> JSONResponse:
    """Add a trial by hand: pending (handed to the next ask) or, with values, completed."""

    def add(session) -> Trial:
        study = repo.get_study(session, project_id=caller.project_id, study_id=study_id)
        definition = repo.definition_of(study)
        params = definition.space.validate_params(body.params)
        values = definition.validate_values(body.values) if body.values is not None else None
        state = TrialState.completed if values is not None else TrialState.pending
        return trial_to_wire(
            repo.add_trial(session, study=study, params=params, values=values, state=state),
            None,
            array_format,
        )

    return run_once(
        ctx.db,
        project_id=caller.project_id,
        key=key,
        route="create_trial",
        status_code=201,
        action=add,
    )


@router.get("/studies/{study_id}/trials:best", response_model=Trial)
def read_best_trial(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    array_format: ArrayFormatQuery = ArrayFormat.list,
) -> Trial:
    """The best feasible completed trial (first objective)."""
    with ctx.db.read() as session:
        study = repo.get_study(session, project_id=caller.project_id, study_id=study_id)
        rows = repo.best_trials(session, study=study)
        if not rows:
            raise NotFound("no feasible completed trial yet", code="no_completed_trials")
        return trial_to_wire(rows[0], None, array_format)


@router.get("/studies/{study_id}/trials:pareto", response_model=TrialList)
def read_pareto_front(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    array_format: ArrayFormatQuery = ArrayFormat.list,
) -> TrialList:
    """Feasible completed trials that no other one dominates on every objective."""
    with ctx.db.read() as session:
        study = repo.get_study(session, project_id=caller.project_id, study_id=study_id)
        return TrialList(
            trials=[
                trial_to_wire(r, None, array_format)
                for r in repo.pareto_trials(session, study=study)
            ]
        )


@router.get("/trials/{trial_id}", response_model=Trial)
def read_trial(
    trial_id: TrialId,
    caller: CallerDep,
    ctx: ContextDep,
    array_format: ArrayFormatQuery = ArrayFormat.list,
) -> Trial:
    """Read one trial with its intermediate values."""
    with ctx.db.read() as session:
        row, _ = repo.get_trial(session, project_id=caller.project_id, trial_id=trial_id)
        inter = repo.intermediates_of(session, trial_ids=[row.id]).get(row.id)
        return trial_to_wire(row, inter, array_format)


@router.post("/trials/{trial_id}:tell", response_model=Trial)
async def tell(
    trial_id: TrialId,
    body: TellRequest,
    caller: WriterDep,
    ctx: ContextDep,
    array_format: ArrayFormatQuery = ArrayFormat.list,
) -> Response:
    """Finish a trial; telling the same outcome twice is harmless, a different one is 409."""
    return await answer_tell(ctx, caller, trial_id, body, array_format)


async def answer_tell(
    ctx: AppContext, caller: Caller, trial_id: int, body: TellRequest, array_format: ArrayFormat
) -> Response:
    """The tell's answer (also served by the fast lane, `asktell.api.fast_lane`)."""
    row, refresh = await run_blocking(
        finish_trial, ctx.db, project_id=caller.project_id, trial_id=trial_id, req=body
    )
    trial = trial_to_wire(row, None, array_format)
    if refresh:
        ctx.hub.wake_jobs()
    return ModelResponse(trial)


@router.post("/trials/{trial_id}:report", response_model=ReportResponse)
def report(trial_id: TrialId, body: ReportRequest, caller: WriterDep, ctx: ContextDep):
    """Store intermediate values of a step; answers whether to stop early."""
    with ctx.db.write() as session:
        stop = report_trial(session, project_id=caller.project_id, trial_id=trial_id, req=body)
    return ReportResponse(should_stop=stop)


@router.post("/trials/{trial_id}:heartbeat", response_model=HeartbeatResponse)
def heartbeat(trial_id: TrialId, caller: WriterDep, ctx: ContextDep) -> HeartbeatResponse:
    """Keep a running trial alive."""
    with ctx.db.write() as session:
        row = heartbeat_trial(session, project_id=caller.project_id, trial_id=trial_id)
        return HeartbeatResponse(
            state=row.state, should_stop=row.state in ("failed", "stopped", "completed")
        )
