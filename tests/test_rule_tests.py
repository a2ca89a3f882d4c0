"""Rule tests (docs/rule-tests.md): every rule test shipped beside the rules passes, every rule
of the shipped knowledge base is reached by one, and the runner itself (`oncologic test`) on a
small knowledge base: comparisons, gradings, sets, patients, bad input, coverage, JSON."""
from __future__ import annotations

import functools
import json
import textwrap

import pytest
from click.testing import CliRunner

from minikb import write_kb
from support import shipped_kb

from oncologic.authoring import ruletests
from oncologic.cli import main


# -- the shipped knowledge base -----------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _shipped():
    """(tests, report) of the shipped rule tests, or the load error's message."""
    kb = shipped_kb()
    try:
        tests = ruletests.load_tests(kb)
    except ruletests.TestFileError as err:
        return str(err), None
    return tests, ruletests.run(kb, tests)


def _shipped_ids() -> list[str]:
    tests, _ = _shipped()
    if isinstance(tests, str):
        return ["<the rule-test files>"]
    return [f"{t.file}::{t.name}" for t in tests]


@pytest.mark.parametrize("test_id", _shipped_ids())
def test_shipped_rule_test(test_id):
    tests, report = _shipped()
    assert not isinstance(tests, str), tests  # bad input in a shipped test file
    outcome = next(o for o in report.outcomes if f"{o.test.file}::{o.test.name}" == test_id)
    assert outcome.ok, "\n" + "\n".join([f"FAIL {outcome.test.file}:{outcome.test.line}  {outcome.test.name}",
                                         *ruletests.failure_lines(outcome)])


def test_every_shipped_rule_is_reached_by_a_rule_test():
    tests, report = _shipped()
    assert not isinstance(tests, str), tests
    assert report.unreached == [], "rules no rule test reaches:\n" + "\n".join(
        f"  {rule}  {file}:{line}" for rule, file, line in report.unreached)


# -- the runner on a small knowledge base -------------------------------------------------------

RULES = """
concept refractory
  if histology = sclc and tfi < 90d
  source doc "s1"

setting second_line
  if refractory and line = 2
  source doc "s2"

recommendation r.topotecan
  recommend topotecan
  for second_line
  strength strong  evidence I  consensus 92%
  source doc "t1"

recommendation r.combo
  recommend carboplatin + anlotinib
  for second_line
  strength weak  evidence V  consensus 68%
  source doc "t2"

recommendation r.bev
  recommend bevacizumab
  if refractory and ecog <= 1
  source doc "t3"

recommendation r.no_anlotinib
  do not recommend anlotinib
  if refractory and line >= 3
  consensus 46%
  source doc "t4"
  because "not in third line"

recommendation r.unreached
  recommend bronchoscopy
  if stenosis
  source doc "t5"
"""

HEAD = """
patient:
  cancer: lung
  histology: sclc
  tfi: 45d
  line: 2
  ecog: 1
  stenosis: false
sets:
  second:
    topotecan: strong I 92%
    anlotinib+carboplatin: weak V 68%
"""


def _kb(tmp_path, tests: str, name: str = "kb"):
    folder = write_kb(tmp_path, RULES, name=name)
    (folder / "sclc.tests.yaml").write_text(textwrap.dedent(HEAD) + textwrap.dedent(tests), encoding="utf-8")
    return folder


def _run(folder, *args):
    return CliRunner().invoke(main, ["test", "--kb", str(folder), *args])


def _json(folder, *args):
    res = _run(folder, "--format", "json", *args)
    return res.exit_code, json.loads(res.output) if res.output.startswith("{") else res.output


PASSING = """
tests:
  - test: second line
    recommended: [second, bevacizumab]
    possible: []
    not_recommended: []
    contraindicated: []
    concepts: [refractory, second_line]
    missing: []
    verdicts: {refractory: holds, second_line: holds, r.no_anlotinib: fails}
  - test: mapping form
    recommended: {second:, bevacizumab: ungraded}
  - test: third line
    patient: {line: 3}
    recommended: {bevacizumab: {strength: null, rule: r.bev}}
    not_recommended: {anlotinib: 46%}
    concepts: {includes: [refractory], excludes: [second_line]}
  - test: poor performance
    extends: third line
    patient: {ecog: 2}
    recommended: []
    not_recommended: [anlotinib]
  - test: ecog unknown
    patient: {ecog: null}
    recommended: {includes: [topotecan], excludes: [bevacizumab]}
    possible: {bevacizumab: {missing: [ecog], strength: null}}
    missing: [ecog]
  - test: from a file
    patient_file: patients/late.json
    patient: {tfi: 100d}
    concepts: []
    verdicts: {refractory: fails}
"""


