"""An independent reference evaluator: Kleene three-valued logic over the AST, in plain Python.

It shares nothing with the compiler or the Datalog engine, so agreement between the two is
evidence that the compiled program — and every explanation read off it — is faithful.
"""
from __future__ import annotations

import operator

from oncologic.lang import nodes as n
from oncologic.reason import results as r

OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _const(v):
    if isinstance(v, n.Quantity):
        return v.value
    if isinstance(v, n.Symbol):
        return v.name
    if isinstance(v, n.BoolValue):
        return v.value
    if isinstance(v, n.DateValue):
        return v.iso
    return v.value


def k_and(values):
    values = list(values)
    if any(v is False for v in values):
        return False
    return True if all(v is True for v in values) else None


def k_or(values):
    values = list(values)
    if any(v is True for v in values):
        return True
    return False if all(v is False for v in values) else None


def k_not(v):
    return None if v is None else not v


class Oracle:
    def __init__(self, compiled, patient, known=None):
        self.kb = compiled.checked
        self.compiled = compiled
        self.values = patient.values
        self.known = set(self.values) if known is None else known  # what `is known` reads: the record as given
        self._concepts: dict[str, bool | None] = {}

    def has(self, attr: str, item: str) -> bool | None:
        members = self.values[attr]
        if self.kb.attributes[attr].type.kind == "item_set":
            if any(x == item or item in self.kb.ancestors(x) for x in members):
                return True
            # a class recorded in place of a drug: each of its members may be the one given
            vague = any(item != x and x in self.kb.ancestors(item) for x in members)
            return None if vague else False
        return item in members

    def record(self, cond, rec: dict) -> bool:
        if isinstance(cond, n.And):
            return all(self.record(c, rec) for c in cond.items)
        if isinstance(cond, n.Or):
            return any(self.record(c, rec) for c in cond.items)
        if isinstance(cond, n.Not):
            return not self.record(cond.item, rec)
        if isinstance(cond, n.Compare):
            return OPS[cond.op](rec[cond.attribute], _const(cond.value))
        if isinstance(cond, n.OneOf):
            return rec[cond.attribute] in [_const(v) for v in cond.values]
        raise AssertionError(cond)

    def cond(self, c) -> bool | None:
        if isinstance(c, n.And):
            return k_and(self.cond(x) for x in c.items)
        if isinstance(c, n.Or):
            return k_or(self.cond(x) for x in c.items)
        if isinstance(c, n.Not):
            return k_not(self.cond(c.item))
        if isinstance(c, n.ConceptRef):
            return self.concept(c.name)
        if isinstance(c, n.IsKnown):
            return c.attribute in self.known
        if c.attribute not in self.values:
            return None
        value = self.values[c.attribute]
        if isinstance(c, n.Compare):
            return OPS[c.op](value, _const(c.value))
        if isinstance(c, n.OneOf):
            return value in [_const(v) for v in c.values]
        if isinstance(c, n.Has):
            return k_or(self.has(c.attribute, _const(v)) for v in c.values)
        if isinstance(c, n.IsEmpty):
            return len(value) == 0
        if isinstance(c, n.AnyRecord):
            return any(self.record(c.condition, rec) for rec in value)
        raise AssertionError(c)

    def concept(self, name: str) -> bool | None:
        if name not in self._concepts:
            self._concepts[name] = k_or(self.rule(r.id) for r in self.kb.rules_for(name))
        return self._concepts[name]

    def rule(self, rule_id: str) -> bool | None:
        return self.cond(self.compiled.rule(rule_id).condition)

    def node(self, node) -> bool | None:
        """The value the engine should give a compiled node."""
        if node.kind in ("leaf", "any", "and", "or", "not"):
            return self.cond(node.ast)
        if node.kind in ("ref", "concept"):
            return self.concept(node.name)
        if node.kind == "rule":
            return self.rule(node.rule)
        if node.kind == "population":  # a recommendation's soft `population`: read for a flag only
            return self.cond(self.compiled.rule(node.rule).population)
        if node.kind == "regimen":  # recommended: its rule holds and no contraindication that can remove it does
            blockers = self.compiled.removals.get(node.id, [])
            return k_and([self.rule(node.rule)] + [k_not(self.rule(c)) for c in blockers])
        raise AssertionError(node)


# ---- re-checking explanations against the record ----------------------------------------

def check_condition(oracle, cond: r.Condition, negated_ok=True):
    """A shown condition re-checked on the record: its attribute's actual value is the record's.
    A test of an attribute shown as not applicable (``applies when`` fails): the attribute is
    absent and its ``applies when`` is false on the record."""
    if cond.does_not_apply is not None:
        assert cond.attribute not in oracle.values, cond.text
        gate = oracle.kb.attributes[cond.attribute].applies
        assert gate is not None and oracle.cond(gate) is False, cond.text
        assert cond.holds is (cond.negated is True), cond.text  # every test fails; its negation holds
        return
    if cond.attribute is not None and cond.op in ("is known", "is unknown"):
        assert cond.holds == ((cond.attribute in oracle.values) == (cond.op == "is known")), cond.text
    elif cond.attribute is not None:
        values = oracle.values
        if cond.holds is None and cond.attribute in values:  # only a class recorded in place of the item tested
            assert oracle.kb.attributes[cond.attribute].type.kind == "item_set", cond.text
            assert any(oracle.kb.members(x) - {x} for x in values[cond.attribute]), cond.text
        elif cond.holds is None:
            assert cond.actual is None
        else:
            assert cond.attribute in values, cond.text
    if cond.concept is not None and cond.holds is not None:
        value = oracle.concept(cond.concept)
        assert value == (not cond.holds if cond.op == "not" else cond.holds), cond.text


