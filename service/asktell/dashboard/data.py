"""Completed trials of a study as numpy columns, cached per process and refreshed incrementally.

Every plot of a study reads the same columns (ids, metric values, strategy and,
for the parameter plots, parameter values). Reading them is the expensive part
of a request on a big study, so one snapshot per study is kept: when trials
complete only the new rows are read, and a parameter column is read the first
time a plot needs it. Snapshots are never changed in place once published,
except that parameter columns may be added to them.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from asktell.core.study import StudyDefinition
from asktell.dashboard.queries import Stats, study_stats
from asktell.db import repository as repo
from asktell.db.models import StudyRow, TrialRow
from asktell_client.types import ArrayParam, CategoricalParam, FixedParam, Param

__all__ = [
    "MAX_PARAMS",
    "StudyData",
    "load_study_data",
    "param_matrix",
    "plotted_params",
]

MAX_PARAMS = 50
"""Parameters beyond this many (in space order) are left out of the plots."""

_MAX_STUDIES = 16
_MAX_CELLS = 25_000_000
"""Numbers kept over all cached studies (8 bytes each); the least recently used go first."""
_FULL_LOAD_ABOVE = 2000
_CHUNK = 500
_MAX_WATCHED = 5000
MAY_COMPLETE = ["pending", "running", "stale"]

Stamp = tuple[int, int]


@dataclass(frozen=True)
class StudyData:
    """Columns of a study's completed trials, sorted by trial id."""

    study_id: int
    created_at: datetime
    definition: StudyDefinition
    params: list[Param]
    stamp: Stamp
    ids: np.ndarray
    objectives: np.ndarray
    constraints: np.ndarray
    feasible: np.ndarray
    strategy: np.ndarray
    strategy_names: tuple[str, ...]
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    seen_max: int = 0
    open_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def empty(cls, study_id: int, created_at: datetime, definition: StudyDefinition) -> StudyData:
        return cls(
            study_id=study_id,
            created_at=created_at,
            definition=definition,
            params=plotted_params(definition),
            stamp=(0, 0),
            ids=np.zeros(0, dtype=np.int64),
            objectives=np.zeros((0, len(definition.objectives))),
            constraints=np.zeros((0, len(definition.constraints))),
            feasible=np.zeros(0, dtype=bool),
            strategy=np.zeros(0, dtype=np.int32),
            strategy_names=(),
        )

    @property
    def n(self) -> int:
        return int(self.ids.size)

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.definition.objectives]

    def signs(self) -> np.ndarray:
        """+1 per objective where larger is better."""
        return np.array([self.definition.sign(o) for o in self.definition.objectives])

    def param_index(self, name: str) -> int | None:
        for i, p in enumerate(self.params):
            if p.name == name:
                return i
        return None


def plotted_params(definition: StudyDefinition) -> list[Param]:
    """The parameters that plots show: not fixed nor arrays, at most MAX_PARAMS of them."""
    shown = [p for p in definition.space.params if not isinstance(p, FixedParam | ArrayParam)]
    return shown[:MAX_PARAMS]


_entries: OrderedDict[int, StudyData] = OrderedDict()
_locks: dict[int, threading.Lock] = {}
_registry_lock = threading.Lock()


def _lock_for(study_id: int) -> threading.Lock:
    with _registry_lock:
        return _locks.setdefault(study_id, threading.Lock())


def _cached(study: StudyRow, stamp: Stamp | None) -> StudyData | None:
    with _registry_lock:
        entry = _entries.get(study.id)
    if entry is None or entry.created_at != study.created_at:
        return None
    return entry if stamp is None or entry.stamp == stamp else None


def _publish(entry: StudyData) -> None:
    with _registry_lock:
        _entries[entry.study_id] = entry
        _entries.move_to_end(entry.study_id)
        _trim()


def _cells(entry: StudyData) -> int:
    width = 2 + entry.objectives.shape[1] + entry.constraints.shape[1] + len(entry.columns)
    return entry.n * width


def _trim() -> None:
    """Drop the least recently used studies beyond the count and memory budgets (lock held)."""
    while len(_entries) > 1 and (
        len(_entries) > _MAX_STUDIES or sum(map(_cells, _entries.values())) > _MAX_CELLS
    ):
        _entries.popitem(last=False)


def load_study_data(session: Session, study: StudyRow, stats: Stats | None = None) -> StudyData:
    """The study's completed-trial columns, read from the database only where they changed.

    `stats` are the study's counts when the caller already read them in this transaction.
    """
    stats = stats or study_stats(session, [study.id])[study.id]
    found = _cached(study, stats.completed)
    if found is not None:
        return found
    with _lock_for(study.id):
        found = _cached(study, stats.completed)
        if found is not None:
            return found
        entry = _cached(study, None) or StudyData.empty(
            study.id, study.created_at, repo.definition_of(study)
        )
        entry = _refresh(session, entry, stats)
        _publish(entry)
        return entry


