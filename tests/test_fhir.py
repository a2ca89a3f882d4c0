"""FHIR R4 / mCODE records in (issue 16): the example bundles give exactly their flat twins'
results; as-of, tested-negative versus unknown, conflicts, invalid resources, unknown codes,
clinical-drug codes, searchset and collection bundles, NDJSON bulk exports through `cohort`."""
from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from oncologic.cli import main
from oncologic.errors import PatientError
from oncologic.records.fhir import prefetch_templates, read_bundle, read_resources

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = ROOT / "examples" / "fhir"
APRIL = datetime.date(2026, 4, 1)
LOINC, SNOMED, RXNORM = "http://loinc.org", "http://snomed.info/sct", "http://www.nlm.nih.gov/research/umls/rxnorm"


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def bundle(name: str) -> dict:
    return json.loads((BUNDLES / f"{name}.json").read_text(encoding="utf-8"))


def resources(name: str) -> list[dict]:
    return [entry["resource"] for entry in bundle(name)["entry"]]


def obs(id_: str, code: tuple, when: str, **value) -> dict:
    return {"resourceType": "Observation", "id": id_, "status": "final", "subject": {"reference": "Patient/p"},
            "code": {"coding": [{"system": code[0], "code": code[1]}]}, "effectiveDateTime": when, **value}


PATIENT = {"resourceType": "Patient", "id": "p"}
NSCLC = {"resourceType": "Condition", "id": "dx", "subject": {"reference": "Patient/p"},
         "meta": {"profile": ["http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-primary-cancer-condition"]},
         "code": {"coding": [{"system": SNOMED, "code": "254637007"}]}}


