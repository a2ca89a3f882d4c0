"""Boundary patients (`oncologic test --boundaries [PATTERN] [--save FILE] [--force]`,
docs/rule-tests.md "Boundaries") on the small knowledge base of test_rule_tests.py: what flips at
each threshold, thresholds in months met by whole-day dates, overlapping thresholds, patterns that
match nothing, and saved files that run as rule tests and catch an edited threshold."""
from __future__ import annotations

from test_rule_tests import _json, _kb, _run

from oncologic.authoring.boundaries import points

BOUNDARY_TESTS = """
tests:
  - test: second line
  - test: dated
    patient: {tfi: null, first_line_end_date: 2026-01-15, progression_date: 2026-02-01}
"""
DATED = "tests:\n  - test: dated\n    patient: {tfi: null, first_line_end_date: 2026-01-15, progression_date: 2026-02-01}\n"


def _months(folder):
    rules = folder / "rules.rules"
    rules.write_text(rules.read_text().replace("tfi < 90d", "tfi < 3mo"))


def test_boundaries_report_what_flips_at_each_threshold(tmp_path):
    folder = _kb(tmp_path, BOUNDARY_TESTS)
    res = _run(folder, "--boundaries", "tfi")
    assert res.exit_code == 0, res.output
    rules = folder / "rules.rules"
    assert res.output.splitlines() == [
        "for each threshold: the conclusions that differ between the values just below, at and just above it",
        "tfi at 90d:",
        f"  tfi < 90d  (refractory, {rules}:3)",
        "  from 'second line', 'dated':",
        "    89d: recommended anlotinib+carboplatin, bevacizumab, topotecan; concepts refractory, second_line",
        "    90d: — none of the conclusions above",
        "    91d: — none of the conclusions above",
        "1 thresholds; 1 of them flip a conclusion from some test's patient"]
    status, out = _json(folder, "--boundaries", "ecog")
    th, = out["thresholds"]
    assert (th["attribute"], th["value"], th["unit"], th["also_crosses"], th["left_out"]) == ("ecog", 1, None, [], None)
    assert th["comparisons"] == [{"rule": "r.bev", "file": str(rules), "line": 24, "comparison": "ecog <= 1"}]
    group, = th["groups"]
    assert group["values"] == ["0", "1", "2"]
    assert group["flips"] == {"recommended": {"0": ["bevacizumab"], "1": ["bevacizumab"], "2": []}}


def test_a_threshold_in_months_is_met_in_days():
    assert points(90) == [89, 90, 91]
    assert points(91.3125) == [91, 91.3125, 92]  # 3mo


def test_a_date_derived_duration_meets_a_threshold_in_months_at_the_whole_days_around_it(tmp_path):
    folder = _kb(tmp_path, BOUNDARY_TESTS + "  - test: dated, no ecog\n    extends: dated\n    patient: {ecog: null}\n")
    _months(folder)
    res = _run(folder, "--boundaries", "no ecog")  # selects the test, not a threshold
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    at = lines.index("tfi at 91.3125d:")
    assert lines[at + 2:at + 6] == [
        "  from 'dated, no ecog':",
        "    91d: recommended anlotinib+carboplatin, topotecan; possible bevacizumab; concepts refractory, second_line",
        "    (91.3125d cannot be reached with whole-day dates)",
        "    92d: — none of the conclusions above"]
    assert "  none of the selected tests gives ecog" in lines  # the selected test, not every test
    assert not any("no rule test gives" in line for line in lines)
    status, out = _json(folder, "--boundaries", "tfi")
    th, = out["thresholds"]
    assert [(g["tests"][0]["name"], g["values"], g["unreachable"]) for g in th["groups"]] == [
        ("second line", ["91d", "91.3125d", "92d"], []), ("dated", ["91d", "92d"], ["91.3125d"]),
        ("dated, no ecog", ["91d", "92d"], ["91.3125d"])]


def test_test_patients_left_out_are_said_why(tmp_path):
    folder = _kb(tmp_path, "tests:\n  - test: second line\n    patient: {ecog: null}\n")
    lines = _run(folder, "--boundaries", "ecog").output.splitlines()
    assert lines[3] == "  no rule test gives ecog"
    folder = _kb(tmp_path, "tests:\n  - test: t\n", name="kb2")
    rules = folder / "rules.rules"
    rules.write_text(rules.read_text().replace("ecog <= 1", "ecog < 5"))  # 5 and 6 are out of ecog: int 0..4
    lines = _run(folder, "--boundaries", "ecog").output.splitlines()
    assert lines[3] == ("  1 of the 1 test patient(s) that give ecog left out: fewer than two of the values 4, 5, 6 are "
                        "allowed (t: attribute 'ecog': 5 is out of range; expected a whole number from 0 to 4)")


def test_a_pattern_that_matches_nothing_is_bad_input(tmp_path):
    folder = _kb(tmp_path, BOUNDARY_TESTS)
    res = _run(folder, "--boundaries", "dates")
    assert res.exit_code == 2
    assert res.output == ("error: no threshold or rule test matches 'dates'; PATTERN is part of an attribute or rule id "
                          "that has a threshold (ecog, line, tfi), or else part of a rule test's file path or name; "
                          "without PATTERN every threshold is shown\n")


OVERLAP = """
concept fit
  if ecog <= 1
  source doc "f"

concept walking
  if ecog <= 3
  source doc "w"

contraindication c.top
  avoid topotecan
  if ecog = 2
  source doc "c"
  because "not at ecog 2"
"""


