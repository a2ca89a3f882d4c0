"""Stage 4: checked AST → Datalog program (:mod:`oncologic.datalog`).

Unknown data must never read as false, so every condition is compiled twice ("dual rail"):
``t<n>(P)`` holds when condition *n* is certainly true for patient P, ``f<n>(P)`` when it is
certainly false. Neither means unknown: the condition depends on data the record lacks.
``and``/``or``/``not`` then follow Kleene's three-valued logic without negation as failure,
and negation appears only on patient facts and on a few auxiliary predicates, which keeps the
program stratified (checked anyway, see :meth:`Program.negative_cycles`).

Patient facts (extensional predicates)::

    patient(P)                  the record exists
    val(P, Attribute, Value)    a single-valued attribute (numbers in canonical units)
    known(P, Attribute)         the attribute is present (sets and lists too, even empty)
    member(P, Attribute, X)     X is in a set attribute (or X is a record index of a list)
    has(P, Attribute, C)        C is an item in a set attribute or a class of one (the record's
                                items read through the vocabulary's class hierarchy, so the
                                engine need not join every item with every class it is asked about)
    maybe(P, Attribute, X)      X may be in the set: the record names a class X belongs to (a
                                class is less specific than its members: ``prior_therapies:
                                [egfr_tki]`` leaves ``has gefitinib`` unknown, not false)
    field(P, Attribute, I, Field, Value)   a field of record I of a list attribute

Every condition, rule and concept becomes a node with a number. Identical conditions are
compiled once (a rule node shares the predicates of its condition, a concept reference those
of the concept, ``line = 2`` in ten rules is one predicate); the ``canonical`` field of a node
names the node that owns its predicates. What callers read from the rails (every node's
verdict, the conclusions ``recommend`` reports, what one explanation shows) are output
predicates made by :mod:`oncologic.plan`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

from ..values import Record, Value as _Value
from ..lang import nodes as n
from ..lang.visitor import Visitor
from ..model.kb import CheckedKB
from .datalog import Atom, Clause, Comparison, Negation, Origin, Program, Var
from ..errors import Diagnostic

P, V, I, X = Var("P"), Var("V"), Var("I"), Var("X")
DATALOG_OP = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
EDB = {"patient": 1, "val": 3, "known": 2, "member": 3, "has": 3, "maybe": 3, "field": 5}


@dataclass(frozen=True, eq=False, repr=False)
class Node(_Value):
    """A numbered condition, rule, concept or regimen; the explanation walks these."""

    id: int
    kind: str  # leaf | and | or | not | ref | any | rule | concept | regimen | population
    rule: str | None = None
    ast: object = None
    children: tuple[int, ...] = ()
    name: str | None = None  # concept name (concept, ref) or regimen id (regimen)
    items: tuple[str, ...] = ()  # regimen items
    canonical: int = -1  # the node whose t/f predicates decide this one (itself, or the node it aliases)


@dataclass(eq=False, repr=False)
class CompiledKB(Record):
    """The compiled knowledge base: the checked model, the Datalog program, its canonical nodes
    and the query plan; what the cache stores."""

    checked: CheckedKB
    program: Program
    nodes: list[Node] = field(default_factory=list)
    rule_node: dict[str, int] = field(default_factory=dict)
    concept_node: dict[str, int] = field(default_factory=dict)
    regimens: list[int] = field(default_factory=list)  # regimen nodes of recommendations
    removals: dict[int, list[str]] = field(default_factory=dict)  # regimen node -> contraindication rule ids
    record_conditions: dict[int, int] = field(default_factory=dict)  # `any` node -> its rt<n> record condition
    leaf_rails: dict[str, tuple] = field(default_factory=dict)  # t<n>/f<n> of a leaf defined by one clause -> its body
    population_node: dict[str, int] = field(default_factory=dict)  # recommendation rule id -> its `population` node
    plan: object = None  # oncologic.plan.Plan: the output predicates and the groups of `recommend`

    def rule(self, rule_id: str) -> n.Rule:
        return self._rules[rule_id]

    def parts(self, node_id: int) -> list[tuple[int, bool]]:
        """The canonical nodes a canonical node's verdict is made of, each with its polarity
        (False: it counts negated): a ``not``'s child; the children of an ``and``, ``or``,
        concept, rule or reference; a regimen's rule and, negated, the contraindications
        that can remove it (a regimen is recommended when its rule holds and none of them
        does)."""
        node = self.nodes[node_id]
        if node.kind == "not":
            return [(self.nodes[node.children[0]].canonical, False)]
        out = [(self.nodes[c].canonical, True) for c in node.children]
        for cid in self.removals.get(node_id, ()):
            out.append((self.nodes[self.rule_node[cid]].canonical, False))
        return out

    def __post_init__(self):
        self._rules = {r.id: r for r in self.checked.rules}


def _t(node: int, *args) -> Atom:
    return Atom(f"t{node}", args or (P,))


def _f(node: int, *args) -> Atom:
    return Atom(f"f{node}", args or (P,))


class Compiler(Visitor):
    """Compiles a checked KB (:meth:`run`); ``visit(condition, rule_id)`` compiles one of its
    conditions and returns the condition's node id."""

    def __init__(self, kb: CheckedKB):
        self.kb = kb
        self.program = Program(edb=dict(EDB))
        self.out = CompiledKB(kb, self.program)
        self.origin: Origin | None = None
        self.diagnostics: list[Diagnostic] = []
        self.shared_keys: dict = {}

    def node(self, kind: str, alias_of: int | None = None, **kw) -> int:
        nid = len(self.out.nodes)
        canonical = nid if alias_of is None else self.out.nodes[alias_of].canonical
        self.out.nodes.append(Node(nid, kind, canonical=canonical, **kw))
        return nid

    def shared(self, key, kind: str, **kw) -> tuple[int, bool]:
        """A node for a condition; an identical condition compiled before lends its predicates.
        Returns (node id, whether the caller must emit its clauses)."""
        known = self.shared_keys.get(key)
        if known is not None:
            return self.node(kind, alias_of=known, **kw), False
        nid = self.node(kind, **kw)
        self.shared_keys[key] = nid
        return nid, True

    def canon(self, nid: int) -> int:
        return self.out.nodes[nid].canonical

    def add(self, head: Atom, *body) -> None:
        self.program.add(head, body, self.origin)

    # -- whole KB --
    def run(self) -> CompiledKB:
        self._set_rules()
        # concept nodes first, so references can point at them; a concept's rules are compiled
        # before the first reference to it (concepts form no cycle: checks.py)
        for name in self.kb.concepts:
            self.out.concept_node[name] = self.node("concept", name=name)
        self._done: set[str] = set()
        for rule in self.kb.rules:
            if rule.kind in ("concept", "setting"):
                self.concept(rule.name)
            else:
                self.rule(rule)
        for name in self.kb.concepts:
            self.concept(name)
        self._recommendations()
        self._inline_leaves()
        return self.out

    def _inline_leaves(self) -> None:
        """Write a leaf's one clause into the clauses that use it: ``t7(P) :- t3(P), t5(P)``
        with ``t3(P) :- val(P, "line", 2)`` becomes ``t7(P) :- val(P, "line", 2), t5(P)``.
        Same meaning, one step less for the engine per use; the leaf's own predicates stay
        (the views read them)."""
        leaves = {f"{rail}{node.id}" for node in self.out.nodes if node.kind == "leaf" and node.canonical == node.id
                  for rail in "tf"}
        bodies: dict[str, list] = {}
        for clause in self.program.clauses:
            if clause.head.pred in leaves:
                bodies.setdefault(clause.head.pred, []).append(clause.body)
        single = {pred: bs[0] for pred, bs in bodies.items() if len(bs) == 1}
        self.out.leaf_rails = single
        fresh = count()

        def renamed(body):
            names = {Var(v): Var(f"{v}{next(fresh)}") for v in ("V", "I", "X")}
            return tuple(_rename(b, names) for b in body)

        out = []
        for clause in self.program.clauses:
            if clause.head.pred not in leaves and any(isinstance(b, Atom) and b.pred in single for b in clause.body):
                body: list = []
                for b in clause.body:
                    body.extend(renamed(single[b.pred]) if isinstance(b, Atom) and b.pred in single else (b,))
                clause = Clause(clause.head, tuple(body), clause.origin)
            out.append(clause)
        self.program.clauses = out

    def rule(self, rule: n.Rule) -> int | None:
        """Compile a rule's condition; its rule node shares the condition's predicates."""
        if rule.condition is None:
            return None
        if rule.id in self.out.rule_node:
            return self.out.rule_node[rule.id]
        saved, self.origin = self.origin, Origin(rule.id, rule.pos.file, rule.pos.line)
        cond = self.visit(rule.condition, rule.id)
        rid = self.node("rule", alias_of=cond, rule=rule.id, children=(cond,), name=rule.name)
        self.out.rule_node[rule.id] = rid
        self.origin = saved
        return rid

    def concept(self, name: str) -> None:
        """Compile the rules that conclude a concept, then the concept: true when one of them
        is, false when all are. A concept concluded by a single rule (most) shares that rule's
        predicates, so the engine takes no extra step for it."""
        if name in self._done:
            return
        self._done.add(name)
        kid = self.out.concept_node[name]
        rules = [rid for rule in self.kb.rules_for(name) if (rid := self.rule(rule)) is not None]
        if len(rules) == 1:
            self.out.nodes[kid] = Node(kid, "concept", name=name, children=tuple(rules), canonical=self.canon(rules[0]))
            return
        rule0 = self.kb.rules_for(name)[0] if rules else None
        saved, self.origin = self.origin, Origin(rule0.id, rule0.pos.file, rule0.pos.line) if rule0 else None
        self.out.nodes[kid] = Node(kid, "concept", name=name, children=tuple(rules), canonical=kid)
        for rid in rules:
            self.add(_t(kid), _t(self.canon(rid)))
        self.add(_f(kid), *[_f(self.canon(rid)) for rid in rules])
        self.origin = saved

    def check_stratified(self) -> None:
        for clauses in self.program.negative_cycles():
            first = clauses[0]
            origin = first.origin or Origin("?", "?", 0)
            rule = next((r for r in self.kb.rules if r.id == origin.rule), None)
            pos = rule.pos if rule is not None else n.Pos(origin.file, origin.line, 1)
            self.diagnostics.append(Diagnostic(pos.file, pos.line, pos.column,
                                               f"rule '{origin.rule}' depends on its own negation; the rule set cannot be stratified",
                                               code="E316", end_line=pos.end_line or None, end_column=pos.end_column or None))

    def _set_rules(self) -> None:
        self.program.add(Atom("nonempty", (P, Var("A"))), (Atom("member", (P, Var("A"), X)),))

    def _recommendations(self) -> None:
        contraindications = [r for r in self.kb.rules if r.kind == "contraindication" and r.id in self.out.rule_node]
        avoided = {c.id: set().union(*(self.kb.members(item) for (item,) in c.regimens)) for c in contraindications}
        for rule in self.kb.rules:
            if rule.kind != "recommendation" or rule.id not in self.out.rule_node:
                continue
            rid = self.out.rule_node[rule.id]
            self.origin = Origin(rule.id, rule.pos.file, rule.pos.line)
            if rule.population is not None:  # soft: its own node, read for a flag, never part of the rule
                cond = self.visit(rule.population, rule.id)
                self.out.population_node[rule.id] = self.node("population", alias_of=cond, rule=rule.id, children=(cond,))
            for regimen in rule.regimens:
                blockers = [c for c in contraindications if avoided[c.id] & set(regimen)] if rule.polarity == "recommend" else []
                attrs = dict(rule=rule.id, name=n.regimen_id(regimen), items=tuple(regimen), children=(rid,))
                kid = self.node("regimen", alias_of=None if blockers else rid, **attrs)
                self.out.regimens.append(kid)
                self.out.removals[kid] = [c.id for c in blockers]
                if blockers:  # recommended = the rule and not any contraindication, in Kleene's logic
                    contra = [self.canon(self.out.rule_node[c.id]) for c in blockers]
                    self.add(_t(kid), _t(self.canon(rid)), *[_f(c) for c in contra])
                    self.add(_f(kid), _f(self.canon(rid)))
                    for c in contra:
                        self.add(_f(kid), _t(c))

    # -- conditions: visit(cond, rule_id) compiles one and returns its node id --
    def visit_And(self, cond: n.And | n.Or, rule_id: str) -> int:
        kind = type(cond).__name__.lower()  # and, or
        kids = tuple(self.visit(c, rule_id) for c in cond.items)
        canon = tuple(self.canon(k) for k in kids)
        nid, new = self.shared((kind, getattr(cond, "gated", False), canon), kind, rule=rule_id, ast=cond, children=kids)
        if new:
            if kind == "and":
                self.add(_t(nid), *[_t(k) for k in canon])
                for k in canon:
                    self.add(_f(nid), _f(k))
            else:
                for k in canon:
                    self.add(_t(nid), _t(k))
                self.add(_f(nid), *[_f(k) for k in canon])
        return nid

    visit_Or = visit_And

    def visit_Not(self, cond: n.Not, rule_id: str) -> int:
        kid = self.visit(cond.item, rule_id)
        nid, new = self.shared(("not", self.canon(kid)), "not", rule=rule_id, ast=cond, children=(kid,))
        if new:
            self.add(_t(nid), _f(self.canon(kid)))
            self.add(_f(nid), _t(self.canon(kid)))
        return nid

    def visit_ConceptRef(self, cond: n.ConceptRef, rule_id: str) -> int:
        self.concept(cond.name)
        target = self.out.concept_node[cond.name]
        return self.node("ref", alias_of=target, rule=rule_id, ast=cond, children=(target,), name=cond.name)

    def visit_AnyRecord(self, cond: n.AnyRecord, rule_id: str) -> int:
        nid, new = self.shared(("any", cond.attribute, _key(cond.condition)), "any", rule=rule_id, ast=cond)
        if new:
            inner = _RecordCondition(self, cond.attribute).compile(cond.condition)
            self.add(_t(nid), Atom(f"rt{inner}", (P, I)))
            self.add(_f(nid), Atom("known", (P, cond.attribute)), Negation(_t(nid)))
            self.out.record_conditions[nid] = inner
        return nid

    def _leaf(self, cond: n.Leaf, rule_id: str) -> int:
        nid, new = self.shared(("leaf", _key(cond)), "leaf", rule=rule_id, ast=cond)
        if new:
            true, false = _RAILS.visit(cond)
            for head, bodies in ((_t(nid), true), (_f(nid), false)):
                for body in bodies:
                    self.add(head, *body)
        return nid

    visit_Compare = visit_OneOf = visit_Has = visit_IsEmpty = visit_IsKnown = _leaf


