"""The sentences of explanations, written from the structured results, in English or Chinese.

In: the result objects of :mod:`oncologic.reason.results` — a condition's operator, attribute,
expected and actual quantities, negation, class memberships, record counts, flip date; a
change's action, test, threshold and proposed value. Out: sentences for a person:

    tfi < 90 d (patient: 45 d); holds when progression_date is before 2026-04-15
    一线标准治疗结束到疾病进展的时间间隔 < 90 天（患者：45 天）；若疾病进展日期早于 2026-04-15 则成立

Reasoning writes no words: the English sentences of the JSON contract's ``text`` fields are
written here (:func:`fill_text`, called by the API), and the text report writes either
language with :class:`Words`. In Chinese, attributes, items and enum values read as the labels
the knowledge base declares (``label zh "..."``, ``value sd label zh "..."``), falling back to
their ids. The words themselves (phrases, operators, units) are the message catalogue's
(:mod:`.catalogue`, ``messages/<lang>.json``), not this module's.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

from ..lang import units
from ..reason import results as r
from .catalogue import catalogue, verdict_key

THRESHOLDS = ("<", "<=", ">", ">=")
_WRITTEN = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z%]+)\s*$")


class Words:
    """Sentences in one language. ``label(name, lang)`` gives a name's label (the knowledge
    base's :meth:`~oncologic.model.kb.CheckedKB.label`); English uses the ids as written."""

    def __init__(self, lang: str = "en", label: Optional[Callable[[str, str], Optional[str]]] = None,
                 value_label: Optional[Callable[[str, str, str], Optional[str]]] = None, contract: bool = False):
        self.lang = lang
        self.contract = contract  # the JSON contract's ``text`` fields: an empty set reads as frozen, "{} (none)"
        self.phrase = catalogue(lang)["phrases"]  # raises ValueError for a language without a catalogue
        self._operators = catalogue(lang)["operators"]
        self._units = catalogue(lang)["units"]
        self._label = label
        self._value_label = value_label

    # ---- names and values -----------------------------------------------------------------

    def name(self, ident: str) -> str:
        """An attribute, item or concept: its id in English, its label in another language."""
        if self.lang == "en" or self._label is None:
            return ident
        return self._label(ident, self.lang) or ident

    def op(self, op: str) -> str:
        return self._operators.get(op, op)

    def unit(self, unit: str) -> str:
        return self._units.get(unit, unit)

    def written(self, text: str) -> str:
        """A quantity as its author wrote it (``3mo``), its unit in words in another language
        (``3 个月``); as written in English."""
        match = _WRITTEN.match(text) if self.lang != "en" else None
        if not match or match.group(2) not in self._units:
            return text
        return f"{match.group(1)} {self.unit(match.group(2))}" if match.group(2) != "%" else text

    def enum(self, value: str, attribute: Optional[str]) -> str:
        """An enum value or item: its id in English; in another language the value's label
        declared on ``attribute`` (``value sd label zh "疾病稳定"``), else the item's label."""
        if self.lang == "en":
            return value
        if attribute and self._value_label is not None:
            found = self._value_label(attribute, value, self.lang)
            if found:
                return found
        return self.name(value)

    def quantity(self, value, kind: Optional[str], attribute: Optional[str] = None) -> str:
        """A value of an attribute of ``kind``, as the patient's values read: ``45 d``, ``{a, b}``."""
        if kind in units.UNITS:
            shown = units.show(value, kind)
            unit = units.canonical_unit(kind)
            word = self.unit(unit)
            return shown[: -len(unit)] + word if word != unit and shown.endswith(" " + unit) else shown
        if isinstance(value, bool):
            return self.phrase["true" if value else "false"]
        if isinstance(value, (list, tuple, set, frozenset)):
            if not value:
                return self.empty()
            if self.lang == "en":
                return units.show(value, kind or "set")
            return self.phrase["set_open"] + self.phrase["sep"].join(sorted(self.value(x, kind, attribute) for x in value)) + \
                self.phrase["set_close"]
        if isinstance(value, str):
            return value if kind in ("string", "date") else self.enum(value, attribute)  # the patient's text as written
        return str(value)

    def empty(self) -> str:
        """An empty set of the record as a person says it: ``none``, ``无`` (the text report and
        the pictures); the JSON contract's English ``text`` fields keep their frozen ``{} (none)``."""
        return self.phrase["none" if self.contract else "empty_set"]

    def value(self, value, kind: Optional[str] = None, attribute: Optional[str] = None) -> str:
        """One value as a rule writes it: an enum value or item (labelled in Chinese), a
        number, a date, ``true``, or a quoted string for a string attribute."""
        if isinstance(value, bool):
            return self.phrase["true" if value else "false"] if self.lang != "en" else ("true" if value else "false")
        if kind == "string" and isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(value, str):
            return value if kind == "date" else self.enum(value, attribute)
        return str(value)

    def values(self, values, kind: Optional[str], attribute: Optional[str]) -> str:
        return self.phrase["sep"].join(self.value(x, kind, attribute) for x in values)

    def names(self, idents) -> str:
        return self.phrase["sep"].join(self.name(x) for x in idents)

    # ---- conditions -----------------------------------------------------------------------

    def verdict(self, holds: Optional[bool]) -> str:
        return self.phrase["verdict"][verdict_key(holds)]

    def flip(self, flip: r.Flip, change: bool = False) -> str:
        """When a date-derived condition holds: ``holds when progression_date is before 2026-04-15``."""
        key = f"change_{flip.holds}" if change else flip.holds
        return self.phrase[key].format(attribute=self.name(flip.attribute), date=flip.date)

    def condition(self, c: r.Condition) -> str:
        """``tfi < 90 d (patient: 45 d)``; a concept: ``not stenosis (does not hold) — needs x``."""
        if c.concept is not None:
            value = c.holds if not c.negated or c.holds is None else not c.holds  # the concept's own verdict
            text = self.phrase["not_concept" if c.negated else "concept"].format(
                concept=self.name(c.concept), verdict=self.verdict(value))
            if c.needs is not None:
                text = self.phrase["needs"].format(condition=text, attributes=self.names(c.needs))
            return text
        expected = self.expected(c)
        text = self.phrase["condition"].format(attribute=self.name(c.attribute), op=self.op(c.op),
                                               expected=" " + expected if expected else "", actual=self.actual(c))
        if c.flip is not None:
            text = self.phrase["with_flip"].format(condition=text, flip=self.flip(c.flip))
        if c.does_not_apply is not None:
            text = self.phrase["does_not_apply"].format(condition=text, gate=c.does_not_apply)
        elif c.needs is not None:
            text = self.phrase["needs"].format(condition=text, attributes=self.names(c.needs))
        return text

    def does_not_apply(self, gate: str) -> str:
        """A rule whose ``applies when`` fails: ``does not apply: only when ...``."""
        return self.phrase["rule_does_not_apply"].format(gate=gate)

    def expected(self, c: r.Condition) -> str:
        """What the rule's test expects, as the rule writes it (units made canonical)."""
        e, kind, op = c.expected, c.attribute_kind, c.op
        if e is None:
            return ""
        if op in ("any where", "no record where"):
            return self.phrase["group"].format(items=e.value)  # the records' test, as the rule writes it
        if isinstance(e.value, list):
            return self.phrase["group"].format(items=self.phrase["sep"].join(self.value(v, kind, c.attribute) for v in e.value))
        if e.unit:
            shown = self.quantity(e.value, kind, c.attribute)
            plain = units.show(e.value, kind)
            if e.as_written and e.as_written.replace(" ", "") != plain.replace(" ", ""):
                shown += self.phrase["as_written"].format(written=self.written(e.as_written))
            return shown
        if e.as_written:
            return self.written(e.as_written)
        return self.value(e.value, kind, c.attribute)

    def actual(self, c: r.Condition) -> str:
        """The patient's value: ``45 d, given as 6wk``, ``1 of 2 record(s) match``, ``unknown``."""
        if c.actual is None:
            return self.phrase["unknown"]
        if c.records_total is not None:
            return self.phrase["records_match"].format(matched=c.records_matched, total=c.records_total)
        shown = self.quantity(c.actual.value, c.attribute_kind, c.attribute)
        if c.actual.as_written:
            shown = self.phrase["given_as"].format(value=shown, written=self.written(c.actual.as_written))
        if c.via:
            via = self.phrase["sep"].join(self.phrase["is_a"].format(item=self.name(m.item), cls=self.name(m.is_a))
                                          for m in c.via)
            shown = self.phrase["with_via"].format(actual=shown, via=via)
        if c.class_recorded and c.holds is None:
            shown = self.phrase["class_recorded"].format(actual=shown, classes=self.names(c.class_recorded))
        return shown

    # ---- changes --------------------------------------------------------------------------

    def change(self, c: r.Change) -> str:
        """``tfi < 90 d, e.g. 89 d``, ``record ecog``, ``prior_therapies: without carboplatin``."""
        p, name, kind = self.phrase, self.name(c.attribute), c.attribute_kind
        if c.action == "unset":
            return p["unset"].format(attribute=name)
        if c.action == "add":
            return p["add"].format(attribute=name, item=self.value(c.value, kind, c.attribute))
        if c.action == "remove":
            return p["remove"].format(attribute=name, items=self.values(c.value, kind, c.attribute))
        op = c.op
        if op in THRESHOLDS:
            return p["threshold_flip" if c.flip else "threshold"].format(
                attribute=name, op=self.op(op), threshold=self.quantity(c.threshold.value, kind, c.attribute),
                proposed=self.quantity(c.proposed.value, kind, c.attribute), flip=self.flip(c.flip, change=True) if c.flip else None)
        if op in ("=", "!="):
            return p["set" if c.known else "record_value"].format(attribute=name, value=self.quantity(c.proposed.value, kind, c.attribute))
        if op in ("in", "not in"):
            return p["set"].format(attribute=name, value=self.value(c.value, kind, c.attribute))
        if op in ("has", "has any of", "is not empty"):  # an item added to a set the record lacked
            return p["add"].format(attribute=name, item=self.value(c.proposed.value, kind, c.attribute))
        if op in ("does not have", "has none of"):
            return p["none_of"].format(attribute=name, items=self.values(c.none_of, kind, c.attribute))
        if op == "is empty":
            return p["empty"].format(attribute=name)
        if op == "is known":
            return p["record"].format(attribute=name)
        return p["set" if c.known else "record_value"].format(attribute=name, value=c.value)

    def changes(self, changes: list[r.Change]) -> str:
        return self.phrase["changes_sep"].join(self.change(c) for c in changes)

    # ---- what a change would leave standing against the goal -------------------------------

    def goal_would_hold(self, attempt: r.Attempt) -> bool:
        """Whether an attempt's change (``to_hold``, which makes its rule hold) makes the goal
        hold too, unopposed, as the engine found on the changed record: no contraindication
        would remove or might remove the regimen, no statement against it would hold or be
        undecided. False for a change the engine did not check against the goal."""
        return attempt.to_hold_verdict == "holds" and not attempt.still_pending and not attempt.still_against

    def still(self, attempt: r.Attempt, reason: Callable[[str], Optional[str]]) -> list[str]:
        """What the change of an attempt would leave standing against the goal: ``the regimen
        would still be removed by contraindication X (its reason)``, an undecided contraindication
        or statement, a statement against that would hold; else, for a goal that would still
        not hold, that it would not. ``reason(rule_id)``: a rule's reason in this language."""
        p = self.phrase

        def why(rule_id: str) -> str:
            text = reason(rule_id)
            return p["still_reason"].format(reason=text) if text else ""

        out = [p["still_removed"].format(rule=rid, reason=why(rid)) for rid in attempt.still_removed_by]
        out += [p["still_pending"].format(kind=p["still_kind"].get(x.kind, x.kind), rule=x.rule.id,
                                          attributes=self.names(x.missing)) for x in attempt.still_pending]
        out += [p["still_against"].format(rule=rid, reason=why(rid)) for rid in attempt.still_against]
        if not out and attempt.to_hold_verdict in ("fails", "undecided"):
            out.append(p["still_" + attempt.to_hold_verdict].format(goal=self.name(attempt.conclusion)))
        return out

    def avoid(self, items: list[str]) -> str:
        return self.phrase["avoid"].format(items=self.names(items))

    def conclusion(self, node: r.ProofNode) -> str:
        """What a proof concludes: a concept or recommendation, or what a contraindication avoids."""
        return self.avoid(node.avoids) if node.avoids is not None else self.name(node.conclusion)


