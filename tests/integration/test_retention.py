"""Retention: working tables of old executions are dropped; history stays."""

from __future__ import annotations

import pytest

from partita.engine import Engine
from partita.model.problems import PartitaError
from tests.support import run_campaign

CAMPAIGN = """
name: kept
retention: {executions: 2}
activities:
  - {id: gold, type: build_audience, filter: "loyalty_tier = 'gold'"}
  - {id: e, type: end}
transitions: [{from: gold, to: e}]
"""


def test_only_the_last_executions_keep_their_tables(engine: Engine) -> None:
    reports = [run_campaign(engine, CAMPAIGN) for _ in range(4)]
    tables = set(engine.warehouse.con.list_tables(database=engine.warehouse.working_schema))
    assert tables == {"w_kept_3_gold_out", "w_kept_4_gold_out"}
    first = engine.store.execution(reports[0]["execution"])
    assert first.tables_dropped
    with pytest.raises(
        PartitaError, match="the working tables of execution 1 were dropped by the retention policy"
    ):
        engine.working_table(first, "gold")
    # history is kept: tasks, counts and logs of the dropped executions are still there
    assert [t.status.value for t in engine.store.tasks(first.id)] == ["done", "done"]
    assert engine.store.transitions(first.id)[0].row_count == reports[0]["transitions"][0]["count"]
    messages = [line.message for line in engine.store.logs(execution_id=first.id)]
    assert "retention: dropped 1 working tables of execution 1" in messages