def variant(id_: str, gene: str, present: bool, change: str | None = None) -> dict:
    components = [{"code": {"coding": [{"system": LOINC, "code": "48018-6"}]},
                   "valueCodeableConcept": {"coding": [{"system": "http://www.genenames.org/geneId", "code": gene}]}}]
    if change:
        components.append({"code": {"coding": [{"system": LOINC, "code": "48005-3"}]},
                           "valueCodeableConcept": {"text": change}})
    return obs(id_, (LOINC, "69548-6"), "2026-03-10", component=components,
               valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA9633-4" if present else "LA9634-2"}]})


@pytest.mark.parametrize("name", ["sclc_second_line", "nsclc_egfr_t790m", "hcc_iiia_portal_vein"])
def test_each_example_bundle_gives_exactly_its_flat_twins_recommendations(name):
    from_fhir = run("recommend", str(BUNDLES / f"{name}.json"), "--as-of", "2026-04-01", "--format", "json")
    flat = run("recommend", str(ROOT / "examples" / "patients" / f"fhir_{name}.json"), "--format", "json")
    assert from_fhir.exit_code == 0 and flat.exit_code == 0
    assert json.loads(from_fhir.output) == json.loads(flat.output)
    assert json.loads(flat.output)["recommendations"]  # a twin that recommends something


def test_an_observation_after_the_as_of_date_is_ignored(kb):
    checked = kb.compiled.checked
    record, provenance = read_bundle(bundle("sclc_second_line"), checked, APRIL)
    assert record["ecog"] == 1 and provenance["ecog"][0]["resource"] == "Observation/ecog-now"
    earlier, provenance = read_bundle(bundle("sclc_second_line"), checked, datetime.date(2026, 2, 1))
    assert earlier["ecog"] == 0 and provenance["ecog"][0]["resource"] == "Observation/ecog-old"
    assert "progression_date" not in earlier and "line" not in earlier  # observed after 2026-02-01


GENES = {"egfr": "HGNC:3236", "alk": "HGNC:427", "ros1": "HGNC:10261", "erbb2": "HGNC:3430", "met": "HGNC:7029",
         "braf": "HGNC:1097", "kras": "HGNC:6407", "ret": "HGNC:9967", "ntrk1": "HGNC:8031", "ntrk2": "HGNC:8032",
         "ntrk3": "HGNC:8033"}


def test_variants_combine_per_gene_and_negative_only_when_every_gene_was_tested(kb):
    checked = kb.compiled.checked
    def read(*variants):
        return read_resources([PATIENT, NSCLC, *variants], checked, APRIL)
    one_negative, provenance = read(variant("alk", GENES["alk"], False))
    assert "mutations" not in one_negative  # ALK negative says nothing of EGFR, ROS1, ...
    assert provenance["mutations"][-1]["note"].startswith("mutations unknown: no result for HGNC:10261, HGNC:1097")
    all_negative, _ = read(*(variant(g, h, False) for g, h in GENES.items()))
    assert all_negative["mutations"] == []
    old_19del = dict(variant("19del", GENES["egfr"], True, "p.E746_A750del"), effectiveDateTime="2024-05-20")
    record, provenance = read(old_19del, variant("alk", GENES["alk"], False))
    assert record["mutations"] == ["egfr_19del"]  # a later ALK result does not replace EGFR's
    assert provenance["mutations"][-1]["note"].startswith("no result for HGNC:10261")
    record, _ = read(old_19del, variant("t790m", GENES["egfr"], True, "p.Thr790Met"),
                     variant("19del-now", GENES["egfr"], True, "NP_005219.2:p.(L747_P753delinsS)"))
    assert record["mutations"] == ["egfr_19del", "egfr_t790m"]
    record, _ = read(old_19del, variant("egfr-neg", GENES["egfr"], False))
    assert "mutations" not in record  # EGFR's latest result is negative, the other genes untested
    record, _ = read(old_19del, variant("t790m-only", GENES["egfr"], True, "p.T790M"))
    assert record["mutations"] == ["egfr_19del", "egfr_t790m"]  # a T790M test says nothing of the 19del
    t790m_negative = variant("t790m-neg", GENES["egfr"], False, "p.T790M")
    record, _ = read(old_19del, t790m_negative)
    assert record["mutations"] == ["egfr_19del"]


def test_a_value_needs_its_gene_and_its_exact_alteration(kb):
    checked = kb.compiled.checked
    negatives = [variant(g, h, False) for g, h in GENES.items()]
    def mutations(gene, change):
        found = [v for v in negatives if v["id"] != gene] + [variant(gene, GENES[gene], True, change)]
        record, provenance = read_resources([PATIENT, NSCLC, *found], checked, APRIL)
        return record.get("mutations"), provenance["mutations"]
    assert mutations("egfr", "p.T790M")[0] == ["egfr_t790m"]  # not exon 20 insertion
    assert mutations("egfr", "p.L747_P753delinsS")[0] == ["egfr_19del"]
    assert mutations("egfr", "p.D770_N771insSVD")[0] == ["egfr_exon20ins"]
    assert mutations("egfr", "p.G719S")[0] == []  # read, and none of the values
    assert mutations("alk", "p.G1202R")[0] == []  # a resistance mutation, not a fusion
    assert mutations("ret", "p.M918T")[0] == []
    assert mutations("kras", "p.Gly12Asp")[0] == []
    assert mutations("kras", "p.G12C")[0] == ["kras_g12c"]
    unknown, provenance = mutations("egfr", "L858R; no exon 19 deletion detected")
    assert unknown is None and ("the HGNC:3236 variant (L858R; no exon 19 deletion detected) cannot be read as any "
                                "value of mutations") in [o.get("note") for o in provenance]
    fusion = variant("alk-fusion", GENES["alk"], True)
    fusion["component"].append({"code": {"coding": [{"system": LOINC, "code": "48019-4"}]}, "valueCodeableConcept": {
        "coding": [{"system": "http://www.sequenceontology.org", "code": "SO:0001565"}]}})
    record, _ = read_resources([PATIENT, NSCLC, *negatives[:1], *negatives[2:], fusion], checked, APRIL)
    assert record["mutations"] == ["alk_fusion"]


def test_two_values_at_the_same_latest_time_are_a_conflict_naming_both(tmp_path):
    data = bundle("sclc_second_line")
    again = dict(obs("ecog-again", (LOINC, "89247-1"), "2026-03-01", valueInteger=2), subject={"reference": "Patient/pt-fhir-sclc"})
    data["entry"].append({"resource": again})
    path = tmp_path / "conflict.json"
    path.write_text(json.dumps(data))
    result = run("recommend", str(path), "--as-of", "2026-04-01")
    assert result.exit_code == 2
    assert f"{path}: conflicting ecog: Observation/ecog-now says 1 and Observation/ecog-again says 2, " \
           "both at 2026-03-01" in result.output


def test_an_invalid_resource_is_exit_2_naming_it(tmp_path):
    data = bundle("hcc_iiia_portal_vein")
    data["entry"][2]["resource"]["effectiveDateTime"] = "last Tuesday"
    path = tmp_path / "invalid.json"
    path.write_text(json.dumps(data))
    result = run("recommend", str(path))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{path}: Observation/cnlc: invalid Observation: effectiveDateTime: Value error, DateTime value string " \
           "does not match spec regex." in result.output


def test_an_undeclared_code_on_a_claimed_resource_is_exit_2_naming_it(kb):
    unknown = copy.deepcopy(NSCLC)
    unknown["code"]["coding"][0]["code"] = "254625005"  # malignant tumour of lung parenchyma: not declared
    with pytest.raises(PatientError) as err:
        read_resources([PATIENT, unknown], kb.compiled.checked, APRIL, "b.json")
    assert str(err.value).endswith("Condition/dx: no code of it is declared in the knowledge base (codes: "
                                   "http://snomed.info/sct|254625005); declare it with a `code` clause or "
                                   "correct the resource")
    stage = obs("stage", ("urn:oncologic:codes", "cnlc_stage"), "2026-02-01",
                valueCodeableConcept={"coding": [{"system": "urn:oncologic:codes", "code": "cnlc_stage.V"}]})
    with pytest.raises(PatientError, match=r"Observation/stage: Observation.value urn:oncologic:codes\|cnlc_stage.V "
                                           r"is no declared code of a value of cnlc_stage"):
        read_resources([PATIENT, stage], kb.compiled.checked, APRIL)


def test_a_clinical_drug_code_maps_through_its_medications_ingredient(kb):
    medication = {"resourceType": "Medication", "id": "etoposide-inj",
                  "code": {"coding": [{"system": RXNORM, "code": "999999901", "display": "a clinical drug (test)"}]},
                  "ingredient": [{"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "4179"}]}}]}
    request = {"resourceType": "MedicationRequest", "id": "order-1", "status": "completed", "intent": "order",
               "subject": {"reference": "Patient/p"}, "authoredOn": "2025-10-01",
               "medicationReference": {"reference": "Medication/etoposide-inj"}}
    other = dict(request, id="order-2", medicationReference=None,
                 medicationCodeableConcept={"coding": [{"system": RXNORM, "code": "161"}]})  # acetaminophen: not ours
    del other["medicationReference"]
    record, provenance = read_resources([PATIENT, NSCLC, medication, request, other], kb.compiled.checked, APRIL)
    assert record["prior_therapies"] == ["etoposide"]
    assert provenance["prior_therapies"] == [{"resource": "MedicationRequest/order-1", "element": "MedicationRequest.medication",
                                              "date": "2025-10-01", "system": RXNORM, "code": "4179", "system_name": "RXNORM"}]


def test_searchset_and_collection_read_alike_and_a_prefetch_list_too(kb):
    checked = kb.compiled.checked
    searchset = bundle("nsclc_egfr_t790m")
    assert searchset["type"] == "searchset"
    collection = dict(searchset, type="collection", entry=[{"resource": e["resource"]} for e in searchset["entry"]])
    assert read_bundle(searchset, checked, APRIL) == read_bundle(collection, checked, APRIL) \
        == read_resources(resources("nsclc_egfr_t790m"), checked, APRIL)
    assert prefetch_templates(checked) == {
        "patient": "Patient/{{context.patientId}}",
        "adverseEvents": "AdverseEvent?patient={{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "lists": "List?patient={{context.patientId}}",
        "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
        "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
        "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
        "observations": "Observation?patient={{context.patientId}}"}


def test_explain_shows_where_each_value_came_from():
    result = run("explain", str(BUNDLES / "sclc_second_line.json"), "topotecan", "--as-of", "2026-04-01")
    assert result.exit_code == 0
    assert "where the values came from (FHIR):" in result.output
    assert "  histology sclc ← Condition/sclc-dx (SNOMED 254632001, 2025-08-20)" in result.output
    as_json = json.loads(run("explain", str(BUNDLES / "sclc_second_line.json"), "topotecan", "--as-of", "2026-04-01",
                             "--format", "json").output)
    assert as_json["provenance"]["line"] == [{"resource": "Observation/line", "element": "Observation.value",
                                              "date": "2026-03-01", "system": "urn:oncologic:codes", "code": "line",
                                              "system_name": "LOCAL"}]


def test_an_ndjson_bulk_export_is_a_cohort_of_a_record_a_patient(tmp_path):
    by_type: dict[str, list[dict]] = {}
    for name in ("sclc_second_line", "hcc_iiia_portal_vein"):
        for resource in resources(name):
            by_type.setdefault(resource["resourceType"], []).append(resource)
    for kind, items in by_type.items():
        (tmp_path / f"{kind}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in items))
    result = run("cohort", str(tmp_path), "--backend", "pydatalog", "--no-progress")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [line["patient"] for line in lines] == ["pt-fhir-sclc", "pt-fhir-hcc"]


def test_an_adverse_event_gives_its_type_ctcae_grade_and_the_cause_by_its_suspect_drug(kb):
    statement = {"resourceType": "MedicationStatement", "id": "atezo", "status": "active", "subject": {"reference": "Patient/p"},
                 "effectiveDateTime": "2026-01-05", "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1792776"}]}}
    grade = {"url": "http://hl7.org/fhir/us/ctcae/StructureDefinition/ctcae-grade",
             "valueCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/us/ctcae/CodeSystem/ctcae-grade-code-system", "code": "3"}]}}
    event = {"resourceType": "AdverseEvent", "id": "ae-1", "actuality": "actual", "subject": {"reference": "Patient/p"},
             "date": "2026-03-01", "extension": [grade],
             "event": {"coding": [{"system": "urn:oncologic:codes", "code": "adverse_event.colitis"}]},
             "suspectEntity": [{"instance": {"reference": "MedicationStatement/atezo"}}]}
    record, _ = read_resources([PATIENT, NSCLC, statement, event], kb.compiled.checked, APRIL)
    assert record["adverse_events"] == [{"type": "colitis", "grade": 3, "cause": "immune"}]
    odd = dict(event, event={"coding": [{"system": SNOMED, "code": "64226004"}]})
    with pytest.raises(PatientError, match=r"AdverseEvent/ae-1: its event code \(http://snomed.info/sct\|64226004\) is "
                                           r"none of the adverse-event types of the FHIR mapping"):
        read_resources([PATIENT, NSCLC, statement, odd], kb.compiled.checked, APRIL)


