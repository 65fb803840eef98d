"""A fully stochastic Bayesian MLP sampled with Hamiltonian Monte Carlo (torch only).

Model: a tanh MLP on unit-cube inputs with an isotropic Gaussian prior on
its prior-scaled weights (`N(0, 1/fan_in)` weights, `N(0, 1)` biases) and a
Gaussian likelihood with a fixed noise variance on standardized outputs.

Sampling: several chains run in parallel as one batched computation (on the
GPU when the data live there). Each chain is first moved to a MAP estimate
with Adam, then runs full-batch HMC with `leapfrog_steps` steps per
transition; during burn-in each chain's step size is adapted towards an
acceptance rate of `target_accept`. After burn-in every `thin`-th state is
kept. The phases share a time budget (pre-training up to 25 %, burn-in up to
60 %, the rest for sampling); when time runs out the chains stop early and
keep what they have (at least each chain's current state), so a suggestion gets
fewer draws rather than timing out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from asktell.surrogates.bnn import MLPEnsembleModel, MLPLayout, mlp, standardize

__all__ = ["sample_hmc"]


def _potential(layout: MLPLayout, scale: Tensor, u: Tensor, X: Tensor, Z: Tensor, noise: float):
    """`C` negative log posteriors (up to a constant) of the chains' whitened parameters `u`."""
    err = (mlp(layout.unflatten(u * scale), X) - Z).pow(2).sum((-2, -1))
    return 0.5 * err / noise + 0.5 * u.pow(2).sum(-1)


def _grad(fn, u: Tensor) -> tuple[Tensor, Tensor]:
    with torch.enable_grad():
        u = u.detach().requires_grad_(True)
        value = fn(u)
        (g,) = torch.autograd.grad(value.sum(), u)
    return value.detach(), g


def sample_hmc(
    X: Tensor,
    Y: Tensor,
    *,
    hidden: Sequence[int] = (50, 50),
    chains: int = 4,
    num_samples: int = 25,
    burn_in: int = 100,
    thin: int = 2,
    leapfrog_steps: int = 20,
    step_size: float = 5e-3,
    target_accept: float = 0.7,
    pretrain_steps: int = 300,
    noise_var: float = 0.05,
    time_budget_sec: float | None = None,
) -> tuple[MLPEnsembleModel, dict[str, Any]]:
    """Draw posterior samples of a Bayesian MLP with HMC.

    Args:
        X: A `n x d` tensor of inputs in [0, 1]^d.
        Y: A `n x m` tensor of outputs (standardized internally).
        num_samples: Draws kept per chain (the model has up to `chains * num_samples` members).
        noise_var: Observation-noise variance in standardized units.
        time_budget_sec: Wall-clock budget of the whole fit.

    Returns:
        The draws as an `MLPEnsembleModel` and info: `draws`, `transitions`,
        `gradient_evals`, `accept_rate`, `step_size`, `stopped_early`.
    """
    start = time.perf_counter()
    budget = math.inf if time_budget_sec is None else time_budget_sec
    Z, y_mean, y_std = standardize(Y)
    layout = MLPLayout([X.shape[-1], *hidden, Y.shape[-1]])
    scale = layout.prior_scale(X)

    def potential(u: Tensor) -> Tensor:
        return _potential(layout, scale, u, X, Z, noise_var)

    def elapsed() -> float:
        return time.perf_counter() - start

    u = torch.randn(chains, layout.numel, dtype=X.dtype, device=X.device).requires_grad_(True)
    optimizer = torch.optim.Adam([u], lr=1e-2)
    steps = 0
    for steps in range(1, pretrain_steps + 1):
        optimizer.zero_grad()
        potential(u).sum().backward()
        optimizer.step()
        if steps % 10 == 0 and elapsed() > 0.25 * budget:
            break
    u = u.detach()
    log_eps = torch.full((chains, 1), math.log(step_size), dtype=X.dtype, device=X.device)
    U, g = _grad(potential, u)
    draws: list[Tensor] = []
    accepted = torch.zeros(chains, dtype=X.dtype, device=X.device)
    transitions = kept_transitions = 0
    stopped_early = False
    total = burn_in + num_samples * thin
    for t in range(total):
        sampling = t >= burn_in
        if elapsed() > (budget if sampling else 0.6 * budget):
            stopped_early = True
            break
        eps = log_eps.exp() * (0.8 + 0.4 * torch.rand_like(log_eps))
        p = torch.randn_like(u)
        H0 = U + 0.5 * p.pow(2).sum(-1)
        u_new, g_new = u.clone(), g.clone()
        p = p - 0.5 * eps * g_new
        for i in range(leapfrog_steps):
            u_new = u_new + eps * p
            U_new, g_new = _grad(potential, u_new)
            if i < leapfrog_steps - 1:
                p = p - eps * g_new
        p = p - 0.5 * eps * g_new
        H1 = U_new + 0.5 * p.pow(2).sum(-1)
        log_ratio = torch.nan_to_num(H0 - H1, nan=-math.inf)
        accept_prob = log_ratio.clamp(max=0.0).exp()
        accept = torch.rand_like(accept_prob) < accept_prob
        u = torch.where(accept[:, None], u_new, u)
        U = torch.where(accept, U_new, U)
        g = torch.where(accept[:, None], g_new, g)
        transitions += 1
        if not sampling:
            rate = 1.0 / math.sqrt(t + 1)
            log_eps = log_eps + rate * (accept_prob[:, None] - target_accept)
        else:
            kept_transitions += 1
            accepted += accept.to(accepted)
            if (t - burn_in) % thin == thin - 1:
                draws.append(u.clone())
    if not draws:
        draws.append(u.clone())
    theta = torch.cat(draws) * scale
    layers = layout.unflatten(theta)
    noise = torch.full_like(y_mean, noise_var)
    model = MLPEnsembleModel(layers, y_mean, y_std, noise)
    info = {
        "draws": int(theta.shape[0]),
        "pretrain_steps": steps,
        "transitions": transitions,
        "gradient_evals": transitions * leapfrog_steps * chains,
        "accept_rate": round(float(accepted.mean()) / max(kept_transitions, 1), 3),
        "step_size": round(float(log_eps.exp().mean()), 6),
        "stopped_early": stopped_early,
    }
    return model, info
