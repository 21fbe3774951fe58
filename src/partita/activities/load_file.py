"""load_file: a CSV or Parquet file streamed into a working table, bad rows into ``rejects``.

Reading is the one place rows come from outside the warehouse, so it runs in Python with
bounded memory: Arrow parses the file in blocks with every column as text, each block is
converted and validated with vectorized Arrow compute functions, and the good rows are
inserted batch after batch (``partita.warehouse.files``: the engine's bulk path). The same code
loads into DuckDB, PostgreSQL or any other engine, with the same rows.

Rows that do not parse (wrong number of fields, a value that does not convert to its column's
type, an unknown or repeated dimension key) go to the rejects table with their row number, raw
text and reason. Past ``max_errors`` the task fails and every table it created is dropped.

A ``path`` that is an http(s) URL is downloaded first, streamed to a temporary file under
``.partita/downloads`` (removed afterwards, whatever happens), then read like a local file.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import datetime
import io
import os
import re
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx
import ibis
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from partita.activities.base import CheckContext, Input, Output, Outputs, RunContext
from partita.activities.checks import dimension_problem
from partita.model.activities import LoadFile
from partita.model.activities.base import FILE_ROW_KEY, IDENTIFIER, file_rows
from partita.model.activities.files import URL_SCHEMES, url_scheme
from partita.model.datamodel import ColumnType
from partita.model.problems import PartitaError, Problem, suggestion
from partita.model.project import ENV_REFERENCE
from partita.model.states import LogLevel
from partita.warehouse.files import BatchTable, Prefetch

#: Bytes of CSV parsed per block (about 100k rows of a typical customer file).
BLOCK_BYTES = 8 << 20
#: Rows per batch read from a Parquet file.
PARQUET_BATCH_ROWS = 100_000
#: Bad rows quoted in the error message when there are too many.
EXAMPLES = 5
#: Bytes written at a time when a URL is downloaded.
DOWNLOAD_CHUNK = 1 << 20
#: Where downloads are kept while they are read, under the project folder.
DOWNLOADS = Path(".partita") / "downloads"

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}
_INFERABLE = ("integer", "number", "boolean", "date", "timestamp")
# words, not pa.array: building an Arrow array at import time makes pyarrow import pandas
# (~0.2 s for every command)
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_DIGIT_GROUP = r"(^|[^0-9])0+([0-9])"
_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_ISO_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?Z?$"
_LEADING_ZERO = r"^[+-]?0[0-9]"


# -- paths -------------------------------------------------------------------------------------


def path_problem(text: str) -> str | None:
    """What is wrong with the ``{…}`` placeholders of a path, if anything."""
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1)
        if name != "execution" and name.split(":", 1)[0] != "date":
            return (
                f"unknown placeholder '{{{name}}}' in path '{text}': use {{execution}}, "
                "{date} or {date:%Y%m%d}"
            )
    return None


def source_problem(text: str) -> str | None:
    """What is wrong with the ``path`` of load_file: a scheme other than http(s), or its
    placeholders."""
    scheme = url_scheme(text)
    if scheme is not None and scheme not in URL_SCHEMES:
        return (
            f"'{text}': {scheme}:// URLs are not supported; load_file reads http:// and "
            "https:// URLs and file paths only (copy the file to a folder or an http(s) server "
            "first)"
        )
    return path_problem(text)


def substitute(ctx: RunContext, text: str) -> str:
    """A ``path`` setting with its placeholders replaced."""
    problem = path_problem(text)
    if problem is not None:
        raise PartitaError(problem)
    today = datetime.date.today()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "execution":
            return str(ctx.execution_id)
        _, _, pattern = name.partition(":")
        return today.strftime(pattern) if pattern else today.isoformat()

    return _PLACEHOLDER.sub(replace, text)


def resolve_path(ctx: RunContext, text: str) -> tuple[Path, str]:
    """The file a ``path`` setting names (placeholders replaced), and how to show it."""
    shown = substitute(ctx, text)
    path = Path(shown).expanduser()
    if not path.is_absolute():
        path = ctx.root / path
    return path, shown


# -- what to read ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One column of the output: where it comes from in the file and how it converts."""

    name: str
    position: int
    type: str
    format: str | None = None


@dataclass(order=True)
class Reject:
    """A row that could not be loaded."""

    row: int
    reason: str = field(compare=False)
    line: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Options:
    """The conversion settings of a load."""

    decimal: str
    thousands: str
    date_format: str | None
    timestamp_format: str | None

    @classmethod
    def of(cls, activity: LoadFile) -> Options:
        return cls(
            activity.decimal_separator,
            activity.thousands_separator,
            activity.date_format,
            activity.timestamp_format,
        )


def _identifier(name: str, index: int, taken: set[str]) -> str:
    """A header name as a column name (an identifier), unique among ``taken``."""
    text = re.sub(r"[^A-Za-z0-9_]+", "_", name.strip()).strip("_")
    if not text:
        text = f"column_{index + 1}"
    elif not re.match(IDENTIFIER, text):
        text = f"_{text}"
    candidate, n = text, 2
    while candidate in taken or candidate == FILE_ROW_KEY:
        candidate, n = f"{text}_{n}", n + 1
    taken.add(candidate)
    return candidate


class LoadError(PartitaError):
    """A file that cannot be loaded (the message names the file and the problem)."""


# -- sources: CSV and Parquet as batches of text or typed columns -------------------------------


