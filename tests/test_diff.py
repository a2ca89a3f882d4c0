"""``oncologic diff OLD_KB NEW_KB [PATIENTS...]`` (CONTRACT §3, docs/diff.md): the rules and
declarations that changed between two knowledge bases, and the patients' conclusions that change,
each with its cause. NEW is a copy of the shipped facts/ with real edits."""
import json
import shutil

import pytest
from click.testing import CliRunner

from oncologic.cli import main
from support import EXAMPLES, ROOT

OLD = str(ROOT / "facts")
TFI89, TFI90, SCLC2, T790M = (str(EXAMPLES / f) for f in (
    "sclc_tfi_89d.json", "sclc_tfi_90d.json", "sclc_second_line.json", "nsclc_resistance_t790m.json"))

TOPOTECAN = """recommendation sclc.second_line.chemo.topotecan
  recommend topotecan
  for refractory_sclc_second_line
  strength strong  evidence I  consensus 92%"""
BENDAMUSTINE = """recommendation sclc.second_line.chemo.bendamustine
  recommend bendamustine
  for refractory_sclc_second_line
  strength moderate  evidence V  consensus 92%
  source consensus_refractory_lung "Table 3 (中等推荐, 化疗); §三(一)1"

"""
AMRUBICIN_SOURCE = """  recommend amrubicin
  for refractory_sclc_second_line
  strength strong  evidence I  consensus 92%
  source consensus_refractory_lung "Table 3 (强推荐, 化疗); §三(一)1\""""
IRINOTECAN = """
recommendation sclc.second_line.chemo.irinotecan
  recommend irinotecan
  for refractory_sclc_second_line
  strength weak  evidence V  consensus 62%
  source consensus_refractory_lung "Table 3"
"""


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="module")
def new_kb(tmp_path_factory):
    new = tmp_path_factory.mktemp("diff") / "new"
    shutil.copytree(ROOT / "facts", new)
    lung = new / "lung"
    # a threshold written in another unit: 90d -> 3mo (91.3125 d)
    edit(lung / "refractory.rules", "tfi < 90d and not small_cell_transformation", "tfi < 3mo and not small_cell_transformation")
    # only re-wrapped, with comments (and every line below it moves): no change
    edit(lung / "refractory.rules", "  id refractory_lung_cancer.sclc\n  if refractory_sclc\n",
         "  id refractory_lung_cancer.sclc\n  # re-wrapped\n  if\n     refractory_sclc   # the only condition\n")
    edit(lung / "sclc.rules", TOPOTECAN, TOPOTECAN.replace("strength strong  evidence I  consensus 92%",
                                                          "strength moderate  evidence I  consensus 70%"))
    edit(lung / "sclc.rules", BENDAMUSTINE, "")  # a rule removed
    edit(lung / "sclc.rules", AMRUBICIN_SOURCE, AMRUBICIN_SOURCE.replace('"Table 3 (强推荐, 化疗); §三(一)1"', '"Table 3"'))
    with open(lung / "sclc.rules", "a", encoding="utf-8") as f:
        f.write(IRINOTECAN)  # a rule added
    # declarations: an enum value renamed; a drug moved to another class
    edit(lung / "patient.rules", "attribute sclc_stage: enum limited, extensive", "attribute sclc_stage: enum limited_stage, extensive")
    edit(lung / "patient.rules", "  value limited   label", "  value limited_stage label")
    edit(new / "common" / "drugs.rules", "drug gefitinib    is egfr_tki_first_generation ",
         "drug gefitinib    is egfr_tki_third_generation ")
    return new


