"""A fuzz harness for bad input (issue 12): seeded, bounded generators of patient records
(JSON, YAML, JSONL) and of rule-file mutants of the shipped knowledge base, run through the
command line (in process, with click's runner) for a fixed total time budget.

The property, for every generated input:
- the command exits 0, or 2 with a located message: the file named (and the line, for rule
  files and JSONL cohorts) — never 1 (an internal error), never a hang (a timeout per run);
- nothing reaches the terminal unescaped: no control or invisible character in stderr;
- nothing is changed: a valid record round-trips — the values the engine reports it read
  (the validated Patient) equal what was written; a valid rule file still checks after a BOM
  or other line ends.

Budget and seed (the CI run: about 45 s, seed 12):
  ONCOLOGIC_FUZZ_BUDGET  total seconds for all generators (default 45), shared by weight
  ONCOLOGIC_FUZZ_SEED    the base seed (default 12); each generator derives its own from it
`make fuzz` runs with a larger budget and a fresh seed (docs/fuzzing.md has its numbers). A
failure prints the seed, the case number and the input, so it can be replayed.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import time
import unicodedata
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from oncologic.cli import main
from oncologic.errors import PatientError
from oncologic.resources import default_kb_dir
from support import EXAMPLES, shipped_kb

BUDGET = float(os.environ.get("ONCOLOGIC_FUZZ_BUDGET", "45"))
SEED = int(os.environ.get("ONCOLOGIC_FUZZ_SEED", "12"))
RUN_TIMEOUT = 20  # seconds for one command: more is a hang
KB = shipped_kb()
ATTRS = KB.compiled.checked.attributes
ITEMS = sorted(KB.compiled.checked.items)
STATS: dict[str, dict] = {}


@pytest.fixture(autouse=True)
def loaded_once(monkeypatch):
    """The shipped KB is loaded once for the record generators (its loading is not what they
    fuzz; rule mutants pass --kb and load theirs each time)."""
    import oncologic.cli
    load = oncologic.cli._kb
    monkeypatch.setattr(oncologic.cli, "_kb", lambda kb_dir: KB if kb_dir is None else load(kb_dir))


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` in the engine hides it."""


def _alarm(signum, frame):
    raise Hang()


