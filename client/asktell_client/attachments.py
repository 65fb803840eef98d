"""Wire types of notes and artifacts: free text and files attached to a study or a trial.

A note is saved against the version it was read at; saving over a newer one is a
409, so two people editing the same note never silently overwrite each other.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["NOTE_MAX_CHARS", "Artifact", "ArtifactList", "Note", "NoteUpdate"]

NOTE_MAX_CHARS = 100_000


class NoteUpdate(BaseModel):
    """Save a note: `version` is the one it was read at (0 for a note never saved)."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(max_length=NOTE_MAX_CHARS)
    version: int = Field(ge=0, lt=2**31)


class Note(BaseModel):
    """A study's or trial's note; version 0 and an empty body until first saved."""

    model_config = ConfigDict(extra="ignore")

    study_id: int
    trial_id: int | None = None
    body: str = ""
    version: int = 0
    updated_at: datetime | None = None


class Artifact(BaseModel):
    """A stored file's description (its bytes come from `/v1/artifacts/{id}/content`)."""

    model_config = ConfigDict(extra="ignore")

    id: int
    study_id: int
    trial_id: int | None = None
    name: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


class ArtifactList(BaseModel):
    model_config = ConfigDict(extra="ignore")

    items: list[Artifact]
