"""The contract's result for ``recommend`` (CONTRACT §4), read off an evaluation.

In: an :class:`~.evaluate.Evaluation` (the verdicts of every conclusion for one patient).
Out: a :class:`~.results.Result`: derived concepts, recommendations, not recommended,
contraindicated, possible, and the missing data ranked by how many recommendations it decides.
"""
from __future__ import annotations

from ..compile.compiler import CompiledKB
from ..lang import nodes as n
from . import results as r
from .evaluate import Evaluation
from .missing import missing_attributes

STRENGTH_ORDER = {"strong": 0, "moderate": 1, "weak": 2, None: 3, "none": 3}


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
        notes=list(rule.notes), labels=labels, localized_notes=localized_notes(rule, lang),
    )


def localized_notes(rule: n.Rule, lang: str) -> list[str]:
    """The rule's notes in ``lang`` where it gives them (``note en "..." zh "..."``), else as written."""
    labels = rule.note_labels or ((),) * len(rule.notes)
    return [n.text_in(note, by_lang, lang) for note, by_lang in zip(rule.notes, labels)]


def localized_reason(rule: n.Rule, lang: str) -> str | None:
    """The rule's reason (``because``) in ``lang`` where it gives one, else as written."""
    return n.text_in(rule.reason, rule.reason_labels, lang)


def conclusions(ev: Evaluation, lang: str = "en") -> r.Result:
    """The contract's result: each conclusion by its exact verdict over the completions of the
    missing data (:meth:`Evaluation.verdict`). A recommendation is certain only when its rule
    holds and no contraindication that can remove it can hold; an undecided contraindication
    makes it possible and is named in ``pending``. A `do not recommend` statement covering it
    is a disagreement between sources, shown and never hidden, whatever the data: one that
    holds is listed in ``conflicts``, an undecided one in ``pending`` (so recording more data
    can add a conflict, never turn a possible recommendation into a certain one); the
    statement itself is in ``not_recommended`` or ``possibly_not_recommended``."""
    compiled = ev.compiled
    derived = [name for name, nid in compiled.concept_node.items() if ev.verdict(nid) is True]
    recs, not_recs, maybe_not, contra, possible = [], [], [], [], []
    needed: dict[str, list[str]] = {}

    def need(goal: str, node_id: int) -> list[str]:
        attrs = missing_attributes(ev, node_id)
        for attr in attrs:
            if goal not in needed.setdefault(attr, []):
                needed[attr].append(goal)
        return attrs

    for name, nid in compiled.concept_node.items():
        if ev.verdict(nid) is None:
            need(name, nid)
    for kid in compiled.regimens:
        node = compiled.nodes[kid]
        rule = compiled.rule(node.rule)
        if rule.polarity != "do_not_recommend":
            continue
        verdict = ev.verdict(compiled.rule_node[rule.id])
        if verdict is False:
            continue
        shape = dict(id=node.name, items=sorted(node.items), setting=rule.setting, evidence=rule.evidence,
                     consensus=rule.consensus.value if rule.consensus else None, source=source_ref(compiled, rule),
                     rule=rule_ref(rule), reason=rule.reason, notes=list(rule.notes),
                     localized_reason=localized_reason(rule, lang), localized_notes=localized_notes(rule, lang))
        if verdict:
            not_recs.append(r.NotRecommended(**shape))
        else:
            maybe_not.append(r.PossiblyNotRecommended(**shape, missing=need(node.name, compiled.rule_node[rule.id])))
    for kid in compiled.regimens:
        node = compiled.nodes[kid]
        rule = compiled.rule(node.rule)
        if rule.polarity == "do_not_recommend":
            continue
        rule_holds = ev.verdict(compiled.rule_node[rule.id])
        removed_by = [cid for cid in compiled.removals.get(kid, ()) if ev.verdict(compiled.rule_node[cid]) is True]
        verdict = ev.verdict(kid)
        if rule_holds and removed_by:
            for cid in removed_by:
                crule = compiled.rule(cid)
                contra.append(r.Contraindicated(
                    id=node.name, items=sorted(node.items), reason=crule.reason, rule=rule_ref(crule),
                    localized_reason=localized_reason(crule, lang),
                    source=source_ref(compiled, crule), recommended_by=recommendation(compiled, kid, lang)))
            continue
        if verdict is False:
            continue
        statements_pending = pending_statements(ev, node.items)
        if verdict is True:  # an undecided `do not recommend` statement covering it: shown, as a conflict would be
            rec = recommendation(compiled, kid, lang)
            rec.pending = statements_pending
            for item in statements_pending:
                need(node.name, compiled.rule_node[item.rule.id])
            recs.append(rec)
            continue
        pending = pending_contraindications(ev, kid) + statements_pending
        attrs = need(node.name, kid)
        possible.append(r.Possible(id=node.name, items=sorted(node.items), missing=attrs, pending=pending,
                                   exact=ev.exact(kid), recommendation=recommendation(compiled, kid, lang)))
    order = {rule.id: i for i, rule in enumerate(compiled.checked.rules)}
    recs = _once(recs, order)
    certain = {x.id for x in recs}
    possible = _once_possible([p for p in possible if p.id not in certain], order)  # not if another rule recommends it
    not_recs, maybe_not = _once(not_recs, order), _once(maybe_not, order)
    contra = _once_contraindicated(contra, order)
    recs.sort(key=lambda x: (STRENGTH_ORDER.get(x.strength, 3), order[x.rule.id], x.id))
    _conflicts(compiled, recs, not_recs)
    _flags(compiled, ev.patient.values, recs + [p.recommendation for p in possible])
    _population_flags(ev, recs + [p.recommendation for p in possible])
    for p in possible:
        p.flags = list(p.recommendation.flags)
    regimen_ids = {compiled.nodes[k].name for k in compiled.regimens}
    # what each attribute decides among the entries shown (a rule's data whose entry another rule
    # made certain decides nothing; a certain entry's only questions are its pending statements')
    deciding = {(a, p.id) for p in possible for a in p.missing}
    deciding |= {(a, rec.id) for rec in recs for item in rec.pending for a in item.missing}
    deciding |= {(a, m.id) for m in maybe_not for a in m.missing}
    missing = []
    for a, goals in needed.items():
        goals = [g for g in goals if g not in regimen_ids or (a, g) in deciding]
        if not goals:
            continue
        decided = [g for g in goals if g in regimen_ids]
        missing.append(r.Missing(attribute=a, needed_for=goals, decides=len(decided), recommendations=decided))
    missing.sort(key=lambda m: (-m.decides, -len(m.needed_for), m.attribute))
    return r.Result(patient=ev.patient.id, derived=derived, recommendations=recs, not_recommended=not_recs,
                    contraindicated=contra, missing=missing, possible=possible, possibly_not_recommended=maybe_not)


