"""Settings of the file activities: load_file (CSV or Parquet in) and extract_file (out)."""

from __future__ import annotations

import codecs
import re
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from partita.model.activities.base import (
    FILE_ROW_KEY,
    IDENTIFIER,
    ActivityBase,
    Columns,
    file_rows,
)
from partita.model.datamodel import ColumnType, DataModel

FileFormat = Literal["csv", "parquet"]

#: File name endings that tell the format (a compression suffix such as ``.gz`` is looked past).
EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")
#: A path that starts with a scheme (``https://``, ``s3://``…) is a URL.
URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: The URL schemes load_file downloads.
URL_SCHEMES = ("http", "https")


def url_scheme(path: str) -> str | None:
    """The scheme of a URL (lower case), None for a file path."""
    match = URL_SCHEME.match(path)
    return match.group(1).lower() if match else None


def _name(path: str) -> str:
    """The file name part whose extension tells the format: lower case, a URL's path without
    its query, a compression suffix removed."""
    name = (urlsplit(path).path if url_scheme(path) else path).lower()
    for suffix in COMPRESSIONS:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def format_of(path: str, declared: FileFormat | None) -> FileFormat:
    """The declared format, else the one the file name's extension tells."""
    if declared is not None:
        return declared
    name = _name(path)
    for extension, kind in EXTENSIONS.items():
        if name.endswith(extension):
            return kind
    raise ValueError(
        f"cannot tell the format of '{path}' from its extension: set 'format' (csv or parquet)"
    )


def is_tsv(path: str) -> bool:
    """True when the file name ends in .tsv (tab-separated values)."""
    return _name(path).endswith(".tsv")


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
    path: str = Field(
        description="file path, relative to the project folder or absolute, or an http(s) URL; "
        "{date}, {date:%Y%m%d} and {execution} are replaced; .gz/.bz2 files are decompressed"
    )
    format: FileFormat | None = Field(default=None, description="default: from the extension")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="URL only: HTTP request headers (name -> value); ${VAR} in a value is read "
        "from the environment when the file is downloaded, e.g. 'Bearer ${FEED_TOKEN}'",
    )
    timeout: float = Field(
        default=60.0,
        gt=0,
        description="URL only: seconds to wait for the connection and for each piece of data",
    )
    columns: list[FileColumn] = Field(
        default_factory=list, description="declared columns; empty: names and types inferred"
    )
    header: bool = Field(default=True, description="the first line holds column names")
    delimiter: str = Field(
        default=",", min_length=1, max_length=1, description="default: tab for a .tsv file"
    )
    quote: str = Field(
        default='"', min_length=1, max_length=1, description="doubled inside a quoted value"
    )
    encoding: str = Field(default="utf-8", description="e.g. utf-8, latin-1, cp1252")
    date_format: str | None = Field(
        default=None, description="strptime format of date columns (default ISO %Y-%m-%d)"
    )
    timestamp_format: str | None = Field(
        default=None, description="strptime format of timestamp columns (default ISO 8601)"
    )
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal["", ",", ".", " ", "'"] = Field(
        default="", description="groups of three digits: 1.234,56 with '.' and ','"
    )
    max_errors: int = Field(
        default=0, ge=0, description="rows that fail to parse tolerated before the task fails"
    )
    dimension: str | None = Field(
        default=None,
        description="the file already carries keys of this dimension (unknown keys are rejects)",
    )
    key: str | None = Field(
        default=None,
        description="with dimension: the file column holding its key (renamed to the key column)",
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

    def file_format(self) -> FileFormat:
        """csv or parquet: the ``format`` setting, else the file name's extension."""
        return format_of(self.path, self.format)

    def field_delimiter(self) -> str:
        """The delimiter; a .tsv file without an explicit delimiter is tab-separated."""
        if "delimiter" not in self.model_fields_set and is_tsv(self.path):
            return "\t"
        return self.delimiter

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"unknown encoding '{value}' (e.g. utf-8, latin-1, cp1252, utf-16)"
            ) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LoadFile:
        if (self.dimension is None) != (self.key is None):
            raise ValueError("'dimension' and 'key' go together: the file column holding keys")
        format_of(self.path, self.format)
        if url_scheme(self.path) is None:
            for setting in ("headers", "timeout"):
                if setting in self.model_fields_set:
                    raise ValueError(f"'{setting}' applies to an http(s) URL, not a file path")
        names = [c.name for c in self.columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"column {', '.join(repr(n) for n in twice)} is declared twice")
        if FILE_ROW_KEY in names:
            raise ValueError(f"'{FILE_ROW_KEY}' is reserved for the row number of the file")
        if self.key is not None and self.columns and self.key not in names:
            raise ValueError(f"key column '{self.key}' is not among the declared columns")
        if self.delimiter == self.quote:
            raise ValueError("'delimiter' and 'quote' must differ")
        if self.decimal_separator == self.thousands_separator:
            raise ValueError("'decimal_separator' and 'thousands_separator' must differ")
        return self


class ExtractFile(ActivityBase):
    """Writes the inbound population (chosen columns) to a CSV or Parquet file."""

    type: Literal["extract_file"] = "extract_file"
    path: str = Field(
        description="file to write, relative to the project folder or absolute; {execution}, "
        "{date} and {date:%Y%m%d} are replaced; folders are created; .gz compresses"
    )
    format: FileFormat | None = Field(default=None, description="default: from the extension")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="header -> expression over the population; empty: the working table's columns",
    )
    header: bool = Field(default=True, description="CSV: write the column names first")
    delimiter: str = Field(
        default=",", min_length=1, max_length=1, description="CSV; default: tab for a .tsv file"
    )

    accepts_file_rows: ClassVar[bool] = True

    def file_format(self) -> FileFormat:
        """csv or parquet: the ``format`` setting, else the file name's extension."""
        return format_of(self.path, self.format)

    def field_delimiter(self) -> str:
        """The delimiter; a .tsv file without an explicit delimiter is tab-separated."""
        if "delimiter" not in self.model_fields_set and is_tsv(self.path):
            return "\t"
        return self.delimiter

    @model_validator(mode="after")
    def _consistent(self) -> ExtractFile:
        format_of(self.path, self.format)
        for header in self.columns:
            if not header.strip():
                raise ValueError("a column header of 'columns' is empty")
        return self
