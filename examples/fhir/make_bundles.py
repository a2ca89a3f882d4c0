"""Writes the example FHIR R4 / mCODE bundles of this folder (run from the repository root:
``python examples/fhir/make_bundles.py``). Each bundle has a flat-record twin in
examples/patients (``fhir_*.json``) that gives the same recommendations as of 2026-04-01
(tests/test_fhir.py). The codes are those the rule files declare (facts/common/codes.rules);
``urn:oncologic:codes`` is the knowledge base's local system for what has no standard code."""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
SNOMED, LOINC, RXNORM, HGNC, LOCAL = ("http://snomed.info/sct", "http://loinc.org",
                                      "http://www.nlm.nih.gov/research/umls/rxnorm",
                                      "http://www.genenames.org/geneId", "urn:oncologic:codes")


def concept(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


class Bundle:
    def __init__(self, patient: str, gender: str, born: str):
        self.patient = patient
        self.entries = [{"resourceType": "Patient", "id": patient, "meta": {"profile": [MCODE + "mcode-cancer-patient"]},
                         "gender": gender, "birthDate": born}]

    def add(self, resource: dict) -> dict:
        resource.setdefault("subject", {"reference": f"Patient/{self.patient}"})
        self.entries.append(resource)
        return resource

    def condition(self, id_: str, code: tuple, onset: str, morphology: tuple | None = None) -> None:
        res = {"resourceType": "Condition", "id": id_, "meta": {"profile": [MCODE + "mcode-primary-cancer-condition"]},
               "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
               "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"),
               "category": [concept("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")],
               "code": concept(SNOMED, *code), "onsetDateTime": onset}
        if morphology:
            res["extension"] = [{"url": MCODE + "mcode-histology-morphology-behavior",
                                 "valueCodeableConcept": concept(SNOMED, *morphology)}]
        self.add(res)

    def observation(self, id_: str, code: tuple, when: str, profile: str | None = None, **value) -> None:
        res = {"resourceType": "Observation", "id": id_, "status": "final", "code": concept(*code),
               "effectiveDateTime": when, **value}
        if profile:
            res["meta"] = {"profile": [MCODE + profile]}
        self.add(res)

    def local(self, id_: str, attribute: str, when: str, **value) -> None:
        self.observation(id_, (LOCAL, attribute), when, **value)

    def variant(self, id_: str, when: str, gene: tuple, change: str | None, present: bool) -> None:
        components = [{"code": concept(LOINC, "48018-6", "Gene studied [ID]"), "valueCodeableConcept": concept(HGNC, *gene)}]
        if change:
            components.append({"code": concept(LOINC, "48005-3", "Amino acid change (pHGVS)"),
                               "valueCodeableConcept": concept("http://varnomen.hgvs.org", change)})
        self.add({"resourceType": "Observation", "id": id_, "status": "final",
                  "meta": {"profile": ["http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/variant"]},
                  "category": [concept("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")],
                  "code": concept(LOINC, "69548-6", "Genetic variant assessment"), "effectiveDateTime": when,
                  "valueCodeableConcept": concept(LOINC, "LA9633-4", "Present") if present else concept(LOINC, "LA9634-2", "Absent"),
                  "component": components})

    def medication(self, id_: str, drug: tuple, status: str, start: str, end: str | None = None) -> None:
        period = {"start": start, **({"end": end} if end else {})}
        self.add({"resourceType": "MedicationStatement", "id": id_, "status": status,
                  "meta": {"profile": [MCODE + "mcode-cancer-related-medication-statement"]},
                  "medicationCodeableConcept": concept(*drug), "effectivePeriod": period})

    def request(self, id_: str, drug: tuple, status: str, authored: str) -> None:
        self.add({"resourceType": "MedicationRequest", "id": id_, "status": status, "intent": "order",
                  "meta": {"profile": [MCODE + "mcode-cancer-related-medication-request"]},
                  "medicationCodeableConcept": concept(*drug), "authoredOn": authored})

    def none_known(self, id_: str, attribute: str, when: str) -> None:
        """A List saying the patient has none (of the attribute's kind): empty, nil known."""
        self.add({"resourceType": "List", "id": id_, "status": "current", "mode": "snapshot",
                  "code": concept(LOCAL, attribute), "date": when,
                  "emptyReason": concept("http://terminology.hl7.org/CodeSystem/list-empty-reason", "nilknown")})

    def write(self, name: str, kind: str = "collection") -> None:
        bundle = {"resourceType": "Bundle", "id": name, "type": kind,
                  "entry": [{"fullUrl": f"urn:uuid:{name}-{i}", "resource": r} for i, r in enumerate(self.entries)]}
        if kind == "searchset":
            for entry in bundle["entry"]:
                entry["search"] = {"mode": "match"}
        (HERE / f"{name}.json").write_text(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def sclc() -> None:
    b = Bundle("pt-fhir-sclc", "male", "1958-04-02")
    b.condition("sclc-dx", ("254632001", "Small cell carcinoma of lung"), "2025-08-20")
    b.local("sclc-stage", "sclc_stage", "2025-08-25", valueCodeableConcept=concept(LOCAL, "sclc_stage.extensive"))
    b.observation("ecog-old", (LOINC, "89247-1"), "2025-08-25", "mcode-ecog-performance-status", valueInteger=0)
    b.observation("ecog-now", (LOINC, "89247-1"), "2026-03-01", "mcode-ecog-performance-status", valueInteger=1)
    b.medication("etoposide-1l", (RXNORM, "4179", "etoposide"), "completed", "2025-09-01", "2026-01-15")
    b.medication("carboplatin-1l", (RXNORM, "40048", "carboplatin"), "completed", "2025-09-01", "2026-01-15")
    b.medication("atezolizumab-1l", (RXNORM, "1792776", "atezolizumab"), "completed", "2025-09-01", "2026-01-15")
    b.local("first-line-end", "first_line_end_date", "2026-01-15", valueDateTime="2026-01-15")
    b.observation("status-stable", (LOINC, "97509-4"), "2026-01-20", "mcode-cancer-disease-status",
                  valueCodeableConcept=concept(SNOMED, "359746009", "Patient's condition stable"))
    b.observation("status-worse", (LOINC, "97509-4"), "2026-03-01", "mcode-cancer-disease-status",
                  valueCodeableConcept=concept(SNOMED, "271299001", "Patient's condition worsened"))
    b.local("line", "line", "2026-03-01", valueInteger=2)
    b.write("sclc_second_line")


def egfr() -> None:
    b = Bundle("pt-fhir-egfr", "female", "1963-11-09")
    b.condition("nsclc-dx", ("254626006", "Adenocarcinoma of lung"), "2024-05-10")
    b.observation("ecog", (LOINC, "89247-1"), "2026-03-05", "mcode-ecog-performance-status", valueInteger=1)
    b.observation("pdl1", (LOINC, "83053-9"), "2024-05-20", "mcode-tumor-marker-test",
                  valueQuantity={"value": 10, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"})
    # the first molecular result (2024), then the re-biopsy at progression (2026): the latest counts
    b.variant("egfr-dx", "2024-05-20", ("HGNC:3236", "EGFR"), "p.E746_A750del", True)
    b.variant("egfr-19del", "2026-03-10", ("HGNC:3236", "EGFR"), "p.E746_A750del", True)
    b.variant("egfr-t790m", "2026-03-10", ("HGNC:3236", "EGFR"), "p.T790M", True)
    b.variant("alk-negative", "2026-03-10", ("HGNC:427", "ALK"), None, False)
    b.request("afatinib-first-order", (RXNORM, "1430438", "afatinib"), "completed", "2024-06-01")
    b.medication("afatinib-1l", (RXNORM, "1430438", "afatinib"), "active", "2024-06-01")
    b.local("progression", "progression", "2026-03-01", valueCodeableConcept=concept(LOCAL, "progression.extensive"))
    b.local("rebiopsy", "rebiopsy_after_progression", "2026-03-10", valueBoolean=True)
    b.local("transformation", "transformation", "2026-03-10", valueCodeableConcept=concept(LOCAL, "transformation.none"))
    b.local("line", "line", "2026-03-10", valueInteger=2)
    b.write("nsclc_egfr_t790m", "searchset")


def hcc() -> None:
    b = Bundle("pt-fhir-hcc", "male", "1966-02-17")
    b.condition("hcc-dx", ("25370001", "Hepatocellular carcinoma"), "2026-02-01")
    b.local("cnlc", "cnlc_stage", "2026-02-10", valueCodeableConcept=concept(LOCAL, "cnlc_stage.IIIa"))
    b.local("pvtt", "vascular_invasion", "2026-02-10", valueCodeableConcept=concept(LOCAL, "vascular_invasion.portal_vein"))
    b.local("radical", "radical_therapy_suitable", "2026-02-12", valueBoolean=False)
    b.local("tace", "tace_sessions", "2026-02-12", valueInteger=0)
    b.local("child-pugh", "child_pugh_score", "2026-02-10", valueInteger=7)
    b.observation("ecog", (LOINC, "89247-1"), "2026-02-10", "mcode-ecog-performance-status", valueInteger=1)
    b.observation("tumour-size", (LOINC, "33728-7"), "2026-02-10", "mcode-tumor-size",
                  valueQuantity={"value": 5.2, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"})
    b.none_known("no-prior-therapy", "prior_therapies", "2026-02-12")
    b.none_known("no-current-therapy", "current_therapy", "2026-02-12")
    b.write("hcc_iiia_portal_vein")


if __name__ == "__main__":
    sclc()
    egfr()
    hcc()
