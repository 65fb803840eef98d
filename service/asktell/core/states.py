"""Trial and job states and the transitions allowed between them."""

from __future__ import annotations

from enum import Enum

from asktell_client.types import StudyState, TrialState

__all__ = ["FINISHED", "OPEN", "TELLABLE", "JobState", "OperationState", "StudyState", "TrialState"]

OPEN = frozenset({TrialState.pending, TrialState.running})
"""Trials whose point is out for evaluation: no second open trial may share it."""

FINISHED = frozenset({TrialState.completed, TrialState.failed, TrialState.stopped})
"""Trials with a final outcome."""

TELLABLE = frozenset({TrialState.pending, TrialState.running, TrialState.stale})
"""Trials that accept a first tell (a stale evaluator may still come back)."""


class JobState(str, Enum):
    """A suggestion job: queued → leased → done (or failed after too many attempts)."""

    queued = "queued"
    leased = "leased"
    done = "done"
    failed = "failed"


class OperationState(str, Enum):
    """An ask that waits for a worker: waiting → done (or failed)."""

    waiting = "waiting"
    done = "done"
    failed = "failed"
