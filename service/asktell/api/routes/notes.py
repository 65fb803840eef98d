"""Notes: free text on a study or a trial, saved against the version it was read at."""

from __future__ import annotations

from fastapi import APIRouter

from asktell.api.deps import CallerDep, ContextDep, StudyId, TrialId, WriterDep
from asktell.db import notes
from asktell.db import repository as repo
from asktell.db.models import NoteRow
from asktell_client.attachments import Note, NoteUpdate

router = APIRouter(prefix="/v1", tags=["notes"])


def _wire(study_id: int, trial_id: int | None, row: NoteRow | None) -> Note:
    if row is None:
        return Note(study_id=study_id, trial_id=trial_id)
    return Note(
        study_id=row.study_id,
        trial_id=row.trial_id,
        body=row.body,
        version=row.version,
        updated_at=row.updated_at,
    )


@router.get("/studies/{study_id}/note", response_model=Note)
def read_study_note(study_id: StudyId, caller: CallerDep, ctx: ContextDep) -> Note:
    """The study's note (version 0 and empty until first saved)."""
    with ctx.db.read() as session:
        repo.get_study(session, project_id=caller.project_id, study_id=study_id)
        return _wire(study_id, None, notes.get_note(session, study_id=study_id))


@router.put("/studies/{study_id}/note", response_model=Note)
def update_study_note(
    study_id: StudyId, body: NoteUpdate, caller: WriterDep, ctx: ContextDep
) -> Note:
    """Save the study's note; 409 when it changed since `version` was read."""
    with ctx.db.write() as session:
        repo.get_study(session, project_id=caller.project_id, study_id=study_id)
        row = notes.save_note(
            session, study_id=study_id, trial_id=None, body=body.body, version=body.version
        )
        return _wire(study_id, None, row)


@router.get("/trials/{trial_id}/note", response_model=Note)
def read_trial_note(trial_id: TrialId, caller: CallerDep, ctx: ContextDep) -> Note:
    """The trial's note (version 0 and empty until first saved)."""
    with ctx.db.read() as session:
        trial, _ = repo.get_trial(session, project_id=caller.project_id, trial_id=trial_id)
        row = notes.get_note(session, study_id=trial.study_id, trial_id=trial_id)
        return _wire(trial.study_id, trial_id, row)


@router.put("/trials/{trial_id}/note", response_model=Note)
def update_trial_note(
    trial_id: TrialId, body: NoteUpdate, caller: WriterDep, ctx: ContextDep
) -> Note:
    """Save the trial's note; 409 when it changed since `version` was read."""
    with ctx.db.write() as session:
        trial, _ = repo.get_trial(session, project_id=caller.project_id, trial_id=trial_id)
        row = notes.save_note(
            session,
            study_id=trial.study_id,
            trial_id=trial_id,
            body=body.body,
            version=body.version,
        )
        return _wire(trial.study_id, trial_id, row)
