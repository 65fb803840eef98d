"""`cma-es`: CMA-ES from the `cmaes` package, with IPOP restarts, as an ask/tell strategy.

The search runs in the unit cube. Continuous spaces use `CMA` (or `SepCMA`
in high dimension); integers use `CMAwM` on the integer grid of the cube; any
categorical parameter switches to `CatCMAwM`.

The defaults are those of Optuna's `CmaEsSampler`: the mean starts at the
centre of the cube, the step size is a sixth of every range, the population is
4 + floor(3 ln d) (or the first batch, if larger). IPOP restarts only when the
optimizer's own `should_stop` fires (flat values, a vanishing or diverging
step, a degenerate covariance); until then the search is plain CMA-ES.

One generation is `population_size` members. Each ask samples new members of
the current generation (more than `population_size` if more evaluators ask);
the generation is told once `population_size` members have results, taking
the first ones in sampling order; failed members are replaced by further
samples, and members never evaluated (lost) are handed out again. A member's
random draws are seeded from (seed, restart, generation, member), so no RNG
state is stored.

The optimizer is stored without pickle: its attributes as JSON (arrays as
dtype, shape and data: a list, or base64 of the bytes from `RAW_ARRAY_SIZE`
elements), next to the `cmaes` version. With another version
the search continues from the stored mean and step size.
"""

from __future__ import annotations

import base64
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import cmaes
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
    Outcome,
    best_completed,
    check_single_objective,
    check_space,
    cube_list,
    fill_random,
    rng_for,
    scalarize,
    seed_for,
    space_signature,
)
from asktell.strategies.base import Proposal, Strategy, StrategyConfig
from asktell.strategies.registry import register_strategy

__all__ = ["CMAES", "CMAESConfig", "dump_optimizer", "load_optimizer"]

STATE_VERSION = 1
SEP_ABOVE = 100
RAW_ARRAY_SIZE = 256  # arrays this large are stored as base64 bytes, exact and compact
MAX_DIM = 100_000  # separable: about 1 MB of state per 10,000 dimensions
MAX_FULL_DIM = 2000  # a full covariance matrix past this is too large to keep as state
RESTART_STREAM = 1
MAX_TRIES = 20

_CLASSES: dict[str, type] = {
    "CMA": cmaes.CMA,
    "SepCMA": cmaes.SepCMA,
    "CMAwM": cmaes.CMAwM,
    "CatCMAwM": cmaes.CatCMAwM,
}


class CMAESConfig(StrategyConfig):
    """Options of `cma-es` (lengths in cube units)."""

    sigma0: float = Field(1 / 6, gt=0, le=1, description="initial step size: a sixth of each range")
    population_size: int | None = Field(
        None, ge=2, le=100_000, description="default 4 + 3 ln d; at least the first batch"
    )
    restarts: Literal["ipop", "none"] = "ipop"
    inc_popsize: float = Field(2.0, ge=1, le=10, description="IPOP population growth")
    variant: Literal["auto", "full", "sep"] = Field(
        "auto", description="covariance: full, diagonal (sep), or sep above d = 100"
    )
    lr_adapt: bool = Field(False, description="learning-rate adaptation (CMA only)")
    start: Literal["center", "best"] = Field(
        "center", description="first mean: the centre, or the best told trial"
    )


