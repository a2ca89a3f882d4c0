"""What would make a goal hold: a small change of the record, found from the engine's
verdicts and verified by the engine.

For a node that should become true (or false, under a ``not``) this proposes changes of single
attributes — cross a threshold, set a value, add or remove a set member, record a missing
value — choosing the cheapest branch of an ``or`` (recording missing data is cheap, changing a
known fact dear) and every failing part of an ``and``. Parts are planned independently, so the
plan is applied to the record and evaluated again, and refined a few times if needed; the
answer is the net change between the record and the first variant on which the engine finds
the node true. None when no simple change is found.
"""
from __future__ import annotations

from ..lang import nodes as n
from ..lang import units
from ..lang.nodes import NEGATED_OP
from ..lang.visitor import Visitor
from . import results as r
from .evaluate import Evaluation

ROUNDS = 4
THRESHOLDS = ("<", "<=", ">", ">=")


def changes_to_hold(ev: Evaluation, node_id: int) -> list[r.Change] | None:
    from ..errors import PatientError
    from .evaluate import evaluate_goals, holds
    from ..records.patient import validate

    original = {k: (sorted(v) if _is_set(v) else v) for k, v in ev.patient.given.items()}
    record = dict(original)
    planned: dict[str, r.Change] = {}  # per attribute, the change last planned for it: what it is for
    current = ev
    for _ in range(ROUNDS):
        plan = _merge(_fix(current, node_id, True, set()))
        if not plan:
            return None  # no simple change (or, oddly, nothing left to change)
        for change in plan:
            planned[change.attribute] = change
        record = _apply(record, plan)
        try:
            # a what-if: tfi may be set beside the dates it is derived from, which the proposal keeps
            patient = validate(record, ev.compiled.checked, ev.patient.source, check_agreement=False)
        except PatientError:
            return None
        if holds(ev.compiled, ev.backend, patient, node_id):  # asks the engine for this one verdict only
            return _diff(original, record, planned, ev)
        current = evaluate_goals(ev.compiled, ev.backend, patient, [node_id])  # everything, to plan again
    return None


def changed_patient(ev: Evaluation, changes: list[r.Change]):
    """The patient of ``ev`` with ``changes`` (a :func:`changes_to_hold` answer) applied, as
    :func:`changes_to_hold` verified it; None if the changed record is not valid."""
    from ..errors import PatientError
    from ..records.patient import validate

    original = {k: (sorted(v) if _is_set(v) else v) for k, v in ev.patient.given.items()}
    try:
        return validate(_apply(original, changes), ev.compiled.checked, ev.patient.source, check_agreement=False)
    except PatientError:
        return None


def _is_set(value) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _apply(record: dict, plan: list[r.Change]) -> dict:
    out = dict(record)
    for c in plan:
        if c.action in ("set", "record"):
            out[c.attribute] = c.value
        elif c.action == "add":
            out[c.attribute] = sorted(set(out.get(c.attribute) or []) | {c.value})
        elif c.action == "remove":
            out[c.attribute] = [x for x in out.get(c.attribute, []) if x not in c.value]
        elif c.action == "unset":
            out.pop(c.attribute, None)
    return out


def _diff(before: dict, after: dict, planned: dict[str, r.Change], ev: Evaluation) -> list[r.Change]:
    """The net change from ``before`` to ``after``, one Change per attribute (and set member);
    a set or unset value says what it was planned for (its test, threshold, proposed value)."""
    out: list[r.Change] = []
    for name in list(dict.fromkeys(list(after) + list(before))):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        kind = ev.compiled.checked.attributes[name].type.kind
        plan = planned.get(name)
        if name not in after:
            out.append(_as_planned(r.Change(attribute=name, action="unset", attribute_kind=kind),
                                   plan if plan is not None and plan.action == "unset" else None))
        elif _is_set(new) and _is_set(old):
            for x in sorted(set(new) - set(old)):
                out.append(r.Change(attribute=name, action="add", value=x, attribute_kind=kind))
            gone = sorted(set(old) - set(new))
            if gone:
                out.append(r.Change(attribute=name, action="remove", value=gone, attribute_kind=kind))
        else:
            out.append(_as_planned(r.Change(attribute=name, action="set", value=new, unit=units.canonical_unit(kind),
                                            known=name in before, attribute_kind=kind), plan))
    return out


