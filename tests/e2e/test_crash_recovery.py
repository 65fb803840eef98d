"""SIGKILL the server or a worker in the middle of a study: nothing acknowledged is lost,
the study still completes its budget, and no client ever sees a 5xx."""

from __future__ import annotations

import time

import pytest

from asktell.db.models import JobRow

from .procs import LEASE_SECONDS, Cluster, DbProbe, WorkerProc, worker_pid
from .workload import EvaluatorPool, Ledger, check_study_outcome, create_study, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

ENGINES = [pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"]
BUDGET = 16
EVALUATORS = 4
RUN_TIMEOUT = 120.0


@pytest.mark.parametrize("database_url", ENGINES, indirect=True)
def test_server_sigkill_loses_no_acknowledged_tell(cluster: Cluster, database_url: str) -> None:
    """PostgreSQL: API without a worker plus a worker process. SQLite: the embedded worker,
    which dies with the server, so its leased job must be picked up after the restart."""
    embedded = database_url.startswith("sqlite")
    server = cluster.server(database_url, worker=embedded, wait=False)
    if not embedded:
        cluster.worker(database_url, wait=False).wait_ready()
    server.wait_ready()
    study_id = create_study(server.base_url, "server-sigkill", budget=BUDGET)
    ledger = Ledger()
    with EvaluatorPool(server.base_url, study_id, ledger, n=EVALUATORS) as pool:
        wait_until(
            lambda: ledger.n_told >= BUDGET // 3 or not pool.alive,
            timeout=RUN_TIMEOUT,
            what=f"{BUDGET // 3} acknowledged tells",
            detail=ledger.summary,
        )
        told_at_kill = ledger.n_told
        assert told_at_kill < BUDGET, f"the study ended before the kill: {ledger.summary()}"
        server.kill()
        time.sleep(0.5)
        server.start()
        pool.join(RUN_TIMEOUT)

    assert ledger.n_told > told_at_kill, "no tell was acknowledged after the restart"
    assert ledger.transport_errors > 0, "no evaluator noticed the server going down"
    check_study_outcome(
        server.base_url,
        study_id,
        ledger,
        budget=BUDGET,
        evaluators=EVALUATORS,
    )


def _kill_lease_holder(
    cluster: Cluster, probe: DbProbe, workers: dict[int, WorkerProc], database_url: str
) -> tuple[WorkerProc, JobRow]:
    """SIGKILL the worker holding a job's lease; (that worker, the job as the kill left it).

    If the job finished between reading the lease and the kill, a replacement worker is
    started and the next lease is tried.
    """
    for _ in range(3):
        deadline = time.monotonic() + RUN_TIMEOUT
        holder = None
        while holder is None:
            assert time.monotonic() < deadline, "no job was leased by a live worker"
            for job in probe.leased_jobs():
                if job.worker_id and worker_pid(job.worker_id) in workers:
                    holder = job
                    break
            else:
                time.sleep(0.01)
        victim = workers.pop(worker_pid(holder.worker_id))
        assert victim.id == holder.worker_id
        victim.kill()
        after = probe.job(holder.id)
        if after.state == "leased" and after.worker_id == victim.id:
            return victim, after
        replacement = cluster.worker(database_url)
        workers[replacement.proc.pid] = replacement
    raise AssertionError("three kills in a row missed the job they aimed at")


@pytest.mark.parametrize("database_url", ENGINES, indirect=True)
def test_worker_sigkill_job_is_redone(cluster: Cluster, database_url: str) -> None:
    """Two worker processes; the one computing a job is SIGKILLed; after the lease runs out
    the other one leases the same job again and finishes it."""
    server = cluster.server(database_url, worker=False, wait=False)
    started = [cluster.worker(database_url, wait=False) for _ in range(2)]
    server.wait_ready()
    for worker in started:
        worker.wait_ready()
    workers = {w.proc.pid: w for w in started}
    study_id = create_study(server.base_url, "worker-sigkill", budget=BUDGET)
    ledger = Ledger()
    probe = DbProbe(database_url)
    try:
        with EvaluatorPool(server.base_url, study_id, ledger, n=EVALUATORS) as pool:
            wait_until(
                lambda: ledger.n_told >= 5 or not pool.alive,
                timeout=RUN_TIMEOUT,
                what="5 acknowledged tells",
                detail=ledger.summary,
            )
            victim, killed = _kill_lease_holder(cluster, probe, workers, database_url)
            assert pool.alive, f"the study ended before the kill: {ledger.summary()}"
            pool.join(RUN_TIMEOUT)

        check_study_outcome(
            server.base_url,
            study_id,
            ledger,
            budget=BUDGET,
            evaluators=EVALUATORS,
        )
        job_id = killed.id
        redone = probe.job(job_id)
        survivors = {w.id for w in workers.values()}
        assert victim.id not in survivors
        assert redone.state == "done", f"job {job_id} ended {redone.state}: {redone.error}"
        assert redone.worker_id in survivors, (
            f"job {job_id} finished by {redone.worker_id}, not by a live worker {survivors}"
        )
        assert redone.attempts == killed.attempts + 1, (
            f"job {job_id}: {killed.attempts} attempts at the kill, {redone.attempts} after"
        )
        assert redone.leased_at is not None and killed.lease_expires_at is not None
        assert redone.leased_at >= killed.lease_expires_at, (
            f"job {job_id} leased again at {redone.leased_at}, before the dead worker's lease "
            f"ran out at {killed.lease_expires_at}"
        )
        gap = (redone.leased_at - killed.lease_expires_at).total_seconds()
        assert gap < 10 * LEASE_SECONDS, f"job {job_id} waited {gap:.1f}s past its lease"
    finally:
        probe.close()
