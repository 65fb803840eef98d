"""Aggregation SQL of the dashboard (SQLite and PostgreSQL alike, through SQLAlchemy)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from asktell.core.errors import InvalidInput
from asktell.dashboard.memo import Memo
from asktell.db import repository as repo
from asktell.db.models import (
    IntermediateRow,
    JobRow,
    OperationRow,
    StudyRow,
    TrialRow,
    WorkerRow,
    utcnow,
)

__all__ = [
    "Stats",
    "TrialFilter",
    "intermediate_curves",
    "last_activity",
    "queue_status",
    "strategy_counts",
    "study_filter",
    "study_stats",
    "timeline_rows",
    "trials_page",
]

TRIAL_COLUMNS = {
    "id": TrialRow.id,
    "state": TrialRow.state,
    "created_at": TrialRow.created_at,
    "started_at": TrialRow.started_at,
    "finished_at": TrialRow.finished_at,
    "evaluator": TrialRow.evaluator,
    "strategy": TrialRow.strategy,
}
WORKER_ALIVE_SECONDS = 60.0
OTHER_STATES = ["pending", "running", "failed", "stopped", "stale"]
BACKWARD_SCAN_MIN = 5000


@dataclass(frozen=True)
class Stats:
    """Trial counts of a study, a stamp that changes whenever a trial is added or changes
    state, and the (count, max id) of its completed trials."""

    counts: dict[str, int]
    stamp: str
    completed: tuple[int, int]
    max_id: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def study_stats(session: Session, study_ids: list[int]) -> dict[int, Stats]:
    """Counts and change stamps of several studies from one index-only aggregate."""
    if not study_ids:
        return {}
    parts: dict[int, list] = defaultdict(list)
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    completed: dict[int, tuple[int, int]] = {}
    top_ids: dict[int, int] = defaultdict(int)
    rows = session.execute(
        select(TrialRow.study_id, TrialRow.state, func.count(), func.max(TrialRow.id))
        .where(TrialRow.study_id.in_(study_ids))
        .group_by(TrialRow.study_id, TrialRow.state)
        .order_by(TrialRow.study_id, TrialRow.state)
    )
    for sid, state, n, top in rows:
        counts[sid][state] = int(n)
        parts[sid].append(f"{state}:{n}:{top}")
        top_ids[sid] = max(top_ids[sid], int(top))
        if state == "completed":
            completed[sid] = (int(n), int(top))
    return {
        sid: Stats(
            counts=dict(counts.get(sid, {})),
            stamp=hashlib.blake2s(",".join(parts.get(sid, [])).encode(), digest_size=6).hexdigest(),
            completed=completed.get(sid, (0, 0)),
            max_id=top_ids.get(sid, 0),
        )
        for sid in study_ids
    }


def study_filter(session: Session, study_id: int, stats: Stats):
    """`trials.study_id = :id`, written so that SQLite walks the table backwards by id when the
    study holds a good share of all trials: newest-first pages then stop after a few rows
    instead of sorting every index entry of the study."""
    if session.get_bind().dialect.name == "sqlite" and stats.total >= BACKWARD_SCAN_MIN:
        top = session.scalar(select(func.max(TrialRow.id))) or 0
        if stats.total * 4 >= top:
            return TrialRow.study_id + 0 == study_id
    return TrialRow.study_id == study_id


ACTIVITY_WINDOW = 200
_activity = Memo()


def last_activity(session: Session, study: StudyRow, stats: Stats) -> datetime:
    """The latest of the study's update and the creation, heartbeat and end of its newest
    trials (memoised per stamp; trials are created in id order, so the newest ones are read)."""

    def compute() -> datetime | None:
        newest = (
            select(TrialRow.id)
            .where(study_filter(session, study.id, stats))
            .order_by(TrialRow.id.desc())
            .limit(ACTIVITY_WINDOW)
        )
        ids = list(session.scalars(newest))
        row = session.execute(
            select(
                func.max(TrialRow.created_at),
                func.max(TrialRow.finished_at),
                func.max(TrialRow.heartbeat_at),
            ).where(TrialRow.id.in_(ids))
        ).one()
        return _aware(max((t for t in row if t is not None), default=None))

    found = _activity.get((study.id, study.created_at, stats.stamp), compute)
    return max(study.updated_at, found) if found else study.updated_at


def _aware(t: datetime | None) -> datetime | None:
    if t is not None and t.tzinfo is None:
        return t.replace(tzinfo=UTC)
    return t


def strategy_counts(
    session: Session, study_id: int, completed: dict[str, int]
) -> dict[str, dict[str, int]]:
    """Trials per strategy and state; `completed` (per strategy) comes from the cached columns,
    the other states are read through the (study, state) index."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for strategy, n in completed.items():
        out[strategy]["completed"] = n
    rows = session.execute(
        select(TrialRow.strategy, TrialRow.state, func.count())
        .where(TrialRow.study_id == study_id, TrialRow.state.in_(OTHER_STATES))
        .group_by(TrialRow.strategy, TrialRow.state)
    )
    for strategy, state, n in rows:
        out[strategy or "unknown"][state] = n
    return dict(out)


