"""Ask/tell adapters: asktell in-process or over HTTP, Optuna samplers and Ax.

Every adapter proposes one point at a time (q=1) and is told its metric values.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from bench.quality.problems import Params, Problem, Values

__all__ = [
    "BASELINES",
    "Method",
    "Optimizer",
    "asktell_method",
    "available_baselines",
    "parse_strategy",
    "registered_strategies",
]

CMAES_PENALTY = 1e6


class Optimizer(Protocol):
    """One optimization run, asked for one point at a time."""

    def ask(self) -> Params: ...

    def tell(self, values: Values) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Method:
    """A named optimizer factory: `make(problem, seed, budget, base_url)`."""

    name: str
    family: str
    make: Callable[[Problem, int, int, str | None], Optimizer]
    supports: Callable[[Problem], bool] = lambda problem: True
    model_based: bool = False


def slacks(problem: Problem, values: Values) -> list[float]:
    """Constraint slacks of `values`, <= 0 when satisfied."""
    out = []
    for c in problem.constraints:
        v = values[c["name"]]
        if c.get("upper") is not None:
            out.append(v - c["upper"])
        if c.get("lower") is not None:
            out.append(c["lower"] - v)
    return out


# --------------------------------------------------------------------------- asktell


class AsktellInProcess:
    """Calls `Strategy.suggest` directly on a snapshot built here, as the server would.

    The strategy state goes through a JSON round trip between asks, like the
    database column it lives in on the server.
    """

    def __init__(
        self,
        strategy: str,
        problem: Problem,
        seed: int,
        budget: int,
        options: dict[str, Any] | None = None,
    ):
        from pydantic import TypeAdapter

        from asktell.core.snapshots import StudySnapshot
        from asktell.core.space import SearchSpace
        from asktell.strategies.registry import get_strategy
        from asktell_client.types import ConstraintSpec, ObjectiveSpec, Param, StudySettings

        params = TypeAdapter(list[Param]).validate_python(list(problem.space))
        self.space = SearchSpace(params)
        self.snapshot = StudySnapshot(
            study_id=1,
            space=self.space,
            objectives=[ObjectiveSpec(**o) for o in problem.objectives],
            constraints=[ConstraintSpec(**c) for c in problem.constraints],
            settings=StudySettings(seed=seed, budget=budget),
        )
        self.strategy = get_strategy(strategy)(options or {})
        self.name = strategy
        self.state: dict[str, Any] | None = None
        self.completed: list[Any] = []
        self.rng = np.random.default_rng([seed, 7])
        self.point: Params = {}
        self.source = strategy

    def ask(self) -> Params:
        snap = replace(
            self.snapshot, completed=list(self.completed), nonce=int(self.rng.integers(2**62))
        )
        proposal = self.strategy.suggest(snap, 1, self.state)
        if proposal.state is not None:
            self.state = json.loads(json.dumps(proposal.state))
        self.point = self.space.validate_params(proposal.points[0])
        self.source = proposal.strategies[0] if proposal.strategies else self.name
        return dict(self.point)

    def tell(self, values: Values) -> None:
        from asktell.core.snapshots import TrialRecord
        from asktell.core.states import TrialState

        self.completed.append(
            TrialRecord(
                id=len(self.completed) + 1,
                state=TrialState.completed,
                params=self.point,
                values=dict(values),
                strategy=self.source,
            )
        )

    def close(self) -> None:
        pass


class AsktellHttp:
    """Runs a study on a live asktell server through the client SDK."""

    def __init__(
        self,
        strategy: str,
        problem: Problem,
        seed: int,
        budget: int,
        base_url: str,
        options: dict[str, Any] | None = None,
    ):
        from asktell_client import Client

        self.client = Client(base_url=base_url, timeout=300.0)
        self.study = self.client.studies.create(
            f"quality-{problem.name}-{strategy}-{seed}-{uuid.uuid4().hex[:8]}",
            space=list(problem.space),
            objectives=list(problem.objectives),
            constraints=list(problem.constraints),
            strategy={"name": strategy, "options": options or {}},
            settings={"seed": seed, "budget": budget, "ask_timeout": 60.0},
        )
        self.trial: Any = None

    def ask(self) -> Params:
        self.trial = self.study.ask(1, timeout=600.0)[0]
        return dict(self.trial.params)

    def tell(self, values: Values) -> None:
        self.trial.tell(dict(values))

    def close(self) -> None:
        self.client.close()


def registered_strategies() -> list[str]:
    """Names of the strategies this asktell build registers."""
    from asktell.strategies.registry import available_strategies

    return list(available_strategies())


def parse_strategy(spec: str) -> tuple[str, dict[str, Any]]:
    """`name` or `name{...}` (a JSON object of options, e.g. `auto{"init_trials": 5}`)."""
    name, brace, rest = spec.partition("{")
    if not brace:
        return spec, {}
    try:
        options = json.loads(brace + rest)
    except json.JSONDecodeError as exc:
        raise ValueError(f"options of {spec!r} are not a JSON object: {exc}") from None
    if not isinstance(options, dict):
        raise ValueError(f"options of {spec!r} are not a JSON object")
    return name, options


def asktell_method(spec: str) -> Method:
    """The method `asktell:<spec>` (see `parse_strategy`), in-process or (given a base
    URL) over HTTP."""
    strategy, options = parse_strategy(spec)

    def make(problem: Problem, seed: int, budget: int, base_url: str | None) -> Optimizer:
        if base_url:
            return AsktellHttp(strategy, problem, seed, budget, base_url, options)
        return AsktellInProcess(strategy, problem, seed, budget, options)

    return Method(
        f"asktell:{spec}",
        "asktell",
        make,
        model_based=strategy not in {"random", "sobol"},
    )


# --------------------------------------------------------------------------- Optuna


def _optuna_distribution(p: dict[str, Any]) -> Any:
    import optuna.distributions as d

    if p["type"] == "float":
        return d.FloatDistribution(p["low"], p["high"], log=p.get("log", False))
    if p["type"] == "int":
        step, log = p.get("step", 1), p.get("log", False)
        return d.IntDistribution(p["low"], p["high"], step=step, log=log)
    if p["type"] == "categorical":
        return d.CategoricalDistribution(p["choices"])
    raise ValueError(f"unsupported parameter type {p['type']!r}")


class OptunaOptimizer:
    """An Optuna study driven with `ask`/`tell`.

    Constraints go through `constraints_func` where the sampler takes one;
    CMA-ES, which has none, is told a penalized objective.
    """

    def __init__(self, kind: str, problem: Problem, seed: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.problem = problem
        self.distributions = {p["name"]: _optuna_distribution(p) for p in problem.space}
        self.penalize = bool(problem.constraints) and kind == "cmaes"
        constraints_func = None
        if problem.constraints and kind in {"tpe", "tpe-indep", "gp"}:

            def constraints_func(trial: Any) -> list[float]:
                return trial.user_attrs["constraints"]

        samplers: dict[str, Callable[[], Any]] = {
            "random": lambda: optuna.samplers.RandomSampler(seed=seed),
            "tpe": lambda: optuna.samplers.TPESampler(seed=seed, constraints_func=constraints_func),
            "tpe-indep": lambda: optuna.samplers.TPESampler(
                seed=seed, multivariate=False, constraints_func=constraints_func
            ),
            "gp": lambda: optuna.samplers.GPSampler(
                seed=seed, deterministic_objective=True, constraints_func=constraints_func
            ),
            "cmaes": lambda: optuna.samplers.CmaEsSampler(
                seed=seed, warn_independent_sampling=False
            ),
        }
        self.study = optuna.create_study(
            directions=[o.get("direction", "minimize") for o in problem.objectives],
            sampler=samplers[kind](),
        )
        self.trial: Any = None

    def ask(self) -> Params:
        self.trial = self.study.ask(self.distributions)
        return dict(self.trial.params)

    def tell(self, values: Values) -> None:
        objectives = [values[o["name"]] for o in self.problem.objectives]
        if self.problem.constraints:
            g = slacks(self.problem, values)
            self.trial.set_user_attr("constraints", g)
            if self.penalize:
                objectives[0] += CMAES_PENALTY * sum(max(0.0, v) for v in g)
        self.study.tell(self.trial, objectives if len(objectives) > 1 else objectives[0])

    def close(self) -> None:
        pass


def optuna_method(kind: str) -> Method:
    def make(problem: Problem, seed: int, budget: int, base_url: str | None) -> Optimizer:
        return OptunaOptimizer(kind, problem, seed)

    supports = (lambda p: not p.multi_objective) if kind == "cmaes" else (lambda p: True)
    return Method(f"optuna-{kind}", "baseline", make, supports, model_based=kind == "gp")


# --------------------------------------------------------------------------- Ax


def _ax_parameter(p: dict[str, Any]) -> Any:
    from ax import ChoiceParameterConfig, RangeParameterConfig

    scaling = "log" if p.get("log") else "linear"
    if p["type"] == "float":
        return RangeParameterConfig(p["name"], (p["low"], p["high"]), "float", scaling=scaling)
    if p["type"] == "int":
        step = p.get("step", 1)
        return RangeParameterConfig(
            p["name"],
            (p["low"], p["high"]),
            "int",
            step_size=None if step == 1 else step,
            scaling=scaling,
        )
    kind = {str: "str", bool: "bool", int: "int", float: "float"}[type(p["choices"][0])]
    return ChoiceParameterConfig(p["name"], list(p["choices"]), kind, is_ordered=False)


class AxOptimizer:
    """Ax's `Client` with its default generation strategy (centre + Sobol, then BoTorch)."""

    def __init__(self, problem: Problem, seed: int):
        from ax import Client
        from ax.utils.common.logger import set_stderr_log_level

        set_stderr_log_level(logging.WARNING)
        self.client = Client(random_seed=seed)
        self.client.configure_experiment(
            parameters=[_ax_parameter(p) for p in problem.space], name=problem.name
        )
        sign = {"minimize": "-", "maximize": ""}
        objective = ", ".join(
            f"{sign[o.get('direction', 'minimize')]}{o['name']}" for o in problem.objectives
        )
        bounds = [f"{c['name']} <= {c['upper']}" for c in problem.constraints if "upper" in c]
        bounds += [f"{c['name']} >= {c['lower']}" for c in problem.constraints if "lower" in c]
        for o in problem.objectives:
            if len(problem.objectives) > 1 and o.get("threshold") is not None:
                op = "<=" if o.get("direction", "minimize") == "minimize" else ">="
                bounds.append(f"{o['name']} {op} {o['threshold']}")
        self.client.configure_optimization(objective=objective, outcome_constraints=bounds or None)
        self.index = -1

    def ask(self) -> Params:
        trials = self.client.get_next_trials(max_trials=1)
        self.index, params = next(iter(trials.items()))
        return dict(params)

    def tell(self, values: Values) -> None:
        self.client.complete_trial(self.index, raw_data={k: float(v) for k, v in values.items()})

    def close(self) -> None:
        pass


def _ax_make(problem: Problem, seed: int, budget: int, base_url: str | None) -> Optimizer:
    return AxOptimizer(problem, seed)


BASELINES: dict[str, Method] = {
    m.name: m
    for m in [
        optuna_method("random"),
        optuna_method("tpe"),
        optuna_method("tpe-indep"),
        optuna_method("gp"),
        optuna_method("cmaes"),
        Method("ax", "baseline", _ax_make, model_based=True),
    ]
}


def available_baselines() -> dict[str, str | None]:
    """Baseline name -> None when usable, else why not (a missing package)."""
    out: dict[str, str | None] = {}
    for name in BASELINES:
        package, module = ("ax-platform", "ax") if name == "ax" else ("optuna", "optuna")
        found = importlib.util.find_spec(module) is not None
        out[name] = None if found else f"package {package} is not installed"
    return out
