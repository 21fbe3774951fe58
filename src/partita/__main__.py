"""``python -m partita`` runs the CLI."""

from partita.cli import main

main()
