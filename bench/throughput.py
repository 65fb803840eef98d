"""Ask+tell throughput and ask latency over HTTP, next to Optuna's RDBStorage, same database.

    python bench/throughput.py                  # SQLite and PostgreSQL, 1 and 16 clients, 30 s
    python bench/throughput.py --seconds 5 --engines postgres --server-workers 2
    python bench/throughput.py --seconds 10 --engines postgres --clients 16 --skip-optuna --cpu

asktell: one `asktell serve --no-worker` process, the random strategy, clients are
async aiohttp tasks in this process doing ask(1) → tell. Optuna: one process per
client, each with its own RDBStorage, doing study.ask() → study.tell() with the
RandomSampler. Each run uses a fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import httpx
from sqlalchemy import create_engine, text

PG_ADMIN = os.environ.get(
    "ASKTELL_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Databases:
    """Fresh databases per run; dropped at exit."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="asktell-bench-"))
        self.pg_names: list[str] = []

    def new(self, engine: str) -> str:
        if engine == "sqlite":
            return f"sqlite:///{self.tmp / (uuid.uuid4().hex + '.db')}"
        name = f"asktell_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.pg_names.append(name)
        return PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.pg_names:
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                for name in self.pg_names:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


# --------------------------------------------------------------------------- asktell


def start_server(url: str, workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = free_port()
    exe = Path(sys.executable).with_name("asktell")
    if not url.startswith("sqlite"):
        subprocess.run(
            [str(exe), "db", "upgrade", "--database-url", url], check=True, capture_output=True
        )
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--port",
            str(port),
            "--database-url",
            url,
            "--no-worker",
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


async def asktell_load(base: str, clients: int, seconds: float) -> dict:
    """`clients` concurrent evaluators doing ask(1) → tell, over keep-alive connections.

    The load generator is aiohttp: httpx's async client spends about 1.6 ms of CPU per
    request here, which on two cores made the load generator, not the server, the limit.
    """
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as http:
        space = [
            {"name": "x", "type": "float", "low": -5, "high": 5},
            {"name": "y", "type": "float", "low": -5, "high": 5},
        ]
        body = {"name": f"bench-{uuid.uuid4().hex[:6]}", "strategy": {"name": "random"}}
        async with http.post("/v1/studies", json=body | {"space": space}) as r:
            sid = (await r.json())["id"]
        latencies: list[float] = []
        done = 0
        errors = 0
        stop = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal done, errors
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                async with http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1}) as r:
                    answer = await r.json()
                latencies.append(time.perf_counter() - t0)
                if r.status != 200:
                    errors += 1
                    continue
                trial = answer["trials"][0]
                p = trial["params"]
                told = {"values": {"value": p["x"] ** 2 + p["y"] ** 2}}
                async with http.post(f"/v1/trials/{trial['id']}:tell", json=told) as t:
                    await t.read()
                if t.status == 200:
                    done += 1
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return _summary(done, elapsed, latencies, errors)


def _summary(done: int, elapsed: float, latencies: list[float], errors: int) -> dict:
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 2 else [float("nan")] * 99
    return {
        "trials_per_s": done / elapsed,
        "p50_ms": q[49] * 1e3,
        "p99_ms": q[98] * 1e3,
        "trials": done,
        "errors": errors,
    }


class CpuMeter:
    """CPU seconds (Linux /proc) of the server's process tree, of PostgreSQL's processes
    and of this load generator, to split a run's cost per trial."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.start = self.read()

    def read(self) -> tuple[float, float, float]:
        server = sum(_cpu_of(p) for p in _tree(self.server_pid))
        postgres = sum(_cpu_of(p) for p in _pids_named("postgres"))
        return server, postgres, time.process_time()

    def per_trial_ms(self, trials: int) -> str:
        now = self.read()
        spent = (b - a for a, b in zip(self.start, now, strict=True))
        server, postgres, client = (x / max(trials, 1) * 1e3 for x in spent)
        return f"server {server:.2f}, postgres {postgres:.2f}, load generator {client:.2f}"


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            out.extend(_tree(int(child)))
    return out


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


# --------------------------------------------------------------------------- optuna


def _optuna_worker(url: str, name: str, seconds: float, ready, out: mp.Queue) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.RDBStorage(url)
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler()
    )
    ready.wait()  # every process has imported optuna and opened its storage
    stop_at = time.perf_counter() + seconds
    lat, done, errors = [], 0, 0
    while time.perf_counter() < stop_at:
        t0 = time.perf_counter()
        try:
            trial = study.ask()
            x = trial.suggest_float("x", -5, 5)
            y = trial.suggest_float("y", -5, 5)
            lat.append(time.perf_counter() - t0)
            study.tell(trial, x * x + y * y)
            done += 1
        except Exception:  # e.g. "database is locked" on SQLite
            errors += 1
    out.put((done, lat, errors))


def optuna_load(url: str, clients: int, seconds: float) -> dict:
    """One process per client, each with its own RDBStorage; the clock starts when all are
    ready."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    name = f"bench-{uuid.uuid4().hex[:6]}"
    optuna.create_study(study_name=name, storage=optuna.storages.RDBStorage(url))
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    ready = ctx.Barrier(clients)
    procs = [
        ctx.Process(target=_optuna_worker, args=(url, name, seconds, ready, out))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    done = sum(r[0] for r in results)
    lat = [x for r in results for x in r[1]]
    return _summary(done, seconds, lat, sum(r[2] for r in results))


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=30.0,
        help="length of each run; Optuna slows as its study grows, so short runs flatter it",
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--skip-optuna", action="store_true")
    parser.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="asktell API processes (asktell serve --workers)",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="also print CPU ms per trial of the server, PostgreSQL and the load generator",
    )
    args = parser.parse_args()

    dbs = Databases()
    rows = []
    try:
        for engine in args.engines:
            for clients in args.clients:
                url = dbs.new(engine)
                proc, base = start_server(url, args.server_workers)
                meter = CpuMeter(proc.pid) if args.cpu else None
                try:
                    res = asyncio.run(asktell_load(base, clients, args.seconds))
                    cpu = meter.per_trial_ms(res["trials"]) if meter else None
                finally:
                    proc.terminate()
                    proc.wait(10)
                rows.append(("asktell", engine, clients, res))
                print(_fmt(rows[-1]), flush=True)
                if cpu:
                    print(f"  CPU ms per trial: {cpu}", flush=True)
                if not args.skip_optuna:
                    res = optuna_load(dbs.new(engine), clients, args.seconds)
                    rows.append(("optuna", engine, clients, res))
                    print(_fmt(rows[-1]), flush=True)
    finally:
        dbs.close()
    print()
    print("| system | engine | clients | trials/s | ask p50 ms | ask p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(_fmt(row))
    for engine in args.engines:
        for clients in args.clients:
            ours = [r for s, e, c, r in rows if s == "asktell" and e == engine and c == clients]
            theirs = [r for s, e, c, r in rows if s == "optuna" and e == engine and c == clients]
            if ours and theirs:
                ratio = ours[0]["trials_per_s"] / max(theirs[0]["trials_per_s"], 1e-9)
                print(f"{engine}, {clients} clients: asktell/optuna = {ratio:.1f}x")


def _fmt(row) -> str:
    system, engine, clients, r = row
    return (
        f"| {system} | {engine} | {clients} | {r['trials_per_s']:.1f} | {r['p50_ms']:.1f} | "
        f"{r['p99_ms']:.1f} | {r['errors']} |"
    )


if __name__ == "__main__":
    main()
