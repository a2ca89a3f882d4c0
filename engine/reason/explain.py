"""Stage 7: explanations — the proof of a goal, and why a goal does not hold.

Both are read off the engine's own verdicts (:class:`~oncologic.evaluate.Evaluation`): a proof
shows only nodes the engine found true, a why-not only nodes it found false or unknown, each
condition with the rule's expected value and the patient's actual value in the patient's units.
Nothing is re-derived in Python, so the explanation is the engine's reasoning, not a second
opinion (the tests re-check every node against the record independently).

Explanations are data, not sentences: each condition carries its operator, the expected and
the actual quantities, negation, the classes a ``has`` test matched through, the record counts
of an ``any … where``, what an unknown concept needs and when a date-derived verdict flips.
:mod:`oncologic.report.words` writes the sentences, in English or Chinese.
"""
from __future__ import annotations

import difflib

from ..lang import nodes as n
from ..lang import units
from ..lang.nodes import NEGATED_OP
from ..lang.visitor import Visitor
from . import results as r
from ..errors import GoalError
from .conclude import covering, evidence_rank, pending_contraindications, pending_statements, rule_ref, source_ref
from .evaluate import Evaluation
from .missing import missing_attributes
from .suggest import changes_to_hold, flip_date


# ---- conditions -----------------------------------------------------------------------------

def _quantity(value, kind: str) -> r.Quantity:
    if isinstance(value, frozenset):
        value = sorted(value)
    return r.Quantity(value=value, unit=units.canonical_unit(kind))


def _actual(ev: Evaluation, attribute: str) -> r.Quantity | None:
    values = ev.patient.values
    if attribute not in values:
        return None
    kind = ev.compiled.checked.attributes[attribute].type.kind
    value = values[attribute]
    if kind == "record_list":
        return r.Quantity(value=[dict(rec) for rec in value])
    q = _quantity(value, kind)
    given = ev.patient.given.get(attribute)
    if isinstance(given, str) and kind in units.UNITS and given.strip() != units.show(value, kind).replace(" ", ""):
        q.as_written = given
    if attribute in ev.patient.derived:
        later, earlier = ev.patient.derived[attribute]
        q.derived_from = {later: values[later], earlier: values[earlier], "formula": f"{later} - {earlier}"}
    return q


class _Test(Visitor):
    """A leaf's test as a condition shows it: its operator and the value it expects."""

    def visit_Compare(self, cond: n.Compare):
        v = cond.value
        if isinstance(v, n.Quantity):
            written = v.written if v.written and v.written != f"{v.value}{v.unit or ''}" else None
            return cond.op, r.Quantity(value=v.value, unit=v.unit, as_written=written)
        return cond.op, r.Quantity(value=n.constant(v))

    def visit_OneOf(self, cond: n.OneOf):
        return "in", r.Quantity(value=[n.constant(v) for v in cond.values])

    def visit_Has(self, cond: n.Has):
        vals = [n.constant(v) for v in cond.values]
        if len(vals) == 1:
            return "has", r.Quantity(value=vals[0])
        return "has any of", r.Quantity(value=vals)

    def visit_IsEmpty(self, cond: n.IsEmpty):
        return "is empty", None

    def visit_IsKnown(self, cond: n.IsKnown):
        return "is known", None

    def visit_AnyRecord(self, cond: n.AnyRecord):
        return "any where", r.Quantity(value=n.to_source(cond.condition))


_TEST = _Test()


