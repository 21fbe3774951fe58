"""``partita serve``: the tracking server (clicks, opens, unsubscribes, the feedback API)."""

from __future__ import annotations

import typer

from partita.cli.base import app, handled, project_dir
from partita.cli.output import console
from partita.model.project import load_project
from partita.server import create_app


@app.command()
@handled
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="Port to listen on."),
) -> None:
    """Run the tracking server: click redirects, the open pixel, unsubscribe pages and the
    feedback API for bounces and complaints (docs/tracking.md). Stop it with Ctrl-C."""
    import uvicorn

    project = load_project(project_dir())
    server = create_app(project)
    console.print(
        f"tracking server for {project.tracking_url} listening on http://{host}:{port}",
        highlight=False,
    )
    uvicorn.run(server, host=host, port=port, log_level="info")
