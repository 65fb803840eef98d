"""Files attached to studies and trials, kept in the database (no shared disk needed)."""

from __future__ import annotations

import hashlib

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, undefer

from asktell.core.errors import NotFound
from asktell.db.models import ArtifactRow, StudyRow, utcnow

__all__ = ["add_artifact", "delete_artifact", "get_artifact", "list_artifacts"]


def add_artifact(
    session: Session,
    *,
    study_id: int,
    trial_id: int | None,
    name: str,
    content_type: str,
    data: bytes,
) -> ArtifactRow:
    """Store a file (name and media type already checked)."""
    row = ArtifactRow(
        study_id=study_id,
        trial_id=trial_id,
        name=name,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def list_artifacts(
    session: Session, *, study_id: int, trial_id: int | None = None
) -> list[ArtifactRow]:
    """A study's own files (`trial_id` None) or a trial's, oldest first, without their bytes."""
    owner = ArtifactRow.trial_id.is_(None) if trial_id is None else ArtifactRow.trial_id == trial_id
    return list(
        session.scalars(
            select(ArtifactRow)
            .where(ArtifactRow.study_id == study_id, owner)
            .order_by(ArtifactRow.id)
        )
    )


def get_artifact(
    session: Session, *, project_id: int, artifact_id: int, with_data: bool = False
) -> ArtifactRow:
    """One of the project's files, or 404."""
    stmt = (
        select(ArtifactRow)
        .join(StudyRow, StudyRow.id == ArtifactRow.study_id)
        .where(ArtifactRow.id == artifact_id, StudyRow.project_id == project_id)
    )
    if with_data:
        stmt = stmt.options(undefer(ArtifactRow.data))
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(
            f"artifact {artifact_id} not found", field="artifact_id", code="artifact_not_found"
        )
    return row


def delete_artifact(session: Session, *, project_id: int, artifact_id: int) -> None:
    """Remove one of the project's files, or 404."""
    row = get_artifact(session, project_id=project_id, artifact_id=artifact_id)
    session.execute(delete(ArtifactRow).where(ArtifactRow.id == row.id))