def test_a_flip_belongs_to_the_threshold_whose_comparison_changes_there(tmp_path):
    from test_rule_tests import RULES
    from minikb import write_kb
    folder = write_kb(tmp_path, RULES.replace("ecog <= 1", "fit") + OVERLAP)
    (folder / "sclc.tests.yaml").write_text("patient: {cancer: lung, histology: sclc, tfi: 45d, line: 2, ecog: 1}\n"
                                            "tests:\n  - test: t\n", encoding="utf-8")
    lines = _run(folder, "--boundaries", "ecog").output.splitlines()
    rules = folder / "rules.rules"
    assert lines[1:-1] == [
        "ecog at 1:",
        f"  ecog <= 1  (fit, {rules}:40)",
        "  also crosses ecog = 2 at 1/2 (a conclusion that changes there may come from either)",
        "  from 't':",
        "    0: recommended bevacizumab, topotecan; concepts fit",
        "    1: recommended bevacizumab, topotecan; concepts fit",
        "    2: contraindicated topotecan",
        "ecog at 2:",
        f"  ecog = 2  (c.top, {rules}:49)",
        "  also crosses ecog <= 1 at 1/2 (a conclusion that changes there may come from either)",
        "  from 't':",
        "    1: recommended bevacizumab, topotecan; concepts fit",
        "    2: contraindicated topotecan",
        "    3: recommended topotecan",
        "ecog at 3:",  # topotecan changes at 2/3 too, where ecog <= 3 does not: it belongs to ecog = 2
        f"  ecog <= 3  (walking, {rules}:44)",
        "  from 't':",
        "    2: concepts walking",
        "    3: concepts walking",
        "    4: — none of the conclusions above"]


def test_saved_boundaries_run_as_rule_tests_and_catch_an_edited_threshold(tmp_path):
    folder = _kb(tmp_path, BOUNDARY_TESTS)
    saved = folder / "boundaries.tests.yaml"
    res = _run(folder, "--boundaries", "tfi", "--save", str(saved))
    assert res.exit_code == 0
    assert res.stderr.splitlines()[-1] == (f"wrote 6 tests (and 2 base patients) to {saved} "
                                           f"(run: oncologic test --kb {folder} boundaries)")
    ran = _run(folder, "boundaries")  # the outcomes as they are now; as many tests as it said it wrote
    assert ran.exit_code == 0 and ran.stdout.splitlines()[-1] == "6 tests: 6 passed, 0 failed"
    import yaml
    entries = yaml.safe_load(saved.read_text())["tests"]
    # a base test per starting patient, named as its test; per value a test extending it
    assert [(e["test"], e.get("extends"), e["patient"].get("tfi"), e["patient"].get("progression_date"))
            for e in entries] == [
        ("second line", None, "45d", None), ("dated", None, None, "2026-02-01"),
        ("tfi = 89d from second line", "second line", "89d", None),
        ("tfi = 90d from second line", "second line", "90d", None),
        ("tfi = 91d from second line", "second line", "91d", None),
        ("tfi = 89d from dated", "dated", None, "2026-04-14"),  # 2026-01-15 + 89, 90, 91 days
        ("tfi = 90d from dated", "dated", None, "2026-04-15"),
        ("tfi = 91d from dated", "dated", None, "2026-04-16")]
    _months(folder)
    status, out = _json(folder, "boundaries")
    assert status == 1
    assert sorted(t["name"] for t in out["tests"] if not t["ok"]) == [
        "tfi = 90d from dated", "tfi = 90d from second line", "tfi = 91d from dated", "tfi = 91d from second line"]


def test_save_keeps_identical_patients_once_and_tells_different_ones_apart(tmp_path):
    folder = _kb(tmp_path, BOUNDARY_TESTS)
    (folder / "more.tests.yaml").write_text("patient: {cancer: lung, histology: sclc, tfi: 45d, line: 2, ecog: 1, "
                                           "stenosis: false}\ntests:\n  - test: second line\n  - test: copy\n"
                                           "  - test: dated\n    patient: {ecog: 0}\n", encoding="utf-8")
    saved = tmp_path / "out.tests.yaml"
    res = _run(folder, "--boundaries", "tfi", "--save", str(saved))
    assert res.stderr.splitlines()[-1] == (f"wrote 9 tests (and 3 base patients) to {saved} (not run by oncologic test, which reads the "
                                           f"*.tests.yaml files inside {folder}; run it there as one of them)")
    import yaml
    entries = yaml.safe_load(saved.read_text())["tests"]
    assert [e["test"] for e in entries if "extends" not in e] == ["second line", "dated", "dated (2)"]
    assert entries[0]["source"] == f"{folder / 'more.tests.yaml'}:3, by oncologic test --boundaries"


def test_save_refuses_an_existing_file_and_a_missing_folder(tmp_path):
    folder = _kb(tmp_path, BOUNDARY_TESTS)
    hand = folder / "sclc.tests.yaml"
    before = hand.read_text()
    res = _run(folder, "--boundaries", "tfi", "--save", str(hand))
    assert (res.exit_code, res.stderr) == (2, f"error: {hand} exists; choose another name or pass --force\n")
    assert hand.read_text() == before
    missing = tmp_path / "nowhere" / "b.tests.yaml"
    res = _run(folder, "--boundaries", "tfi", "--save", str(missing))
    assert (res.exit_code, res.stderr) == (2, f"error: cannot write {missing}: no such folder\n")
    other = tmp_path / "b.tests.yaml"
    other.write_text("old")
    assert _run(folder, "--boundaries", "tfi", "--save", str(other), "--force").exit_code == 0
    assert other.read_text().startswith("# Boundary patients")
    res = _run(folder, "--boundaries", "tfi", "--force")
    assert (res.exit_code, res.stderr) == (2, "error: --force goes with --save\n")