def cli(*args) -> tuple[int, str, str]:
    """Run the command line in process: (exit status, stdout, stderr). A run longer than
    RUN_TIMEOUT is a hang and fails the test."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, RUN_TIMEOUT)
    try:
        result = CliRunner().invoke(main, [str(a) for a in args])
    except Hang:
        pytest.fail(f"hang: {' '.join(map(str, args))} ran over {RUN_TIMEOUT} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{' '.join(map(str, args))}: exception {result.exception!r}")
    return result.exit_code, result.stdout, result.stderr


def cases(name: str, share: float, minimum: int = 5):
    """(case number, its Random) for this generator until its share of the budget is spent
    (at least ``minimum`` cases). Counts runs and time in STATS (printed by `make fuzz`)."""
    deadline = time.monotonic() + BUDGET * share
    start, number = time.monotonic(), 0
    while number < minimum or time.monotonic() < deadline:
        yield number, random.Random(f"{SEED}:{name}:{number}")
        number += 1
        STATS[name] = {"runs": number, "seconds": round(time.monotonic() - start, 1)}


def visible_only(text: str) -> bool:
    """No character a terminal would act on or that cannot be seen: printable, line ends, and
    spaces (an ideographic space in a rule line that ``check`` shows)."""
    return all(ch.isprintable() or ch == "\n" or unicodedata.category(ch) == "Zs" for ch in text)


def assert_clean(status: int, err: str, where: str, context: str) -> None:
    """Exit 0, or exit 2 with ``where`` named; stderr shows no raw control character."""
    assert status in (0, 2), f"{context}\nexit {status}: {err[-2000:]}"
    assert visible_only(err), f"{context}\nunescaped character in: {err[-500:]!r}"
    if status == 2:
        assert where in err, f"{context}\nthe message does not name {where}: {err[-1000:]}"


# ---- patient records ------------------------------------------------------------------------------
SAFE_TEXT = "abcXYZ019 _-.中文肺癌αβγéñ😀"  # printable, no line ends of any kind


def _text(rng: random.Random, alphabet: str = SAFE_TEXT) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))


def _number(rng, spec, integral: bool):
    low = spec.low.value if spec.low is not None else 0
    high = spec.high.value if spec.high is not None else low + 1000
    if integral:
        return rng.randint(int(-(-low // 1)), int(high // 1))
    return round(rng.uniform(low, high), 2)


def valid_value(rng: random.Random, spec) -> tuple[object, object]:
    """(the value as a record writes it, the value the engine must read)."""
    kind = spec.kind
    if kind == "enum":
        v = rng.choice(spec.values)
        return v, v
    if kind == "bool":
        v = rng.random() < 0.5
        return v, v
    if kind == "string":
        v = _text(rng)
        return v, v
    if kind == "int":
        v = _number(rng, spec, True)
        return v, v
    if kind == "number":
        v = _number(rng, spec, rng.random() < 0.5)
        return v, v
    if kind in ("duration", "percent", "length"):
        v = _number(rng, spec, True)
        return f"{v}{ {'duration': 'd', 'percent': '%', 'length': 'mm'}[kind]}", v
    if kind == "date":
        v = f"{rng.randint(2000, 2030):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        return v, v
    if kind in ("set", "item_set"):
        pool = spec.values if kind == "set" else ITEMS
        v = sorted(set(rng.sample(pool, rng.randint(0, min(3, len(pool))))))
        return v, frozenset(v)
    if kind == "record_list":
        written, read = [], []
        for _ in range(rng.randint(0, 2)):
            pairs = {f.name: valid_value(rng, f.type) for f in spec.fields}
            written.append({k: w for k, (w, _) in pairs.items()})
            read.append({k: r for k, (_, r) in pairs.items()})
        return written, tuple(read)
    raise AssertionError(kind)


def valid_record(rng: random.Random) -> tuple[dict, dict]:
    """A record of the shipped KB's declared attributes: (as written, as the engine must read it)."""
    written, read = {}, {}
    names = [a for a in sorted(ATTRS) if a not in ("id", "cancer")]
    for name in ["id", "cancer"] + rng.sample(names, rng.randint(0, 8)):
        w, r = valid_value(rng, ATTRS[name].type)
        written[name], read[name] = w, r
    for attr in ATTRS.values():  # a derived attribute's sources in order (else: an error, rightly)
        if attr.derive and all(s in written for s in attr.derive):
            later, earlier = attr.derive
            if written[later] < written[earlier]:
                written[later], written[earlier] = written[earlier], written[later]
                read[later], read[earlier] = read[earlier], read[later]
            if attr.name in written:  # given with both its dates, it must agree with them: one or the other
                del written[attr.name], read[attr.name]
    return written, read


def assert_round_trip(patient, read: dict, context: str) -> None:
    for name, value in read.items():
        got = patient.values.get(name)
        if isinstance(value, tuple):  # a list of records: compare field by field
            assert len(got) == len(value) and all(dict(g) == v for g, v in zip(got, value)), context
        else:
            assert got == value and type(got) in (type(value), float if type(value) is int else type(value)), \
                f"{context}\n{name}: wrote {value!r}, the engine read {got!r}"


def dump(record: dict, fmt: str) -> str:
    if fmt == "yaml":
        return yaml.safe_dump(record, allow_unicode=True, sort_keys=False)
    return json.dumps(record, ensure_ascii=False)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_fuzz_valid_records_round_trip(tmp_path, fmt):
    for number, rng in cases(f"valid {fmt}", 0.08):
        written, read = valid_record(rng)
        path = tmp_path / f"r{number}.{fmt}"
        path.write_text(dump(written, fmt), encoding="utf-8")
        context = f"seed {SEED} case {number}: {path.read_text(encoding='utf-8')}"
        assert_round_trip(KB.patient(path), read, context)
        status, _, err = cli("recommend", path)
        assert status == 0, f"{context}\n{err}"