class CsvSource:
    """A CSV file read by Arrow in blocks, every column as text."""

    def __init__(self, path: Path, shown: str, activity: LoadFile) -> None:
        self.path = path
        self.shown = shown
        self.activity = activity
        self.delimiter = activity.field_delimiter()
        self.encoding = activity.encoding
        self.header = activity.header
        #: At most this many bad rows are kept (all are counted).
        self.cap = max(activity.max_errors + 1, EXAMPLES)
        self.rejects: list[Reject] = []
        self.reject_count = 0
        #: Numbers of skipped rows not yet passed (Arrow's reader may call the handler from its
        #: read-ahead thread, hence the lock).
        self.skipped: list[int] = []
        self._lock = threading.Lock()
        first = self._first_record()
        if first is None:
            raise LoadError(f"{shown} is empty (no header and no rows)")
        if self.header:
            self.names = first
        else:
            width = len(self.activity.columns) or len(first)
            self.names = [f"column_{i + 1}" for i in range(width)]

    # -- Python's csv module: the header, and raw lines of bad rows --------------------------

    def _text(self) -> io.TextIOWrapper:
        encoding = "utf-8-sig" if codecs.lookup(self.encoding).name == "utf-8" else self.encoding
        stream = pa.input_stream(str(self.path), compression="detect")
        return io.TextIOWrapper(stream, encoding=encoding, newline="")

    def _reader(self, lines: Iterator[str]) -> Iterator[list[str]]:
        csv.field_size_limit(sys.maxsize)
        return csv.reader(
            lines, delimiter=self.delimiter, quotechar=self.activity.quote, doublequote=True
        )

    def _first_record(self) -> list[str] | None:
        try:
            with self._text() as text:
                for record in self._reader(text):
                    if record:
                        return record
        except UnicodeDecodeError:
            raise self.encoding_error() from None
        return None

    def raw_lines(self, rows: set[int]) -> dict[int, str]:
        """The text of the data rows numbered ``rows`` (1 = the first row after the header)."""
        found: dict[int, str] = {}
        if not rows:
            return found
        last = max(rows)
        consumed: list[str] = []

        def lines(text: io.TextIOWrapper) -> Iterator[str]:
            for line in text:
                consumed.append(line)
                yield line

        ordinal = -1 if self.header else 0
        with self._text() as text:
            for record in self._reader(lines(text)):
                raw = "".join(consumed).rstrip("\r\n")
                consumed.clear()
                if not record:
                    continue
                ordinal += 1
                if ordinal in rows:
                    found[ordinal] = raw
                if ordinal >= last:
                    break
        return found

    def encoding_error(self) -> LoadError:
        """Where the file stops being valid text in its encoding."""
        decoder = codecs.getincrementaldecoder(self.encoding)()
        offset = line = 0
        with pa.input_stream(str(self.path), compression="detect") as stream:
            while chunk := stream.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    pending = len(error.object) - len(chunk)
                    at = offset - pending + error.start
                    before = chunk[: max(0, error.start - pending)]
                    line += before.count(b"\n") + 1
                    bad = bytes(error.object[error.start : error.start + 1])
                    return LoadError(
                        f"{self.shown} is not valid {self.encoding} text: byte 0x{bad.hex()} at "
                        f"offset {at} (line {line}) cannot be decoded; set 'encoding' to the "
                        "file's encoding (e.g. latin-1 or cp1252)"
                    )
                offset += len(chunk)
                line += chunk.count(b"\n")
        return LoadError(f"{self.shown} is not valid {self.encoding} text")

    # -- Arrow: the rows ----------------------------------------------------------------------

    def batches(self, wanted: list[int]) -> Iterator[tuple[pa.Array, list[pa.Array]]]:
        """(row numbers, text columns at positions ``wanted``) block after block.

        Rows with the wrong number of fields are skipped and recorded in ``rejects``.
        """
        self.rejects = []
        self.reject_count = 0
        self.skipped = []
        offset = 1 if self.header else 0

        def invalid(row: Any) -> str:
            if row.number is None:
                return "error"
            ordinal = int(row.number) - offset
            with self._lock:
                self.reject_count += 1
                if len(self.rejects) < self.cap:
                    reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
                    self.rejects.append(Reject(ordinal, reason))
                bisect.insort(self.skipped, ordinal)
            return "skip"

        utf8 = codecs.lookup(self.encoding).name == "utf-8"
        read = pacsv.ReadOptions(
            use_threads=False,
            block_size=BLOCK_BYTES,
            encoding="utf8" if utf8 else self.encoding,
            column_names=None if self.header else self.names,
        )
        parse = pacsv.ParseOptions(
            delimiter=self.delimiter,
            quote_char=self.activity.quote,
            double_quote=True,
            newlines_in_values=True,
            invalid_row_handler=invalid,
        )
        columns = list(dict.fromkeys(self.names))
        convert = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in columns},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        next_row = 1
        try:
            # Through a Python file object, Arrow reads a few blocks ahead, not dozens: memory
            # stays at a few blocks, whatever the size of the file.
            binary = io.BufferedReader(pa.input_stream(str(self.path), compression="detect"))
            reader = pacsv.open_csv(
                binary, read_options=read, parse_options=parse, convert_options=convert
            )
            with binary, reader:
                if reader.schema.names != self.names:
                    raise LoadError(
                        f"{self.shown}: the header read by Arrow ({reader.schema.names}) differs "
                        f"from the one read by Python ({self.names})"
                    )
                for batch in reader:
                    rows, next_row = self._numbers(next_row, batch.num_rows)
                    yield rows, [batch.column(i) for i in wanted]
        except UnicodeDecodeError:
            raise self.encoding_error() from None
        except pa.ArrowInvalid as error:
            if "UTF8" in str(error):
                raise self.encoding_error() from None
            raise LoadError(f"{self.shown} cannot be read as CSV: {error}") from None

    def _numbers(self, start: int, count: int) -> tuple[pa.Array, int]:
        """The row numbers of the next ``count`` good rows from ``start`` (skipping bad ones)."""
        with self._lock:
            return self._numbers_locked(start, count)

    def _numbers_locked(self, start: int, count: int) -> tuple[pa.Array, int]:
        low = bisect.bisect_left(self.skipped, start)
        span = count
        while bisect.bisect_left(self.skipped, start + span) - low > span - count:
            span = count + bisect.bisect_left(self.skipped, start + span) - low
        high = bisect.bisect_left(self.skipped, start + span)
        skipped = set(self.skipped[low:high])
        del self.skipped[:high]  # numbered: no longer needed (memory stays bounded)
        if not skipped:
            return pa.array(range(start, start + count), pa.int64()), start + count
        numbers = [n for n in range(start, start + span) if n not in skipped]
        return pa.array(numbers, pa.int64()), start + span


