"""Cohorts on every core: ``evaluate_many(..., workers=N)`` and ``oncologic cohort --workers N``.

After the engine's ``answer``, each patient costs pure Python in :func:`oncologic.reason.conclude.conclusions`
(the exact verdicts over completions of missing data) and in its JSON: per patient on a 10k
cohort, DuckDB's ``answer`` about 1.7 ms, ``conclusions`` about 4 ms, the JSON 0.5 ms. On one
core that Python is most of a cohort's time; :func:`pooled` spreads it over N processes.

In: a :class:`~oncologic.api.KnowledgeBase` made by :func:`oncologic.load` (its folder, backend
name and options are what each worker loads again) and records (a cohort's path, or an iterable
of records as ``evaluate_many`` takes them). Out: per record, in input order, an
:class:`~oncologic.report.cohort.Evaluated` (the result's JSON text and what the summary counts)
or the record's :class:`~oncologic.errors.PatientError`, the same message, source, attribute and
line as in one process.

How:

- a :class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` processes started with
  ``spawn`` (never ``fork``: DuckDB and pyDatalog hold threads and locks); each loads the
  knowledge base once (the compiled-program cache makes that about a second) and ignores SIGINT,
  which is the parent's to handle;
- the parent reads the input and sends whole chunks of *raw* records (the reader's
  ``(where, line, dict)``; a record that could not be read stays in the parent); a worker
  validates and evaluates them exactly as ``evaluate_many`` does in one process and sends back,
  per record, plain data: the JSON text and tally, or the error's text, source, attribute and
  line (rebuilt by :meth:`PatientError.rebuilt <oncologic.errors.PatientError.rebuilt>`);
- at most ``workers + 1`` chunks are in flight (sent and not yet all yielded): the records and
  results held stay bounded whatever the cohort's size; results are yielded in input order;
- a DuckDB worker runs with one thread (``threads=1``), so N workers use N cores;
- Ctrl-C in the parent stops the workers (terminated) and propagates as KeyboardInterrupt; a
  worker that dies is a :class:`WorkerError` (``oncologic cohort``: exit 1), never a hang; an
  input error raised in a worker (a backend option, say) comes back as an OncologicError.

Only plain data crosses: multiprocessing pickles the arguments and results between the parent
and the workers it started (tuples, dicts, strings, numbers — and, for a
:class:`~oncologic.records.patient.Patient` given to ``evaluate_many``, its fields); nothing
read from disk is ever unpickled.

Measured (``oncologic cohort`` on the 10k synthetic cohort of ``bench/cohort/generate.py 10000
--seed 1``, DuckDB, JSON Lines to a file, on a 2-core machine loaded 6–9 by other work; the
table is in README, "Cohorts"): ``--workers 1`` 63–85 s wall, 37.5 s CPU, peak 1.25–1.37 GB;
``--workers 2`` (chunks of 2 500) 97.5 s wall, 48.3 s CPU, peak 1.33 GB over all processes
(0.65 GB the largest). Identical output. With no free core, two workers were slower: they add
CPU (a knowledge-base load each, one DuckDB thread, DuckDB's fixed cost once per chunk rather
than once per 10k); the gain needs idle cores, and was not measured on an idle machine.
"""
from __future__ import annotations

import os
import signal
import traceback
from collections import deque
from itertools import islice
from typing import TYPE_CHECKING, Iterable, Iterator

from .errors import OncologicError, PatientError

if TYPE_CHECKING:
    from .api import KnowledgeBase
    from .report.cohort import Evaluated

#: Patients per chunk sent to a worker when neither ``chunk`` nor a smaller backend batch says
#: otherwise: small enough that every worker gets work from a 10k cohort, large enough that
#: DuckDB's fixed cost per call is paid rarely (its ``answer`` took 4.3 s for 1 000 patients,
#: 5.5 s for 2 500: :class:`~oncologic.backends.sql.duckdb.DuckDBEngine`). On the 10k cohort,
#: 2 500 ran in 97 s, 1 000 in 122–134 s, 5 000 in 108 s (one loaded machine; README).
CHUNK = 2500


