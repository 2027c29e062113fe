"""complaint_similarities: keyless complaints with close texts, shown as similar instead of merged as duplicates

Revision ID: 0004
Revises: 0003
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('complaint_similarities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('complaint_id', sa.Integer(), nullable=False),
    sa.Column('similar_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'],
                            name=op.f('fk_complaint_similarities_complaint_id_complaints'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['similar_id'], ['complaints.id'],
                            name=op.f('fk_complaint_similarities_similar_id_complaints'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_similarities')),
    sa.UniqueConstraint('complaint_id', name=op.f('uq_complaint_similarities_complaint_id'))
    )
    with op.batch_alter_table('complaint_similarities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaint_similarities_similar_id'), ['similar_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('complaint_similarities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaint_similarities_similar_id'))
    op.drop_table('complaint_similarities')
