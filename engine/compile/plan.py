"""Stage 4b: query plans — what each command asks the engine.

The compiler gives every condition two rails, ``t<n>`` and ``f<n>``. A command reads them
through a *view*: an output predicate whose rows are

    view(P, "truth", N, true|false)       node N is certainly true / false (no row: unknown)
    view(P, "removed", Regimen, Contra)   a contraindication removed a recommended regimen
    view(P, "match", N, I)                record I matched the ``any ... where`` node N
    view(P, "closed", G, Gate)            (``top`` only) the gate of group G is false
    view(P, "missing", N, Attribute)      (missing views) N is unknown for want of Attribute

There are three kinds of view, all plain Datalog added to the program:

``answer``
    every node: a complete evaluation, for cohorts in batches and for the tests.
``top``
    the conclusions ``recommend`` reports — every concept, rule and recommended regimen — and
    no inner condition. Most conclusions cannot apply to a given patient (an HCC rule for a
    lung patient), and each one is an ``and`` of conditions, through its setting and
    concepts too. So the plan groups conclusions under a condition they all share, the
    group's *gate*: when the gate is false, every conclusion in the group is false (a false
    conjunct makes a conjunction false; the rails derive exactly that), and the engine is
    asked for the group's verdicts only when the gate is not false. Groups nest, each gate
    chosen as the condition the most remaining conclusions share (at least ``MIN_GROUP``),
    never one that cannot be false where it is checked.
detail views (:func:`detail_view`, made when a command needs one)
    every node that an explanation of some goals can show: the goals and everything they
    depend on, through concepts and the contraindications that can remove a regimen.
missing views (:func:`missing_view`, made when a command needs one)
    for conclusions that are unknown, the absent attributes that leave them undecided.

A backend loads a view the first time it is asked for; the rails are loaded once.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from ..values import Record, Value as _Value
from .datalog import Atom, Clause, Negation, Var
from ..lang.nodes import IsKnown, to_source

P, K, A, B, I = Var("P"), Var("K"), Var("A"), Var("B"), Var("I")

# A group costs the engine two steps when its gate is open (true or unknown) and saves the
# evaluation of its members when the gate is false; below this size it does not pay
# (measured with bench/test_warm.py, see bench/RESULTS.md).
MIN_GROUP = 4


@dataclass(frozen=True, eq=False, repr=False)
class Group(_Value):
    """Nodes asked together in one view: their ids and the members of a class recorded in place
    of an item."""

    id: int
    gate: int  # a canonical node: when it is false, so is every member
    members: frozenset  # canonical conclusion nodes under the group, its subgroups' included
    parent: int | None


@dataclass(eq=False, repr=False)
class Plan(Record):
    """What ``recommend`` asks the backend: the conclusions, the roots of missing-data
    questions, the groups, and the views made so far."""

    conclusions: tuple  # canonical nodes whose verdicts `recommend` needs, sorted
    missing_roots: tuple  # conclusions whose missing data `recommend` names when they are unknown
    groups: dict = field(default_factory=dict)  # group id -> Group
    _cache: dict = field(default_factory=dict, repr=False, compare=False)  # views and orders made so far

    def _remember(self, key, make):
        value = self._cache.get(key)
        if value is None:
            if len(self._cache) >= 1024:
                self._cache.clear()
            value = self._cache[key] = make()
        return value

    def detail_view(self, compiled, roots) -> tuple[str, list[Clause], frozenset]:
        """:func:`detail_view`, remembered."""
        key = frozenset(roots)
        return self._remember(("detail", key), lambda: detail_view(compiled, key))

    def attributes_below(self, compiled) -> dict[int, frozenset]:
        """:func:`_attributes_below`, remembered."""
        return self._remember(("below",), lambda: _attributes_below(compiled))

    def missing_view(self, compiled, roots, absent, unknown) -> tuple[str, list[Clause]]:
        """:func:`missing_view`, remembered (keyed by what can matter: the attributes and
        conclusions below the roots)."""
        roots = frozenset(roots)
        below = self.attributes_below(compiled)
        absent = frozenset(absent) & frozenset().union(*(below[r] for r in roots))
        unknown = frozenset(unknown) & self._remember(("closure", roots), lambda: closure(compiled, roots))
        return self._remember(("missing", roots, absent, unknown),
                              lambda: missing_view(compiled, roots, absent, unknown, below))

    def attribute_order(self, compiled, node_id: int) -> dict[str, int]:
        """The attributes under a node in rule order (first use in a depth-first walk)."""
        def make():
            order: dict[str, int] = {}
            seen: set[int] = set()
            stack = [node_id]
            while stack:
                nid = stack.pop()
                if nid in seen:
                    continue
                seen.add(nid)
                node = compiled.nodes[nid]
                if node.kind in ("leaf", "any"):
                    order.setdefault(node.ast.attribute, len(order))
                blockers = [compiled.rule_node[c] for c in compiled.removals.get(nid, ())]
                stack.extend(reversed([*node.children, *blockers]))
            return order
        return self._remember(("order", node_id), make)


def rail(node: int, value: bool = True) -> str:
    """The predicate of a canonical node's true rail ``t<n>(P)`` (``value`` True) or false
    rail ``f<n>(P)``: the compiler's naming, which views and backends read."""
    return f"{'t' if value else 'f'}{node}"


