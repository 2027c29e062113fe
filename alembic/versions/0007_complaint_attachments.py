"""complaint_attachments: the files that came with a complaint (evidence), stored by content hash or rejected with
the reason

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'complaint_attachments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('complaint_id', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('file_name', sa.String(length=200), nullable=False),
        sa.Column('declared_type', sa.String(length=100), nullable=True),
        sa.Column('sniffed_type', sa.String(length=100), nullable=True),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('rejected', sa.String(length=20), nullable=True),
        sa.Column('reason', sa.String(length=300), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'],
                                name='fk_complaint_attachments_complaint_id_complaints', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_complaint_attachments'),
        sa.UniqueConstraint('complaint_id', 'fingerprint', name='uq_complaint_attachments_fingerprint'),
    )
    op.create_index('ix_complaint_attachments_sha256', 'complaint_attachments', ['sha256'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_complaint_attachments_sha256', table_name='complaint_attachments')
    op.drop_table('complaint_attachments')
