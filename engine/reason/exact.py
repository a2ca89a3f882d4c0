"""Exact verdicts under missing data: what holds for every completion of the record.

In: the compiled knowledge base, a patient's values (canonical units) and the engine's
three-valued verdict of a conclusion.
Out: the conclusion's exact verdict — ``True`` (certain: it holds for every completion of the
missing data within the declared domains), ``False`` (it holds for none), ``None`` (possible:
for some, not for others) — and whether that answer is exact or only Kleene-sound because the
case analysis it needs would be larger than ``MAX_CASES``.

Why: the compiled rails implement Kleene's three-valued logic, which is sound but not
complete. ``transformation in (sclc, squamous)`` in one rule and ``transformation = none`` in
another make a concept true whatever the transformation is, yet while it is absent each rule
is unknown, and so is the concept.

How: a formula in which every unknown condition is an independent yes/no question occurring
with one polarity only is decided exactly by Kleene's logic (it is monotone in each of them).
So each conclusion's node graph is read once to find its *entangled* attributes: those read
by more than one distinct condition (``histology = sclc`` and ``histology = squamous`` exclude
each other), read under both polarities (a contraindication, a ``not``), or read by a
condition that cannot take both values within the declared domain (``ecog <= 4``). Only when
an unknown conclusion misses an entangled attribute is there a case analysis: each such
attribute takes every representative value (each enum value; each point and region between
the constants the conditions compare it with; each combination of the set members they test,
items grouped by the classes they are tested through), and the conclusion is evaluated under
each case with Kleene's logic on the remaining absent attributes — which are not entangled,
so each case is decided exactly. Certain when every case is true, false when every case is
false, otherwise possible. A few seeded random cases first look for two that disagree (or one
left unknown), which shows most undecided conclusions so at once; the search, which prunes a
branch as soon as Kleene's logic decides it and asks the most used question first, proves the
certain ones.

``X is known`` is a test of the record as given (data present or not), so it is read on the
record, never on a completion.

Limits (answered approximately, never wrongly): an absent list of records (``any ... where``)
that is entangled, and case analyses over ``MAX_CASES``. A duration derived from two dates is
completed as a free duration.
"""
from __future__ import annotations

import datetime as dt
import math
import operator
import random
from itertools import product

from ..lang import nodes as n
from ..lang.visitor import Visitor

MAX_CASES = 256

_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ORDERED = ("int", "number", "duration", "percent", "length")
_OTHER = "\x00other"  # a string no rule compares with


def k_and(values) -> bool | None:
    out: bool | None = True
    for v in values:
        if v is False:
            return False
        if v is None:
            out = None
    return out


def k_or(values) -> bool | None:
    out: bool | None = False
    for v in values:
        if v is True:
            return True
        if v is None:
            out = None
    return out


class _Leaf(Visitor):
    """The two-valued truth of a leaf condition on a present attribute's value."""

    def __init__(self, kb):
        self.kb = kb
        self._ancestors: dict[str, frozenset] = {}

    def ancestors(self, item: str) -> frozenset:
        found = self._ancestors.get(item)
        if found is None:
            found = self._ancestors[item] = frozenset(self.kb.ancestors(item))
        return found

    def has(self, attribute: str, value, item: str) -> bool | None:
        """Whether a set holds ``item``: for a set of items, a member of a class counts, and a
        class recorded in place of its members leaves each of them unknown (None)."""
        if self.kb.attributes[attribute].type.kind == "item_set":
            if any(x == item or item in self.ancestors(x) for x in value):
                return True
            return None if any(item in self.kb.members(x) for x in value) else False
        return item in value

    def visit_Compare(self, cond: n.Compare, value) -> bool:
        return _OPS[cond.op](value, n.constant(cond.value))

    def visit_OneOf(self, cond: n.OneOf, value) -> bool:
        return value in [n.constant(v) for v in cond.values]

    def visit_Has(self, cond: n.Has, value) -> bool | None:
        return k_or(self.has(cond.attribute, value, n.constant(v)) for v in cond.values)

    def visit_IsEmpty(self, cond: n.IsEmpty, value) -> bool:
        return len(value) == 0

    def visit_AnyRecord(self, cond: n.AnyRecord, value) -> bool:
        return any(self.field(cond.condition, rec) for rec in value)

    def field(self, cond, rec: dict) -> bool:
        """A condition on the fields of one record of a list."""
        return _Fields(self).visit(cond, rec)