def _as_planned(change: r.Change, plan: r.Change | None) -> r.Change:
    if plan is not None:
        change.op, change.threshold, change.proposed, change.known = plan.op, plan.threshold, plan.proposed, plan.known
        change.none_of, change.flip = plan.none_of, plan.flip
    return change


def _fix(ev: Evaluation, node_id: int, want: bool, seen: set) -> list[r.Change] | None:
    node = ev.compiled.nodes[node_id]
    if ev.value(node_id) is want:
        return []
    if node.kind == "leaf":
        change = _LeafChange(ev, want).visit(node.ast)
        return None if change is None else [change]
    if node.kind == "any":
        return None
    if node.kind == "not":
        return _fix(ev, node.children[0], not want, seen)
    if node.kind == "ref":
        if (node.name, want) in seen:
            return None
        seen = seen | {(node.name, want)}
        rules = ev.compiled.nodes[node.children[0]].children
        conds = [ev.compiled.nodes[rid].children[0] for rid in rules]
        return _all(ev, conds, want, seen) if not want else _cheapest(ev, conds, want, seen)
    if node.kind in ("and", "or"):
        every = (node.kind == "and") == want  # make an `and` true / an `or` false: every part
        return _all(ev, node.children, want, seen) if every else _cheapest(ev, node.children, want, seen)
    return None


def _all(ev, kids, want, seen):
    out: list[r.Change] = []
    for kid in kids:
        fix = _fix(ev, kid, want, seen)
        if fix is None:
            return None
        out.extend(fix)
    return _merge(out)


def _cheapest(ev, kids, want, seen):
    """The option that changes least: recording missing data is cheap, changing a known fact dear."""
    options = [fix for fix in (_fix(ev, kid, want, seen) for kid in kids) if fix is not None]
    options = [o for o in (_merge(fix) for fix in options) if o is not None]
    known = ev.patient.values
    return min(options, key=lambda o: sum(10 if c.attribute in known else 1 for c in o)) if options else None


def _merge(changes: list[r.Change] | None) -> list[r.Change] | None:
    """One change per attribute and value; two different values for one attribute conflict."""
    if changes is None:
        return None
    out: list[r.Change] = []
    for change in changes:
        same = [c for c in out if c.attribute == change.attribute]
        if not same:
            out.append(change)
            continue
        for other in same:
            if other.action == change.action == "set" and other.value == change.value:
                break
            if other.action in ("add", "remove") and change.action in ("add", "remove"):
                if other.action == change.action or other.value != change.value:
                    continue
            return None
        else:
            out.append(change)
            continue
    return out


def record_value(value, kind: str):
    """A value as a patient record writes it (``"89d"``, ``"40%"``, ``"50mm"``)."""
    unit = units.canonical_unit(kind)
    return f"{units.tidy(value)}{unit}" if unit else value


