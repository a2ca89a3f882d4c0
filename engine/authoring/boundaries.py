"""Boundary patients: the thresholds the rules compare with, and what flips across each
(``oncologic test --boundaries [PATTERN] [--save FILE]``; docs/rule-tests.md, "Boundaries").

In: a KnowledgeBase and the rule tests :func:`oncologic.authoring.ruletests.load_tests` read.
Every comparison ``ATTRIBUTE OP CONSTANT`` (OP one of ``< <= > >= =``) of a rule on a numeric,
duration, percent or length attribute of the record (not a field of an ``any ... where`` list) is
a threshold, in the attribute's declared (canonical) unit: ``tfi < 3mo`` is ``tfi < 91.3125 d``.
From each test whose patient gives the attribute — or, for a duration derived from two dates
(``tfi = progression_date - first_line_end_date``), gives both dates, then the later date moves —
three patients are made: just below, at and just above the threshold in whole units (89, 90, 91
days for 90d; 91, 91.3125, 92 days for 3mo — dates reach only 91 and 92), values outside the
attribute's declared range left out (and counted, with the reason, in ``Threshold.left_out``).

Out: one :class:`Threshold` per (attribute, value), with the rules that compare with it (id,
file:line, the comparison as written), the other comparisons of the attribute that change verdict
at the same steps, and, per group of base tests whose outcomes flip alike, the conclusions
(recommended, possible, not_recommended, possibly_not_recommended, contraindicated, concepts) that
are not the same at the three values and change at a step where one of its comparisons does; :func:`render_text`, :func:`to_dict`, and
:func:`save`, which writes the boundary patients with their current outcomes as a rule-test file
(a base test per starting patient, each boundary patient ``extends`` it, exact expectations).

Errors: :class:`BoundaryError` (an OncologicError) when PATTERN selects neither a threshold nor a
test; an invalid boundary patient is left out (it is outside what the attribute allows), and
writing the file raises OSError as open() does (the CLI refuses an existing file first).
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field

from ..values import Record
from ..errors import OncologicError
from ..lang import nodes as n
from ..lang.units import canonical_unit, tidy

OPS = ("<", "<=", ">", ">=", "=")
NUMERIC = ("int", "number", "duration", "percent", "length")
SECTIONS = ("recommended", "possible", "not_recommended", "possibly_not_recommended", "contraindicated", "concepts")


class BoundaryError(OncologicError):
    """A PATTERN that selects neither a threshold nor a rule test."""


@dataclass(eq=False, repr=False)
class Comparison(Record):
    rule: str
    file: str
    line: int
    written: str  # "tfi < 90d"
    op: str = "<"
    value: int | float = 0  # the constant in the attribute's unit

    def holds(self, x) -> bool:
        """The comparison's verdict for the attribute at ``x`` (same unit as ``value``)."""
        v = self.value
        return {"<": x < v, "<=": x <= v, ">": x > v, ">=": x >= v, "=": x == v}[self.op]


@dataclass(eq=False, repr=False)
class Run(Record):
    """The boundary patients made from one starting test: (value text, record, outcome)."""

    test: tuple[str, str, int]  # (name, file, line)
    base: dict  # the test's record
    patients: list[tuple[str, dict, dict]]
    unreachable: list[str] = field(default_factory=list)  # values whole-day dates cannot reach


@dataclass(eq=False, repr=False)
class Group(Record):
    """Base tests whose boundary patients flip alike: ``flips`` section → value text → the ids
    concluded at that value but not at all three."""

    tests: list[tuple[str, str, int]]  # (name, file, line)
    values: list[str]
    flips: dict[str, dict[str, list[str]]]
    unreachable: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # values and unreachable values, low to high


@dataclass(eq=False, repr=False)
class Threshold(Record):
    attribute: str
    value: int | float
    unit: str | None
    comparisons: list[Comparison] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    also: list[str] = field(default_factory=list)  # "ecog <= 1 at 1/2": another threshold's window overlaps
    left_out: str | None = None  # why no or some test patients are not used

    @property
    def shown(self) -> str:
        return show(self.value, self.unit)


def show(value, unit: str | None) -> str:
    value = tidy(value)
    return f"{value}{unit}" if unit else str(value)


