"""Choosing a surrogate by prequential predictive log-likelihood on the study's own trials.

For each of the last `window` usable completed trials (in id order), every
candidate surrogate is fit on the completed trials before it and scored by
the log density of that trial's objective values under its predictive
distribution (Gaussian with the model's predictive mean and variance,
observation noise included). The fits see the candidate's outcome transforms
(`ModelBasedStrategy.fit_outcomes`), as its asks would, and the held-out value
is scored in the same transformed units: the transforms are computed on the
prefix together with the held-out trial (which they see, as every candidate
does), the fit uses the prefix rows only. Candidates with the same outcome
options (the defaults) are scored on the same values; without an objective
warp or winsorizing those are the raw ones. A candidate's score is the mean
over the window; a fit that fails scores `None` and is never chosen.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import torch
from botorch.utils.sampling import manual_seed

from asktell.core.encoding import SpaceEncoder
from asktell.core.snapshots import StudySnapshot
from asktell.strategies._model_based import ModelBasedStrategy, ask_seed, training_data
from asktell.surrogates.bnn import predict

__all__ = ["MIN_TRAIN", "prequential_scores", "select"]

logger = logging.getLogger(__name__)

MIN_TRAIN = 4
"""Fewest completed trials a prefix needs before its successor is scored."""


def _log_density(y: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> float:
    var = var.clamp_min(1e-12)
    return float((-0.5 * ((y - mean) ** 2 / var + var.log() + math.log(2 * math.pi))).sum())


def prequential_scores(
    snapshot: StudySnapshot, candidates: dict[str, ModelBasedStrategy], window: int
) -> dict[str, float | None]:
    """Mean held-out log-likelihood per candidate (see the module docstring).

    Returns:
        Candidate name → score (`None` when a fit failed); empty when the study has
        fewer than `MIN_TRAIN + 1` usable completed trials.
    """
    encoder = SpaceEncoder(snapshot.space)
    base = replace(snapshot, pending=[], failed=[])
    data = training_data(base, encoder)
    m = data.Y.shape[-1]
    start = max(MIN_TRAIN, data.X.shape[0] - window)
    held_out = range(start, data.X.shape[0])
    if not len(held_out):
        return {}
    cat_dims = sorted(encoder.categorical_dims)
    scores: dict[str, float | None] = {}
    for name, strategy in candidates.items():
        total = 0.0
        try:
            for j in held_out:
                upto = replace(data, X=data.X[: j + 1], Y=data.Y[: j + 1], C=data.C[: j + 1])
                upto = strategy.fit_outcomes(upto, snapshot)
                prefix = replace(upto, X=upto.X[:j], Y=upto.Y[:j], C=upto.C[:j])
                with manual_seed(ask_seed(snapshot) + j), strategy.context():
                    fitted = strategy.fit(
                        prefix, cat_dims=cat_dims, noisy=snapshot.settings.noisy, state=None
                    )
                    mean, var = predict(fitted.model, data.X[j : j + 1])
                total += _log_density(upto.Y[j, :m], mean[0, :m], var[0, :m])
            scores[name] = round(total / len(held_out), 6)
        except Exception:  # a failing candidate is not chosen, the ask goes on
            logger.warning("surrogate %s failed while scoring", name, exc_info=True)
            scores[name] = None
    return scores


def select(scores: dict[str, float | None], default: str) -> str:
    """The best-scoring candidate (the first on ties), or `default` without scores."""
    valid = {k: v for k, v in scores.items() if v is not None and math.isfinite(v)}
    return max(valid, key=lambda k: valid[k]) if valid else default