def test_fuzz_valid_cohorts_round_trip(tmp_path):
    for number, rng in cases("valid jsonl", 0.06):
        records = [valid_record(rng) for _ in range(rng.randint(1, 6))]
        path = tmp_path / f"c{number}.jsonl"
        path.write_text("".join(dump(w, "json") + "\n" for w, _ in records), encoding="utf-8")
        context = f"seed {SEED} case {number}"
        patients = list(KB.patients(path))
        assert len(patients) == len(records), context
        for patient, (_, read) in zip(patients, records):
            assert_round_trip(patient, read, context)
        status, out, err = cli("recommend", path, "--format", "json")
        assert status == 0 and len(out.splitlines()) == len(records), f"{context}\n{err}"


# Mutations of a valid record, as text. Each gives (text, the attribute it touched or None).
def _swap_type(rng, record, fmt):
    name = rng.choice(sorted(record))
    record[name] = rng.choice([None, True, 0, -1, 1.5, "", "45d", "2026-02-30", [], {}, ["x"], {"a": 1},
                               rng.choice(ITEMS), "sclc", 10**6, -(10**6), 1e300])
    return dump(record, fmt)


def _yaml_native(rng, record, fmt):
    """YAML's own types where text or numbers are expected: a date, a timestamp, binary, a set."""
    name = rng.choice(sorted(record))
    body = yaml.safe_dump({k: v for k, v in record.items() if k != name}, allow_unicode=True, sort_keys=False)
    return body + f"{name}: " + rng.choice(["2026-01-01", "2026-02-30", "2026-01-01 10:00:00", "!!binary aGVsbG8=",
                                            "!!set {a, b}", "~", "[2026-01-01]", ".nan", "-.inf"]) + "\n"


def _huge_number(rng, record, fmt):
    name = rng.choice([n for n in sorted(record) if n != "id"] or ["line"])
    digits = rng.choice([30, 310, 400, 4301, 5000])
    text = dump({k: v for k, v in record.items() if k != name}, "json")[:-1]
    return text + f', "{name}": {rng.choice(["", "-"])}{"9" * digits}{rng.choice(["", ".5", "e5"])}}}'


def _deep_nesting(rng, record, fmt):
    name = rng.choice(sorted(record))
    depth = rng.choice([100, 1000, 10_000])
    text = dump({k: v for k, v in record.items() if k != name}, "json")[:-1]
    open_, close = rng.choice([("[", "]"), ('{"a": ', "}")])
    return text + f', "{name}": {open_ * depth}1{close * depth}}}'


def _random_unicode(rng, record, fmt):
    """Control characters, line separators, lone surrogates and the like in text values."""
    alphabet = "\x00\x07\x1b\x7f\x85\u2028\u2029\ufeff\u200b\u202e\ud800\udfff\uffff" + SAFE_TEXT
    name = rng.choice([n for n in sorted(record) if ATTRS[n].type.kind == "string"])
    record[name] = _text(rng, alphabet)
    return json.dumps(record)  # \\uXXXX escapes: a lone surrogate is valid JSON text


def _duplicate_key(rng, record, fmt):
    name = rng.choice(sorted(record))
    value = rng.choice([valid_value(rng, ATTRS[name].type)[0], "other"])
    if fmt == "yaml":
        return dump(record, "yaml") + yaml.safe_dump({name: value}, allow_unicode=True)
    return dump(record, "json")[:-1] + f", {json.dumps(name)}: {json.dumps(value, ensure_ascii=False)}}}"


