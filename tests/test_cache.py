"""The cache of compiled knowledge bases holds only data (issue #9, items 5 and 6).

Real files and real runs of the command line, with ``ONCOLOGIC_CACHE_DIR`` pointing at a
temporary folder: a crafted pickle is never unpickled, a damaged or foreign entry is rebuilt,
a FIFO or a symlink in the cache cannot hang the engine or make it write through the link.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import oncologic
from oncologic.api import KnowledgeBase
from oncologic.compile import build, cache
from oncologic.compile.cache import CacheError, deserialise, serialise
from oncologic.resources import default_kb_dir, grammar_path
from support import EXAMPLES, ROOT, example_files

CLI = [sys.executable, "-m", "oncologic"]
SCLC2 = str(EXAMPLES / "sclc_second_line.json")
RECOMMEND = ("recommend", SCLC2, "--format", "json")
CHECK = ("check", "--no-analysis")  # the cache is the question here: the static analysis reads the same compiled KB
PACKAGE = Path(oncologic.__file__).resolve().parent


def run(*args, cache_dir=None, timeout=60):
    env = {k: v for k, v in os.environ.items() if k not in ("ONCOLOGIC_NO_CACHE", "ONCOLOGIC_CACHE_DIR")}
    env["COLUMNS"] = "100"
    if cache_dir is None:
        env["ONCOLOGIC_NO_CACHE"] = "1"
    else:
        env["ONCOLOGIC_CACHE_DIR"] = str(cache_dir)
    return subprocess.run(CLI + list(args), capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def shipped_key() -> str:
    directory = default_kb_dir()
    return build.cache_key(build.rule_files(directory), directory, "facts")


def old_pickle_digest() -> str:
    """The name the pickle cache gave the shipped knowledge base (kb-<this>.pickle)."""
    directory = default_kb_dir()
    h = hashlib.sha256()
    h.update(oncologic.__version__.encode())
    h.update(b"facts")
    h.update(grammar_path().read_bytes())
    for sub in ("lang", "model", "compile"):
        for module in sorted((PACKAGE / sub).glob("*.py")):
            h.update(f"{sub}/{module.name}".encode() + b"\0" + module.read_bytes())
    for path in build.rule_files(directory):
        h.update(str(path.relative_to(directory)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


@pytest.fixture(scope="module")
def reference():
    """What the commands print without any cache."""
    out = {}
    for name, args in (("recommend", RECOMMEND), ("check", CHECK)):
        done = run(*args)
        assert done.returncode == 0, done.stderr
        out[name] = done.stdout
    return out


@pytest.fixture(scope="module")
def fresh():
    """The shipped knowledge base built without the cache, and its entry (bytes) and key."""
    os.environ["ONCOLOGIC_NO_CACHE"] = "1"
    try:
        compiled = build.load_compiled()
    finally:
        del os.environ["ONCOLOGIC_NO_CACHE"]
    key = shipped_key()
    return compiled, serialise(compiled, key), key


def entry_of(cache_dir: Path) -> Path:
    return Path(cache_dir) / f"kb-{shipped_key()}.json"


def assert_good_entry(cache_dir: Path) -> None:
    """The entry is a regular file that reads back as the shipped knowledge base, and no
    temporary file is left behind."""
    path = entry_of(cache_dir)
    assert path.is_file() and not path.is_symlink()
    compiled = deserialise(path.read_bytes(), shipped_key())
    assert compiled.program.text() == build.build(default_kb_dir(), "facts").program.text()
    assert not [p.name for p in Path(cache_dir).iterdir() if p.name.endswith(".tmp")]


def assert_works(cache_dir: Path, reference: dict, commands=("recommend", "check")) -> None:
    for name in commands:
        done = run(*(RECOMMEND if name == "recommend" else CHECK), cache_dir=cache_dir)
        assert done.returncode == 0, done.stderr
        assert done.stdout == reference[name]
        assert "Traceback" not in done.stderr


# ---- the codec ------------------------------------------------------------------------------

def assert_identical(a, b, where="kb"):
    """Equal, and of the same types all the way down (tuple vs list, int vs float vs bool,
    frozenset, int dict keys), dataclass fields included."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for (ka, va), (kb, vb) in zip(a.items(), b.items()):
            assert_identical(ka, kb, f"{where} key {ka!r}")
            assert_identical(va, vb, f"{where}[{ka!r}]")
    elif isinstance(a, frozenset):
        assert a == b and sorted(map(type, a), key=str) == sorted(map(type, b), key=str), where
    elif hasattr(a, "__dataclass_fields__"):
        for name in a.__dataclass_fields__:
            if name != "_cache":
                assert_identical(getattr(a, name), getattr(b, name), f"{where}.{name}")
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def test_round_trip_gives_the_same_knowledge_base(fresh):
    compiled, data, key = fresh
    again = deserialise(data, key)
    assert_identical(compiled, again)
    assert again.program.text() == compiled.program.text()
    assert serialise(again, key) == data  # the encoding is deterministic
    # the structures the engine keys by int survive exactly
    assert all(type(k) is int for k in again.removals) and all(type(k) is int for k in again.plan.groups)
    assert all(type(g.members) is frozenset for g in again.plan.groups.values())


