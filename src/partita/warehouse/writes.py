"""Writing inside the warehouse: statements as sqlglot trees, run in one transaction.

What activities that write need (save_audience, incremental_query's key history, update_data):

- names for the tables Partita keeps beyond one execution (``a_<audience>``, ``h_<campaign>_<
  activity>``), which retention never drops because they are not outputs;
- the user's table by name, with a "did you mean" when it is not there;
- ``INSERT … SELECT``, ``UPDATE … FROM``, ``DELETE`` and table swaps built as expression trees
  and rendered in the engine's dialect (values are literals in the tree, never pasted text);
- :func:`transaction`: every statement of one write commits together or not at all;
- :func:`writable`: on DuckDB the user's data file is attached read-only; for the duration of
  a write it is attached read-write (the file is then locked against other processes), and
  read-only again afterwards, whatever happened.

How each engine runs a transaction and reopens its data is stated as data in
:data:`WRITE_TRAITS`; an engine without an entry gets one clear error.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir
import sqlglot.expressions as exp

from partita.model.problems import PartitaError, suggestion
from partita.warehouse.connection import DATA_CATALOG, Warehouse

_UNSAFE = re.compile(r"[^a-z0-9_]+")

#: A statement, as a sqlglot tree (rendered in the engine's dialect when it runs).
Statement = exp.Expression
#: Runs one statement inside the current transaction.
Execute = Callable[[Statement], None]


# -- names ------------------------------------------------------------------------------------


def kept_table_name(prefix: str, parts: Sequence[str], max_identifier: int) -> str:
    """``<prefix>_<part>_<part>…`` in lower case, shortened with a hash past the engine's limit."""
    slugs = [_UNSAFE.sub("_", part.lower()).strip("_") or "x" for part in parts]
    name = "_".join([prefix, *slugs])
    if len(name) <= max_identifier:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return f"{name[: max_identifier - 11]}_{digest}"


def audience_table_name(warehouse: Warehouse, audience: str) -> str:
    """The working-schema table holding a saved audience: ``a_<name>``."""
    return kept_table_name("a", [audience], warehouse.traits.max_identifier)


def history_table_name(warehouse: Warehouse, campaign: str, activity: str) -> str:
    """The working-schema table of an incremental query's key history."""
    return kept_table_name("h", [campaign, activity], warehouse.traits.max_identifier)


# -- the user's tables ------------------------------------------------------------------------


def data_namespace(warehouse: Warehouse, database: str | None) -> Any:
    """Where the user's tables of schema ``database`` are (the attached data file on DuckDB)."""
    if warehouse._data_catalog is not None:
        return (warehouse._data_catalog, database or "main")
    return database


def user_table(warehouse: Warehouse, name: str, database: str | None) -> ir.Table:
    """A table of the user's data; an error suggesting the closest name when it is not there."""
    namespace = data_namespace(warehouse, database)
    try:
        available = list(warehouse.con.list_tables(database=namespace))
    except Exception as exc:
        raise PartitaError(f"schema '{database}' does not exist in the warehouse") from exc
    if name not in available:
        where = f" (schema '{database}')" if database else ""
        raise PartitaError(
            f"table '{name}' does not exist in the warehouse{where}: {suggestion(name, available)}"
        )
    return warehouse.con.table(name, database=namespace)


# -- statements -------------------------------------------------------------------------------


def table_ref(table: ir.Table, alias: str | None = None) -> exp.Table:
    """The fully qualified name of a table the warehouse knows, as a sqlglot node."""
    op = table.op()
    namespace = getattr(op, "namespace", None)
    catalog = getattr(namespace, "catalog", None)
    database = getattr(namespace, "database", None)
    return exp.Table(
        this=_ident(str(op.name)),
        db=_ident(database) if database else None,
        catalog=_ident(catalog) if catalog else None,
        alias=exp.TableAlias(this=_ident(alias)) if alias else None,
    )


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=_ident(name), table=_ident(table) if table else None)


def _matches(keys: Sequence[str], left: str, right: str) -> exp.Condition:
    """``left.k1 = right.k1 AND …``"""
    conditions = [exp.EQ(this=_col(k, left), expression=_col(k, right)) for k in keys]
    return exp.and_(*conditions)


def source_column(name: str) -> exp.Column:
    """A column of the source table (alias ``s``) of :func:`insert_rows` and :func:`update_rows`."""
    return _col(name, "s")


def integer(value: int) -> Statement:
    """An integer literal (an id Partita owns, e.g. an execution id)."""
    return exp.Literal.number(value)


