"""Neural-network surrogates against `gp` and random search, plus suggestion times.

Problems where a stationary GP tends to struggle (all minimized, regret reported):
- `nonstationary-4d`: separable, sum_i x_i^2 + 0.5 sin(10 pi x_i^3) on [0, 1]^4, whose
  wiggles get faster as x_i grows;
- `branin-in-30d`: Branin on 2 of 30 dimensions, the rest ignored;
- `ellipsoid-50d`: BBOB-style separable ellipsoid (conditioning 1e6) with a seeded optimum;
- `poly-40d`: the polynomial test function of Li et al.'s code (`PolyDraw`, maximized
  there, in 200 dimensions): the sum over j < d/4 of the products of four shifted inputs,
  prod_k (x_{j + k d/4} - c_{j + k d/4}) with seeded c ~ N(0, 1); here its negation.
  Not stationary (its slopes grow away from the centres c); its optimum is a corner.

Each run starts with `--init` Sobol points, then asks batches of `--batch` points
(pending-aware) until `--budget` evaluations. The model fits and the acquisition
run to their iteration caps, not to a wall-clock limit, so a seed reproduces its run on
the same machine whatever the load (`--time-limits` restores the earlier runs' limits,
under which results depended on load). The timing part fits every strategy
on `n` random points of a 10-d problem and times one q=1 suggestion.

Usage: `python bench/bnn_suite.py --quick --out /tmp/bnn.json` (3 seeds, 30 evaluations),
`python bench/bnn_suite.py --seeds 3 --budget 100 --batch 10` (the budget for the
30- and 50-d problems: 10 Sobol points, then 9 asks of 10), `--problems` to run a
subset, `python bench/bnn_suite.py --timing-only`; `--report FILE ...` prints the
tables of saved runs (`--at N`: after N evaluations). Besides the table, every method
is compared with `gp` seed by seed (same Sobol start, same budget), and each seed's
final regret is listed. `bench/legacy_gp_prior.py` and `bench/input_warp.py` run
strategies of the suite with a part of their model swapped (`variant_main`).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

Fn = Callable[[np.ndarray], float]

STRATEGIES = ["random", "gp", "ibnn", "bnn-ensemble", "dkl", "bnn-hmc"]
FAST = {"num_restarts": 2, "raw_samples": 128, "maxiter": 50}
# Wall-clock limits of the earlier runs (`--time-limits`): they make results depend on
# machine load. Without them the iteration caps bind and a seed reproduces its run.
TIME_LIMITS: dict[str, dict[str, float]] = {
    "gp": {"timeout_sec": 5.0},
    "ibnn": {"timeout_sec": 5.0, "time_budget_sec": 10.0},
    "bnn-ensemble": {"timeout_sec": 5.0, "time_budget_sec": 10.0},
    "dkl": {"timeout_sec": 5.0, "time_budget_sec": 10.0},
    "bnn-hmc": {"timeout_sec": 5.0, "time_budget_sec": 15.0},
}
NO_LIMIT = 3600.0


def options_for(strategy: str, time_limits: bool) -> dict[str, Any]:
    """The strategy's options in this suite, with or without the wall-clock limits."""
    if strategy == "random":
        return {}
    if time_limits:
        return {**FAST, **TIME_LIMITS[strategy]}
    if strategy == "gp":
        return {**FAST, "timeout_sec": NO_LIMIT, "fit_timeout_sec": NO_LIMIT}
    return {**FAST, "timeout_sec": NO_LIMIT, "time_budget_sec": 2 * NO_LIMIT}


INSTANCE_STREAM = 0x1D5EED
"""Second entropy word of the generator that draws a problem's instance (its active
inputs, its optimum). With the seed alone, `default_rng(seed)` is also what the random
baseline's first ask drew from (numpy's `[seed, 0]` seeds the same stream as `seed`),
so its first point sat next to the ellipsoid's optimum."""


def instance_rng(seed: int) -> np.random.Generator:
    """The generator of a problem instance, independent of every method's draws."""
    return np.random.default_rng([seed, INSTANCE_STREAM])


@dataclass(frozen=True)
class Problem:
    name: str
    d: int
    fn: Callable[[int], tuple[Fn, float]]  # seed -> (f on [0,1]^d, optimum value)


def _nonstationary(seed: int) -> tuple[Fn, float]:
    def g(t: np.ndarray) -> np.ndarray:
        return t**2 + 0.5 * np.sin(10 * math.pi * t**3)

    best = float(g(np.linspace(0, 1, 200_001)).min())
    return (lambda x: float(g(x).sum())), 4 * best


def _branin_in_30d(seed: int) -> tuple[Fn, float]:
    dims = instance_rng(seed).choice(30, 2, replace=False)

    def f(x: np.ndarray) -> float:
        x1, x2 = 15 * x[dims[0]] - 5, 15 * x[dims[1]]
        b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
        return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10

    return f, 0.397887


