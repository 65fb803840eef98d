"""The pipeline every model-based strategy shares.

encode trials → transform outcomes (see `_outcomes`: by default, the objective of a
one-objective study through a Yeo-Johnson warp and constraint slacks through bilog;
objectives winsorized on request) → fit a surrogate (a BoTorch `Model`) →
build an acquisition function that sees the pending points → optimize it in the unit
cube → snap discrete dimensions → decode. A subclass supplies `fit` (and, if it needs
solver settings, `context`); everything else is shared.

Acquisition, by study shape (all outcomes are maximized, constraint slacks
`<= 0` are feasible):
- no completed point is feasible yet, or (two to four objectives) none beats every
  given threshold: `qLogProbabilityOfFeasibility` of getting there (`unreached_box`);
- one objective: `qLogNoisyExpectedImprovement`; with `analytic_ei` on (the `gp`
  default), a study that is not `noisy`, has no constraints and no pending points
  (for a batch: only its first point) uses the analytic `LogExpectedImprovement`
  over the best observed value instead, which needs no joint posterior over the
  baseline and no MC samples (several times cheaper per evaluation);
- two to four objectives: `qLogNoisyExpectedHypervolumeImprovement`, with the
  reference point from the objectives' `threshold`s, else inferred;
- more: `qLogNParEGO`.

The improvement baseline is the observed points that may still be the best
(at most `max_baseline`). A batch of `n` is chosen greedily: each chosen point
joins `X_pending` for the next. Points are not repeated: a candidate that
snaps onto a pending, completed (unless the study is noisy) or already chosen
point is replaced by the best unused quasi-random point. Too little data
(fewer than `min_completed` trials or constant objectives) or a failing fit
falls back to Sobol points, recorded per point in `Proposal.strategies`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import time
from abc import abstractmethod
from dataclasses import dataclass, replace
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import AnalyticAcquisitionFunction
from botorch.acquisition.logei import qLogNoisyExpectedImprovement, qLogProbabilityOfFeasibility
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.acquisition.multi_objective.parego import qLogNParEGO
from botorch.acquisition.multi_objective.utils import prune_inferior_points_multi_objective
from botorch.acquisition.objective import GenericMCObjective
from botorch.acquisition.utils import prune_inferior_points
from botorch.models.model import Model
from botorch.optim import (
    optimize_acqf,
    optimize_acqf_discrete,
    optimize_acqf_mixed,
    optimize_acqf_mixed_alternating,
)
from botorch.optim.optimize_mixed import ALTERNATING_OPTIMIZER_THRESHOLD
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.multi_objective.hypervolume import infer_reference_point
from botorch.utils.multi_objective.pareto import is_non_dominated
from botorch.utils.sampling import manual_seed
from pydantic import Field
from torch import Tensor

from asktell.core.encoding import SpaceEncoder
from asktell.core.snapshots import StudySnapshot, TrialRecord
from asktell.strategies import _explain as ex
from asktell.strategies._limits import MAX_MODEL_DIM, check_dimension
from asktell.strategies._outcomes import OBJECTIVE_WARPS, bilog, winsorize
from asktell.strategies.base import Proposal, Strategy, StrategyConfig
from asktell.strategies.sobol import sobol_points
from asktell.surrogates.cached_gp import CachedLogExpectedImprovement
from asktell_client.types import Direction

__all__ = [
    "FitResult",
    "ModelBasedConfig",
    "ModelBasedStrategy",
    "TrainingData",
    "TrustRegion",
    "analytic_ei_applies",
    "ask_seed",
    "baseline",
    "build_acquisition",
    "select_history",
    "sobol_fallback",
    "too_little_data",
    "training_data",
]

logger = logging.getLogger(__name__)

DTYPE = torch.double
FALLBACK = "sobol"
PRESELECT = 4
PRUNE_SAMPLES = 512


TrustRegion = Annotated[
    float | None,
    Field(
        gt=0,
        le=1,
        description="Side (in unit-cube units) of the box around the best feasible point that "
        "continuous parameters of candidates are searched in, for one objective; None or 1: "
        "the whole space.",
    ),
]


class ModelBasedConfig(StrategyConfig):
    """Options shared by every model-based strategy."""

    trust_region: TrustRegion = None

    num_restarts: int = Field(default=4, ge=1, le=128, description="L-BFGS-B starts per point.")
    raw_samples: int = Field(
        default=256, ge=8, le=16384, description="Quasi-random points scored to pick the starts."
    )
    maxiter: int = Field(default=100, ge=1, le=10_000, description="L-BFGS-B iterations per start.")
    sample_around_best: bool = Field(
        default=False,
        description="Also score perturbations of the best observed points when picking the "
        "L-BFGS-B starts (BoTorch's `sample_around_best`).",
    )
    mc_samples: int = Field(
        default=64, ge=8, le=4096, description="QMC samples of the MC acquisition function."
    )
    max_history: int = Field(
        default=1000,
        ge=10,
        description="Fit on at most this many completed trials (best ones plus a random rest).",
    )
    min_completed: int = Field(
        default=2, ge=1, description="Below this many completed trials, suggest Sobol points."
    )
    timeout_sec: float = Field(
        default=10.0,
        gt=0,
        description="Time budget of the acquisition optimization per ask (not enforced by "
        "BoTorch's alternating mixed optimizer, nor for analytic EI, optimized by BoTorch's "
        "batched L-BFGS-B; both run a bounded number of steps).",
    )
    max_baseline: int = Field(
        default=128,
        ge=1,
        description="Keep at most this many observed points (those most likely to be the best) "
        "as the improvement baseline.",
    )
    max_enumerate: int = Field(
        default=2048,
        ge=0,
        description="Fully discrete spaces up to this size are scored exhaustively.",
    )
    mixed_restarts: int = Field(
        default=20,
        ge=1,
        le=128,
        description="Starts of BoTorch's alternating optimizer, used when the discrete "
        "parameters have too many combinations to enumerate: its discrete neighbour moves "
        "are local, so it needs more starts than L-BFGS-B (`num_restarts`).",
    )
    mixed_raw_samples: int = Field(
        default=1024,
        ge=8,
        le=16384,
        description="Quasi-random points scored to pick the alternating optimizer's starts.",
    )
    analytic_ei: bool = Field(
        default=False,
        description="For one objective without constraints, pending points or noise, "
        "maximize analytic log expected improvement over the best observed value instead "
        "of the MC noisy version.",
    )
    ei_incumbent: Literal["observed", "posterior_mean"] = Field(
        default="observed",
        description="What analytic log-EI improves on: the best observed value, or the best "
        "posterior mean at the observed points (closer to what the noisy version does).",
    )
    winsorize: bool = Field(
        default=False,
        description="Fit on objectives winsorized from below at Tukey's fence, as Ax does "
        "(see `_outcomes`).",
    )
    objective_warp: Literal["none", "yeo-johnson", "half-rank"] = Field(
        default="yeo-johnson",
        description="Warp the objective of a one-objective study before the fit: a "
        "Yeo-Johnson power transform as HEBO does (the default), OSS Vizier's half-rank "
        "and log warp, or none (see `_outcomes`).",
    )
    bilog_constraints: bool = Field(
        default=True,
        description="Fit on constraint slacks through sign(s) log(1 + |s|), as Ax does "
        "(see `_outcomes`).",
    )


@dataclass(frozen=True)
class TrainingData:
    """Completed trials in the unit cube, ready for a surrogate.

    Attributes:
        X: A `n x d` tensor of inputs in [0, 1]^d.
        Y: A `n x m` tensor of objectives, signed so that larger is better.
        C: A `n x c` tensor of constraint slacks; `<= 0` is feasible.
        X_pending: A `p x d` tensor of points out for evaluation.
    """

    X: Tensor
    Y: Tensor
    C: Tensor
    X_pending: Tensor

    @property
    def train_Y(self) -> Tensor:
        """`n x (m + c)`: the outputs the surrogate models, objectives first."""
        return torch.cat([self.Y, self.C], dim=-1)

    @property
    def feasible(self) -> Tensor:
        """`n`-dim bool tensor: all constraints satisfied."""
        return (self.C <= 0).all(dim=-1)


@dataclass(frozen=True)
class _Prepared:
    """A snapshot encoded for fitting: all usable trials, the ones to fit on, and whether
    there are too few (`reason`)."""

    encoder: SpaceEncoder
    seed: int
    data: TrainingData
    fit_data: TrainingData
    fit_raw_Y: Tensor  # `fit_data`'s objectives before the outcome transforms
    info: dict[str, Any]
    reason: str | None


@dataclass
class FitResult:
    """A fitted surrogate, the state to keep for the next ask and what to report.

    `acquisition_model`, when set, stands in for `model` while the acquisition function
    is optimized (same predictions, cheaper posteriors).
    """

    model: Model
    state: dict[str, Any] | None = None
    info: dict[str, Any] | None = None
    acquisition_model: Model | None = None


def ask_seed(snapshot: StudySnapshot) -> int:
    """A seed that is the same for the same snapshot and moves on as trials are added."""
    return (snapshot.seed * 1_000_003 + snapshot.n_trials) % (2**31 - 1)


def _usable(snapshot: StudySnapshot) -> list[TrialRecord]:
    """Completed trials that carry a finite value for every objective and constraint."""
    names = [o.name for o in snapshot.objectives] + [c.name for c in snapshot.constraints]
    out = []
    for t in snapshot.completed:
        values = t.values or {}
        if all(k in values and math.isfinite(values[k]) for k in names):
            out.append(t)
    return out


def training_data(
    snapshot: StudySnapshot, encoder: SpaceEncoder, device: str | torch.device = "cpu"
) -> TrainingData:
    """Encode the usable completed trials and the pending ones; failed trials are left out."""
    usable = replace(snapshot, completed=_usable(snapshot))
    tensor = {"dtype": DTYPE, "device": device}
    X = encoder.encode([t.params for t in usable.completed]).reshape(-1, encoder.d)
    X_pending = encoder.encode([t.params for t in snapshot.pending]).reshape(-1, encoder.d)
    return TrainingData(
        X=torch.as_tensor(X, **tensor),
        Y=torch.as_tensor(usable.objective_matrix(maximize=True), **tensor),
        C=torch.as_tensor(usable.constraint_matrix(), **tensor),
        X_pending=torch.as_tensor(X_pending, **tensor),
    )


def _ranking(data: TrainingData) -> np.ndarray:
    """Training indices from best to worst: feasible first, then by objective
    (one objective) or non-dominated first (several)."""
    n = data.X.shape[0]
    Y, feasible = data.Y.cpu(), data.feasible.cpu()
    if Y.shape[-1] == 1:
        score = Y[:, 0].clone()
        score[~feasible] = -math.inf
        return torch.argsort(score, descending=True, stable=True).numpy()
    front = torch.zeros(n, dtype=torch.bool)
    if feasible.any():
        front[feasible] = is_non_dominated(Y[feasible])
    return np.concatenate([np.flatnonzero(front.numpy()), np.flatnonzero(~front.numpy())])


def select_history(data: TrainingData, cap: int, seed: int) -> np.ndarray:
    """Indices of at most `cap` training points: the best quarter, then a random rest."""
    n = data.X.shape[0]
    if n <= cap:
        return np.arange(n)
    best = _ranking(data)[: cap // 4]
    rest = np.setdiff1d(np.arange(n), best)
    rng = np.random.default_rng(seed)
    picked = rng.choice(rest, size=cap - len(best), replace=False)
    return np.sort(np.concatenate([best, picked]))


def _column(j: int):
    def pick(Z: Tensor, X: Tensor | None = None) -> Tensor:
        return Z[..., j]

    return pick


def _short_of(j: int, ref: float):
    """Constraint form (`<= 0` met) of "output `j` beats `ref`" (maximization signs)."""

    def shortfall(Z: Tensor, X: Tensor | None = None) -> Tensor:
        return ref - Z[..., j]

    return shortfall


def signed_thresholds(snapshot: StudySnapshot) -> list[float | None]:
    """Each objective's threshold in the maximized sign, None where it has none."""
    return [
        None
        if o.threshold is None
        else o.threshold
        if o.direction == Direction.maximize
        else -o.threshold
        for o in snapshot.objectives
    ]


