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
from itertools import islice
from typing import Iterable, Iterator, Union

from .reason import results as r
from .backends.pydatalog.engine import PyDatalogEngine
from .compile.compiler import CompiledKB
from .reason.conclude import conclusions
from .reason.evaluate import Evaluation, evaluate, evaluate_all, evaluate_goals
from .compile.build import load_compiled
from .records.patient import Patient, read_records, validate

PatientLike = Union[Patient, dict, str, os.PathLike]


class KnowledgeBase:
    """A compiled knowledge base and its engine. Safe to share between threads."""

    def __init__(self, compiled: CompiledKB):
        self.compiled = compiled
        self.engine = PyDatalogEngine(compiled.program)

    @classmethod
    def load(cls, kb_dir: str | os.PathLike | None = None) -> "KnowledgeBase":
        return cls(load_compiled(kb_dir))

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
            return validate(record, self.compiled.checked, source or f"<record {record.get('id', '?')}>")
        records = list(read_records(record))
        if len(records) != 1:
            from .errors import PatientError
            raise PatientError(str(record), f"holds {len(records)} records; use evaluate_many for a cohort")
        where, raw = records[0]
        return validate(raw, self.compiled.checked, where)

    def patients(self, path: str | os.PathLike) -> Iterator[Patient]:
        """Every record of a file (one for .json/.yaml, one a line for .jsonl), validated."""
        for where, raw in read_records(path):
            yield validate(raw, self.compiled.checked, where)

    def run(self, record: PatientLike) -> Evaluation:
        """The engine's raw verdict on every node of the knowledge base for a patient."""
        return evaluate_all(self.compiled, self.engine, [self.patient(record)])[0]

    def evaluate(self, record: PatientLike, lang: str = "en") -> r.Result:
        """Everything the knowledge base concludes for the patient (CONTRACT §4)."""
        return conclusions(evaluate(self.compiled, self.engine, self.patient(record)), lang)

    BATCH = 100

    def evaluate_many(self, records: Iterable[PatientLike] | str | os.PathLike, lang: str = "en") -> Iterator[r.Result]:
        """Results for many patients (a .jsonl cohort file, or any iterable of records), in
        order, evaluated in batches of ``BATCH`` patients per engine query."""
        if isinstance(records, (str, os.PathLike)):
            records = self.patients(records)
        patients = map(self.patient, records)
        while batch := list(islice(patients, self.BATCH)):
            yield from (conclusions(ev, lang) for ev in evaluate_all(self.compiled, self.engine, batch))

    def explain(self, record: PatientLike, goal: str) -> r.Explanation:
        """The proof of a goal: a recommendation id, a concept or a rule id."""
        from .reason.explain import explain
        from .report.words import fill_text
        return fill_text(explain(self._for_goal(record, goal), goal))  # the contract's English `text` fields

    def why_not(self, record: PatientLike, goal: str) -> r.WhyNot:
        """Why a goal does not hold: per rule, the failed and the missing conditions."""
        from .reason.explain import why_not
        from .report.words import fill_text
        return fill_text(why_not(self._for_goal(record, goal), goal))

    def _for_goal(self, record: PatientLike, goal: str) -> Evaluation:
        """The engine's verdicts on everything an explanation of ``goal`` can show."""
        from .reason.explain import Goal
        patient = self.patient(record)
        roots = Goal(self.compiled, goal).roots(self.compiled)  # an unknown goal fails before any evaluation
        return evaluate_goals(self.compiled, self.engine, patient, roots)


def load(kb_dir: str | os.PathLike | None = None) -> KnowledgeBase:
    """Load (and cache) a knowledge base; the shipped one when ``kb_dir`` is None."""
    return KnowledgeBase.load(kb_dir)
