"""Patient records: load (JSON, YAML, JSON Lines), validate against the declared attributes,
normalise units and dates, derive attributes. What a Patient becomes for the engine is
:func:`oncologic.compile.facts.patient_facts`.

An absent attribute is unknown, never false; ``null`` counts as absent. Every problem is a
:class:`~oncologic.errors.PatientError` that names the file and the attribute.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..values import Record
from ..lang import nodes as n
from ..lang import units
from ..model.kb import CheckedKB
from ..errors import PatientError
from .limits import MAX_DEPTH, MAX_DIGITS, MAX_LIST_ITEMS, MAX_VALUES
from .reading import Refused, Written, read_entries

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits: what the message asks for


@dataclass(eq=False, repr=False)
class Patient(Record):
    """A validated record. ``values`` are normalised (durations in days, lengths in mm,
    dates as ISO text, sets as frozensets); ``given`` keeps what the record said."""

    id: str
    source: str
    values: dict[str, Any]
    given: dict[str, Any] = field(default_factory=dict)
    derived: dict[str, tuple[str, str]] = field(default_factory=dict)  # attr -> (later, earlier)
    # read from FHIR: attribute -> its origins ({"resource", "element", "system", "code", "date"})
    provenance: dict[str, list[dict]] = field(default_factory=dict)


def _show(value: Any) -> str:
    """A value as a message quotes it: JSON, at most 80 characters."""
    if isinstance(value, Written):
        return value.text
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _plain(value: Any) -> Any:
    """A raw value with YAML's :class:`Written` integers as the numbers they are."""
    if isinstance(value, Written):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")
_SCALARS = (str, bool, int, float, Written, dt.date, type(None))


def _suggest(word: str, choices, labels=None) -> str:
    """`` (did you mean 'sclc'?)`` for a value, attribute or item the record misspells, or "".
    As for rule files (:func:`oncologic.model.similar.similar`): a name that differs only in
    case first (values are case-sensitive), then what a label says (``labels``: each choice's
    ``(lang, text)`` pairs; ``small_cell`` → ``sclc``, "small cell lung cancer"), then spelling."""
    from ..model.similar import similar  # an error path only: not at import
    labels = labels or {}
    found = similar(str(word), {c: [text for _, text in labels.get(c, ())] for c in choices}, n=1)
    return f" (did you mean '{found[0][0]}'?)" if found else ""


def _value_labels(attr) -> dict:
    """An attribute's value labels by value (``value sclc label en ... zh ...``)."""
    return dict(attr.values) if attr is not None else {}


def _range_text(spec: n.TypeSpec) -> str:
    unit = units.canonical_unit(spec.kind) or ""
    if spec.low is not None and spec.high is not None:
        return f" from {units.tidy(spec.low.value)}{unit} to {units.tidy(spec.high.value)}{unit}"
    if spec.low is not None:
        return f" of at least {units.tidy(spec.low.value)}{unit}"
    if spec.high is not None:
        return f" of at most {units.tidy(spec.high.value)}{unit}"
    return ""


