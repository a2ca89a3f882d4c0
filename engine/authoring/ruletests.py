"""Rule tests: ``*.tests.yaml`` (or ``*.tests.yml``) files beside the rule files, run against the knowledge base
(``oncologic test``; the format is docs/rule-tests.md).

In: a knowledge-base folder (default: the shipped ``facts/``) and an optional PATTERN. The test
files under the folder are read with the records' YAML 1.2 safe loader
(:func:`oncologic.records.reading.parse_yaml`, with the node tree for line numbers); each test's
patient is merged (file ``patient``, ``extends``, ``patient_file``, ``null`` removes) and
validated as ``recommend`` validates a record; every id an expectation names must be one the
knowledge base declares.

:func:`select` (``oncologic test PATTERN``) takes the test files whose path contains PATTERN, or
when none does the tests whose name does; there a test must state an expectation.

Out: a :class:`Report` — per test, ``ok`` and its failures (section, expected, actual, missing
from the answer, not expected, gradings that differ, the why-not of each expected id that is
absent, the rules that concluded each id not expected) — and the rule coverage (the rules no
test's patient reaches: a rule is reached when its node is certainly true for the patient; with a
PATTERN, of the rule files beside the selected test files). :func:`render_text` and
:meth:`Report.to_dict` write it.

Errors: :class:`TestFileError` (an :class:`~oncologic.errors.OncologicError`: exit 2) for every
problem of the test files at once — malformed YAML, an unknown key, an unknown id (with a
did-you-mean; an id in the wrong section), a test with no expectation, an invalid grading, an
invalid patient (a file-level value once, at its line), a PATTERN that selects nothing — each
naming the file, the line and the test (:meth:`TestFileError.errors`: the same as records).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..values import Record
from ..errors import OncologicError, PatientError, visible

SUFFIX = ".tests.yaml"  # the name written (--boundaries --save, the messages)
SUFFIXES = (SUFFIX, ".tests.yml")  # the names read
# a name an author may mean as a rule-test file but that is not read as one (warned of)
_NEAR_MISS = re.compile(r"(?i)(?:^|[._-])tests?\.(?:ya?ml|json)$")
SECTIONS = ("recommended", "possible", "not_recommended", "possibly_not_recommended", "contraindicated",
            "concepts", "missing", "verdicts")
GRADED = ("recommended", "possible", "not_recommended", "possibly_not_recommended")
REGIMEN_SECTIONS = GRADED + ("contraindicated",)
TEST_KEYS = ("test", "source", "patient", "extends", "patient_file") + SECTIONS
FILE_KEYS = ("patient", "sets", "tests")
GRADING_KEYS = ("strength", "evidence", "consensus", "flags", "setting", "rule", "missing")
STRENGTHS = ("strong", "moderate", "weak")
LEVELS = ("I", "II", "III", "IV", "V")
FLAG_KINDS = ("already_received", "conflict", "outside_population")  # CONTRACT §4 flags
VERDICTS = ("holds", "fails", "undecided")
_CONSENSUS = re.compile(r"^([0-9]+(?:\.[0-9]+)?)%$")


class TestFileError(OncologicError):
    """Bad input in rule-test files: every problem found, one a line (``FILE:LINE: ...``)."""

    __test__ = False  # not a pytest class

    def __init__(self, problems: list[str], summary: bool = True):
        self.problems = problems
        super().__init__("\n".join(problems) + (f"\n{len(problems)} problem(s) in the rule-test files" if summary else ""))

    def errors(self) -> list[dict]:
        """Each problem as ``{"file", "line", "test", "message"}`` (None where it names none)."""
        out = []
        for problem in self.problems:
            match = re.match(r"(.*?):([0-9]+)(?::[0-9]+)?: (.*)", problem, re.S)
            file, line, message = (match.group(1), int(match.group(2)), match.group(3)) if match else (None, None, problem)
            if not match and re.match(r"\S+\.tests\.ya?ml: ", problem):
                file, _, message = problem.partition(": ")
            named = re.match(r"test '(.*?)'(: | states )", message, re.S)
            if named and named.group(2) == ": ":
                message = message[named.end():]
            out.append({"file": file, "line": line, "test": named.group(1) if named else None, "message": message})
        return out


# -- the tests as read -------------------------------------------------------------------------

@dataclass(eq=False, repr=False)
class Expectation(Record):
    """One section of a test: ``mode`` exact or includes; ``ids`` id → grading spec (a dict of
    the keys to check, possibly empty) or, for verdicts, the verdict; ``excludes`` ids."""

    section: str
    line: int
    mode: str
    ids: dict[str, Any]
    excludes: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)  # id -> its grading as written


@dataclass(eq=False, repr=False)
class RuleTest(Record):
    __test__ = False

    name: str
    file: str
    line: int
    record: dict
    expectations: list[Expectation]
    source: str | None = None
    patient: Any = None  # the validated Patient


@dataclass(eq=False, repr=False)
class Failure(Record):
    section: str
    line: int
    mode: str
    expected: list[str]
    actual: list[str]
    missing: list[str]
    unexpected: list[str]
    gradings: list[dict] = field(default_factory=list)  # {"id", "expected", "actual"}
    why_not: dict[str, list[str]] = field(default_factory=dict)
    concluded_by: dict[str, list[str]] = field(default_factory=dict)  # each unexpected id: the rules that concluded it

    def to_dict(self) -> dict:
        return {"section": self.section, "line": self.line, "mode": self.mode, "expected": self.expected,
                "actual": self.actual, "missing": self.missing, "unexpected": self.unexpected,
                "gradings": self.gradings, "why_not": self.why_not, "concluded_by": self.concluded_by}


@dataclass(eq=False, repr=False)
class Outcome(Record):
    test: RuleTest
    failures: list[Failure]

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(eq=False, repr=False)
class Report(Record):
    outcomes: list[Outcome]
    rules: int
    unreached: list[tuple[str, str, int]]  # (rule id, file, line)
    coverage_required: bool = False
    rule_files: list[str] | None = None  # the coverage is of these rule files only (a PATTERN); None: all
    selection: str | None = None  # what a PATTERN selected ("3 tests in files matching 'local'")

    @property
    def passed(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def failed(self) -> int:
        return len(self.outcomes) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not (self.coverage_required and self.unreached)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "passed": self.passed, "failed": self.failed,
                "tests": [{"name": o.test.name, "file": o.test.file, "line": o.test.line, "ok": o.ok,
                           "failures": [f.to_dict() for f in o.failures]} for o in self.outcomes],
                "coverage": {"rules": self.rules, "reached": self.rules - len(self.unreached),
                             "unreached": [{"rule": r, "file": f, "line": l} for r, f, l in self.unreached],
                             **({"files": self.rule_files} if self.rule_files is not None else {})},
                **({"selection": self.selection} if self.selection else {})}


# -- finding and reading ------------------------------------------------------------------------

def kb_folder(kb_dir) -> tuple[Path, str]:
    """The knowledge-base folder and how its paths are shown (``facts`` for the shipped one),
    as the compiler shows rule files."""
    from ..compile.build import _folder
    return _folder(kb_dir)


def is_test_file(name: str) -> bool:
    """Whether a file name is one of a rule-test file (``*.tests.yaml`` or ``*.tests.yml``)."""
    return name.endswith(SUFFIXES)


def stem(name: str) -> str:
    """A rule-test file's name without its suffix (``sclc.tests.yml`` → ``sclc``)."""
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