class _Fields(Visitor):
    """The truth of a condition on the fields of one record (``any ... where (...)``)."""

    def __init__(self, leaf: _Leaf):
        self.leaf = leaf

    def visit_And(self, cond: n.And, rec: dict) -> bool:
        return all(self.visit(c, rec) for c in cond.items)

    def visit_Or(self, cond: n.Or, rec: dict) -> bool:
        return any(self.visit(c, rec) for c in cond.items)

    def visit_Not(self, cond: n.Not, rec: dict) -> bool:
        return not self.visit(cond.item, rec)

    def generic_visit(self, cond, rec: dict) -> bool:
        return self.leaf.visit(cond, rec[cond.attribute])


_COLLECTIONS = ("set", "item_set", "record_list")


class _Groups:
    """How an absent set, list of items or list of records can be completed, as seen from
    the conditions under one node: the possible members (set values; items that have no
    members of their own; record types, one per combination of the field values the
    conditions distinguish) grouped by the conditions they satisfy. Whether any member of a
    group is present is one free yes/no question; ``has``/``any ... where`` is the ``or`` of
    the groups it accepts, ``is empty`` the ``not`` of all of them."""

    def __init__(self, completion: "Completion", attribute: str, leaves: list[int]):
        kb = completion.kb
        spec = kb.attributes[attribute].type
        conds = {leaf: completion.nodes[leaf].ast for leaf in leaves}
        if spec.kind == "set":
            members = list(spec.values)
        elif spec.kind == "item_set":
            parents = {c for item in kb.items.values() for c in item.isa}
            members = sorted(name for name in kb.items if name not in parents)
        else:
            members = _record_types(completion, spec, [c.condition for c in conds.values() if isinstance(c, n.AnyRecord)])
        accepted = {leaf: _Accepted(completion, spec.kind, members).visit(cond) for leaf, cond in conds.items()}
        profiles: dict[frozenset, int] = {}
        self.members: list[list] = []  # group index -> its members
        for index, member in enumerate(members):
            profile = frozenset(leaf for leaf in conds if index in accepted[leaf])
            if profile:
                group = profiles.setdefault(profile, len(profiles))
                if group == len(self.members):
                    self.members.append([])
                self.members[group].append(member)
        self.profiles = list(profiles)  # group index -> the leaves a member of the group satisfies
        self.of_leaf = {leaf: frozenset(g for g, prof in enumerate(self.profiles) if leaf in prof
                                        or isinstance(conds[leaf], n.IsEmpty)) for leaf in conds}


class _Accepted(Visitor):
    """The members (by index) whose presence makes a ``has`` or ``any ... where`` true, or an
    ``is empty`` false."""

    def __init__(self, completion: "Completion", kind: str, members: list):
        self.completion, self.kind, self.members = completion, kind, members

    def visit_Has(self, cond: n.Has) -> frozenset:
        wanted = {n.constant(v) for v in cond.values}
        if self.kind == "item_set":
            ancestors = self.completion.leaf.ancestors
            return frozenset(i for i, m in enumerate(self.members) if m in wanted or wanted & ancestors(m))
        return frozenset(i for i, m in enumerate(self.members) if m in wanted)

    def visit_IsEmpty(self, cond: n.IsEmpty) -> frozenset:
        return frozenset(range(len(self.members)))

    def visit_AnyRecord(self, cond: n.AnyRecord) -> frozenset:
        return frozenset(i for i, m in enumerate(self.members) if self.completion.leaf.field(cond.condition, m))


def _record_types(completion: "Completion", spec: n.TypeSpec, conds: list) -> list[dict]:
    """One record per combination of the field values the conditions distinguish."""
    constants: dict[str, list] = {f.name: [] for f in spec.fields}
    for cond in conds:
        for node in n.walk(cond):
            if isinstance(node, n.Compare):
                constants[node.attribute].append(n.constant(node.value))
            elif isinstance(node, n.OneOf):
                constants[node.attribute].extend(n.constant(v) for v in node.values)
    axes = []
    for fld in spec.fields:
        values = _values(fld.type, constants[fld.name])
        axes.append([(fld.name, v) for v in values or ()])
    if math.prod(len(a) for a in axes) > 4096:
        return []
    return [dict(combo) for combo in product(*axes)]