def reference_point(snapshot: StudySnapshot, Y: Tensor, feasible: Tensor) -> Tensor:
    """Hypervolume reference point (maximization signs): thresholds where given, else inferred."""
    Y_ok = Y[feasible] if feasible.any() else Y
    ref = infer_reference_point(Y_ok[is_non_dominated(Y_ok)])
    for i, t in enumerate(signed_thresholds(snapshot)):
        if t is not None:
            ref[i] = t
    return ref


def _objective(m: int, c: int) -> GenericMCObjective | IdentityMCMultiOutputObjective | None:
    if m > 1:
        return IdentityMCMultiOutputObjective(outcomes=list(range(m)))
    return GenericMCObjective(_column(0)) if c else None


def unreached_box(data: TrainingData, snapshot: StudySnapshot) -> list | None:
    """The constraints (`<= 0` met) to reach before improving makes sense, or None.

    That is the outcome constraints while no completed point meets them, and, for two
    to four objectives with thresholds, those thresholds too while no feasible point
    beats them all: there every improvement is about zero, so the acquisition is the
    probability of reaching the box.
    """
    m, c = data.Y.shape[-1], data.C.shape[-1]
    constraints = [_column(m + j) for j in range(c)]
    if c and not data.feasible.any():
        return constraints
    given = [(i, t) for i, t in enumerate(signed_thresholds(snapshot)) if t is not None]
    if not 1 < m <= 4 or not given:
        return None
    i, t = (list(v) for v in zip(*given, strict=True))
    if bool((data.Y[data.feasible][:, i] > torch.as_tensor(t).to(data.Y)).all(-1).any()):
        return None
    return [*constraints, *(_short_of(j, tj) for j, tj in given)]