class _Rails(Visitor):
    """The clause bodies of a leaf's rails: ``visit(leaf) -> (bodies of t<n>, bodies of f<n>)``."""

    def visit_Compare(self, cond: n.Compare) -> tuple[list, list]:
        a, c = cond.attribute, n.constant(cond.value)
        return _compare(a, cond.op, c), _compare(a, n.NEGATED_OP[cond.op], c)

    def visit_OneOf(self, cond: n.OneOf) -> tuple[list, list]:
        a = cond.attribute
        return ([(Atom("val", (P, a, n.constant(v))),) for v in cond.values],
                [(Atom("val", (P, a, V)), *[Comparison(V, "!=", n.constant(v)) for v in cond.values])])

    def visit_Has(self, cond: n.Has) -> tuple[list, list]:
        a = cond.attribute
        # false: known, and no wanted item is in the set certainly (has) or perhaps (maybe: a
        # class was recorded, and the wanted item is one of its members)
        return ([(Atom("has", (P, a, n.constant(v))),) for v in cond.values],
                [(Atom("known", (P, a)), *[lit for v in cond.values for lit in
                                           (Negation(Atom("has", (P, a, n.constant(v)))),
                                            Negation(Atom("maybe", (P, a, n.constant(v)))))])])

    def visit_IsEmpty(self, cond: n.IsEmpty) -> tuple[list, list]:
        a = cond.attribute
        return [(Atom("known", (P, a)), Negation(Atom("nonempty", (P, a))))], [(Atom("nonempty", (P, a)),)]

    def visit_IsKnown(self, cond: n.IsKnown) -> tuple[list, list]:
        a = cond.attribute
        return [(Atom("known", (P, a)),)], [(Atom("patient", (P,)), Negation(Atom("known", (P, a))))]


