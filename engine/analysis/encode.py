"""The resolved conditions of a :class:`~oncologic.model.kb.CheckedKB` as z3 formulas.

One :class:`Encoding` per knowledge base holds, for every attribute of the patient record, the
z3 variables a record is made of:

- ``known(A)``: whether the record gives A (a free Bool; true for a ``required`` attribute; for
  an attribute ``derive``d from two dates, true also when both dates are given);
- its value: an Int for ``int`` and for a ``date`` (the day number, ``date.toordinal``), a Real
  for ``number``/``duration``/``percent``/``length`` (canonical units: days, %, mm), an Int index
  for an ``enum`` (and for a ``string``: the constants the rules compare it with, and one more),
  a Bool for a ``bool``; for a ``set of VALUES`` one Bool per value; for a ``set of items`` one
  Bool per *group* of items (the items with no members of their own, grouped by the set of
  tested items and classes they belong to: what a ``has`` can tell apart, as
  :class:`oncologic.reason.exact._Groups` does per node, here for the whole knowledge base);
  for a ``list of {...}`` a bounded number of records (``present`` and a value per field):
  one per distinct ``any ... where`` condition on the list, at most :data:`MAX_RECORDS` — a
  list that satisfies a formula can be cut down to one record per ``any ... where`` it makes
  true, so the bound loses nothing up to :data:`MAX_RECORDS` conditions; a list with more is
  in :attr:`Encoding.bounded_lists`, and no proof (W401, W407, an always-true W402) is stated
  about a condition that reads it.

Two readings of a condition:

:meth:`Encoding.two` — the *completion* semantics of :mod:`oncologic.reason.exact`: every test
reads the value variables (a completion of the missing data), ``X is known`` reads the
``known`` flag (a test of the record as given), and an attribute's ``applies when`` gate is
``(A is known or G) and test`` as :mod:`oncologic.model.checks` writes it into the rules. A
rule is certain for a record only if it is true for every completion, and possible only if
for some, so if ``two(rule)`` is unsatisfiable — with the ``known`` flags free — no record
makes the rule even possible: that is a proof. (With every attribute known it would *not* be
one: ``not X is known`` and an absent gated attribute whose gate fails make conditions true
that no fully recorded patient satisfies.)

:meth:`Encoding.kleene` — Kleene's three-valued logic on a partial record, as the compiled
rails compute it: ``(t, f)``, each a Bool formula, for "certainly true" and "certainly false".
A test of an absent attribute is neither. Kleene's logic is sound for the engine's verdicts
(:mod:`oncologic.reason.exact`): a record that makes ``t`` true makes the engine say certain,
so a model of ``t`` is a *witness*. Witness records list items only (never a class in place
of its members), so a ``has`` on a recorded set is decided.

Declared ranges are constraints guarded by one assumption literal per attribute, and a tracked
encoding (:meth:`Encoding.tracked`) guards each test with a literal of its own, so that an
unsat core names the conflicting conditions and ranges (:meth:`Encoding.explain`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction

import z3

from ..values import Record
from ..lang import nodes as n
from ..lang import units
from ..lang.visitor import Visitor
from ..model.kb import CheckedKB

MAX_RECORDS = 64  # records per list of records at most (see the module docstring)
ORDERED = ("int", "number", "duration", "percent", "length", "date")
NON_NEGATIVE = ("duration", "percent", "length")  # a record cannot hold a negative one
DATE_MIN, DATE_MAX = dt.date.min.toordinal(), dt.date.max.toordinal()
TIMEOUT_MS = 5000
GRID = 10 ** 6  # a record's real value times this is whole

_OPS = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def number(value, ctx: z3.Context) -> z3.ExprRef:
    """A Python number as a z3 real constant, exactly."""
    frac = Fraction(str(value)) if isinstance(value, float) else Fraction(value)
    return z3.RealVal(f"{frac.numerator}/{frac.denominator}", ctx)


@dataclass(eq=False, repr=False)
class Track(Record):
    """What an assumption literal of a tracked encoding stands for: a test (its source text and
    position) or a declared range (the attribute)."""

    kind: str  # "test" | "range" | "conjunct"
    text: str
    pos: n.Pos
    node: object = None


class Slot:
    """The variables of one attribute (or one field of one record of a list)."""

    def __init__(self, enc: "Encoding", name: str, spec: n.TypeSpec, tag: str, strings: str | None = None):
        self.name, self.spec, self.kind = name, spec, spec.kind
        self.ctx = ctx = enc.ctx
        kind = spec.kind
        self.members: list = []
        if kind == "enum":
            self.var = z3.Int(tag, ctx)
            enc.structure.append(z3.And(self.var >= 0, self.var < len(spec.values)))
        elif kind == "bool":
            self.var = z3.Bool(tag, ctx)
        elif kind in ("int", "date"):
            self.var = z3.Int(tag, ctx)
            if kind == "date":
                enc.structure.append(z3.And(self.var >= DATE_MIN, self.var <= DATE_MAX))
        elif kind in ("number", "duration", "percent", "length"):
            self.var = z3.Real(tag, ctx)
            # a record keeps 6 decimals in the canonical unit (units.tidy): a multiple of 1e-6
            enc.structure.append(z3.IsInt(self.var * GRID))
            if kind in NON_NEGATIVE:
                enc.structure.append(self.var >= 0)
        elif kind == "string":
            self.strings = enc.strings.get(strings or name, [])  # the constants compared with it
            self.var = z3.Int(tag, ctx)
            enc.structure.append(z3.And(self.var >= 0, self.var <= len(self.strings)))
        else:
            self.var = None

    def range(self) -> list:
        """The declared range as constraints on the value."""
        spec, out = self.spec, []
        if self.kind in ("int", "number", "duration", "percent", "length"):
            if spec.low is not None:
                out.append(self.var >= self.const(spec.low))
            if spec.high is not None:
                out.append(self.var <= self.const(spec.high))
        return out

    def empty_range(self) -> bool:
        """Whether the declared range holds no value (its lower bound above its upper one)."""
        spec = self.spec
        if self.kind not in ("int", "number", "duration", "percent", "length") or spec.low is None or spec.high is None:
            return False
        return z3.is_true(z3.simplify(self.const(spec.low) > self.const(spec.high)))

    def const(self, value) -> z3.ExprRef:
        """A rule's constant for this slot, as a z3 value."""
        kind = self.kind
        if kind == "enum":
            name = n.constant(value)
            return z3.IntVal(self.spec.values.index(name), self.ctx) if name in self.spec.values else z3.IntVal(-1, self.ctx)
        if kind == "bool":
            return z3.BoolVal(bool(n.constant(value)), self.ctx)
        if kind == "date":
            return z3.IntVal(dt.date.fromisoformat(n.constant(value)).toordinal(), self.ctx)
        if kind == "int":
            v = n.constant(value)
            return z3.IntVal(v, self.ctx) if isinstance(v, int) else number(v, self.ctx)
        if kind == "string":
            text = n.constant(value)
            return z3.IntVal(self.strings.index(text), self.ctx) if text in self.strings else z3.IntVal(len(self.strings), self.ctx)
        return number(n.constant(value), self.ctx)

    def test(self, op: str, value) -> z3.BoolRef:
        """``slot OP value`` on the value variable (two-valued)."""
        const = self.const(value)
        if self.kind in ("enum", "bool", "string") and op not in ("=", "!="):
            return z3.BoolVal(False, self.ctx)  # the checker rejects these
        if self.kind == "int" and isinstance(n.constant(value), float):
            return _OPS[op](z3.ToReal(self.var), const)
        return _OPS[op](self.var, const)

    def read(self, model: z3.ModelRef):
        """The value of the slot in a model, as a record writes it."""
        kind, raw = self.kind, model.eval(self.var, model_completion=True)
        if kind == "enum":
            return self.spec.values[raw.as_long()]
        if kind == "bool":
            return z3.is_true(raw)
        if kind == "int":
            return raw.as_long()
        if kind == "date":
            return dt.date.fromordinal(raw.as_long()).isoformat()
        if kind == "string":
            i = raw.as_long()
            return self.strings[i] if i < len(self.strings) else "witness"
        value = units.tidy(float(Fraction(raw.numerator_as_long(), raw.denominator_as_long())))
        unit = units.canonical_unit(kind)
        return value if unit is None else f"{value}{unit}"


