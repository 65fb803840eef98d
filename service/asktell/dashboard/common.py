"""What the dashboard's endpoints share: compact JSON, loading a study's cached columns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import numpy as np
from fastapi import Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from asktell.dashboard import queries as q
from asktell.dashboard.data import StudyData, load_study_data, param_matrix
from asktell.db import repository as repo
from asktell.db.models import StudyRow

__all__ = ["Loaded", "Objective", "load", "respond", "stamped", "study_of"]

Objective = Annotated[str | None, Query(max_length=128)]


def _default(o):
    if isinstance(o, datetime):
        return o.isoformat()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def respond(content: dict) -> Response:
    """Compact JSON (NaN never leaves: payload builders turn it into null)."""
    body = json.dumps(content, separators=(",", ":"), allow_nan=False, default=_default)
    return Response(body, media_type="application/json", headers={"cache-control": "no-store"})


def study_of(session: Session, caller, study_id: int) -> StudyRow:
    """The caller's project's study, or 404."""
    return repo.get_study(session, project_id=caller.project_id, study_id=study_id)


@dataclass(frozen=True)
class Loaded:
    """A study's row, cached columns, change stamp and (when asked for) parameter matrix."""

    study: StudyRow
    data: StudyData
    stamp: str
    X: np.ndarray | None = None


def load(ctx, caller, study_id: int, *, params: bool = False) -> Loaded:
    """The study with its change stamp and cached columns, in one read transaction."""
    with ctx.db.read() as session:
        study = study_of(session, caller, study_id)
        stats = q.study_stats(session, [study.id])[study.id]
        data = load_study_data(session, study, stats)
        X = param_matrix(session, data) if params else None
        return Loaded(study, data, stats.stamp, X)


def stamped(content: dict, stamp: str) -> Response:
    """A panel's payload with the study's change stamp, so the page knows what it shows."""
    content["stamp"] = stamp
    return respond(content)
