"""The compiled Datalog program as SQL: typed fact tables, then one relation per predicate.

In: a :class:`~oncologic.compile.datalog.Program` (the core clauses and its views ``top`` and
``answer``). Out: :func:`to_sql` gives an :class:`SqlProgram`: the statements (text in one SQL
dialect, ``duckdb`` or ``spark``) that create

- one **fact table** per extensional relation (:data:`~oncologic.compile.compiler.EDB`), a
  patient key column ``pid`` first, then one column per argument, **typed**: an argument that
  holds values of several Python types (``val``'s value is text, an integer, a float or a
  boolean) is split into one column per type (``c2_text VARCHAR, c2_int BIGINT, c2_float
  DOUBLE, c2_bool BOOLEAN``), exactly one of them set in a row;
- then one **table made from a query** (or, ``materialize=False``, a view) per derived
  predicate, in dependency (stratum) order: a predicate of several clauses is the ``UNION``
  of one ``SELECT`` per clause, shared variables are join conditions, constants ``WHERE``
  conditions, ``not p(...)`` a ``NOT EXISTS`` (anti-join). Every predicate keeps the patient
  key, so one evaluation answers a whole batch of patients.

The statements are built as sqlglot expression trees (``sqlglot.exp``; never by pasting
strings together) and printed with ``.sql(dialect=...)``, so one tree serves every dialect
sqlglot knows. Column types are inferred from the program: an extensional argument has the
types of :mod:`oncologic.compile.facts` (:data:`EDB_KINDS`), a derived one the union of what
its clauses put there.

:func:`fact_rows` turns patients' facts (:func:`oncologic.compile.facts.patient_facts`
tuples) into rows of the fact tables; :func:`decode` turns a row of a predicate's relation
back into the values of the Datalog answer (the patient key, then the arguments).

Semantics kept from the reference engine (pyDatalog): set semantics (``UNION``, no
duplicates); ``==``/``!=`` between values of different types are false/true (numbers
compare by value across ``int`` and ``float``); order comparisons only between values of
one type (the checker types them; pyDatalog would raise); a variable that occurs in a
negated atom only is existential (``not has(P, A, _)``). One difference: pyDatalog follows
Python's equality, ``True == 1 == 1.0``, in comparisons and joins alike (and hands back
whichever of those constants it interned first); here a boolean equals only a boolean. The
checker never compares or joins a boolean with a number, so compiled knowledge bases do not
see it (tests/test_duckdb.py shows it).

:func:`clauses_sql` translates extra clauses — a caller's view — against the relations of an
already translated program, so a backend translates the program once and each view alone.

Errors: :class:`ValueError` for a program the translation cannot express — recursion
(a predicate that depends on itself; the message names the predicates), a variable of a
negation, comparison or head not bound by a positive atom before it, a clause without a
positive atom, a predicate name outside ``[a-z][a-z0-9_]*``, a constant of a type with no
column. sqlglot is imported only when :func:`to_sql` is called.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from ..values import Record
from .datalog import Atom, Clause, Comparison, Negation, Program, Var, _strongly_connected

# the kinds of value a column may hold, and their SQL types
KIND_TYPES = {"key": "BIGINT", "text": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN"}
_KIND_ORDER = ("key", "text", "int", "float", "bool")
_NUMERIC = frozenset(["int", "float"])
_ANY = ("text", "int", "float", "bool")

# what each argument of a patient fact can hold (oncologic.compile.facts), the key first
EDB_KINDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "patient": (("key",),),
    "val": (("key",), ("text",), _ANY),
    "known": (("key",), ("text",)),
    "member": (("key",), ("text",), ("text", "int")),  # a set's item, or a record list's index
    "has": (("key",), ("text",), ("text",)),
    "maybe": (("key",), ("text",), ("text",)),
    "field": (("key",), ("text",), ("int",), ("text",), _ANY),
}

_SAFE = re.compile(r"^[a-z][a-z0-9_]*$")
_SQL_OPS = {"==": "EQ", "!=": "NEQ", "<": "LT", "<=": "LTE", ">": "GT", ">=": "GTE"}


def kind_of(value) -> str:
    """The column kind of a Python value (``bool`` before ``int``: True is an int in Python)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "text"
    raise ValueError(f"no SQL column kind for the value {value!r} ({type(value).__name__})")


