"""The Python API for embedding: load a knowledge base once, evaluate many patients.

    import oncologic
    kb = oncologic.load()                     # or oncologic.load("path/to/rules")
    result = kb.evaluate("examples/patients/sclc_second_line.json")
    for rec in result.recommendations:
        print(rec.id, rec.strength, rec.evidence, rec.source.locator)
    print(kb.explain(patient, "anlotinib+irinotecan").to_json(indent=2))
"""
from __future__ import annotations

import datetime
import os
import threading
from contextlib import closing
from itertools import islice
from typing import Iterable, Iterator, Union

from . import backends
from .backends.base import Backend
from .reason import results as r
from .compile.compiler import CompiledKB
from .reason.conclude import conclusions
from .reason.evaluate import Evaluation, evaluate, evaluate_all, evaluate_goals
from .compile.build import load_compiled
from .errors import OncologicError, PatientError
from .records.patient import Patient, validate
from .records.fhir.detect import is_fhir
from .records.cohorts import read_cohort
from .records.reading import read_entries

PatientLike = Union[Patient, dict, str, os.PathLike]


class KnowledgeBase:
    """A compiled knowledge base and the backend that runs it. Safe to share between threads.

    ``backend`` names a registered backend (:func:`oncologic.backends.available`; the default
    is ``"pydatalog"``); an unknown name raises :class:`~oncologic.errors.OncologicError`
    listing the available ones. ``backend_options``: keyword options for its factory
    (:func:`oncologic.backends.create`).
    """

    def __init__(self, compiled: CompiledKB, backend: str = backends.DEFAULT, backend_options: dict | None = None):
        self.compiled = compiled
        self.backend: Backend = backends.create(backend, compiled.program, **(backend_options or {}))
        self.backend_options: dict = dict(backend_options or {})
        self.origin: tuple | None = None  # (kb_dir,) when made by load(): what a worker process loads again
        self._others: dict[str, Backend] = {}  # evaluate_many(backend=NAME): made on first use, kept
        self._lock = threading.Lock()

    @classmethod
    def load(cls, kb_dir: str | os.PathLike | None = None, backend: str = backends.DEFAULT,
             backend_options: dict | None = None) -> "KnowledgeBase":
        """:func:`oncologic.load`."""
        kb = cls(load_compiled(kb_dir), backend, backend_options)
        kb.origin = (os.path.abspath(kb_dir) if kb_dir is not None else None,)
        return kb

    # -- vocabulary --
    @property
    def concepts(self) -> list[str]:
        return list(self.compiled.concept_node)

    @property
    def attributes(self) -> list[str]:
        return list(self.compiled.checked.attributes)

    def datalog(self) -> str:
        """The compiled program as Datalog text."""
        return self.compiled.program.text()

    # -- patients --
    def patient(self, record: PatientLike, source: str | None = None, as_of: datetime.date | None = None) -> Patient:
        """Validate a record (a dict, or a path to a .json/.yaml file) into a Patient.

        A FHIR R4 Bundle (a dict or a .json file whose object names its ``resourceType``) is read
        by :func:`oncologic.records.fhir.read_bundle` as of ``as_of`` (default today) into a flat
        record first; the Patient's ``provenance`` then says where each value came from."""
        if isinstance(record, Patient):
            return record
        where, line, raw = self._entry(record, source)
        provenance = None
        if is_fhir(raw):
            from .records.fhir import read_bundle
            raw, provenance = read_bundle(raw, self.compiled.checked, as_of, where)
        person = validate(raw, self.compiled.checked, where, line=line)
        if provenance is not None:
            person.provenance = provenance
        return person

    def _entry(self, record: dict | str | os.PathLike, source: str | None = None) -> tuple[str, None, object]:
        """``(where, None, raw)`` for a record :meth:`patient` takes, other than a Patient: a
        dict as it is, a file read (not yet validated); raises PatientError as it does."""
        if isinstance(record, dict):
            return source or f"<record {str(record.get('id', '?'))[:40]}>", None, record
        if not isinstance(record, (str, os.PathLike)):
            raise PatientError(f"<{type(record).__name__}>", "a record is a dict, a Patient or the path of a .json/.yaml file")
        with closing(read_entries(record)) as entries:
            records = list(islice(entries, 2))  # a cohort is not read past its second record
        if len(records) != 1:
            raise PatientError(str(record), f"holds {'more than one record' if records else 'no record'}; "
                                            "use evaluate_many for a cohort")
        where, _, raw = records[0]
        if isinstance(raw, PatientError):
            raise raw
        return where, None, raw

    def patients(self, path: str | os.PathLike, errors: str = "raise",
                 as_of: datetime.date | None = None) -> Iterator[Patient | PatientError]:
        """Every record of a file, validated, in order: one for a .json object or .yaml file,
        one a line for .jsonl, one an element for a .json array, one a row for .csv and .parquet
        files and for a folder of .parquet files (:func:`oncologic.records.cohorts.read_cohort`
        says how each is read and how a row's place is named); ``errors`` as for
        :meth:`evaluate_many`; FHIR records (a bulk export folder, Bundles) read as of ``as_of``
        (default today)."""
        _errors_mode(errors)
        for where, line, raw in read_cohort(path, self.compiled.checked, as_of=as_of):
            try:
                if isinstance(raw, PatientError):
                    raise raw
                yield validate(raw, self.compiled.checked, where, line=line)
            except PatientError as err:
                if errors == "raise":
                    raise
                yield err

    def run(self, record: PatientLike) -> Evaluation:
        """The engine's raw verdict on every node of the knowledge base for a patient."""
        return evaluate_all(self.compiled, self.backend, [self.patient(record)])[0]

    def evaluate(self, record: PatientLike, lang: str = "en") -> r.Result:
        """Everything the knowledge base concludes for the patient (CONTRACT §4).

        ``record``: a :class:`Patient`, a dict of attribute values (quantities as numbers in
        canonical units or as text with a unit, ``"45d"``, ``"4.5cm"``, ``"25%"``; dates as
        ``YYYY-MM-DD``), or the path of a .json/.yaml file holding one record; or a FHIR R4
        Bundle (a dict or a .json file), read as of today (another day:
        ``kb.evaluate(kb.patient(bundle, as_of=day))``). ``lang``:
        ``"en"`` or ``"zh"``, the language of item labels.

        Returns a :class:`~oncologic.reason.results.Result`: the patient id, the derived
        concepts, recommendations (each with strength, evidence, consensus, source and rule),
        not-recommended, contraindicated (removed) regimens, the missing attributes (each with
        the conclusions it would decide) and the possible recommendations that lack data.
        ``to_dict()``/``to_json()`` give the JSON of the contract.

        Raises :class:`~oncologic.errors.PatientError` for an invalid record or an unreadable
        file, or a file that holds more than one record (use :meth:`evaluate_many`).
        """
        return conclusions(evaluate(self.compiled, self.backend, self.patient(record)), lang)

    BATCH = 100  # patients per engine query when a backend names no ``batch`` of its own

    def evaluate_many(self, records: Iterable[PatientLike] | str | os.PathLike, lang: str = "en",
                      errors: str = "raise", backend: str | None = None,
                      chunk: int | None = None, workers: int = 1,
                      as_of: datetime.date | None = None) -> Iterator[r.Result | PatientError]:
        """Results for many patients (a cohort file or folder, or any iterable of records as
        :meth:`evaluate` takes them), in input order, evaluated in chunks per engine query;
        ``as_of``: the day FHIR records in a cohort file or folder are read as of (default today).
        Lazy and streaming: a cohort is read chunk by chunk, and no more than one chunk of
        records and results is held at a time.

        ``records``: an iterable, or the path of a cohort as :meth:`patients` reads it (.jsonl,
        .json array, .csv, .parquet, a folder of .parquet files). ``backend``: the name of
        another registered backend to run this call on (``"duckdb"``, say); the knowledge base
        makes it on first use and keeps it; the results are the same as the default backend's.
        ``chunk``: patients per engine query; by default the backend's own ``batch`` (its
        preferred size), else :attr:`BATCH`.

        ``workers``: 1 (the default) evaluates in this process; N > 1 in N worker processes
        (:mod:`oncologic.pool`: each loads the knowledge base again, from the folder
        :meth:`load` was given, and evaluates whole chunks; by default chunks of at most
        :data:`oncologic.pool.CHUNK` patients). The results are the same objects, in the same
        order, with the same errors: each crosses back as its JSON text and is rebuilt by
        :meth:`Result.from_dict <oncologic.reason.results.Model.from_dict>`, which is exact
        (tests/test_pool.py). Only a knowledge base made by :meth:`load`/:func:`oncologic.load`
        can have workers.

        Yields one :class:`~oncologic.reason.results.Result` per valid record, the same as
        :meth:`evaluate` gives it. A bad record (a line that is not JSON, a CSV cell that does
        not convert, or an invalid record) is a :class:`~oncologic.errors.PatientError` naming
        the file, the line or row (``err.line``) and the attribute; ``errors`` says what
        happens to it:

        - ``"raise"`` (the default): every record before it is yielded, then it is raised
          (iteration ends there);
        - ``"collect"``: it is *yielded* in the record's place (like ``asyncio.gather``'s
          ``return_exceptions=True``) and every following record is still evaluated, so
          nothing is lost: ``[x for x in kb.evaluate_many(path, errors="collect") if
          isinstance(x, oncologic.PatientError)]`` are the bad records, in order.

        A cohort that cannot be read at all (absent, not a regular file, unknown suffix)
        raises :class:`~oncologic.errors.PatientError` either way; an unknown ``errors``, an
        unknown ``backend`` (or one whose package is missing) or a ``chunk`` below 1 raises
        :class:`~oncologic.errors.OncologicError`, as does a ``workers`` below 1.
        """
        _errors_mode(errors)
        _count("workers", workers)
        if workers > 1:
            import json
            from .pool import pooled
            from .report.cohort import Evaluated
            for item in pooled(self, records, lang, errors, backend, chunk, workers, as_of=as_of):
                yield r.Result.from_dict(json.loads(item.text)) if isinstance(item, Evaluated) else item
            return
        engine = self._backend(backend)
        size = chunk if chunk is not None else getattr(engine, "batch", self.BATCH)
        _count("chunk", size)
        if isinstance(records, (str, os.PathLike)):
            entries = self.patients(records, errors="collect", as_of=as_of)
        else:
            entries = map(self._patient_or_error, records)
        while batch := list(islice(entries, size)):
            if errors == "raise":
                bad = next((i for i, e in enumerate(batch) if isinstance(e, PatientError)), None)
                if bad is not None:
                    if bad:
                        yield from (conclusions(ev, lang) for ev in evaluate_all(self.compiled, engine, batch[:bad]))
                    raise batch[bad]
            good = [e for e in batch if not isinstance(e, PatientError)]
            results = iter(evaluate_all(self.compiled, engine, good) if good else ())
            for entry in batch:
                yield entry if isinstance(entry, PatientError) else conclusions(next(results), lang)

    def _backend(self, name: str | None) -> Backend:
        """The default backend (``name`` None or its own name), or backend ``name``, made once."""
        if name is None or name == self.backend.name:
            return self.backend
        with self._lock:
            if name not in self._others:
                self._others[name] = backends.create(name, self.compiled.program)
            return self._others[name]

    def _patient_or_error(self, record: PatientLike) -> Patient | PatientError:
        try:
            return self.patient(record)
        except PatientError as err:
            return err

    def explain(self, record: PatientLike, goal: str) -> r.Explanation:
        """The proof of a goal for the patient.

        ``goal``: a recommendation id (its items joined by ``+`` in alphabetical order, e.g.
        ``"anlotinib+irinotecan"``), a concept name or a rule id; ``record`` as for
        :meth:`evaluate`.

        Returns an :class:`~oncologic.reason.results.Explanation`: whether the goal holds, its
        proof (a tree of :class:`~oncologic.reason.results.ProofNode`: the rule, its source and
        each condition with the expected and actual values, quantities in canonical units:
        days, mm, %), the other proofs, and the contraindications that removed it.

        Raises :class:`~oncologic.errors.GoalError` for a goal the knowledge base does not know
        (before any evaluation), :class:`~oncologic.errors.PatientError` for an invalid record.
        """
        from .reason.explain import explain
        from .report.words import fill_text
        return fill_text(explain(self._for_goal(record, goal), goal))  # the contract's English `text` fields

    def explain_many(self, record: PatientLike, goals: Iterable[str]) -> list[r.Explanation]:
        """:meth:`explain` of each goal, in order, from one question to the engine (the verdicts
        of every node the goals' proofs can show): the same explanations, for about half the
        time of asking goal by goal (the CDS Hooks service writes a rule chain on every card).
        Raises as :meth:`explain` does, for the first bad goal, before any evaluation."""
        from .reason.explain import Goal, explain
        from .report.words import fill_text
        patient = self.patient(record)
        goals = list(goals)
        roots: set = set()
        for goal in goals:
            roots.update(Goal(self.compiled, goal).roots(self.compiled))
        if not goals:
            return []
        ev = evaluate_goals(self.compiled, self.backend, patient, roots)
        return [fill_text(explain(ev, goal)) for goal in goals]

    def why_not(self, record: PatientLike, goal: str) -> r.WhyNot:
        """Why a goal does not hold for the patient; ``goal`` and ``record`` as for :meth:`explain`.

        Returns a :class:`~oncologic.reason.results.WhyNot`: when the goal holds, its proof;
        otherwise one :class:`~oncologic.reason.results.Attempt` per rule that could conclude
        it, with the conditions that failed, the attributes that are missing, the attempts
        below it (concepts it needs) and ``to_hold``: a small change of the record, verified by
        the engine, that makes the rule hold (None when no simple change is found), with what
        the goal would then be, also asked of the engine: ``to_hold_verdict`` (holds, fails,
        undecided) and, for a regimen, ``still_removed_by`` (contraindication ids that would
        still remove it), ``still_pending`` and ``still_against`` (statements against it).

        Raises :class:`~oncologic.errors.GoalError` for an unknown goal,
        :class:`~oncologic.errors.PatientError` for an invalid record.
        """
        from .reason.explain import why_not
        from .report.words import fill_text
        return fill_text(why_not(self._for_goal(record, goal), goal))

    def picture(self, record: PatientLike, goal: str, fmt: str = "svg", lang: str = "en",
                explanation: r.Explanation | None = None) -> str:
        """The proof of ``goal`` for the patient drawn as ``fmt`` (``dot``, ``mermaid`` or
        ``svg``; svg needs Graphviz's ``dot`` program, else
        :class:`~oncologic.report.pictures.PictureError`), in ``lang``: the proof, and for a goal
        that does not hold its why-not, as :mod:`oncologic.report.proof_picture` draws them.
        ``explanation``: :meth:`explain`'s answer for the same record and goal, when the caller
        has it already."""
        from .report.pictures import render
        from .report.proof_picture import proof_picture
        person = self.patient(record)
        ex = explanation if explanation is not None else self.explain(person, goal)
        why = self.why_not(person, goal) if not ex.holds and not ex.cases else None
        held = self._held_parts(person, why)
        return render(proof_picture(ex, why, person.id, self.compiled.checked, lang, held), fmt)

    def _held_parts(self, person: Patient, why: r.WhyNot | None) -> dict:
        """For the picture of a why-not, by rule id: the proof of each rule that holds but whose
        regimen a contraindication removes or may remove (the rule's own derivation is drawn, green),
        and the attempt of each undecided contraindication (its conditions, grey)."""
        parts: dict = {}
        for attempt in why.attempts if why is not None else []:
            if not (attempt.removed_by or attempt.pending):
                continue
            proof = self.explain(person, attempt.rule.id).proof  # a rule id is a goal: its proof when it holds
            if proof is not None and proof.rule.id == attempt.rule.id:
                parts[attempt.rule.id] = proof
            for item in attempt.pending:
                if item.kind == "contraindication" and item.rule.id not in parts:
                    tried = self.why_not(person, item.rule.id).attempts
                    if tried and tried[0].rule.id == item.rule.id:
                        parts[item.rule.id] = tried[0]
        return parts

    def _for_goal(self, record: PatientLike, goal: str) -> Evaluation:
        """The engine's verdicts on everything an explanation of ``goal`` can show."""
        from .reason.explain import Goal
        patient = self.patient(record)
        roots = Goal(self.compiled, goal).roots(self.compiled)  # an unknown goal fails before any evaluation
        return evaluate_goals(self.compiled, self.backend, patient, roots)