def insert_rows(
    target: ir.Table,
    source: ir.Table,
    columns: Sequence[str],
    values: Sequence[exp.Expression] | None = None,
    new_keys_only: Sequence[str] = (),
) -> exp.Insert:
    """``INSERT INTO target (columns) SELECT values FROM source AS s``.

    ``values`` defaults to the source's columns of the same names; with ``new_keys_only``, only
    the rows whose keys are not in ``target`` yet are inserted.
    """
    selected = list(values) if values is not None else [source_column(c) for c in columns]
    select = exp.select(*selected).from_(table_ref(source, "s"))
    if new_keys_only:
        existing = (
            exp.select(exp.Literal.number(1))
            .from_(table_ref(target, "t"))
            .where(_matches(new_keys_only, "t", "s"))
        )
        select = select.where(exp.Not(this=exp.Exists(this=existing)))
    return exp.insert(select, table_ref(target), columns=[_ident(c) for c in columns])


def update_rows(
    target: ir.Table, source: ir.Table, keys: Sequence[str], columns: Sequence[str]
) -> exp.Update:
    """``UPDATE target AS t SET c = s.c … FROM source AS s WHERE t.k = s.k``"""
    return exp.Update(
        this=table_ref(target, "t"),
        expressions=[exp.EQ(this=_col(c), expression=_col(c, "s")) for c in columns],
        from_=exp.From(this=table_ref(source, "s")),
        where=exp.Where(this=_matches(keys, "t", "s")),
    )


def literal(value: int | str | None) -> exp.Expression:
    """A value Partita owns (an id, a name) as a literal of the tree; None is NULL."""
    if value is None:
        return exp.null()
    if isinstance(value, int):
        return exp.Literal.number(value)
    return exp.Literal.string(value)


def delete_rows(target: ir.Table, equal: Mapping[str, int | str]) -> exp.Delete:
    """``DELETE FROM target WHERE c1 = v1 AND …`` (values as literals of the tree)."""
    conditions = [
        exp.EQ(this=_col(column), expression=literal(value)) for column, value in equal.items()
    ]
    return exp.delete(table_ref(target), where=exp.and_(*conditions))


# -- running them -----------------------------------------------------------------------------


@contextmanager
def _dbapi_transaction(warehouse: Warehouse) -> Iterator[Execute]:
    """DuckDB: ``begin()`` / ``commit()`` / ``rollback()`` on the DB-API connection."""
    raw = warehouse.con.con
    dialect = warehouse.traits.dialect

    def execute(statement: exp.Expression) -> None:
        raw.execute(statement.sql(dialect=dialect)).fetchall()

    raw.begin()
    try:
        yield execute
    except BaseException:
        raw.rollback()
        raise
    raw.commit()


@contextmanager
def _psycopg_transaction(warehouse: Warehouse) -> Iterator[Execute]:
    """PostgreSQL: a psycopg transaction block on the (autocommit) connection."""
    raw = warehouse.con.con
    dialect = warehouse.traits.dialect
    with raw.transaction(), raw.cursor() as cursor:

        def execute(statement: exp.Expression) -> None:
            cursor.execute(statement.sql(dialect=dialect))

        yield execute


@contextmanager
def _already_writable(warehouse: Warehouse, catalog: str | None) -> Iterator[None]:
    yield


@contextmanager
def _duckdb_writable(warehouse: Warehouse, catalog: str | None) -> Iterator[None]:
    """Attach the data file read-write for the write, then read-only again."""
    if catalog is None or catalog != warehouse._data_catalog:
        yield
        return
    raw = warehouse.con.con
    row = raw.execute(
        "SELECT path, readonly FROM duckdb_databases() WHERE database_name = ?", [catalog]
    ).fetchone()
    if row is None or not row[1]:
        yield
        return
    path = str(row[0])
    _duckdb_reattach(raw, path, catalog, read_only=False)
    try:
        yield
    finally:
        _duckdb_reattach(raw, path, catalog, read_only=True)


def _duckdb_reattach(raw: Any, path: str, catalog: str, read_only: bool) -> None:
    raw.execute(exp.Detach(this=_ident(catalog)).sql(dialect="duckdb"))
    try:
        raw.execute(_duckdb_attach(path, catalog, read_only))
    except Exception as exc:
        if read_only:
            raise PartitaError(
                f"cannot attach the DuckDB file {path} again: {str(exc).splitlines()[0]}"
            ) from exc
        raw.execute(_duckdb_attach(path, catalog, read_only=True))
        raise PartitaError(
            f"cannot write to the DuckDB file {path}: it is in use by another process "
            f"(close other programs reading it): {str(exc).splitlines()[0]}"
        ) from exc


