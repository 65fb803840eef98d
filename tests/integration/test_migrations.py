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


def test_notes_and_artifacts_downgrade_and_upgrade_again(db_url):
    from alembic import command
    from sqlalchemy import inspect

    from asktell.db.migrate import alembic_config, upgrade

    command.downgrade(alembic_config(db_url), "0004")
    engine = create_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    assert not {"notes", "artifacts"} & tables
    upgrade(db_url)
    assert {"notes", "artifacts"} <= set(inspect(engine).get_table_names())
    assert is_at_head(engine)
    engine.dispose()