def _compare(attribute: str, op: str, c) -> list[tuple]:
    """``attribute op c`` holds: ``=`` a fact lookup, any other operator a comparison."""
    if op == "=":
        return [(Atom("val", (P, attribute, c)),)]
    return [(Atom("val", (P, attribute, V)), Comparison(V, DATALOG_OP[op], c))]


_RAILS = _Rails()


class _RecordCondition(Visitor):
    """Conditions on the fields of one record of ``attribute`` (fields are always present:
    two-valued). ``compile(cond)`` returns a node n with ``rt<n>(P, I)`` true when record I
    meets the condition; ``visit(cond, head)`` emits the clauses of ``head``."""

    def __init__(self, compiler: Compiler, attribute: str):
        self.compiler, self.attribute, self.add = compiler, attribute, compiler.add

    def compile(self, cond: n.Condition) -> int:
        nid = self.compiler.node("field", ast="record")
        self.visit(cond, Atom(f"rt{nid}", (P, I)))
        return nid

    def visit_And(self, cond: n.And, head: Atom) -> None:
        kids = [self.compile(c) for c in cond.items]
        self.add(head, *[Atom(f"rt{k}", (P, I)) for k in kids])

    def visit_Or(self, cond: n.Or, head: Atom) -> None:
        for c in cond.items:
            self.add(head, Atom(f"rt{self.compile(c)}", (P, I)))

    def visit_Not(self, cond: n.Not, head: Atom) -> None:
        kid = self.compile(cond.item)
        self.add(head, Atom("member", (P, self.attribute, I)), Negation(Atom(f"rt{kid}", (P, I))))

    def visit_Compare(self, cond: n.Compare, head: Atom) -> None:
        fld = Atom("field", (P, self.attribute, I, cond.attribute, V))
        self.add(head, fld, Comparison(V, DATALOG_OP[cond.op], n.constant(cond.value)))

    def visit_OneOf(self, cond: n.OneOf, head: Atom) -> None:
        for v in cond.values:
            self.add(head, Atom("field", (P, self.attribute, I, cond.attribute, n.constant(v))))