class _LeafChange(Visitor):
    """The change of one attribute that makes a leaf ``want`` (true, or false under a ``not``);
    None when there is no simple one. Each says which test it makes hold (``op``, as a condition
    shows it) and what it proposes."""

    def __init__(self, ev: Evaluation, want: bool):
        self.ev = ev
        self.want = want

    def _op(self, op: str) -> str:
        return op if self.want else NEGATED_OP[op]

    def _change(self, name: str, action: str, value=None, op: str | None = None, **fields) -> r.Change:
        kind = self.ev.compiled.checked.attributes[name].type.kind
        return r.Change(attribute=name, action=action, value=value, op=op, attribute_kind=kind,
                        known=name in self.ev.patient.values, **fields)

    def visit_Compare(self, cond: n.Compare) -> r.Change | None:
        attr = self.ev.compiled.checked.attributes[cond.attribute]
        kind = attr.type.kind
        unit = units.canonical_unit(kind)
        target = n.constant(cond.value)
        op = self._op(cond.op)
        if op == "=":
            value = target
        elif op == "!=":
            value = _other(attr, target)
            if value is None:
                return None
        else:
            if kind == "date":
                return None
            # one canonical unit past the threshold (1 d, 1 mm, 1 %, or 1): an example the engine then verifies
            value = {"<": target - 1, "<=": target, ">": target + 1, ">=": target}[op]
            if isinstance(value, float):
                value = units.tidy(value)
            low = attr.type.low.value if attr.type.low is not None else None
            high = attr.type.high.value if attr.type.high is not None else None
            if (low is not None and value < low) or (high is not None and value > high):
                return None
        change = self._change(cond.attribute, "set", record_value(value, kind), op, unit=unit,
                              proposed=r.Quantity(value=value, unit=unit))
        if op in THRESHOLDS:
            change.threshold = r.Quantity(value=target, unit=unit)
            if cond.attribute in self.ev.patient.derived:
                change.flip = flip_date(self.ev, cond.attribute, op, target)
        return change

    def visit_OneOf(self, cond: n.OneOf) -> r.Change | None:
        attr = self.ev.compiled.checked.attributes[cond.attribute]
        allowed = [n.constant(v) for v in cond.values]
        value = allowed[0] if self.want else _other(attr, *allowed)
        if value is None:
            return None
        record = value if self.want else record_value(value, attr.type.kind)
        return self._change(cond.attribute, "set", record, self._op("in"), proposed=r.Quantity(value=value))

    def visit_Has(self, cond: n.Has) -> r.Change | None:
        name = cond.attribute
        kb = self.ev.compiled.checked
        items = [n.constant(v) for v in cond.values]
        op = self._op("has" if len(items) == 1 else "has any of")
        if self.want:
            return self._change(name, "add", items[0], op, proposed=r.Quantity(value=items[0]))
        values = self.ev.patient.values
        if name not in values:
            return self._change(name, "set", [], op, proposed=r.Quantity(value=[]), none_of=items)
        item_set = kb.attributes[name].type.kind == "item_set"
        present = sorted(x for x in values[name] if x in items or (item_set and any(i in kb.ancestors(x) for i in items)))
        return self._change(name, "remove", present, op)

    def visit_IsEmpty(self, cond: n.IsEmpty) -> r.Change | None:
        attr = self.ev.compiled.checked.attributes[cond.attribute]
        if self.want:
            return self._change(cond.attribute, "set", [], "is empty", proposed=r.Quantity(value=[]))
        if attr.type.kind == "set":
            first = attr.type.values[0]
            return self._change(cond.attribute, "add", first, "is not empty", proposed=r.Quantity(value=first))
        return None

    def visit_IsKnown(self, cond: n.IsKnown) -> r.Change | None:
        if self.want:
            example = _example(self.ev.compiled.checked.attributes[cond.attribute])
            return self._change(cond.attribute, "record", example, "is known", proposed=r.Quantity(value=example))
        return self._change(cond.attribute, "unset", None, "is unknown")

    def visit_AnyRecord(self, cond: n.AnyRecord) -> None:
        return None  # no single-attribute change makes a record match


def _other(attr: n.Attribute, *exclude):
    kind = attr.type.kind
    if kind == "enum":
        return next((v for v in attr.type.values if v not in exclude), None)
    if kind == "bool":
        return not exclude[0]
    if kind in ("int", "number", "duration", "percent", "length"):
        return exclude[0] + 1  # in canonical units
    return None


def _example(attr: n.Attribute):
    kind = attr.type.kind
    if kind == "enum":
        return attr.type.values[0]
    if kind == "bool":
        return True
    if kind in ("set", "item_set", "record_list"):
        return []
    if kind == "date":
        return "2026-01-01"
    if kind == "string":
        return "x"
    low = attr.type.low.value if attr.type.low is not None else 0
    return record_value(low, kind)


def flip_date(ev: Evaluation, attribute: str, op: str, threshold) -> r.Flip | None:
    """For ``tfi < 90d`` with tfi = progression_date - first_line_end_date: the date of the
    later event before which ``attribute op threshold`` holds (``<``, ``<=``), or from which on it
    holds (``>``, ``>=``); None for ``=`` and ``!=``."""
    import datetime as dt
    import math
    later, earlier = ev.patient.derived[attribute]
    start = dt.date.fromisoformat(ev.patient.values[earlier])
    c = threshold
    # days d = later - start: "<" holds for d < c, "<=" for d <= c, ">" for d > c, ">=" for d >= c
    first_day = {"<": math.ceil(c), "<=": math.floor(c) + 1, ">": math.floor(c) + 1, ">=": math.ceil(c)}.get(op)
    if first_day is None:
        return None
    date = (start + dt.timedelta(days=first_day)).isoformat()
    return r.Flip(date=date, attribute=later, holds="before" if op in ("<", "<=") else "on_or_after")