class _Detail(Visitor):
    """What a leaf adds to its condition about the patient's value, beyond the value itself."""

    def __init__(self, ev: Evaluation, node_id: int):
        self.ev = ev
        self.node_id = node_id

    def visit_Compare(self, cond: n.Compare, shown: r.Condition) -> None:
        """A threshold on a duration derived from dates: the date from which the verdict flips."""
        if isinstance(cond.value, n.Quantity) and cond.attribute in self.ev.patient.derived:
            shown.flip = flip_date(self.ev, cond.attribute, shown.op, cond.value.value)
            shown.changes_on = shown.flip.date if shown.flip else None

    def visit_Has(self, cond: n.Has, shown: r.Condition) -> None:
        """Items of the record matched through their class (``gefitinib is egfr_tki``)."""
        values = self.ev.patient.values
        if shown.attribute_kind != "item_set" or cond.attribute not in values:
            return
        checked = self.ev.compiled.checked
        wanted = {v.name for v in cond.values if isinstance(v, n.Symbol)}
        shown.via = [r.Membership(item=x, is_a=c) for x, c in sorted(
            (x, c) for x in values[cond.attribute] for c in checked.ancestors(x) if c in wanted and x not in wanted)]
        # a class recorded in place of the item tested: which member was given is unknown
        shown.class_recorded = sorted(x for x in values[cond.attribute]
                                      if any(w != x and w in checked.members(x) for w in wanted))

    def visit_AnyRecord(self, cond: n.AnyRecord, shown: r.Condition) -> None:
        """The records that match, and how many there are."""
        records = self.ev.patient.values.get(cond.attribute)
        if records is None:
            return
        matched = self.ev.matches.get(self.node_id, [])
        shown.actual = r.Quantity(value=[dict(records[i]) for i in matched])
        shown.records_matched, shown.records_total = len(matched), len(records)

    def _nothing_more(self, cond, shown: r.Condition) -> None:
        """The value, expected and actual, says it all."""

    visit_OneOf = visit_IsEmpty = visit_IsKnown = _nothing_more


def condition(ev: Evaluation, node_id: int, negated: bool = False) -> r.Condition:
    """A leaf condition as the contract shows it; ``negated`` when it sits under a ``not``."""
    cond = ev.compiled.nodes[node_id].ast
    holds = ev.value(node_id)
    op, expected = _TEST.visit(cond)
    if negated:
        op = NEGATED_OP[op]
        holds = None if holds is None else not holds
    shown = r.Condition(attribute=cond.attribute, op=op, expected=expected, actual=_actual(ev, cond.attribute),
                        holds=holds, negated=negated,
                        attribute_kind=ev.compiled.checked.attributes[cond.attribute].type.kind)
    _Detail(ev, node_id).visit(cond, shown)
    return shown


def _concept_condition(ev: Evaluation, node_id: int, name: str, negated: bool) -> r.Condition:
    value = ev.value(node_id)
    holds = None if value is None else (not value if negated else value)
    return r.Condition(concept=name, op="not" if negated else "is", holds=holds, negated=negated)


# ---- why a node has its value ---------------------------------------------------------------

def _why(ev: Evaluation, node_id: int, negated: bool, conditions: list, children: list, missing: list) -> None:
    """The conditions that give a node its value, shown as written (negated under a ``not``).

    A node shown as holding gets its minimal support (all parts of an ``and``, the first true
    branch of an ``or``); a false ``and`` gets its false parts (unknown parts cannot change its
    verdict, so they are not "missing" for it); a false ``or`` all its parts; an unknown node
    every part that is not true, so the reader sees each gap.
    """
    node = ev.compiled.nodes[node_id]
    value = ev.value(node_id)
    shown = value if not negated or value is None else not value
    if node.kind in ("leaf", "any"):
        conditions.append(condition(ev, node_id, negated=negated))
        if value is None and node.ast.attribute not in missing:
            missing.append(node.ast.attribute)
        return
    if node.kind == "ref":
        cond = _concept_condition(ev, node.children[0], node.name, negated)
        conditions.append(cond)
        if value is True:
            children.append(concept_proof(ev, node.name)[0])  # why it holds (also when that makes a `not` fail)
        elif value is False and shown is False:
            for attempt in concept_attempts(ev, node.name):  # a failed sub-concept: why, rule by rule
                children.append(attempt)
        elif value is None:
            needs = missing_attributes(ev, node.children[0])
            cond.needs = needs
            missing.extend(a for a in needs if a not in missing)
        return
    if node.kind == "not":
        _why(ev, node.children[0], not negated, conditions, children, missing)
        return
    if node.kind == "and" and getattr(node.ast, "gated", False):
        _why_gated(ev, node, value, negated, conditions, children, missing)
        return
    kids = node.children
    if value is True:
        picks = kids if node.kind == "and" else [next(k for k in kids if ev.value(k) is True)]
    elif value is False and node.kind == "and":
        picks = [k for k in kids if ev.value(k) is False]  # false whatever the unknown parts are: show what fails
    else:
        picks = [k for k in kids if ev.value(k) is not True]
    for kid in picks:
        _why(ev, kid, negated, conditions, children, missing)