def _rename(b, names: dict):
    """A body literal with variables renamed (P keeps its name: it is the patient)."""
    if isinstance(b, Atom):
        return Atom(b.pred, tuple(names.get(a, a) if isinstance(a, Var) else a for a in b.args))
    if isinstance(b, Negation):
        return Negation(_rename(b.atom, names))
    return Comparison(names.get(b.left, b.left), b.op, names.get(b.right, b.right) if isinstance(b.right, Var) else b.right)


class _Key(Visitor):
    """A condition without source positions: two conditions with one key mean the same."""

    def visit_And(self, cond: n.And | n.Or) -> tuple:
        # a relevance gate means what the plain `and` means, but its questions differ
        return (type(cond).__name__, getattr(cond, "gated", False), tuple(map(self.visit, cond.items)))

    visit_Or = visit_And

    def visit_Not(self, cond: n.Not) -> tuple:
        return ("Not", self.visit(cond.item))

    def visit_Compare(self, cond: n.Compare) -> tuple:
        return ("Compare", cond.attribute, cond.op, n.constant(cond.value))

    def visit_OneOf(self, cond: n.OneOf | n.Has) -> tuple:
        return (type(cond).__name__, cond.attribute, tuple(sorted(map(repr, (n.constant(v) for v in cond.values)))))

    visit_Has = visit_OneOf

    def visit_AnyRecord(self, cond: n.AnyRecord) -> tuple:
        return ("Any", cond.attribute, self.visit(cond.condition))

    def visit_IsEmpty(self, cond: n.IsEmpty | n.IsKnown) -> tuple:
        return (type(cond).__name__, cond.attribute)

    visit_IsKnown = visit_IsEmpty


_key = _Key().visit


def compile_kb(kb: CheckedKB) -> tuple[CompiledKB, list[Diagnostic]]:
    """Compile a checked knowledge base (one :func:`oncologic.model.checks.check` found no
    problem in) into Datalog.

    Returns ``(compiled, diagnostics)``. ``compiled`` is the :class:`CompiledKB`: the
    :class:`~oncologic.compile.datalog.Program` (core clauses over the patient facts of the
    module docstring, numbers in canonical units, plus the views), the numbered nodes
    (``nodes[i].id == i``; ``rule_node`` and ``concept_node`` index them), the regimen nodes
    and their contraindications, and the query plan (:mod:`oncologic.compile.plan`).
    ``diagnostics`` names each rule that depends on its own negation; non-empty means the
    program is not stratified and must not run (``build`` raises
    :class:`~oncologic.errors.RuleError` with it). A condition node the compiler has no
    method for raises ``TypeError`` (:class:`~oncologic.lang.visitor.Visitor`): a gap in the
    checker, not a problem of the rules to report.
    """
    from .plan import make_plan

    compiler = Compiler(kb)
    out = compiler.run()
    out.plan = make_plan(out)
    compiler.check_stratified()
    return out, compiler.diagnostics