def _comparable(a: str, b: str) -> bool:
    return a == b or (a in _NUMERIC and b in _NUMERIC)


@dataclass(eq=False, repr=False)
class Relation(Record):
    """One relation of the SQL program: a fact table or a derived predicate.

    ``kinds[i]``: the kinds argument *i* holds (argument 0 is the patient key); ``columns``
    the SQL columns in order, each ``(name, argument index, kind)``."""

    name: str
    kinds: list[tuple[str, ...]]
    edb: bool = False

    def column(self, i: int, kind: str) -> str:
        if i == 0:
            return "pid"
        return f"c{i}" if len(self.kinds[i]) == 1 else f"c{i}_{kind}"

    @property
    def columns(self) -> list[tuple[str, int, str]]:
        return [(self.column(i, k), i, k) for i, ks in enumerate(self.kinds) for k in ks]


@dataclass(eq=False, repr=False)
class SqlProgram(Record):
    """:func:`to_sql`'s result: ``statements`` to run in order (fact tables first, then the
    derived predicates), and every ``relations[name]`` (its typed columns)."""

    dialect: str
    statements: list[str] = field(default_factory=list)
    relations: dict[str, Relation] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # the derived predicates, in evaluation order
    create: dict[str, str] = field(default_factory=dict)  # relation -> the statement creating it, in order
    reads: set[str] = field(default_factory=set)  # (clauses_sql) the given relations the clauses read

    @property
    def tables(self) -> list[str]:
        return [name for name, rel in self.relations.items() if rel.edb]


# -- facts in, answers out (no sqlglot needed) --

def fact_rows(batch: Iterable[tuple[int, Sequence[tuple]]]) -> dict[str, list[tuple]]:
    """Rows of the fact tables for ``batch``: ``(patient key, facts)`` pairs, the facts as
    :func:`~oncologic.compile.facts.patient_facts` makes them. Returns relation -> rows, each
    row in the order of :attr:`Relation.columns` (the typed split: the value in its kind's
    column, ``None`` in the others). Raises :class:`ValueError` for an unknown relation or a
    value of a kind the relation's argument cannot hold."""
    return {name: list(zip(*columns)) for name, columns in fact_columns(batch).items()}


_KIND_OF_TYPE = {str: "text", bool: "bool", int: "int", float: "float"}  # exact types; kind_of for subclasses


def fact_columns(batch: Iterable[tuple[int, Sequence[tuple]]]) -> dict[str, list[list]]:
    """:func:`fact_rows` column by column, as a columnar engine loads them: relation -> one
    list per column of :attr:`Relation.columns`, all of one length. Same errors."""
    rels = {name: Relation(name, list(kinds), edb=True) for name, kinds in EDB_KINDS.items()}
    out: dict[str, list[list]] = {name: [[] for _ in rel.columns] for name, rel in rels.items()}
    # per relation, per argument: the kinds it holds and, for each kind, the column lists to
    # fill (its own gets the value, the others None)
    slots = {name: [(kinds, {k: [(out[name][j], k == kind) for j, (_, i2, kind) in enumerate(rel.columns) if i2 == i]
                             for k in kinds})
                    for i, kinds in enumerate(rel.kinds) if i]
             for name, rel in rels.items()}
    for key, facts in batch:
        for relation, *args in facts:
            spec = slots.get(relation)
            if spec is None or len(args) != len(spec):
                raise ValueError(f"unknown fact relation {relation}/{len(args) + 1}")
            out[relation][0].append(key)
            for i, value in enumerate(args):
                kinds, columns = spec[i]
                kind = _KIND_OF_TYPE.get(type(value)) or kind_of(value)
                targets = columns.get(kind)
                if targets is None:
                    raise ValueError(f"{relation} argument {i + 1} holds {'/'.join(kinds)}, not {value!r}")
                for column, mine in targets:
                    column.append(value if mine else None)
    return out


def decode(relation: Relation, row: Sequence) -> tuple:
    """A row of ``relation`` (its :attr:`~Relation.columns`, in order) back to Datalog values:
    ``(patient key, arg1, ...)``, each argument the one non-null column of its kinds."""
    out: list = [None] * len(relation.kinds)
    for (name, i, kind), value in zip(relation.columns, row):
        if value is not None:
            out[i] = bool(value) if kind == "bool" else int(value) if kind in ("int", "key") else value
    return tuple(out)