def test_passing_tests_exit_0_and_report_each(tmp_path):
    folder = _kb(tmp_path, PASSING)
    (folder / "patients").mkdir()
    (folder / "patients" / "late.json").write_text('{"cancer": "lung", "histology": "sclc", "line": 2}')
    (folder / "more.tests.yaml").write_text("tests:\n  - {test: one, patient: {cancer: lung, line: 2}, recommended: []}\n")
    res = _run(folder)
    assert res.exit_code == 0, res.output
    shown = str(folder / "sclc.tests.yaml")
    assert res.output.splitlines() == [  # a line per test file
        f"{folder / 'more.tests.yaml'}  1 passed",
        f"{shown}  6 passed",
        "coverage: 6/7 rules reached by a test",
        f"  not reached: r.unreached  {folder / 'rules.rules'}:34",
        "7 tests: 7 passed, 0 failed"]
    verbose = _run(folder, "-v").output.splitlines()  # a line per test
    assert verbose[0] == f"PASS {folder / 'more.tests.yaml'}:2  one"
    assert f"PASS {shown}:15  second line" in verbose and f"PASS {shown}:40  from a file" in verbose
    assert len(verbose) == 7 + 3


def test_a_missing_patient_file_is_named_as_written(tmp_path):
    folder = _kb(tmp_path, "tests:\n  - test: t\n    patient_file: ../elsewhere/p.json\n    recommended: []\n")
    res = _run(folder)
    assert res.exit_code == 2
    assert res.output.splitlines()[0] == (f"error: {folder / 'sclc.tests.yaml'}:15: test 't': patient_file "
                                          "'../elsewhere/p.json' (relative to the test file): no such file")


def test_the_shipped_knowledge_base_copied_elsewhere_passes_its_own_tests(tmp_path):
    import shutil
    from oncologic.resources import default_kb_dir
    copy = tmp_path / "new"
    shutil.copytree(default_kb_dir(), copy)
    assert not any("patient_file" in p.read_text(encoding="utf-8") for p in copy.rglob("*.tests.yaml"))
    res = _run(copy, "--coverage-required")
    assert res.exit_code == 0, res.output[-3000:]
    assert res.output.splitlines()[-1] == f"{len(_shipped()[0])} tests: {len(_shipped()[0])} passed, 0 failed"


def test_json_shape_and_coverage(tmp_path):
    folder = _kb(tmp_path, PASSING.split("  - test: from a file")[0])
    status, out = _json(folder)
    assert status == 0
    assert set(out) == {"ok", "passed", "failed", "tests", "coverage"}
    assert (out["ok"], out["passed"], out["failed"]) == (True, 5, 0)
    assert out["tests"][0] == {"name": "second line", "file": str(folder / "sclc.tests.yaml"), "line": 15,
                               "ok": True, "failures": []}
    assert out["coverage"] == {"rules": 7, "reached": 6,
                               "unreached": [{"rule": "r.unreached", "file": str(folder / "rules.rules"), "line": 34}]}


def test_coverage_required_makes_an_unreached_rule_a_failure(tmp_path):
    folder = _kb(tmp_path, "tests:\n  - test: t\n    concepts: {includes: [refractory]}\n")
    assert _run(folder).exit_code == 0
    res = _run(folder, "--coverage-required")
    assert res.exit_code == 1
    assert "1 tests: 1 passed, 0 failed; 2 rule(s) not reached (coverage required)" in res.output


FAILING = """
tests:
  - test: exact fails
    recommended: [topotecan, bronchoscopy]
  - test: grading fails
    recommended:
      includes: {topotecan: moderate I 92%, anlotinib+carboplatin: {consensus: 70}}
      excludes: [bevacizumab]
  - test: verdict fails
    patient: {tfi: 90d}
    verdicts: {refractory: holds}
"""


