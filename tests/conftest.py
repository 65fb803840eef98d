"""Shared fixtures: a database URL per engine (SQLite and the real PostgreSQL), apps, clients."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get(
    "ASKTELL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ENGINES = ["sqlite", "postgres"]


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"PostgreSQL at {PG_URL} unreachable: {exc}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head, dropped after."""
    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    from asktell.db.migrate import upgrade

    name = f"asktell_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename != 'alembic_version'"
                )
            )
        ]
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=ENGINES)
def db_url(request, tmp_path) -> str:
    """A migrated, empty database on each engine."""
    if request.param == "sqlite":
        from asktell.db.migrate import upgrade

        url = f"sqlite:///{tmp_path / 'asktell.db'}"
        upgrade(url)
        return url
    url = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def settings(db_url):
    from asktell.config import Settings

    return Settings(database_url=db_url, host="127.0.0.1", poll_interval=0.01)


@pytest.fixture
def app(settings):
    from asktell.api.app import create_app

    return create_app(settings)


@pytest.fixture
def http(app) -> Iterator:
    """A raw HTTP client on the app (runs its lifespan: migrations, embedded worker)."""
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        yield client


SPACE = [
    {"name": "x", "type": "float", "low": -5.0, "high": 5.0},
    {"name": "n", "type": "int", "low": 1, "high": 9, "step": 2},
    {"name": "opt", "type": "categorical", "choices": ["adam", "sgd"]},
    {
        "name": "momentum",
        "type": "float",
        "low": 0.0,
        "high": 0.99,
        "condition": {"parent": "opt", "values": ["sgd"]},
    },
]


@pytest.fixture
def make_study(http):
    """Create a study over HTTP and return its JSON."""
    counter = iter(range(10_000))

    def make(**overrides) -> dict:
        body = {"name": f"study-{next(counter)}", "space": SPACE, "strategy": {"name": "random"}}
        body.update(overrides)
        r = http.post("/v1/studies", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    return make
