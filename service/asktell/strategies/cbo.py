"""`cbo`: consensus-based optimisation with a swarm of particles in the unit cube.

Each generation evaluates every particle X_i. With weights
w_i = exp(-alpha * (f_i - min f) / std f) (shifted, so they never overflow),
the consensus is v = sum_i w_i X_i / sum_i w_i and every particle moves

    X_i <- X_i - lambda*dt*(X_i - v) + sigma*sqrt(dt) * D(X_i - v) * xi_i,

with D = diag (anisotropic noise) or |.| (isotropic), then is projected onto
the cube. Discrete parameters are rounded when a particle is decoded;
particles that round to the same point share one evaluation.

A generation is updated once `particles` of its particles are told or failed;
asks beyond the swarm get extra particles drawn around the last consensus, and
particles still out at the update are dropped. Failed particles are replaced
by draws around the new consensus; particles never evaluated (lost) are handed
out again.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field

from asktell.core.encoding import SpaceEncoder
from asktell.core.snapshots import StudySnapshot
from asktell.core.space import SearchSpace
from asktell.strategies._population import (
    FAILED,
    LOST,
    TOLD,
    History,
    KeyGuard,
    check_single_objective,
    check_space,
    cube_list,
    fill_random,
    rng_for,
    scalarize,
    space_signature,
)
from asktell.strategies.base import Proposal, Strategy, StrategyConfig
from asktell.strategies.registry import register_strategy

__all__ = ["CBO", "CBOConfig", "consensus"]

STATE_VERSION = 1
MAX_DIM = 1000  # the swarm (up to 200 particles of d numbers) is rewritten every ask
INIT, MOVE, SPAWN = 0, 1, 2
MAX_TRIES = 20


class CBOConfig(StrategyConfig):
    """Options of `cbo` (positions in cube units)."""

    particles: int | None = Field(
        None, ge=2, le=100_000, description="swarm size; default 5 d within [20, 200]"
    )
    alpha: float = Field(30.0, gt=0, description="weight sharpness on standardised values")
    drift: float = Field(1.0, gt=0, description="lambda: pull towards the consensus")
    sigma: float = Field(0.4, ge=0, description="noise strength")
    sigma_decay: float = Field(1.0, gt=0, le=1, description="sigma factor per generation")
    dt: float = Field(0.1, gt=0, le=1)
    noise: Literal["anisotropic", "isotropic"] = "anisotropic"


def consensus(X: np.ndarray, f: np.ndarray, alpha: float) -> np.ndarray:
    """The weighted mean of the rows of `X` (`N x d`) for values `f` (`N`), lower is better."""
    f = np.asarray(f, dtype=float)
    scale = float(np.max(np.abs(f)))
    g = f / scale if scale > 0 else f
    spread = float(np.std(g))
    z = (g - g.min()) / spread if spread > 0 else np.zeros_like(g)
    w = np.exp(-alpha * z)
    return (w[:, None] * X).sum(axis=0) / w.sum()


@register_strategy("cbo")
class CBO(Strategy):
    description = "Consensus-based optimisation: a particle swarm drawn to a weighted consensus."
    inline = False
    Config = CBOConfig
    config: CBOConfig

    def check(self, snapshot: StudySnapshot) -> None:
        check_single_objective(snapshot, self.name)
        check_space(SpaceEncoder(snapshot.space), self.name, max_dim=MAX_DIM)

    def suggest(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        self.check(snapshot)
        encoder = SpaceEncoder(snapshot.space)
        state = self._load(state, encoder)
        if state is None:
            state = self._fresh(snapshot, encoder, n)
        points = self._propose(state, snapshot, encoder, n)
        info = {"generation": state["generation"], "particles": state["size"]}
        return Proposal(points, state=state, info=info)

    def history_floor(self, state: dict[str, Any] | None, space: SearchSpace) -> int | None:
        loaded = self._load(state, SpaceEncoder(space))
        return None if loaded is None else loaded["floor"]

    def _load(self, state: dict[str, Any] | None, encoder: SpaceEncoder) -> dict[str, Any] | None:
        if (
            state is None
            or state.get("version") != STATE_VERSION
            or state.get("space") != space_signature(encoder)
        ):
            return None
        return {**state, "swarm": [dict(p) for p in state["swarm"]]}

    def _fresh(self, snapshot: StudySnapshot, encoder: SpaceEncoder, n: int) -> dict[str, Any]:
        d = encoder.d
        size = max(self.config.particles or min(max(5 * d, 20), 200), n)
        X = rng_for(snapshot.seed, INIT).random((size, d))
        return {
            "version": STATE_VERSION,
            "space": space_signature(encoder),
            "seed": snapshot.seed,
            "size": size,
            "generation": 0,
            "floor": -1,
            "consensus": None,
            "spread": None,
            "swarm": [{"x": cube_list(x), "key": None} for x in X],
            "spawned": 0,
        }

    # ------------------------------------------------------------------ generations

    def _ready(self, state: dict[str, Any], history: History) -> bool:
        settled = sum(
            p["key"] is not None and history.status(p["key"]) in (TOLD, FAILED)
            for p in state["swarm"]
        )
        return settled >= state["size"]

    def _update(self, state: dict[str, Any], history: History, d: int) -> None:
        c = self.config
        told = [
            p for p in state["swarm"] if p["key"] is not None and history.status(p["key"]) == TOLD
        ]
        k = state["generation"]
        rng = rng_for(state["seed"], MOVE, k)
        state["generation"] = k + 1
        state["spawned"] = 0
        if not told:
            X = rng.random((state["size"], d))
            state["swarm"] = [{"x": cube_list(x), "key": None} for x in X]
            return
        told = told[: state["size"]]
        X = np.array([p["x"] for p in told])
        f = scalarize([history.told[p["key"]] for p in told])
        v = consensus(X, f, c.alpha)
        sigma = c.sigma * c.sigma_decay**k
        diff = X - v
        xi = rng.standard_normal(X.shape)
        if c.noise == "anisotropic":
            noise = diff * xi
        else:
            noise = np.linalg.norm(diff, axis=1, keepdims=True) * xi
        X = np.clip(X - c.drift * c.dt * diff + sigma * math.sqrt(c.dt) * noise, 0.0, 1.0)
        spread = np.maximum(np.std(X, axis=0), 1e-3)
        missing = state["size"] - len(told)
        if missing:
            extra = np.clip(v + spread * rng.standard_normal((missing, d)), 0.0, 1.0)
            X = np.concatenate([X, extra])
        state["consensus"] = cube_list(v)
        state["spread"] = cube_list(spread)
        state["swarm"] = [{"x": cube_list(x), "key": None} for x in X]

    def _spawn(self, state: dict[str, Any], d: int) -> np.ndarray:
        """An extra particle of this generation: around the last consensus, or uniform
        at first and once many extras have been drawn (a collapsed swarm in a discrete space)."""
        index = state["spawned"]
        state["spawned"] += 1
        rng = rng_for(state["seed"], SPAWN, state["generation"], index)
        if state["consensus"] is None or index >= 2 * state["size"]:
            return rng.random(d)
        v, spread = np.asarray(state["consensus"]), np.asarray(state["spread"])
        return np.clip(v + spread * rng.standard_normal(d), 0.0, 1.0)

    def _propose(
        self, state: dict[str, Any], snapshot: StudySnapshot, encoder: SpaceEncoder, n: int
    ) -> list[dict]:
        """Update finished generations and hand out `n` particles' points.

        A particle whose point is out or was told in this generation shares it;
        after many such draws, told points are evaluated again.
        """
        history = History.of(snapshot, state["floor"])
        guard = KeyGuard(snapshot.space, history)
        points: list[dict] = []
        shared = 0
        for _ in range(MAX_TRIES * (n + 10)):
            if self._ready(state, history):
                self._update(state, history, encoder.d)
                state["floor"] = history.max_id
                history = History({}, set(), history.open, history.max_id)
            if len(points) == n:
                return points
            particle = self._next_particle(state, history, encoder.d)
            point = encoder.decode(np.asarray(particle["x"])[None])[0]
            key = particle["key"] = snapshot.space.point_key(point)
            if key in guard.taken:
                history.open.add(key)
                continue
            if key in history.told and shared < MAX_TRIES * n:
                shared += 1
                continue
            guard.taken.add(key)
            history.open.add(key)
            points.append(point)
        return points + fill_random(encoder, guard, state, n - len(points), self.name)

    def _next_particle(self, state: dict[str, Any], history: History, d: int) -> dict[str, Any]:
        """A particle not handed out yet, or lost; else a new one."""
        for particle in state["swarm"]:
            if particle["key"] is None or history.status(particle["key"]) == LOST:
                return particle
        particle = {"x": cube_list(self._spawn(state, d)), "key": None}
        state["swarm"].append(particle)
        return particle