@dataclass(frozen=True)
class TrialFilter:
    states: list[str] | None = None
    strategy: str | None = None
    evaluator: str | None = None


def _sort_column(study: StudyRow, sort: str):
    if sort in TRIAL_COLUMNS:
        return TRIAL_COLUMNS[sort]
    kind, _, name = sort.partition(".")
    definition = repo.definition_of(study)
    if kind == "value" and name in definition.metric_names:
        return TrialRow.values[name].as_float()
    if kind == "param" and name in definition.space.by_name:
        p = definition.space.by_name[name]
        if p.type == "array":
            raise InvalidInput(f"array parameter {name!r} cannot be sorted on", field="sort")
        if p.type in ("float", "int"):
            return TrialRow.params[name].as_float()
        return TrialRow.params[name].as_string()
    raise InvalidInput(
        f"unknown sort key {sort!r}: use one of {sorted(TRIAL_COLUMNS)}, "
        "value.<metric> or param.<name>",
        field="sort",
    )


def trials_page(
    session: Session,
    study: StudyRow,
    stats: Stats,
    *,
    where: TrialFilter,
    sort: str,
    descending: bool,
    offset: int,
    limit: int,
) -> tuple[int, list[TrialRow]]:
    """One page of a study's trials in the given order, and how many match the filter."""
    col = _sort_column(study, sort)
    conds = [TrialRow.study_id == study.id]
    order_conds = [study_filter(session, study.id, stats) if col is TrialRow.id else conds[0]]
    if where.states:
        conds.append(TrialRow.state.in_(where.states))
    if where.strategy is not None:
        conds.append(TrialRow.strategy == where.strategy)
    if where.evaluator is not None:
        conds.append(TrialRow.evaluator == where.evaluator)
    order_conds += conds[1:]
    total = session.scalar(select(func.count()).select_from(TrialRow).where(*conds)) or 0
    order = [(col.desc() if descending else col.asc()).nulls_last()]
    if col is not TrialRow.id:
        order.append(TrialRow.id.desc() if descending else TrialRow.id.asc())
    # sort ids alone, then read the page's rows: the sorter never carries JSON documents
    ids = list(
        session.scalars(
            select(TrialRow.id).where(*order_conds).order_by(*order).offset(offset).limit(limit)
        )
    )
    rows = {r.id: r for r in session.scalars(select(TrialRow).where(TrialRow.id.in_(ids)))}
    return total, [rows[i] for i in ids if i in rows]


def timeline_rows(session: Session, study_id: int, stats: Stats, limit: int) -> list[tuple]:
    """Latest trials: (id, evaluator, state, strategy, created, started, finished, heartbeat)."""
    ids = list(
        session.scalars(
            select(TrialRow.id)
            .where(study_filter(session, study_id, stats))
            .order_by(TrialRow.id.desc())
            .limit(limit)
        )
    )
    return list(
        session.execute(
            select(
                TrialRow.id,
                TrialRow.evaluator,
                TrialRow.state,
                TrialRow.strategy,
                TrialRow.created_at,
                TrialRow.started_at,
                TrialRow.finished_at,
                TrialRow.heartbeat_at,
            )
            .where(TrialRow.id.in_(ids))
            .order_by(TrialRow.id.desc())
        )
    )


