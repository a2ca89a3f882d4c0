"""Stage 3: check the AST of all rule files together and resolve it.

The checker builds the vocabulary (documents, attributes, items, concepts), then walks every
rule: it resolves bare names (a concept, or a bool attribute), checks that each comparison
fits the attribute's type and unit, normalises quantities to canonical units, and reports every
problem as a diagnostic with a did-you-mean for misspelt names. Its result, a
:class:`CheckedKB`, is what the compiler consumes.
"""
from __future__ import annotations

import re
from dataclasses import replace

from ..lang import nodes as n
from ..lang import units
from ..lang.limits import MAX_DEPTH
from ..lang.visitor import Visitor
from ..errors import Diagnostic
from .kb import CheckedKB
from .similar import did_you_mean

STRENGTHS = ("strong", "moderate", "weak", "none")
ORDERED_KINDS = ("int", "number", "duration", "percent", "length", "date")
VALUE_KINDS = ORDERED_KINDS + ("enum", "bool", "string")


class Checker:
    def __init__(self, modules: list[n.Module]):
        self.modules = modules
        self.kb = CheckedKB(files=[m.file for m in modules])
        self.diagnostics: list[Diagnostic] = []
        # names declared by statements that failed to parse: references to them are not
        # reported (the syntax error is); a kind whose name was lost too silences its kind
        self.failed = {name for m in modules for _, name, _ in m.failed if name}
        self.failed_kinds = {kind for m in modules for kind, name, _ in m.failed if not name}
        self.ungraded: set[str] = set()  # rules whose consensus is wrong (reported): not graded

    # -- reporting --
    def error(self, pos: n.Pos, message: str, code: str, related=()) -> None:
        self.diagnostics.append(Diagnostic(pos.file, pos.line, pos.column, message, code=code,
                                           end_line=pos.end_line or None, end_column=pos.end_column or None,
                                           related=tuple(related)))

    def unknown(self, pos: n.Pos, what: str, name: str, candidates, code: str, kind: str = "", listing: str = "",
                of: str = "") -> None:
        """``unknown WHAT 'NAME'`` (``code``) with a did-you-mean from the ``candidates`` (a
        mapping of each to its labels, or a list of names) and ``listing`` appended; nothing
        when the name is declared by a statement that failed to parse, or ``kind`` (``concept``,
        ``attribute``, ``item``, ``document``) lost a name so."""
        if name in self.failed or kind in self.failed_kinds:
            return
        if not isinstance(candidates, dict):
            candidates = {c: () for c in candidates}
        self.error(pos, f"unknown {what} '{name}'{of}{did_you_mean(name, candidates)}{listing}", code)

    def labelled(self, table: str) -> dict[str, tuple[str, ...]]:
        """The names of a part of the vocabulary with their labels (all languages), for a
        did-you-mean: ``attributes``, ``items``, ``documents`` or ``concepts``."""
        kb = self.kb
        if table == "concepts":
            labels: dict[str, list[str]] = {name: [] for name in kb.concepts}
            for module in self.modules:
                for rule in module.rules:
                    if rule.name in labels:
                        labels[rule.name].extend(text for _, text in rule.labels)
            return {name: tuple(texts) for name, texts in labels.items()}
        if table == "documents":
            return {name: tuple(text for _, text in d.labels + d.titles) + ((d.title,) if d.title else ())
                    for name, d in kb.documents.items()}
        return {name: tuple(text for _, text in x.labels) for name, x in getattr(kb, table).items()}

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
                    self.error(rule.place("id"), f"rule id '{rule.id}' is already used at {other.pos}", "E111",
                               related=[_first(other.place("id"), f"rule id '{rule.id}' first used here")])
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
                self.error(attr.applies.pos, f"attribute '{attr.name}': 'applies when' cannot test '{attr.name}' itself", "E315")
                continue
            chained = sorted(a for a in read if a and a in self.kb.attributes and self.kb.attributes[a].applies is not None)
            if chained:
                self.error(attr.applies.pos, f"attribute '{attr.name}': its 'applies when' tests "
                                             f"{', '.join(repr(a) for a in chained)}, which has an 'applies when' of its own; "
                                             f"gates do not chain: write that condition out here", "E315")
                continue
            self.gates[attr.name] = gate
            self.kb.attributes[attr.name] = replace(attr, applies=gate)

    # -- grading schemes (e.g. Table 2 of the lung consensus) --
    def _check_gradings(self) -> None:
        for module in self.modules:
            self.kb.gradings.extend(module.gradings)
        for grading in self.kb.gradings:
            if grading.document not in self.kb.documents:
                self.unknown(grading.pos, "document", grading.document, self.labelled("documents"), "E103", "document")
                continue
            ok = True
            for strength, cond, pos in grading.lines:
                if strength not in STRENGTHS + ("do_not_recommend",):
                    self.error(pos, f"grading '{grading.name}': '{strength}' is not one of {', '.join(STRENGTHS)}, do_not_recommend", "E304")
                    ok = False
                for node in n.walk(cond):
                    problem = _GRADING_TERM.visit(node)
                    if problem is not None:
                        self.error(node.pos, f"grading '{grading.name}' can test 'evidence' and 'consensus' only{problem}", "E307")
                        ok = False
            if not ok:
                continue
            cited = [rule for rule in self.kb.rules
                     if rule.kind == "recommendation" and rule.sources and rule.sources[0].document == grading.document
                     and rule.id not in self.ungraded]
            if cited and self._broken_grading(grading, cited):
                continue  # reported at the grading: the recommendations are not blamed for it
            for rule in cited:
                if rule.consensus is None or (rule.polarity == "recommend" and rule.evidence is None):
                    self.error(rule.pos, f"recommendation '{rule.id}' cites {grading.document}, graded by '{grading.name}': "
                                         "give its 'evidence' and 'consensus'", "E306")
                    continue
                expected = next((strength for strength, cond, _ in grading.lines
                                 if _GradeHolds(rule.evidence, rule.consensus.value).visit(cond)), None)
                stated = "do_not_recommend" if rule.polarity == "do_not_recommend" else rule.strength
                if expected is not None and stated != expected:
                    line = next(pos for strength, cond, pos in grading.lines if strength == expected)
                    where = rule.place("polarity") if rule.polarity == "do_not_recommend" else rule.place("strength")
                    self.error(where, f"recommendation '{rule.id}': evidence {rule.evidence or '-'} with {rule.consensus.value}% "
                                      f"consensus grades as '{expected}' under '{grading.name}' "
                                      f"({grading.pos.file}:{grading.pos.line}), but the rule says '{stated}'", "E305",
                               related=[(line.file, line.line, line.column, f"the line of '{grading.name}' that matches: '{expected}'")])

    def _broken_grading(self, grading: n.Grading, cited: list[n.Rule]) -> bool:
        """A grading that cannot grade the recommendations citing its document (``cited``): no
        line at all, or a line the lines above it take every case of (over the evidence levels
        the scheme and its recommendations name, none, and consensus 0-100% at its constants and
        between them). One E317 at the grading instead of an E305/E306 on each recommendation."""
        if not grading.lines:
            self.error(grading.pos,
                       f"grading '{grading.name}' has no line: {len(cited)} recommendation(s) cite "
                       f"{grading.document}; give a line per strength, e.g. 'strong if evidence in (I, II) and consensus >= 80%'", "E317")
            return True
        levels = grading_levels(grading, cited)
        points = {0.0, 100.0} | {float(node.value.value) for _, cond, _ in grading.lines for node in n.walk(cond)
                                 if isinstance(node, n.Compare) and isinstance(node.value, n.Quantity)
                                 and 0 <= node.value.value <= 100}
        ordered = sorted(points)
        values = ordered + [(a + b) / 2 for a, b in zip(ordered, ordered[1:])]
        cases = [(level, value) for level in sorted(levels) + [None] for value in values]
        first = {case: next((k for k, (_, cond, _) in enumerate(grading.lines) if _GradeHolds(*case).visit(cond)), None)
                 for case in cases}
        broken = False
        for k, (strength, cond, pos) in enumerate(grading.lines):
            accepted = [case for case in cases if _GradeHolds(*case).visit(cond)]
            if not accepted or any(first[case] == k for case in accepted):
                continue
            (level, value), = accepted[:1]
            j = first[(level, value)]
            taker = f"{grading.lines[j][0]} if {n.to_source(grading.lines[j][1])}"
            self.error(pos, f"grading '{grading.name}': the line '{strength} if {n.to_source(cond)}' never matches: "
                            f"the lines above it take every case it accepts (e.g. "
                            f"{'evidence ' + level if level else 'no evidence level'} and {units.tidy(value)}% consensus match "
                            f"'{taker}' (line {grading.lines[j][2].line}) first); reorder the lines", "E317",
                       related=[(grading.lines[j][2].file, grading.lines[j][2].line, grading.lines[j][2].column,
                                 f"the line that takes its cases: '{taker}'")])
            broken = True
        return broken

    def _check_cycles(self) -> None:
        """A concept defined in terms of itself has no clinical meaning: report each cycle once
        (once per strongly connected group of concepts), at the reference that closes it, naming
        every step with its place (``related``). Then the depth limit
        (:data:`~oncologic.lang.limits.MAX_DEPTH`). Iterative walks."""
        uses: dict[str, set[str]] = {}
        edges: dict[str, list[tuple[str, n.Rule, n.Pos]]] = {}  # concept -> (used concept, rule, where)
        for rule in self.kb.rules:
            if rule.kind in ("concept", "setting") and rule.condition is not None:
                refs = [c for c in n.walk(rule.condition) if isinstance(c, n.ConceptRef)]
                uses.setdefault(rule.name, set()).update(c.name for c in refs)
                edges.setdefault(rule.name, []).extend((c.name, rule, c.pos) for c in refs)
        groups = [g for g in _strongly_connected(uses) if len(g) > 1 or next(iter(g)) in uses.get(next(iter(g)), ())]
        for group in groups:
            self._report_cycle(group, edges)
        if not groups:
            self._check_depth(uses)

    def _report_cycle(self, group: set[str], edges) -> None:
        """One error for a group of concepts that use each other, at the use that most likely
        closed the cycle. A knowledge base without cycles that gains one by an edit gains a use
        that every cycle goes through: such uses are the candidates (all uses of the group when
        none is common to every cycle). Among them: the use from the concept furthest below the
        recommendations (the rest of the knowledge base builds on it) to the one nearest them —
        a basic concept made to depend on a derived one; then a use of a concept defined further
        down the same file; then the last written."""
        users: dict[str, dict[str, n.Rule]] = {}  # concept -> the rules that use it (outside the group), by id
        for rule in self.kb.rules:
            if rule.kind in ("concept", "setting") and rule.name in group:
                continue
            for cond in (rule.condition, rule.population):
                for c in n.walk(cond) if cond is not None else ():
                    if isinstance(c, n.ConceptRef):
                        users.setdefault(c.name, {})[rule.id] = rule
        depth: dict[str, int] = {}

        def below_the_top(name: str) -> int:
            """How many steps of concepts a concept is below the rules that recommend (the
            longest way up, not through the group): 1 for a setting that recommendations use,
            more for the concepts settings are built on. Iterative; another cycle counts 0."""
            entered: set[str] = set()
            stack = [(name, False)]
            while stack:
                node, ready = stack.pop()
                if node in depth or (not ready and node in entered):
                    continue
                above = {r.name for r in users.get(node, {}).values() if r.kind in ("concept", "setting")}
                if not ready:
                    entered.add(node)
                    stack.append((node, True))
                    stack.extend((a, False) for a in sorted(above) if a not in depth)
                    continue
                recommended = any(r.kind not in ("concept", "setting") for r in users.get(node, {}).values())
                depth[node] = max([depth.get(a, 0) + 1 for a in above] + [1 if recommended else 0])
            return depth[name]

        weight = {name: below_the_top(name) for name in group}
        first = {}
        for rule in self.kb.rules:
            if rule.kind in ("concept", "setting"):
                first.setdefault(rule.name, rule.pos)

        def score(edge):
            source, (target, rule, pos) = edge
            later = first[target].file == pos.file and first[target].line > rule.pos.line
            return (weight[source] - weight[target], later, (pos.file, pos.line, pos.column))

        inner = [(source, e) for source in sorted(group) for e in edges.get(source, ()) if e[0] in group]
        pairs = {(source, e[0]) for source, e in inner}
        common = {pair for pair in pairs if _acyclic(group, pairs - {pair})}
        source, (target, rule, pos) = max((edge for edge in inner if not common or (edge[0], edge[1][0]) in common), key=score)
        path = _path(target, source, {s: [e for e in edges.get(s, ()) if e[0] in group] for s in group})
        steps = [(source, target, rule, pos)] + path
        names = [source] + [t for _, t, _, _ in steps]
        related = [(p.file, p.line, p.column, f"{s} uses {t} ({r.kind} '{r.id}')") for s, t, r, p in steps]
        self.error(pos, "concepts are defined in terms of themselves: " + " -> ".join(names), "E312", related=related)

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
                                 f"concepts it uses written out (limit {MAX_DEPTH}); define it in fewer steps", "E314")

    def _declare(self) -> None:
        kb = self.kb
        for module in self.modules:
            for doc in module.documents:
                if doc.name in kb.documents:
                    first = kb.documents[doc.name].pos
                    self.error(doc.pos, f"document '{doc.name}' is already declared at {first}", "E110",
                               related=[_first(first, f"document '{doc.name}' first declared here")])
                kb.documents.setdefault(doc.name, doc)
            for attr in module.attributes:
                if attr.name in kb.attributes:
                    first = kb.attributes[attr.name].pos
                    self.error(attr.pos, f"attribute '{attr.name}' is already declared at {first}", "E110",
                               related=[_first(first, f"attribute '{attr.name}' first declared here")])
                kb.attributes.setdefault(attr.name, attr)
            for item in module.items:
                if item.name in kb.items:
                    first = kb.items[item.name].pos
                    self.error(item.pos, f"{item.kind} '{item.name}' is already declared at {first}", "E110",
                               related=[_first(first, f"'{item.name}' first declared here")])
                kb.items.setdefault(item.name, item)
        declared: dict[str, n.Rule] = {}
        for module in self.modules:
            for rule in module.rules:
                if rule.kind in ("concept", "setting"):
                    previous = declared.setdefault(rule.name, rule)
                    if previous.kind != rule.kind:
                        self.error(rule.pos, f"'{rule.name}' is declared both as a concept and as a setting", "E112",
                                   related=[_first(previous.pos, f"'{rule.name}' declared as {n.a_kind(previous.kind)} here")])
                    if rule.name in kb.attributes:
                        first = kb.attributes[rule.name].pos
                        self.error(rule.pos, f"'{rule.name}' is an attribute (declared at {first}); a concept needs another name", "E112",
                                   related=[_first(first, f"attribute '{rule.name}' declared here")])
                    kb.concepts[rule.name] = rule.kind

    def _check_codes(self) -> None:
        """``system`` statements declared once with an absolute URI; every ``code`` names one, has
        its system's form (E211) and codes one thing only (E114)."""
        kb, where = self.kb, {}
        for module in self.modules:
            for system in module.systems:
                if system.name in kb.systems:
                    self.error(system.pos, f"code system '{system.name}' is already declared", "E110")
                    continue
                if not _URI.fullmatch(system.uri):
                    self.error(system.pos, f"code system '{system.name}': '{system.uri}' is not an absolute URI "
                                           f"(http://..., urn:...)", "E211")
                kb.systems[system.name] = system.uri
        owners = [(f"attribute '{a.name}'", c) for a in kb.attributes.values() for c in a.codes]
        owners += [(f"value '{v}' of '{a.name}'", c) for a in kb.attributes.values() for v, c in a.value_codes]
        owners += [(f"{i.kind} '{i.name}'", c) for i in kb.items.values() for c in i.codes]
        for owner, code in owners:
            if code.system not in kb.systems:
                self.unknown(code.pos, "code system", code.system, list(kb.systems), "E108",
                             listing=f" (declare it: system {code.system} \"URI\")")
                continue
            form = _CODE_FORMS.get(kb.systems[code.system], _LOCAL_CODE)
            if not form[0].fullmatch(code.code):
                self.error(code.pos, f"{owner}: '{code.code}' is not a {code.system} code ({form[1]})", "E211")
            first = where.setdefault((code.system, code.code), (owner, code.pos))
            if first[0] != owner:
                self.error(code.pos, f"{code.system} code '{code.code}' of {owner} is already the code of {first[0]} "
                                     f"(at {first[1]}); a code means one thing", "E114",
                           related=[_first(first[1], f"{code.system} '{code.code}' first given here")])

    def _check_vocabulary(self) -> None:
        kb = self.kb
        self._check_codes()
        circles: set[frozenset] = set()
        for attr in kb.attributes.values():
            self._check_type(attr.type, attr.pos, attr.name)
            if attr.derive:
                for source in attr.derive:
                    src = kb.attributes.get(source)
                    if src is None:
                        self.unknown(attr.pos, "attribute", source, self.labelled("attributes"), "E101", "attribute")
                    elif src.type.kind != "date":
                        self.error(attr.pos, f"'{attr.name}' is derived as a difference of dates, but '{source}' is {n.a_kind(src.type.kind)}", "E207")
                if attr.type.kind != "duration":
                    self.error(attr.pos, f"'{attr.name}' is derived as a difference of dates, so it must be a duration, not {n.a_kind(attr.type.kind)}", "E207")
        for item in kb.items.values():
            for cls in item.isa:
                target = kb.items.get(cls)
                if target is None:
                    classes = {name: labels for name, labels in self.labelled("items").items() if kb.items[name].kind in ("class", "group")}
                    self.unknown(item.pos, "class", cls, classes, "E104", "item")
                elif target.kind not in ("class", "group"):
                    self.error(item.pos, f"'{item.name}' is declared a member of '{cls}', which is {n.a_kind(target.kind)}, not a class", "E113")
            if item.name in kb.ancestors(item.name):
                circle = frozenset(c for c in kb.ancestors(item.name) if item.name in kb.ancestors(c))
                if circle not in circles:  # once per circle, at its first member
                    circles.add(circle)
                    others = [kb.items[c] for c in sorted(circle - {item.name})]
                    self.error(item.pos, f"class membership of '{item.name}' is circular: "
                                         + " -> ".join([item.name, *_circle_path(kb, item.name)]), "E313",
                               related=[_first(o.pos, f"{o.kind} '{o.name}' is in the circle") for o in others])

    def _check_type(self, spec: n.TypeSpec, pos: n.Pos, name: str) -> None:
        if spec.kind in units.UNITS or spec.kind in ("int", "number"):
            bounds = [self._normalise(bound, spec.kind, pos, f"range of '{name}'") if bound is not None else None
                      for bound in (spec.low, spec.high)]
            low, high = bounds
            if low is not None and high is not None and low.value > high.value:
                self.error(pos, f"the declared range of '{name}' is empty: {low.written} is above {high.written} "
                                f"(write the lower bound first)", "E210")
        if spec.kind in ("enum", "set") and len(set(spec.values)) != len(spec.values):
            twice = sorted({v for v in spec.values if spec.values.count(v) > 1})
            self.error(pos, f"'{name}' lists a value twice: {', '.join(twice)}", "E110")
        for fld in spec.fields:
            if fld.type.kind in ("set", "item_set", "record_list"):
                self.error(fld.pos, f"field '{fld.name}' of '{name}' must be a single value, not {n.a_kind(fld.type.kind)}", "E206")
            self._check_type(fld.type, fld.pos, f"{name}.{fld.name}")

    def _normalise(self, q: n.Quantity, kind: str, pos: n.Pos, what: str) -> n.Quantity | None:
        written = f"{q.value}{q.unit or ''}"
        if kind in units.UNITS:
            if q.unit is None and kind != "percent":
                self.error(pos, f"{what}: {q.value} needs a unit ({', '.join(units.UNITS[kind][1])})", "E202")
                return None
            try:
                value = units.to_canonical(q.value, q.unit, kind)
            except ValueError as err:
                precision = isinstance(q.value, float) and round(q.value, 6) != q.value
                self.error(pos, f"{what}: {err}", "E203" if precision else "E202")
                return None
            return n.Quantity(value, units.canonical_unit(kind), written)
        if kind in ("int", "number"):
            if q.unit is not None:
                self.error(pos, f"{what} is a plain {kind}; '{q.unit}' is not allowed here", "E202")
                return None
            if kind == "int" and not isinstance(q.value, int):
                self.error(pos, f"{what} is a whole number; {q.value} is not", "E203")
                return None
            return n.Quantity(q.value, None, written)
        self.error(pos, f"{what} is {n.a_kind(kind)}; a number does not fit", "E201")
        return None

    # -- rules --
    def _check_rule(self, rule: n.Rule) -> n.Rule:
        kb = self.kb
        where = f"{rule.kind} '{rule.id}'"
        for cite in rule.sources:
            if cite.document not in kb.documents:
                self.unknown(cite.pos, "document", cite.document, self.labelled("documents"), "E103", "document")
        if not rule.sources:
            self.error(rule.pos, f"{where} cites no source; add: source DOCUMENT \"table or section\"", "E301")
        quiet = set()  # an unknown setting is reported once, as a setting (not again as a concept)
        if rule.setting is not None and kb.concepts.get(rule.setting) is None:
            self.unknown(rule.place("setting"), "setting", rule.setting, self.labelled("concepts"), "E106", "concept")
            quiet.add(rule.setting)
        if rule.condition is None:
            hint = "; 'applies when' says when it is relevant, it still needs its condition" if rule.gate is not None else ""
            self.error(rule.pos, f"{where} has no condition; add 'if ...'" + (" or 'for SETTING'" if rule.kind == "recommendation" else "") + hint, "E302")
            if rule.gate is not None:
                _Resolve(self).visit(rule.gate)  # its names are checked all the same
        if rule.kind == "recommendation":
            if rule.polarity is None:
                self.error(rule.pos, f"{where} says neither 'recommend ITEMS' nor 'do not recommend ITEMS'", "E303")
            if rule.polarity == "do_not_recommend" and rule.strength is not None:  # the engine keeps none: say so
                self.error(rule.place("strength"), f"{where}: a do-not-recommend statement has no strength (its grade is "
                                                   f"do_not_recommend); remove 'strength {rule.strength}'", "E310")
            elif rule.strength is not None and rule.strength not in STRENGTHS:
                self.error(rule.place("strength"), f"{where}: strength '{rule.strength}' is not one of {', '.join(STRENGTHS)}", "E304")
                self.ungraded.add(rule.id)  # reported: not graded again
        if rule.kind == "contraindication":
            if not rule.regimens:
                self.error(rule.pos, f"{where} names nothing to avoid; add 'avoid ITEM, ...'", "E308")
            if not rule.reason:
                self.error(rule.pos, f"{where} gives no reason; add 'because \"...\"'", "E309")
        elif rule.kind != "recommendation" and rule.regimens:
            self.error(rule.place("regimens"), f"{where} cannot recommend items; use a recommendation", "E310")
        if rule.kind != "recommendation":
            for attr_name, value in (("strength", rule.strength), ("evidence", rule.evidence), ("consensus", rule.consensus)):
                if value is not None:
                    self.error(rule.place(attr_name), f"{where}: '{attr_name}' belongs to recommendations", "E310")
        for regimen in rule.regimens:
            for item in regimen:
                if item not in kb.items:
                    self.unknown(rule.place(f"item:{item}"), "drug, class, procedure or action", item,
                                 self.labelled("items"), "E104", "item")
            if len(set(regimen)) != len(regimen):
                twice = next(item for item in regimen if regimen.count(item) > 1)
                self.error(rule.place("regimens"), f"{where} names an item twice in one regimen: '{twice}'", "E311")
        consensus = rule.consensus
        if consensus is not None:
            if consensus.unit is None and 0 < consensus.value <= 1:  # `consensus 0.92`: a fraction, not 0.92%
                self.error(rule.place("consensus"), f"{where}: consensus is a percentage: write "
                                                    f"{units.tidy(float(consensus.value) * 100)}%", "E202")
                consensus = None
                self.ungraded.add(rule.id)  # reported: not graded again
            elif consensus.unit not in ("%", None) or not 0 <= consensus.value <= 100:
                self.error(rule.place("consensus"), f"{where}: consensus is a percentage of experts, 0-100%", "E208")
                consensus = None
                self.ungraded.add(rule.id)  # reported: not graded again
            else:
                consensus = n.Quantity(consensus.value, "%")
        condition = _Resolve(self, quiet=quiet).visit(rule.condition) if rule.condition is not None else None
        gate = n.gate_parts(condition)[0] if rule.gate is not None and n.gate_parts(condition) else None
        population = rule.population
        if population is not None:
            if rule.kind != "recommendation" or rule.polarity != "recommend":
                self.error(rule.place("population"), f"{where}: 'population' belongs to recommendations (it flags a recommended regimen)", "E310")
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

    def __init__(self, checker: Checker, record: n.Attribute | None = None, gating: bool = True, quiet=frozenset()):
        self.checker, self.kb, self.record = checker, checker.kb, record
        self.error, self.unknown = checker.error, checker.unknown
        self.quiet = quiet  # names reported already (an unknown setting): not again
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
                self.error(ref.pos, f"field '{ref.name}' is {n.a_kind(attr.type.kind)}; compare it with a value", "E204")
            return n.Compare(ref.name, "=", n.BoolValue(True), ref.pos)
        if ref.name in kb.concepts:
            return n.ConceptRef(ref.name, ref.pos)
        attr = kb.attributes.get(ref.name)
        if attr is not None:
            if attr.type.kind == "bool":
                return self._gated(n.Compare(ref.name, "=", n.BoolValue(True), ref.pos))
            self.error(ref.pos, f"'{ref.name}' is {n.a_kind(attr.type.kind)} attribute; compare it with a value (e.g. '{ref.name} = ...')", "E204")
            return ref
        if ref.name in self.quiet:
            return ref
        candidates = {**self.checker.labelled("concepts"),
                      **{a: labels for a, labels in self.checker.labelled("attributes").items() if kb.attributes[a].type.kind == "bool"}}
        self.unknown(ref.pos, "concept", ref.name, candidates, "E102", "concept")
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
            self.error(cond.pos, f"'{attr.name}' is {n.a_kind(attr.type.kind)}; 'in (...)' takes a single-valued attribute (for sets, write 'has any of (...)')", "E204")
            return cond
        return self._gated(replace(cond, values=tuple(self._value(v, attr, cond.pos, "=") for v in cond.values)))

    def visit_Has(self, cond: n.Has) -> n.Condition:
        attr = self._attribute(cond.attribute, cond.pos)
        if attr is None:
            return cond
        if attr.type.kind not in ("set", "item_set"):
            self.error(cond.pos, f"'{attr.name}' is {n.a_kind(attr.type.kind)}, not a set; 'has' is for sets (write '{attr.name} = ...' or 'in (...)')", "E204")
            return cond
        return self._gated(replace(cond, values=tuple(self._member(v, attr, cond.pos) for v in cond.values)))

    def visit_IsEmpty(self, cond: n.IsEmpty) -> n.Condition:
        attr = self._attribute(cond.attribute, cond.pos)
        if attr is not None and attr.type.kind not in ("set", "item_set", "record_list"):
            self.error(cond.pos, f"'{attr.name}' is {n.a_kind(attr.type.kind)}; 'is empty' is for sets and lists", "E204")
        return self._gated(cond)

    def visit_IsKnown(self, cond: n.IsKnown) -> n.Condition:
        self._attribute(cond.attribute, cond.pos)
        return cond

    def visit_AnyRecord(self, cond: n.AnyRecord) -> n.Condition:
        attr = self._attribute(cond.attribute, cond.pos, at_start=False)
        if attr is None:
            return cond
        if attr.type.kind != "record_list":
            self.error(cond.pos, f"'{attr.name}' is {n.a_kind(attr.type.kind)}; 'any ... where (...)' is for lists of records", "E204")
            return cond
        if self.record is not None:
            self.error(cond.pos, "'any ... where' cannot be nested", "E204")
            return cond
        return self._gated(replace(cond, condition=_Resolve(self.checker, record=attr).visit(cond.condition)))

    def _attribute(self, name: str, pos: n.Pos, at_start: bool = True) -> n.Attribute | None:
        """The attribute (or, inside ``any ... where``, the field) a condition tests; ``pos``
        is the condition's, whose first word is the name when ``at_start``."""
        where = _name_at(pos, name) if at_start else pos
        record = self.record
        if record is not None:
            for fld in record.type.fields:
                if fld.name == name:
                    return n.Attribute(fld.name, fld.type, (), None, True, fld.pos)
            fields = [f.name for f in record.type.fields]
            self.unknown(where, "field", name, fields, "E107", of=f" of '{record.name}'",
                         listing=f" (the fields of '{record.name}': {', '.join(fields)})")
            return None
        attr = self.kb.attributes.get(name)
        if attr is None:
            if name in self.kb.concepts:
                self.error(where, f"'{name}' is a concept, not an attribute; test it by writing its name alone", "E113")
            else:
                self.unknown(where, "attribute", name, self.checker.labelled("attributes"), "E101", "attribute")
        return attr

    def _value(self, value: n.Value, attr: n.Attribute, pos: n.Pos, op: str) -> n.Value:
        kind = attr.type.kind
        name = attr.name
        if op not in ("=", "!=") and kind not in ORDERED_KINDS:
            self.error(pos, f"'{name}' is {n.a_kind(kind)}; it can be tested with = or != but not {op}", "E204")
            return value
        if kind in ("set", "item_set", "record_list"):
            self.error(pos, f"'{name}' is {n.a_kind(kind)}; test its members with 'has' (e.g. '{name} has ...')", "E204")
            return value
        return self.fits.visit(value, attr, pos)

    def _member(self, value: n.Value, attr: n.Attribute, pos: n.Pos) -> n.Value:
        if not isinstance(value, n.Symbol):
            self.error(pos, f"'{attr.name}' holds names; write one without quotes", "E201")
            return value
        if attr.type.kind == "set":
            if value.name not in attr.type.values:
                _unknown_value(self.checker, pos, attr, value.name)
        elif value.name not in self.kb.items:
            self.unknown(pos, "drug or class", value.name, self.checker.labelled("items"), "E104", "item")
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
        self.error(pos, f"'{attr.name}' is {n.a_kind(kind)}; a number does not fit", "E201")
        return value

    def visit_Symbol(self, value: n.Symbol, attr: n.Attribute, pos: n.Pos) -> n.Value:
        if attr.type.kind != "enum":
            self.error(pos, f"'{attr.name}' is {n.a_kind(attr.type.kind)}; '{value.name}' does not fit" + _example(attr), "E201")
        elif value.name not in attr.type.values:
            _unknown_value(self.checker, pos, attr, value.name)
        return value

    def visit_BoolValue(self, value: n.BoolValue, attr: n.Attribute, pos: n.Pos) -> n.Value:
        if attr.type.kind != "bool":
            self.error(pos, f"'{attr.name}' is {n.a_kind(attr.type.kind)}, not true/false" + _example(attr), "E201")
        return value

    def visit_DateValue(self, value: n.DateValue, attr: n.Attribute, pos: n.Pos) -> n.Value:
        if attr.type.kind != "date":
            self.error(pos, f"'{attr.name}' is {n.a_kind(attr.type.kind)}, not a date", "E201")
        return value

    def visit_Text(self, value: n.Text, attr: n.Attribute, pos: n.Pos) -> n.Value:
        if attr.type.kind != "string":
            self.error(pos, f"'{attr.name}' is {n.a_kind(attr.type.kind)}; quoted text does not fit" + _example(attr), "E201")
        return value


