"""The package's layout: which subpackage may import which.

Every module of ``engine/`` (the package ``oncologic``) is parsed with :mod:`ast`, and every
import it makes — at the top, inside functions, under ``TYPE_CHECKING`` — is an edge. The
subpackages form layers, each importing only its own layer and lower ones:

    lang < model < records < compile < backends < reason < report < api < analysis < authoring < service < cli

plus the top-level leaves ``errors``, ``resources`` and ``values``, which anyone may import and which
import nothing else. ``records`` sits just above ``model``: validating a record needs the
vocabulary (model) and the units (lang), nothing compiled; what a record becomes for the
engine is compile's (:mod:`oncologic.compile.facts`). The package's own ``__init__`` re-exports
the api, so it counts as ``api``, as does ``pool`` (the api's worker processes); ``__main__`` as ``cli``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from support import ROOT

PACKAGE = "oncologic"
SOURCE = ROOT / "engine"
LAYERS = ["lang", "model", "records", "compile", "backends", "reason", "report", "api", "analysis", "authoring", "service", "cli"]
RANK = {name: i for i, name in enumerate(LAYERS)}
LEAVES = {"errors", "resources", "values"}  # top-level modules every layer may import
TOP = {"api": "api", "pool": "api", "cli": "cli", "__main__": "cli", "": "api"}  # top-level modules -> layer


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE,) + parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SOURCE.rglob("*.py"))}


def imports(name: str, source: str, known: set[str]) -> set[str]:
    """Every module ``source`` (the text of module ``name``) imports, anywhere in it.
    ``from X import y`` imports ``X.y`` when that is a module, else ``X``."""
    is_package = name in _packages(known)
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in known else target)
    return out


def _packages(known: set[str]) -> set[str]:
    return {m.rpartition(".")[0] for m in known if "." in m} | {PACKAGE}


def layer(module: str) -> str:
    """The layer of a module of the package: its subpackage, a leaf, or a top-level layer."""
    rest = module[len(PACKAGE) + 1:] if module != PACKAGE else ""
    head = rest.split(".")[0]
    if head in RANK and head not in TOP:
        return head
    if head in LEAVES:
        return head
    return TOP[head]


def edges() -> list[tuple[str, str]]:
    """(importer, imported) for every import of a package module by a package module."""
    found = modules()
    known = set(found)
    out = []
    for name, path in found.items():
        for target in imports(name, path.read_text(encoding="utf-8"), known):
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                out.append((name, target))
    return out


def violations(pairs) -> list[str]:
    """The imports that go against the layering."""
    bad = []
    for src, dst in pairs:
        a, b = layer(src), layer(dst)
        if a in LEAVES:
            if b not in LEAVES:
                bad.append(f"{src} imports {dst}: {a} is a leaf and imports nothing of the package but leaves")
        elif b not in LEAVES and RANK[b] > RANK[a]:
            bad.append(f"{src} ({a}) imports {dst} ({b}), a higher layer")
    return sorted(set(bad))


def cycles(pairs) -> list[list[str]]:
    """The cycles between layers (strongly connected components of more than one layer)."""
    graph: dict[str, set[str]] = {}
    for src, dst in pairs:
        a, b = layer(src), layer(dst)
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


EDGES = edges()


def test_every_module_is_in_a_layer():
    for name in modules():
        assert layer(name) in RANK or layer(name) in LEAVES, name
    assert {layer(m) for m in modules()} == set(LAYERS) | LEAVES  # the order names every real layer


def test_imports_go_down_the_layers():
    assert violations(EDGES) == []


def test_nothing_below_imports_api_cli_or_report():
    for src, dst in EDGES:
        if layer(dst) in ("api", "cli", "report") and layer(src) not in ("api", "analysis", "authoring", "service", "cli", "report"):
            pytest.fail(f"{src} imports {dst}")


def test_no_cycles_between_subpackages():
    assert cycles(EDGES) == []


def test_only_the_pydatalog_backend_imports_pydatalog():
    found = modules()
    known = set(found)
    importers = {name for name, path in found.items()
                 if any(t == "pyDatalog" or t.startswith("pyDatalog.") for t in imports(name, path.read_text(encoding="utf-8"), known))}
    assert importers and all(name.startswith(f"{PACKAGE}.backends.pydatalog.") for name in importers), importers


def test_backends_see_only_the_compiled_program():
    """A backend gets the IR and the facts (compile), never a Patient, the model or a result;
    and the rest of the package reaches a backend through the protocol and the registry."""
    for src, dst in EDGES:
        if layer(src) == "backends":
            assert layer(dst) in ("backends", "compile") or layer(dst) in LEAVES, (src, dst)
        elif dst.startswith(f"{PACKAGE}.backends."):
            assert dst == f"{PACKAGE}.backends.base", (src, dst)


def test_reason_builds_no_predicate_names():
    """No f-string in reason/ starts like a rail (``f"t{n}"``): rail names are the compiler's
    (:func:`oncologic.compile.plan.rail`), asked about through the backend."""
    for path in sorted((SOURCE / "reason").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr) and len(node.values) >= 2:
                first, second = node.values[0], node.values[1]
                if isinstance(first, ast.Constant) and first.value in ("t", "f", "rt") and isinstance(second, ast.FormattedValue):
                    pytest.fail(f"{path.name}:{node.lineno} builds a predicate name")


# -- the checks themselves catch what they are for --

def test_the_checks_catch_an_upward_import_and_a_cycle():
    assert violations([("oncologic.compile.plan", "oncologic.reason.evaluate")]) == [
        "oncologic.compile.plan (compile) imports oncologic.reason.evaluate (reason), a higher layer"]
    assert violations([("oncologic.compile.build", "oncologic")])  # the package's top is the api
    assert violations([("oncologic.errors", "oncologic.lang.nodes")])
    assert violations([("oncologic.reason.evaluate", "oncologic.records.patient"),
                       ("oncologic.records.patient", "oncologic.errors")]) == []
    assert cycles([("oncologic.lang.a", "oncologic.model.b"), ("oncologic.model.b", "oncologic.lang.c")]) == [["lang", "model"]]


def test_imports_are_found_inside_functions_and_resolved():
    known = {"oncologic.reason.evaluate", "oncologic.reason.results", "oncologic.reason", "oncologic.errors"}
    source = ("from . import results as r\n"
              "def f():\n    from ..errors import PatientError\n    import pyDatalog.pyEngine\n"
              "if True:\n    from ..report.text import X\n")
    assert imports("oncologic.reason.evaluate", source, known) == {
        "oncologic.reason.results", "oncologic.errors", "pyDatalog.pyEngine", "oncologic.report.text"}
