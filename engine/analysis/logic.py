"""The W4xx findings: logic over the whole knowledge base, each with a witness or a proof.

Every finding that is about patients carries a witness record (found by z3 over the Kleene
encoding, then made minimal: each attribute the model gives is dropped in turn while the
finding still holds) and the verdicts the engine must give for it (``Finding.expect``), which
:mod:`.confirm` checks; or a proof, the solver's unsat core named condition by condition.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction

import z3

from ..errors import Diagnostic
from ..values import Record
from ..lang import nodes as n
from ..lang import units
from ..model.checks import grading_levels
from .encode import DATE_MAX, DATE_MIN, NON_NEGATIVE, Connectives, Encoding, Track
from .intervals import Span, Values
from .source import Sources

PLAUSIBLE_YEARS = (1900, 2100)


@dataclass(eq=False, repr=False)
class Finding(Record):
    """A diagnostic and what the engine must say of the records that show it: ``checks`` is a
    list of ``(record, [(rule id, exact verdict), ...])`` — the diagnostic's witness first."""

    diagnostic: Diagnostic
    checks: list = field(default_factory=list)


def conjuncts(cond) -> list:
    """The top-level conjuncts of a condition (a rule's gate and setting included)."""
    out, stack = [], [cond]
    while stack:
        c = stack.pop(0)
        if isinstance(c, n.And) and n.gated_attribute(c) is None:
            stack[0:0] = list(c.items)
        else:
            out.append(c)
    return out


def test_of(cond):
    """The test itself of a gated test of an attribute (``(A is known or G) and test``)."""
    if isinstance(cond, n.And) and n.gated_attribute(cond) is not None:
        return cond.items[1]
    return cond


def where(pos: n.Pos) -> str:
    return f"{pos.file}:{pos.line}:{pos.column}"


def kind_word(rule: n.Rule) -> str:
    if rule.kind == "recommendation" and rule.polarity == "do_not_recommend":
        return "do-not-recommend statement"
    return {"concept": "concept rule", "setting": "setting rule"}.get(rule.kind, rule.kind)


class Evidence:
    """What the engine said of real patients (the examples): the canonical nodes that held
    (certain) for one of them, and those that failed for one. A rule that held for a valid
    record is satisfiable, a condition that failed is not always true: the solver is not asked
    (the answers are the same, only sooner). Empty without patients."""

    def __init__(self, compiled=None, truths=()):
        self.held: set[int] = set()
        self.failed: set[int] = set()
        self.node_of: dict[int, int] = {}
        self.compiled = compiled
        if compiled is None:
            return
        for node in compiled.nodes:
            if node.ast is not None and not isinstance(node.ast, str):
                self.node_of.setdefault(id(node.ast), node.canonical)
        for truth in truths:
            for nid, value in truth.items():
                (self.held if value else self.failed).add(nid)

    def rule_held(self, rule_id: str) -> bool:
        return self.compiled is not None and self.compiled.nodes[self.compiled.rule_node[rule_id]].canonical in self.held

    def cond_failed(self, cond) -> bool:
        if isinstance(cond, n.ConceptRef) and self.compiled is not None:
            nid = self.compiled.concept_node.get(cond.name)
            return nid is not None and self.compiled.nodes[nid].canonical in self.failed
        nid = self.node_of.get(id(cond))
        return nid is not None and nid in self.failed

    def regimen_held(self, rule_id: str, regimen) -> bool:
        if self.compiled is None:
            return False
        for kid in self.compiled.regimens:
            node = self.compiled.nodes[kid]
            if node.rule == rule_id and tuple(node.items) == tuple(regimen):
                return node.canonical in self.held
        return False


