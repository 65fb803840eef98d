"""Run one suggestion job: snapshot → strategy → trials, written in one transaction.

A job serves every ask of the study that is waiting when it starts. With
`prefetch = k` in the study's settings it also computes k extra points and
keeps them as pending, prefetched trials (the buffer) that the next asks
hand out at once; each new job replaces the buffer with points from the
newer model. Asks that arrive while the job computes are served from the
fresh points too.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from asktell import metrics
from asktell.ask import budget_used, insert_suggested_trials
from asktell.core.snapshots import StudySnapshot
from asktell.core.space import SearchSpace
from asktell.core.states import OperationState, TrialState
from asktell.db import repository as repo
from asktell.db.models import OperationRow, StudyRow, TrialRow, utcnow
from asktell.db.notify import Hub, publish_ops_done
from asktell.db.queue import complete_job, extend_lease, owns_lease, release_job
from asktell.db.session import Database
from asktell.strategies.base import Proposal
from asktell.strategies.registry import get_strategy

log = logging.getLogger(__name__)

__all__ = ["run_job"]


@dataclass
class _Plan:
    """What a job computes: points for waiting asks, then for the buffer."""

    snapshot: StudySnapshot
    waiting: list[tuple[int, int, str]]  # (operation id, points missing, evaluator)
    buffer: int
    strategy: str
    options: dict
    fallback: str
    state: dict | None
    version: int

    @property
    def total(self) -> int:
        return sum(max(n, 0) for _, n, _ in self.waiting) + self.buffer


def run_job(
    db: Database,
    hub: Hub,
    *,
    job_id: int,
    study_id: int,
    worker_id: str,
    device: str,
    lease_seconds: float,
) -> None:
    """Compute and write what the study's waiting asks (and its buffer) need."""
    plan = _plan(db, study_id)
    if plan is None or plan.total == 0:
        with db.write() as session:
            if owns_lease(session, job_id=job_id, worker_id=worker_id):
                complete_job(session, job_id=job_id)
        return
    started = time.perf_counter()
    with _KeepLease(db, job_id, worker_id, lease_seconds):
        proposal = _compute(plan, device, study_id)
    seconds = time.perf_counter() - started
    metrics.SUGGEST_SECONDS.labels(plan.strategy).observe(seconds)
    try:
        done = _write(
            db,
            job_id=job_id,
            worker_id=worker_id,
            study_id=study_id,
            plan=plan,
            proposal=proposal,
            seconds=seconds,
        )
    except IntegrityError as exc:
        with db.write() as session:
            release_job(session, job_id=job_id, worker_id=worker_id, error=str(exc))
        return
    hub.wake_ops(done)


def _plan(db: Database, study_id: int) -> _Plan | None:
    with db.read() as session:
        study = session.get(StudyRow, study_id)
        if study is None:
            return None
        definition = repo.definition_of(study)
        settings = definition.settings
        waiting = _waiting_needs(session, study_id)
        buffer = settings.prefetch if study.state == "running" else 0
        if settings.budget is not None:
            need = sum(max(n, 0) for _, n, _ in waiting)
            buffer = max(
                0, min(buffer, settings.budget - budget_used(session, study_id=study_id) - need)
            )
        name = definition.strategy.name
        state, version = repo.get_strategy_state(session, study_id=study_id, strategy=name)
        floor = _history_floor(name, definition.strategy.options, state, definition.space)
        return _Plan(
            snapshot=repo.load_snapshot(session, study=study, floor=floor),
            waiting=waiting,
            buffer=buffer,
            strategy=name,
            options=definition.strategy.options,
            fallback=settings.fallback_strategy,
            state=state,
            version=version,
        )


def _history_floor(name: str, options: dict, state: dict | None, space: SearchSpace) -> int | None:
    """How much history the strategy still reads; None (all of it) if it cannot say."""
    try:
        return get_strategy(name)(options).history_floor(state, space)
    except Exception:  # the compute step reports a broken strategy; the plan loads everything
        return None


def _compute(plan: _Plan, device: str, study_id: int) -> Proposal:
    try:
        return _suggest(plan.strategy, plan.options, device, plan.snapshot, plan.total, plan.state)
    except Exception as exc:
        log.exception(
            "strategy %s failed on study %s; using %s", plan.strategy, study_id, plan.fallback
        )
        fallback = _suggest(plan.fallback, {}, device, plan.snapshot, plan.total, None)
        return Proposal(
            fallback.points,
            None,
            [plan.fallback] * plan.total,
            {"error": f"{type(exc).__name__}: {exc}"},
        )