class WorkerError(RuntimeError):
    """A worker process died or failed unexpectedly: a bug or the machine (out of memory),
    not the input; ``oncologic cohort`` exits 1 with its message."""


def pooled(kb: "KnowledgeBase", records: Iterable | str | os.PathLike, lang: str = "en", errors: str = "raise",
           backend: str | None = None, chunk: int | None = None, workers: int = 2,
           as_of=None) -> Iterator["Evaluated | PatientError"]:
    """Every record's result as :class:`~oncologic.report.cohort.Evaluated`, or its
    PatientError, in input order, evaluated in ``workers`` processes (module docstring).
    ``records``, ``lang``, ``errors``, ``backend``, ``chunk`` and ``as_of`` as for
    :meth:`~oncologic.api.KnowledgeBase.evaluate_many`; ``chunk`` defaults to the backend's
    ``batch`` or :data:`CHUNK`, whichever is smaller.

    Raises what ``evaluate_many`` raises, and :class:`WorkerError` when a worker dies.
    """
    from .api import _count, _errors_mode
    _errors_mode(errors)
    _count("workers", workers)
    if kb.origin is None:
        raise OncologicError("workers > 1 need a knowledge base made by oncologic.load() (or KnowledgeBase.load): "
                             "each worker process loads it again from its folder")
    engine = kb._backend(backend)  # an unknown backend or a missing package: raised here, once
    size = chunk if chunk is not None else min(getattr(engine, "batch", kb.BATCH), CHUNK)
    _count("chunk", size)
    entries = _entries(kb, records, as_of)
    first = list(islice(entries, size))  # an unreadable cohort is raised before any process starts
    second = list(islice(entries, size)) if first else []
    if not second:  # one chunk: no other process could share its work, and none is started
        yield from _checked(first, _evaluate(kb.compiled, engine, [_sent(e) for e in first], lang), errors)
        return
    name = engine.name
    options = dict(kb.backend_options) if name == kb.backend.name else {}
    if _takes_threads(name):
        options["threads"] = 1
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start, initargs=(kb.origin[0], name, options))
    flight: deque = deque()

    def send(batch: list) -> None:
        flight.append((batch, pool.submit(_work, [_sent(e) for e in batch], lang)))

    finished = False
    try:
        send(first)
        send(second)
        while len(flight) < workers + 1 and (batch := list(islice(entries, size))):
            send(batch)
        while flight:
            batch, future = flight[0]
            done = future.result()
            if done[0] == "failed":
                _, kind, message = done
                raise (OncologicError(message) if kind == "input" else WorkerError(f"in a worker process: {message}"))
            yield from _checked(batch, done[1], errors)
            flight.popleft()  # only now: the records and results held stay within workers + 1 chunks
            if batch := list(islice(entries, size)):
                send(batch)
        finished = True
    except BrokenProcessPool:  # seen by result() or, when a worker died first, by the next submit()
        raise WorkerError("a worker process stopped unexpectedly (killed, or out of memory?); "
                          "the cohort was not finished") from None
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # Ctrl-C, an error, or the caller stopped early: stop the workers now, not after their chunks
            _stop(pool)


def _entries(kb: "KnowledgeBase", records, as_of=None) -> Iterator:
    """The records as what a worker takes: ``("raw", where, line, raw)``, ``("patient",
    *fields)``, or a PatientError kept by the parent (a record that could not be read)."""
    if isinstance(records, (str, os.PathLike)):
        from .records.cohorts import read_cohort
        for where, line, raw in read_cohort(records, kb.compiled.checked, as_of=as_of):
            yield raw if isinstance(raw, PatientError) else ("raw", where, line, raw)
        return
    from .records.patient import Patient
    for record in records:
        if isinstance(record, Patient):
            yield ("patient", record.id, record.source, record.values, record.given, record.derived)
            continue
        try:
            yield ("raw", *kb._entry(record))
        except PatientError as err:
            yield err