def test_a_failing_test_exits_1_with_expected_actual_and_why_not(tmp_path):
    folder = _kb(tmp_path, FAILING)
    res = _run(folder)
    assert res.exit_code == 1
    out = res.output
    assert out.splitlines()[0] == f"{folder / 'sclc.tests.yaml'}  0 passed, 3 failed"
    assert out.splitlines()[1] == f"FAIL {folder / 'sclc.tests.yaml'}:15  exact fails"
    assert "  recommended (line 16, exact):\n" \
           "    expected: bronchoscopy, topotecan\n" \
           "    actual:   anlotinib+carboplatin, bevacizumab, topotecan\n" \
           "    missing from the answer: bronchoscopy\n" \
           "    not expected: anlotinib+carboplatin, bevacizumab\n" \
           f"    anlotinib+carboplatin is concluded by r.combo ({folder / 'rules.rules'}:16): second_line (holds)\n" \
           f"    bevacizumab is concluded by r.bev ({folder / 'rules.rules'}:22): refractory (holds); ecog <= 1 (patient: 1)\n" \
           "    why not bronchoscopy:\n" \
           f"      r.unreached ({folder / 'rules.rules'}:34): stenosis = true (patient: false)\n" in out
    assert "    not expected: bevacizumab\n" in out  # excluded, yet recommended
    assert "    grading of topotecan: expected moderate I 92%, got strong I 92%\n" in out
    assert "    grading of anlotinib+carboplatin: expected 70%, got 68%\n" in out
    assert "    refractory: expected holds, got fails\n    why not refractory:\n" \
           f"      refractory ({folder / 'rules.rules'}:2): tfi < 90 d (patient: 90 d)" in out
    assert out.splitlines()[-1] == "3 tests: 0 passed, 3 failed"


def test_failure_in_json(tmp_path):
    folder = _kb(tmp_path, FAILING.split("  - test: grading")[0])
    status, out = _json(folder)
    assert status == 1 and out["ok"] is False and out["failed"] == 1
    failure, = out["tests"][0]["failures"]
    assert failure["section"] == "recommended" and failure["line"] == 16 and failure["mode"] == "exact"
    assert failure["missing"] == ["bronchoscopy"]
    assert failure["unexpected"] == ["anlotinib+carboplatin", "bevacizumab"]
    assert failure["why_not"]["bronchoscopy"][0].startswith("r.unreached (")


def test_pattern_selects_by_file_path_first_then_by_name(tmp_path):
    folder = _kb(tmp_path, FAILING)
    (folder / "local").mkdir()
    (folder / "local" / "trials.tests.yaml").write_text(
        "patient: {cancer: lung, histology: sclc, tfi: 45d, line: 2, ecog: 1, stenosis: false}\n"
        "tests:\n  - test: verdict of a trial\n    concepts: {includes: [refractory]}\n")
    status, out = _json(folder, "verdict")  # no file path holds it: the names
    assert [t["name"] for t in out["tests"]] == ["verdict of a trial", "verdict fails"]
    assert out["selection"] == "2 tests named with 'verdict' (no test file's path contains it)"
    status, out = _json(folder, "sclc.tests")
    assert len(out["tests"]) == 3
    res = _run(folder, "local")  # the file path, not the name of the tests in other files
    assert res.output.splitlines()[:2] == ["1 test in files matching 'local'",
                                           f"{folder / 'local' / 'trials.tests.yaml'}  1 passed"]
    res = _run(folder, "nomatch")
    assert res.exit_code == 2
    assert res.output.splitlines() == [
        "error: no rule test matches 'nomatch': no test file's path and no test's name contains it (the test files: "
        f"{folder / 'local' / 'trials.tests.yaml'}, {folder / 'sclc.tests.yaml'})"]


