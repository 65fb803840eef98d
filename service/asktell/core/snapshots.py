"""Frozen views of a study that strategies read. No ORM objects leave the database layer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from asktell.core.space import SearchSpace
from asktell.core.states import TrialState
from asktell_client.types import ConstraintSpec, Direction, ObjectiveSpec, ParamValue, StudySettings

__all__ = ["StudySnapshot", "TrialRecord"]


@dataclass(frozen=True)
class TrialRecord:
    """One trial as a strategy sees it."""

    id: int
    state: TrialState
    params: dict[str, ParamValue]
    values: dict[str, float] | None = None
    strategy: str | None = None


@dataclass(frozen=True)
class StudySnapshot:
    """Everything a strategy may read: the study's definition and its trials.

    `completed` holds trials with values; `pending` holds points out for
    evaluation (pending and running trials); `failed` holds failed and early-stopped
    trials (evaluated, but without final values).
    `nonce` varies per request so stateless random strategies never repeat.
    """

    study_id: int
    space: SearchSpace
    objectives: list[ObjectiveSpec]
    constraints: list[ConstraintSpec] = field(default_factory=list)
    settings: StudySettings = field(default_factory=StudySettings)
    completed: list[TrialRecord] = field(default_factory=list)
    pending: list[TrialRecord] = field(default_factory=list)
    failed: list[TrialRecord] = field(default_factory=list)
    nonce: int = 0

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def n_trials(self) -> int:
        return len(self.completed) + len(self.pending) + len(self.failed)

    def objective_matrix(self, maximize: bool = True) -> np.ndarray:
        """Completed objective values as `n x m`, signed so that larger is better if `maximize`."""
        Y = np.array(
            [[t.values[o.name] for o in self.objectives] for t in self.completed], dtype=float
        ).reshape(len(self.completed), len(self.objectives))
        signs = np.array(
            [1.0 if o.direction == Direction.maximize else -1.0 for o in self.objectives]
        )
        return Y * signs if maximize else -Y * signs

    def constraint_matrix(self) -> np.ndarray:
        """Completed constraint slacks as `n x c`; a value <= 0 means satisfied."""
        cols = []
        for c in self.constraints:
            v = np.array([t.values[c.name] for t in self.completed], dtype=float)
            if c.upper is not None:
                cols.append(v - c.upper)
            if c.lower is not None:
                cols.append(c.lower - v)
        return np.stack(cols, axis=1) if cols else np.zeros((len(self.completed), 0))
