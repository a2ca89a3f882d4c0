"""Stage 8: rendering — results and explanations as JSON (the contract) or as text for a person.

Text uses rich: tables for recommendations, trees for proofs and why-not. ``lang="zh"`` shows
the Chinese labels declared in the knowledge base next to the ids.
"""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from ..reason import results as r
from ..compile.compiler import CompiledKB

MARK = {True: "[green]✔[/]", False: "[red]✘[/]", None: "[yellow]?[/]"}


class TextRenderer:
    def __init__(self, compiled: CompiledKB, lang: str = "en", console: Console | None = None):
        self.compiled = compiled
        self.lang = lang
        self.console = console or Console(highlight=False, soft_wrap=False)

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

    @staticmethod
    def grade(strength, evidence, consensus) -> str:
        bits = []
        if strength:
            bits.append(strength)
        if evidence:
            bits.append(f"evidence {evidence}")
        if consensus is not None:
            bits.append(f"consensus {consensus}%")
        return escape(" · ".join(bits))

    # -- recommend --
    def result(self, res: r.Result) -> None:
        c = self.console
        c.print(f"[bold]Patient {escape(res.patient)}[/]")
        c.print("Derived: " + (", ".join(self.name(d) for d in res.derived) if res.derived else "[dim]nothing[/]"))
        c.print()
        if res.recommendations:
            tree = Tree(f"[bold]Recommended ({len(res.recommendations)})[/]")
            settings: dict[str, Tree] = {}
            for rec in res.recommendations:
                setting = rec.setting or "-"
                if setting not in settings:
                    settings[setting] = tree.add(f"[bold]{self.name(setting)}[/]")
                grade = self.grade(rec.strength, rec.evidence, rec.consensus)
                leaf = settings[setting].add(f"{MARK[True]} [bold]{self.name(rec.id)}[/]  [cyan]{grade}[/]\n"
                                             f"[dim]{self.source(rec.source)}[/]")
                for note in rec.notes:
                    leaf.add(f"[dim]note: {escape(note)}[/]")
                for conflict in rec.conflicts:
                    leaf.add(f"[yellow]⚠ also not recommended[/] ({escape(conflict.id)}) by rule {escape(conflict.rule.id)}: "
                             f"{escape(conflict.reason or '')}")
            c.print(tree)
        else:
            c.print("[bold]Recommended:[/] none")
        if res.not_recommended:
            c.print("\n[bold]Not recommended[/]")
            for item in res.not_recommended:
                consensus = f" ({item.consensus}% agreement)" if item.consensus is not None else ""
                c.print(f"  [red]✘[/] {self.name(item.id)}{consensus} — {escape(item.reason or '')} [dim]{self.source(item.source)}[/]")
        if res.contraindicated:
            c.print("\n[bold]Contraindicated[/] (removed from the recommendations)")
            for item in res.contraindicated:
                c.print(f"  [red]⊘[/] {self.name(item.id)} — {escape(item.reason or '')} "
                        f"[dim]rule {self.rule(item.rule)}; recommended by {escape(item.recommended_by.rule.id)}[/]")
        if res.possible:
            c.print("\n[bold]Possible[/] (would depend on data the record lacks)")
            for item in res.possible:
                c.print(f"  [yellow]?[/] {self.name(item.id)} — needs {escape(', '.join(item.missing))}")
        if res.missing:
            c.print("\n[bold]Missing data[/]")
            for m in res.missing:
                goals = ", ".join(m.needed_for[:6]) + (", ..." if len(m.needed_for) > 6 else "")
                c.print(f"  {escape(m.attribute)} decides {m.decides} recommendation(s) [dim]({escape(goals)})[/]")

    # -- explain --
    def proof_tree(self, node: r.ProofNode, tree: Tree | None = None) -> Tree:
        grade = self.grade(node.strength, node.evidence, node.consensus)
        head = f"{MARK[True]} [bold]{self.name(node.conclusion)}[/]" + (f"  [cyan]{grade}[/]" if grade else "")
        head += f"\n  [dim]rule {self.rule(node.rule)}" + (f"; source {self.source(node.source)}" if node.source.document else "") + "[/]"
        branch = Tree(head) if tree is None else tree.add(head)
        shown_below = {child.conclusion for child in node.children}
        for cond in node.conditions:
            if cond.concept and cond.op == "is" and cond.concept in shown_below:
                continue  # its own proof follows
            branch.add(f"{MARK[cond.holds]} {escape(cond.text)}" + self._derived(cond))
        for child in node.children:
            self.proof_tree(child, branch)
        link = node.weakest_link
        if link and (link.evidence or link.consensus is not None) and node.children:
            bits = []
            if link.evidence:
                bits.append(f"evidence {link.evidence} ({link.evidence_rule})")
            if link.consensus is not None:
                bits.append(f"consensus {link.consensus}% ({link.consensus_rule})")
            branch.add(f"[dim]weakest link: {escape('; '.join(bits))}[/]")
        return branch

    @staticmethod
    def _derived(cond: r.Condition) -> str:
        d = cond.actual.derived_from if cond.actual else None
        if not d:
            return ""
        shown = ", ".join(f"{k} {v}" for k, v in d.items() if k != "formula")
        return f" [dim](= {escape(d['formula'])}: {escape(shown)})[/]"

    def explanation(self, ex: r.Explanation, patient: str) -> None:
        c = self.console
        verdict = "holds" if ex.holds else "does not hold"
        c.print(f"{MARK[ex.holds]} [bold]{self.name(ex.goal)}[/] {verdict} for patient {escape(patient)}")
        if ex.proof:
            c.print(self.proof_tree(ex.proof))
        for alt in ex.alternatives:
            c.print("[dim]also derived by:[/]")
            c.print(self.proof_tree(alt))
        for removal in ex.removed_by:
            c.print(f"[red]⊘ removed by contraindication[/] {self.rule(removal.rule)}: {escape(removal.reason or '')}")
            if removal.proof:
                c.print(self.proof_tree(removal.proof))
        if not ex.holds and not ex.removed_by:
            c.print(f"[dim]run: oncologic why-not PATIENT {escape(ex.goal)}[/]")

    # -- why not --
    def attempt_tree(self, attempt: r.Attempt, tree: Tree | None = None) -> Tree:
        head = f"{MARK[attempt.holds]} {self.name(attempt.conclusion)} [dim]by rule {self.rule(attempt.rule)}" + (
            f"; source {self.source(attempt.source)}" if attempt.source.document else "") + "[/]"
        branch = Tree(head) if tree is None else tree.add(head)
        for cond in attempt.failed:
            if cond.concept and cond.op == "is" and any(isinstance(ch, r.Attempt) and ch.conclusion == cond.concept for ch in attempt.children):
                continue  # the child attempt below says it, with its reasons
            label = "missing" if cond.holds is None else "failed"
            branch.add(f"{MARK[cond.holds]} {escape(cond.text)} [dim]({label})[/]" + self._derived(cond))
        for child in attempt.children:
            if isinstance(child, r.Attempt):
                self.attempt_tree(child, branch)
            else:
                self.proof_tree(child, branch)
        if attempt.missing:
            branch.add(f"[yellow]missing data:[/] {escape(', '.join(attempt.missing))}")
        if attempt.to_hold:
            branch.add("[cyan]would hold with:[/] " + escape("; ".join(c.text for c in attempt.to_hold)))
        for removal in attempt.removed_by:
            sub = branch.add(f"[red]⊘ removed by contraindication[/] {self.rule(removal.rule)}: {escape(removal.reason or '')}")
            if removal.proof:
                self.proof_tree(removal.proof, sub)
        return branch

    def why_not(self, wn: r.WhyNot, patient: str) -> None:
        c = self.console
        if wn.holds:
            c.print(f"{MARK[True]} [bold]{self.name(wn.goal)}[/] holds for patient {escape(patient)}; its proof:")
            if wn.proof:
                c.print(self.proof_tree(wn.proof))
            return
        c.print(f"{MARK[False]} [bold]{self.name(wn.goal)}[/] does not hold for patient {escape(patient)}"
                f" — {len(wn.attempts)} rule(s) could conclude it, nearest miss first:")
        for attempt in wn.attempts:
            c.print(self.attempt_tree(attempt))
