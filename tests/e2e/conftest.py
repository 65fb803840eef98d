"""Fixtures of the end-to-end tests: a process cluster per test and a fresh database per test.

Process logs are attached to the report of a failing test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PG_URL, _pg_available

from .procs import Cluster, create_pg_database, drop_pg_database

CLUSTER_KEY = pytest.StashKey[Cluster]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    cluster = item.stash.get(CLUSTER_KEY, None)
    if report.failed and cluster is not None:
        for name, log in cluster.logs():
            report.sections.append((f"asktell log: {name}", log))
    return report


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path) -> Iterator[Cluster]:
    """Starts real `asktell` processes; SIGKILLs all of them at teardown."""
    procs = Cluster(tmp_path / "logs")
    request.node.stash[CLUSTER_KEY] = procs
    try:
        yield procs
    finally:
        procs.shutdown()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path, cluster: Cluster) -> Iterator[str]:
    """A migrated database, made with `asktell db upgrade` as a deployment would.

    Parametrize indirectly with "sqlite" (a file under tmp_path) or "postgres" (a fresh
    database on the test server, dropped after).
    """
    engine = getattr(request, "param", "sqlite")
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'asktell.db'}"
        cluster.cli("db", "upgrade", "--database-url", url)
        yield url
        return
    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    url = create_pg_database(PG_URL)
    try:
        cluster.cli("db", "upgrade", "--database-url", url)
        yield url
    finally:
        cluster.shutdown()
        drop_pg_database(PG_URL, url)
