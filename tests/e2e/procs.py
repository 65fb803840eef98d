"""Real `asktell` processes for end-to-end tests: start, wait until ready, SIGKILL, read logs."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from asktell.db.models import JobRow

READY_TIMEOUT = 90.0
LEASE_SECONDS = 3.0
POLL_INTERVAL = 0.2
LOG_TAIL_LINES = 200
WORKER_LINE = re.compile(r"^worker (\S+) on ", re.MULTILINE)


def asktell_command() -> list[str]:
    """The `asktell` console script next to this interpreter, or the CLI through `-c`."""
    script = Path(sys.executable).with_name("asktell")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from asktell.cli import app; app()"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env() -> dict[str, str]:
    """The environment of child processes: unbuffered, one math thread, short leases."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASKTELL_")}
    env.update(
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        NO_COLOR="1",
        COLUMNS="200",
        ASKTELL_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    return env


def worker_pid(worker_id: str) -> int:
    """The pid inside a worker id `<host>-<pid>-<hex>`."""
    return int(worker_id.rsplit("-", 2)[1])


class Proc:
    """One child process whose stdout and stderr go to a log file."""

    def __init__(self, name: str, args: list[str], log_path: Path):
        self.name = name
        self.args = args
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(),
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the process (if still running) and reap it."""
        if self.alive:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)
        self._log.close()

    def log_text(self, tail: int | None = LOG_TAIL_LINES) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError as exc:
            return f"<no log: {exc}>"
        if tail is not None and len(lines) > tail:
            lines = [f"... {len(lines) - tail} earlier lines ...", *lines[-tail:]]
        return "\n".join(lines)

    def describe(self) -> str:
        state = "running" if self.alive else f"exited {self.popen.returncode}"
        return f"{self.name} (pid {self.pid}, {state})"


class Server:
    """`asktell serve` on a fixed port; can be killed and started again on the same port."""

    def __init__(self, cluster: Cluster, database_url: str, *, worker: bool, port: int):
        self.cluster = cluster
        self.database_url = database_url
        self.worker = worker
        self.port = port
        self.proc: Proc | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True) -> None:
        """Start the process and (with `wait`) wait until /readyz answers 200."""
        args = [
            *asktell_command(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--database-url",
            self.database_url,
            "--log-level",
            "info",
            "--worker" if self.worker else "--no-worker",
        ]
        self.proc = self.cluster.spawn("server", args)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.proc.alive:
                raise RuntimeError(
                    f"{self.proc.describe()} exited before ready:\n{self.proc.log_text(40)}"
                )
            try:
                response = httpx.get(f"{self.base_url}/readyz", timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text}"
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(f"{self.proc.describe()} not ready after {timeout}s: {last}")

    def kill(self) -> None:
        """SIGKILL the server process."""
        assert self.proc is not None
        self.proc.kill()


class WorkerProc:
    """`asktell worker`; its worker id is read from its first output line."""

    def __init__(self, proc: Proc):
        self.proc = proc
        self._id: str | None = None

    @property
    def id(self) -> str:
        if self._id is None:
            self.wait_ready()
        assert self._id is not None
        return self._id

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self._id is None:
            match = WORKER_LINE.search(self.proc.log_text(tail=None))
            if match:
                self._id = match.group(1)
            elif not self.proc.alive or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.proc.describe()} did not start:\n{self.proc.log_text(40)}"
                )
            else:
                time.sleep(0.1)

    def kill(self) -> None:
        self.proc.kill()


class Cluster:
    """Every process one test starts; all are SIGKILLed at teardown."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []
        self._names: Counter[str] = Counter()

    def spawn(self, name: str, args: list[str]) -> Proc:
        self._names[name] += 1
        label = f"{name}-{self._names[name]}"
        proc = Proc(label, args, self.log_dir / f"{label}.log")
        self.procs.append(proc)
        return proc

    def server(
        self, database_url: str, *, worker: bool, port: int | None = None, wait: bool = True
    ) -> Server:
        """A server, with (`worker=True`) or without its in-process worker; `wait` for it to
        be ready."""
        server = Server(self, database_url, worker=worker, port=port or free_port())
        server.start(wait=wait)
        return server

    def worker(self, database_url: str, *, wait: bool = True) -> WorkerProc:
        """An `asktell worker` (cpu, short leases, fast polling); `wait` for its id."""
        args = [
            *asktell_command(),
            "worker",
            "--database-url",
            database_url,
            "--device",
            "cpu",
            "--lease-seconds",
            str(LEASE_SECONDS),
            "--poll-interval",
            str(POLL_INTERVAL),
        ]
        worker = WorkerProc(self.spawn("worker", args))
        if wait:
            worker.wait_ready()
        return worker

    def cli(self, *args: str, timeout: float = 120.0) -> str:
        """Run a one-shot `asktell` command; its output, or an error with it."""
        result = subprocess.run(
            [*asktell_command(), *args],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"asktell {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def shutdown(self) -> None:
        for proc in self.procs:
            proc.kill()

    def logs(self) -> list[tuple[str, str]]:
        return [(proc.describe(), proc.log_text()) for proc in self.procs]


def create_pg_database(admin_url: str) -> str:
    """A new, empty database on the server of `admin_url`; returns its URL."""
    name = f"asktell_e2e_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(admin_url: str, url: str) -> None:
    """Drop the database of `url`, closing its remaining connections."""
    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


class DbProbe:
    """Reads the job queue straight from the database."""

    def __init__(self, url: str):
        self.engine = create_engine(url)

    def leased_jobs(self) -> list[JobRow]:
        with Session(self.engine) as session:
            return list(
                session.scalars(select(JobRow).where(JobRow.state == "leased").order_by(JobRow.id))
            )

    def job(self, job_id: int) -> JobRow:
        with Session(self.engine) as session:
            row = session.get(JobRow, job_id)
            assert row is not None, f"job {job_id} vanished"
            return row

    def jobs(self) -> list[JobRow]:
        with Session(self.engine) as session:
            return list(session.scalars(select(JobRow).order_by(JobRow.id)))

    def close(self) -> None:
        self.engine.dispose()
