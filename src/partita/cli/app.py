"""Assembles the CLI: the Typer app with every command module registered."""

from partita.cli import (
    audience_commands,
    campaign_commands,
    delivery_commands,
    execution_commands,
    project_commands,
    server_commands,
)
from partita.cli.base import app

__all__ = [
    "app",
    "audience_commands",
    "campaign_commands",
    "delivery_commands",
    "execution_commands",
    "project_commands",
    "server_commands",
]
