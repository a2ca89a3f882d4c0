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
    # options master=URL, config={...}, mode='partitioned'|'sql', partitions=N, chunk=N, scratch=FOLDER;
    # needs oncologic[spark] and Java
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
            try:
                loaded = importlib.import_module(module)
            except ImportError as err:
                if (err.name or "").startswith("oncologic"):
                    raise  # the backend's own module is missing: a bug, not the user's setup
                raise OncologicError(f"the {name} backend needs {err.name or 'a package'}, which is not installed: "
                                     f"pip install 'oncologic[{name}]'") from None
            found = _FACTORIES[name] = getattr(loaded, attribute)
        return found


def create(name: str, program: "Program", **options) -> "Backend":
    """A backend ``name`` for ``program``, made by its factory as ``factory(program, **options)``
    (``master="spark://host:7077"`` for a Spark backend, say).

    Raises :class:`~oncologic.errors.OncologicError` for an unknown name, for a backend whose
    package is not installed (naming ``pip install 'oncologic[NAME]'``) and for an option the
    backend's factory does not take (naming the option and the ones it takes).
    """
    made = factory(name)
    if options:
        _check_options(name, made, options)
    return made(program, **options)


def _check_options(name: str, made: Callable, options: dict) -> None:
    import inspect
    try:
        parameters = list(inspect.signature(made).parameters.values())[1:]  # after the program
    except (TypeError, ValueError):  # pragma: no cover - a builtin factory without a signature
        parameters = []
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return
    takes = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for option in options:
        if option not in takes:
            raise OncologicError(f"the {name} backend takes no option {option!r}; "
                                 f"it takes: {', '.join(takes) if takes else 'none'}")


__all__ = ["DEFAULT", "available", "create", "factory", "register"]