def _t(node: int) -> Atom:
    return Atom(rail(node, True), (P,))


def _f(node: int) -> Atom:
    return Atom(rail(node, False), (P,))


def rows(compiled, node_id: int, view: str) -> list[Clause]:
    """The clauses that give ``view`` its rows about one canonical node (a leaf's rail
    written out, as the compiler does in the rules)."""
    def body(atom: Atom) -> tuple:
        return compiled.leaf_rails.get(atom.pred, (atom,))
    out = [Clause(Atom(view, (P, "truth", node_id, True)), body(_t(node_id))),
           Clause(Atom(view, (P, "truth", node_id, False)), body(_f(node_id)))]
    inner = compiled.record_conditions.get(node_id)
    if inner is not None:
        out.append(Clause(Atom(view, (P, "match", node_id, I)), (Atom(f"rt{inner}", (P, I)),)))
    blockers = compiled.removals.get(node_id)  # only a regimen a contraindication can remove has its own node
    if blockers:
        rule = compiled.nodes[compiled.rule_node[compiled.nodes[node_id].rule]].canonical
        for cid in blockers:
            contra = compiled.nodes[compiled.rule_node[cid]].canonical
            out.append(Clause(Atom(view, (P, "removed", node_id, cid)), (_t(rule), _t(contra))))
    return out


def closure(compiled, roots) -> frozenset:
    """The canonical nodes whose verdicts explaining ``roots`` can show."""
    nodes = compiled.nodes
    seen: set[int] = set()
    stack = [nodes[r].canonical for r in roots]
    while stack:
        nid = stack.pop()
        if nid in seen:
            continue
        seen.add(nid)
        stack.extend(part for part, _ in compiled.parts(nid))
    return frozenset(seen)


def detail_view(compiled, roots) -> tuple[str, list[Clause], frozenset]:
    """A view of every node in the closure of ``roots``: (name, clauses, nodes)."""
    nodes = closure(compiled, roots)
    key = ",".join(map(str, sorted(nodes))).encode()
    name = "detail_" + hashlib.sha1(key).hexdigest()[:16]
    return name, [c for nid in sorted(nodes) for c in rows(compiled, nid, name)], nodes


def missing_view(compiled, roots, absent, unknown, below: dict | None = None) -> tuple[str, list[Clause]]:
    """A view of the absent attributes that leave each of ``roots`` undecided (rows
    ``missing``), for a patient whose record lacks ``absent`` and for whom the conclusions in
    ``unknown`` (the roots among them) are unknown and every other conclusion is decided.

    A leaf is unknown when neither of its rails holds: its attribute is absent, or (``has``) a
    class recorded in place of the item it tests (``is known`` never is). An
    ``and`` with an unknown child is unknown unless it is false, an ``or`` unless it is
    true, a ``not`` always: so a node misses what its children miss — but a relevance gate
    (``and`` with ``gated``) misses what its gate misses while the gate is unknown, and what
    its body misses only once the gate holds (relevance is asked first). The view holds clauses
    only for nodes with an absent attribute below them, and none for decided conclusions,
    so the engine walks only where an absent attribute can leave something undecided, and
    checks the verdict only of the inner conditions on that way.
    """
    nodes = compiled.nodes
    below = below or _attributes_below(compiled)
    absent, unknown = frozenset(absent), frozenset(unknown)
    conclusions = frozenset(compiled.plan.conclusions)
    key = "|".join(",".join(map(str, sorted(x))) for x in (roots, unknown, absent))
    name = "missing_" + hashlib.sha1(key.encode()).hexdigest()[:16]

    def walked(nid: int) -> bool:
        return bool(below[nid] & absent) and (nid not in conclusions or nid in unknown)

    def miss(nid: int) -> Atom:
        return Atom(f"{name}_n{nid}", (P, A))

    def kids(nid: int) -> Atom:
        return Atom(f"{name}_k{nid}", (P, A))

    out = [Clause(Atom(name, (P, "missing", nid, A)), (miss(nid),)) for nid in sorted(roots)]
    for nid in sorted(closure(compiled, roots)):
        if not walked(nid):
            continue
        node = nodes[nid]
        if node.kind in ("leaf", "any"):
            attr = node.ast.attribute
            # unknown: neither rail (its attribute is absent, or a class stands for the item tested)
            out.append(Clause(Atom(f"{name}_n{nid}", (P, attr)), (Atom("patient", (P,)), Negation(_t(nid)), Negation(_f(nid)))))
            continue
        # an and (and a regimen: its rule and not its contraindications) is unknown unless
        # false; an or (a concept) unless true; a not always
        guard = () if nid in unknown else {"and": (Negation(_f(nid)),), "regimen": (Negation(_f(nid)),),
                                           "not": ()}.get(node.kind, (Negation(_t(nid)),))
        via = kids(nid) if guard else miss(nid)
        if node.kind == "and" and getattr(node.ast, "gated", False):
            # a relevance gate: while the gate is undecided, only its questions; once it holds, the body's
            gate, body = (nodes[c].canonical for c in node.children)
            if walked(gate):
                out.append(Clause(via, (miss(gate),)))
            if walked(body):
                out.append(Clause(via, (_t(gate), miss(body))))
        else:
            for child in dict.fromkeys(part for part, _ in compiled.parts(nid)):
                if walked(child):
                    out.append(Clause(via, (miss(child),)))
        if guard:
            out.append(Clause(miss(nid), (kids(nid),) + guard))
    return name, out


