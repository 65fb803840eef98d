"""The worker loop: register, lease a job, run it, wait for the next wake-up or poll."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from asktell.db.notify import Hub
from asktell.db.queue import lease_job, register_worker, touch_worker
from asktell.db.session import Database
from asktell.worker.runner import run_job
from asktell.worker.surrogate_view import run_surrogate_job

log = logging.getLogger(__name__)

__all__ = ["Worker"]

WORKER_HEARTBEAT_SECONDS = 10.0


class Worker:
    """Leases jobs (suggestions, surrogate views) from the database until `stop` is set."""

    def __init__(
        self,
        db: Database,
        hub: Hub,
        *,
        device: str = "cpu",
        lease_seconds: float = 30.0,
        poll_interval: float = 0.5,
    ):
        self.db = db
        self.hub = hub
        self.device = device
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stop = threading.Event()

    def run(self) -> None:
        with self.db.write() as session:
            register_worker(
                session, worker_id=self.id, host=socket.gethostname(), device=self.device
            )
        log.info("worker %s on %s ready", self.id, self.device)
        last_touch = time.monotonic()
        while not self.stop.is_set():
            try:
                ran = self.run_once()
            except Exception:
                log.exception("worker iteration failed")
                ran = False
                self.stop.wait(1.0)
            if time.monotonic() - last_touch > WORKER_HEARTBEAT_SECONDS:
                last_touch = time.monotonic()
                try:
                    with self.db.write() as session:
                        touch_worker(session, worker_id=self.id)
                except Exception as exc:
                    log.warning("worker heartbeat failed: %s", exc)
            if not ran:
                self.hub.wait_jobs(self.poll_interval)

    def run_once(self) -> bool:
        """Lease and run one job; False when there was none."""
        with self.db.write() as session:
            job = lease_job(session, worker_id=self.id, lease_seconds=self.lease_seconds)
            leased = job is not None and job.state == "leased"
            job_id, study_id = (job.id, job.study_id) if job is not None else (None, None)
            kind = job.kind if job is not None else None
        if job_id is None:
            return False
        if leased and kind == "surrogate":
            run_surrogate_job(
                self.db,
                job_id=job_id,
                study_id=study_id,
                worker_id=self.id,
                device=self.device,
                lease_seconds=self.lease_seconds,
            )
        elif leased:
            run_job(
                self.db,
                self.hub,
                job_id=job_id,
                study_id=study_id,
                worker_id=self.id,
                device=self.device,
                lease_seconds=self.lease_seconds,
            )
        return True

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True, name="asktell-worker")
        thread.start()
        return thread