@pytest.fixture(scope="module")
def cohort(new_kb):
    path = new_kb.parent / "cohort.jsonl"
    lines = [json.dumps(json.load(open(p, encoding="utf-8"))) for p in (TFI89, TFI90)]
    lines += ['{"id": "pt-limited", "cancer": "lung", "histology": "sclc", "sclc_stage": "limited", "tfi": "30d", "line": 2}',
              '{"id": "pt-bad", "cancer": "lung", "ecog": 9}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def report(new_kb, cohort):
    out = CliRunner().invoke(main, ["diff", OLD, str(new_kb), TFI89, TFI90, SCLC2, T790M, str(cohort), "--format", "json"])
    # pt-bad is invalid under both: bad input (CONTRACT §1), after the whole report
    assert out.exit_code == 2, out.output
    assert out.stderr == "error: 1 record invalid under both knowledge bases or unreadable (listed in the report: errors)\n"
    return json.loads(out.stdout)


def changes(entry) -> dict:
    return {c["conclusion"]: (c["section_old"], c["section_new"], c["causes"]) for c in entry["changes"]}


def test_rules_added_removed_and_changed(report, new_kb):
    rules = report["rules"]
    assert [(r["id"], r["kind"]) for r in rules["added"]] == [("sclc.second_line.chemo.irinotecan", "recommendation")]
    assert rules["added"][0]["file"] == f"{new_kb}/lung/sclc.rules"
    assert [(r["id"], r["file"], r["line"]) for r in rules["removed"]] == [
        ("sclc.second_line.chemo.bendamustine", f"{OLD}/lung/sclc.rules", 35)]
    changed = {r["id"]: r for r in rules["changed"]}
    # the re-wrapped refractory_lung_cancer.sclc and every moved rule are no change
    assert list(changed) == ["refractory_sclc.tfi", "sclc.second_line.chemo.topotecan", "sclc.second_line.chemo.amrubicin"]
    tfi = changed["refractory_sclc.tfi"]
    assert tfi["old"] == {"file": f"{OLD}/lung/refractory.rules", "line": 9}
    assert tfi["changes"] == [{
        "field": "condition",
        "old": "lung_cancer and histology = sclc and tfi < 90d and not small_cell_transformation",
        "new": "lung_cancer and histology = sclc and tfi < 3mo and not small_cell_transformation",
        "tests_removed": ["tfi < 90d"], "tests_added": ["tfi < 91.3125d"],  # one unit: days
        "unit_converted": True}]
    assert changed["sclc.second_line.chemo.topotecan"]["changes"] == [
        {"field": "strength", "old": "strong", "new": "moderate"}, {"field": "consensus", "old": "92%", "new": "70%"}]
    assert changed["sclc.second_line.chemo.amrubicin"]["changes"] == [
        {"field": "source", "old": ['consensus_refractory_lung "Table 3 (强推荐, 化疗); §三(一)1"'],
         "new": ['consensus_refractory_lung "Table 3"']}]


def test_declarations_that_changed_meaning(report):
    decl = report["declarations"]
    assert decl["added"] == [] and decl["removed"] == []
    assert [(d["what"], d["name"], d["changes"]) for d in decl["changed"]] == [
        ("attribute", "sclc_stage", [{"field": "values", "old": ["limited", "extensive"], "new": ["limited_stage", "extensive"]}]),
        ("item", "gefitinib", [{"field": "classes", "old": ["egfr_tki_first_generation"], "new": ["egfr_tki_third_generation"]}]),
    ]


TOPO = "sclc.second_line.chemo.topotecan"
BENDA = "sclc.second_line.chemo.bendamustine"
IRINO = "sclc.second_line.chemo.irinotecan"
SAME_SECOND_LINE = {  # a refractory SCLC before and after (tfi 45 d, 89 d): the three rule edits, each its own cause
    "topotecan": ("recommendations", "recommendations", [TOPO]),
    "bendamustine": ("recommendations", None, [BENDA]),
    "irinotecan": (None, "recommendations", [IRINO]),
}


def test_patients_conclusions_direction_and_cause(report):
    by_where = {p["where"]: p for p in report["patients"]}
    assert changes(by_where[TFI89]) == SAME_SECOND_LINE
    assert changes(by_where[SCLC2]) == SAME_SECOND_LINE
    topotecan = next(c for c in by_where[TFI89]["changes"] if c["conclusion"] == "topotecan")
    assert (topotecan["old"], topotecan["new"]) == ({"strength": "strong", "evidence": "I", "consensus": 92},
                                                    {"strength": "moderate", "evidence": "I", "consensus": 70})
    # tfi 90 d: refractory only under tfi < 3mo; everything it opens is caused by that rule
    at90 = changes(by_where[TFI90])
    assert at90["refractory_sclc"] == (None, "derived", ["refractory_sclc.tfi"])
    assert at90["refractory_sclc_second_line"] == (None, "derived", ["refractory_sclc.tfi"])
    assert at90["topotecan"] == (None, "recommendations", ["refractory_sclc.tfi"])
    assert at90["amrubicin"] == (None, "recommendations", ["refractory_sclc.tfi"])
    assert at90["irinotecan"] == (None, "recommendations", ["refractory_sclc.tfi", IRINO])
    assert at90["bronchoscopic_intervention"] == (None, "possible", ["refractory_sclc.tfi"])
    assert "bendamustine" not in at90  # absent before and after
    # a declaration change (gefitinib no longer first-generation) is the cause, named as such
    t790m = {c["conclusion"]: c for c in by_where[T790M]["changes"]}
    osimertinib = t790m["osimertinib"]
    assert (osimertinib["section_old"], osimertinib["section_new"], osimertinib["causes"]) == ("recommendations", None, [])
    assert osimertinib["declarations"] == [{"what": "item", "name": "gefitinib", "change": "changed"}]


def test_a_cohort_and_records_valid_under_one_knowledge_base(report, cohort):
    by_where = {p["where"]: p for p in report["patients"]}
    assert changes(by_where[f"{cohort}:1"]) == SAME_SECOND_LINE
    assert changes(by_where[f"{cohort}:2"]) == changes(by_where[TFI90])
    limited = by_where[f"{cohort}:3"]
    assert limited["patient"] == "pt-limited" and limited["changes"] == [] and limited["error_old"] is None
    assert "attribute 'sclc_stage'" in limited["error_new"] and "limited_stage" in limited["error_new"]
    assert [e["where"] for e in report["errors"]] == [f"{cohort}:4"]  # invalid under both
    assert "'ecog'" in report["errors"][0]["error"]
    assert report["summary"] == {"rules_added": 1, "rules_removed": 1, "rules_changed": 3, "declarations_changed": 2,
                                 "patients_compared": 6, "patients_changed": 6, "patients_valid_under_one": 1,
                                 "patients_invalid": 1}


def test_text_for_a_committee(new_kb):
    out = CliRunner().invoke(main, ["diff", OLD, str(new_kb), TFI90])
    assert out.exit_code == 0, out.output
    text = out.output
    assert f"  + sclc.second_line.chemo.irinotecan  [recommendation]  {new_kb}/lung/sclc.rules:" in text
    assert f"  - sclc.second_line.chemo.bendamustine  [recommendation]  {OLD}/lung/sclc.rules:35\n" in text
    assert ("      condition: lung_cancer and histology = sclc and tfi < 90d and not small_cell_transformation\n"
            "               → lung_cancer and histology = sclc and tfi < 3mo and not small_cell_transformation\n"
            "      (in the canonical unit: tfi < 90d → tfi < 91.3125d)\n") in text
    assert "      strength: strong → moderate\n      consensus: 92% → 70%\n" in text
    assert "    topotecan: absent → recommended (moderate, I, 70%)\n" \
           f"      because of refractory_sclc.tfi (changed: condition; {new_kb}/lung/refractory.rules:9)\n" in text
    assert text.rstrip().endswith("1 of 1 patient(s) change")


def test_no_difference_and_bad_input(new_kb, tmp_path):
    same = CliRunner().invoke(main, ["diff", OLD, OLD, SCLC2, "--format", "json"])
    assert same.exit_code == 0
    data = json.loads(same.output)
    assert data["rules"] == {"added": [], "removed": [], "changed": []} and data["patients"] == []
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.rules").write_text('concept oops\n  if cancr = lung\n  source nowhere "x"\n', encoding="utf-8")
    out = CliRunner().invoke(main, ["diff", OLD, str(broken)])
    assert out.exit_code == 2
    assert f"{broken}/x.rules:2:6: error[" in out.stderr and "'cancr'" in out.stderr and "Traceback" not in out.output
    missing = CliRunner().invoke(main, ["diff", OLD, str(new_kb), str(tmp_path / "nobody.json")])
    assert missing.exit_code == 2 and "nobody.json: no such patient file or folder" in missing.stderr


ENUM_OLD = """
document doc "doc.txt" title "Test document"
attribute id: string required
attribute line: int 1..
attribute response: enum cr, pd
attribute tfi: duration 0d..
concept refractory
  if response = pd and tfi < 90d
  source doc "§1"
"""


def test_an_enum_rename_is_a_changed_condition_without_a_canonical_unit_line(tmp_path):
    from minikb import write_kb
    old = write_kb(tmp_path, "", vocabulary=ENUM_OLD, name="old")
    new = write_kb(tmp_path, "", vocabulary=ENUM_OLD.replace("enum cr, pd", "enum cr, progressive")
                   .replace("response = pd", "response = progressive"), name="new")
    out = CliRunner().invoke(main, ["diff", str(old), str(new)])
    assert out.exit_code == 0, out.output
    assert ("      condition: response = pd and tfi < 90d\n"
            "               → response = progressive and tfi < 90d\n\n") in out.output
    assert "canonical unit" not in out.output  # nothing was converted: the lines above say it all
    data = json.loads(CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "json"]).output)
    (change,) = data["rules"]["changed"][0]["changes"]
    assert (change["tests_removed"], change["tests_added"], change["unit_converted"]) == (
        ["response = pd"], ["response = progressive"], False)
    # a threshold written in another unit does get the line
    months = write_kb(tmp_path, "", vocabulary=ENUM_OLD.replace("tfi < 90d", "tfi < 3mo"), name="months")
    out = CliRunner().invoke(main, ["diff", str(old), str(months)])
    assert "      (in the canonical unit: tfi < 90d → tfi < 91.3125d)\n" in out.output