def test_with_a_pattern_the_coverage_is_of_the_rules_beside_the_selected_tests(tmp_path):
    folder = _kb(tmp_path, "tests:\n  - test: t\n    concepts: {includes: [refractory]}\n")
    (folder / "sclc.rules").write_text((folder / "rules.rules").read_text().split("recommendation r.topotecan")[0])
    (folder / "rules.rules").write_text("recommendation r.unreached\n  recommend bronchoscopy\n  if stenosis\n"
                                        "  source doc \"t5\"\n")
    (folder / "other.tests.yaml").write_text("tests:\n  - {test: u, patient: {cancer: lung}, recommended: []}\n")
    res = _run(folder, "sclc", "--coverage-required")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[-2:] == [f"coverage of {folder / 'sclc.rules'}: 2/2 rules reached by a test",
                                            "1 tests: 1 passed, 0 failed"]
    status, out = _json(folder, "sclc")
    assert out["coverage"] == {"rules": 2, "reached": 2, "unreached": [], "files": [str(folder / "sclc.rules")]}
    res = _run(folder, "other")
    assert res.output.splitlines()[-2] == "coverage of no rule file (none beside the selected test files): 0/0 rules reached by a test"


@pytest.mark.parametrize("written, section, spec", [
    ("strong I 92%", "recommended", {"strength": "strong", "evidence": "I", "consensus": 92}),
    ("92% V weak", "possible", {"strength": "weak", "evidence": "V", "consensus": 92}),
    ("moderate III", "recommended", {"strength": "moderate", "evidence": "III", "consensus": None}),
    ("ungraded", "recommended", {"strength": None, "evidence": None, "consensus": None}),
    ("46%", "not_recommended", {"consensus": 46}),
    ({"consensus": None, "flags": ["conflict"]}, "recommended", {"consensus": None, "flags": ["conflict"]}),
])
def test_grading_forms(written, section, spec):
    assert ruletests.parse_grading(written, section) == spec


@pytest.mark.parametrize("written, section, message", [
    ("strong VI 92%", "recommended", "'VI' is not a strength"),
    ("strong weak", "recommended", "gives the strength twice"),
    ("weak 46%", "not_recommended", "consensus only"),
    ({"strenght": "weak"}, "recommended", "unknown key 'strenght'"),
])
def test_bad_gradings(written, section, message):
    with pytest.raises(ValueError, match=message):
        ruletests.parse_grading(written, section)


def test_ungraded_checks_null(tmp_path):
    folder = _kb(tmp_path, "tests:\n  - test: t\n    recommended: {includes: {topotecan: ungraded}}\n")
    res = _run(folder)
    assert res.exit_code == 1
    assert "grading of topotecan: expected ungraded, got strong I 92%" in res.output


def test_bad_input_exits_2_naming_file_line_and_test(tmp_path):
    folder = _kb(tmp_path, """
tests:
  - test: a
    recommended: [topotecn, anlotinib+carboplatin, carboplatin+anlotinib]
    concepts: [refractroy]
  - test: b
    patient:
      line: 2
      ecog: 7
    recomended: []
  - test: c
    extends: aa
""")
    res = _run(folder)
    assert res.exit_code == 2
    f = folder / "sclc.tests.yaml"
    assert res.output.splitlines() == [
        f"error: {f}:16: test 'a': unknown id 'topotecn': not a recommendation id or item of this knowledge base; "
        "did you mean 'topotecan'?",
        f"{f}:16: test 'a': 'carboplatin+anlotinib': a regimen id lists its items in alphabetical order: 'anlotinib+carboplatin'",
        f"{f}:17: test 'a': unknown id 'refractroy': not a concept or setting of this knowledge base; did you mean 'refractory'?",
        f"{f}:18: test 'b' states no expectation; write at least one of recommended, possible, not_recommended, "
        "possibly_not_recommended, contraindicated, concepts, missing, verdicts",
        f"{f}:21: test 'b': attribute 'ecog': 7 is out of range; expected a whole number from 0 to 4",
        f"{f}:22: test 'b': unknown key 'recomended'; did you mean 'recommended' or 'not_recommended'?",
        f"{f}:23: test 'c' states no expectation; write at least one of recommended, possible, not_recommended, "
        "possibly_not_recommended, contraindicated, concepts, missing, verdicts",
        f"{f}:24: test 'c': extends 'aa': no such test in this file; did you mean 'a'?",
        "8 problem(s) in the rule-test files"]