def decode_columns(relation: Relation, columns: Sequence[Sequence]) -> list[list]:
    """:func:`decode` column by column, for many rows at once: ``columns`` holds one list per
    column of ``relation`` (in :attr:`~Relation.columns` order, all of one length), each
    value a Python ``str``/``int``/``float``/``bool`` of its column's kind or ``None``.
    Returns one list per argument (the patient key first), each value the one non-null
    column of its kinds: ``list(zip(*result))`` are :func:`decode`'s tuples."""
    out: list[list] = []
    at = 0
    for kinds in relation.kinds:
        group = [columns[at + j] for j in range(len(kinds))]
        at += len(kinds)
        merged = list(group[0])
        for other in group[1:]:
            merged = [a if a is not None else b for a, b in zip(merged, other)]
        out.append(merged)
    return out


# -- analysis (no sqlglot needed) --

def _body_atoms(clause: Clause):
    for b in clause.body:
        if isinstance(b, Atom):
            yield b, True
        elif isinstance(b, Negation):
            yield b.atom, False


def dependencies(program: Program) -> dict[str, set[str]]:
    """Each derived predicate of ``program`` -> the predicates its clauses' bodies read
    (positively or under ``not``)."""
    deps: dict[str, set[str]] = {}
    for c in program.all_clauses():
        deps.setdefault(c.head.pred, set()).update(a.pred for a, _ in _body_atoms(c))
    return deps


def evaluation_order(program: Program, outputs: Iterable[str] | None = None) -> list[str]:
    """The derived predicates ``outputs`` need (default: every view), each after the
    predicates it reads. Raises :class:`ValueError` naming the predicates of any recursive
    component (SQL here has no fixpoint)."""
    deps = dependencies(program)
    idb = set(deps)
    wanted = list(outputs) if outputs is not None else list(program.views)
    for name in wanted:
        if name not in idb and name not in program.edb:
            raise ValueError(f"unknown output predicate {name!r}")
    component = _strongly_connected(deps)
    members: dict[int, list[str]] = {}
    for pred, comp in component.items():
        members.setdefault(comp, []).append(pred)
    recursive = sorted({p for group in members.values() if len(group) > 1 for p in group}
                       | {p for p, d in deps.items() if p in d})
    order: list[str] = []
    done: set[str] = set()
    # depth-first post-order over the needed predicates, iterative
    for root in wanted:
        if root in done or root not in idb:
            continue
        stack = [(root, iter(sorted(deps[root] & idb)))]
        done.add(root)
        while stack:
            pred, children = stack[-1]
            for child in children:
                if child not in done:
                    done.add(child)
                    stack.append((child, iter(sorted(deps[child] & idb))))
                    break
            else:
                stack.pop()
                order.append(pred)
    cyclic = [p for p in recursive if p in done]
    if cyclic:
        shown = ", ".join(cyclic[:12]) + (f", ... ({len(cyclic)} in all)" if len(cyclic) > 12 else "")
        raise ValueError(f"the program is recursive, which its SQL translation cannot express: {shown}")
    return order


def _infer(program: Program, order: list[str]) -> dict[str, Relation]:
    """Relations for the fact tables and the predicates of ``order``, their argument kinds
    inferred from the clauses (in ``order`` a predicate's body is typed before its head)."""
    rels: dict[str, Relation] = {name: Relation(name, list(kinds), edb=True) for name, kinds in EDB_KINDS.items()}
    for name, arity in program.edb.items():
        if name not in rels:
            raise ValueError(f"extensional predicate {name}/{arity} has no fact table")
    _infer_heads(program, order, rels)
    return rels


