"""The difference between two knowledge bases, and what it changes for patients (``oncologic diff``).

In: two compiled knowledge bases (:class:`~oncologic.compile.compiler.CompiledKB`, OLD and NEW)
and, optionally, patient records (files, folders of them, JSON Lines cohorts) as
:mod:`oncologic.records.reading` reads them. Out: a :class:`Diff`, whose :meth:`Diff.to_dict`
is the JSON of ``diff --format json`` and which :func:`render_text` writes for a guideline
committee. Shapes (docs/diff.md):

- ``rules``: ``added`` / ``removed`` (``{"id", "kind", "file", "line"}``) and ``changed``
  (``{"id", "kind", "old": {"file", "line"}, "new": {...}, "changes": [{"field", "old", "new"}]}``),
  rules matched by id. Fields compared: ``kind``, ``condition`` (a canonical rendering of the
  checked condition: quantities in the canonical unit, values of ``in``/``has`` and the terms of
  ``and``/``or`` in a fixed order, so re-wrapped lines, comments, moved rules or ``90d`` →
  ``12.857wk`` are no change; ``old``/``new`` show it as the rule language writes it, and
  ``tests_removed``/``tests_added`` the tests that differ, in the canonical unit, and
  ``unit_converted`` whether one of them holds a quantity not written in its canonical unit: the
  text shows those tests only then), ``gate``
  (``applies when``), ``setting`` (``for``), ``items``, ``strength``, ``evidence``,
  ``consensus``, ``grade``, ``source``, ``population``, ``reason``, ``notes``, ``labels``.
- ``declarations``: attributes (type, allowed values, range in the canonical unit, derivation,
  required, ``applies when``), items (kind, classes), gradings (document, lines), documents
  (file name): ``added`` / ``removed`` / ``changed`` as for rules, with ``"what"`` the kind.
- ``patients``: one entry per record whose conclusions differ or that is valid under one
  knowledge base only: ``{"patient", "where", "changes": [{"conclusion", "kind",
  "section_old", "section_new", "old", "new", "causes", "declarations"}], "error_old",
  "error_new"}``; ``errors``: records invalid under both (or unreadable files), ``{"where",
  "patient", "error"}`` in file and line order (``patient`` None when the record gives no id).

Cause of a changed conclusion: the rules added, removed or changed among those its derivation
goes through in either knowledge base (the rules that conclude it, the contraindications that
can remove it and, transitively, the rules of every concept and setting their conditions
read), narrowed to those that matter for this patient (a changed condition whose verdict for the
patient differs, an added or removed rule that is not false for the patient, a changed list of
items that adds or drops the conclusion, a grading change where only the grading changed);
when no rule change is among them, the declarations that changed (``declarations``).

Errors: none of its own; a record that cannot be read or validated becomes an entry, never an
exception. Nothing from a record or a rule file is executed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..compile.compiler import CompiledKB
from ..values import Record
from ..errors import PatientError
from ..lang import nodes as n
from ..reason.conclude import conclusions
from ..reason.evaluate import evaluate_all
from ..records.patient import validate
from ..records.reading import patient_files, read_entries

BATCH = 100  # patients per engine query (as KnowledgeBase.evaluate_many)


# ---- canonical rendering of conditions ------------------------------------------------------

def number(value) -> str:
    """A number as a person writes it: ``90``, ``91.3125`` (no ``90.0``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return repr(round(value, 6)) if isinstance(value, float) else str(value)


def canonical_value(value) -> str:
    """A value in the canonical unit (``91.3125d`` for ``3mo``); others as written."""
    if isinstance(value, n.Quantity):
        return number(value.value) + (value.unit or "")
    return n.value_text(value)


class _Canonical(n._Source):
    """A condition in the rule language with each quantity in its canonical unit and the parts
    whose order means nothing (``in``/``has`` values, ``and``/``or`` terms) sorted."""

    def visit_And(self, cond: n.And) -> str:
        if cond.gated and n.gated_attribute(cond) is not None:
            return self.visit(cond.items[1])
        return " and ".join(sorted(self._wrapped(c, n.Or) for c in cond.items))

    def visit_Or(self, cond: n.Or) -> str:
        return " or ".join(sorted(self._wrapped(c, n.And) for c in cond.items))

    def visit_Compare(self, cond: n.Compare) -> str:
        if cond.value == n.BoolValue(True) and cond.op == "=":
            return cond.attribute
        return f"{cond.attribute} {cond.op} {canonical_value(cond.value)}"

    def visit_OneOf(self, cond: n.OneOf) -> str:
        return f"{cond.attribute} in ({', '.join(sorted(map(canonical_value, cond.values)))})"

    def visit_Has(self, cond: n.Has) -> str:
        if len(cond.values) == 1:
            return f"{cond.attribute} has {canonical_value(cond.values[0])}"
        return f"{cond.attribute} has any of ({', '.join(sorted(map(canonical_value, cond.values)))})"


_CANONICAL = _Canonical()


def canonical(cond) -> str | None:
    return None if cond is None else _CANONICAL.visit(cond)


def written(cond) -> str | None:
    return None if cond is None else n.to_source(cond)


# ---- rules ----------------------------------------------------------------------------------

def body(rule: n.Rule):
    """A rule's own condition: without its ``applies when`` gate and its ``for`` setting."""
    cond = rule.condition
    if rule.gate is not None and n.gate_parts(cond) is not None:
        cond = n.gate_parts(cond)[1]
    if rule.setting is not None:
        if isinstance(cond, n.ConceptRef) and cond.name == rule.setting:
            return None
        if isinstance(cond, n.And) and not cond.gated and isinstance(cond.items[0], n.ConceptRef) \
                and cond.items[0].name == rule.setting:
            rest = cond.items[1:]
            return rest[0] if len(rest) == 1 else n.And(rest, cond.pos)
    return cond


def rule_kind(rule: n.Rule) -> str:
    """concept, setting, recommendation, do_not_recommend or contraindication."""
    return "do_not_recommend" if rule.polarity == "do_not_recommend" else rule.kind


def _where(pos: n.Pos) -> dict:
    return {"file": pos.file, "line": pos.line}


def _source(rule: n.Rule) -> list[str]:
    return [f"{c.document} \"{c.locator}\"" for c in rule.sources]


def _items(rule: n.Rule) -> list[str]:
    return sorted(n.regimen_id(r) for r in rule.regimens)


def _labels(labels) -> dict:
    return dict(labels)


def rule_fields(rule: n.Rule) -> dict:
    """What is compared of a rule: field -> (comparison key, shown value)."""
    cond = body(rule)
    consensus = None if rule.consensus is None else number(rule.consensus.value) + "%"
    return {
        "kind": (rule_kind(rule), rule_kind(rule)),
        "condition": (canonical(cond), written(cond)),
        "gate": (canonical(rule.gate), written(rule.gate)),
        "setting": (rule.setting, rule.setting),
        "items": (tuple(_items(rule)), _items(rule)),
        "strength": (rule.strength, rule.strength),
        "evidence": (rule.evidence, rule.evidence),
        "consensus": (consensus, consensus),
        "grade": (rule.grade, rule.grade),
        "source": (tuple(_source(rule)), _source(rule)),
        "population": ((canonical(rule.population), rule.population_text),
                       None if rule.population is None else f"{written(rule.population)} \"{rule.population_text or ''}\""),
        "reason": ((rule.reason, rule.reason_labels), rule.reason),
        "notes": ((rule.notes, rule.note_labels), list(rule.notes)),
        "labels": (tuple(sorted(rule.labels)), _labels(rule.labels)),
    }


def _leaves(cond) -> list[str]:
    """The tests of a condition (comparisons, memberships, references), each in canonical form."""
    return [_CANONICAL.visit(node) for node in _leaf_nodes(cond)]


def _leaf_nodes(cond) -> list:
    out, stack = [], [cond] if cond is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, n.And) and node.gated and n.gated_attribute(node) is not None:
            stack.append(node.items[1])  # the test; its gate is the attribute's declaration
        elif isinstance(node, (n.Compare, n.OneOf, n.Has, n.IsEmpty, n.IsKnown, n.ConceptRef, n.Ref, n.AnyRecord)):
            out.append(node)
        else:
            stack.extend(reversed(n.children(node)))
    return out


