"""Boundary patients: the thresholds the rules compare with, and what flips across each
(``oncologic test --boundaries [PATTERN] [--save FILE]``; docs/rule-tests.md, "Boundaries").

In: a KnowledgeBase and the rule tests :func:`oncologic.authoring.ruletests.load_tests` read.
Every comparison ``ATTRIBUTE OP CONSTANT`` (OP one of ``< <= > >= =``) of a rule on a numeric,
duration, percent or length attribute of the record (not a field of an ``any ... where`` list) is
a threshold, in the attribute's declared (canonical) unit: ``tfi < 3mo`` is ``tfi < 91.3125 d``.
From each test whose patient gives the attribute — or, for a duration derived from two dates
(``tfi = progression_date - first_line_end_date``), gives both dates, then the later date moves —
three patients are made: just below, at and just above the threshold in whole units (89, 90, 91
days for 90d; 91, 91.3125, 92 days for 3mo), values outside the attribute's declared range left
out.

Out: one :class:`Threshold` per (attribute, value), with the rules that compare with it (id,
file:line, the comparison as written) and, per group of base tests whose outcomes flip alike, the
conclusions (recommended, possible, not_recommended, possibly_not_recommended, contraindicated,
concepts) that are not the same at the three values; :func:`render_text`, :func:`to_dict`, and
:func:`save`, which writes the boundary patients with their current outcomes as a rule-test file
(a base test per starting patient, each boundary patient ``extends`` it, exact expectations).

Errors: none of its own; an invalid boundary patient is left out (it is outside what the
attribute allows), and writing the file raises OSError as open() does.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from ..lang import nodes as n
from ..lang.units import canonical_unit, tidy

OPS = ("<", "<=", ">", ">=", "=")
NUMERIC = ("int", "number", "duration", "percent", "length")
SECTIONS = ("recommended", "possible", "not_recommended", "possibly_not_recommended", "contraindicated", "concepts")


@dataclass(eq=False)
class Comparison:
    rule: str
    file: str
    line: int
    written: str  # "tfi < 90d"


@dataclass(eq=False)
class Group:
    """Base tests whose boundary patients flip alike: ``flips`` section → value text → the ids
    concluded at that value but not at all three."""

    tests: list[tuple[str, str, int]]  # (name, file, line)
    values: list[str]
    flips: dict[str, dict[str, list[str]]]
    patients: list[tuple[str, dict, dict]] = field(default_factory=list)  # (value text, record, outcome) of the first test
    base: dict = field(default_factory=dict)  # the first test's record


@dataclass(eq=False)
class Threshold:
    attribute: str
    value: int | float
    unit: str | None
    comparisons: list[Comparison] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)

    @property
    def shown(self) -> str:
        return show(self.value, self.unit)


def show(value, unit: str | None) -> str:
    value = tidy(value)
    return f"{value}{unit}" if unit else str(value)


def thresholds(checked) -> list[Threshold]:
    """Every threshold of the rules, one per (attribute, value), in the order first written."""
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
                found[key].comparisons.append(Comparison(rule.id, cond.pos.file, cond.pos.line, written))
    return sorted(found.values(), key=lambda th: (th.attribute, th.value))


def points(value) -> list[int | float]:
    """Just below, at and just above a threshold, in whole units of its unit."""
    if float(value).is_integer():
        return [int(value) - 1, int(value), int(value) + 1]
    return [math.ceil(value) - 1, tidy(value), math.floor(value) + 1]


def _variant(checked, record: dict, attribute: str, value) -> dict | None:
    """The record with ``attribute`` at ``value`` (for a duration derived from dates that the
    record gives instead: the later date moved), or None when the record gives neither."""
    attr = checked.attributes[attribute]
    out = dict(record)
    if attribute in record:
        out[attribute] = show(value, canonical_unit(attr.type.kind)) if attr.type.kind in ("duration", "percent", "length") \
            else value
        return out
    if attr.derive and all(isinstance(record.get(d), str) for d in attr.derive):
        later, earlier = attr.derive
        try:
            start = dt.date.fromisoformat(record[earlier])
        except ValueError:
            return None
        if not float(value).is_integer():
            return None  # a date moves by whole days
        out[later] = (start + dt.timedelta(days=int(value))).isoformat()
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


def boundaries(kb, tests, pattern: str | None = None) -> list[Threshold]:
    """Every threshold, its comparisons, and what flips across it from each test's patient.
    ``pattern``: the thresholds whose attribute or rule id contains it, from every test; when
    none does, every threshold from the tests whose file path or name contains it."""
    from ..errors import PatientError
    checked = kb.compiled.checked
    found = thresholds(checked)
    if pattern:
        chosen = [th for th in found if pattern in th.attribute or any(pattern in c.rule for c in th.comparisons)]
        if chosen:
            found = chosen
        else:
            tests = [t for t in tests if pattern in t.file or pattern in t.name]
    for th in found:
        runs = []  # (test, [(value text, record, patient)])
        for test in tests:
            made = []
            for value in points(th.value):
                record = _variant(checked, test.record, th.attribute, value)
                if record is None:
                    break
                try:
                    made.append((show(value, th.unit), record, kb.patient(record, source=test.name)))
                except PatientError:
                    continue  # outside the attribute's range
            if len(made) >= 2:
                runs.append((test, made))
        results = iter(kb.evaluate_many([p for _, made in runs for _, _, p in made]))
        groups: dict[str, Group] = {}
        for test, made in runs:
            outs = [outcome(next(results)) for _ in made]
            flips = {}
            for section in SECTIONS:
                sets = [set(o[section]) for o in outs]
                common = set.intersection(*sets)
                if any(s != common for s in sets):
                    flips[section] = {text: sorted(s - common) for (text, _, _), s in zip(made, sets)}
            key = repr(sorted((k, sorted(v.items())) for k, v in flips.items()))
            if key not in groups:
                groups[key] = Group([], [text for text, _, _ in made], flips,
                                    [(text, record, o) for (text, record, _), o in zip(made, outs)], test.record)
            groups[key].tests.append((test.name, test.file, test.line))
        th.groups = sorted(groups.values(), key=lambda g: not g.flips)
    return found


def to_dict(found: list[Threshold]) -> dict:
    return {"thresholds": [{
        "attribute": th.attribute, "value": th.value, "unit": th.unit,
        "comparisons": [{"rule": c.rule, "file": c.file, "line": c.line, "comparison": c.written} for c in th.comparisons],
        "groups": [{"tests": [{"name": t, "file": f, "line": l} for t, f, l in g.tests], "values": g.values,
                    "flips": g.flips} for g in th.groups],
    } for th in found]}


LEGEND = "for each threshold: the conclusions that differ between the values just below, at and just above it"


def render_text(found: list[Threshold]) -> str:
    """The legend, then per threshold its comparisons and, per group of base tests that flip
    alike, each value with the differing conclusions that hold there (a group whose conclusions
    are the same at the three values is not shown, only counted)."""
    from ..errors import visible
    lines = [LEGEND]
    flipping = 0
    for th in found:
        lines.append(f"{th.attribute} at {th.shown}:")
        for c in th.comparisons:
            lines.append(f"  {c.written}  ({c.rule}, {c.file}:{c.line})")
        if not th.groups:
            lines.append(f"  no rule test gives {th.attribute}")
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
            for value in g.values:
                said = [f"{section.replace('_', ' ')} {', '.join(ids[value])}" for section, ids in g.flips.items() if ids.get(value)]
                if said:
                    lines.append(f"    {value}: " + "; ".join(said))
                else:
                    lines.append(f"    {value}: — none of the conclusions " + ("above" if said_before else "below"))
                said_before = said_before or bool(said)
        if still and groups:
            lines.append(f"  (from {still} other test patient(s), nothing differs)")
    lines.append(f"{len(found)} thresholds; {flipping} of them flip a conclusion from some test's patient")
    return "\n".join(visible(line) for line in lines)


def save(kb, found: list[Threshold], path) -> int:
    """Write the boundary patients with their current outcomes as a rule-test file; returns the
    number of boundary tests written."""
    import yaml
    bases: dict[str, dict] = {}
    tests: list[dict] = []
    names: set[str] = set()
    for th in found:
        for g in th.groups:
            base_name, base_file, _ = g.tests[0]
            base = f"base: {base_name} ({base_file})"
            for text, record, out in g.patients:
                name = f"{th.attribute} = {text} from {base_name} ({base_file})"  # unique: a file's test names are
                if name in names:
                    continue
                names.add(name)
                bases.setdefault(base, {k: v for k, v in g.base.items() if k != "id"})
                over = {k: v for k, v in record.items() if k != "id" and bases[base].get(k) != v}
                removed = {k: None for k in bases[base] if k not in record}
                tests.append({"test": name, "extends": base, "patient": {**over, **removed}, **out})
    entries = [{"test": name, "source": "oncologic test --boundaries", "patient": _plain(record)}
               for name, record in bases.items()]
    data = {"tests": entries + [{**t, "patient": _plain(t["patient"])} for t in tests]}
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Boundary patients written by `oncologic test --boundaries --save`: the outcomes as the\n"
                "# knowledge base concluded them when the file was written.\n")
        yaml.safe_dump(data, f, sort_keys=False, allow_unicode=True, default_flow_style=None, width=110)
    return len(tests)


def _plain(value):
    """A record's value as YAML can write it (the reader's Written integers as numbers)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return getattr(value, "value", value) if type(value).__name__ == "Written" else value