class Attr:
    """The variables of one attribute of the record."""

    def __init__(self, enc: "Encoding", attr: n.Attribute):
        self.attr = attr
        self.name = name = attr.name
        spec = attr.type
        self.kind = spec.kind
        self.ctx = ctx = enc.ctx
        self.raw_known = z3.BoolVal(True, ctx) if attr.required else z3.Bool(f"known:{name}", ctx)
        self.known = self.raw_known
        self.range_lit = z3.Bool(f"range:{name}", ctx)
        ranges: list = []
        self.slot = None
        self.bools: dict[str, z3.BoolRef] = {}  # set value / item group -> present
        self.groups: list[tuple[frozenset, list[str]]] = []  # item groups: (tested names it satisfies, members)
        self.records: list[tuple[z3.BoolRef, dict[str, Slot]]] = []
        if spec.kind == "set":
            self.bools = {v: z3.Bool(f"{name}:{v}", ctx) for v in spec.values}
        elif spec.kind == "item_set":
            kb = enc.kb
            tested = enc.tested_items.get(name, set())
            parents = {c for item in kb.items.values() for c in item.isa}
            profiles: dict[frozenset, list[str]] = {}
            for item in sorted(i for i in kb.items if i not in parents):
                profile = frozenset(t for t in tested if item in enc.members(t))
                profiles.setdefault(profile, []).append(item)
            for i, (profile, members) in enumerate(sorted(profiles.items(), key=lambda pm: pm[1][0])):
                self.groups.append((profile, members))
                self.bools[f"#{i}"] = z3.Bool(f"{name}:#{i}:{members[0]}", ctx)
        elif spec.kind == "record_list":
            count = max(1, min(MAX_RECORDS, enc.record_conditions.get(name, 0)))
            self.bounded = enc.record_conditions.get(name, 0) > MAX_RECORDS
            if self.bounded:
                enc.bounded_lists.add(name)
            for i in range(count):
                present = z3.Bool(f"{name}[{i}]", ctx)
                fields = {f.name: Slot(enc, f.name, f.type, f"{name}[{i}].{f.name}", strings=f"{name}.{f.name}")
                          for f in spec.fields}
                for slot in fields.values():
                    if not slot.empty_range():  # an empty one (E210) must not empty the list
                        ranges += [z3.Implies(present, c) for c in slot.range()]
                if self.records:
                    enc.structure.append(z3.Implies(present, self.records[-1][0]))  # records fill from the first
                self.records.append((present, fields))
        else:
            self.slot = Slot(enc, name, spec, f"value:{name}")
            ranges += self.slot.range()
        self.range = z3.And(ranges) if ranges else None
        self.empty_range = self.slot is not None and self.slot.empty_range()

    def gate_range(self) -> None:
        """A declared range constrains the value where it is recorded (and, when the range
        holds a value, the completions of a missing one, as :mod:`oncologic.reason.exact`
        draws them from it); an empty range (the checker's E210) allows no recorded value and
        so never constrains a record that leaves the attribute out, nor a rule that does not
        read it."""
        if self.range is not None and self.empty_range:
            self.range = z3.Implies(self.known, self.range)

    def has(self, names) -> z3.BoolRef:
        """The set holds one of ``names`` (values; items, a member of a class counting)."""
        if self.kind == "set":
            return z3.Or([self.bools[v] for v in names if v in self.bools] or [z3.BoolVal(False, self.ctx)])
        wanted = set(names)
        return z3.Or([self.bools[f"#{i}"] for i, (profile, _) in enumerate(self.groups) if profile & wanted]
                     or [z3.BoolVal(False, self.ctx)])

    def empty(self) -> z3.BoolRef:
        if self.kind == "record_list":
            return z3.Not(self.records[0][0])
        return z3.Not(z3.Or(list(self.bools.values()) or [z3.BoolVal(False, self.ctx)]))

    def read(self, model: z3.ModelRef):
        """The attribute's value in a model, as a record writes it."""
        if self.kind == "set":
            return [v for v, b in self.bools.items() if z3.is_true(model.eval(b, model_completion=True))]
        if self.kind == "item_set":
            return [members[0] for i, (_, members) in enumerate(self.groups)
                    if z3.is_true(model.eval(self.bools[f"#{i}"], model_completion=True))]
        if self.kind == "record_list":
            return [{f: slot.read(model) for f, slot in fields.items()}
                    for present, fields in self.records if z3.is_true(model.eval(present, model_completion=True))]
        return self.slot.read(model)


