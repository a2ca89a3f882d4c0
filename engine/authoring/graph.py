"""The knowledge base's dependency graph (``oncologic graph``).

In: a compiled knowledge base, an optional goal (a concept, setting, recommendation id such as
``anlotinib+irinotecan`` or rule id) and a language (en, zh).

Out: a :class:`oncologic.report.pictures.Graph` whose edges read "depends on":

- a concept or setting → what its rule reads (when several rules define it, one ``rule`` node
  each, reached by an ``alternative`` edge labelled "or");
- a recommendation or ``do not recommend`` rule (node: its regimens, grading, rule id,
  condition, source) → its setting ("for") and what the rest of its condition reads;
- a recommendation → each contraindication that can remove one of its regimens ("removed by",
  ``removes``) and each ``do not recommend`` statement covering one of its items
  (``contradicts``);
- a contraindication (node: the items it avoids, rule id, condition, reason, source) → what it
  reads; a derived attribute (``tfi = progression_date - first_line_end_date``) → its dates.

Nodes are labelled in the language asked for (the labels the knowledge base declares, else the
ids), carry their source as ``000 Table 3`` and sit in one cluster per rule file. With a goal,
the graph keeps the goal and what it depends on (its ancestors); for a regimen also the
contraindications and ``do not recommend`` statements that can remove or contradict it (and
what those read). Drawn by :mod:`oncologic.report.pictures` (DOT, Mermaid, SVG).

Errors: :class:`oncologic.errors.GoalError` for a goal the knowledge base does not know, with a
did-you-mean (the one of ``explain``).
"""
from __future__ import annotations

from typing import Optional

from ..compile.compiler import CompiledKB
from ..lang import nodes as n
from ..reason.conclude import covering
from ..reason.explain import Goal
from ..report.pictures import Graph, Line, Names, Node, Cluster

CONDITION_COLUMNS = 160  # a condition or reason written on a node is cut after this many columns


def kb_graph(compiled: CompiledKB, goal: Optional[str] = None, lang: str = "en") -> Graph:
    """The dependency graph of the knowledge base, or of what ``goal`` depends on."""
    builder = _Builder(compiled, lang)
    graph = builder.build()
    if goal is None:
        graph.title = builder.names.word("title_kb")
        return graph
    target = Goal(compiled, goal)  # GoalError with a did-you-mean for an unknown goal
    roots, extra = builder.roots(target)
    keep = _ancestors(graph, roots, extra)
    graph.nodes = {k: v for k, v in graph.nodes.items() if k in keep}
    graph.edges = [e for e in graph.edges if e.src in keep and e.dst in keep
                   and (e.kind in ("depends", "alternative") or (e.src, e.dst, e.kind) in extra)]
    label = builder.names.regimen(goal) if target.regimens or target.statements else builder.names.name(goal)
    # a label is a noun or a verb phrase ("refer to a clinical trial"): quoted, with the id when it differs
    graph.title = (builder.names.word("title_goal", goal=label) if label == goal
                   else builder.names.word("title_goal_id", goal=label, id=goal))
    return graph


def _ancestors(graph: Graph, roots: list[str], extra: set) -> set[str]:
    """The roots and every node they reach along "depends on" edges, and along the ``extra``
    removal and contradiction edges."""
    out: dict[str, list[str]] = {}
    for e in graph.edges:
        if e.kind in ("depends", "alternative") or (e.src, e.dst, e.kind) in extra:
            out.setdefault(e.src, []).append(e.dst)
    seen = set()
    stack = [r for r in roots if r in graph.nodes]
    while stack:
        key = stack.pop()
        if key not in seen:
            seen.add(key)
            stack.extend(out.get(key, ()))
    return seen