YAML11 = {  # YAML 1.1 forms and what YAML 1.2 (core schema) reads them as; a rejection is fine too
    "0123": 123, "010": 10, "007": 7, "00123": 123, "0x1F": 31, "0o17": 15, "12:30": "12:30",
    "1_000": "1_000", "+12": 12, "yes": "yes", "no": "no", "on": "on", "off": "off", "y": "y",
}


def _yaml11(rng, record, fmt):
    candidates = [n for n in sorted(ATTRS) if ATTRS[n].type.kind in ("int", "duration", "string", "bool", "enum")]
    name = rng.choice(candidates)
    form = rng.choice(sorted(YAML11))
    body = yaml.safe_dump({k: v for k, v in record.items() if k != name}, allow_unicode=True, sort_keys=False)
    return body + f"{name}: {form}\n", (name, form)


MUTATIONS = {
    "type swap": (_swap_type, ("json", "yaml"), None),
    "yaml native types": (_yaml_native, ("yaml",), None),
    "huge numbers": (_huge_number, ("json",), None),
    "deep nesting": (_deep_nesting, ("json",), None),
    "random unicode": (_random_unicode, ("json", "jsonl"), None),
    "duplicate keys": (_duplicate_key, ("json", "yaml"), None),
}


def _params():
    for name, (_, fmts, xfail) in MUTATIONS.items():
        for fmt in fmts:
            marks = [pytest.mark.xfail(strict=False, reason=xfail)] if xfail else []
            yield pytest.param(name, fmt, marks=marks, id=f"{name}-{fmt}")


@pytest.mark.parametrize("mutation, fmt", list(_params()))
def test_fuzz_mutated_records_are_exit_0_or_located_exit_2(tmp_path, mutation, fmt):
    mutate, _, _ = MUTATIONS[mutation]
    for number, rng in cases(f"{mutation} {fmt}", 0.36 / 10):
        written, _ = valid_record(rng)
        text = mutate(rng, written, "json" if fmt == "jsonl" else fmt)
        path = tmp_path / f"m{number}.{fmt}"
        if fmt == "jsonl":  # the mutant in the middle of a cohort of valid records
            good = [dump(valid_record(rng)[0], "json") for _ in range(2)]
            text = "\n".join([good[0], text.replace("\n", " "), good[1]]) + "\n"
            where = f"{path}:2"
        else:
            where = str(path)
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        context = f"seed {SEED} case {number} ({mutation}, {fmt}): {text[:600]!r}"
        status, _, err = cli("recommend", path)
        assert_clean(status, err, where, context)
        if mutation == "duplicate keys":
            assert status == 2, f"{context}\na duplicate key was read silently"


def test_fuzz_yaml_1_1_forms_are_read_as_yaml_1_2_or_rejected(tmp_path):
    for number, rng in cases("yaml 1.1 forms", 0.04):
        written, _ = valid_record(rng)
        text, (name, form) = _yaml11(rng, written, "yaml")
        path = tmp_path / f"y{number}.yaml"
        path.write_text(text, encoding="utf-8")
        context = f"seed {SEED} case {number}: {name}: {form}"
        status, _, err = cli("recommend", path)
        assert_clean(status, err, str(path), context)
        try:
            got = KB.patient(path).values.get(name)
        except PatientError:
            continue
        expected = YAML11[form]
        assert got in (expected, str(expected)), f"{context}: read as {got!r}, YAML 1.2 says {expected!r}"


# ---- rule files -------------------------------------------------------------------------------------
TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\s+|[A-Za-z_][A-Za-z0-9_.]*|\d+(?:\.\d+)?|\.\.|[<>!=]=|.', re.S)
INSERTS = ["\ufeff", "\u200b", "\x1b[2J", "\x00", "\r", "\u2028", "\u3000", "２０２６", "中文", "é", "😀", "\\", '"',
           "(", ")", "not ", " and ", " or ", "#", "..", "2026-13-01", "２０２６-０１-０１", "9" * 400, "1e309"]
SHIPPED = sorted(p.relative_to(default_kb_dir()) for p in default_kb_dir().rglob("*.rules"))
PATIENT = EXAMPLES / "sclc_second_line.json"