def _why_gated(ev: Evaluation, node, value, negated: bool, conditions: list, children: list, missing: list) -> None:
    """A relevance gate (``applies when``). A test of an attribute is shown as written, with
    ``does_not_apply`` when the attribute's gate fails for the patient, and, while the gate is
    undecided, the gate's data as the data to record (relevance is asked first). A rule's gate
    is shown with its body, but when it fails or is undecided only the gate is shown."""
    gate, body = node.children
    gate_value = ev.value(gate)
    attribute = n.gated_attribute(node.ast)
    if attribute is not None:
        shown = condition(ev, body, negated=negated)
        shown.holds = None if value is None else (not value if negated else value)
        if gate_value is False:
            shown.does_not_apply = n.relevance_source(node.ast)
        elif gate_value is None:
            shown.needs = missing_attributes(ev, gate)
            missing.extend(a for a in shown.needs if a not in missing)
        conditions.append(shown)
        if gate_value is True and ev.value(body) is None and attribute not in missing:
            missing.append(attribute)
        return
    if gate_value is True and value is not True:
        _why(ev, body, negated, conditions, children, missing)
    elif gate_value is not True:
        _why(ev, gate, negated, conditions, children, missing)
    else:  # both hold: the gate's support, but what the body shows anyway (its setting) once
        gate_conditions: list = []
        gate_children: list = []
        _why(ev, gate, negated, gate_conditions, gate_children, missing)
        body_conditions: list = []
        body_children: list = []
        _why(ev, body, negated, body_conditions, body_children, missing)
        shown = {_shown_key(c) for c in body_conditions}
        derived = {(c.conclusion, c.rule.id) for c in body_children}
        conditions.extend(c for c in gate_conditions if _shown_key(c) not in shown)
        conditions.extend(body_conditions)
        children.extend(c for c in gate_children if (c.conclusion, c.rule.id) not in derived)
        children.extend(body_children)


def _shown_key(c: r.Condition) -> tuple:
    return (c.concept, c.attribute, c.op, c.negated, c.expected.to_json() if c.expected is not None else None)


# ---- proofs ---------------------------------------------------------------------------------

def weakest_link(proof: r.ProofNode) -> r.WeakestLink:
    """The lowest evidence level and the lowest agreement anywhere in a proof."""
    link = r.WeakestLink()
    stack = [proof]
    while stack:
        node = stack.pop()
        rank = evidence_rank(node.evidence)
        if rank is not None and (link.evidence is None or rank > evidence_rank(link.evidence)):
            link.evidence, link.evidence_rule = node.evidence, node.rule.id
        if node.consensus is not None and (link.consensus is None or node.consensus < link.consensus):
            link.consensus, link.consensus_rule = node.consensus, node.rule.id
        stack.extend(node.children)
    return link