class Completion:
    """The case analysis of one compiled knowledge base; static parts are computed once.

    ``verdict(values, node_id, kleene)`` → ``(value, exact)``.
    """

    def __init__(self, compiled):
        self.compiled = compiled
        self.nodes = compiled.nodes
        self.kb = compiled.checked
        self.leaf = _Leaf(self.kb)
        self._occ: dict[int, dict[str, frozenset]] = {}
        self._vars: dict[int, tuple] = {}
        self._attrs: dict[int, frozenset] = {}  # node -> the attributes that can leave it unknown
        self._parts: dict[int, tuple] = {}
        self._orders: dict[tuple, list] = {}

    # ---- the node graph, read once -----------------------------------------------------

    def _canon(self, nid: int) -> int:
        return self.nodes[nid].canonical

    def occurrences(self, nid: int) -> dict[str, frozenset]:
        """attribute -> {(leaf node, polarity)} for every condition that can leave the node
        unknown (``is known`` never does), polarity relative to the node."""
        if nid not in self._occ:
            node = self.nodes[nid]
            out: dict[str, set] = {}
            if node.kind in ("leaf", "any"):
                if not isinstance(node.ast, n.IsKnown):
                    out[node.ast.attribute] = {(nid, True)}
            else:
                for part, positive in self.compiled.parts(nid):
                    for attr, occ in self.occurrences(part).items():
                        out.setdefault(attr, set()).update(occ if positive else {(leaf, not pol) for leaf, pol in occ})
            self._occ[nid] = {a: frozenset(o) for a, o in out.items()}
        return self._occ[nid]

    def variables(self, nid: int) -> tuple[dict, dict, dict]:
        """The questions a case analysis of ``nid`` may have to settle, from its conditions:
        (attribute -> representative values, for single-valued attributes; attribute ->
        _Groups, for collections; attribute -> its *entangled* questions — those Kleene's
        logic may decide incompletely: ``None`` for a single-valued attribute, else the
        groups)."""
        if nid not in self._vars:
            values, groups, entangled = {}, {}, {}
            for attr, occ in self.occurrences(nid).items():
                if self.kb.attributes[attr].type.kind in _COLLECTIONS:
                    g = groups[attr] = _Groups(self, attr, sorted({leaf for leaf, _ in occ}))
                    tangled = []
                    for group in range(len(g.profiles)):
                        uses = {(leaf, pol if not isinstance(self.nodes[leaf].ast, n.IsEmpty) else not pol)
                                for leaf, pol in occ if group in g.of_leaf[leaf]}
                        if len(uses) > 1:
                            tangled.append(group)
                    if tangled or any(not g.of_leaf[leaf] for leaf, _ in occ):  # or a condition no completion satisfies
                        entangled[attr] = tangled
                    continue
                conds = [self.nodes[leaf].ast for leaf, _ in occ]
                reps = values[attr] = _values(self.kb.attributes[attr].type, _constants(conds))
                if len(occ) > 1 or {self.leaf.visit(conds[0], v) for v in reps} != {True, False}:
                    entangled[attr] = None
            self._vars[nid] = (values, groups, entangled)
        return self._vars[nid]

    # ---- a patient ----------------------------------------------------------------------

    def verdict(self, values: dict, node_id: int, kleene: bool | None, base: dict | None = None) -> tuple[bool | None, bool]:
        """The exact verdict of a node for a record with ``values`` (canonical units), given
        the engine's (Kleene) verdict ``kleene``: ``(value, exact)``. ``base``: a memo of
        Kleene's verdicts for this record with nothing assumed, to share between the
        conclusions of one patient (made if not given).

        A search over the entangled questions of the absent attributes (:meth:`branches`).
        Certain when every branch ends true, false when every branch ends false; possible as
        soon as one ends undecided or two end differently. Beyond ``MAX_CASES`` evaluations:
        Kleene's answer, not exact.
        """
        if kleene is not None:
            return kleene, True  # Kleene's logic is sound: a decided verdict holds for every completion
        # a set of items naming a class is not answered by the case analysis: an unknown left by
        # it proves nothing; only cases that disagree show the node undecided
        vague = self._vague(values, node_id)
        if self._witnesses(values, node_id, base, vague):
            return None, True
        seen: set = set()
        for answers, value in self.branches(values, node_id, base):
            if answers is None:
                return None, False  # over the bound
            seen.add(value)
            if len(seen - {None}) > 1:
                return None, True
            if None in seen and not vague:
                return None, True
        return (seen.pop(), True) if len(seen) == 1 and None not in seen else (None, not vague)

    def _vague(self, values: dict, node_id: int) -> bool:
        """Whether a set of items under the node names a class in place of its members."""
        kb = self.kb
        return any(a in values and kb.attributes[a].type.kind == "item_set"
                   and any(len(kb.members(x)) > 1 for x in values[a]) for a in self.occurrences(self._canon(node_id)))

    SAMPLES = 12

    def _witnesses(self, values: dict, node_id: int, base: dict | None, vague: bool = False) -> bool:
        """Whether a few cases, each answering every question at random (seeded by the node,
        so the answer is deterministic), already show the node undecided: one case leaves it
        unknown (the rest are free questions, so both verdicts occur), or two disagree. Most
        undecided conclusions are shown so in a few evaluations; a certain one needs
        :meth:`branches` to prove it."""
        nid = self._canon(node_id)
        questions, partial, groups, risky = self._questions(values, nid)
        if not questions and not partial and not vague:
            return True  # every absent attribute is one free question: Kleene is exact
        base = {} if base is None else base
        rng = random.Random(nid)
        seen: set = set()
        for _ in range(self.SAMPLES):
            case = dict(values)
            for attr in partial:
                partial[attr] = {}
            for attr, group, domain in questions:
                answer = domain[rng.randrange(len(domain))]
                if group is None:
                    case[attr] = answer
                else:
                    partial[attr][group] = answer
            seen.add(self._evaluate(nid, case, values, partial, groups, base, risky))
            if len(seen - {None}) > 1 or (None in seen and not vague):
                return True
        return False

    def _questions(self, values: dict, nid: int) -> tuple[list, dict, dict, frozenset]:
        """The questions a case analysis of ``nid`` asks for this record, the most used first:
        ``(attribute, group or None, answers)``; the collections answered as groups; the
        groups of each; the attributes asked about."""
        reps, groups, entangled = self.variables(nid)
        occurrences = self.occurrences(nid)
        questions = []
        for attr in occurrences:
            if attr in entangled and attr not in values:
                if attr in groups:
                    g = groups[attr]
                    questions += [(attr, i, (True, False)) for i in entangled[attr]]
                else:
                    questions.append((attr, None, reps[attr]))

        def uses(q) -> int:
            attr, group, _ = q
            occ = occurrences[attr]
            return len(occ) if group is None else sum(1 for leaf, _ in occ if group in groups[attr].of_leaf[leaf])
        questions.sort(key=lambda q: -uses(q))
        partial = {attr: {} for attr in entangled if attr in groups and attr not in values}
        risky = frozenset(q[0] for q in questions) | frozenset(partial)
        return questions, partial, groups, risky

    def branches(self, values: dict, node_id: int, base: dict | None = None):
        """The cases of a node undecided by Kleene's logic, as ``(answers, value)``: a branch of
        the search ends as soon as Kleene's logic decides the node with the questions answered
        so far (the others unknown), or when no question is left. ``answers`` is a tuple of
        ``(attribute, group, answer)``: ``group`` None for a single-valued attribute (the
        answer is its value), else the index of a group of members (answer: whether one is
        present; :meth:`group_members` names them). Yields ``(None, None)`` and stops when the
        search goes over ``MAX_CASES``; yields only ``((), value)`` when there is nothing to
        ask (``value`` None: Kleene's logic is already exact)."""
        nid = self._canon(node_id)
        questions, partial, groups, risky = self._questions(values, nid)
        if not questions:  # nothing to ask; a condition no completion satisfies may still decide it
            yield (), (self._evaluate(nid, dict(values), values, partial, groups, {} if base is None else base, risky)
                       if partial else None)
            return
        base = {} if base is None else base  # the nodes no answer changes: Kleene's verdict on the record
        budget = MAX_CASES
        attr, group, domain = questions[0]  # with nothing answered, the node is undecided (Kleene)
        stack = [(1, ((attr, group, answer),)) for answer in reversed(domain)]  # (next question, answers), depth first
        while stack:
            budget -= 1
            if budget < 0:
                yield None, None
                return
            i, answers = stack.pop()
            case = dict(values)
            for attr, group, answer in answers:
                if group is None:
                    case[attr] = answer
            for attr in partial:
                partial[attr] = {g: a for at, g, a in answers if at == attr and g is not None}
            value = self._evaluate(nid, case, values, partial, groups, base, risky)
            if value is None and i < len(questions):
                attr, group, domain = questions[i]
                stack.extend((i + 1, answers + ((attr, group, answer),)) for answer in reversed(domain))
                continue
            yield answers, value

    def group_members(self, node_id: int, attribute: str, group: int) -> list[str]:
        """The members (set values or items) of a group in :meth:`branches`' answers."""
        g = self.variables(self._canon(node_id))[1][attribute]
        return g.members[group]

    def _order(self, nid: int, risky: frozenset) -> list[int]:
        """The nodes under ``nid`` that read an attribute in ``risky``, parts before wholes."""
        key = (nid, risky)
        found = self._orders.get(key)
        if found is None:
            order: list[int] = []
            seen: set[int] = set()

            def visit(x: int) -> None:
                if x in seen or risky.isdisjoint(self._attributes(x)):
                    return
                seen.add(x)
                for part, _ in self._parts_of(x):
                    visit(part)
                order.append(x)
            visit(nid)
            found = self._orders[key] = order
        return found

    def _attributes(self, nid: int) -> frozenset:
        attrs = self._attrs.get(nid)
        if attrs is None:
            attrs = self._attrs[nid] = frozenset(self.occurrences(nid))
        return attrs

    def _parts_of(self, nid: int) -> tuple:
        found = self._parts.get(nid)
        if found is None:
            found = self._parts[nid] = tuple(self.compiled.parts(nid))
        return found

    def _evaluate(self, nid, values, record, partial, groups, base, risky) -> bool | None:
        """Kleene's verdict of ``nid`` with the answers of one case (``values``: the record and
        the single-valued answers; ``partial``: the groups answered), node by node in
        :meth:`_order`; what no answer changes comes from ``base``."""
        vals: dict[int, bool | None] = {}
        for x in self._order(nid, risky):
            node = self.nodes[x]
            if node.kind in ("leaf", "any"):
                vals[x] = self._leaf_value(x, node.ast, values, record, partial, groups)
                continue
            parts = []
            for part, positive in self._parts_of(x):
                v = vals[part] if part in vals else self._eval(part, record, record, {}, groups, base, base, frozenset())
                parts.append(v if positive or v is None else not v)
            vals[x] = k_or(parts) if node.kind in ("or", "concept") else k_and(parts)
        return vals[nid] if nid in vals else self._eval(nid, record, record, {}, groups, base, base, frozenset())

    def _leaf_value(self, nid, cond, values, record, partial, groups) -> bool | None:
        attr = cond.attribute
        if isinstance(cond, n.IsKnown):
            return attr in record  # a test of the record as given, not of a completion
        if attr in values:
            return self.leaf.visit(cond, values[attr])
        if attr in partial:
            value = k_or(partial[attr].get(g) for g in groups[attr].of_leaf[nid])
            if isinstance(cond, n.IsEmpty):
                value = None if value is None else not value
            return value
        return None

    def _eval(self, nid, values, record, partial, groups, base, memo, risky) -> bool | None:
        """Kleene's verdict of ``nid``, recursively (memo ``base`` for the nodes no answer in
        ``risky`` changes, ``memo`` for the others)."""
        table = base if risky.isdisjoint(self._attributes(nid)) else memo
        if nid in table:
            return table[nid]
        node = self.nodes[nid]
        if node.kind in ("leaf", "any"):
            value = self._leaf_value(nid, node.ast, values, record, partial, groups)
        else:
            parts = []
            for part, positive in self._parts_of(nid):
                v = self._eval(part, values, record, partial, groups, base, memo, risky)
                parts.append(v if positive or v is None else not v)
            value = k_or(parts) if node.kind in ("or", "concept") else k_and(parts)  # and, not, ref, rule, regimen
        table[nid] = value
        return value