def _converted(node) -> bool:
    """Whether a test holds a quantity whose canonical form is not its written text (``3mo`` is
    ``91.3125d``; ``90d`` and an enum value are as written)."""
    import dataclasses
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, n.Quantity):
            if canonical_value(item).replace(" ", "") != n.value_text(item).replace(" ", ""):
                return True
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
    return False


def compare_rules(old: n.Rule, new: n.Rule) -> list[dict]:
    """The fields that differ: ``[{"field", "old", "new"}]`` (a condition also with the tests
    removed and added, in the canonical unit)."""
    a, b = rule_fields(old), rule_fields(new)
    out = []
    for name in a:
        if a[name][0] != b[name][0]:
            change = {"field": name, "old": a[name][1], "new": b[name][1]}
            if name in ("condition", "gate"):
                before = _leaf_nodes(body(old) if name == "condition" else old.gate)
                after = _leaf_nodes(body(new) if name == "condition" else new.gate)
                texts_before, texts_after = [_CANONICAL.visit(x) for x in before], [_CANONICAL.visit(x) for x in after]
                removed = [x for x, t in zip(before, texts_before) if t not in texts_after]
                added = [x for x, t in zip(after, texts_after) if t not in texts_before]
                change["tests_removed"] = [_CANONICAL.visit(x) for x in removed]
                change["tests_added"] = [_CANONICAL.visit(x) for x in added]
                # the text shows them only where a unit was converted (``3mo`` → ``91.3125d``)
                change["unit_converted"] = any(_converted(x) for x in removed + added)
            out.append(change)
    return out


