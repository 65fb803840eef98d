"""Predictive NLL of a PFN checkpoint on held-out HEBO+ prior datasets, next to two GPs.

For each input dimension d and context size n: `--datasets` fresh prior
datasets (a seed disjoint from training's), `--queries` held-out noisy points
each, and the mean negative log density of the held-out y under
- pfn: the checkpoint's bar distribution (rescaled to output units);
- gp true: the exact GP posterior with the dataset's true hyperparameters (the
  Bayes-optimal predictor given the hyperparameters, a lower bound in expectation);
- gp ml-ii: asktell's BoTorch `SingleTaskGP` fitted by marginal likelihood.
Lower is better; all columns are in the same (raw output) units.

    python bench/pfn_nll.py
    python bench/pfn_nll.py --checkpoint path/to/dir --datasets 32 --no-fit
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import torch

from asktell.surrogates.gp import fit_gp
from asktell.surrogates.pfn import DEFAULT_CHECKPOINT
from asktell.surrogates.pfn.model import load_pfn, standardize
from asktell.surrogates.pfn.prior import matern32, sample_batch

LOG2PI = math.log(2 * math.pi)


def gaussian_nll(y: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    return 0.5 * (LOG2PI + var.log() + (y - mean) ** 2 / var)


def true_gp_nll(batch, n: int) -> torch.Tensor:
    """`b x m` NLL of the query targets under the GP with the true hyperparameters."""
    x, y = batch.x, batch.y
    xc, xq = x[:, :n], x[:, n:]
    eye = torch.eye(n, dtype=x.dtype)
    K = matern32(xc, xc, batch.lengthscale, batch.outputscale) + batch.noise[:, None, None] * eye
    Ks = matern32(xq, xc, batch.lengthscale, batch.outputscale)
    L = torch.linalg.cholesky(K)
    alpha = torch.cholesky_solve(y[:, :n, None], L)
    mean = (Ks @ alpha).squeeze(-1)
    v = torch.cholesky_solve(Ks.transpose(-1, -2), L)
    var = batch.outputscale[:, None] + batch.noise[:, None] - (Ks * v.transpose(-1, -2)).sum(-1)
    return gaussian_nll(y[:, n:], mean, var.clamp_min(1e-10))


def mlii_gp_nll(batch, n: int, d: int) -> torch.Tensor:
    rows = []
    for i in range(batch.x.shape[0]):
        X, Y = batch.x[i, :, :d], batch.y[i, :, None]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, _ = fit_gp(X[:n], Y[:n], noisy=True)
            post = model.posterior(X[n:], observation_noise=True)
        mean, var = post.mean.squeeze(-1).detach(), post.variance.squeeze(-1).detach()
        rows.append(gaussian_nll(Y[n:, 0], mean, var.clamp_min(1e-10)))
    return torch.stack(rows)


def pfn_nll(model, batch, n: int, d: int) -> torch.Tensor:
    x, y = batch.x[:, :, :d].float(), batch.y.float()
    mu, sd = standardize(y[:, :n])
    with torch.no_grad():
        logits = model(x[:, :n], (y[:, :n] - mu) / sd, x[:, n:])
        nll = model.bar.nll(logits, (y[:, n:] - mu) / sd)
    return (nll + sd.log()).double()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 6, 10])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 10, 25, 50, 100])
    parser.add_argument("--datasets", type=int, default=16)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=10_000_019)
    parser.add_argument("--no-fit", action="store_true", help="skip the ML-II GP column")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, doc = load_pfn(args.checkpoint)
    print(
        f"checkpoint {args.checkpoint}: step {doc.get('step')}, "
        f"{doc.get('datasets_seen')} datasets, {model.num_params():,} parameters"
    )
    print(f"{args.datasets} datasets x {args.queries} held-out points per cell; mean NLL per point")
    print("| d | n | pfn | gp true | gp ml-ii |\n|---|---|---|---|---|")
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    for d in args.dims:
        for n in args.sizes:
            batch = sample_batch(args.datasets, n + args.queries, n, model.config.max_dim, gen, d=d)
            cells = [pfn_nll(model, batch, n, d).mean(), true_gp_nll(batch, n).mean()]
            cells.append(None if args.no_fit else mlii_gp_nll(batch, n, d).mean())
            text = " | ".join("—" if c is None else f"{float(c):.3f}" for c in cells)
            print(f"| {d} | {n} | {text} |", flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
