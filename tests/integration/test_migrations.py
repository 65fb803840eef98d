"""Migrations build exactly the schema the models declare, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from asktell.db.migrate import current_revision, head_revision, is_at_head
from asktell.db.models import Base


def test_upgrade_head_matches_models(db_url):
    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    engine.dispose()
    assert diff == []


def test_database_reports_head(db_url):
    engine = create_engine(db_url)
    assert current_revision(engine) == head_revision()
    assert is_at_head(engine)
    engine.dispose()


def test_upgrade_is_idempotent(db_url):
    from asktell.db.migrate import upgrade

    upgrade(db_url)
    upgrade(db_url)
    engine = create_engine(db_url)
    assert is_at_head(engine)
    engine.dispose()
