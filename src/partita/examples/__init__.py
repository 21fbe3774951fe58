"""Sample data and projects for trying Partita (the demo shop)."""