def _duckdb_attach(path: str, catalog: str, read_only: bool) -> str:
    options = [exp.AttachOption(this=exp.Var(this="READ_ONLY"))] if read_only else []
    node = exp.Attach(
        this=exp.Alias(this=exp.Literal.string(path), alias=_ident(catalog)),
        exists=False,
        expressions=options,
    )
    return str(node.sql(dialect="duckdb"))


@dataclass(frozen=True)
class WriteTraits:
    """How one engine writes: its transaction block, and how its data becomes writable."""

    transaction: Callable[[Warehouse], AbstractContextManager[Execute]]
    writable: Callable[[Warehouse, str | None], AbstractContextManager[None]] = _already_writable


WRITE_TRAITS: dict[str, WriteTraits] = {
    "duckdb": WriteTraits(_dbapi_transaction, _duckdb_writable),
    "postgres": WriteTraits(_psycopg_transaction),
}


def write_traits(warehouse: Warehouse) -> WriteTraits:
    """The engine's way of writing; engines without one get an error naming them."""
    traits = WRITE_TRAITS.get(warehouse.traits.name)
    if traits is None:
        raise PartitaError(
            f"writing to the warehouse is not supported on {warehouse.traits.name} yet "
            f"(supported: {', '.join(sorted(WRITE_TRAITS))})"
        )
    return traits


@contextmanager
def transaction(warehouse: Warehouse) -> Iterator[Execute]:
    """Run statements that commit together: an error rolls every one of them back."""
    with write_traits(warehouse).transaction(warehouse) as execute:
        yield execute


@contextmanager
def writable(warehouse: Warehouse, table: ir.Table) -> Iterator[None]:
    """Make the user's ``table`` writable while the block runs (DuckDB: reattach read-write)."""
    namespace = getattr(table.op(), "namespace", None)
    catalog = getattr(namespace, "catalog", None)
    with write_traits(warehouse).writable(warehouse, catalog):
        yield


def run_statements(warehouse: Warehouse, statements: Sequence[exp.Expression]) -> None:
    """Run ``statements`` in one transaction."""
    with transaction(warehouse) as execute:
        for statement in statements:
            execute(statement)


# -- kept tables ------------------------------------------------------------------------------


def replace_table(warehouse: Warehouse, name: str, expr: ir.Table) -> int:
    """Working-schema table ``name`` now holds ``expr``'s rows: built under a temporary name,
    then swapped in one transaction, so a failure leaves the previous content intact."""
    temporary = kept_table_name("t", [name], warehouse.traits.max_identifier)
    count = warehouse.materialize(temporary, expr)
    built = warehouse.working(temporary)
    schema = _ident(warehouse.working_schema)
    old = exp.Table(this=_ident(name), db=schema, catalog=table_ref(built).args.get("catalog"))
    swap: list[exp.Expression] = [
        exp.Drop(this=old, kind="TABLE", exists=True),
        exp.Alter(
            this=table_ref(built),
            kind="TABLE",
            actions=[exp.AlterRename(this=exp.Table(this=_ident(name)))],
        ),
    ]
    try:
        run_statements(warehouse, swap)
    except Exception:
        warehouse.drop([temporary])
        raise
    return count


def ensure_table(warehouse: Warehouse, name: str, schema: dict[str, Any]) -> ir.Table:
    """The working-schema table ``name``, created empty with ``schema`` when absent."""
    if not warehouse.exists(name):
        warehouse.con.create_table(name, schema=schema, database=warehouse.working_schema)
    return warehouse.working(name)


def replace_rows(
    warehouse: Warehouse,
    target: ir.Table,
    column: str,
    value: int,
    source: ir.Table,
    values: dict[str, exp.Expression],
) -> None:
    """In one transaction: delete ``target``'s rows where ``column = value``, then insert one
    row per ``source`` row (``values``: target column -> value over the source).  Idempotent:
    running it twice leaves the same rows."""
    run_statements(
        warehouse,
        [
            delete_rows(target, {column: value}),
            insert_rows(target, source, list(values), list(values.values())),
        ],
    )


__all__ = [
    "DATA_CATALOG",
    "WRITE_TRAITS",
    "Execute",
    "Statement",
    "WriteTraits",
    "audience_table_name",
    "data_namespace",
    "delete_rows",
    "ensure_table",
    "history_table_name",
    "insert_rows",
    "integer",
    "kept_table_name",
    "replace_rows",
    "replace_table",
    "run_statements",
    "source_column",
    "table_ref",
    "transaction",
    "update_rows",
    "user_table",
    "writable",
]