class _Builder:
    def __init__(self, compiled: CompiledKB, lang: str):
        self.compiled = compiled
        self.checked = compiled.checked
        self.names = Names(self.checked, lang)
        self.graph = Graph(direction="LR")
        self.concept_node: dict[str, str] = {}  # rule id of a concept rule -> its node
        self.removal_edges: list[tuple[str, str, str, str]] = []  # (src, dst, kind, regimen id)

    # ---- the whole graph ----------------------------------------------------------------
    def build(self) -> Graph:
        by_name: dict[str, list[n.Rule]] = {}
        for rule in self.checked.rules:
            if rule.kind in ("concept", "setting"):
                by_name.setdefault(rule.name, []).append(rule)
        for name, rules in by_name.items():
            self.concept(name, rules)
        for rule in self.checked.rules:
            if rule.kind == "recommendation":
                self.recommendation(rule)
            elif rule.kind == "contraindication":
                self.contraindication(rule)
        self.removals()
        return self.graph

    def cluster(self, file: str) -> str:
        self.graph.clusters.setdefault(file, Cluster(file, file))
        return file

    def concept(self, name: str, rules: list[n.Rule]) -> None:
        kind = self.checked.concepts.get(name, "concept")
        label = self.names.name(name)
        lines = [Line(label, "title")] + ([Line(name, "small")] if label != name else [])
        if len(rules) == 1:
            rule = rules[0]
            if rule.id != name:
                lines.append(Line(self.names.word("rule", rule=rule.id), "small"))
            lines += self.condition_lines(rule.condition) + self.source_lines(rule)
            self.graph.add(Node(name, kind, lines, cluster=self.cluster(rule.pos.file)))
            self.concept_node[rule.id] = name
            self.reads(name, rule.condition)
            return
        self.graph.add(Node(name, kind, lines, cluster=self.cluster(rules[0].pos.file)))
        for rule in rules:
            key = f"rule:{rule.id}"
            self.graph.add(Node(key, "rule", [Line(rule.id, "plain"), *self.condition_lines(rule.condition),
                                               *self.source_lines(rule)], cluster=self.cluster(rule.pos.file)))
            self.concept_node[rule.id] = key
            self.graph.link(name, key, "alternative", self.names.word("or"))
            self.reads(key, rule.condition)

    def recommendation(self, rule: n.Rule) -> None:
        kind = "recommendation" if rule.polarity == "recommend" else "not_recommended"
        regimens = ", ".join(self.names.regimen(n.regimen_id(items)) for items in rule.regimens)
        lines = [Line(regimens if kind == "recommendation" else self.names.word("do_not_recommend", regimens=regimens), "title")]
        consensus = rule.consensus.value if rule.consensus is not None else None
        grade = self.names.grade(rule.strength, rule.evidence, consensus)
        if grade:
            lines.append(Line(grade, "plain"))
        lines.append(Line(self.names.word("rule", rule=rule.id), "small"))
        rest = _without_setting(rule.condition, rule.setting)
        lines += self.condition_lines(rest) + self.source_lines(rule)
        self.graph.add(Node(rule.id, kind, lines, cluster=self.cluster(rule.pos.file)))
        if rule.setting:
            self.setting_edge(rule.id, rule.setting)
        self.reads(rule.id, rest)
        if rule.gate is not None:
            self.reads(rule.id, rule.gate)

    def setting_edge(self, src: str, setting: str) -> None:
        self.graph.link(src, setting, "depends", self.names.word("for"))

    def contraindication(self, rule: n.Rule) -> None:
        items = self.names.word("avoid", items=", ".join(self.names.regimen(n.regimen_id(r)) for r in rule.regimens))
        lines = [Line(items, "title"), Line(self.names.word("rule", rule=rule.id), "small"),
                 *self.condition_lines(rule.condition)]
        reason = n.text_in(rule.reason, rule.reason_labels, self.names.lang)
        if reason:
            lines.append(Line(_cut(self.names.word("because", reason=reason), CONDITION_COLUMNS), "small"))
        lines += self.source_lines(rule)
        self.graph.add(Node(rule.id, "contraindication", lines, cluster=self.cluster(rule.pos.file)))
        self.reads(rule.id, rule.condition)

    def removals(self) -> None:
        """Recommendation → the contraindications that can remove a regimen of it, and the
        `do not recommend` statements that cover one of its items."""
        compiled = self.compiled
        for kid in compiled.regimens:
            node = compiled.nodes[kid]
            rule = compiled.rule(node.rule)
            if rule.polarity != "recommend":
                continue
            many = len(rule.regimens) > 1
            for cid in compiled.removals.get(kid, ()):
                label = self.names.word("removed_by") + (f" ({self.names.regimen(node.name)})" if many else "")
                self.graph.link(rule.id, cid, "removes", label)
                self.removal_edges.append((rule.id, cid, "removes", node.name))
            for sid in covering(compiled, node.items):
                label = self.names.word("not_recommended_by") + (f" ({self.names.regimen(node.name)})" if many else "")
                self.graph.link(rule.id, sid, "contradicts", label)
                self.removal_edges.append((rule.id, sid, "contradicts", node.name))

    # ---- what a condition reads -----------------------------------------------------------
    def reads(self, src: str, condition) -> None:
        if condition is None:
            return
        stack = [condition]
        while stack:
            part = stack.pop()
            if isinstance(part, n.ConceptRef):
                self.graph.link(src, part.name)
            elif isinstance(part, n.AnyRecord):  # the fields inside `any ... where` are the record's, not attributes
                self.graph.link(src, self.attribute(part.attribute))
            elif isinstance(part, (n.Compare, n.OneOf, n.Has, n.IsEmpty, n.IsKnown)):
                self.graph.link(src, self.attribute(part.attribute))
            else:
                stack.extend(reversed(n.children(part)))

    def attribute(self, name: str) -> str:
        key = f"attr:{name}"
        if key in self.graph.nodes:
            return key
        attr = self.checked.attributes.get(name)
        label = self.names.name(name)
        lines = [Line(label, "title")]
        kind = attr.type.kind if attr else "?"
        lines.append(Line(f"{name} · {kind}" if label != name else kind, "small"))
        cluster = self.cluster(attr.pos.file) if attr else None
        self.graph.add(Node(key, "attribute", lines, cluster=cluster))
        if attr is not None and attr.derive:
            for date in attr.derive:
                self.graph.link(key, self.attribute(date))
        return key

    # ---- lines ----------------------------------------------------------------------------
    def condition_lines(self, condition) -> list[Line]:
        if condition is None:
            return []
        return [Line(_cut(self.names.word("if", condition=n.to_source(condition)), CONDITION_COLUMNS), "small")]

    def source_lines(self, rule: n.Rule) -> list[Line]:
        shown = [self.names.source(c.document, c.locator) for c in rule.sources]
        return [Line("; ".join(s for s in shown if s), "small")] if any(shown) else []

    # ---- a goal's roots -------------------------------------------------------------------
    def roots(self, target: Goal) -> tuple[list[str], set]:
        """The nodes a goal starts from, and the removal/contradiction edges that belong to it."""
        compiled = self.compiled
        if target.concept:
            return [target.concept], set()
        if target.rule:
            key = self.concept_node.get(target.rule, target.rule)
            return [key], {(s, d, k) for s, d, k, _ in self.removal_edges if s == target.rule}
        names = {compiled.nodes[k].name for k in target.regimens + target.statements}
        rules = list(dict.fromkeys(compiled.nodes[k].rule for k in target.regimens + target.statements))
        extra = {(s, d, k) for s, d, k, regimen in self.removal_edges if regimen in names}
        covering_ids = [d for s, d, k in extra if k == "contradicts"]
        return rules + covering_ids, extra


def _without_setting(condition, setting: Optional[str]):
    """A recommendation's condition without its setting (drawn as the "for" edge)."""
    if setting is None or condition is None:
        return condition
    if isinstance(condition, n.ConceptRef) and condition.name == setting:
        return None
    if isinstance(condition, n.And) and not condition.gated and condition.items \
            and isinstance(condition.items[0], n.ConceptRef) and condition.items[0].name == setting:
        rest = condition.items[1:]
        return rest[0] if len(rest) == 1 else n.And(rest, condition.pos)
    return condition


def _cut(text: str, columns: int) -> str:
    from ..report.pictures import width
    if width(text) <= columns:
        return text
    out = ""
    for char in text:
        if width(out + char) > columns - 1:
            break
        out += char
    return out + "…"