def param_matrix(session: Session, data: StudyData) -> np.ndarray:
    """The plotted parameters of every row (n by params; categoricals as choice indices)."""
    missing = [p for p in data.params if p.name not in data.columns]
    if missing:
        with _lock_for(data.study_id):
            missing = [p for p in data.params if p.name not in data.columns]
            if missing:
                _read_columns(session, data, missing)
                with _registry_lock:
                    _trim()
    if not data.params:
        return np.zeros((data.n, 0))
    return np.column_stack([data.columns[p.name] for p in data.params])


def _read_columns(session: Session, data: StudyData, params: list[Param]) -> None:
    """Read parameter columns of every cached row with one query, aligned on the cached ids."""
    readers = [_column_reader(p) for p in params]
    rows = (
        _conn(session)
        .execute(
            select(TrialRow.id, *[expr for expr, _ in readers]).where(
                TrialRow.study_id == data.study_id, TrialRow.state == "completed"
            )
        )
        .all()
    )
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    pos = np.searchsorted(data.ids, ids)
    ok = pos < data.n
    ok[ok] = data.ids[pos[ok]] == ids[ok]
    for k, (_, decode) in enumerate(readers):
        col = np.full(data.n, np.nan)
        col[pos[ok]] = decode([r[k + 1] for r in rows])[ok]
        data.columns[params[k].name] = col


def _column_reader(p: Param):
    """The SQL expression of a parameter and how to turn its results into floats.

    Numbers come back as floats; categorical choices as their index, read as text or
    numbers where the choices allow it (fast on both engines), else as JSON.
    """
    if not isinstance(p, CategoricalParam):
        return TrialRow.params[p.name].as_float(), lambda vals: np.array(vals, dtype=float)
    choices = list(p.choices)
    if all(isinstance(c, str) for c in choices):
        index = {c: float(k) for k, c in enumerate(choices)}
        expr = TrialRow.params[p.name].as_string()
    elif not any(isinstance(c, bool | str) for c in choices):
        index = {float(c): float(k) for k, c in enumerate(choices)}
        expr = TrialRow.params[p.name].as_float()
    else:
        encode = _encoder(p)
        return TrialRow.params[p.name], lambda vals: np.array([encode(v) for v in vals])

    def decode(vals: list) -> np.ndarray:
        return np.array([index.get(v, math.nan) for v in vals], dtype=float)

    return expr, decode


def _conn(session: Session):
    """The session's connection: bulk reads skip the ORM's per-row work."""
    return session.connection()


def _refresh(session: Session, entry: StudyData, stats: Stats) -> StudyData:
    """Bring a snapshot up to date: read only trials that completed since it was taken."""
    # what may complete later: the trials open now and those created after now
    open_now = np.fromiter(
        _conn(session).scalars(
            select(TrialRow.id).where(
                TrialRow.study_id == entry.study_id, TrialRow.state.in_(MAY_COMPLETE)
            )
        ),
        dtype=np.int64,
    )
    watch = {"seen_max": stats.max_id, "open_ids": open_now}
    if entry.n == 0:
        return replace(_full(session, entry), **watch)
    new = _newly_completed(session, entry)
    if new is None or entry.n + new.size != stats.completed[0]:
        new = _completed_diff(session, entry)
        if new is None:
            return replace(_full(session, entry), **watch)
    if new.size == 0:
        return replace(entry, stamp=_stamp_of(entry.ids), **watch)
    if new.size > _FULL_LOAD_ABOVE:
        return replace(_full(session, entry), **watch)
    rows = []
    base = select(TrialRow.id, TrialRow.strategy, TrialRow.values, TrialRow.params)
    for start in range(0, new.size, _CHUNK):
        chunk = new[start : start + _CHUNK].tolist()
        rows.extend(_conn(session).execute(base.where(TrialRow.id.in_(chunk))))
    return replace(_merge(entry, _parse_rows(entry, rows), keep_columns=True), **watch)


def _full(session: Session, entry: StudyData) -> StudyData:
    fresh = StudyData.empty(entry.study_id, entry.created_at, entry.definition)
    return _merge(fresh, _read_metrics(session, fresh), keep_columns=False)


def _newly_completed(session: Session, entry: StudyData) -> np.ndarray | None:
    """Completed trials among those open or not yet created when the snapshot was taken
    (completed is final, ids only grow); None when too many were open to ask cheaply."""
    if entry.open_ids.size > _MAX_WATCHED:
        return None
    base = select(TrialRow.id).where(
        TrialRow.study_id == entry.study_id, TrialRow.state == "completed"
    )
    found = list(_conn(session).scalars(base.where(TrialRow.id > entry.seen_max)))
    for start in range(0, entry.open_ids.size, _CHUNK):
        chunk = entry.open_ids[start : start + _CHUNK].tolist()
        found.extend(_conn(session).scalars(base.where(TrialRow.id.in_(chunk))))
    ids = np.unique(np.array(found, dtype=np.int64))
    return ids[~np.isin(ids, entry.ids, assume_unique=True)]


