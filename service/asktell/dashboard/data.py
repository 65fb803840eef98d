"""Completed trials of a study as numpy columns, cached per process and refreshed incrementally.

Every plot of a study reads the same columns (ids, objective and constraint values,
parameters, strategy, finish time). Loading them from JSON rows is the expensive part,
so one copy per study is kept and, when trials complete, only the new rows are read.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from asktell_client.types import CategoricalParam, FixedParam, Param
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from asktell.core.study import StudyDefinition
from asktell.db import repository as repo
from asktell.db.models import StudyRow, TrialRow

__all__ = ["MAX_PARAMS", "StudyData", "completed_stamp", "load_study_data", "plotted_params"]

MAX_PARAMS = 50
"""Parameters beyond this many (in space order) are left out of the plots."""

_MAX_STUDIES = 16
_FULL_LOAD_ABOVE = 2000
_CHUNK = 500

Stamp = tuple[int, int, int]


@dataclass
class StudyData:
    """Columns of a study's completed trials, sorted by trial id."""

    study_id: int
    created_at: datetime
    definition: StudyDefinition
    params: list[Param]
    stamp: Stamp = (0, 0, 0)
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    objectives: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    constraints: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    feasible: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    strategy: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    strategy_names: list[str] = field(default_factory=list)
    finished: np.ndarray = field(default_factory=lambda: np.zeros(0))
    X: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

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
    """The parameters that plots show: not fixed, at most MAX_PARAMS of them."""
    return [p for p in definition.space.params if not isinstance(p, FixedParam)][:MAX_PARAMS]


def completed_stamp(session: Session, study_id: int) -> Stamp:
    """(count, max id, sum of ids) of the completed trials: changes whenever the set does."""
    n, top, total = session.execute(
        select(func.count(), func.max(TrialRow.id), func.sum(TrialRow.id)).where(
            TrialRow.study_id == study_id, TrialRow.state == "completed"
        )
    ).one()
    return int(n or 0), int(top or 0), int(total or 0)


_entries: OrderedDict[int, StudyData] = OrderedDict()
_locks: dict[int, threading.Lock] = {}
_registry_lock = threading.Lock()


def _lock_for(study_id: int) -> threading.Lock:
    with _registry_lock:
        return _locks.setdefault(study_id, threading.Lock())


def cached_data(study_id: int, stamp: Stamp) -> StudyData | None:
    """The cached columns of a study if they are current for `stamp`."""
    with _registry_lock:
        entry = _entries.get(study_id)
    return entry if entry is not None and entry.stamp == stamp else None


def load_study_data(session: Session, study: StudyRow) -> StudyData:
    """The study's completed-trial columns, read from the database only where they changed."""
    stamp = completed_stamp(session, study.id)
    with _registry_lock:
        entry = _entries.get(study.id)
    if _current(entry, study, stamp):
        return entry
    with _lock_for(study.id):
        with _registry_lock:
            entry = _entries.get(study.id)
        if _current(entry, study, stamp):
            return entry
        if entry is None or entry.created_at != study.created_at:
            definition = repo.definition_of(study)
            entry = StudyData(study.id, study.created_at, definition, plotted_params(definition))
        entry = _refresh(session, entry)
        with _registry_lock:
            _entries[study.id] = entry
            _entries.move_to_end(study.id)
            while len(_entries) > _MAX_STUDIES:
                _entries.popitem(last=False)
        return entry


def _current(entry: StudyData | None, study: StudyRow, stamp: Stamp) -> bool:
    return entry is not None and entry.created_at == study.created_at and entry.stamp == stamp


def _refresh(session: Session, entry: StudyData) -> StudyData:
    ids = np.fromiter(
        session.scalars(
            select(TrialRow.id)
            .where(TrialRow.study_id == entry.study_id, TrialRow.state == "completed")
            .order_by(TrialRow.id)
        ),
        dtype=np.int64,
    )
    if entry.n and not np.isin(entry.ids, ids, assume_unique=True).all():
        entry = StudyData(entry.study_id, entry.created_at, entry.definition, entry.params)
    new = ids[~np.isin(ids, entry.ids, assume_unique=True)] if entry.n else ids
    if new.size == 0:
        entry.stamp = _stamp_of(entry.ids)
        return entry
    base = select(
        TrialRow.id, TrialRow.params, TrialRow.values, TrialRow.strategy, TrialRow.finished_at
    ).where(TrialRow.study_id == entry.study_id, TrialRow.state == "completed")
    if new.size > _FULL_LOAD_ABOVE:
        wanted = set(new.tolist())
        rows = [r for r in session.execute(base) if r[0] in wanted]
    else:
        rows = []
        for start in range(0, new.size, _CHUNK):
            chunk = new[start : start + _CHUNK].tolist()
            rows.extend(session.execute(base.where(TrialRow.id.in_(chunk))))
    return _append(entry, rows)


def _stamp_of(ids: np.ndarray) -> Stamp:
    return (int(ids.size), int(ids.max()) if ids.size else 0, int(ids.sum()) if ids.size else 0)


def _append(entry: StudyData, rows: list) -> StudyData:
    d = entry.definition
    obj_names = [o.name for o in d.objectives]
    con = d.constraints
    n = len(rows)
    ids = np.empty(n, dtype=np.int64)
    Y = np.full((n, len(obj_names)), np.nan)
    C = np.full((n, len(con)), np.nan)
    strat = np.empty(n, dtype=np.int32)
    fin = np.full(n, np.nan)
    X = np.full((n, len(entry.params)), np.nan)
    names = {s: i for i, s in enumerate(entry.strategy_names)}
    encoders = [_encoder(p) for p in entry.params]
    for i, (tid, params, values, strategy, finished) in enumerate(rows):
        ids[i] = tid
        values = values or {}
        for j, name in enumerate(obj_names):
            Y[i, j] = _float(values.get(name))
        for j, c in enumerate(con):
            C[i, j] = _float(values.get(c.name))
        key = strategy or "unknown"
        if key not in names:
            names[key] = len(names)
            entry.strategy_names.append(key)
        strat[i] = names[key]
        if finished is not None:
            fin[i] = finished.timestamp()
        for j, p in enumerate(entry.params):
            if p.name in params:
                X[i, j] = encoders[j](params[p.name])
    feasible = np.all(np.isfinite(Y), axis=1)
    for j, c in enumerate(con):
        if c.upper is not None:
            feasible &= ~(C[:, j] > c.upper)
        if c.lower is not None:
            feasible &= ~(C[:, j] < c.lower)
        feasible &= np.isfinite(C[:, j])
    cat = np.concatenate
    all_ids = cat([entry.ids, ids])
    order = np.argsort(all_ids, kind="stable")
    entry.ids = all_ids[order]
    entry.objectives = cat([entry.objectives.reshape(-1, len(obj_names)), Y])[order]
    entry.constraints = cat([entry.constraints.reshape(-1, len(con)), C])[order]
    entry.feasible = cat([entry.feasible, feasible])[order]
    entry.strategy = cat([entry.strategy, strat])[order]
    entry.finished = cat([entry.finished, fin])[order]
    entry.X = cat([entry.X.reshape(-1, len(entry.params)), X])[order]
    entry.stamp = _stamp_of(entry.ids)
    return entry


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
            return index.get(_choice_key(v), math.nan)

        return encode
    return _float