def test_files(kb_dir=None) -> list[tuple[Path, str]]:
    """Every ``*.tests.yaml`` and ``*.tests.yml`` under the knowledge-base folder: (path, shown
    path), sorted."""
    directory, display = kb_folder(kb_dir)
    found = sorted(p for p in directory.rglob("*") if p.is_file() and is_test_file(p.name))
    return [(p, os.path.join(display, str(p.relative_to(directory)))) for p in found]


def near_misses(kb_dir=None) -> list[str]:
    """A warning for each file under the knowledge-base folder whose name looks meant as a
    rule-test file but is not read as one (``sclc.test.yaml``, ``sclc.tests.json``,
    ``sclc_tests.yaml``, ``sclc.Tests.YAML``...), naming the file and the name to give it."""
    directory, display = kb_folder(kb_dir)
    out = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        match = _NEAR_MISS.search(path.name)
        if match is None or is_test_file(path.name):
            continue
        name = path.name[:match.start()] or "NAME"
        shown = os.path.join(display, str(path.relative_to(directory)))
        out.append(f"warning: {shown}: not read as rule tests: name it {name}{SUFFIX}")
    return out


class _Lines:
    """The line of every key of a mapping and every entry of a list, from the composed nodes."""

    def __init__(self, node, data):
        self.table: dict[int, Any] = {}
        self._walk(node, data)

    def _walk(self, node, data) -> None:
        from yaml.nodes import MappingNode, SequenceNode
        if isinstance(node, MappingNode) and isinstance(data, dict):
            self.table[id(data)] = {k.value: k.start_mark.line + 1 for k, _ in node.value}
            for k, v in node.value:
                self._walk(v, data.get(k.value))
        elif isinstance(node, SequenceNode) and isinstance(data, list):
            self.table[id(data)] = [c.start_mark.line + 1 for c in node.value]
            for c, d in zip(node.value, data):
                self._walk(c, d)

    def of(self, container, key, default: int) -> int:
        lines = self.table.get(id(container))
        try:
            return lines[key] if lines is not None else default
        except (KeyError, IndexError, TypeError):
            return default


class Vocabulary:
    """The ids an expectation may name, with labels for the did-you-mean."""

    def __init__(self, compiled):
        checked = compiled.checked
        self.compiled = compiled
        self.items = {name: [t for _, t in item.labels] for name, item in checked.items.items()}
        self.regimens = sorted({compiled.nodes[k].name for k in compiled.regimens}
                               | {n_id for r in checked.rules if r.kind == "recommendation" for n_id in _regimen_ids(r)})
        self.concepts = {name: [t for r in checked.rules_for(name) for _, t in r.labels] for name in checked.concepts}
        self.attributes = {name: [t for _, t in a.labels] for name, a in checked.attributes.items()}
        self.rules = {r.id: [] for r in checked.rules}
        self.settings = sorted(name for name, kind in checked.concepts.items() if kind == "setting")
        levels = {r.evidence for r in checked.rules if r.evidence}
        for grading in checked.gradings:
            from ..model.checks import grading_levels
            levels |= grading_levels(grading, [])
        self.levels = sorted(set(LEVELS) | {str(v) for v in levels})

    def kind_of(self, ident: str) -> str | None:
        """What ``ident`` is, when it is an id of some section: the section it belongs under."""
        if ident in self.regimens or ident in self.items:
            return "a recommendation id or item: put it under recommended:, possible:, not_recommended:, " \
                   "possibly_not_recommended: or contraindicated:"
        if ident in self.concepts:
            kind = self.compiled.checked.concepts.get(ident, "concept")
            return f"a {kind}: put it under concepts: (or verdicts:)"
        if ident in self.attributes:
            return "an attribute: put it under missing: (a test's patient gives its value)"
        if ident in self.rules:
            return "a rule id: put it under verdicts:"
        return None

    def problem(self, section: str, ident: str) -> str | None:
        """Why ``ident`` cannot be named in ``section``, or None."""
        from ..model.similar import did_you_mean
        if section in REGIMEN_SECTIONS:
            if ident in self.regimens or ident in self.items:
                return None
            parts = ident.split("+")
            if len(parts) > 1 and all(p in self.items for p in parts):
                ordered = "+".join(sorted(parts))
                return None if ordered == ident else \
                    f"'{ident}': a regimen id lists its items in alphabetical order: '{ordered}'"
            table = {**{r: [] for r in self.regimens}, **self.items}
            what = "a recommendation id or item"
        elif section == "concepts":
            if ident in self.concepts:
                return None
            table, what = self.concepts, "a concept or setting"
        elif section == "missing":
            if ident in self.attributes:
                return None
            table, what = self.attributes, "an attribute"
        else:  # verdicts: what explain takes
            if ident in self.concepts or ident in self.regimens or ident in self.rules:
                return None
            table = {**self.concepts, **{r: [] for r in self.regimens}, **self.rules}
            what = "a concept, setting, recommendation id or rule id"
        elsewhere = self.kind_of(ident)
        if elsewhere:
            return f"'{ident}' is {elsewhere}"
        return f"unknown id '{ident}': not {what} of this knowledge base{did_you_mean(ident, table)}"


