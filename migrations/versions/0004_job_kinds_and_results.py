"""job kinds and results

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 16:43:15.686109
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = sa.text("state = 'queued'")


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # Plain ALTERs: a batch copy of the table would drop SQLite's AUTOINCREMENT.
    op.add_column("jobs", sa.Column("params", _json(), nullable=True))
    op.add_column("jobs", sa.Column("result", _json(), nullable=True))
    op.drop_index("uq_jobs_queued_study", table_name="jobs")
    op.create_index(
        "uq_jobs_queued_study",
        "jobs",
        ["study_id", "kind"],
        unique=True,
        sqlite_where=QUEUED,
        postgresql_where=QUEUED,
    )


def downgrade() -> None:
    op.drop_index("uq_jobs_queued_study", table_name="jobs")
    op.execute("DELETE FROM jobs WHERE kind != 'suggest' AND state = 'queued'")
    op.create_index(
        "uq_jobs_queued_study",
        "jobs",
        ["study_id"],
        unique=True,
        sqlite_where=QUEUED,
        postgresql_where=QUEUED,
    )
    op.drop_column("jobs", "result")
    op.drop_column("jobs", "params")
