"""Bayesian optimization with neural-network surrogates (after Li et al., ICLR 2024).

All four share the model-based pipeline of `gp` (unit-cube encoding, qLogNEI
with pending points, qLogNEHVI for several objectives, constraints, mixed-space
optimizers, Sobol fallbacks); only the surrogate differs:

- `ibnn`: exact GP with the infinite-width BNN kernel on centred inputs, with
  learned input relevances (cheap) and, as an option, learned input warps;
- `bnn-ensemble`: a deep ensemble of small MLPs (a mixture over members);
- `bnn-hmc`: a Bayesian MLP sampled with HMC (a mixture over posterior draws);
- `dkl`: deep kernel learning (GP on learned MLP features).

Candidates' continuous parameters are searched in a box of side `trust_region`
around the best point (one objective): the networks extrapolate away from the
data, where the acquisition function would otherwise send them to the faces of
the search space. Each has `time_budget_sec`, the wall-clock budget of a whole
suggestion: `fit_share` of it bounds the surrogate fit (training stops early,
keeping fewer epochs or draws), the rest bounds the acquisition optimization
(capped by `timeout_sec`). The budget is approximate: the baseline pruning and BoTorch's
alternating mixed optimizer are not interrupted. When training stops because
of the budget rather than the step caps, results depend on machine speed and
are no longer reproducible from the seed. Categorical parameters enter the
networks as their unit-cube codes.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from asktell.strategies._model_based import (
    FitResult,
    ModelBasedConfig,
    ModelBasedStrategy,
    TrainingData,
    TrustRegion,
)
from asktell.strategies.registry import register_strategy
from asktell.surrogates.bnn import fit_ensemble
from asktell.surrogates.bnn_hmc import sample_hmc
from asktell.surrogates.bnn_kernels import (
    IBNN_NOISE_FLOOR,
    IBNN_SAFE_NOISE_FLOOR,
    RELEVANCE_PRIOR_LOC,
    fit_dkl,
    fit_ibnn,
)

__all__ = [
    "BNNEnsemble",
    "BNNEnsembleConfig",
    "BNNHMC",
    "BNNHMCConfig",
    "DKL",
    "DKLConfig",
    "IBNN",
    "IBNNConfig",
]

STATE_VERSION = 1


class BNNConfig(ModelBasedConfig):
    """Options shared by the neural-network surrogates."""

    time_budget_sec: float = Field(
        default=30.0, gt=0, description="Approximate wall-clock budget of one suggestion."
    )
    fit_share: float = Field(
        default=0.6, gt=0, lt=1, description="Share of `time_budget_sec` for the surrogate fit."
    )
    trust_region: TrustRegion = 0.4


class _BNNStrategy(ModelBasedStrategy):
    """Shared plumbing: the time split and a small state."""

    config: BNNConfig

    def __init__(self, options: dict[str, Any] | None = None, device: str = "cpu"):
        super().__init__(options, device)
        c = self.config
        acq = min(c.timeout_sec, (1 - c.fit_share) * c.time_budget_sec)
        self.config = c.model_copy(update={"timeout_sec": acq})

    @property
    def fit_budget(self) -> float:
        return self.config.fit_share * self.config.time_budget_sec

    def _result(self, model, info: dict[str, Any]) -> FitResult:
        info = {"model": type(model).__name__, **info}
        return FitResult(model=model, state={"version": STATE_VERSION}, info=info)


class IBNNConfig(BNNConfig):
    """Options of `ibnn`."""

    depth: int = Field(default=3, ge=1, le=16, description="Hidden layers of the infinite net.")
    learn_variances: bool = Field(
        default=False,
        description="Fit the kernel's weight and bias variances by marginal likelihood "
        "(default: fixed at 10 and 1.3 as in Li et al.; learned ones collapse at small n).",
    )
    ard: bool = Field(
        default=True,
        description="Learn one relevance per input (an ARD prior on the first-layer weights); "
        "helps when few of many inputs matter.",
    )
    relevance_prior_loc: float = Field(
        default=RELEVANCE_PRIOR_LOC,
        ge=-5,
        le=20,
        description="`loc` of the LogNormal(loc, sqrt(3)) prior on the input scales (inverse "
        "relevances) with `ard`: 0 centres it on the plain kernel, larger values switch off "
        "inputs the data do not need (the analogue of `gp`'s dimension-scaled prior).",
    )
    noise_floor: float = Field(
        default=IBNN_NOISE_FLOOR,
        ge=1e-6,
        le=1.0,
        description="Lower bound of the inferred noise variance (standardized outcomes); "
        "a higher one keeps the posterior stable when many points lie close together.",
    )
    input_warp: bool = Field(
        default=False,
        description="Warp each continuous input by a learned Kumaraswamy CDF before the "
        "kernel (BoTorch `Warp`): for functions whose wiggles speed up or slow down along "
        "an input. Measured against `gp`: a draw on a non-stationary problem, losses on "
        "a 40-d polynomial, Branin in 30-d and a 50-d ellipsoid (bench/RESULTS.md).",
    )
    unit_variance: bool = Field(
        default=False,
        description="Normalize the kernel to the same prior variance everywhere, under a "
        "learned output scale: the network's correlations without its growing "
        "uncertainty towards the faces of the box, so it can search the whole space. With "
        "`relevance_prior_loc` 3 and `trust_region` 1 it beat `gp` on a 4-d non-stationary "
        "problem, drew with it on a 50-d ellipsoid after 100 evaluations and beat it there "
        "after 200, and lost Branin in 30-d (which the defaults win) and a 40-d "
        "polynomial (bench/RESULTS.md).",
    )


@register_strategy("ibnn")
class IBNN(_BNNStrategy):
    """GP with the infinite-width ReLU BNN kernel (BoTorch `InfiniteWidthBNNKernel`)."""

    description = (
        "Bayesian optimization with an infinite-width Bayesian-neural-network kernel GP "
        "(centred inputs, learned input relevances), pending-aware, mixed spaces."
    )
    Config = IBNNConfig
    config: IBNNConfig

    def fit(
        self,
        data: TrainingData,
        *,
        cat_dims: list[int],
        noisy: bool,
        state: dict[str, Any] | None,
    ) -> FitResult:
        model, info = fit_ibnn(
            data.X,
            data.train_Y,
            depth=self.config.depth,
            learn_variances=self.config.learn_variances,
            ard=self.config.ard,
            relevance_prior_loc=self.config.relevance_prior_loc,
            noise_floor=self.config.noise_floor,
            warp_dims=self._warp_dims(data.X.shape[-1], cat_dims),
            unit_variance=self.config.unit_variance,
            timeout_sec=self.fit_budget,
        )
        return self._result(model, info)

    def _warp_dims(self, d: int, cat_dims: list[int]) -> list[int]:
        """The inputs to warp: every continuous one with `input_warp`, else none."""
        if not self.config.input_warp:
            return []
        categorical = set(cat_dims)
        return [i for i in range(d) if i not in categorical]

    def safer(self) -> IBNN | None:
        """First the plain kernel: learned relevances also scale the kernel's amplitude,
        and large ones can leave the posterior numerically singular (NaN acquisition
        values). Then, with points close together, the plain kernel under a higher noise
        floor (`IBNN_SAFE_NOISE_FLOOR`)."""
        if self.config.ard:
            update: dict[str, Any] = {"ard": False}
        elif self.config.noise_floor < IBNN_SAFE_NOISE_FLOOR:
            update = {"noise_floor": IBNN_SAFE_NOISE_FLOOR}
        else:
            return None
        return IBNN(self.config.model_copy(update=update).model_dump(), self.device)


class BNNEnsembleConfig(BNNConfig):
    """Options of `bnn-ensemble`."""

    members: int = Field(default=8, ge=2, le=128, description="Networks in the ensemble.")
    hidden: list[int] = Field(default=[64, 64], min_length=1, max_length=6)
    epochs: int = Field(default=500, ge=1, le=100_000, description="Adam steps (full batch).")
    lr: float = Field(default=1e-2, gt=0, le=1)
    weight_decay: float = Field(default=1e-3, ge=0, description="Gaussian-prior strength.")
    bootstrap: bool = Field(default=True, description="Train each member on a bootstrap sample.")


@register_strategy("bnn-ensemble")
class BNNEnsemble(_BNNStrategy):
    """Deep ensemble of tanh MLPs, wrapped as a BoTorch `EnsembleModel`."""

    description = "Bayesian optimization with a deep-ensemble surrogate of small MLPs."
    Config = BNNEnsembleConfig
    config: BNNEnsembleConfig

    def fit(
        self,
        data: TrainingData,
        *,
        cat_dims: list[int],
        noisy: bool,
        state: dict[str, Any] | None,
    ) -> FitResult:
        c = self.config
        model, info = fit_ensemble(
            data.X,
            data.train_Y,
            members=c.members,
            hidden=c.hidden,
            epochs=c.epochs,
            lr=c.lr,
            weight_decay=c.weight_decay,
            bootstrap=c.bootstrap,
            time_budget_sec=self.fit_budget,
        )
        return self._result(model, info)


class BNNHMCConfig(BNNConfig):
    """Options of `bnn-hmc`."""

    time_budget_sec: float = Field(
        default=60.0, gt=0, description="Approximate wall-clock budget of one suggestion."
    )
    hidden: list[int] = Field(default=[50, 50], min_length=1, max_length=6)
    chains: int = Field(default=4, ge=1, le=256, description="Chains run in parallel.")
    num_samples: int = Field(default=25, ge=1, le=10_000, description="Draws kept per chain.")
    burn_in: int = Field(default=100, ge=0, le=100_000, description="Adaptation transitions.")
    thin: int = Field(default=2, ge=1, le=1000, description="Keep every `thin`-th transition.")
    leapfrog_steps: int = Field(default=20, ge=1, le=1000)
    pretrain_steps: int = Field(default=300, ge=0, le=100_000, description="Adam MAP steps.")
    noise_var: float = Field(
        default=0.05, gt=0, description="Fixed noise variance on standardized outputs."
    )


@register_strategy("bnn-hmc")
class BNNHMC(_BNNStrategy):
    """Fully stochastic Bayesian MLP, HMC draws as ensemble members (GPU when available)."""

    description = (
        "Bayesian optimization with a Bayesian MLP sampled by Hamiltonian Monte Carlo "
        "under a time budget (best on GPU workers)."
    )
    Config = BNNHMCConfig
    config: BNNHMCConfig

    def fit(
        self,
        data: TrainingData,
        *,
        cat_dims: list[int],
        noisy: bool,
        state: dict[str, Any] | None,
    ) -> FitResult:
        c = self.config
        model, info = sample_hmc(
            data.X,
            data.train_Y,
            hidden=c.hidden,
            chains=c.chains,
            num_samples=c.num_samples,
            burn_in=c.burn_in,
            thin=c.thin,
            leapfrog_steps=c.leapfrog_steps,
            pretrain_steps=c.pretrain_steps,
            noise_var=c.noise_var,
            time_budget_sec=self.fit_budget,
        )
        return self._result(model, info)


class DKLConfig(BNNConfig):
    """Options of `dkl`."""

    hidden: list[int] = Field(default=[32, 32], min_length=1, max_length=6)
    features: int | None = Field(
        default=None, ge=1, le=64, description="Feature dimension (default min(d, 8), >= 2)."
    )
    pretrain_steps: int = Field(default=200, ge=0, le=100_000)
    train_steps: int = Field(default=200, ge=1, le=100_000, description="Joint MLL Adam steps.")
    lr: float = Field(default=1e-2, gt=0, le=1)


@register_strategy("dkl")
class DKL(_BNNStrategy):
    """Deep kernel learning: Matérn-5/2 GP on the features of a tanh MLP."""

    description = "Bayesian optimization with deep kernel learning (GP on learned MLP features)."
    Config = DKLConfig
    config: DKLConfig

    def fit(
        self,
        data: TrainingData,
        *,
        cat_dims: list[int],
        noisy: bool,
        state: dict[str, Any] | None,
    ) -> FitResult:
        c = self.config
        model, info = fit_dkl(
            data.X,
            data.train_Y,
            hidden=c.hidden,
            features=c.features,
            pretrain_steps=c.pretrain_steps,
            train_steps=c.train_steps,
            lr=c.lr,
            noisy=noisy,
            time_budget_sec=self.fit_budget,
        )
        return self._result(model, info)