def test_round_trip_gives_the_same_results_for_every_example_patient(fresh):
    compiled, data, key = fresh
    built, cached = KnowledgeBase(compiled), KnowledgeBase(deserialise(data, key))
    count = 0
    for path in example_files():
        for patient_a, patient_b in zip(built.patients(path), cached.patients(path)):
            assert cached.evaluate(patient_b).to_dict() == built.evaluate(patient_a).to_dict(), path.name
            count += 1
    assert count >= 49
    first = next(iter(built.patients(EXAMPLES / "sclc_second_line.json")))
    assert cached.explain(first, "anlotinib+irinotecan").to_dict() == built.explain(first, "anlotinib+irinotecan").to_dict()


def test_the_allow_list_reads_annotations_as_python_does():
    for cls in cache.CLASSES:
        assert cache._annotations(cls) == typing.get_type_hints(cls), cls.__name__
    spec_names = {spec.tag: spec.names for spec in cache._specs().values()}
    for cls in cache.CLASSES:
        fields = [f.name for f in cls.__dataclass_fields__.values() if f.name not in cache._TRANSIENT.get(cls, ())]
        assert list(spec_names[cls.__name__]) == fields


def test_values_outside_the_format_are_refused(fresh):
    compiled, data, key = fresh
    import dataclasses
    odd = dataclasses.replace(compiled.nodes[0], children=[1, 2])  # a list where a tuple belongs
    broken = dataclasses.replace(compiled, nodes=[odd] + compiled.nodes[1:])
    with pytest.raises(CacheError):
        serialise(broken, key)
    with pytest.raises(CacheError):
        serialise(dataclasses.replace(compiled, plan=object()), key)


def _mutated(data: bytes, change) -> bytes:
    entry = json.loads(data)
    change(entry)
    return json.dumps(entry).encode()


def _column(entry, tag: str, field: str) -> list:
    classes = [name for name, _ in entry["classes"]]
    number = classes.index(tag)
    return entry["columns"][number][entry["classes"][number][1].index(field)]


def _self_reference(entry):
    """The first `And` made one of its own items: a cycle."""
    number = [name for name, _ in entry["classes"]].index("And")
    _column(entry, "And", "items")[0][0] = entry["order"].index(number)


def _later_reference(entry):
    """The first `And` refers to the last `And`, written after it (could close a cycle)."""
    number = [name for name, _ in entry["classes"]].index("And")
    last = len(entry["order"]) - 1 - entry["order"][::-1].index(number)
    _column(entry, "And", "items")[0][0] = last


def _bad_pos_line(entry):
    _column(entry, "Pos", "line")[0] = "7"


def _foreign_class(entry):
    entry["classes"][0][0] = "subprocess.Popen"