class ParquetSource:
    """A Parquet file read in row batches, columns keeping their stored types."""

    def __init__(self, path: Path, shown: str) -> None:
        self.path = path
        self.shown = shown
        self.rejects: list[Reject] = []
        self.reject_count = 0
        try:
            self.file = pq.ParquetFile(path)
        except Exception as error:
            raise LoadError(f"{shown} cannot be read as Parquet: {error}") from None
        self.schema = self.file.schema_arrow
        self.names = list(self.schema.names)

    def batches(self, wanted: list[int]) -> Iterator[tuple[pa.Array, list[pa.Array]]]:
        """(row numbers, columns at positions ``wanted``) batch after batch."""
        names = [self.names[i] for i in wanted]
        start = 1
        for batch in self.file.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=names):
            rows = pa.array(range(start, start + batch.num_rows), pa.int64())
            start += batch.num_rows
            yield rows, [batch.column(i) for i in range(len(names))]


Source = CsvSource | ParquetSource


# -- converting columns ------------------------------------------------------------------------


def _quoted(value: str) -> str:
    text = value if len(value) <= 60 else value[:57] + "..."
    return "'" + text.replace("'", "\\'") + "'"


def _escape(character: str) -> str:
    if character == " ":
        return "[ \u00a0\u202f]"  # spaces, including the (narrow) no-break spaces of French
    return re.escape(character)


def _number_pattern(options: Options, integer: bool) -> str:
    digits = "[0-9]+"
    if options.thousands:
        grouped = f"[0-9]{{1,3}}(?:{_escape(options.thousands)}[0-9]{{3}})+"
        digits = f"(?:{grouped}|[0-9]+)"
    if integer:
        return f"^[+-]?{digits}$"
    decimal = _escape(options.decimal)
    exponent = "(?:[eE][+-]?[0-9]+)?"
    return f"^[+-]?(?:{digits}(?:{decimal}[0-9]*)?|{decimal}[0-9]+){exponent}$"


def _normalized_number(values: pa.Array, options: Options) -> pa.Array:
    if options.thousands:
        values = pc.replace_substring_regex(values, _escape(options.thousands), "")
    if options.decimal != ".":
        values = pc.replace_substring(values, options.decimal, ".")
    return pc.replace_substring_regex(values, r"^\+", "")


def _blank_to_null(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)


@dataclass
class Converted:
    """A converted column and, where the text did not convert, True in ``bad``."""

    values: pa.Array
    bad: pa.Array | None = None


def _fill_in(
    values: pa.Array, need: pa.Array, texts: pa.Array, parse: Callable[[str], Any]
) -> tuple[pa.Array, pa.Array]:
    """Values of ``texts`` where ``need`` is True, parsed one by one in Python.

    Returns the values with those filled in and the mask of texts that did not parse.
    """
    indices = pc.indices_nonzero(need).to_pylist()
    if not indices:
        return values, pa.array([False] * len(values))
    parsed: list[Any] = []
    failed = [False] * len(values)
    for index in indices:
        text = texts[index].as_py()
        try:
            parsed.append(parse(text))
        except (ValueError, OverflowError):
            parsed.append(None)
            failed[index] = True
    filled = pc.replace_with_mask(values, need, pa.array(parsed, values.type))
    return filled, pa.array(failed)