def _circle_path(kb: CheckedKB, start: str) -> list[str]:
    """The classes from ``start`` back to itself along ``is`` (the first listed class that
    leads back), ``start`` last."""
    path, node = [], start
    while True:
        node = next(c for c in kb.items[node].isa if c in kb.items and (c == start or start in kb.ancestors(c)))
        path.append(node)
        if node == start or len(path) > len(kb.items):
            return path


_URI = re.compile(r"(https?://[^\s\"]+|urn:[a-z0-9][a-z0-9-]*:\S+)")
_LOCAL_CODE = (re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*"), "letters, digits and . _ : -")
# The form of the codes of the standard systems (by URI); any other system is local.
_CODE_FORMS = {
    "http://snomed.info/sct": (re.compile(r"[1-9]\d{5,17}"), "6 to 18 digits"),
    "http://loinc.org": (re.compile(r"(LA|LP|LG)?\d{1,8}-\d"), "digits, a dash and a check digit: 89247-1, LA9634-2"),
    "http://www.nlm.nih.gov/research/umls/rxnorm": (re.compile(r"[1-9]\d{0,9}"), "an RxCUI: digits"),
    "http://www.genenames.org/geneId": (re.compile(r"HGNC:[1-9]\d*"), "HGNC:digits"),
}


def _first(pos: n.Pos, message: str) -> tuple[str, int, int, str]:
    """A related place of a finding: (file, line, column, message)."""
    return (pos.file, pos.line, pos.column, message)


def _name_at(pos: n.Pos, name: str) -> n.Pos:
    """The span of ``name`` written at the start of ``pos`` (a condition that begins with it)."""
    return n.Pos(pos.file, pos.line, pos.column, pos.line, pos.column + len(name))


def _unknown_value(checker: Checker, pos: n.Pos, attr: n.Attribute, value: str) -> None:
    """``unknown value 'small_cell' of 'histology'; did you mean 'sclc' (small cell lung
    cancer)?; 'histology' is one of: ...`` (E105): matched against the values and their labels,
    and listing the values."""
    labels = dict(attr.values)
    candidates = {v: tuple(text for _, text in labels.get(v, ())) for v in attr.type.values}
    values = list(attr.type.values)
    shown = ", ".join(values[:20]) + (", ..." if len(values) > 20 else "")
    verb = "is one of" if attr.type.kind == "enum" else "holds values of"
    if value in checker.kb.concepts and value not in checker.failed:  # `histology = nsclc`: the concept is meant
        others = did_you_mean(value, candidates)
        others = f"; or did you mean {others[len('; did you mean '):]}" if others else ""
        checker.error(pos, f"unknown value '{value}' of '{attr.name}': '{value}' is a concept: write `{value}` alone "
                           f"as a condition{others} ('{attr.name}' {verb}: {shown})", "E105")
        return
    checker.unknown(pos, "value", value, candidates, "E105", listing=f" ('{attr.name}' {verb}: {shown})",
                    of=f" of '{attr.name}'")


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of a graph (Tarjan's algorithm, iterative), each a set
    of its nodes, in a deterministic order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    group.add(top)
                    if top == node:
                        break
                out.append(group)
    return out


def _acyclic(nodes: set[str], pairs: set[tuple[str, str]]) -> bool:
    """Whether the uses ``pairs`` (source, target) among ``nodes`` form no cycle (Kahn)."""
    waiting = {node: 0 for node in nodes}
    after: dict[str, list[str]] = {}
    for source, target in pairs:
        waiting[target] += 1
        after.setdefault(source, []).append(target)
    ready = [node for node, count in waiting.items() if count == 0]
    done = 0
    while ready:
        node = ready.pop()
        done += 1
        for target in after.get(node, ()):
            waiting[target] -= 1
            if waiting[target] == 0:
                ready.append(target)
    return done == len(nodes)


def _path(start: str, goal: str, edges) -> list:
    """The shortest chain of uses from concept ``start`` to ``goal`` (breadth first, uses in
    the order written): ``[(source, target, rule, pos), ...]``, empty when start is goal."""
    if start == goal:
        return []
    came: dict[str, tuple] = {start: None}
    queue = [start]
    for node in queue:
        for target, rule, pos in edges.get(node, ()):
            if target not in came:
                came[target] = (node, target, rule, pos)
                if target == goal:
                    steps = []
                    while came[target] is not None:
                        steps.append(came[target])
                        target = came[target][0]
                    return steps[::-1]
                queue.append(target)
    return []  # pragma: no cover - start and goal are in one strongly connected group


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


def grading_levels(grading: n.Grading, rules) -> set[str]:
    """The evidence levels a grading scheme's lines name (``evidence in (I, II)``, ``evidence =
    III``) and those the recommendations in ``rules`` state: the levels worth trying when asking
    which line grades what (E317 here, W410 in the analysis)."""
    levels = set()
    for _, cond, _ in grading.lines:
        for node in n.walk(cond):
            if isinstance(node, n.OneOf):
                levels.update(_level(v) for v in node.values)
            elif isinstance(node, n.Compare) and node.attribute == "evidence":
                levels.add(_level(node.value))
    levels.update(rule.evidence for rule in rules if rule.evidence)
    return levels


_GRADING_TERM = _GradingTerm()