def _attributes_below(compiled) -> dict[int, frozenset]:
    """For each canonical node, the attributes whose absence can leave it unknown: those its
    leaves read, but for ``is known`` (never unknown)."""
    nodes = compiled.nodes
    memo: dict[int, frozenset] = {}

    def below(nid: int) -> frozenset:
        if nid not in memo:
            node = nodes[nid]
            own = {node.ast.attribute} if node.kind in ("leaf", "any") and not isinstance(node.ast, IsKnown) else set()
            memo[nid] = frozenset(own).union(*(below(part) for part, _ in compiled.parts(nid)))
        return memo[nid]
    for node in nodes:
        if node.canonical == node.id and node.kind != "field":
            below(node.id)
    return memo


def _describe(compiled, nid: int) -> str:
    """A node as a person wrote it: the concept it is, or its condition."""
    for name, kid in compiled.concept_node.items():
        if compiled.nodes[kid].canonical == nid:
            return name
    return to_source(compiled.nodes[nid].ast)


def _conjuncts(compiled):
    """conj(n): canonical nodes whose falsity makes n false (n itself included)."""
    nodes = compiled.nodes
    memo: dict[int, frozenset] = {}

    def conj(nid: int) -> frozenset:
        nid = nodes[nid].canonical
        if nid in memo:
            return memo[nid]
        node = nodes[nid]
        out = {nid}
        if node.kind == "and":
            for child in node.children:
                out |= conj(child)
        elif node.kind == "concept" and node.children:  # false when every rule is false
            out |= frozenset.intersection(*[conj(c) for c in node.children])
        elif node.kind == "regimen":  # a regimen some contraindication can remove: false with its rule
            out |= conj(node.children[0])
        memo[nid] = frozenset(out)
        return memo[nid]
    return conj


def make_plan(compiled) -> Plan:
    """Add the views ``answer`` and ``top`` to the compiled program; return the plan."""
    nodes = compiled.nodes
    program = compiled.program
    everything = sorted(n.id for n in nodes if n.canonical == n.id and n.kind != "field")
    program.views["answer"] = [c for nid in everything for c in rows(compiled, nid, "answer")]

    conclusions = sorted({n.canonical for n in nodes if n.kind in ("concept", "rule", "regimen", "population")})
    # what `recommend` names missing data for: concepts, regimens (their rules and the
    # contraindications that can remove them), contraindications, `do not recommend` statements
    statements = [compiled.rule_node[nodes[k].rule] for k in compiled.regimens
                  if compiled.rule(nodes[k].rule).polarity == "do_not_recommend"]
    statements += [compiled.rule_node[c] for cs in compiled.removals.values() for c in cs]
    missing_roots = sorted({nodes[nid].canonical for nid in
                            list(compiled.concept_node.values()) + list(compiled.regimens) + statements})
    plan = Plan(conclusions=tuple(conclusions), missing_roots=tuple(missing_roots))
    conj = _conjuncts(compiled)
    clauses: list[Clause] = []

    def implied(gate: int, used: frozenset) -> bool:
        """An `and` whose parts are all gates already found open (or such `and`s) cannot be
        false where it would be checked: no use as a gate."""
        node = nodes[gate]
        return node.kind == "and" and all(nodes[c].canonical in used or implied(nodes[c].canonical, used)
                                          for c in node.children)

    def build(items: set[int], used: frozenset, view: str, parent: int | None) -> None:
        rest = set(items)
        while True:
            shared = Counter(g for i in rest for g in conj(i) if g != i and g not in used and not implied(g, used))
            if not shared:
                break
            gate, size = max(shared.items(), key=lambda kv: (kv[1], -kv[0]))
            if size < MIN_GROUP:
                break
            members = frozenset(i for i in rest if gate in conj(i) and i != gate)
            rest -= members
            gid = len(plan.groups) + 1
            plan.groups[gid] = Group(gid, gate, members, parent)
            inner = f"group{gid}"
            clauses.append(Clause(Atom(view, (P, "closed", gid, gate)), (_f(gate),),
                                  note=f"group {gid}: {len(members)} conclusions that need {_describe(compiled, gate)}"))
            clauses.append(Clause(Atom(view, (P, K, A, B)),
                                  (Atom("patient", (P,)), Negation(_f(gate)), Atom(inner, (P, K, A, B)))))
            build(members, used | {gate}, inner, gid)
        for nid in sorted(rest):
            clauses.extend(rows(compiled, nid, view))

    build(set(conclusions), frozenset(), "top", None)
    program.views["top"] = clauses
    program.outputs.update({"answer": 4, "top": 4})
    return plan
