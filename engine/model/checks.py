"""Stage 3: check the AST of all rule files together and resolve it.

The checker builds the vocabulary (documents, attributes, items, concepts), then walks every
rule: it resolves bare names (a concept, or a bool attribute), checks that each comparison
fits the attribute's type and unit, normalises quantities to canonical units, and reports every
problem as a diagnostic with a did-you-mean for misspelt names. Its result, a
:class:`CheckedKB`, is what the compiler consumes.
"""
from __future__ import annotations

import difflib
from dataclasses import replace

from ..lang import nodes as n
from ..lang import units
from ..lang.limits import MAX_DEPTH
from ..lang.visitor import Visitor
from ..errors import Diagnostic
from .kb import CheckedKB

STRENGTHS = ("strong", "moderate", "weak", "none")
ORDERED_KINDS = ("int", "number", "duration", "percent", "length", "date")
VALUE_KINDS = ORDERED_KINDS + ("enum", "bool", "string")


class Checker:
    def __init__(self, modules: list[n.Module]):
        self.modules = modules
        self.kb = CheckedKB(files=[m.file for m in modules])
        self.diagnostics: list[Diagnostic] = []

    # -- reporting --
    def error(self, pos: n.Pos, message: str) -> None:
        self.diagnostics.append(Diagnostic(pos.file, pos.line, pos.column, message))

    def unknown(self, pos: n.Pos, what: str, name: str, candidates) -> None:
        close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        self.error(pos, f"unknown {what} '{name}'{hint}")

    # -- main --
    def run(self) -> CheckedKB:
        self._declare()
        self._check_vocabulary()
        self._check_relevance()
        resolved = []
        rule_ids: dict[str, n.Rule] = {}
        for module in self.modules:
            for rule in module.rules:
                if rule.id in rule_ids:
                    other = rule_ids[rule.id]
                    self.error(rule.pos, f"rule id '{rule.id}' is already used at {other.pos}")
                    continue
                rule_ids[rule.id] = rule
                resolved.append(self._check_rule(rule))
        self.kb.rules = resolved
        self._check_cycles()
        self._check_gradings()
        return self.kb

    # -- `applies when` on attributes --
    def _check_relevance(self) -> None:
        """Resolve each attribute's ``applies when`` (its tests are then gated by it in every
        rule: :meth:`_Resolve._gated`). The expression reads other data: not the attribute
        itself, nor (directly) another attribute's gate."""
        self.gates: dict[str, n.Condition] = {}
        for attr in list(self.kb.attributes.values()):
            if attr.applies is None:
                continue
            gate = _Resolve(self, gating=False).visit(attr.applies)
            read = {getattr(c, "attribute", None) for c in n.walk(gate)}
            if attr.name in read:
                self.error(attr.applies.pos, f"attribute '{attr.name}': 'applies when' cannot test '{attr.name}' itself")
                continue
            chained = sorted(a for a in read if a and a in self.kb.attributes and self.kb.attributes[a].applies is not None)
            if chained:
                self.error(attr.applies.pos, f"attribute '{attr.name}': its 'applies when' tests "
                                             f"{', '.join(repr(a) for a in chained)}, which has an 'applies when' of its own; "
                                             f"gates do not chain: write that condition out here")
                continue
            self.gates[attr.name] = gate
            self.kb.attributes[attr.name] = replace(attr, applies=gate)

    # -- grading schemes (e.g. Table 2 of the lung consensus) --
    def _check_gradings(self) -> None:
        for module in self.modules:
            self.kb.gradings.extend(module.gradings)
        for grading in self.kb.gradings:
            if grading.document not in self.kb.documents:
                self.unknown(grading.pos, "document", grading.document, self.kb.documents)
                continue
            ok = True
            for strength, cond, pos in grading.lines:
                if strength not in STRENGTHS + ("do_not_recommend",):
                    self.error(pos, f"grading '{grading.name}': '{strength}' is not one of {', '.join(STRENGTHS)}, do_not_recommend")
                    ok = False
                for node in n.walk(cond):
                    problem = _GRADING_TERM.visit(node)
                    if problem is not None:
                        self.error(node.pos, f"grading '{grading.name}' can test 'evidence' and 'consensus' only{problem}")
                        ok = False
            if not ok:
                continue
            for rule in self.kb.rules:
                if rule.kind != "recommendation" or not rule.sources or rule.sources[0].document != grading.document:
                    continue
                if rule.consensus is None or (rule.polarity == "recommend" and rule.evidence is None):
                    self.error(rule.pos, f"recommendation '{rule.id}' cites {grading.document}, graded by '{grading.name}': "
                                         "give its 'evidence' and 'consensus'")
                    continue
                expected = next((strength for strength, cond, _ in grading.lines
                                 if _GradeHolds(rule.evidence, rule.consensus.value).visit(cond)), None)
                stated = "do_not_recommend" if rule.polarity == "do_not_recommend" else rule.strength
                if expected is not None and stated != expected:
                    self.error(rule.pos, f"recommendation '{rule.id}': evidence {rule.evidence or '-'} with {rule.consensus.value}% "
                                         f"consensus grades as '{expected}' under '{grading.name}' "
                                         f"({grading.pos.file}:{grading.pos.line}), but the rule says '{stated}'")

    def _check_cycles(self) -> None:
        """A concept defined in terms of itself has no clinical meaning: report the cycle. Then
        the depth limit (:data:`~oncologic.lang.limits.MAX_DEPTH`). Both walks are iterative."""
        uses: dict[str, set[str]] = {}
        first_rule: dict[str, n.Rule] = {}
        for rule in self.kb.rules:
            if rule.kind in ("concept", "setting") and rule.condition is not None:
                refs = {c.name for c in n.walk(rule.condition) if isinstance(c, n.ConceptRef)}
                uses.setdefault(rule.name, set()).update(refs)
                first_rule.setdefault(rule.name, rule)
        state: dict[str, int] = {}
        reported: set[frozenset] = set()
        cyclic = False
        for root in sorted(uses):
            if state.get(root) is not None:
                continue
            state[root] = 1
            path = [root]
            stack = [iter(sorted(uses.get(root, ())))]
            while stack:
                dep = next(stack[-1], None)
                if dep is None:
                    state[path.pop()] = 2
                    stack.pop()
                elif state.get(dep) == 1:
                    cycle = path[path.index(dep):] + [dep]
                    cyclic = True
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        self.error(first_rule[dep].pos, "concepts are defined in terms of themselves: " + " -> ".join(cycle))
                elif state.get(dep) is None:
                    state[dep] = 1
                    path.append(dep)
                    stack.append(iter(sorted(uses.get(dep, ()))))
        if not cyclic:
            self._check_depth(uses)

    def _check_depth(self, uses: dict[str, set[str]]) -> None:
        """Every rule's condition, with the concepts it uses written out, nests at most
        MAX_DEPTH levels (explanations walk it so). Reported once, at the rule that first goes
        past the limit (not at every rule built on it)."""
        depth: dict[str, int] = {}   # concept -> its deepest rule's depth
        via: dict[str, str] = {}     # concept -> the concept its deepest rule goes through
        rules_of: dict[str, list[n.Rule]] = {}
        for rule in self.kb.rules:
            if rule.kind in ("concept", "setting") and rule.condition is not None:
                rules_of.setdefault(rule.name, []).append(rule)
        waiting = {name: len(deps & rules_of.keys()) for name, deps in uses.items()}
        users: dict[str, list[str]] = {}
        for name, deps in uses.items():
            for dep in deps & rules_of.keys():
                users.setdefault(dep, []).append(name)
        ready = sorted(name for name, count in waiting.items() if count == 0)
        while ready:  # concepts in dependency order (no cycles here)
            name = ready.pop()
            depth[name], via[name] = max((_expanded_depth(r.condition, depth) for r in rules_of[name]),
                                         key=lambda dv: dv[0])
            for user in users.get(name, ()):
                waiting[user] -= 1
                if waiting[user] == 0:
                    ready.append(user)
        for rule in self.kb.rules:
            if rule.condition is None:
                continue
            levels, through = _expanded_depth(rule.condition, depth)
            if levels <= MAX_DEPTH or (through is not None and depth.get(through, 0) > MAX_DEPTH):
                continue  # within the limit, or past it already in the concept it uses
            chain = f" through concept '{through}'" if through else ""
            self.error(rule.pos, f"{rule.kind} '{rule.id}': its condition{chain} nests {levels} levels deep with the "
                                 f"concepts it uses written out (limit {MAX_DEPTH}); define it in fewer steps")

    def _declare(self) -> None:
        kb = self.kb
        for module in self.modules:
            for doc in module.documents:
                if doc.name in kb.documents:
                    self.error(doc.pos, f"document '{doc.name}' is already declared at {kb.documents[doc.name].pos}")
                kb.documents.setdefault(doc.name, doc)
            for attr in module.attributes:
                if attr.name in kb.attributes:
                    self.error(attr.pos, f"attribute '{attr.name}' is already declared at {kb.attributes[attr.name].pos}")
                kb.attributes.setdefault(attr.name, attr)
            for item in module.items:
                if item.name in kb.items:
                    self.error(item.pos, f"{item.kind} '{item.name}' is already declared at {kb.items[item.name].pos}")
                kb.items.setdefault(item.name, item)
        for module in self.modules:
            for rule in module.rules:
                if rule.kind in ("concept", "setting"):
                    previous = kb.concepts.get(rule.name)
                    if previous and previous != rule.kind:
                        self.error(rule.pos, f"'{rule.name}' is declared both as a concept and as a setting")
                    if rule.name in kb.attributes:
                        self.error(rule.pos, f"'{rule.name}' is an attribute (declared at {kb.attributes[rule.name].pos}); a concept needs another name")
                    kb.concepts[rule.name] = rule.kind

    def _check_vocabulary(self) -> None:
        kb = self.kb
        for attr in kb.attributes.values():
            self._check_type(attr.type, attr.pos, attr.name)
            if attr.derive:
                for source in attr.derive:
                    src = kb.attributes.get(source)
                    if src is None:
                        self.unknown(attr.pos, "attribute", source, kb.attributes)
                    elif src.type.kind != "date":
                        self.error(attr.pos, f"'{attr.name}' is derived as a difference of dates, but '{source}' is a {src.type.kind}")
                if attr.type.kind != "duration":
                    self.error(attr.pos, f"'{attr.name}' is derived as a difference of dates, so it must be a duration, not a {attr.type.kind}")
        for item in kb.items.values():
            for cls in item.isa:
                target = kb.items.get(cls)
                if target is None:
                    self.unknown(item.pos, "class", cls, [i.name for i in kb.items.values() if i.kind in ("class", "group")])
                elif target.kind not in ("class", "group"):
                    self.error(item.pos, f"'{item.name}' is declared a member of '{cls}', which is a {target.kind}, not a class")
            if item.name in kb.ancestors(item.name):
                self.error(item.pos, f"class membership of '{item.name}' is circular")

    def _check_type(self, spec: n.TypeSpec, pos: n.Pos, name: str) -> None:
        if spec.kind in units.UNITS or spec.kind in ("int", "number"):
            for bound in (spec.low, spec.high):
                if bound is not None:
                    self._normalise(bound, spec.kind, pos, f"range of '{name}'")
        if spec.kind in ("enum", "set") and len(set(spec.values)) != len(spec.values):
            self.error(pos, f"'{name}' lists a value twice")
        for fld in spec.fields:
            if fld.type.kind in ("set", "item_set", "record_list"):
                self.error(fld.pos, f"field '{fld.name}' of '{name}' must be a single value, not a {fld.type.kind}")
            self._check_type(fld.type, fld.pos, f"{name}.{fld.name}")

    def _normalise(self, q: n.Quantity, kind: str, pos: n.Pos, what: str) -> n.Quantity | None:
        written = f"{q.value}{q.unit or ''}"
        if kind in units.UNITS:
            if q.unit is None and kind != "percent":
                self.error(pos, f"{what}: {q.value} needs a unit ({', '.join(units.UNITS[kind][1])})")
                return None
            try:
                value = units.to_canonical(q.value, q.unit, kind)
            except ValueError as err:
                self.error(pos, f"{what}: {err}")
                return None
            return n.Quantity(value, units.canonical_unit(kind), written)
        if kind in ("int", "number"):
            if q.unit is not None:
                self.error(pos, f"{what} is a plain {kind}; '{q.unit}' is not allowed here")
                return None
            if kind == "int" and not isinstance(q.value, int):
                self.error(pos, f"{what} is a whole number; {q.value} is not")
                return None
            return n.Quantity(q.value, None, written)
        self.error(pos, f"{what} is a {kind}; a number does not fit")
        return None

    # -- rules --
    def _check_rule(self, rule: n.Rule) -> n.Rule:
        kb = self.kb
        where = f"{rule.kind} '{rule.id}'"
        for cite in rule.sources:
            if cite.document not in kb.documents:
                self.unknown(cite.pos, "document", cite.document, kb.documents)
        if not rule.sources:
            self.error(rule.pos, f"{where} cites no source; add: source DOCUMENT \"table or section\"")
        if rule.condition is None:
            hint = "; 'applies when' says when it is relevant, it still needs its condition" if rule.gate is not None else ""
            self.error(rule.pos, f"{where} has no condition; add 'if ...'" + (" or 'for SETTING'" if rule.kind == "recommendation" else "") + hint)
            if rule.gate is not None:
                _Resolve(self).visit(rule.gate)  # its names are checked all the same
        if rule.kind == "recommendation":
            if rule.polarity is None:
                self.error(rule.pos, f"{where} says neither 'recommend ITEMS' nor 'do not recommend ITEMS'")
            if rule.strength is not None and rule.strength not in STRENGTHS:
                self.error(rule.pos, f"{where}: strength '{rule.strength}' is not one of {', '.join(STRENGTHS)}")
            if rule.setting is not None and kb.concepts.get(rule.setting) is None:
                self.unknown(rule.pos, "setting", rule.setting, kb.concepts)
        if rule.kind == "contraindication":
            if not rule.regimens:
                self.error(rule.pos, f"{where} names nothing to avoid; add 'avoid ITEM, ...'")
            if not rule.reason:
                self.error(rule.pos, f"{where} gives no reason; add 'because \"...\"'")
        elif rule.kind != "recommendation" and rule.regimens:
            self.error(rule.pos, f"{where} cannot recommend items; use a recommendation")
        if rule.kind != "recommendation":
            for attr_name, value in (("strength", rule.strength), ("evidence", rule.evidence), ("consensus", rule.consensus)):
                if value is not None:
                    self.error(rule.pos, f"{where}: '{attr_name}' belongs to recommendations")
        for regimen in rule.regimens:
            for item in regimen:
                if item not in kb.items:
                    self.unknown(rule.pos, "drug, class, procedure or action", item, kb.items)
            if len(set(regimen)) != len(regimen):
                self.error(rule.pos, f"{where} names an item twice in one regimen")
        consensus = rule.consensus
        if consensus is not None:
            if consensus.unit not in ("%", None) or not 0 <= consensus.value <= 100:
                self.error(rule.pos, f"{where}: consensus is a percentage of experts, 0-100%")
                consensus = None
            else:
                consensus = n.Quantity(consensus.value, "%")
        condition = _Resolve(self).visit(rule.condition) if rule.condition is not None else None
        gate = n.gate_parts(condition)[0] if rule.gate is not None and n.gate_parts(condition) else None
        population = rule.population
        if population is not None:
            if rule.kind != "recommendation" or rule.polarity != "recommend":
                self.error(rule.pos, f"{where}: 'population' belongs to recommendations (it flags a recommended regimen)")
            population = _Resolve(self).visit(population)
        return replace(rule, condition=condition, consensus=consensus, gate=gate, population=population)


