"""Notes of studies and trials, saved by compare-and-swap on their version."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from asktell.core.errors import Conflict, InvalidInput
from asktell.db.models import NoteRow, utcnow

__all__ = ["add_notes", "check_text", "get_note", "notes_of", "save_note"]


def _owner(study_id: int, trial_id: int | None):
    if trial_id is None:
        return (NoteRow.study_id == study_id, NoteRow.trial_id.is_(None))
    return (NoteRow.trial_id == trial_id,)


def get_note(session: Session, *, study_id: int, trial_id: int | None = None) -> NoteRow | None:
    """The note of a study (`trial_id` None) or of one of its trials, if ever saved."""
    return session.scalar(select(NoteRow).where(*_owner(study_id, trial_id)))


def notes_of(session: Session, *, study_id: int) -> dict[int | None, str]:
    """Every saved note of a study by trial id (None for the study's own)."""
    rows = session.execute(
        select(NoteRow.trial_id, NoteRow.body).where(NoteRow.study_id == study_id)
    )
    return {tid: body for tid, body in rows}


def check_text(body: str, *, field: str) -> str:
    """Note text as every engine stores it (PostgreSQL text holds no NUL character)."""
    if "\x00" in body:
        raise InvalidInput("a note cannot contain NUL characters", field=field)
    return body


def add_notes(session: Session, *, study_id: int, notes: dict[int | None, str]) -> None:
    """Insert first versions of notes (an import): trial id → text, None for the study's."""
    for tid, body in notes.items():
        check_text(body, field="note" if tid is None else "trials.note")
    if notes:
        now = utcnow()
        rows = [
            {"study_id": study_id, "trial_id": tid, "body": body, "version": 1, "updated_at": now}
            for tid, body in notes.items()
        ]
        session.execute(insert(NoteRow), rows)


def save_note(
    session: Session, *, study_id: int, trial_id: int | None, body: str, version: int
) -> NoteRow:
    """Replace the note read at `version` (0: never saved); 409 if someone saved since."""
    check_text(body, field="body")
    current = get_note(session, study_id=study_id, trial_id=trial_id)
    if current is None and version == 0:
        row = NoteRow(
            study_id=study_id, trial_id=trial_id, body=body, version=1, updated_at=utcnow()
        )
        session.add(row)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise _stale(version, None) from None
        return row
    if current is None or current.version != version:
        raise _stale(version, current.version if current else 0)
    done = session.execute(
        update(NoteRow)
        .where(NoteRow.id == current.id, NoteRow.version == version)
        .values(body=body, version=version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise _stale(version, None)
    session.refresh(current)
    return current


def _stale(version: int, current: int | None) -> Conflict:
    now = f"; it is at version {current}" if current is not None else ""
    return Conflict(
        f"the note changed since version {version} was read{now}: reload it and edit again",
        field="version",
        code="note_version_conflict",
    )
