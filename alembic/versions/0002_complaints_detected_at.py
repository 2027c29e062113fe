"""complaints.detected_at: detection is a stage of its own, resumed after a crash

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('detected_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_complaints_detected_at', ['detected_at'], unique=False)
    # Until now detection ran right after classification: everything processed has been detected.
    op.execute("UPDATE complaints SET detected_at = processed_at WHERE processed_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index('ix_complaints_detected_at')
        batch_op.drop_column('detected_at')
