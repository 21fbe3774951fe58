"""How many recipients each channel activity excluded in the warehouse, by reason (they never
reach the ledger: the report needs the counts), when a waiting task may run again (quiet
hours defer a send to the recipients' next allowed time), and the closed set of ledger
states as a CHECK constraint.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DELIVERY_STATES = "'queued', 'sending', 'sent', 'failed', 'excluded', 'in_doubt'"


def upgrade() -> None:
    op.create_table(
        "delivery_exclusions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"], ["executions.id"], name=op.f("fk_delivery_exclusions_execution_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_exclusions")),
        sa.UniqueConstraint(
            "execution_id", "activity_id", "reason", name="uq_delivery_exclusions_reason"
        ),
    )
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("wake_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.create_check_constraint(
            op.f("ck_deliveries_state_valid"), sa.text(f"state IN ({DELIVERY_STATES})")
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint(op.f("ck_deliveries_state_valid"), type_="check")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("wake_at")
    op.drop_table("delivery_exclusions")
