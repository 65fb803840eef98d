"""Engines and transactions for SQLite (embedded) and PostgreSQL (scale-out)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from asktell.core.errors import Unavailable
from asktell.db.driver import DriverConnection

__all__ = ["Database", "upsert"]


def upsert(session: Session, table):
    """An INSERT with ON CONFLICT support for the session's engine (PostgreSQL or SQLite)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class Database:
    """Owns the engines of one database URL and hands out transactions.

    On SQLite, writes open with `BEGIN IMMEDIATE` on a dedicated engine, so a
    transaction that reads then writes never fails to upgrade its lock; reads
    use a second engine with deferred transactions that WAL lets run beside
    the writer. On PostgreSQL both are one pooled engine.

    SQLite admits one writer at a time; its busy handler waits by sleeping with
    backoff, which gave long tails under many clients. Writers of one process
    therefore queue on a lock first and meet the busy handler only when another
    process writes.
    """

    def __init__(self, url: str, *, pool_size: int = 20):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _ensure_parent_dir(url)
            self.engine = _sqlite_engine(url, immediate=True)
            self.read_engine = _sqlite_engine(url, immediate=False)
        else:
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
            )
            self.read_engine = self.engine
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._writer_turn = threading.RLock() if self.is_sqlite else nullcontext()
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One read-write transaction: commit on success, roll back on any error."""
        with self._writer_turn, _translate_errors(), self._write() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One read-only transaction."""
        with _translate_errors(), self._read() as session, session.begin():
            yield session

    @contextmanager
    def statements(self) -> Iterator[DriverConnection]:
        """A PostgreSQL connection where each statement commits by itself (no BEGIN, no
        COMMIT): for hot paths whose writes are single statements guarded by their WHERE."""
        if self.is_sqlite:
            raise RuntimeError("SQLite writers take turns in `write()`")
        with _translate_errors(), self._autocommit.connect() as conn:
            yield DriverConnection(conn)

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise Unavailable(f"database unavailable: {exc.orig}", code="database_unavailable") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable("database connection lost", code="database_unavailable") from exc
        raise


def _ensure_parent_dir(url: str) -> None:
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=NullPool if ":memory:" in url else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # let the begin hook below issue BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
