"""One proof as a picture: an explanation (and, for a goal that does not hold, its why-not)
→ a :class:`~.pictures.Graph` drawn by :mod:`.pictures` (``explain --format dot|mermaid|svg``).

In: an :class:`~oncologic.reason.results.Explanation` as :meth:`KnowledgeBase.explain` made it,
and for a goal that does not hold (fails or undecided, without a case analysis) the
:class:`~oncologic.reason.results.WhyNot` of :meth:`KnowledgeBase.why_not`; the patient's id;
the checked knowledge base (labels, documents, rule kinds) and a language; optionally
(``held``) the explanations of the rules that hold though a contraindication removes or may
remove their regimen, and the why-not attempts of those undecided contraindications (the CLI
asks ``explain``/``why_not`` of their rule ids). Nothing is recomputed: every verdict drawn is
one of these results.

Out: a graph whose top node (``goal``) gives the goal and its verdict for the patient; below it,
one node per rule of the proof (its conclusion, grading, rule id, source as ``000 Table 3``),
each with one ``condition`` node per condition (``tfi < 90 d (patient: 45 d)``, the sentence
of :mod:`.words` in the language asked for), coloured by ``status``: green holds, red fails,
grey undecided or missing. A concept a condition names is the node of its own proof. A goal
that does not hold shows the why-not attempts the same way: each rule that could conclude it,
its failed and missing conditions, the changes that would make it hold, the contraindications
that removed it (``removes`` edges) and what is pending. A rule that holds but whose regimen a
contraindication removes is drawn with its own derivation (green) and status ``removed``
(``holds; removed by contraindication X``, as the text report says it), the contraindication
below it with its derivation; one that an undecided contraindication may remove has status
``possible``, the contraindication grey with its undecided conditions (``may_remove`` edge). Proofs by case analysis show one
``case`` node per case.
"""
from __future__ import annotations

from typing import Optional

from ..reason import results as r
from .pictures import Graph, Line, Names, Node, status_of
from .words import Words


def proof_picture(ex: r.Explanation, why: Optional[r.WhyNot], patient: str, checked, lang: str = "en",
                  held: Optional[dict] = None) -> Graph:
    """The picture of ``ex`` (with ``why`` drawn for a goal that does not hold). ``held``, by
    rule id: the proof of a rule that holds though a contraindication removes (or may remove)
    its regimen, and the attempt of an undecided contraindication (``KnowledgeBase.explain`` and
    ``why_not`` of the rule id), so that both are drawn with their own conditions."""
    return _Builder(checked, lang, held or {}).explanation(ex, why, patient)


