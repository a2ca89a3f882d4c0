"""CDS Hooks cards from the engine's results, in English or Chinese.

In: a :class:`~oncologic.api.KnowledgeBase`, the patient, their :class:`~oncologic.reason.results.Result`
(and for ``order-select`` the regimen the drafted orders make), a language and a function giving
the explanation page's absolute URL for a goal. Out: card dicts as CDS Hooks 2.0 defines them
(``uuid``, ``summary`` under 140 characters, ``indicator``, ``detail`` in Markdown, ``source``,
``links``). Every word is the message catalogue's ``service`` section or the knowledge base's
labels; nothing is asserted beyond the result: a ``possible`` recommendation is an info card that
says it is not certain and which data would decide it.

indicator: ``info`` a recommendation (or a hedged possibility), ``warning`` a `do not recommend`
statement that holds, ``critical`` a contraindication that removed the regimen.
"""
from __future__ import annotations

import re
import uuid
from typing import Callable, Iterable, Optional

from ..reason import results as r
from ..reason.conclude import source_ref
from ..report.catalogue import catalogue, locator as in_language
from ..report.pictures import Names
from ..report.words import Words

SUMMARY_MAX = 139  # CDS Hooks 2.0: "<140-character summary"
SETTING_SYSTEM = "urn:oncologic:setting"  # the code system of a card's source.topic: the knowledge base's settings
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&])")


def summary(text: str, limit: int = SUMMARY_MAX) -> str:
    """``text`` on one line, cut to at most ``limit`` characters: at the last space when it
    leaves most of the text, else at the limit (Chinese has no spaces), ending with ``…``."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:，；：、") + "…"


def md(text: Optional[str]) -> str:
    """Text from a rule file or a record as literal Markdown: one line, every character that
    Markdown or HTML could read as markup backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text or "").split()))


def code(text: str) -> str:
    """An identifier in a Markdown code span (a backtick in it would end the span: dropped)."""
    return "`" + str(text).replace("`", "") + "`"


