"""Bayesian optimization with a prior-data fitted network (PFN) surrogate. Experimental.

One forward pass replaces the GP fit: the PFN (a transformer trained on
functions from the HEBO+ GP prior, see `asktell.surrogates.pfn`) reads the
completed trials as context and returns a bar distribution at any query
point. Nothing is trained during a suggestion.

Acquisition: log expected improvement under the bar distribution (exact for
its piecewise density), plus the log probability that every constraint slack
is `<= 0` (each constraint is its own PFN context); with no feasible point yet
it is the probability of feasibility alone. Several objectives are reduced to
one by an augmented Chebyshev scalarization with weights drawn per ask. The
acquisition is maximized over scrambled Sobol points plus points around the
best observations, then refined locally around the best candidates; discrete
dimensions are snapped. Pending points and points already chosen for this
batch join the context at their predicted mean (kriging believer) and their
neighbourhood is penalized, so parallel workers get diverse points. Beyond the
model's context length the history is subsampled (the best quarter plus a
random rest) and `Proposal.info` says so.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from asktell.core.encoding import SpaceEncoder
from asktell.core.snapshots import StudySnapshot
from asktell.strategies._limits import MAX_PFN_DIM, check_dimension
from asktell.strategies._model_based import (
    TrainingData,
    ask_seed,
    canonical,
    select_history,
    sobol_fallback,
    too_little_data,
    training_data,
)
from asktell.strategies.base import Proposal, Strategy, StrategyConfig
from asktell.strategies.registry import register_strategy
from asktell.strategies.sobol import sobol_points
from asktell.surrogates.pfn import DEFAULT_CHECKPOINT
from asktell.surrogates.pfn.surrogate import PFNModel, cached_pfn

__all__ = ["PFNStrategy", "PFNStrategyConfig"]

logger = logging.getLogger(__name__)

FALLBACK = "sobol"
DTYPE = torch.double


class PFNStrategyConfig(StrategyConfig):
    """Options of the `pfn` strategy."""

    checkpoint: str | None = Field(
        default=None, description="Checkpoint directory (default: the shipped CPU-trained one)."
    )
    n_candidates: int = Field(default=1024, ge=16, le=65536, description="Sobol candidates.")
    n_local: int = Field(
        default=128, ge=0, le=65536, description="Candidates around the best observed points."
    )
    refine_rounds: int = Field(default=2, ge=0, le=20, description="Local refinement rounds.")
    refine_top: int = Field(default=4, ge=1, le=256, description="Candidates refined per round.")
    refine_samples: int = Field(
        default=16, ge=1, le=1024, description="Perturbations per refined candidate and round."
    )
    max_context: int | None = Field(
        default=None,
        ge=4,
        description="Context points at most (default: the model's trained context length); "
        "larger histories are subsampled.",
    )
    min_completed: int = Field(
        default=2, ge=1, description="Below this many completed trials, suggest Sobol points."
    )
    proximity: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Radius (times sqrt(d)) of the penalty around pending and chosen points.",
    )


def _scalarize(Y: Tensor, seed: int) -> Tensor:
    """`n x m` objectives (larger is better) → `n`: augmented Chebyshev, random weights."""
    if Y.shape[-1] == 1:
        return Y[:, 0]
    lo, hi = Y.amin(0), Y.amax(0)
    Z = (Y - lo) / torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    rng = np.random.default_rng(seed)
    w = torch.as_tensor(rng.dirichlet(np.ones(Y.shape[-1])), dtype=Y.dtype, device=Y.device)
    return (Z * w).amin(-1) + 0.05 * (Z * w).sum(-1)


class _Space:
    """Snapping and perturbing points of the encoded cube."""

    def __init__(self, encoder: SpaceEncoder):
        self.encoder = encoder
        self.d = encoder.d
        self.categorical = np.array(sorted(encoder.categorical_dims), dtype=int)
        self.conditional = any(p.condition is not None for p in encoder.params)

    def snap(self, X: np.ndarray) -> np.ndarray:
        if self.conditional:
            return canonical(self.encoder, X)
        return self.encoder.round(X)

    def around(self, centers: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """`k` perturbations of rows of `centers`, Gaussian with scales 0.01 .. 0.1."""
        if k <= 0 or not len(centers):
            return np.zeros((0, self.d))
        rows = centers[rng.integers(0, len(centers), k)]
        sigma = np.exp(rng.uniform(np.log(0.01), np.log(0.1), (k, 1)))
        X = rows + sigma * rng.standard_normal((k, self.d))
        if len(self.categorical):
            flip = rng.random((k, len(self.categorical))) < 0.2
            cat = X[:, self.categorical]
            X[:, self.categorical] = np.where(
                flip, rng.random(cat.shape), rows[:, self.categorical]
            )
        return self.snap(np.clip(X, 0.0, 1.0))


def _sobol_candidates(d: int, seed: int, n: int) -> np.ndarray:
    """The first `n` of a power-of-two run of scrambled Sobol points (`n x d`)."""
    return sobol_points(d, seed, 0, 1 << max(n - 1, 1).bit_length())[:n]


def _keys(X: np.ndarray) -> list[bytes]:
    return [row.tobytes() for row in np.round(X * 1e9).astype(np.int64)]


@register_strategy("pfn")
class PFNStrategy(Strategy):
    """PFN surrogate, log-EI (times probability of feasibility), kriging-believer batches."""

    description = (
        "Experimental: Bayesian optimization with a prior-data fitted network (a transformer "
        "trained on GP-prior functions) instead of a fitted GP; log expected improvement, "
        "constraints, pending-aware batches, mixed spaces."
    )
    stateful = False
    Config = PFNStrategyConfig
    config: PFNStrategyConfig

    def check(self, snapshot: StudySnapshot) -> None:
        check_dimension(SpaceEncoder(snapshot.space), self.name, MAX_PFN_DIM)

    def suggest(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        encoder = SpaceEncoder(snapshot.space)
        seed = ask_seed(snapshot)
        data = training_data(snapshot, encoder, "cpu")
        info: dict[str, Any] = {"n_completed": int(data.X.shape[0]), "experimental": True}
        reason = too_little_data(data, encoder, self.config.min_completed)
        if reason is None:
            try:
                pfn = cached_pfn(str(self.config.checkpoint or DEFAULT_CHECKPOINT), self.device)
            except Exception as exc:  # a missing checkpoint never fails the ask
                logger.warning("pfn: cannot load checkpoint", exc_info=True)
                reason = f"checkpoint unavailable: {type(exc).__name__}: {exc}"
            else:
                if encoder.d > pfn.config.max_dim:
                    reason = f"{encoder.d} dimensions, the PFN takes at most {pfn.config.max_dim}"
        if reason:
            info["fallback"] = reason
            return sobol_fallback(snapshot, encoder, n, info)
        try:
            with torch.no_grad():
                return self._suggest(snapshot, encoder, data, pfn, n, seed, info)
        except Exception as exc:  # a failing model never fails the ask
            logger.warning("pfn: falling back to Sobol points", exc_info=True)
            info["fallback"] = f"{type(exc).__name__}: {exc}"
            return sobol_fallback(snapshot, encoder, n, info)

    def _suggest(
        self,
        snapshot: StudySnapshot,
        encoder: SpaceEncoder,
        data: TrainingData,
        pfn,
        n: int,
        seed: int,
        info: dict[str, Any],
    ) -> Proposal:
        t0 = time.perf_counter()
        cfg = self.config
        max_ctx = cfg.max_context or pfn.config.max_ctx
        max_believers = max_ctx // 2
        n_believers = min(len(data.X_pending) + n - 1, max_believers)
        cap = max_ctx - n_believers
        keep = select_history(data, cap, seed)
        if len(keep) < data.X.shape[0]:
            info["subsampled"] = (
                f"context holds {len(keep)} of {data.X.shape[0]} completed trials "
                f"(best quarter plus a random rest; the PFN was trained on up to {max_ctx})"
            )
            data = replace(data, X=data.X[keep], Y=data.Y[keep], C=data.C[keep])
        if len(data.X_pending) > max_believers:
            info["pending_used"] = f"{max_believers} most recent of {len(data.X_pending)} pending"
            data = replace(data, X_pending=data.X_pending[-max_believers:])
        y = _scalarize(data.Y, seed)
        if data.Y.shape[-1] > 1:
            info["scalarization"] = "augmented Chebyshev, random weights"
        outputs = torch.cat([y[:, None], data.C], dim=-1)  # n x (1 + c)
        feasible = data.feasible
        space = _Space(encoder)
        rng = np.random.default_rng(seed)
        radius = cfg.proximity * math.sqrt(encoder.d)

        X_hist = data.X
        X_bel = torch.zeros(0, encoder.d, dtype=DTYPE)
        Y_bel = torch.zeros(0, outputs.shape[-1], dtype=DTYPE)
        if len(data.X_pending):
            model = PFNModel(pfn, X_hist, outputs)
            X_bel, Y_bel = data.X_pending, self._mean(model, data.X_pending)
        taken = encoder.encode([t.params for t in snapshot.completed + snapshot.pending])
        taken = taken.reshape(-1, encoder.d)
        if snapshot.settings.noisy:  # repeating a completed point can be worth it
            taken = taken[len(snapshot.completed) :]
        avoid = set(_keys(taken))
        order = np.argsort(-np.where(feasible.numpy(), y.numpy(), -np.inf), kind="stable")
        centers = X_hist.numpy()[order[: min(5, len(order))]]
        chosen: list[np.ndarray] = []
        n_scored, acq_name = 0, ""
        for i in range(n):
            X_ctx = torch.cat([X_hist, X_bel[-max_believers:]]) if len(X_bel) else X_hist
            Y_ctx = torch.cat([outputs, Y_bel[-max_believers:]]) if len(Y_bel) else outputs
            model = PFNModel(pfn, X_ctx, Y_ctx)
            score, acq_name = self._acquisition(model, outputs, feasible, X_bel, radius)
            X = np.concatenate(
                [
                    space.snap(_sobol_candidates(encoder.d, seed + i, cfg.n_candidates)),
                    space.around(centers, cfg.n_local, rng),
                ]
            )
            X, values = self._score_new(X, score, avoid)
            for _ in range(cfg.refine_rounds):
                top = X[np.argsort(-values)[: cfg.refine_top]]
                X_new = space.around(top, cfg.refine_top * cfg.refine_samples, rng)
                X_new, v_new = self._score_new(X_new, score, avoid)
                X, values = np.concatenate([X, X_new]), np.concatenate([values, v_new])
            n_scored += len(X)
            if not len(X):  # every candidate is taken: allow a repeat
                X = space.snap(_sobol_candidates(encoder.d, seed + i, cfg.n_candidates))
                values = score(torch.as_tensor(X, dtype=DTYPE)).numpy()
            x = X[int(np.argmax(values))][None, :]
            chosen.append(x)
            avoid.update(_keys(x))
            x_t = torch.as_tensor(x, dtype=DTYPE)
            X_bel = torch.cat([X_bel, x_t])
            Y_bel = torch.cat([Y_bel, self._mean(model, x_t)])
        info.update(
            acquisition=acq_name,
            model="PFN",
            checkpoint=cfg.checkpoint or "builtin",
            n_context=int(X_hist.shape[0]),
            candidates_scored=n_scored,
            acquisition_seconds=round(time.perf_counter() - t0, 4),
        )
        points = encoder.decode(np.concatenate(chosen))
        return Proposal(points, state=None, strategies=[self.name] * n, info=info)

    @staticmethod
    def _mean(model: PFNModel, X: Tensor) -> Tensor:
        """Posterior mean `k x (1 + c)` at `X` (`k x d`)."""
        return model.posterior(X.unsqueeze(0)).mean.squeeze(0).to(DTYPE)

    @staticmethod
    def _score_new(X: np.ndarray, score, avoid: set[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Drop rows of `X` that are taken or repeated, then score the rest."""
        seen: set[bytes] = set()
        keep = []
        for key in _keys(X):
            keep.append(key not in avoid and key not in seen)
            seen.add(key)
        X = X[np.array(keep, dtype=bool)] if len(X) else X
        if not len(X):
            return X, np.zeros(0)
        return X, score(torch.as_tensor(X, dtype=DTYPE)).numpy()

    @staticmethod
    def _acquisition(
        model: PFNModel, outputs: Tensor, feasible: Tensor, X_busy: Tensor, radius: float
    ):
        """The score function on `N x d` candidates and its name."""
        c = outputs.shape[-1] - 1
        thresholds = model.standardized(torch.zeros(1, c + 1, dtype=DTYPE))[0, 1:].float()
        best = None
        if bool(feasible.any()):
            best = float(model.standardized(outputs)[feasible, 0].max())
        log_bucket = None if best is None else model.bar.bucket_log_ei(best)
        name = "LogEI" if best is not None else "LogPF"
        if c and best is not None:
            name = "LogEI+LogPF"

        def score(X: Tensor) -> Tensor:
            logits = model.logits(X)  # (1 + c) x N x K
            value = torch.zeros(X.shape[0], device=logits.device)
            if best is not None:
                value = value + model.bar.log_ei(logits[0], best, log_bucket)
            for j in range(c):
                pf = model.bar.cdf(logits[1 + j], thresholds[j])
                value = value + torch.log(pf.clamp_min(1e-30))
            if len(X_busy) and radius > 0:
                d2 = torch.cdist(X.float(), X_busy.float()).pow(2).to(logits.device)
                near = torch.exp(-d2 / (2 * radius**2)).clamp_max(1 - 1e-6)
                value = value + torch.log1p(-near).sum(-1)
            return value.double().cpu()

        return score, name