def thresholds(checked) -> list[Threshold]:
    """Every threshold of the rules, one per (attribute, value), sorted by attribute and value."""
    found: dict[tuple, Threshold] = {}
    for rule in checked.rules:
        if rule.condition is None:
            continue
        stack = [rule.condition]
        while stack:
            cond = stack.pop()
            if isinstance(cond, n.AnyRecord):
                continue  # a field of a list of records, not an attribute of the record
            stack.extend(reversed(n.children(cond)))
            if not (isinstance(cond, n.Compare) and cond.op in OPS and isinstance(cond.value, n.Quantity)):
                continue
            attr = checked.attributes.get(cond.attribute)
            if attr is None or attr.type.kind not in NUMERIC:
                continue
            value = n.constant(cond.value)
            key = (cond.attribute, value)
            if key not in found:
                found[key] = Threshold(cond.attribute, value, canonical_unit(attr.type.kind))
            written = n.to_source(cond)
            if not any(c.rule == rule.id and c.written == written for c in found[key].comparisons):
                found[key].comparisons.append(Comparison(rule.id, cond.pos.file, cond.pos.line, written, cond.op, value))
    return sorted(found.values(), key=lambda th: (th.attribute, th.value))


def points(value) -> list[int | float]:
    """Just below, at and just above a threshold, in whole units of its unit."""
    if float(value).is_integer():
        return [int(value) - 1, int(value), int(value) + 1]
    return [math.ceil(value) - 1, tidy(value), math.floor(value) + 1]


def _date(value):
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def gives(checked, record: dict, attribute: str) -> str | None:
    """How ``record`` gives ``attribute``: "value", "dates" (both dates it is derived from), or None."""
    if attribute in record:
        return "value"
    derive = checked.attributes[attribute].derive
    if derive and all(_date(record.get(d)) is not None for d in derive):
        return "dates"
    return None


def _variant(checked, record: dict, attribute: str, value) -> dict | None:
    """The record with ``attribute`` at ``value`` (for a duration derived from dates that the
    record gives instead: the later date moved), or None when that cannot be written (neither
    given, or a date-derived value that is not a whole number of days)."""
    attr = checked.attributes[attribute]
    out = dict(record)
    how = gives(checked, record, attribute)
    if how == "value":
        out[attribute] = show(value, canonical_unit(attr.type.kind)) if attr.type.kind in ("duration", "percent", "length") \
            else value
        return out
    if how == "dates" and float(value).is_integer():
        later, earlier = attr.derive
        out[later] = (_date(record[earlier]) + dt.timedelta(days=int(value))).isoformat()
        return out
    return None


def outcome(result) -> dict[str, list[str]]:
    """The conclusions of a result, section by section (sorted ids)."""
    return {"recommended": sorted(r.id for r in result.recommendations),
            "possible": sorted(p.id for p in result.possible),
            "not_recommended": sorted(x.id for x in result.not_recommended),
            "possibly_not_recommended": sorted(x.id for x in result.possibly_not_recommended),
            "contraindicated": sorted(c.id for c in result.contraindicated),
            "concepts": sorted(result.derived)}


def _select(found: list[Threshold], tests, pattern: str | None):
    """(thresholds, tests, whether the pattern selected the tests); BoundaryError when it selects nothing."""
    if not pattern:
        return found, tests, False
    chosen = [th for th in found if pattern in th.attribute or any(pattern in c.rule for c in th.comparisons)]
    if chosen:
        return chosen, tests, False
    picked = [t for t in tests if pattern in t.file or pattern in t.name]
    if picked:
        return found, picked, True
    attributes = sorted({th.attribute for th in found})
    raise BoundaryError(
        f"no threshold or rule test matches '{pattern}'; PATTERN is part of an attribute or rule id that has a "
        f"threshold ({', '.join(attributes) if attributes else 'the rules compare with none'}), or else part of "
        f"a rule test's file path or name; without PATTERN every threshold is shown")


