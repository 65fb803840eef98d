"""The commands of docker-compose.yml and the Dockerfile, run here without Docker.

Each test reads the service (or image) definition and runs its exact argv against the real
PostgreSQL server, substituting only what exists inside the compose network alone: the
`postgres` host and its credentials become those of a throwaway database on the test server,
the container port becomes a free local port, the 0.0.0.0 bind address becomes 127.0.0.1, the
executables of the image (`asktell`, `python`) become those of this environment and paths
the Dockerfile copies into the image become their source in the repository.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PG_URL = os.environ.get(
    "ASKTELL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
COMPOSE_DB_HOST = "postgres"
ANY_ADDRESS = "0.0.0.0"
LOCALHOST = "127.0.0.1"
START_TIMEOUT = 120.0
ONE_SHOT_TIMEOUT = 180.0
ASKTELL_SERVICES = ("migrate", "api", "worker", "worker-gpu")


# ---------------------------------------------------------------------------------------------
# docker-compose.yml


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_]\w*)(?P<rest>[^}]*)\}|(?P<plain>[A-Za-z_]\w*))"
)


def interpolate(value: str) -> str:
    """Compose variable substitution as if no variable were set: defaults only."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        rest = match["rest"] or ""
        if rest.startswith((":-", "-")):
            return rest.split("-", 1)[1]
        if rest.startswith((":?", "?")):
            raise AssertionError(f"{match[0]} in docker-compose.yml has no default")
        if rest.startswith((":+", "+")) or not rest:
            return ""
        raise AssertionError(f"unsupported substitution {match[0]}")

    return _VARIABLE.sub(substitute, value)


def _interpolated(node: Any) -> Any:
    if isinstance(node, str):
        return interpolate(node)
    if isinstance(node, dict):
        return {key: _interpolated(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolated(item) for item in node]
    return node


@functools.cache
def compose() -> dict[str, Any]:
    return _interpolated(yaml.safe_load(COMPOSE_FILE.read_text()))


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


def command(name: str) -> list[str]:
    cmd = service(name)["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else [str(arg) for arg in cmd]


def environment(name: str) -> dict[str, str]:
    env = service(name).get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def healthcheck_argv(test: str | list[str]) -> list[str]:
    """A compose/Dockerfile healthcheck `test` as an argv."""
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    kind, *rest = test
    if kind == "CMD":
        return list(rest)
    assert kind == "CMD-SHELL", f"unsupported healthcheck {test}"
    return ["/bin/sh", "-c", rest[0]]


def compose_database_url(name: str) -> URL:
    return make_url(environment(name)["ASKTELL_DATABASE_URL"])


def container_port(ports: list[Any]) -> int:
    (entry,) = ports
    if isinstance(entry, dict):
        return int(entry["target"])
    return int(str(entry).rsplit(":", 1)[-1].split("/")[0])


def option(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


# ---------------------------------------------------------------------------------------------
# Dockerfile


@functools.cache
def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Each stage as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not pending and not stripped):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword.upper(), args.strip()))
    return stages


def final_stage(keyword: str) -> list[str]:
    return [args for kw, args in dockerfile_stages()[-1] if kw == keyword]


def image_cmd() -> list[str]:
    (cmd,) = final_stage("CMD")[-1:]
    argv = json.loads(cmd)
    assert isinstance(argv, list), "CMD must use the exec (JSON) form"
    return argv