def _infer_heads(program: Program, order: list[str], rels: dict[str, Relation]) -> None:
    """Add to ``rels`` a relation for each predicate of ``order`` (the heads of ``program``'s
    clauses, typed from the relations their bodies read), and an empty one for each predicate
    read but defined nowhere."""
    by_head: dict[str, list[Clause]] = {}
    for c in program.all_clauses():
        by_head.setdefault(c.head.pred, []).append(c)
    arity = program.predicates()
    for pred in sorted(program.negated_predicates() | set(arity)):
        if pred not in rels and pred not in by_head:  # read but never defined: an empty relation
            rels[pred] = Relation(pred, [("key",)] + [("text",)] * (arity[pred] - 1))
    for pred in order:
        kinds: list[set[str]] = [set() for _ in range(arity[pred])]
        for c in by_head[pred]:
            bound = _bindings(c, rels)
            for i, t in enumerate(c.head.args):
                if isinstance(t, Var):
                    if t.name not in bound:
                        raise ValueError(f"{c}: the head variable {t.name} is not bound by a positive atom")
                    kinds[i] |= set(bound[t.name])
                elif i == 0:
                    raise ValueError(f"{c}: the patient argument of a head must be a variable")
                else:
                    kinds[i].add(kind_of(t))
        kinds[0] = {"key"}
        rels[pred] = Relation(pred, [tuple(k for k in _KIND_ORDER if k in ks) or ("text",) for ks in kinds])


def _bindings(clause: Clause, rels: dict[str, Relation]) -> dict[str, tuple[str, ...]]:
    """Variable -> the kinds it can hold: those of its first positive occurrence, narrowed by
    the others (a join keeps only values both sides can hold)."""
    bound: dict[str, tuple[str, ...]] = {}
    for b in clause.body:
        if not isinstance(b, Atom):
            continue
        rel = rels.get(b.pred)
        if rel is None:
            continue  # checked when the clause is built
        for i, t in enumerate(b.args):
            if isinstance(t, Var):
                ks = rel.kinds[i]
                if t.name in bound:
                    bound[t.name] = tuple(k for k in bound[t.name] if any(_comparable(k, o) for o in ks))
                else:
                    bound[t.name] = ks
    return bound


# -- the SQL (sqlglot) --

def to_sql(program: Program, dialect: str = "duckdb", outputs: Iterable[str] | None = None,
           materialize: bool = True) -> SqlProgram:
    """The SQL of ``program`` in ``dialect`` (any sqlglot dialect: ``duckdb``, ``spark``, ...).

    ``outputs``: the predicates wanted (default: the program's views, ``top`` and
    ``answer``); only they and what they read are translated. ``materialize`` (the default):
    each derived predicate becomes a table made from its query (``CREATE TABLE ... AS``),
    computed once however many predicates read it; ``False``: a view. DuckDB inlines views:
    on the shipped program's ~500 nested views, ``SELECT count(*) FROM answer`` for 59
    patients did not finish in 60 s (tables: about 1 s), so views are for small programs or
    an engine that caches them.

    Raises :class:`ValueError` for what the translation cannot express (module docstring).
    """
    for name in program.predicates():
        if not _SAFE.match(name):
            raise ValueError(f"unsafe predicate name {name!r}")
    order = evaluation_order(program, outputs)
    return _translate(program, order, _infer(program, order), dialect, materialize)


def clauses_sql(clauses: Sequence[Clause], relations: dict[str, Relation], dialect: str = "duckdb",
                materialize: bool = True) -> SqlProgram:
    """The SQL of extra clauses (a caller's view: its output predicate and any helper
    predicates it defines) over existing ``relations`` (those of an :class:`SqlProgram` of the
    program the clauses read), without translating the program again.

    Returns an :class:`SqlProgram` whose ``order``, ``statements`` and ``create`` hold the
    clauses' own predicates only (a predicate they read that neither they nor ``relations``
    define is an empty relation, created first), whose ``relations`` hold those and the ones
    read, and whose ``reads`` names the relations of ``relations`` the clauses read: the
    caller creates those (and what they read) before running the statements.

    Raises :class:`ValueError` as :func:`to_sql` does, and for a clause whose head is one of
    ``relations`` (the clauses may not add rows to the program's predicates).
    """
    extra = Program(clauses=list(clauses))
    heads = list(dict.fromkeys(c.head.pred for c in extra.clauses))
    for name in extra.predicates():
        if not _SAFE.match(name):
            raise ValueError(f"unsafe predicate name {name!r}")
    for name in heads:
        if name in relations:
            raise ValueError(f"the clauses define {name!r}, a relation of the program")
    arity = extra.predicates()
    for name, rel in relations.items():
        if name in arity and len(rel.kinds) != arity[name]:
            raise ValueError(f"no relation {name}/{arity[name]} (it has {len(rel.kinds)} arguments)")
    order = evaluation_order(extra, heads)
    rels = {name: rel for name, rel in relations.items() if name in arity}
    _infer_heads(extra, order, rels)
    out = _translate(extra, order, rels, dialect, materialize, given=set(relations))
    out.reads = {name for name in arity if name in relations}
    return out


