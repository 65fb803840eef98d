"""Wire types shared by the server and the client.

Every JSON body that crosses the HTTP API is one of these models. The server
imports them, so client and server cannot drift apart.
"""

from __future__ import annotations

import math
import struct
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    ValidationInfo,
    field_validator,
    model_validator,
)

STORED = "stored"
"""Validation context key: the data come from storage, not from a client."""

__all__ = [
    "ARRAY_MAX_LENGTH",
    "ArrayBlock",
    "ArrayFormat",
    "ArrayParam",
    "ArrayValue",
    "AskRequest",
    "AskResponse",
    "CategoricalParam",
    "Condition",
    "ConstraintSpec",
    "ErrorBody",
    "ErrorDetail",
    "FixedParam",
    "HeartbeatResponse",
    "FloatParam",
    "IntParam",
    "Direction",
    "ObjectiveSpec",
    "Operation",
    "Param",
    "ParamInput",
    "ParamValue",
    "ReportRequest",
    "ReportResponse",
    "StrategyInfo",
    "StrategySpec",
    "Study",
    "StudyCreate",
    "StudyExport",
    "StudyPage",
    "StudySettings",
    "StudyState",
    "StudyUpdate",
    "TellRequest",
    "Trial",
    "TrialCreate",
    "TrialExport",
    "TrialList",
    "TrialPage",
    "TrialState",
]

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$"
ARRAY_MAX_LENGTH = 1_000_000
ParamValue = bool | int | float | str
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class _Strict(BaseModel):
    """Base for request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Open(BaseModel):
    """Base for response bodies: tolerate fields added by newer servers."""

    model_config = ConfigDict(extra="ignore")


# --------------------------------------------------------------------------- space


class Condition(_Strict):
    """A parameter is active only when `parent` (a categorical) takes one of `values`."""

    parent: Name
    values: list[ParamValue] = Field(min_length=1)


class _ParamBase(_Strict):
    name: Name
    condition: Condition | None = None


class FloatParam(_ParamBase):
    """A real number in [low, high], on a linear or log scale."""

    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _check_range(self) -> FloatParam:
        _check_bounds(self.low, self.high, self.log)
        return self


class IntParam(_ParamBase):
    """An integer in [low, high] with a step, on a linear or log scale."""

    type: Literal["int"] = "int"
    low: int
    high: int
    step: int = Field(default=1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _check_range(self) -> IntParam:
        _check_bounds(self.low, self.high, self.log)
        if self.log and self.step != 1:
            raise ValueError("step: a log-scaled int must have step 1")
        if (self.high - self.low) % self.step:
            raise ValueError("high: high - low must be a multiple of step")
        return self


class CategoricalParam(_ParamBase):
    """One of a list of distinct choices (strings, numbers or booleans)."""

    type: Literal["categorical"] = "categorical"
    choices: list[ParamValue] = Field(min_length=1)

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: list[ParamValue], info: ValidationInfo) -> list[ParamValue]:
        # Equal numbers (1 and 1.0) are one choice, as in JSON; booleans stay apart from 0 and 1.
        # Studies stored before that rule (validated with `STORED`) still load.
        if not (info.context or {}).get(STORED):
            keys = [(isinstance(c, bool), c) for c in choices]
            if len(set(keys)) != len(keys):
                raise ValueError("choices must be distinct (1 and 1.0 are the same choice)")
        for c in choices:
            if isinstance(c, float) and not math.isfinite(c):
                raise ValueError("choices must be finite")
        return choices


class FixedParam(_ParamBase):
    """A constant that every trial carries."""

    type: Literal["fixed"] = "fixed"
    value: ParamValue


class ArrayParam(_Strict):
    """A vector of `length` float32 numbers, each in [low, high] (linear or log scale).

    Bounds are enforced at float32 precision. A trial carries the vector as a JSON
    list of numbers or as an `ArrayBlock`. Array parameters cannot be conditional.
    """

    type: Literal["array"] = "array"
    name: Name
    length: int = Field(ge=1, le=ARRAY_MAX_LENGTH)
    low: float
    high: float
    log: bool = False
    condition: None = Field(
        default=None, description="always null: array parameters cannot be conditional"
    )

    @model_validator(mode="before")
    @classmethod
    def _unconditional(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("condition") is not None:
            raise ValueError("condition: array parameters cannot be conditional")
        return data

    @model_validator(mode="after")
    def _check_range(self) -> ArrayParam:
        _check_bounds(self.low, self.high, self.log)
        if max(abs(self.low), abs(self.high)) > FLOAT32_MAX:
            raise ValueError("high: array bounds must fit in float32 (|bound| <= 3.4e38)")
        if _float32(self.low) >= _float32(self.high):
            raise ValueError("high: low and high must differ at float32 precision")
        if self.log and _float32(self.low) <= 0:
            raise ValueError("low: must be > 0 at float32 precision on a log scale")
        return self


Param = Annotated[
    FloatParam | IntParam | CategoricalParam | FixedParam | ArrayParam,
    Field(discriminator="type"),
]

FLOAT32_MAX = 3.4028234663852886e38


def _float32(x: float) -> float:
    """`x` rounded to the nearest float32 (no numpy needed)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


