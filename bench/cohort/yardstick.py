"""The plain-Python yardstick: the compiled Datalog program as Python, set at a time.

Not a backend (nothing registers it): the reference point the cohort backends are measured
against (issue 15, point 5: "plain Python, generated per predicate — the practical limit").

In: a :class:`oncologic.compile.datalog.Program` (``kb.compiled.program``, what ``oncologic
datalog`` prints) and batches of :func:`oncologic.compile.facts.patient_facts` lists.
Out: :meth:`Yardstick.answer` — the rows of the ``answer`` view per patient, in the shape of
:meth:`oncologic.backends.base.Backend.answer` (``(kind, a, b)`` tuples, one list a patient).

How: every derived predicate that ``answer`` needs, in :func:`oncologic.compile.sql.evaluation_order`
(the program is not recursive: each predicate is computed once, after what it reads), is one
generated Python function computing its whole relation for the batch (patient key first):

- a clause is a nest of loops, one level per body literal, left to right as written: the first
  positive atom is scanned, each further one is a **hash join** on the variables already bound
  (an index ``bound values -> rows``, built once per relation and access pattern, with the
  atom's constants filtered while building it: a relation is first split by its constant
  positions, so ``val`` is read once for all the attributes asked of it);
- ``not q(...)`` is an **anti-join**: a set of the bound columns' values, the variables bound
  nowhere before are existential (as in pyDatalog);
- a comparison is the Python operator itself — pyDatalog's semantics, which are Python's:
  ``==``/``!=`` across types false/true, numbers compare by value across int and float (and,
  as in pyDatalog, ``True`` equals ``1``); order comparisons between types raise (the checker
  never lets one through);
- relations are Python sets of tuples: set semantics, no duplicates; a relation and its indexes
  are dropped right after the last predicate that reads it (memory stays at the live ones).

The generated source is compiled with :func:`compile` and executed once per program: it is
our own program's text (predicate names are checked against ``[a-z][a-z0-9_]*``, constants
are written with :func:`repr` of str/int/float/bool only), never patient data — the patients'
values only ever flow through the functions as data. :attr:`Yardstick.source` shows it.
"""
from __future__ import annotations

import gc
import re
from itertools import islice
from typing import Iterable, Sequence

_SAFE = re.compile(r"^[a-z][a-z0-9_]*$")
_OPS = {"==", "!=", "<", "<=", ">", ">="}


class Yardstick:
    """The program as generated Python. ``outputs``: the views wanted (default ``answer``)."""

    def __init__(self, program, outputs: Sequence[str] = ("answer",)):
        from oncologic.compile.sql import evaluation_order

        self.program = program
        self.outputs = list(outputs)
        self.order = evaluation_order(program, self.outputs)
        by_head: dict[str, list] = {}
        for c in program.all_clauses():
            by_head.setdefault(c.head.pred, []).append(c)
        # a relation is dropped (with its indexes) right after the last predicate that reads it
        last_read: dict[str, str] = {}
        for pred in self.order:
            for clause in by_head[pred]:
                for lit in clause.body:
                    atom = getattr(lit, "atom", lit)
                    if hasattr(atom, "pred"):
                        last_read[atom.pred] = pred
        drops: dict[str, list[str]] = {}
        for name, reader in last_read.items():
            if name not in self.outputs:
                drops.setdefault(reader, []).append(name)
        lines = ["def evaluate(rel, ix, n):"]
        for pred in self.order:
            _name(pred)
            keyed = pred in self.outputs  # an output: one set of rows per patient, the key left out
            lines.append(f"    # {pred}")
            lines.append("    out = [set() for _ in range(n)]" if keyed else "    out = set(); add = out.add")
            for clause in by_head[pred]:
                lines.extend("    " + line for line in _clause(clause, keyed))
            lines.append(f"    rel[{pred!r}] = out")
            for name in sorted(drops.get(pred, ())):
                lines.append(f"    ix.drop({_name(name)!r})")
        lines.append("    return rel")
        self.source = "\n".join(lines) + "\n"
        namespace: dict = {}
        # our own program text (see the module docstring), not patient data
        exec(compile(self.source, "<yardstick>", "exec"), namespace)
        self._evaluate = namespace["evaluate"]
        arity = program.predicates()
        self._arity = arity

    def evaluate(self, edb: dict[str, list[tuple]], n: int) -> dict[str, object]:
        """The outputs' relations for ``n`` patients keyed ``0..n-1``: each a list, per patient,
        of the set of its rows (the key left out). ``edb``: relation -> rows, the key first."""
        rel: dict[str, object] = {name: edb.get(name, ()) for name in self.program.edb}
        index = _Indexes(rel)
        for name in self.program.negated_predicates() | set(self._arity):
            rel.setdefault(name, ())  # read but never defined: empty (it is computed before it is read otherwise)
        rel = self._evaluate(rel, index, n)
        return {name: rel[name] for name in self.outputs}

    def answer(self, batch: Sequence[Sequence[tuple]]) -> list[list[tuple]]:
        """The ``answer`` view's rows for each patient of ``batch`` (``Backend.answer``'s shape)."""
        edb: dict[str, list[tuple]] = {name: [] for name in self.program.edb}
        for key, facts in enumerate(batch):
            for relation, *args in facts:
                edb[relation].append((key, *args))
        paused = gc.isenabled()
        gc.disable()  # millions of new tuples, no cycles: the collector would rescan them again and again
        try:
            return [list(rows) for rows in self.evaluate(edb, len(batch))[self.outputs[0]]]
        finally:
            if paused:
                gc.enable()