def baseline(model: Model, data: TrainingData, snapshot: StudySnapshot, max_points: int) -> Tensor:
    """The observed points that may still be the best (`b x d`, `b <= max_points`).

    Points that are never the best (single objective) or never on the Pareto
    front (two to four objectives) in posterior samples are dropped, then the
    most promising `max_points` are kept. Large histories are first cut to the
    `PRESELECT * max_points` best observed points.
    """
    X, (m, c) = data.X, (data.Y.shape[-1], data.C.shape[-1])
    if m > 4 or unreached_box(data, snapshot) is not None:  # ParEGO prunes itself; PoF needs none
        return X
    if X.shape[0] > PRESELECT * max_points:  # sampling a joint posterior over all is O(n^3)
        keep = np.sort(_ranking(data)[: PRESELECT * max_points])
        X = X[torch.as_tensor(keep, device=X.device)]
    constraints = [_column(m + j) for j in range(c)] or None
    max_frac = min(1.0, max_points / X.shape[0])
    common = {"objective": _objective(m, c), "constraints": constraints, "max_frac": max_frac}
    if m == 1:
        return prune_inferior_points(model, X, num_samples=PRUNE_SAMPLES, **common)
    ref_point = reference_point(snapshot, data.Y, data.feasible)
    return prune_inferior_points_multi_objective(
        model, X, ref_point=ref_point, num_samples=PRUNE_SAMPLES, **common
    )


