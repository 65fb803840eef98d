"""Does a surrogate know where the optimum is? The minimizer of its posterior mean.

For each problem of `bench/bnn_suite.py` and seed: `n` uniform random points (from
`default_rng(seed)`, independent of the instance's own stream), the surrogates fitted
on them (outputs standardized), the posterior mean minimized by L-BFGS-B from the best
point and 4 random starts. Prints log10 regret of the best training point and of each
surrogate's minimizer: a surrogate whose minimizer is no better than the best training
point gives an optimizer nothing to exploit. With `--held-out N`, also the normalized
RMSE of each posterior mean on N more uniform points (from a stream of their own), shown
as `rmse/minimizer`.

Usage: `python -m bench.surrogate_argmin --seeds 5 --n 100`; `--ibnn NAME=JSON` adds an
`ibnn` fitted with those `fit_ibnn` keywords, e.g.
`--ibnn 'uv={"unit_variance": true, "relevance_prior_loc": 3.0}'`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import minimize

from asktell.surrogates.bnn_kernels import fit_ibnn
from asktell.surrogates.gp import fit_gp
from bench.bnn_suite import PROBLEMS, log10_regret

FITS: dict[str, Callable] = {
    "gp": lambda X, Y: fit_gp(X, Y)[0],
    "ibnn": lambda X, Y: fit_ibnn(X, Y)[0],
}
HELD_OUT_STREAM = 1
"""Second entropy word of the held-out points' generator, so the training points and
starts stay those of runs without them."""


def ibnn_variant(spec: str) -> tuple[str, Callable]:
    """`NAME=JSON` as a column name and a fit of `ibnn` with those keywords."""
    name, _, options = spec.partition("=")
    kwargs = json.loads(options)
    return name, lambda X, Y: fit_ibnn(X, Y, **kwargs)[0]


def normalized_rmse(model, X: np.ndarray, y: np.ndarray, mean: float, std: float) -> float:
    """RMSE of the posterior mean (in `y`'s units) over `y`'s standard deviation."""
    with torch.no_grad():
        mu = model.posterior(torch.tensor(X)).mean.squeeze(-1).numpy() * std + mean
    return float(np.sqrt(np.mean((mu - y) ** 2)) / y.std())


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
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--held-out", type=int, default=0, metavar="N")
    parser.add_argument("--ibnn", action="append", default=[], metavar="NAME=JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    fits = {**FITS, **dict(ibnn_variant(spec) for spec in args.ibnn)}
    kind = "rmse/minimizer" if args.held_out else "minimizer"
    print("| problem | seed | best of n | " + " | ".join(f"{s} {kind}" for s in fits) + " |")
    print("|---" * (3 + len(fits)) + "|")
    for p in (q for q in PROBLEMS if q.name in args.problems):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            f, f_opt = p.fn(seed)
            rng = np.random.default_rng(seed)
            X = rng.random((args.n, p.d))
            y = np.array([f(x) for x in X])
            Y = torch.tensor((y - y.mean()) / y.std()).unsqueeze(-1)
            starts = np.vstack([X[y.argmin()], rng.random((4, p.d))])
            X_held = np.random.default_rng([seed, HELD_OUT_STREAM]).random((args.held_out, p.d))
            y_held = np.array([f(x) for x in X_held])
            cells = [f"{log10_regret(y.min() - f_opt):.2f}"]
            for fit in fits.values():
                model = fit(torch.tensor(X), Y)
                x = mean_minimizer(model, starts)
                cell = f"{log10_regret(f(x) - f_opt):.2f}"
                if args.held_out:
                    rmse = normalized_rmse(model, X_held, y_held, y.mean(), y.std())
                    cell = f"{rmse:.2f}/{cell}"
                cells.append(cell)
            print(f"| {p.name} | {seed} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
