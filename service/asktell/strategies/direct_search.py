"""`direct-search`: mesh adaptive direct search with a covering step (cDSM) and hints.

Each iteration builds a wave of trial points around the incumbent x, in this order:
1. hint: a line search x + t*h along the user's direction h (option `hint`,
   which a PATCH of the study's strategy options may change at any time),
   t = poll size * 2^j;
2. speculative: x + the last successful move;
3. poll: the 2n directions ±H e_i of a random Householder matrix H (or the
   n+1 minimal positive basis), scaled to the poll size and rounded to the mesh,
   ordered by their angle to the hint (or the last move);
4. covering: a uniform point of the ball of fixed radius `covering_radius`
   around x, so evaluated points become dense near every refined point; this
   is what lets cDSM converge to a local minimum rather than a stationary point.
Points outside the cube are not evaluated (extreme barrier). With opportunistic
polling the iteration ends at the first told improvement; otherwise, and when
nothing improves, once every point is told or failed. Success doubles the poll
size, failure halves it; poll points lie on a mesh of size min(poll, poll^2),
at least the grid step of integer dimensions. Asks beyond the wave get extra
covering points; points never evaluated (lost) are handed out again. Below
`min_poll_size` the search restarts at a random point.

Told points of recent waves are cached in the state, so revisiting a mesh point
costs no evaluation. Feasible points beat infeasible ones; among infeasible
ones, the smaller total violation wins.
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
    LOST,
    PENDING,
    TOLD,
    History,
    KeyGuard,
    Outcome,
    best_completed,
    check_single_objective,
    check_space,
    cube_list,
    fill_random,
    rng_for,
    space_signature,
)
from asktell.strategies.base import Proposal, Strategy, StrategyConfig
from asktell.strategies.registry import register_strategy
from asktell_client.types import ArrayParam, FloatParam, IntParam

__all__ = ["DirectSearch", "DirectSearchConfig", "hint_direction"]

STATE_VERSION = 1
MAX_DIM = 1000  # the poll directions make the state grow as d squared
POLL, COVER, RESTART = 0, 1, 2
CACHE_BASE, CACHE_PER_DIM = 64, 8
MAX_WAVES = 200
MAX_COVER_TRIES = 20
MAX_ELL = 60


class DirectSearchConfig(StrategyConfig):
    """Options of `direct-search` (lengths in cube units)."""

    initial_poll_size: float = Field(0.25, gt=0, le=1)
    min_poll_size: float = Field(1e-6, gt=0, le=1, description="restart below this poll size")
    max_poll_size: float = Field(1.0, gt=0, le=1)
    poll: Literal["2n", "n+1"] = Field("2n", description="poll directions per iteration")
    opportunistic: bool = Field(True, description="end an iteration at the first improvement")
    covering: bool = Field(True, description="cDSM covering step")
    covering_radius: float = Field(0.1, gt=0, le=1)
    speculative: bool = Field(True, description="retry the last successful move")
    hint: list[float] | dict[str, float] | None = Field(
        None,
        description="a direction expected to improve the objective, in parameter units: "
        "one number per non-fixed parameter in space order, or a name → number mapping",
    )
    hint_steps: int = Field(3, ge=1, le=20, description="line-search points along the hint")
    restarts: bool = Field(True, description="restart at a random point once converged")
    start: Literal["best", "center"] = Field(
        "best", description="start at the best told trial if there is one, else the centre"
    )


def hint_direction(encoder: SpaceEncoder, hint: Any, x: np.ndarray) -> np.ndarray | None:
    """The hint, given in parameter units, as a cube direction at `x` (∞-norm 1)."""
    if hint is None:
        return None
    if any(isinstance(p, ArrayParam) for p in encoder.params):
        raise ValueError("hints are not supported in spaces with array parameters")
    if isinstance(hint, dict):
        unknown = set(hint) - {p.name for p in encoder.params}
        if unknown:
            raise ValueError(f"hint names unknown parameters: {sorted(unknown)}")
        raw = [float(hint.get(p.name, 0.0)) for p in encoder.params]
    else:
        raw = [float(v) for v in hint]
        if len(raw) != encoder.d:
            raise ValueError(f"hint has {len(raw)} numbers; the space has {encoder.d} parameters")
    if not all(math.isfinite(v) for v in raw):
        raise ValueError("hint must be finite")
    point = encoder.decode(x[None])[0]
    h = np.zeros(encoder.d)
    for i, p in enumerate(encoder.params):
        assert isinstance(p, (FloatParam, IntParam))
        if p.log:
            value = float(point.get(p.name, p.low))
            h[i] = raw[i] / (value * math.log(p.high / p.low))
        else:
            h[i] = raw[i] / (p.high - p.low)
    largest = float(np.max(np.abs(h)))
    return h / largest if largest > 0 else None


def householder(rng: np.random.Generator, d: int, kind: str) -> np.ndarray:
    """Poll directions as rows: ±H e_i (2n), or H e_i and -sum_i H e_i (n+1)."""
    v = rng.standard_normal(d)
    H = np.eye(d) - 2 * np.outer(v, v) / (v @ v)
    if kind == "n+1":
        return np.vstack([H, -H.sum(axis=0, keepdims=True)])
    return np.vstack([H, -H])


@register_strategy("direct-search")
class DirectSearch(Strategy):
    description = "Mesh adaptive direct search with a cDSM covering step and optional hints."
    inline = False
    Config = DirectSearchConfig
    config: DirectSearchConfig

    def check(self, snapshot: StudySnapshot) -> None:
        check_single_objective(snapshot, self.name)
        check_space(SpaceEncoder(snapshot.space), self.name, categoricals=False, max_dim=MAX_DIM)

    def suggest(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        self.check(snapshot)
        encoder = SpaceEncoder(snapshot.space)
        hint_direction(encoder, self.config.hint, np.full(encoder.d, 0.5))
        state = self._load(state, encoder)
        if state is None:
            state = self._fresh(snapshot, encoder)
        run = _Run(self.config, snapshot, encoder, state)
        points = run.propose(n)
        info = {
            "iteration": state["k"],
            "poll_size": run.poll_size(),
            "restart": state["restart"],
        }
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
        return {**state, "wave": [dict(p) for p in state["wave"]], "cache": list(state["cache"])}

    def _fresh(self, snapshot: StudySnapshot, encoder: SpaceEncoder) -> dict[str, Any]:
        best = best_completed(snapshot, encoder) if self.config.start == "best" else None
        x = best[0] if best is not None else np.full(encoder.d, 0.5)
        return {
            "version": STATE_VERSION,
            "space": space_signature(encoder),
            "seed": snapshot.seed,
            "x": cube_list(encoder.round(x[None])[0]),
            "f": None if best is None else [best[1].violation, best[1].value],
            "ell": 0,
            "k": 0,
            "restart": 0,
            "floor": -1,
            "last_move": None,
            "wave": [],
            "extras": 0,
            "cache": [],
        }


class _Run:
    """One `suggest` call: close finished waves, build new ones, hand out points."""

    def __init__(self, config: DirectSearchConfig, snapshot, encoder: SpaceEncoder, state):
        self.config, self.snapshot, self.encoder, self.state = config, snapshot, encoder, state
        self.history = History.of(snapshot, state["floor"])
        self.guard = KeyGuard(snapshot.space, self.history)
        self.cache = {key: Outcome(v, f) for key, v, f in state["cache"]}
        self.grid = np.array(
            [0.0 if dim.cardinality is None else 1.0 / dim.cardinality for dim in encoder.dims]
        )
        self.ell_min = -math.floor(math.log2(config.max_poll_size / config.initial_poll_size))

    # ------------------------------------------------------------------ mesh

    def poll_size(self) -> float:
        return min(self.config.initial_poll_size * 2.0 ** -self.state["ell"], 1.0)

    def _mesh(self) -> np.ndarray:
        p = self.poll_size()
        return np.maximum(min(p, p * p), self.grid)

    def _snap(self, x: np.ndarray, move: np.ndarray) -> np.ndarray:
        mesh = self._mesh()
        return x + np.round(move / mesh) * mesh

    # ------------------------------------------------------------------ waves

    def propose(self, n: int) -> list[dict]:
        points: list[dict] = []
        for _ in range(MAX_WAVES + 10 * n):
            if not self.state["wave"]:
                self._build_wave()
            if self._decide():
                continue
            if len(points) == n:
                return points
            point = self._next_point()
            if point is not None:
                points.append(point)
        rest = n - len(points)
        return points + fill_random(self.encoder, self.guard, self.state, rest, "direct-search")

    def _outcome(self, key: str) -> Outcome | None:
        return self.history.told.get(key) or self.cache.get(key)

    def _status(self, p: dict[str, Any]) -> str:
        """A wave point's status; unissued points count as lost."""
        if not p["out"]:
            return LOST
        if self._outcome(p["key"]) is not None:
            return TOLD
        return self.history.status(p["key"])

    def _decide(self) -> bool:
        """Close the wave if it is decided; return whether it was."""
        state = self.state
        wave = state["wave"]
        statuses = [self._status(p) for p in wave]
        told = [(self._outcome(p["key"]), i) for i, p in enumerate(wave) if statuses[i] == TOLD]
        open_ = any(status in (PENDING, LOST) for status in statuses)
        incumbent = None if state["f"] is None else Outcome(*state["f"])
        best = min(told, default=None)
        improved = best is not None and (incumbent is None or best[0] < incumbent)
        if not ((improved and self.config.opportunistic) or not open_):
            return False
        for outcome, i in told:
            self._remember(wave[i]["key"], outcome)
        if improved:
            assert best is not None
            x_new = np.asarray(wave[best[1]]["x"])
            if incumbent is not None:
                state["last_move"] = cube_list(x_new - np.asarray(state["x"]))
                state["ell"] = max(state["ell"] - 1, self.ell_min)
            state["x"] = cube_list(x_new)
            state["f"] = [best[0].violation, best[0].value]
        else:
            state["last_move"] = None
            state["ell"] = min(state["ell"] + 1, MAX_ELL)
            if incumbent is None or self.poll_size() < self.config.min_poll_size:
                self._restart()
        state["k"] += 1
        state["wave"] = []
        state["extras"] = 0
        state["floor"] = self.history.max_id
        self.history = History({}, set(), self.history.open, self.history.max_id)
        return True

    def _remember(self, key: str, outcome: Outcome) -> None:
        if key in self.cache:
            return
        self.cache[key] = outcome
        self.state["cache"].append([key, outcome.violation, outcome.value])
        if len(self.state["cache"]) > CACHE_BASE + CACHE_PER_DIM * self.encoder.d:
            old = self.state["cache"].pop(0)
            self.cache.pop(old[0], None)

    def _restart(self) -> None:
        state = self.state
        if state["f"] is not None and not self.config.restarts:
            return
        state["restart"] += 1
        x = rng_for(state["seed"], RESTART, state["restart"]).random(self.encoder.d)
        state.update(x=cube_list(self.encoder.round(x[None])[0]), f=None, ell=0, last_move=None)

    def _build_wave(self) -> None:
        state, c = self.state, self.config
        x = np.asarray(state["x"])
        if state["f"] is None:
            self._add([x], "init")
            return
        d = self.encoder.d
        poll = self.poll_size()
        hint = hint_direction(self.encoder, c.hint, x)
        if hint is not None:
            self._add([self._snap(x, poll * 2.0**j * hint) for j in range(c.hint_steps)], "hint")
        if c.speculative and state["last_move"] is not None:
            self._add([x + np.asarray(state["last_move"])], "speculative")
        rng = rng_for(state["seed"], POLL, state["restart"], state["k"])
        directions = householder(rng, d, c.poll)
        directions /= np.max(np.abs(directions), axis=1, keepdims=True)
        reference = hint if hint is not None else state["last_move"]
        if reference is not None:
            ref = np.asarray(reference)
            cos = directions @ ref / (np.linalg.norm(directions, axis=1) * np.linalg.norm(ref))
            directions = directions[np.argsort(-cos, kind="stable")]
        size = np.maximum(poll, self.grid)
        moves = []
        for b in directions:
            y = self._snap(x, size * b)
            if np.array_equal(y, x):
                i = int(np.argmax(np.abs(b)))
                y = x.copy()
                y[i] += np.sign(b[i]) * self._mesh()[i]
            moves.append(y)
        self._add(moves, "poll")
        if c.covering:
            self._add([self._cover_point(state["k"], 0)], "cover")

    def _cover_point(self, k: int, index: int) -> np.ndarray:
        """Covering point `index` of iteration `k`; late extras spread over the whole cube."""
        x = np.asarray(self.state["x"])
        d = self.encoder.d
        rng = rng_for(self.state["seed"], COVER, self.state["restart"], k, index)
        if index > MAX_COVER_TRIES:
            return self.encoder.round(rng.random((1, d)))[0]
        g = rng.standard_normal(d)
        radius = self.config.covering_radius * rng.random() ** (1.0 / d)
        y = np.clip(x + radius * g / np.linalg.norm(g), 0.0, 1.0)
        return self.encoder.round(y[None])[0]

    def _add(self, candidates: list[np.ndarray], role: str) -> None:
        keys = {p["key"] for p in self.state["wave"]}
        incumbent = self.snapshot.space.point_key(self._decode(np.asarray(self.state["x"])))
        if role != "init":
            keys.add(incumbent)
        for y in candidates:
            inside = np.clip(y, 0.0, 1.0)
            if np.max(np.abs(y - inside)) > 1e-12:
                continue
            y = inside
            key = self.snapshot.space.point_key(self._decode(y))
            if key in keys:
                continue
            keys.add(key)
            self.state["wave"].append({"x": cube_list(y), "key": key, "out": False, "role": role})

    def _decode(self, y: np.ndarray) -> dict:
        return self.encoder.decode(y[None])[0]

    def _next_point(self) -> dict | None:
        """Hand out the next wave point (or an extra covering point) if it needs evaluating."""
        state = self.state
        due = [p for p in state["wave"] if self._status(p) == LOST]
        if due:
            p = due[0]
        else:
            y = self._cover_point(state["k"], 1 + state["extras"])
            state["extras"] += 1
            before = len(state["wave"])
            self._add([y], "cover")
            if len(state["wave"]) == before:
                return None
            p = state["wave"][-1]
        p["out"] = True
        if self._outcome(p["key"]) is not None or p["key"] in self.guard.taken:
            return None
        self.guard.taken.add(p["key"])
        self.history.open.add(p["key"])
        return self._decode(np.asarray(p["x"]))
