"""Registered statements on psycopg directly give what SQLAlchemy gives (PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from asktell.ask import _INSERT_TRIALS, _STUDY_PROBE
from asktell.core.errors import Unavailable
from asktell.db import repository as repo
from asktell.db.models import utcnow
from asktell.db.session import Database
from asktell.tell import _FINISH_OPEN, _TELL_READ


@pytest.fixture
def db(pg_database):
    from tests.conftest import _truncate_pg

    _truncate_pg(pg_database)
    database = Database(pg_database)
    yield database
    database.dispose()


def _study(db: Database) -> tuple[int, int]:
    with db.write() as session:
        project = repo.get_or_create_project(session)
        session.execute(
            text(
                "INSERT INTO studies (project_id, name, spec, strategy, settings, meta, state, "
                "created_at, updated_at) VALUES (:p, 's', '{}', '{}', '{}', '{}', 'running', "
                "now(), now())"
            ),
            {"p": project},
        )
        sid = session.execute(text("SELECT max(id) FROM studies")).scalar_one()
    return project, sid


def _trial(sid: int, point_key: str | None = None) -> dict:
    now = utcnow()
    return {
        "study_id": sid,
        "state": "running",
        "params": {"x": 0.5, "arr": "AAAAAA=="},
        "point_key": point_key,
        "strategy": "random",
        "evaluator": "e",
        "operation_id": None,
        "reoffered": False,
        "prefetched": False,
        "created_at": now,
        "started_at": now,
        "heartbeat_at": now,
    }


def test_rows_equal_sqlalchemys(db):
    project, sid = _study(db)
    probe = {"study_id": sid, "project": project}
    with db.statements() as conn:
        inserted = conn.execute(_INSERT_TRIALS, [_trial(sid)]).one()
        driver_row = conn.execute(_STUDY_PROBE, probe).first()
        read = {"trial_id": inserted.id, "project": project}
        driver_read = conn.execute(_TELL_READ, read).first()
    with db.read() as session:
        assert session.execute(_STUDY_PROBE, probe).first()._asdict() == driver_row._asdict()
        assert session.execute(_TELL_READ, read).first()._asdict() == driver_read._asdict()
    assert inserted.params == {"x": 0.5, "arr": "AAAAAA=="}
    assert inserted.created_at.utcoffset() is not None


def test_guarded_update_changes_only_an_open_trial(db):
    _, sid = _study(db)
    finish = {
        "state": "completed",
        "values": {"value": 1.5},
        "finished_at": utcnow(),
        "failure_reason": None,
    }
    with db.statements() as conn:
        tid = conn.execute(_INSERT_TRIALS, [_trial(sid)]).one().id
        first = conn.execute(_FINISH_OPEN, {"trial_id": tid, **finish}).first()
        again = conn.execute(_FINISH_OPEN, {"trial_id": tid, **finish}).first()
    assert first.state == "completed" and first.values == {"value": 1.5}
    assert again is None


def test_driver_errors_are_sqlalchemys(db):
    _, sid = _study(db)
    with db.statements() as conn:
        conn.execute(_INSERT_TRIALS, [_trial(sid, point_key="same")])
        with pytest.raises(IntegrityError):  # one open trial per point
            conn.execute(_INSERT_TRIALS, [_trial(sid, point_key="same")])
        # The connection is still usable after the failed statement.
        assert conn.execute(_INSERT_TRIALS, [_trial(sid, point_key="other")]).one().id


def test_a_lost_connection_is_unavailable(db):
    _, sid = _study(db)
    with pytest.raises(Unavailable), db.statements() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with db.write() as other:
            other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        conn.execute(_INSERT_TRIALS, [_trial(sid)])
    with db.statements() as conn:  # the pool hands out a working connection again
        assert conn.execute(_INSERT_TRIALS, [_trial(sid)]).one().id