class CardWriter:
    """The cards of one hook call, in ``lang``. ``link(goal)``: the explanation page's URL."""

    def __init__(self, kb, person, lang: str, link: Callable[[str], str]):
        self.kb = kb
        self.person = person
        self.lang = lang
        self.link = link
        checked = kb.compiled.checked
        self.checked = checked
        self.names = Names(checked, lang)
        self.words = Words(lang, checked.label, checked.value_label)
        self.say = catalogue(lang)["service"]
        self.layout = catalogue(lang)["layout"]
        self.documents = {d.filename: d for d in checked.documents.values()}
        self.proofs: dict[str, r.Explanation] = {}  # goal -> its explanation, asked of the engine together

    def prove(self, goals: list[str]) -> None:
        """Ask the engine for the explanations of ``goals`` at once (:meth:`KnowledgeBase.explain_many`)."""
        goals = [g for g in dict.fromkeys(goals) if g not in self.proofs]
        self.proofs.update(zip(goals, self.kb.explain_many(self.person, goals)))

    # ---- words ----------------------------------------------------------------------------
    def t(self, key: str, **values) -> str:
        return self.say[key].format(**values)

    def regimen(self, ident: str) -> str:
        return self.names.regimen(ident)

    def grade(self, strength, evidence, consensus) -> str:
        return self.names.grade(strength, evidence, consensus)

    def attributes(self, names: Iterable[str]) -> str:
        return self.words.names(names)

    def title(self, src: r.SourceRef) -> str:
        doc = self.documents.get(src.document or "")
        return (doc.title_in(self.lang) if doc else None) or src.title or src.document or "oncologic"

    # ---- parts of a card ------------------------------------------------------------------
    def source(self, src: r.SourceRef, setting: Optional[str]) -> dict:
        """CDS Hooks ``source``: the document's title and the locator as the label, the setting
        as the topic."""
        title = self.title(src)
        label = f"{title} — {in_language(src.locator, self.lang)}" if src.locator else title
        out: dict = {"label": label}
        if setting:
            out["topic"] = {"system": SETTING_SYSTEM, "code": setting,
                            "display": self.checked.label(setting, self.lang) or setting}
        return out

    def grading_lines(self, strength, evidence, consensus) -> list[str]:
        none = self.say["none_given"]
        shown_strength = self.layout["strength"].get(strength, strength) if strength else none
        shown_evidence = self.layout["levels"].get(evidence, evidence) if evidence else none
        shown_consensus = f"{consensus:g}%" if isinstance(consensus, (int, float)) else none
        return [self.t("detail_grade", strength=md(shown_strength), evidence=md(shown_evidence),
                       consensus=md(shown_consensus))]

    def source_line(self, src: r.SourceRef) -> str:
        if src.locator:
            return self.t("detail_source", title=md(self.title(src)), locator=md(in_language(src.locator, self.lang)))
        return self.t("detail_source_plain", title=md(self.title(src)))

    def chain(self, node: Optional[r.ProofNode], depth: int = 0) -> list[str]:
        """The rule chain of a proof as a nested Markdown list, the conclusion first."""
        if node is None:
            return []
        conclusion = self.words.avoid(node.avoids) if node.avoids is not None else self.regimen(node.conclusion)
        lines = ["  " * depth + "- " + self.t("detail_rule_line", rule=node.rule.id.replace("`", ""),
                                                 file=md(node.rule.file), line=node.rule.line,
                                                 conclusion=md(conclusion))]
        for child in node.children:
            lines += self.chain(child, depth + 1)
        return lines

    def rule_chain(self, goal: str) -> list[str]:
        """``**Rule chain:**`` and the proof of ``goal`` (with the contraindications that removed
        it), asked of the engine; nothing when no rule has concluded it."""
        ex = self.proofs.get(goal) or self.kb.explain(self.person, goal)
        lines: list[str] = []
        for proof in ([ex.proof] if ex.proof else []) + [case.proof for case in ex.cases if case.proof][:1]:
            lines += self.chain(proof)
        for removal in ex.removed_by:
            lines.append("- " + self.t("detail_removed_by", rule=removal.rule.id.replace("`", ""),
                                       file=md(removal.rule.file), line=removal.rule.line))
            lines += self.chain(removal.proof, 1)
        return [self.say["detail_rule_chain"] + "\n\n" + "\n".join(lines)] if lines else []

    def links(self, goal: str, shown: str) -> list[dict]:
        return [{"label": summary(self.t("link_label", regimen=shown)), "url": self.link(goal), "type": "absolute"}]

    def card(self, summary_text: str, indicator: str, detail: list[str], src: r.SourceRef,
             setting: Optional[str], goal: str, shown: str) -> dict:
        return {"uuid": str(uuid.uuid4()), "summary": summary(summary_text), "indicator": indicator,
                "detail": "\n\n".join(part for part in detail if part), "source": self.source(src, setting),
                "links": self.links(goal, shown)}

    def pending_lines(self, pending: list[r.Pending]) -> list[str]:
        kinds = self.layout["pending_kind"]
        return [self.t("detail_pending", kind=md(kinds.get(p.kind, p.kind)), rule=p.rule.id.replace("`", ""),
                       attributes=md(self.attributes(p.missing))) for p in pending]

    # ---- cards ----------------------------------------------------------------------------
    def recommended(self, rec: r.Recommendation, prefix: str = "") -> dict:
        shown = self.regimen(rec.id)
        grade = self.grade(rec.strength, rec.evidence, rec.consensus)
        key = prefix + ("recommended" if grade else "recommended_plain")
        detail = [*self.grading_lines(rec.strength, rec.evidence, rec.consensus), self.source_line(rec.source)]
        if rec.setting:
            detail.append(self.t("detail_setting", setting=md(self.checked.label(rec.setting, self.lang) or rec.setting)))
        notes = rec.localized_notes if self.lang != "en" and rec.localized_notes else rec.notes
        if notes:
            detail.append(self.t("detail_notes", notes=md("; ".join(notes))))
        detail += self.rule_chain(rec.id)
        return self.card(self.t(key, regimen=shown, grade=grade), "info", detail, rec.source, rec.setting, rec.id, shown)

    def not_recommended(self, item: r.NotRecommended, prefix: str = "", key: str = "not_recommended",
                        missing: Optional[list[str]] = None) -> dict:
        shown = self.regimen(item.id)
        reason = item.localized_reason if self.lang != "en" and item.localized_reason else item.reason
        detail: list[str] = []
        if missing:
            detail.append(self.t("hedge_not_recommended", attributes=md(self.attributes(missing))))
        detail += [*self.grading_lines(None, item.evidence, item.consensus), self.source_line(item.source)]
        if reason:
            detail.append(self.t("detail_reason", reason=md(reason)))
        detail += self.rule_chain(item.rule.id)
        values = {"regimen": shown, "attributes": self.attributes(missing or [])}
        return self.card(self.t(prefix + key, **values), "info" if missing else "warning", detail, item.source,
                         item.setting, item.rule.id, shown)

    def contraindicated(self, item: r.Contraindicated, prefix: str = "") -> dict:
        shown = self.regimen(item.id)
        reason = item.localized_reason if self.lang != "en" and item.localized_reason else item.reason
        key = prefix + ("contraindicated" if reason else "contraindicated_plain")
        detail = [self.t("detail_reason", reason=md(reason)) if reason else "", self.source_line(item.source)]
        by = item.recommended_by
        detail.append(self.t("detail_rule_line", rule=by.rule.id.replace("`", ""), file=md(by.rule.file),
                             line=by.rule.line, conclusion=md(shown)))
        detail += self.rule_chain(item.id)
        return self.card(self.t(key, regimen=shown, reason=reason or ""), "critical", detail, item.source,
                         by.setting, item.id, shown)

    def possible(self, item: r.Possible, prefix: str = "") -> dict:
        shown = self.regimen(item.id)
        rec = item.recommendation
        missing = self.attributes(item.missing)
        detail = [self.t("hedge", attributes=md(missing)),
                  *self.grading_lines(rec.strength, rec.evidence, rec.consensus), self.source_line(rec.source),
                  self.t("detail_missing", attributes=md(missing)), *self.pending_lines(item.pending)]
        detail += self.rule_chain(item.id)
        return self.card(self.t(prefix + "possible", regimen=shown, attributes=missing), "info", detail,
                         rec.source, rec.setting, item.id, shown)

    def patient_view(self, res: r.Result) -> list[dict]:
        """Contraindicated (critical), not recommended (warning), recommended (info), then the
        hedged possibilities (info)."""
        self.prove([c.id for c in res.contraindicated] + [n.rule.id for n in res.not_recommended]
                   + [rec.id for rec in res.recommendations] + [p.id for p in res.possible]
                   + [n.rule.id for n in res.possibly_not_recommended])
        cards = [self.contraindicated(c) for c in res.contraindicated]
        cards += [self.not_recommended(n) for n in res.not_recommended]
        cards += [self.recommended(rec) for rec in res.recommendations]
        cards += [self.possible(p) for p in res.possible]
        cards += [self.not_recommended(n, key="possibly_not_recommended", missing=n.missing or ["?"])
                  for n in res.possibly_not_recommended]
        return cards

    def order(self, res: r.Result, regimen: str, orders: list[str]) -> dict:
        """The card for the ordered regimen (its id: the drugs sorted, joined by ``+``): the
        first of contraindicated, not recommended, recommended, possibly indicated, possibly not
        recommended that names it, else not covered by the guidelines for this patient."""
        ordered = self.t("detail_order", orders=md(", ".join(orders)))
        makers = ((res.contraindicated, lambda i: self.contraindicated(i, "order_")),
                  (res.not_recommended, lambda i: self.not_recommended(i, "order_")),
                  (res.recommendations, lambda i: self.recommended(i, "order_")),
                  (res.possible, lambda i: self.possible(i, "order_")),
                  (res.possibly_not_recommended,
                   lambda i: self.not_recommended(i, "order_", "possibly_not_recommended", i.missing or ["?"])))
        for items, make in makers:
            for item in items:
                if item.id == regimen:
                    return _with(make(item), ordered)
        shown = self.regimen(regimen)
        drugs = set(regimen.split("+"))
        avoided = self.avoided(drugs)
        if avoided:
            return avoided
        related = [rec.id for rec in res.recommendations if drugs <= set(rec.items)]
        detail = [ordered]
        if related:
            detail.append(self.t("detail_related", regimens=md(", ".join(self.regimen(x) for x in related))))
        return self.card(self.t("order_not_covered", regimen=shown), "info", detail, r.SourceRef(), None, regimen, shown)

    def avoided(self, drugs: set[str]) -> Optional[dict]:
        """A contraindication that avoids one of the ordered ``drugs`` (the drug itself or one of
        its classes), whatever regimen the order forms: critical where the rule holds for the
        patient, a warning where it is undecided (the data it needs missing); None where none
        applies. Asked of the engine by the rule's id (as ``explain PATIENT RULE_ID``)."""
        rules = [rule for rule in self.checked.rules if rule.kind == "contraindication"
                 and any(item in {d, *self.checked.ancestors(d)} for d in drugs for regimen in rule.regimens for item in regimen)]
        if not rules:
            return None
        self.prove([rule.id for rule in rules])
        for verdict, indicator in (("holds", "critical"), ("undecided", "warning")):
            for rule in rules:
                proof = self.proofs[rule.id]
                if proof.verdict != verdict:
                    continue
                names = sorted(d for d in drugs if any(item in {d, *self.checked.ancestors(d)}
                                                       for regimen in rule.regimens for item in regimen))
                shown = self.regimen("+".join(names))
                reason = rule.reason or ""
                if verdict == "holds":
                    head = self.t("order_contraindicated" if reason else "order_contraindicated_plain", regimen=shown, reason=reason)
                else:
                    head = self.t("order_possibly_contraindicated", regimen=shown, rule=rule.id)
                source = source_ref(self.kb.compiled, rule)
                detail = [self.t("detail_reason", reason=md(reason)) if reason else "", self.source_line(source),
                          *self.rule_chain(rule.id)]
                return self.card(head, indicator, detail, source, None, rule.id, shown)
        return None

    def unknown_codes(self, codes: list[str]) -> dict:
        """Drafted orders whose codes name no drug of the catalogue: not covered."""
        shown = ", ".join(codes)
        return {"uuid": str(uuid.uuid4()), "summary": summary(self.t("order_unknown_codes", codes=shown)),
                "indicator": "info", "detail": "\n\n".join(self.t("detail_unknown_code", code=md(c)) for c in codes),
                "source": {"label": "oncologic"}}


def _with(card: dict, line: str) -> dict:
    card["detail"] = line + "\n\n" + card["detail"] if card.get("detail") else line
    return card
