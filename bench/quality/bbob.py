"""BBOB functions from `cocoex` (package coco-experiment) with a robust optimum value.

cocoex 2.8 has no working accessor for f_opt (`final_target_fvalue1` raises), so
f_opt is computed twice and the two must agree: from the published BBOB 2009
formula (the instance's random generator), and by evaluating the problem at its
optimum, which cocoex writes to a file on request.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable

import numpy as np

__all__ = ["BbobFunction", "bbob_fopt", "load_bbob"]

# f_opt of instance 1 as published with the BBOB 2009 suite (checked by the tests).
PUBLISHED_FOPT_INSTANCE1 = {
    1: 79.48,
    3: -462.09,
    7: 92.94,
    10: -54.94,
    15: 1000.0,
    20: -546.5,
    22: -1000.0,
}
BEST_PARAMETER_FILE = "._bbob_problem_best_parameter.txt"


def _bbob_uniform(n: int, seed: int) -> np.ndarray:
    """`bbob2009_unif`: the suite's own uniform generator (a shuffled Park-Miller)."""
    seed = max(abs(seed), 1)
    state, table = seed, [0] * 32
    for i in range(39, -1, -1):
        tmp = state // 127773
        state = 16807 * (state - tmp * 127773) - 2836 * tmp
        if state < 0:
            state += 2147483647
        if i < 32:
            table[i] = state
    current = table[0]
    out = np.empty(n)
    for i in range(n):
        tmp = state // 127773
        state = 16807 * (state - tmp * 127773) - 2836 * tmp
        if state < 0:
            state += 2147483647
        j = current // 67108865
        current = table[j]
        table[j] = state
        out[i] = current / 2.147483647e9 or 1e-99
    return out


def _bbob_gauss(seed: int) -> float:
    u = _bbob_uniform(2, seed)
    return math.sqrt(-2 * math.log(u[0])) * math.cos(2 * math.pi * u[1]) or 1e-99


def bbob_fopt(function: int, instance: int) -> float:
    """f_opt of a BBOB function instance by the published formula (`bbob2009_compute_fopt`)."""
    base = {4: 3, 18: 17}.get(function, function)
    seed = base + 10000 * instance
    value = round(100 * 100 * _bbob_gauss(seed) / _bbob_gauss(seed + 1)) / 100
    return min(1000.0, max(-1000.0, value))


class BbobFunction:
    """One BBOB problem (function, dimension, instance); call it on a point in [-5, 5]^d."""

    def __init__(self, function: int, dimension: int, instance: int):
        import cocoex

        options = f"function_indices:{function} dimensions:{dimension}"
        suite = cocoex.Suite("bbob", f"instances: {instance}", options)
        self._problem = next(iter(suite))
        if self._problem.id_instance != instance:
            raise RuntimeError(f"cocoex returned instance {self._problem.id_instance}")
        self.function, self.dimension, self.instance = function, dimension, instance
        self.x_opt = self._best_parameter()
        formula = bbob_fopt(function, instance)
        measured = float(self._problem(self.x_opt))
        if abs(formula - measured) > 1e-6 * max(1.0, abs(formula)):
            raise RuntimeError(
                f"bbob f{function} i{instance} d{dimension}: f_opt {formula} from the formula "
                f"but f(x_opt) = {measured}"
            )
        self.f_opt = formula

    def _best_parameter(self) -> np.ndarray:
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)
            try:
                self._problem._best_parameter("print")
                return np.atleast_1d(np.loadtxt(BEST_PARAMETER_FILE))
            finally:
                os.chdir(cwd)

    def __call__(self, x: np.ndarray) -> float:
        return float(self._problem(np.asarray(x, dtype=float)))


def load_bbob(function: int, dimension: int, instance: int) -> Callable[[np.ndarray], float]:
    """A BBOB function instance; raises ImportError when cocoex is missing."""
    return BbobFunction(function, dimension, instance)
