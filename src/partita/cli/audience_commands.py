"""Commands on named audiences (saved by save_audience)."""

from __future__ import annotations

from typing import Any

from partita.cli.base import JsonOption, app, engine, handled
from partita.cli.output import console, number, print_json, table


@app.command()
@handled
def audiences(as_json: bool = JsonOption) -> None:
    """List the saved audiences: dimension, rows, columns, and which execution saved them."""
    with engine() as e:
        names = {c.id: c.name for c in e.store.campaigns()}
        rows: list[dict[str, Any]] = [
            {
                "name": record.name,
                "dimension": record.dimension,
                "rows": record.row_count,
                "columns": list(record.columns),
                "campaign": names.get(record.campaign_id),
                "execution": record.execution_id,
                "saved_at": record.saved_at.isoformat(timespec="seconds"),
                "table": record.table_name,
            }
            for record in e.store.audiences()
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no saved audience yet (save_audience saves one in a live execution)")
        return
    console.print(
        table(
            None,
            ["audience", "dimension", "rows", "columns", "campaign", "execution", "saved at"],
            [
                (
                    r["name"],
                    r["dimension"],
                    number(r["rows"]),
                    ", ".join(r["columns"]),
                    r["campaign"],
                    r["execution"],
                    r["saved_at"],
                )
                for r in rows
            ],
            numeric=["rows", "execution"],
        )
    )