class Logic:
    """Runs the W4xx checks; ``findings`` collects them."""

    def __init__(self, kb, sources: Sources, enc: Encoding, evidence: Evidence | None = None):
        self.kb, self.src, self.enc = kb, sources, enc
        self.evidence = evidence or Evidence()
        self.s = enc.solver()
        self.ranges = enc.ranges()
        self.findings: list[Finding] = []
        self.unreachable: set[str] = set()  # rule ids no patient satisfies
        self.rule_lit: dict[str, z3.BoolRef] = {}
        self.rules = [r for r in kb.rules if r.condition is not None]
        self.by_id = {r.id: r for r in kb.rules}
        self._validity: dict = {}

    # -- helpers ------------------------------------------------------------------------------
    def add(self, code: str, where_: tuple, message: str, rules=(), witness=None, proof=None, related=(), expect=(),
            more=()):
        """A finding; ``expect``: the verdicts the engine must give ``witness``; ``more``: other
        ``(record, expect)`` the finding stands on (checked, not shown)."""
        file, line, column, end_line, end_column = where_
        d = Diagnostic(file, line, column, message, "warning", code, end_line, end_column, tuple(rules),
                       witness, proof, tuple(related))
        checks = [(witness, list(expect))] if witness is not None and expect else []
        self.findings.append(Finding(d, checks + list(more)))

    def at_rule(self, rule: n.Rule) -> tuple:
        end = self.src.end_of_statement(rule.pos) or (None, None)
        return (rule.pos.file, rule.pos.line, rule.pos.column, *end)

    def at_cond(self, cond) -> tuple:
        ext = self.src.extent(cond)
        if ext is None:
            return (cond.pos.file, cond.pos.line, cond.pos.column, None, None)
        return (cond.pos.file, *ext)

    def lit(self, rule: n.Rule) -> z3.BoolRef:
        found = self.rule_lit.get(rule.id)
        if found is None:
            found = self.rule_lit[rule.id] = z3.Bool(f"rule:{rule.id}", self.enc.ctx)
            self.s.add(z3.Implies(found, self.enc.two(rule.condition)))
        return found

    def check(self, *assumptions) -> z3.CheckSatResult:
        return self.s.check(*self.ranges, *assumptions)

    def witness(self, formula, reads: set[str]) -> dict | None:
        """A minimal record satisfying ``formula`` (a Kleene-true encoding), or None: every
        attribute the formula does not read is absent; of the others, each is dropped in turn
        while the formula stays satisfiable, then each member of the sets and lists."""
        enc = self.enc
        s = z3.Solver(ctx=enc.ctx)
        s.set("timeout", 5000)
        s.add(*enc.structure, *enc.witness_only, formula)
        s.add(*[a.range for a in enc.attrs.values() if a.range is not None])
        s.add(*[z3.Not(a.raw_known) for name, a in enc.attrs.items() if name not in reads and not a.attr.required])
        if s.check() != z3.sat:
            return None
        keep: list = []
        model = s.model()
        for name in sorted(reads):
            a = enc.attrs[name]
            if a.attr.required or not z3.is_true(model.eval(a.raw_known, model_completion=True)):
                continue
            trial = keep + [z3.Not(a.raw_known)]
            if s.check(*trial) == z3.sat:
                keep, model = trial, s.model()
            else:
                keep.append(a.raw_known)
        for name in sorted(reads):
            a = enc.attrs[name]
            if not z3.is_true(model.eval(a.raw_known, model_completion=True)):
                continue
            flags = list(a.bools.values()) + [present for present, _ in reversed(a.records)]
            for flag in flags:
                if z3.is_true(model.eval(flag, model_completion=True)):
                    trial = keep + [z3.Not(flag)]
                    if s.check(*trial) == z3.sat:
                        keep, model = trial, s.model()
                    else:
                        keep.append(flag)
        record = enc.record(model, reads)
        return {"id": record.pop("id", "witness"), **dict(sorted(record.items()))}

    def core(self, formula_of, extra: dict | None = None) -> list[Track] | None:
        """The conditions (and declared ranges) that cannot hold together: a minimal unsat
        core of the tracked encoding ``formula_of(track)``; None if it is satisfiable."""
        track: dict = {}
        formula = formula_of(track)
        ranges = self.enc.range_track()
        if extra:
            track.update(extra)
        s = self.enc.solver()
        s.add(formula)
        lits = list(track) + list(ranges)
        if s.check(*lits, *[r for r in self.ranges if r not in ranges]) != z3.unsat:
            return None
        core = list(s.unsat_core())
        # minimal: drop each element in turn
        i = 0
        while i < len(core):
            trial = core[:i] + core[i + 1:]
            if s.check(*trial) == z3.unsat:
                core = trial
            else:
                i += 1
        table = {**track, **ranges}
        out = [table[c] for c in core if c in table]
        return sorted(out, key=lambda t: (t.pos.file, t.pos.line, t.pos.column))

    def proof_text(self, tracks: list[Track], lead: str = "these cannot all hold") -> tuple[str, tuple]:
        parts, related = [], []
        for t in tracks:
            if t.kind == "range":
                parts.append(f"{t.text} (declared at {where(t.pos)})")
                related.append((t.pos.file, t.pos.line, t.pos.column, f"declared {t.text}"))
            elif t.kind == "concept":
                defined = ", ".join(where(p) for p in t.node)
                parts.append(f"{t.text} ({where(t.pos)}; defined at {defined})" if defined else f"{t.text} ({where(t.pos)})")
                related.append((t.pos.file, t.pos.line, t.pos.column, t.text))
            else:
                parts.append(f"{t.text} ({where(t.pos)})")
                related.append((t.pos.file, t.pos.line, t.pos.column, t.text))
        if not parts:
            return "the condition contradicts itself", ()
        if len(parts) == 1:
            return f"{parts[0]} holds for no patient", tuple(related)
        return f"{lead}: " + "; ".join(parts), tuple(related)

    # -- W401 unreachable rules ------------------------------------------------------------
    def unreachable_rules(self) -> None:
        unsat = [r for r in self.rules if not self.evidence.rule_held(r.id) and not self.bounded(r.condition)
                 and self.check(self.lit(r)) == z3.unsat]
        self.unreachable = {r.id for r in unsat}
        dead = frozenset(name for name, rules in self.enc.rules_of.items()
                         if rules and all(r.id in self.unreachable for r in rules))
        own, through = [], {}
        for rule in unsat:
            uses = {c.name for c in n.walk(rule.condition) if isinstance(c, n.ConceptRef)} & dead
            if uses:
                freed = self.enc.two(rule.condition, free=dead)
                self.s.push()
                self.s.add(freed)
                cascade = self.check() == z3.sat
                self.s.pop()
                if cascade:
                    through[rule.id] = uses
                    continue
            own.append(rule)
        # the rules each dead concept makes unreachable, transitively
        users: dict[str, list[str]] = {}
        for rid, uses in through.items():
            for name in uses:
                users.setdefault(name, []).append(rid)

        def downstream(name: str, seen: set) -> list[str]:
            out = []
            for rid in users.get(name, ()):
                if rid in seen:
                    continue
                seen.add(rid)
                out.append(rid)
                rule = self.by_id[rid]
                if rule.kind in ("concept", "setting") and rule.name in dead:
                    out += downstream(rule.name, seen)
            return out
        reported_concepts: set[str] = set()
        for rule in own:
            tracks = self.core(lambda track, r=rule: self.enc.two(r.condition, free=dead, track=track))
            if tracks is not None and not tracks:  # a contradiction in its shape (x and not x): name the conjuncts
                tracks = self.core(lambda track, r=rule: self._conjunct_tracked(r, dead, track))
            proof, related = self.proof_text(tracks or [])
            message = f"{kind_word(rule)} '{rule.id}' can never hold: no patient satisfies its condition"
            also = []
            if rule.kind in ("concept", "setting"):
                count = len(self.enc.rules_of[rule.name])
                named = f"{rule.kind} '{rule.name}'" + (f" (rule '{rule.id}')" if rule.id != rule.name else "")
                message = f"{named} can never hold: no patient satisfies its condition"
                if count > 1:
                    message = (f"{kind_word(rule)} '{rule.id}' of '{rule.name}' can never hold: no patient satisfies its condition"
                               + (f" (nor any other rule of it: {rule.kind} '{rule.name}' never holds)" if rule.name in dead else ""))
            if rule.kind in ("concept", "setting") and rule.name in dead:
                if rule.name not in reported_concepts:
                    reported_concepts.add(rule.name)
                    also = downstream(rule.name, set())
            if also:
                message += f"; nor, through it, can {', '.join(repr(a) for a in also)}"
                related = related + tuple((self.by_id[a].pos.file, self.by_id[a].pos.line, self.by_id[a].pos.column,
                                           f"{self.by_id[a].id}: unreachable through '{rule.name}'") for a in also)
            self.add("W401", self.at_rule(rule), message, rules=(rule.id, *also), proof=proof, related=related)
        self._never_certain()

    def _never_certain(self) -> None:
        """W401 for a rule possible for some records but certain for none: a conjunct
        ``not A is known`` beside a conjunct testing A's value that the declared domain does
        not decide — with A missing, some completions of it pass the test and some fail it
        (:mod:`oncologic.reason.exact`), so the engine keeps the rule possible for ever."""
        self._status = getattr(self, "_status", {})
        for rule in self.rules:
            if rule.id in self.unreachable or self.evidence.rule_held(rule.id):
                continue
            parts = conjuncts(rule.condition)
            unknown = {c.item.attribute: c for c in parts
                       if isinstance(c, n.Not) and isinstance(c.item, n.IsKnown) and c.item.attribute in self.enc.attrs}
            found = None
            for c in parts:
                t = test_of(c)
                if not isinstance(t, (n.Compare, n.OneOf)) or t.attribute not in unknown:
                    continue
                attr = self.kb.attributes[t.attribute]
                if attr.required:
                    continue
                values = [t.value] if isinstance(t, n.Compare) else list(t.values)
                if attr.derive and any(isinstance(v, n.Quantity) and not Fraction(str(v.value)).denominator == 1
                                       for v in values):
                    continue  # completions from two dates are whole days: the domain alone does not say it
                if self._leaf_status(t, attr.type) is None:
                    found = (unknown[t.attribute], t)
                    break
            if found is None:
                continue
            missing, test = found
            self.unreachable.add(rule.id)
            name = test.attribute
            proof = (f"the condition needs '{name}' not recorded ({n.to_source(missing)}, {where(missing.pos)}) and a "
                     f"value of it ({n.to_source(test)}, {where(test.pos)}) at once: with '{name}' missing, "
                     f"'{n.to_source(test)}' holds for some of its possible values and not for others, so the "
                     f"condition is certain for no record (at most possible)")
            related = ((missing.pos.file, missing.pos.line, missing.pos.column, n.to_source(missing)),
                       (test.pos.file, test.pos.line, test.pos.column, n.to_source(test)))
            self.add("W401", self.at_rule(rule), f"{kind_word(rule)} '{rule.id}' can never hold: it needs '{name}' "
                     f"unknown and a value of it at once, so it is certain for no patient", rules=(rule.id,),
                     proof=proof, related=related)

    def bounded(self, *conds) -> bool:
        """Whether a condition reads a list with more distinct ``any ... where`` conditions than
        the encoding holds records for: no proof is stated about it (encode.MAX_RECORDS)."""
        lists = self.enc.bounded_lists
        return bool(lists) and any(self.enc.reads(c) & lists for c in conds if c is not None)

    def _conjunct_tracked(self, rule, dead, track):
        parts = []
        for c in conjuncts(rule.condition):
            lit = z3.Bool(f"conj:{len(track)}", self.enc.ctx)
            track[lit] = Track("conjunct", n.to_source(c), c.pos, c)
            parts.append(z3.If(lit, self.enc.two(c, free=dead), z3.FreshBool(ctx=self.enc.ctx)))
        return z3.And(parts)

    # -- W402/W403/W404 tests decided by the declared domain ------------------------------------
    def domain_tests(self) -> None:
        """W403/W404 at each constant out of range; W402 at each outermost condition that the
        declared domain decides (``ecog <= 4``; an ``or`` with such a test in it is reported
        once, as a whole), then at each remaining top-level conjunct the solver finds true for
        every patient whatever is recorded (``a or not a``, a concept that always holds)."""
        self._status: dict = {}
        for rule in self.rules:
            rid = rule.id
            for leaf, spec, name in _leaves(self.kb, rule.condition):
                self._constants(rule, leaf, spec, name)
            self._decided(rule, rule.condition, None)
            if rid in self.unreachable:
                continue
            for c in conjuncts(rule.condition):
                if (isinstance(test_of(c), (n.And, n.Or, n.Not, n.ConceptRef)) and self._domain_status(c, None)[0] is None
                        and self._valid(c)):
                    self.add("W402", self.at_cond(c),
                             f"'{_short(n.to_source(c))}' holds for every patient, whatever is recorded: it decides nothing "
                             f"in {kind_word(rule)} '{rid}'", rules=(rid,),
                             proof="no record and no completion of its missing data within the declared domains makes it false")

    def _valid(self, cond) -> bool:
        """Whether a condition holds for every record and every completion (memoised per concept)."""
        key = ("concept", cond.name) if isinstance(cond, n.ConceptRef) else id(cond)
        found = self._validity.get(key)
        if found is None:
            if self.evidence.cond_failed(cond) or self.bounded(cond):
                found = False
            else:
                self.s.push()
                self.s.add(z3.Not(self.enc.two(cond)))
                found = self.check() == z3.unsat
                self.s.pop()
            self._validity[key] = found
        return found

    def _leaf_status(self, leaf, spec: n.TypeSpec) -> str | None:
        """"always" or "never" when the declared domain decides a comparison or ``in`` (for a
        patient with the attribute recorded), else None; memoised by the test's meaning."""
        values = [leaf.value] if isinstance(leaf, n.Compare) else list(leaf.values)
        op = leaf.op if isinstance(leaf, n.Compare) else "="
        key = (id(spec), op, tuple(n.value_text(v) for v in values))
        if key in self._status:
            return self._status[key]
        kind, found = spec.kind, None
        if kind == "enum":
            if isinstance(leaf, n.OneOf) and set(spec.values) <= {n.constant(v) for v in values}:
                found = "always"
        elif kind in ("int", "number", "duration", "percent", "length", "date"):
            consts = [_number(v, kind) for v in values]
            if all(c is not None for c in consts):
                integral = _grid(kind)
                domain, _ = _domain(spec)
                spans = [s for c in consts for s in Values.test(op, c, integral).spans]
                accepted = Values(spans, integral).intersect(domain)
                found = "always" if accepted.covers(domain) and not domain.empty() else "never" if accepted.empty() else None
        self._status[key] = found
        return found

    def _domain_status(self, cond, record) -> tuple[str | None, object]:
        """(``always``/``never``/None, the test that decides it) for a condition, from the
        declared domains of the attributes (or, ``record``: of the fields) it compares."""
        c = test_of(cond)
        if isinstance(c, (n.Compare, n.OneOf)):
            spec = _spec(self.kb, c.attribute, record)
            return (self._leaf_status(c, spec), c) if spec is not None else (None, None)
        if isinstance(c, n.Not):
            st, why = self._domain_status(c.item, record)
            return {"always": "never", "never": "always"}.get(st), why
        if isinstance(c, (n.And, n.Or)):
            parts = [self._domain_status(x, record) for x in c.items]
            win, lose = ("never", "always") if isinstance(c, n.And) else ("always", "never")
            for st, why in parts:
                if st == win:
                    return win, why
            if parts and all(st == lose for st, _ in parts):
                return lose, parts[0][1]
        return None, None

    def _decided(self, rule: n.Rule, cond, record) -> None:
        """W402 at the outermost conditions under ``cond`` that the domain decides."""
        stack = [(cond, record)]
        while stack:
            c, rec = stack.pop()
            if isinstance(test_of(c), n.AnyRecord):
                any_ = test_of(c)
                stack.append((any_.condition, self.kb.attributes.get(any_.attribute)))
                continue
            status, why = self._domain_status(c, rec)
            if status is None or (status == "never" and rule.id in self.unreachable):
                stack.extend((x, rec) for x in reversed(n.children(test_of(c))) if not (
                    isinstance(test_of(c), (n.Compare, n.OneOf))))
                continue
            if why is not None and self._outside(why, rec):
                continue  # W403 says it, at the constant
            name = why.attribute
            spec = _spec(self.kb, name, rec)
            decides = "" if test_of(c) is why else f": '{n.to_source(why)}' decides it"
            if status == "always":
                reason = (f"it lists every value of '{name}'" if spec.kind == "enum" else _range_words(name, spec))
                message = f"'{_short(n.to_source(c))}' holds for every patient with '{name}' recorded ({reason}){decides}"
            else:
                message = f"'{_short(n.to_source(c))}' holds for no patient ({_range_words(name, spec)}){decides}"
            proof = f"{name}: enum {', '.join(spec.values)}" if spec.kind == "enum" else f"{name}: {_range_text(spec)}"
            self.add("W402", self.at_cond(test_of(c) if n.gated_attribute(c) else c), message, rules=(rule.id,), proof=proof)

    def _outside(self, leaf, record) -> bool:
        spec = _spec(self.kb, leaf.attribute, record)
        if spec is None or spec.kind not in ("int", "number", "duration", "percent", "length"):
            return False
        values = [leaf.value] if isinstance(leaf, n.Compare) else list(leaf.values)
        consts = [_number(v, spec.kind) for v in values]
        return any(c is not None and _outside_range(spec, c) for c in consts)

    def _constants(self, rule: n.Rule, leaf, spec: n.TypeSpec, name: str) -> None:
        """W403 at each constant outside the declared range, W404 at each implausible date."""
        kind = spec.kind
        if kind not in ("int", "number", "duration", "percent", "length", "date"):
            return
        values = [leaf.value] if isinstance(leaf, n.Compare) else list(leaf.values)
        consts = [_number(v, kind) for v in values]
        if any(c is None for c in consts):
            return
        status = None
        spots = None
        for i, (v, c) in enumerate(zip(values, consts)):
            if kind == "date":
                year = dt.date.fromordinal(int(c)).year
                if PLAUSIBLE_YEARS[0] <= year <= PLAUSIBLE_YEARS[1]:
                    continue
                spots = spots if spots is not None else self.src.constants(leaf)
                spot = spots[i] if i < len(spots) else None
                self.add("W404", (leaf.pos.file, *spot) if spot else self.at_cond(leaf),
                         f"date {n.value_text(v)} in '{n.to_source(leaf)}' is not a plausible clinical date "
                         f"(years {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[1]}); a typing mistake?", rules=(rule.id,))
                continue
            if not _outside_range(spec, c):
                continue
            status = status or self._leaf_status(leaf, spec)
            test = n.to_source(leaf)
            effect = (f"'{test}' holds for every patient with '{name}' recorded" if status == "always" else
                      f"'{test}' holds for no patient" if status == "never" else
                      f"{n.value_text(v)} in '{test}' matches no patient")
            spots = spots if spots is not None else self.src.constants(leaf)
            spot = spots[i] if i < len(spots) else None
            self.add("W403", (leaf.pos.file, *spot) if spot else self.at_cond(leaf),
                     f"{n.value_text(v)} is outside {_range_words(name, spec)}: {effect}", rules=(rule.id,),
                     proof=f"{name}: {_range_text(spec)} (declared at {where(self._declared_pos(name, spec))})")

    def _declared_pos(self, name: str, spec) -> n.Pos:
        attr = self.kb.attributes.get(name)
        if attr is not None and attr.type is spec:
            return attr.pos
        for a in self.kb.attributes.values():
            for f in a.type.fields:
                if f.type is spec:
                    return f.pos
        return attr.pos if attr is not None else n.Pos("?", 0, 0)

    # -- W405/W406/W407 the same item recommended and not ----------------------------------------
    def conflicts(self) -> None:
        """One finding per do-not-recommend statement (W405) or contraindication (W406): the
        recommendations it meets for some patient, each shown so by a witness (the first one
        in the diagnostic); W407 per recommended regimen that contraindications always remove."""
        enc = self.enc
        recs = [r for r in self.rules if r.kind == "recommendation" and r.polarity == "recommend" and r.id not in self.unreachable]
        against = [r for r in self.rules if r.id not in self.unreachable and
                   (r.kind == "contraindication" or (r.kind == "recommendation" and r.polarity == "do_not_recommend"))]
        covered = {d.id: set().union(*(enc.members(i) for reg in d.regimens for i in reg)) for d in against}
        always_removed: set[tuple] = set()
        for rec in recs:
            for reg in rec.regimens:
                blockers = [c for c in against if c.kind == "contraindication" and covered[c.id] & set(reg)]
                if (not blockers or self.evidence.regimen_held(rec.id, reg)
                        or self.bounded(rec.condition, *(c.condition for c in blockers))):
                    continue
                self.s.push()
                self.s.add(z3.And([z3.Not(enc.two(c.condition)) for c in blockers]))
                always = self.check(self.lit(rec)) == z3.unsat
                self.s.pop()
                if not always:
                    continue
                always_removed.add((rec.id, reg))

                def formula(track, rec=rec, blockers=blockers):
                    parts = [enc.two(rec.condition, track=track)]
                    for c in blockers:
                        lit = z3.Bool(f"contra:{c.id}", enc.ctx)
                        track[lit] = Track("conjunct", f"not ({n.to_source(c.condition)}) [{c.id}]", c.pos, c)
                        parts.append(z3.If(lit, z3.Not(enc.two(c.condition)), z3.FreshBool(ctx=enc.ctx)))
                    return z3.And(parts)
                proof, related = self.proof_text(self.core(formula) or [], "every patient it applies to meets a contraindication")
                self.add("W407", self.at_rule(rec),
                         f"recommendation '{rec.id}': {n.regimen_id(reg)} is removed by "
                         f"{_listing([c.id for c in blockers])} for every patient the rule applies to",
                         rules=(rec.id, *(c.id for c in blockers)), proof=proof, related=related)
        blockers_of = {(rec.id, reg): [c for c in against if c.kind == "contraindication" and covered[c.id] & set(reg)]
                       for rec in recs for reg in rec.regimens}
        for stmt in against:
            met = []  # (rec, what, witness, expect)
            for rec in recs:
                # one regimen at a time: the witness shows it really recommended (its rule holds
                # and no contraindication that can remove it, for W406 none but this one, holds)
                for reg in rec.regimens:
                    if stmt.kind == "contraindication":
                        if not covered[stmt.id] & set(reg) or (rec.id, reg) in always_removed:
                            continue
                        what = n.regimen_id(reg)
                    else:
                        items = sorted(set(reg) & covered[stmt.id])
                        if not items:
                            continue
                        what = ", ".join(items)
                    if any(r is rec and w == what for r, w, _, _ in met):
                        continue  # the same items by another regimen of the rule
                    others = [c for c in blockers_of[(rec.id, reg)] if c.id != stmt.id]
                    formula = z3.And(enc.kleene(rec.condition)[0], enc.kleene(stmt.condition)[0],
                                     *[enc.kleene(c.condition)[1] for c in others])
                    reads = enc.reads(rec.condition) | enc.reads(stmt.condition)
                    for c in others:
                        reads |= enc.reads(c.condition)
                    wit = self.witness(formula, reads)
                    if wit is None:
                        continue
                    expect = [(rec.id, True), (stmt.id, True)] + [(c.id, False) for c in others]
                    if stmt.kind != "contraindication":
                        expect.append(((rec.id, tuple(reg)), True))  # recommended: the engine keeps the regimen
                    met.append((rec, what, wit, expect))
            if not met:
                continue
            listing = "; ".join(f"{what} by '{rec.id}'" for rec, what, _, _ in met)
            whom = " for the same patient" if len(met) == 1 else ", each for some patient (the witness shows the first)"
            if stmt.kind == "contraindication":
                code, message = "W406", f"recommended ({listing}) and contraindicated by '{stmt.id}'{whom}"
            else:
                code, message = "W405", f"recommended ({listing}) and not recommended by '{stmt.id}'{whom}"
            first = met[0]
            recs_met = tuple(dict.fromkeys(r.id for r, _, _, _ in met))
            self.add(code, self.at_rule(stmt), message, rules=(stmt.id, *recs_met),
                     witness=first[2], expect=first[3],
                     related=tuple((r.pos.file, r.pos.line, r.pos.column, f"recommended by '{r.id}'")
                                   for r in (self.by_id[i] for i in recs_met)),
                     more=[(wit, expect) for _, _, wit, expect in met[1:]])

    # -- W408/W409 thresholds within one decision ------------------------------------------------
    def thresholds(self) -> None:
        groups: dict[tuple, list] = {}
        for rule in self.rules:
            if rule.id in self.unreachable:
                continue
            parts = conjuncts(rule.condition)
            by_attr: dict[str, list] = {}
            for c in parts:
                attr = _single_attribute(self.kb, c)
                if attr is not None:
                    by_attr.setdefault(attr, []).append(c)
            for attr, tests in by_attr.items():
                spec = self.kb.attributes[attr].type
                others = tuple(sorted(n.to_source(c) for c in parts if not any(c is t for t in tests)))
                key = (rule.kind, rule.polarity, others, attr)
                accepted = _accepts(tests, spec)
                if accepted is None:
                    continue
                groups.setdefault(key, []).append((rule, tests, accepted))
        for (kind, polarity, others, attr), members in groups.items():
            if len({m[0].id for m in members}) < 2:
                continue
            spec = self.kb.attributes[attr].type
            domain, _ = _domain(spec)
            union = Values([], domain.integral)
            for _, _, acc in members:
                union = union.union(acc.intersect(domain))
            gaps = union.hull().minus(union)
            group_rules = tuple(dict.fromkeys(m[0].id for m in members))
            listing = ", ".join(f"'{m[0].id}' ({n.to_source(_anded(m[1]))}, line {m[0].pos.line})" for m in members)
            first = members[0][0]
            for gap in gaps.spans:
                value = gap.sample(union.step)
                wit = self._gap_witness(first, members[0][1], attr, spec, value)
                text = _span_text(attr, gap, spec)
                self.add("W408", self.at_rule(members[-1][0]),
                         f"{kind} rules on '{attr}' leave {text} uncovered between {listing}", rules=group_rules,
                         witness=wit, related=tuple((m[0].pos.file, m[0].pos.line, m[0].pos.column, m[0].id) for m in members),
                         expect=[(rid, False) for rid in group_rules] if wit else [])
            if kind not in ("concept", "setting"):
                continue
            for i, (r1, t1, a1) in enumerate(members):
                for r2, t2, a2 in members[i + 1:]:
                    if _conclusion(r1) == _conclusion(r2):
                        continue
                    both = a1.intersect(a2).intersect(domain)
                    if both.empty():
                        continue
                    wit = self.witness(z3.And(self.enc.kleene(r1.condition)[0], self.enc.kleene(r2.condition)[0]),
                                       self.enc.reads(r1.condition) | self.enc.reads(r2.condition))
                    if wit is None:
                        continue
                    text = " and ".join(_span_text(attr, s, spec) for s in both.spans)
                    self.add("W409", self.at_rule(r2),
                             f"'{r1.name}' ({n.to_source(_anded(t1))}, line {r1.pos.line}) and '{r2.name}' "
                             f"({n.to_source(_anded(t2))}) overlap at {text}", rules=(r1.id, r2.id), witness=wit,
                             related=((r1.pos.file, r1.pos.line, r1.pos.column, r1.id),),
                             expect=[(r1.id, True), (r2.id, True)])

    def _gap_witness(self, rule, tests, attr: str, spec, value) -> dict | None:
        enc = self.enc
        others = [c for c in conjuncts(rule.condition) if not any(c is t for t in tests)]
        a = enc.attrs[attr]
        if a.slot is None:
            return None
        const = (z3.IntVal(int(value), enc.ctx) if spec.kind in ("int", "date")
                 else z3.RealVal(f"{value.numerator}/{value.denominator}", enc.ctx))
        formula = z3.And([enc.kleene(c)[0] for c in others] + [a.known, a.slot.var == const])
        reads = set().union(*(enc.reads(c) for c in others)) | {attr}
        return self.witness(formula, reads)

    # -- W410/W411 grading schemes ------------------------------------------------------------------
    def gradings(self) -> None:
        for grading in self.kb.gradings:
            cited = [r for r in self.kb.rules if r.sources and r.sources[0].document == grading.document]
            levels = sorted(grading_levels(grading, cited)) + ["\x00other"]
            ctx = self.enc.ctx
            ev, cons = z3.Int("evidence", ctx), z3.Real("consensus", ctx)
            dom = [ev >= 0, ev <= len(levels), cons >= 0, cons <= 100]  # len(levels): no evidence given
            enc = _Grade(ev, cons, levels, ctx)
            lines = [(strength, cond, pos, enc.visit(cond)) for strength, cond, pos in grading.lines]
            for k, (strength, cond, pos, formula) in enumerate(lines):
                s = z3.Solver(ctx=ctx)
                s.add(*dom, formula)
                lits = []
                for j, (s_j, c_j, p_j, f_j) in enumerate(lines[:k]):
                    lit = z3.Bool(f"line:{j}", ctx)
                    s.add(z3.Implies(lit, z3.Not(f_j)))
                    lits.append(lit)
                if s.check(*lits) != z3.unsat:
                    continue
                core = set(map(str, s.unsat_core()))
                earlier = [lines[j] for j in range(k) if f"line:{j}" in core]
                text = f"{strength} if {n.to_source(cond)}"
                example = ""
                s2 = z3.Solver(ctx=ctx)
                s2.add(*dom, formula)
                # an example: with no evidence level if the line allows it, else a named one
                choice = next((e for e in [len(levels), *range(len(levels))] if s2.check(ev == e) == z3.sat), None)
                if choice is not None and earlier:
                    s2.check(ev == choice)
                    m = s2.model()
                    e = m.eval(ev, model_completion=True).as_long()
                    c = m.eval(cons, model_completion=True)
                    cval = units.tidy(float(Fraction(c.numerator_as_long(), c.denominator_as_long())))
                    first = next((ln for ln in lines[:k] if _holds(ln[3], ev, e, cons, c)), None)
                    level = ("no evidence level" if e >= len(levels) else "an evidence level the scheme does not name"
                             if levels[e] == "\x00other" else f"evidence {levels[e]}")
                    if first is not None:
                        example = f"; e.g. {level} and {cval}% consensus match '{first[0]} if {n.to_source(first[1])}' (line {first[2].line}) first"
                if earlier:
                    proof = "taken by the lines above it: " + "; ".join(f"{s_j} if {n.to_source(c_j)} ({where(p_j)})" for s_j, c_j, p_j, _ in earlier) + example
                else:
                    proof = f"no evidence level and consensus 0-100% satisfies {n.to_source(cond)}"
                self.add("W410", self.at_cond_line(pos, cond),
                         f"grading '{grading.name}': the line '{text}' never matches: "
                         + ("the lines above it take every case it accepts" if earlier else "no case satisfies it"),
                         proof=proof, related=tuple((p_j.file, p_j.line, p_j.column, f"{s_j} if {n.to_source(c_j)}")
                                                    for s_j, c_j, p_j, _ in earlier))
            self._graded_rules(grading)

    def at_cond_line(self, pos: n.Pos, cond) -> tuple:
        ext = self.src.extent(cond)
        if ext is None:
            return (pos.file, pos.line, pos.column, None, None)
        return (pos.file, pos.line, pos.column, ext[2], ext[3])

    def _graded_rules(self, grading) -> None:
        from ..model.checks import _GradeHolds  # the checker's reading of a grading line
        dnr_lines = [(s, c, p) for s, c, p in grading.lines if s == "do_not_recommend"]
        for rule in self.kb.rules:
            if rule.kind != "recommendation" or not rule.sources or rule.sources[0].document != grading.document:
                continue
            if rule.consensus is None or (rule.polarity == "recommend" and rule.evidence is None):
                continue  # the checker's error
            expected = next((s for s, c, _ in grading.lines if _GradeHolds(rule.evidence, rule.consensus.value).visit(c)), None)
            if expected is not None:
                continue  # graded: the checker compares it with the rule's strength
            value = units.tidy(rule.consensus.value)
            g = f"grading '{grading.name}' ({grading.pos.file}:{grading.pos.line})"
            if rule.polarity == "do_not_recommend":
                if dnr_lines:
                    says = " or ".join(f"'{n.to_source(c)}'" for _, c, _ in dnr_lines)
                    message = (f"do-not-recommend statement '{rule.id}' has {value}% consensus, but {g} says "
                               f"not recommended only where {says}")
                else:
                    message = f"do-not-recommend statement '{rule.id}' has {value}% consensus, but {g} has no do_not_recommend line"
            else:
                message = (f"recommendation '{rule.id}': no line of {g} grades evidence {rule.evidence} with "
                           f"{value}% consensus")
            self.add("W411", self.at_rule(rule), message, rules=(rule.id,),
                     proof=(f"evidence {rule.evidence}" if rule.evidence else "no evidence level")
                     + f" and {value}% consensus match none of its lines",
                     related=tuple((p.file, p.line, p.column, f"{s} if {n.to_source(c)}") for s, c, p in dnr_lines))


