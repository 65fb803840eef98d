"""The default strategy: a short space-filling warm-up, then Bayesian optimization."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from asktell.core.encoding import SpaceEncoder
from asktell.core.snapshots import StudySnapshot, TrialRecord
from asktell.core.states import TrialState
from asktell.strategies.base import Proposal, Strategy, StrategyConfig
from asktell.strategies.gp import GP, GPConfig
from asktell.strategies.registry import register_strategy
from asktell.strategies.sobol import sobol_points

__all__ = ["Auto", "AutoConfig", "warmup_size"]

STATE_VERSION = 1
MAX_DEFAULT_WARMUP = 20


class AutoConfig(StrategyConfig):
    """Options of `auto`."""

    init_trials: int | None = Field(
        default=None,
        ge=1,
        description="Warm-up size; default max(5, min(2 d, budget // 5 or 20)).",
    )
    center_first: bool = Field(default=True, description="Make the first point the center.")
    gp: dict[str, Any] = Field(default_factory=dict, description="Options of the `gp` phase.")

    @field_validator("gp")
    @classmethod
    def _check_gp(cls, options: dict[str, Any]) -> dict[str, Any]:
        GPConfig(**options)
        return options


def warmup_size(d: int, budget: int | None) -> int:
    """Ax's rule `max(5, min(2 d, budget // 5))`, with 20 standing in for `budget // 5`
    when the study has no budget."""
    cap = budget // 5 if budget else MAX_DEFAULT_WARMUP
    return max(5, min(2 * d, cap))


@register_strategy("auto")
class Auto(Strategy):
    """The default for new studies.

    Rules, in order:
    1. Warm-up: while the study has fewer than `init_trials` trials (completed,
       pending and failed all count), suggest space-filling points: the center
       of the space first (`center_first`), then the scrambled Sobol sequence
       indexed by the trial count, skipping points that repeat an existing one.
    2. Then `gp` (which itself returns Sobol points until two trials have
       completed with differing objective values, or if its model fails).
    A batch that straddles the end of the warm-up gets warm-up points first;
    the GP sees them as pending.

    `Proposal.strategies` names, per point, what produced it (`sobol` or `gp`).
    The state carries the GP's cached hyperparameters under `"gp"`.
    """

    description = "Default: a Sobol warm-up (center first), then GP Bayesian optimization."
    inline = False
    Config = AutoConfig
    config: AutoConfig

    def suggest(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        encoder = SpaceEncoder(snapshot.space)
        n_init = self.config.init_trials or warmup_size(encoder.d, snapshot.settings.budget)
        k = min(n, max(0, n_init - snapshot.n_trials))
        state = state if state and state.get("version") == STATE_VERSION else None
        gp_state = (state or {}).get("gp")
        info: dict[str, Any] = {"init_trials": n_init}
        warm = self._warmup(snapshot, encoder, k)
        if k == n:
            info["phase"] = "warm-up"
            return Proposal(warm, state=state, strategies=["sobol"] * n, info=info)
        extra = [
            TrialRecord(id=-1 - j, state=TrialState.pending, params=p) for j, p in enumerate(warm)
        ]
        inner = replace(snapshot, pending=[*snapshot.pending, *extra])
        gp = GP(self.config.gp, device=self.device)
        proposal = gp.suggest(inner, n - k, gp_state)
        info.update(proposal.info)
        info["phase"] = "gp"
        return Proposal(
            warm + proposal.points,
            state={"version": STATE_VERSION, "gp": proposal.state},
            strategies=["sobol"] * k + list(proposal.strategies or ["gp"] * (n - k)),
            info=info,
        )

    def _warmup(self, snapshot: StudySnapshot, encoder: SpaceEncoder, k: int) -> list[dict]:
        """`k` warm-up points, continuing the sequence at the study's trial count."""
        if k == 0:
            return []
        d = encoder.d
        existing = snapshot.completed + snapshot.pending + snapshot.failed
        taken = {_key(encoder, t.params) for t in existing}
        index = snapshot.n_trials
        candidates = []
        if self.config.center_first:
            if index == 0:
                candidates.append(np.full((1, d), 0.5))
            index = max(index - 1, 0)
        candidates.append(sobol_points(d, snapshot.seed, index, 16 * k))
        points = encoder.decode(np.concatenate(candidates))
        chosen: list[dict] = []
        for point in points:
            key = _key(encoder, point)
            if key not in taken:
                taken.add(key)
                chosen.append(point)
            if len(chosen) == k:
                return chosen
        return chosen + points[: k - len(chosen)]  # a tiny space: repeats are unavoidable


def _key(encoder: SpaceEncoder, params: dict) -> tuple:
    X = encoder.round(encoder.encode([params]).reshape(1, encoder.d))
    return tuple(np.round(X[0], 9))
