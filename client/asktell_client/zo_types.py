"""Wire types of `zo-model` studies: seed-based perturbations of a model the service never sees.

A `zo-model` trial is one antithetic pair of optimizer step `zo_step`: the
evaluator perturbs its weights w by +/- `zo_scale` * z(`zo_seed`) and tells
`loss_plus` and `loss_minus`. Each closed step adds one `ZOLogStep` to the
study's log (`GET /v1/studies/{id}/zo-log?since=k`); replaying the log from
the initial weights gives the current weights. This module needs no torch;
`asktell_client.zo` (extra `asktell-client[torch]`) does the tensor work.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .types import FloatParam, IntParam, ObjectiveSpec, StrategySpec, StudyCreate, StudySettings

__all__ = [
    "MINUS_METRIC",
    "PLUS_METRIC",
    "SCALE_PARAM",
    "SEED_PARAM",
    "STEP_PARAM",
    "ZOLog",
    "ZOLogStep",
    "ZOOptimizer",
    "zo_model_space",
    "zo_model_study",
]

STEP_PARAM, SEED_PARAM, SCALE_PARAM = "zo_step", "zo_seed", "zo_scale"
PLUS_METRIC, MINUS_METRIC = "loss_plus", "loss_minus"
MAX_STEP = 2**31 - 1
MAX_SEED = 2**32 - 1
SCALE_RANGE = (1e-12, 1e3)


class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ZOOptimizer(_Open):
    """How a step's gradient estimate moves the weights; fixed for the life of the log."""

    name: Literal["sgd", "adam"] = "sgd"
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8


class ZOLogStep(_Open):
    """One closed step: its gradient estimate is sum_j grads[j] * z(seeds[j]).

    `loss` is the mean of (loss_plus + loss_minus) / 2 over the step's pairs,
    an estimate of the loss at the step's weights.
    """

    step: int
    lr: float
    seeds: list[int]
    grads: list[float]
    loss: float | None = None


class ZOLog(_Open):
    """Log entries from `since` on (at most the request's `limit`); `steps` closed in all."""

    study_id: int
    steps: int
    since: int
    optimizer: ZOOptimizer
    entries: list[ZOLogStep] = Field(default_factory=list)


def zo_model_space(scale_range: tuple[float, float] = SCALE_RANGE) -> list[IntParam | FloatParam]:
    """The search space of a `zo-model` study: the three fields of a perturbation."""
    low, high = scale_range
    return [
        IntParam(name=STEP_PARAM, low=0, high=MAX_STEP),
        IntParam(name=SEED_PARAM, low=0, high=MAX_SEED),
        FloatParam(name=SCALE_PARAM, low=low, high=high, log=True),
    ]


def zo_model_study(
    name: str,
    *,
    optimizer: Literal["sgd", "adam"] = "sgd",
    lr: float = 1e-3,
    scale: float = 1e-3,
    directions: int = 1,
    seed: int = 0,
    maximize: bool = False,
    options: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> StudyCreate:
    """A `StudyCreate` for a `zo-model` study (`directions` pairs per step)."""
    direction = "maximize" if maximize else "minimize"
    strategy_options = {
        "optimizer": optimizer,
        "lr": lr,
        "scale": scale,
        "directions": directions,
        **(options or {}),
    }
    return StudyCreate(
        name=name,
        space=zo_model_space(),
        objectives=[
            ObjectiveSpec(name=PLUS_METRIC, direction=direction),
            ObjectiveSpec(name=MINUS_METRIC, direction=direction),
        ],
        strategy=StrategySpec(name="zo-model", options=strategy_options),
        settings=StudySettings(seed=seed, **(settings or {})),
        metadata=metadata or {},
    )