def _int64(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise OverflowError(text)
    return value


def _strptime(text: str, fmt: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, fmt)


def _isoformat(text: str) -> datetime.datetime:
    value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value


#: strptime directives the vectorized path understands: their text, and for the fields that
#: Arrow's strptime rolls over (31/04 -> 01/05, second 60 -> next minute) the texts that may
#: roll over and the field of the value to compare them with.
_DIRECTIVES: dict[str, tuple[str, str | None, Callable[[pa.Array], pa.Array] | None]] = {
    "d": ("[0-9]{1,2}", "(?:29|30|31)", pc.day),
    "S": ("[0-9]{1,2}", "(?:60|61)", pc.second),
    "m": ("[0-9]{1,2}", None, None),
    "Y": ("[0-9]{4}", None, None),
    "y": ("[0-9]{2}", None, None),
    "H": ("[0-9]{1,2}", None, None),
    "M": ("[0-9]{1,2}", None, None),
}


@dataclass(frozen=True)
class FormatShape:
    """Regexes for the text of a strptime format."""

    plain: str  # the whole text
    grouped: str  # the same, with a named group per field that may roll over
    risky: list[str]  # the texts where one of those fields may roll over
    fields: list[str]


def _format_shape(fmt: str) -> FormatShape | None:
    """The regexes of ``fmt``; None when it uses a directive outside :data:`_DIRECTIVES`."""
    parts: list[tuple[str, str | None]] = []  # (literal regex, directive)
    index = 0
    while index < len(fmt):
        if fmt[index] != "%":
            parts.append((re.escape(fmt[index]), None))
            index += 1
            continue
        directive = fmt[index + 1 : index + 2]
        index += 2
        if directive == "%":
            parts.append(("%", None))
        elif directive in _DIRECTIVES and directive not in [d for _, d in parts]:
            parts.append(("", directive))
        else:
            return None

    def build(group: bool, risky: str | None) -> str:
        out = ""
        for literal, directive in parts:
            if directive is None:
                out += literal
                continue
            regex, rolls, _ = _DIRECTIVES[directive]
            if directive == risky and rolls is not None:
                out += rolls
            elif group and rolls is not None:
                out += f"(?P<{directive}>{regex})"
            else:
                out += regex
        return f"^{out}$"

    fields = [d for _, d in parts if d is not None and _DIRECTIVES[d][1] is not None]
    return FormatShape(
        build(False, None), build(True, None), [build(False, f) for f in fields], fields
    )


def _formatted(trimmed: pa.Array, fmt: str, kind: pa.DataType) -> Converted:
    """Text read with a strptime format; impossible dates (31/04) are rejected.

    Arrow's strptime is fast but rolls 31/04 over to 01/05: its value is kept where the text
    has the format's shape and cannot have rolled over (or was checked field by field); every
    other text is read by Python's strptime, which decides (and rejects what does not parse).
    """
    parsed = pc.strptime(trimmed, format=fmt, unit="us", error_is_null=True)
    shape = _format_shape(fmt)
    if shape is not None:
        same = pc.and_(
            pc.fill_null(pc.match_substring_regex(trimmed, shape.plain), False),
            pc.is_valid(parsed),
        )
        risky = pa.array([False] * len(trimmed))
        for pattern in shape.risky:
            risky = pc.or_(risky, pc.fill_null(pc.match_substring_regex(trimmed, pattern), False))
        risky = pc.and_(risky, same)
        if pc.any(risky).as_py():
            texts, values = pc.filter(trimmed, risky), pc.filter(parsed, risky)
            groups = pc.extract_regex(texts, shape.grouped)
            kept = pa.array([True] * len(texts))
            for name in shape.fields:
                field_of = _DIRECTIVES[name][2]
                assert field_of is not None
                text = pc.cast(pc.struct_field(groups, name), pa.int64())
                kept = pc.and_(kept, pc.fill_null(pc.equal(text, field_of(values)), False))
            same = pc.replace_with_mask(same, risky, kept)
    else:  # formatting the value back must give the text (up to leading zeros and case)
        back = pc.strftime(parsed, format=fmt)
        same = pc.equal(
            pc.utf8_lower(pc.replace_substring_regex(back, _DIGIT_GROUP, r"\1\2")),
            pc.utf8_lower(pc.replace_substring_regex(trimmed, _DIGIT_GROUP, r"\1\2")),
        )
    need = pc.and_(pc.is_valid(trimmed), pc.invert(pc.fill_null(same, False)))
    values = pc.if_else(need, pa.scalar(None, parsed.type), parsed)
    values, bad = _fill_in(values, need, trimmed, lambda t: _strptime(t, fmt))
    return Converted(pc.cast(values, kind, safe=False), bad)


def _iso_date(trimmed: pa.Array) -> Converted:
    """YYYY-MM-DD text: a strict cast when every text is a real date, else the format path."""
    if pc.all(pc.fill_null(pc.match_substring_regex(trimmed, _ISO_DATE), True)).as_py():
        try:
            return Converted(pc.cast(trimmed, pa.date32()), pa.array([False] * len(trimmed)))
        except pa.ArrowInvalid:
            pass
    return _formatted(trimmed, "%Y-%m-%d", pa.date32())


def convert(raw: pa.Array, target: Target, options: Options) -> Converted:
    """Text (or Parquet values) converted to the target's type."""
    kind = ARROW_TYPES[target.type]
    if not (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)):
        return _cast_typed(raw, target, kind)
    raw = raw.cast(pa.string())
    if target.type == "string":
        return Converted(_blank_to_null(raw))
    trimmed = _blank_to_null(pc.utf8_trim_whitespace(raw))
    present = pc.is_valid(trimmed)
    if target.type in ("integer", "number"):
        integer = target.type == "integer"
        ok = pc.fill_null(
            pc.match_substring_regex(trimmed, _number_pattern(options, integer)), False
        )
        text = pc.if_else(ok, _normalized_number(trimmed, options), pa.scalar(None, pa.string()))
        try:
            values = pc.cast(text, kind)
            failed = pa.array([False] * len(text))
        except (pa.ArrowInvalid, OverflowError):
            parse = _int64 if integer else float
            values, failed = _fill_in(pa.nulls(len(text), kind), pc.is_valid(text), text, parse)
        if not integer:
            finite = pc.fill_null(pc.is_finite(values), True)
            failed = pc.or_(failed, pc.invert(finite))
            values = pc.if_else(finite, values, pa.scalar(None, kind))
        bad = pc.or_(pc.and_(present, pc.invert(ok)), failed)
        return Converted(values, bad)
    if target.type == "boolean":
        lower = pc.utf8_lower(trimmed)
        true = pc.is_in(lower, value_set=pa.array(_TRUE))
        false = pc.is_in(lower, value_set=pa.array(_FALSE))
        values = pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))
        return Converted(values, pc.and_(present, pc.invert(pc.or_(true, false))))
    fmt = target.format or (
        options.date_format if target.type == "date" else options.timestamp_format
    )
    if target.type == "date":
        return _formatted(trimmed, fmt, kind) if fmt else _iso_date(trimmed)
    if fmt is not None:
        return _formatted(trimmed, fmt, kind)
    iso = pc.replace_substring_regex(pc.replace_substring(trimmed, "T", " "), "Z$", "")
    try:
        return Converted(pc.cast(iso, kind), pa.array([False] * len(iso)))
    except pa.ArrowInvalid:
        values, bad = _fill_in(pa.nulls(len(iso), kind), pc.is_valid(iso), trimmed, _isoformat)
        return Converted(values, bad)