def _regimen_ids(rule) -> list[str]:
    from ..lang.nodes import regimen_id
    return [regimen_id(items) for items in rule.regimens]


@dataclass(eq=False, repr=False)
class Selection(Record):
    """The tests a PATTERN selects: ``by`` "file" (the test files whose path contains it),
    "name" (no file path does: the tests whose name does) or None (no pattern); ``files`` the
    test files in scope (shown paths); ``warnings`` one line each (a test file with no test, a
    file named almost as a test file, no test file at all)."""

    tests: list[RuleTest]
    pattern: str | None = None
    by: str | None = None
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str | None:
        if not self.pattern:
            return None
        count = f"{len(self.tests)} test{'s' if len(self.tests) != 1 else ''}"
        return f"{count} in files matching '{self.pattern}'" if self.by == "file" else \
            f"{count} named with '{self.pattern}' (no test file's path contains it)"


def select(kb, kb_dir=None, pattern: str | None = None, expectations_required: bool = True) -> Selection:
    """The rule tests ``oncologic test PATTERN`` runs: those of the test files whose path
    (relative to the knowledge-base folder, or with the folder's name) contains ``pattern``; when
    no file path does, those whose name contains it. ``expectations_required``: a selected test
    that states no expectation is bad input, unless another test extends it (then it is a
    starting patient, not run). Raises :class:`TestFileError` with every problem of every file
    read, or when ``pattern`` selects no test."""
    vocabulary = Vocabulary(kb.compiled)
    directory, display = kb_folder(kb_dir)
    files = test_files(kb_dir)

    def relative(path: Path) -> list[str]:
        rel = str(path.relative_to(directory))
        return [rel, os.path.join(os.path.basename(os.path.normpath(display)), rel)]

    by = None
    if pattern:
        by = "file" if any(pattern in r for path, _ in files for r in relative(path)) else "name"
    problems: list[str] = []
    chosen = Selection([], pattern, by)
    chosen.warnings += near_misses(kb_dir)
    if not files:
        chosen.warnings.append(f"warning: no rule tests under {display} (write NAME{SUFFIX} beside a .rules file: "
                               "docs/rule-tests.md)")
    for path, shown in files:
        file_in = not pattern or (by == "file" and any(pattern in r for r in relative(path)))
        if file_in:
            chosen.files.append(shown)
        name_pattern = pattern if by == "name" else None
        chosen.tests += _read_file(kb, vocabulary, path, shown, file_in or by == "name", name_pattern, problems,
                                   expectations_required, chosen.warnings if file_in else [])
    if problems:
        raise TestFileError(sorted(dict.fromkeys(problems), key=_place))
    if pattern and not chosen.tests:
        few = [shown for _, shown in files[:4]]
        more = f" and {len(files) - len(few)} more" if len(files) > len(few) else ""
        raise TestFileError([f"no rule test matches '{pattern}': no test file's path and no test's name contains it"
                             + (f" (the test files: {', '.join(few)}{more})" if files else " (no *.tests.yaml file here)")],
                            summary=False)
    return chosen


def load_tests(kb, kb_dir=None, pattern: str | None = None, expectations_required: bool = False) -> list[RuleTest]:
    """Every rule test under the knowledge-base folder (as :func:`select`; a PATTERN that
    selects nothing gives an empty list), its patient merged and validated against ``kb`` (a
    KnowledgeBase). Raises :class:`TestFileError` with every problem of every file read."""
    try:
        return select(kb, kb_dir, pattern, expectations_required).tests
    except TestFileError as err:
        if pattern and err.problems and err.problems[0].startswith("no rule test matches"):
            return []
        raise


def _place(problem: str) -> tuple:
    match = re.match(r"(.*?):([0-9]+):", problem)
    return (match.group(1), int(match.group(2))) if match else (problem, 0)