class Encoding:
    """The z3 encoding of one checked knowledge base (see the module docstring)."""

    def __init__(self, kb: CheckedKB):
        self.kb = kb
        # a context of its own: the same knowledge base gives the same models, whatever else the
        # process asked z3 before
        self.ctx = z3.Context()
        self.false = z3.BoolVal(False, self.ctx)
        self.structure: list = []  # constraints every record satisfies (types, derivations)
        self.witness_only: list = []  # constraints a witness record satisfies too (see derive)
        self._members: dict[str, set[str]] = {}
        self.rules_of: dict[str, list[n.Rule]] = {}
        for rule in kb.rules:
            if rule.kind in ("concept", "setting") and rule.condition is not None:
                self.rules_of.setdefault(rule.name, []).append(rule)
        self.bounded_lists: set[str] = set()  # lists with more distinct conditions than MAX_RECORDS
        self._scan()
        self.attrs: dict[str, Attr] = {name: Attr(self, attr) for name, attr in kb.attributes.items()}
        self._derive()
        for attr in self.attrs.values():
            attr.gate_range()
        self._tests: dict[tuple, z3.BoolRef] = {}
        self._two: dict[int, z3.BoolRef] = {}
        self._kleene: dict[int, tuple] = {}
        self._concept_two: dict[str, z3.BoolRef] = {}
        self._concept_kleene: dict[str, tuple] = {}
        self.witness_lit = z3.Bool("witness-mode", self.ctx)

    def members(self, cls: str) -> set[str]:
        found = self._members.get(cls)
        if found is None:
            found = self._members[cls] = self.kb.members(cls)
        return found

    def _scan(self) -> None:
        """What the rules test: the items of each set of items, the strings, the number of
        distinct ``any ... where`` conditions on each list."""
        self.tested_items: dict[str, set[str]] = {}
        self.strings: dict[str, list] = {}
        anys: dict[str, set[str]] = {}
        conds = [r.condition for r in self.kb.rules if r.condition is not None]
        conds += [a.applies for a in self.kb.attributes.values() if a.applies is not None]
        stack = [(cond, None) for cond in conds]
        while stack:
            node, record = stack.pop()
            if isinstance(node, n.Has):
                self.tested_items.setdefault(node.attribute, set()).update(n.constant(v) for v in node.values)
            elif isinstance(node, n.AnyRecord):
                anys.setdefault(node.attribute, set()).add(n.to_source(node.condition))
                stack.append((node.condition, self.kb.attributes.get(node.attribute)))
                continue
            elif isinstance(node, (n.Compare, n.OneOf)):
                if record is not None:
                    spec = next((f.type for f in record.type.fields if f.name == node.attribute), None)
                    key = f"{record.name}.{node.attribute}"
                else:
                    attr = self.kb.attributes.get(node.attribute)
                    spec, key = (attr.type if attr is not None else None), node.attribute
                if spec is not None and spec.kind == "string":
                    values = [node.value] if isinstance(node, n.Compare) else list(node.values)
                    bucket = self.strings.setdefault(key, [])
                    bucket += [n.constant(v) for v in values if n.constant(v) not in bucket]
            stack.extend((c, record) for c in n.children(node))
        self.record_conditions = {a: len(s) for a, s in anys.items()}

    def _derive(self) -> None:
        """A duration derived from two dates: given both dates, the record holds it (known) and
        it is their difference — exactly when the duration is not given beside them, within a
        day when it is (the record validator's rule); a witness never gives it beside them."""
        for attr in self.kb.attributes.values():
            if not attr.derive or any(s not in self.attrs for s in attr.derive):
                continue
            me = self.attrs[attr.name]
            later, earlier = (self.attrs[s] for s in attr.derive)
            if me.slot is None or later.slot is None or earlier.slot is None:
                continue
            both = z3.And(later.raw_known, earlier.raw_known)
            me.known = z3.Or(me.raw_known, both)
            days = z3.ToReal(later.slot.var - earlier.slot.var)
            value = me.slot.var if me.slot.kind != "int" else z3.ToReal(me.slot.var)
            self.structure.append(z3.Implies(both, later.slot.var >= earlier.slot.var))
            self.structure.append(z3.Implies(z3.And(both, z3.Not(me.raw_known)), value == days))
            self.structure.append(z3.Implies(z3.And(both, me.raw_known), z3.And(value - days < 1, days - value < 1)))
            self.witness_only.append(z3.Implies(both, z3.Not(me.raw_known)))

    # -- solvers ----------------------------------------------------------------------------
    def solver(self) -> z3.Solver:
        """A solver holding the structure of every record; pass :meth:`assumptions` to each
        ``check`` (the declared ranges, and for a witness the witness literal)."""
        s = z3.Solver(ctx=self.ctx)
        s.set("timeout", TIMEOUT_MS)
        s.set("core.minimize", True)
        s.add(*self.structure)
        for attr in self.attrs.values():
            if attr.range is not None:
                s.add(z3.Implies(attr.range_lit, attr.range))
        if self.witness_only:
            s.add(z3.Implies(self.witness_lit, z3.And(self.witness_only)))
        return s

    def ranges(self) -> list:
        return [a.range_lit for a in self.attrs.values() if a.range is not None]

    def range_track(self) -> dict:
        """range literal -> Track."""
        out = {}
        for a in self.attrs.values():
            if a.range is not None:
                out[a.range_lit] = Track("range", f"{a.name}: {_type_text(a.attr.type)}", a.attr.pos)
        return out

    def all_known(self) -> z3.BoolRef:
        return z3.And([a.known for a in self.attrs.values()])

    # -- the two readings -------------------------------------------------------------------
    def two(self, cond, free: frozenset = frozenset(), track: dict | None = None) -> z3.BoolRef:
        """The completion semantics of ``cond`` (module docstring). ``free``: concepts read as
        free Bools (to see whether a rule is unreachable for reasons of its own, not through an
        unreachable concept). ``track``: a dict to fill with assumption literal -> Track, one per
        test (a tracked encoding, memoised apart)."""
        if free or track is not None:
            return _Two(self, free, track).visit(cond)
        return _Two(self, free, None, self._two, self._concept_two).visit(cond)

    def kleene(self, cond) -> tuple:
        """``(t, f)``: Kleene's certainly-true and certainly-false of ``cond``."""
        return _Kleene(self).visit(cond)

    def test(self, cond, rec: dict | None = None) -> z3.BoolRef:
        """The two-valued truth of a test on the values (of the record's fields: ``rec``)."""
        return _Test(self, rec).visit(cond)

    def reads(self, cond) -> set[str]:
        """The attributes a condition reads, through the concepts it uses."""
        out: set[str] = set()
        seen: set[str] = set()
        stack = [cond]
        while stack:
            x = stack.pop()
            if isinstance(x, n.ConceptRef):
                if x.name not in seen:
                    seen.add(x.name)
                    stack.extend(r.condition for r in self.rules_of.get(x.name, ()))
            elif isinstance(x, (n.And, n.Or, n.Not)):
                stack.extend(n.children(x))
            elif getattr(x, "attribute", None) in self.attrs:
                out.add(x.attribute)  # not inside an `any ... where`: those are fields
        for name in list(out):
            derive = self.kb.attributes[name].derive
            if derive:
                out.update(d for d in derive if d in self.attrs)
        return out

    # -- records ----------------------------------------------------------------------------
    def record(self, model: z3.ModelRef, attributes=None) -> dict:
        """The record a model describes: ``id`` and each attribute whose known flag is true
        (of ``attributes`` when given); a derived duration given by its dates is left out."""
        out: dict = {}
        for name, a in self.attrs.items():
            if attributes is not None and name not in attributes and not a.attr.required:
                continue
            if not z3.is_true(model.eval(a.raw_known, model_completion=True)):
                continue
            out[name] = a.read(model)
        return out