def rule_proof(ev: Evaluation, rule_id: str, conclusion: str | None = None, root: bool = True,
               avoids: list[str] | None = None) -> r.ProofNode:
    """The proof of a rule that holds; a contraindication's names the items it ``avoids`` (its
    ``conclusion`` is then worded by the report, like every sentence)."""
    compiled = ev.compiled
    rule = compiled.rule(rule_id)
    rid = compiled.rule_node[rule_id]
    conditions: list = []
    children: list = []
    _why(ev, compiled.nodes[rid].children[0], False, conditions, children, [])
    proof = r.ProofNode(
        conclusion=(rule.name or rule.id) if conclusion is None else conclusion, kind=rule_kind(rule),
        rule=rule_ref(rule), source=source_ref(compiled, rule),
        conditions=conditions, children=children, strength=rule.strength if rule.kind == "recommendation" else None,
        evidence=rule.evidence, consensus=rule.consensus.value if rule.consensus else None, avoids=avoids)
    if root:
        proof.weakest_link = weakest_link(proof)
    return proof


def concept_proof(ev: Evaluation, name: str) -> list[r.ProofNode]:
    """Every derivation of a concept that holds: one proof per rule that fired."""
    compiled = ev.compiled
    rules = compiled.nodes[compiled.concept_node[name]].children
    return [rule_proof(ev, compiled.nodes[rid].rule, name, root=False) for rid in rules if ev.value(rid) is True]


# ---- why not --------------------------------------------------------------------------------

def rule_kind(rule: n.Rule) -> str:
    """What a rule concludes, as the contract names it: concept (a concept or a setting),
    recommendation, not_recommended (a `do not recommend` statement) or contraindication."""
    if rule.kind in ("concept", "setting"):
        return "concept"
    if rule.kind == "recommendation" and rule.polarity == "do_not_recommend":
        return "not_recommended"
    return rule.kind


def rule_attempt(ev: Evaluation, rule_id: str, conclusion: str, regimen_node: int | None = None,
                 top: bool = False) -> r.Attempt:
    """Why a rule does not conclude its goal: the conditions that fail or miss data, and, for
    a regimen whose rule holds, the contraindications that remove it (``removed_by``) or that
    are undecided (``pending``: the attempt is then undecided too)."""
    compiled = ev.compiled
    rule = compiled.rule(rule_id)
    rid = compiled.rule_node[rule_id]
    failed: list = []
    missing: list = []
    children: list = []
    value = ev.value(rid)
    cond = compiled.nodes[rid].children[0]
    if value is not True:
        _why(ev, cond, False, failed, children, missing)
    removed, pending = [], []
    if regimen_node is not None and value is True:
        removed = removals(ev, regimen_node)
        pending = pending_contraindications(ev, regimen_node)
        value = False if removed else None if pending else True
        for item in pending:
            missing.extend(a for a in item.missing if a not in missing)
    gate = n.gate_parts(compiled.nodes[cond].ast)
    applies = ev.value(compiled.nodes[cond].children[0]) if gate is not None else None
    return r.Attempt(conclusion=conclusion, rule=rule_ref(rule), source=source_ref(compiled, rule), holds=value,
                     failed=failed, missing=missing, children=children, removed_by=removed, pending=pending,
                     to_hold=changes_to_hold(ev, cond) if top and ev.value(rid) is not True and applies is not False else None,
                     applies_when=n.relevance_source(compiled.nodes[cond].ast) if gate is not None else None,
                     applies=applies)


def removals(ev: Evaluation, regimen_node: int) -> list[r.Removal]:
    out = []
    for cid in ev.removed.get(regimen_node, []):
        crule = ev.compiled.rule(cid)
        out.append(r.Removal(rule=rule_ref(crule), reason=crule.reason, source=source_ref(ev.compiled, crule),
                             proof=rule_proof(ev, cid, "", avoids=[i for (i,) in crule.regimens])))
    return out


def concept_attempts(ev: Evaluation, name: str) -> list[r.Attempt]:
    compiled = ev.compiled
    rules = compiled.nodes[compiled.concept_node[name]].children
    return _nearest_first([rule_attempt(ev, compiled.nodes[rid].rule, name) for rid in rules])


def _nearest_first(attempts: list[r.Attempt]) -> list[r.Attempt]:
    def distance(a: r.Attempt):
        fixes = len(a.to_hold) if a.to_hold is not None else 10**6
        return (sum(1 for c in a.failed if c.holds is False), fixes, len(a.missing), a.rule.file, a.rule.line)
    return sorted(attempts, key=distance)