def _read_file(kb, vocabulary, path: Path, shown: str, in_scope: bool, pattern, problems: list[str],
               expectations_required: bool = False, warnings: list[str] | None = None) -> list[RuleTest]:
    from ..model.similar import did_you_mean
    from ..records.reading import parse_yaml
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        problems.append(f"{shown}: cannot be read: {err}")
        return []
    try:
        data, node = parse_yaml(text, shown, with_node=True)
    except PatientError as err:
        problems.append(_yaml_problem(visible(str(err)), shown, text))
        return []
    if data is None or (isinstance(data, dict) and data.get("tests") == []):
        if warnings is not None:
            warnings.append(f"warning: {shown}: no tests (the file states no test)")
        if data is None:
            return []
    if not isinstance(data, dict):
        problems.append(f"{shown}:1: a rule-test file is a mapping with 'tests' (and optionally 'patient', 'sets')")
        return []
    lines = _Lines(node, data)

    def bad(line: int, message: str, test: str | None = None) -> None:
        problems.append(visible(f"{shown}:{line}: " + (f"test '{test}': " if test else "") + message))

    for key in data:
        if key not in FILE_KEYS:
            bad(lines.of(data, key, 1), f"unknown key '{key}' (a file has {', '.join(FILE_KEYS)})"
                + did_you_mean(key, {k: [] for k in FILE_KEYS}))
    base = data.get("patient") or {}
    if not isinstance(base, dict):
        bad(lines.of(data, "patient", 1), "'patient' is a mapping of attribute values")
        base = {}
    sets = data.get("sets") or {}
    if not isinstance(sets, dict):
        bad(lines.of(data, "sets", 1), "'sets' is a mapping of named groups of expectations")
        sets = {}
    for name in sets:
        if name in vocabulary.regimens or name in vocabulary.items or name in vocabulary.concepts:
            bad(lines.of(sets, name, 1), f"set name '{name}' is an id the knowledge base declares; name the set otherwise")
    entries = data.get("tests")
    if not isinstance(entries, list):
        bad(lines.of(data, "tests", 1), "'tests' is a list of tests (each begins with '- test: NAME')")
        return []
    raw: dict[str, tuple[dict, int]] = {}
    for i, entry in enumerate(entries):
        line = lines.of(entries, i, 1)
        if not isinstance(entry, dict) or not isinstance(entry.get("test"), str) or not entry["test"].strip():
            bad(line, "a test is a mapping that begins with 'test: NAME'")
            continue
        if entry["test"] in raw:
            first = raw[entry["test"]][1]
            comment = any(re.search(r"test:\s*[^\s\"'].*?\s#", _source_line(text, at) or "") for at in (first, line))
            bad(line, f"test '{entry['test']}' is written twice (first at line {first}); names are unique within a file"
                + (" (# starts a YAML comment: quote the name)" if comment else ""))
            continue
        raw[entry["test"]] = (entry, line)

    merged: dict[str, dict | None] = {}
    base_line = lines.of(data, "patient", 1)
    base_origin = {key: (lines.of(base, key, base_line), None) for key in base}
    origin: dict[str, dict] = {}  # test name -> attribute -> (line, the test that writes it, None: the file's patient)
    extended = {e.get("extends") for e, _ in raw.values()}

    def record_of(name: str, chain: tuple = ()) -> dict | None:
        if name in merged:
            return merged[name]
        entry, line = raw[name]
        if name in chain:
            bad(line, f"'extends' goes round in a circle: {' -> '.join([*chain, name])}", name)
            return None
        if "extends" in entry:
            parent = entry["extends"]
            if parent not in raw:
                bad(lines.of(entry, "extends", line), f"extends '{parent}': no such test in this file"
                    + did_you_mean(str(parent), {k: [] for k in raw}), name)
                merged[name] = None
                return None
            start = record_of(parent, (*chain, name))
            if start is None:
                merged[name] = None
                return None
            where = dict(origin[parent])
        elif "patient_file" in entry:
            start = _patient_file(path, entry["patient_file"])
            if isinstance(start, str):
                bad(lines.of(entry, "patient_file", line), start, name)
                merged[name] = None
                return None
            where = {key: (lines.of(entry, "patient_file", line), name) for key in start}
        else:
            start = base
            where = dict(base_origin)
        over = entry.get("patient") or {}
        if not isinstance(over, dict):
            bad(lines.of(entry, "patient", line), "'patient' is a mapping of attribute values", name)
            merged[name] = None
            return None
        record = dict(start)
        for key, value in over.items():
            if value is None:
                record.pop(key, None)
                where.pop(key, None)
            else:
                record[key] = value
                where[key] = (lines.of(over, key, line), name)
        merged[name] = record
        origin[name] = where
        return record

    tests = []
    for name, (entry, line) in raw.items():
        record = record_of(name)
        for key in entry:
            if key not in TEST_KEYS:
                hint = did_you_mean(key, {k: [] for k in TEST_KEYS})
                if entry[key] is None and not hint:  # {test: a, b, ...}: 'b' is the rest of the name
                    hint = f"; if it is part of the name, {QUOTE_THE_NAME}"
                bad(lines.of(entry, key, line), f"unknown key '{key}'" + hint, name)
        expectations = []
        for section in SECTIONS:
            if section in entry:
                found = _expectation(section, entry[section], lines.of(entry, section, line), sets, lines, vocabulary,
                                     lambda at, msg, name=name: bad(at, msg, name))
                if found is not None:
                    expectations.append(found)
        if not in_scope or (pattern and pattern not in name):
            continue
        runnable = True
        if expectations_required and not any(section in entry for section in SECTIONS):
            if name in extended:  # a starting patient for the tests that extend it: not run
                continue
            problems.append(visible(f"{shown}:{line}: test '{name}' states no expectation; write at least one of "
                                    + ", ".join(SECTIONS)))
            runnable = False  # its patient is still checked
        if record is None:
            continue
        record = dict(record)
        record.setdefault("id", name)
        test = RuleTest(name, shown, line, record, expectations, entry.get("source"))
        valid = True
        for _ in range(len(record) + 1):  # each invalid attribute once, where it is written
            source = f"{shown}:{line}: test '{name}'"
            try:
                test.patient = kb.patient(record, source=source)
                break
            except PatientError as err:
                valid = False
                said = visible(str(err))
                said = said[len(source) + 2:] if said.startswith(source + ": ") else said
                at, owner = origin.get(name, {}).get(err.attribute, (line, name))
                problems.append(visible(f"{shown}:{at}: " + (f"test '{owner}': " if owner else "patient: ") + said))
                if err.attribute not in record:
                    break
                record.pop(err.attribute)
        if valid and runnable:
            tests.append(test)
    return tests


def _source_line(text: str, number: int) -> str | None:
    lines = text.split("\n")
    return lines[number - 1] if 0 < number <= len(lines) else None


QUOTE_THE_NAME = "quote the test name (test: \"A, B: C\"): a name holding ': ' (or ', ' inside {...}) is cut there"


def _yaml_problem(message: str, shown: str, text: str = "") -> str:
    """The reader's message on a test file that is not valid YAML, as every other problem:
    ``FILE:LINE:COLUMN: ...`` (``FILE:1: ...`` when the reader names no place); when the line
    is a test's name, the likely cause: an unquoted name holding ': '."""
    said = message[len(shown) + 2:] if message.startswith(shown + ": ") else message
    said = said.replace("attribute '", "key '", 1)
    match = re.fullmatch(r"is not valid YAML at line ([0-9]+), column ([0-9]+)(?:: (.*))?", said, re.S)
    if match:
        number = int(match.group(1))
        line = text.split("\n")[number - 1] if 0 < number <= text.count("\n") + 1 else ""
        name = re.search(r"(?:^|[{,\s])test:\s+([^\s\"'].*)", line)
        hint = f"; {QUOTE_THE_NAME}" if name and (", " in name.group(1) or ": " in name.group(1)) else ""
        return f"{shown}:{number}:{match.group(2)}: not valid YAML" + (f": {match.group(3)}" if match.group(3) else "") + hint
    match = re.fullmatch(r"(key '.*'): is given twice in one object, at line ([0-9]+) and at line ([0-9]+);.*", said, re.S)
    if match:
        return f"{shown}:{match.group(3)}: {match.group(1)} is given twice in one mapping (first at line {match.group(2)})"
    match = re.fullmatch(r"(.*) \(line ([0-9]+), column ([0-9]+)\)", said, re.S)
    if match:
        return f"{shown}:{match.group(2)}:{match.group(3)}: {match.group(1)}"
    return f"{shown}:1: {said}"


