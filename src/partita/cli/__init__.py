"""The ``partita`` command line (Typer + Rich)."""

from partita.cli.app import app


def main() -> None:
    """Entry point of the ``partita`` command."""
    app()


__all__ = ["app", "main"]
