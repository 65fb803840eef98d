"""The benchmark problems: search space, objectives, constraints and a loss trace.

Every problem turns the values of the evaluations so far into a best-so-far
*loss* (lower is better) that ranks the methods:
- single objective with a known optimum: simple regret f_best - f_opt;
- constrained: regret of the best feasible value (inf while none is feasible);
- multi-objective: hypervolume gap, max HV - HV (fixed reference point);
- hyperparameter search: the best cross-validated log loss itself.
"""

from __future__ import annotations

import fnmatch
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from bench.quality import functions as fx

__all__ = [
    "FLOOR",
    "PROBLEMS",
    "QUICK_PROBLEMS",
    "Instance",
    "Metric",
    "Problem",
    "budget_for",
    "select_problems",
]

FLOOR = 1e-8
Values = dict[str, float]
Params = dict[str, Any]


def _log10(loss: float) -> float:
    return math.log10(max(loss, FLOOR)) if math.isfinite(loss) else math.inf


@dataclass(frozen=True)
class Metric:
    """How a loss is shown: in tables (`table`) and on the plots' y axis (`plot`)."""

    table_label: str
    plot_label: str
    table: Callable[[float], float]
    plot: Callable[[float], float]
    higher_is_better: bool = False


LOG_REGRET = Metric("log10 regret", "log10 regret", _log10, _log10)


def budget_for(dim: int) -> int:
    """Evaluations per run: 20 for d <= 2, 50 for d <= 6, 100 above."""
    return 20 if dim <= 2 else 50 if dim <= 6 else 100


class Instance(ABC):
    """A problem for one seed: evaluate points, score a history."""

    @abstractmethod
    def evaluate(self, params: Params) -> Values:
        """The metric values of one point."""

    @abstractmethod
    def trace(self, history: Sequence[Values]) -> np.ndarray:
        """Best-so-far loss after each evaluation."""


@dataclass(frozen=True)
class Problem(ABC):
    """A benchmark problem; `instance(seed)` gives the seed's (possibly varied) copy."""

    name: str
    group: str
    space: tuple[dict[str, Any], ...]
    objectives: tuple[dict[str, Any], ...] = ({"name": "f", "direction": "minimize"},)
    constraints: tuple[dict[str, Any], ...] = ()
    metric: Metric = LOG_REGRET
    note: str = ""

    @property
    def dim(self) -> int:
        return len(self.space)

    @property
    def budget(self) -> int:
        return budget_for(self.dim)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @abstractmethod
    def instance(self, seed: int) -> Instance:
        """The problem for `seed`."""


def _box(dim: int, low: float, high: float) -> tuple[dict[str, Any], ...]:
    return tuple({"name": f"x{i}", "type": "float", "low": low, "high": high} for i in range(dim))


def _vector(params: Params, dim: int) -> np.ndarray:
    return np.array([float(params[f"x{i}"]) for i in range(dim)])


# --------------------------------------------------------------------------- single objective


class _RegretInstance(Instance):
    def __init__(self, fn: Callable[[np.ndarray], float], f_opt: float, dim: int):
        self.fn, self.f_opt, self.dim = fn, f_opt, dim

    def evaluate(self, params: Params) -> Values:
        return {"f": float(self.fn(_vector(params, self.dim)))}

    def trace(self, history: Sequence[Values]) -> np.ndarray:
        f = np.array([v["f"] for v in history], dtype=float)
        return np.maximum(np.minimum.accumulate(f) - self.f_opt, 0.0)


@dataclass(frozen=True)
class BbobProblem(Problem):
    """A BBOB function; seed k runs on instance k + 1 (the same for every method)."""

    function: int = 1

    def instance(self, seed: int) -> Instance:
        from bench.quality.bbob import load_bbob

        fn = load_bbob(self.function, self.dim, seed + 1)
        return _RegretInstance(fn, fn.f_opt, self.dim)


@dataclass(frozen=True)
class SyntheticProblem(Problem):
    """A classic test function with a known minimum (the same for every seed)."""

    fn: Callable[[np.ndarray], float] = fx.ackley
    f_opt: float = 0.0

    def instance(self, seed: int) -> Instance:
        return _RegretInstance(self.fn, self.f_opt, self.dim)


def _branin_vec(x: np.ndarray) -> float:
    return fx.branin(x[0], x[1])


def bbob_problem(function: int, dim: int) -> BbobProblem:
    return BbobProblem(
        name=f"bbob-f{function}-d{dim}",
        group="bbob",
        space=_box(dim, -5.0, 5.0),
        function=function,
    )