class ArrayFormat(str, Enum):
    """How responses carry array values: `list` of numbers, or `b64` blocks."""

    list = "list"
    b64 = "b64"


class ArrayBlock(_Strict):
    """An array value as base64 of its little-endian float32 bytes (4 bytes a number)."""

    dtype: Literal["float32"] = "float32"
    b64: str = Field(max_length=4 * ((4 * ARRAY_MAX_LENGTH + 2) // 3))


ArrayValue = list[float] | ArrayBlock
# Inputs take array values loosely typed, so the server can name the bad element or field.
ParamInput = ParamValue | list[Any] | dict[str, Any]


def _check_bounds(low: float, high: float, log: bool) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("low: bounds must be finite")
    if low >= high:
        raise ValueError("high: must be greater than low")
    if log and low <= 0:
        raise ValueError("low: must be > 0 on a log scale")


# --------------------------------------------------------------------------- study


class Direction(str, Enum):
    minimize = "minimize"
    maximize = "maximize"


class ObjectiveSpec(_Strict):
    """A metric to optimize. `threshold` is the worst value still of interest (reference point)."""

    name: Name
    direction: Direction = Direction.minimize
    threshold: float | None = None


class ConstraintSpec(_Strict):
    """An outcome constraint: the trial is feasible when `metric <= upper` and `metric >= lower`."""

    name: Name
    lower: float | None = None
    upper: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> ConstraintSpec:
        if self.lower is None and self.upper is None:
            raise ValueError("upper: give lower, upper or both")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError("upper: must be >= lower")
        return self


class StrategySpec(_Strict):
    """Which strategy suggests points, with its options."""

    name: str = Field(default="auto", min_length=1, max_length=64)
    options: dict[str, Any] = Field(default_factory=dict)


class StudySettings(_Strict):
    """Service behaviour of a study."""

    heartbeat_timeout: float = Field(default=300.0, gt=0, le=7 * 86400)
    allow_repeats: bool = False
    noisy: bool = False
    budget: int | None = Field(default=None, ge=1)
    seed: int = Field(default=0, ge=0, lt=2**31)
    ask_timeout: float = Field(default=10.0, ge=0, le=300)
    fallback_strategy: str = "sobol"
    suggestion_deadline: float | None = Field(default=None, gt=0, le=3600)
    early_stopping: Literal["median", "none"] = "median"
    early_stopping_min_trials: int = Field(default=5, ge=1)
    early_stopping_warmup_steps: int = Field(default=0, ge=0)
    prefetch: int = Field(default=0, ge=0, le=64)


class StudyState(str, Enum):
    running = "running"
    paused = "paused"
    done = "done"


class StudyCreate(_Strict):
    name: Name
    space: list[Param] = Field(min_length=1, max_length=10_000)
    objectives: list[ObjectiveSpec] = Field(
        default_factory=lambda: [ObjectiveSpec(name="value")], min_length=1, max_length=16
    )
    constraints: list[ConstraintSpec] = Field(default_factory=list, max_length=16)
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    settings: StudySettings = Field(default_factory=StudySettings)
    metadata: dict[str, Any] = Field(default_factory=dict)


class StudyUpdate(_Strict):
    """Fields a running study may change; history stays."""

    strategy: StrategySpec | None = None
    state: StudyState | None = None
    settings: StudySettings | None = None
    metadata: dict[str, Any] | None = None


class Study(_Open):
    id: int
    name: str
    space: list[Param]
    objectives: list[ObjectiveSpec]
    constraints: list[ConstraintSpec]
    strategy: StrategySpec
    settings: StudySettings
    metadata: dict[str, Any] = Field(default_factory=dict)
    state: StudyState
    created_at: datetime
    updated_at: datetime
    trial_counts: dict[str, int] = Field(default_factory=dict)
    best_values: dict[str, float] | None = None


class StudyPage(_Open):
    items: list[Study]
    next_cursor: str | None = None


# --------------------------------------------------------------------------- trial


class TrialState(str, Enum):
    """The life of a trial.

    pending: created (by hand or prefetched) and not yet handed to an evaluator.
    running: handed to an evaluator, which keeps it alive with heartbeats.
    completed: told its metric values.
    failed: told it failed, with a reason.
    stopped: stopped early on the strength of its intermediate values.
    stale: its evaluator fell silent past the heartbeat timeout; a late tell is still accepted.
    """

    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    stopped = "stopped"
    stale = "stale"


class Trial(_Open):
    id: int
    study_id: int
    state: TrialState
    params: dict[str, ParamValue | ArrayValue]
    values: dict[str, float] | None = None
    intermediate: dict[int, dict[str, float]] = Field(default_factory=dict)
    failure_reason: str | None = None
    evaluator: str | None = None
    strategy: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None


class TrialPage(_Open):
    items: list[Trial]
    next_cursor: str | None = None


class TrialCreate(_Strict):
    """A trial added by hand, optionally with its result already known.

    An array parameter takes a list of numbers or an `ArrayBlock`.
    """

    params: dict[str, ParamInput]
    values: dict[str, StrictFloat] | None = None


class AskRequest(_Strict):
    count: int = Field(default=1, ge=1, le=1000)
    evaluator: str = Field(default="anonymous", min_length=1, max_length=128)
    request_id: str | None = Field(default=None, min_length=1, max_length=128)
    wait: float | None = Field(default=None, ge=0, le=300)


class Operation(_Open):
    """A pending ask: poll `GET /v1/operations/{id}` until `done`."""

    id: int
    study_id: int
    done: bool
    count: int
    trials: list[Trial] = Field(default_factory=list)
    error: str | None = None


class AskResponse(_Open):
    trials: list[Trial]


class TellRequest(_Strict):
    """Finish a trial: `completed` with values, `failed` with a reason, or `stopped` early."""

    state: Literal["completed", "failed", "stopped"] = "completed"
    values: dict[str, StrictFloat] | None = None
    reason: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _consistent(self) -> TellRequest:
        if self.state == "completed" and not self.values:
            raise ValueError("values: required when state is completed")
        if self.state == "failed" and self.values:
            raise ValueError("values: a failed trial carries no values")
        return self


class ReportRequest(_Strict):
    step: int = Field(ge=0, lt=2**31)
    values: dict[str, StrictFloat] = Field(min_length=1)


class ReportResponse(_Open):
    should_stop: bool


class HeartbeatResponse(_Open):
    state: TrialState
    should_stop: bool = False


class TrialList(_Open):
    trials: list[Trial]


class StrategyInfo(_Open):
    name: str
    description: str
    inline: bool


# --------------------------------------------------------------------------- export


class TrialExport(_Strict):
    state: TrialState
    params: dict[str, ParamInput]
    values: dict[str, float] | None = None
    intermediate: dict[int, dict[str, float]] = Field(default_factory=dict)
    failure_reason: str | None = None
    evaluator: str | None = None
    strategy: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    note: str | None = Field(default=None, max_length=100_000)


class StudyExport(_Strict):
    format: Literal["asktell.study/v1"] = "asktell.study/v1"
    study: StudyCreate
    state: StudyState = StudyState.running
    trials: list[TrialExport] = Field(default_factory=list)
    note: str | None = Field(default=None, max_length=100_000)


# --------------------------------------------------------------------------- errors


class ErrorDetail(_Open):
    code: str
    message: str
    field: str | None = None


class ErrorBody(_Open):
    error: ErrorDetail
