"""Does a surrogate know where the optimum is? The minimizer of its posterior mean.

For each problem of `bench/bnn_suite.py` and seed: `n` uniform random points (from
`default_rng(seed)`, independent of the instance's own stream), the surrogates fitted
on them (outputs standardized), the posterior mean minimized by L-BFGS-B from the best
point and 4 random starts. Prints log10 regret of the best training point and of each
surrogate's minimizer: a surrogate whose minimizer is no better than the best training
point gives an optimizer nothing to exploit.

Usage: `python -m bench.surrogate_argmin --seeds 5 --n 100`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import minimize

from asktell.surrogates.bnn_kernels import fit_ibnn
from asktell.surrogates.gp import fit_gp
from bench.bnn_suite import PROBLEMS

FITS: dict[str, Callable] = {
    "gp": lambda X, Y: fit_gp(X, Y)[0],
    "ibnn": lambda X, Y: fit_ibnn(X, Y)[0],
}


def mean_minimizer(model, starts: np.ndarray) -> np.ndarray:
    """The lowest of the posterior mean's local minima from `starts`."""

    def mean_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        xt = torch.tensor(x).unsqueeze(0).requires_grad_(True)
        mu = model.posterior(xt).mean.sum()
        mu.backward()
        return mu.item(), xt.grad.numpy()[0]

    bounds = [(0.0, 1.0)] * starts.shape[1]
    results = [
        minimize(mean_and_grad, x0, jac=True, bounds=bounds, method="L-BFGS-B") for x0 in starts
    ]
    return min(results, key=lambda r: r.fun).x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--problems", nargs="*", default=[p.name for p in PROBLEMS])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| problem | seed | best of n | " + " | ".join(f"{s} minimizer" for s in FITS) + " |")
    print("|---" * (3 + len(FITS)) + "|")
    for p in (q for q in PROBLEMS if q.name in args.problems):
        for seed in range(args.seeds):
            f, f_opt = p.fn(seed)
            rng = np.random.default_rng(seed)
            X = rng.random((args.n, p.d))
            y = np.array([f(x) for x in X])
            Y = torch.tensor((y - y.mean()) / y.std()).unsqueeze(-1)
            starts = np.vstack([X[y.argmin()], rng.random((4, p.d))])
            cells = [math.log10(max(y.min() - f_opt, 1e-8))]
            for fit in FITS.values():
                x = mean_minimizer(fit(torch.tensor(X), Y), starts)
                cells.append(math.log10(max(f(x) - f_opt, 1e-8)))
            print(f"| {p.name} | {seed} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
