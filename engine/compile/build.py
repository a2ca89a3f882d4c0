"""The knowledge base: rule files → parse → AST → checks → Datalog, loaded once and cached.

This is the environment of the pipeline (compare jinja2's Environment): it finds the rule
files, runs each stage, collects every diagnostic, and keeps the compiled result in a cache
of plain data (:mod:`.cache`: JSON, validated when read, never pickle) keyed by a digest of
the rule files, the grammar and the front end itself, so a cold command-line run skips
parsing and compiling. A cache entry that cannot be used is rebuilt and written again.
"""
from __future__ import annotations

import hashlib
import os
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


def cache_key(files: list[Path], directory: Path, display: str) -> str:
    """The name of a compiled knowledge base in the cache (hex SHA-256): it changes with the
    cache format, the package version, how paths are shown, the grammar, every module of the
    front end (``lang``, ``model``, ``compile``: all ``*.py`` files in them, found afresh each
    time) and the rule files (relative paths and contents). Raises OSError if one is unreadable."""
    from .cache import FORMAT_VERSION

    h = hashlib.sha256()

    def part(label: str, data: bytes) -> None:  # length-prefixed: no two inputs give one stream
        h.update(f"{label}\0{len(data)}\0".encode())
        h.update(data)

    part("format", str(FORMAT_VERSION).encode())
    part("version", __version__.encode())
    part("display", display.encode())
    part("grammar", grammar_path().read_bytes())
    package = Path(__file__).resolve().parent.parent
    for sub in _FRONT_END:
        for module in sorted((package / sub).rglob("*.py")):
            part("module " + module.relative_to(package).as_posix(), module.read_bytes())
    for path in files:
        part("rules " + path.relative_to(directory).as_posix(), path.read_bytes())
    return h.hexdigest()