# ---- declarations ---------------------------------------------------------------------------

def _bound(q) -> str | None:
    return None if q is None else number(q.value) + (q.unit or "")


def _type(spec: n.TypeSpec) -> dict:
    out = {"type": spec.kind}
    if spec.values:
        out["values"] = list(spec.values)
    if spec.low is not None or spec.high is not None:
        out["range"] = f"{_bound(spec.low) or ''}..{_bound(spec.high) or ''}"
    if spec.fields:
        out["fields"] = {f.name: _type(f.type) for f in spec.fields}
    return out


def declaration_fields(kind: str, decl) -> dict:
    """What is compared of a declaration: field -> shown value (compared as shown)."""
    if kind == "attribute":
        t = _type(decl.type)
        return {"type": t["type"], "values": t.get("values"), "range": t.get("range"), "fields": t.get("fields"),
                "derive": None if decl.derive is None else f"{decl.derive[0]} - {decl.derive[1]}",
                "required": decl.required, "applies": canonical(decl.applies)}
    if kind == "item":
        return {"kind": decl.kind, "classes": sorted(decl.isa)}
    if kind == "grading":
        return {"document": decl.document, "lines": [f"{s} if {canonical(c)}" for s, c, _ in decl.lines]}
    return {"filename": decl.filename}  # document


def _declarations(compiled: CompiledKB) -> dict:
    kb = compiled.checked
    return {"attribute": kb.attributes, "item": kb.items, "grading": {g.name: g for g in kb.gradings},
            "document": kb.documents}


def compare_declarations(old: CompiledKB, new: CompiledKB) -> dict:
    added, removed, changed = [], [], []
    a, b = _declarations(old), _declarations(new)
    for kind in a:
        for name in sorted(set(a[kind]) | set(b[kind])):
            if name not in b[kind]:
                removed.append({"what": kind, "name": name, **_where(a[kind][name].pos)})
            elif name not in a[kind]:
                added.append({"what": kind, "name": name, **_where(b[kind][name].pos)})
            else:
                fa, fb = declaration_fields(kind, a[kind][name]), declaration_fields(kind, b[kind][name])
                diffs = [{"field": f, "old": fa[f], "new": fb[f]} for f in fa if fa[f] != fb[f]]
                if diffs:
                    changed.append({"what": kind, "name": name, "old": _where(a[kind][name].pos),
                                    "new": _where(b[kind][name].pos), "changes": diffs})
    return {"added": added, "removed": removed, "changed": changed}


