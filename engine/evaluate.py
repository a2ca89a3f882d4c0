"""Stage 6: evaluate the compiled program for a patient and read off the conclusions.

The engine answers three questions per patient: the verdict of nodes (true, false, or absent
= unknown), the contraindications that removed a regimen, and the records an ``any ... where``
matched. Which nodes it is asked about depends on the question (:mod:`oncologic.plan`):

- :func:`evaluate` — what ``recommend`` reports: every conclusion, through the plan's groups,
  and everything under the conclusions that stay unknown (to name the missing data);
- :func:`evaluate_goals` — everything an explanation of some goals can show;
- :func:`evaluate_all` — every node, for a batch of patients in one query.

:class:`Evaluation` holds the answers; :func:`conclusions` turns them into the contract's
result (derived concepts, recommendations, not recommended, contraindicated, possible,
missing).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import nodes as n
from .backend_pydatalog import PyDatalogEngine
from .compiler import CompiledKB
from .datalog import Var
from .nodes import IsKnown
from .patient import Patient
from . import results as r

STRENGTH_ORDER = {"strong": 0, "moderate": 1, "weak": 2, None: 3, "none": 3}
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

    def value(self, node_id: int) -> bool | None:
        """True, False, or None (unknown)."""
        canonical = self.compiled.nodes[node_id].canonical
        if self.scope is not None and canonical not in self.scope:
            raise LookupError(f"node {node_id} was not evaluated for this question")  # a caller's bug
        return self.truth.get(canonical)


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
        bounds = _MissingBounds(compiled, ev.truth, absent)
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


class _MissingBounds:
    """What an unknown conclusion misses, bounded from the verdicts of the conclusions and the
    record alone: (attributes certainly missed, attributes possibly missed). When the bounds
    meet, :func:`evaluate` needs no second query.

    A leaf is unknown exactly when its attribute is absent. Below an unknown ``and`` every part
    is true or unknown; below an unknown ``or`` (a concept with several rules) every part is
    false or unknown; a conclusion's verdict is known. A part whose verdict these facts do not
    settle contributes only to the possible bound.
    """

    def __init__(self, compiled: CompiledKB, truth: dict[int, bool], absent: set[str]):
        self.nodes = compiled.nodes
        self.conclusions = set(compiled.plan.conclusions)
        self.below = compiled.plan.attributes_below(compiled)
        self.truth = truth
        self.absent = absent
        self._memo: dict[int, tuple[frozenset, frozenset]] = {}

    def unknown(self, nid: int) -> tuple[frozenset, frozenset]:
        """Bounds for a canonical node known to be unknown."""
        if nid not in self._memo:
            node = self.nodes[nid]
            if node.kind in ("leaf", "any"):
                found = frozenset({node.ast.attribute})
                self._memo[nid] = (found, found)
            elif node.kind == "not":
                self._memo[nid] = self.unknown(self._canon(node.children[0]))
            elif node.kind == "and":
                self._memo[nid] = self._parts(nid, settles=True)
            else:  # or, a concept with several rules, a regimen
                self._memo[nid] = self._parts(nid, settles=False)
        return self._memo[nid]

    def _canon(self, nid: int) -> int:
        return self.nodes[nid].canonical

    def _parts(self, nid: int, settles: bool) -> tuple[frozenset, frozenset]:
        """Bounds over the parts of a node: ``settles`` when they are true or unknown (the parts
        of an ``and`` that is not false: a certainly unknown part proves it unknown), else
        false or unknown (the parts of an unknown ``or``)."""
        certain: set[str] = set()
        could: set[str] = set()
        for child in dict.fromkeys(self._canon(c) for c in self.nodes[nid].children):
            status = self._status(child)
            if status is None:  # unsettled: may be unknown or not
                if self.nodes[child].kind == "and" and settles:  # not false either
                    c, p = self._parts(child, settles=True)
                    certain |= c  # a certain part makes it unknown (it is not false here)
                    could |= p
                else:
                    could |= self.below[child] & self.absent
            elif status:  # certainly unknown
                c, p = self.unknown(child)
                certain |= c
                could |= p
        return frozenset(certain), frozenset(could)

    def _status(self, nid: int) -> bool | None:
        """True: certainly unknown; False: certainly decided; None: not settled by what is known."""
        node = self.nodes[nid]
        if nid in self.conclusions:
            return nid not in self.truth
        if node.kind in ("leaf", "any"):
            return not isinstance(node.ast, IsKnown) and node.ast.attribute in self.absent
        if node.kind == "not":
            return self._status(self._canon(node.children[0]))
        return None


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


# ---- shared pieces of the results ---------------------------------------------------------

def rule_ref(rule: n.Rule) -> r.RuleRef:
    return r.RuleRef(id=rule.id, file=rule.pos.file, line=rule.pos.line)


def source_refs(compiled: CompiledKB, rule: n.Rule) -> list[r.SourceRef]:
    out = []
    for cite in rule.sources:
        doc = compiled.checked.documents.get(cite.document)
        out.append(r.SourceRef(document=doc.filename if doc else cite.document, locator=cite.locator,
                               title=doc.title if doc else None))
    return out


def source_ref(compiled: CompiledKB, rule: n.Rule) -> r.SourceRef:
    refs = source_refs(compiled, rule)
    return refs[0] if refs else r.SourceRef()


def recommendation(compiled: CompiledKB, node_id: int, lang: str = "en") -> r.Recommendation:
    node = compiled.nodes[node_id]
    rule = compiled.rule(node.rule)
    labels = {}
    for item in node.items:
        label = compiled.checked.label(item, lang)
        if label:
            labels[item] = label
    return r.Recommendation(
        id=node.name, items=sorted(node.items), setting=rule.setting, strength=None if rule.strength == "none" else rule.strength,
        evidence=rule.evidence, consensus=rule.consensus.value if rule.consensus else None, grade=rule.grade,
        source=source_ref(compiled, rule), sources=source_refs(compiled, rule), rule=rule_ref(rule),
        notes=list(rule.notes), labels=labels,
    )


def missing_attributes(ev: Evaluation, node_id: int) -> list[str]:
    """The absent attributes that leave an unknown node undecided, in rule order: as
    :func:`evaluate` found them, or read off the verdicts of the nodes under it."""
    if ev.value(node_id) is not None:
        return []
    found = ev.missing.get(ev.compiled.nodes[node_id].canonical)
    if found is None:
        found = set()
        _unknown_leaves(ev, node_id, set(), found)
    order = ev.compiled.plan.attribute_order(ev.compiled, node_id)
    return sorted(found, key=order.__getitem__)


def _unknown_leaves(ev: Evaluation, node_id: int, seen: set[int], found: set[str]) -> None:
    if node_id in seen or ev.value(node_id) is not None:
        return
    seen.add(node_id)
    node = ev.compiled.nodes[node_id]
    if node.kind in ("leaf", "any"):
        found.add(node.ast.attribute)
    for child in node.children:
        _unknown_leaves(ev, child, seen, found)


# ---- the contract result --------------------------------------------------------------------

def conclusions(ev: Evaluation, lang: str = "en") -> r.Result:
    compiled = ev.compiled
    derived = [name for name, nid in compiled.concept_node.items() if ev.value(nid) is True]
    recs, not_recs, contra, possible = [], [], [], []
    needed: dict[str, list[str]] = {}

    def need(goal: str, node_id: int) -> list[str]:
        attrs = missing_attributes(ev, node_id)
        for attr in attrs:
            if goal not in needed.setdefault(attr, []):
                needed[attr].append(goal)
        return attrs

    for name, nid in compiled.concept_node.items():
        if ev.value(nid) is None:
            need(name, nid)
    for kid in compiled.regimens:
        node = compiled.nodes[kid]
        rule = compiled.rule(node.rule)
        rule_holds = ev.value(compiled.rule_node[rule.id])
        if rule.polarity == "do_not_recommend":
            if rule_holds:
                not_recs.append(r.NotRecommended(
                    id=node.name, items=sorted(node.items), setting=rule.setting, evidence=rule.evidence,
                    consensus=rule.consensus.value if rule.consensus else None, source=source_ref(compiled, rule),
                    rule=rule_ref(rule), reason=rule.reason, notes=list(rule.notes)))
            continue
        if ev.value(kid) is True:
            recs.append(recommendation(compiled, kid, lang))
        elif rule_holds and ev.removed.get(kid):
            for cid in ev.removed[kid]:
                crule = compiled.rule(cid)
                contra.append(r.Contraindicated(
                    id=node.name, items=sorted(node.items), reason=crule.reason, rule=rule_ref(crule),
                    source=source_ref(compiled, crule), recommended_by=recommendation(compiled, kid, lang)))
        elif ev.value(kid) is None:
            attrs = need(node.name, compiled.rule_node[rule.id])
            possible.append(r.Possible(id=node.name, items=sorted(node.items), missing=attrs,
                                       recommendation=recommendation(compiled, kid, lang)))
    certain = {x.id for x in recs}
    possible = [p for p in possible if p.id not in certain]  # already recommended by another rule
    order = {rule.id: i for i, rule in enumerate(compiled.checked.rules)}
    recs.sort(key=lambda x: (STRENGTH_ORDER.get(x.strength, 3), order[x.rule.id], x.id))
    _conflicts(compiled, recs, not_recs)
    regimen_ids = {compiled.nodes[k].name for k in compiled.regimens}
    missing = [r.Missing(attribute=a, needed_for=goals, decides=sum(1 for g in goals if g in regimen_ids))
               for a, goals in needed.items()]
    missing.sort(key=lambda m: (-m.decides, -len(m.needed_for), m.attribute))
    return r.Result(patient=ev.patient.id, derived=derived, recommendations=recs, not_recommended=not_recs,
                    contraindicated=contra, missing=missing, possible=possible)


def _conflicts(compiled: CompiledKB, recs: list[r.Recommendation], not_recs: list[r.NotRecommended]) -> None:
    """Mark recommendations that a `do not recommend` statement holding for the same patient
    also covers (an item of it, or a member of its class): the sources disagree, show both."""
    for rec in recs:
        for nr in not_recs:
            covered = set().union(*(compiled.checked.members(i) for i in nr.items))
            if covered & set(rec.items):
                rec.conflicts.append(r.Conflict(id=nr.id, rule=nr.rule, reason=nr.reason, consensus=nr.consensus,
                                                source=nr.source))
