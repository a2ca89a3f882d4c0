"""What every SQL backend shares: the program's SQL, made once; the statements each question
needs; fact columns in, protocol rows out. An engine (DuckDB, Spark SQL) implements the seam.

The seam — six methods a subclass implements, nothing else (see :mod:`.duckdb`):

``_require()`` (class method)
    Import the engine's client packages (and sqlglot); raise
    :class:`~oncologic.errors.OncologicError` naming ``pip install oncologic[EXTRA]`` when one
    is missing. Called when a backend object is created.
``_open(size) -> session``
    A fresh session (a connection, a Spark session's namespace) for one call over ``size``
    patients, seen by no other call, thread or backend object.
``_load(session, relation, columns)``
    Create the fact table ``relation.name`` (:class:`~oncologic.compile.sql.Relation`, its
    typed :attr:`~oncologic.compile.sql.Relation.columns`) holding ``columns`` (one list per
    column, in that order, all of one length, as :func:`~oncologic.compile.sql.fact_columns`
    makes them; possibly empty: the table is still made, empty and typed). Called once per
    extensional relation, before any statement.
``_run(session, statement)``
    Run one statement of the generated SQL (a ``CREATE TABLE ... AS SELECT``).
``_fetch(session, query) -> pyarrow.Table``
    The result of a ``SELECT`` as Arrow, one column per column the query names, in that
    order, each of its SQL type (``BOOLEAN`` a bool column, never an int). Columnar, and
    never Python objects per row: a 10k-patient ``answer`` is 2.6 million rows, and
    :meth:`SqlEngine.answer` builds one Python tuple per *distinct* row
    (:func:`rows_by_patient`).
``_close(session)``
    Drop everything the session made and free it; called once, also after an error.

Everything else is here: :func:`oncologic.compile.sql.to_sql` of every derived predicate of
the program, run once per backend object (lazily, on the first question) and reused by every
thread; the statements one question needs — ``answer`` and ``top`` read about 500 of the
program's predicates, the true rail of one node for :meth:`SqlEngine.holds` often a handful
— chosen by :func:`~oncologic.compile.sql.evaluation_order` and cached (the program's views
for good, ``MAX_VIEWS`` caller views and ``MAX_HOLDS`` nodes, least recently used first out);
a caller's view (a detail or missing view of :mod:`oncologic.compile.plan`) translated alone
by :func:`~oncologic.compile.sql.clauses_sql` against the program's relations, after the
program predicates it reads. Rows come back column by column through
:func:`~oncologic.compile.sql.decode_columns` (the typed columns of one argument merged), so
each value has its own Python type; :meth:`SqlEngine.answer` (a cohort's chunk: millions of
rows) instead decodes each distinct row once and hands every patient references to those
tuples (:func:`rows_by_patient`), and, for an engine that sets ``drop_dead``, drops each
table after its last reader (the statements of one question hold ~500 tables at once).

Raises :class:`ValueError` for a predicate name the SQL cannot hold or a program it cannot
express (recursion), at construction for the program, at the first use for a caller's view.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any, ClassVar, Sequence

from ...compile.datalog import Program
from ...compile.plan import rail
from ...compile.sql import Relation, SqlProgram, clauses_sql, decode_columns, dependencies, evaluation_order, fact_columns, to_sql
from ..base import Facts, FollowUp, Row, View

_SAFE = re.compile(r"^[a-z][a-z0-9_]*$")

# (statements to run, each (relation, SQL), in order; the relation whose rows answer; its SELECT)
_Plan = tuple[tuple[tuple[str, str], ...], Relation, str]


class SqlEngine:
    """The backend protocol (:class:`oncologic.backends.base.Backend`) for an SQL engine; a
    subclass sets ``name``, ``dialect`` (a sqlglot dialect) and ``batch``, and implements the
    seam (module docstring).

    ``batch``: the number of patients per :meth:`answer` call a cohort should be cut into.
    ``interactive`` is False: one patient costs a fixed planning time of a few hundred
    statements (tenths of a second), so cohorts go in batches and explanations stay on
    pyDatalog.
    """

    name: ClassVar[str]
    dialect: ClassVar[str]
    batch: ClassVar[int] = 10_000
    interactive: ClassVar[bool] = False
    drop_dead: ClassVar[bool] = False  # answer(): DROP each table after its last reader
    MAX_VIEWS = 256  # caller views whose SQL is kept
    MAX_HOLDS = 1024  # nodes whose true rail's statements are kept

    def __init__(self, program: Program):
        self._require()
        for name in program.predicates():
            if not _SAFE.match(name):
                raise ValueError(f"unsafe predicate name {name!r}")  # the compiler only makes safe ones
        self.program = program
        self._lock = threading.Lock()
        self._sql: SqlProgram | None = None
        self._fixed: dict[str, _Plan] = {}  # the program's own outputs (views, rails asked by name)
        self._views: OrderedDict[str, _Plan] = OrderedDict()
        self._holds: OrderedDict[int, _Plan | None] = OrderedDict()

    # -- the seam (module docstring) --
    @classmethod
    def _require(cls) -> None:
        raise NotImplementedError

    def _open(self, size: int) -> Any:
        raise NotImplementedError

    def _load(self, session: Any, relation: Relation, columns: list[list]) -> None:
        raise NotImplementedError

    def _run(self, session: Any, statement: str) -> None:
        raise NotImplementedError

    def _fetch(self, session: Any, query: str) -> Any:
        raise NotImplementedError

    def _close(self, session: Any) -> None:
        raise NotImplementedError

    # -- the program's SQL, once --
    @property
    def sql(self) -> SqlProgram:
        """The SQL of every derived predicate of the program (made on first use, then kept)."""
        found = self._sql
        if found is None:
            with self._lock:
                if self._sql is None:
                    heads = list(dict.fromkeys(c.head.pred for c in self.program.all_clauses()))
                    self._sql = to_sql(self.program, self.dialect, outputs=heads)
                found = self._sql
        return found

    def _program_plan(self, outputs: tuple[str, ...]) -> list[tuple[str, str]]:
        """The statements that make the program's predicates ``outputs``, in order."""
        sql = self.sql
        order = evaluation_order(self.program, outputs)
        empty = [n for n, rel in sql.relations.items() if not rel.edb and n not in sql.order]  # read, never defined
        return [(n, sql.create[n]) for n in empty + order]

    def _select(self, relation: Relation, by_patient: bool = False) -> str:
        """The SELECT of ``relation``'s columns; ``by_patient``: ordered by the patient key."""
        from sqlglot import exp

        query = exp.select(*(exp.column(col) for col, _, _ in relation.columns)).from_(relation.name)
        if by_patient:
            query = query.order_by("pid")
        return query.sql(dialect=self.dialect)

    def _plan(self, view: View) -> _Plan:
        """What to run for ``view``: one of the program's views, or a caller's (kept by name)."""
        name, clauses = view
        if name in self.program.views:
            found = self._fixed.get(name)
            if found is None:
                rel = self.sql.relations[name]
                found = self._fixed[name] = (tuple(self._program_plan((name,))), rel, self._select(rel, by_patient=True))
            return found
        with self._lock:
            found = self._views.get(name)
            if found is not None:
                self._views.move_to_end(name)
                return found
        extra = clauses_sql(clauses, self.sql.relations, self.dialect)
        if name not in extra.order:
            raise ValueError(f"the view {name!r} has no clause defining it")
        reads = tuple(sorted(n for n in extra.reads if n in self.sql.order))
        steps = (self._program_plan(reads) if reads else []) + list(extra.create.items())
        rel = extra.relations[name]
        found = (tuple(steps), rel, self._select(rel))
        with self._lock:
            self._views[name] = found
            while len(self._views) > self.MAX_VIEWS:
                self._views.popitem(last=False)
        return found

    def _answer_plan(self) -> _Plan:
        """The plan of the ``answer`` view, for :meth:`answer`: with ``drop_dead``, each
        table (fact or derived, but ``answer``) is dropped by a step ``(None, "DROP TABLE
        ...")`` right after the last statement reading it; its query unordered (the rows are
        grouped by patient in Python: :func:`rows_by_patient`)."""
        found = self._fixed.get(" answer")
        if found is not None:
            return found
        steps, rel, _ = self._plan(("answer", None))
        if self.drop_dead:
            steps = tuple(_with_drops(self.program, steps, self.sql.tables, keep=rel.name, dialect=self.dialect))
        found = self._fixed[" answer"] = (steps, rel, self._select(rel))
        return found

    def _rail_plan(self, node: int) -> _Plan | None:
        """What to run for the true rail of ``node``; None when the program has no such rail."""
        with self._lock:
            if node in self._holds:
                self._holds.move_to_end(node)
                return self._holds[node]
        name = rail(node, True)
        rel = self.sql.relations.get(name)
        found = None if rel is None or rel.edb else (tuple(self._program_plan((name,))), rel, self._select(rel))
        with self._lock:
            self._holds[node] = found
            while len(self._holds) > self.MAX_HOLDS:
                self._holds.popitem(last=False)
        return found

    # -- evaluation --
    def _session(self, batch: Sequence[Facts]):
        """Open a session with ``batch``'s facts loaded (patient keys 0, 1, ... in order);
        returns ``(session, ask)``, ``ask(plan)`` giving the rows of a plan's relation as a
        ``pyarrow.Table`` (its :attr:`~oncologic.compile.sql.Relation.columns`; a step
        ``(None, statement)`` is run every time, a named one once per session)."""
        columns = fact_columns(enumerate(batch))
        sql = self.sql
        session = self._open(len(batch))
        try:
            for name in sql.tables:
                self._load(session, sql.relations[name], columns.pop(name))
        except BaseException:
            self._close(session)
            raise
        made: set[str] = set()

        def ask(plan: _Plan) -> Any:
            steps, rel, query = plan
            for name, statement in steps:
                if name is None or name not in made:
                    self._run(session, statement)
                    made.add(name)
            return self._fetch(session, query)
        return session, ask

    # -- the protocol (oncologic.backends.base.Backend) --
    def ask(self, facts: Facts, view: View, then: FollowUp | None = None) -> tuple[list[Row], list[Row]]:
        """The rows of ``view`` for one patient, then of the view ``then`` picks, in one
        session: the facts are loaded once, and a predicate both views read is made once."""
        first = self._plan(view)
        session, ask = self._session([facts])
        try:
            rows = list(zip(*_decoded(first[1], ask(first))[1:]))
            second = then(rows) if then is not None else None
            if second is None:
                return rows, []
            plan = self._plan(second)
            return rows, list(zip(*_decoded(plan[1], ask(plan))[1:]))
        finally:
            self._close(session)

    def answer(self, batch: Sequence[Facts]) -> list[list[Row]]:
        """The ``answer`` view for every patient of ``batch``, in one evaluation."""
        if not batch:
            return []
        plan = self._answer_plan()
        session, ask = self._session(batch)
        try:
            table = ask(plan)
        finally:
            self._close(session)  # the engine's memory is freed before the rows are made
        return rows_by_patient(plan[1], table, len(batch))

    def holds(self, facts: Facts, node: int) -> bool:
        """Whether the true rail of the canonical ``node`` has a row: only the predicates that
        rail reads are evaluated."""
        plan = self._rail_plan(node)
        if plan is None:
            return False
        session, ask = self._session([facts])
        try:
            return ask(plan).num_rows > 0
        finally:
            self._close(session)


