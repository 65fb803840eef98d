"""Scrambled Sobol points (scipy.stats.qmc), continuing the sequence across asks."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import qmc

from asktell.core.encoding import SpaceEncoder
from asktell.core.snapshots import StudySnapshot
from asktell.strategies.base import Proposal, Strategy
from asktell.strategies.registry import register_strategy

STATE_VERSION = 1
MAX_DIM = 21201  # scipy's Sobol direction numbers stop here


def sobol_points(d: int, seed: int, start: int, n: int) -> np.ndarray:
    """Points `start .. start+n-1` of the scrambled Sobol sequence in [0, 1]^d."""
    if d == 0:
        return np.zeros((n, 0))
    engine = qmc.Sobol(d, scramble=True, seed=seed)
    if start:
        engine.fast_forward(start)
    return engine.random(n)


@register_strategy("sobol")
class Sobol(Strategy):
    description = "Scrambled Sobol quasi-random points that fill the space evenly; answers inline."
    inline = True
    needs_history = False

    def check(self, snapshot: StudySnapshot) -> None:
        d = SpaceEncoder(snapshot.space).d
        if d > MAX_DIM:
            raise ValueError(
                f"sobol takes at most {MAX_DIM} encoded dimensions; this space has {d} (use random)"
            )

    def suggest(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        encoder = SpaceEncoder(snapshot.space)
        start = int((state or {}).get("next_index", 0))
        X = sobol_points(encoder.d, snapshot.seed, start, n)
        return Proposal(
            encoder.decode(X), state={"version": STATE_VERSION, "next_index": start + n}
        )