def _errors_mode(errors: str) -> None:
    if errors not in ("raise", "collect"):
        raise OncologicError(f"errors={errors!r}: expected 'raise' or 'collect'")


def _count(name: str, value) -> None:
    """An OncologicError unless ``value`` is a whole number ≥ 1 (``chunk``, ``workers``)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        what = "patients" if name == "chunk" else "processes"
        raise OncologicError(f"{name}={value!r}: expected a whole number of {what}, at least 1")


def load(kb_dir: str | os.PathLike | None = None, backend: str = backends.DEFAULT,
         backend_options: dict | None = None) -> KnowledgeBase:
    """Load a knowledge base and make its backend.

    ``kb_dir``: a folder of ``*.rules`` files (searched recursively); None for the shipped
    knowledge base. The compiled program is cached on disk (``$ONCOLOGIC_CACHE_DIR``, else
    ``~/.cache/oncologic``; ``ONCOLOGIC_NO_CACHE=1`` turns it off), keyed by a digest of the
    rule files, so a second load skips parsing and compiling. ``backend``: the name of a
    registered backend (:func:`oncologic.backends.available`), ``"pydatalog"`` by default.
    ``backend_options``: keyword options for that backend's factory (``{"master": URL}`` for
    a Spark backend); an option it does not take raises
    :class:`~oncologic.errors.OncologicError` naming it.

    Returns a :class:`KnowledgeBase`, safe to share between threads.

    Raises :class:`~oncologic.errors.RuleError` listing every problem in the rule files
    (``FILE:LINE:COL: error: ...``), :class:`~oncologic.errors.OncologicError` when the folder
    does not exist or holds no rule files, or when ``backend`` is not a registered backend.
    """
    return KnowledgeBase.load(kb_dir, backend, backend_options)