def boundaries(kb, tests, pattern: str | None = None) -> list[Threshold]:
    """Every threshold, its comparisons, and what flips across it from each test's patient.
    ``pattern``: the thresholds whose attribute or rule id contains it, from every test; when
    none does, every threshold from the tests whose file path or name contains it; when no test
    does either, :class:`BoundaryError`."""
    from ..errors import PatientError
    checked = kb.compiled.checked
    every = thresholds(checked)
    found, tests, selected = _select(every, tests, pattern)
    for th in found:
        others = [c for t in every if t.attribute == th.attribute and t is not th for c in t.comparisons]
        values = points(th.value)
        for a, b in zip(values, values[1:]):
            if not any(c.holds(a) != c.holds(b) for c in th.comparisons):
                continue  # a step this threshold does not make: its changes are shown under another
            for c in others:
                if c.holds(a) != c.holds(b) and f"{c.written} at {show(a, None)}/{show(b, None)}" not in th.also:
                    th.also.append(f"{c.written} at {show(a, None)}/{show(b, None)}")
        pending = []  # (test, Run, [Patient])
        giving, refused = 0, []
        for test in tests:
            how = gives(checked, test.record, th.attribute)
            if how is None:
                continue
            giving += 1
            run, made = Run((test.name, test.file, test.line), test.record, []), []
            for value in values:
                record = _variant(checked, test.record, th.attribute, value)
                if record is None:  # a date-derived value between two whole days
                    run.unreachable.append(show(value, th.unit))
                    continue
                try:
                    made.append(kb.patient(record, source=test.name))
                except PatientError as err:
                    refused.append(str(err))
                    continue  # outside the attribute's range
                run.patients.append((show(value, th.unit), record, {}))
            if len(made) >= 2:
                pending.append((run, made))
        if not giving:
            th.left_out = (f"none of the selected tests gives {th.attribute}" if selected
                           else f"no rule test gives {th.attribute}")
        elif len(pending) < giving:
            th.left_out = (f"{giving - len(pending)} of the {giving} test patient(s) that give {th.attribute} left out: "
                           f"fewer than two of the values {', '.join(show(v, th.unit) for v in values)} are allowed"
                           + (f" ({refused[0]})" if refused else ""))
        results = iter(kb.evaluate_many([p for _, made in pending for p in made]))
        groups: dict[str, Group] = {}
        for run, made in pending:
            run.patients = [(text, record, outcome(next(results))) for (text, record, _) in run.patients]
            th.runs.append(run)
            flips = _flips(th, run)
            texts = [text for text, _, _ in run.patients]
            key = json.dumps([texts, run.unreachable, flips], sort_keys=True)
            if key not in groups:
                order = [t for t in (show(v, th.unit) for v in values) if t in texts or t in run.unreachable]
                groups[key] = Group([], texts, flips, run.unreachable, order)
            groups[key].tests.append(run.test)
        th.groups = sorted(groups.values(), key=lambda g: not g.flips)
    return found


def _flips(th: Threshold, run: Run) -> dict[str, dict[str, list[str]]]:
    """Section → value text → the ids that hold there but not at every value, keeping only the
    ids that change between two neighbouring values where a comparison of ``th`` changes verdict
    (a change elsewhere belongs to another threshold of the attribute)."""
    numbers = {show(v, th.unit): v for v in points(th.value)}
    texts = [text for text, _, _ in run.patients]
    own_steps = {i for i, (a, b) in enumerate(zip(texts, texts[1:]))
                 if any(c.holds(numbers[a]) != c.holds(numbers[b]) for c in th.comparisons)}
    flips = {}
    for section in SECTIONS:
        sets = [set(out[section]) for _, _, out in run.patients]
        changing = {i for step in own_steps for i in sets[step] ^ sets[step + 1]}
        if not changing:
            continue
        common = set.intersection(*sets)
        flips[section] = {text: sorted((s - common) & changing) for text, s in zip(texts, sets)}
    return flips


def to_dict(found: list[Threshold]) -> dict:
    return {"thresholds": [{
        "attribute": th.attribute, "value": th.value, "unit": th.unit,
        "comparisons": [{"rule": c.rule, "file": c.file, "line": c.line, "comparison": c.written} for c in th.comparisons],
        "also_crosses": th.also,
        "left_out": th.left_out,
        "groups": [{"tests": [{"name": t, "file": f, "line": l} for t, f, l in g.tests], "values": g.values,
                    "unreachable": g.unreachable, "flips": g.flips} for g in th.groups],
    } for th in found]}


LEGEND = "for each threshold: the conclusions that differ between the values just below, at and just above it"


