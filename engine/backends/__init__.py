"""Backends: engines that run a compiled Datalog program on patients' facts.

In: a :class:`~oncologic.compile.datalog.Program` and the facts of one patient or a batch
(:mod:`oncologic.compile.facts`).
Out: the rows of the views a plan asks for (verdicts, removals, matches, missing data).
:mod:`.base` defines the protocol; :mod:`.pydatalog` implements it with pyDatalog, the only
module in the package that imports pyDatalog; :mod:`.sql` runs the program as SQL
(:mod:`.sql.duckdb` on DuckDB, the backend for cohorts).

The registry names the backends a knowledge base can run on::

    oncologic.backends.available()            # ['duckdb', 'pydatalog', 'spark']
    oncologic.load(backend="pydatalog")       # the default
    oncologic.load(backend="duckdb")          # cohorts (pip install oncologic[duckdb])

A backend module is imported only when a knowledge base first uses it. Another backend plugs
in with :func:`register` (a name and a factory ``program -> Backend``); nothing in
:mod:`oncologic.reason` changes.
"""
from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Callable

from ..errors import OncologicError

if TYPE_CHECKING:
    from ..compile.datalog import Program
    from .base import Backend

DEFAULT = "pydatalog"

# name -> a factory, or "module:attribute" of one, imported when first used
_FACTORIES: dict[str, object] = {
    "pydatalog": "oncologic.backends.pydatalog.engine:PyDatalogEngine",
    # listed even without its packages: creating it then says `pip install oncologic[duckdb]`
    "duckdb": "oncologic.backends.sql.duckdb:DuckDBEngine",
    # options master=URL, config={...}, scratch=FOLDER; needs oncologic[spark] and Java
    "spark": "oncologic.backends.sql.spark:SparkEngine",
}
_LOCK = threading.Lock()


def available() -> list[str]:
    """The names of the registered backends, sorted."""
    return sorted(_FACTORIES)


def register(name: str, factory: Callable[["Program"], "Backend"]) -> None:
    """Make ``factory`` (called with a compiled program, returning a
    :class:`~oncologic.backends.base.Backend`) available as ``backend=name``. Registering a
    name again replaces its factory."""
    if not isinstance(name, str) or not name:
        raise ValueError("a backend name is a non-empty string")
    with _LOCK:
        _FACTORIES[name] = factory


def factory(name: str) -> Callable[["Program"], "Backend"]:
    """The factory registered as ``name``; :class:`~oncologic.errors.OncologicError` (listing
    the available backends) when there is none."""
    with _LOCK:
        found = _FACTORIES.get(name) if isinstance(name, str) else None
        if found is None:
            raise OncologicError(f"unknown backend {name!r}; available: {', '.join(available())}")
        if isinstance(found, str):
            module, attribute = found.split(":")
            found = _FACTORIES[name] = getattr(importlib.import_module(module), attribute)
        return found


def create(name: str, program: "Program", **options) -> "Backend":
    """A backend ``name`` for ``program``, with the backend's own ``options`` (``spark``:
    ``master=URL``, see :mod:`oncologic.backends.sql.spark`);
    :class:`~oncologic.errors.OncologicError` for an unknown name."""
    return factory(name)(program, **options)


__all__ = ["DEFAULT", "available", "create", "factory", "register"]
