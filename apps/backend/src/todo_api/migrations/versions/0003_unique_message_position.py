"""conversation_messages: (conversation_id, position) unique

Concurrent turns on one conversation could write the same positions and interleave. Rows
that already collide are renumbered first (same order: position, then id).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        UPDATE conversation_messages AS m
        SET position = ordered.new_position
        FROM (
            SELECT id, row_number() OVER (
                PARTITION BY conversation_id ORDER BY position, id
            ) - 1 AS new_position
            FROM conversation_messages
        ) AS ordered
        WHERE m.id = ordered.id AND m.position <> ordered.new_position
        """
    )
    op.drop_index(
        "ix_conversation_messages_conversation_id_position", table_name="conversation_messages"
    )
    op.create_unique_constraint(
        "uq_conversation_messages_position",
        "conversation_messages",
        ["conversation_id", "position"],
    )


def downgrade() -> None:
    op.drop_constraint("uq_conversation_messages_position", "conversation_messages", type_="unique")
    op.create_index(
        "ix_conversation_messages_conversation_id_position",
        "conversation_messages",
        ["conversation_id", "position"],
    )