def _constants(conds: list) -> list:
    out = []
    for cond in conds:
        if isinstance(cond, n.Compare):
            out.append(n.constant(cond.value))
        elif isinstance(cond, n.OneOf):
            out.extend(n.constant(v) for v in cond.values)
    return out


def _values(spec: n.TypeSpec, constants: list) -> tuple | None:
    """Representative values of a single-valued attribute: each enum value, each point and
    region the constants cut an ordered domain into (within the declared range)."""
    kind = spec.kind
    if kind == "enum":
        return tuple(spec.values)
    if kind == "bool":
        return (True, False)
    if kind == "string":
        return tuple(dict.fromkeys(constants)) + (_OTHER,)
    if kind in _ORDERED:
        return _points(sorted(set(constants)), spec, integral=kind == "int")
    if kind == "date":
        return _dates(sorted(set(constants)))
    return None


def _points(constants: list, spec: n.TypeSpec, integral: bool) -> tuple:
    """One value per region the constants cut a number line into, and each constant, within
    the declared range. A region's usual representative (the constant before it minus one, the
    midpoint, the constant after plus one) may fall outside the range while part of the region
    lies inside (``pd_l1_tps >= 150%`` with ``0%..100%``: the whole range is one region below
    150); then a value of that part stands for it."""
    low = spec.low.value if spec.low is not None else None
    high = spec.high.value if spec.high is not None else None

    def inside(v) -> bool:
        return (low is None or v >= low) and (high is None or v <= high) and (not integral or float(v).is_integer())

    if not constants:
        return (low if low is not None else 0,)
    out = []
    regions = [(None, constants[0])] + list(zip(constants, constants[1:])) + [(constants[-1], None)]
    for a, b in regions:
        if a is None:
            usual = b - 1
        elif b is None:
            usual = a + 1
        elif integral:
            usual = math.floor(a) + 1 if math.floor(a) + 1 < b else None
        else:
            usual = (a + b) / 2
        if usual is not None and inside(usual):
            out.append(usual)
        else:
            other = _clipped(a, b, low, high, integral)
            if other is not None:
                out.append(other)
        if b is not None and inside(b):
            out.append(b)
    return tuple(dict.fromkeys(out))


