"""An index on complaints.customer_ref: dedupe looks up every new complaint's account reference among all the
complaints before it, and a customer's history and an erasure request look one up; without an index each lookup
read the whole table.

Revision ID: 0015
Revises: 0014
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_complaints_customer_ref', 'complaints', ['customer_ref'])


def downgrade() -> None:
    op.drop_index('ix_complaints_customer_ref', table_name='complaints')
