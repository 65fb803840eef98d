"""/v1/studies: create, list, read, update, delete, export and import."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from asktell.api.deps import CallerDep, ContextDep, StudyId, WriterDep
from asktell.api.idempotency import IdempotencyKey, run_once
from asktell.db import repository as repo
from asktell.db.convert import study_to_wire
from asktell.db.models import StudyRow
from asktell_client.types import Study, StudyCreate, StudyExport, StudyPage, StudyUpdate

router = APIRouter(prefix="/v1", tags=["studies"])


def _wire(session, row: StudyRow) -> Study:
    counts = repo.trial_counts(session, study_ids=[row.id]).get(row.id, {})
    return study_to_wire(row, counts, repo.best_values(session, study=row))


@router.post("/studies", status_code=201, response_model=Study)
def create_study(
    body: StudyCreate, caller: WriterDep, ctx: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    """Create a study."""
    return run_once(
        ctx.db,
        project_id=caller.project_id,
        key=key,
        route="create_study",
        status_code=201,
        action=lambda session: study_to_wire(
            repo.create_study(session, project_id=caller.project_id, spec=body)
        ),
    )


@router.get("/studies", response_model=StudyPage)
def list_studies(
    caller: CallerDep,
    ctx: ContextDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    name: Annotated[str | None, Query(max_length=128)] = None,
) -> StudyPage:
    """List the project's studies, oldest first."""
    with ctx.db.read() as session:
        rows = repo.list_studies(
            session,
            project_id=caller.project_id,
            cursor=repo.parse_cursor(cursor),
            limit=limit,
            name=name,
        )
        counts = repo.trial_counts(session, study_ids=[r.id for r in rows])
        items = [
            study_to_wire(r, counts.get(r.id, {}), repo.best_values(session, study=r)) for r in rows
        ]
    next_cursor = str(rows[-1].id) if len(rows) == limit else None
    return StudyPage(items=items, next_cursor=next_cursor)


@router.get("/studies/{study_id}:export", response_model=StudyExport)
def export_study(study_id: StudyId, caller: CallerDep, ctx: ContextDep) -> StudyExport:
    """The whole study as one JSON document that `:import` takes back unchanged."""
    with ctx.db.read() as session:
        row = repo.get_study(session, project_id=caller.project_id, study_id=study_id)
        return repo.export_study(session, row=row)


@router.get("/studies/{study_id}", response_model=Study)
def read_study(study_id: StudyId, caller: CallerDep, ctx: ContextDep) -> Study:
    """Read one study with its trial counts and best values."""
    with ctx.db.read() as session:
        return _wire(
            session, repo.get_study(session, project_id=caller.project_id, study_id=study_id)
        )


@router.patch("/studies/{study_id}", response_model=Study)
def update_study(study_id: StudyId, body: StudyUpdate, caller: WriterDep, ctx: ContextDep) -> Study:
    """Change the strategy, state, settings or metadata; the trials stay."""
    with ctx.db.write() as session:
        row = repo.get_study(session, project_id=caller.project_id, study_id=study_id, lock=True)
        repo.update_study(session, row=row, patch=body)
        session.flush()
        return _wire(session, row)


@router.delete("/studies/{study_id}", status_code=204)
def delete_study(study_id: StudyId, caller: WriterDep, ctx: ContextDep) -> Response:
    """Delete a study and all its trials."""
    with ctx.db.write() as session:
        row = repo.get_study(session, project_id=caller.project_id, study_id=study_id, lock=True)
        repo.delete_study(session, row=row)
    return Response(status_code=204)


@router.post("/studies:import", status_code=201, response_model=Study)
def import_study(
    body: StudyExport, caller: WriterDep, ctx: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    """Create a study from an export, with all its trials, in one transaction."""
    return run_once(
        ctx.db,
        project_id=caller.project_id,
        key=key,
        route="import_study",
        status_code=201,
        action=lambda session: _wire(
            session, repo.import_study(session, project_id=caller.project_id, export=body)
        ),
    )