def test_malformed_yaml_exits_2_with_file_line_column(tmp_path):
    folder = _kb(tmp_path, "tests:\n  - test: a\n    patient: {line: [}\n")
    res = _run(folder)
    assert res.exit_code == 2
    assert res.output.splitlines()[0] == (f"error: {folder / 'sclc.tests.yaml'}:15:22: not valid YAML: while parsing "
                                          "a flow node expected the node content, but found '}'")
    (folder / "sclc.tests.yaml").write_text("tests:\n  - test: a\n    recommended: []\n    recommended: [topotecan]\n")
    res = _run(folder)
    assert res.exit_code == 2
    assert res.output.splitlines()[0] == \
        f"error: {folder / 'sclc.tests.yaml'}:4: key 'recommended' is given twice in one mapping (first at line 3)"


@pytest.mark.parametrize("written, line", [
    ("  - {test: tfi 89d, ecog 0, recommended: []}", "test 'tfi 89d': unknown key 'ecog 0'; if it is part of the name, "),
    ("  - {test: tfi: 89d, recommended: []}", "3:15: not valid YAML: while parsing a flow mapping expected ',' or '}', "
                                              "but got ':'; "),
    ("  - test: tfi: 89d\n    recommended: []", "3:14: not valid YAML: mapping values are not allowed here; "),
])
def test_an_unquoted_name_cut_at_a_comma_or_colon_says_quote_it(tmp_path, written, line):
    folder = _kb(tmp_path, "tests: []\n")
    (folder / "sclc.tests.yaml").write_text(f"patient: {{cancer: lung}}\ntests:\n{written}\n")
    res = _run(folder)
    assert res.exit_code == 2
    first = res.output.splitlines()[0]
    assert line in first and first.endswith(ruletests.QUOTE_THE_NAME), first
    (folder / "sclc.tests.yaml").write_text(f"patient: {{cancer: lung}}\ntests:\n  - {{test: \"tfi: 89d, ecog 0\", recommended: []}}\n")
    assert _run(folder).exit_code == 0


def test_missing_of_a_possible_one_may_be_includes(tmp_path):
    folder = _kb(tmp_path, """
tests:
  - test: waits for ecog
    patient: {ecog: null}
    possible: {bevacizumab: {missing: {includes: [ecog]}}}
  - test: waits for more
    patient: {ecog: null}
    possible: {bevacizumab: {missing: {includes: [ecog, tfi]}}}
  - test: exact still exact
    patient: {ecog: null}
    possible: {bevacizumab: {missing: []}}
""")
    status, out = _json(folder)
    assert [t["ok"] for t in out["tests"]] == [True, False, False]
    assert out["tests"][1]["failures"][0]["gradings"] == [
        {"id": "bevacizumab", "expected": "missing=includes [ecog, tfi]", "actual": "missing=[ecog]"}]
    with pytest.raises(ValueError, match=r"\{includes: \[\.\.\.\]\}"):
        ruletests.parse_grading({"missing": {"excludes": ["ecog"]}}, "possible")


def test_the_why_not_says_missing_in_the_language_asked(tmp_path):
    folder = _kb(tmp_path, "tests:\n  - test: t\n    patient: {ecog: null}\n    recommended: {includes: [bevacizumab]}\n")
    english = _run(folder).output
    chinese = _run(folder, "--lang", "zh").output
    assert "(missing)" in english and "（缺少数据）" not in english
    assert "（缺少数据）" in chinese and "(missing)" not in chinese


def test_set_names_must_not_be_ids(tmp_path):
    folder = _kb(tmp_path, "tests: []\n").parent / "kb"
    (folder / "sclc.tests.yaml").write_text("sets:\n  topotecan: [bevacizumab]\ntests: []\n")
    res = _run(folder)
    assert res.exit_code == 2 and "set name 'topotecan' is an id the knowledge base declares" in res.output


