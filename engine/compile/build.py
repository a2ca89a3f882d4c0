"""The knowledge base: rule files → parse → AST → checks → Datalog, loaded once and cached.

This is the environment of the pipeline (compare jinja2's Environment): it finds the rule
files, runs each stage, collects every diagnostic, and keeps the compiled result in a cache
keyed by a digest of the rule files, the grammar and the compiler itself, so a cold
command-line run skips parsing and compiling.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from ..resources import __version__
from .compiler import CompiledKB
from ..errors import Diagnostic, OncologicError, RuleError
from ..resources import default_kb_dir, grammar_path

RULE_SUFFIX = ".rules"
_FRONT_END = ("lang", "model", "compile")  # every module of these subpackages is in the cache key


def rule_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob(f"*{RULE_SUFFIX}") if p.is_file())


def _display_root(given: str | None) -> str:
    """How rule file paths are shown: ``facts/lung/sclc.rules`` for the shipped KB, else as given."""
    return "facts" if given is None else given.rstrip("/\\") or "."


def _digest(files: list[Path], directory: Path, display: str) -> str:
    h = hashlib.sha256()
    h.update(__version__.encode())
    h.update(display.encode())
    h.update(grammar_path().read_bytes())
    package = Path(__file__).resolve().parent.parent
    for sub in _FRONT_END:
        for module in sorted((package / sub).glob("*.py")):
            h.update(f"{sub}/{module.name}".encode() + b"\0" + module.read_bytes())
    for path in files:
        h.update(str(path.relative_to(directory)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def _cache_dir() -> Path | None:
    if os.environ.get("ONCOLOGIC_NO_CACHE"):
        return None
    root = os.environ.get("ONCOLOGIC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "oncologic")
    return Path(root)


def build(directory: Path, display: str) -> CompiledKB:
    """Run the whole front end on a folder of rule files; raise RuleError with every problem."""
    # imported here: a cached knowledge base needs neither the parser nor the checker
    from ..lang.builder import build_module
    from ..model.checks import check
    from .compiler import compile_kb
    from ..lang.parser import parse_file

    files = rule_files(directory)
    if not files:
        raise OncologicError(f"{display}: no rule files (*{RULE_SUFFIX}) in this folder")
    diagnostics: list[Diagnostic] = []
    modules = []
    for path in files:
        shown = os.path.join(display, str(path.relative_to(directory)))
        tree, errors = parse_file(path, shown)
        diagnostics += errors
        if tree is not None:
            module, errors = build_module(tree, shown)
            diagnostics += errors
            modules.append(module)
    checked, errors = check(modules)
    diagnostics += errors
    if diagnostics:
        raise RuleError(diagnostics)
    compiled, errors = compile_kb(checked)
    if errors:
        raise RuleError(errors)
    return compiled


def load_compiled(kb_dir: str | os.PathLike | None = None) -> CompiledKB:
    """The compiled knowledge base in ``kb_dir`` (default: the shipped one), from cache if fresh."""
    given = None if kb_dir is None else str(kb_dir)
    directory = default_kb_dir() if kb_dir is None else Path(kb_dir)
    display = _display_root(given)
    if not directory.is_dir():
        raise OncologicError(f"{display}: no such knowledge-base folder")
    files = rule_files(directory)
    cache = _cache_dir()
    path = None
    if cache is not None and files:
        path = cache / f"kb-{_digest(files, directory, display)}.pickle"
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            pass  # no cache yet, or an unreadable one: build afresh
    compiled = build(directory, display)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(compiled, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home is no reason to fail
    return compiled
