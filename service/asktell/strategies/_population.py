"""Helpers shared by the stateful zeroth-order and population strategies.

These strategies work in the unit cube of `SpaceEncoder` and keep, in their
state, the points they handed out. A later call finds the results again by
`SearchSpace.point_key`: a key among the completed trials is told, among the
pending ones still out, among the failed ones failed. A key in none of them
was never evaluated (a prefetched point that was dropped, or a trial that went
stale or was stopped or deleted): it is lost, and the strategy hands it out
again. Every random draw is a function of the study seed and counters kept in
the state, so any worker continues a study exactly.

`LocalStudy` drives a strategy in-process like the service does; tests and
benchmarks use it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asktell.core.encoding import SpaceEncoder
from asktell.core.snapshots import StudySnapshot, TrialRecord
from asktell.core.space import SearchSpace
from asktell.core.states import TrialState
from asktell.strategies.base import Proposal, Strategy
from asktell_client.types import Direction, ObjectiveSpec, Param, ParamValue, StudySettings

__all__ = [
    "History",
    "KeyGuard",
    "LocalStudy",
    "Outcome",
    "best_completed",
    "check_single_objective",
    "check_space",
    "fill_random",
    "rng_for",
    "replay_study",
    "run_study",
    "scalarize",
    "seed_for",
    "space_signature",
]

TOLD, PENDING, FAILED, LOST = "told", "pending", "failed", "lost"
FILL_STREAM = 9_999
FILL_TRIES = 1000


@dataclass(frozen=True, order=True)
class Outcome:
    """A told result, ordered best first: feasible before infeasible, then by value.

    `violation` is the total constraint violation (0 when feasible); `value` is
    the objective signed for minimisation.
    """

    violation: float
    value: float


def check_single_objective(snapshot: StudySnapshot, name: str) -> None:
    if len(snapshot.objectives) != 1:
        raise ValueError(
            f"{name} optimises a single objective; this study has {len(snapshot.objectives)}"
        )


def check_space(
    encoder: SpaceEncoder,
    name: str,
    *,
    integers: bool = True,
    categoricals: bool = True,
    max_dim: int | None = None,
) -> None:
    """Raise a ValueError naming the first parameter `name` cannot handle, or the size."""
    if encoder.d == 0:
        raise ValueError(f"{name} needs at least one non-fixed parameter")
    if max_dim is not None and encoder.d > max_dim:
        raise ValueError(
            f"{name} takes at most {max_dim} encoded dimensions (its state grows faster than "
            f"the dimension); this space has {encoder.d} (use cma-es, zo-sgd, zo-adam or spsa)"
        )
    for dim in encoder.dims:
        if dim.kind == "int" and not integers:
            raise ValueError(
                f"{name} supports float parameters only; {dim.name!r} is an integer "
                "(use cma-es, cbo or direct-search)"
            )
        if dim.kind == "categorical" and not categoricals:
            raise ValueError(
                f"{name} does not support categorical parameters such as {dim.name!r} "
                "(use cma-es or cbo)"
            )


def space_signature(encoder: SpaceEncoder) -> list[list[Any]]:
    """A JSON summary of the encoded dimensions; a state made for another space is dropped."""
    return encoder.signature()


def outcome_of(snapshot: StudySnapshot, record: TrialRecord) -> Outcome:
    objective = snapshot.objectives[0]
    values = record.values or {}
    value = float(values[objective.name])
    if objective.direction == Direction.maximize:
        value = -value
    violation = 0.0
    for c in snapshot.constraints:
        v = float(values[c.name])
        if c.upper is not None:
            violation += max(v - c.upper, 0.0)
        if c.lower is not None:
            violation += max(c.lower - v, 0.0)
    return Outcome(violation, value)


@dataclass
class History:
    """Results of the trials with id above `floor`, indexed by point key.

    Trials handed out after a snapshot whose largest id was `floor` all have
    larger ids, so a strategy only needs to hash the newer trials.
    """

    told: dict[str, Outcome]
    failed: set[str]
    open: set[str]
    max_id: int

    @classmethod
    def of(cls, snapshot: StudySnapshot, floor: int = -1) -> History:
        key = snapshot.space.point_key
        told: dict[str, Outcome] = {}
        for t in snapshot.completed:
            if t.id > floor:
                told.setdefault(key(t.params), outcome_of(snapshot, t))
        failed = {key(t.params) for t in snapshot.failed if t.id > floor}
        open_ = {key(t.params) for t in snapshot.pending}
        ids = [
            t.id for group in (snapshot.completed, snapshot.pending, snapshot.failed) for t in group
        ]
        # Never below `floor`: the trials up to it may have been left out of the snapshot.
        return cls(told, failed, open_, max([*ids, floor]))

    def status(self, key: str) -> str:
        if key in self.told:
            return TOLD
        if key in self.open:
            return PENDING
        if key in self.failed:
            return FAILED
        return LOST


class KeyGuard:
    """Claims point keys so a proposal never repeats an open trial or itself."""

    def __init__(self, space: SearchSpace, history: History):
        self.space = space
        self.taken = set(history.open)

    def claim(self, point: dict[str, ParamValue]) -> str | None:
        key = self.space.point_key(point)
        if key in self.taken:
            return None
        self.taken.add(key)
        return key


def fill_random(
    encoder: SpaceEncoder, guard: KeyGuard, state: dict[str, Any], n: int, name: str
) -> list[dict[str, ParamValue]]:
    """`n` uniform points no open trial holds, for when a search keeps landing on known points.

    Draws are seeded from `state["seed"]` and the counter `state["fills"]`.
    """
    points: list[dict[str, ParamValue]] = []
    for _ in range(FILL_TRIES):
        if len(points) == n:
            return points
        index = state.get("fills", 0)
        state["fills"] = index + 1
        x = rng_for(state["seed"], FILL_STREAM, index).random((1, encoder.d))
        point = encoder.decode(x)[0]
        if guard.claim(point) is not None:
            points.append(point)
    raise ValueError(f"{name}: every point of the space is held by an open trial")


def seed_for(seed: int, *path: int) -> int:
    """A 32-bit seed derived from the study seed and integer counters."""
    return int(np.random.SeedSequence([seed, *path]).generate_state(1)[0])


def rng_for(seed: int, *path: int) -> np.random.Generator:
    return np.random.default_rng([seed, *path])


def best_completed(
    snapshot: StudySnapshot, encoder: SpaceEncoder
) -> tuple[np.ndarray, Outcome] | None:
    """The best completed trial (feasible first) in the cube, with its outcome; None if none."""
    best: tuple[Outcome, int] | None = None
    for i, t in enumerate(snapshot.completed):
        outcome = outcome_of(snapshot, t)
        if best is None or outcome < best[0]:
            best = (outcome, i)
    if best is None:
        return None
    return encoder.encode([snapshot.completed[best[1]].params])[0], best[0]


def scalarize(outcomes: Sequence[Outcome]) -> np.ndarray:
    """Scalars with the order of `outcomes`: an infeasible one ranks behind every feasible one."""
    values = np.array([o.value for o in outcomes], dtype=float)
    violations = np.array([o.violation for o in outcomes], dtype=float)
    feasible = violations <= 0
    if feasible.all():
        return values
    worst = values[feasible].max() if feasible.any() else 0.0
    return np.where(feasible, values, worst + violations)


def cube_list(x: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(x, dtype=float).ravel()]


# --------------------------------------------------------------------------- local driver


@dataclass
class LocalStudy:
    """An in-memory study: asks a strategy for points and records their results.

    The caller keeps the strategy state, exactly as the service's state table
    does, so a test can hand it to a fresh strategy object at any point.
    """

    space: SearchSpace
    objectives: list[ObjectiveSpec] = field(default_factory=lambda: [ObjectiveSpec(name="value")])
    settings: StudySettings = field(default_factory=StudySettings)
    constraints: list = field(default_factory=list)
    trials: list[TrialRecord] = field(default_factory=list)

    @classmethod
    def over(cls, params: Sequence[Param], seed: int = 0, **kwargs: Any) -> LocalStudy:
        return cls(SearchSpace(list(params)), settings=StudySettings(seed=seed), **kwargs)

    def snapshot(self, floor: int | None = None) -> StudySnapshot:
        """All trials, or as the server loads them for a strategy's `history_floor`."""
        by_state: dict[TrialState, list[TrialRecord]] = {s: [] for s in TrialState}
        for t in self.trials:
            if floor is None or t.id > floor or t.state == TrialState.running:
                by_state[t.state].append(t)
        return StudySnapshot(
            study_id=1,
            space=self.space,
            objectives=self.objectives,
            constraints=self.constraints,
            settings=self.settings,
            completed=by_state[TrialState.completed],
            pending=by_state[TrialState.pending] + by_state[TrialState.running],
            failed=by_state[TrialState.failed],
        )

    def ask(
        self, strategy: Strategy, n: int, state: dict[str, Any] | None, *, floor: bool = False
    ) -> tuple[list[int], Proposal]:
        """Ask for `n` points; they become running trials. Returns their ids and the proposal.

        `floor=True` leaves out the finished trials the strategy says it no longer reads.
        """
        cut = strategy.history_floor(state, self.space) if floor else None
        proposal = strategy.suggest(self.snapshot(cut), n, state)
        open_keys = {
            self.space.point_key(t.params) for t in self.trials if t.state == TrialState.running
        }
        ids = []
        for point in proposal.points:
            key = self.space.point_key(point)
            if key in open_keys:
                raise AssertionError(f"proposal repeats an open trial: {point}")
            open_keys.add(key)
            ids.append(len(self.trials))
            self.trials.append(TrialRecord(ids[-1], TrialState.running, dict(point)))
        return ids, proposal

    def tell(self, trial_id: int, values: dict[str, float]) -> None:
        t = self.trials[trial_id]
        self.trials[trial_id] = TrialRecord(t.id, TrialState.completed, t.params, dict(values))

    def fail(self, trial_id: int) -> None:
        t = self.trials[trial_id]
        self.trials[trial_id] = TrialRecord(t.id, TrialState.failed, t.params)

    def drop(self, trial_id: int) -> None:
        """Take a trial out of the snapshots (as a dropped prefetched or a stale trial)."""
        t = self.trials[trial_id]
        self.trials[trial_id] = TrialRecord(t.id, TrialState.stale, t.params)

    def values(self, name: str = "value") -> list[float]:
        """Told values of `name` in trial order."""
        return [t.values[name] for t in self.trials if t.state == TrialState.completed]