def mutate_rules(rng: random.Random, text: str) -> tuple[str | bytes, str]:
    tokens = TOKEN.findall(text)
    solid = [i for i, t in enumerate(tokens) if not t.isspace()]
    kind = rng.choice(["delete", "duplicate", "swap", "truncate", "insert", "invalid byte", "deepen"])
    if kind == "delete":
        for i in rng.sample(solid, rng.randint(1, 3)):
            tokens[i] = ""
    elif kind == "duplicate":
        i = rng.choice(solid)
        tokens[i] = tokens[i] + " " + tokens[i]
    elif kind == "swap":
        i, j = rng.sample(solid, 2)
        tokens[i], tokens[j] = tokens[j], tokens[i]
    elif kind == "truncate":
        return text[:rng.randrange(len(text))], kind
    elif kind == "insert":
        i = rng.randrange(len(tokens) + 1)
        tokens.insert(i, rng.choice(INSERTS))
    elif kind == "invalid byte":
        data = text.encode("utf-8")
        i = rng.randrange(len(data) + 1)
        return data[:i] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]) + data[i:], kind
    elif kind == "deepen":  # a condition nested or chained far past the limits
        ifs = [i for i in solid if tokens[i] in ("if", "and", "or")]
        if ifs:
            i = rng.choice(ifs)
            depth = rng.choice([49, 60, 500, 5000])
            deep = rng.choice(["not " * depth, "(" * depth])
            tokens[i] += " " + deep
            if deep.startswith("("):  # close them after the next term
                k = next((j for j in solid if j > i + 2), len(tokens) - 1)
                tokens[k] += ")" * depth
    return "".join(tokens), kind


