"""The surrogate view: the study's model along one parameter, computed on demand by a worker.

`POST /v1/dashboard/studies/{id}/surrogate` with `{"param": name}` queues a
"surrogate" job (merged with the study's queued one) and waits up to
`WAIT_SECONDS` for it: 200 with the answer, else 202 to poll
`GET /v1/dashboard/studies/{id}/surrogate/{job_id}`. Both answer
`{"job_id", "study_id", "state", "param", "result"}`; `result` is null until the
job is done, then the slice (see `ModelBasedStrategy.explain`) or `{"error": reason}`.

Read-only callers may ask for it too: the job changes nothing in the study.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from asktell.api.deps import MAX_ID, Caller, CallerDep, ContextDep, StudyId
from asktell.core.errors import InvalidInput, NotFound
from asktell.core.states import JobState
from asktell.dashboard.common import respond, study_of
from asktell.db.models import JobRow
from asktell.db.queue import enqueue_surrogate

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])

JobId = Annotated[int, Path(ge=1, le=MAX_ID)]
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.1
FINISHED = (JobState.done.value, JobState.failed.value)


class SurrogateRequest(BaseModel):
    """Which parameter to sweep."""

    model_config = ConfigDict(extra="forbid")
    param: str = Field(min_length=1, max_length=140)


@router.post("/studies/{study_id}/surrogate")
async def request_surrogate(
    study_id: StudyId, body: SurrogateRequest, caller: CallerDep, ctx: ContextDep
) -> Response:
    """Queue the slice along `param` and wait a little for it: 200 when done, else 202."""
    job_id = await run_in_threadpool(_enqueue, ctx, caller, study_id, body.param)
    ctx.hub.wake_jobs()
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        content = await run_in_threadpool(_job_payload, ctx, caller, study_id, job_id, body.param)
        if content["state"] in FINISHED or time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_SECONDS)
    response = respond(content)
    if content["state"] not in FINISHED:
        response.status_code = 202
    return response


@router.get("/studies/{study_id}/surrogate/{job_id}")
async def surrogate_job(
    study_id: StudyId,
    job_id: JobId,
    caller: CallerDep,
    ctx: ContextDep,
    param: Annotated[str | None, Query(min_length=1, max_length=140)] = None,
) -> Response:
    """A surrogate job's state and, once done, its slice along `param` (default: the first)."""
    return respond(await run_in_threadpool(_job_payload, ctx, caller, study_id, job_id, param))


def _enqueue(ctx, caller: Caller, study_id: int, param: str) -> int:
    with ctx.db.write() as session:
        study = study_of(session, caller, study_id)
        free = [p["name"] for p in study.spec["space"] if p.get("type") != "fixed"]
        if param not in free:
            raise InvalidInput(
                f"unknown or fixed parameter {param!r}; this study has {free}", field="param"
            )
        return enqueue_surrogate(session, study_id=study_id, param=param)


def _job_payload(ctx, caller: Caller, study_id: int, job_id: int, param: str | None) -> dict:
    with ctx.db.read() as session:
        study_of(session, caller, study_id)
        job = session.get(JobRow, job_id)
        if job is None or job.study_id != study_id or job.kind != "surrogate":
            raise NotFound(f"no surrogate job {job_id} in study {study_id}", field="job_id")
        names = list((job.params or {}).get("params", []))
        param = param or (names[0] if names else None)
        if param not in names:
            raise InvalidInput(f"job {job_id} computes {names}, not {param!r}", field="param")
        result = None
        if job.state == JobState.done.value:
            result = (job.result or {}).get(param) or {"error": "no result"}
        elif job.state == JobState.failed.value:
            result = {"error": job.error or "the job failed"}
        return {
            "job_id": job.id,
            "study_id": study_id,
            "state": job.state,
            "param": param,
            "result": result,
        }