ENGLISH = Words("en", contract=True)  # the JSON contract's sentences (fill_text)


def fill_text(result, words: Words = ENGLISH):
    """Write the sentences of a result in place — every condition's and change's ``text`` and
    a contraindication proof's ``conclusion`` — and return it (the API does, in English, so
    the JSON contract keeps its ``text`` fields)."""
    stack = [result]
    while stack:
        obj = stack.pop()
        if isinstance(obj, (r.Condition, r.Change)):
            obj.text = words.condition(obj) if isinstance(obj, r.Condition) else words.change(obj)
            continue
        if isinstance(obj, r.ProofNode):
            if obj.avoids is not None:
                obj.conclusion = words.avoid(obj.avoids)
            stack.extend(obj.conditions)
            stack.extend(obj.children)
        elif isinstance(obj, r.Attempt):
            stack.extend(obj.failed)
            stack.extend(obj.children)
            stack.extend(obj.removed_by)
            stack.extend(obj.to_hold or [])
        elif isinstance(obj, r.Explanation):
            stack.extend([obj.proof] if obj.proof else [])
            stack.extend(obj.alternatives)
            stack.extend(obj.removed_by)
            stack.extend(obj.conflicts)
            stack.extend(case.proof for case in obj.cases if case.proof)
        elif isinstance(obj, r.WhyNot):
            stack.extend([obj.proof] if obj.proof else [])
            stack.extend(obj.attempts)
            stack.extend(case.proof for case in obj.cases if case.proof)
        elif isinstance(obj, r.Removal):
            stack.extend([obj.proof] if obj.proof else [])
    return result