def _ellipsoid_50d(seed: int) -> tuple[Fn, float]:
    d = 50
    x_opt = instance_rng(seed).uniform(-4, 4, d)
    weights = 10 ** (6 * np.arange(d) / (d - 1))

    def f(x: np.ndarray) -> float:
        z = 10 * x - 5 - x_opt
        return float((weights * z**2).sum())

    return f, 0.0


def _poly(d: int) -> Callable[[int], tuple[Fn, float]]:
    """The polynomial in `d` inputs (`d` divisible by 4). Each product is multilinear in
    its four inputs, so its maximum over the cube is at one of its 16 corners."""

    def make(seed: int) -> tuple[Fn, float]:
        c = instance_rng(seed).standard_normal(d).reshape(4, d // 4)
        corners = np.array(np.meshgrid(*[[0.0, 1.0]] * 4, indexing="ij")).reshape(4, -1)
        best = sum((corners - c[:, [j]]).prod(axis=0).max() for j in range(d // 4))
        return (lambda x: -float((x.reshape(4, d // 4) - c).prod(axis=0).sum())), -best

    return make


PROBLEMS = [
    Problem("nonstationary-4d", 4, _nonstationary),
    Problem("branin-in-30d", 30, _branin_in_30d),
    Problem("ellipsoid-50d", 50, _ellipsoid_50d),
    Problem("poly-40d", 40, _poly(40)),
]


def _snapshot(d: int, X: list[np.ndarray], y: list[float], seed: int, nonce: int = 0):
    """A study of `d` floats in [0, 1] with these completed points. `nonce` varies per
    ask, as the service's does, so stateless random strategies draw new points."""
    from asktell.core.snapshots import StudySnapshot, TrialRecord
    from asktell.core.space import SearchSpace
    from asktell.core.states import TrialState
    from asktell_client.types import FloatParam, ObjectiveSpec, StudySettings

    space = SearchSpace([FloatParam(name=f"x{i}", low=0.0, high=1.0) for i in range(d)])
    completed = [
        TrialRecord(i, TrialState.completed, {f"x{j}": float(v) for j, v in enumerate(x)}, {"f": f})
        for i, (x, f) in enumerate(zip(X, y, strict=True))
    ]
    return StudySnapshot(
        study_id=1,
        space=space,
        objectives=[ObjectiveSpec(name="f", direction="minimize")],
        constraints=[],
        settings=StudySettings(seed=seed),
        completed=completed,
        pending=[],
        failed=[],
        nonce=nonce,
    )


def run_one(
    problem: str,
    strategy: str,
    seed: int,
    budget: int,
    init: int,
    batch: int,
    time_limits: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict:
    """One optimization run; returns the regret trace and the time spent suggesting."""
    import torch

    from asktell.strategies.registry import get_strategy
    from asktell.strategies.sobol import sobol_points

    torch.set_num_threads(1)
    p = next(q for q in PROBLEMS if q.name == problem)
    f, f_opt = p.fn(seed)
    X = list(sobol_points(p.d, seed, 0, init))
    y = [f(x) for x in X]
    algo = get_strategy(strategy)({**options_for(strategy, time_limits), **(extra or {})})
    state, seconds, fallbacks = None, 0.0, 0
    while len(y) < budget:
        snap = _snapshot(p.d, X, y, seed, nonce=len(y))
        t0 = time.perf_counter()
        proposal = algo.suggest(snap, min(batch, budget - len(y)), state)
        seconds += time.perf_counter() - t0
        state = proposal.state
        fallbacks += sum(s == "sobol" for s in proposal.strategies or [])
        for point in proposal.points:
            x = np.array([point[f"x{i}"] for i in range(p.d)])
            X.append(x)
            y.append(f(x))
    regret = np.minimum.accumulate(np.array(y) - f_opt)
    return {
        "problem": problem,
        "strategy": strategy,
        "options": extra or {},
        "seed": seed,
        "regret": regret.tolist(),
        "suggest_seconds": seconds,
        "fallback_points": fallbacks,
        "distinct_points": len({tuple(x) for x in X}),
    }


def time_one(strategy: str, n: int, d: int = 10) -> dict:
    """Time one q=1 suggestion with `n` completed random points (Ackley-like, d=10),
    after an untimed warm-up ask."""
    import torch

    from asktell.strategies.registry import get_strategy

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = list(rng.random((n, d)))
    y = [float(np.sum((x - 0.3) ** 2) + 0.1 * np.sin(20 * x).sum()) for x in X]
    options = {k: v for k, v in options_for(strategy, True).items() if k != "time_budget_sec"}
    algo = get_strategy(strategy)(options)
    # A process's first suggestion also pays one-off costs (lazy imports, first kernels):
    # an untimed warm-up ask on the first 20 points keeps them out of the figure.
    algo.suggest(_snapshot(d, X[:20], y[:20], 0), 1, None)
    t0 = time.perf_counter()
    proposal = algo.suggest(_snapshot(d, X, y, 0), 1, None)
    info = proposal.info
    keep = ("fit_seconds", "acquisition_seconds", "epochs", "draws", "train_steps", "fallback")
    return {
        "strategy": strategy,
        "n": n,
        "seconds": time.perf_counter() - t0,
        **{k: info[k] for k in keep if k in info},
    }


def log10_regret(regret: float) -> float:
    """log10 of a regret, floored at 1e-8 (an optimum hit exactly)."""
    return math.log10(max(regret, 1e-8))


def final_regret(run: dict, at: int | None = None) -> float:
    """log10 of the run's best regret after `at` evaluations (None: all of them)."""
    regret = run["regret"] if at is None else run["regret"][:at]
    return log10_regret(regret[-1])


def label(run: dict) -> str:
    """The method of a run: its strategy, followed by its `--options` as compact JSON
    when it had any (e.g. `ibnn{"trust_region":1.0}`)."""
    options = run.get("options")
    if not options:
        return run["strategy"]
    return run["strategy"] + json.dumps(options, sort_keys=True, separators=(",", ":"))


def merged_runs(paths: list[str]) -> list[dict]:
    """The runs of several `--out` files, each labelled by its method (`label`); a later
    file's run of the same problem, method and seed replaces an earlier one's (e.g. a
    method rerun after a change). Files from before runs recorded their options take
    them from the file's `--options`."""
    runs: dict[tuple, dict] = {}
    for path in paths:
        with open(path) as fh:
            saved = json.load(fh)
        file_options = saved.get("args", {}).get("options") or {}
        for r in saved["runs"]:
            r.setdefault("options", file_options.get(r["strategy"], {}))
            runs[(r["problem"], label(r), r["seed"])] = r
    return list(runs.values())


def methods(runs: list[dict]) -> list[str]:
    """The methods of these runs: in the order of `STRATEGIES`, each strategy's plain
    run first, then its runs with options."""
    keys = {(STRATEGIES.index(r["strategy"]), bool(r.get("options")), label(r)) for r in runs}
    return [m for *_, m in sorted(keys)]


def _runs_of(runs: list[dict], problem: str, method: str) -> list[dict]:
    """The runs of one problem and method, in seed order."""
    return sorted(
        (r for r in runs if r["problem"] == problem and label(r) == method),
        key=lambda r: r["seed"],
    )


def _table(runs: list[dict], at: int | None = None) -> list[str]:
    """Median log10 regret per problem (rows with runs) and method (columns)."""
    columns = methods(runs)
    lines = [
        "| problem | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for p in PROBLEMS:
        cells = []
        for m in columns:
            rs = _runs_of(runs, p.name, m)
            if not rs:
                cells.append("-")
                continue
            final = [final_regret(r, at) for r in rs]
            secs = np.mean([r["suggest_seconds"] for r in rs])
            cells.append(f"{np.median(final):.2f} ({secs:.0f} s)")
        if any(cell != "-" for cell in cells):
            lines.append(f"| {p.name} | " + " | ".join(cells) + " |")
    return lines


def _paired(runs: list[dict], reference: str = "gp", at: int | None = None) -> list[str]:
    """Per problem and method: seeds where it ends below / equal to / above `reference`,
    and the median over seeds of its log10 final regret minus the reference's."""
    final = {(r["problem"], label(r), r["seed"]): final_regret(r, at) for r in runs}
    lines = [f"paired against {reference}: wins/ties/losses, median log10 regret difference"]
    columns = methods(runs)
    for p in PROBLEMS:
        cells = []
        for m in columns:
            keys = [k for k in final if k[0] == p.name and k[1] == m and m != reference]
            diffs = [
                final[k] - final[(p.name, reference, k[2])]
                for k in keys
                if (p.name, reference, k[2]) in final
            ]
            if diffs:
                wins = sum(d < -1e-9 for d in diffs)
                losses = sum(d > 1e-9 for d in diffs)
                ties = len(diffs) - wins - losses
                cells.append(f"{m} {wins}/{ties}/{losses} ({np.median(diffs):+.2f})")
        if cells:
            lines.append(f"{p.name}: " + ", ".join(cells))
    return lines


def _per_seed(runs: list[dict], at: int | None = None) -> list[str]:
    """Per problem and method, the log10 final regret of each seed, in seed order."""
    lines = ["log10 final regret per seed (seed: value)"]
    columns = methods(runs)
    for p in PROBLEMS:
        for m in columns:
            rs = _runs_of(runs, p.name, m)
            if rs:
                values = ", ".join(f"{r['seed']}: {final_regret(r, at):.2f}" for r in rs)
                lines.append(f"{p.name} {m}: {values}")
    return lines


def _print_tables(runs: list[dict], at: int | None = None, reference: str = "gp") -> None:
    after = f"after {at} evaluations" if at else "final"
    print(f"median log10 regret, {after} (mean suggestion time per run, whole run)")
    print("\n".join(_table(runs, at)))
    print("\n".join(_paired(runs, reference, at)))
    print("\n".join(_per_seed(runs, at)))


def run_variant(
    prepare: Callable[[str, dict], dict],
    marker: dict[str, Any],
    problem: str,
    strategy: str,
    seed: int,
    budget: int,
    init: int,
    batch: int,
    options: dict[str, Any],
) -> dict:
    """One run with a part of the model swapped: `prepare(strategy, options)` swaps it in
    this process and returns the strategy's options; the run's method is its options
    with `marker` (e.g. `gp{"input_warp":true}`)."""
    run = run_one(problem, strategy, seed, budget, init, batch, extra=prepare(strategy, options))
    return {**run, "options": {**options, **marker}}


def variant_main(
    doc: str, prepare: Callable[[str, dict], dict], marker: dict[str, Any], strategies: list[str]
) -> None:
    """Command line of a script that runs some of the suite's strategies with a part of
    their model swapped (see `run_variant`), each run in a worker process, so the swap
    stays there."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=[p.name for p in PROBLEMS])
    parser.add_argument("--strategies", nargs="+", default=strategies, choices=strategies)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--init", type=int, default=10)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--options",
        type=json.loads,
        default={},
        help="JSON of options per strategy, as in the suite",
    )
    parser.add_argument("--out", required=True, help="write the runs here (JSON)")
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    with ProcessPoolExecutor(args.workers) as pool:
        jobs = [
            pool.submit(
                run_variant,
                prepare,
                marker,
                p,
                s,
                seed,
                args.budget,
                args.init,
                args.batch,
                args.options.get(s, {}),
            )
            for p in args.problems
            for s in args.strategies
            for seed in seeds
        ]
        runs = [j.result() for j in jobs]
    with open(args.out, "w") as fh:
        json.dump({"args": vars(args), "runs": runs}, fh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, budget 30")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--init", type=int, default=10)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--strategies", nargs="*", default=STRATEGIES)
    parser.add_argument(
        "--problems", nargs="*", default=[p.name for p in PROBLEMS], help="a subset of problems"
    )
    parser.add_argument("--timing-n", type=int, nargs="*", default=[100, 500])
    parser.add_argument("--timing-only", action="store_true")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument(
        "--time-limits",
        action="store_true",
        help="the earlier runs' wall-clock limits (5 s acquisition, 10-15 s per network ask)",
    )
    parser.add_argument(
        "--options",
        type=json.loads,
        default={},
        help="JSON of options per strategy over the suite's, e.g. "
        '\'{"ibnn": {"trust_region": 0.8}}\'',
    )
    parser.add_argument("--out", default=None, help="write the raw results as JSON here")
    parser.add_argument(
        "--report",
        nargs="+",
        metavar="FILE",
        help="run nothing: print the tables of these `--out` files (a strategy run with "
        "`--options` is a method of its own; a later file's run of the same problem, method "
        "and seed replaces an earlier one's)",
    )
    parser.add_argument(
        "--at", type=int, default=None, help="with --report: regret after this many evaluations"
    )
    parser.add_argument(
        "--reference",
        default="gp",
        help="with --report: the method every other is paired with, e.g. "
        '\'gp{"prior":"botorch<0.12"}\'',
    )
    args = parser.parse_args()
    if args.report:
        _print_tables(merged_runs(args.report), args.at, args.reference)
        return
    if args.quick:
        args.seeds, args.budget = 3, 30
    runs: list[dict] = []
    timings: list[dict] = []
    with ProcessPoolExecutor(args.workers) as pool:
        if not args.timing_only:
            jobs = [
                pool.submit(
                    run_one,
                    p.name,
                    s,
                    seed,
                    args.budget,
                    args.init,
                    args.batch,
                    args.time_limits,
                    args.options.get(s),
                )
                for p in PROBLEMS
                if p.name in args.problems
                for s in args.strategies
                for seed in range(args.first_seed, args.first_seed + args.seeds)
            ]
            runs = [j.result() for j in jobs]
        if not args.no_timing:
            jobs = [
                pool.submit(time_one, s, n)
                for n in args.timing_n
                for s in args.strategies
                if s != "random"
            ]
            timings = [j.result() for j in jobs]
    if runs:
        _print_tables(runs)
    for t in timings:
        print(json.dumps(t))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"args": vars(args), "runs": runs, "timings": timings}, fh)


if __name__ == "__main__":
    main()
