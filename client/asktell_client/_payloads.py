"""Request bodies and small decisions shared by the sync and async resources. No IO."""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any

from pydantic import BaseModel

from .arrays import encode_params
from .types import (
    ObjectiveSpec,
    StrategySpec,
    Study,
    StudySettings,
    StudyState,
    TrialState,
)

TERMINAL_STATES = frozenset({TrialState.completed, TrialState.failed, TrialState.stopped})
MAX_HEARTBEAT_INTERVAL = 30.0
MIN_HEARTBEAT_INTERVAL = 0.05
POLL_INITIAL = 0.2
POLL_MAX = 5.0

Values = Mapping[str, float] | Sequence[float] | float


def jsonable(obj: Any) -> Any:
    """Plain JSON data from wire models, mappings and sequences (models dumped in full)."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


def study_create_body(
    *,
    name: str,
    space: Iterable[Any],
    objectives: Any = None,
    constraints: Iterable[Any] | None = None,
    strategy: str | Mapping[str, Any] | StrategySpec | None = None,
    settings: Mapping[str, Any] | StudySettings | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A `StudyCreate` body; objectives may be names or a {name: direction} map.

    The server validates it and names the offending field in a 422.
    """
    fields: dict[str, Any] = {"name": name, "space": list(space)}
    if objectives is not None:
        fields["objectives"] = _objectives(objectives)
    if constraints is not None:
        fields["constraints"] = list(constraints)
    if strategy is not None:
        fields["strategy"] = _strategy(strategy)
    if settings is not None:
        fields["settings"] = settings
    if metadata is not None:
        fields["metadata"] = metadata
    return jsonable(fields)


def _objectives(objectives: Any) -> list[Any]:
    if isinstance(objectives, str | ObjectiveSpec):
        objectives = [objectives]
    if isinstance(objectives, Mapping):
        return [{"name": k, "direction": v} for k, v in objectives.items()]
    return [{"name": o} if isinstance(o, str) else o for o in objectives]


def _strategy(strategy: str | Mapping[str, Any] | StrategySpec) -> Any:
    return {"name": strategy} if isinstance(strategy, str) else strategy


def study_update_body(
    current: Study,
    *,
    strategy: str | Mapping[str, Any] | StrategySpec | None = None,
    state: str | StudyState | None = None,
    settings: Mapping[str, Any] | StudySettings | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A `StudyUpdate` body. A settings mapping is merged into the current settings;
    a `StudySettings` object replaces them."""
    fields: dict[str, Any] = {}
    if strategy is not None:
        fields["strategy"] = _strategy(strategy)
    if state is not None:
        fields["state"] = state
    if settings is not None:
        if isinstance(settings, Mapping):
            settings = {**current.settings.model_dump(mode="json"), **settings}
        fields["settings"] = settings
    if metadata is not None:
        fields["metadata"] = metadata
    if not fields:
        raise ValueError("update: give at least one of strategy, state, settings, metadata")
    return jsonable(fields)


def ask_body(
    count: int, *, request_id: str, evaluator: str | None = None, wait: float | None = None
) -> dict[str, Any]:
    """An `AskRequest` body; `request_id` lets the server drop duplicate asks."""
    body: dict[str, Any] = {"count": count, "request_id": request_id}
    if evaluator is not None:
        body["evaluator"] = evaluator
    if wait is not None:
        body["wait"] = wait
    return body


def trial_create_body(params: Mapping[str, Any], values: Any, study: Study) -> dict[str, Any]:
    """A `TrialCreate` body; `values` takes the same forms as in a tell."""
    body: dict[str, Any] = {"params": jsonable(encode_params(params))}
    if values is not None:
        body["values"] = normalize_values(values, study.objectives)
    return body


def tell_body(values: Any, study: Study) -> dict[str, Any]:
    """Body of a completed tell."""
    return {"state": "completed", "values": normalize_values(values, study.objectives)}


def fail_body(reason: str) -> dict[str, Any]:
    """Body of a failed tell; the reason is cut to what the server accepts."""
    return {"state": "failed", "reason": _clip(str(reason))}


def stop_body(values: Any, reason: str | None, study: Study) -> dict[str, Any]:
    """Body of a stopped tell, optionally with the last values and a reason."""
    body: dict[str, Any] = {"state": "stopped"}
    if values is not None:
        body["values"] = normalize_values(values, study.objectives)
    if reason is not None:
        body["reason"] = _clip(reason)
    return body


def report_body(step: int, values: Any, study: Study) -> dict[str, Any]:
    """Body of an intermediate report."""
    return {"step": step, "values": normalize_values(values, study.objectives)}


def export_body(export: Any) -> dict[str, Any]:
    """An import body from a `StudyExport` or its JSON form."""
    return jsonable(export)


def normalize_values(values: Any, objectives: Sequence[ObjectiveSpec]) -> dict[str, float]:
    """Metric values as a {name: float} dict.

    Accepts a mapping, a bare number (only when the study has one objective) or a
    sequence in objective order. Raises ValueError/TypeError for anything else or for
    non-finite numbers.
    """
    names = [o.name for o in objectives]
    if isinstance(values, Mapping):
        out = {str(k): _number(k, v) for k, v in values.items()}
    elif isinstance(values, str | bytes | bool):
        raise TypeError(f"values: expected a number or a dict, got {type(values).__name__}")
    elif isinstance(values, Sequence):
        if len(values) != len(names):
            raise ValueError(f"values: got {len(values)} numbers for objectives {names}")
        out = {n: _number(n, v) for n, v in zip(names, values, strict=True)}
    else:
        if len(names) != 1:
            raise ValueError(f"values: a bare number needs one objective; this study has {names}")
        out = {names[0]: _number(names[0], values)}
    if not out:
        raise ValueError("values: at least one metric is required")
    return out


def _number(name: Any, value: Any) -> float:
    if isinstance(value, bool) or not hasattr(value, "__float__"):
        raise TypeError(f"values: {name} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"values: {name} is {number}, not a finite number")
    return number


def _clip(reason: str | None, limit: int = 2000) -> str | None:
    if reason is None or len(reason) <= limit:
        return reason
    return reason[: limit - 3] + "..."


def heartbeat_interval(settings: StudySettings) -> float:
    """Seconds between heartbeats: a third of the timeout, at most 30 s."""
    interval = min(MAX_HEARTBEAT_INTERVAL, settings.heartbeat_timeout / 3.0)
    return max(interval, MIN_HEARTBEAT_INTERVAL)


def poll_delay(attempt: int) -> float:
    """Seconds before poll number `attempt` of a pending operation."""
    return min(POLL_INITIAL * 1.5**attempt, POLL_MAX)


def default_evaluator() -> str:
    """An evaluator name for this process: host and pid."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}"


def failure_reason(exc: BaseException) -> str:
    """A one-line reason for a failed trial."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
