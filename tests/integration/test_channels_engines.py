"""The channel SQL (exclusions, keyset pages, outputs) on every warehouse engine."""

from __future__ import annotations

from pathlib import Path

from partita.engine import Engine
from partita.model.project import load_project
from tests.integration.test_channels import (
    eligible_sql,
    email_campaign,
    errors_of,
    exclusions_sql,
)
from tests.support import SQL, keys, run_campaign, set_channels, table_rows


def test_email_to_the_outbox(project_dir: Path, sql: SQL, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    set_channels(
        project_dir,
        f'  email: {{provider: outbox, folder: "{outbox}", sender: "s@shop.example"}}\n',
    )
    engine = Engine(load_project(project_dir))
    try:
        report = run_campaign(engine, email_campaign(), live=True)
        assert report["status"] == "completed", errors_of(engine, report)
        expected = eligible_sql(sql)
        assert keys(engine, report, "mail.out") == [row[0] for row in expected]
        assert len(list(outbox.glob("*.eml"))) == len(expected)
        found: dict[str, int] = {}
        for row in table_rows(engine, report, "mail.excluded"):
            found[row["reason"]] = found.get(row["reason"], 0) + 1
        assert found == exclusions_sql(sql)
    finally:
        engine.close()