def render_text(found: list[Threshold]) -> str:
    """The legend, then per threshold its comparisons, the other comparisons of the attribute
    its values also cross, and, per group of base tests that flip alike, each value with the
    differing conclusions that hold there (a group whose conclusions are the same at the three
    values is not shown, only counted); why test patients were left out."""
    from ..errors import visible
    lines = [LEGEND]
    flipping = 0
    for th in found:
        lines.append(f"{th.attribute} at {th.shown}:")
        for c in th.comparisons:
            lines.append(f"  {c.written}  ({c.rule}, {c.file}:{c.line})")
        for also in th.also:
            lines.append(f"  also crosses {also} (a conclusion that changes there may come from either)")
        if th.left_out and not th.groups:
            lines.append(f"  {th.left_out}")
        groups = [g for g in th.groups if g.flips]
        still = sum(len(g.tests) for g in th.groups if not g.flips)
        if groups:
            flipping += 1
        elif still:
            lines.append(f"  nothing differs, from the {still} test patient(s) that give {th.attribute}")
        for g in groups:
            names = ", ".join(f"'{t}'" for t, _, _ in g.tests[:3]) + (f" and {len(g.tests) - 3} more" if len(g.tests) > 3 else "")
            lines.append(f"  from {names}:")
            said_before = False
            for value in g.order or g.values:
                if value in g.unreachable:
                    lines.append(f"    ({value} cannot be reached with whole-day dates)")
                    continue
                said = [f"{section.replace('_', ' ')} {', '.join(ids[value])}" for section, ids in g.flips.items() if ids.get(value)]
                if said:
                    lines.append(f"    {value}: " + "; ".join(said))
                else:
                    lines.append(f"    {value}: — none of the conclusions " + ("above" if said_before else "below"))
                said_before = said_before or bool(said)
        if still and groups:
            lines.append(f"  (from {still} other test patient(s), nothing differs)")
        if th.left_out and th.groups:
            lines.append(f"  ({th.left_out})")
    lines.append(f"{len(found)} thresholds; {flipping} of them flip a conclusion from some test's patient")
    return "\n".join(visible(line) for line in lines)


def saved_tests(found: list[Threshold]) -> list[dict]:
    """The rule-test entries :func:`save` writes: a base test per starting patient (named as the
    test it comes from; patients that are the same written once, a different patient under the
    same name gets " (2)", " (3)"...), then per boundary patient a test that extends it with the
    attribute (or the later date) changed and its current outcome as exact expectations."""
    bases: dict[str, tuple[str, dict]] = {}  # patient as JSON -> (name, record)
    taken: set[str] = set()
    tests: list[dict] = []
    names: set[str] = set()
    for th in found:
        for run in th.runs:
            plain = _plain({k: v for k, v in run.base.items() if k != "id"})
            key = json.dumps(plain, sort_keys=True, default=str)
            if key not in bases:
                name, count = run.test[0], 1
                while name in taken:
                    count += 1
                    name = f"{run.test[0]} ({count})"
                taken.add(name)
                bases[key] = (name, plain, f"{run.test[1]}:{run.test[2]}")
            base_name, base, _ = bases[key]
            for text, record, out in run.patients:
                name = f"{th.attribute} = {text} from {base_name}"
                if name in names:
                    continue  # the same patient, from an overlapping threshold of the attribute
                names.add(name)
                record = _plain({k: v for k, v in record.items() if k != "id"})
                over = {k: v for k, v in record.items() if base.get(k) != v}
                removed = {k: None for k in base if k not in record}
                tests.append({"test": name, "extends": base_name, "patient": {**over, **removed}, **out})
    extended = {t["extends"] for t in tests}
    entries = [{"test": name, "source": f"{where}, by oncologic test --boundaries", "patient": record}
               for name, record, where in bases.values() if name in extended]
    return entries + tests


def save(kb, found: list[Threshold], path) -> tuple[int, int]:
    """Write :func:`saved_tests` as a rule-test file; returns (the number of tests written, the
    number of base patients: entries that only give the patient the tests extend, not run).
    Raises OSError as open() does (the caller refuses an existing file)."""
    import yaml
    entries = saved_tests(found)
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Boundary patients written by `oncologic test --boundaries --save`: the outcomes as the\n"
                "# knowledge base concluded them when the file was written.\n")
        yaml.safe_dump({"tests": entries}, f, sort_keys=False, allow_unicode=True, default_flow_style=None, width=110)
    bases = sum("extends" not in e for e in entries)
    return len(entries) - bases, bases


def _plain(value):
    """A record's value as YAML can write it (the reader's Written integers as numbers)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return getattr(value, "value", value) if type(value).__name__ == "Written" else value