def test_patient_merge_null_removes_and_extends_chain(tmp_path):
    folder = _kb(tmp_path, """
tests:
  - test: base
    patient: {ecog: 0}
  - test: child
    extends: base
    patient: {tfi: null, line: 3}
  - test: grandchild
    extends: child
    patient: {id: given}
""")
    kb = __import__("oncologic").load(folder)
    tests = {t.name: t for t in ruletests.load_tests(kb, folder)}
    assert tests["base"].record == {"cancer": "lung", "histology": "sclc", "tfi": "45d", "line": 2, "ecog": 0,
                                    "stenosis": False, "id": "base"}
    assert "tfi" not in tests["child"].record and tests["child"].record["line"] == 3 and tests["child"].record["ecog"] == 0
    assert tests["child"].patient.id == "child" and tests["grandchild"].patient.id == "given"
    assert tests["grandchild"].record["line"] == 3


def test_excludes_takes_a_set_name(tmp_path):
    folder = _kb(tmp_path, "tests:\n  - test: t\n    recommended: {excludes: [second]}\n"
                           "  - test: u\n    patient: {line: 3}\n    recommended: {excludes: [second]}\n")
    status, out = _json(folder)
    assert [t["ok"] for t in out["tests"]] == [False, True]
    assert out["tests"][0]["failures"][0]["unexpected"] == ["anlotinib+carboplatin", "topotecan"]


# -- what a fresh tester found ------------------------------------------------------------------

def _problems(folder, body: str) -> list[str]:
    """The error lines of `oncologic test` on a test file (HEAD's patient and sets, then ``body``)."""
    (folder / "sclc.tests.yaml").write_text(textwrap.dedent(HEAD) + textwrap.dedent(body), encoding="utf-8")
    res = _run(folder)
    assert res.exit_code == 2, res.output
    f = str(folder / "sclc.tests.yaml")
    return [line.replace("error: ", "", 1).replace(f, "F") for line in res.output.splitlines()[:-1]]


def test_a_test_without_expectation_is_bad_input_unless_another_extends_it(tmp_path):
    folder = _kb(tmp_path, "tests:\n  - test: base\n  - test: child\n    extends: base\n    recommended: {includes: [topotecan]}\n")
    res = _run(folder, "-v")  # 'base' only gives the patient 'child' starts from: not run
    assert res.exit_code == 0 and res.output.splitlines()[0] == f"PASS {folder / 'sclc.tests.yaml'}:15  child"
    assert _problems(folder, "tests:\n  - test: alone\n") == [
        "F:14: test 'alone' states no expectation; write at least one of recommended, possible, not_recommended, "
        "possibly_not_recommended, contraindicated, concepts, missing, verdicts"]
    (folder / "empty.tests.yaml").write_text("tests: []\n")
    (folder / "sclc.tests.yaml").write_text(textwrap.dedent(HEAD) + "tests:\n  - test: t\n    possible: []\n")
    res = _run(folder)
    assert res.exit_code == 0
    assert f"warning: {folder / 'empty.tests.yaml'}: no tests (the file states no test)" in res.output.splitlines()


