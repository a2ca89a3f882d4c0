"""The DuckDB backend (``backend="duckdb"``): the compiled program as SQL, run embedded.

A cohort backend: DuckDB plans every statement of the program (about 530 for ``answer``) for
each call, a fixed cost of tenths of a second however few patients a call holds, and then
evaluates set-at-a-time, far faster than pyDatalog per patient in large batches. Numbers
measured on the shipped knowledge base (2-core machine): see :class:`DuckDBEngine`.

Isolation: each call opens its own in-memory database (``duckdb.connect()``, about a
millisecond) and closes it at the end, so two threads, two calls and two knowledge bases
never share a table, and a batch's tables are freed before the next batch is loaded.

Facts go in column by column: :func:`oncologic.compile.sql.fact_columns` lists, made into a
pyarrow table with the relation's column types, registered with DuckDB and copied into a
native table in one ``CREATE TABLE ... AS SELECT``.

Requires the ``duckdb`` extra (duckdb, sqlglot, pyarrow, numpy); without it, creating the backend
raises :class:`~oncologic.errors.OncologicError` naming ``pip install oncologic[duckdb]``
(the registry still lists ``"duckdb"``).
"""
from __future__ import annotations

from typing import Any, Sequence

from ...errors import OncologicError
from ...compile.sql import Relation
from .engine import SqlEngine

_ALLOCATOR = ("SET allocator_flush_threshold = '16MB'", "SET allocator_bulk_deallocation_flush_threshold = '16MB'",
              "SET allocator_background_threads = true")
_ARROW_TYPES = {"key": "int64", "int": "int64", "text": "string", "float": "float64", "bool": "bool_"}


class DuckDBEngine(SqlEngine):
    """DuckDB, embedded (:mod:`oncologic.backends.sql`).

    Batches of at most ``SMALL`` patients run with one thread and DuckDB's optimizer off:
    their statements are small and planning dominates; larger ones keep the optimizer (its
    join ordering pays from about a thousand patients on) and every core. The rows are the
    same either way (tests/test_duckdb.py). Measured on the shipped knowledge base, ``answer``
    on a shared 2-core machine (load 3–8, medians of 5 interleaved; s, optimizer on / off):
    1 patient 0.71 / 0.51, 59: 1.17 / 1.04, 300: 3.5 / 2.9, 1 000: 4.3 / 5.7, 2 500: 5.5 / 10.4.
    ``SET threads = 1`` alone made no difference there; it keeps parallel calls from
    oversubscribing the cores.

    A connection per call (connect and close: a few ms idle, 39 ms under that load) rather
    than one per thread: dropping the ~530 tables of a call cost as much as a fresh database,
    and a fresh one frees a batch's memory before the next is loaded.

    ``batch`` (the chunk size for cohorts) is 10 000. A 10k-patient ``answer`` (2.6 million
    rows; shared 2-core machine, load 4–5): 0.7 s making fact columns, 0.5–1.3 s loading
    them (pyarrow), 5.9 s in the ~490 statements (2 s of them the ``answer`` union, and
    about 1.7 s a fixed cost of planning, whatever the batch), 0.2 s fetching the rows as
    Arrow, 0.5 s handing them back (:func:`~oncologic.backends.sql.engine.rows_by_patient`;
    decoding every row had taken 1.5–2.5 s and ~460 MB). With each table dropped after its
    last reader (``drop_dead``) and the allocator settings of :func:`connect`, a 10k chunk
    peaks at ~0.8 GB RSS in all (1.4 GB before). Numbers: bench/RESULTS.md.
    """

    name = "duckdb"
    dialect = "duckdb"
    batch = 10_000
    SMALL = 256
    drop_dead = True

    def __init__(self, program, threads: int | None = None):
        """``threads``: the most threads DuckDB runs a call with (None: every core for large
        batches); a cohort's worker processes pass 1, so that N workers use N cores, not N².
        Raises :class:`~oncologic.errors.OncologicError` for anything but a whole number ≥ 1."""
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
            raise OncologicError(f"the duckdb backend's threads={threads!r}: expected a whole number, at least 1")
        super().__init__(program)
        self.threads = threads

    @classmethod
    def _require(cls) -> None:
        try:
            import duckdb  # noqa: F401
            import numpy  # noqa: F401
            import pyarrow  # noqa: F401
            import sqlglot  # noqa: F401
        except ImportError as err:
            raise OncologicError(f"the duckdb backend needs the Python packages duckdb, sqlglot, pyarrow and numpy "
                                 f"({err.name or err} is missing): pip install oncologic[duckdb]") from None

    def _open(self, size: int) -> Any:
        return connect(size, self.threads)

    def _load(self, session: Any, relation: Relation, columns: list[list]) -> None:
        load_arrow(session, relation.name, arrow_table(relation, columns))

    def _run(self, session: Any, statement: str) -> None:
        session.execute(statement)

    def _fetch(self, session: Any, query: str) -> Any:
        return fetch_arrow(session, query)

    def _close(self, session: Any) -> None:
        session.close()


