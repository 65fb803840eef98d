"""notes and artifacts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 18:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STUDY_NOTE = sa.text("trial_id IS NULL")
TRIAL_NOTE = sa.text("trial_id IS NOT NULL")


def _id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _owner_columns(table: str) -> list:
    """id, study_id and trial_id with their keys (a study's own rows have no trial)."""
    return [
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("study_id", _id(), nullable=False),
        sa.Column("trial_id", _id(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f(f"fk_{table}_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.id"],
            name=op.f(f"fk_{table}_trial_id_trials"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    # New tables only: plain CREATE TABLE keeps SQLite's AUTOINCREMENT.
    op.create_table(
        "notes",
        *_owner_columns("notes"),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "uq_notes_study_note",
        "notes",
        ["study_id"],
        unique=True,
        sqlite_where=STUDY_NOTE,
        postgresql_where=STUDY_NOTE,
    )
    op.create_index(
        "uq_notes_trial_note",
        "notes",
        ["trial_id"],
        unique=True,
        sqlite_where=TRIAL_NOTE,
        postgresql_where=TRIAL_NOTE,
    )
    op.create_table(
        "artifacts",
        *_owner_columns("artifacts"),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_artifacts_study_id_trial_id", "artifacts", ["study_id", "trial_id"])
    op.create_index("ix_artifacts_trial_id", "artifacts", ["trial_id"])


def downgrade() -> None:
    op.drop_index("ix_artifacts_trial_id", table_name="artifacts")
    op.drop_index("ix_artifacts_study_id_trial_id", table_name="artifacts")
    op.drop_table("artifacts")
    op.drop_index("uq_notes_trial_note", table_name="notes")
    op.drop_index("uq_notes_study_note", table_name="notes")
    op.drop_table("notes")
