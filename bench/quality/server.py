"""Start `asktell serve` on a free port with a throwaway SQLite database."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

__all__ = ["asktell_server", "free_port"]

START_TIMEOUT = 240.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(port: int, database_url: str) -> list[str]:
    exe = shutil.which("asktell", path=str(Path(sys.executable).parent)) or shutil.which("asktell")
    base = [exe] if exe else [sys.executable, "-c", "from asktell.cli import main; main()"]
    return [
        *base,
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--log-level",
        "warning",
    ]


@contextlib.contextmanager
def asktell_server(log_dir: Path | None = None) -> Iterator[str]:
    """Yield the base URL of a fresh server; stop it and delete its database afterwards."""
    with tempfile.TemporaryDirectory(prefix="asktell-quality-") as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = (log_dir or Path(tmp)) / "asktell-serve.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                _command(port, f"sqlite:///{tmp}/quality.db"),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            _wait_ready(url, proc, log_path)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"asktell serve exited: {log_path.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"asktell serve not ready after {START_TIMEOUT} s")
