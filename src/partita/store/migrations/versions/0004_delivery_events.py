"""What happened to deliveries after their hand-off (opens, clicks, unsubscribes, bounces,
complaints), the suppression list those feed, and a unique index to find a delivery by its
idempotency key (the reference tracking tokens carry).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EVENT_KINDS = "'open', 'click', 'unsubscribe', 'hard_bounce', 'soft_bounce', 'complaint'"
SUPPRESSION_REASONS = "'unsubscribed', 'hard_bounce', 'complaint', 'manual'"


def upgrade() -> None:
    op.create_index(
        op.f("ix_deliveries_idempotency_key"), "deliveries", ["idempotency_key"], unique=True
    )
    op.create_table(
        "delivery_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("link_index", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.CheckConstraint(f"kind IN ({EVENT_KINDS})", name=op.f("ck_delivery_events_kind_valid")),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"], name=op.f("fk_delivery_events_delivery_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_events")),
    )
    op.create_index(
        op.f("ix_delivery_events_delivery_id"), "delivery_events", ["delivery_id"], unique=False
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=1000), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            f"reason IN ({SUPPRESSION_REASONS})", name=op.f("ck_suppressions_reason_valid")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("channel", "address", name="uq_suppressions_address"),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_index(op.f("ix_delivery_events_delivery_id"), table_name="delivery_events")
    op.drop_table("delivery_events")
    op.drop_index(op.f("ix_deliveries_idempotency_key"), table_name="deliveries")
