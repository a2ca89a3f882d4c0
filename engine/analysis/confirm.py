"""The engine's word on the analysis: every witness record is validated and evaluated with the
engine (:class:`oncologic.api.KnowledgeBase`), and so are the patients that show which rules
are reached — all of them in one batch query.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..api import KnowledgeBase
from ..compile.facts import patient_facts
from ..errors import Diagnostic, PatientError
from ..reason.evaluate import evaluate_all
from ..records.reading import patient_files

class Engine:
    """Evaluates records with the engine, many at a time."""

    def __init__(self, compiled):
        self.compiled = compiled
        self.kb = KnowledgeBase(compiled)

    def read(self, paths) -> tuple[list, list[Diagnostic]]:
        """(the valid patients of the files, a W509 for each record that is not valid)."""
        patients, problems = [], []
        for path in patient_files(paths):
            try:
                for item in self.kb.patients(path, errors="collect"):
                    if isinstance(item, PatientError):
                        problems.append(_unusable(str(path), item))
                    else:
                        patients.append(item)
            except PatientError as err:
                problems.append(_unusable(str(path), err))
        return patients, problems

    def evaluate(self, patients: list) -> list:
        """Every node's verdict for each patient (:func:`oncologic.reason.evaluate.evaluate_all`)."""
        return evaluate_all(self.compiled, self.kb.backend, patients) if patients else []

    def conclusions(self, patients: list) -> list[dict[int, bool]]:
        """The engine's (Kleene) verdict on every conclusion — concept, rule, regimen — for each
        patient, as ``recommend`` asks it: the plan's ``top`` view, whose closed groups are
        false throughout (cheaper, patient by patient, than every node in one batch)."""
        compiled, backend = self.compiled, self.kb.backend
        view = ("top", compiled.program.views["top"])
        out = []
        for patient in patients:
            rows, _ = backend.ask(patient_facts(patient.values, compiled.checked), view)
            truth: dict[int, bool] = {}
            for kind, a, b in rows:
                if kind == "truth":
                    truth[a] = b
                elif kind == "closed":
                    for member in compiled.plan.groups[a].members:
                        truth[member] = False
            out.append(truth)
        return out

    def verdicts(self, ev, expect) -> list[str]:
        """The disagreements of an evaluation with the expected exact verdicts ``(rule id, verdict)``."""
        out = []
        word = {True: "holds", False: "fails", None: "is undecided"}
        for key, wanted in expect:
            if isinstance(key, tuple):  # (rule id, regimen): recommended, not removed by a contraindication
                rule_id, regimen = key
                kid = next((k for k in self.compiled.regimens if self.compiled.nodes[k].rule == rule_id
                            and tuple(self.compiled.nodes[k].items) == tuple(regimen)), None)
                got = ev.verdict(kid) if kid is not None else None
                if got is not wanted:
                    said = {True: "recommends", False: "does not recommend", None: "leaves undecided"}
                    out.append(f"the engine {said[got]} {'+'.join(regimen)} by '{rule_id}', the analysis that it "
                               f"{said[wanted]} it")
                continue
            got = ev.verdict(self.compiled.rule_node[key])
            if got is not wanted:
                out.append(f"the engine says '{key}' {word[got]}, the analysis that it {word[wanted]}")
        return out


def _unusable(path: str, err: PatientError) -> Diagnostic:
    return Diagnostic(path, err.line or 1, 1, f"patient record not used: {err}", "warning", "W509")


def compact(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))