# ---- goals ----------------------------------------------------------------------------------

class Goal:
    """What an explain/why-not goal names: a concept, a regimen id, or a rule id; and its
    ``kind`` as the contract names it (concept, recommendation, not_recommended,
    contraindication). A regimen id that some rule recommends is a recommendation, even if
    another says not to (that statement is shown as a conflict); one only `do not recommend`
    statements name is not_recommended.

    Raises :class:`GoalError` for a name the knowledge base does not know, with a hint."""

    def __init__(self, compiled, text: str):
        self.text = text
        self.concept = text if text in compiled.concept_node else None
        regimens = [k for k in compiled.regimens if compiled.nodes[k].name == text]
        self.regimens = [k for k in regimens if compiled.rule(compiled.nodes[k].rule).polarity == "recommend"]
        self.statements = [k for k in regimens if compiled.rule(compiled.nodes[k].rule).polarity == "do_not_recommend"]
        self.rule = text if text in compiled.rule_node and not self.concept and not regimens else None
        if not (self.concept or regimens or self.rule):
            known = list(compiled.concept_node) + sorted({compiled.nodes[k].name for k in compiled.regimens}) + list(compiled.rule_node)
            # a regimen written in another order is the same regimen
            if "+" in text and n.regimen_id(tuple(text.split("+"))) in known:
                raise GoalError(f"unknown goal '{text}'; recommendation ids list their items in alphabetical order: "
                                f"'{n.regimen_id(tuple(text.split('+')))}'")
            close = difflib.get_close_matches(text, known, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise GoalError(f"unknown goal '{text}': not a concept, recommendation id or rule id in this knowledge base{hint}")
        if self.concept:
            self.kind = "concept"
        elif self.rule:
            self.kind = rule_kind(compiled.rule(self.rule))
        else:
            self.kind = "recommendation" if self.regimens else "not_recommended"

    def roots(self, compiled) -> list[int]:
        """The nodes whose closure an explanation of this goal reads (see plan.closure): the
        goal, and for a recommendation the `do not recommend` statements covering it."""
        if self.concept:
            return [compiled.concept_node[self.concept]]
        if self.rule:
            return [compiled.rule_node[self.rule]]
        items = {i for k in self.regimens for i in compiled.nodes[k].items}
        return self.regimens + self.statements + [compiled.rule_node[s] for s in covering(compiled, items)]


VERDICT = {True: "holds", False: "fails", None: "undecided"}


def _goal_verdict(ev: Evaluation, goal: Goal) -> tuple[bool | None, bool, list[int]]:
    """(exact verdict of the goal, whether exact, the nodes that carry it)."""
    compiled = ev.compiled
    if goal.concept:
        nodes = [compiled.concept_node[goal.concept]]
    elif goal.rule:
        nodes = [compiled.rule_node[goal.rule]]
    elif goal.regimens:
        nodes = goal.regimens
    else:
        nodes = [compiled.rule_node[compiled.nodes[k].rule] for k in goal.statements]
    values = [ev.verdict(k) for k in nodes]
    value = True if True in values else None if None in values else False
    return value, all(ev.exact(k) for k in nodes), nodes


def _cases(ev: Evaluation, node_id: int, explain_in) -> list[r.Case]:
    """For a conclusion certain by case analysis (Kleene's logic alone leaves it undecided):
    each case of the missing data, with the proof in that case where the case names values
    a record can hold (see :meth:`Completion.branches`)."""
    from .evaluate import evaluate_goals
    from .exact import completion
    from .suggest import record_value
    from ..errors import PatientError
    from ..records.patient import validate

    compiled = ev.compiled
    done = completion(compiled)
    out = []
    for answers, value in done.branches(ev.patient.values, node_id):
        if answers is None:
            break
        assume, groups = {}, False
        for attr, group, answer in answers:
            if group is None:
                assume[attr] = answer
            else:
                groups = True
                members = done.group_members(node_id, attr, group)
                assume.setdefault(attr, {}).setdefault("has_any_of" if answer else "has_none_of", []).extend(
                    m if isinstance(m, str) else dict(m) for m in members)
        proof = None
        if not groups and value is True:
            raw = dict(ev.patient.given)
            for attr, val in assume.items():
                raw[attr] = record_value(val, compiled.checked.attributes[attr].type.kind)
            try:
                variant = validate(raw, compiled.checked, ev.patient.source)
            except PatientError:
                variant = None
            if variant is not None:
                proof = explain_in(evaluate_goals(compiled, ev.backend, variant, [node_id]))
        out.append(r.Case(assume=assume, holds=value, proof=proof))
    return out


def explain(ev: Evaluation, goal_text: str) -> r.Explanation:
    """The proof of a goal, with its kind and exact verdict (CONTRACT §4): ``holds`` is
    True/False when decided and None when undecided. A goal certain only by case analysis
    has ``cases`` (one proof per case) instead of one ``proof``. Raises GoalError."""
    goal = Goal(ev.compiled, goal_text)
    compiled = ev.compiled
    value, exact, nodes = _goal_verdict(ev, goal)
    out = r.Explanation(goal=goal_text, kind=goal.kind, verdict=VERDICT[value], holds=value, exact=exact)
    if value is None:
        for k in nodes:
            out.missing.extend(a for a in missing_attributes(ev, k) if a not in out.missing)
    if goal.concept:
        proofs = concept_proof(ev, goal.concept)
        if value is True and not proofs:
            out.cases = _cases(ev, nodes[0], lambda e: (concept_proof(e, goal.concept) or [None])[0])
    elif goal.rule:
        proofs = [rule_proof(ev, goal.rule)] if ev.value(nodes[0]) is True else []
        if value is True and not proofs:
            out.cases = _cases(ev, nodes[0], lambda e: rule_proof(e, goal.rule) if e.value(nodes[0]) is True else None)
    elif goal.regimens:
        proofs = []
        for kid in goal.regimens:
            node = compiled.nodes[kid]
            if ev.value(kid) is True:
                proofs.append(rule_proof(ev, node.rule, node.name))
            elif ev.verdict(compiled.rule_node[node.rule]) is True:
                out.removed_by.extend(removals(ev, kid))
                out.pending.extend(pending_contraindications(ev, kid))
        out.pending.extend(pending_statements(ev, {i for k in goal.regimens for i in compiled.nodes[k].items}))
        if proofs:
            out.removed_by = []
        out.conflicts = [rule_proof(ev, compiled.nodes[k].rule, compiled.nodes[k].name) for k in _holding_statements(ev, goal)]
        if value is True and not proofs:
            first = next(k for k in goal.regimens if ev.verdict(k) is True)
            rule_id = compiled.nodes[first].rule
            out.cases = _cases(ev, first, lambda e: rule_proof(e, rule_id, goal_text) if e.value(first) is True else None)
    else:  # a `do not recommend` statement: its proof is the statement's
        proofs = [rule_proof(ev, compiled.nodes[k].rule, compiled.nodes[k].name) for k in goal.statements
                  if ev.value(compiled.rule_node[compiled.nodes[k].rule]) is True]
    if value is True:
        out.proof, out.alternatives = (proofs[0], proofs[1:]) if proofs else (None, [])
    return out


def _holding_statements(ev: Evaluation, goal: Goal) -> list[int]:
    """The regimen nodes of `do not recommend` statements covering a recommendation goal
    that hold for the patient: shown as conflicts, never as support."""
    compiled = ev.compiled
    items = {i for k in goal.regimens for i in compiled.nodes[k].items}
    sids = set(covering(compiled, items))
    return [k for k in compiled.regimens if compiled.nodes[k].rule in sids
            and ev.verdict(compiled.rule_node[compiled.nodes[k].rule]) is True]


def why_not(ev: Evaluation, goal_text: str) -> r.WhyNot:
    """Why a goal does not hold (or is undecided): one attempt per rule that could conclude
    it, nearest miss first. When it holds, says so with its proof. Raises GoalError."""
    goal = Goal(ev.compiled, goal_text)
    compiled = ev.compiled
    explanation = explain(ev, goal_text)
    out = r.WhyNot(goal=goal_text, kind=goal.kind, verdict=explanation.verdict, holds=explanation.holds,
                   exact=explanation.exact, missing=explanation.missing)
    if explanation.holds:
        out.proof, out.cases = explanation.proof, explanation.cases
        return out
    if goal.concept:
        rules = compiled.nodes[compiled.concept_node[goal.concept]].children
        out.attempts = _nearest_first([_verified(ev, goal, rule_attempt(ev, compiled.nodes[rid].rule, goal.concept, top=True))
                                       for rid in rules])
    elif goal.rule:
        out.attempts = [_verified(ev, goal, rule_attempt(ev, goal.rule, goal.rule, top=True))]
    else:
        kids = goal.regimens or goal.statements
        out.attempts = _nearest_first([_verified(ev, goal, rule_attempt(ev, compiled.nodes[k].rule, compiled.nodes[k].name,
                                                                        k if goal.regimens else None, top=True),
                                                 k if goal.regimens else None) for k in kids])
        out.attempts.sort(key=lambda a: 0 if a.removed_by else 1)
        out.pending = [p for p in explanation.pending if p.kind == "not_recommended"]
    return out


def _verified(ev: Evaluation, goal: Goal, attempt: r.Attempt, regimen_node: int | None = None) -> r.Attempt:
    """The attempt, its change (``to_hold``, which makes the RULE hold) checked against the
    GOAL: the attempt says the goal's verdict on the changed record (``to_hold_verdict``) and,
    for a regimen, what would still stand against it — the contraindications that would still
    remove it, those (and the statements against it) that would be undecided, and the `do not
    recommend` statements that would hold. Nothing here proposes to change what a
    contraindication tests (a recorded histology, say): the removal is stated, not argued away.

    For a regimen the engine is asked on the changed record: first whether the regimen
    certainly holds (the cheapest question; enough when no statement covers it), else the
    goal's whole verdict. A concept, a rule or a statement is carried by the rule's own verdict,
    which :func:`changes_to_hold` asked. A change the engine cannot check is dropped."""
    from .evaluate import evaluate_goals, holds
    from .suggest import changed_patient

    if not attempt.to_hold:
        return attempt
    if not goal.regimens or regimen_node is None:
        # a concept holds when one of its rules does, a rule or a statement is its rule: the
        # engine's verdict that the rule certainly holds on the changed record (changes_to_hold
        # asked it) is the goal's; nothing removes them (tests/test_whynot_goal.py checks it)
        attempt.to_hold_verdict = "holds"
        return attempt
    compiled = ev.compiled
    patient = changed_patient(ev, attempt.to_hold)
    if patient is None:
        attempt.to_hold = None
        return attempt
    items = compiled.nodes[regimen_node].items
    if not covering(compiled, items) and holds(compiled, ev.backend, patient, regimen_node):
        attempt.to_hold_verdict = "holds"  # certainly recommended (no contraindication can remove it), no statement against
        return attempt
    after = evaluate_goals(compiled, ev.backend, patient, goal.roots(compiled))
    value, _, _ = _goal_verdict(after, goal)
    attempt.to_hold_verdict = VERDICT[value]
    attempt.still_removed_by = list(dict.fromkeys(after.removed.get(regimen_node, [])))
    attempt.still_pending = pending_contraindications(after, regimen_node) + pending_statements(after, items)
    attempt.still_against = list(dict.fromkeys(compiled.nodes[k].rule for k in _holding_statements(after, goal)))
    return attempt