def compare_kbs(old: CompiledKB, new: CompiledKB) -> dict:
    """``{"added", "removed", "changed"}`` of the rules, matched by id, in the order of NEW
    (removed: of OLD)."""
    a = {r.id: r for r in old.checked.rules}
    b = {r.id: r for r in new.checked.rules}
    added = [{"id": r.id, "kind": rule_kind(r), **_where(r.pos)} for r in new.checked.rules if r.id not in a]
    removed = [{"id": r.id, "kind": rule_kind(r), **_where(r.pos)} for r in old.checked.rules if r.id not in b]
    changed = []
    for r in new.checked.rules:
        if r.id in a:
            changes = compare_rules(a[r.id], r)
            if changes:
                changed.append({"id": r.id, "kind": rule_kind(r), "old": _where(a[r.id].pos), "new": _where(r.pos),
                                "changes": changes})
    return {"added": added, "removed": removed, "changed": changed}


# ---- dependencies ---------------------------------------------------------------------------

class Dependencies:
    """Which rules a conclusion's derivation goes through in one knowledge base."""

    def __init__(self, compiled: CompiledKB):
        self.compiled = compiled
        kb = compiled.checked
        self.by_concept: dict[str, list[str]] = {}
        for rule in kb.rules:
            if rule.kind in ("concept", "setting"):
                self.by_concept.setdefault(rule.name, []).append(rule.id)
        self.reads: dict[str, set[str]] = {}  # rule -> the concepts its conditions read
        for rule in kb.rules:
            names = set()
            for cond in (rule.condition, rule.population):
                for node in n.walk(cond) if cond is not None else ():
                    if isinstance(node, (n.ConceptRef, n.Ref)) and node.name in kb.concepts:
                        names.add(node.name)
            self.reads[rule.id] = names
        self.regimen_rules: dict[str, set[str]] = {}  # recommendation id -> rules concluding it
        self.not_rules: dict[str, set[str]] = {}  # id -> `do not recommend` rules
        for rule in kb.rules:
            if rule.kind == "recommendation":
                table = self.not_rules if rule.polarity == "do_not_recommend" else self.regimen_rules
                for regimen in rule.regimens:
                    table.setdefault(n.regimen_id(regimen), set()).add(rule.id)
        self.removers: dict[str, set[str]] = {}  # recommendation id -> contraindications that can remove it
        for node_id, ids in compiled.removals.items():
            node = compiled.nodes[node_id]
            self.removers.setdefault(node.name, set()).update(ids)
        self._closure: dict[str, set[str]] = {}
        self.names: dict[str, set[str]] = {}  # rule -> attributes, items and documents it reads or names
        for rule in kb.rules:
            names = {c.document for c in rule.sources} | {i for r in rule.regimens for i in r}
            for cond in (rule.condition, rule.population):
                for node in n.walk(cond) if cond is not None else ():
                    if hasattr(node, "attribute"):
                        names.add(node.attribute)
                    for value in getattr(node, "values", ()) + ((node.value,) if isinstance(node, n.Compare) else ()):
                        if isinstance(value, n.Symbol):
                            names.add(value.name)
            self.names[rule.id] = names

    def closure(self, rule_id: str) -> set[str]:
        """The rule and every rule of the concepts it reads, transitively."""
        if rule_id in self._closure:
            return self._closure[rule_id]
        seen, stack = set(), [rule_id]
        while stack:
            rid = stack.pop()
            if rid in seen:
                continue
            seen.add(rid)
            for name in self.reads.get(rid, ()):
                stack.extend(self.by_concept.get(name, ()))
        self._closure[rule_id] = seen
        return seen

    def direct(self, kind: str, conclusion: str) -> set[str]:
        if kind == "concept":
            return set(self.by_concept.get(conclusion, ()))
        if kind == "not_recommended":
            return set(self.not_rules.get(conclusion, ()))
        return set(self.regimen_rules.get(conclusion, ())) | set(self.removers.get(conclusion, ()))

    def of(self, kind: str, conclusion: str) -> set[str]:
        out: set[str] = set()
        for rid in self.direct(kind, conclusion):
            out |= self.closure(rid)
        return out


# ---- patients -------------------------------------------------------------------------------

SECTIONS = {  # kind -> the result's sections, in the order a conclusion is looked up
    "recommendation": ("recommendations", "contraindicated", "possible"),
    "not_recommended": ("not_recommended", "possibly_not_recommended"),
    "concept": ("derived",),
}


