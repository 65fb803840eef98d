"""Time per `pfn` suggestion against history size and dimension, next to `gp`.

For each (n, d): n random points of a smooth test function in [0, 1]^d, then the
median wall-clock seconds of `--repeats` one-point asks of `pfn` (model loaded
and warmed up first; each ask is one context encoding plus candidate scoring)
and one cold ask of `gp` (hyperparameters fit from scratch).

    python bench/pfn_latency.py
    python bench/pfn_latency.py --n 200 --d 10 --no-gp
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch

from asktell.core.snapshots import StudySnapshot, TrialRecord
from asktell.core.space import SearchSpace
from asktell.core.states import TrialState
from asktell.strategies.gp import GP
from asktell.strategies.pfn import PFNStrategy
from asktell_client.types import FloatParam, ObjectiveSpec, StudySettings


def objective(x: np.ndarray) -> float:
    return float(np.sum((x - 0.3) ** 2) + 0.1 * np.sum(np.sin(10 * x)))


def snapshot(X: np.ndarray) -> StudySnapshot:
    space = SearchSpace([FloatParam(name=f"x{i}", low=0.0, high=1.0) for i in range(X.shape[1])])
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
        1, space, [ObjectiveSpec(name="value")], settings=StudySettings(seed=0), completed=trials
    )


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--d", type=int, nargs="+", default=[2, 6, 10])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-gp", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    pfn, gp = PFNStrategy(), GP()
    print(f"torch threads {torch.get_num_threads()}; seconds per one-point ask")
    print("| n | d | pfn median | pfn min | candidates | gp cold |\n|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for d in args.d:
        for n in args.n:
            snap = snapshot(rng.random((n, d)))
            proposal = pfn.suggest(snap, 1, None)  # load and warm up
            times = [timed(lambda s=snap: pfn.suggest(s, 1, None)) for _ in range(args.repeats)]
            gp_time = "—" if args.no_gp else f"{timed(lambda s=snap: gp.suggest(s, 1, None)):.3f}"
            print(
                f"| {n} | {d} | {statistics.median(times):.3f} | {min(times):.3f} | "
                f"{proposal.info.get('candidates_scored')} | {gp_time} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
