"""The Python API for embedding: load a knowledge base once, evaluate many patients.

    import oncologic
    kb = oncologic.load()                     # or oncologic.load("path/to/rules")
    result = kb.evaluate("examples/patients/sclc_second_line.json")
    for rec in result.recommendations:
        print(rec.id, rec.strength, rec.evidence, rec.source.locator)
    print(kb.explain(patient, "anlotinib+irinotecan").to_json(indent=2))
"""
from __future__ import annotations

import os
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
from .records.reading import read_entries

PatientLike = Union[Patient, dict, str, os.PathLike]


class KnowledgeBase:
    """A compiled knowledge base and the backend that runs it. Safe to share between threads.

    ``backend`` names a registered backend (:func:`oncologic.backends.available`; the default
    is ``"pydatalog"``); an unknown name raises :class:`~oncologic.errors.OncologicError`
    listing the available ones.
    """

    def __init__(self, compiled: CompiledKB, backend: str = backends.DEFAULT):
        self.compiled = compiled
        self.backend: Backend = backends.create(backend, compiled.program)

    @classmethod
    def load(cls, kb_dir: str | os.PathLike | None = None, backend: str = backends.DEFAULT) -> "KnowledgeBase":
        """:func:`oncologic.load`."""
        return cls(load_compiled(kb_dir), backend)

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
    def patient(self, record: PatientLike, source: str | None = None) -> Patient:
        """Validate a record (a dict, or a path to a .json/.yaml file) into a Patient."""
        if isinstance(record, Patient):
            return record
        if isinstance(record, dict):
            return validate(record, self.compiled.checked, source or f"<record {str(record.get('id', '?'))[:40]}>")
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
        return validate(raw, self.compiled.checked, where)

    def patients(self, path: str | os.PathLike, errors: str = "raise") -> Iterator[Patient | PatientError]:
        """Every record of a file (one for .json/.yaml, one a line for .jsonl), validated, in
        order; ``errors`` as for :meth:`evaluate_many`."""
        _errors_mode(errors)
        for where, line, raw in read_entries(path):
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
        ``YYYY-MM-DD``), or the path of a .json/.yaml file holding one record. ``lang``:
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

    BATCH = 100

    def evaluate_many(self, records: Iterable[PatientLike] | str | os.PathLike, lang: str = "en",
                      errors: str = "raise") -> Iterator[r.Result | PatientError]:
        """Results for many patients (a .jsonl cohort file, or any iterable of records as
        :meth:`evaluate` takes them), in input order, evaluated in batches of ``BATCH`` patients
        per engine query. Lazy and streaming: a cohort file is read line by line, batch by batch.

        Yields one :class:`~oncologic.reason.results.Result` per valid record, the same as
        :meth:`evaluate` gives it. A bad record (a line that is not JSON, or an invalid
        record) is a :class:`~oncologic.errors.PatientError` naming the file, the line
        (``err.line``) and the attribute; ``errors`` says what happens to it:

        - ``"raise"`` (the default): every record before it is yielded, then it is raised
          (iteration ends there);
        - ``"collect"``: it is *yielded* in the record's place (like ``asyncio.gather``'s
          ``return_exceptions=True``) and every following record is still evaluated, so
          nothing is lost: ``[x for x in kb.evaluate_many(path, errors="collect") if
          isinstance(x, oncologic.PatientError)]`` are the bad records, in order.

        A cohort file that cannot be read at all (absent, not a regular file, wrong suffix)
        raises :class:`~oncologic.errors.PatientError` either way; an unknown ``errors`` raises
        :class:`~oncologic.errors.OncologicError`.
        """
        _errors_mode(errors)
        if isinstance(records, (str, os.PathLike)):
            entries = self.patients(records, errors="collect")
        else:
            entries = map(self._patient_or_error, records)
        while batch := list(islice(entries, self.BATCH)):
            if errors == "raise":
                bad = next((i for i, e in enumerate(batch) if isinstance(e, PatientError)), None)
                if bad is not None:
                    if bad:
                        yield from (conclusions(ev, lang) for ev in evaluate_all(self.compiled, self.backend, batch[:bad]))
                    raise batch[bad]
            good = [e for e in batch if not isinstance(e, PatientError)]
            results = iter(evaluate_all(self.compiled, self.backend, good) if good else ())
            for entry in batch:
                yield entry if isinstance(entry, PatientError) else conclusions(next(results), lang)

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

    def _for_goal(self, record: PatientLike, goal: str) -> Evaluation:
        """The engine's verdicts on everything an explanation of ``goal`` can show."""
        from .reason.explain import Goal
        patient = self.patient(record)
        roots = Goal(self.compiled, goal).roots(self.compiled)  # an unknown goal fails before any evaluation
        return evaluate_goals(self.compiled, self.backend, patient, roots)


def _errors_mode(errors: str) -> None:
    if errors not in ("raise", "collect"):
        raise OncologicError(f"errors={errors!r}: expected 'raise' or 'collect'")


def load(kb_dir: str | os.PathLike | None = None, backend: str = backends.DEFAULT) -> KnowledgeBase:
    """Load a knowledge base and make its backend.

    ``kb_dir``: a folder of ``*.rules`` files (searched recursively); None for the shipped
    knowledge base. The compiled program is cached on disk (``$ONCOLOGIC_CACHE_DIR``, else
    ``~/.cache/oncologic``; ``ONCOLOGIC_NO_CACHE=1`` turns it off), keyed by a digest of the
    rule files, so a second load skips parsing and compiling. ``backend``: the name of a
    registered backend (:func:`oncologic.backends.available`), ``"pydatalog"`` by default.

    Returns a :class:`KnowledgeBase`, safe to share between threads.

    Raises :class:`~oncologic.errors.RuleError` listing every problem in the rule files
    (``FILE:LINE:COL: error: ...``), :class:`~oncologic.errors.OncologicError` when the folder
    does not exist or holds no rule files, or when ``backend`` is not a registered backend.
    """
    return KnowledgeBase.load(kb_dir, backend)
