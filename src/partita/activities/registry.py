"""Which ``run`` and ``check`` belong to each activity type: one line per kind."""

from __future__ import annotations

from dataclasses import dataclass

from partita.activities import (
    audiences,
    build_audience,
    change_dimension,
    channel,
    combine,
    deduplication,
    enrichment,
    extract_file,
    flow,
    incremental_query,
    load_file,
    reconciliation,
    split,
    test_activity,
    update_data,
)
from partita.activities.base import Checker, ColumnsOf, Runner


@dataclass(frozen=True)
class ActivityKind:
    """The behaviour of one activity type."""

    run: Runner
    check: Checker = flow.no_checks
    #: Output columns that need the data model to type (enrichment aliases); None: the settings'.
    columns: ColumnsOf | None = None


KINDS: dict[str, ActivityKind] = {
    "build_audience": ActivityKind(build_audience.run, build_audience.check),
    "read_audience": ActivityKind(audiences.run_read, audiences.check_read),
    "incremental_query": ActivityKind(incremental_query.run, incremental_query.check),
    "load_file": ActivityKind(load_file.run, load_file.check),
    "combine": ActivityKind(combine.run),
    "deduplication": ActivityKind(deduplication.run, deduplication.check),
    "enrichment": ActivityKind(enrichment.run, enrichment.check, enrichment.columns),
    "reconciliation": ActivityKind(
        reconciliation.run, reconciliation.check, reconciliation.output_columns
    ),
    "split": ActivityKind(split.run, split.check),
    "change_dimension": ActivityKind(
        change_dimension.run, change_dimension.check, change_dimension.columns
    ),
    "save_audience": ActivityKind(audiences.run_save, audiences.check_save),
    "extract_file": ActivityKind(extract_file.run, extract_file.check),
    "update_data": ActivityKind(update_data.run, update_data.check),
    "fork": ActivityKind(flow.run_fork),
    "and_join": ActivityKind(flow.run_and_join),
    "test": ActivityKind(test_activity.run, test_activity.check_conditions),
    "end": ActivityKind(flow.run_end),
    "email": ActivityKind(channel.run, channel.check),
    "sms": ActivityKind(channel.run, channel.check),
    "push": ActivityKind(channel.run, channel.check),
    "webhook": ActivityKind(channel.run, channel.check),
}
