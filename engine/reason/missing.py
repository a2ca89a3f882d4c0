"""Missing data: which absent attributes leave an unknown conclusion undecided.

In: the compiled knowledge base, the engine's verdicts (:class:`~.evaluate.Evaluation`) and
the record's absent attributes. Out: per unknown node, the attributes whose absence leaves it
unknown, in rule order. :class:`MissingBounds` bounds them from the conclusions' verdicts
alone (sound by Kleene's logic); the evaluation asks the engine only when the bounds differ.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..compile.compiler import CompiledKB
from ..lang.nodes import IsKnown

if TYPE_CHECKING:
    from .evaluate import Evaluation


class MissingBounds:
    """What an unknown conclusion misses, bounded from the verdicts of the conclusions and the
    record alone: (attributes certainly missed, attributes possibly missed). When the bounds
    meet, :func:`evaluate` needs no second query.

    A leaf is unknown exactly when its attribute is absent. Below an unknown ``and`` every part
    is true or unknown; below an unknown ``or`` (a concept with several rules) every part is
    false or unknown; a conclusion's verdict is known. A part whose verdict these facts do not
    settle contributes only to the possible bound.
    """

    def __init__(self, compiled: CompiledKB, truth: dict[int, bool], absent: set[str], vague: set[str] = frozenset()):
        self.nodes = compiled.nodes
        self.parts = compiled.parts
        self.conclusions = set(compiled.plan.conclusions)
        self.below = compiled.plan.attributes_below(compiled)
        self.truth = truth
        self.absent = absent  # attributes that can leave a leaf unknown: absent ones, and the vague
        self.vague = vague  # sets of items that name a class: a `has` on them may be unknown
        self._memo: dict[int, tuple[frozenset, frozenset]] = {}

    def unknown(self, nid: int) -> tuple[frozenset, frozenset]:
        """Bounds for a canonical node known to be unknown."""
        if nid not in self._memo:
            node = self.nodes[nid]
            if node.kind in ("leaf", "any"):
                found = frozenset({node.ast.attribute})
                self._memo[nid] = (found, found)
            elif node.kind == "not":
                self._memo[nid] = self.unknown(self._canon(node.children[0]))
            elif node.kind == "and" and getattr(node.ast, "gated", False):
                self._memo[nid] = self._gated(nid)
            elif node.kind in ("and", "regimen"):  # a regimen: its rule and not its contraindications
                self._memo[nid] = self._parts(nid, settles=True)
            else:  # or, a concept with several rules
                self._memo[nid] = self._parts(nid, settles=False)
        return self._memo[nid]

    def _canon(self, nid: int) -> int:
        return self.nodes[nid].canonical

    def _parts(self, nid: int, settles: bool) -> tuple[frozenset, frozenset]:
        """Bounds over the parts of a node: ``settles`` when they are true or unknown (the parts
        of an ``and`` that is not false: a certainly unknown part proves it unknown), else
        false or unknown (the parts of an unknown ``or``)."""
        certain: set[str] = set()
        could: set[str] = set()
        for child, positive in dict.fromkeys(self.parts(nid)):
            status = self._status(child)
            if status is None:  # unsettled: may be unknown or not
                if self.nodes[child].kind == "and" and settles == positive:  # not false either
                    c, p = self._open(child)
                    certain |= c  # a certain part makes it unknown (it is not false here)
                    could |= p
                else:
                    could |= self.below[child] & self.absent
            elif status:  # certainly unknown
                c, p = self.unknown(child)
                certain |= c
                could |= p
        return frozenset(certain), frozenset(could)

    def _gated(self, nid: int) -> tuple[frozenset, frozenset]:
        """Bounds for a relevance gate that is not false: its gate's questions while the gate is
        unknown, its body's once the gate holds (the gate is then true: the node is not false)."""
        gate, body = (self._canon(c) for c in self.nodes[nid].children)
        status = self._status(gate)
        if status:
            return self.unknown(gate)
        if status is None:  # either: the union bounds it
            g = self._open(gate)
            b = self._open(body)
            return frozenset(), g[1] | b[1]
        return self._open(body)

    def _open(self, nid: int) -> tuple[frozenset, frozenset]:
        """Bounds for a node that is true or unknown."""
        status = self._status(nid)
        if status:
            return self.unknown(nid)
        if status is False:
            return frozenset(), frozenset()
        node = self.nodes[nid]
        if node.kind == "and" and getattr(node.ast, "gated", False):
            return self._gated(nid)
        if node.kind == "and":
            return self._parts(nid, settles=True)
        return frozenset(), self.below[nid] & self.absent

    def _status(self, nid: int) -> bool | None:
        """True: certainly unknown; False: certainly decided; None: not settled by what is known."""
        node = self.nodes[nid]
        if nid in self.conclusions:
            return nid not in self.truth
        if node.kind in ("leaf", "any"):
            if node.ast.attribute in self.vague:
                return None  # a `has` on a set naming a class: unknown only for the class's members
            return not isinstance(node.ast, IsKnown) and node.ast.attribute in self.absent
        if node.kind == "not":
            return self._status(self._canon(node.children[0]))
        return None


def missing_attributes(ev: Evaluation, node_id: int) -> list[str]:
    """The absent attributes that leave an unknown node undecided, in rule order: as
    :func:`evaluate` found them, or read off the verdicts of the nodes under it."""
    if ev.value(node_id) is not None:
        return []
    found = ev.missing.get(ev.compiled.nodes[node_id].canonical)
    if found is None:
        found = set()
        _unknown_leaves(ev, node_id, set(), found)
    order = ev.compiled.plan.attribute_order(ev.compiled, node_id)
    return sorted(found, key=order.__getitem__)


def _unknown_leaves(ev: Evaluation, node_id: int, seen: set[int], found: set[str]) -> None:
    nid = ev.compiled.nodes[node_id].canonical
    if nid in seen or ev.value(nid) is not None:
        return
    seen.add(nid)
    node = ev.compiled.nodes[nid]
    if node.kind in ("leaf", "any"):
        found.add(node.ast.attribute)
    if node.kind == "and" and getattr(node.ast, "gated", False):  # relevance first
        gate, body = node.children
        _unknown_leaves(ev, gate if ev.value(gate) is None else body, seen, found)
        return
    for part, _ in ev.compiled.parts(nid):
        _unknown_leaves(ev, part, seen, found)
