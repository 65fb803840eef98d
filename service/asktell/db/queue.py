"""The job queue on the database: enqueue (merged per study and kind), lease, finish.

Jobs are of two kinds: "suggest" (points for asks) and "surrogate" (a model
slice for the dashboard, which changes nothing in the study).

Rules on both engines:
- at most one queued job per study and kind (a partial unique index), so
  concurrent asks of a study merge into one job;
- at most one leased, unexpired job per study and kind, so a study's suggestions
  are computed one batch at a time with every pending point known;
- a job whose lease expired (its worker died) is leased again;
- PostgreSQL leases with FOR UPDATE SKIP LOCKED; SQLite relies on its single
  writer (write transactions begin IMMEDIATE);
- finishing a job prunes its study's finished jobs of that kind to the newest
  `KEEP_FINISHED` (prefetch queues a job per tell, so they would pile up).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, delete, exists, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from asktell.core.states import JobState, OperationState
from asktell.db.models import JobRow, OperationRow, WorkerRow, utcnow
from asktell.db.session import upsert

__all__ = [
    "complete_job",
    "enqueue_job",
    "enqueue_surrogate",
    "extend_lease",
    "fail_job",
    "lease_job",
    "queue_depths",
    "register_worker",
    "release_job",
    "touch_worker",
]

JOBS_CHANNEL = "asktell_jobs"
KEEP_FINISHED = 20  # finished jobs kept per study and kind (the dashboard shows the latest)
FINISHED = (JobState.done.value, JobState.failed.value)
MAX_ATTEMPTS = 3


def enqueue_job(
    session: Session, *, study_id: int, kind: str = "suggest", params: dict | None = None
) -> int | None:
    """Queue a job of `kind` for the study unless one is already queued (then `params` of
    the queued one stay). Returns the new job's id, or None when it merged."""
    values = {
        "study_id": study_id,
        "kind": kind,
        "state": JobState.queued.value,
        "attempts": 0,
        "created_at": utcnow(),
        "params": params,
    }
    where = text("state = 'queued'")
    stmt = (
        upsert(session, JobRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["study_id", "kind"], index_where=where)
        .returning(JobRow.id)
    )
    job_id = session.execute(stmt).scalar()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_notify('{JOBS_CHANNEL}', '')"))
    return job_id


def enqueue_surrogate(session: Session, *, study_id: int, param: str) -> int:
    """Queue a surrogate job for `param`, or add `param` to the study's queued one.

    The job's `params` are `{"params": [names]}`; its `result` maps each name to its slice.
    """
    for _ in range(5):
        job_id = enqueue_job(
            session, study_id=study_id, kind="surrogate", params={"params": [param]}
        )
        if job_id is not None:
            return job_id
        job = session.scalar(
            select(JobRow)
            .where(
                JobRow.study_id == study_id,
                JobRow.kind == "surrogate",
                JobRow.state == JobState.queued.value,
            )
            .with_for_update()
        )
        if job is None:  # leased in between: queue a new one
            continue
        names = list((job.params or {}).get("params", []))
        if param not in names:
            job.params = {"params": [*names, param]}
        return job.id
    raise RuntimeError("could not queue a surrogate job")


def lease_job(session: Session, *, worker_id: str, lease_seconds: float) -> JobRow | None:
    """Lease the oldest runnable job, or return None."""
    now = utcnow()
    other = aliased(JobRow)
    busy = exists().where(
        other.study_id == JobRow.study_id,
        other.id != JobRow.id,
        other.kind == JobRow.kind,
        other.state == JobState.leased.value,
        other.lease_expires_at >= now,
    )
    runnable = or_(
        JobRow.state == JobState.queued.value,
        and_(JobRow.state == JobState.leased.value, JobRow.lease_expires_at < now),
    )
    job = session.scalar(
        select(JobRow)
        .where(runnable, ~busy)
        .order_by(JobRow.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if job is None:
        return None
    if job.attempts >= MAX_ATTEMPTS:
        job.state = JobState.failed.value
        job.error = job.error or "too many attempts (workers died or the job kept failing)"
        job.finished_at = now
        if job.kind != "suggest":
            return job
        session.execute(
            update(OperationRow)
            .where(
                OperationRow.study_id == job.study_id,
                OperationRow.state == OperationState.waiting.value,
            )
            .values(state=OperationState.failed.value, error=job.error, done_at=now)
        )
        return job
    job.state = JobState.leased.value
    job.worker_id = worker_id
    job.leased_at = now
    job.lease_expires_at = now + timedelta(seconds=lease_seconds)
    job.attempts += 1
    return job


def extend_lease(session: Session, *, job_id: int, worker_id: str, lease_seconds: float) -> bool:
    result = session.execute(
        update(JobRow)
        .where(
            JobRow.id == job_id,
            JobRow.worker_id == worker_id,
            JobRow.state == JobState.leased.value,
        )
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
    )
    return result.rowcount == 1


def owns_lease(session: Session, *, job_id: int, worker_id: str) -> bool:
    """Lock the job row and check this worker still holds its lease."""
    job = session.scalar(select(JobRow).where(JobRow.id == job_id).with_for_update())
    return job is not None and job.state == JobState.leased.value and job.worker_id == worker_id


def complete_job(
    session: Session,
    *,
    job_id: int,
    compute_seconds: float | None = None,
    strategy: str | None = None,
    result: dict | None = None,
) -> None:
    values = {
        "state": JobState.done.value,
        "finished_at": utcnow(),
        "compute_seconds": compute_seconds,
        "strategy": strategy,
    }
    if result is not None:
        values["result"] = result
    _finish(session, job_id, values)


def fail_job(session: Session, *, job_id: int, error: str) -> None:
    values = {"state": JobState.failed.value, "finished_at": utcnow(), "error": error[:2000]}
    _finish(session, job_id, values)


def _finish(session: Session, job_id: int, values: dict) -> None:
    """Record a job's end and prune its study's older finished jobs of the same kind."""
    done = session.execute(
        update(JobRow)
        .where(JobRow.id == job_id)
        .values(**values)
        .returning(JobRow.study_id, JobRow.kind)
    ).first()
    if done is None:
        return
    same = (JobRow.study_id == done.study_id, JobRow.kind == done.kind, JobRow.state.in_(FINISHED))
    newest = select(JobRow.id).where(*same).order_by(JobRow.id.desc()).limit(KEEP_FINISHED)
    session.execute(delete(JobRow).where(*same, JobRow.id.not_in(newest.scalar_subquery())))


def release_job(session: Session, *, job_id: int, worker_id: str, error: str) -> None:
    """Give a leased job back to the queue so another attempt can run it."""
    session.execute(
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.worker_id == worker_id)
        .values(state=JobState.leased.value, lease_expires_at=utcnow(), error=error[:2000])
    )


def queue_depths(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(JobRow.state, func.count())
        .where(JobRow.state.in_([JobState.queued.value, JobState.leased.value]))
        .group_by(JobRow.state)
    )
    return {state: n for state, n in rows}


def register_worker(session: Session, *, worker_id: str, host: str, device: str) -> None:
    session.merge(
        WorkerRow(
            id=worker_id, host=host, device=device, started_at=utcnow(), heartbeat_at=utcnow()
        )
    )


def touch_worker(session: Session, *, worker_id: str) -> None:
    session.execute(
        update(WorkerRow).where(WorkerRow.id == worker_id).values(heartbeat_at=utcnow())
    )
