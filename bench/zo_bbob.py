"""Our `cma-es` strategy against Optuna's CmaEsSampler and random search on BBOB functions.

Functions come from COCO's `cocoex` (pip package `coco-experiment`), instance 1:
f1 sphere, f10 rotated ellipsoid, f8 Rosenbrock, f15 rotated Rastrigin, in
[-5, 5]^d. Without `cocoex` the script falls back to plain shifted versions of
the same four functions. Each method gets `budget` = budget_per_dim * d
evaluations; the table shows the median over seeds of the best f - f_opt, and
the median wall-clock seconds per run.

Methods:
- `asktell cma-es`: the strategy driven in-process as the service drives it
  (a snapshot and the JSON state per ask; each ask is one population);
- `asktell cma-es (no restart)`: the same with `restarts: none`;
- `optuna CmaEsSampler`: Optuna's sampler with its defaults, ask/tell;
- `random`: uniform points.

    python bench/zo_bbob.py --quick        # d = 20, 40; 50 d evaluations; 2 seeds
    python bench/zo_bbob.py                # d = 20, 40; 200 d evaluations; 3 seeds
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np

from asktell.strategies._population import LocalStudy, run_study
from asktell.strategies.cmaes import CMAES
from asktell_client.types import FloatParam

FUNCTIONS = {1: "sphere", 10: "ellipsoid", 8: "rosenbrock", 15: "rastrigin"}
METHODS = ["asktell cma-es", "asktell cma-es (no restart)", "optuna CmaEsSampler", "random"]
LOW, HIGH = -5.0, 5.0

Objective = Callable[[np.ndarray], float]


def bbob(function: int, d: int) -> tuple[Objective, float, str]:
    """The objective, its optimal value and where it comes from."""
    try:
        import cocoex
    except ImportError:
        return (*_fallback(function, d), "own")
    problem = cocoex.BareProblem("bbob", function, d, 1)
    return (lambda x: float(problem(x))), float(problem.best_value()), "cocoex"


def _fallback(function: int, d: int) -> tuple[Objective, float]:
    shift = np.random.default_rng(function * 1000 + d).uniform(-4, 4, d)
    weights = 1e6 ** (np.arange(d) / max(d - 1, 1))

    def f(x: np.ndarray) -> float:
        z = np.asarray(x) - shift
        if function == 1:
            return float(z @ z)
        if function == 10:
            return float(weights @ (z * z))
        if function == 8:
            y = z + 1.0
            return float(np.sum(100 * (y[:-1] ** 2 - y[1:]) ** 2 + (y[:-1] - 1) ** 2))
        return float(10 * (d - np.sum(np.cos(2 * np.pi * z))) + z @ z)

    return f, 0.0


def run_asktell(f: Objective, d: int, budget: int, seed: int, options: dict) -> float:
    names = [f"x{i}" for i in range(d)]
    study = LocalStudy.over([FloatParam(name=n, low=LOW, high=HIGH) for n in names], seed=seed)
    batch = 4 + int(3 * np.log(d))
    run_study(CMAES(options), study, lambda p: f(np.array([p[n] for n in names])), budget, batch)
    return min(study.values())


def run_optuna(f: Objective, d: int, budget: int, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {f"x{i}": optuna.distributions.FloatDistribution(LOW, HIGH) for i in range(d)}
    study = optuna.create_study(sampler=optuna.samplers.CmaEsSampler(seed=seed))
    for _ in range(budget):
        trial = study.ask(dists)
        study.tell(trial, f(np.array([trial.params[f"x{i}"] for i in range(d)])))
    return float(study.best_value)


def run_random(f: Objective, d: int, budget: int, seed: int) -> float:
    X = np.random.default_rng(seed).uniform(LOW, HIGH, (budget, d))
    return min(f(x) for x in X)


def run(method: str, f: Objective, d: int, budget: int, seed: int) -> float:
    if method == "asktell cma-es":
        return run_asktell(f, d, budget, seed, {})
    if method == "asktell cma-es (no restart)":
        return run_asktell(f, d, budget, seed, {"restarts": "none"})
    if method == "optuna CmaEsSampler":
        return run_optuna(f, d, budget, seed)
    return run_random(f, d, budget, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 d evaluations, 2 seeds")
    parser.add_argument("--dims", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--functions", type=int, nargs="+", default=list(FUNCTIONS))
    parser.add_argument("--budget-per-dim", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    args = parser.parse_args()
    per_dim = args.budget_per_dim or (50 if args.quick else 200)
    seeds = args.seeds or (2 if args.quick else 3)
    warnings.filterwarnings("ignore")

    header = ["function", "d", "budget", *args.methods]
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    source = ""
    for d in args.dims:
        for function in args.functions:
            f, fopt, source = bbob(function, d)
            budget = per_dim * d
            cells = []
            for method in args.methods:
                errors, seconds = [], []
                for seed in range(seeds):
                    started = time.perf_counter()
                    errors.append(run(method, f, d, budget, seed) - fopt)
                    seconds.append(time.perf_counter() - started)
                cells.append(f"{statistics.median(errors):.3g} ({statistics.median(seconds):.0f}s)")
            name = f"f{function} {FUNCTIONS[function]}"
            print(" | ".join([name, str(d), str(budget), *cells]), flush=True)
    print(
        f"\nmedian best f - f_opt over {seeds} seeds (median seconds per run); "
        f"functions from {source}, instance 1"
    )


if __name__ == "__main__":
    main()