# -- one evaluation, in pieces: the engine above and the Spark backend's executors use them --

def arrow_table(relation: Relation, columns: Sequence[Sequence]):
    """``columns`` (one list per :attr:`~oncologic.compile.sql.Relation.columns` entry, in
    that order, all of one length, possibly empty: :func:`~oncologic.compile.sql.fact_columns`)
    as a ``pyarrow.Table`` with one typed column per SQL column (``key``/``int``: int64,
    ``text``: string, ``float``: float64, ``bool``: bool)."""
    import pyarrow as pa

    return pa.table({col: pa.array(values, type=arrow_type(kind))
                     for (col, _, kind), values in zip(relation.columns, columns)})


def arrow_type(kind: str):
    """The pyarrow type of a column of ``kind`` (``key``, ``int``, ``text``, ``float``, ``bool``)."""
    import pyarrow as pa

    return getattr(pa, _ARROW_TYPES[kind])()


def connect(size: int, threads: int | None = None) -> Any:
    """A fresh in-memory DuckDB connection for ``size`` patients: at most
    :attr:`DuckDBEngine.SMALL` run on one thread without the optimizer (the class docstring
    says why); ``threads`` caps the threads of a larger one (default: DuckDB's, every core)."""
    import duckdb

    con = duckdb.connect(":memory:")
    # DuckDB draws a progress bar on stdout for a statement over 2 s, terminal or not: under
    # load that went into a cohort's JSON Lines on stdout.
    con.execute("SET enable_progress_bar = false")
    # DuckDB's allocator (jemalloc) keeps freed memory until 128 MB (a task) or 512 MB (a bulk
    # free) are outstanding: a cohort's chunks then peaked higher and higher (100k in 10k
    # chunks, six chunks: 775 -> 862 MB; with these: 794 -> 808 MB, no slower).
    for setting in _ALLOCATOR:
        try:
            con.execute(setting)
        except duckdb.Error:  # an older DuckDB without the setting: its default
            pass
    if size <= DuckDBEngine.SMALL:
        con.execute("SET threads = 1")
        con.execute("PRAGMA disable_optimizer")
    elif threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    return con


def load_arrow(con: Any, name: str, table: Any) -> None:
    """Copy the ``pyarrow.Table`` ``table`` into the native DuckDB table ``name`` (one
    ``CREATE TABLE ... AS SELECT``; the Arrow table is registered only meanwhile)."""
    from sqlglot import exp

    source = f"{name}_arrow"
    con.register(source, table)
    try:
        create = exp.Create(this=exp.to_identifier(name), kind="TABLE", expression=exp.select("*").from_(source))
        con.execute(create.sql(dialect="duckdb"))
    finally:
        con.unregister(source)


def fetch_arrow(con: Any, query: str) -> Any:
    """The result of the ``SELECT`` ``query`` as a ``pyarrow.Table``."""
    result = con.sql(query)
    return result.to_arrow_table() if hasattr(result, "to_arrow_table") else result.arrow()  # duckdb 2 / 1.x


def evaluate(tables: dict[str, Any], steps: Sequence[tuple[str, str]], query: str, size: int,
             threads: int | None = None) -> Any:
    """One whole evaluation on a fresh connection: the fact tables ``tables`` (name ->
    ``pyarrow.Table``, typed as :func:`arrow_table` makes them) loaded, the ``steps``
    (``(relation, CREATE TABLE statement)`` in order, DuckDB SQL) run, and ``query``'s
    result returned as a ``pyarrow.Table``; ``size`` patients and ``threads`` as
    :func:`connect`. The connection is closed at the end, also after an error."""
    con = connect(size, threads)
    try:
        for name, table in tables.items():
            load_arrow(con, name, table)
        for _, statement in steps:
            con.execute(statement)
        return fetch_arrow(con, query)
    finally:
        con.close()


__all__ = ["DuckDBEngine", "arrow_table", "arrow_type", "connect", "evaluate", "fetch_arrow", "load_arrow"]
