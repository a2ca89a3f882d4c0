"""The oracle's completion mode: a conclusion's exact verdict by brute force.

Every completion of the missing attributes over representative values is evaluated with the
independent oracle (tests/oracle.py, two-valued once nothing is missing): a conclusion is
*certain* when it holds in every completion, *false* when in none, *possible* otherwise.

The representative values are read from the knowledge base's own text (the AST), not from the
engine: each enum value; true and false; for ordered attributes each constant any rule
compares the attribute with, a value either side and between (within the declared range); for
sets, every subset of at most two of the items rules mention (items grouped by the mentioned
names they match, through the class hierarchy); for lists of records, no record or one
record of each combination of the field values rules compare with. ``is known`` is a test of
the record as given, so it reads the record, not the completion.
"""
from __future__ import annotations

import datetime as dt
import itertools
import math

from oncologic.lang import nodes as n

from oracle import Oracle


class _Values:
    """A stand-in for a Patient: just the values the oracle reads."""

    def __init__(self, values: dict):
        self.values = values


def mentioned(kb) -> dict[str, list]:
    """attribute (or 'attr.field') -> the constants rules compare it with, in the whole KB."""
    out: dict[str, list] = {}

    def visit(cond, prefix=None):
        for node in n.walk(cond):
            if isinstance(node, n.AnyRecord):
                for inner in n.walk(node.condition):
                    if isinstance(inner, (n.Compare, n.OneOf)):
                        key = f"{node.attribute}.{inner.attribute}"
                        vals = [inner.value] if isinstance(inner, n.Compare) else list(inner.values)
                        out.setdefault(key, []).extend(n.constant(v) for v in vals)
            elif isinstance(node, (n.Compare, n.OneOf, n.Has)):
                vals = [node.value] if isinstance(node, n.Compare) else list(node.values)
                out.setdefault(node.attribute, []).extend(n.constant(v) for v in vals)
    for rule in kb.rules:
        if rule.condition is not None:
            visit(rule.condition)
    return out


def _ordered(constants, low, high, integral):
    cs = sorted(set(constants))
    if not cs:
        return [low if low is not None else 0]
    pts = set()
    for c in cs:
        pts.update({c - 1, c, c + 1})
        if not integral:
            pts.update({c - 0.5, c + 0.5})
    pts = [p for p in pts if (low is None or p >= low) and (high is None or p <= high)]
    return sorted(pts)


def _single(spec, constants):
    kind = spec.kind
    if kind == "enum":
        return list(spec.values)
    if kind == "bool":
        return [True, False]
    if kind == "string":
        return list(dict.fromkeys(constants)) + ["<other>"]
    if kind == "date":
        days = sorted({dt.date.fromisoformat(c) for c in constants}) or [dt.date(2026, 1, 1)]
        one = dt.timedelta(days=1)
        return sorted({d.isoformat() for c in days for d in (c - one, c, c + one)})
    low = spec.low.value if spec.low is not None else None
    high = spec.high.value if spec.high is not None else None
    return _ordered(constants, low, high, integral=kind == "int")


def representatives(kb, attribute: str, constants: dict) -> list:
    """The values a missing attribute takes in the completions."""
    spec = kb.attributes[attribute].type
    kind = spec.kind
    if kind == "set" or kind == "item_set":
        names = set(constants.get(attribute, []))
        if kind == "set":
            universe = list(spec.values)
        else:
            parents = {c for item in kb.items.values() for c in item.isa}
            universe = sorted(x for x in kb.items if x not in parents)
        groups: dict[frozenset, str] = {}
        for x in universe:
            sig = frozenset(v for v in names if v == x or (kind == "item_set" and v in kb.ancestors(x)))
            groups.setdefault(sig, x)
        reps = list(groups.values())
        return [frozenset(c) for size in (0, 1, 2) for c in itertools.combinations(reps, size)]
    if kind == "record_list":
        axes = []
        for fld in spec.fields:
            axes.append([(fld.name, v) for v in _single(fld.type, constants.get(f"{attribute}.{fld.name}", []))])
        return [()] + [(dict(combo),) for combo in itertools.product(*axes)]
    return _single(spec, constants.get(attribute, []))


class CompletionOracle:
    """Exact verdicts of every conclusion for a record with a few missing attributes."""

    def __init__(self, compiled, values: dict, missing: list[str]):
        self.compiled = compiled
        kb = compiled.checked
        constants = mentioned(kb)
        self.axes = [[(a, v) for v in representatives(kb, a, constants)] for a in missing]
        self.values = values

    def size(self) -> int:
        return math.prod(len(a) for a in self.axes)

    def verdicts(self, nodes) -> dict[int, bool | None]:
        """node id -> True (every completion), False (none) or None (some)."""
        seen: dict[int, set] = {node.id: set() for node in nodes}
        for combo in itertools.product(*self.axes):
            values = dict(self.values)
            values.update(combo)
            oracle = Oracle(self.compiled, _Values(values), known=set(self.values))  # `is known` reads the record
            for node in nodes:
                seen[node.id].add(exact_node(oracle, node))
        out = {}
        for nid, vals in seen.items():
            assert None not in vals, (nid, "a completion left a conclusion unknown")
            out[nid] = vals.pop() if len(vals) == 1 else None
        return out


def exact_node(oracle: Oracle, node):
    """A conclusion's value: the oracle's (Kleene's, for a record with missing data)."""
    return oracle.node(node)
