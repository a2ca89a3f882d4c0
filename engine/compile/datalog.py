"""The Datalog program: backend-neutral, plain data, printable as Datalog text.

The compiler produces a :class:`Program`; a backend (pyDatalog today, a set-at-a-time engine
for large cohorts later) runs it. Every clause keeps the rule it came from. Stratification is
checked here, on the program itself, so that no backend ever sees unstratifiable negation.

A program has core clauses (the rules) and *views*: output predicates that only read the core
and that a backend loads the first time they are asked for (:mod:`oncologic.plan` makes them).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Union

from ..values import Record, Value as _Value


@dataclass(frozen=True, eq=False, repr=False)
class Var(_Value):
    """A Datalog variable (its name starts with an upper-case letter)."""

    name: str  # starts with an upper-case letter

    def __str__(self) -> str:
        return self.name


Term = Union[Var, str, int, float, bool]


@dataclass(frozen=True, eq=False, repr=False)
class Atom(_Value):
    """``pred(args...)``: a predicate applied to terms."""

    pred: str
    args: tuple

    def __str__(self) -> str:
        return f"{self.pred}({', '.join(_term(a) for a in self.args)})"


@dataclass(frozen=True, eq=False, repr=False)
class Negation(_Value):
    """``not pred(args...)``: negation as failure of an atom of a lower stratum."""

    atom: Atom

    def __str__(self) -> str:
        return f"not {self.atom}"


@dataclass(frozen=True, eq=False, repr=False)
class Comparison(_Value):
    """``left op right``: a built-in comparison (== != < <= > >=)."""

    left: Var
    op: str  # == != < <= > >=
    right: Term

    def __str__(self) -> str:
        return f"{_term(self.left)} {self.op} {_term(self.right)}"


Literal = Union[Atom, Negation, Comparison]


@dataclass(frozen=True, eq=False, repr=False)
class Origin(_Value):
    """Where a clause comes from: the rule, its file and line."""

    rule: str
    file: str
    line: int


@dataclass(frozen=True, eq=False, repr=False)
class Clause(_Value):
    """``head :- body``, with the rule it came from (``origin``)."""

    head: Atom
    body: tuple
    origin: Origin | None = None
    note: str | None = None  # shown above the clause in the program text

    def __str__(self) -> str:
        if not self.body:
            return f"{self.head}."
        return f"{self.head} :- {', '.join(str(b) for b in self.body)}."


def _term(t: Term) -> str:
    if isinstance(t, Var):
        return t.name
    if isinstance(t, bool):
        return "true" if t else "false"
    if isinstance(t, (int, float)):
        return repr(t)
    return json.dumps(t, ensure_ascii=False)


@dataclass(eq=False, repr=False)
class Program(Record):
    """Clauses plus the extensional (patient-fact) predicates they read."""

    clauses: list[Clause] = field(default_factory=list)
    edb: dict[str, int] = field(default_factory=dict)  # name -> arity
    outputs: dict[str, int] = field(default_factory=dict)  # predicates queried, even if empty
    views: dict[str, list[Clause]] = field(default_factory=dict)  # output predicate -> its clauses

    def add(self, head: Atom, body, origin: Origin | None = None) -> None:
        self.clauses.append(Clause(head, tuple(body), origin))

    def all_clauses(self) -> list[Clause]:
        """The core clauses, then every view's."""
        return self.clauses + [c for clauses in self.views.values() for c in clauses]

    def predicates(self) -> dict[str, int]:
        """Every predicate the program mentions, with its arity."""
        preds = dict(self.edb)
        preds.update(self.outputs)
        for clause in self.all_clauses():
            for atom in [clause.head] + [b.atom if isinstance(b, Negation) else b for b in clause.body]:
                if isinstance(atom, Atom):
                    preds[atom.pred] = len(atom.args)
        return preds

    def negated_predicates(self) -> set[str]:
        return {b.atom.pred for c in self.all_clauses() for b in c.body if isinstance(b, Negation)}

    def text(self) -> str:
        lines = [f"% extensional: {', '.join(f'{p}/{a}' for p, a in sorted(self.edb.items()))}"]
        last = None
        for clause in self.clauses:
            if clause.origin and clause.origin != last:
                lines.append(f"% {clause.origin.rule} ({clause.origin.file}:{clause.origin.line})")
                last = clause.origin
            lines.append(str(clause))
        for name, clauses in self.views.items():
            lines.append(f"% view {name}/{self.outputs.get(name, 4)}: read by the engine's callers, loaded when first asked")
            for clause in clauses:
                if clause.note:
                    lines.append(f"% {clause.note}")
                lines.append(str(clause))
        return "\n".join(lines) + "\n"

    def negative_cycles(self) -> list[list[Clause]]:
        """Clauses whose negation depends on their own head: the program is not stratified.

        Returns, for each strongly connected component of the predicate graph that contains a
        negative edge, the clauses that carry those negative edges.
        """
        graph: dict[str, set[str]] = {}
        clauses = self.all_clauses()
        for clause in clauses:
            deps = graph.setdefault(clause.head.pred, set())
            for b in clause.body:
                if isinstance(b, (Atom, Negation)):
                    deps.add(b.atom.pred if isinstance(b, Negation) else b.pred)
        component = _strongly_connected(graph)
        bad: dict[int, list[Clause]] = {}
        for clause in clauses:
            for b in clause.body:
                if isinstance(b, Negation):
                    head_c = component.get(clause.head.pred)
                    if head_c is not None and head_c == component.get(b.atom.pred):
                        bad.setdefault(head_c, []).append(clause)
        return list(bad.values())


def _strongly_connected(graph: dict[str, set[str]]) -> dict[str, int]:
    """Tarjan's algorithm, iterative: predicate -> component number."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    component: dict[str, int] = {}
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = index[node]
                    if member == node:
                        break
    return component