# --------------------------------------------------------------------------- constrained


class _ConstrainedInstance(Instance):
    def __init__(self, problem: ConstrainedProblem):
        self.problem = problem

    def evaluate(self, params: Params) -> Values:
        cost, slacks = self.problem.fn(params)
        return {"f": float(cost), **{f"g{i + 1}": float(g) for i, g in enumerate(slacks)}}

    def trace(self, history: Sequence[Values]) -> np.ndarray:
        names = [c["name"] for c in self.problem.constraints]
        out = np.empty(len(history))
        best = math.inf
        for i, v in enumerate(history):
            if all(v[n] <= 0 for n in names):
                best = min(best, max(v["f"] - self.problem.best_known, 0.0))
            out[i] = best
        return out


@dataclass(frozen=True)
class ConstrainedProblem(Problem):
    """Minimize `f` subject to slacks `g_i <= 0`; loss = best feasible f - best known f."""

    fn: Callable[[Params], tuple[float, list[float]]] = lambda p: (0.0, [])
    best_known: float = 0.0

    def instance(self, seed: int) -> Instance:
        return _ConstrainedInstance(self)


def _pressure_vessel(p: Params) -> tuple[float, list[float]]:
    return fx.pressure_vessel(0.0625 * p["ts_k"], 0.0625 * p["th_k"], p["r"], p["length"])


def _welded_beam(p: Params) -> tuple[float, list[float]]:
    return fx.welded_beam(p["h"], p["l"], p["t"], p["b"])


def _feasible_metric(best_known: float) -> Metric:
    return Metric(
        "best feasible f",
        "log10 regret of best feasible f",
        lambda loss: loss + best_known,
        _log10,
    )


def _slack_constraints(n: int) -> tuple[dict[str, Any], ...]:
    return tuple({"name": f"g{i + 1}", "upper": 0.0} for i in range(n))


# --------------------------------------------------------------------------- multi-objective


class _BraninCurrinInstance(Instance):
    def evaluate(self, params: Params) -> Values:
        b, c = fx.branin_currin(float(params["x0"]), float(params["x1"]))
        return {"branin": b, "currin": c}

    def trace(self, history: Sequence[Values]) -> np.ndarray:
        Y = np.array([[v["branin"], v["currin"]] for v in history], dtype=float)
        hv = np.array([fx.hypervolume_2d(Y[: i + 1], fx.BRANIN_CURRIN_REF) for i in range(len(Y))])
        return np.maximum(fx.BRANIN_CURRIN_MAX_HV - hv, 0.0)


@dataclass(frozen=True)
class BraninCurrinProblem(Problem):
    """BraninCurrin (both minimized); loss = max hypervolume - hypervolume, ref (18, 6)."""

    def instance(self, seed: int) -> Instance:
        return _BraninCurrinInstance()


HV_METRIC = Metric(
    "hypervolume",
    "log10 hypervolume gap",
    lambda loss: fx.BRANIN_CURRIN_MAX_HV - loss,
    _log10,
    higher_is_better=True,
)


# --------------------------------------------------------------------------- hyperparameters


@lru_cache(maxsize=1)
def _cancer_data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return data.data, data.target


class _GradientBoostingInstance(Instance):
    def evaluate(self, params: Params) -> Values:
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        X, y = _cancer_data()
        features = params["max_features"]
        model = GradientBoostingClassifier(
            learning_rate=float(params["learning_rate"]),
            n_estimators=int(params["n_estimators"]),
            max_depth=int(params["max_depth"]),
            subsample=float(params["subsample"]),
            min_samples_leaf=int(params["min_samples_leaf"]),
            max_features=None if features == "all" else features,
            random_state=0,
        )
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
        scores = cross_val_score(model, X, y, cv=folds, scoring="neg_log_loss")
        return {"log_loss": float(-np.mean(scores))}

    def trace(self, history: Sequence[Values]) -> np.ndarray:
        return np.minimum.accumulate(np.array([v["log_loss"] for v in history], dtype=float))


@dataclass(frozen=True)
class GradientBoostingProblem(Problem):
    """Gradient boosting on breast cancer (569 x 30), 3-fold CV log loss (deterministic)."""

    def instance(self, seed: int) -> Instance:
        return _GradientBoostingInstance()


RAW_LOG_LOSS = Metric("CV log loss", "best CV log loss", float, float)


# --------------------------------------------------------------------------- registry