def _type_text(spec: n.TypeSpec) -> str:
    if spec.low is None and spec.high is None:
        return spec.kind
    low = n.value_text(spec.low) if spec.low is not None else ""
    high = n.value_text(spec.high) if spec.high is not None else ""
    return f"{spec.kind} {low}..{high}"


def _once(formulas) -> list:
    """The formulas, each once (a test repeated in a long ``or`` is one formula)."""
    return list({f.get_id(): f for f in formulas}.values())


class _Test(Visitor):
    """Two-valued tests on the value variables (of the record, memoised by meaning: a test
    written a thousand times is one formula)."""

    def __init__(self, enc: Encoding, rec: dict | None):
        self.enc, self.rec = enc, rec

    def visit(self, cond):
        if self.rec is not None or not isinstance(cond, (n.Compare, n.OneOf, n.Has, n.IsEmpty)):
            return super().visit(cond)
        values = (cond.value,) if isinstance(cond, n.Compare) else getattr(cond, "values", ())
        key = (type(cond).__name__, cond.attribute, getattr(cond, "op", ""), tuple(n.value_text(v) for v in values))
        found = self.enc._tests.get(key)
        if found is None:
            found = self.enc._tests[key] = super().visit(cond)
        return found

    def slot(self, name: str) -> Slot:
        return self.rec[name] if self.rec is not None else self.enc.attrs[name].slot

    def visit_Compare(self, cond: n.Compare) -> z3.BoolRef:
        return self.slot(cond.attribute).test(cond.op, cond.value)

    def visit_OneOf(self, cond: n.OneOf) -> z3.BoolRef:
        slot = self.slot(cond.attribute)
        return z3.Or([slot.test("=", v) for v in cond.values] or [self.enc.false])

    def visit_Has(self, cond: n.Has) -> z3.BoolRef:
        return self.enc.attrs[cond.attribute].has([n.constant(v) for v in cond.values])

    def visit_IsEmpty(self, cond: n.IsEmpty) -> z3.BoolRef:
        return self.enc.attrs[cond.attribute].empty()

    def visit_AnyRecord(self, cond: n.AnyRecord) -> z3.BoolRef:
        attr = self.enc.attrs[cond.attribute]
        return z3.Or([z3.And(present, _Fields(self.enc, fields).visit(cond.condition)) for present, fields in attr.records])


