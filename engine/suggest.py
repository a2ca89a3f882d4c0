"""What would make a goal hold: the smallest simple change of the record, read off the
engine's verdicts.

For a node that should become true (or false, under a ``not``) this finds changes of single
attributes — cross a threshold, set a value, add or remove a set member, record a missing
value — choosing the cheapest branch of an ``or`` and every failing part of an ``and``. It
gives up (None) where no simple change exists: conflicting changes of one attribute, or a
condition on records of a list.
"""
from __future__ import annotations

from . import nodes as n
from . import results as r
from . import units
from .evaluate import Evaluation

_STEP = {"int": 1, "number": 1, "duration": 1, "percent": 1, "length": 1}


def changes_to_hold(ev: Evaluation, node_id: int) -> list[r.Change] | None:
    changes = _fix(ev, node_id, True, set())
    return None if changes is None else _merge(changes)


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
        target = cond.value.value if isinstance(cond.value, n.Quantity) else (
            cond.value.name if isinstance(cond.value, n.Symbol) else cond.value.value if hasattr(cond.value, "value") else cond.value.iso)
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
        allowed = [_plain(v) for v in cond.values]
        value = allowed[0] if want else _other(attr, *allowed)
        if value is None:
            return None
        return r.Change(attribute=name, action="set", value=value, text=f"set {name} = {value}")
    if isinstance(cond, n.Has):
        items = [_plain(v) for v in cond.values]
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


def _plain(v):
    return v.name if isinstance(v, n.Symbol) else getattr(v, "value", None)


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
