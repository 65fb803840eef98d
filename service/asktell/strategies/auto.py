"""The default strategy: a short space-filling warm-up, then Bayesian optimization."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from asktell.core.encoding import SpaceEncoder
from asktell.core.snapshots import StudySnapshot, TrialRecord
from asktell.core.states import TrialState
from asktell.strategies._limits import MAX_MODEL_DIM
from asktell.strategies._model_based import ModelBasedStrategy, TrustRegion
from asktell.strategies.base import Proposal, Strategy, StrategyConfig
from asktell.strategies.bnn_selection import prequential_scores, select
from asktell.strategies.gp import GPConfig
from asktell.strategies.registry import get_strategy, register_strategy
from asktell.strategies.sobol import sobol_points

__all__ = ["Auto", "AutoConfig", "warmup_size"]

STATE_VERSION = 1
DEFAULT_WARMUP = 5
HIGH_DIM = "cma-es"  # what auto uses past MAX_MODEL_DIM encoded dimensions
# On the quality suite's 26 continuous problems (5 seeds) it beat the whole-space search in
# 78 of 130 paired runs; in d = 2-5 a side of 0.3 did about as well and a whole-space ask
# every third ask worse; with integers or categoricals it lost 7 of 10 (bench/RESULTS.md).
CONTINUOUS_TRUST_REGION = 0.2


class AutoConfig(StrategyConfig):
    """Options of `auto`."""

    init_trials: int | None = Field(
        default=None,
        ge=1,
        description="Warm-up size; default 5 (the center and 4 Sobol points), at most the budget.",
    )
    center_first: bool = Field(default=True, description="Make the first point the center.")
    gp: dict[str, Any] = Field(default_factory=dict, description="Options of the `gp` phase.")
    trust_region: TrustRegion = Field(
        default=CONTINUOUS_TRUST_REGION,
        description="In spaces of continuous parameters only, the `gp` phase searches a box of "
        "this side around the best feasible point (one objective; see `gp`'s option, which "
        "wins when given); a selected surrogate other than `gp` does in every space (its "
        "`surrogate_options` win); None: the whole space.",
    )

    select_surrogate: bool = Field(
        default=False,
        description="After the warm-up, use the candidate in `surrogates` with the best "
        "prequential predictive log-likelihood on the latest trials (instead of always `gp`).",
    )
    # The pair measured on the quality suite; `bnn-ensemble` and `dkl` lost to both on the
    # high-dimensional BNN problems and fit several times slower (bench/RESULTS.md).
    surrogates: list[str] = Field(
        default=["gp", "ibnn"],
        min_length=1,
        description="Model-based strategies `select_surrogate` chooses from (first wins ties).",
    )
    surrogate_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Options per candidate surrogate (`gp` also takes the `gp` options).",
    )
    selection_window: int = Field(
        default=5, ge=1, le=100, description="Latest completed trials each candidate predicts."
    )
    rescore_every: int = Field(
        default=10, ge=1, description="Re-score the candidates after this many new completions."
    )
    scoring_budget_sec: float = Field(
        default=30.0,
        gt=0,
        description="Approximate time for one scoring round; each of its fits gets an equal share.",
    )

    @field_validator("gp")
    @classmethod
    def _check_gp(cls, options: dict[str, Any]) -> dict[str, Any]:
        GPConfig(**options)
        return options

    @field_validator("surrogates")
    @classmethod
    def _check_surrogates(cls, names: list[str]) -> list[str]:
        for name in names:
            if not issubclass(get_strategy(name), ModelBasedStrategy):
                raise ValueError(f"{name!r} is not a model-based strategy")
        return names


def warmup_size(budget: int | None) -> int:
    """Ax's `Client` default of 5 warm-up points in any dimension, at most the budget.

    On the quality suite it ties the older `max(5, min(2 d, budget // 5))` on average rank
    and beats it in 55 of 100 paired runs in d = 4-10, mostly in d = 10 (bench/RESULTS.md)."""
    return min(DEFAULT_WARMUP, budget) if budget else DEFAULT_WARMUP


@register_strategy("auto")
class Auto(Strategy):
    """The default for new studies.

    Rules, in order:
    0. Past `MAX_MODEL_DIM` encoded dimensions (e.g. a long array parameter),
       every ask goes to `cma-es` instead; its state sits under `"cma-es"`.
    1. Warm-up: while the study has fewer than `init_trials` trials (completed,
       pending and failed all count), suggest space-filling points: the center
       of the space first (`center_first`), then the scrambled Sobol sequence
       indexed by the trial count, skipping points that repeat an existing one.
    2. Then `gp` (which itself returns Sobol points until two trials have
       completed with differing objective values, or if its model fails). In a
       space without integers and categoricals, with one objective, it searches
       a box of side `trust_region` around the best feasible point.
       With `select_surrogate`, the model-based strategy among `surrogates`
       whose fits best predicted the latest `selection_window` completed
       trials (each from the trials before it) is used instead (a network
       searching the `trust_region` box in every space); the scores are
       recomputed every `rescore_every` completions and are reported in
       `Proposal.info["surrogate_scores"]` and kept in the state.
    A batch that straddles the end of the warm-up gets warm-up points first;
    the GP sees them as pending.

    `Proposal.strategies` names, per point, what produced it (`sobol` or `gp`).
    The state carries the GP's cached hyperparameters under `"gp"` (and each
    selected surrogate's state under its name), the last selection under
    `"surrogate"`: `{"name", "scores", "n_completed"}`.
    """

    description = "Default: a Sobol warm-up (center first), then GP Bayesian optimization."
    inline = False
    Config = AutoConfig
    config: AutoConfig

    def check(self, snapshot: StudySnapshot) -> None:
        d = SpaceEncoder(snapshot.space).d
        if d <= MAX_MODEL_DIM:
            return
        try:
            get_strategy(HIGH_DIM)({}, device=self.device).check(snapshot)
        except ValueError as exc:
            raise ValueError(
                f"auto: {d} encoded dimensions are past what gp takes ({MAX_MODEL_DIM}), and "
                f"{HIGH_DIM}, which auto uses there, cannot serve this study: {exc}"
            ) from None

    def suggest(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        encoder = SpaceEncoder(snapshot.space)
        if encoder.d > MAX_MODEL_DIM:
            return self._high_dim(snapshot, n, state)
        n_init = self.config.init_trials or warmup_size(snapshot.settings.budget)
        k = min(n, max(0, n_init - snapshot.n_trials))
        state = state if state and state.get("version") == STATE_VERSION else None
        inner_state = (state or {}).get("gp")
        info: dict[str, Any] = {"init_trials": n_init}
        warm = self._warmup(snapshot, encoder, k)
        if k == n:
            info["phase"] = "warm-up"
            return Proposal(warm, state=state, strategies=["sobol"] * n, info=info)
        extra = [
            TrialRecord(id=-1 - j, state=TrialState.pending, params=p) for j, p in enumerate(warm)
        ]
        inner = replace(snapshot, pending=[*snapshot.pending, *extra])
        new_state: dict[str, Any] = {"version": STATE_VERSION}
        name = "gp"
        if self.config.select_surrogate:
            selection = self._selection(snapshot, state)
            name = selection["name"]
            new_state.update({key: v for key, v in (state or {}).items() if key != "version"})
            new_state["surrogate"] = selection
            info["surrogate"], info["surrogate_scores"] = name, selection["scores"]
            inner_state = (state or {}).get(name)
        continuous = not (encoder.integer_dims or encoder.categorical_dims)
        model = self._model_based(name, continuous=continuous)
        proposal = model.suggest(inner, n - k, inner_state)
        info.update(proposal.info)
        info["phase"] = name
        new_state[name] = proposal.state
        return Proposal(
            warm + proposal.points,
            state=new_state,
            strategies=["sobol"] * k + list(proposal.strategies or [name] * (n - k)),
            info=info,
        )

    def _high_dim(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        """Past gp's dimension limit, auto is cma-es (separable above 100 dimensions)."""
        state = state if state and state.get("version") == STATE_VERSION else None
        proposal = get_strategy(HIGH_DIM)({}, device=self.device).suggest(
            snapshot, n, (state or {}).get(HIGH_DIM)
        )
        return Proposal(
            proposal.points,
            state={"version": STATE_VERSION, HIGH_DIM: proposal.state},
            strategies=[HIGH_DIM] * len(proposal.points),
            info={**proposal.info, "phase": HIGH_DIM},
        )

    def surrogate(self, state: dict[str, Any] | None) -> tuple[ModelBasedStrategy, dict | None]:
        """The model-based strategy asks use after the warm-up, with its part of `state`."""
        state = state if state and state.get("version") == STATE_VERSION else None
        name = "gp"
        if self.config.select_surrogate:
            name = ((state or {}).get("surrogate") or {}).get("name", self.config.surrogates[0])
        return self._model_based(name), (state or {}).get(name)

    def _model_based(
        self, name: str, fit_budget: float | None = None, continuous: bool = False
    ) -> ModelBasedStrategy:
        """The strategy `name` with its options (its fit time capped by `fit_budget`;
        searching in `trust_region`: `gp` when the space is `continuous`, the others always)."""
        options = dict(self.config.surrogate_options.get(name, {}))
        fields = get_strategy(name).Config.model_fields
        if name == "gp":
            trust = {"trust_region": self.config.trust_region} if continuous else {}
            options = {**trust, **self.config.gp, **options}
            if fit_budget is not None:
                options["fit_timeout_sec"] = fit_budget
        else:
            if "trust_region" in fields:
                options = {"trust_region": self.config.trust_region, **options}
            if fit_budget is not None and "time_budget_sec" in fields:
                share = options.get("fit_share", 0.6)
                options["time_budget_sec"] = fit_budget / share
        return get_strategy(name)(options, device=self.device)  # type: ignore[return-value]

    def _selection(self, snapshot: StudySnapshot, state: dict[str, Any] | None) -> dict[str, Any]:
        """The cached selection while it is fresh, else a new scoring round."""
        cfg = self.config
        last = (state or {}).get("surrogate")
        n_done = len(snapshot.completed)
        if len(cfg.surrogates) == 1:  # nothing to choose between: no scoring round
            return {"name": cfg.surrogates[0], "scores": {}, "n_completed": n_done}
        if (
            last
            and set(last.get("scores", {})) == set(cfg.surrogates)
            and 0 <= n_done - last.get("n_completed", -(10**9)) < cfg.rescore_every
        ):
            return last
        per_fit = cfg.scoring_budget_sec / (cfg.selection_window * len(cfg.surrogates))
        candidates = {name: self._model_based(name, per_fit) for name in cfg.surrogates}
        scores = prequential_scores(snapshot, candidates, cfg.selection_window)
        if not scores:  # too few trials to score: stay with the first candidate
            return {"name": cfg.surrogates[0], "scores": {}, "n_completed": n_done}
        return {"name": select(scores, cfg.surrogates[0]), "scores": scores, "n_completed": n_done}

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