def _clipped(a, b, low, high, integral: bool):
    """A value strictly between ``a`` and ``b`` (None: unbounded) within ``[low, high]``, or None."""
    lo = low if low is not None and (a is None or low > a) else a
    hi = high if high is not None and (b is None or high < b) else b
    lo_open, hi_open = lo is a and a is not None, hi is b and b is not None
    if integral:
        first = (math.floor(lo) + 1 if lo_open or lo != math.floor(lo) else lo) if lo is not None else None
        last = (math.ceil(hi) - 1 if hi_open or hi != math.ceil(hi) else hi) if hi is not None else None
        if first is None:
            return last
        return first if last is None or first <= last else None
    if lo is None:
        return None if hi is None else (hi - 1 if hi_open else hi)
    if hi is None:
        return lo + 1 if lo_open else lo
    if lo < hi:
        return lo if not lo_open else hi if not hi_open else (lo + hi) / 2
    return lo if lo == hi and not lo_open and not hi_open else None


def _dates(constants: list) -> tuple:
    day = dt.timedelta(days=1)
    if not constants:
        return ("2000-01-01",)
    dates = [dt.date.fromisoformat(c) for c in constants]
    out = [dates[0] - day]
    for a, b in zip(dates, dates[1:]):
        out.append(a)
        if a + day < b:
            out.append(a + day)
    out += [dates[-1], dates[-1] + day]
    return tuple(dict.fromkeys(d.isoformat() for d in out))


def completion(compiled) -> Completion:
    """The case analysis of a compiled knowledge base, made on first use and kept with it."""
    found = compiled.__dict__.get("_completion")
    if found is None:
        found = compiled.__dict__["_completion"] = Completion(compiled)
    return found
