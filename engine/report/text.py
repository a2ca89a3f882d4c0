"""Stage 8: rendering — results and explanations as text for a person, in English or Chinese.

Text uses rich: trees for recommendations, proofs and why-not. Every word is written here from
the structured results: the sentences of conditions and changes by :mod:`.words`, the
headings and labels of the layout from the message catalogue (:mod:`.catalogue`, ``layout``). ``lang="zh"`` writes them in Chinese,
with the labels the knowledge base declares (ids shown next to them in headings).
"""
from __future__ import annotations

import json
import shlex

from rich.console import Console
from rich.markup import escape as escape_markup
from rich.tree import Tree

from ..reason import results as r
from ..compile.compiler import CompiledKB
from ..lang import units
from ..lang.nodes import label_of
from .catalogue import catalogue
from ..errors import visible
from .words import Words

def escape(text: str) -> str:
    """The one door for text from a record or a rule file (ids, names, notes, reasons, sources,
    values) into the output: control characters written as escapes (``\\x1b``, so an ESC
    sequence in a patient id cannot move the cursor or recolour the report; see
    :func:`oncologic.errors.visible`), then rich markup escaped (``[bold]`` in a note stays text)."""
    return escape_markup(visible(text))


class _Console(Console):
    """rich's console, except that a closed pipe (``| head -1``) is left to the caller (the
    command line exits 0 quietly) instead of rich's ``SystemExit(1)``."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


MARK = {True: "[green]✔[/]", False: "[red]✘[/]", None: "[yellow]?[/]"}
NEGATIVE_MARK = {True: "[red]⊘[/]", False: "[dim]–[/]", None: "[yellow]?[/]"}  # a statement against: holds, fails, undecided

class TextRenderer:
    def __init__(self, compiled: CompiledKB, lang: str = "en", console: Console | None = None):
        self.compiled = compiled
        self.lang = lang
        self.console = console or _Console(highlight=False, soft_wrap=False, emoji=False)
        self.words = Words(lang, compiled.checked.label, compiled.checked.value_label)
        self.layout = catalogue(lang)["layout"]

    def t(self, key: str, **values) -> str:
        """A phrase of the layout with its values put in (values are rich markup already)."""
        return self.layout[key].format(**values)

    # -- labels --
    def name(self, ident: str) -> str:
        """``topotecan`` or, with --lang zh, ``topotecan 拓扑替康``; regimens item by item."""
        if self.lang == "en":
            return escape(ident)
        parts = []
        for part in ident.split("+"):
            label = self.compiled.checked.label(part, self.lang)
            parts.append(f"{escape(part)} [dim]{escape(label)}[/]" if label and label != part else escape(part))
        return " + ".join(parts)

    def source(self, src: r.SourceRef) -> str:
        """The document's title in the report's language (its file name when the knowledge
        base declares none) and the locator, its words in that language (``Table 3`` → ``表3``)."""
        if not src.document:
            return ""
        doc = self._documents().get(src.document)
        title = (doc.title_in(self.lang) if doc else None) or src.document
        if not src.locator:
            return escape(title)
        return escape(self.layout["source_locator"].format(title=title, locator=self.locator(src.locator)))

    def locator(self, text: str) -> str:
        from .catalogue import locator
        return locator(text, self.lang)

    def _documents(self) -> dict:
        """The knowledge base's documents by file name."""
        found = self.__dict__.get("_by_file")
        if found is None:
            found = self.__dict__["_by_file"] = {d.filename: d for d in self.compiled.checked.documents.values()}
        return found

    def text(self, text: str | None) -> str:
        """A note or reason of the knowledge base (in English in the results) in the report's
        language, where a rule gives it in that language (``note en "..." zh "..."``); escaped."""
        return escape(self.plain_text(text))

    def plain_text(self, text: str | None) -> str:
        """:meth:`text`, not escaped."""
        if not text:
            return ""
        if self.lang != "en":
            table = self.__dict__.get("_texts")
            if table is None:
                table = self.__dict__["_texts"] = {}
                for rule in self.compiled.checked.rules:
                    for note, labels in zip(rule.notes, rule.note_labels):
                        table.setdefault(note, labels)
                    if rule.reason is not None:
                        table.setdefault(rule.reason, rule.reason_labels)
                    if rule.population_text is not None:
                        table.setdefault(rule.population_text, rule.population_labels)
            text = label_of(table.get(text, ()), self.lang) or text
        return text

    @staticmethod
    def rule(rule: r.RuleRef) -> str:
        return escape(f"{rule.id} ({rule.file}:{rule.line})")

    def grade(self, strength, evidence, consensus) -> str:
        bits = []
        if strength:
            bits.append(self.layout["strength"].get(strength, strength))
        if evidence:
            bits.append(self.t("evidence", level=self.layout["levels"].get(evidence, evidence)))
        if consensus is not None:
            bits.append(self.t("consensus", consensus=consensus))
        return escape(self.layout["grade_sep"].join(bits))

    def names(self, idents) -> str:
        """Attributes or goals in a list: ``tfi, ecog``; in Chinese their labels."""
        return escape(self.words.names(idents))

    # -- recommend --
    def summary(self, res: r.Result) -> str:
        """The first line after the patient: the settings that hold, how many options (how many
        strong), how many questions are open (those deciding at least one recommendation)."""
        settings = [s for s in dict.fromkeys(rec.setting for rec in res.recommendations) if s]
        if not settings:  # no recommendation under a setting: the settings that hold, if any
            concepts = self.compiled.checked.concepts
            settings = [s for s in res.derived if concepts.get(s) == "setting"]
        names = self.layout["settings_sep"].join(self.setting_name(s) for s in settings) if settings \
            else self.t("no_setting_holds")
        strong = sum(1 for rec in res.recommendations if rec.strength == "strong")
        questions = sum(1 for m in res.missing if m.recommendations)
        counts = self.t("options", count=len(res.recommendations))
        if strong:
            counts += self.t("strong", count=strong)
        if questions:
            counts += self.t("questions_open", count=questions)
        return self.t("summary", settings=names, counts=counts)

    def setting_name(self, ident: str) -> str:
        """A setting as a heading: its label in the output's language, else its id."""
        return escape(self.compiled.checked.label(ident, self.lang) or ident)

    def result(self, res: r.Result) -> None:
        c = self.console
        c.print(self.t("patient", patient=escape(res.patient)))
        c.print(self.summary(res))
        c.print(self.t("derived", items=", ".join(self.name(d) for d in res.derived) if res.derived else self.t("nothing")))
        c.print()
        if res.recommendations:
            tree = Tree(self.t("recommended", count=len(res.recommendations)))
            settings: dict[str | None, Tree] = {}
            for rec in res.recommendations:
                if rec.setting not in settings:
                    head = f"[bold]{self.name(rec.setting)}[/]" if rec.setting else self.t("no_setting")
                    settings[rec.setting] = tree.add(head)
                grade = self.grade(rec.strength, rec.evidence, rec.consensus)
                leaf = settings[rec.setting].add(f"{MARK[True]} [bold]{self.name(rec.id)}[/]  [cyan]{grade}[/]\n"
                                                 f"[dim]{self.source(rec.source)}[/]")
                for support in rec.support[1:]:  # the first is the entry's own grading
                    leaf.add(self.t("also_supported", rule=escape(support.rule.id),
                                    grade=self.grade(support.strength, support.evidence, support.consensus)
                                    or self.t("ungraded"),
                                    source=self.source(support.source)))
                for note in rec.notes:
                    leaf.add(self.t("note", note=self.text(note)))
                for conflict in rec.conflicts:
                    leaf.add(self.t("conflict", id=escape(conflict.id), rule=escape(conflict.rule.id),
                                    reason=self.text(conflict.reason)))
                for line in self.flag_lines(rec.flags):
                    leaf.add(line)
                for item in rec.pending:
                    leaf.add(self.pending_line(item))
            c.print(tree)
        else:
            c.print(self.t("recommended_none"))
        if res.not_recommended:
            c.print(self.t("not_recommended"))
            for item in res.not_recommended:
                c.print(self.not_recommended_line(item))
        if res.possibly_not_recommended:
            c.print(self.t("possibly_not_recommended"))
            for item in res.possibly_not_recommended:
                c.print(self.not_recommended_line(item, mark="[yellow]?[/]")
                        + " " + self.t("needs_dim", attributes=self.names(item.missing)))
        if res.contraindicated:
            c.print(self.t("contraindicated"))
            for item in res.contraindicated:
                by = self.t("recommended_by", rule=self.rule(item.rule), by=escape(item.recommended_by.rule.id))
                c.print(f"  [red]⊘[/] {self.name(item.id)} — {self.text(item.reason)} [dim]{by}[/]")
        self.questions(res)

    def not_recommended_line(self, item: r.NotRecommended, mark: str = "[red]✘[/]") -> str:
        consensus = self.t("agreement", consensus=item.consensus) if item.consensus is not None else ""
        return f"  {mark} {self.name(item.id)}{consensus} — {self.text(item.reason)} [dim]({self.source(item.source)})[/]"

    def flag_lines(self, flags) -> list[str]:
        """The flags of a recommendation, certain or possible (a conflict has its own line)."""
        lines = []
        for flag in flags:
            if flag.kind == "already_received":
                lines.append(self.t("already_received", attribute=self.names([flag.detail["attribute"]]),
                                    items=self.names(flag.detail["items"])))
            elif flag.kind == "outside_population":
                lines.append(self.t("outside_population", rule=escape(flag.detail["rule"]),
                                    description=self.text(flag.detail["description"]) if flag.detail["description"]
                                    else escape(flag.detail["population"])))
        return lines

    def questions(self, res: r.Result) -> None:
        """The open questions, most deciding first, each with the recommendations it decides
        (exactly ``missing[].recommendations``, so the count is the list's length); each possible
        entry is shown once, under the first question that decides it, with the others it also
        needs. Questions that decide no recommendation (only concepts) end the section in one line."""
        deciding = [m for m in res.missing if m.recommendations]
        rest = [m.attribute for m in res.missing if not m.recommendations]
        if not deciding and not res.possible and not rest:
            return
        c = self.console
        c.print(self.t("questions"))
        possible = {p.id: p for p in res.possible}
        certain = {rec.id for rec in res.recommendations}
        shown: set[str] = set()
        statements = {m.id for m in res.possibly_not_recommended}
        approximate = False
        for number, m in enumerate(deciding, 1):
            earlier = [i for i in m.recommendations if i in shown]
            key = "question" if not earlier else "question_above" if len(earlier) < len(m.recommendations) \
                else "question_above_only"
            c.print(self.t(key, number=number, attribute=escape(self.words.name(m.attribute)),
                           count=len(m.recommendations), items=", ".join(self.name(i) for i in earlier)))
            for ident in m.recommendations:
                if ident in shown:
                    continue
                shown.add(ident)
                if ident in possible:
                    item = possible[ident]
                    others = [a for a in item.missing if a != m.attribute]
                    line = f"      [yellow]?[/] {self.name(ident)}"
                    if others:
                        line += " " + self.t("also_needs", attributes=self.names(others))
                    if not item.exact:
                        line += " " + self.t("approximate_short")
                        approximate = True
                    c.print(line)
                    for flag in self.flag_lines(item.flags):
                        c.print("        " + flag)
                elif ident in certain:  # with an undecided statement against it that needs this
                    c.print(f"      {MARK[True]} {self.name(ident)} " + self.t("could_be_removed"))
                elif ident in statements:  # a `do not recommend` statement, undecided
                    c.print(f"      [yellow]?[/] [red]✘[/] {self.name(ident)} " + self.t("statement_against"))
        unplaced = [p for p in res.possible if p.id not in shown]  # possible without a named question (vague data)
        for item in unplaced:
            c.print(f"  [yellow]?[/] {self.name(item.id)} — {self.t('needs', attributes=self.names(item.missing))}")
            approximate = approximate or not item.exact
        if rest:
            c.print(self.t("other_questions", attributes=self.names(rest)))
        if approximate:
            c.print(self.t("approximate_note"))

    # -- explain --
    def condition(self, cond: r.Condition) -> str:
        return escape(self.words.condition(cond))

    def proof_tree(self, node: r.ProofNode, tree: Tree | None = None) -> Tree:
        grade = self.grade(node.strength, node.evidence, node.consensus)
        conclusion = escape(self.words.avoid(node.avoids)) if node.avoids is not None else self.name(node.conclusion)
        head = f"{MARK[True]} [bold]{conclusion}[/]" + (f"  [cyan]{grade}[/]" if grade else "")
        head += "\n  [dim]" + self.t("rule", rule=self.rule(node.rule)) + (
            self.t("source", source=self.source(node.source)) if node.source.document else "") + "[/]"
        branch = Tree(head) if tree is None else tree.add(head)
        shown_below = {child.conclusion for child in node.children}
        for cond in node.conditions:
            if cond.concept and cond.op == "is" and cond.concept in shown_below:
                continue  # its own proof follows
            branch.add(f"{MARK[cond.holds]} {self.condition(cond)}" + self._derived(cond))
        for child in node.children:
            self.proof_tree(child, branch)
        link = node.weakest_link
        if link and (link.evidence or link.consensus is not None) and node.children:
            bits = []
            if link.evidence:
                bits.append(self.t("weakest_evidence", level=self.layout["levels"].get(link.evidence, link.evidence),
                                  rule=link.evidence_rule))
            if link.consensus is not None:
                bits.append(self.t("weakest_consensus", consensus=link.consensus, rule=link.consensus_rule))
            branch.add(f"[dim]{self.t('weakest', bits=escape(self.layout['weakest_sep'].join(bits)))}[/]")
        return branch

    def _derived(self, cond: r.Condition) -> str:
        """How a duration was derived: `` (= progression_date - first_line_end_date: ...)``."""
        d = cond.actual.derived_from if cond.actual else None
        if not d:
            return ""
        dates = [k for k in d if k != "formula"]
        formula = d["formula"] if self.lang == "en" else " - ".join(self.words.name(k) for k in dates)
        shown = self.words.phrase["sep"].join(f"{self.words.name(k)} {d[k]}" for k in dates)
        return self.t("derived_from", formula=escape(formula), values=escape(shown))

    def headline(self, res, patient: str) -> str:
        """The first line of an explanation or why-not: the goal's kind and exact verdict."""
        negative = res.kind in ("not_recommended", "contraindication")
        key = f"{res.kind} {res.verdict}" if negative else res.verdict
        mark = NEGATIVE_MARK[res.holds] if negative else MARK[res.holds]
        line = self.layout["headline"][key].format(mark=mark, goal=self.name(res.goal), patient=escape(patient))
        if res.holds is None and res.missing:
            line += self.t("record", attributes=self.names(res.missing))
        if not res.exact:
            line += " " + self.t("approximate")
        return line

    def cases(self, cases: list) -> None:
        c = self.console
        c.print(self.t("by_cases"))
        for case in cases:
            branch = Tree(self.t("case", assume=escape(self.assumption(case.assume))))
            if case.proof:
                self.proof_tree(case.proof, branch)
            else:
                branch.add(self.t("case_no_proof"))
            c.print(branch)

    def assumption(self, assume: dict) -> str:
        bits = []
        for attr, value in assume.items():
            if isinstance(value, dict):
                for key, items in value.items():
                    shown = ", ".join(str(i) if isinstance(i, str) else json.dumps(i, ensure_ascii=False) for i in items)
                    bits.append(f"{self.words.names([attr])} " + self.t(key, items=f"({shown})"))
            else:
                kind = self.compiled.checked.attributes[attr].type.kind
                shown = units.show(value, kind) if kind in units.UNITS else self.words.value(value, kind)
                bits.append(f"{self.words.names([attr])} = {shown}")
        return self.words.phrase["changes_sep"].join(bits)

    def pending_line(self, item: r.Pending) -> str:
        """An undecided contraindication or `do not recommend` statement, with the data it needs."""
        return self.t("pending", kind=self.layout["pending_kind"][item.kind], rule=self.rule(item.rule),
                      reason=self.text(item.reason), attributes=self.names(item.missing))

    def pending(self, items) -> None:
        for item in items:
            self.console.print(self.pending_line(item))

    def explanation(self, ex: r.Explanation, patient: str, path: str | None = None) -> None:
        c = self.console
        c.print(self.headline(ex, patient))
        if ex.proof:
            c.print(self.proof_tree(ex.proof))
        for alt in ex.alternatives:
            c.print(self.t("also_derived"))
            c.print(self.proof_tree(alt))
        if ex.cases:
            self.cases(ex.cases)
        for removal in ex.removed_by:
            c.print(self.t("removed_by", rule=self.rule(removal.rule), reason=self.text(removal.reason)))
            if removal.proof:
                c.print(self.proof_tree(removal.proof))
        self.pending(ex.pending)
        for conflict in ex.conflicts:
            c.print(self.t("conflict_proof", rule=self.rule(conflict.rule), reason=self.text(
                self.compiled.rule(conflict.rule.id).reason)))
            c.print(self.proof_tree(conflict))
        if not ex.holds and not ex.removed_by:
            c.print(self.t("run_why_not", patient=escape(shlex.quote(path or patient)), goal=escape(shlex.quote(ex.goal))))

    def provenance(self, res, provenance: dict, given: dict) -> None:
        """For a patient read from FHIR: each attribute the proof or attempts use, its value and
        where it came from (``ecog 1 ← Observation/ecog-1 (LOINC 89247-1, 2026-03-01)``)."""
        used = [a for a in provenance if a in _attributes_in(res.to_dict())]
        if not used:
            return
        from ..records.fhir import shown_origin
        self.console.print(self.t("provenance"))
        for attr in used:
            value = given.get(attr, "unknown")
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            shown = shown if shown != "" else "[]"
            origins = "; ".join(shown_origin(o) for o in provenance[attr])
            self.console.print(f"  {escape(attr)} {escape(str(shown))} ← {escape(origins)}")

    # -- why not --
    def attempt_tree(self, attempt: r.Attempt, tree: Tree | None = None) -> Tree:
        head = f"{MARK[attempt.holds]} {self.name(attempt.conclusion)} [dim]" + self.t("by_rule", rule=self.rule(attempt.rule)) + (
            self.t("source", source=self.source(attempt.source)) if attempt.source.document else "") + "[/]"
        branch = Tree(head) if tree is None else tree.add(head)
        if attempt.applies is False:
            branch.add(f"{MARK[False]} " + escape(self.words.does_not_apply(attempt.applies_when)))
        for cond in attempt.failed:
            if cond.concept and cond.op == "is" and any(isinstance(ch, r.Attempt) and ch.conclusion == cond.concept for ch in attempt.children):
                continue  # the child attempt below says it, with its reasons
            label = self.layout["missing_label" if cond.holds is None else "failed"]
            branch.add(f"{MARK[cond.holds]} {self.condition(cond)}{label}" + self._derived(cond))
        for child in attempt.children:
            if isinstance(child, r.Attempt):
                self.attempt_tree(child, branch)
            else:
                self.proof_tree(child, branch)
        if attempt.missing:
            branch.add(self.t("missing_data", attributes=self.names(attempt.missing)))
        if attempt.to_hold:
            branch.add(self.to_hold(attempt))
        for removal in attempt.removed_by:
            sub = branch.add(self.t("removed_by", rule=self.rule(removal.rule), reason=self.text(removal.reason)))
            if removal.proof:
                self.proof_tree(removal.proof, sub)
        for item in attempt.pending:
            branch.add(self.pending_line(item))
        return branch

    def to_hold(self, attempt: r.Attempt) -> str:
        """``would hold with: …`` when the change makes the goal hold (the engine checked it);
        else ``the rule would hold with: …; the regimen would still be removed by …``."""
        changes = escape(self.words.changes(attempt.to_hold))
        if self.words.goal_would_hold(attempt):
            return self.t("would_hold", changes=changes)
        still = self.words.still(attempt, lambda rid: self.plain_text(self.compiled.rule(rid).reason))
        line = self.t("rule_would_hold", changes=changes)
        if still:
            line += self.t("still", text=escape(self.words.phrase["still_lead"] + self.words.phrase["changes_sep"].join(still)))
        return line

    def why_not(self, wn: r.WhyNot, patient: str) -> None:
        c = self.console
        if wn.holds:
            if wn.kind in ("not_recommended", "contraindication"):
                c.print(self.headline(wn, patient))
            else:
                c.print(self.t("holds_proof", mark=MARK[True], goal=self.name(wn.goal), patient=escape(patient)))
            if wn.proof:
                c.print(self.proof_tree(wn.proof))
            if wn.cases:
                self.cases(wn.cases)
            return
        if wn.holds is False and wn.kind in ("concept", "recommendation"):
            c.print(self.t("nearest_miss", mark=MARK[False], goal=self.name(wn.goal), patient=escape(patient),
                           count=len(wn.attempts)))
        else:
            c.print(self.headline(wn, patient) + self.words.phrase["changes_sep"] + self.t("attempts", count=len(wn.attempts)))
        for attempt in wn.attempts:
            c.print(self.attempt_tree(attempt))
        self.pending(wn.pending)


def _attributes_in(data) -> set[str]:
    """Every ``attribute`` named in a result's JSON (its conditions, missing lists)."""
    found: set[str] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("attribute"), str):
                found.add(item["attribute"])
            for key in ("missing",):
                if isinstance(item.get(key), list):
                    found.update(x for x in item[key] if isinstance(x, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