def copy_kb(tmp_path: Path, number: int) -> Path:
    target = tmp_path / f"kb{number}"
    shutil.copytree(default_kb_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return target


def assert_located(status: int, err: str, kb: Path, context: str) -> list[tuple[str, str, set[str]]]:
    """Exit 0, or 2 with every finding located (``FILE:LINE:COL: error[CODE]: ``), each
    followed by ``check``'s excerpt of its line (indented) and its notes, then the count.
    Returns (file, the finding's line, the files of its notes) for each finding."""
    assert_clean(status, err, str(kb), context)
    found = []
    if status == 2:
        located = re.compile("(" + re.escape(str(kb)) + r"[/\\]\S+\.rules):\d+:\d+: (error\[E\d{3}\]|note): ")
        for line in err.splitlines():
            match = located.match(line)
            if match and match.group(2) != "note":
                found.append((match.group(1), line, set()))
            elif match:
                found[-1][2].add(match.group(1))
            assert match or re.fullmatch(r" \d+ \| .*| +\| .*|  (witness|proof): .*", line) or re.fullmatch(r"\d+ errors?", line), \
                f"{context}\nnot located: {line}"
    return found


def declared(text: str | bytes) -> dict[str, object]:
    """The names a rule file declares (documents, code systems, attributes and their values and
    fields, items, concepts), counting those of statements that fail to parse, as the checker does;
    each with what its declaration says (an attribute's type, an item's kind and classes)."""
    from oncologic.lang.builder import build_module
    from oncologic.lang.parser import decode, parse_text
    if isinstance(text, bytes):
        text, _, unreadable = decode(text, "f")
    else:
        unreadable = ()
    parsed = parse_text(text, "f", unreadable)
    module, _ = build_module(parsed.tree, "f", parsed.failed)
    names: dict[str, object] = {name: "failed" for _, name, _ in module.failed if name}
    names.update({d.name: "document" for d in module.documents})
    names.update({c.name: ("system", c.uri) for c in module.systems})  # (codes.rules: used by every file)
    names.update({i.name: (i.kind, i.isa) for i in module.items})
    names.update({r.name: r.kind for r in module.rules if r.name})
    for attr in module.attributes:
        spec = attr.type
        shape = (spec.kind, spec.values, repr(spec.low), repr(spec.high), tuple((f.name, f.type.kind, f.type.values) for f in spec.fields))
        names.update({attr.name: shape, **{v: "value" for v in spec.values}})
        for f in spec.fields:
            names.update({f.name: ("field", f.type.kind, f.type.values), **{v: "value" for v in f.type.values}})
    return names


def assert_no_cascade(found, target: Path, original: str, mutant, context: str) -> None:
    """A mutation of one file is reported in that file only. Elsewhere, only a finding that
    names a place in the mutated file as related (a recommendation against the grading line
    that the mutation changed; a step of a cycle), or a use of a name whose declaration the
    mutation took away or changed (a truncated file, a deleted declaration or enum value, an
    attribute's type: that use is wrong now, where it is written). A statement that fails to
    parse takes nothing away: its names still count."""
    before, after = declared(original), declared(mutant)
    changed = {name for name, shape in before.items() if after.get(name, shape) != shape and after.get(name) != "failed"}
    changed |= {name for name in before if name not in after}
    for file, line, notes in found:
        if file == str(target) or str(target) in notes:
            continue
        quoted = set(re.findall(r"'([^']*)'", line.split(": error[", 1)[1]))
        assert quoted & changed, f"{context}\nfinding outside the mutated file: {line}"


def test_fuzz_rule_file_mutants(tmp_path, monkeypatch):
    monkeypatch.setenv("ONCOLOGIC_CACHE_DIR", str(tmp_path / "cache"))  # the cache writer runs too
    kinds: dict[str, int] = {}
    for number, rng in cases("rule mutants", 0.36, minimum=10):
        kb = copy_kb(tmp_path, number)
        target = kb / rng.choice(SHIPPED)
        original = target.read_text(encoding="utf-8")
        mutant, kind = mutate_rules(rng, original)
        kinds[kind] = kinds.get(kind, 0) + 1
        target.write_bytes(mutant if isinstance(mutant, bytes) else mutant.encode("utf-8", "surrogatepass"))
        context = f"seed {SEED} case {number} ({kind} in {target.relative_to(kb)})"
        status, out, err = cli("check", "--kb", kb)
        found = assert_located(status, err, kb, context)
        assert_no_cascade(found, target, original, mutant, context)
        assert "W499" not in out, f"{context}: the analysis failed or the engine contradicts it:\n{out}"
        if status == 0:
            status, _, err = cli("recommend", PATIENT, "--kb", kb)
            assert_located(status, err, kb, context)
        shutil.rmtree(kb)
    STATS["rule mutants"]["kinds"] = kinds


@pytest.mark.parametrize("form", ["bom", "crlf", "cr"])
def test_fuzz_valid_rule_files_in_other_encodings_still_check(tmp_path, form):
    """No valid data rejected: the shipped files with a BOM, CRLF or CR line ends check as they are."""
    kb = copy_kb(tmp_path, 0)
    rng = random.Random(f"{SEED}:{form}")
    for rel in rng.sample(SHIPPED, 6):
        text = (kb / rel).read_text(encoding="utf-8")
        data = {"bom": "\ufeff" + text, "crlf": text.replace("\n", "\r\n"), "cr": text.replace("\n", "\r")}[form]
        (kb / rel).write_bytes(data.encode("utf-8"))
    status, out, err = cli("check", "--kb", kb)
    assert status == 0, err
    status, out, err = cli("recommend", PATIENT, "--kb", kb, "--format", "json")
    assert status == 0 and json.loads(out)["patient"] == "pt-sclc-2l", err


def teardown_module():
    if os.environ.get("ONCOLOGIC_FUZZ_REPORT"):
        Path(os.environ["ONCOLOGIC_FUZZ_REPORT"]).write_text(json.dumps(
            {"seed": SEED, "budget": BUDGET, "generators": STATS}, indent=2, ensure_ascii=False))
