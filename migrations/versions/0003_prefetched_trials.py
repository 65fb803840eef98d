"""prefetched trials

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 15:43:19.602145
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch copy of the table would drop SQLite's AUTOINCREMENT.
    op.add_column(
        "trials",
        sa.Column("prefetched", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("trials", "prefetched")