EVIDENCE_RANK = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}


def evidence_rank(level: str | None) -> int | None:
    """I (best) .. V, or a number; None when not given."""
    if level is None:
        return None
    if level in EVIDENCE_RANK:
        return EVIDENCE_RANK[level]
    return int(level) if level.isdigit() else None


def _strongest(entry, order: dict) -> tuple:
    """Sort key: strong > moderate > weak > ungraded; then the evidence level; then rule order."""
    rank = evidence_rank(getattr(entry, "evidence", None))
    return (STRENGTH_ORDER.get(getattr(entry, "strength", None), 3), 9 if rank is None else rank, order[entry.rule.id])


def _support(entry) -> r.Support:
    return r.Support(rule=entry.rule, source=entry.source, strength=getattr(entry, "strength", None),
                     evidence=entry.evidence, consensus=entry.consensus, setting=entry.setting)


def _by_id(entries: list) -> list[list]:
    """The entries grouped by id, groups in the order of their first entry."""
    by_id: dict[str, list] = {}
    for entry in entries:
        by_id.setdefault(entry.id, []).append(entry)
    return list(by_id.values())


def _merge_pending(mine: list, other: list) -> None:
    mine += [x for x in other if x.rule.id not in {y.rule.id for y in mine}]


def _once(entries: list, order: dict) -> list:
    """One entry per id (CONTRACT §4): the strongest rule's, with every rule in ``support``, and
    the notes, conflicts and pending statements of all of them."""
    out = []
    for group in _by_id(entries):
        group.sort(key=lambda e: _strongest(e, order))
        first = group[0]
        first.support = [_support(e) for e in group]
        for other in group[1:]:
            first.notes += [x for x in other.notes if x not in first.notes]
            for name in ("conflicts", "pending"):
                mine = getattr(first, name, None)
                if mine is not None:
                    _merge_pending(mine, getattr(other, name))
        out.append(first)
    return out


def _once_possible(entries: list[r.Possible], order: dict) -> list[r.Possible]:
    out = []
    for group in _by_id(entries):
        group.sort(key=lambda e: _strongest(e.recommendation, order))
        first = group[0]
        first.recommendation = _once([e.recommendation for e in group], order)[0]
        for other in group[1:]:
            first.missing += [a for a in other.missing if a not in first.missing]
            _merge_pending(first.pending, other.pending)
            first.exact = first.exact and other.exact
        out.append(first)
    return out


