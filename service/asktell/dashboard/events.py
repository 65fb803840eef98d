"""Server-sent events of a study: one `change` event whenever its trials or settings change.

The stream reads the study's change stamp (the same index-only aggregate the panels
carry) every `CHECK_SECONDS`, shared by every open page of the study, and sends an
event only when it differs. It ends after `timeout` seconds (the page reconnects, and
falls back to polling when it cannot); a stopping server cuts open streams after its
graceful-shutdown timeout. Reading the stamp, rather than LISTEN/NOTIFY, sees changes
made through any replica on either engine.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from asktell.api.context import AppContext
from asktell.api.deps import CallerDep, ContextDep, StudyId
from asktell.dashboard import queries as q
from asktell.db import repository as repo

__all__ = ["router"]

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])

CHECK_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
RETRY_MS = 2000

_latest: dict[tuple[int, int], tuple[float, dict]] = {}
_lock = threading.Lock()


def _read_state(ctx: AppContext, project_id: int, study_id: int) -> dict:
    """The study's change stamp, state and last edit (404 if not the project's)."""
    with ctx.db.read() as session:
        row = repo.get_study(session, project_id=project_id, study_id=study_id)
        stamp = q.study_stats(session, [row.id])[row.id].stamp
        return {"stamp": stamp, "state": row.state, "updated_at": row.updated_at.isoformat()}


def _shared_state(ctx: AppContext, project_id: int, study_id: int) -> dict:
    """`_read_state`, read at most once per `CHECK_SECONDS` for all streams of the study."""
    key, now = (project_id, study_id), time.monotonic()
    with _lock:
        hit = _latest.get(key)
    if hit is not None and now - hit[0] < CHECK_SECONDS:
        return hit[1]
    state = _read_state(ctx, project_id, study_id)
    with _lock:
        _latest[key] = (now, state)
        if len(_latest) > 10_000:
            _latest.clear()
    return state


def _event(state: dict) -> str:
    return f"event: change\ndata: {json.dumps(state, separators=(',', ':'))}\n\n"


@router.get("/studies/{study_id}/events", response_class=StreamingResponse)
async def study_events(
    study_id: StudyId,
    request: Request,
    caller: CallerDep,
    ctx: ContextDep,
    timeout: Annotated[float, Query(ge=0, le=3600)] = 55.0,
) -> StreamingResponse:
    """A text/event-stream of `change` events (the first one at once) for `timeout` seconds."""
    first = await run_in_threadpool(_read_state, ctx, caller.project_id, study_id)
    deadline = time.monotonic() + timeout

    async def stream() -> AsyncIterator[str]:
        last, sent = first, time.monotonic()
        yield f"retry: {RETRY_MS}\n" + _event(first)
        while time.monotonic() < deadline:
            await asyncio.sleep(CHECK_SECONDS)
            if await request.is_disconnected():
                return
            try:
                state = await run_in_threadpool(_shared_state, ctx, caller.project_id, study_id)
            except Exception:  # the study was deleted or the database is away: end here
                return
            if state != last:
                last, sent = state, time.monotonic()
                yield _event(state)
            elif time.monotonic() - sent > KEEPALIVE_SECONDS:
                sent = time.monotonic()
                yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