class _Indexes:
    """Indexes over the relations of one evaluation, built on first use and kept.

    ``ix(pred, consts, same, bound, outs)``: the rows of ``pred`` whose positions ``consts``
    (``((i, value), ...)``) hold those values and whose positions in each pair of ``same`` are
    equal; then, with no ``bound`` positions, the distinct ``outs`` projections (a list); with
    no ``outs``, the set of ``bound`` projections (membership: semi- and anti-joins); else a
    dict ``bound projection -> [outs projection, ...]``. A projection of one position is the
    bare value, of several a tuple."""

    def __init__(self, rel: dict):
        self.rel = rel
        self.cache: dict = {}
        self.parts: dict = {}

    def drop(self, pred: str) -> None:
        """Forget ``pred``'s relation and every index over it: no predicate reads it any more."""
        self.rel[pred] = ()
        for store in (self.cache, self.parts):
            for key in [k for k in store if k[0] == pred]:
                del store[key]

    def _rows(self, pred: str, consts: tuple) -> list:
        if not consts:
            return self.rel[pred]
        pos = tuple(i for i, _ in consts)
        key = (pred, pos)
        part = self.parts.get(key)
        if part is None:
            part = self.parts[key] = {}
            for row in self.rel[pred]:
                part.setdefault(tuple(row[i] for i in pos), []).append(row)
        return part.get(tuple(v for _, v in consts), ())

    def __call__(self, pred, consts, same, bound, outs):
        key = (pred, consts, same, bound, outs)
        found = self.cache.get(key)
        if found is not None:
            return found
        rows = self._rows(pred, consts)
        if same:
            rows = [r for r in rows if all(r[a] == r[b] for a, b in same)]
        one = _projector(outs)
        if not bound:
            found = list(dict.fromkeys(map(one, rows))) if outs else ([()] if rows else [])
        elif not outs:
            found = set(map(_projector(bound), rows))
        else:
            found = {}
            k = _projector(bound)
            for r in rows:
                found.setdefault(k(r), set()).add(one(r))
            found = {a: list(b) for a, b in found.items()}
        self.cache[key] = found
        return found


def _projector(positions: tuple):
    if len(positions) == 1:
        i = positions[0]
        return lambda r: r[i]
    return lambda r: tuple(r[i] for i in positions)


def _name(pred: str) -> str:
    if not _SAFE.match(pred):
        raise ValueError(f"unsafe predicate name {pred!r}")
    return pred


def _const(value) -> str:
    if type(value) not in (str, int, float, bool):
        raise ValueError(f"no Python literal for the constant {value!r}")
    return repr(value)


