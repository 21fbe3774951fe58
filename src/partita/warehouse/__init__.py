"""The warehouse layer: Ibis connection, working tables, engine quirks, writes."""

from partita.warehouse import writes
from partita.warehouse.connection import Column, Warehouse
from partita.warehouse.engines import EngineTraits, traits_for

__all__ = ["Column", "EngineTraits", "Warehouse", "traits_for", "writes"]