def _suggest(name, options, device, snapshot, n, state) -> Proposal:
    strategy = get_strategy(name)(options, device=device)
    proposal = strategy.suggest(snapshot, n, state)
    if len(proposal.points) != n:
        raise RuntimeError(f"strategy {name} returned {len(proposal.points)} points, not {n}")
    return proposal


def _waiting_needs(session, study_id: int) -> list[tuple[int, int, str]]:
    """(operation id, points still missing, evaluator) for each waiting ask, oldest first."""
    ops = session.execute(
        select(OperationRow.id, OperationRow.count, OperationRow.evaluator)
        .where(
            OperationRow.study_id == study_id, OperationRow.state == OperationState.waiting.value
        )
        .order_by(OperationRow.id)
    ).all()
    if not ops:
        return []
    have = dict(
        session.execute(
            select(TrialRow.operation_id, func.count())
            .where(TrialRow.operation_id.in_([o.id for o in ops]))
            .group_by(TrialRow.operation_id)
        ).all()
    )
    return [(o.id, o.count - have.get(o.id, 0), o.evaluator) for o in ops]


def _write(
    db: Database,
    *,
    job_id: int,
    worker_id: str,
    study_id: int,
    plan: _Plan,
    proposal: Proposal,
    seconds: float,
) -> list[int]:
    """Hand the points to the asks waiting now (oldest first); keep the rest as the buffer."""
    with db.write() as session:
        if not owns_lease(session, job_id=job_id, worker_id=worker_id):
            log.warning("job %s: lease lost, discarding its suggestions", job_id)
            return []
        study = session.get(StudyRow, study_id)
        if proposal.state is not None and not repo.set_strategy_state(
            session,
            study_id=study_id,
            strategy=plan.strategy,
            state=proposal.state,
            expected_version=plan.version,
        ):
            raise IntegrityError("strategy state changed concurrently", None, Exception())
        session.execute(
            delete(TrialRow).where(
                TrialRow.study_id == study_id,
                TrialRow.state == TrialState.pending.value,
                TrialRow.prefetched.is_(True),
            )
        )
        sources = proposal.strategies or [plan.strategy] * len(proposal.points)
        points = list(zip(proposal.points, sources, strict=True))
        ops, evaluators, chosen, served = [], [], [], []
        for op, n, evaluator in _waiting_needs(session, study_id):
            take = points[: max(n, 0)]
            points = points[len(take) :]
            ops += [op] * len(take)
            evaluators += [evaluator] * len(take)
            chosen += take
            if len(take) == max(n, 0):
                served.append(op)
        if chosen:
            insert_suggested_trials(
                session,
                study=study,
                strategy=plan.strategy,
                evaluators=evaluators,
                op_id=ops,
                proposal=Proposal([p for p, _ in chosen], strategies=[s for _, s in chosen]),
            )
        if points and plan.buffer:
            keep = points[: plan.buffer]
            insert_suggested_trials(
                session,
                study=study,
                strategy=plan.strategy,
                evaluators=[None] * len(keep),
                op_id=None,
                buffered=True,
                proposal=Proposal([p for p, _ in keep], strategies=[s for _, s in keep]),
            )
        if served:
            session.execute(
                update(OperationRow)
                .where(OperationRow.id.in_(served))
                .values(state=OperationState.done.value, done_at=utcnow())
            )
        complete_job(session, job_id=job_id, compute_seconds=seconds, strategy=plan.strategy)
        publish_ops_done(session, served)
    return served


class _KeepLease:
    """Extend the job's lease in the background while the strategy computes."""

    def __init__(self, db: Database, job_id: int, worker_id: str, lease_seconds: float):
        self._args = (db, job_id, worker_id, lease_seconds)
        self._interval = max(lease_seconds / 3, 0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        db, job_id, worker_id, lease_seconds = self._args
        while not self._stop.wait(self._interval):
            try:
                with db.write() as session:
                    extend_lease(
                        session, job_id=job_id, worker_id=worker_id, lease_seconds=lease_seconds
                    )
            except Exception as exc:
                log.warning("could not extend lease: %s", exc)

    def __enter__(self) -> _KeepLease:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