class Validator:
    """``check_agreement``: a duration given beside the two dates it derives from must agree
    with them (to within a day); off only for the engine's own what-if variants of a record
    (:mod:`oncologic.reason.suggest` sets ``tfi`` and keeps the dates)."""

    def __init__(self, kb: CheckedKB, source: str, line: int | None = None, check_agreement: bool = True):
        self.kb = kb
        self.source = source
        self.line = line
        self.check_agreement = check_agreement

    def fail(self, attribute: str | None, message: str):
        raise PatientError(self.source, message, attribute, line=self.line)

    def screen(self, raw: dict) -> None:
        """Before any value is validated: walk the record (iteratively, in order) and refuse
        what the reader refused (:class:`Refused`), values of a type no record holds, lone
        surrogates, integers of more than ``MAX_DIGITS`` digits, lists longer than
        ``MAX_LIST_ITEMS``, nesting deeper than ``MAX_DEPTH`` and more than ``MAX_VALUES``
        values (shared lists counted each time they occur)."""
        todo: list[tuple[Any, str | None, int]] = [(raw, None, 1)]
        seen = 0
        while todo:
            value, path, depth = todo.pop()
            seen += 1
            if seen > MAX_VALUES:
                self.fail(None, f"holds more than {MAX_VALUES} values; a record is far smaller")
            if isinstance(value, Refused):
                self.fail(path, value.message)
            if isinstance(value, str):
                self._text(value, path)
            elif isinstance(value, dict) or isinstance(value, (list, tuple)):
                if depth > MAX_DEPTH:
                    self.fail(path, f"nests lists and objects deeper than {MAX_DEPTH} levels")
                if isinstance(value, dict):
                    children = []
                    for key, child in value.items():
                        key = str(key)
                        self._text(key, path)
                        children.append((child, key if path is None else f"{path}.{key}", depth + 1))
                else:
                    if len(value) > MAX_LIST_ITEMS:
                        self.fail(path, f"holds {len(value)} items; a list holds at most {MAX_LIST_ITEMS}")
                    children = [(child, f"{path}[{i}]", depth + 1) for i, child in enumerate(value)]
                todo.extend(reversed(children))
            elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** MAX_DIGITS:
                self.fail(path, f"a number of {len(str(abs(value)))} digits; a record's numbers have at most {MAX_DIGITS}")
            elif not isinstance(value, _SCALARS):
                self.fail(path, f"a value of type {type(value).__name__} is not one a record holds "
                                "(text, numbers, true/false, null, lists and objects)")

    def _text(self, text: str, path: str | None) -> None:
        bad = _SURROGATE.search(text)
        if bad:
            self.fail(path, f"holds a lone surrogate (\\u{ord(bad.group()):04x} at character {bad.start() + 1}), "
                            "which is not a Unicode character: the text is broken there")

    def record(self, raw: Any) -> Patient:
        if not isinstance(raw, dict):
            self.fail(None, f"a patient record is an object of attribute: value pairs, not {_kind_of(raw)}")
        self.screen(raw)
        values: dict[str, Any] = {}
        given: dict[str, Any] = {}
        builtin_id = None
        for key, value in raw.items():
            key = str(key)
            attr = self.kb.attributes.get(key)
            if attr is None and key == "id":
                # the record's id is built in (CONTRACT §1: id, string, required): a knowledge base
                # that declares no `attribute id` still reads it; it is then no fact for the rules
                builtin_id = None if value is None else self.value(value, _ID, key)
                continue
            if attr is None:
                self.fail(key, f"unknown attribute{_suggest(key, self.kb.attributes, {a: v.labels for a, v in self.kb.attributes.items()})}; "
                               f"the knowledge base declares: {', '.join(sorted(self.kb.attributes))}")
            if value is None:
                continue  # null = unknown
            values[key] = self.value(value, attr.type, key)
            given[key] = _plain(value)
        for attr in self.kb.attributes.values():
            if attr.required and attr.name not in values:
                self.fail(attr.name, "is required")
        derived = {}
        for attr in self.kb.attributes.values():
            if attr.derive and all(s in values for s in attr.derive):
                if attr.name in values and not self.check_agreement:
                    continue  # given, and trusted as given
                later, earlier = attr.derive
                days = (dt.date.fromisoformat(values[later]) - dt.date.fromisoformat(values[earlier])).days
                if days < 0:
                    self.fail(later, f"{values[later]} is before {earlier} {values[earlier]}, so '{attr.name}' would be negative")
                if attr.name in values:
                    # written in days it must be the dates' difference; in weeks, months or years
                    # (3mo = 91.3 d) within a day of it
                    written = given[attr.name]
                    unit = units.parse_quantity(written, attr.type.kind)[1] if isinstance(written, str) else None
                    if abs(values[attr.name] - days) >= (1 if unit not in (None, "d") else 1e-9):
                        kind = attr.type.kind
                        self.fail(attr.name, f"{_show(given[attr.name])} ({units.show(values[attr.name], kind)}) contradicts "
                                             f"{later} - {earlier} = {units.show(days, kind)} ({later} {values[later]}, "
                                             f"{earlier} {values[earlier]}); give '{attr.name}' or the two dates, or make them agree")
                    continue  # they agree: the value as given is kept
                values[attr.name] = self._in_range(days, attr.type, attr.name)
                derived[attr.name] = attr.derive
        pid = values.get("id", builtin_id)
        if pid is None:
            self.fail("id", "is required")
        return Patient(str(pid), self.source, values, given, derived)

    def value(self, value: Any, spec: n.TypeSpec, name: str) -> Any:
        kind = spec.kind
        if isinstance(value, Written):  # a YAML integer written as 0x1F, 0o17, +5
            if kind == "string":
                self.fail(name, f"{value.text} is read by YAML as the number {value.value}, not as the text "
                                f"'{value.text}'; write it in quotes: \"{value.text}\"")
            value = value.value
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(name, f"{value} is not a number a record can hold")
        if kind == "enum":
            if not isinstance(value, str) or value not in spec.values:
                labels = _value_labels(self.kb.attributes.get(name))
                self.fail(name, f"{_show(value)} is not allowed{_suggest(value, spec.values, labels) if isinstance(value, str) else ''}; "
                                f"expected one of: {', '.join(spec.values)}")
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                self.fail(name, f"{_show(value)} is not true or false")
            return value
        if kind == "string":
            if isinstance(value, str):
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)  # a whole number is its decimal text, exactly as written
            self.fail(name, f"{_show(value)} is not text; write it in quotes")
        if kind == "date":
            if isinstance(value, dt.datetime):
                value = value.date()
            if isinstance(value, dt.date):
                return value.isoformat()
            try:
                if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
                    raise ValueError  # YYYY-MM-DD only: not a week date (2026-W03-1) nor other digits
                return dt.date.fromisoformat(value).isoformat()
            except ValueError:
                self.fail(name, f"{_show(value)} is not a date; write YYYY-MM-DD, e.g. \"2026-03-01\"")
        if kind in ("int", "number"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(name, f"{_show(value)} is not a number; expected {'a whole number' if kind == 'int' else 'a number'}{_range_text(spec)}")
            if kind == "int" and isinstance(value, float):
                if not value.is_integer():
                    self.fail(name, f"{value} is not a whole number")
                value = int(value)
            return self._in_range(value, spec, name)
        if kind in units.UNITS:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                example = {"duration": '"45d"', "length": '"4.5cm"', "percent": '"25%"'}[kind]
                self.fail(name, f"expected a {kind}, e.g. {example}")
            if isinstance(value, str) and len(value) > 40:
                self.fail(name, f"{_show(value)} is not a {kind}: too long")
            try:
                number, unit = units.parse_quantity(value, kind) if isinstance(value, str) else (value, None)
                if number < 0:
                    raise ValueError(f"{value} is negative; a {kind} cannot be")
                canonical = units.to_canonical(number, unit, kind)
            except ValueError as err:
                self.fail(name, str(err))
            if not math.isfinite(canonical) or abs(canonical) >= 10 ** MAX_DIGITS:
                self.fail(name, f"{_show(value)} is too large a {kind}")
            if kind == "percent" and unit is None and 0 < number < 1:
                self.fail(name, f"{_show(value)} is a bare number between 0 and 1: a fraction ({units.tidy(number * 100)}%) "
                                f"or {units.tidy(number)}%? Write the unit to say which: \"{units.tidy(number * 100)}%\" "
                                f"or \"{units.tidy(number)}%\"")
            return self._in_range(canonical, spec, name)
        if kind in ("set", "item_set"):
            if not isinstance(value, list):
                self.fail(name, f"expected a list, e.g. [] for none; got {_show(value)}")
            allowed = spec.values if kind == "set" else tuple(self.kb.items)
            for x in value:
                if not isinstance(x, str) or x not in allowed:
                    what = "an allowed value" if kind == "set" else "a known drug or class"
                    listing = f"; expected some of: {', '.join(allowed)}" if kind == "set" else ""
                    labels = (_value_labels(self.kb.attributes.get(name)) if kind == "set"
                              else {i: item.labels for i, item in self.kb.items.items()})
                    self.fail(name, f"{_show(x)} is not {what}{_suggest(x, allowed, labels) if isinstance(x, str) else ''}{listing}")
            return frozenset(value)
        if kind == "record_list":
            if not isinstance(value, list):
                self.fail(name, "expected a list of records")
            records = []
            names = [f.name for f in spec.fields]
            for index, rec in enumerate(value):
                where = f"{name}[{index}]"
                if not isinstance(rec, dict):
                    self.fail(where, "expected a record {" + ", ".join(f'"{f}": ...' for f in names) + "}")
                for key in rec:
                    if key not in names:
                        self.fail(f"{where}.{key}", f"unknown field{_suggest(key, names)}; expected: {', '.join(names)}")
                out = {}
                for fld in spec.fields:
                    if rec.get(fld.name) is None:
                        self.fail(f"{where}.{fld.name}", "is required")
                    out[fld.name] = self.value(rec[fld.name], fld.type, f"{where}.{fld.name}")
                records.append(out)
            return tuple(records)
        raise AssertionError(kind)  # pragma: no cover

    def _in_range(self, value, spec: n.TypeSpec, name: str):
        low = spec.low.value if spec.low is not None else None
        high = spec.high.value if spec.high is not None else None
        if (low is not None and value < low) or (high is not None and value > high):
            shown = units.show(value, spec.kind)
            self.fail(name, f"{shown} is out of range; expected {('a whole number' if spec.kind == 'int' else 'a ' + spec.kind)}{_range_text(spec)}")
        return value


def _kind_of(value: Any) -> str:
    return {list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(type(value), "a " + type(value).__name__)


_ID = n.TypeSpec("string")  # the type of a record's id when the knowledge base declares none


def validate(raw: Any, kb: CheckedKB, source: str = "<record>", line: int | None = None,
             check_agreement: bool = True) -> Patient:
    """A raw record (a dict as JSON or YAML gives it) validated into a :class:`Patient`, or a
    :class:`PatientError` naming ``source`` (and ``line``) and the attribute."""
    return Validator(kb, source, line, check_agreement).record(raw)


def read_records(path: str | Path) -> Iterator[tuple[str, Any]]:
    """The raw records in a file: one for .json/.yaml/.yml, one a line for .jsonl; raises the
    :class:`PatientError` of the first record that cannot be read (see
    :func:`oncologic.records.reading.read_entries` to read past it)."""
    for where, _, raw in read_entries(path):
        if isinstance(raw, PatientError):
            raise raw
        yield where, raw