def check(modules: list[n.Module]) -> tuple[CheckedKB, list[Diagnostic]]:
    """Check the rule files of one knowledge base together and resolve them.

    ``modules``: one :class:`~oncologic.lang.nodes.Module` per rule file
    (:func:`oncologic.lang.builder.build_module`), in the order of the files. Returns
    ``(kb, diagnostics)``. ``kb`` is the :class:`CheckedKB`: vocabulary, concepts, gradings and
    the rules with every condition resolved (a bare name becomes a
    :class:`~oncologic.lang.nodes.ConceptRef` or ``attribute = true``) and every quantity in
    its attribute's canonical unit (durations in days, lengths in mm, percentages in %; a
    rule's consensus in %; ``written`` keeps the author's ``3mo``). ``diagnostics`` lists
    every problem found (unknown names with a did-you-mean, types, units, duplicate ids,
    cycles of concepts, grading mismatches), each with file, line and column. Bad rules raise
    nothing: a non-empty list means ``kb`` must not be compiled (``build`` raises
    :class:`~oncologic.errors.RuleError` with it).
    """
    checker = Checker(modules)
    kb = checker.run()
    return kb, checker.diagnostics


class _Resolve(Visitor):
    """A rule's condition with its names resolved (a bare name becomes a concept reference or
    ``attribute = true``) and each value checked against its attribute's type and normalised;
    problems go to the checker. ``record``: the list attribute whose fields an ``any ... where``
    tests."""

    def __init__(self, checker: Checker, record: n.Attribute | None = None, gating: bool = True):
        self.checker, self.kb, self.record = checker, checker.kb, record
        self.error, self.unknown = checker.error, checker.unknown
        self.fits = _Fits(checker)
        # tests of an attribute declared `applies when G` become `(A is known or G) and test`
        self.gates = getattr(checker, "gates", {}) if gating and record is None else {}

    def _gated(self, cond: n.Condition) -> n.Condition:
        gate = self.gates.get(getattr(cond, "attribute", None))
        if gate is None:
            return cond
        return n.And((n.Or((n.IsKnown(cond.attribute, cond.pos), gate), cond.pos), cond), cond.pos, gated=True)

    def visit_And(self, cond: n.And | n.Or) -> n.Condition:
        return replace(cond, items=tuple(map(self.visit, cond.items)))

    visit_Or = visit_And

    def visit_Not(self, cond: n.Not) -> n.Condition:
        return replace(cond, item=self.visit(cond.item))

    def visit_Ref(self, ref: n.Ref) -> n.Condition:
        kb = self.kb
        if self.record is not None:
            attr = self._attribute(ref.name, ref.pos)
            if attr is not None and attr.type.kind != "bool":
                self.error(ref.pos, f"field '{ref.name}' is a {attr.type.kind}; compare it with a value")
            return n.Compare(ref.name, "=", n.BoolValue(True), ref.pos)
        if ref.name in kb.concepts:
            return n.ConceptRef(ref.name, ref.pos)
        attr = kb.attributes.get(ref.name)
        if attr is not None:
            if attr.type.kind == "bool":
                return self._gated(n.Compare(ref.name, "=", n.BoolValue(True), ref.pos))
            self.error(ref.pos, f"'{ref.name}' is a {attr.type.kind} attribute; compare it with a value (e.g. '{ref.name} = ...')")
            return ref
        candidates = list(kb.concepts) + [a for a, v in kb.attributes.items() if v.type.kind == "bool"]
        self.unknown(ref.pos, "concept", ref.name, candidates)
        return ref

    def visit_Compare(self, cond: n.Compare) -> n.Condition:
        attr = self._attribute(cond.attribute, cond.pos)
        if attr is None:
            return cond
        return self._gated(replace(cond, value=self._value(cond.value, attr, cond.pos, cond.op)))

    def visit_OneOf(self, cond: n.OneOf) -> n.Condition:
        attr = self._attribute(cond.attribute, cond.pos)
        if attr is None:
            return cond
        if attr.type.kind not in VALUE_KINDS:
            self.error(cond.pos, f"'{attr.name}' is a {attr.type.kind}; 'in (...)' takes a single-valued attribute (for sets, write 'has any of (...)')")
            return cond
        return self._gated(replace(cond, values=tuple(self._value(v, attr, cond.pos, "=") for v in cond.values)))

    def visit_Has(self, cond: n.Has) -> n.Condition:
        attr = self._attribute(cond.attribute, cond.pos)
        if attr is None:
            return cond
        if attr.type.kind not in ("set", "item_set"):
            self.error(cond.pos, f"'{attr.name}' is a {attr.type.kind}, not a set; 'has' is for sets (write '{attr.name} = ...' or 'in (...)')")
            return cond
        return self._gated(replace(cond, values=tuple(self._member(v, attr, cond.pos) for v in cond.values)))

    def visit_IsEmpty(self, cond: n.IsEmpty) -> n.Condition:
        attr = self._attribute(cond.attribute, cond.pos)
        if attr is not None and attr.type.kind not in ("set", "item_set", "record_list"):
            self.error(cond.pos, f"'{attr.name}' is a {attr.type.kind}; 'is empty' is for sets and lists")
        return self._gated(cond)

    def visit_IsKnown(self, cond: n.IsKnown) -> n.Condition:
        self._attribute(cond.attribute, cond.pos)
        return cond

    def visit_AnyRecord(self, cond: n.AnyRecord) -> n.Condition:
        attr = self._attribute(cond.attribute, cond.pos)
        if attr is None:
            return cond
        if attr.type.kind != "record_list":
            self.error(cond.pos, f"'{attr.name}' is a {attr.type.kind}; 'any ... where (...)' is for lists of records")
            return cond
        if self.record is not None:
            self.error(cond.pos, "'any ... where' cannot be nested")
            return cond
        return self._gated(replace(cond, condition=_Resolve(self.checker, record=attr).visit(cond.condition)))

    def _attribute(self, name: str, pos: n.Pos) -> n.Attribute | None:
        """The attribute (or, inside ``any ... where``, the field) a condition tests."""
        record = self.record
        if record is not None:
            for fld in record.type.fields:
                if fld.name == name:
                    return n.Attribute(fld.name, fld.type, (), None, True, fld.pos)
            self.unknown(pos, f"field of '{record.name}'", name, [f.name for f in record.type.fields])
            return None
        attr = self.kb.attributes.get(name)
        if attr is None:
            if name in self.kb.concepts:
                self.error(pos, f"'{name}' is a concept, not an attribute; test it by writing its name alone")
            else:
                self.unknown(pos, "attribute", name, self.kb.attributes)
        return attr

    def _value(self, value: n.Value, attr: n.Attribute, pos: n.Pos, op: str) -> n.Value:
        kind = attr.type.kind
        name = attr.name
        if op not in ("=", "!=") and kind not in ORDERED_KINDS:
            self.error(pos, f"'{name}' is a {kind}; it can be tested with = or != but not {op}")
            return value
        if kind in ("set", "item_set", "record_list"):
            self.error(pos, f"'{name}' is a {kind.replace('_', ' ')}; test its members with 'has' (e.g. '{name} has ...')")
            return value
        return self.fits.visit(value, attr, pos)

    def _member(self, value: n.Value, attr: n.Attribute, pos: n.Pos) -> n.Value:
        if not isinstance(value, n.Symbol):
            self.error(pos, f"'{attr.name}' holds names; write one without quotes")
            return value
        if attr.type.kind == "set":
            if value.name not in attr.type.values:
                self.unknown(pos, f"value of '{attr.name}'", value.name, attr.type.values)
        elif value.name not in self.kb.items:
            self.unknown(pos, "drug or class", value.name, self.kb.items)
        return value


