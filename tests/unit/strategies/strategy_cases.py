"""Reusable checks for any strategy, plus snapshot builders.

Subclass `StrategyCases` in a `Test*` class and set `strategy_name` (and
`options` if needed); every strategy must pass these.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from asktell.core.encoding import SpaceEncoder
from asktell.core.snapshots import StudySnapshot, TrialRecord
from asktell.core.space import SearchSpace
from asktell.core.states import TrialState
from asktell.strategies.base import Proposal, Strategy
from asktell.strategies.registry import get_strategy
from asktell_client.types import (
    CategoricalParam,
    Condition,
    ConstraintSpec,
    FloatParam,
    IntParam,
    ObjectiveSpec,
    Param,
    StudySettings,
)

torch.set_num_threads(1)

Values = dict[str, float]

MIXED_SPACE: list[Param] = [
    FloatParam(name="x", low=-2.0, high=2.0),
    FloatParam(name="lr", low=1e-4, high=1.0, log=True),
    IntParam(name="k", low=1, high=9, step=2),
    CategoricalParam(name="kind", choices=["a", "b", "c"]),
    FloatParam(name="depth", low=0.0, high=1.0, condition=Condition(parent="kind", values=["b"])),
]
BOX_2D: list[Param] = [
    FloatParam(name="x", low=0.0, high=1.0),
    FloatParam(name="y", low=0.0, high=1.0),
]


def quadratic(params: dict[str, Any], optimum: float = 0.3) -> Values:
    """A bowl in the encoded coordinates of the numeric parameters (minimum 0)."""
    value = 0.0
    for name, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            value += 0.0 if v == "b" else 0.5
        elif name == "lr":
            value += (np.log10(v) + 2.0) ** 2 / 4
        else:
            value += (float(v) - optimum) ** 2
    return {"value": value}


def make_snapshot(
    space: Sequence[Param] = BOX_2D,
    n_completed: int = 12,
    fn: Callable[[dict[str, Any]], Values] = quadratic,
    *,
    n_pending: int = 0,
    n_failed: int = 0,
    objectives: Sequence[ObjectiveSpec] | None = None,
    constraints: Sequence[ConstraintSpec] = (),
    settings: StudySettings | None = None,
    seed: int = 0,
) -> StudySnapshot:
    """A study with random completed, pending and failed trials (in that id order)."""
    search_space = SearchSpace(list(space))
    encoder = SpaceEncoder(search_space)
    rng = np.random.default_rng(seed)
    total = n_completed + n_pending + n_failed
    points = encoder.decode(rng.random((total, encoder.d))) if total else []
    completed = [
        TrialRecord(i, TrialState.completed, p, fn(p), strategy="random")
        for i, p in enumerate(points[:n_completed])
    ]
    pending = [
        TrialRecord(n_completed + i, TrialState.running, p)
        for i, p in enumerate(points[n_completed : n_completed + n_pending])
    ]
    failed = [
        TrialRecord(n_completed + n_pending + i, TrialState.failed, p)
        for i, p in enumerate(points[n_completed + n_pending :])
    ]
    return StudySnapshot(
        study_id=1,
        space=search_space,
        objectives=list(objectives or [ObjectiveSpec(name="value")]),
        constraints=list(constraints),
        settings=settings or StudySettings(seed=7),
        completed=completed,
        pending=pending,
        failed=failed,
    )


def with_pending(snapshot: StudySnapshot, points: Sequence[dict[str, Any]]) -> StudySnapshot:
    """`snapshot` with `points` added as running trials."""
    first = snapshot.n_trials
    extra = [TrialRecord(first + i, TrialState.running, dict(p)) for i, p in enumerate(points)]
    return StudySnapshot(
        study_id=snapshot.study_id,
        space=snapshot.space,
        objectives=snapshot.objectives,
        constraints=snapshot.constraints,
        settings=snapshot.settings,
        completed=snapshot.completed,
        pending=[*snapshot.pending, *extra],
        failed=snapshot.failed,
    )


def cube(snapshot: StudySnapshot, points: Sequence[dict[str, Any]]) -> np.ndarray:
    """`points` encoded in the unit cube, `n x d`."""
    encoder = SpaceEncoder(snapshot.space)
    return encoder.encode(list(points)).reshape(len(points), encoder.d)


def check_proposal(snapshot: StudySnapshot, proposal: Proposal, n: int) -> None:
    """`n` valid points, per-point strategy names and a JSON-safe state."""
    assert len(proposal.points) == n
    for point in proposal.points:
        assert snapshot.space.validate_params(point) == point
        for p in snapshot.space:
            if isinstance(p, IntParam) and p.name in point:
                assert type(point[p.name]) is int
    if proposal.strategies is not None:
        assert len(proposal.strategies) == n
        assert all(isinstance(s, str) and s for s in proposal.strategies)
    if proposal.state is not None:
        assert "version" in proposal.state
        assert json.loads(json.dumps(proposal.state)) == proposal.state


class StrategyCases:
    """Behaviour every strategy must have. Set `strategy_name` in the subclass."""

    strategy_name: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}

    def make_strategy(self) -> Strategy:
        return get_strategy(self.strategy_name)(dict(self.options))

    def test_returns_valid_points_in_mixed_space(self):
        snapshot = make_snapshot(MIXED_SPACE, 12, n_pending=1, n_failed=1)
        proposal = self.make_strategy().suggest(snapshot, 3, None)
        check_proposal(snapshot, proposal, 3)
        keys = {snapshot.space.point_key(p) for p in proposal.points}
        assert len(keys) == 3

    def test_batch_points_are_distinct(self):
        snapshot = make_snapshot(BOX_2D, 10)
        proposal = self.make_strategy().suggest(snapshot, 4, None)
        check_proposal(snapshot, proposal, 4)
        X = cube(snapshot, proposal.points)
        gaps = np.linalg.norm(X[:, None, :] - X[None, :, :], axis=-1) + np.eye(4)
        assert gaps.min() > 1e-3

    def test_avoids_pending_points(self):
        snapshot = make_snapshot(BOX_2D, 10)
        strategy = self.make_strategy()
        first = strategy.suggest(snapshot, 1, None)
        busy = with_pending(snapshot, first.points)
        second = strategy.suggest(busy, 2, first.state)
        check_proposal(busy, second, 2)
        gaps = np.linalg.norm(cube(busy, second.points) - cube(busy, first.points), axis=-1)
        assert gaps.min() > 1e-2

    def test_same_snapshot_gives_same_points(self):
        snapshot = make_snapshot(BOX_2D, 10, n_pending=1)
        a = self.make_strategy().suggest(snapshot, 2, None)
        b = self.make_strategy().suggest(snapshot, 2, None)
        assert a.points == b.points
        assert a.strategies == b.strategies

    def test_state_round_trips_through_json(self):
        snapshot = make_snapshot(BOX_2D, 10)
        strategy = self.make_strategy()
        first = strategy.suggest(snapshot, 1, None)
        state = json.loads(json.dumps(first.state))
        assert state == first.state
        nxt = make_snapshot(BOX_2D, 11)
        check_proposal(nxt, strategy.suggest(nxt, 1, state), 1)

    def test_empty_study(self):
        snapshot = make_snapshot(MIXED_SPACE, 0)
        proposal = self.make_strategy().suggest(snapshot, 2, None)
        check_proposal(snapshot, proposal, 2)

    def test_failed_trials_only(self):
        snapshot = make_snapshot(BOX_2D, 0, n_failed=3)
        check_proposal(snapshot, self.make_strategy().suggest(snapshot, 1, None), 1)