class _Builder:
    def __init__(self, checked, lang: str, held: dict):
        self.checked = checked
        self.held = held
        self.names = Names(checked, lang)
        self.words = Words(lang, checked.label, checked.value_label)
        self.graph = Graph(direction="TB")
        self.rules = {rule.id: rule for rule in checked.rules}

    def key(self, base: str) -> str:
        """A node id not used yet: ``base``, else ``base~2``, ``base~3``, ..."""
        if base not in self.graph.nodes:
            return base
        number = 2
        while f"{base}~{number}" in self.graph.nodes:
            number += 1
        return f"{base}~{number}"

    def explanation(self, ex: r.Explanation, why: Optional[r.WhyNot], patient: str) -> Graph:
        status = status_of(ex.holds)
        goal = self.names.regimen(ex.goal)
        headline = self.names.words["headline"][status].format(goal=goal, patient=patient)
        lines = [Line(headline, "title")]
        if goal != ex.goal:
            lines.append(Line(ex.goal, "small"))
        top = self.graph.add(Node("goal", "goal", lines, status=status)).id
        if ex.proof:
            self.graph.link(top, self.proof(ex.proof))
        for alt in ex.alternatives:
            self.graph.link(top, self.proof(alt), "alternative", self.names.word("or"))
        for case in ex.cases:
            node = self.note(self.names.word("case", assume=_assume(case.assume)), status_of(case.holds))
            self.graph.link(top, node)
            if case.proof:
                self.graph.link(node, self.proof(case.proof))
        if why is not None and not ex.holds and not ex.cases:
            for attempt in why.attempts:
                self.graph.link(top, self.attempt(attempt), "alternative" if len(why.attempts) > 1 else "depends",
                                self.names.word("or") if len(why.attempts) > 1 else None)
            pending = why.pending
        else:
            for removal in ex.removed_by:
                self.graph.link(top, self.removal(removal), "removes", self.names.word("removed_by"))
            pending = ex.pending
        for conflict in ex.conflicts:
            self.graph.link(top, self.proof(conflict), "contradicts", self.names.word("not_recommended_by"))
        for item in pending:
            self.graph.link(top, self.pending(item))
        return self.graph

    # ---- nodes ----------------------------------------------------------------------------
    def kind(self, rule_id: str) -> str:
        rule = self.rules.get(rule_id)
        if rule is None:
            return "rule"
        if rule.kind == "recommendation":
            return "recommendation" if rule.polarity == "recommend" else "not_recommended"
        return rule.kind  # concept, setting, contraindication

    def head(self, conclusion: str, rule: r.RuleRef, source: r.SourceRef, grade: str = "") -> list[Line]:
        lines = [Line(conclusion, "title")]
        if grade:
            lines.append(Line(grade, "plain"))
        lines.append(Line(self.names.word("rule", rule=rule.id), "small"))
        shown = self.names.source(source.document, source.locator)
        if shown:
            lines.append(Line(shown, "small"))
        return lines

    def proof(self, node: r.ProofNode) -> str:
        conclusion = self.words.avoid(node.avoids) if node.avoids is not None else self.names.regimen(node.conclusion)
        grade = self.names.grade(node.strength, node.evidence, node.consensus)
        key = self.key(node.rule.id)
        self.graph.add(Node(key, self.kind(node.rule.id), self.head(conclusion, node.rule, node.source, grade), status="holds"))
        self.derivation(key, node)
        return key

    def derivation(self, key: str, node: r.ProofNode) -> None:
        """The conditions of a proof (green) below ``key``, and the proofs of the concepts they name."""
        below = {child.conclusion for child in node.children}
        for cond in node.conditions:
            if cond.concept and cond.op == "is" and cond.concept in below:
                continue  # its own proof is drawn
            self.graph.link(key, self.condition(key, cond))
        for child in node.children:
            self.graph.link(key, self.proof(child))

    def condition(self, owner: str, cond: r.Condition) -> str:
        key = self.key(f"{owner}/{cond.attribute or cond.concept or cond.op}")
        self.graph.add(Node(key, "condition", [Line(self.words.condition(cond))], status=status_of(cond.holds)))
        return key

    def note(self, text: str, status: Optional[str] = None) -> str:
        key = self.key("note")
        self.graph.add(Node(key, "note", [Line(text)], status=status))
        return key

    def attempt(self, attempt: r.Attempt) -> str:
        if attempt.removed_by or attempt.pending:
            return self.held_attempt(attempt)
        key = self.key(attempt.rule.id)
        self.graph.add(Node(key, self.kind(attempt.rule.id),
                            self.head(self.names.regimen(attempt.conclusion), attempt.rule, attempt.source),
                            status=status_of(attempt.holds)))
        if attempt.applies is False:
            self.graph.link(key, self.note(self.names.word("does_not_apply", gate=attempt.applies_when), "fails"))
        below = {child.conclusion for child in attempt.children if isinstance(child, r.Attempt)}
        for cond in attempt.failed:
            if cond.concept and cond.op == "is" and cond.concept in below:
                continue  # the attempt below says why, with its own conditions
            self.graph.link(key, self.condition(key, cond))
        conclusions = [child.conclusion for child in attempt.children]
        for child in attempt.children:
            if conclusions.count(child.conclusion) > 1:  # several rules could conclude it: any one would do
                self.graph.link(key, self.attempt(child) if isinstance(child, r.Attempt) else self.proof(child),
                                "alternative", self.names.word("or"))
            else:
                self.graph.link(key, self.attempt(child) if isinstance(child, r.Attempt) else self.proof(child))
        if attempt.missing:
            self.graph.link(key, self.note(self.names.word("missing", attributes=self.words.names(attempt.missing)), "undecided"))
        if attempt.to_hold:
            self.graph.link(key, self.to_hold(attempt))
        for removal in attempt.removed_by:
            self.graph.link(key, self.removal(removal), "removes", self.names.word("removed_by"))
        for item in attempt.pending:
            self.graph.link(key, self.pending(item))
        return key

    def to_hold(self, attempt: r.Attempt) -> str:
        """The note of an attempt's change: ``would hold if: …`` when the engine found that it
        makes the goal hold; else ``the rule would hold if: …`` and what would still stand against
        the goal (a contraindication that would still remove the regimen), in red."""
        changes = self.words.changes(attempt.to_hold)
        if self.words.goal_would_hold(attempt):
            return self.note(self.names.word("would_hold", changes=changes))
        still = self.words.still(attempt, lambda rid: self.reason(rid, self.rules[rid].reason) if rid in self.rules else None)
        text = self.names.word("rule_would_hold", changes=changes)
        if still:
            text += self.words.phrase["still_lead"] + self.words.phrase["changes_sep"].join(still)
        return self.note(text, "fails" if attempt.still_removed_by or attempt.to_hold_verdict == "fails" else "undecided")

    def held_attempt(self, attempt: r.Attempt) -> str:
        """A rule that holds (its setting and conditions do) whose regimen a contraindication
        removes, or may remove while undecided: the rule as the text report says it (``holds;
        removed by contraindication X`` / ``holds; possible: contraindication X is undecided``),
        styled ``removed`` or ``possible``, its own derivation in green, and the contraindication
        below it (green when it holds, grey with its undecided conditions when it is pending)."""
        proof = self.held.get(attempt.rule.id)
        grade = self.names.grade(proof.strength, proof.evidence, proof.consensus) if proof is not None else ""
        key = self.key(attempt.rule.id)
        lines = self.head(self.names.regimen(attempt.conclusion), attempt.rule, attempt.source, grade)
        if attempt.removed_by:
            status = "removed"
            lines.append(Line(self.names.word("holds_removed", rules=", ".join(x.rule.id for x in attempt.removed_by)), "title"))
        else:
            status = "possible"
            lines.append(Line(self.names.word("holds_pending", rules=", ".join(x.rule.id for x in attempt.pending)), "title"))
        self.graph.add(Node(key, self.kind(attempt.rule.id), lines, status=status))
        if proof is not None:
            self.derivation(key, proof)
        for removal in attempt.removed_by:
            self.graph.link(key, self.removal(removal), "removes", self.names.word("removed_by"))
        for item in attempt.pending:
            if item.kind == "contraindication":
                self.graph.link(key, self.pending_contraindication(item), "may_remove", self.names.word("may_be_removed_by"))
            else:
                self.graph.link(key, self.pending(item))
        return key

    def pending_contraindication(self, item: r.Pending) -> str:
        """An undecided contraindication: grey, what it would avoid, why, and the data it needs;
        with its attempt (from ``held``) its undecided conditions below it."""
        key = self.key(item.rule.id)
        if key != item.rule.id:
            return item.rule.id  # drawn already (another rule it may remove)
        tried = self.held.get(item.rule.id)
        rule = self.rules.get(item.rule.id)
        avoids = [i for (i,) in rule.regimens] if rule is not None else []
        source = tried.source if isinstance(tried, r.Attempt) else r.SourceRef()
        lines = self.head(self.words.avoid(avoids) if avoids else item.rule.id, item.rule, source)
        if item.reason:
            lines.append(Line(self.names.word("because", reason=self.reason(item.rule.id, item.reason)), "small"))
        lines.append(Line(self.names.word("undecided_needs", attributes=self.words.names(item.missing)), "plain"))
        self.graph.add(Node(key, "contraindication", lines, status="undecided"))
        if isinstance(tried, r.Attempt):
            below = {child.conclusion for child in tried.children if isinstance(child, r.Attempt)}
            for cond in tried.failed:
                if cond.concept and cond.op == "is" and cond.concept in below:
                    continue
                self.graph.link(key, self.condition(key, cond))
            for child in tried.children:
                self.graph.link(key, self.attempt(child) if isinstance(child, r.Attempt) else self.proof(child))
        return key

    def removal(self, removal: r.Removal) -> str:
        if removal.proof is not None:
            return self.proof(removal.proof)
        key = self.key(removal.rule.id)
        lines = self.head(removal.rule.id, removal.rule, removal.source)
        if removal.reason:
            lines.append(Line(self.names.word("because", reason=self.reason(removal.rule.id, removal.reason)), "small"))
        self.graph.add(Node(key, "contraindication", lines, status="holds"))
        return key

    def reason(self, rule_id: str, text: str) -> str:
        from ..lang.nodes import text_in
        rule = self.rules.get(rule_id)
        return text_in(text, rule.reason_labels, self.names.lang) if rule is not None else text

    def pending(self, item: r.Pending) -> str:
        kind = self.names.words["pending_kind"].get(item.kind, item.kind)
        return self.note(self.names.word("pending", kind=kind, rule=item.rule.id,
                                         attributes=self.words.names(item.missing)), "undecided")


def _assume(assume: dict) -> str:
    bits = []
    for attr, value in assume.items():
        if isinstance(value, dict):
            bits.extend(f"{attr} {key.replace('_', ' ')} ({', '.join(map(str, items))})" for key, items in value.items())
        else:
            bits.append(f"{attr} = {value}")
    return "; ".join(bits)