def _states(result) -> dict[tuple[str, str], tuple[str, dict | None]]:
    """(kind, conclusion) -> (section, grading) for every conclusion of a result."""
    out: dict = {}
    for name in result.derived:
        out[("concept", name)] = ("derived", None)
    for kind, sections in SECTIONS.items():
        if kind == "concept":
            continue
        for section in sections:
            for entry in getattr(result, section):
                key = (kind, entry.id)
                if key in out:
                    continue
                shown = entry.recommendation if section == "possible" else \
                    entry.recommended_by if section == "contraindicated" else entry
                grading = {"strength": getattr(shown, "strength", None), "evidence": shown.evidence,
                           "consensus": shown.consensus}
                out[key] = (section, grading)
    return out


@dataclass(eq=False, repr=False)
class Side(Record):
    """One knowledge base with what the diff needs of it."""

    compiled: CompiledKB
    backend: object
    deps: Dependencies = None

    def __post_init__(self):
        self.deps = Dependencies(self.compiled)


def _entries(paths):
    """(where, raw record or PatientError) for every record of the files, in order."""
    for path in patient_files(paths):
        try:
            for where, line, raw in read_entries(path):
                yield (f"{where}" if line is None or f":{line}" in str(where) else f"{where}:{line}"), line, raw
        except PatientError as err:
            yield str(path), None, err


@dataclass(eq=False, repr=False)
class Diff(Record):
    """What ``oncologic diff`` found; :meth:`to_dict` is its JSON."""

    old: str
    new: str
    rules: dict
    declarations: dict
    patients: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    compared: int = 0  # patients valid under both knowledge bases

    def to_dict(self) -> dict:
        return {"old": self.old, "new": self.new, "rules": self.rules, "declarations": self.declarations,
                "patients": self.patients, "errors": self.errors,
                "summary": {"rules_added": len(self.rules["added"]), "rules_removed": len(self.rules["removed"]),
                            "rules_changed": len(self.rules["changed"]),
                            "declarations_changed": sum(len(v) for v in self.declarations.values()),
                            "patients_compared": self.compared,
                            "patients_changed": sum(1 for p in self.patients if p.get("changes")),
                            "patients_valid_under_one": sum(1 for p in self.patients if p.get("error_old") or p.get("error_new")),
                            "patients_invalid": len(self.errors)}}

    @property
    def differs(self) -> bool:
        return bool(self.rules["added"] or self.rules["removed"] or self.rules["changed"]
                    or any(self.declarations.values()) or self.patients)


def diff(old: CompiledKB, new: CompiledKB, patients=(), old_name: str = "OLD", new_name: str = "NEW",
         backend: str | None = None) -> Diff:
    """Compare two compiled knowledge bases, and their conclusions for the records under
    ``patients`` (paths of files or folders)."""
    from .. import backends
    name = backend or backends.DEFAULT
    sides = [Side(c, backends.create(name, c.program)) for c in (old, new)]
    out = Diff(old_name, new_name, compare_kbs(old, new), compare_declarations(old, new))
    if not patients:
        return out
    rows = []  # (where, id, patient under OLD or error, patient under NEW or error)
    for where, line, raw in _entries(patients):
        if isinstance(raw, PatientError):  # unreadable: listed with the invalid ones, in file and line order
            rows.append((where, None, raw, raw))
            continue
        pair = []
        for side in sides:
            try:
                pair.append(validate(raw, side.compiled.checked, where, line=line))
            except PatientError as err:
                pair.append(err)
        pid = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        rows.append((where, pid, *pair))
    both = [row for row in rows if not isinstance(row[2], PatientError) and not isinstance(row[3], PatientError)]
    out.compared = len(both)
    evals = [[ev for start in range(0, len(both), BATCH)
              for ev in evaluate_all(side.compiled, side.backend, [row[2 + i] for row in both[start:start + BATCH]])]
             for i, side in enumerate(sides)]
    changed_ids = _changed_rules(out.rules)
    evaluated = {id(row): (evals[0][k], evals[1][k]) for k, row in enumerate(both)}
    for row in rows:
        where, pid, a, b = row
        if isinstance(a, PatientError) and isinstance(b, PatientError):
            out.errors.append({"where": where, "patient": pid, "error": str(b)})
        elif isinstance(a, PatientError) or isinstance(b, PatientError):
            out.patients.append({"patient": pid, "where": where, "changes": [],
                                 "error_old": str(a) if isinstance(a, PatientError) else None,
                                 "error_new": str(b) if isinstance(b, PatientError) else None})
        else:
            ev_old, ev_new = evaluated[id(row)]
            changes = _patient_changes(sides, ev_old, ev_new, out, changed_ids)
            if changes:
                out.patients.append({"patient": pid or a.id, "where": where, "changes": changes,
                                     "error_old": None, "error_new": None})
    return out


