"""Search spaces: parameter definitions, conditional activity and value checks."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence

from asktell.core.arrays import check_array
from asktell.core.errors import InvalidInput
from asktell_client.types import (
    ArrayParam,
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
    ParamValue,
)

__all__ = ["SearchSpace", "same_value"]


def same_value(a: ParamValue, b: ParamValue) -> bool:
    """Equality that keeps booleans apart from the numbers 0 and 1."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


class SearchSpace:
    """An ordered, validated list of parameters.

    A parameter with a `condition` is active only when its parent categorical
    (defined earlier) takes one of the listed values; a trial carries exactly
    its active parameters.
    """

    def __init__(self, params: Sequence[Param]):
        self.params: list[Param] = list(params)
        self.by_name: dict[str, Param] = {}
        for i, p in enumerate(self.params):
            if p.name in self.by_name:
                raise InvalidInput(f"duplicate parameter name {p.name!r}", field=f"space[{i}].name")
            if p.condition is not None:
                self._check_condition(i, p)
            self.by_name[p.name] = p

    def _check_condition(self, i: int, p: Param) -> None:
        assert p.condition is not None
        parent = self.by_name.get(p.condition.parent)
        field = f"space[{i}].condition.parent"
        if parent is None:
            raise InvalidInput(
                f"parent {p.condition.parent!r} must be a parameter defined before {p.name!r}",
                field=field,
            )
        if not isinstance(parent, CategoricalParam):
            raise InvalidInput(f"parent {parent.name!r} must be categorical", field=field)
        for v in p.condition.values:
            if not any(same_value(v, c) for c in parent.choices):
                raise InvalidInput(
                    f"{v!r} is not a choice of {parent.name!r}",
                    field=f"space[{i}].condition.values",
                )

    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self):
        return iter(self.params)

    def is_active(self, p: Param, assignment: Mapping[str, ParamValue]) -> bool:
        """Whether `p` is active given the values of the parameters before it."""
        if p.condition is None:
            return True
        parent = self.by_name[p.condition.parent]
        if not self.is_active(parent, assignment) or parent.name not in assignment:
            return False
        return any(same_value(assignment[parent.name], v) for v in p.condition.values)

    def validate_params(self, params: Mapping[str, ParamValue], field: str = "params") -> dict:
        """Check a full assignment (e.g. a trial added by hand); return it in space order."""
        for name in params:
            if name not in self.by_name:
                raise InvalidInput(f"unknown parameter {name!r}", field=f"{field}.{name}")
        out: dict[str, ParamValue] = {}
        for p in self.params:
            active = self.is_active(p, out)
            here = f"{field}.{p.name}"
            if not active:
                if p.name in params:
                    raise InvalidInput(f"{p.name!r} is inactive for these values", field=here)
                continue
            if p.name not in params:
                raise InvalidInput(f"missing parameter {p.name!r}", field=here)
            out[p.name] = check_value(p, params[p.name], here)
        return out

    def point_key(self, params: Mapping[str, ParamValue]) -> str:
        """A stable digest of a point, used to keep open trials distinct.

        Array values must be in their stored (block) form: the digest covers its base64.
        """
        canonical = json.dumps(
            [
                [k, type(v).__name__ == "bool", v["b64"] if isinstance(v, dict) else v]
                for k, v in sorted(params.items())
            ],
            separators=(",", ":"),
        )
        return hashlib.sha1(canonical.encode()).hexdigest()


def check_value(p: Param, v: ParamValue, field: str) -> ParamValue:
    """Validate one value against its parameter; return it in canonical type."""
    if isinstance(p, FixedParam):
        if not same_value(v, p.value):
            raise InvalidInput(f"must equal the fixed value {p.value!r}", field=field)
        return p.value
    if isinstance(p, ArrayParam):
        return check_array(p, v, field)
    if isinstance(p, CategoricalParam):
        for c in p.choices:
            if same_value(v, c):
                return c
        raise InvalidInput(f"{v!r} is not one of {p.choices!r}", field=field)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidInput("must be a number", field=field)
    assert isinstance(p, FloatParam | IntParam)
    if not math.isfinite(v):
        raise InvalidInput("must be finite", field=field)
    if not p.low <= v <= p.high:
        raise InvalidInput(f"{v} is outside [{p.low}, {p.high}]", field=field)
    if isinstance(p, IntParam):
        if float(v) != int(v):
            raise InvalidInput("must be an integer", field=field)
        if (int(v) - p.low) % p.step:
            raise InvalidInput(f"must be low + k * step (step {p.step})", field=field)
        return int(v)
    assert isinstance(p, FloatParam)
    return float(v)