def _patient_file(test_file: Path, written) -> dict | str:
    """The record of a ``patient_file`` (relative to the test file), or why it cannot be used."""
    from ..records.reading import read_entries
    if not isinstance(written, str):
        return "'patient_file' is the path of a .json/.yaml record"
    full = test_file.parent / written
    shown = f"patient_file '{written}' (relative to the test file)"

    def said(err: PatientError) -> str:  # the path as written, not as joined to the test file's folder
        text = str(err)
        return shown + text[len(str(full)):] if text.startswith(str(full)) else f"{shown}: {text}"

    try:
        entries = list(read_entries(full))
    except PatientError as err:
        return said(err)
    if len(entries) != 1:
        return f"patient_file '{written}' holds {len(entries)} records; one is needed"
    raw = entries[0][2]
    if isinstance(raw, PatientError):
        return said(raw)
    if not isinstance(raw, dict):
        return f"patient_file '{written}' does not hold a record (a mapping of attribute values)"
    return raw


def _expectation(section, value, line, sets, lines, vocabulary, bad) -> Expectation | None:
    """One section as written → an :class:`Expectation`, or None after reporting what is wrong."""
    if section == "verdicts":
        if not isinstance(value, dict):
            bad(line, "'verdicts' is a mapping GOAL: holds | fails | undecided")
            return None
        out = Expectation(section, line, "includes", {})
        for goal, verdict in value.items():
            at = lines.of(value, goal, line)
            if verdict not in VERDICTS:
                bad(at, f"verdicts: '{goal}' takes holds, fails or undecided, not {_plain_shown(verdict)}")
                continue
            problem = vocabulary.problem(section, str(goal))
            if problem:
                bad(at, problem)
                continue
            out.ids[str(goal)] = verdict
        return out
    if isinstance(value, dict) and value and set(value) <= {"includes", "excludes"}:
        out = Expectation(section, line, "includes", {})
        if "includes" in value:
            _entries(section, value["includes"], lines.of(value, "includes", line), sets, lines, vocabulary, bad, out, ())
        excludes = value.get("excludes") or []
        if not isinstance(excludes, list):
            bad(lines.of(value, "excludes", line), "'excludes' is a list of ids")
            excludes = []
        for i, ident in enumerate(excludes):
            at = lines.of(excludes, i, line)
            for name in _expand(ident, sets, bad, at):
                problem = vocabulary.problem(section, name)
                if problem:
                    bad(at, problem)
                elif name in out.ids:
                    bad(at, f"{section}: '{name}' is both included and excluded")
                else:
                    out.excludes.append(name)
        return out
    out = Expectation(section, line, "exact", {})
    _entries(section, value, line, sets, lines, vocabulary, bad, out, ())
    return out


def _expand(ident, sets, bad, at) -> list[str]:
    """A set name → its ids (a set used in ``excludes``: only its ids); an id → itself."""
    if isinstance(ident, dict):
        bad(at, f"excludes: takes ids only, without a grading (write '{next(iter(ident), '')}', not {_shown(ident)})")
        return []
    if not isinstance(ident, str):
        bad(at, f"excludes: {_shown(ident)} is not an id")
        return []
    if ident in sets:
        group = sets[ident]
        return [e if isinstance(e, str) else next(iter(e)) for e in group] if isinstance(group, list) else \
            list(group) if isinstance(group, dict) else []
    return [ident]


def _entries(section, value, line, sets, lines, vocabulary, bad, out: Expectation, seen: tuple) -> None:
    """Add the ids (with gradings) of a list or mapping, expanding set names, to ``out``."""
    if value is None:
        return
    if isinstance(value, dict):
        pairs = [(k, v, lines.of(value, k, line)) for k, v in value.items()]
    elif isinstance(value, list):
        pairs = []
        for i, entry in enumerate(value):
            at = lines.of(value, i, line)
            if isinstance(entry, dict) and len(entry) == 1:
                (k, v), = entry.items()
                pairs.append((k, v, at))
            elif isinstance(entry, str):
                pairs.append((entry, None, at))
            else:
                bad(at, f"{section}: an entry is an id, a set name or 'ID: GRADING'; got {_shown(entry)}")
    else:
        bad(line, f"{section}: write a list of ids, a mapping ID: GRADING, or includes/excludes")
        return
    for ident, grading, at in pairs:
        ident = str(ident)
        if ident in sets and ident not in vocabulary.regimens:
            if grading is not None:
                bad(at, f"set '{ident}' takes no grading (its entries carry theirs)")
            if ident in seen:
                bad(at, f"set '{ident}' includes itself")
                continue
            _entries(section, sets[ident], lines.of(sets, ident, at), sets, lines, vocabulary, bad, out, (*seen, ident))
            continue
        problem = vocabulary.problem(section, ident)
        if problem:
            bad(at, problem)
            continue
        spec = {}
        if grading is not None:
            if section not in GRADED:
                bad(at, f"{section}: '{ident}' takes no grading (gradings are checked on {', '.join(GRADED)})")
                continue
            try:
                spec = parse_grading(grading, section, vocabulary)
            except ValueError as err:
                bad(at, f"grading of '{ident}': {err}")
                continue
            out.written[ident] = grading_text(spec)
        out.ids[ident] = spec


