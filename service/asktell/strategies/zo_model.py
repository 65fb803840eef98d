"""`zo-model`: zeroth-order training of a model whose weights never leave the evaluators.

A trial is one antithetic pair of step t, with params
`{zo_step: t, zo_seed: s, zo_scale: mu}`. The evaluator regenerates the
direction z(s) from the seed, measures loss(w_t + mu z) and loss(w_t - mu z)
on its own copy of the weights, and tells them as `loss_plus` and
`loss_minus`. The service never holds weights: when a step closes it appends
to the log in its state the step's learning rate and, per told pair, the
seed and g_j / n, where g_j = (loss_plus - loss_minus) / (2 mu) and n is the
number of pairs used, so the step's gradient estimate is sum_j g_j/n z(s_j).
Evaluators replay the log on their initial weights (ZO-SGD: w -= lr * grad;
ZO-Adam: Adam moments on it), which is why the log keeps projected gradients
and not weight deltas.

Step rules (as in `zeroth_order`): every ask gets new pairs of the open step,
so several evaluators share it, each with its own seeds. The step closes at
the next ask once `directions` pairs are told, or once every pair handed out
is told or dropped (failed, stopped, lost, or told values so large that the
gradient overflows) and at least one is told. A pair told after its step
closed (a faster evaluator got an extra pair) counts in the next step to
close if it lags at most `max_staleness` steps: its direction does not
depend on the weights, so only its gradient is a little stale. Older tells
are kept as data but left out. The optimizer and its betas are fixed by the
first state; lr, scale and directions may change.

The log lives in the state (about 70 bytes of JSON per pair), so an ask
rewrites it; `history_floor` keeps each snapshot to the trials of the open
step and of late pairs.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from asktell.core.snapshots import StudySnapshot, TrialRecord
from asktell.core.space import SearchSpace
from asktell.core.states import TrialState
from asktell.strategies._population import seed_for
from asktell.strategies.base import Proposal, Strategy, StrategyConfig
from asktell.strategies.registry import register_strategy
from asktell.strategies.zeroth_order import Schedule, scheduled
from asktell_client.types import Direction, FloatParam, IntParam
from asktell_client.zo_types import (
    MINUS_METRIC,
    PLUS_METRIC,
    SCALE_PARAM,
    SEED_PARAM,
    STEP_PARAM,
    ZOLog,
    ZOLogStep,
    ZOOptimizer,
)

__all__ = ["STATE_VERSION", "ZOModel", "ZOModelConfig", "log_page"]

STATE_VERSION = 1
SEED_STREAM = 7_331
TOLD, OPEN, DROPPED = "told", "open", "dropped"
Records = dict[tuple[int, int], TrialRecord]


class ZOModelConfig(StrategyConfig):
    """Options of `zo-model` (scale and lr in the model's own weight units)."""

    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(1e-3, gt=0, le=1e3, description="step size")
    lr_schedule: Schedule = "constant"
    lr_decay_steps: int = Field(1000, ge=1)
    lr_min: float = Field(0.0, ge=0)
    scale: float = Field(1e-3, gt=0, le=1e3, description="perturbation scale mu")
    scale_schedule: Schedule = "constant"
    scale_decay_steps: int = Field(1000, ge=1)
    scale_min: float = Field(1e-12, gt=0)
    directions: int = Field(1, ge=1, le=1024, description="antithetic pairs per step (q)")
    max_staleness: int = Field(
        1, ge=0, le=64, description="steps a late pair may lag and still count (0: drop it)"
    )
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)


