"""Evaluate the compiled program for a patient: the engine's verdict on each node.

The backend (:class:`oncologic.backends.base.Backend`, through that protocol only) answers
three questions per patient: the verdict of nodes (true, false, or absent = unknown), the
contraindications that removed a regimen, and the records an ``any ... where`` matched. The
record goes to it as the facts of :func:`oncologic.compile.facts.patient_facts`. Which nodes
it is asked about depends on the question (:mod:`oncologic.compile.plan`):

- :func:`evaluate` — what ``recommend`` reports: every conclusion, through the plan's groups,
  and everything under the conclusions that stay unknown (to name the missing data);
- :func:`evaluate_goals` — everything an explanation of some goals can show;
- :func:`evaluate_all` — every node, for a batch of patients in one query.

:class:`Evaluation` holds the answers; :func:`oncologic.reason.conclude.conclusions` turns
them into the contract's result, :mod:`oncologic.reason.missing` names the missing data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..values import Record
from ..backends.base import Backend, Row
from ..compile.compiler import CompiledKB
from ..compile.facts import patient_facts, recorded_class_members
from ..records.patient import Patient
from .exact import completion
from .missing import MissingBounds


@dataclass(eq=False, repr=False)
class Evaluation(Record):
    """The engine's verdicts for one patient."""

    compiled: CompiledKB
    patient: Patient
    truth: dict[int, bool]
    removed: dict[int, list[str]] = field(default_factory=dict)  # regimen node -> contraindication ids
    matches: dict[int, list[int]] = field(default_factory=dict)  # any-node -> record indexes
    backend: Backend | None = None  # to evaluate variants of the record (what-if)
    scope: frozenset | None = None  # the canonical nodes the engine was asked about; None: all
    missing: dict[int, set[str]] = field(default_factory=dict)  # unknown conclusion -> the attributes it misses (evaluate)
    settled: dict[int, tuple] = field(default_factory=dict)  # unknown node -> (exact verdict, whether exact)
    _kleene: dict = field(default_factory=dict, repr=False)  # the case analysis's memo of Kleene verdicts on the record

    def value(self, node_id: int) -> bool | None:
        """The engine's verdict: True, False, or None (unknown) — Kleene's three-valued logic,
        sound but not complete (see :mod:`.exact`)."""
        canonical = self.compiled.nodes[node_id].canonical
        if self.scope is not None and canonical not in self.scope:
            raise LookupError(f"node {node_id} was not evaluated for this question")  # a caller's bug
        return self.truth.get(canonical)

    def verdict(self, node_id: int) -> bool | None:
        """The exact verdict of a conclusion over every completion of the missing data: True
        (certain), False (impossible) or None (possible); see :mod:`.exact`."""
        return self._settle(node_id)[0]

    def exact(self, node_id: int) -> bool:
        """Whether :meth:`verdict` is exact (False: the case analysis it needs is over the
        bound, and the verdict is the engine's, sound but maybe undecided where it is not)."""
        return self._settle(node_id)[1]

    def _settle(self, node_id: int) -> tuple:
        value = self.value(node_id)
        if value is not None:
            return value, True
        canonical = self.compiled.nodes[node_id].canonical
        found = self.settled.get(canonical)
        if found is None:
            found = self.settled[canonical] = completion(self.compiled).verdict(self.patient.values, canonical, None,
                                                                                 self._kleene)
        return found


def evaluate(compiled: CompiledKB, backend: Backend, patient: Patient) -> Evaluation:
    """Everything ``recommend`` needs for one patient (see :mod:`oncologic.compile.plan`): the
    ``top`` view, then, over the same facts, a missing view if the bounds leave it open."""
    plan = compiled.plan
    walk: list[int] = []
    ev = None

    def then(rows: list[Row]):
        nonlocal ev
        closed = [a for kind, a, _ in rows if kind == "closed"]
        ev = _evaluation(compiled, backend, patient, [row for row in rows if row[0] != "closed"])
        for gid in closed:  # a false gate: every conclusion under it is false
            for member in plan.groups[gid].members:
                ev.truth[member] = False
        unknown = [nid for nid in plan.missing_roots if nid not in ev.truth]
        # absent attributes, and sets of items that name a class (less specific than its members)
        vague = {a for a, v in patient.values.items() if compiled.checked.attributes[a].type.kind == "item_set"
                 and recorded_class_members(v, compiled.checked)}
        absent = set(compiled.checked.attributes) - set(patient.values) | vague
        bounds = MissingBounds(compiled, ev.truth, absent, vague)
        for nid in unknown:
            certain, could = bounds.unknown(nid)
            if certain == could or len(could) == 1:  # one attribute: it is the one (unknown needs one)
                ev.missing[nid] = set(could)
            else:
                walk.append(nid)
        if not walk:
            return None
        undecided = [nid for nid in plan.conclusions if nid not in ev.truth]
        return plan.missing_view(compiled, walk, absent, undecided)

    _, missing_rows = backend.ask(_facts(compiled, patient), ("top", compiled.program.views["top"]), then)
    ev.missing.update((nid, set()) for nid in walk)
    for _, nid, attribute in missing_rows:
        ev.missing[nid].add(attribute)
    ev.scope = frozenset(plan.conclusions)
    return ev


def evaluate_goals(compiled: CompiledKB, backend: Backend, patient: Patient, roots) -> Evaluation:
    """The verdict of every node that explaining ``roots`` can show."""
    name, clauses, nodes = compiled.plan.detail_view(compiled, roots)
    rows, _ = backend.ask(_facts(compiled, patient), (name, clauses))
    ev = _evaluation(compiled, backend, patient, rows)
    ev.scope = nodes
    return ev


def holds(compiled: CompiledKB, backend: Backend, patient: Patient, node_id: int) -> bool:
    """Whether the engine finds one node certainly true: its true rail alone, the cheapest question."""
    return backend.holds(_facts(compiled, patient), compiled.nodes[node_id].canonical)


def evaluate_all(compiled: CompiledKB, backend: Backend, patients: list[Patient]) -> list[Evaluation]:
    """Every node's verdict for several patients, with one query: the engine resolves each
    clause once for the whole batch, which costs far less per patient than one query each."""
    answers = backend.answer([_facts(compiled, patient) for patient in patients])
    return [_evaluation(compiled, backend, patient, rows) for patient, rows in zip(patients, answers)]


def _facts(compiled: CompiledKB, patient: Patient) -> list[tuple]:
    return patient_facts(patient.values, compiled.checked)


def _evaluation(compiled: CompiledKB, backend: Backend, patient: Patient, rows: list) -> Evaluation:
    truth: dict[int, bool] = {}
    removed: dict[int, list[str]] = {}
    matches: dict[int, list[int]] = {}
    for kind, a, b in rows:
        if kind == "truth":
            if truth.get(a, b) != b:
                raise AssertionError(f"node {a} is both true and false for {patient.source}")  # a compiler bug
            truth[a] = b
        elif kind == "removed":
            removed.setdefault(a, []).append(b)
        else:
            matches.setdefault(a, []).append(b)
    for lst in list(removed.values()) + list(matches.values()):
        lst.sort()
    return Evaluation(compiled, patient, truth, removed, matches, backend)