def _once_contraindicated(entries: list[r.Contraindicated], order: dict) -> list[r.Contraindicated]:
    out = []
    for group in _by_id(entries):
        group.sort(key=lambda e: (order[e.rule.id], _strongest(e.recommended_by, order)))
        first = group[0]
        first.recommended_by = _once([e.recommended_by for e in group], order)[0]
        first.support = list({e.rule.id: r.Support(rule=e.rule, source=e.source) for e in group}.values())
        out.append(first)
    return out


def pending_contraindications(ev: Evaluation, regimen_node: int) -> list[r.Pending]:
    """The contraindications that could remove a regimen and are undecided for the patient."""
    compiled = ev.compiled
    return _pending(ev, "contraindication", compiled.removals.get(compiled.nodes[regimen_node].canonical, ()))


def pending_statements(ev: Evaluation, items) -> list[r.Pending]:
    """The `do not recommend` statements covering an item of a regimen that are undecided."""
    return _pending(ev, "not_recommended", covering(ev.compiled, items))


def _pending(ev: Evaluation, kind: str, rule_ids) -> list[r.Pending]:
    """The rules of ``rule_ids`` undecided for the patient, as ``kind`` with the data they need."""
    out = []
    for rid in rule_ids:
        node = ev.compiled.rule_node[rid]
        if ev.verdict(node) is None:
            rule = ev.compiled.rule(rid)
            out.append(r.Pending(kind=kind, rule=rule_ref(rule), reason=rule.reason, missing=missing_attributes(ev, node)))
    return out


def covering(compiled: CompiledKB, items) -> list[str]:
    """The `do not recommend` statements that cover an item of a regimen (the item, or a class
    it belongs to), by rule id, in rule order."""
    table = compiled.__dict__.get("_covering")
    if table is None:  # item -> the statements covering it, made on first use and kept with the KB
        table = {}
        for kid in compiled.regimens:
            rule = compiled.rule(compiled.nodes[kid].rule)
            if rule.polarity == "do_not_recommend":
                for member in set().union(*(compiled.checked.members(i) for i in compiled.nodes[kid].items)):
                    table.setdefault(member, []).append(rule.id)
        compiled.__dict__["_covering"] = table
    return list(dict.fromkeys(sid for item in items for sid in table.get(item, ())))


def _conflicts(compiled: CompiledKB, recs: list[r.Recommendation], not_recs: list[r.NotRecommended]) -> None:
    """Mark recommendations that a `do not recommend` statement holding for the same patient
    also covers (an item of it, or a member of its class): the sources disagree, show both."""
    for rec in recs:
        for nr in not_recs:
            covered = set().union(*(compiled.checked.members(i) for i in nr.items))
            if covered & set(rec.items):
                rec.conflicts.append(r.Conflict(id=nr.id, rule=nr.rule, reason=nr.reason, consensus=nr.consensus,
                                                source=nr.source))


def _population_flags(ev: Evaluation, recs: list[r.Recommendation]) -> None:
    """Flag a recommendation concluded by a rule whose soft ``population`` is false for the
    patient: a row applied outside the population its source wrote it for."""
    compiled = ev.compiled
    for rec in recs:
        rules = dict.fromkeys([rec.rule.id] + [s.rule.id for s in rec.support])
        for rule_id in rules:
            node = compiled.population_node.get(rule_id)
            if node is not None and ev.value(node) is False:
                rule = compiled.rule(rule_id)
                rec.flags.append(r.Flag(kind="outside_population", detail={
                    "rule": rule_id, "population": n.to_source(rule.population), "description": rule.population_text}))


def _flags(compiled: CompiledKB, values: dict, recs: list[r.Recommendation]) -> None:
    """Flag what a clinician should see next to a recommendation: a conflict with a `do not
    recommend` statement that holds, and items the record says were already given (an item, or
    a drug of a class the regimen names)."""
    given = {a: values[a] for a in ("prior_therapies", "current_therapy")
             if a in values and compiled.checked.attributes[a].type.kind == "item_set"}
    for rec in recs:
        for conflict in rec.conflicts:
            rec.flags.append(r.Flag(kind="conflict", detail={"id": conflict.id, "rule": conflict.rule.id}))
        for attribute, items in given.items():
            received = sorted(x for item in rec.items for x in items if x in compiled.checked.members(item))
            if received:
                rec.flags.append(r.Flag(kind="already_received", detail={"attribute": attribute, "items": received}))