def _translate(program: Program, order: list[str], rels: dict[str, Relation], dialect: str, materialize: bool,
               given: set[str] = frozenset()) -> SqlProgram:
    """The statements of ``order`` (with ``rels`` inferred): the fact tables and empty
    relations first, unless ``given`` (relations that exist already) holds them."""
    from sqlglot import exp

    by_head: dict[str, list[Clause]] = {}
    for c in program.all_clauses():
        by_head.setdefault(c.head.pred, []).append(c)

    out = SqlProgram(dialect, relations={}, order=order)
    used = set(order) | {a.pred for p in order for c in by_head[p] for a, _ in _body_atoms(c)}
    for name, rel in rels.items():
        if (rel.edb and not given) or (name in used and name not in by_head):
            out.relations[name] = rel
    for name in order:
        out.relations[name] = rels[name]

    for name, rel in out.relations.items():
        if name in by_head or name in given:
            continue
        if rel.edb:
            schema = exp.Schema(this=_table(exp, name), expressions=[
                exp.ColumnDef(this=exp.to_identifier(col), kind=exp.DataType.build(KIND_TYPES[k]))
                for col, _, k in rel.columns])
            stmt = exp.Create(this=schema, kind="TABLE")
        else:  # a predicate read but never defined: empty
            stmt = _create(exp, name, _empty(exp, rel), materialize)
        out.create[name] = stmt.sql(dialect=dialect)
    for name in order:
        selects = [_select(exp, c, rels[name], rels) for c in by_head[name]]
        if len(selects) == 1:
            query = selects[0].distinct(copy=False)
        else:
            query = exp.union(*selects, distinct=True, copy=False)
        out.create[name] = _create(exp, name, query, materialize).sql(dialect=dialect)
    out.statements = list(out.create.values())
    return out


def _create(exp, name: str, query, materialize: bool):
    return exp.Create(this=_table(exp, name), kind="TABLE" if materialize else "VIEW", expression=query)


def _table(exp, name: str):
    return exp.Table(this=exp.to_identifier(name))


def _empty(exp, rel: Relation):
    cols = [exp.alias_(exp.cast(exp.null(), KIND_TYPES[k]), col) for col, _, k in rel.columns]
    return exp.select(*cols).where(exp.false())


def _literal(exp, value):
    kind = kind_of(value)
    if kind == "bool":
        return exp.true() if value else exp.false()
    if kind == "text":
        return exp.Literal.string(value)
    return exp.Literal.number(repr(value))