class _Fits(Visitor):
    """Does a value fit its attribute? ``visit(value, attr, pos)`` reports to the checker when
    not and returns the value, a quantity normalised to the attribute's canonical unit."""

    def __init__(self, checker: Checker):
        self.checker = checker
        self.error, self.unknown = checker.error, checker.unknown

    def visit_Quantity(self, value: n.Quantity, attr: n.Attribute, pos: n.Pos) -> n.Value:
        kind = attr.type.kind
        if kind in ORDERED_KINDS and kind != "date":
            return self.checker._normalise(value, kind, pos, f"'{attr.name}'") or value
        self.error(pos, f"'{attr.name}' is a {kind}; a number does not fit")
        return value

    def visit_Symbol(self, value: n.Symbol, attr: n.Attribute, pos: n.Pos) -> n.Value:
        if attr.type.kind != "enum":
            self.error(pos, f"'{attr.name}' is a {attr.type.kind}; '{value.name}' does not fit" + _example(attr))
        elif value.name not in attr.type.values:
            self.unknown(pos, f"value of '{attr.name}'", value.name, attr.type.values)
        return value

    def visit_BoolValue(self, value: n.BoolValue, attr: n.Attribute, pos: n.Pos) -> n.Value:
        if attr.type.kind != "bool":
            self.error(pos, f"'{attr.name}' is a {attr.type.kind}, not true/false" + _example(attr))
        return value

    def visit_DateValue(self, value: n.DateValue, attr: n.Attribute, pos: n.Pos) -> n.Value:
        if attr.type.kind != "date":
            self.error(pos, f"'{attr.name}' is a {attr.type.kind}, not a date")
        return value

    def visit_Text(self, value: n.Text, attr: n.Attribute, pos: n.Pos) -> n.Value:
        if attr.type.kind != "string":
            self.error(pos, f"'{attr.name}' is a {attr.type.kind}; quoted text does not fit" + _example(attr))
        return value


