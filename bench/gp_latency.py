"""Time per `gp` suggestion against history size and dimension, next to Optuna's GPSampler.

For each (n, d): n random points of a smooth test function in [0, 1]^d, then
- gp cold: the first ask, with no strategy state (hyperparameters fit from scratch);
- gp warm: the mean of the next `--asks` - 1 asks, each told and carrying the previous
  ask's state (a running study), so the asks that refit the hyperparameters count at
  the rate they happen;
- optuna cold / warm: `GPSampler` ask on the same trials (added with
  `study.add_trial`), first ask, then the mean of the next ones (each told first);
- ax cold / warm (with `--ax`, needs the `bench-ax` extra): Ax's `Client` with its
  default generation strategy, the same trials attached, first ask, then the mean of
  the next ones.
CUDA columns appear when torch sees a GPU. Times are wall-clock seconds.

    python bench/gp_latency.py --quick
    python bench/gp_latency.py --n 200 --d 6
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from asktell.core.snapshots import StudySnapshot, TrialRecord
from asktell.core.space import SearchSpace
from asktell.core.states import TrialState
from asktell.strategies.gp import GP
from asktell_client.types import FloatParam, ObjectiveSpec, StudySettings

FULL = {"n": [50, 200, 1000], "d": [2, 10, 30]}
QUICK = {"n": [50, 200, 1000], "d": [2, 10]}


def objective(x: np.ndarray) -> float:
    """A smooth, multimodal function of points in [0, 1]^d."""
    return float(np.sum((x - 0.3) ** 2) + 0.1 * np.sum(np.sin(10 * x)))


def snapshot(X: np.ndarray) -> StudySnapshot:
    d = X.shape[1]
    space = SearchSpace([FloatParam(name=f"x{i}", low=0.0, high=1.0) for i in range(d)])
    trials = [
        TrialRecord(
            i,
            TrialState.completed,
            {f"x{j}": float(v) for j, v in enumerate(x)},
            {"value": objective(x)},
        )
        for i, x in enumerate(X)
    ]
    return StudySnapshot(
        study_id=1,
        space=space,
        objectives=[ObjectiveSpec(name="value")],
        settings=StudySettings(seed=0),
        completed=trials,
    )


ASKS = 10  # sequential ask → tell per method and (n, d); "warm" is the mean of asks 2..ASKS


def cold_and_warm(times: list[float]) -> tuple[float, float]:
    return times[0], float(np.mean(times[1:]))


def time_gp(X: np.ndarray, device: str, asks: int = ASKS) -> tuple[float, float]:
    """First ask without strategy state, then asks that carry the previous ask's state."""
    gp = GP(device=device)
    d = X.shape[1]
    X = X.copy()
    state, times = None, []
    for _ in range(asks):
        t = time.perf_counter()
        proposal = gp.suggest(snapshot(X), 1, state)
        times.append(time.perf_counter() - t)
        state = proposal.state
        x = np.array([[proposal.points[0][f"x{i}"] for i in range(d)]])
        X = np.vstack([X, x])
    return cold_and_warm(times)


def time_optuna(X: np.ndarray, asks: int = ASKS) -> tuple[float, float] | None:
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    d = X.shape[1]
    dists = {f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(d)}
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=0))
    for x in X:
        params = {f"x{i}": float(v) for i, v in enumerate(x)}
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=dists, value=objective(x))
        )
    times = []
    for _ in range(asks):
        t = time.perf_counter()
        trial = study.ask(dists)
        times.append(time.perf_counter() - t)
        study.tell(trial, objective(np.array([trial.params[k] for k in dists])))
    return cold_and_warm(times)


def time_ax(X: np.ndarray, asks: int = ASKS) -> tuple[float, float]:
    """Ax's first ask after the trials are attached may come from its centre/Sobol nodes;
    the later ones come from BoTorch."""
    import logging

    from ax import Client, RangeParameterConfig
    from ax.utils.common.logger import set_stderr_log_level

    set_stderr_log_level(logging.WARNING)
    d = X.shape[1]
    client = Client(random_seed=0)
    client.configure_experiment(
        parameters=[RangeParameterConfig(f"x{i}", (0.0, 1.0), "float") for i in range(d)]
    )
    client.configure_optimization(objective="-value")
    for x in X:
        index = client.attach_trial({f"x{i}": float(v) for i, v in enumerate(x)})
        client.complete_trial(index, raw_data={"value": objective(x)})
    times = []
    for _ in range(asks):
        t = time.perf_counter()
        index, params = next(iter(client.get_next_trials(max_trials=1).items()))
        times.append(time.perf_counter() - t)
        x = np.array([params[f"x{i}"] for i in range(d)])
        client.complete_trial(index, raw_data={"value": objective(x)})
    return cold_and_warm(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"grid {QUICK} instead of {FULL}")
    parser.add_argument("--n", type=int, nargs="*", help="history sizes")
    parser.add_argument("--d", type=int, nargs="*", help="dimensions")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--ax", action="store_true", help="also time Ax (bench-ax extra)")
    parser.add_argument("--asks", type=int, default=ASKS, help="asks per method and (n, d)")
    args = parser.parse_args()
    asks = max(2, args.asks)
    grid = QUICK if args.quick else FULL
    sizes, dims = args.n or grid["n"], args.d or grid["d"]
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    cuda = torch.cuda.is_available()
    header = ["n", "d", "gp cold", "gp warm", "optuna cold", "optuna warm"]
    header += ["ax cold", "ax warm"] if args.ax else []
    header += ["gp cuda cold", "gp cuda warm"] if cuda else []
    print(" | ".join(f"{h:>12}" for h in header))
    for d in dims:
        for n in sizes:
            X = np.random.default_rng(n * 100 + d).random((n, d))
            row = [n, d, *time_gp(X, "cpu", asks)]
            row += list(time_optuna(X, asks) or (float("nan"), float("nan")))
            row += list(time_ax(X, asks)) if args.ax else []
            if cuda:
                row += list(time_gp(X, "cuda", asks))
            cells = [f"{v:>12}" if isinstance(v, int) else f"{v:>12.3f}" for v in row]
            print(" | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
