"""Test functions with published definitions and optima (all minimized)."""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "BRANIN_MIN",
    "BRANIN_CURRIN_MAX_HV",
    "BRANIN_CURRIN_REF",
    "HARTMANN6_MIN",
    "PRESSURE_VESSEL_BEST",
    "WELDED_BEAM_BEST",
    "ackley",
    "branin",
    "branin_currin",
    "currin",
    "hartmann6",
    "hypervolume_2d",
    "levy",
    "pressure_vessel",
    "welded_beam",
]

BRANIN_MIN = 0.397887357729738
HARTMANN6_MIN = -3.32236801141551
# Best known value of the pressure vessel with thicknesses in steps of 0.0625 in.
PRESSURE_VESSEL_BEST = 6059.714335
# Best known value of the welded beam (Coello's formulation).
WELDED_BEAM_BEST = 1.724852
# BoTorch's BraninCurrin reference point and the hypervolume of its Pareto front.
BRANIN_CURRIN_REF = (18.0, 6.0)
BRANIN_CURRIN_MAX_HV = 59.36011874867746

_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def branin(x1: float, x2: float) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887 at three points."""
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(x: np.ndarray) -> float:
    """Hartmann 6-D on [0, 1]^6; minimum -3.32237."""
    inner = np.sum(_H6_A * (np.asarray(x)[None, :] - _H6_P) ** 2, axis=1)
    return float(-np.sum(_H6_ALPHA * np.exp(-inner)))


def ackley(x: np.ndarray) -> float:
    """Ackley (a=20, b=0.2, c=2 pi); minimum 0 at the origin."""
    x = np.asarray(x, dtype=float)
    a, b, c = 20.0, 0.2, 2 * math.pi
    s1 = math.sqrt(float(np.mean(x**2)))
    s2 = float(np.mean(np.cos(c * x)))
    return -a * math.exp(-b * s1) - math.exp(s2) + a + math.e


def levy(x: np.ndarray) -> float:
    """Levy; minimum 0 at (1, ..., 1)."""
    w = 1 + (np.asarray(x, dtype=float) - 1) / 4
    head = math.sin(math.pi * w[0]) ** 2
    mid = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + mid + tail)


def currin(x1: float, x2: float) -> float:
    """Currin exponential on [0, 1]^2."""
    factor = 1.0 if x2 <= 0 else 1 - math.exp(-1 / (2 * x2))
    num = 2300 * x1**3 + 1900 * x1**2 + 2092 * x1 + 60
    den = 100 * x1**3 + 500 * x1**2 + 4 * x1 + 20
    return factor * num / den


def branin_currin(x1: float, x2: float) -> tuple[float, float]:
    """BraninCurrin on [0, 1]^2 (both minimized), as in BoTorch's test problem."""
    return branin(15 * x1 - 5, 15 * x2), currin(x1, x2)


def hypervolume_2d(points: np.ndarray, ref: tuple[float, float]) -> float:
    """Hypervolume dominated by `points` (n x 2, minimized) and bounded by `ref`."""
    P = np.asarray(points, dtype=float).reshape(-1, 2)
    P = P[(P[:, 0] < ref[0]) & (P[:, 1] < ref[1])]
    if len(P) == 0:
        return 0.0
    P = P[np.lexsort((P[:, 1], P[:, 0]))]
    hv, best_y = 0.0, ref[1]
    for x, y in P:
        if y < best_y:
            hv += (ref[0] - x) * (best_y - y)
            best_y = y
    return hv


def pressure_vessel(ts: float, th: float, r: float, length: float) -> tuple[float, list[float]]:
    """Cost and constraint slacks (<= 0 feasible, scaled to order one) of the pressure vessel."""
    cost = (
        0.6224 * ts * r * length + 1.7781 * th * r**2 + 3.1661 * ts**2 * length + 19.84 * ts**2 * r
    )
    volume = math.pi * r**2 * length + 4 / 3 * math.pi * r**3
    g = [0.0193 * r - ts, 0.00954 * r - th, 1 - volume / 1_296_000]
    return cost, g


def welded_beam(h: float, length: float, t: float, b: float) -> tuple[float, list[float]]:
    """Cost and constraint slacks (<= 0 feasible, scaled to order one) of the welded beam."""
    P, L, E, G = 6000.0, 14.0, 30e6, 12e6
    tau_max, sigma_max, delta_max = 13600.0, 30000.0, 0.25
    cost = 1.10471 * h**2 * length + 0.04811 * t * b * (14 + length)
    tau1 = P / (math.sqrt(2) * h * length)
    M = P * (L + length / 2)
    R = math.sqrt(length**2 / 4 + ((h + t) / 2) ** 2)
    J = 2 * (math.sqrt(2) * h * length * (length**2 / 12 + ((h + t) / 2) ** 2))
    tau2 = M * R / J
    tau = math.sqrt(tau1**2 + 2 * tau1 * tau2 * length / (2 * R) + tau2**2)
    sigma = 6 * P * L / (b * t**2)
    delta = 4 * P * L**3 / (E * t**3 * b)
    pc = 4.013 * E * math.sqrt(t**2 * b**6 / 36) / L**2 * (1 - t / (2 * L) * math.sqrt(E / (4 * G)))
    g = [
        tau / tau_max - 1,
        sigma / sigma_max - 1,
        h - b,
        (0.10471 * h**2 + 0.04811 * t * b * (14 + length)) / 5 - 1,
        delta / delta_max - 1,
        1 - pc / P,
    ]
    return cost, g