def _mutable_in_table(entry):
    entry["order"][0] = [name for name, _ in entry["classes"]].index("CompiledKB")


def _object_in_data(entry):
    entry["kb"][1][0] = {"clauses": []}


BAD = {
    "pickle-opcodes": lambda data, key: b"\x80\x09N.",
    "random-bytes": lambda data, key: bytes(range(256)) * 16,
    "empty": lambda data, key: b"",
    "truncated": lambda data, key: data[: len(data) // 2],
    "not-utf8": lambda data, key: b'{"format": "\xff\xfe"}',
    "json-array": lambda data, key: b"[]",
    "json-null": lambda data, key: b"null",
    "deep-nesting": lambda data, key: b"[" * 100_000 + b"]" * 100_000,
    "version-as-text": lambda data, key: _mutated(data, lambda e: e.update(version=str(e["version"]))),
    "wrong-version": lambda data, key: _mutated(data, lambda e: e.update(version=e["version"] + 1)),
    "other-key": lambda data, key: _mutated(data, lambda e: e.update(key="0" * 64)),
    "missing-field": lambda data, key: _mutated(data, lambda e: e.pop("order")),
    "extra-field": lambda data, key: _mutated(data, lambda e: e.update(code="__import__('os')")),
    "foreign-class": lambda data, key: _mutated(data, _foreign_class),
    "wrong-type": lambda data, key: _mutated(data, _bad_pos_line),
    "later-reference": lambda data, key: _mutated(data, _later_reference),
    "self-reference": lambda data, key: _mutated(data, _self_reference),
    "mutable-in-table": lambda data, key: _mutated(data, _mutable_in_table),
    "object-in-data": lambda data, key: _mutated(data, _object_in_data),
    "short-column": lambda data, key: _mutated(data, lambda e: _column(e, "Pos", "file").pop()),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_entries_are_refused_by_the_codec(fresh, name):
    compiled, data, key = fresh
    with pytest.raises(CacheError):
        deserialise(BAD[name](data, key), key)


# ---- the command line with a cache folder ---------------------------------------------------

class Run:
    """A callable whose unpickling would run ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_a_crafted_pickle_is_never_unpickled(tmp_path, reference):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    marker, marker2 = tmp_path / "pwned-system", tmp_path / "pwned-open"
    payload = pickle.dumps([Run(os.system, f"touch {marker}"), Run(open, str(marker2), "w")])
    assert pickle.loads(pickle.dumps(Run(str.upper, "live"))) == "LIVE"  # such payloads do run when unpickled
    key = shipped_key()
    targets = [entry_of(cache_dir), cache_dir / f"kb-{key}.pickle", cache_dir / f"kb-{old_pickle_digest()}.pickle"]
    for target in targets:
        target.write_bytes(payload)
    assert_works(cache_dir, reference, ("recommend",))
    assert not marker.exists() and not marker2.exists()
    assert_good_entry(cache_dir)
    # once more, with the payload over every file the cache folder now holds
    for target in list(cache_dir.iterdir()) + targets:
        target.write_bytes(payload)
    assert_works(cache_dir, reference)
    assert not marker.exists() and not marker2.exists()
    assert_good_entry(cache_dir)


CLI_BAD = ["pickle-opcodes", "truncated", "json-array", "version-as-text", "wrong-version", "foreign-class",
           "wrong-type", "self-reference", "deep-nesting"]


@pytest.mark.parametrize("name", CLI_BAD)
def test_a_bad_entry_is_rebuilt(tmp_path, reference, fresh, name):
    compiled, data, key = fresh
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    bad = BAD[name](data, key)
    for command in ("recommend", "check"):
        entry_of(cache_dir).write_bytes(bad)
        assert_works(cache_dir, reference, (command,))
        assert_good_entry(cache_dir)
        assert entry_of(cache_dir).read_bytes() == data


def test_a_good_entry_is_used(tmp_path, reference, fresh, monkeypatch):
    compiled, data, key = fresh
    cache_dir = tmp_path / "cache"
    assert_works(cache_dir, reference, ("check",))
    path = entry_of(cache_dir)
    assert path.read_bytes() == data
    assert os.stat(cache_dir).st_mode & 0o777 == 0o700 and os.stat(path).st_mode & 0o777 == 0o600
    # the next run reads it and does not build: in-process, with the front end made to fail
    monkeypatch.setenv("ONCOLOGIC_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("ONCOLOGIC_NO_CACHE", raising=False)
    monkeypatch.setattr(build, "build", lambda *a: pytest.fail("built although the cache is fresh"))
    assert build.load_compiled().program.text() == compiled.program.text()


def test_a_fifo_at_the_entry_does_not_hang(tmp_path, reference):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    os.mkfifo(entry_of(cache_dir))
    assert_works(cache_dir, reference, ("check",))  # run() fails the test after 60 s
    assert_good_entry(cache_dir)
    os.unlink(entry_of(cache_dir))
    os.mkfifo(entry_of(cache_dir))
    assert_works(cache_dir, reference, ("recommend",))


def test_a_folder_or_a_link_to_a_fifo_at_the_entry(tmp_path, reference):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    entry_of(cache_dir).mkdir()
    assert_works(cache_dir, reference, ("check",))
    assert entry_of(cache_dir).is_dir() and not [p for p in cache_dir.iterdir() if p.name.endswith(".tmp")]
    entry_of(cache_dir).rmdir()
    os.mkfifo(tmp_path / "fifo")
    entry_of(cache_dir).symlink_to(tmp_path / "fifo")
    assert_works(cache_dir, reference, ("recommend",))
    assert_good_entry(cache_dir)


def test_a_link_at_the_entry_is_replaced_not_written_through(tmp_path, reference, fresh):
    compiled, data, key = fresh
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    entry_of(cache_dir).symlink_to(outside)
    assert_works(cache_dir, reference, ("recommend",))
    assert outside.read_text() == "keep me\n"
    assert_good_entry(cache_dir)  # a regular file now: the link was replaced
    # a link to a valid entry elsewhere is not followed either: refused, then replaced
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(data)
    entry_of(cache_dir).unlink()
    entry_of(cache_dir).symlink_to(elsewhere)
    assert cache.read_entry(entry_of(cache_dir)) is None
    assert_works(cache_dir, reference, ("check",))
    assert elsewhere.read_bytes() == data and not entry_of(cache_dir).is_symlink()


def test_a_link_at_the_temporary_file_is_not_written_through(tmp_path, fresh, monkeypatch):
    compiled, data, key = fresh
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    path = entry_of(cache_dir)
    # temporary names are random; make this one predictable and plant a link there
    monkeypatch.setattr(os, "urandom", lambda n: b"\0" * n)
    planted = path.with_name(f".{path.name}.{'00' * 8}.tmp")
    planted.symlink_to(outside)
    assert cache.write_entry(path, data) is False
    assert outside.read_text() == "keep me\n" and planted.is_symlink() and not path.exists()
    monkeypatch.undo()
    assert cache.write_entry(path, data) is True and path.read_bytes() == data
    assert outside.read_text() == "keep me\n"
    names = [p.name for p in cache_dir.iterdir()]
    assert sorted(names) == sorted([path.name, planted.name])


def test_the_old_temporary_names_are_not_used(tmp_path, reference):
    """The pickle cache wrote kb-<digest>.<pid>.tmp; links planted at such names for every
    likely pid are left alone."""
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    base = entry_of(cache_dir)
    start = os.getpid()
    for pid in range(start, start + 200):
        base.with_suffix(f".{pid}.tmp").symlink_to(outside)
    assert_works(cache_dir, reference, ("check",))
    assert outside.read_text() == "keep me\n"
    assert entry_of(cache_dir).is_file() and not entry_of(cache_dir).is_symlink()
    deserialise(entry_of(cache_dir).read_bytes(), shipped_key())
    assert all(base.with_suffix(f".{pid}.tmp").is_symlink() for pid in range(start, start + 200))


def test_a_cache_folder_that_is_a_link_or_a_file_is_not_used(tmp_path, reference):
    outside = tmp_path / "outside"
    outside.mkdir()
    link = tmp_path / "cache"
    link.symlink_to(outside)
    assert_works(link, reference, ("recommend",))
    assert list(outside.iterdir()) == []
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert_works(afile, reference, ("check",))
    assert_works(afile / "below", reference, ("check",))  # cannot be created: no cache, no failure
    assert afile.read_text() == "x"


def test_an_oversized_entry_is_not_read(tmp_path, fresh):
    compiled, data, key = fresh
    path = tmp_path / "big.json"
    with open(path, "wb") as fh:
        fh.truncate(cache.MAX_ENTRY_BYTES + 1)  # sparse: no disk used
    assert cache.read_entry(path) is None
    path.write_bytes(data)
    assert cache.read_entry(path) == data
    assert cache.read_entry(path, limit=len(data) - 1) is None


# ---- the key --------------------------------------------------------------------------------

def test_the_key_covers_format_version_modules_grammar_and_rules(tmp_path, monkeypatch):
    rules = tmp_path / "kb"
    shutil.copytree(default_kb_dir(), rules)
    files = build.rule_files(rules)
    key = build.cache_key(files, rules, "kb")
    assert build.cache_key(files, rules, "kb") == key
    assert build.cache_key(files, rules, "other") != key
    monkeypatch.setattr(cache, "FORMAT_VERSION", cache.FORMAT_VERSION + 1)
    assert build.cache_key(files, rules, "kb") != key
    monkeypatch.undo()
    monkeypatch.setattr(build, "__version__", "0.0.0-other")
    assert build.cache_key(files, rules, "kb") != key
    monkeypatch.undo()
    files[0].write_text(files[0].read_text() + "\n")
    assert build.cache_key(files, rules, "kb") != key
    files[0].write_text(files[0].read_text()[:-1])
    files[0].rename(files[0].with_name("renamed.rules"))
    assert build.cache_key(build.rule_files(rules), rules, "kb") != key
    # every module of lang, model and compile, found afresh: a new one in a subfolder too
    package = tmp_path / "pkg"
    for sub in ("lang", "model", "compile", "report"):
        shutil.copytree(PACKAGE / sub, package / sub, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(build, "__file__", str(package / "compile" / "build.py"))
    files = build.rule_files(rules)
    base = build.cache_key(files, rules, "kb")
    (package / "report" / "extra.py").write_text("X = 1\n")
    assert build.cache_key(files, rules, "kb") == base  # not part of the front end
    (package / "compile" / "extra").mkdir()
    (package / "compile" / "extra" / "deep.py").write_text("X = 1\n")
    nested = build.cache_key(files, rules, "kb")
    assert nested != base
    (package / "model" / "kb.py").write_text((package / "model" / "kb.py").read_text() + "\n")
    assert build.cache_key(files, rules, "kb") != nested


# ---- nothing read from disk can run code ----------------------------------------------------

UNSAFE_MODULES = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "jsonpickle"}
UNSAFE_CALLS = {"eval", "exec", "__import__"}
UNSAFE_YAML = {"load", "unsafe_load", "full_load", "load_all", "unsafe_load_all", "full_load_all", "Loader",
               "UnsafeLoader", "FullLoader"}


def test_no_module_of_the_engine_uses_a_format_that_runs_code():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                found += [f"{where} import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
                found.append(f"{where} from {node.module}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in UNSAFE_CALLS:
                found.append(f"{where} {node.func.id}()")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "yaml" \
                    and node.attr in UNSAFE_YAML:
                found.append(f"{where} yaml.{node.attr}")
    assert found == []
    assert "pickle" not in (PACKAGE / "compile" / "plan.py").read_text()
