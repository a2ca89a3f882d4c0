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
from . import results as r
from ..lang import units
from .evaluate import Evaluation

_STEP = {"int": 1, "number": 1, "duration": 1, "percent": 1, "length": 1}


ROUNDS = 4


def changes_to_hold(ev: Evaluation, node_id: int) -> list[r.Change] | None:
    from ..errors import PatientError
    from .evaluate import evaluate_goals, holds
    from ..records.patient import validate

    original = {k: (sorted(v) if _is_set(v) else v) for k, v in ev.patient.given.items()}
    record = dict(original)
    texts: dict[str, str] = {}
    current = ev
    for _ in range(ROUNDS):
        plan = _merge(_fix(current, node_id, True, set()))
        if not plan:
            return None  # no simple change (or, oddly, nothing left to change)
        for change in plan:
            texts[change.attribute] = change.text
        record = _apply(record, plan)
        try:
            patient = validate(record, ev.compiled.checked, ev.patient.source)
        except PatientError:
            return None
        if holds(ev.compiled, ev.backend, patient, node_id):  # asks the engine for this one verdict only
            return _diff(original, record, texts, ev)
        current = evaluate_goals(ev.compiled, ev.backend, patient, [node_id])  # everything, to plan again
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


def _diff(before: dict, after: dict, texts: dict[str, str], ev: Evaluation) -> list[r.Change]:
    """The net change from ``before`` to ``after``, one Change per attribute (and set member)."""
    out: list[r.Change] = []
    for name in list(dict.fromkeys(list(after) + list(before))):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name not in after:
            out.append(r.Change(attribute=name, action="unset", text=texts.get(name, f"leave {name} unknown")))
        elif _is_set(new) and _is_set(old):
            for x in sorted(set(new) - set(old)):
                out.append(r.Change(attribute=name, action="add", value=x, text=f"{name}: add {x}"))
            gone = sorted(set(old) - set(new))
            if gone:
                out.append(r.Change(attribute=name, action="remove", value=gone, text=f"{name}: without {', '.join(gone)}"))
        else:
            kind = ev.compiled.checked.attributes[name].type.kind
            out.append(r.Change(attribute=name, action="set", value=new, unit=units.canonical_unit(kind),
                                text=texts.get(name, f"{'set' if name in before else 'record'} {name} = {new}")))
    return out


def _fix(ev: Evaluation, node_id: int, want: bool, seen: set) -> list[r.Change] | None:
    node = ev.compiled.nodes[node_id]
    if ev.value(node_id) is want:
        return []
    if node.kind == "leaf":
        change = _leaf_change(ev, node.ast, want)
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


def _record_value(value, kind: str):
    """A value as a patient record writes it (``"89d"``, ``"40%"``, ``"50mm"``)."""
    unit = units.canonical_unit(kind)
    return f"{units.tidy(value)}{unit}" if unit else value


def _leaf_change(ev: Evaluation, cond, want: bool) -> r.Change | None:
    kb = ev.compiled.checked
    attr = kb.attributes[cond.attribute]
    kind = attr.type.kind
    name = cond.attribute
    values = ev.patient.values
    if isinstance(cond, n.Compare):
        target = n.constant(cond.value)
        op = cond.op if want else {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}[cond.op]
        if op == "=":
            value = target
        elif op == "!=":
            value = _other(attr, target)
            if value is None:
                return None
        else:
            if kind == "date":
                return None
            step = _STEP.get(kind, 1)
            value = {"<": target - step, "<=": target, ">": target + step, ">=": target}[op]
            if isinstance(value, float):
                value = units.tidy(value)
            low = attr.type.low.value if attr.type.low is not None else None
            high = attr.type.high.value if attr.type.high is not None else None
            if (low is not None and value < low) or (high is not None and value > high):
                return None
        shown = units.show(value, kind)
        text = f"{'set' if name in values else 'record'} {name} = {shown}"
        if op not in ("=", "!="):
            text = f"{name} {op} {units.show(target, kind)}, e.g. {shown}"
            if name in ev.patient.derived:
                text += f" ({flip_date(ev, n.Compare(name, op, n.Quantity(target), cond.pos))[1]})"
        return r.Change(attribute=name, action="set", value=_record_value(value, kind), unit=units.canonical_unit(kind), text=text)
    if isinstance(cond, n.OneOf):
        allowed = [n.constant(v) for v in cond.values]
        value = allowed[0] if want else _other(attr, *allowed)
        if value is None:
            return None
        return r.Change(attribute=name, action="set", value=value, text=f"set {name} = {value}")
    if isinstance(cond, n.Has):
        items = [n.constant(v) for v in cond.values]
        if want:
            return r.Change(attribute=name, action="add", value=items[0], text=f"{name}: add {items[0]}")
        if name not in values:
            return r.Change(attribute=name, action="set", value=[], text=f"record {name} = [] (tested, none of {', '.join(items)})")
        present = sorted(x for x in values[name] if x in items or
                         (kind == "item_set" and any(i in kb.ancestors(x) for i in items)))
        return r.Change(attribute=name, action="remove", value=present, text=f"{name}: without {', '.join(present)}")
    if isinstance(cond, n.IsEmpty):
        if want:
            return r.Change(attribute=name, action="set", value=[], text=f"record {name} = [] (tested, none)")
        if kind == "set":
            return r.Change(attribute=name, action="add", value=attr.type.values[0], text=f"{name}: add {attr.type.values[0]}")
        return None
    if isinstance(cond, n.IsKnown):
        if want:
            example = _example(attr)
            return r.Change(attribute=name, action="record", value=example, text=f"record {name}")
        return r.Change(attribute=name, action="unset", text=f"leave {name} unknown")
    return None


def _other(attr: n.Attribute, *exclude):
    kind = attr.type.kind
    if kind == "enum":
        return next((v for v in attr.type.values if v not in exclude), None)
    if kind == "bool":
        return not exclude[0]
    if kind in ("int", "number", "duration", "percent", "length"):
        return _record_value(exclude[0] + 1, kind)
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
    return _record_value(low, kind)


def flip_date(ev: Evaluation, cond: n.Compare) -> tuple[str | None, str]:
    """For ``tfi < 90d`` with tfi = progression_date - first_line_end_date: the date of the
    later event from which the comparison holds or stops holding, and a sentence saying so."""
    import datetime as dt
    import math
    later, earlier = ev.patient.derived[cond.attribute]
    start = dt.date.fromisoformat(ev.patient.values[earlier])
    c = cond.value.value
    # days d = later - start: "<" holds for d < c, "<=" for d <= c, ">" for d > c, ">=" for d >= c
    first_day = {"<": math.ceil(c), "<=": math.floor(c) + 1, ">": math.floor(c) + 1, ">=": math.ceil(c)}.get(cond.op)
    if first_day is None:
        return None, ""
    date = (start + dt.timedelta(days=first_day)).isoformat()
    if cond.op in ("<", "<="):
        return date, f"holds when {later} is before {date}"
    return date, f"holds when {later} is on or after {date}"
