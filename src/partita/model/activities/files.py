"""Settings of the file activities: load_file (CSV or Parquet in) and extract_file (out)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from partita.model.activities.base import (
    FILE_ROW_KEY,
    IDENTIFIER,
    ActivityBase,
    Columns,
    file_rows,
)
from partita.model.datamodel import ColumnType, DataModel

FileFormat = Literal["csv", "parquet"]


class FileColumn(BaseModel):
    """A declared column of a loaded file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=IDENTIFIER)
    type: Literal["string", "integer", "number", "boolean", "date", "timestamp"] = "string"
    format: str | None = Field(
        default=None, description="date/timestamp: strptime format, e.g. %d/%m/%Y"
    )
    source: str | None = Field(
        default=None, description="the header name in the file when it differs from name"
    )


class LoadFile(ActivityBase):
    """Reads a CSV or Parquet file into a working table; bad rows go to output 'rejects'."""

    type: Literal["load_file"] = "load_file"
    path: str = Field(description="file path (relative to the project folder) or URL")
    format: FileFormat | None = Field(default=None, description="default: from the extension")
    columns: list[FileColumn] = Field(
        default_factory=list, description="declared columns; empty: names and types inferred"
    )
    header: bool = Field(default=True, description="the first line holds column names")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote: str = Field(default='"', min_length=1, max_length=1)
    encoding: str = Field(default="utf-8", description="e.g. utf-8, latin-1, cp1252")
    date_format: str | None = Field(default=None, description="default for date columns")
    timestamp_format: str | None = Field(default=None, description="default for timestamps")
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal["", ",", ".", " ", "'"] = ""
    max_errors: int = Field(
        default=0, ge=0, description="rows that fail to parse tolerated before the task fails"
    )
    dimension: str | None = Field(
        default=None, description="the file already carries keys of this dimension"
    )
    key: str | None = Field(
        default=None, description="with dimension: the file column holding its key"
    )

    inputs_allowed: ClassVar[tuple[int, int | None]] = (0, 1)

    def outputs(self) -> list[str]:
        return ["out", "rejects"]

    def output_dimension(
        self, output: str, inputs: list[str], default: str, model: DataModel | None = None
    ) -> str:
        if output == "out" and self.dimension is not None:
            return self.dimension
        return file_rows(self.id)

    def output_columns(self, output: str, inputs: list[Columns]) -> Columns:
        if output == "rejects":
            return {
                FILE_ROW_KEY: ColumnType.INTEGER,
                "line": ColumnType.STRING,
                "reason": ColumnType.STRING,
            }
        columns = {c.name: ColumnType(c.type) for c in self.columns}
        if self.dimension is None:
            return {FILE_ROW_KEY: ColumnType.INTEGER, **columns}
        return {name: kind for name, kind in columns.items() if name != self.key}

    @model_validator(mode="after")
    def _key_with_dimension(self) -> LoadFile:
        if (self.dimension is None) != (self.key is None):
            raise ValueError("'dimension' and 'key' go together: the file column holding keys")
        return self


class ExtractFile(ActivityBase):
    """Writes the inbound population (chosen columns) to a CSV or Parquet file."""

    type: Literal["extract_file"] = "extract_file"
    path: str = Field(
        description="file to write (relative to the project folder); {execution} and {date} "
        "are replaced"
    )
    format: FileFormat | None = Field(default=None, description="default: from the extension")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="header -> expression over the population; empty: the working table's columns",
    )
    header: bool = True
    delimiter: str = Field(default=",", min_length=1, max_length=1)

    accepts_file_rows: ClassVar[bool] = True