def _holds(formula, ev, e: int, cons, c) -> bool:
    s = z3.Solver(ctx=formula.ctx)
    s.add(formula, ev == e, cons == c)
    return s.check() == z3.sat


class _Grade(Connectives):
    """A grading line as z3, read as the checker's ``_GradeHolds`` reads it."""

    def __init__(self, ev, cons, levels, ctx):
        self.ev, self.cons, self.levels, self.ctx = ev, cons, levels, ctx

    def _is(self, level: str):
        return self.ev == self.levels.index(level) if level in self.levels else z3.BoolVal(False, self.ctx)

    def visit_OneOf(self, c):
        given = self.ev < len(self.levels)
        return z3.And(given, z3.Or([self._is(_level(v)) for v in c.values] or [z3.BoolVal(False, self.ctx)]))

    def visit_Compare(self, c):
        if c.attribute == "evidence":
            given = self.ev < len(self.levels)
            same = self._is(_level(c.value))
            return z3.And(given, same if c.op == "=" else z3.Not(same))
        if c.attribute != "consensus" or not isinstance(c.value, n.Quantity):
            return z3.BoolVal(False, self.ctx)
        from .encode import number
        v = number(c.value.value, self.ctx)
        return {"<": self.cons < v, "<=": self.cons <= v, ">": self.cons > v, ">=": self.cons >= v,
                "=": self.cons == v, "!=": self.cons != v}[c.op]

    def generic_visit(self, c):
        return z3.BoolVal(False, self.ctx)


