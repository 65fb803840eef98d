"""The one map between a search space and the unit cube, shared by every strategy.

Each non-fixed parameter becomes one dimension in [0, 1]:
- float: linear or log scale, min-max scaled;
- int: the k-th of n allowed values sits at (k + 0.5) / n, so a uniform draw
  in the cube gives every value the same probability (log ints use log spacing);
- categorical: the k-th of n choices sits at (k + 0.5) / n.
Inactive conditional parameters encode as 0.5 and are dropped on decode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from asktell.core.space import SearchSpace, same_value
from asktell_client.types import CategoricalParam, FixedParam, FloatParam, IntParam, ParamValue

__all__ = ["Dimension", "SpaceEncoder"]

INACTIVE = 0.5


@dataclass(frozen=True)
class Dimension:
    """One encoded dimension: its parameter and kind ('float', 'int' or 'categorical')."""

    name: str
    kind: str
    cardinality: int | None = None  # number of allowed values for int and categorical


class SpaceEncoder:
    """Encode points as rows of a `n x d` array in [0, 1]^d and decode them back."""

    def __init__(self, space: SearchSpace):
        self.space = space
        self.params = [p for p in space if not isinstance(p, FixedParam)]
        self.dims = [_dimension(p) for p in self.params]

    @property
    def d(self) -> int:
        return len(self.dims)

    @property
    def categorical_dims(self) -> dict[int, list[float]]:
        """Index → allowed cube values, for unordered dimensions."""
        return {
            i: _grid(dim.cardinality)
            for i, dim in enumerate(self.dims)
            if dim.kind == "categorical"
        }

    @property
    def integer_dims(self) -> dict[int, list[float]]:
        """Index → allowed cube values, for ordered discrete dimensions."""
        return {i: _grid(dim.cardinality) for i, dim in enumerate(self.dims) if dim.kind == "int"}

    def round(self, X: np.ndarray) -> np.ndarray:
        """Snap discrete dimensions of `X` (`n x d`) to their allowed cube values."""
        X = np.clip(np.array(X, dtype=float), 0.0, 1.0)
        for i, dim in enumerate(self.dims):
            if dim.cardinality is not None:
                n = dim.cardinality
                X[:, i] = (np.minimum(np.floor(X[:, i] * n), n - 1) + 0.5) / n
        return X

    def encode(self, points: Sequence[Mapping[str, ParamValue]]) -> np.ndarray:
        """Points → `n x d` array. Missing (inactive) parameters encode as 0.5."""
        X = np.full((len(points), self.d), INACTIVE)
        for r, point in enumerate(points):
            for i, p in enumerate(self.params):
                if p.name in point:
                    X[r, i] = _encode_value(p, point[p.name])
        return X

    def decode(self, X: np.ndarray) -> list[dict[str, ParamValue]]:
        """`n x d` array → points holding exactly their active parameters, in space order."""
        X = np.clip(np.atleast_2d(np.asarray(X, dtype=float)), 0.0, 1.0)
        by_name = {p.name: i for i, p in enumerate(self.params)}
        out = []
        for row in X:
            point: dict[str, ParamValue] = {}
            for p in self.space:
                if not self.space.is_active(p, point):
                    continue
                if isinstance(p, FixedParam):
                    point[p.name] = p.value
                else:
                    point[p.name] = _decode_value(p, float(row[by_name[p.name]]))
            out.append(point)
        return out


def _grid(n: int | None) -> list[float]:
    assert n is not None
    return [(k + 0.5) / n for k in range(n)]


def _dimension(p) -> Dimension:
    if isinstance(p, FloatParam):
        return Dimension(p.name, "float")
    if isinstance(p, IntParam):
        return Dimension(p.name, "int", _int_count(p))
    assert isinstance(p, CategoricalParam)
    return Dimension(p.name, "categorical", len(p.choices))


def _int_count(p: IntParam) -> int:
    return (p.high - p.low) // p.step + 1


def _encode_value(p, v: ParamValue) -> float:
    if isinstance(p, FloatParam):
        if p.log:
            return (math.log(v) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
        return (v - p.low) / (p.high - p.low)
    if isinstance(p, IntParam):
        n = _int_count(p)
        if p.log:
            lo, hi = math.log(p.low - 0.5), math.log(p.high + 0.5)
            return min(max((math.log(v) - lo) / (hi - lo), 0.0), 1.0)
        return ((v - p.low) // p.step + 0.5) / n
    k = next(i for i, c in enumerate(p.choices) if same_value(c, v))
    return (k + 0.5) / len(p.choices)


def _decode_value(p, u: float) -> ParamValue:
    if isinstance(p, FloatParam):
        if p.log:
            v = math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))
        else:
            v = p.low + u * (p.high - p.low)
        return min(max(v, p.low), p.high)
    if isinstance(p, IntParam):
        if p.log:
            lo, hi = math.log(p.low - 0.5), math.log(p.high + 0.5)
            return int(min(max(round(math.exp(lo + u * (hi - lo))), p.low), p.high))
        n = _int_count(p)
        return p.low + p.step * min(int(u * n), n - 1)
    n = len(p.choices)
    return p.choices[min(int(u * n), n - 1)]
