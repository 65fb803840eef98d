"""`gp` of the BNN suite under BoTorch's GP prior from before 0.12, the baseline of Li et al.

Li et al.'s study compared its networks with `botorch.models.SingleTaskGP` as it was in
2023: a Matérn-5/2 ARD kernel with Gamma(3, 6) lengthscales under a scale kernel with a
Gamma(2, 0.15) outputscale. BoTorch 0.12 (September 2024) replaced these by its
dimension-scaled log-normal lengthscale prior, which asktell's `gp` uses. This script runs
`gp` of `bench/bnn_suite.py` unchanged but for that kernel (the noise prior stays
asktell's), so the suite's networks can be compared with the study's baseline as well.

Usage: `python -m bench.legacy_gp_prior --problems poly-40d --seeds 10 --out FILE`; read
the file with `python bench/bnn_suite.py --report FILE OTHER_FILES...`, where its runs are
the method `gp{"prior":"botorch<0.12"}`.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor

from bench.bnn_suite import PROBLEMS, run_one

LEGACY = {"prior": "botorch<0.12"}


def legacy_kernel(ard_num_dims, batch_shape=None, use_rbf_kernel=True, active_dims=None):
    """BoTorch's `SingleTaskGP` kernel before 0.12 (the arguments of the function it
    replaces; the kernel is Matérn-5/2 whatever `use_rbf_kernel` says)."""
    from gpytorch.kernels import MaternKernel, ScaleKernel
    from gpytorch.priors import GammaPrior

    base = MaternKernel(
        nu=2.5,
        ard_num_dims=ard_num_dims,
        batch_shape=batch_shape,
        active_dims=active_dims,
        lengthscale_prior=GammaPrior(3.0, 6.0),
    )
    return ScaleKernel(base, batch_shape=batch_shape, outputscale_prior=GammaPrior(2.0, 0.15))


def run_legacy(problem: str, seed: int, budget: int, init: int, batch: int) -> dict:
    """One run of `gp` with the legacy kernel, labelled as its own method."""
    import asktell.surrogates.gp as gp_surrogate

    gp_surrogate.get_covar_module_with_dim_scaled_prior = legacy_kernel
    run = run_one(problem, "gp", seed, budget, init, batch, extra={"kernel": "matern52"})
    return {**run, "options": LEGACY}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=[p.name for p in PROBLEMS])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--init", type=int, default=10)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", required=True, help="write the runs here (JSON)")
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    with ProcessPoolExecutor(args.workers) as pool:
        jobs = [
            pool.submit(run_legacy, p, s, args.budget, args.init, args.batch)
            for p in args.problems
            for s in seeds
        ]
        runs = [j.result() for j in jobs]
    with open(args.out, "w") as fh:
        json.dump({"args": vars(args), "runs": runs}, fh)


if __name__ == "__main__":
    main()