def _changed_rules(rules: dict) -> dict[str, dict]:
    """rule id -> {"change": added|removed|changed, "fields": [...], "file", "line"} (NEW's
    place, OLD's for a removed rule)."""
    out = {}
    for r in rules["added"]:
        out[r["id"]] = {"change": "added", "fields": [], "file": r["file"], "line": r["line"]}
    for r in rules["removed"]:
        out[r["id"]] = {"change": "removed", "fields": [], "file": r["file"], "line": r["line"]}
    for r in rules["changed"]:
        out[r["id"]] = {"change": "changed", "fields": [c["field"] for c in r["changes"]], **r["new"]}
    return out


_VERDICT_FIELDS = {"kind", "condition", "gate", "setting"}
_GRADING_FIELDS = {"strength", "evidence", "consensus", "grade"}


def _verdict(ev, rule_id: str):
    """The engine's verdict on a rule for the patient: True, False or None (undecided)."""
    node = ev.compiled.rule_node.get(rule_id)
    return None if node is None else ev.value(node)


def _patient_changes(sides, ev_old, ev_new, out: Diff, changed: dict) -> list[dict]:
    before, after = _states(conclusions(ev_old)), _states(conclusions(ev_new))
    result = []
    for key in list(before) + [k for k in after if k not in before]:
        kind, conclusion = key
        sa, ga = before.get(key, (None, None))
        sb, gb = after.get(key, (None, None))
        if sa == sb and ga == gb:
            continue
        candidates = (sides[0].deps.of(kind, conclusion) | sides[1].deps.of(kind, conclusion)) & set(changed)
        causes = []
        for rid in sorted(candidates):
            info = changed[rid]
            if info["change"] == "added":
                relevant = _verdict(ev_new, rid) is not False
            elif info["change"] == "removed":
                relevant = _verdict(ev_old, rid) is not False
            else:
                fields = set(info["fields"])
                relevant = (bool(fields & _VERDICT_FIELDS) and _verdict(ev_old, rid) != _verdict(ev_new, rid)) \
                    or ("items" in fields and sa != sb) \
                    or (bool(fields & _GRADING_FIELDS) and sa == sb)
            if relevant:
                causes.append(rid)
        declared, every = _declaration_causes(sides, kind, conclusion, out.declarations)
        if not causes and not declared:
            causes = sorted(candidates)  # none stands out: every rule change it goes through
        entry = {"conclusion": conclusion, "kind": kind, "section_old": sa, "section_new": sb,
                 "old": ga, "new": gb, "causes": causes,
                 "cause_rules": [{"id": rid, **changed[rid]} for rid in causes]}
        entry["declarations"] = [] if causes else (declared or every)
        result.append(entry)
    return result


def _declaration_causes(sides, kind: str, conclusion: str, declarations: dict) -> tuple[list[dict], list[dict]]:
    """(the declarations changed, added or removed that the conclusion's rules read: an
    attribute they test, an item they name or one of its classes, a document they cite or its
    grading; every declaration changed, added or removed)."""
    names: set[str] = set()
    for side in sides:
        for rid in side.deps.of(kind, conclusion):
            names |= side.deps.names.get(rid, set())
    everything, read = [], []
    for change, entries in declarations.items():
        for d in entries:
            entry = {"what": d["what"], "name": d["name"], "change": change}
            everything.append(entry)
            around = {d["name"]}
            if d["what"] == "item":
                for side in sides:
                    if d["name"] in side.compiled.checked.items:
                        around |= set(side.compiled.checked.ancestors(d["name"]))
            elif d["what"] == "grading":
                around = {g.document for side in sides for g in side.compiled.checked.gradings if g.name == d["name"]}
            if around & names:
                read.append(entry)
    return read, everything


