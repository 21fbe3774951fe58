"""Settings of every activity kind, as pydantic models (a discriminated union on ``type``).

A settings class also states the activity's shape: how many inputs it takes, which outputs it
has, and which dimension and extra columns each output carries.  The validator and the canvas
forms read these; the matching ``run`` lives in ``partita.activities.<kind>``.  A new kind is
a class in one of these modules plus one entry in ``KINDS`` below.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from partita.model.activities.audiences import (
    IncrementalQuery,
    ReadAudience,
    SaveAudience,
    UpdateData,
)
from partita.model.activities.base import (
    IDENTIFIER,
    ActivityBase,
    Columns,
    FilterSpec,
    OrderItem,
)
from partita.model.activities.channels import (
    ChannelBase,
    EmailActivity,
    PushActivity,
    SmsActivity,
    WebhookActivity,
)
from partita.model.activities.data import (
    ChangeDimension,
    Collect,
    Enrichment,
    Lookup,
    MatchRule,
    Reconciliation,
)
from partita.model.activities.files import ExtractFile, FileColumn, LoadFile
from partita.model.activities.flow import AndJoin, Condition, End, Fork, TestActivity
from partita.model.activities.targeting import (
    BuildAudience,
    Combine,
    Deduplication,
    Limit,
    Split,
    Subset,
)

Activity = Annotated[
    BuildAudience
    | ReadAudience
    | IncrementalQuery
    | LoadFile
    | Combine
    | Deduplication
    | Enrichment
    | Reconciliation
    | Split
    | ChangeDimension
    | SaveAudience
    | ExtractFile
    | UpdateData
    | Fork
    | AndJoin
    | TestActivity
    | End
    | EmailActivity
    | SmsActivity
    | PushActivity
    | WebhookActivity,
    Field(discriminator="type"),
]

KINDS: tuple[type[ActivityBase], ...] = (
    BuildAudience,
    ReadAudience,
    IncrementalQuery,
    LoadFile,
    Combine,
    Deduplication,
    Enrichment,
    Reconciliation,
    Split,
    ChangeDimension,
    SaveAudience,
    ExtractFile,
    UpdateData,
    Fork,
    AndJoin,
    TestActivity,
    End,
    EmailActivity,
    SmsActivity,
    PushActivity,
    WebhookActivity,
)

ACTIVITY_TYPES: dict[str, type[ActivityBase]] = {
    cls.model_fields["type"].default: cls for cls in KINDS
}

__all__ = [
    "ACTIVITY_TYPES",
    "IDENTIFIER",
    "Activity",
    "ActivityBase",
    "AndJoin",
    "BuildAudience",
    "ChangeDimension",
    "ChannelBase",
    "Collect",
    "Columns",
    "Combine",
    "Condition",
    "Deduplication",
    "EmailActivity",
    "End",
    "Enrichment",
    "ExtractFile",
    "FileColumn",
    "FilterSpec",
    "Fork",
    "IncrementalQuery",
    "Limit",
    "LoadFile",
    "Lookup",
    "MatchRule",
    "OrderItem",
    "PushActivity",
    "ReadAudience",
    "Reconciliation",
    "SaveAudience",
    "SmsActivity",
    "Split",
    "Subset",
    "TestActivity",
    "UpdateData",
    "WebhookActivity",
]
