"""Wake-ups between asks and workers.

Polling keeps everything correct; notifications only make it fast. In one
process (the embedded mode) a worker wakes waiting asks directly. On
PostgreSQL, a listener thread turns NOTIFY messages from other processes
into the same wake-ups.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["OPS_CHANNEL", "Hub", "publish_ops_done"]

OPS_CHANNEL = "asktell_ops"
log = logging.getLogger(__name__)


class Hub:
    """Process-local wake-up points for waiting asks and idle workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: dict[int, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(
            list
        )
        self.jobs = threading.Event()
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()

    def wake_ops(self, op_ids: list[int]) -> None:
        with self._lock:
            waiters = [w for op in op_ids for w in self._ops.get(op, [])]
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def wake_jobs(self) -> None:
        self.jobs.set()

    async def wait_op(self, op_id: int, timeout: float) -> None:
        """Return when `op_id` is woken or after `timeout` seconds."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            self._ops[op_id].append(entry)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                waiters = self._ops.get(op_id, [])
                if entry in waiters:
                    waiters.remove(entry)
                if not waiters:
                    self._ops.pop(op_id, None)

    def wait_jobs(self, timeout: float) -> None:
        self.jobs.wait(timeout)
        self.jobs.clear()

    def start_pg_listener(self, url: str) -> None:
        """LISTEN for ops and jobs on PostgreSQL in a daemon thread."""
        if self._listener is not None:
            return
        self._listener = threading.Thread(
            target=self._listen, args=(url,), daemon=True, name="asktell-listen"
        )
        self._listener.start()

    def stop(self) -> None:
        self._stop.set()

    def _listen(self, url: str) -> None:
        import psycopg

        from asktell.db.queue import JOBS_CHANNEL

        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {OPS_CHANNEL}")
                    conn.execute(f"LISTEN {JOBS_CHANNEL}")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if note.channel == JOBS_CHANNEL:
                                self.wake_jobs()
                            elif note.payload:
                                self.wake_ops([int(x) for x in note.payload.split(",") if x])
            except Exception as exc:  # the database restarted: polling covers the gap
                log.warning("notification listener reconnecting: %s", exc)
                self._stop.wait(1.0)


def publish_ops_done(session: Session, op_ids: list[int]) -> None:
    """Tell other processes (on commit) that these operations are done."""
    if op_ids and session.get_bind().dialect.name == "postgresql":
        payload = ",".join(str(i) for i in op_ids)
        session.execute(text("SELECT pg_notify(:ch, :p)"), {"ch": OPS_CHANNEL, "p": payload})