def _level(value) -> str:
    return getattr(value, "name", str(getattr(value, "value", "")))


def _listing(names) -> str:
    names = list(names)
    quoted = [f"'{x}'" for x in names]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _leaves(kb, cond):
    """(test, type, attribute or field name) of every comparison and ``in`` in a condition."""
    stack = [(cond, None)]
    while stack:
        node, record = stack.pop()
        if isinstance(node, n.AnyRecord):
            attr = kb.attributes.get(node.attribute)
            stack.append((node.condition, attr))
            continue
        if isinstance(node, (n.Compare, n.OneOf)):
            if record is not None:
                spec = next((f.type for f in record.type.fields if f.name == node.attribute), None)
            else:
                attr = kb.attributes.get(node.attribute)
                spec = attr.type if attr is not None else None
            if spec is not None:
                yield node, spec, node.attribute
            continue
        stack.extend((c, record) for c in n.children(node))


_OUTSIDE: dict = {}


def _outside_range(spec: n.TypeSpec, c) -> bool:
    """Whether a constant lies outside a type's declared range (or beyond 100% for a percentage)."""
    key = (spec.kind, spec.low.value if spec.low is not None else None,
           spec.high.value if spec.high is not None else None, c)
    found = _OUTSIDE.get(key)
    if found is None:
        if len(_OUTSIDE) > 4096:
            _OUTSIDE.clear()
        _, declared = _domain(spec)
        found = _OUTSIDE[key] = Values.test("=", c, spec.kind in ("int", "date")).intersect(declared).empty()
    return found