# --------------------------------------------------------------------------- JSON codec


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.size >= RAW_ARRAY_SIZE:
        data = np.ascontiguousarray(value).tobytes()
        return {
            "__nd__": value.dtype.str,
            "shape": list(value.shape),
            "b64": base64.b64encode(data).decode("ascii"),
        }
    if isinstance(value, np.ndarray):
        out = {
            "__nd__": value.dtype.str,
            "shape": list(value.shape),
            "data": value.ravel().tolist(),
        }
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            out["data"] = [_encode(v) for v in out["data"]]
            out["nonfinite"] = True
        return out
    if isinstance(value, np.generic):
        return {"__np__": value.dtype.str, "value": _encode(value.item())}
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return {"__seq__": type(value).__name__, "items": [_encode(v) for v in value]}
    if type(value).__name__ in _CLASSES:
        return dump_optimizer(value)
    raise TypeError(f"cannot store {type(value).__name__} in the strategy state")


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "__nd__" in value and "b64" in value:
        raw = np.frombuffer(base64.b64decode(value["b64"]), dtype=np.dtype(value["__nd__"]))
        return raw.reshape(value["shape"]).copy()
    if "__nd__" in value:
        data = value["data"]
        if value.get("nonfinite"):
            data = [_decode(v) for v in data]
        return np.array(data, dtype=np.dtype(value["__nd__"])).reshape(value["shape"])
    if "__np__" in value:
        return np.dtype(value["__np__"]).type(_decode(value["value"]))
    if "__float__" in value:
        return float(value["__float__"])
    if "__seq__" in value:
        items = [_decode(v) for v in value["items"]]
        return tuple(items) if value["__seq__"] == "tuple" else items
    if "__class__" in value:
        return load_optimizer(value)
    raise ValueError(f"unknown stored value {value!r}")


def _vector(x: Any) -> list[float] | dict[str, Any]:
    """A cube vector for the state: a list, or base64 bytes from `RAW_ARRAY_SIZE` elements."""
    x = np.asarray(x, dtype=float).ravel()
    return _encode(x) if x.size >= RAW_ARRAY_SIZE else cube_list(x)


def _as_vector(v: list[float] | dict[str, Any]) -> np.ndarray:
    """The inverse of `_vector` (lists written by older versions included)."""
    return _decode(v) if isinstance(v, dict) else np.asarray(v, dtype=float)


def dump_optimizer(opt: Any) -> dict[str, Any]:
    """A `cmaes` optimizer as JSON: its attributes, without the RNG.

    `CMA.__getstate__` keeps only the upper triangle of C, which is not always
    symmetric between updates, so the attributes are read directly.
    """
    attrs = dict(vars(opt))
    attrs.pop("_rng", None)
    return {
        "__class__": type(opt).__name__,
        "attrs": {name: _encode(v) for name, v in sorted(attrs.items())},
    }


