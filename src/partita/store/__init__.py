"""The store layer: Partita's own state (SQLAlchemy 2 + Alembic; SQLite or PostgreSQL)."""

from partita.store.records import (
    AudienceRecord,
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
    "AudienceRecord",
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