def analytic_ei_applies(
    data: TrainingData, snapshot: StudySnapshot, X_pending: Tensor | None
) -> bool:
    """One objective, no constraints, no pending points and a study that is not noisy."""
    m, c = data.Y.shape[-1], data.C.shape[-1]
    return m == 1 and not c and X_pending is None and not snapshot.settings.noisy


def build_acquisition(
    model: Model,
    data: TrainingData,
    snapshot: StudySnapshot,
    X_baseline: Tensor | None,
    X_pending: Tensor | None,
    sampler: SobolQMCNormalSampler,
    analytic_ei: bool = False,
    ei_incumbent: str = "observed",
) -> tuple[AcquisitionFunction, str]:
    """The acquisition function for this study's shape (see the module docstring).

    Args:
        model: A surrogate with `m + c` outputs, objectives first.
        data: The training data the model was fit on.
        snapshot: The study, for objective directions and thresholds.
        X_baseline: A `b x d` tensor of observed points to improve on (see `baseline`);
            only None where the analytic `LogExpectedImprovement` is used.
        X_pending: A `p x d` tensor of points out for evaluation, or None.
        sampler: The MC sampler.
        analytic_ei: Allow the analytic `LogExpectedImprovement` where it applies.
        ei_incumbent: Its `best_f`: the best `observed` value or the best `posterior_mean`
            at the observed points.

    Returns:
        The acquisition function and its class name.
    """
    m, c = data.Y.shape[-1], data.C.shape[-1]
    constraints = [_column(m + j) for j in range(c)] or None
    common = {
        "sampler": sampler,
        "objective": _objective(m, c),
        "constraints": constraints,
        "X_pending": X_pending,
    }
    box = unreached_box(data, snapshot)
    if box is not None:
        common.pop("objective")
        acq = qLogProbabilityOfFeasibility(model, **{**common, "constraints": box})
    elif analytic_ei and analytic_ei_applies(data, snapshot, X_pending):
        best_f = _incumbent(model, data, ei_incumbent)
        return CachedLogExpectedImprovement(model, best_f=best_f), "LogExpectedImprovement"
    elif m == 1:
        acq = qLogNoisyExpectedImprovement(
            model, X_baseline=X_baseline, prune_baseline=False, **common
        )
    elif m <= 4:
        ref_point = reference_point(snapshot, data.Y, data.feasible)
        acq = qLogNoisyExpectedHypervolumeImprovement(
            model, ref_point=ref_point, X_baseline=X_baseline, prune_baseline=False, **common
        )
    else:
        acq = qLogNParEGO(model, X_baseline=X_baseline, prune_baseline=True, **common)
    return acq, type(acq).__name__


def _incumbent(model: Model, data: TrainingData, kind: str) -> Tensor:
    """The value analytic EI improves on (see `ModelBasedConfig.ei_incumbent`)."""
    if kind == "posterior_mean":
        with torch.no_grad():
            return model.posterior(data.X).mean[:, 0].max()
    return data.Y[:, 0].max()