class Connectives(Visitor):
    """``and``, ``or`` and ``not`` as z3's (two-valued); subclasses say what a test is."""

    def visit_And(self, cond):
        return z3.And([self.visit(c) for c in cond.items])

    def visit_Or(self, cond):
        return z3.Or([self.visit(c) for c in cond.items])

    def visit_Not(self, cond):
        return z3.Not(self.visit(cond.item))


class _Fields(Connectives):
    """A condition on the fields of one record."""

    def __init__(self, enc: Encoding, fields: dict):
        self.test = _Test(enc, fields)

    def generic_visit(self, cond):
        return self.test.visit(cond)


class _Two(Visitor):
    def __init__(self, enc: Encoding, free: frozenset, track: dict | None, memo: dict | None = None,
                 concepts: dict | None = None):
        self.enc, self.free, self.track = enc, free, track
        self.memo = {} if memo is None else memo
        self.concepts = {} if concepts is None else concepts
        self.negated = False  # tracked: under an odd number of `not`s (a test's polarity in the proof)

    def visit(self, cond):
        key = id(cond) if self.track is None else (id(cond), self.negated)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = super().visit(cond)
        return found

    def _text(self, text: str, cond=None) -> str:
        """A tracked condition as the proof states it: with its polarity (``not line >= 2``)."""
        if not self.negated:
            return f"({text})" if isinstance(cond, n.Or) else text
        return f"not ({text})" if isinstance(cond, (n.And, n.Or)) else f"not {text}"

    def _tracked(self, cond, formula):
        if self.track is None:
            return formula
        lit = z3.Bool(f"track:{len(self.track)}", self.enc.ctx)
        self.track[lit] = Track("test", self._text(n.to_source(cond), cond), cond.pos, cond)
        return z3.If(lit, formula, z3.FreshBool(ctx=self.enc.ctx))

    def _whole(self, cond):
        """A tracked condition as one literal, its parts untracked."""
        return self._tracked(cond, _Two(self.enc, self.free, None, {}, {}).visit(cond))

    # tracked, a proof lists conditions that must all hold: it goes into a conjunction (an `and`,
    # a negated `or`) and takes a disjunction (an `or`, a negated `and`) as a whole
    def visit_And(self, cond: n.And):
        if self.track is not None and (self.negated or n.gated_attribute(cond) is not None):
            return self._whole(cond)
        return z3.And(_once(self.visit(c) for c in cond.items))

    def visit_Or(self, cond: n.Or):
        if self.track is not None and not self.negated:
            return self._whole(cond)
        return z3.Or(_once(self.visit(c) for c in cond.items))

    def visit_Not(self, cond: n.Not):
        self.negated = not self.negated
        try:
            return z3.Not(self.visit(cond.item))
        finally:
            self.negated = not self.negated

    def visit_IsKnown(self, cond: n.IsKnown):
        return self._tracked(cond, self.enc.attrs[cond.attribute].known)

    def visit_ConceptRef(self, cond: n.ConceptRef):
        name = cond.name
        if name in self.free:
            return z3.Bool(f"free:{name}", self.enc.ctx)
        if self.track is not None:
            return self._tracked_concept(cond)
        found = self.concepts.get(name)
        if found is None:
            found = self.concepts[name] = z3.Or([self.visit(r.condition) for r in self.enc.rules_of.get(name, ())]
                                                or [self.enc.false])
        return found

    def _tracked_concept(self, cond: n.ConceptRef):
        """A concept in a tracked encoding: one literal of its own, named with its polarity and
        where it is defined; a negated one, or one with several rules, as a whole (its tests
        are no conjunction a proof could list), one with a single rule with its tests tracked
        too."""
        name, rules = cond.name, self.enc.rules_of.get(cond.name, ())
        if self.negated or len(rules) != 1:  # a negated concept, or one of several rules: a disjunction
            inner = _Two(self.enc, self.free, None, {}, {}).visit(cond)
        else:
            inner = self.visit(rules[0].condition)
        lit = z3.Bool(f"track:{len(self.track)}", self.enc.ctx)
        self.track[lit] = Track("concept", self._text(name), cond.pos, [r.pos for r in rules])
        return z3.If(lit, inner, z3.FreshBool(ctx=self.enc.ctx))

    def generic_visit(self, cond):
        return self._tracked(cond, self.enc.test(cond))