def parse_grading(written, section: str = "recommended", vocabulary: "Vocabulary | None" = None) -> dict:
    """A grading as written → the keys to check: ``strong I 92%`` → strength, evidence,
    consensus (what the string leaves out must be null; ``ungraded`` all three null); a mapping
    → its keys as given, each validated as the string's tokens are (strength, evidence level,
    consensus 0–100; with a ``vocabulary``: ``rule`` a rule id, ``setting`` a setting, evidence
    a level the knowledge base uses). For not_recommended a string states the consensus only.
    Raises ValueError saying what is wrong."""
    from ..records.reading import Written
    from ..model.similar import did_you_mean
    levels = vocabulary.levels if vocabulary is not None else list(LEVELS)
    if isinstance(written, (int, float, Written)) and not isinstance(written, bool):
        written = f"{getattr(written, 'value', written)}%" if section.endswith("not_recommended") else str(written)
    if isinstance(written, str):
        tokens = written.split()
        if not tokens:
            return {}
        if section.endswith("not_recommended"):
            if len(tokens) != 1 or not (_CONSENSUS.match(tokens[0]) or tokens[0] == "ungraded"):
                raise ValueError(f"'{written}': a not-recommended statement's grading is its consensus only ('46%')")
            match = _CONSENSUS.match(tokens[0])
            return {"consensus": _consensus(_number(match.group(1))) if match else None}
        if tokens == ["ungraded"]:
            return {"strength": None, "evidence": None, "consensus": None}
        spec: dict[str, Any] = {}
        for token in tokens:
            match = _CONSENSUS.match(token)
            key, val = ("strength", token) if token in STRENGTHS else ("consensus", _consensus(_number(match.group(1)))) \
                if match else ("evidence", token) if token in levels else (None, None)
            if key is None:
                if re.fullmatch(r"[1-5]", token):
                    raise ValueError(_roman(token))
                raise ValueError(f"'{token}' is not a strength ({', '.join(STRENGTHS)}), an evidence level "
                                 f"({', '.join(levels)}) or a consensus (92%)")
            if key in spec:
                raise ValueError(f"'{written}' gives the {key} twice")
            spec[key] = val
        return {"strength": None, "evidence": None, "consensus": None, **spec}
    if isinstance(written, dict):
        for key in written:
            if key not in GRADING_KEYS:
                raise ValueError(f"unknown key '{key}' (a grading has {', '.join(GRADING_KEYS)})"
                                 + did_you_mean(str(key), {k: [] for k in GRADING_KEYS}))
        spec = {}
        for key, val in written.items():
            val = getattr(val, "value", val) if type(val).__name__ == "Written" else val
            if val is None and key != "missing":
                spec[key] = None if key != "flags" else []
            elif key == "missing" and isinstance(val, dict):
                if set(val) != {"includes"} or not _names_list(val["includes"]):
                    raise ValueError("'missing' is a list of attributes (exactly these) or {includes: [...]} (at least these)")
                spec[key] = {"includes": sorted(val["includes"])}
            elif key in ("flags", "missing"):
                if val is not None and not _names_list(val):
                    raise ValueError(f"'{key}' is a list of names" + (" or {includes: [...]}" if key == "missing" else ""))
                if key == "flags":
                    for kind in val:
                        if kind not in FLAG_KINDS:
                            raise ValueError(f"flags: '{kind}' is not a flag kind ({', '.join(FLAG_KINDS)})"
                                             + did_you_mean(kind, {k: [] for k in FLAG_KINDS}))
                spec[key] = sorted(val or [])
            elif key == "consensus":
                if isinstance(val, str) and _CONSENSUS.match(val):
                    val = _number(_CONSENSUS.match(val).group(1))
                if isinstance(val, bool) or not isinstance(val, (int, float)):
                    raise ValueError(f"consensus {_shown(val)}: write a percentage from 0 to 100 (92 or 92%)")
                spec[key] = _consensus(val)
            elif key == "strength":
                if val not in STRENGTHS:
                    raise ValueError(f"strength {_shown(val)}: write {', '.join(STRENGTHS)} or null")
                spec[key] = val
            elif key == "evidence":
                if isinstance(val, int) and not isinstance(val, bool) and 1 <= val <= 5:
                    raise ValueError(_roman(str(val)))
                if str(val) not in levels or isinstance(val, bool):
                    raise ValueError(f"evidence {_shown(val)}: not a level of this knowledge base ({', '.join(levels)}) or null")
                spec[key] = str(val)
            elif key in ("rule", "setting"):
                table = (vocabulary.rules if key == "rule" else {k: [] for k in vocabulary.settings}) \
                    if vocabulary is not None else None
                if not isinstance(val, str) or (table is not None and val not in table):
                    what = "a rule id" if key == "rule" else "a setting"
                    raise ValueError(f"{key} {_shown(val)}: not {what} of this knowledge base"
                                     + (did_you_mean(str(val), table) if table else ""))
                spec[key] = val
        return spec
    raise ValueError(f"{_shown(written)}: write e.g. 'strong I 92%' or a mapping strength/evidence/consensus")


def _roman(token: str) -> str:
    return f"evidence {token}: evidence levels are written in Roman numerals I–V (write '{LEVELS[int(token) - 1]}')"


def _consensus(value):
    if not 0 <= value <= 100:
        raise ValueError(f"consensus {_shown(value)}%: a consensus is a percentage from 0 to 100")
    return value


def _shown(value) -> str:
    """A value as YAML writes it (no Python repr in a message): ``true``, ``null``, ``1``,
    ``{a: b}``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_plain_shown(v) for v in value) + "]"
    return str(getattr(value, "value", value))


def _plain_shown(value) -> str:
    return value if isinstance(value, str) else _shown(value)


def _show_list(values) -> str:
    return "[" + ", ".join(values) + "]"


def _names_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def grading_matches(spec: dict, got: dict) -> bool:
    """Whether an answer's grading (:func:`actual_grading`) is what the spec says: each key
    equal, but ``missing: {includes: [...]}`` only needs those attributes among the missing."""
    for key, want in spec.items():
        if isinstance(want, dict):
            if not set(want["includes"]) <= set(got.get(key) or []):
                return False
        elif got.get(key) != want:
            return False
    return True


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def grading_text(spec: dict | None) -> str:
    """A grading spec or actual grading for a person: ``strong I 92%``, ``ungraded``, or
    ``key=value`` pairs for the other keys."""
    if not spec:
        return "-"
    main = [spec.get("strength"), spec.get("evidence"),
            f"{spec['consensus']}%" if spec.get("consensus") is not None else None]
    parts = [p for p in main if p]
    if not parts and all(k in spec for k in ("strength", "evidence", "consensus")):
        parts = ["ungraded"]
    elif not parts and "consensus" in spec and spec["consensus"] is None and len(spec) == 1:
        parts = ["ungraded"]
    parts += [f"{k}=" + (f"includes {_show_list(v['includes'])}" if isinstance(v, dict) else _show_list(v) if isinstance(v, list) else f"{v}")
              for k, v in spec.items() if k not in ("strength", "evidence", "consensus")]
    return " ".join(parts)


# -- running ------------------------------------------------------------------------------------

def _answers(result) -> dict[str, dict[str, Any]]:
    """Each section of a result: id → the entry (the object the gradings are read from)."""
    return {
        "recommended": {r.id: r for r in result.recommendations},
        "possible": {p.id: p for p in result.possible},
        "not_recommended": {x.id: x for x in result.not_recommended},
        "possibly_not_recommended": {x.id: x for x in result.possibly_not_recommended},
        "contraindicated": {c.id: c for c in result.contraindicated},
        "concepts": {d: None for d in result.derived},
        "missing": {m.attribute: None for m in result.missing},
    }


def actual_grading(entry, keys) -> dict:
    """The keys of a grading spec, read from an answer's entry."""
    graded = getattr(entry, "recommendation", entry)  # a possible one carries its recommendation
    out = {}
    for key in keys:
        if key == "flags":
            out[key] = sorted(f.kind for f in getattr(entry, "flags", []))
        elif key == "missing":
            out[key] = sorted(getattr(entry, "missing", []))
        elif key == "rule":
            out[key] = graded.rule.id
        else:
            out[key] = getattr(graded, key, None)
    return out