def _spec(kb, name: str, record) -> n.TypeSpec | None:
    """The type of an attribute, or of a field of the list ``record``."""
    if record is not None:
        return next((f.type for f in record.type.fields if f.name == name), None)
    attr = kb.attributes.get(name)
    return attr.type if attr is not None else None


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _number(value, kind: str):
    if kind == "date":
        if isinstance(value, n.DateValue):
            return Fraction(dt.date.fromisoformat(value.iso).toordinal())
        return None
    if isinstance(value, n.Quantity):
        return Fraction(str(value.value)) if isinstance(value.value, float) else Fraction(value.value)
    return None


GRID = Fraction(1, 10 ** 6)  # records keep 6 decimals of a number in its canonical unit (units.tidy)


def _grid(kind: str) -> bool | Fraction:
    """The ``integral`` of :class:`Values` for a kind: whole numbers, or the grid of records' reals."""
    return True if kind in ("int", "date") else GRID


def _domain(spec: n.TypeSpec) -> tuple[Values, Values]:
    """(the values a record can hold, the declared range alone)."""
    kind = spec.kind
    integral = _grid(kind)
    if kind == "date":
        span = Values([Span(Fraction(DATE_MIN), True, Fraction(DATE_MAX), True)], True)
        return span, span
    low = _number(spec.low, kind) if spec.low is not None else None
    high = _number(spec.high, kind) if spec.high is not None else None
    declared = Values([Span(low, low is not None, high, high is not None)], integral)
    domain = declared
    if kind in NON_NEGATIVE:
        domain = domain.intersect(Values([Span(Fraction(0), True, None, False)], integral))
    if kind == "percent" and high is None:  # the unit's own range
        declared = declared.intersect(Values([Span(None, False, Fraction(100), True)], integral))
    return domain, declared