@register_strategy("zo-model")
class ZOModel(Strategy):
    description = (
        "Zeroth-order training of a model held by the evaluators: seeds and scales out, "
        "pairs of losses in, a replayable (seed, gradient) log kept."
    )
    inline = True
    Config: ClassVar[type[StrategyConfig]] = ZOModelConfig
    config: ZOModelConfig

    def check(self, snapshot: StudySnapshot) -> None:
        space = {p.name: p for p in snapshot.space}
        kinds = {STEP_PARAM: IntParam, SEED_PARAM: IntParam, SCALE_PARAM: FloatParam}
        if set(space) != set(kinds) or any(
            not isinstance(space[n], kind) or space[n].condition is not None
            for n, kind in kinds.items()
        ):
            raise ValueError(
                "zo-model needs the space int zo_step, int zo_seed, float zo_scale "
                "(asktell_client.zo_types.zo_model_space())"
            )
        scale = space[SCALE_PARAM]
        if not scale.low <= self.config.scale <= scale.high:
            raise ValueError(f"zo-model: scale {self.config.scale} is outside zo_scale's range")
        names = sorted(o.name for o in snapshot.objectives)
        if names != sorted([PLUS_METRIC, MINUS_METRIC]) or snapshot.constraints:
            raise ValueError(
                f"zo-model needs the objectives {PLUS_METRIC} and {MINUS_METRIC} "
                "(one direction) and no constraints"
            )
        if len({o.direction for o in snapshot.objectives}) != 1:
            raise ValueError(f"zo-model: {PLUS_METRIC} and {MINUS_METRIC} need one direction")

    def history_floor(self, state: dict[str, Any] | None, space: SearchSpace) -> int | None:
        """Trials finished before the oldest step still read (the open one or a late pair's)
        was opened are left out."""
        loaded = _load(state)
        return None if loaded is None else min(loaded["floors"].values(), default=None)

    def suggest(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        self.check(snapshot)
        state = _load(state) or self.initial_state(snapshot.seed)
        steps = {state["t"]} | {step for step, _, _ in state["late"]}
        records = _pairs_of_steps(snapshot, steps)
        if self._step_ready(state, records):
            self._close_step(state, records, snapshot)
        points = [self._new_pair(state) for _ in range(n)]
        return Proposal(points, state=state, info={"step": state["t"]})

    # ------------------------------------------------------------------ steps

    def initial_state(self, seed: int) -> dict[str, Any]:
        """The state before the first ask: step 0 open, an empty log."""
        c = self.config
        optimizer = ZOOptimizer(name=c.optimizer, beta1=c.beta1, beta2=c.beta2, eps=c.eps)
        state = {
            "version": STATE_VERSION,
            "kind": self.name,
            "seed": seed,
            "optimizer": optimizer.model_dump(),
            "t": 0,
            "log": [],
            "late": [],
            "floors": {"0": -1},
            "evaluations": 0,
        }
        self._open_step(state)
        return state

    def _open_step(self, state: dict[str, Any]) -> None:
        c = self.config
        t = state["t"]
        state["scale_t"] = scheduled(c.scale, c.scale_schedule, t, c.scale_decay_steps, c.scale_min)
        state["out"] = []
        state["next_j"] = 0

    def _step_ready(self, state: dict[str, Any], records: Records) -> bool:
        t, scale = state["t"], state["scale_t"]
        statuses = [_status(records.get((t, seed)), scale) for seed in state["out"]]
        told = statuses.count(TOLD)
        late = sum(_status(records.get((s, seed)), mu) == TOLD for s, seed, mu in state["late"])
        q = self.config.directions
        if told + late >= q:
            return True
        return told + late > 0 and OPEN not in statuses and len(statuses) >= q

    def _close_step(self, state: dict[str, Any], records: Records, snapshot: StudySnapshot) -> None:
        c = self.config
        t = state["t"]
        pairs = [(t, seed, state["scale_t"]) for seed in state["out"]]
        pairs += [tuple(p) for p in state["late"]]
        told = [
            (seed, scale, *_losses(records[(s, seed)]))
            for s, seed, scale in pairs
            if _status(records.get((s, seed)), scale) == TOLD
        ]
        sign = -1.0 if snapshot.objectives[0].direction == Direction.maximize else 1.0
        n = len(told)
        grads = [sign * (plus - minus) / (2 * mu) / n for _, mu, plus, minus in told]
        loss = sum((plus + minus) / 2 for _, _, plus, minus in told) / n
        lr = scheduled(c.lr, c.lr_schedule, t, c.lr_decay_steps, c.lr_min)
        entry = ZOLogStep(step=t, lr=lr, seeds=[seed for seed, *_ in told], grads=grads, loss=loss)
        state["log"].append(entry.model_dump())
        state["evaluations"] += 2 * n
        state["late"] = [
            [s, seed, scale]
            for s, seed, scale in pairs
            if _status(records.get((s, seed)), scale) == OPEN and t + 1 - s <= c.max_staleness
        ]
        newest = max((r.id for g in _groups(snapshot) for r in g), default=-1)
        steps = {str(s) for s, _, _ in state["late"]}
        floors = {k: v for k, v in state["floors"].items() if k in steps}
        state["floors"] = {**floors, str(t + 1): max(newest, state["floors"].get(str(t), -1))}
        state["t"] = t + 1
        self._open_step(state)

    def _new_pair(self, state: dict[str, Any]) -> dict[str, Any]:
        j = state["next_j"]
        state["next_j"] = j + 1
        seed = seed_for(state["seed"], SEED_STREAM, state["t"], j)
        state["out"].append(seed)
        return {STEP_PARAM: state["t"], SEED_PARAM: seed, SCALE_PARAM: state["scale_t"]}


def _load(state: dict[str, Any] | None) -> dict[str, Any] | None:
    if state is None or state.get("version") != STATE_VERSION or state.get("kind") != "zo-model":
        return None
    late = [list(p) for p in state.get("late", [])]
    floors = dict(state.get("floors", {str(state["t"]): -1}))
    return {
        **state,
        "out": list(state["out"]),
        "log": list(state["log"]),
        "late": late,
        "floors": floors,
    }


def _groups(snapshot: StudySnapshot) -> tuple[list[TrialRecord], ...]:
    return snapshot.failed, snapshot.pending, snapshot.completed


def _losses(record: TrialRecord) -> tuple[float, float]:
    """(loss_plus, loss_minus) as floats (PostgreSQL may return a huge value as an int)."""
    values = record.values or {}
    return float(values[PLUS_METRIC]), float(values[MINUS_METRIC])


def _status(record: TrialRecord | None, scale: float) -> str:
    """Told (with a finite gradient and loss), open, or dropped."""
    if record is not None and record.values is not None:
        plus, minus = _losses(record)
        finite = math.isfinite((plus - minus) / (2 * scale)) and math.isfinite(plus + minus)
        return TOLD if finite else DROPPED
    if record is not None and record.state in (TrialState.pending, TrialState.running):
        return OPEN
    return DROPPED


def _pairs_of_steps(snapshot: StudySnapshot, steps: set[int]) -> Records:
    """The trials of `steps` by (step, seed); a told trial wins over an open copy of it."""
    records: Records = {}
    for group in _groups(snapshot):
        for record in group:
            step = record.params.get(STEP_PARAM)
            if step in steps:
                records[(int(step), int(record.params[SEED_PARAM]))] = record
    return records


def log_page(state: dict[str, Any], *, study_id: int, since: int, limit: int) -> ZOLog:
    """The log entries of steps `since` .. `since + limit - 1` (those closed)."""
    log = state.get("log", [])
    return ZOLog(
        study_id=study_id,
        steps=len(log),
        since=since,
        optimizer=ZOOptimizer.model_validate(state["optimizer"]),
        entries=[ZOLogStep.model_validate(e) for e in log[since : since + limit]],
    )
