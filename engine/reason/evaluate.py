"""Evaluate the compiled program for a patient: the engine's verdict on each node.

The engine answers three questions per patient: the verdict of nodes (true, false, or absent
= unknown), the contraindications that removed a regimen, and the records an ``any ... where``
matched. Which nodes it is asked about depends on the question (:mod:`oncologic.compile.plan`):

- :func:`evaluate` — what ``recommend`` reports: every conclusion, through the plan's groups,
  and everything under the conclusions that stay unknown (to name the missing data);
- :func:`evaluate_goals` — everything an explanation of some goals can show;
- :func:`evaluate_all` — every node, for a batch of patients in one query.

:class:`Evaluation` holds the answers; :func:`oncologic.reason.conclude.conclusions` turns
them into the contract's result, :mod:`oncologic.reason.missing` names the missing data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..backends.pydatalog.engine import PyDatalogEngine
from ..compile.compiler import CompiledKB
from ..compile.datalog import Var
from ..records.patient import Patient
from .exact import completion
from .missing import MissingBounds

_ROW = (Var("K"), Var("A"), Var("B"))


@dataclass
class Evaluation:
    """The engine's verdicts for one patient."""

    compiled: CompiledKB
    patient: Patient
    truth: dict[int, bool]
    removed: dict[int, list[str]] = field(default_factory=dict)  # regimen node -> contraindication ids
    matches: dict[int, list[int]] = field(default_factory=dict)  # any-node -> record indexes
    engine: PyDatalogEngine | None = None  # to evaluate variants of the record (what-if)
    scope: frozenset | None = None  # the canonical nodes the engine was asked about; None: all
    missing: dict[int, set[str]] = field(default_factory=dict)  # unknown conclusion -> the attributes it misses (evaluate)
    settled: dict[int, tuple] = field(default_factory=dict)  # unknown node -> (exact verdict, whether exact)

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
            found = self.settled[canonical] = completion(self.compiled).verdict(self.patient.values, canonical, None)
        return found


def evaluate(compiled: CompiledKB, engine: PyDatalogEngine, patient: Patient) -> Evaluation:
    """Everything ``recommend`` needs for one patient (see :mod:`oncologic.plan`)."""
    plan = compiled.plan
    key = engine.new_patient_key()
    with engine.session(patient.facts(key, compiled.checked)) as ask:
        rows = ask(("top", key, *_ROW))
        closed = [a for kind, a, _ in rows if kind == "closed"]
        ev = _evaluation(compiled, engine, patient, [row for row in rows if row[0] != "closed"])
        for gid in closed:  # a false gate: every conclusion under it is false
            for member in plan.groups[gid].members:
                ev.truth[member] = False
        unknown = [nid for nid in plan.missing_roots if nid not in ev.truth]
        absent = set(compiled.checked.attributes) - set(patient.values)
        bounds = MissingBounds(compiled, ev.truth, absent)
        walk = []
        for nid in unknown:
            certain, could = bounds.unknown(nid)
            if certain == could or len(could) == 1:  # one attribute: it is the one (unknown needs one)
                ev.missing[nid] = set(could)
            else:
                walk.append(nid)
        if walk:
            undecided = [nid for nid in plan.conclusions if nid not in ev.truth]
            name, clauses = plan.missing_view(compiled, walk, absent, undecided)
            ev.missing.update((nid, set()) for nid in walk)
            for _, nid, attribute in ask((name, key, *_ROW), views={name: clauses}):
                ev.missing[nid].add(attribute)
    ev.scope = frozenset(plan.conclusions)
    return ev


def evaluate_goals(compiled: CompiledKB, engine: PyDatalogEngine, patient: Patient, roots) -> Evaluation:
    """The verdict of every node that explaining ``roots`` can show."""
    name, clauses, nodes = compiled.plan.detail_view(compiled, roots)
    key = engine.new_patient_key()
    rows = engine.run(patient.facts(key, compiled.checked), {"rows": (name, key, *_ROW)}, views={name: clauses})["rows"]
    ev = _evaluation(compiled, engine, patient, rows)
    ev.scope = nodes
    return ev


def holds(compiled: CompiledKB, engine: PyDatalogEngine, patient: Patient, node_id: int) -> bool:
    """Whether the engine finds one node certainly true: its true rail alone, the cheapest question."""
    key = engine.new_patient_key()
    with engine.session(patient.facts(key, compiled.checked)) as ask:
        return bool(ask((f"t{compiled.nodes[node_id].canonical}", key)))


def evaluate_all(compiled: CompiledKB, engine: PyDatalogEngine, patients: list[Patient]) -> list[Evaluation]:
    """Every node's verdict for several patients, with one query: the engine resolves each
    clause once for the whole batch, which costs far less per patient than one query each."""
    keys = [engine.new_patient_key() for _ in patients]
    facts = [fact for key, patient in zip(keys, patients) for fact in patient.facts(key, compiled.checked)]
    pvar = Var("P") if len(patients) > 1 else keys[0]
    rows = engine.run(facts, {"answer": ("answer", pvar, *_ROW)})["answer"]
    if len(patients) == 1:
        rows = [(keys[0], *row) for row in rows]
    per_key: dict[str, list] = {key: [] for key in keys}
    for key, *row in rows:
        per_key[key].append(row)
    return [_evaluation(compiled, engine, patient, per_key[key]) for key, patient in zip(keys, patients)]


def _evaluation(compiled: CompiledKB, engine: PyDatalogEngine, patient: Patient, rows: list) -> Evaluation:
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
    return Evaluation(compiled, patient, truth, removed, matches, engine)
