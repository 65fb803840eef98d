"""Artifacts: upload, list, download and delete files attached to a study or a trial.

An upload is the raw request body (`Content-Type` is kept as the file's media type)
with the file name in `?name=`; it is refused with 413 past `artifact_max_bytes`.
Downloads are always attachments, sandboxed and never sniffed, so an uploaded page
cannot run in the dashboard's origin.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from asktell.api.context import AppContext
from asktell.api.deps import MAX_ID, CallerDep, ContextDep, StudyId, TrialId, WriterDep
from asktell.api.idempotency import IdempotencyKey, run_once
from asktell.core.errors import TooLarge
from asktell.core.filenames import check_content_type, check_file_name, content_disposition
from asktell.db import artifacts
from asktell.db import repository as repo
from asktell.db.models import ArtifactRow
from asktell_client.attachments import Artifact, ArtifactList

router = APIRouter(prefix="/v1", tags=["artifacts"])

ArtifactId = Annotated[int, Path(ge=1, le=MAX_ID)]
FileName = Annotated[str, Query(min_length=1, max_length=1024)]


def _wire(row: ArtifactRow) -> Artifact:
    return Artifact(
        id=row.id,
        study_id=row.study_id,
        trial_id=row.trial_id,
        name=row.name,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        created_at=row.created_at,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    too_large = TooLarge(
        f"an artifact is at most {limit} bytes (ASKTELL_ARTIFACT_MAX_BYTES)", field="body"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _upload(
    request: Request,
    ctx: AppContext,
    *,
    project_id: int,
    key: str | None,
    name: str,
    study_id: int | None = None,
    trial_id: int | None = None,
) -> JSONResponse:
    name = check_file_name(name)
    content_type = check_content_type(request.headers.get("content-type"))
    data = await _read_body(request, ctx.settings.artifact_max_bytes)

    def store(session) -> Artifact:
        sid = study_id
        if trial_id is not None:
            trial, _ = repo.get_trial(session, project_id=project_id, trial_id=trial_id)
            sid = trial.study_id
        else:
            repo.get_study(session, project_id=project_id, study_id=sid)
        row = artifacts.add_artifact(
            session,
            study_id=sid,
            trial_id=trial_id,
            name=name,
            content_type=content_type,
            data=data,
        )
        return _wire(row)

    return await run_in_threadpool(
        run_once,
        ctx.db,
        project_id=project_id,
        key=key,
        route="upload_artifact",
        status_code=201,
        action=store,
    )


_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post(
    "/studies/{study_id}/artifacts",
    status_code=201,
    response_model=Artifact,
    openapi_extra=_UPLOAD_DOC,
)
async def upload_study_artifact(
    study_id: StudyId,
    name: FileName,
    request: Request,
    caller: WriterDep,
    ctx: ContextDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Attach the request body to the study as the file `name`."""
    return await _upload(
        request, ctx, project_id=caller.project_id, key=key, name=name, study_id=study_id
    )


@router.post(
    "/trials/{trial_id}/artifacts",
    status_code=201,
    response_model=Artifact,
    openapi_extra=_UPLOAD_DOC,
)
async def upload_trial_artifact(
    trial_id: TrialId,
    name: FileName,
    request: Request,
    caller: WriterDep,
    ctx: ContextDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Attach the request body to the trial as the file `name`."""
    return await _upload(
        request, ctx, project_id=caller.project_id, key=key, name=name, trial_id=trial_id
    )


@router.get("/studies/{study_id}/artifacts", response_model=ArtifactList)
def list_study_artifacts(study_id: StudyId, caller: CallerDep, ctx: ContextDep) -> ArtifactList:
    """The study's own files (trials' files are listed per trial)."""
    with ctx.db.read() as session:
        repo.get_study(session, project_id=caller.project_id, study_id=study_id)
        rows = artifacts.list_artifacts(session, study_id=study_id)
        return ArtifactList(items=[_wire(r) for r in rows])


@router.get("/trials/{trial_id}/artifacts", response_model=ArtifactList)
def list_trial_artifacts(trial_id: TrialId, caller: CallerDep, ctx: ContextDep) -> ArtifactList:
    """The trial's files."""
    with ctx.db.read() as session:
        trial, _ = repo.get_trial(session, project_id=caller.project_id, trial_id=trial_id)
        rows = artifacts.list_artifacts(session, study_id=trial.study_id, trial_id=trial_id)
        return ArtifactList(items=[_wire(r) for r in rows])


@router.get("/artifacts/{artifact_id}", response_model=Artifact)
def read_artifact(artifact_id: ArtifactId, caller: CallerDep, ctx: ContextDep) -> Artifact:
    """One file's description."""
    with ctx.db.read() as session:
        return _wire(
            artifacts.get_artifact(session, project_id=caller.project_id, artifact_id=artifact_id)
        )


@router.get(
    "/artifacts/{artifact_id}/content",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_artifact(artifact_id: ArtifactId, caller: CallerDep, ctx: ContextDep) -> Response:
    """The file's bytes, as an attachment with its media type."""
    with ctx.db.read() as session:
        row = artifacts.get_artifact(
            session, project_id=caller.project_id, artifact_id=artifact_id, with_data=True
        )
        data, name, media, digest = row.data, row.name, row.content_type, row.sha256
    return Response(
        content=data,
        media_type=media,
        headers={
            "content-disposition": content_disposition(name),
            "x-content-type-options": "nosniff",
            "content-security-policy": "sandbox; default-src 'none'",
            "cache-control": "private, no-store",
            "etag": f'"{digest}"',
        },
    )


@router.delete("/artifacts/{artifact_id}", status_code=204, response_class=Response)
def delete_artifact(artifact_id: ArtifactId, caller: WriterDep, ctx: ContextDep) -> Response:
    """Remove a file."""
    with ctx.db.write() as session:
        artifacts.delete_artifact(session, project_id=caller.project_id, artifact_id=artifact_id)
    return Response(status_code=204)
