"""Plot payloads built from a study's cached columns: small, columnar and downsampled."""

from __future__ import annotations

import numpy as np

from asktell.core.errors import InvalidInput
from asktell.dashboard import analysis as an
from asktell.dashboard.data import StudyData
from asktell_client.types import CategoricalParam, FloatParam, IntParam, Param

__all__ = [
    "contour_payload",
    "edf_payload",
    "history_payload",
    "importance_payload",
    "objective_index",
    "param_info",
    "pareto_payload",
    "sample_payload",
]

IMPORTANCE_ROWS = 20_000


def objective_index(data: StudyData, name: str | None) -> int:
    """Position of the named objective (the first when None); 422 on an unknown name."""
    names = data.objective_names
    if name is None:
        return 0
    if name not in names:
        raise InvalidInput(f"unknown objective {name!r}; this study has {names}", field="objective")
    return names.index(name)


def param_info(p: Param) -> dict:
    """How a plot axis shows a parameter."""
    out: dict = {"name": p.name, "type": p.type}
    if isinstance(p, FloatParam | IntParam):
        out.update(low=p.low, high=p.high, log=p.log)
    elif isinstance(p, CategoricalParam):
        out["choices"] = [str(c) for c in p.choices]
    return out


def _objective_head(data: StudyData, j: int) -> dict:
    o = data.definition.objectives[j]
    return {"objective": o.name, "direction": o.direction.value, "total": data.n}


def history_payload(data: StudyData, j: int, max_points: int) -> dict:
    """Values in trial order (every improvement kept, the rest sampled) and the best-so-far."""
    y = data.objectives[:, j] if data.n else np.zeros(0)
    sign = data.signs()[j] if data.n else -1.0
    best = an.best_so_far(y, data.feasible, sign)
    improved = an.improvements(best)
    keep = an.history_indices(data.n, improved, max_points)
    steps = improved
    if steps.size > max_points:
        steps = steps[an.uniform_indices(steps.size, max_points)]
    out = _objective_head(data, j)
    out.update(
        shown=int(keep.size),
        ids=data.ids[keep].tolist(),
        values=an.numbers(y[keep]),
        strategy=data.strategy[keep].tolist(),
        strategies=list(data.strategy_names),
        best_ids=data.ids[steps].tolist(),
        best_values=an.numbers(best[steps]),
        last_id=int(data.ids[-1]) if data.n else None,
    )
    if data.definition.constraints:
        out["feasible"] = data.feasible[keep].astype(int).tolist()
    return out


def edf_payload(data: StudyData, j: int, points: int) -> dict:
    """The empirical distribution of the feasible values of one objective."""
    y = data.objectives[:, j][data.feasible] if data.n else np.zeros(0)
    x, frac = an.edf_points(y, points)
    out = _objective_head(data, j)
    out.update(n=int(np.isfinite(y).sum()), x=an.numbers(x), y=an.numbers(frac, 5))
    return out


def sample_payload(data: StudyData, X: np.ndarray, j: int, max_points: int) -> dict:
    """A sample of completed trials with every plotted parameter: parallel coordinates, slices."""
    y = data.objectives[:, j] if data.n else np.zeros(0)
    sign = data.signs()[j] if data.n else -1.0
    score = np.where(data.feasible, sign * y, np.nan)
    keep = an.sample_indices(score, max_points, max(1, max_points // 10))
    out = _objective_head(data, j)
    out.update(
        shown=int(keep.size),
        params=[param_info(p) for p in data.params],
        truncated=len(data.params) < sum(p.type != "fixed" for p in data.definition.space.params),
        ids=data.ids[keep].tolist(),
        values=an.numbers(y[keep]),
        feasible=data.feasible[keep].astype(int).tolist(),
        columns={p.name: an.numbers(X[keep, k]) for k, p in enumerate(data.params)},
    )
    return out


def importance_payload(data: StudyData, X: np.ndarray, j: int) -> dict:
    """Share of the objective's variance each parameter explains alone (binned), largest first."""
    rows = np.flatnonzero(data.feasible) if data.n else np.zeros(0, dtype=np.int64)
    rows = rows[an.uniform_indices(rows.size, IMPORTANCE_ROWS)]
    cat = [isinstance(p, CategoricalParam) for p in data.params]
    y = data.objectives[rows, j] if data.n else np.zeros(0)
    scores = an.importance(X[rows], y, cat) if len(data.params) else np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    out = _objective_head(data, j)
    out.update(
        n=int(rows.size),
        method="first-order variance share over 10 quantile bins per parameter",
        items=[
            {"name": data.params[k].name, "importance": an.numbers([scores[k]], 4)[0]}
            for k in order
        ],
    )
    return out


def _axis(data: StudyData, name: str, field: str, bins: int) -> tuple[int, np.ndarray, dict]:
    k = data.param_index(name)
    if k is None:
        raise InvalidInput(f"unknown or unplotted parameter {name!r}", field=field)
    p = data.params[k]
    info = param_info(p)
    if isinstance(p, CategoricalParam):
        edges = np.arange(len(p.choices) + 1) - 0.5
    elif p.log:
        edges = np.geomspace(p.low, p.high, bins + 1)
    elif isinstance(p, IntParam) and (p.high - p.low) // p.step + 1 <= bins:
        edges = np.arange(p.low, p.high + 2 * p.step, p.step) - p.step / 2
    else:
        edges = np.linspace(p.low, p.high, bins + 1)
    info["edges"] = an.numbers(edges)
    return k, edges, info


def contour_payload(data: StudyData, X: np.ndarray, j: int, x: str, y: str, bins: int) -> dict:
    """Mean objective per cell of a grid over two parameters, plus a sample of the points."""
    kx, ex, ix = _axis(data, x, "x", bins)
    ky, ey, iy = _axis(data, y, "y", bins)
    rows = np.flatnonzero(data.feasible) if data.n else np.zeros(0, dtype=np.int64)
    X = X[rows]
    z = data.objectives[rows, j] if data.n else np.zeros(0)
    means, counts = an.binned_means(X[:, kx], X[:, ky], z, ex, ey)
    pts = an.uniform_indices(rows.size, 500)
    out = _objective_head(data, j)
    out.update(
        x=ix,
        y=iy,
        z=[an.numbers(r) for r in means],
        count=counts.tolist(),
        points={
            "x": an.numbers(X[pts, kx]),
            "y": an.numbers(X[pts, ky]),
            "value": an.numbers(z[pts]),
        },
    )
    return out


def pareto_payload(data: StudyData, max_points: int) -> dict:
    """Feasible trials on every objective: the whole non-dominated front, a sample of the rest."""
    objs = [{"name": o.name, "direction": o.direction.value} for o in data.definition.objectives]
    rows = np.flatnonzero(data.feasible) if data.n else np.zeros(0, dtype=np.int64)
    Y = data.objectives[rows] if data.n else np.zeros((0, len(objs)))
    front = an.pareto_mask(-Y * data.signs()) if rows.size else np.zeros(0, dtype=bool)
    on = np.flatnonzero(front)
    if on.size > max_points:
        on = on[an.uniform_indices(on.size, max_points)]
    off = np.flatnonzero(~front)
    off = off[an.uniform_indices(off.size, max(0, max_points - on.size))]
    keep = np.concatenate([off, on])
    return {
        "objectives": objs,
        "total": int(rows.size),
        "front_size": int(front.sum()),
        "ids": data.ids[rows[keep]].tolist(),
        "values": [an.numbers(Y[keep, k]) for k in range(len(objs))],
        "front": front[keep].astype(int).tolist(),
    }