def rules_beside(tests: list[RuleTest]) -> list[str]:
    """The rule files beside the tests' files (``local/trials.tests.yaml`` → ``local/trials.rules``)."""
    return sorted({stem(t.file) + ".rules" for t in tests})


def run(kb, tests: list[RuleTest], lang: str = "en", coverage_required: bool = False,
        rule_files: list[str] | None = None, selection: str | None = None) -> Report:
    """Evaluate every test's patient (one batch), compare, and measure the rule coverage (of
    the rules of ``rule_files`` only, when given)."""
    from ..reason.evaluate import evaluate_all
    patients = [t.patient for t in tests]
    results = list(kb.evaluate_many(patients, lang)) if patients else []
    reached: set[str] = set()
    compiled = kb.compiled
    for start in range(0, len(patients), kb.BATCH):
        for ev in evaluate_all(compiled, kb.backend, patients[start:start + kb.BATCH]):
            reached.update(rule for rule, node in compiled.rule_node.items() if ev.value(node) is True)
    words = _words(kb, lang)
    outcomes = [Outcome(t, _compare(kb, t, res, words)) for t, res in zip(tests, results)]
    if rule_files is not None:
        rule_files = [f for f in rule_files if any(r.pos.file == f for r in compiled.checked.rules)]
    rules = [r for r in compiled.checked.rules if rule_files is None or r.pos.file in rule_files]
    unreached = [(r.id, r.pos.file, r.pos.line) for r in rules if r.id not in reached]
    return Report(outcomes, len(rules), unreached, coverage_required, rule_files, selection)


def _words(kb, lang):
    from ..report.words import Words
    checked = kb.compiled.checked
    return Words(lang, checked.label, checked.value_label)


def _compare(kb, test: RuleTest, result, words) -> list[Failure]:
    answers = _answers(result)
    failures = []
    for exp in test.expectations:
        if exp.section == "verdicts":
            failure = _verdicts(kb, test, exp, words)
        else:
            failure = _section(kb, test, exp, answers, words)
        if failure is not None:
            failures.append(failure)
    return failures


def _section(kb, test, exp: Expectation, answers, words) -> Failure | None:
    actual = answers[exp.section]
    expected = set(exp.ids)
    missing = sorted(expected - set(actual))
    if exp.mode == "exact":
        unexpected = sorted(set(actual) - expected)
    else:
        unexpected = sorted(set(exp.excludes) & set(actual))
    gradings = []
    for ident, spec in exp.ids.items():
        if spec and ident in actual:
            got = actual_grading(actual[ident], spec)
            if not grading_matches(spec, got):
                gradings.append({"id": ident, "expected": grading_text(spec), "actual": grading_text(got)})
    if not (missing or unexpected or gradings):
        return None
    why = {ident: _why_not(kb, test, ident, exp.section, answers, words) for ident in missing}
    concluded = {ident: _concluded_by(kb, test, ident, exp.section, actual[ident], words) for ident in unexpected}
    shown_expected = sorted(expected) if exp.mode == "exact" else sorted(expected) + [f"not {x}" for x in exp.excludes]
    return Failure(exp.section, exp.line, exp.mode, shown_expected, sorted(actual), missing, unexpected, gradings, why,
                   {k: v for k, v in concluded.items() if v})


def _concluded_by(kb, test, ident: str, section: str, entry, words, limit: int = 3) -> list[str]:
    """Why ``ident`` is in the answer: each rule that concluded it (``RULE (FILE:LINE): the
    conditions that held``), from the explanation of the rule."""
    if section == "missing":
        return []
    if entry is None:  # a concept or setting
        ex = kb.explain(test.patient, ident)
        proofs = [p for p in [ex.proof, *ex.alternatives] if p is not None]
        return [_proof_line(p, words) for p in proofs[:limit]]
    graded = getattr(entry, "recommendation", entry)
    refs = [s.rule for s in getattr(entry, "support", None) or getattr(graded, "support", None) or []] or [graded.rule]
    lines = []
    for ref in list({r.id: r for r in refs}.values())[:limit]:
        ex = kb.explain(test.patient, ref.id)
        if ex.proof is not None:
            lines.append(_proof_line(ex.proof, words))
        else:
            lines.append(f"{ref.id} ({ref.file}:{ref.line}): {ex.verdict}"
                         + (f", waits for {', '.join(ex.missing)}" if ex.missing else ""))
    return lines


def _proof_line(proof, words) -> str:
    held = [words.condition(c) for c in proof.conditions]
    return f"{proof.rule.id} ({proof.rule.file}:{proof.rule.line}): " + ("; ".join(held) if held else "no condition")


def _contraindication_without_target(kb, test, ident: str, answers, words) -> list[str]:
    """For a contraindicated regimen the answer does not have: when a contraindication that
    avoids one of its items holds but there was no recommendation of it to remove, say so."""
    if any(ident in answers[s] for s in ("recommended", "possible", "contraindicated")):
        return []
    checked = kb.compiled.checked
    parts = set(ident.split("+"))
    for rule in checked.rules:
        if rule.kind != "contraindication":
            continue
        avoided = {m for items in rule.regimens for item in items for m in checked.members(item) | {item}}
        if not parts & avoided:
            continue
        if kb.explain(test.patient, rule.id).verdict == "holds":
            return [f"the contraindication holds (rule {rule.id}, {rule.pos.file}:{rule.pos.line}) but there was no "
                    f"recommendation of {ident} to remove: {ident}'s own rules fail —"]
    return []