def _cast_typed(raw: pa.Array, target: Target, kind: pa.DataType) -> Converted:
    """A typed (Parquet) column cast to the declared type; a loss of data is an error."""
    if pa.types.is_dictionary(raw.type):
        raw = raw.dictionary_decode()
    if pa.types.is_timestamp(raw.type) and raw.type.tz is not None:
        raw = pc.cast(pc.cast(raw, pa.timestamp("us", "UTC")), pa.timestamp("us"), safe=False)
    try:
        return Converted(pc.cast(raw, kind))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise LoadError(
            f"column '{target.name}' holds {raw.type} values, which cannot be read as "
            f"{target.type}: {error}"
        ) from None


def _reason(target: Target, text: str, options: Options) -> str:
    shown = _quoted(text)
    kind = target.type
    if kind in ("integer", "number"):
        article = "an integer" if kind == "integer" else "a number"
        hint = ""
        if options.decimal != "." or options.thousands:
            thousands = f", thousands separator '{options.thousands}'" if options.thousands else ""
            hint = f" (decimal separator '{options.decimal}'{thousands})"
        return f"column '{target.name}': {shown} is not {article}{hint}"
    if kind == "boolean":
        return f"column '{target.name}': {shown} is not a boolean (true/false, yes/no, 1/0)"
    fmt = target.format or (options.date_format if kind == "date" else options.timestamp_format)
    if kind == "date":
        return f"column '{target.name}': {shown} is not a date ({fmt or '%Y-%m-%d'})"
    expected = fmt or "ISO 8601, e.g. 2025-12-31 23:59:00"
    return f"column '{target.name}': {shown} is not a timestamp ({expected})"


# -- inferring types ---------------------------------------------------------------------------


def _all(values: pa.Array) -> bool:
    return bool(pc.all(pc.fill_null(values, True)).as_py())


def _fits(trimmed: pa.Array, kind: str, options: Options) -> bool:
    """True when every non-null text of ``trimmed`` (trimmed, blanks as null) reads as ``kind``.

    Cheaper than converting: the shape of the text, then a strict cast where a shape is not
    enough (dates that do not exist, integers past 64 bits).
    """
    if kind in ("integer", "number"):
        # codes with leading zeros (zip codes, phone numbers) stay text
        if pc.any(pc.match_substring_regex(trimmed, _LEADING_ZERO)).as_py():
            return False
        if not _all(pc.match_substring_regex(trimmed, _number_pattern(options, kind == "integer"))):
            return False
        if kind == "number":
            return True
        try:
            pc.cast(_normalized_number(trimmed, options), pa.int64())
        except (pa.ArrowInvalid, OverflowError):
            return False
        return True
    if kind == "boolean":
        words = pa.array(["true", "false"])
        return _all(pc.or_(pc.is_null(trimmed), pc.is_in(pc.utf8_lower(trimmed), value_set=words)))
    fmt = options.date_format if kind == "date" else options.timestamp_format
    if fmt is None:
        if not _all(
            pc.match_substring_regex(trimmed, _ISO_DATE if kind == "date" else _ISO_TIMESTAMP)
        ):
            return False
        text = pc.replace_substring_regex(pc.replace_substring(trimmed, "T", " "), "Z$", "")
        try:
            pc.cast(text, ARROW_TYPES[kind])
        except pa.ArrowInvalid:
            return False
        return True
    converted = convert(trimmed, Target("x", 0, kind), options)
    return converted.bad is None or not pc.any(converted.bad).as_py()


def infer_types(source: Source, positions: list[int], options: Options) -> list[str]:
    """The narrowest type every value of each column fits (a first pass over the file)."""
    if isinstance(source, ParquetSource):
        return [_parquet_kind(source, i) for i in positions]
    possible = [list(_INFERABLE) for _ in positions]
    seen = [False] * len(positions)
    for _, columns in source.batches(positions):
        for index, column in enumerate(columns):
            if not possible[index]:
                continue
            trimmed = _blank_to_null(pc.utf8_trim_whitespace(column))
            if trimmed.null_count == len(trimmed):
                continue
            seen[index] = True
            possible[index] = [k for k in possible[index] if _fits(trimmed, k, options)]
    return [kinds[0] if kinds and seen[i] else "string" for i, kinds in enumerate(possible)]


def _parquet_kind(source: ParquetSource, position: int) -> str:
    field_ = source.schema.field(position)
    kind = field_.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "number"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    raise LoadError(
        f"{source.shown}: column '{field_.name}' has type {field_.type}, which load_file "
        "cannot load; declare 'columns' to leave it out"
    )


# -- choosing the columns ----------------------------------------------------------------------


def _targets(source: Source, activity: LoadFile) -> list[Target]:
    """The output columns: declared ones found in the file, or every column of the file."""
    names = source.names
    header = isinstance(source, ParquetSource) or activity.header
    if activity.columns:
        if not header:
            return [Target(c.name, i, c.type, c.format) for i, c in enumerate(activity.columns)]
        positions = _find_columns(source, activity)
        return [Target(c.name, positions[c.name], c.type, c.format) for c in activity.columns]
    taken: set[str] = set()
    return [Target(_identifier(n, i, taken), i, "string") for i, n in enumerate(names)]