class _Kleene(Visitor):
    def __init__(self, enc: Encoding):
        self.enc = enc
        self.memo = enc._kleene
        self.concepts = enc._concept_kleene

    def visit(self, cond):
        key = id(cond)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = super().visit(cond)
        return found

    def visit_And(self, cond: n.And):
        parts = [self.visit(c) for c in cond.items]
        return z3.And(_once(t for t, _ in parts)), z3.Or(_once(f for _, f in parts))

    def visit_Or(self, cond: n.Or):
        parts = [self.visit(c) for c in cond.items]
        return z3.Or(_once(t for t, _ in parts)), z3.And(_once(f for _, f in parts))

    def visit_Not(self, cond: n.Not):
        t, f = self.visit(cond.item)
        return f, t

    def visit_IsKnown(self, cond: n.IsKnown):
        known = self.enc.attrs[cond.attribute].known
        return known, z3.Not(known)

    def visit_ConceptRef(self, cond: n.ConceptRef):
        found = self.concepts.get(cond.name)
        if found is None:
            parts = [self.visit(r.condition) for r in self.enc.rules_of.get(cond.name, ())]
            found = self.concepts[cond.name] = (z3.Or([t for t, _ in parts] or [self.enc.false]),
                                                z3.And([f for _, f in parts] or [z3.Not(self.enc.false)]))
        return found

    def generic_visit(self, cond):
        known = self.enc.attrs[cond.attribute].known
        test = self.enc.test(cond)
        return z3.And(known, test), z3.And(known, z3.Not(test))