@pytest.mark.parametrize("body, message", [
    ("    concepts: {includes: [refractory], excludes: [refractory]}", "F:15: test 't': concepts: 'refractory' is both included and excluded"),
    ("    recommended: {bevacizumab: {strength: strong, evidence: 1}}",
     "F:15: test 't': grading of 'bevacizumab': evidence 1: evidence levels are written in Roman numerals I–V (write 'I')"),
    ("    recommended: {bevacizumab: {evidence: VI}}",
     "F:15: test 't': grading of 'bevacizumab': evidence 'VI': not a level of this knowledge base (I, II, III, IV, V) or null"),
    ("    recommended: {bevacizumab: strong 1 92%}",
     "F:15: test 't': grading of 'bevacizumab': evidence 1: evidence levels are written in Roman numerals I–V (write 'I')"),
    ("    recommended: {bevacizumab: {consensus: 190%}}",
     "F:15: test 't': grading of 'bevacizumab': consensus 190%: a consensus is a percentage from 0 to 100"),
    ("    recommended: {bevacizumab: strong I 190%}",
     "F:15: test 't': grading of 'bevacizumab': consensus 190%: a consensus is a percentage from 0 to 100"),
    ("    recommended: {bevacizumab: {strength: high}}",
     "F:15: test 't': grading of 'bevacizumab': strength 'high': write strong, moderate, weak or null"),
    ("    recommended: {bevacizumab: {rule: r.bevv}}",
     "F:15: test 't': grading of 'bevacizumab': rule 'r.bevv': not a rule id of this knowledge base; did you mean 'r.bev'?"),
    ("    recommended: {topotecan: {setting: refractory}}",
     "F:15: test 't': grading of 'topotecan': setting 'refractory': not a setting of this knowledge base"),
    ("    recommended: {topotecan: {flags: [conflicts]}}",
     "F:15: test 't': grading of 'topotecan': flags: 'conflicts' is not a flag kind (already_received, conflict, "
     "outside_population); did you mean 'conflict'?"),
    ("    recommended: [refractory]", "F:15: test 't': 'refractory' is a concept: put it under concepts: (or verdicts:)"),
    ("    concepts: [topotecan]", "F:15: test 't': 'topotecan' is a recommendation id or item: put it under recommended:, "
                                 "possible:, not_recommended:, possibly_not_recommended: or contraindicated:"),
    ("    missing: [second_line]", "F:15: test 't': 'second_line' is a setting: put it under concepts: (or verdicts:)"),
    ("    concepts: [ecog]", "F:15: test 't': 'ecog' is an attribute: put it under missing: (a test's patient gives its value)"),
    ("    verdicts: {refractory: true}", "F:15: test 't': verdicts: 'refractory' takes holds, fails or undecided, not true"),
    ("    recommended:\n      excludes: [{bevacizumab: strong I 90%}]",
     "F:16: test 't': excludes: takes ids only, without a grading (write 'bevacizumab', not {bevacizumab: strong I 90%})"),
])
def test_bad_expectations_are_bad_input_at_their_line(tmp_path, body, message):
    folder = _kb(tmp_path, "tests: []\n")
    assert _problems(folder, f"tests:\n  - test: t\n{body}\n") == [message]


def test_an_invalid_file_level_value_is_reported_once_where_it_is_written(tmp_path):
    folder = _kb(tmp_path, "tests: []\n")
    (folder / "sclc.tests.yaml").write_text(
        "patient:\n  cancer: lung\n  ecog: 9\ntests:\n  - test: a\n    recommended: []\n"
        "  - test: b\n    patient: {line: x}\n    recommended: []\n  - test: c\n    extends: b\n    recommended: []\n")
    f = folder / "sclc.tests.yaml"
    assert _run(folder).output.splitlines() == [
        f"error: {f}:3: patient: attribute 'ecog': 9 is out of range; expected a whole number from 0 to 4",
        f"{f}:8: test 'b': attribute 'line': \"x\" is not a number; expected a whole number of at least 1",
        "2 problem(s) in the rule-test files"]


def test_yaml_messages_give_the_quoting_hint_only_where_it_applies(tmp_path):
    folder = _kb(tmp_path, "tests: []\n")
    (folder / "sclc.tests.yaml").write_text("tests:\n\t- test: a\n")
    first = _run(folder).output.splitlines()[0]
    assert first.startswith(f"error: {folder / 'sclc.tests.yaml'}:2:1: not valid YAML") and "quote" not in first
    (folder / "sclc.tests.yaml").write_text("tests:\n  - test: patient #3\n    recommended: []\n"
                                            "  - test: patient #4\n    recommended: []\n")
    assert _run(folder).output.splitlines()[1] == (
        f"{folder / 'sclc.tests.yaml'}:4: test 'patient' is written twice (first at line 2); names are unique "
        "within a file (# starts a YAML comment: quote the name)")


def test_bad_input_in_json_is_a_json_object_too(tmp_path):
    folder = _kb(tmp_path, "tests:\n  - test: t\n    recommended: [topotecn]\n")
    res = CliRunner().invoke(main, ["test", "--kb", str(folder), "--format", "json"])
    assert res.exit_code == 2
    assert json.loads(res.stdout) == {"ok": False, "errors": [
        {"file": str(folder / "sclc.tests.yaml"), "line": 15, "test": "t",
         "message": "unknown id 'topotecn': not a recommendation id or item of this knowledge base; did you mean 'topotecan'?"}]}
    assert res.stderr.startswith(f"error: {folder / 'sclc.tests.yaml'}:15: test 't': unknown id 'topotecn'")