def _decoded(relation: Relation, table: Any) -> list[list]:
    """The rows of ``relation`` in the ``pyarrow.Table`` ``table``, decoded argument by
    argument (:func:`~oncologic.compile.sql.decode_columns`)."""
    return decode_columns(relation, [column.to_pylist() for column in table.columns])


def _with_drops(program: Program, steps: Sequence[tuple[str, str]], tables: Sequence[str], keep: str,
                dialect: str) -> list[tuple[str | None, str]]:
    """``steps`` (``(relation, statement)`` in order, after the fact ``tables`` are loaded),
    with ``(None, "DROP TABLE name")`` after the last step reading each relation but
    ``keep`` (a relation no step reads: first)."""
    from sqlglot import exp

    reads = dependencies(program)
    last: dict[str, int] = {name: -1 for name in tables}
    for i, (name, _) in enumerate(steps):
        last.setdefault(name, -1)
        for read in reads.get(name, ()):
            last[read] = i
    after: dict[int, list[str]] = {}
    for name, i in last.items():
        if name != keep:
            after.setdefault(i, []).append(name)

    def drops(i: int) -> list[tuple[None, str]]:
        return [(None, exp.Drop(tables=[exp.Table(this=exp.to_identifier(n))], kind="TABLE").sql(dialect=dialect))
                for n in after.get(i, ())]
    out = drops(-1)
    for i, step in enumerate(steps):
        out.append(step)
        out += drops(i)
    return out