def load_optimizer(data: dict[str, Any]) -> Any:
    """The inverse of `dump_optimizer`; the RNG is unseeded until `reseed_rng`."""
    cls = _CLASSES[data["__class__"]]
    opt = cls.__new__(cls)
    vars(opt).update({name: _decode(v) for name, v in data["attrs"].items()})
    if not isinstance(getattr(cls, "_rng", None), property):
        opt._rng = np.random.RandomState()
    return opt


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Layout:
    """Which cube dimensions the optimizer sees as continuous, integer or categorical."""

    variant: str
    d: int
    continuous: list[int]
    integer: list[int]
    categorical: list[int]
    cards: dict[int, int]

    @classmethod
    def of(cls, encoder: SpaceEncoder, config: CMAESConfig) -> _Layout:
        continuous, integer, categorical, cards = [], [], [], {}
        for i, dim in enumerate(encoder.dims):
            if dim.cardinality is None or dim.cardinality < 2:
                continuous.append(i)
            else:
                cards[i] = dim.cardinality
                (integer if dim.kind == "int" else categorical).append(i)
        d = encoder.d
        if categorical:
            variant = "CatCMAwM"
        elif integer:
            variant = "CMAwM"
        elif config.variant == "sep" or (config.variant == "auto" and d > SEP_ABOVE):
            variant = "SepCMA"
        else:
            variant = "CMA"
        return cls(variant, d, continuous, integer, categorical, cards)

    def grid(self, i: int) -> np.ndarray:
        n = self.cards[i]
        return (np.arange(n) + 0.5) / n

    def default_popsize(self) -> int:
        return 4 + math.floor(3 * math.log(self.d))

    def build(self, mean: np.ndarray, sigma: float, popsize: int, seed: int, config) -> Any:
        mean = np.clip(np.asarray(mean, dtype=float), 0.0, 1.0)
        for i in self.integer:
            n = self.cards[i]
            mean[i] = min(max(mean[i], 0.5 / n), 1 - 0.5 / n)
        bounds = np.tile([0.0, 1.0], (self.d, 1))
        if self.variant == "CMA":
            opt = cmaes.CMA(
                mean, sigma, bounds, seed=seed, population_size=popsize, lr_adapt=config.lr_adapt
            )
        elif self.variant == "SepCMA":
            opt = cmaes.SepCMA(mean, sigma, bounds, seed=seed, population_size=popsize)
        elif self.variant == "CMAwM":
            steps = np.zeros(self.d)
            for i in self.integer:
                n = self.cards[i]
                bounds[i] = [0.5 / n, 1 - 0.5 / n]
                steps[i] = 1.0 / n
            opt = cmaes.CMAwM(mean, sigma, bounds, steps, seed=seed, population_size=popsize)
        else:
            gaussian = self.continuous + self.integer
            opt = cmaes.CatCMAwM(
                x_space=[[0.0, 1.0]] * len(self.continuous) or None,
                z_space=[self.grid(i).tolist() for i in self.integer] or None,
                c_space=[self.cards[i] for i in self.categorical],
                population_size=popsize,
                mean=mean[gaussian] if gaussian else None,
                sigma=sigma if gaussian else None,
                seed=seed,
            )
        _clear_history(opt)
        return opt

    def ask(self, opt: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """One sample: its cube point and what `tell` needs back."""
        if self.variant in ("CMA", "SepCMA"):
            x = opt.ask()
            return x, {"v": _vector(x)}
        if self.variant == "CMAwM":
            x_eval, x_tell = opt.ask()
            return x_eval, {"v": _vector(x_tell)}
        sol = opt.ask()
        x = np.full(self.d, 0.5)
        if sol.x is not None:
            x[self.continuous] = sol.x
        if sol.z is not None:
            x[self.integer] = sol.z
        payload: dict[str, Any] = {"v": None if sol._v_raw is None else _vector(sol._v_raw)}
        if sol.c is not None:
            for row, i in enumerate(self.categorical):
                x[i] = (int(np.argmax(sol.c[row])) + 0.5) / self.cards[i]
            payload["c"] = np.asarray(sol.c).astype(float).tolist()
        return x, payload

    def solution(self, payload: dict[str, Any]) -> Any:
        if self.variant != "CatCMAwM":
            return _as_vector(payload["v"])
        v = payload.get("v")
        c = payload.get("c")
        return cmaes.CatCMAwM.Solution(
            c=None if c is None else np.asarray(c, dtype=float).astype(bool),
            _v_raw=None if v is None else _as_vector(v),
        )

    def mean(self, opt: Any) -> np.ndarray:
        """The distribution's mean in the cube (categoricals at their likeliest choice)."""
        x = np.full(self.d, 0.5)
        inner = opt._cma if self.variant == "CMAwM" else opt
        if self.variant != "CatCMAwM":
            return np.clip(np.asarray(inner._mean, dtype=float), 0, 1)
        gaussian = self.continuous + self.integer
        if gaussian:
            x[gaussian] = np.clip(opt._mean, 0, 1)
        for row, i in enumerate(self.categorical):
            x[i] = (int(np.argmax(opt._q[row, : self.cards[i]])) + 0.5) / self.cards[i]
        return x

    def sigma(self, opt: Any) -> float:
        inner = opt._cma if self.variant == "CMAwM" else opt
        return float(getattr(inner, "_sigma", 0.0) or 0.0)


def _clear_history(opt: Any) -> None:
    """`cmaes` leaves its function-value history uninitialised; zero it so states compare."""
    for target in (opt, getattr(opt, "_cma", None)):
        if target is not None and hasattr(target, "_funhist_values"):
            target._funhist_values[:] = 0.0


def _should_stop(opt: Any) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(opt.should_stop())


# --------------------------------------------------------------------------- strategy


@register_strategy("cma-es")
class CMAES(Strategy):
    description = "CMA-ES (cmaes package) with IPOP restarts; CMAwM/CatCMAwM for discrete spaces."
    inline = False
    Config = CMAESConfig
    config: CMAESConfig

    def check(self, snapshot: StudySnapshot) -> None:
        check_single_objective(snapshot, self.name)
        encoder = SpaceEncoder(snapshot.space)
        check_space(encoder, self.name)
        layout = _Layout.of(encoder, self.config)
        if layout.d > MAX_DIM:
            raise ValueError(
                f"{self.name} takes at most {MAX_DIM} encoded dimensions (its state is rewritten "
                f"every ask); this space has {layout.d} (use zo-sgd, zo-adam, spsa or random)"
            )
        if layout.variant != "SepCMA" and layout.d > MAX_FULL_DIM:
            raise ValueError(
                f"{self.name} would keep a full {layout.d} x {layout.d} covariance "
                f"({layout.variant}); it takes at most {MAX_FULL_DIM} dimensions unless every "
                "one is continuous and variant is 'auto' or 'sep'"
            )

    def suggest(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        self.check(snapshot)
        encoder = SpaceEncoder(snapshot.space)
        layout = _Layout.of(encoder, self.config)
        state = self._load(state, encoder, layout)
        if state is None:
            state = self._fresh(snapshot, encoder, layout, n)
        run = _Run(self.config, snapshot, encoder, layout, state, n)
        points = run.propose()
        state["optimizer"] = dump_optimizer(run.opt)
        state["mean"] = cube_list(layout.mean(run.opt))
        state["sigma"] = layout.sigma(run.opt)
        info = {
            "restart": state["restart"],
            "generation": state["generation"],
            "population_size": state["popsize"],
        }
        return Proposal(points, state=state, info=info)

    # ------------------------------------------------------------------ state

    def history_floor(self, state: dict[str, Any] | None, space: SearchSpace) -> int | None:
        encoder = SpaceEncoder(space)
        loaded = self._load(state, encoder, _Layout.of(encoder, self.config))
        return None if loaded is None else loaded["floor"]

    def _load(
        self, state: dict[str, Any] | None, encoder: SpaceEncoder, layout: _Layout
    ) -> dict[str, Any] | None:
        if (
            state is None
            or state.get("version") != STATE_VERSION
            or state.get("space") != space_signature(encoder)
            or state.get("variant") != layout.variant
        ):
            return None
        return {**state, "members": list(state["members"])}

    def _fresh(
        self, snapshot: StudySnapshot, encoder: SpaceEncoder, layout: _Layout, n: int
    ) -> dict[str, Any]:
        best = best_completed(snapshot, encoder) if self.config.start == "best" else None
        mean = best[0] if best is not None else np.full(encoder.d, 0.5)
        popsize = max(self.config.population_size or layout.default_popsize(), n)
        state = {
            "version": STATE_VERSION,
            "cmaes": cmaes.__version__,
            "space": space_signature(encoder),
            "variant": layout.variant,
            "seed": snapshot.seed,
            "restart": 0,
            "evaluations": 0,
        }
        start_restart(state, layout, self.config, mean, popsize, floor=-1)
        return state


def start_restart(
    state: dict[str, Any], layout: _Layout, config: CMAESConfig, mean, popsize: int, floor: int
) -> None:
    """Put a new optimizer for restart `state["restart"]` into `state`."""
    seed = seed_for(state["seed"], state["restart"])
    opt = layout.build(mean, config.sigma0, popsize, seed, config)
    state.update(
        popsize=popsize, generation=0, floor=floor, members=[], optimizer=dump_optimizer(opt)
    )


class _Run:
    """One `suggest` call: tell finished generations and sample `n` new members."""

    def __init__(self, config, snapshot, encoder, layout, state, n):
        self.config, self.snapshot, self.encoder, self.layout = config, snapshot, encoder, layout
        self.state, self.n = state, n
        self.history = History.of(snapshot, state["floor"])
        self.guard = KeyGuard(snapshot.space, self.history)
        self.opt = self._optimizer()

    def _optimizer(self) -> Any:
        state = self.state
        if state.get("cmaes") == cmaes.__version__:
            return load_optimizer(state["optimizer"])
        state["cmaes"] = cmaes.__version__
        sigma = state.get("sigma") or self.config.sigma0
        seed = seed_for(state["seed"], state["restart"], state["generation"])
        return self.layout.build(
            np.asarray(state["mean"]), sigma, state["popsize"], seed, self.config
        )

    def propose(self) -> list[dict]:
        points: list[dict] = []
        for _ in range(MAX_TRIES * (self.n + 10)):
            self._maybe_tell()
            if len(points) == self.n:
                return points
            try:
                point = self._reissue() or self._sample()
            except LookupError:
                break
            if point is not None:
                points.append(point)
        rest = fill_random(self.encoder, self.guard, self.state, self.n - len(points), "cma-es")
        return points + rest

    def _reissue(self) -> dict | None:
        """A lost member's point again, if there is one."""
        for member in self.state["members"]:
            if self.history.status(member["key"]) == LOST:
                self.history.open.add(member["key"])
                point = self._point(member["x"])
                if self.guard.claim(point) is not None:
                    return point
        return None

    def _point(self, x) -> dict:
        return self.encoder.decode(self.encoder.round(_as_vector(x)[None]))[0]

    def _maybe_tell(self) -> None:
        state, history = self.state, self.history
        popsize = state["popsize"]
        told, failed = [], []
        for member in state["members"]:
            status = history.status(member["key"])
            if status == TOLD:
                told.append(member)
            elif status == FAILED:
                failed.append(member)
        if len(told) >= popsize:
            chosen = told[:popsize]
            outcomes = [history.told[m["key"]] for m in chosen]
        elif len(failed) >= popsize:
            # As many failures as a population: rank the failures behind every result.
            results = [history.told[m["key"]] for m in told]
            worst = max(results) if results else Outcome(0.0, 0.0)
            penalty = Outcome(worst.violation + 1.0, worst.value)
            chosen = [m for m in state["members"] if history.status(m["key"]) in (TOLD, FAILED)]
            chosen = chosen[:popsize]
            outcomes = [history.told.get(m["key"], penalty) for m in chosen]
        else:
            return
        values = scalarize(outcomes)
        solutions = [
            (self.layout.solution(m), float(v)) for m, v in zip(chosen, values, strict=True)
        ]
        self.opt.tell(solutions)
        state["evaluations"] += len(told)
        state["generation"] += 1
        state["members"] = []
        state["floor"] = history.max_id
        self.history = History({}, set(), history.open, history.max_id)
        if self.config.restarts == "ipop" and _should_stop(self.opt):
            state["restart"] += 1
            mean = rng_for(state["seed"], RESTART_STREAM, state["restart"]).random(self.layout.d)
            popsize = max(math.ceil(popsize * self.config.inc_popsize), self.n)
            start_restart(state, self.layout, self.config, mean, popsize, history.max_id)
            self.opt = load_optimizer(state["optimizer"])

    def _sample(self) -> dict | None:
        """Sample the next member; return its point if it must be evaluated."""
        state = self.state
        index = len(state["members"])
        path = (state["seed"], state["restart"], state["generation"], index)
        for attempt in range(MAX_TRIES):
            self.opt.reseed_rng(seed_for(*path, attempt))
            x, payload = self.layout.ask(self.opt)
            point = self._point(x)
            key = self.snapshot.space.point_key(point)
            member = {"key": key, "x": _vector(x), **payload}
            if key in self.history.told:
                state["members"].append(member)
                return None
            if key not in self.guard.taken:
                self.guard.taken.add(key)
                self.history.open.add(key)
                state["members"].append(member)
                return point
        raise LookupError("no new sample")
