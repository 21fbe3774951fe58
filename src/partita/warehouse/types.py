"""Mapping engine column types (Ibis dtypes) onto the filter language's :class:`ColumnType`."""

from __future__ import annotations

import ibis.expr.datatypes as dt
import ibis.expr.schema as sch

from partita.model.datamodel import ColumnType


def column_type(dtype: dt.DataType) -> ColumnType:
    """The filter type of an Ibis data type."""
    if dtype.is_string():
        return ColumnType.STRING
    if dtype.is_integer():
        return ColumnType.INTEGER
    if dtype.is_floating() or dtype.is_decimal():
        return ColumnType.NUMBER
    if dtype.is_boolean():
        return ColumnType.BOOLEAN
    if dtype.is_timestamp():
        return ColumnType.TIMESTAMP
    if dtype.is_date():
        return ColumnType.DATE
    return ColumnType.OTHER


def column_types(schema: sch.Schema) -> dict[str, ColumnType]:
    """Column name -> filter type for a whole schema."""
    return {name: column_type(dtype) for name, dtype in schema.items()}
