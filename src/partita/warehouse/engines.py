"""What differs between warehouse engines, stated as data (one row per Ibis backend)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineTraits:
    """The quirks of one engine that the warehouse layer must know."""

    name: str
    #: Longest identifier the engine keeps (PostgreSQL truncates at 63 bytes).
    max_identifier: int = 63
    #: SQL dialect name for sqlglot (SQL shown in debug logs).
    dialect: str = ""
    #: Whether a range of a column is read through an index (PostgreSQL); otherwise the
    #: engine skips the blocks that cannot hold it by itself (DuckDB's zone maps).
    indexes: bool = False


TRAITS: dict[str, EngineTraits] = {
    "duckdb": EngineTraits("duckdb", max_identifier=255, dialect="duckdb"),
    "postgres": EngineTraits("postgres", max_identifier=63, dialect="postgres", indexes=True),
    "pyspark": EngineTraits("pyspark", max_identifier=255, dialect="spark"),
    "snowflake": EngineTraits("snowflake", max_identifier=255, dialect="snowflake"),
    "bigquery": EngineTraits("bigquery", max_identifier=1024, dialect="bigquery"),
    "trino": EngineTraits("trino", max_identifier=255, dialect="trino"),
    "clickhouse": EngineTraits("clickhouse", max_identifier=255, dialect="clickhouse"),
}


def traits_for(backend_name: str) -> EngineTraits:
    """The traits of an Ibis backend; unknown engines get conservative defaults."""
    return TRAITS.get(backend_name, EngineTraits(backend_name, dialect=backend_name))
