"""tasks: trigram indexes that serve the list's `q` search (ILIKE '%text%')

Without them a search scans every task of the user (and at 100k tasks, sorting them all).
pg_trgm is a trusted extension in PostgreSQL 13+ (a database owner may create it) and is
available on Neon.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in ("title", "description"):
        op.create_index(
            f"ix_tasks_{column}_trgm",
            "tasks",
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def downgrade() -> None:
    # The extension stays: other objects of the database may use it by now.
    for column in ("title", "description"):
        op.drop_index(f"ix_tasks_{column}_trgm", table_name="tasks")