def _completed_diff(session: Session, entry: StudyData) -> np.ndarray | None:
    """Every completed id compared with the snapshot's; None when some have gone."""
    ids = np.fromiter(
        _conn(session).scalars(
            select(TrialRow.id)
            .where(TrialRow.study_id == entry.study_id, TrialRow.state == "completed")
            .order_by(TrialRow.id)
        ),
        dtype=np.int64,
    )
    if not np.isin(entry.ids, ids, assume_unique=True).all():
        return None
    return ids[~np.isin(ids, entry.ids, assume_unique=True)]


@dataclass
class _Batch:
    ids: np.ndarray
    objectives: np.ndarray
    constraints: np.ndarray
    strategy: list[str | None]
    columns: dict[str, np.ndarray]


def _read_metrics(session: Session, entry: StudyData) -> _Batch:
    """Every completed row's metrics and strategy, extracted by the database."""
    d = entry.definition
    names = [o.name for o in d.objectives] + [c.name for c in d.constraints]
    rows = (
        _conn(session)
        .execute(
            select(TrialRow.id, TrialRow.strategy, *[TrialRow.values[m].as_float() for m in names])
            .where(TrialRow.study_id == entry.study_id, TrialRow.state == "completed")
            .order_by(TrialRow.id)
        )
        .all()
    )
    n, k = len(rows), len(d.objectives)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    M = np.empty((n, len(names)))
    for j in range(len(names)):
        M[:, j] = np.array([r[j + 2] for r in rows], dtype=float)
    return _Batch(ids, M[:, :k], M[:, k:], [r[1] for r in rows], {})


def _parse_rows(entry: StudyData, rows: list) -> _Batch:
    """A few new rows with their JSON parsed here, parameter columns included."""
    d = entry.definition
    n = len(rows)
    Y = np.array([[_float((r[2] or {}).get(o.name)) for o in d.objectives] for r in rows])
    C = np.array([[_float((r[2] or {}).get(c.name)) for c in d.constraints] for r in rows])
    columns = {}
    for p in entry.params:
        encode = _encoder(p)
        columns[p.name] = np.array([encode((r[3] or {}).get(p.name)) for r in rows], dtype=float)
    return _Batch(
        np.array([r[0] for r in rows], dtype=np.int64),
        Y.reshape(n, len(d.objectives)),
        C.reshape(n, len(d.constraints)),
        [r[1] for r in rows],
        columns,
    )


def _merge(entry: StudyData, batch: _Batch, *, keep_columns: bool) -> StudyData:
    names = list(entry.strategy_names)
    index = {s: i for i, s in enumerate(names)}
    codes = np.empty(len(batch.strategy), dtype=np.int32)
    for i, s in enumerate(batch.strategy):
        key = s or "unknown"
        if key not in index:
            index[key] = len(names)
            names.append(key)
        codes[i] = index[key]
    feasible = np.all(np.isfinite(batch.objectives), axis=1)
    for j, c in enumerate(entry.definition.constraints):
        v = batch.constraints[:, j]
        feasible &= np.isfinite(v)
        if c.upper is not None:
            feasible &= ~(v > c.upper)
        if c.lower is not None:
            feasible &= ~(v < c.lower)
    if not keep_columns:
        entry = StudyData.empty(entry.study_id, entry.created_at, entry.definition)
    cat = np.concatenate
    all_ids = cat([entry.ids, batch.ids])
    order = np.argsort(all_ids, kind="stable")
    columns = {
        name: cat([col, batch.columns[name]])[order]
        for name, col in entry.columns.items()
        if name in batch.columns
    }
    return replace(
        entry,
        stamp=_stamp_of(all_ids),
        ids=all_ids[order],
        objectives=cat([entry.objectives, batch.objectives])[order],
        constraints=cat([entry.constraints, batch.constraints])[order],
        feasible=cat([entry.feasible, feasible])[order],
        strategy=cat([entry.strategy, codes])[order],
        strategy_names=tuple(names),
        columns=columns,
    )


def _stamp_of(ids: np.ndarray) -> Stamp:
    return int(ids.size), int(ids.max()) if ids.size else 0


def _float(v) -> float:
    if v is None or isinstance(v, bool):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _choice_key(v) -> tuple[bool, object]:
    """A dict key that keeps booleans apart from the numbers 0 and 1."""
    return isinstance(v, bool), v


def _encoder(p: Param):
    """Parameter value → float: the number itself, or a categorical's choice index."""
    if isinstance(p, CategoricalParam):
        index = {_choice_key(c): float(k) for k, c in enumerate(p.choices)}

        def encode(v) -> float:
            try:
                return index.get(_choice_key(v), math.nan)
            except TypeError:
                return math.nan

        return encode
    return _float