# ---- text -----------------------------------------------------------------------------------

WORDS = {
    "en": {"rules_added": "Rules added", "rules_removed": "Rules removed", "rules_changed": "Rules changed",
           "decl_added": "Declarations added", "decl_removed": "Declarations removed",
           "decl_changed": "Declarations changed", "patients": "Patients whose conclusions change",
           "one_only_heading": "Records valid under one knowledge base only",
           "invalid": "Records that are invalid under both", "because": "because of",
           "no_rule": "because of a declaration change:", "nothing": "no rule change found",
           "valid_old_only": "valid under OLD only; under NEW", "valid_new_only": "valid under NEW only; under OLD",
           "absent": "absent", "derived": "derived", "recommendations": "recommended", "possible": "possible",
           "contraindicated": "contraindicated", "not_recommended": "not recommended",
           "possibly_not_recommended": "possibly not recommended", "no_diff": "no difference",
           "in_canonical": "in the canonical unit", "concept": "concept", "not": "not recommended:",
           "added": "added", "removed": "removed", "changed": "changed",
           "summary": "{rules_added} rule(s) added, {rules_removed} removed, {rules_changed} changed; "
                      "{declarations_changed} declaration(s) added, removed or changed; "
                      "{patients_changed} of {patients_compared} patient(s) change",
           "one_only": "{patients_valid_under_one} valid under one knowledge base only",
           "both_bad": "{patients_invalid} invalid under both"},
    "zh": {"rules_added": "新增规则", "rules_removed": "删除规则", "rules_changed": "修改规则",
           "decl_added": "新增声明", "decl_removed": "删除声明", "decl_changed": "修改声明",
           "patients": "结论改变的患者", "one_only_heading": "仅在一个知识库下有效的记录",
           "invalid": "在两个知识库下都无效的记录", "because": "原因",
           "no_rule": "原因（声明改变）：", "nothing": "未找到规则改变",
           "valid_old_only": "仅在旧知识库下有效；新知识库", "valid_new_only": "仅在新知识库下有效；旧知识库",
           "absent": "无", "derived": "成立", "recommendations": "推荐", "possible": "可能",
           "contraindicated": "禁忌", "not_recommended": "不推荐", "possibly_not_recommended": "可能不推荐",
           "no_diff": "无差异", "in_canonical": "统一单位", "concept": "概念", "not": "不推荐：",
           "added": "新增", "removed": "删除", "changed": "修改",
           "summary": "规则：新增 {rules_added}，删除 {rules_removed}，修改 {rules_changed}；声明改变 {declarations_changed}；"
                      "{patients_compared} 名患者中 {patients_changed} 名结论改变",
           "one_only": "{patients_valid_under_one} 名仅在一个知识库下有效",
           "both_bad": "{patients_invalid} 名在两个知识库下都无效"},
}