def image_healthcheck() -> list[str]:
    (args,) = final_stage("HEALTHCHECK")[-1:]
    match = re.fullmatch(r"(?:--\S+\s+)*CMD\s+(.*)", args, re.S)
    assert match, f"unexpected HEALTHCHECK {args}"
    test = match[1]
    return json.loads(test) if test.startswith("[") else ["/bin/sh", "-c", test]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in final_stage("ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def image_copies() -> dict[str, Path]:
    """Destination in the image → source in the repository, for COPY from the build context."""
    copies: dict[str, Path] = {}
    for args in final_stage("COPY"):
        *sources, dest = shlex.split(args)
        if any(s.startswith("--from") for s in sources):
            continue
        (source,) = (s for s in sources if not s.startswith("--"))
        copies[dest.rstrip("/")] = ROOT / source.rstrip("/")
    return copies


def image_exposed() -> set[int]:
    return {int(port.split("/")[0]) for args in final_stage("EXPOSE") for port in args.split()}


def local_image_env() -> dict[str, str]:
    """The image's ASKTELL_* variables, paths copied into the image mapped to their source."""
    env = {k: v for k, v in image_env().items() if k.startswith("ASKTELL_")}
    for key, value in env.items():
        for dest, source in image_copies().items():
            if value == dest or value.startswith(dest + "/"):
                env[key] = str(source) + value[len(dest) :]
    return env


# ---------------------------------------------------------------------------------------------
# Running the commands


def asktell_executable() -> str:
    beside = Path(sys.executable).with_name("asktell")
    found = str(beside) if beside.exists() else shutil.which("asktell")
    assert found, "the asktell command is not installed (pip install ./client .)"
    return found


def localize(argv: list[str], *, port: int | None = None, inner_port: int = 8420) -> list[str]:
    """Image executables → this environment's; 0.0.0.0 → 127.0.0.1; inner_port → port."""
    executables = {"asktell": asktell_executable(), "python": sys.executable}
    assert argv and argv[0] in executables, f"{argv} does not start with asktell or python"
    out = [executables[argv[0]]]
    for arg in argv[1:]:
        arg = LOCALHOST if arg == ANY_ADDRESS else arg
        if port is not None:
            arg = re.sub(rf"(?<!\d){inner_port}(?!\d)", str(port), arg)
        out.append(arg)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return sock.getsockname()[1]


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASKTELL_")}
    env.update(local_image_env())
    return env


def service_env(name: str, database: URL) -> dict[str, str]:
    """The image's and the service's environment, the database URL moved onto the test server."""
    env = base_env()
    env.update(environment(name))
    url = make_url(env["ASKTELL_DATABASE_URL"])
    assert url.host == COMPOSE_DB_HOST, url
    env["ASKTELL_DATABASE_URL"] = url.set(
        host=database.host,
        port=database.port,
        username=database.username,
        password=database.password,
        database=database.database,
    ).render_as_string(hide_password=False)
    return env


@dataclass
class Proc:
    name: str
    argv: list[str]
    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        return self.popen.poll() is None


class Processes:
    """Long-running commands started in their own process group, stopped at teardown."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.started: list[Proc] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as handle:
            popen = subprocess.Popen(
                argv,
                env=env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, argv, popen, log)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            if not proc.running():
                continue
            os.killpg(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(timeout=15)

    def report(self) -> str:
        return "\n".join(
            f"----- {p.name} (exit {p.popen.returncode}): {shlex.join(p.argv)}\n{p.output()}"
            for p in self.started
        )


def run_one_shot(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=ONE_SHOT_TIMEOUT,
    )


def describe(result: subprocess.CompletedProcess) -> str:
    return (
        f"{shlex.join(result.args)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )


def http(
    method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 90.0
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_until(
    what: str, check: Callable[[], bool], procs: Processes, timeout: float = START_TIMEOUT
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs.started:
            if not proc.running():
                pytest.fail(f"{proc.name} exited while waiting for {what}\n{procs.report()}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}\n{procs.report()}")


def ready(port: int) -> bool:
    status, body = http("GET", f"http://{LOCALHOST}:{port}/readyz", timeout=5)
    return status == 200 and body == {"status": "ready"}


def healthz(port: int) -> bool:
    status, body = http("GET", f"http://{LOCALHOST}:{port}/healthz", timeout=5)
    return status == 200 and body == {"status": "ok"}


def workers(url: URL | str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text("SELECT id, device FROM workers"))]
    finally:
        engine.dispose()


def expected_auto_device() -> str:
    from asktell.worker.device import resolve_device

    return resolve_device("auto")


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def pg_server() -> str:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        pytest.skip(f"PostgreSQL at {PG_URL} unreachable: {exc}")
    return PG_URL


@pytest.fixture
def database(pg_server: str) -> Iterator[URL]:
    """A fresh database on the test server, dropped afterwards."""
    name = f"asktell_compose_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_server).set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()
        print(procs.report())


def migrate(database: URL, cwd: Path) -> None:
    result = run_one_shot(localize(command("migrate")), service_env("migrate", database), cwd)
    assert result.returncode == 0, describe(result)


def start_api(database: URL, processes: Processes) -> int:
    port = free_port()
    inner = int(option(command("api"), "--port"))
    argv = localize(command("api"), port=port, inner_port=inner)
    processes.start("api", argv, service_env("api", database))
    wait_until("the api's /readyz", lambda: ready(port), processes)
    return port


# ---------------------------------------------------------------------------------------------
# Tests


def test_compose_wiring_matches_the_commands():
    pg = service("postgres")
    assert pg["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(healthcheck_argv(pg["healthcheck"]["test"]))
    assert any(v.split(":")[-1] == "/var/lib/postgresql/data" for v in pg["volumes"])
    pg_env = environment("postgres")

    for name in ASKTELL_SERVICES:
        url = compose_database_url(name)
        assert url.drivername == "postgresql+psycopg", name
        assert (url.host, url.port or 5432) == (COMPOSE_DB_HOST, 5432), name
        assert url.username == pg_env["POSTGRES_USER"], name
        assert url.password == pg_env["POSTGRES_PASSWORD"], name
        assert url.database == pg_env["POSTGRES_DB"], name
        depends = service(name)["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        if name != "migrate":
            assert depends["migrate"]["condition"] == "service_completed_successfully", name

    assert command("migrate")[:3] == ["asktell", "db", "upgrade"]
    assert service("migrate")["restart"] == "no"

    api = command("api")
    assert api[:2] == ["asktell", "serve"]
    assert "--no-worker" in api
    assert option(api, "--host") == ANY_ADDRESS
    inner = int(option(api, "--port"))
    assert container_port(service("api")["ports"]) == inner
    assert inner in image_exposed()
    api_check = " ".join(healthcheck_argv(service("api")["healthcheck"]["test"]))
    assert f"{LOCALHOST}:{inner}/readyz" in api_check

    assert command("worker")[:2] == ["asktell", "worker"]
    gpu = service("worker-gpu")
    assert "gpu" in gpu["profiles"]
    assert option(command("worker-gpu"), "--device").startswith("cuda")
    assert gpu["build"]["args"]["TORCH_VARIANT"] == "cuda"
    assert gpu["image"] != service("worker")["image"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]

    migrations = Path(local_image_env()["ASKTELL_MIGRATIONS_DIR"])
    assert migrations == ROOT / "migrations", "ASKTELL_MIGRATIONS_DIR is not where COPY puts them"
    assert (migrations / "env.py").is_file()


def test_migrate_then_api_is_ready_and_healthcheck_passes(database, processes, tmp_path):
    migrate(database, tmp_path)
    port = start_api(database, processes)

    inner = int(option(command("api"), "--port"))
    check = localize(
        healthcheck_argv(service("api")["healthcheck"]["test"]), port=port, inner_port=inner
    )
    result = run_one_shot(check, base_env(), tmp_path)
    assert result.returncode == 0, describe(result) + processes.report()

    down = localize(
        healthcheck_argv(service("api")["healthcheck"]["test"]),
        port=free_port(),
        inner_port=inner,
    )
    assert run_one_shot(down, base_env(), tmp_path).returncode != 0

    status, _ = http("GET", f"http://{LOCALHOST}:{port}/v1/studies")
    assert status == 401, "the api binds a non-loopback address, so it must require tokens"


def test_worker_registers_and_stays_up(database, processes, tmp_path):
    migrate(database, tmp_path)
    worker = processes.start("worker", localize(command("worker")), service_env("worker", database))
    url = database.render_as_string(hide_password=False)
    wait_until("a row in workers", lambda: len(workers(url)) == 1, processes)
    ((worker_id, device),) = workers(url)
    assert device == expected_auto_device()
    time.sleep(3)
    assert worker.running(), processes.report()
    assert workers(url) == [(worker_id, device)]


def test_api_and_worker_answer_a_model_based_ask(database, processes, tmp_path):
    migrate(database, tmp_path)
    processes.start("worker", localize(command("worker")), service_env("worker", database))
    port = start_api(database, processes)

    created = run_one_shot(
        [asktell_executable(), "token", "create", "--project", "compose", "--name", "e2e"],
        service_env("api", database),
        tmp_path,
    )
    assert created.returncode == 0, describe(created)
    token = created.stdout.strip().splitlines()[-1]

    base = f"http://{LOCALHOST}:{port}/v1"
    space = [{"name": "x", "type": "float", "low": -1.0, "high": 1.0}]
    body = {"name": "compose", "space": space, "strategy": {"name": "gp"}}
    status, study = http("POST", f"{base}/studies", body, token)
    assert status == 201, study
    status, asked = http(
        "POST", f"{base}/studies/{study['id']}/trials:ask", {"count": 1, "wait": 60}, token
    )
    assert status == 200, f"{asked}\n{processes.report()}"
    assert len(asked["trials"]) == 1

    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            jobs = conn.execute(text("SELECT state, worker_id FROM jobs")).all()
    finally:
        engine.dispose()
    worker_ids = {worker_id for worker_id, _ in workers(database)}
    assert jobs and all(w in worker_ids for _, w in jobs), (jobs, worker_ids)


def test_gpu_worker_command(database, processes, tmp_path):
    from asktell.core.errors import InvalidInput
    from asktell.worker.device import resolve_device

    migrate(database, tmp_path)
    argv = localize(command("worker-gpu"))
    env = service_env("worker-gpu", database)
    requested = option(command("worker-gpu"), "--device")
    try:
        expected = resolve_device(requested)
    except InvalidInput:
        result = run_one_shot(argv, env, tmp_path)
        assert result.returncode == 2, describe(result)
        assert "--device" in result.stdout + result.stderr, describe(result)
        return
    processes.start("worker-gpu", argv, env)
    wait_until("a row in workers", lambda: len(workers(database)) == 1, processes)
    assert workers(database)[0][1] == expected


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_dockerfile_cmd_serves_and_healthcheck_passes(backend, processes, tmp_path, request):
    env = base_env()
    if backend == "sqlite":
        url = make_url(env["ASKTELL_DATABASE_URL"])
        data_dir = str(Path(url.database).parent)
        assert any(data_dir in args for args in final_stage("RUN")), (
            f"the image does not create {data_dir}"
        )
        local_dir = tmp_path / "data"
        local_dir.mkdir()
        db_url = url.set(database=str(local_dir / Path(url.database).name))
    else:
        db_url = request.getfixturevalue("database")
        migrate(db_url, tmp_path)
    env["ASKTELL_DATABASE_URL"] = db_url.render_as_string(hide_password=False)

    cmd = image_cmd()
    assert cmd[:2] == ["asktell", "serve"]
    inner = int(option(cmd, "--port"))
    assert inner in image_exposed()
    port = free_port()
    processes.start("image", localize(cmd, port=port, inner_port=inner), env)
    wait_until("the image's /readyz", lambda: ready(port), processes)
    assert healthz(port)

    check = localize(image_healthcheck(), port=port, inner_port=inner)
    result = run_one_shot(check, base_env(), tmp_path)
    assert result.returncode == 0, describe(result) + processes.report()

    status, _ = http("GET", f"http://{LOCALHOST}:{port}/v1/studies")
    assert status == 401, "the image binds a non-loopback address, so it must require tokens"
    wait_until("the embedded worker", lambda: len(workers(db_url)) == 1, processes, timeout=30)