def _verdicts(kb, test, exp: Expectation, words) -> Failure | None:
    wrong, gradings, why = [], [], {}
    for goal, verdict in exp.ids.items():
        got = kb.explain(test.patient, goal).verdict
        if got != verdict:
            wrong.append(goal)
            gradings.append({"id": goal, "expected": verdict, "actual": got})
            if verdict == "holds":
                why[goal] = _why_not(kb, test, goal, "verdicts", {}, words)
    if not wrong:
        return None
    return Failure("verdicts", exp.line, "includes", [f"{g}: {v}" for g, v in exp.ids.items()],
                   [g["id"] + ": " + g["actual"] for g in gradings], [], [], gradings, why)


WHERE = {"recommended": "recommended (certain)", "possible": "possible", "not_recommended": "not recommended",
         "possibly_not_recommended": "possibly not recommended", "contraindicated": "contraindicated"}


def _why_not(kb, test, ident: str, section: str, answers, words, limit: int = 6) -> list[str]:
    """Why ``ident`` is absent: where the answer has it instead, then for each rule that could
    conclude it the failed conditions with the patient's values and the missing data."""
    from ..errors import GoalError
    lines = [f"it is {WHERE[other]} instead" for other in REGIMEN_SECTIONS
             if other != section and ident in answers.get(other, {})]
    if section == "contraindicated" and not lines:
        lines = _contraindication_without_target(kb, test, ident, answers, words)
    if section == "missing":
        return lines
    try:
        wn = kb.why_not(test.patient, ident)
    except GoalError:
        return lines + ["no rule concludes it"]
    if wn.holds:
        return lines + [f"{ident} holds (verdict {wn.verdict})"]
    if wn.verdict == "undecided" and wn.missing:
        lines.append(f"undecided: missing {', '.join(wn.missing)}")
    for attempt in _attempts(wn.attempts):
        if len(lines) >= limit:
            lines.append("...")
            break
        why = [words.condition(c) + (words.phrase["missing_marker"] if c.holds is None else "") for c in attempt.failed]
        if attempt.missing:
            why.append("missing: " + ", ".join(attempt.missing))
        if attempt.removed_by:
            why.append("removed by " + ", ".join(r.rule.id for r in attempt.removed_by))
        if why:
            lines.append(f"{attempt.rule.id} ({attempt.rule.file}:{attempt.rule.line}): " + "; ".join(why))
    return lines


def _attempts(attempts):
    """The attempts and their sub-attempts (the concepts they need), depth first."""
    from ..reason.results import Attempt
    for attempt in attempts:
        yield attempt
        yield from _attempts([c for c in attempt.children if isinstance(c, Attempt)])


# -- the report ---------------------------------------------------------------------------------

LONG = 5  # an exact section with more ids than this shows the differences only, not both lists


def failure_lines(outcome: Outcome) -> list[str]:
    """A failed test's failures, for a person: one block per section."""
    out = []
    for f in outcome.failures:
        out.append(f"  {f.section} (line {f.line}, {f.mode}):")
        if f.section == "verdicts":
            for g in f.gradings:
                out.append(f"    {g['id']}: expected {g['expected']}, got {g['actual']}")
        else:
            same = len(set(f.expected) & set(f.actual))
            # differences only when some ids are as expected; else both lists, however long
            long = f.mode == "exact" and (len(f.expected) > LONG or len(f.actual) > LONG) and same > 0
            if not long:
                out.append(f"    expected: {_names(f.expected)}")
                out.append(f"    actual:   {_names(f.actual)}")
            if f.missing:
                out.append(f"    missing from the answer: {_names(f.missing)}")
            if f.unexpected:
                out.append(f"    not expected: {_names(f.unexpected)}")
            for ident, rules in f.concluded_by.items():
                out += [f"    {ident} is concluded by {rule}" for rule in rules]
            if long:
                out.append(f"    ({same} other{'s' if same != 1 else ''} as expected)")
            for g in f.gradings:
                out.append(f"    grading of {g['id']}: expected {g['expected']}, got {g['actual']}")
        for ident, why in f.why_not.items():
            if why:
                out.append(f"    why not {ident}:")
                out += [f"      {line}" for line in why]
    return out


def _names(ids) -> str:
    return ", ".join(ids) if ids else "(none)"


def render_text(report: Report, verbose: bool = False) -> str:
    """The report for a person: one line per test file (``FILE  N passed, M failed``), each
    failing test in full beneath its file; ``verbose``: a ``PASS``/``FAIL`` line per test. Then
    the coverage and the count."""
    lines = []
    files: dict[str, list[Outcome]] = {}
    for o in report.outcomes:
        files.setdefault(o.test.file, []).append(o)
    for file, outcomes in files.items():
        if not verbose:
            passed = sum(o.ok for o in outcomes)
            failed = len(outcomes) - passed
            lines.append(f"{file}  {passed} passed" + (f", {failed} failed" if failed else ""))
        for o in outcomes:
            t = o.test
            if verbose or not o.ok:
                lines.append(f"{'PASS' if o.ok else 'FAIL'} {t.file}:{t.line}  {t.name}")
            if not o.ok:
                lines += failure_lines(o)
    reached = report.rules - len(report.unreached)
    if report.selection:
        lines.insert(0, report.selection)
    if report.rule_files is None:
        lines.append(f"coverage: {reached}/{report.rules} rules reached by a test")
    else:
        lines.append(f"coverage of {', '.join(report.rule_files) or 'no rule file (none beside the selected test files)'}: "
                     f"{reached}/{report.rules} rules reached by a test")
    for rule, file, line in report.unreached:
        lines.append(f"  not reached: {rule}  {file}:{line}")
    count = f"{len(report.outcomes)} tests: {report.passed} passed, {report.failed} failed"
    if report.coverage_required and report.unreached:
        count += f"; {len(report.unreached)} rule(s) not reached (coverage required)"
    lines.append(count)
    return "\n".join(visible(line) for line in lines)