def _select(exp, clause: Clause, head: Relation, rels: dict[str, Relation]):
    """One clause as ``SELECT head columns FROM positive atoms WHERE ...``."""
    env: dict[str, dict[str, object]] = {}  # variable -> kind -> column expression
    kinds = _bindings(clause, rels)
    query = None
    where: list = []
    n = 0
    for b in clause.body:
        if isinstance(b, Atom):
            rel = _relation(b, rels, clause)
            alias = f"a{n}"
            n += 1
            on: list = []
            for i, t in enumerate(b.args):
                cols = {k: exp.column(rel.column(i, k), table=alias) for k in rel.kinds[i]}
                if isinstance(t, Var):
                    if t.name in env:
                        on.append(_equal(exp, env[t.name], cols))
                    else:
                        env[t.name] = {k: c for k, c in cols.items() if k in kinds[t.name]}
                else:
                    where.append(_equal(exp, cols, {kind_of(t): _literal(exp, t)}))
            table = exp.alias_(_table(exp, b.pred), alias, table=True, copy=False)
            if query is None:
                query = exp.select().from_(table, copy=False)
                where = on + where
            else:
                query = query.join(table, on=exp.and_(*on, copy=False) if on else None,
                                   join_type="inner" if on else "cross", copy=False)
        elif isinstance(b, Negation):
            atom = b.atom
            rel = _relation(atom, rels, clause)
            alias = f"n{n}"
            n += 1
            conds = []
            for i, t in enumerate(atom.args):
                cols = {k: exp.column(rel.column(i, k), table=alias) for k in rel.kinds[i]}
                if isinstance(t, Var):
                    if t.name in env:
                        conds.append(_equal(exp, env[t.name], cols))
                    elif t.name in kinds:
                        raise ValueError(f"{clause}: {t.name} is used in '{b}' before a positive atom binds it")
                    # else existential, as in pyDatalog
                else:
                    conds.append(_equal(exp, cols, {kind_of(t): _literal(exp, t)}))
            sub = exp.select(exp.Literal.number(1)).from_(copy=False, expression=exp.alias_(_table(exp, atom.pred), alias, table=True, copy=False))
            if conds:
                sub = sub.where(exp.and_(*conds, copy=False), copy=False)
            where.append(exp.not_(exp.Exists(this=sub), copy=False))
        elif isinstance(b, Comparison):
            where.append(_compare(exp, clause, b, env))
        else:
            raise ValueError(f"{clause}: unknown literal {b!r}")
    if query is None:
        raise ValueError(f"{clause}: a clause needs a positive atom")
    columns = []
    for i, t in enumerate(clause.head.args):
        for k in head.kinds[i]:
            col = head.column(i, k)
            if isinstance(t, Var):
                value = env[t.name].get(k)
            else:
                value = _literal(exp, t) if kind_of(t) == k else None
            value = exp.cast(exp.null(), KIND_TYPES[k]) if value is None else value.copy()
            columns.append(exp.alias_(value, col, copy=False))
    query = query.select(*columns, append=False, copy=False)
    if where:
        query = query.where(exp.and_(*where, copy=False), copy=False)
    return query


def _relation(atom: Atom, rels: dict[str, Relation], clause: Clause) -> Relation:
    rel = rels.get(atom.pred)
    if rel is None or len(rel.kinds) != len(atom.args):
        raise ValueError(f"{clause}: no relation {atom.pred}/{len(atom.args)}")
    return rel


def _equal(exp, left: dict, right: dict):
    """``left = right`` for two typed values (kind -> expression): equal in some kind both
    can hold (numbers across int and float); false when no kind is shared."""
    terms = [exp.EQ(this=l, expression=r) for kl, l in left.items() for kr, r in right.items() if _comparable(kl, kr)]
    if not terms:
        return exp.false()
    return terms[0] if len(terms) == 1 else exp.paren(exp.or_(*terms))


def _compare(exp, clause: Clause, cmp: Comparison, env: dict):
    def side(t):
        if isinstance(t, Var):
            if t.name not in env:
                raise ValueError(f"{clause}: {t.name} is compared in '{cmp}' before a positive atom binds it")
            return env[t.name]
        return {kind_of(t): _literal(exp, t)}

    left, right = side(cmp.left), side(cmp.right)
    if cmp.op == "==":
        return _equal(exp, left, right)
    if cmp.op == "!=":
        # true unless equal in a shared kind; a value of a kind the other side lacks differs
        terms = []
        for kl, l in left.items():
            for kr, r in right.items():
                if _comparable(kl, kr):
                    cond = exp.NEQ(this=l, expression=r)
                    nulls = [x for x in (l, r) if not isinstance(x, (exp.Literal, exp.Boolean))]
                    if len(left) > 1 or len(right) > 1:
                        cond = exp.paren(exp.or_(*[exp.Is(this=x, expression=exp.null()) for x in nulls], cond))
                    terms.append(cond)
        return exp.and_(*terms) if terms else exp.true()
    op = getattr(exp, _SQL_OPS[cmp.op])
    terms = [op(this=l, expression=r) for kl, l in left.items() for kr, r in right.items() if _comparable(kl, kr)]
    if not terms:
        return exp.false()
    return terms[0] if len(terms) == 1 else exp.paren(exp.or_(*terms))


__all__ = ["EDB_KINDS", "KIND_TYPES", "Relation", "SqlProgram", "clauses_sql", "decode", "decode_columns", "dependencies", "evaluation_order", "fact_columns", "fact_rows",
           "kind_of", "to_sql"]