def _cache_dir() -> Path | None:
    if os.environ.get("ONCOLOGIC_NO_CACHE"):
        return None
    root = os.environ.get("ONCOLOGIC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "oncologic")
    return Path(root)


def _sorted(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """By file, line and column (then code and message: deterministic), each finding once."""
    seen, out = set(), []
    for d in sorted(diagnostics, key=lambda d: (d.file, d.line, d.column, d.end_line or 0, d.end_column or 0, d.code, d.message)):
        key = (d.file, d.line, d.column, d.code, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _overlaid(files: list[Path], directory: Path, overlay: dict[Path, str] | None) -> tuple[list[Path], dict[Path, str]]:
    """The rule files of ``directory`` with the overlaid ones among them (a ``*.rules`` file an
    editor holds but has not saved yet counts too), and the overlay keyed by those paths."""
    if not overlay:
        return files, {}
    root = directory.resolve()
    texts = {Path(p).resolve(): text for p, text in overlay.items()}
    out = {path: texts[path.resolve()] for path in files if path.resolve() in texts}
    known = {path.resolve() for path in files}
    for path, text in texts.items():
        if path not in known and path.name.endswith(RULE_SUFFIX) and path.is_relative_to(root):
            added = directory / path.relative_to(root)
            files.append(added)
            out[added] = text
    return sorted(files), out


def _build(directory: Path, display: str, overlay: dict[Path, str] | None = None) -> tuple[CompiledKB | None, list[Diagnostic]]:
    """Run the front end (parse, build, check, compile) on the ``*.rules`` files under
    ``directory``: (the compiled knowledge base or None, every diagnostic of every stage,
    sorted). The compiler runs only when no earlier stage found an error. ``overlay``: the
    text of some files as an editor holds it, read in place of what is on disk."""
    # imported here: a cached knowledge base needs neither the parser nor the checker
    from ..lang.builder import build_module
    from ..model.checks import check
    from .compiler import compile_kb
    from ..lang.parser import parse_file

    files, texts = _overlaid(rule_files(directory), directory, overlay)
    if not files:
        raise OncologicError(f"{display}: no rule files (*{RULE_SUFFIX}) in this folder")
    diagnostics: list[Diagnostic] = []
    modules = []
    for path in files:
        shown = os.path.join(display, str(path.relative_to(directory)))
        parsed = parse_file(path, shown, texts.get(path))
        module, errors = build_module(parsed.tree, shown, parsed.failed)
        diagnostics += parsed.diagnostics + errors
        modules.append(module)
    checked, errors = check(modules)
    diagnostics += errors
    if any(d.severity == "error" for d in diagnostics):
        return None, _sorted(diagnostics)
    compiled, errors = compile_kb(checked)
    diagnostics += errors
    return (None if errors else compiled), _sorted(diagnostics)


def build(directory: Path, display: str) -> CompiledKB:
    """Run the whole front end (parse, build, check, compile) on the ``*.rules`` files under
    ``directory`` (recursively); ``display`` is the folder as diagnostics and rule references
    show it (``facts`` for the shipped one). Returns the :class:`CompiledKB`. Raises
    :class:`OncologicError` when the folder holds no rule file, :class:`RuleError` with every
    problem of every stage (a file that cannot be read or parsed is one of them)."""
    compiled, diagnostics = _build(directory, display)
    errors = [d for d in diagnostics if d.severity == "error"]
    if compiled is None or errors:
        raise RuleError(errors)
    return compiled


def _folder(kb_dir) -> tuple[Path, str]:
    given = None if kb_dir is None else str(kb_dir)
    directory = default_kb_dir() if kb_dir is None else Path(kb_dir)
    display = _display_root(given)
    if not directory.is_dir():
        raise OncologicError(f"{display}: no such knowledge-base folder")
    return directory, display


def locate(kb_dir: str | os.PathLike | None, shown: str) -> Path:
    """The file a diagnostic names (``facts/lung/sclc.rules``, as :func:`build` shows it) in
    the knowledge base ``kb_dir`` (default: the shipped one)."""
    directory, display = _folder(kb_dir)
    relative = os.path.relpath(shown, display) if display != "." else shown
    return directory / relative


def load_compiled(kb_dir: str | os.PathLike | None = None) -> CompiledKB:
    """The compiled knowledge base in ``kb_dir`` (a folder of ``*.rules`` files; default: the
    shipped one), from the cache when it is fresh (``ONCOLOGIC_NO_CACHE`` turns it off).

    An entry that is missing, unreadable or not exactly what :mod:`.cache` writes is ignored:
    the knowledge base is built and the entry written afresh, when the cache folder allows.
    Raises OncologicError for a missing folder or one without rule files, RuleError for
    errors in the rules; never for a problem with the cache.
    """
    compiled, diagnostics = diagnose(kb_dir)
    if compiled is None:
        raise RuleError([d for d in diagnostics if d.severity == "error"])
    return compiled


def diagnose(kb_dir: str | os.PathLike | None = None,
             overlay: dict[Path, str] | None = None) -> tuple[CompiledKB | None, list[Diagnostic]]:
    """Every finding of the front end on the knowledge base in ``kb_dir`` (default: the
    shipped one), without raising for them: ``(compiled, diagnostics)``, ``compiled`` None when
    there is an error (then it must not be used), ``diagnostics`` sorted by file, line and column
    (a fresh cache entry stands for a knowledge base without any: ``(compiled, [])``). Uses and
    fills the cache as :func:`load_compiled` does. Raises OncologicError for a missing folder or
    one without rule files.

    ``overlay``: file path → text, for files an editor holds unsaved (the language server): read
    in place of the file on disk (a new ``*.rules`` path under the folder counts as a rule
    file). The cache is neither read nor written then: its key is the files on disk."""
    from . import cache as c

    directory, display = _folder(kb_dir)
    if overlay:
        return _build(directory, display, overlay)
    files = rule_files(directory)
    root = _cache_dir()
    folder = c.cache_folder(root) if root is not None and files else None
    path = key = None
    if folder is not None:
        try:
            key = cache_key(files, directory, display)
        except OSError:
            folder = None  # an unreadable file: no cache; building reports what it can
    if folder is not None:
        path = folder / f"kb-{key}.json"
        data = c.read_entry(path)
        if data is not None:
            try:
                return c.deserialise(data, key), []
            except c.CacheError:
                pass  # a damaged, foreign or stale entry: build afresh and replace it
    compiled, diagnostics = _build(directory, display)
    if compiled is not None and path is not None and not diagnostics:
        try:
            c.write_entry(path, c.serialise(compiled, key))
        except c.CacheError:
            pass  # not representable as cache data (cannot happen for a checked KB): just not cached
    return compiled, diagnostics