def _all_problems() -> list[Problem]:
    problems: list[Problem] = [
        bbob_problem(f, d) for d in (2, 5, 10) for f in (1, 3, 7, 10, 15, 20, 22)
    ]
    problems += [
        SyntheticProblem(
            name="branin",
            group="synthetic",
            space=(
                {"name": "x0", "type": "float", "low": -5.0, "high": 10.0},
                {"name": "x1", "type": "float", "low": 0.0, "high": 15.0},
            ),
            fn=_branin_vec,
            f_opt=fx.BRANIN_MIN,
        ),
        SyntheticProblem(
            name="hartmann6",
            group="synthetic",
            space=_box(6, 0.0, 1.0),
            fn=fx.hartmann6,
            f_opt=fx.HARTMANN6_MIN,
        ),
        SyntheticProblem(
            name="ackley5",
            group="synthetic",
            space=_box(5, -10.0, 30.0),
            fn=fx.ackley,
            f_opt=0.0,
            note="box [-10, 30]^5, so the optimum is not the centre",
        ),
        SyntheticProblem(
            name="levy10", group="synthetic", space=_box(10, -10.0, 10.0), fn=fx.levy, f_opt=0.0
        ),
        ConstrainedProblem(
            name="pressure-vessel",
            group="constrained",
            space=(
                {"name": "ts_k", "type": "int", "low": 1, "high": 99},
                {"name": "th_k", "type": "int", "low": 1, "high": 99},
                {"name": "r", "type": "float", "low": 10.0, "high": 200.0},
                {"name": "length", "type": "float", "low": 10.0, "high": 200.0},
            ),
            constraints=_slack_constraints(3),
            fn=_pressure_vessel,
            best_known=fx.PRESSURE_VESSEL_BEST,
            metric=_feasible_metric(fx.PRESSURE_VESSEL_BEST),
            note="thicknesses are integer multiples of 0.0625",
        ),
        ConstrainedProblem(
            name="welded-beam",
            group="constrained",
            space=(
                {"name": "h", "type": "float", "low": 0.125, "high": 2.0},
                {"name": "l", "type": "float", "low": 0.1, "high": 10.0},
                {"name": "t", "type": "float", "low": 0.1, "high": 10.0},
                {"name": "b", "type": "float", "low": 0.1, "high": 2.0},
            ),
            constraints=_slack_constraints(6),
            fn=_welded_beam,
            best_known=fx.WELDED_BEAM_BEST,
            metric=_feasible_metric(fx.WELDED_BEAM_BEST),
        ),
        BraninCurrinProblem(
            name="branin-currin",
            group="multi-objective",
            space=_box(2, 0.0, 1.0),
            objectives=(
                {"name": "branin", "direction": "minimize", "threshold": fx.BRANIN_CURRIN_REF[0]},
                {"name": "currin", "direction": "minimize", "threshold": fx.BRANIN_CURRIN_REF[1]},
            ),
            metric=HV_METRIC,
        ),
        GradientBoostingProblem(
            name="hpo-gb-cancer",
            group="hpo",
            space=(
                {"name": "learning_rate", "type": "float", "low": 0.01, "high": 1.0, "log": True},
                {"name": "n_estimators", "type": "int", "low": 10, "high": 60},
                {"name": "max_depth", "type": "int", "low": 1, "high": 6},
                {"name": "subsample", "type": "float", "low": 0.5, "high": 1.0},
                {"name": "min_samples_leaf", "type": "int", "low": 1, "high": 32, "log": True},
                {"name": "max_features", "type": "categorical", "choices": ["sqrt", "log2", "all"]},
            ),
            objectives=({"name": "log_loss", "direction": "minimize"},),
            metric=RAW_LOG_LOSS,
        ),
    ]
    return problems


PROBLEMS: dict[str, Problem] = {p.name: p for p in _all_problems()}
QUICK_PROBLEMS: tuple[str, ...] = ("bbob-f15-d2", "bbob-f22-d2", "branin", "branin-currin")


def select_problems(patterns: Sequence[str]) -> list[Problem]:
    """Problems whose name or group matches any of the shell-style `patterns`."""
    chosen = [
        p
        for p in PROBLEMS.values()
        if any(fnmatch.fnmatch(p.name, pat) or p.group == pat for pat in patterns)
    ]
    unknown = [
        pat
        for pat in patterns
        if not any(fnmatch.fnmatch(p.name, pat) or p.group == pat for p in PROBLEMS.values())
    ]
    if unknown:
        raise ValueError(f"no problem matches {unknown}; known: {', '.join(PROBLEMS)}")
    return chosen