class _CubeOptimizer:
    """Maximizes an acquisition function over the encoded space, one point at a time.

    Picks, like Ax: `optimize_acqf` when every dimension is continuous; exhaustive
    scoring for small fully discrete spaces; `optimize_acqf_mixed` when the
    discrete dimensions have few combinations; `optimize_acqf_mixed_alternating`
    otherwise. Dimensions with one allowed value are fixed.
    """

    def __init__(self, encoder: SpaceEncoder, config: ModelBasedConfig, device: str):
        d = encoder.d
        self.config = config
        self.tkw = {"dtype": DTYPE, "device": device}
        lower, upper = [0.0] * d, [1.0] * d
        self.fixed: dict[int, float] = {}
        self.discrete: dict[int, list[float]] = {}
        self.categorical: dict[int, list[float]] = {}
        for target, dims in (
            (self.discrete, encoder.integer_dims),
            (self.categorical, encoder.categorical_dims),
        ):
            for i, values in dims.items():
                lower[i], upper[i] = min(values), max(values)
                if len(values) == 1:
                    self.fixed[i] = values[0]
                else:
                    target[i] = values
        self.bounds = torch.tensor([lower, upper], **self.tkw)
        self.restricted: Tensor | None = None  # dimensions cut by `restrict`
        grids = {**self.discrete, **self.categorical}
        combos = math.prod(len(v) for v in grids.values())
        all_discrete = len(grids) + len(self.fixed) == d
        self.choices: Tensor | None = None
        if not grids:
            self.mode = "optimize_acqf"
        elif all_discrete and combos <= config.max_enumerate:
            self.mode = "optimize_acqf_discrete"
            full = {**grids, **{i: [v] for i, v in self.fixed.items()}}
            rows = list(itertools.product(*(full[i] for i in range(d))))
            self.choices = torch.tensor(rows, **self.tkw).reshape(-1, d)
        elif combos <= ALTERNATING_OPTIMIZER_THRESHOLD:
            self.mode = "optimize_acqf_mixed"
            keys = list(grids)
            self.fixed_features_list = [
                {**self.fixed, **dict(zip(keys, combo, strict=True))}
                for combo in itertools.product(*(grids[k] for k in keys))
            ]
        else:
            self.mode = "optimize_acqf_mixed_alternating"

    def restrict(self, center: Tensor, side: float) -> None:
        """Search the continuous dimensions only within the box of side `side` centred
        on `center` (`d`), cut to the unit cube; discrete and fixed dimensions keep
        their full range."""
        d = self.bounds.shape[-1]
        skip = {*self.discrete, *self.categorical, *self.fixed}
        free = torch.tensor([i for i in range(d) if i not in skip], dtype=torch.long)
        if not len(free):
            return
        c = center.to(self.bounds)[free]
        self.bounds[0, free] = (c - side / 2).clamp(0.0, 1.0)
        self.bounds[1, free] = (c + side / 2).clamp(0.0, 1.0)
        self.restricted = free

    def __call__(
        self, acq: AcquisitionFunction, timeout_sec: float | None, X_avoid: Tensor
    ) -> Tensor:
        """One `1 x d` candidate; `X_avoid` (`k x d`) is skipped where the optimizer can."""
        cfg = self.config
        common = {"num_restarts": cfg.num_restarts, "raw_samples": cfg.raw_samples}
        options = {"maxiter": cfg.maxiter, "sample_around_best": cfg.sample_around_best}
        if isinstance(acq, AnalyticAcquisitionFunction):
            # BoTorch optimizes the starts as one summed problem when given a timeout,
            # where a start with a steep log-EI drags the others to the bounds; without
            # one, it runs an independent, batched L-BFGS-B per start.
            timeout_sec = None
        if self.mode == "optimize_acqf":
            X, _ = optimize_acqf(
                acq,
                self.bounds,
                q=1,
                options=options,
                fixed_features=self.fixed or None,
                timeout_sec=timeout_sec,
                retry_on_optimization_warning=False,
                **common,
            )
        elif self.mode == "optimize_acqf_discrete":
            assert self.choices is not None
            choices = _without(self.choices, X_avoid)
            X, _ = optimize_acqf_discrete(
                acq, q=1, choices=choices if len(choices) else self.choices
            )
        elif self.mode == "optimize_acqf_mixed":
            X, _ = optimize_acqf_mixed(
                acq,
                self.bounds,
                q=1,
                fixed_features_list=self.fixed_features_list,
                options=options,
                timeout_sec=timeout_sec,
                retry_on_optimization_warning=False,
                **common,
            )
        else:
            X, _ = optimize_acqf_mixed_alternating(
                acq,
                self.bounds,
                discrete_dims=self.discrete,
                cat_dims=self.categorical,
                fixed_features=self.fixed or None,
                num_restarts=cfg.mixed_restarts,
                raw_samples=cfg.mixed_raw_samples,
            )
        return X.detach().reshape(1, -1)

    def best_untaken(
        self, acq: AcquisitionFunction, encoder: SpaceEncoder, seed: int, X_avoid: Tensor
    ) -> Tensor | None:
        """The best of `raw_samples` snapped Sobol points that are not in `X_avoid`
        (within the box set by `restrict`, if any)."""
        X = sobol_points(encoder.d, seed, 0, self.config.raw_samples)
        if self.restricted is not None:
            free = self.restricted.numpy()
            lower, upper = self.bounds[:, self.restricted].cpu().numpy()
            X[:, free] = lower + (upper - lower) * X[:, free]
        X = torch.as_tensor(canonical(encoder, X), **self.tkw)
        X = _without(X, X_avoid)
        if not len(X):
            return None
        with torch.no_grad():
            values = torch.cat([acq(x.unsqueeze(-2)) for x in X.split(256)])
        return X[values.argmax()].reshape(1, -1)


