"""Stage 8: rendering — results and explanations as text for a person, in English or Chinese.

Text uses rich: trees for recommendations, proofs and why-not. Every word is written here from
the structured results: the sentences of conditions and changes by :mod:`.words`, the
headings and labels of the layout from :data:`LAYOUT`. ``lang="zh"`` writes them in Chinese,
with the labels the knowledge base declares (ids shown next to them in headings).
"""
from __future__ import annotations

import json
import shlex

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from ..reason import results as r
from ..compile.compiler import CompiledKB
from ..lang import units
from .words import Words

MARK = {True: "[green]✔[/]", False: "[red]✘[/]", None: "[yellow]?[/]"}
NEGATIVE_MARK = {True: "[red]⊘[/]", False: "[dim]–[/]", None: "[yellow]?[/]"}  # a statement against: holds, fails, undecided

# The words of the layout, with rich markup; values are escaped before they are put in.
LAYOUT = {
    "en": {
        "patient": "[bold]Patient {patient}[/]",
        "derived": "Derived: {items}",
        "nothing": "[dim]nothing[/]",
        "recommended": "[bold]Recommended ({count})[/]",
        "recommended_none": "[bold]Recommended:[/] none",
        "note": "[dim]note: {note}[/]",
        "conflict": "[yellow]⚠ also not recommended[/] ({id}) by rule {rule}: {reason}",
        "not_recommended": "\n[bold]Not recommended[/]",
        "agreement": " ({consensus}% agreement)",
        "contraindicated": "\n[bold]Contraindicated[/] (removed from the recommendations)",
        "recommended_by": "rule {rule}; recommended by {by}",
        "possible": "\n[bold]Possible[/] (would depend on data the record lacks)",
        "needs": "needs {attributes}",
        "missing": "\n[bold]Missing data[/]",
        "decides": "{attribute} decides {count} recommendation(s)",
        "evidence": "evidence {level}",
        "consensus": "consensus {consensus}%",
        "strength": {},
        "grade_sep": " · ",
        "rule": "rule {rule}",
        "source": "; source {source}",
        "by_rule": "by rule {rule}",
        "weakest": "weakest link: {bits}",
        "weakest_evidence": "evidence {level} ({rule})",
        "weakest_consensus": "consensus {consensus}% ({rule})",
        "weakest_sep": "; ",
        "derived_from": " [dim](= {formula}: {values})[/]",
        "headline": {
            "holds": "{mark} [bold]{goal}[/] holds for patient {patient}",
            "fails": "{mark} [bold]{goal}[/] does not hold for patient {patient}",
            "undecided": "{mark} [bold]{goal}[/] is undecided (possible) for patient {patient}",
            "not_recommended holds": "{mark} [bold]{goal}[/] is not recommended for patient {patient} (the statement holds)",
            "not_recommended fails": "{mark} the statement not to recommend [bold]{goal}[/] does not hold for patient {patient}",
            "not_recommended undecided": "{mark} [bold]{goal}[/] may be not recommended for patient {patient}: "
                                         "the statement is undecided",
            "contraindication holds": "{mark} contraindication [bold]{goal}[/] holds for patient {patient}",
            "contraindication fails": "{mark} contraindication [bold]{goal}[/] does not hold for patient {patient}",
            "contraindication undecided": "{mark} contraindication [bold]{goal}[/] is undecided for patient {patient}",
        },
        "record": " — record: {attributes}",
        "approximate": "[dim](answer of three-valued logic: not every completion of the missing data was checked — too many, or a class recorded in place of a drug)[/]",
        "by_cases": "[dim]holds in every case of the missing data:[/]",
        "case": "[bold]case[/] {assume}:",
        "case_no_proof": "[dim]holds (no record with these values alone to show the proof)[/]",
        "has_any_of": "has any of {items}",
        "has_none_of": "has none of {items}",
        "pending": "[yellow]? pending[/] {kind} {rule}: {reason} [dim]— undecided, needs {attributes}[/]",
        "pending_kind": {"contraindication": "contraindication", "not_recommended": "not-recommended statement"},
        "already_received": "[yellow]⚑ already received[/] ({attribute}: {items})",
        "outside_population": "[yellow]⚑ outside the population the source wrote it for[/]: {description} ({rule})",
        "conflict_proof": "[yellow]⚠ also not recommended[/] by rule {rule}: {reason}",
        "attempts": "{count} rule(s) could conclude it, nearest first:",
        "explained": "{mark} [bold]{goal}[/] {verdict} for patient {patient}",
        "verdict": {True: "holds", False: "does not hold"},
        "also_derived": "[dim]also derived by:[/]",
        "removed_by": "[red]⊘ removed by contraindication[/] {rule}: {reason}",
        "run_why_not": "[dim]run: oncologic why-not {patient} {goal}[/]",
        "failed": " [dim](failed)[/]",
        "missing_label": " [dim](missing)[/]",
        "missing_data": "[yellow]missing data:[/] {attributes}",
        "would_hold": "[cyan]would hold with:[/] {changes}",
        "holds_proof": "{mark} [bold]{goal}[/] holds for patient {patient}; its proof:",
        "nearest_miss": "{mark} [bold]{goal}[/] does not hold for patient {patient} — {count} rule(s) could conclude it, "
                        "nearest miss first:",
    },
    "zh": {
        "patient": "[bold]患者 {patient}[/]",
        "derived": "推导出：{items}",
        "nothing": "[dim]无[/]",
        "recommended": "[bold]推荐（{count}）[/]",
        "recommended_none": "[bold]推荐：[/]无",
        "note": "[dim]注：{note}[/]",
        "conflict": "[yellow]⚠ 同时不推荐[/]（{id}），依据规则 {rule}：{reason}",
        "not_recommended": "\n[bold]不推荐[/]",
        "agreement": "（共识度 {consensus}%）",
        "contraindicated": "\n[bold]禁忌[/]（已从推荐中移除）",
        "recommended_by": "规则 {rule}；原推荐规则 {by}",
        "possible": "\n[bold]可能推荐[/]（取决于记录中缺少的数据）",
        "needs": "需补充：{attributes}",
        "missing": "\n[bold]缺少数据[/]",
        "decides": "{attribute} 决定 {count} 条推荐",
        "evidence": "证据级别 {level}",
        "consensus": "共识度 {consensus}%",
        "strength": {"strong": "强推荐", "moderate": "中等推荐", "weak": "弱推荐"},
        "grade_sep": " · ",
        "rule": "规则 {rule}",
        "source": "；来源 {source}",
        "by_rule": "依据规则 {rule}",
        "weakest": "最薄弱环节：{bits}",
        "weakest_evidence": "证据级别 {level}（{rule}）",
        "weakest_consensus": "共识度 {consensus}%（{rule}）",
        "weakest_sep": "；",
        "derived_from": " [dim]（= {formula}：{values}）[/]",
        "headline": {
            "holds": "{mark} [bold]{goal}[/] 对患者 {patient} 成立",
            "fails": "{mark} [bold]{goal}[/] 对患者 {patient} 不成立",
            "undecided": "{mark} [bold]{goal}[/] 对患者 {patient} 未定（可能成立）",
            "not_recommended holds": "{mark} [bold]{goal}[/] 对患者 {patient} 不推荐（该不推荐条款成立）",
            "not_recommended fails": "{mark} 不推荐 [bold]{goal}[/] 的条款对患者 {patient} 不成立",
            "not_recommended undecided": "{mark} [bold]{goal}[/] 对患者 {patient} 可能不推荐：该条款未定",
            "contraindication holds": "{mark} 禁忌证 [bold]{goal}[/] 对患者 {patient} 成立",
            "contraindication fails": "{mark} 禁忌证 [bold]{goal}[/] 对患者 {patient} 不成立",
            "contraindication undecided": "{mark} 禁忌证 [bold]{goal}[/] 对患者 {patient} 未定",
        },
        "record": "——需补充：{attributes}",
        "approximate": "[dim]（三值逻辑的结论：未逐一检查缺失数据的每种可能——情况过多，或记录写的是药物类别而非具体药物）[/]",
        "by_cases": "[dim]缺失数据的每种情况下均成立：[/]",
        "case": "[bold]情况[/] {assume}：",
        "case_no_proof": "[dim]成立（仅凭这些取值无法构成一份记录来展示证明）[/]",
        "has_any_of": "含有 {items} 之一",
        "has_none_of": "不含 {items}",
        "pending": "[yellow]? 待定[/] {kind} {rule}：{reason} [dim]——未定，需补充：{attributes}[/]",
        "pending_kind": {"contraindication": "禁忌证", "not_recommended": "不推荐条款"},
        "already_received": "[yellow]⚑ 已接受过[/]（{attribute}：{items}）",
        "outside_population": "[yellow]⚑ 超出来源所述人群[/]：{description}（{rule}）",
        "conflict_proof": "[yellow]⚠ 同时不推荐[/]，依据规则 {rule}：{reason}",
        "attempts": "共 {count} 条规则可推出该结论，最接近者在前：",
        "explained": "{mark} [bold]{goal}[/] 对患者 {patient} {verdict}",
        "verdict": {True: "成立", False: "不成立"},
        "also_derived": "[dim]亦可由以下规则推出：[/]",
        "removed_by": "[red]⊘ 因禁忌证移除[/] {rule}：{reason}",
        "run_why_not": "[dim]查看原因：oncologic why-not {patient} {goal}[/]",
        "failed": "[dim]（不满足）[/]",
        "missing_label": "[dim]（缺少数据）[/]",
        "missing_data": "[yellow]缺少数据：[/]{attributes}",
        "would_hold": "[cyan]若[/]{changes}[cyan]，则成立[/]",
        "holds_proof": "{mark} [bold]{goal}[/] 对患者 {patient} 成立；其证明：",
        "nearest_miss": "{mark} [bold]{goal}[/] 对患者 {patient} 不成立——共 {count} 条规则可推出该结论，最接近者在前：",
    },
}