def test_a_bundle_of_two_patients_is_refused(kb):
    other = dict(obs("ecog-q", (LOINC, "89247-1"), "2026-03-01", valueInteger=0), subject={"reference": "Patient/q"})
    with pytest.raises(PatientError, match=r"^b.json: holds the resources of 2 patients \(Patient/p, Patient/q\): one "
                                           r"bundle is one patient's record"):
        read_resources([PATIENT, NSCLC, other], kb.compiled.checked, APRIL, "b.json")


def test_a_quantity_with_a_comparator_is_not_an_exact_value_so_unknown(kb):
    tps = obs("tps", (LOINC, "83053-9"), "2026-03-01", valueQuantity={"value": 50, "comparator": "<", "unit": "%",
                                                                       "system": "http://unitsofmeasure.org", "code": "%"})
    older = obs("tps-old", (LOINC, "83053-9"), "2026-01-01", valueQuantity={"value": 60, "unit": "%", "code": "%"})
    record, provenance = read_resources([PATIENT, NSCLC, tps, older], kb.compiled.checked, APRIL)
    assert "pd_l1_tps" not in record
    assert provenance["pd_l1_tps"][0]["note"] == "pd_l1_tps unknown: the value is '< 50%', not an exact value"


def test_a_catalogue_drug_is_found_by_code_then_by_its_name_and_through_any_medication_reference(kb):
    checked = kb.compiled.checked
    def request(id_, **medication):
        return {"resourceType": "MedicationRequest", "id": id_, "status": "completed", "intent": "order",
                "subject": {"reference": "Patient/p"}, "authoredOn": "2025-10-01", **medication}
    by_name = request("gef", medicationCodeableConcept={"coding": [{"system": RXNORM, "code": "328134", "display": "gefitinib"}]})
    clinical = request("tab", medicationCodeableConcept={"coding": [{"system": RXNORM, "code": "1721565",
                                                                     "display": "osimertinib 80 MG Oral Tablet"}]})
    carbo = {"resourceType": "Medication", "id": "carbo", "code": {"coding": [{"system": RXNORM, "code": "40048"}]}}
    by_uuid = request("uuid", medicationReference={"reference": "urn:uuid:0b7d2c8e-1111-4f5e-9c1a-000000000001"})
    pem = request("pem", medicationReference={"reference": "#m"}, contained=[
        {"resourceType": "Medication", "id": "m", "code": {"text": "Pemetrexed disodium 500 MG Injection"}}])
    bundle_ = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": PATIENT}, {"resource": NSCLC}, {"resource": by_name}, {"resource": clinical}, {"resource": pem},
        {"fullUrl": "urn:uuid:0b7d2c8e-1111-4f5e-9c1a-000000000001", "resource": carbo}, {"resource": by_uuid}]}
    record, provenance = read_bundle(bundle_, checked, APRIL)
    assert record["prior_therapies"] == ["carboplatin", "gefitinib", "osimertinib", "pemetrexed"]
    notes = {o["resource"]: o.get("note") for o in provenance["prior_therapies"]}
    assert notes == {"MedicationRequest/gef": "matched by name in 'gefitinib'",
                     "MedicationRequest/tab": "matched by name in 'osimertinib 80 MG Oral Tablet'",
                     "MedicationRequest/pem": "matched by name in 'Pemetrexed disodium 500 MG Injection'",
                     "MedicationRequest/uuid": None}


