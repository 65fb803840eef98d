"""Replay of retried non-idempotent requests by their `Idempotency-Key` header.

A create that succeeded but whose answer was lost is retried by the client
with the same key; the stored answer comes back instead of a second create
(or a 409 for a name the first attempt took).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from asktell.core.errors import Conflict
from asktell.db.models import IdempotencyRow
from asktell.db.session import Database

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]


def run_once(
    db: Database,
    *,
    project_id: int,
    key: str | None,
    route: str,
    status_code: int,
    action: Callable[[Session], BaseModel],
) -> JSONResponse:
    """Run `action` in one transaction, or replay the answer stored under `key`."""
    for _ in range(2):
        try:
            with db.write() as session:
                if key is not None:
                    stored = session.scalar(
                        select(IdempotencyRow).where(
                            IdempotencyRow.project_id == project_id, IdempotencyRow.key == key
                        )
                    )
                    if stored is not None:
                        if stored.route != route:
                            raise Conflict(
                                "this Idempotency-Key was used for another request",
                                field="Idempotency-Key",
                                code="idempotency_key_reused",
                            )
                        return JSONResponse(stored.body, status_code=stored.status_code)
                body = action(session).model_dump(mode="json")
                if key is not None:
                    session.add(
                        IdempotencyRow(
                            project_id=project_id,
                            key=key,
                            route=route,
                            status_code=status_code,
                            body=body,
                        )
                    )
                    session.flush()
                return JSONResponse(body, status_code=status_code)
        except IntegrityError:
            if key is None:
                raise
    raise Conflict(
        "concurrent requests with one Idempotency-Key",
        field="Idempotency-Key",
        code="idempotency_conflict",
    )