def _show(value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(map(str, value)) if value else "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items()) if value else "(none)"
    return str(value)


def _state(section, grading, w) -> str:
    text = w[section] if section else w["absent"]
    if grading and section in ("recommendations", "possible", "contraindicated", "not_recommended",
                                "possibly_not_recommended"):
        parts = [grading.get("strength"), grading.get("evidence"),
                 None if grading.get("consensus") is None else f"{number(grading['consensus'])}%"]
        parts = [p for p in parts if p]
        if parts:
            text += f" ({', '.join(parts)})"
    return text


def _places(entry: dict) -> str:
    """Where a changed rule or declaration stands in OLD and in NEW: ``FILE:LINE → FILE:LINE``."""
    return f"{entry['old']['file']}:{entry['old']['line']} → {entry['new']['file']}:{entry['new']['line']}"


def render_text(d: Diff, lang: str = "en", label=None) -> list[str]:
    """The diff for a person: sections of rules added, removed and changed, declarations, the
    patients whose conclusions change (each with its cause), the records valid under one
    knowledge base only, the records invalid under both, and a summary line. ``label``:
    (name, lang) -> a label or None, for the conclusions."""
    w = WORDS[lang]
    lines = [f"oncologic diff: {d.old} → {d.new}"]
    rules = d.rules
    if rules["added"]:
        lines += ["", f"{w['rules_added']} ({len(rules['added'])})"]
        lines += [f"  + {r['id']}  [{r['kind']}]  {r['file']}:{r['line']}" for r in rules["added"]]
    if rules["removed"]:
        lines += ["", f"{w['rules_removed']} ({len(rules['removed'])})"]
        lines += [f"  - {r['id']}  [{r['kind']}]  {r['file']}:{r['line']}" for r in rules["removed"]]
    if rules["changed"]:
        lines += ["", f"{w['rules_changed']} ({len(rules['changed'])})"]
        for r in rules["changed"]:
            lines.append(f"  ~ {r['id']}  [{r['kind']}]  {_places(r)}")
            for c in r["changes"]:
                lines += _change_lines(c, w)
    decl = d.declarations
    for key, sign in (("added", "+"), ("removed", "-")):
        if decl[key]:
            lines += ["", f"{w['decl_' + key]} ({len(decl[key])})"]
            lines += [f"  {sign} {x['what']} {x['name']}  {x['file']}:{x['line']}" for x in decl[key]]
    if decl["changed"]:
        lines += ["", f"{w['decl_changed']} ({len(decl['changed'])})"]
        for x in decl["changed"]:
            lines.append(f"  ~ {x['what']} {x['name']}  {_places(x)}")
            for c in x["changes"]:
                lines.append(f"      {c['field']}: {_show(c['old'])} → {_show(c['new'])}")
    changed = [p for p in d.patients if p["changes"]]
    one_only = [p for p in d.patients if p["error_old"] or p["error_new"]]
    if changed:
        lines += ["", f"{w['patients']} ({len(changed)} / {d.compared})"]  # of the patients valid under both
        for p in changed:
            lines.append(f"  {p['patient'] or '?'}  ({p['where']})")
            for c in p["changes"]:
                name = c["conclusion"]
                shown = label(name, lang) if label else None
                head = (f"{w['concept']} " if c["kind"] == "concept" else w["not"] + " " if c["kind"] == "not_recommended" else "") \
                    + name + (f" ({shown})" if shown and shown != name else "")
                lines.append(f"    {head}: {_state(c['section_old'], c['old'], w)} → {_state(c['section_new'], c['new'], w)}")
                if c["cause_rules"]:
                    lines.append(f"      {w['because']} " + "; ".join(
                        f"{x['id']} ({w[x['change']]}{': ' + ', '.join(x['fields']) if x['fields'] else ''}; {x['file']}:{x['line']})"
                        for x in c["cause_rules"]))
                elif c["declarations"]:
                    lines.append(f"      {w['no_rule']} " + ", ".join(
                        f"{x['what']} {x['name']} ({w[x['change']]})" for x in c["declarations"]))
                else:
                    lines.append(f"      {w['nothing']}")
    if one_only:
        lines += ["", f"{w['one_only_heading']} ({len(one_only)})"]
        for p in one_only:
            lines.append(f"  {p['patient'] or '?'}  ({p['where']})")
            if p["error_new"]:
                lines.append(f"    {w['valid_old_only']}: {p['error_new']}")
            if p["error_old"]:
                lines.append(f"    {w['valid_new_only']}: {p['error_old']}")
    if d.errors:
        lines += ["", f"{w['invalid']} ({len(d.errors)})"]
        # the error names the file and line; the patient's id is put in front of it when known
        lines += [f"  {e['patient']}: {e['error']}" if e.get("patient") else f"  {e['error']}" for e in d.errors]
    s = d.to_dict()["summary"]
    summary = [w["summary"].format(**s)]
    if s["patients_valid_under_one"]:
        summary.append(w["one_only"].format(**s))
    if s["patients_invalid"]:
        summary.append(w["both_bad"].format(**s))
    lines += ["", ("；" if lang == "zh" else "; ").join(summary)]
    return lines


def _change_lines(c: dict, w: dict) -> list[str]:
    if c["field"] in ("condition", "gate"):
        out = [f"      {c['field']}: {_show(c['old'])}",
               f"      {' ' * len(c['field'])}→ {_show(c['new'])}"]
        if c.get("unit_converted"):
            out.append(f"      ({w['in_canonical']}: {_show(c['tests_removed'])} → {_show(c['tests_added'])})")
        return out
    return [f"      {c['field']}: {_show(c['old'])} → {_show(c['new'])}"]
