"""The hot statements of ask and tell run on PostgreSQL's driver directly.

SQLAlchemy spends about 140 µs of CPU per execution of a cached Core statement
(execution context, result metadata); psycopg alone about 55 µs. `DriverConnection`
wraps a SQLAlchemy connection: the statements registered here go to psycopg as
prepared statements, compiled once by SQLAlchemy for the connection's dialect and
the given parameter names, with SQLAlchemy's own bind processors; anything else goes
through SQLAlchemy as usual. Driver errors come out as SQLAlchemy's exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

__all__ = ["DriverConnection", "register"]

_REGISTERED: set[int] = set()
_COMPILED: dict[tuple[int, tuple[str, ...]], _Compiled] = {}


class _Compiled:
    def __init__(self, statement: Executable, dialect: Dialect, keys: list[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self.sql = str(compiled)
        self.defaults = dict(compiled.params)  # literal values bound by the statement
        self.processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self.processors[name] = process

    def parameters(self, given: Mapping[str, Any]) -> dict[str, Any]:
        out = self.defaults | dict(given)
        for name, process in self.processors.items():
            out[name] = process(out[name])
        return out


def register(statement: Executable) -> Executable:
    """Mark a statement for the driver path."""
    _REGISTERED.add(id(statement))
    return statement


class Rows(list):
    """Fetched rows, with the two accessors of SQLAlchemy's result that the paths use."""

    def first(self):
        return self[0] if self else None

    def one(self):
        if len(self) != 1:
            raise LookupError(f"expected one row, got {len(self)}")
        return self[0]


class DriverConnection:
    """A PostgreSQL `Connection` stand-in: registered statements with one parameter set
    run on psycopg; everything else is delegated."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._raw = conn.connection.driver_connection

    def execute(self, statement: Executable, params: Any = None):
        if isinstance(params, Sequence) and len(params) == 1:
            params = params[0]
        if id(statement) not in _REGISTERED or not isinstance(params, Mapping):
            return self.conn.execute(statement, params)
        keys = tuple(sorted(params))
        compiled = _COMPILED.get((id(statement), keys))
        if compiled is None:
            compiled = _COMPILED[(id(statement), keys)] = _Compiled(
                statement, self.conn.dialect, list(keys)
            )
        values = compiled.parameters(params)
        try:
            with self._raw.cursor(row_factory=namedtuple_row) as cur:
                cur.execute(compiled.sql, values, prepare=True)
                return Rows(cur.fetchall() if cur.description is not None else ())
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError):
                self.conn.invalidate(exc)
            raise DBAPIError.instance(compiled.sql, values, exc, psycopg.Error) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)