def run_study(
    strategy: Strategy,
    study: LocalStudy,
    fn: Callable[[dict[str, ParamValue]], float],
    evaluations: int,
    batch: int = 1,
    state: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Ask `batch` points at a time and tell all of them until `evaluations` are done.

    The state goes through JSON between calls, as it does in the database.
    Returns the last state.
    """
    done = 0
    while done < evaluations:
        n = min(batch, evaluations - done)
        ids, proposal = study.ask(strategy, n, state)
        state = json.loads(json.dumps(proposal.state)) if proposal.state is not None else None
        for i in ids:
            study.tell(i, {"value": float(fn(study.trials[i].params))})
        done += n
    return state


def replay_study(
    make: Callable[[], Strategy],
    params: Sequence[Param],
    fn: Callable[[dict[str, ParamValue]], float],
    *,
    rounds: int,
    batch: int,
    seed: int = 0,
    restarts: Sequence[int] = (),
    fail: float = 0.0,
    lose: float = 0.0,
    delay: float = 0.0,
    floor: bool = False,
) -> tuple[list[list[dict[str, ParamValue]]], dict[str, Any] | None]:
    """Run an asynchronous study and return every proposal's points and the last state.

    Each round asks `batch` points, then settles each running trial at random:
    failed with probability `fail`, dropped from the snapshots (like a stale
    trial) with probability `lose`, left running with probability `delay`,
    told otherwise. Rounds in `restarts` start a fresh strategy object from
    the JSON of the stored state, as a new worker would; other rounds reuse
    the object and pass the state as returned. `floor` loads snapshots as the server
    does, without the trials below the strategy's `history_floor`.
    """
    study = LocalStudy.over(params, seed=seed)
    rng = np.random.default_rng(seed + 1)
    strategy = make()
    state: dict[str, Any] | None = None
    trajectory = []
    for r in range(rounds):
        if r in restarts:
            strategy = make()
            state = json.loads(json.dumps(state))
        _, proposal = study.ask(strategy, batch, state, floor=floor)
        state = proposal.state
        trajectory.append(proposal.points)
        for t in list(study.trials):
            if t.state != TrialState.running:
                continue
            u = rng.random()
            if u < fail:
                study.fail(t.id)
            elif u < fail + lose:
                study.drop(t.id)
            elif u >= fail + lose + delay:
                study.tell(t.id, {"value": float(fn(t.params))})
    return trajectory, state