def canonical(encoder: SpaceEncoder, X: np.ndarray) -> np.ndarray:
    """`X` (`n x d`) as the points it decodes to: discrete dims snapped, inactive ones at 0.5."""
    X = encoder.round(X)
    return encoder.encode(encoder.decode(X)).reshape(X.shape)


def _keys(X: Tensor) -> list[bytes]:
    """One hashable key per row of `X`, equal for rows equal to about 1e-9."""
    return [row.tobytes() for row in np.round(X.detach().cpu().numpy() * 1e9).astype(np.int64)]


def _without(X: Tensor, X_avoid: Tensor) -> Tensor:
    """Rows of `X` (`k x d`) that are not rows of `X_avoid`."""
    if not len(X_avoid):
        return X
    avoid = set(_keys(X_avoid))
    keep = [key not in avoid for key in _keys(X)]
    return X[torch.tensor(keep, dtype=torch.bool, device=X.device)]


class ModelBasedStrategy(Strategy):
    """Base of strategies that fit a surrogate and maximize an acquisition function.

    Subclasses implement `fit`; everything else (encoding, pending points,
    acquisition, optimization, decoding, fallbacks) is shared.
    """

    Config = ModelBasedConfig
    config: ModelBasedConfig
    max_dim: ClassVar[int] = MAX_MODEL_DIM

    def check(self, snapshot: StudySnapshot) -> None:
        check_dimension(SpaceEncoder(snapshot.space), self.name, self.max_dim)

    @abstractmethod
    def fit(
        self,
        data: TrainingData,
        *,
        cat_dims: list[int],
        noisy: bool,
        state: dict[str, Any] | None,
    ) -> FitResult:
        """Fit a surrogate with `m + c` outputs to `data.X` (`n x d`) and `data.train_Y`."""

    def search_region(self, data: TrainingData) -> tuple[Tensor, float] | None:
        """Centre (`d`) and side of the box that candidates' continuous dimensions are
        searched in: `trust_region` around the best feasible point, for one objective
        with a feasible point; None (the whole space) otherwise."""
        side = self.config.trust_region
        if side is None or side >= 1 or data.Y.shape[-1] > 1 or not bool(data.feasible.any()):
            return None
        return data.X[int(_ranking(data)[0])], side

    def context(self) -> contextlib.AbstractContextManager:
        """Settings active while fitting and optimizing (e.g. GPyTorch solver choices)."""
        return contextlib.nullcontext()

    def safer(self) -> ModelBasedStrategy | None:
        """A more conservative variant that a failed ask is retried with before it falls
        back to Sobol points (None: no retry)."""
        return None

    def suggest(self, snapshot: StudySnapshot, n: int, state: dict[str, Any] | None) -> Proposal:
        prep = self._prepare(snapshot)
        encoder, info = prep.encoder, prep.info
        if prep.reason:
            info["fallback"] = prep.reason
            return sobol_fallback(snapshot, encoder, n, info, state)
        with manual_seed(prep.seed), self.context():
            try:
                return self._suggest(snapshot, encoder, prep.fit_data, n, state, prep.seed, info)
            except Exception as exc:  # a failing model never fails the ask
                reason = f"{type(exc).__name__}: {exc}"
                retry = self.safer()
                if retry is not None:
                    logger.warning("%s: retrying with safer options", self.name, exc_info=True)
                    proposal = retry.suggest(snapshot, n, state)
                    proposal.info["retried"] = reason
                    return proposal
                logger.warning("%s: falling back to Sobol points", self.name, exc_info=True)
                info["fallback"] = reason
                return sobol_fallback(snapshot, encoder, n, info, state)

    def explain(
        self, snapshot: StudySnapshot, param: str, state: dict[str, Any] | None, points: int = 64
    ) -> dict[str, Any]:
        """The surrogate along `param` through the best completed point (see `_explain`).

        Returns the swept values `x`, the first objective's posterior `mean` and `std` (its
        own units and direction; under an outcome warp, unwarped: see
        `_explain.slice_values`), the `acquisition` values an ask would maximize there
        (pending points included), the `best` point and the `observed` trials nearest the
        slice; or `{"error": reason}` when there is no model to show.
        """
        t0 = time.perf_counter()
        prep = self._prepare(snapshot)
        encoder, data = prep.encoder, prep.data
        try:
            j = ex.check_param(encoder, param)
        except ex.SliceError as exc:
            return {"error": str(exc)}
        if prep.reason:
            return {"error": f"not enough data for a model: {prep.reason}"}
        usable = _usable(snapshot)
        i_best = ex.best_index(data.Y, data.feasible)
        x_best = data.X[i_best]
        best_params = usable[i_best].params
        if param not in best_params:
            return {"error": f"parameter {param!r} is inactive at the best point"}
        objective = snapshot.objectives[0]
        sign = 1.0 if objective.direction == Direction.maximize else -1.0
        with manual_seed(prep.seed), self.context():
            fitted = self._fit(snapshot, encoder, prep.fit_data, state)
            X_baseline = baseline(fitted.model, prep.fit_data, snapshot, self.config.max_baseline)
            sampler = SobolQMCNormalSampler(torch.Size([self.config.mc_samples]), seed=prep.seed)
            pending = data.X_pending if len(data.X_pending) else None
            acq, acq_name = build_acquisition(
                fitted.model,
                prep.fit_data,
                snapshot,
                X_baseline,
                pending,
                sampler,
                analytic_ei=self.config.analytic_ei,
                ei_incumbent=self.config.ei_incumbent,
            )
            X = ex.slice_grid(encoder, x_best, j, points)
            unwarp = ex.monotone_inverse(prep.fit_data.Y[:, 0], prep.fit_raw_Y[:, 0])
            mean, std, acq_values = ex.slice_values(fitted.model, acq, X, sign, unwarp)
        y = sign * data.Y[:, 0].cpu().numpy()
        return {
            "param": param,
            **ex.param_kind(encoder, param),
            "objective": objective.name,
            "direction": objective.direction.value,
            "x": [p[param] for p in encoder.decode(X.cpu().numpy())],
            "mean": mean,
            "std": std,
            "acquisition": acq_values,
            "acquisition_name": acq_name,
            "best": {
                "trial_id": usable[i_best].id,
                "x": best_params[param],
                "value": float(y[i_best]),
                "feasible": bool(data.feasible[i_best]),
                "params": best_params,
            },
            "observed": ex.observed(
                data.X, y, [t.id for t in usable], [t.params for t in usable], x_best, j, param
            ),
            "n_pending": int(data.X_pending.shape[0]),
            "model": (fitted.info or {}).get("model", type(fitted.model).__name__),
            "strategy": self.name,
            "n_fit": int(prep.fit_data.X.shape[0]),
            "seconds": round(time.perf_counter() - t0, 4),
        }

    def _prepare(self, snapshot: StudySnapshot) -> _Prepared:
        """Encode the trials, check there is enough to fit, and cut the history to size."""
        encoder = SpaceEncoder(snapshot.space)
        seed = ask_seed(snapshot)
        data = training_data(snapshot, encoder, self.device)
        info: dict[str, Any] = {"n_completed": int(data.X.shape[0])}
        reason = too_little_data(data, encoder, self.config.min_completed)
        if reason:
            return _Prepared(encoder, seed, data, data, data.Y, info, reason)
        keep = select_history(data, self.config.max_history, seed)
        fit_data = data
        if len(keep) < data.X.shape[0]:
            info["subsampled"] = f"fit on {len(keep)} of {data.X.shape[0]} completed trials"
            fit_data = replace(data, X=data.X[keep], Y=data.Y[keep], C=data.C[keep])
        info["n_fit"] = len(keep)
        transformed = self.fit_outcomes(fit_data, snapshot)
        return _Prepared(encoder, seed, data, transformed, fit_data.Y, info, None)

    def fit_outcomes(self, data: TrainingData, snapshot: StudySnapshot) -> TrainingData:
        """`data` with the outcome transforms of the config applied (see `_outcomes`)."""
        if self.config.winsorize:
            data = replace(data, Y=winsorize(data.Y, signed_thresholds(snapshot)))
        warp = OBJECTIVE_WARPS.get(self.config.objective_warp)
        if warp is not None and data.Y.shape[-1] == 1:
            data = replace(data, Y=warp(data.Y))
        if self.config.bilog_constraints:
            data = replace(data, C=bilog(data.C))
        return data

    def _fit(
        self,
        snapshot: StudySnapshot,
        encoder: SpaceEncoder,
        data: TrainingData,
        state: dict[str, Any] | None,
    ) -> FitResult:
        return self.fit(
            data,
            cat_dims=sorted(encoder.categorical_dims),
            noisy=snapshot.settings.noisy,
            state=state,
        )

    def _suggest(
        self,
        snapshot: StudySnapshot,
        encoder: SpaceEncoder,
        data: TrainingData,
        n: int,
        state: dict[str, Any] | None,
        seed: int,
        info: dict[str, Any],
    ) -> Proposal:
        t0 = time.perf_counter()
        fitted = self._fit(snapshot, encoder, data, state)
        t1 = time.perf_counter()
        optimizer = _CubeOptimizer(encoder, self.config, self.device)
        region = self.search_region(data)
        if region is not None:
            optimizer.restrict(*region)
            info["search_box_side"] = region[1]
        existing = [t.params for t in snapshot.completed + snapshot.pending]
        taken = torch.as_tensor(
            encoder.encode(existing).reshape(-1, encoder.d), dtype=DTYPE, device=self.device
        )
        if snapshot.settings.noisy:  # repeating a completed point can be worth it
            taken = taken[len(snapshot.completed) :]
        acq_model = fitted.acquisition_model or fitted.model
        X_baseline: Tensor | None = None  # computed once a point needs it
        chosen: list[Tensor] = []
        deadline = t1 + self.config.timeout_sec
        acq_name = ""
        for i in range(n):
            X_pending = torch.cat([data.X_pending, *chosen])
            pending = X_pending if len(X_pending) else None
            analytic = self.config.analytic_ei and analytic_ei_applies(data, snapshot, pending)
            if X_baseline is None and not analytic:
                X_baseline = baseline(fitted.model, data, snapshot, self.config.max_baseline)
            sampler = SobolQMCNormalSampler(torch.Size([self.config.mc_samples]), seed=seed + i)
            acq, acq_name = build_acquisition(
                acq_model,
                data,
                snapshot,
                X_baseline,
                pending,
                sampler,
                analytic_ei=self.config.analytic_ei,
                ei_incumbent=self.config.ei_incumbent,
            )
            budget = max(deadline - time.perf_counter(), 0.0) / (n - i)
            X_avoid = torch.cat([taken, *chosen])
            x = optimizer(acq, max(budget, 0.05), X_avoid)
            x = torch.as_tensor(
                canonical(encoder, x.cpu().numpy()), dtype=DTYPE, device=self.device
            )
            if not len(_without(x, X_avoid)):
                alt = optimizer.best_untaken(acq, encoder, seed + i, X_avoid)
                x = x if alt is None else alt
            chosen.append(x)
        t2 = time.perf_counter()
        X = torch.cat(chosen).cpu().numpy()
        info.update(fitted.info or {})
        info.update(
            acquisition=acq_name,
            optimizer=optimizer.mode,
            fit_seconds=round(t1 - t0, 4),
            acquisition_seconds=round(t2 - t1, 4),
        )
        return Proposal(
            encoder.decode(X),
            state=fitted.state,
            strategies=[self.name] * n,
            info=info,
        )


def too_little_data(data: TrainingData, encoder: SpaceEncoder, min_completed: int) -> str | None:
    """Why no model can be fit yet (no free dimension, too few or constant values), or None."""
    need = max(2, min_completed)
    if encoder.d == 0:
        return "no free parameters"
    if data.X.shape[0] < need:
        return f"{data.X.shape[0]} completed trials, need {need}"
    if bool((data.Y.amax(dim=0) == data.Y.amin(dim=0)).all()):
        return "all completed trials have the same objective values"
    return None


def sobol_fallback(
    snapshot: StudySnapshot,
    encoder: SpaceEncoder,
    n: int,
    info: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> Proposal:
    """Sobol points indexed by the trial count (so no state is needed), marked as such."""
    X = sobol_points(encoder.d, snapshot.seed, snapshot.n_trials, n)
    return Proposal(encoder.decode(X), state=state, strategies=[FALLBACK] * n, info=info)