def test_a_resource_whose_patient_cannot_be_told_is_never_given_to_a_patient(kb, tmp_path):
    checked = kb.compiled.checked
    elsewhere = dict(obs("ecog-x", (LOINC, "89247-1"), "2026-03-01", valueInteger=4), subject={"reference": "https://ehr/fhir/Patient/p2"})
    with pytest.raises(PatientError, match=r"holds the resources of 2 patients \(Patient/p, Patient/p2\).*; "
                                           r"Observation/ecog-x names Patient/p2$"):
        read_resources([PATIENT, NSCLC, elsewhere], checked, APRIL)
    nobody = obs("ecog-x", (LOINC, "89247-1"), "2026-03-01", valueInteger=4)
    del nobody["subject"]
    with pytest.raises(PatientError, match=r"Observation/ecog-x: names no patient \(no subject\): whose record is it\?"):
        read_resources([PATIENT, NSCLC, nobody], checked, APRIL)
    same = dict(nobody, subject={"reference": "https://ehr/fhir/Patient/p"})
    assert read_resources([PATIENT, NSCLC, same], checked, APRIL)[0]["ecog"] == 4
    by_uuid = read_bundle({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:aa", "resource": PATIENT}, {"resource": NSCLC}, {"resource": dict(same, subject={"reference": "urn:uuid:aa"})}]},
        checked, APRIL)[0]
    assert by_uuid["ecog"] == 4 and by_uuid["id"] == "p"
    # a bulk export: the stray resource is reported where it is and skipped, the patients unharmed
    data = resources("hcc_iiia_portal_vein")
    (tmp_path / "Patient.ndjson").write_text("".join(json.dumps(r) + "\n" for r in data if r["resourceType"] == "Patient"))
    (tmp_path / "Observation.ndjson").write_text("".join(json.dumps(r) + "\n" for r in data if r["resourceType"] != "Patient")
                                                 + json.dumps(nobody) + "\n")
    result = run("cohort", str(tmp_path), "--backend", "pydatalog", "--no-progress")
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [line["patient"] for line in lines] == ["pt-fhir-hcc"] and lines[0]["recommendations"]
    assert f"Observation.ndjson:{len(data)}: Observation/ecog-x: its patient cannot be told (no subject): skipped" in result.output


HISTOLOGY_EXT = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"


def condition(id_: str, code: str, onset: str = "2025-01-01", histology: str | None = None, **more) -> dict:
    out = dict(copy.deepcopy(NSCLC), id=id_, onsetDateTime=onset, code={"coding": [{"system": SNOMED, "code": code}]}, **more)
    if histology:
        out["extension"] = [{"url": HISTOLOGY_EXT, "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": histology}]}}]
    return out