def _find_columns(source: Source, activity: LoadFile) -> dict[str, int]:
    """Where each declared column is in the header; errors name what is missing."""
    header = [n.strip() for n in source.names]
    lower: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        lower.setdefault(name.lower(), []).append(index)
    positions: dict[str, int] = {}
    missing: list[str] = []
    for column in activity.columns:
        wanted = (column.source or column.name).strip()
        exact = [i for i, n in enumerate(header) if n == wanted]
        found = exact or lower.get(wanted.lower(), [])
        if len(found) > 1:
            raise LoadError(
                f"the header of {source.shown} has column '{wanted}' {len(found)} times"
            )
        if found:
            positions[column.name] = found[0]
        else:
            missing.append(wanted)
    shown_header = ", ".join(header) if len(header) > 1 else repr(source.names[0])
    what = "header" if isinstance(source, CsvSource) else "columns"
    if missing and len(missing) == len(activity.columns):
        hint = ""
        if len(header) == 1 and isinstance(source, CsvSource):
            for other in (";", ",", "\t", "|"):
                if other != source.delimiter and other in source.names[0]:
                    hint = f" (one column: is the delimiter {other!r}?)"
                    break
        elif isinstance(source, CsvSource):
            hint = " (set 'header: false' if the file has no header line)"
        verb = "does" if what == "header" else "do"
        raise LoadError(
            f"the {what} of {source.shown} {verb} not match the declared columns: expected "
            f"{', '.join(c.source or c.name for c in activity.columns)}; found "
            f"{shown_header}{hint}"
        )
    if missing:
        details = "; ".join(f"'{m}': {suggestion(m, header)}" for m in missing)
        raise LoadError(
            f"{source.shown} has no column {', '.join(repr(m) for m in missing)} "
            f"({details}); the {what} {'is' if what == 'header' else 'are'}: {shown_header}"
        )
    return positions


# -- the activity ------------------------------------------------------------------------------


@dataclass
class Load:
    """One run of load_file: the tables it creates, the rejects it collects."""

    ctx: RunContext
    activity: LoadFile
    source: Source
    options: Options
    targets: list[Target]
    #: Rows whose values did not convert, or whose key is unknown or repeated (the first
    #: ``max_errors + 1`` of each kind are kept; all are counted).
    rejects: list[Reject] = field(default_factory=list)
    counted: int = 0
    created: list[str] = field(default_factory=list)

    @property
    def cap(self) -> int:
        return max(self.activity.max_errors + 1, EXAMPLES)

    @property
    def bad_count(self) -> int:
        return self.counted + self.source.reject_count

    @property
    def too_many(self) -> bool:
        return self.bad_count > self.activity.max_errors

    def table_name(self, output: str) -> str:
        ctx = self.ctx
        return ctx.warehouse.working_table_name(
            ctx.campaign.name, ctx.execution_id, ctx.activity_id, output
        )

    def create(self, output: str, schema: pa.Schema) -> BatchTable:
        name = self.table_name(output)
        self.created.append(name)
        return BatchTable.create(self.ctx.warehouse, name, schema)

    def stream(self, table: BatchTable) -> int:
        """Read, convert and insert every batch; the number of good rows.

        Reading and converting run one thread ahead of the warehouse's insert. Past
        ``max_errors`` nothing more is inserted, but the file is read to the end to count.
        """
        good = [0]
        prefetch = Prefetch(self._good_batches(table.schema, good))
        try:
            table.load(prefetch)
        except BaseException:
            prefetch.close()
            if prefetch.error is not None:
                raise prefetch.error from None
            raise
        prefetch.close()
        return good[0]

    def _good_batches(self, schema: pa.Schema, good: list[int]) -> Iterator[pa.RecordBatch]:
        positions = [t.position for t in self.targets]
        for rows, columns in self.source.batches(positions):
            converted = [
                convert(column, target, self.options)
                for column, target in zip(columns, self.targets, strict=True)
            ]
            bad: pa.Array | None = None
            for item in converted:
                if item.bad is not None:
                    bad = item.bad if bad is None else pc.or_(bad, item.bad)
            batch = pa.RecordBatch.from_arrays(
                [rows, *(c.values for c in converted)], schema=schema
            )
            if bad is not None:
                bad = pc.fill_null(bad, False)
                if pc.any(bad).as_py():
                    self._collect(rows, columns, converted, bad)
                    batch = batch.filter(pc.invert(bad))
            good[0] += batch.num_rows
            if not self.too_many:
                yield batch

    def _collect(
        self, rows: pa.Array, raw: list[pa.Array], converted: list[Converted], bad: pa.Array
    ) -> None:
        indices = pc.indices_nonzero(bad).to_pylist()
        self.counted += len(indices)
        for index in indices[: max(0, self.cap - len(self.rejects))]:
            reasons = []
            for column, target, item in zip(raw, self.targets, converted, strict=True):
                if item.bad is not None and item.bad[index].as_py():
                    reasons.append(_reason(target, str(column[index].as_py()), self.options))
            self.rejects.append(Reject(int(rows[index].as_py()), "; ".join(reasons)))

    def all_rejects(self) -> list[Reject]:
        """The first bad rows (up to ``max_errors + 1``), in file order."""
        return sorted([*self.rejects, *self.source.rejects])[: self.cap]

    def fill_lines(self, rejects: list[Reject]) -> None:
        """The raw text of each rejected row."""
        if isinstance(self.source, CsvSource):
            lines = self.source.raw_lines({r.row for r in rejects})
            for item in rejects:
                item.line = lines.get(item.row)

    def fail(self) -> LoadError:
        examples = self.all_rejects()[:EXAMPLES]
        self.fill_lines(examples)
        shown = "; ".join(
            f"row {r.row}: {r.reason}" + (f" (line {_quoted(r.line)})" if r.line else "")
            for r in examples
        )
        rows = "row" if self.bad_count == 1 else "rows"
        return LoadError(
            f"{self.source.shown}: {self.bad_count:,} {rows} could not be loaded, more than "
            f"max_errors ({self.activity.max_errors}); first bad rows: {shown}"
        )


