"""Our `cma-es` strategy against Optuna's CmaEsSampler and random search on BBOB functions.

Functions come from COCO's `cocoex` (pip package `coco-experiment`), instance 1,
in [-5, 5]^d: f1 sphere, f2 separable ellipsoid, f8 Rosenbrock, f10 rotated
ellipsoid, f15 rotated Rastrigin, f20 Schwefel. Without `cocoex` the script
falls back to plain shifted versions of f1, f8, f10 and f15. Each method gets
`budget` = budget_per_dim * d evaluations. The table shows, per function and
dimension, the median over seeds of the best f - f_opt, and for `cma-es` the
restarts that fired (all seeds together) and its win/tie/loss against the other
methods: a win or a loss when a two-sided Mann-Whitney test over the seeds gives
p < 0.05 (so at least 4 seeds are needed for anything but ties), a tie otherwise.

Methods:
- `asktell cma-es`: the strategy driven in-process as the service drives it
  (a snapshot and the JSON state per ask; each ask is one population);
- `asktell cma-es (no restart)`: the same with `restarts: none`;
- `optuna CmaEsSampler`: Optuna's sampler with its defaults, ask/tell on an
  in-memory study, one trial at a time;
- `random`: uniform points.

    python bench/zo_bbob.py --quick                    # d = 20, 40; 50 d evaluations; 2 seeds
    nice -n 10 python bench/zo_bbob.py --workers 2     # d = 20, 40; 200 d evaluations; 5 seeds
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

# One BLAS thread per run (set before numpy loads): the runs are the parallelism, and a
# threaded eigendecomposition of a 40 x 40 covariance is slower on a busy machine.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

FUNCTIONS = {
    1: "sphere",
    2: "ellipsoid",
    8: "rosenbrock",
    10: "rotated ellipsoid",
    15: "rastrigin",
    20: "schwefel",
}
FALLBACK = (1, 8, 10, 15)
OURS = "asktell cma-es"
METHODS = [OURS, "asktell cma-es (no restart)", "optuna CmaEsSampler", "random"]
DEFAULT_METHODS = [OURS, "optuna CmaEsSampler", "random"]
LOW, HIGH = -5.0, 5.0
P_VALUE = 0.05

Objective = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class Job:
    method: str
    function: int
    d: int
    budget: int
    seed: int


@dataclass(frozen=True)
class Result:
    job: Job
    error: float
    seconds: float
    restarts: int
    source: str


def bbob(function: int, d: int) -> tuple[Objective, float, str]:
    """The objective, its optimal value and where it comes from."""
    try:
        import cocoex
    except ImportError:
        return (*_fallback(function, d), "own")
    problem = cocoex.BareProblem("bbob", function, d, 1)
    return (lambda x: float(problem(x))), float(problem.best_value()), "cocoex"


def _fallback(function: int, d: int) -> tuple[Objective, float]:
    if function not in FALLBACK:
        raise SystemExit(f"f{function} needs cocoex; without it only {FALLBACK} run")
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


def run_asktell(f: Objective, job: Job, options: dict) -> tuple[float, int]:
    """Best value and the number of restarts that fired."""
    from asktell.strategies._population import LocalStudy, run_study
    from asktell.strategies.cmaes import CMAES
    from asktell_client.types import FloatParam

    names = [f"x{i}" for i in range(job.d)]
    params = [FloatParam(name=n, low=LOW, high=HIGH) for n in names]
    study = LocalStudy.over(params, seed=job.seed)
    batch = 4 + int(3 * np.log(job.d))
    objective = lambda p: f(np.array([p[n] for n in names]))  # noqa: E731
    state = run_study(CMAES(options), study, objective, job.budget, batch)
    return min(study.values()), int(state["restart"]) if state else 0


def run_optuna(f: Objective, job: Job) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {f"x{i}": optuna.distributions.FloatDistribution(LOW, HIGH) for i in range(job.d)}
    study = optuna.create_study(sampler=optuna.samplers.CmaEsSampler(seed=job.seed))
    for _ in range(job.budget):
        trial = study.ask(dists)
        study.tell(trial, f(np.array([trial.params[f"x{i}"] for i in range(job.d)])))
    return float(study.best_value)


def run_random(f: Objective, job: Job) -> float:
    X = np.random.default_rng(job.seed).uniform(LOW, HIGH, (job.budget, job.d))
    return min(f(x) for x in X)


def run(job: Job) -> Result:
    warnings.filterwarnings("ignore")
    f, fopt, source = bbob(job.function, job.d)
    started = time.perf_counter()
    restarts = 0
    if job.method == OURS:
        best, restarts = run_asktell(f, job, {})
    elif job.method == "asktell cma-es (no restart)":
        best, restarts = run_asktell(f, job, {"restarts": "none"})
    elif job.method == "optuna CmaEsSampler":
        best = run_optuna(f, job)
    else:
        best = run_random(f, job)
    return Result(job, best - fopt, time.perf_counter() - started, restarts, source)


def verdict(ours: list[float], other: list[float]) -> str:
    """'win', 'loss' or 'tie' for `ours` against `other` (lower is better)."""
    from scipy.stats import mannwhitneyu

    if len(ours) < 2 or len(other) < 2 or np.array_equal(np.sort(ours), np.sort(other)):
        return "tie"
    if mannwhitneyu(ours, other, alternative="two-sided").pvalue >= P_VALUE:
        return "tie"
    return "win" if statistics.median(ours) < statistics.median(other) else "loss"


def print_table(results: list[Result], methods: list[str], seeds: int) -> None:
    by_cell: dict[tuple[int, int, str], list[Result]] = {}
    for r in results:
        by_cell.setdefault((r.job.d, r.job.function, r.job.method), []).append(r)
    others = [m for m in methods if m != OURS] if OURS in methods else []
    header = ["function", "d", "budget", *methods]
    if OURS in methods:
        header += ["restarts", *(f"vs {m}" for m in others)]
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    tally = {m: {"win": 0, "tie": 0, "loss": 0} for m in others}
    for d, function in sorted({(r.job.d, r.job.function) for r in results}):
        cells = by_cell[(d, function, methods[0])]
        row = [f"f{function} {FUNCTIONS[function]}", str(d), str(cells[0].job.budget)]
        errors = {m: [r.error for r in by_cell[(d, function, m)]] for m in methods}
        for m in methods:
            seconds = statistics.median(r.seconds for r in by_cell[(d, function, m)])
            row.append(f"{statistics.median(errors[m]):.3g} ({seconds:.0f}s)")
        if OURS in methods:
            row.append(str(sum(r.restarts for r in by_cell[(d, function, OURS)])))
            for m in others:
                v = verdict(errors[OURS], errors[m])
                tally[m][v] += 1
                row.append(v)
        print(" | ".join(row), flush=True)
    source = results[0].source if results else ""
    print(
        f"\nmedian best f - f_opt over {seeds} seeds (median seconds per run); "
        f"functions from {source}, instance 1"
    )
    for m, counts in tally.items():
        print(f"{OURS} vs {m}: {counts['win']} win / {counts['tie']} tie / {counts['loss']} loss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 d evaluations, 2 seeds")
    parser.add_argument("--dims", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--functions", type=int, nargs="+", default=list(FUNCTIONS))
    parser.add_argument("--budget-per-dim", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=METHODS)
    parser.add_argument("--workers", type=int, default=1, help="processes running the runs")
    args = parser.parse_args()
    unknown = set(args.functions) - set(FUNCTIONS)
    if unknown:
        parser.error(f"unknown functions {sorted(unknown)}; choose from {sorted(FUNCTIONS)}")
    per_dim = args.budget_per_dim or (50 if args.quick else 200)
    seeds = args.seeds or (2 if args.quick else 5)
    jobs = [
        Job(method, function, d, per_dim * d, seed)
        for d in args.dims
        for function in args.functions
        for method in args.methods
        for seed in range(seeds)
    ]
    # Longest runs first, so the last worker does not finish alone.
    jobs.sort(key=lambda j: (j.method != "optuna CmaEsSampler", -j.budget))
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            results = list(pool.map(run, jobs))
    else:
        results = [run(job) for job in jobs]
    print_table(results, args.methods, seeds)


if __name__ == "__main__":
    main()