def test_a_contraindication_with_nothing_to_remove_says_so(tmp_path):
    folder = write_kb(tmp_path, RULES + """
contraindication c.no_bev
  avoid bevacizumab
  if ecog >= 1
  source doc "c1"
  because "bleeding"
""")
    (folder / "sclc.tests.yaml").write_text(textwrap.dedent(HEAD) + "tests:\n  - test: t\n    patient: {line: 3, tfi: 120d}\n"
                                            "    contraindicated: [bevacizumab]\n")
    out = _run(folder).output
    assert "    why not bevacizumab:\n      the contraindication holds (rule c.no_bev, " \
           f"{folder / 'rules.rules'}:39) but there was no recommendation of bevacizumab to remove: bevacizumab's own " \
           f"rules fail —\n      r.bev ({folder / 'rules.rules'}:22): refractory (does not hold)\n" in out, out


def test_a_long_exact_section_shows_the_differences_only(tmp_path):
    folder = _kb(tmp_path, "tests: []\n")
    failure = ruletests.Failure("concepts", 3, "exact", list("abcdefg"), list("abcdefh"), ["g"], ["h"],
                                concluded_by={"h": ["r.h (x.rules:1): a (holds)"]})
    lines = ruletests.failure_lines(ruletests.Outcome(None, [failure]))
    assert lines == ["  concepts (line 3, exact):", "    missing from the answer: g", "    not expected: h",
                     "    h is concluded by r.h (x.rules:1): a (holds)", "    (6 others as expected)"]
    # nothing as expected: both lists, as a short section shows them (never "(0 others as expected)")
    failure = ruletests.Failure("concepts", 3, "exact", [], list("abcdef"), [], list("abcdef"))
    assert ruletests.failure_lines(ruletests.Outcome(None, [failure])) == [
        "  concepts (line 3, exact):", "    expected: (none)", "    actual:   a, b, c, d, e, f",
        "    not expected: a, b, c, d, e, f"]
    failure = ruletests.Failure("concepts", 3, "exact", list("abcdef"), list("a"), list("bcdef"), [])
    assert ruletests.failure_lines(ruletests.Outcome(None, [failure]))[-1] == "    (1 other as expected)"


def test_tests_yml_is_read_and_near_miss_names_are_warned_of(tmp_path):
    folder = _kb(tmp_path, "tests:\n  - test: t\n    possible: []\n")
    (folder / "sclc.tests.yaml").rename(folder / "rules.tests.yml")
    for name in ("a.test.yaml", "b.test.yml", "c.tests.json", "d_tests.yaml"):
        (folder / name).write_text("tests: []\n")
    res = CliRunner().invoke(main, ["test", "--kb", str(folder), "-v"])
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines() == [f"warning: {folder / n}: not read as rule tests: name it {s}.tests.yaml"
                                       for n, s in (("a.test.yaml", "a"), ("b.test.yml", "b"), ("c.tests.json", "c"),
                                                    ("d_tests.yaml", "d"))]
    assert res.stdout.splitlines()[0] == f"PASS {folder / 'rules.tests.yml'}:14  t"
    assert res.stdout.splitlines()[-1] == "1 tests: 1 passed, 0 failed"
    # the coverage of a PATTERN is of the rule file beside the .yml file
    res = CliRunner().invoke(main, ["test", "--kb", str(folder), "--format", "json", "rules.tests"])
    assert json.loads(res.stdout)["coverage"]["files"] == [str(folder / "rules.rules")]


def test_a_knowledge_base_without_rule_tests_is_a_warning(tmp_path):
    folder = write_kb(tmp_path, RULES)
    res = CliRunner().invoke(main, ["test", "--kb", str(folder)])
    assert res.exit_code == 0, res.output
    assert res.stderr == f"warning: no rule tests under {folder} (write NAME.tests.yaml beside a .rules file: " \
                         "docs/rule-tests.md)\n"
    assert res.stdout.splitlines()[-1] == "0 tests: 0 passed, 0 failed"
    res = CliRunner().invoke(main, ["test", "--kb", str(folder), "--coverage-required"])
    assert res.exit_code == 1 and res.stderr.startswith("warning: no rule tests under ")