def test_primary_cancer_conditions_refuted_resolved_two_primaries_and_the_histology_extension(kb):
    checked = kb.compiled.checked
    def read(*conditions):
        return read_resources([PATIENT, *conditions], checked, APRIL, "b.json")
    refuted = condition("sclc", "254632001", verificationStatus={"coding": [{"code": "refuted"}]})
    assert read(refuted, condition("adeno", "254626006"))[0]["histology"] == "adenocarcinoma"
    record, provenance = read(condition("nsclc", "254637007", histology="254626006"))
    assert record["histology"] == "adenocarcinoma"  # the extension's specific value beats the code's NSCLC
    assert provenance["histology"][0]["element"] == "Condition.extension"
    with pytest.raises(PatientError, match=r"Condition/adeno: conflicting histology in one Condition: "
                                           r"code.coding http://snomed.info/sct\|254626006 = adenocarcinoma; "
                                           r"extension http://snomed.info/sct\|254634000 = squamous"):
        read(condition("adeno", "254626006", histology="254634000"))
    hcc = condition("hcc", "25370001", onset="2026-01-01")
    with pytest.raises(PatientError, match=r"conflicting cancer: Condition/hcc says hcc and Condition/adeno says "
                                           r"histology adenocarcinoma \(cancer lung\) \(two primary cancers\?"):
        read(condition("adeno", "254626006"), hcc)
    resolved = dict(hcc, clinicalStatus={"coding": [{"code": "resolved"}]})
    record, _ = read(condition("adeno", "254626006"), resolved)
    assert record["cancer"] == "lung" and record["histology"] == "adenocarcinoma"
    with pytest.raises(PatientError, match=r"^b.json: no primary cancer Condition giving 'cancer' was found \(.*\): "
                                           r"Condition/adeno begins 2026-05-01, after the as-of date 2026-04-01"):
        read(condition("adeno", "254626006", onset="2026-05-01"))
    plain = dict(condition("plain", "254626006"), meta={"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition"]})
    assert read(plain)[0]["histology"] == "adenocarcinoma"  # a declared code without the mCODE profile