def intermediate_curves(
    session: Session, study_id: int, max_trials: int
) -> list[tuple[int, str, list[tuple[int, dict]]]]:
    """The latest trials that reported intermediate values: (id, state, [(step, values)])."""
    has_steps = exists().where(IntermediateRow.trial_id == TrialRow.id)
    trials = list(
        session.execute(
            select(TrialRow.id, TrialRow.state)
            .where(TrialRow.study_id == study_id, has_steps)
            .order_by(TrialRow.id.desc())
            .limit(max_trials)
        )
    )
    steps = repo.intermediates_of(session, trial_ids=[t[0] for t in trials])
    return [(tid, state, sorted(steps.get(tid, {}).items())) for tid, state in trials]


def queue_status(session: Session, study_id: int, project_id: int) -> dict:
    """The study's suggestion jobs and waiting asks, and every worker seen lately."""
    now = utcnow()
    open_jobs = list(
        session.execute(
            select(JobRow, WorkerRow.device, WorkerRow.host)
            .outerjoin(WorkerRow, WorkerRow.id == JobRow.worker_id)
            .where(JobRow.study_id == study_id, JobRow.state.in_(["queued", "leased"]))
            .order_by(JobRow.id)
        )
    )
    recent = list(
        session.execute(
            select(JobRow, WorkerRow.device, WorkerRow.host)
            .outerjoin(WorkerRow, WorkerRow.id == JobRow.worker_id)
            .where(JobRow.study_id == study_id, JobRow.state.in_(["done", "failed"]))
            .order_by(JobRow.id.desc())
            .limit(10)
        )
    )
    waiting = session.scalar(
        select(func.count()).where(
            OperationRow.study_id == study_id, OperationRow.state == "waiting"
        )
    )
    since = now - timedelta(hours=1)
    workers = list(
        session.scalars(
            select(WorkerRow)
            .where(WorkerRow.heartbeat_at >= since)
            .order_by(WorkerRow.heartbeat_at.desc())
            .limit(50)
        )
    )
    busy = dict(
        session.execute(
            select(JobRow.worker_id, JobRow.study_id)
            .join(StudyRow, StudyRow.id == JobRow.study_id)
            .where(
                JobRow.state == "leased",
                JobRow.lease_expires_at >= now,
                StudyRow.project_id == project_id,
            )
        ).all()
    )
    return {
        "now": now,
        "jobs": [_job(j, device, host, now) for j, device, host in open_jobs + recent],
        "waiting_asks": int(waiting or 0),
        "workers": [
            {
                "id": w.id,
                "host": w.host,
                "device": w.device,
                "started_at": w.started_at,
                "heartbeat_age": _seconds(now - w.heartbeat_at),
                "alive": (now - w.heartbeat_at).total_seconds() < WORKER_ALIVE_SECONDS,
                "study_id": busy.get(w.id),
            }
            for w in workers
        ],
    }


def _job(j: JobRow, device: str | None, host: str | None, now: datetime) -> dict:
    expired = j.state == "leased" and j.lease_expires_at is not None and j.lease_expires_at < now
    return {
        "id": j.id,
        "kind": j.kind,
        "state": "expired" if expired else j.state,
        "attempts": j.attempts,
        "worker_id": j.worker_id,
        "device": device,
        "host": host,
        "age": _seconds(now - j.created_at),
        "leased_for": _seconds(now - j.leased_at) if j.leased_at and j.state == "leased" else None,
        "compute_seconds": j.compute_seconds,
        "strategy": j.strategy,
        "error": j.error,
        "created_at": j.created_at,
        "finished_at": j.finished_at,
    }


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 3)