# -- URLs ----------------------------------------------------------------------------------------


def request_headers(activity: LoadFile) -> dict[str, str]:
    """The ``headers`` setting with ``${VAR}`` replaced from the environment."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise LoadError(
                f"environment variable '{name}' (in header '{header}' of {activity.id}) is not "
                "set: export it before running partita"
            )
        return os.environ[name]

    headers: dict[str, str] = {}
    for header, value in activity.headers.items():
        headers[header] = ENV_REFERENCE.sub(replace, value)
    return headers


def _status_advice(status: int) -> str:
    if status in (401, 403):
        return "check the headers (the token) the server expects"
    if status >= 500:
        return "the server failed: try again later or ask its owner"
    return "check the URL"


def _untrusted(error: BaseException) -> bool:
    """True when a connection failed on the server's certificate."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def download(ctx: RunContext, activity: LoadFile, url: str, into: Path) -> int:
    """Stream ``url`` into the file ``into`` (a chunk at a time); the number of bytes."""
    failed = f"cannot download {url}"
    size = 0
    try:
        with (
            httpx.Client(
                headers=request_headers(activity),
                timeout=activity.timeout,
                follow_redirects=True,
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.is_error:
                raise LoadError(
                    f"{failed}: HTTP {response.status_code} {response.reason_phrase}; "
                    f"{_status_advice(response.status_code)}"
                )
            with into.open("wb") as out:
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                    out.write(chunk)
                    size += len(chunk)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
        raise LoadError(f"{failed}: not a valid URL ({error}); check the URL") from None
    except httpx.TooManyRedirects:
        raise LoadError(f"{failed}: too many redirects (a redirect loop?); check the URL") from None
    except httpx.TimeoutException:
        raise LoadError(
            f"{failed}: no answer within {activity.timeout:g} seconds; raise 'timeout' or try "
            "again later"
        ) from None
    except httpx.ConnectError as error:
        if _untrusted(error):
            raise LoadError(
                f"{failed}: the server's certificate is not trusted ({error}); if your own "
                "authority signed it, set the environment variable SSL_CERT_FILE to its "
                "certificate (PEM file)"
            ) from None
        raise LoadError(
            f"{failed}: cannot connect ({error}); check the URL and that the server is up"
        ) from None
    except httpx.HTTPError as error:
        raise LoadError(f"{failed}: {error}") from None
    if size == 0:
        raise LoadError(f"{url} is empty (the server sent no bytes)")
    ctx.log(LogLevel.INFO, f"load_file downloaded {size:,} bytes from {url}", {"bytes": size})
    return size


def run(ctx: RunContext, activity: LoadFile, inputs: list[Input]) -> Outputs:
    """Stream the file (downloaded first if it is a URL) into working tables ``out`` and
    ``rejects`` (an input only triggers)."""
    problem = source_problem(activity.path)
    if problem is not None:
        raise LoadError(problem)
    if url_scheme(activity.path) is None:
        path, shown = resolve_path(ctx, activity.path)
        return _load(ctx, activity, path, shown)
    url = substitute(ctx, activity.path)
    folder = ctx.root / DOWNLOADS
    folder.mkdir(parents=True, exist_ok=True)
    # the temporary file ends with the URL's file name: its suffix tells the compression
    name = PurePosixPath(urlsplit(url).path).name[-80:] or "download"
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f"{activity.id}-", suffix=f"-{name}")
    os.close(handle)
    path = Path(temporary)
    try:
        download(ctx, activity, url, path)
        return _load(ctx, activity, path, url)
    finally:
        path.unlink(missing_ok=True)


def _load(ctx: RunContext, activity: LoadFile, path: Path, shown: str) -> Outputs:
    if not path.exists():
        raise LoadError(f"file {shown} does not exist (looked for {path})")
    if not path.is_file():
        raise LoadError(f"{shown} is not a file")
    if path.stat().st_size == 0:
        raise LoadError(f"{shown} is empty")
    source: Source = (
        CsvSource(path, shown, activity)
        if activity.file_format() == "csv"
        else ParquetSource(path, shown)
    )
    options = Options.of(activity)
    targets = _targets(source, activity)
    if activity.dimension is not None:
        targets = _with_key(ctx, activity, source, targets)
    if not activity.columns:
        kinds = infer_types(source, [t.position for t in targets], options)
        targets = [
            t if t.name == activity.key else Target(t.name, t.position, kind)
            for t, kind in zip(targets, kinds, strict=True)
        ]
    load = Load(ctx, activity, source, options, targets)
    try:
        return _run(load)
    except BaseException:
        ctx.warehouse.drop(load.created)
        raise


def _run(load: Load) -> Outputs:
    ctx, activity = load.ctx, load.activity
    schema = pa.schema(
        [(FILE_ROW_KEY, pa.int64()), *((t.name, ARROW_TYPES[t.type]) for t in load.targets)]
    )
    table = load.create("out" if activity.dimension is None else "staging", schema)
    loaded = load.stream(table)
    if load.too_many:
        raise load.fail()
    outputs: Outputs = {}
    if activity.dimension is None:
        outputs["out"] = Output(
            table=ctx.warehouse.working(table.name),
            dimension=file_rows(activity.id),
            reuse=table.name,
            key=FILE_ROW_KEY,
        )
    else:
        outputs["out"], loaded = _keyed(load, table.name)
        ctx.warehouse.drop([table.name])
        load.created.remove(table.name)
    rejected = load.all_rejects()
    load.fill_lines(rejected)
    rejects = load.create(
        "rejects",
        pa.schema([(FILE_ROW_KEY, pa.int64()), ("line", pa.string()), ("reason", pa.string())]),
    )
    rejects.append(
        pa.table(
            [[r.row for r in rejected], [r.line for r in rejected], [r.reason for r in rejected]],
            schema=rejects.schema,
        )
    )
    outputs["rejects"] = Output(
        table=ctx.warehouse.working(rejects.name),
        dimension=file_rows(activity.id),
        reuse=rejects.name,
        key=FILE_ROW_KEY,
    )
    ctx.log(
        LogLevel.INFO,
        f"load_file read {loaded + load.bad_count:,} rows from {load.source.shown}: "
        f"{loaded:,} loaded, {load.bad_count:,} rejected",
        {
            "path": load.source.shown if url_scheme(activity.path) else str(load.source.path),
            "columns": {t.name: t.type for t in load.targets},
        },
    )
    return outputs


def _with_key(
    ctx: RunContext, activity: LoadFile, source: Source, targets: list[Target]
) -> list[Target]:
    """The key column is read with the type of the dimension's key; no other column clashes."""
    assert activity.dimension is not None
    dimension = ctx.dimension(activity.dimension)
    names = [t.name for t in targets]
    if activity.key not in names:
        raise LoadError(
            f"key column '{activity.key}' is not in {source.shown}: "
            f"{suggestion(str(activity.key), names)}"
        )
    if dimension.key != activity.key and dimension.key in names:
        raise LoadError(
            f"{source.shown} has a column '{dimension.key}' besides the key column "
            f"'{activity.key}', which becomes the {activity.dimension} key '{dimension.key}': "
            f"declare the columns and rename '{dimension.key}'"
        )
    kind = ctx.model.column_types(activity.dimension).get(dimension.key, ColumnType.STRING)
    key_type = kind.value if kind.value in ARROW_TYPES else "string"
    return [Target(t.name, t.position, key_type) if t.name == activity.key else t for t in targets]


def _keyed(load: Load, staging: str) -> tuple[Output, int]:
    """Rows keyed by the dimension: empty, unknown and repeated keys become rejects."""
    ctx, activity = load.ctx, load.activity
    assert activity.dimension is not None and activity.key is not None
    dimension = ctx.dimension(activity.dimension)
    rows = ctx.warehouse.working(staging)
    key = activity.key
    known = ctx.warehouse.table(dimension).select(__pf_known=ibis._[dimension.key])
    ranked = rows.mutate(__pf_first=rows[FILE_ROW_KEY].min().over(group_by=rows[key]))
    joined = ranked.left_join(known, ranked[key] == known["__pf_known"])
    bad = joined["__pf_known"].isnull() | (joined[FILE_ROW_KEY] != joined["__pf_first"])
    problems = joined.filter(bad)
    count = int(ctx.warehouse.scalar(problems.count()))
    load.counted += count
    shown_rows = problems.select(FILE_ROW_KEY, key, "__pf_known", "__pf_first")
    wanted = load.cap if not load.too_many else EXAMPLES
    found = shown_rows.order_by(FILE_ROW_KEY).limit(wanted).to_pyarrow().to_pylist()
    for item in found:
        value = item[key]
        shown = "empty" if value is None else _quoted(value) if isinstance(value, str) else value
        if value is None:
            reason = f"empty {activity.dimension} key"
        elif item["__pf_known"] is None:
            reason = f"unknown {activity.dimension} key {shown}"
        else:
            reason = (
                f"duplicate {activity.dimension} key {shown} (first on row {item['__pf_first']})"
            )
        load.rejects.append(Reject(int(item[FILE_ROW_KEY]), reason))
    if load.too_many:
        raise load.fail()
    carried = [t.name for t in load.targets if t.name != key]
    good = joined.filter(~bad).select(joined[key].name(dimension.key), *carried)
    load.created.append(load.table_name("out"))
    table = ctx.materialize("out", good, activity.dimension)
    loaded = int(ctx.warehouse.scalar(table.count()))
    return Output(table=table, dimension=activity.dimension), loaded


def check(activity: LoadFile, ctx: CheckContext) -> list[Problem]:
    """The path's placeholders; the dimension, when the file carries its keys."""
    problems: list[Problem] = []
    problem = source_problem(activity.path)
    if problem is not None:
        problems.append(Problem(problem, activity=activity.id, field="path"))
    if activity.dimension is None:
        return problems
    found = dimension_problem(ctx, activity.id, "dimension", activity.dimension)
    if found:
        return problems + found
    key = ctx.model.dimension(activity.dimension).key
    if activity.key != key and key in [c.name for c in activity.columns]:
        problems.append(
            Problem(
                f"column '{key}' would clash with the {activity.dimension} key that column "
                f"'{activity.key}' becomes",
                activity=activity.id,
                field="columns",
                hint=f"rename the column '{key}' (name: …, source: {key})",
            )
        )
    return problems
