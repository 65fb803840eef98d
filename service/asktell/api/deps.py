"""Request dependencies as Annotated aliases."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from asktell.api.context import AppContext
from asktell.core.errors import Forbidden, Unauthorized
from asktell.db import repository as repo

MAX_ID = 2**63 - 1


async def get_context(request: Request) -> AppContext:
    return request.app.state.ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


@dataclass(frozen=True)
class Caller:
    project_id: int
    can_write: bool


async def get_caller(request: Request) -> Caller:
    """The project a request acts for: from its bearer token, or the default one when open.

    Dependencies are async so they cost no thread hop, and flat (no sub-dependencies)
    because each level costs FastAPI's resolver time on every request.
    """
    return await resolve_caller(request.app.state.ctx, request.headers.get("authorization"))


async def resolve_caller(ctx: AppContext, header: str | None) -> Caller:
    """The caller of an `Authorization` header; a token is looked up in the database (in
    the thread pool) at most every `token_cache_seconds`."""
    if header:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("use 'Authorization: Bearer <token>'", field="authorization")
        cached = ctx.tokens.get(token)
        now = time.monotonic()
        if cached is not None and now - cached[1] < ctx.settings.token_cache_seconds:
            return cached[0]
        caller = await run_in_threadpool(_lookup, ctx, token)
        if len(ctx.tokens) > 10_000:
            ctx.tokens.clear()
        ctx.tokens[token] = (caller, now)
        return caller
    if ctx.open_mode and ctx.default_project_id is not None:
        return Caller(ctx.default_project_id, True)
    raise Unauthorized("a token is required", field="authorization")


def _lookup(ctx: AppContext, token: str) -> Caller:
    with ctx.db.read() as session:
        row = repo.resolve_token(session, token=token)
        if row is None:
            raise Unauthorized("unknown or revoked token", field="authorization")
        return Caller(row.project_id, row.can_write)


async def get_writer(request: Request) -> Caller:
    return await resolve_writer(request.app.state.ctx, request.headers.get("authorization"))


async def resolve_writer(ctx: AppContext, header: str | None) -> Caller:
    """`resolve_caller`, refusing a read-only token."""
    caller = await resolve_caller(ctx, header)
    if not caller.can_write:
        raise Forbidden("this token is read-only", field="authorization")
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]
WriterDep = Annotated[Caller, Depends(get_writer)]
StudyId = Annotated[int, Path(ge=1, le=MAX_ID)]
TrialId = Annotated[int, Path(ge=1, le=MAX_ID)]
OperationId = Annotated[int, Path(ge=1, le=MAX_ID)]