def check_proof(oracle, node: r.ProofNode, compiled):
    rule = compiled.rule(node.rule.id)
    assert oracle.rule(rule.id) is True, f"proof uses rule {rule.id}, which does not hold"
    for cond in node.conditions:
        assert cond.holds is True, cond.text
        check_condition(oracle, cond)
    for child in node.children:
        assert oracle.concept(child.conclusion) is True
        check_proof(oracle, child, compiled)


def check_attempt(oracle, attempt: r.Attempt, compiled):
    value = oracle.rule(attempt.rule.id)
    if attempt.removed_by or attempt.pending:
        assert value is True
        for pending in attempt.pending:  # an undecided contraindication: its rule is unknown
            assert oracle.rule(pending.rule.id) is None
    else:
        assert value is not True, f"why-not lists rule {attempt.rule.id} as failing, but it holds"
    for cond in attempt.failed:
        assert cond.holds is not True, cond.text
        check_condition(oracle, cond)
    for attr in attempt.missing:  # absent, or a set of items naming a class
        assert attr not in oracle.values or any(oracle.kb.members(x) - {x} for x in oracle.values[attr]), \
            f"{attr} reported missing but present"
    for child in attempt.children:
        if isinstance(child, r.Attempt):
            check_attempt(oracle, child, compiled)
        else:
            check_proof(oracle, child, compiled)


# ---- why-not suggestions keep their promise -------------------------------------------------

def apply_changes(record: dict, changes, checked) -> dict:
    """A record with a why-not attempt's ``to_hold`` applied (a what-if on a duration derived
    from dates replaces the dates it came from)."""
    out = dict(record)
    for c in changes:
        if c.action == "set" or c.action == "record":
            out[c.attribute] = c.value
            for source in checked.attributes[c.attribute].derive or ():
                out.pop(source, None)
        elif c.action == "add":
            out[c.attribute] = sorted(set(out.get(c.attribute) or []) | {c.value})
        elif c.action == "remove":
            out[c.attribute] = [x for x in out.get(c.attribute, []) if x not in c.value]
        elif c.action == "unset":
            out.pop(c.attribute, None)
    return out


def check_suggestions(kb, record: dict, goal: str, wn: r.WhyNot) -> int:
    """Every change a why-not proposes keeps its promise, on the record with the change applied:
    the rule holds (oracle); a change said to make the GOAL hold makes it hold (engine, and the
    oracle never finds it false), with no statement against it; one said not to leaves the goal
    with the verdict it states, removed by exactly the contraindications it names (each holds by
    the oracle) and with exactly the statements against it that it names. The number checked."""
    from oncologic.reason.conclude import covering
    from oncologic.reason.evaluate import holds
    from oncologic.report.words import ENGLISH

    compiled = kb.compiled
    count = 0
    for attempt in wn.attempts:
        if not attempt.to_hold:
            continue
        where = (goal, attempt.rule.id, [c.text or (c.attribute, c.action, c.value) for c in attempt.to_hold])
        assert attempt.to_hold_verdict in ("holds", "fails", "undecided"), where
        changed = kb.patient(apply_changes(record, attempt.to_hold, compiled.checked))
        oracle = Oracle(compiled, changed)
        assert oracle.rule(attempt.rule.id) is True, where
        regimen = next((k for k in compiled.regimens if compiled.nodes[k].rule == attempt.rule.id
                        and compiled.rule(attempt.rule.id).polarity == "recommend"), None)
        if ENGLISH.goal_would_hold(attempt):
            assert not (attempt.still_removed_by or attempt.still_pending or attempt.still_against), where
            node = regimen if regimen is not None else compiled.concept_node.get(goal, compiled.rule_node.get(goal))
            if node is None:  # a `do not recommend` statement: its rule
                node = compiled.rule_node[attempt.rule.id]
            assert holds(compiled, kb.backend, changed, node) or kb.explain(changed, goal).holds is True, where
            assert oracle.node(compiled.nodes[node]) is not False, where
            if regimen is not None:
                assert all(oracle.rule(s) is not True for s in covering(compiled, compiled.nodes[regimen].items)), where
        else:
            after = kb.explain(changed, goal)
            assert after.verdict == attempt.to_hold_verdict, where
            assert regimen is not None, where  # only a regimen can stay removed or contested
            assert sorted(kb.run(changed).removed.get(regimen, [])) == sorted(attempt.still_removed_by), where
            assert all(oracle.rule(c) is True for c in attempt.still_removed_by), where
            assert all(oracle.rule(p.rule.id) is not True for p in attempt.still_pending), where
            assert [c.rule.id for c in after.conflicts] == attempt.still_against, where
        count += 1
    return count
