"""Patient records: load (JSON, YAML, JSON Lines), validate against the declared attributes,
normalise units and dates, derive attributes. What a Patient becomes for the engine is
:func:`oncologic.compile.facts.patient_facts`.

An absent attribute is unknown, never false; ``null`` counts as absent. Every problem is a
:class:`~oncologic.errors.PatientError` that names the file and the attribute.
"""
from __future__ import annotations

import datetime as dt
import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..values import Record
from ..lang import nodes as n
from ..lang import units
from ..model.kb import CheckedKB
from ..errors import PatientError


@dataclass(eq=False, repr=False)
class Patient(Record):
    """A validated record. ``values`` are normalised (durations in days, lengths in mm,
    dates as ISO text, sets as frozensets); ``given`` keeps what the record said."""

    id: str
    source: str
    values: dict[str, Any]
    given: dict[str, Any] = field(default_factory=dict)
    derived: dict[str, tuple[str, str]] = field(default_factory=dict)  # attr -> (later, earlier)


def _suggest(word: str, choices) -> str:
    choices = list(choices)
    same = [c for c in choices if c.lower() == str(word).lower()]  # values are case-sensitive
    close = same or difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


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
    def __init__(self, kb: CheckedKB, source: str):
        self.kb = kb
        self.source = source

    def fail(self, attribute: str | None, message: str):
        raise PatientError(self.source, message, attribute)

    def record(self, raw: Any) -> Patient:
        if not isinstance(raw, dict):
            self.fail(None, f"a patient record is an object of attribute: value pairs, not {type(raw).__name__}")
        values: dict[str, Any] = {}
        given: dict[str, Any] = {}
        for key, value in raw.items():
            key = str(key)
            attr = self.kb.attributes.get(key)
            if attr is None:
                self.fail(key, f"unknown attribute{_suggest(key, self.kb.attributes)}; "
                               f"the knowledge base declares: {', '.join(sorted(self.kb.attributes))}")
            if value is None:
                continue  # null = unknown
            values[key] = self.value(value, attr.type, key)
            given[key] = value
        for attr in self.kb.attributes.values():
            if attr.required and attr.name not in values:
                self.fail(attr.name, "is required")
        derived = {}
        for attr in self.kb.attributes.values():
            if attr.derive and attr.name not in values and all(s in values for s in attr.derive):
                later, earlier = attr.derive
                days = (dt.date.fromisoformat(values[later]) - dt.date.fromisoformat(values[earlier])).days
                if days < 0:
                    self.fail(later, f"{values[later]} is before {earlier} {values[earlier]}, so '{attr.name}' would be negative")
                values[attr.name] = self._in_range(days, attr.type, attr.name)
                derived[attr.name] = attr.derive
        pid = values.get("id")
        if pid is None:
            self.fail("id", "is required")
        return Patient(str(pid), self.source, values, given, derived)

    def value(self, value: Any, spec: n.TypeSpec, name: str) -> Any:
        kind = spec.kind
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(name, f"{value} is not a number a record can hold")
        if kind == "enum":
            if not isinstance(value, str) or value not in spec.values:
                self.fail(name, f"{json.dumps(value, ensure_ascii=False)} is not allowed{_suggest(value, spec.values)}; "
                                f"expected one of: {', '.join(spec.values)}")
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                self.fail(name, f"{json.dumps(value, ensure_ascii=False)} is not true or false")
            return value
        if kind == "string":
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                self.fail(name, "expected text")
            return str(value)
        if kind == "date":
            if isinstance(value, dt.datetime):
                value = value.date()
            if isinstance(value, dt.date):
                return value.isoformat()
            try:
                if not isinstance(value, str) or len(value) != 10:
                    raise ValueError
                return dt.date.fromisoformat(value).isoformat()
            except ValueError:
                self.fail(name, f"{json.dumps(value, ensure_ascii=False, default=str)} is not a date; write YYYY-MM-DD, e.g. \"2026-03-01\"")
        if kind in ("int", "number"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(name, f"{json.dumps(value, ensure_ascii=False, default=str)} is not a number; expected {'a whole number' if kind == 'int' else 'a number'}{_range_text(spec)}")
            if kind == "int" and isinstance(value, float):
                if not value.is_integer():
                    self.fail(name, f"{value} is not a whole number")
                value = int(value)
            return self._in_range(value, spec, name)
        if kind in units.UNITS:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                example = {"duration": '"45d"', "length": '"4.5cm"', "percent": '"25%"'}[kind]
                self.fail(name, f"expected a {kind}, e.g. {example}")
            try:
                number, unit = units.parse_quantity(value, kind) if isinstance(value, str) else (value, None)
                if number < 0:
                    raise ValueError(f"{value} is negative; a {kind} cannot be")
                canonical = units.to_canonical(number, unit, kind)
            except ValueError as err:
                self.fail(name, str(err))
            return self._in_range(canonical, spec, name)
        if kind in ("set", "item_set"):
            if not isinstance(value, list):
                self.fail(name, f"expected a list, e.g. [] for none; got {json.dumps(value, ensure_ascii=False, default=str)}")
            allowed = spec.values if kind == "set" else tuple(self.kb.items)
            for x in value:
                if not isinstance(x, str) or x not in allowed:
                    what = "an allowed value" if kind == "set" else "a known drug or class"
                    listing = f"; expected some of: {', '.join(allowed)}" if kind == "set" else ""
                    self.fail(name, f"{json.dumps(x, ensure_ascii=False)} is not {what}{_suggest(x, allowed)}{listing}")
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


def validate(raw: Any, kb: CheckedKB, source: str = "<record>") -> Patient:
    return Validator(kb, source).record(raw)


def read_records(path: str | Path) -> Iterator[tuple[str, Any]]:
    """The raw records in a file: one for .json/.yaml/.yml, one a line for .jsonl."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PatientError(name, "no such file") from None
    except IsADirectoryError:
        raise PatientError(name, "is a folder, not a patient record") from None
    except UnicodeDecodeError:
        raise PatientError(name, "is not UTF-8 text") from None
    except OSError as err:
        raise PatientError(name, f"cannot be read: {err.strerror or err}") from None
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield f"{name}:{number}", _json(line, f"{name}:{number}")
        return
    if suffix in (".yaml", ".yml"):
        import yaml  # only YAML records need it

        try:
            yield name, yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise PatientError(name, f"is not valid YAML{where}: {getattr(err, 'problem', err)}") from None
        return
    if suffix == ".json":
        yield name, _json(text, name)
        return
    raise PatientError(name, "unknown file type; a patient record is .json, .yaml/.yml, or .jsonl for a cohort")


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise PatientError(where, f"is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from None
