"""The W5xx findings: names nothing uses, documents nothing cites, rules no patient reaches,
and the ``# check: allow`` markers themselves.

What counts as used:

- an attribute: read by a rule's condition (an ``any ... where`` reads its list), a
  ``population``, or an attribute's ``applies when``; the two dates a read duration is derived
  from; a ``required`` attribute (every record gives it: ``id``) always;
- an item: named by a recommendation or contraindication, or tested with ``has`` — and with it
  every class it belongs to and every member it has (a class recommended through its drugs,
  a drug recorded under a class a rule tests);
- a concept or setting: referred to by another rule, a ``population`` or an ``applies when``
  (a setting by its recommendations' ``for``). A concept that only the output reports
  (``derived``) is unused in this sense: mark it ``# check: allow W503 — reported as derived``;
- a document: cited by a rule's or a grading's ``source``.
"""
from __future__ import annotations

from ..errors import Diagnostic
from ..lang import nodes as n
from ..model.codes import CODES
from .source import Sources


def _conditions(kb):
    for rule in kb.rules:
        for cond in (rule.condition, rule.population):
            if cond is not None:
                yield rule, cond
    for attr in kb.attributes.values():
        if attr.applies is not None:
            yield None, attr.applies


def _walk_outer(cond):
    """Every node of a condition, not descending into an ``any ... where`` (its fields)."""
    stack = [cond]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, n.AnyRecord):
            stack.extend(n.children(node))


def unused(kb, sources: Sources) -> list[Diagnostic]:
    out: list[Diagnostic] = []

    def add(code, pos, message, rules=()):
        end = sources.end_of_statement(pos) or (None, None)
        out.append(Diagnostic(pos.file, pos.line, pos.column, message, "warning", code, *end, tuple(rules)))

    read: set[str] = set()
    tested: set[str] = set()
    concepts: set[str] = set()
    for _, cond in _conditions(kb):
        for node in _walk_outer(cond):
            if isinstance(node, n.ConceptRef):
                concepts.add(node.name)
            elif isinstance(node, n.Has):
                tested.update(n.constant(v) for v in node.values)
            attribute = getattr(node, "attribute", None)
            if attribute is not None:
                read.add(attribute)
    for name in list(read):
        attr = kb.attributes.get(name)
        if attr is not None and attr.derive:
            read.update(attr.derive)
    for attr in kb.attributes.values():
        if attr.name not in read and not attr.required:
            add("W501", attr.pos, f"attribute '{attr.name}' is declared but no rule reads it")
    named = set(tested)
    for rule in kb.rules:
        for regimen in rule.regimens:
            named.update(regimen)
    for item in kb.items.values():
        family = {item.name, *kb.ancestors(item.name), *kb.members(item.name)}
        if not family & named:
            add("W502", item.pos, f"{item.kind} '{item.name}' is declared but no rule names it, a class of it or a member of it")
    first: dict[str, n.Rule] = {}
    for rule in kb.rules:
        if rule.kind in ("concept", "setting"):
            first.setdefault(rule.name, rule)
    for name, rule in first.items():
        if name not in concepts:
            if rule.kind == "setting":
                message = f"setting '{name}' has no recommendation, and no rule uses it"
            else:
                message = f"concept '{name}' is concluded but no rule uses it"
            add("W503", rule.pos, message, rules=(rule.id,))
    cited = {c.document for rule in kb.rules for c in rule.sources}
    cited |= {c.document for g in kb.gradings for c in g.sources}
    for doc in kb.documents.values():
        if doc.name not in cited:
            add("W504", doc.pos, f"document '{doc.name}' is declared but no rule cites it")
    return out


def apply_markers(findings: list[Diagnostic], sources: Sources) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """(the findings shown, the findings a marker allows), then the findings about the
    markers themselves (W506-W508) appended to the shown ones."""
    shown, allowed = [], []
    for d in findings:
        st = sources.statement(d.file, d.line) if d.code != "W499" else None
        marker = next((m for m in (st.markers if st else ()) if d.code in m.codes), None)
        if marker is None:
            shown.append(d)
        else:
            marker.used.add(d.code)
            allowed.append(d)
    for m in sources.markers:
        def add(code, message):
            shown.append(Diagnostic(m.file, m.line, m.column, message, "warning", code, m.line, m.end_column))
        if m.malformed:
            add("W508", f"'# {m.reason}' is not read as a marker: write '# check: allow CODE — reason' "
                        "(lower case, a colon after 'check')")
            continue
        if not m.codes:
            add("W508", "'# check: allow' names no code; write e.g. '# check: allow W401 — why'")
            continue
        bad = [c for c in m.codes if c not in CODES or not c.startswith("W")]
        for c in bad:
            add("W508", f"'# check: allow {c}': " + (f"{c} is an error; only warnings can be allowed" if c in CODES and c.startswith("E")
                                                     else f"{c} is not a warning code of oncologic check"))
        if m.statement is None:
            add("W506", f"'# check: allow {', '.join(m.codes)}' allows nothing: it is neither inside a statement "
                        "nor on the comment lines directly above one")
        else:
            idle = [c for c in m.codes if c not in m.used and c not in bad]
            if idle:
                add("W506", f"'# check: allow {', '.join(idle)}' allows nothing: the statement has no "
                            f"{' or '.join(idle)} finding")
        if not m.reason:
            add("W507", f"'# check: allow {', '.join(m.codes)}' gives no reason; say why after the code "
                        "('# check: allow W401 — ...')")
    return shown, allowed