class TextRenderer:
    def __init__(self, compiled: CompiledKB, lang: str = "en", console: Console | None = None):
        self.compiled = compiled
        self.lang = lang
        self.console = console or Console(highlight=False, soft_wrap=False)
        self.words = Words(lang, compiled.checked.label)
        self.layout = LAYOUT[lang]

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

    @staticmethod
    def source(src: r.SourceRef) -> str:
        if not src.document:
            return ""
        return escape(f"{src.document}, {src.locator}" if src.locator else src.document)

    @staticmethod
    def rule(rule: r.RuleRef) -> str:
        return escape(f"{rule.id} ({rule.file}:{rule.line})")

    def grade(self, strength, evidence, consensus) -> str:
        bits = []
        if strength:
            bits.append(self.layout["strength"].get(strength, strength))
        if evidence:
            bits.append(self.t("evidence", level=evidence))
        if consensus is not None:
            bits.append(self.t("consensus", consensus=consensus))
        return escape(self.layout["grade_sep"].join(bits))

    def names(self, idents) -> str:
        """Attributes or goals in a list: ``tfi, ecog``; in Chinese their labels."""
        return escape(self.words.names(idents))

    # -- recommend --
    def result(self, res: r.Result) -> None:
        c = self.console
        c.print(self.t("patient", patient=escape(res.patient)))
        c.print(self.t("derived", items=", ".join(self.name(d) for d in res.derived) if res.derived else self.t("nothing")))
        c.print()
        if res.recommendations:
            tree = Tree(self.t("recommended", count=len(res.recommendations)))
            settings: dict[str, Tree] = {}
            for rec in res.recommendations:
                setting = rec.setting or "-"
                if setting not in settings:
                    settings[setting] = tree.add(f"[bold]{self.name(setting)}[/]")
                grade = self.grade(rec.strength, rec.evidence, rec.consensus)
                leaf = settings[setting].add(f"{MARK[True]} [bold]{self.name(rec.id)}[/]  [cyan]{grade}[/]\n"
                                             f"[dim]{self.source(rec.source)}[/]")
                for note in rec.notes:
                    leaf.add(self.t("note", note=escape(note)))
                for conflict in rec.conflicts:
                    leaf.add(self.t("conflict", id=escape(conflict.id), rule=escape(conflict.rule.id),
                                    reason=escape(conflict.reason or "")))
                for flag in rec.flags:
                    if flag.kind == "already_received":
                        leaf.add(self.t("already_received", attribute=self.names([flag.detail["attribute"]]),
                                        items=self.names(flag.detail["items"])))
                    elif flag.kind == "outside_population":
                        leaf.add(self.t("outside_population", description=escape(flag.detail["description"] or flag.detail["population"]),
                                        rule=escape(flag.detail["rule"])))
                for item in rec.pending:
                    leaf.add(self.pending_line(item))
            c.print(tree)
        else:
            c.print(self.t("recommended_none"))
        if res.not_recommended:
            c.print(self.t("not_recommended"))
            for item in res.not_recommended:
                consensus = self.t("agreement", consensus=item.consensus) if item.consensus is not None else ""
                c.print(f"  [red]✘[/] {self.name(item.id)}{consensus} — {escape(item.reason or '')} [dim]{self.source(item.source)}[/]")
        if res.contraindicated:
            c.print(self.t("contraindicated"))
            for item in res.contraindicated:
                by = self.t("recommended_by", rule=self.rule(item.rule), by=escape(item.recommended_by.rule.id))
                c.print(f"  [red]⊘[/] {self.name(item.id)} — {escape(item.reason or '')} [dim]{by}[/]")
        if res.possible:
            c.print(self.t("possible"))
            for item in res.possible:
                c.print(f"  [yellow]?[/] {self.name(item.id)} — {self.t('needs', attributes=self.names(item.missing))}")
        if res.missing:
            c.print(self.t("missing"))
            for m in res.missing:
                goals = ", ".join(m.needed_for[:6]) + (", ..." if len(m.needed_for) > 6 else "")
                c.print(f"  {self.t('decides', attribute=escape(self.words.name(m.attribute)), count=m.decides)} "
                        f"[dim]({escape(goals)})[/]")

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
                bits.append(self.t("weakest_evidence", level=link.evidence, rule=link.evidence_rule))
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
        return "; ".join(bits)

    def pending_line(self, item: r.Pending) -> str:
        """An undecided contraindication or `do not recommend` statement, with the data it needs."""
        return self.t("pending", kind=self.layout["pending_kind"][item.kind], rule=self.rule(item.rule),
                      reason=escape(item.reason or ""), attributes=self.names(item.missing))

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
            c.print(self.t("removed_by", rule=self.rule(removal.rule), reason=escape(removal.reason or "")))
            if removal.proof:
                c.print(self.proof_tree(removal.proof))
        self.pending(ex.pending)
        for conflict in ex.conflicts:
            c.print(self.t("conflict_proof", rule=self.rule(conflict.rule), reason=escape(
                self.compiled.rule(conflict.rule.id).reason or "")))
            c.print(self.proof_tree(conflict))
        if not ex.holds and not ex.removed_by:
            c.print(self.t("run_why_not", patient=escape(shlex.quote(path or patient)), goal=escape(shlex.quote(ex.goal))))

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
            branch.add(self.t("would_hold", changes=escape(self.words.changes(attempt.to_hold))))
        for removal in attempt.removed_by:
            sub = branch.add(self.t("removed_by", rule=self.rule(removal.rule), reason=escape(removal.reason or "")))
            if removal.proof:
                self.proof_tree(removal.proof, sub)
        for item in attempt.pending:
            branch.add(self.pending_line(item))
        return branch

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
            c.print(self.headline(wn, patient) + "; " + self.t("attempts", count=len(wn.attempts)))
        for attempt in wn.attempts:
            c.print(self.attempt_tree(attempt))
        self.pending(wn.pending)
