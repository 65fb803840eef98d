"""A study's parsed definition: space, metrics, settings, and the checks on told values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from asktell.core.errors import InvalidInput
from asktell.core.space import SearchSpace
from asktell_client.types import (
    STORED,
    ConstraintSpec,
    Direction,
    ObjectiveSpec,
    StrategySpec,
    StudyCreate,
    StudySettings,
)

__all__ = ["StudyDefinition", "definition_from_json"]


@dataclass(frozen=True)
class StudyDefinition:
    space: SearchSpace
    objectives: list[ObjectiveSpec]
    constraints: list[ConstraintSpec]
    settings: StudySettings
    strategy: StrategySpec

    @property
    def metric_names(self) -> list[str]:
        return [o.name for o in self.objectives] + [c.name for c in self.constraints]

    def validate_values(
        self, values: Mapping[str, float], field: str = "values"
    ) -> dict[str, float]:
        """A complete, finite value for every objective and constraint metric, nothing else."""
        names = self.metric_names
        for name in values:
            if name not in names:
                raise InvalidInput(
                    f"unknown metric {name!r}; this study has {names}", field=f"{field}.{name}"
                )
        out = {}
        for name in names:
            if name not in values:
                raise InvalidInput(f"missing metric {name!r}", field=f"{field}.{name}")
            v = values[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InvalidInput("must be a finite number", field=f"{field}.{name}")
            out[name] = float(v)
        return out

    def validate_partial_values(self, values: Mapping[str, float], field: str = "values") -> dict:
        """Intermediate values: known metrics only, each finite; not all are required."""
        names = self.metric_names
        out = {}
        for name, v in values.items():
            if name not in names:
                raise InvalidInput(f"unknown metric {name!r}", field=f"{field}.{name}")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InvalidInput("must be a finite number", field=f"{field}.{name}")
            out[name] = float(v)
        return out

    def is_feasible(self, values: Mapping[str, float]) -> bool:
        for c in self.constraints:
            v = values[c.name]
            if (c.upper is not None and v > c.upper) or (c.lower is not None and v < c.lower):
                return False
        return True

    def sign(self, objective: ObjectiveSpec) -> float:
        """+1 when larger is better."""
        return 1.0 if objective.direction == Direction.maximize else -1.0


def definition_from_create(spec: StudyCreate) -> StudyDefinition:
    return StudyDefinition(
        space=SearchSpace(spec.space),
        objectives=spec.objectives,
        constraints=spec.constraints,
        settings=spec.settings,
        strategy=spec.strategy,
    )


def check_metric_names(spec: StudyCreate) -> None:
    seen: set[str] = set()
    for kind, items in (("objectives", spec.objectives), ("constraints", spec.constraints)):
        for i, item in enumerate(items):
            if item.name in seen:
                raise InvalidInput(
                    f"duplicate metric name {item.name!r}", field=f"{kind}[{i}].name"
                )
            seen.add(item.name)


_CACHE: dict[tuple[int, str], StudyDefinition] = {}
_CACHE_MAX = 1024


def definition_from_json(
    spec: dict, strategy: dict, settings: dict, *, key: tuple[int, str] | None = None
) -> StudyDefinition:
    """Parse a stored study; memoised on `key` (study id, updated_at) when given."""
    if key is not None and key in _CACHE:
        return _CACHE[key]
    stored = {
        "name": "x",
        "space": spec["space"],
        "objectives": spec["objectives"],
        "constraints": spec.get("constraints", []),
        "strategy": strategy,
        "settings": settings,
    }
    create = StudyCreate.model_validate(stored, context={STORED: True})
    definition = definition_from_create(create)
    if key is not None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = definition
    return definition