def rows_by_patient(relation: Relation, table: Any, size: int) -> list[list[Row]]:
    """The rows of ``relation`` in the ``pyarrow.Table`` ``table`` (its columns, the patient
    key ``pid`` first, in ``0 .. size-1``, in any order) as the protocol hands them back: per
    patient, in key order, the list of its rows' arguments (without the key), each a tuple
    of Python values as :func:`~oncologic.compile.sql.decode` makes them.

    Equal rows are one tuple object: each distinct combination of the non-key columns is
    decoded once (Arrow's dictionary encoding, column by column, then NumPy's ``unique``) and
    every row holding it refers to it. A 10k-patient ``answer`` has 2.6 million rows but
    ~1 500 distinct ones: decoding row by row into fresh tuples, strings and ints had cost
    ~460 MB and 1.5 s."""
    import numpy as np
    import pyarrow.compute as pc

    n = table.num_rows
    if n == 0:
        return [[] for _ in range(size)]
    pid = table.column(0).to_numpy()
    code = np.zeros(n, dtype=np.int64)
    span = 1
    for column in table.columns[1:]:
        encoded = pc.dictionary_encode(column.combine_chunks())
        index = encoded.indices.fill_null(-1).to_numpy().astype(np.int64) + 1  # 0: null
        width = len(encoded.dictionary) + 1
        if span * width >= 1 << 62:  # renumber the combinations so far densely: no overflow
            _, code = np.unique(code, return_inverse=True)
            span = int(code.max()) + 1
        code = code * width + index
        span *= width
    if span <= 4 * n:  # few combinations (the usual case): a table indexed by code, no sorting
        seen = np.zeros(span, dtype=bool)
        seen[code] = True
        inverse = (np.cumsum(seen) - 1)[code]
        some = np.empty(span, dtype=np.int64)
        some[code] = np.arange(n)  # a row of each code (any one: they are equal)
        first = some[seen]
    else:
        _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    distinct = np.empty(len(first), dtype=object)
    for i, row in enumerate(zip(*_decoded(relation, table.take(first))[1:])):
        distinct[i] = row
    # NumPy's stable sort of 16-bit keys is a radix sort: 4x faster than of 64-bit ones
    keys = pid.astype(np.uint16) if size <= 1 << 16 else pid
    rows = distinct[inverse.reshape(-1)[np.argsort(keys, kind="stable")]].tolist()
    ends = np.cumsum(np.bincount(pid, minlength=size)).tolist()
    return [rows[a:b] for a, b in zip([0] + ends[:-1], ends)]


__all__ = ["SqlEngine", "rows_by_patient"]