def _range_text(spec: n.TypeSpec) -> str:
    if spec.low is None and spec.high is None:
        return f"{spec.kind}, 0-100%" if spec.kind == "percent" else spec.kind
    low = n.value_text(spec.low) if spec.low is not None else ""
    high = n.value_text(spec.high) if spec.high is not None else ""
    return f"{spec.kind} {low}..{high}"


def _range_words(name: str, spec: n.TypeSpec) -> str:
    if spec.low is None and spec.high is None and spec.kind == "percent":
        return f"the range of a percentage (0-100%) for '{name}'"
    return f"the declared range of '{name}' ({_range_text(spec)})"


def _single_attribute(kb, cond) -> str | None:
    """The ordered attribute a conjunct tests, when it tests one alone (comparisons, ``in``,
    and ``and``/``or``/``not`` of them)."""
    found = set()
    stack = [test_of(cond)]
    while stack:
        c = test_of(stack.pop())
        if isinstance(c, (n.And, n.Or, n.Not)):
            stack.extend(n.children(c))
        elif isinstance(c, (n.Compare, n.OneOf)):
            found.add(c.attribute)
        else:
            return None
    if len(found) != 1:
        return None
    attr = kb.attributes.get(next(iter(found)))
    if attr is None or attr.type.kind not in ("int", "number", "duration", "percent", "length", "date"):
        return None
    return attr.name