def test_records_invalid_under_both_in_line_order_with_their_ids(tmp_path):
    from minikb import write_kb
    kb = write_kb(tmp_path, "", vocabulary=ENUM_OLD)
    cohort = tmp_path / "cohort.jsonl"
    cohort.write_text('{"id": "pt-1", "line": 2}\n{"id": "pt-bad", "line": 0}\n{"id": "pt-broken", \n'
                      '{"line": -1}\n', encoding="utf-8")
    out = CliRunner().invoke(main, ["diff", str(kb), str(kb), str(cohort)])
    assert out.exit_code == 2 and out.stderr == \
        "error: 3 records invalid under both knowledge bases or unreadable (listed in the report)\n", out.output
    listed = out.stdout.split("Records that are invalid under both (3)\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split(": ", 1)[0] for line in listed] == ["  pt-bad", f"  {cohort}:3", f"  {cohort}:4"]
    assert listed[0].startswith(f"  pt-bad: {cohort}:2: attribute 'line'")  # the id, then the error naming file:line
    data = json.loads(CliRunner().invoke(main, ["diff", str(kb), str(kb), str(cohort), "--format", "json"]).stdout)
    assert [(e["where"], e["patient"]) for e in data["errors"]] == [
        (f"{cohort}:2", "pt-bad"), (f"{cohort}:3", None), (f"{cohort}:4", None)]


def test_a_record_valid_under_one_knowledge_base_has_its_own_section(new_kb, cohort, tmp_path):
    limited = tmp_path / "limited.jsonl"
    limited.write_text(cohort.read_text(encoding="utf-8").splitlines()[2] + "\n", encoding="utf-8")
    out = CliRunner().invoke(main, ["diff", OLD, str(new_kb), str(limited)])
    assert out.exit_code == 0, out.output  # a difference, not bad input
    assert "Patients whose conclusions change" not in out.stdout
    section = out.stdout.split("\n\nRecords valid under one knowledge base only (1)\n", 1)[1].split("\n\n", 1)[0]
    head, why = section.splitlines()
    assert head == f"  pt-limited  ({limited}:1)"
    assert why.startswith("    valid under OLD only; under NEW: ") and "attribute 'sclc_stage'" in why
    assert out.stdout.rstrip().endswith("0 of 0 patient(s) change; 1 valid under one knowledge base only")
