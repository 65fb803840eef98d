"""Uniform random search in the unit cube."""

from __future__ import annotations

from typing import Any

import numpy as np

from asktell.core.encoding import SpaceEncoder
from asktell.core.snapshots import StudySnapshot
from asktell.strategies.base import Proposal, Strategy
from asktell.strategies.registry import register_strategy


@register_strategy("random")
class RandomSearch(Strategy):
    description = "Uniform random points; no model, answers inline."
    inline = True
    needs_history = False
    stateful = False

    def suggest(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        encoder = SpaceEncoder(snapshot.space)
        rng = np.random.default_rng([snapshot.seed, snapshot.nonce])
        return Proposal(encoder.decode(rng.random((n, encoder.d))))
