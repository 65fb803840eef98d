"""The job queue on both engines: merging, one lease per study, expiry, many processes."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest
from sqlalchemy import select

from asktell.db.models import JobRow, OperationRow, ProjectRow, StudyRow
from asktell.db.queue import (
    KEEP_FINISHED,
    complete_job,
    enqueue_job,
    enqueue_surrogate,
    fail_job,
    lease_job,
    owns_lease,
)
from asktell.db.session import Database


def _studies(db: Database, n: int) -> list[int]:
    with db.write() as session:
        project = ProjectRow(name="p")
        session.add(project)
        session.flush()
        rows = [
            StudyRow(
                project_id=project.id, name=f"s{i}", spec={}, strategy={}, settings={}, meta={}
            )
            for i in range(n)
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def test_enqueue_merges_per_study(db):
    a, b = _studies(db, 2)
    for _ in range(3):
        with db.write() as session:
            enqueue_job(session, study_id=a)
    with db.write() as session:
        enqueue_job(session, study_id=b)
    with db.read() as session:
        jobs = list(session.scalars(select(JobRow.study_id).where(JobRow.state == "queued")))
    assert sorted(jobs) == sorted([a, b])


def test_surrogate_jobs_merge_apart_from_suggestion_jobs(db):
    (a,) = _studies(db, 1)
    with db.write() as session:
        suggest = enqueue_job(session, study_id=a)
        assert enqueue_job(session, study_id=a) is None
        first = enqueue_surrogate(session, study_id=a, param="x")
        again = enqueue_surrogate(session, study_id=a, param="y")
        enqueue_surrogate(session, study_id=a, param="x")
    assert suggest is not None and first == again != suggest
    with db.read() as session:
        job = session.get(JobRow, first)
        assert job.kind == "surrogate" and job.params == {"params": ["x", "y"]}
    with db.write() as session:
        leased = lease_job(session, worker_id="w1", lease_seconds=30)
    with db.write() as session:  # another kind of job of the study may run alongside
        other = lease_job(session, worker_id="w2", lease_seconds=30)
    assert {leased.id, other.id} == {suggest, first}
    with db.write() as session:
        assert enqueue_surrogate(session, study_id=a, param="z") not in (suggest, first)


def test_one_leased_job_per_study(db):
    (a,) = _studies(db, 1)
    with db.write() as session:
        enqueue_job(session, study_id=a)
    with db.write() as session:
        first = lease_job(session, worker_id="w1", lease_seconds=30)
    with db.write() as session:
        enqueue_job(session, study_id=a)
    with db.write() as session:
        assert lease_job(session, worker_id="w2", lease_seconds=30) is None
    assert first is not None and first.state == "leased"


def test_expired_lease_is_taken_over(db):
    (a,) = _studies(db, 1)
    with db.write() as session:
        enqueue_job(session, study_id=a)
    with db.write() as session:
        job = lease_job(session, worker_id="dead", lease_seconds=0.2)
        job_id = job.id
    time.sleep(0.3)
    with db.write() as session:
        again = lease_job(session, worker_id="alive", lease_seconds=30)
        assert again.id == job_id and again.attempts == 2 and again.worker_id == "alive"
    with db.write() as session:
        assert not owns_lease(session, job_id=job_id, worker_id="dead")
        assert owns_lease(session, job_id=job_id, worker_id="alive")


def test_job_failing_too_often_fails_its_asks(db):
    (a,) = _studies(db, 1)
    with db.write() as session:
        enqueue_job(session, study_id=a)
        session.add(OperationRow(study_id=a, count=1, evaluator="e", state="waiting"))
    for attempt in range(3):
        with db.write() as session:
            assert lease_job(session, worker_id=f"w{attempt}", lease_seconds=0.01) is not None
        time.sleep(0.05)
    with db.write() as session:
        job = lease_job(session, worker_id="w", lease_seconds=1)
        assert job.state == "failed"
    with db.read() as session:
        assert session.scalar(select(OperationRow.state)) == "failed"


def _lease_all(url: str, worker: str, ready, out: mp.Queue) -> None:
    db = Database(url)
    got = []
    idle = 0
    ready.wait()  # all processes have started: they lease at the same time
    while idle < 20:
        with db.write() as session:
            job = lease_job(session, worker_id=worker, lease_seconds=600)
            if job is not None:
                got.append(job.id)
                job.state = "done"
        idle = 0 if job is not None else idle + 1
        time.sleep(0.005 if job is not None else 0.01)  # a little work between leases
    db.dispose()
    out.put(got)


def test_concurrent_workers_never_share_a_job(db, db_url):
    studies = _studies(db, 60)
    with db.write() as session:
        for sid in studies:
            enqueue_job(session, study_id=sid)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    ready = ctx.Barrier(4)
    procs = [ctx.Process(target=_lease_all, args=(db_url, f"w{i}", ready, out)) for i in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    leased = [j for r in results for j in r]
    assert len(leased) == len(set(leased)) == 60
    assert sum(1 for r in results if r) >= 2


def test_finished_jobs_are_pruned_to_the_newest(db):
    a, b = _studies(db, 2)
    with db.write() as session:
        enqueue_job(session, study_id=b)  # b's job stays queued: not a's to prune
    finished = []
    for i in range(KEEP_FINISHED + 5):
        with db.write() as session:
            enqueue_job(session, study_id=a)
        with db.write() as session:
            job = lease_job(session, worker_id="w", lease_seconds=30)
            if job.study_id == b:
                job = lease_job(session, worker_id="w", lease_seconds=30)
            if i % 2:
                fail_job(session, job_id=job.id, error="boom")
            else:
                complete_job(session, job_id=job.id)
            finished.append(job.id)
    with db.read() as session:
        left = sorted(session.scalars(select(JobRow.id).where(JobRow.study_id == a)))
        other = list(session.scalars(select(JobRow.id).where(JobRow.study_id == b)))
    assert left == finished[-KEEP_FINISHED:]
    assert len(other) == 1
