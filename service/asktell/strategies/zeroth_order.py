"""Zeroth-order gradient strategies: `zo-sgd`, `zo-adam` and `spsa`.

Each step estimates the gradient at the iterate x (a point of the unit cube)
from antithetic pairs (x + mu*u_j, x - mu*u_j):

    g = mean_j [f(x + mu*u_j) - f(x - mu*u_j)] / (2*mu) * u_j

Directions are regenerated from (seed, step, index), so the state stays O(d).
A step's pairs go out over as many asks as needed; asks beyond the step's
`directions` pairs get further pairs of the same step. The step is taken once
`directions` pairs are told, or once every pair handed out is told or failed
and at least `directions` are; results for an older step are ignored. A side
that was never evaluated (lost) is handed out again.
Near the walls a pair's centre moves inwards so both points stay in the cube.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from asktell.core.encoding import SpaceEncoder
from asktell.core.snapshots import StudySnapshot
from asktell.core.space import SearchSpace
from asktell.strategies._population import (
    LOST,
    PENDING,
    TOLD,
    History,
    KeyGuard,
    best_completed,
    check_single_objective,
    check_space,
    cube_list,
    rng_for,
    space_signature,
)
from asktell.strategies.base import Proposal, Strategy, StrategyConfig
from asktell.strategies.registry import register_strategy

__all__ = ["SPSA", "ZOAdam", "ZOSGD", "direction"]

STATE_VERSION = 1
Schedule = Literal["constant", "inverse_sqrt", "exponential", "cosine"]


def scheduled(base: float, kind: Schedule, t: int, steps: int, floor: float = 0.0) -> float:
    """`base` decayed over `steps` steps: 1/sqrt(1 + t/steps), half-life `steps`, or cosine."""
    if kind == "inverse_sqrt":
        value = base / math.sqrt(1.0 + t / steps)
    elif kind == "exponential":
        value = base * 0.5 ** (t / steps)
    elif kind == "cosine":
        value = base * 0.5 * (1.0 + math.cos(math.pi * min(t, steps) / steps))
    else:
        value = base
    return max(value, floor)


def direction(seed: int, step: int, j: int, d: int, kind: str, orthogonal: bool) -> np.ndarray:
    """Direction `j` of step `step`: Gaussian, on the sphere of radius sqrt(d), or ±1.

    With `orthogonal`, directions in each block of `d` consecutive indices are
    orthogonal (Gram-Schmidt of the block's Gaussian draws).
    """
    if kind == "rademacher":
        return rng_for(seed, step, j).choice([-1.0, 1.0], size=d)
    if not orthogonal:
        g = rng_for(seed, step, j).standard_normal(d)
        return g * math.sqrt(d) / np.linalg.norm(g) if kind == "sphere" else g
    block, index = divmod(j, d)
    basis: list[np.ndarray] = []
    u = np.zeros(d)
    for k in range(index + 1):
        g = rng_for(seed, step, block * d + k).standard_normal(d)
        u = g.copy()
        for b in basis:
            u -= (u @ b) * b
        u /= np.linalg.norm(u)
        basis.append(u)
    scale = math.sqrt(d) if kind == "sphere" else float(np.linalg.norm(g))
    return u * scale


class _BaseConfig(StrategyConfig):
    """Options every zeroth-order strategy has (lengths in cube units)."""

    directions: int = Field(4, ge=1, le=4096, description="antithetic pairs per step (q)")
    direction: Literal["sphere", "gaussian", "rademacher"] = "sphere"
    orthogonal: bool = Field(True, description="orthogonal directions within a step")
    initial_step: float = Field(
        0.05, gt=0, le=1, description="largest coordinate move of a calibrated first step"
    )
    max_step: float = Field(0.2, gt=0, le=1, description="largest coordinate move per step")
    start: Literal["best", "center"] = Field(
        "best", description="start at the best told trial if there is one, else the centre"
    )


class ZOConfig(_BaseConfig):
    mu: float = Field(0.01, gt=0, le=0.25, description="smoothing radius")
    mu_schedule: Schedule = "constant"
    mu_decay_steps: int = Field(100, ge=1)
    mu_min: float = Field(1e-5, ge=0)
    lr: float | None = Field(
        None, gt=0, description="step size; None: the first step moves `initial_step`"
    )
    lr_schedule: Schedule = "constant"
    lr_decay_steps: int = Field(100, ge=1)
    lr_min: float = Field(0.0, ge=0)


class _ZerothOrder(Strategy):
    """Shared ask/tell bookkeeping; subclasses define the smoothing radius and the update."""

    inline = False
    Config: ClassVar[type[StrategyConfig]] = _BaseConfig
    config: Any

    def mu(self, t: int) -> float:
        """The smoothing radius of step `t`."""
        raise NotImplementedError

    def move(self, state: dict[str, Any], g: np.ndarray) -> np.ndarray | None:
        """The displacement for gradient estimate `g`; None leaves x where it is."""
        raise NotImplementedError

    def extra_state(self, d: int) -> dict[str, Any]:
        return {}

    def calibrated(self, state: dict[str, Any], g: np.ndarray, factor: float) -> float | None:
        """A gain stored at the first step so that it moves `initial_step` (times `factor`)."""
        if state.get("gain") is None:
            scale = float(np.max(np.abs(g)))
            if scale <= 0:
                return None
            state["gain"] = self.config.initial_step * factor / scale
        return state["gain"]

    # ------------------------------------------------------------------ ask/tell

    def check(self, snapshot: StudySnapshot) -> None:
        check_single_objective(snapshot, self.name)
        if snapshot.constraints:
            raise ValueError(f"{self.name} does not support outcome constraints")
        check_space(SpaceEncoder(snapshot.space), self.name, integers=False, categoricals=False)

    def suggest(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        self.check(snapshot)
        encoder = SpaceEncoder(snapshot.space)
        state = self._load(state, encoder)
        if state is None:
            state = self._fresh(snapshot, encoder)
        history = History.of(snapshot, state["floor"])
        if self._step_ready(state, history):
            self._take_step(state, history, encoder.d)
            state["floor"] = history.max_id
        points = self._hand_out(state, history, encoder, snapshot, n)
        info = {"step": state["t"]}
        return Proposal(points, state=state, info=info)

    def history_floor(self, state: dict[str, Any] | None, space: SearchSpace) -> int | None:
        loaded = self._load(state, SpaceEncoder(space))
        return None if loaded is None else loaded["floor"]

    def _load(self, state: dict[str, Any] | None, encoder: SpaceEncoder) -> dict[str, Any] | None:
        if (
            state is None
            or state.get("version") != STATE_VERSION
            or state.get("kind") != self.name
            or state.get("space") != space_signature(encoder)
        ):
            return None
        pairs = [{**pair, "keys": list(pair["keys"])} for pair in state["pairs"]]
        return {**state, "pairs": pairs}

    def _fresh(self, snapshot: StudySnapshot, encoder: SpaceEncoder) -> dict[str, Any]:
        best = best_completed(snapshot, encoder) if self.config.start == "best" else None
        x = best[0] if best is not None else np.full(encoder.d, 0.5)
        state = {
            "version": STATE_VERSION,
            "kind": self.name,
            "space": space_signature(encoder),
            "seed": snapshot.seed,
            "x": cube_list(x),
            "t": 0,
            "floor": -1,
            "gain": None,
            "evaluations": 0,
            **self.extra_state(encoder.d),
        }
        self._open_step(state)
        return state

    def _open_step(self, state: dict[str, Any]) -> None:
        state["mu_t"] = self.mu(state["t"])
        state["pairs"] = []
        state["next_j"] = 0

    @staticmethod
    def _pair_status(pair: dict[str, Any], history: History) -> list[str]:
        """The status of each side handed out so far (plus side first)."""
        return [history.status(k) for k in pair["keys"][: pair["out"]]]

    def _step_ready(self, state: dict[str, Any], history: History) -> bool:
        q = self.config.directions
        told = settled = unsettled = 0
        for pair in state["pairs"]:
            status = self._pair_status(pair, history)
            if len(status) < 2 or PENDING in status or LOST in status:
                unsettled += 1
                continue
            settled += 1
            told += status == [TOLD, TOLD]
        return told >= q or (settled >= q and unsettled == 0 and told > 0)

    def _take_step(self, state: dict[str, Any], history: History, d: int) -> None:
        seed, t, mu = state["seed"], state["t"], state["mu_t"]
        c = self.config
        g = np.zeros(d)
        used = 0
        for pair in state["pairs"]:
            if self._pair_status(pair, history) != [TOLD, TOLD]:
                continue
            plus, minus = (history.told[k].value for k in pair["keys"])
            u = direction(seed, t, pair["j"], d, pair["kind"], pair["orthogonal"])
            g += (plus - minus) / (2 * mu) * u
            used += 1
        g /= used
        state["evaluations"] += 2 * used
        step = self.move(state, g)
        x = np.asarray(state["x"])
        if step is not None:
            largest = float(np.max(np.abs(step)))
            if largest > c.max_step:
                step *= c.max_step / largest
            x = np.clip(x + step, 0.0, 1.0)
        state["x"] = cube_list(x)
        state["t"] = t + 1
        self._open_step(state)

    def _hand_out(
        self,
        state: dict[str, Any],
        history: History,
        encoder: SpaceEncoder,
        snapshot: StudySnapshot,
        n: int,
    ) -> list[dict]:
        """Lost sides again, then the minus sides still due, then new pairs."""
        guard = KeyGuard(snapshot.space, history)
        points: list[dict] = []
        for pair in state["pairs"]:
            due = [s for s, status in enumerate(self._pair_status(pair, history)) if status == LOST]
            due += [1] if pair["out"] == 1 else []
            for side in due:
                if len(points) == n:
                    return points
                point = pair_points(state, pair, encoder)[side]
                if guard.claim(point) is not None:
                    points.append(point)
                pair["out"] = max(pair["out"], side + 1)
        tries = 0
        while len(points) < n:
            tries += 1
            if tries > 100 * n:
                raise RuntimeError(f"{self.name}: could not find a new point")
            pair = self._new_pair(state, history, encoder, guard)
            if pair is None:
                continue
            state["pairs"].append(pair)
            plus, minus = pair_points(state, pair, encoder)
            points.append(plus)
            if len(points) < n:
                points.append(minus)
                pair["out"] = 2
        return points

    def _new_pair(
        self, state: dict[str, Any], history: History, encoder: SpaceEncoder, guard: KeyGuard
    ) -> dict[str, Any] | None:
        """The next pair of the step (plus side out), or None if its points are taken.

        ±1 directions repeat in low dimension; a repeated one becomes a sphere direction.
        """
        c = self.config
        j = state["next_j"]
        state["next_j"] = j + 1
        kinds = [c.direction] + (["sphere"] if c.direction == "rademacher" else [])
        for kind in kinds:
            orthogonal = c.orthogonal and kind == c.direction != "rademacher"
            pair = {"j": j, "kind": kind, "orthogonal": orthogonal, "out": 1}
            keys = [encoder.space.point_key(p) for p in pair_points(state, pair, encoder)]
            seen = guard.taken, history.told, history.failed
            if any(k in group for k in keys for group in seen) or keys[0] == keys[1]:
                continue
            guard.taken.update(keys)
            pair["keys"] = keys
            return pair
        return None


def pair_points(state: dict[str, Any], pair: dict[str, Any], encoder: SpaceEncoder) -> list[dict]:
    """The plus and minus points of `pair`, moved inwards so both lie in the cube."""
    u = direction(state["seed"], state["t"], pair["j"], encoder.d, pair["kind"], pair["orthogonal"])
    delta = np.clip(state["mu_t"] * u, -0.5, 0.5)
    reach = np.abs(delta)
    center = np.clip(np.asarray(state["x"]), reach, 1.0 - reach)
    return encoder.decode(np.stack([center + delta, center - delta]))


@register_strategy("zo-sgd")
class ZOSGD(_ZerothOrder):
    description = "Zeroth-order SGD: random-direction gradient estimates from antithetic pairs."
    Config = ZOConfig

    def mu(self, t: int) -> float:
        c = self.config
        return scheduled(c.mu, c.mu_schedule, t, c.mu_decay_steps, c.mu_min)

    def step_size(self, state: dict[str, Any], g: np.ndarray) -> float | None:
        c = self.config
        base = c.lr if c.lr is not None else self.calibrated(state, g, 1.0)
        if base is None:
            return None
        return scheduled(base, c.lr_schedule, state["t"], c.lr_decay_steps, c.lr_min)

    def move(self, state: dict[str, Any], g: np.ndarray) -> np.ndarray | None:
        lr = self.step_size(state, g)
        return None if lr is None else -lr * g


class ZOAdamConfig(ZOConfig):
    lr: float | None = Field(0.02, gt=0, description="Adam step size; None: `initial_step`")
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)


@register_strategy("zo-adam")
class ZOAdam(ZOSGD):
    description = "Zeroth-order Adam: Adam moments on random-direction gradient estimates."
    Config = ZOAdamConfig

    def extra_state(self, d: int) -> dict[str, Any]:
        return {"m": [0.0] * d, "v": [0.0] * d}

    def move(self, state: dict[str, Any], g: np.ndarray) -> np.ndarray | None:
        c = self.config
        lr = self.step_size(state, np.sign(g))
        if lr is None:
            return None
        k = state["t"] + 1
        m = c.beta1 * np.asarray(state["m"]) + (1 - c.beta1) * g
        v = c.beta2 * np.asarray(state["v"]) + (1 - c.beta2) * g * g
        state["m"], state["v"] = cube_list(m), cube_list(v)
        m_hat = m / (1 - c.beta1**k)
        v_hat = v / (1 - c.beta2**k)
        return -lr * m_hat / (np.sqrt(v_hat) + c.eps)


class SPSAConfig(_BaseConfig):
    directions: int = Field(1, ge=1, le=4096, description="perturbations averaged per step")
    direction: Literal["sphere", "gaussian", "rademacher"] = "rademacher"
    a: float | None = Field(
        None, gt=0, description="gain a; None: the first step moves `initial_step`"
    )
    c: float = Field(0.02, gt=0, le=0.25, description="perturbation size c")
    A: float = Field(10.0, ge=0, description="stability constant A")
    alpha: float = Field(0.602, gt=0)
    gamma: float = Field(0.101, ge=0)


@register_strategy("spsa")
class SPSA(_ZerothOrder):
    description = "SPSA (Spall): ±1 simultaneous perturbations with decaying gains a_k and c_k."
    Config = SPSAConfig

    def mu(self, t: int) -> float:
        c = self.config
        return c.c / (t + 1) ** c.gamma

    def move(self, state: dict[str, Any], g: np.ndarray) -> np.ndarray | None:
        c = self.config
        a = c.a if c.a is not None else self.calibrated(state, g, (c.A + 1) ** c.alpha)
        if a is None:
            return None
        return -a / (state["t"] + 1 + c.A) ** c.alpha * g