def _expanded_depth(cond: n.Condition, concepts: dict[str, int]) -> tuple[int, str | None]:
    """(levels of ``cond`` with each concept use counting its concept's depth plus one, the
    concept on the deepest path or None). Iterative; ``concepts`` holds the known depths."""
    best, through = 0, None
    stack = [(cond, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, n.ConceptRef):
            inner = concepts.get(node.name, 0)
            if level + inner > best or (level + inner == best and through is None):
                best, through = level + inner, node.name
            continue
        if level > best:
            best, through = level, None
        stack.extend((child, level + 1) for child in n.children(node))
    return best, through


def _example(attr: n.Attribute) -> str:
    if attr.type.kind == "enum":
        return f" (one of: {', '.join(attr.type.values[:6])}{', ...' if len(attr.type.values) > 6 else ''})"
    unit = units.canonical_unit(attr.type.kind)
    return f" (e.g. 90{unit})" if unit else ""


class _GradingTerm(Visitor):
    """What is wrong with a node of a grading line: None when nothing is, else the end of the
    message (a grading line tests ``evidence`` and ``consensus`` only)."""

    def visit_Compare(self, node: n.Compare | n.OneOf) -> str | None:
        return None if node.attribute in ("evidence", "consensus") else f", not '{node.attribute}'"

    visit_OneOf = visit_Compare

    def visit_And(self, node: n.And | n.Or | n.Not) -> str | None:
        return None

    visit_Or = visit_Not = visit_And

    def generic_visit(self, node: n.Condition) -> str:
        return ""


class _GradeHolds(Visitor):
    """Does a grading line hold for a recommendation's evidence level and consensus (%)?
    A node a grading line cannot test (the checker reports it) does not hold."""

    def __init__(self, evidence: str | None, consensus: float):
        self.evidence = evidence
        self.consensus = consensus

    def visit_And(self, cond: n.And) -> bool:
        return all(map(self.visit, cond.items))

    def visit_Or(self, cond: n.Or) -> bool:
        return any(map(self.visit, cond.items))

    def visit_Not(self, cond: n.Not) -> bool:
        return not self.visit(cond.item)

    def visit_OneOf(self, cond: n.OneOf) -> bool:
        return self.evidence is not None and self.evidence in [_level(v) for v in cond.values]

    def visit_Compare(self, cond: n.Compare) -> bool:
        if cond.attribute == "evidence":
            return self.evidence is not None and (self.evidence == _level(cond.value)) == (cond.op == "=")
        if not isinstance(cond.value, n.Quantity):
            return False
        value, consensus = cond.value.value, self.consensus
        return {"<": consensus < value, "<=": consensus <= value, ">": consensus > value,
                ">=": consensus >= value, "=": consensus == value, "!=": consensus != value}[cond.op]

    def generic_visit(self, cond: n.Condition) -> bool:
        return False


def _level(value: n.Value) -> str:
    """An evidence level as a grading line writes it (``I``, ``II``, ...: a symbol, or a number)."""
    return getattr(value, "name", str(getattr(value, "value", "")))


_GRADING_TERM = _GradingTerm()
