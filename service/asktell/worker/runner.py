"""Run one suggestion job: snapshot → strategy → trials, written in one transaction."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from asktell import metrics
from asktell.ask import insert_suggested_trials
from asktell.core.states import OperationState
from asktell.db import repository as repo
from asktell.db.models import OperationRow, StudyRow, TrialRow, utcnow
from asktell.db.notify import Hub, publish_ops_done
from asktell.db.queue import complete_job, extend_lease, owns_lease, release_job
from asktell.db.session import Database
from asktell.strategies.base import Proposal
from asktell.strategies.registry import get_strategy

log = logging.getLogger(__name__)

__all__ = ["run_job"]


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
    """Compute and write the suggestions every waiting ask of the study needs."""
    with db.read() as session:
        study = session.get(StudyRow, study_id)
        waiting = _waiting_needs(session, study_id) if study is not None else []
        if study is None or not waiting:
            snapshot = None
        else:
            definition = repo.definition_of(study)
            snapshot = repo.load_snapshot(session, study=study)
            name, options = definition.strategy.name, definition.strategy.options
            fallback = definition.settings.fallback_strategy
            state, version = repo.get_strategy_state(session, study_id=study_id, strategy=name)
    if snapshot is None:
        with db.write() as session:
            if owns_lease(session, job_id=job_id, worker_id=worker_id):
                complete_job(session, job_id=job_id)
        return

    total = sum(n for _, n, _ in waiting)
    started = time.perf_counter()
    with _keep_lease(db, job_id, worker_id, lease_seconds):
        try:
            proposal = _suggest(name, options, device, snapshot, total, state)
        except Exception as exc:
            log.exception("strategy %s failed on study %s; using %s", name, study_id, fallback)
            proposal = _suggest(fallback, {}, device, snapshot, total, None)
            proposal = Proposal(
                proposal.points, None, [fallback] * total, {"error": f"{type(exc).__name__}: {exc}"}
            )
    seconds = time.perf_counter() - started
    metrics.SUGGEST_SECONDS.labels(name).observe(seconds)

    try:
        done_ops = _write(
            db,
            job_id=job_id,
            worker_id=worker_id,
            study_id=study_id,
            waiting=waiting,
            proposal=proposal,
            name=name,
            version=version,
            seconds=seconds,
        )
    except IntegrityError as exc:
        with db.write() as session:
            release_job(session, job_id=job_id, worker_id=worker_id, error=str(exc))
        return
    hub.wake_ops(done_ops)


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
    job_id,
    worker_id,
    study_id,
    waiting,
    proposal: Proposal,
    name,
    version,
    seconds,
) -> list[int]:
    with db.write() as session:
        if not owns_lease(session, job_id=job_id, worker_id=worker_id):
            log.warning("job %s: lease lost, discarding its suggestions", job_id)
            return []
        study = session.get(StudyRow, study_id)
        still = set(
            session.scalars(
                select(OperationRow.id).where(
                    OperationRow.id.in_([op for op, _, _ in waiting]),
                    OperationRow.state == OperationState.waiting.value,
                )
            )
        )
        if proposal.state is not None and not repo.set_strategy_state(
            session,
            study_id=study_id,
            strategy=name,
            state=proposal.state,
            expected_version=version,
        ):
            raise IntegrityError("strategy state changed concurrently", None, Exception())
        op_ids, evaluators, keep = [], [], []
        i = 0
        for op, n, evaluator in waiting:
            for _ in range(max(n, 0)):
                if op in still:
                    keep.append(i)
                    op_ids.append(op)
                    evaluators.append(evaluator)
                i += 1
        kept = Proposal(
            [proposal.points[k] for k in keep],
            strategies=[proposal.strategies[k] for k in keep] if proposal.strategies else None,
        )
        insert_suggested_trials(
            session, study=study, proposal=kept, strategy=name, evaluators=evaluators, op_id=op_ids
        )
        done = sorted(still)
        if done:
            session.execute(
                update(OperationRow)
                .where(OperationRow.id.in_(done))
                .values(state=OperationState.done.value, done_at=utcnow())
            )
        complete_job(session, job_id=job_id, compute_seconds=seconds, strategy=name)
        publish_ops_done(session, done)
    return done


class _keep_lease:
    """Extend the job's lease in the background while the strategy computes."""

    def __init__(self, db: Database, job_id: int, worker_id: str, lease_seconds: float):
        self._renew: Callable[[], None] = lambda: self._extend(db, job_id, worker_id, lease_seconds)
        self._interval = max(lease_seconds / 3, 0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _extend(db, job_id, worker_id, lease_seconds) -> None:
        with db.write() as session:
            extend_lease(session, job_id=job_id, worker_id=worker_id, lease_seconds=lease_seconds)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._renew()
            except Exception as exc:
                log.warning("could not extend lease: %s", exc)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
