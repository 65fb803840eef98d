"""The one map between a search space and the unit cube, shared by every strategy.

Each non-fixed parameter becomes one dimension in [0, 1]:
- float: linear or log scale, min-max scaled;
- int: the k-th of n allowed values sits at (k + 0.5) / n, so a uniform draw
  in the cube gives every value the same probability (log ints use log spacing);
- categorical: the k-th of n choices sits at (k + 0.5) / n;
- array of length L: L float columns (linear or log scale), decoded to float32.
Inactive conditional parameters encode as 0.5 and are dropped on decode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from asktell.core.arrays import DTYPE, as_block, to_numpy
from asktell.core.space import SearchSpace, same_value
from asktell_client.types import (
    ArrayParam,
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    ParamValue,
)

__all__ = ["Dimension", "SpaceEncoder"]

INACTIVE = 0.5


@dataclass(frozen=True)
class Dimension:
    """One encoded dimension: its parameter and kind ('float', 'int' or 'categorical').

    The columns of an array parameter share one float `Dimension` named after it.
    """

    name: str
    kind: str
    cardinality: int | None = None  # number of allowed values for int and categorical


class SpaceEncoder:
    """Encode points as rows of a `n x d` array in [0, 1]^d and decode them back."""

    def __init__(self, space: SearchSpace):
        self.space = space
        self.params = [p for p in space if not isinstance(p, FixedParam)]
        self.dims: list[Dimension] = []
        self.columns: dict[str, slice] = {}
        self._discrete: list[tuple[int, int]] = []  # (column, cardinality)
        for p in self.params:
            width = p.length if isinstance(p, ArrayParam) else 1
            dim = _dimension(p)
            if dim.cardinality is not None:
                self._discrete.append((len(self.dims), dim.cardinality))
            self.columns[p.name] = slice(len(self.dims), len(self.dims) + width)
            self.dims.extend([dim] * width)

    def signature(self) -> list[list[object]]:
        """A JSON summary of the encoded dimensions (one entry per array parameter)."""
        out: list[list[object]] = []
        for p in self.params:
            if isinstance(p, ArrayParam):
                out.append([p.name, "array", p.length])
            else:
                dim = self.dims[self.columns[p.name].start]
                out.append([dim.name, dim.kind, dim.cardinality])
        return out

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
        for i, n in self._discrete:
            X[:, i] = (np.minimum(np.floor(X[:, i] * n), n - 1) + 0.5) / n
        return X

    def encode(self, points: Sequence[Mapping[str, ParamValue]]) -> np.ndarray:
        """Points → `n x d` array. Missing (inactive) parameters encode as 0.5."""
        X = np.full((len(points), self.d), INACTIVE)
        for r, point in enumerate(points):
            for p in self.params:
                if p.name not in point:
                    continue
                cols = self.columns[p.name]
                if isinstance(p, ArrayParam):
                    X[r, cols] = _encode_array(p, point[p.name])
                else:
                    X[r, cols.start] = _encode_value(p, point[p.name])
        return X

    def decode(self, X: np.ndarray) -> list[dict[str, ParamValue]]:
        """`n x d` array → points holding exactly their active parameters, in space order."""
        X = np.clip(np.atleast_2d(np.asarray(X, dtype=float)), 0.0, 1.0)
        out = []
        for row in X:
            point: dict[str, ParamValue] = {}
            for p in self.space:
                if not self.space.is_active(p, point):
                    continue
                if isinstance(p, FixedParam):
                    point[p.name] = p.value
                elif isinstance(p, ArrayParam):
                    point[p.name] = _decode_array(p, row[self.columns[p.name]])  # type: ignore
                else:
                    point[p.name] = _decode_value(p, float(row[self.columns[p.name].start]))
            out.append(point)
        return out


def _grid(n: int | None) -> list[float]:
    assert n is not None
    return [(k + 0.5) / n for k in range(n)]


def _dimension(p) -> Dimension:
    if isinstance(p, FloatParam | ArrayParam):
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


def _encode_array(p: ArrayParam, v) -> np.ndarray:
    x = to_numpy(v).astype(float)
    if p.log:
        lo, hi = math.log(p.low), math.log(p.high)
        return np.clip((np.log(x) - lo) / (hi - lo), 0.0, 1.0)
    return np.clip((x - p.low) / (p.high - p.low), 0.0, 1.0)


def _decode_array(p: ArrayParam, u: np.ndarray) -> dict[str, str]:
    if p.log:
        lo, hi = math.log(p.low), math.log(p.high)
        x = np.exp(lo + u * (hi - lo))
    else:
        x = p.low + u * (p.high - p.low)
    x32 = np.clip(x.astype(DTYPE), DTYPE.type(p.low), DTYPE.type(p.high))
    return as_block(x32)