def test_a_value_of_the_wrong_type_or_range_is_exit_2_naming_the_resource_and_element(kb):
    checked = kb.compiled.checked
    def read(*more):
        return read_resources([PATIENT, NSCLC, *more], checked, APRIL, "b.json")
    coded = obs("ecog", (LOINC, "89247-1"), "2026-03-01", valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA9623-5"}]})
    with pytest.raises(PatientError, match=r"^b.json: Observation/ecog: Observation.value: ecog needs a whole number "
                                           r"\(valueInteger\), not a CodeableConcept"):
        read(coded)
    with pytest.raises(PatientError, match=r"^b.json: Observation/ecog: Observation.value: ecog needs a whole number, "
                                           r"not a Quantity \{\"value\": \"1.5\""):
        read(obs("ecog", (LOINC, "89247-1"), "2026-03-01", valueQuantity={"value": 1.5}))
    with pytest.raises(PatientError, match=r"^b.json: Observation/ecog: Observation.value: attribute 'ecog': 7 is "):
        read(obs("ecog", (LOINC, "89247-1"), "2026-03-01", valueInteger=7))
    fraction = obs("tps", (LOINC, "83053-9"), "2026-03-01", valueQuantity={"value": 0.5, "system": "http://unitsofmeasure.org", "code": "1"})
    assert read(fraction)[0]["pd_l1_tps"] == "50 %"
    yes = obs("rs", ("urn:oncologic:codes", "radical_therapy_suitable"), "2026-03-01",
              valueCodeableConcept={"coding": [{"system": SNOMED, "code": "373066001"}]})
    assert read(yes)[0]["radical_therapy_suitable"] is True


def test_several_lesions_measured_the_same_day_give_the_largest(kb):
    sizes = [obs(f"lesion{i}", (LOINC, "33728-7"), "2026-02-10", valueQuantity={"value": v, "unit": u, "code": u})
             for i, (v, u) in enumerate([(5.2, "cm"), (30, "mm"), (4, "cm")])]
    old = obs("lesion-old", (LOINC, "33728-7"), "2026-01-10", valueQuantity={"value": 9, "unit": "cm", "code": "cm"})
    record, provenance = read_resources([PATIENT, NSCLC, *sizes, old], kb.compiled.checked, APRIL)
    assert record["max_tumor_diameter"] == "5.2 cm"
    assert provenance["max_tumor_diameter"][0]["note"] == "the largest of 3 measured at that time"


def test_therapy_is_prior_or_current_as_of_the_date_and_a_proposal_was_never_given(kb):
    statement = {"resourceType": "MedicationStatement", "id": "carbo", "status": "completed", "subject": {"reference": "Patient/p"},
                 "effectivePeriod": {"start": "2026-01-05", "end": "2026-05-01"},
                 "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "40048"}]}}
    proposal = {"resourceType": "MedicationRequest", "id": "osi", "status": "active", "intent": "proposal",
                "subject": {"reference": "Patient/p"}, "authoredOn": "2026-03-01",
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1721560", "display": "osimertinib"}]}}
    record, _ = read_resources([PATIENT, NSCLC, statement, proposal], kb.compiled.checked, APRIL)
    assert record["current_therapy"] == ["carboplatin"] and "prior_therapies" not in record
    later, _ = read_resources([PATIENT, NSCLC, statement, proposal], kb.compiled.checked, datetime.date(2026, 6, 1))
    assert later["prior_therapies"] == ["carboplatin"] and "current_therapy" not in later


def test_a_cohort_of_bundles_a_jsonl_of_bundles_and_as_of(tmp_path):
    sclc, hcc = bundle("sclc_second_line"), bundle("hcc_iiia_portal_vein")
    lines = tmp_path / "bundles.jsonl"
    lines.write_text(json.dumps(sclc) + "\n" + json.dumps(hcc) + "\n")
    both = tmp_path / "both.json"
    both.write_text(json.dumps(dict(sclc, type="collection", entry=sclc["entry"] + hcc["entry"])))
    for path in (lines, both):
        result = run("cohort", str(path), "--backend", "pydatalog", "--no-progress", "--as-of", "2026-04-01")
        assert result.exit_code == 0, result.output
        out = {line["patient"]: line for line in map(json.loads, (x for x in result.output.splitlines() if x.startswith("{")))}
        flat = json.loads(run("recommend", str(ROOT / "examples" / "patients" / "fhir_sclc_second_line.json"),
                              "--format", "json").output)
        assert list(out) == ["pt-fhir-sclc", "pt-fhir-hcc"] and out["pt-fhir-sclc"]["recommendations"] == flat["recommendations"]
    earlier = run("cohort", str(lines), "--backend", "pydatalog", "--no-progress", "--as-of", "2026-02-01")
    first = json.loads(next(x for x in earlier.output.splitlines() if x.startswith("{")))
    assert first["recommendations"] != out["pt-fhir-sclc"]["recommendations"]  # read as of that earlier day


def test_a_bundle_over_a_mebibyte_is_read_and_a_flat_record_that_large_is_not(tmp_path):
    data = bundle("sclc_second_line")
    patient = next(e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["text"] = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">' + "x" * (1 << 20) + "</div>"}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data))
    assert run("recommend", str(path), "--as-of", "2026-04-01").exit_code == 0
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"id": "x", "cancer": "lung", "note": "x" * (1 << 20)}))
    result = run("recommend", str(flat))
    assert result.exit_code == 2 and "a record file holds at most 1048576 bytes, a FHIR Bundle 67108864" in result.output


def test_an_incomplete_searchset_is_refused(kb):
    checked = kb.compiled.checked
    page = dict(bundle("nsclc_egfr_t790m"), link=[{"relation": "next", "url": "https://ehr/fhir/Observation?page=2"}])
    with pytest.raises(PatientError, match=r"Bundle/.*: one page of a search \(it has a 'next' link\)"):
        read_bundle(page, checked, APRIL)
    with pytest.raises(PatientError, match=r"holds \d+ of the search's 400 matches"):
        read_bundle(dict(bundle("nsclc_egfr_t790m"), total=400), checked, APRIL)


def test_partial_dates_count_by_their_last_day_and_times_compare_as_instants(kb):
    checked = kb.compiled.checked
    april = obs("ecog-april", (LOINC, "89247-1"), "2026-04", valueInteger=3)
    march = obs("ecog-march", (LOINC, "89247-1"), "2026-03-01", valueInteger=1)
    assert read_resources([PATIENT, NSCLC, april, march], checked, APRIL)[0]["ecog"] == 1  # April may be after the 1st
    assert read_resources([PATIENT, NSCLC, april, march], checked, datetime.date(2026, 4, 30))[0]["ecog"] == 3
    east = obs("ecog-east", (LOINC, "89247-1"), "2026-03-10T09:00:00+08:00", valueInteger=2)  # 01:00 UTC
    utc = obs("ecog-utc", (LOINC, "89247-1"), "2026-03-10T02:00:00Z", valueInteger=0)  # an hour later
    record, provenance = read_resources([PATIENT, NSCLC, east, utc], checked, APRIL)
    assert record["ecog"] == 0 and provenance["ecog"][0]["resource"] == "Observation/ecog-utc"


def test_as_of_on_a_flat_record_is_said_to_be_ignored_and_explain_says_what_is_implied_and_unknown(tmp_path):
    result = CliRunner().invoke(main, ["recommend", str(ROOT / "examples" / "patients" / "fhir_sclc_second_line.json"),
                                       "--as-of", "2026-04-01"])
    assert result.exit_code == 0
    assert "note: --as-of applies to FHIR records; " in result.stderr and "is a flat record, read as it is" in result.stderr
    data = bundle("nsclc_egfr_t790m")
    data["entry"] = [e for e in data["entry"] if e["resource"]["id"] != "alk-negative"]
    for e in data["entry"]:
        if e["resource"]["id"] == "egfr-t790m":
            e["resource"]["component"][1]["valueCodeableConcept"] = {"text": "EGFR exon 20 T790M"}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    shown = " ".join(run("explain", str(BUNDLES / "nsclc_egfr_t790m.json"), "osimertinib", "--as-of", "2026-04-01").output.split())
    assert "cancer lung ← Condition/nsclc-dx (SNOMED 254626006, 2024-05-10), implied by histology" in shown
    shown = " ".join(run("explain", str(path), "osimertinib", "--as-of", "2026-04-01").output.split())
    assert ("mutations unknown ← Observation/egfr-dx (LOINC 48018-6, 2024-05-20); Observation/egfr-19del "
            "(LOINC 48018-6, 2026-03-10); Observation/egfr-t790m "
            "(LOINC 48018-6, 2026-03-10): the HGNC:3236 variant "
            "(EGFR exon 20 T790M) cannot be read as any value of mutations") in shown


def test_a_data_absent_reason_makes_the_value_unknown(kb):
    absent = obs("ecog", (LOINC, "89247-1"), "2026-03-01",
                 dataAbsentReason={"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "asked-declined"}]})
    older = obs("ecog-old", (LOINC, "89247-1"), "2026-01-01", valueInteger=0)
    record, provenance = read_resources([PATIENT, NSCLC, absent, older], kb.compiled.checked, APRIL)
    assert "ecog" not in record and provenance["ecog"][0]["note"] == "ecog unknown: no value (dataAbsentReason: asked-declined)"


def test_an_observation_status_outside_its_value_set_is_exit_2(kb):
    with pytest.raises(PatientError, match=r"Observation/ecog: invalid Observation: status: 'bogus' is not one of amended, "):
        read_resources([PATIENT, NSCLC, dict(obs("ecog", (LOINC, "89247-1"), "2026-03-01", valueInteger=1), status="bogus")],
                       kb.compiled.checked, APRIL)
