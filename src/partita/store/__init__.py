"""The store layer: Partita's own state (SQLAlchemy 2 + Alembic; SQLite or PostgreSQL)."""

from partita.store.records import (
    CampaignRecord,
    ExecutionRecord,
    LogRecord,
    OutputRecord,
    TaskRecord,
    TransitionRecord,
    VersionRecord,
)
from partita.store.store import Store, utcnow

__all__ = [
    "CampaignRecord",
    "ExecutionRecord",
    "LogRecord",
    "OutputRecord",
    "Store",
    "TaskRecord",
    "TransitionRecord",
    "VersionRecord",
    "utcnow",
]