def _sent(entry):
    """What a worker gets for an entry: None for a record the parent holds as its error."""
    return None if isinstance(entry, PatientError) else entry


def _checked(batch: list, done: list, errors: str) -> Iterator["Evaluated | PatientError"]:
    """A chunk's items, in order, from the parent's entries and a worker's answer for them;
    with ``errors="raise"``, the first PatientError is raised in its place."""
    from .report.cohort import Evaluated
    for entry, out in zip(batch, done):
        if out is None:
            item = entry
        elif out[0] == "ok":
            item = Evaluated(text=out[1], tally=out[2])
        else:
            _, text, source, attribute, line = out
            item = PatientError.rebuilt(text, source, attribute, line)
        if isinstance(item, PatientError) and errors == "raise":
            raise item
        yield item


def _stop(pool) -> None:
    """Stop a pool at once: its queued chunks cancelled, its processes terminated."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public way before Python 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(5)


def _takes_threads(name: str) -> bool:
    """Whether backend ``name``'s factory takes a ``threads`` option (DuckDB's does)."""
    import inspect
    from . import backends
    try:
        return "threads" in inspect.signature(backends.factory(name)).parameters
    except (TypeError, ValueError):  # pragma: no cover - a factory without a signature
        return False


# -- in a worker process ---------------------------------------------------------------------------

_KB: list = []  # [KnowledgeBase] once loaded, or [(kind, message)] when loading failed


def _start(kb_dir: str | None, backend: str, options: dict) -> None:
    """A worker's initializer: SIGINT is the parent's; the knowledge base is loaded once. It
    never raises (that would break the pool): a failure is kept and reported by :func:`_work`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from .api import KnowledgeBase
        _KB.append(KnowledgeBase.load(kb_dir, backend, options or None))
    except Exception as err:  # noqa: BLE001 - sent to the parent as plain data
        _KB.append(_failure(err))


def _failure(err: Exception) -> tuple:
    if isinstance(err, OncologicError):
        return ("input", str(err))
    # the worker's traceback travels only when asked for, as the CLI's own guard does it
    trace = "\n" + "".join(traceback.format_exception(err)) if os.environ.get("ONCOLOGIC_DEBUG") else ""
    return ("internal", f"{type(err).__name__}: {err}{trace}")


def _work(batch: list, lang: str) -> tuple:
    """Evaluate one chunk: ``("done", [None | ("ok", text, tally) | ("bad", text, source,
    attribute, line), ...])`` aligned with ``batch``, or ``("failed", kind, message)``."""
    loaded = _KB[0]
    if isinstance(loaded, tuple):
        return ("failed", *loaded)
    try:
        return ("done", _evaluate(loaded.compiled, loaded.backend, batch, lang))
    except Exception as err:  # noqa: BLE001 - sent to the parent as plain data
        return ("failed", *_failure(err))


def _evaluate(compiled, engine, batch: list, lang: str) -> list:
    """A chunk's answers (:func:`_work`), evaluated here: in a worker, or in the parent for a
    cohort of one chunk."""
    from .reason.conclude import conclusions
    from .reason.evaluate import evaluate_all
    from .records.patient import Patient, validate
    from .report.cohort import tally
    checked = compiled.checked
    patients: list = []
    for entry in batch:
        if entry is None:
            patients.append(None)
        elif entry[0] == "patient":
            patients.append(Patient(*entry[1:]))
        else:
            _, where, line, raw = entry
            try:
                patients.append(validate(raw, checked, where, line=line))
            except PatientError as err:
                patients.append(err)
    good = [p for p in patients if isinstance(p, Patient)]
    results = iter(evaluate_all(compiled, engine, good) if good else ())
    out: list = []
    for p in patients:
        if p is None:
            out.append(None)
        elif isinstance(p, PatientError):
            out.append(("bad", str(p), p.source, p.attribute, p.line))
        else:
            result = conclusions(next(results), lang)
            out.append(("ok", result.to_json(indent=None), tally(result)))
    return out
