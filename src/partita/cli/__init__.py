"""The ``partita`` command line (Typer + Rich); the commands are in ``partita.cli.app``."""


def main() -> None:
    """Entry point of the ``partita`` command.

    The commands are imported here, not with the package: the worker processes of a channel
    activity re-import the command's script (multiprocessing's spawn) and stay light."""
    from partita.cli.app import app

    app()


__all__ = ["main"]