def _clause(clause, keyed: bool = False) -> list[str]:
    """The lines (relative indentation) that add ``clause``'s head rows to ``out``; ``keyed``:
    to ``out[patient key]``, without the key."""
    from oncologic.compile.datalog import Atom, Comparison, Negation, Var

    env: dict[str, str] = {}  # Datalog variable -> Python local
    lines = [f"# {clause}"]
    depth = 0
    counter = 0

    def local(var: str) -> str:
        return "v_" + re.sub(r"\W", "_", var)

    def emit(text: str) -> None:
        lines.append("    " * depth + text)

    def atom_spec(atom):
        consts, bound, outs, same, fresh = [], [], [], [], {}
        for i, t in enumerate(atom.args):
            if isinstance(t, Var):
                if t.name in env:
                    bound.append((i, env[t.name]))
                elif t.name in fresh:
                    same.append((fresh[t.name], i))
                else:
                    fresh[t.name] = i
                    outs.append((i, t.name))
            else:
                consts.append((i, _const(t)))
        return consts, bound, outs, same

    def call(pred, consts, same, bound_pos, out_pos) -> str:
        c = "(" + "".join(f"({i}, {v}), " for i, v in consts) + ")"
        s = "(" + "".join(f"({a}, {b}), " for a, b in same) + ")"
        b = "(" + "".join(f"{i}, " for i in bound_pos) + ")"
        o = "(" + "".join(f"{i}, " for i in out_pos) + ")"
        return f"ix({_name(pred)!r}, {c}, {s}, {b}, {o})"

    def term(t, what: str) -> str:
        """A term as Python: a bound variable's local, or a constant's literal."""
        if not isinstance(t, Var):
            return _const(t)
        if t.name not in env:
            raise ValueError(f"{clause}: {t.name} {what}")
        return env[t.name]

    def key(bound) -> str:
        names = [v for _, v in bound]
        return names[0] if len(names) == 1 else "(" + ", ".join(names) + ",)"

    pre: list[str] = []  # index look-ups, hoisted before the loops
    for lit in clause.body:
        if isinstance(lit, Atom):
            consts, bound, outs, same = atom_spec(lit)
            name = f"I{counter}"
            counter += 1
            pre.append(f"{name} = {call(lit.pred, consts, same, tuple(i for i, _ in bound), tuple(i for i, _ in outs))}")
            targets = [local(v) for _, v in outs]
            target = targets[0] if len(targets) == 1 else "(" + ", ".join(targets) + ",)" if targets else "_"
            if not bound:
                emit(f"for {target} in {name}:")
            elif not outs:
                emit(f"if {key(bound)} in {name}:")
            else:
                emit(f"for {target} in {name}.get({key(bound)}, ()):")
            depth += 1
            for _, v in outs:
                env[v] = local(v)
        elif isinstance(lit, Negation):
            consts, bound, outs, same = atom_spec(lit.atom)
            name = f"I{counter}"
            counter += 1
            if not bound:  # nothing bound: "the relation (with those constants) is empty"
                pre.append(f"{name} = {call(lit.atom.pred, consts, same, (), ())}")
                emit(f"if not {name}:")
            else:
                pre.append(f"{name} = {call(lit.atom.pred, consts, same, tuple(i for i, _ in bound), ())}")
                emit(f"if {key(bound)} not in {name}:")
            depth += 1
        elif isinstance(lit, Comparison):
            if lit.op not in _OPS:
                raise ValueError(f"{clause}: unknown comparison {lit.op!r}")
            left, right = (term(t, "is compared before a positive atom binds it") for t in (lit.left, lit.right))
            emit(f"if {left} {lit.op} {right}:")
            depth += 1
        else:
            raise ValueError(f"{clause}: unknown literal {lit!r}")
    head = [term(t, "(in the head) is not bound by a positive atom") for t in clause.head.args]
    if depth == 0:
        raise ValueError(f"{clause}: a clause needs a positive atom")
    if keyed:
        emit(f"out[{head[0]}].add(({', '.join(head[1:])},))")
    else:
        emit(f"add(({', '.join(head)},))")
    return [lines[0]] + pre + lines[1:]


def read_batches(path, compiled, size: int):
    """Lists of ``size`` patients' facts from a JSONL cohort, read and validated as the
    engine does (:func:`oncologic.records.reading.read_entries`, ``validate``). Raises the
    first bad record's :class:`~oncologic.errors.PatientError`."""
    from oncologic.compile.facts import patient_facts
    from oncologic.records.patient import validate
    from oncologic.records.reading import read_entries
    from oncologic.errors import PatientError

    checked = compiled.checked
    entries = read_entries(path)
    while chunk := list(islice(entries, size)):
        batch = []
        for where, line, raw in chunk:
            if isinstance(raw, PatientError):
                raise raw
            batch.append(patient_facts(validate(raw, checked, where, line=line).values, checked))
        yield batch


def answer_relation(rows_per_patient: Iterable[Iterable[tuple]], first_key: int = 0) -> set[tuple]:
    """The answer relation ``{(patient index, kind, a, b)}`` of per-patient rows."""
    return {(first_key + i, *row) for i, rows in enumerate(rows_per_patient) for row in rows}


__all__ = ["Yardstick", "answer_relation", "read_batches"]
