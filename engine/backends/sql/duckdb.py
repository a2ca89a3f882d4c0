"""The DuckDB backend (``backend="duckdb"``): the compiled program as SQL, run embedded.

A cohort backend: DuckDB plans every statement of the program (about 530 for ``answer``) for
each call, a fixed cost of tenths of a second however few patients a call holds, and then
evaluates set-at-a-time, far faster than pyDatalog per patient in large batches. Numbers
measured on the shipped knowledge base (2-core machine): see :class:`DuckDBEngine`.

Isolation: each call opens its own in-memory database (``duckdb.connect()``, about a
millisecond) and closes it at the end, so two threads, two calls and two knowledge bases
never share a table, and a batch's tables are freed before the next batch is loaded.

Facts go in column by column: :func:`oncologic.compile.sql.fact_rows` rows, transposed into a
pyarrow table with the relation's column types, registered with DuckDB and copied into a
native table in one ``CREATE TABLE ... AS SELECT``.

Requires the ``duckdb`` extra (duckdb, sqlglot, pyarrow); without it, creating the backend
raises :class:`~oncologic.errors.OncologicError` naming ``pip install oncologic[duckdb]``
(the registry still lists ``"duckdb"``).
"""
from __future__ import annotations

from typing import Any, Sequence

from ...errors import OncologicError
from ...compile.sql import Relation
from .engine import SqlEngine

_ARROW_TYPES = {"key": "int64", "int": "int64", "text": "string", "float": "float64", "bool": "bool_"}


class DuckDBEngine(SqlEngine):
    """DuckDB, embedded (:mod:`oncologic.backends.sql`).

    Batches of at most ``SMALL`` patients run with one thread and DuckDB's optimizer off:
    the statements are small, and planning them dominates (one patient, ``answer``: 0.86 s
    with the defaults, 0.53 s so; the answers are the same either way, tests/test_duckdb.py).
    Larger batches keep the optimizer (its join ordering pays off from a few hundred
    patients on) and every core. ``batch``: the chunk size for cohorts (measured at 100k
    patients, module docstring of tests/test_duckdb.py's measurement, bench/RESULTS.md).
    """

    name = "duckdb"
    dialect = "duckdb"
    batch = 20_000
    SMALL = 256

    @classmethod
    def _require(cls) -> None:
        try:
            import duckdb  # noqa: F401
            import pyarrow  # noqa: F401
            import sqlglot  # noqa: F401
        except ImportError as err:
            raise OncologicError(f"the duckdb backend needs the Python packages duckdb, sqlglot and pyarrow "
                                 f"({err.name or err} is missing): pip install oncologic[duckdb]") from None

    def _open(self, size: int) -> Any:
        import duckdb

        con = duckdb.connect(":memory:")
        if size <= self.SMALL:
            con.execute("SET threads = 1")
            con.execute("PRAGMA disable_optimizer")
        return con

    def _load(self, session: Any, relation: Relation, rows: list[tuple]) -> None:
        import pyarrow as pa
        from sqlglot import exp

        columns = list(zip(*rows)) if rows else [()] * len(relation.columns)
        table = pa.table({col: pa.array(values, type=getattr(pa, _ARROW_TYPES[kind])())
                          for (col, _, kind), values in zip(relation.columns, columns)})
        source = f"{relation.name}_arrow"
        session.register(source, table)
        try:
            create = exp.Create(this=exp.to_identifier(relation.name), kind="TABLE",
                                expression=exp.select("*").from_(source))
            session.execute(create.sql(dialect=self.dialect))
        finally:
            session.unregister(source)

    def _run(self, session: Any, statement: str) -> None:
        session.execute(statement)

    def _fetch(self, session: Any, query: str) -> Sequence[Sequence]:
        result = session.sql(query)
        table = result.to_arrow_table() if hasattr(result, "to_arrow_table") else result.arrow()  # duckdb 2 / 1.x
        return [column.to_pylist() for column in table.columns]

    def _close(self, session: Any) -> None:
        session.close()


__all__ = ["DuckDBEngine"]