def _accepts(tests, spec) -> Values | None:
    """The values of the attribute the tests (all of them) accept."""
    integral = _grid(spec.kind)
    out = Values.everything(integral)
    for t in tests:
        v = _accepts_one(test_of(t), spec, integral)
        if v is None:
            return None
        out = out.intersect(v)
    return out


def _accepts_one(c, spec, integral):
    c = test_of(c)
    if isinstance(c, n.And):
        out = Values.everything(integral)
        for x in c.items:
            v = _accepts_one(x, spec, integral)
            if v is None:
                return None
            out = out.intersect(v)
        return out
    if isinstance(c, n.Or):
        spans = []
        for x in c.items:
            v = _accepts_one(x, spec, integral)
            if v is None:
                return None
            spans += v.spans
        return Values(spans, integral)
    if isinstance(c, n.Not):
        v = _accepts_one(c.item, spec, integral)
        return None if v is None else v.complement()
    values = [c.value] if isinstance(c, n.Compare) else list(c.values)
    op = c.op if isinstance(c, n.Compare) else "="
    key = (op, tuple(n.value_text(v) for v in values), spec.kind)
    found = _ACCEPTS.get(key)
    if found is None:
        spans = []
        for v in values:
            num = _number(v, spec.kind)
            if num is None:
                return None
            spans += Values.test(op, num, integral).spans
        if len(_ACCEPTS) > 4096:
            _ACCEPTS.clear()
        found = _ACCEPTS[key] = Values(spans, integral)
    return found


_ACCEPTS: dict = {}


def _anded(tests):
    return tests[0] if len(tests) == 1 else n.And(tuple(tests), tests[0].pos)


def _conclusion(rule: n.Rule) -> str:
    if rule.kind in ("concept", "setting"):
        return rule.name
    return "|".join(sorted(n.regimen_id(r) for r in rule.regimens))


def _show(value: Fraction, spec: n.TypeSpec) -> str:
    if spec.kind == "date":
        return dt.date.fromordinal(int(value)).isoformat()
    number = units.tidy(float(value))
    unit = units.canonical_unit(spec.kind)
    return f"{number} {unit}" if unit and unit != "%" else f"{number}{unit or ''}"


def _span_text(attr: str, s: Span, spec: n.TypeSpec) -> str:
    if s.point():
        return f"{attr} = {_show(s.low, spec)}"
    if spec.kind in ("int", "date") and s.low is not None and s.high is not None:
        return f"{attr} {_show(s.low, spec)} to {_show(s.high, spec)}"
    left = "" if s.low is None else f"{_show(s.low, spec)} {'<=' if s.low_closed else '<'} "
    right = "" if s.high is None else f" {'<=' if s.high_closed else '<'} {_show(s.high, spec)}"
    return f"{left}{attr}{right}"
