"""Diagnostics a clinician can act on (issue 13): stable codes, spans, the text and JSON of
`check`, recovery from syntax errors without cascades, hints, did-you-mean by labels, and the
issue's own replays on a copy of the shipped knowledge base."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from oncologic.cli import main
from oncologic.compile.build import diagnose
from oncologic.errors import Diagnostic
from oncologic.model.codes import CODES
from oncologic.resources import default_kb_dir
from support import ROOT

ENGINE = ROOT / "engine"


# ---- the code table ----------------------------------------------------------------------------

def codes_in_the_engine() -> set[str]:
    used = set()
    for path in ENGINE.rglob("*.py"):
        if path.name != "codes.py":
            used |= set(re.findall(r"""["']([EW]\d{3})["']""", path.read_text(encoding="utf-8")))
    return used


def test_every_code_used_is_in_the_table_and_every_code_in_the_table_is_used_and_documented():
    used = codes_in_the_engine()
    assert used - set(CODES) == set(), "codes used but not in CODES"
    assert set(CODES) - used == set(), "codes in CODES that nothing reports"
    documented = set(re.findall(r"^\| ([EW]\d{3}) \|", (ROOT / "docs" / "check.md").read_text(encoding="utf-8"), re.M))
    assert set(CODES) - documented == set(), "codes not listed in docs/check.md"
    for code, (severity, title) in CODES.items():
        assert severity == {"E": "error", "W": "warning"}[code[0]] and title


def test_reserved_words_are_read_from_the_grammar():
    from oncologic.lang.parser import reserved_words, statement_keywords
    words = reserved_words()
    assert {"not", "and", "or", "if", "is", "in", "has", "any", "where", "for", "true", "false", "of"} <= words
    assert statement_keywords() == {"document", "grading", "attribute", "drug", "class", "procedure", "action",
                                    "group", "concept", "setting", "recommendation", "contraindication", "system"}
    assert statement_keywords() <= words
    assert not {"id", "grade", "date", "value", "source"} & words  # clause words stay free: `attribute id`


# ---- did you mean ------------------------------------------------------------------------------

def test_did_you_mean_prefers_what_a_label_says_over_what_is_spelt_alike():
    from oncologic.model.similar import did_you_mean, similar
    values = {"sclc": ("small cell lung cancer", "小细胞肺癌"), "large_cell": ("large cell carcinoma",),
              "nsclc_nos": ("non-small cell lung cancer, not otherwise specified",)}
    assert similar("small_cell", values) == [("sclc", "small cell lung cancer")]
    assert did_you_mean("small_cell", values) == "; did you mean 'sclc' (small cell lung cancer)?"
    assert similar("non_small_cell", values) == [("nsclc_nos", "non-small cell lung cancer, not otherwise specified")]
    assert similar("large_cel", values) == [("large_cell", None)]  # spelling, when no label says it
    assert similar("hepatitis", values) == [] and did_you_mean("hepatitis", values) == ""
    assert similar("egfr", {"egfr_19del": ("EGFR 19外显子缺失",), "alk": ("ALK融合",)}) == [("egfr_19del", "EGFR 19外显子缺失")]


# ---- the text of check -------------------------------------------------------------------------

def test_the_caret_lines_up_under_tabs_wide_characters_and_escapes():
    from oncologic.report.diagnostics import excerpt
    assert excerpt("\tif tfi < 3m", 11, 13) == ("\tif tfi < 3m", "\t         ^~")
    assert excerpt("  if tfi ＜ 90d", 10, 11) == ("  if tfi ＜ 90d", "         ^~")
    assert excerpt("  if （sclc，x）", 6, None) == ("  if （sclc，x）", "     ^~")
    assert excerpt("  if （sclc，x）", 7, 11) == ("  if （sclc，x）", "       ^~~~")
    assert excerpt("a\x1bb c", 5, 6) == ("a\\x1bb c", "       ^")
    assert excerpt("a\uff00b", 3, 4) == ("a\\uff00b", "       ^")  # unassigned: its code point
    assert excerpt("end", 4, 4) == ("end", "   ^")  # the end of the file
    shown, caret = excerpt("x" * 1000 + " bad " + "y" * 1000, 1002, 1005)
    assert len(shown) < 200 and shown.startswith("…") and shown.endswith("…")
    assert shown[caret.index("^"):caret.index("^") + 3] == "bad"


def write(folder: Path, text: str, name: str = "a.rules") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def test_check_text_shows_every_finding_of_every_file_with_its_line_and_a_caret(tmp_path):
    kb = write(tmp_path / "kb", 'document d "d.txt"\nattribute tfi: duration\nconcept a\n\tif tfi < 3m\n  source d "s"\n')
    write(kb, 'concept b if tfi ＜ 90d source d "s"\nconcept c if a and tfii < 1d source d "s"\n', "b.rules")
    result = cli("check", "--kb", kb)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{kb}/a.rules:4:11: error[E003]: unit 'm' in '3m': write 'mo' for months ('m' is ambiguous)",
        " 4 | \tif tfi < 3m",
        "   | \t         ^~",
        f"{kb}/b.rules:1:18: error[E004]: full-width character '＜': write '<'",
        " 1 | concept b if tfi ＜ 90d source d \"s\"",
        "   |                  ^~",
        f"{kb}/b.rules:2:20: error[E101]: unknown attribute 'tfii'; did you mean 'tfi'?",
        " 2 | concept c if a and tfii < 1d source d \"s\"",
        "   |                    ^~~~",
        "3 errors"]


def test_check_json_lists_every_finding_and_the_counts_when_it_compiled(tmp_path):
    kb = write(tmp_path / "kb", 'document d "d.txt"\nattribute x: int\nconcept c if y > 1 and x = 1d\n  source d "s"\n')
    result = cli("check", "--kb", kb, "--format", "json")
    data = json.loads(result.stdout)
    assert result.exit_code == 2 and data["ok"] is False and data["warnings"] == [] and "rules" not in data
    assert [(d["code"], d["line"], d["column"], d["end_line"], d["end_column"]) for d in data["diagnostics"]] == [
        ("E101", 3, 14, 3, 15), ("E202", 3, 24, 3, 30)]
    assert data["errors"] == data["diagnostics"] and {d["severity"] for d in data["errors"]} == {"error"}
    good = write(tmp_path / "good", 'document d "d.txt"\nattribute x: int\nconcept c if x > 1\n  source d "s"\n')
    data = json.loads(cli("check", "--kb", good, "--format", "json", "--no-analysis").stdout)
    assert data == {"ok": True, "errors": [], "warnings": [], "diagnostics": [], "files": 1, "attributes": 1,
                    "items": 0, "concepts": 1, "rules": 1, "clauses": data["clauses"]}


def test_warnings_print_the_same_way_and_exit_0_unless_strict(tmp_path, monkeypatch):
    """Warnings come from the static analysis (W4xx, W5xx): shown like errors, exit 0; 2 with --strict."""
    import oncologic.compile.build as build
    kb = write(tmp_path / "kb", 'document d "d.txt"\nattribute x: int\nconcept c if x > 1\n  source d "s"\n')
    compiled, _ = build.diagnose(kb)
    warning = Diagnostic(f"{kb}/a.rules", 3, 14, "a warning", severity="warning", code="W999", end_line=3, end_column=19,
                         witness={"id": "witness", "x": 2}, proof="x > 1 holds for x = 2",
                         related=((f"{kb}/a.rules", 2, 1, "x is declared here"),))
    monkeypatch.setattr(build, "diagnose", lambda kb_dir: (compiled, [warning]))
    result = cli("check", "--kb", kb, "--no-analysis")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.splitlines() == [
        "ok: 1 file, 1 attribute, 0 items, 1 concept, 1 rule, " + result.stdout.split("rule, ")[1].split("\n")[0],
        f"{kb}/a.rules:3:14: warning[W999]: a warning", " 3 | concept c if x > 1", "   |              ^~~~~",
        '  witness: {"id": "witness", "x": 2}', "  proof: x > 1 holds for x = 2",
        f"{kb}/a.rules:2:1: note: x is declared here", "1 warning"]
    assert cli("check", "--kb", kb, "--strict", "--no-analysis").exit_code == 2
    data = json.loads(cli("check", "--kb", kb, "--format", "json", "--no-analysis").stdout)
    assert data["ok"] is True and data["errors"] == [] and [w["code"] for w in data["warnings"]] == ["W999"]
    assert data["rules"] == 1


def test_the_count_line_and_the_allowed_warnings():
    from oncologic.report.diagnostics import as_json, count_line
    error = Diagnostic("f", 1, 1, "e", code="E001")
    warning = Diagnostic("f", 2, 1, "w", severity="warning", code="W999")
    assert count_line([error]) == "1 error" and count_line([error, error, warning]) == "2 errors, 1 warning"
    assert count_line([warning, warning], allowed=3) == "2 warnings (3 allowed)" and count_line([]) == "0 warnings"
    assert json.loads(as_json(None, [warning], allowed=3))["allowed"] == 3
    assert "allowed" not in json.loads(as_json(None, [warning]))


def test_other_commands_print_the_errors_with_their_codes(tmp_path):
    kb = write(tmp_path / "kb", 'document d "d.txt"\nattribute x: int\nconcept c if y > 1\n  source d "s"\n')
    patient = tmp_path / "p.json"
    patient.write_text('{"id": "p", "x": 1}')
    result = cli("recommend", patient, "--kb", kb)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"{kb}/a.rules:3:14: error[E101]: unknown attribute 'y'", "1 error"]


def test_a_file_that_cannot_be_read_is_one_error_and_costs_no_other_file(tmp_path, monkeypatch):
    kb = write(tmp_path / "kb", 'document d "d.txt"\nattribute x: int\n', "a.rules")
    write(kb, 'concept c if x > 1 and y source d "s"\n', "b.rules")
    original = Path.read_bytes

    def read_bytes(path):
        if path.name == "a.rules":
            raise PermissionError(13, "Permission denied")
        return original(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    compiled, found = diagnose(kb)
    assert compiled is None
    assert [(d.file, d.line, d.code, d.message) for d in found] == [
        (f"{kb}/a.rules", 1, "E007", "cannot be read: Permission denied")]


# ---- recovery -----------------------------------------------------------------------------------

def test_syntax_errors_cost_their_own_statements_only(tmp_path):
    kb = write(tmp_path / "kb", "\n".join([
        'document d "d.txt"',
        'attribute x: int',
        'concept a if x > 1 and ( source d "s"',       # 3: broken
        'concept b if a and x < 9 source d "s"',       # uses a: not reported
        'concept c if x = 1 ）source d "s"',           # 5: broken
        'drug e is f',                                 # 6: unknown class f: reported
        'concept g if c and b and zz source d "s"',    # 7: zz unknown: reported; c not
        'concept h if',                                # 8: ends early
        'concept i if h source d "s"',                 # 9: still read
    ]) + "\n")
    compiled, found = diagnose(kb)
    assert [(d.line, d.code) for d in found] == [(3, "E001"), (5, "E004"), (6, "E104"), (7, "E102"), (9, "E001")]
    assert found[-1].message == "unexpected 'concept'; expected '(', 'any', 'not', a name"


# ---- the issue's replays on a copy of facts/ --------------------------------------------------------

@pytest.fixture
def facts(tmp_path) -> Path:
    target = tmp_path / "facts"
    shutil.copytree(default_kb_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return target


def edit(path: Path, line: int, old: str, new: str) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    assert old in lines[line - 1], lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_text("\n".join(lines), encoding="utf-8")


REFRACTORY_TFI = 16  # `if lung_cancer and histology = sclc and tfi < 90d ...` (the issue's line 12, since moved)


@pytest.mark.parametrize("old, new, code, column, message", [
    ("tfi < 90d", "tfi < 3m", "E003", 49, "unit 'm' in '3m': write 'mo' for months ('m' is ambiguous)"),
    ("tfi < 90d", "tfi < 90 days", "E003", 49, "unit 'days' in '90 days': write 'd' for days"),
    ("tfi < 90d", "tfi < 90days", "E003", 49, "unit 'days' in '90days': write 'd' for days"),
    ("tfi < 90d", "tfi < 90D", "E003", 49, "unit 'D' in '90D': write 'd' for days"),
    ("tfi < 90d", "tfi < 3 months", "E003", 49, "unit 'months' in '3 months': write 'mo' for months"),
    ("tfi < 90d", "tfi ＜ 90d", "E004", 47, "full-width character '＜': write '<'"),
    ("histology = sclc", "histology in （sclc，large_cell）", "E004", 35, "full-width character '（': write '('"),
])
def test_one_syntax_error_in_refractory_rules_is_one_finding(facts, old, new, code, column, message):
    """The issue: `tfi < 3m` in lung/refractory.rules gave 14 errors, 13 of them in other files
    (`unknown concept 'lung_cancer'; did you mean 'refractory_lung_cancer'?`). Now: one."""
    edit(facts / "lung" / "refractory.rules", REFRACTORY_TFI, old, new)
    compiled, found = diagnose(facts)
    assert compiled is None
    assert [(d.file, d.line, d.column, d.code, d.message) for d in found] == [
        (f"{facts}/lung/refractory.rules", REFRACTORY_TFI, column, code, message)]


def test_a_broken_statement_that_declares_a_concept_costs_its_users_nothing(facts):
    """lung_cancer is declared in a statement that no longer parses: the dozens of rules in
    other files that use it are not reported (nor pushed towards refractory_lung_cancer)."""
    edit(facts / "lung" / "refractory.rules", 6, "cancer = lung", "cancer = lung and tfi < 3m")
    compiled, found = diagnose(facts)
    assert [(d.file, d.line, d.code) for d in found] == [(f"{facts}/lung/refractory.rules", 6, "E003")]


def test_small_cell_suggests_sclc_by_its_label_and_lists_the_values(facts):
    edit(facts / "lung" / "refractory.rules", REFRACTORY_TFI, "histology = sclc", "histology = small_cell")
    compiled, (found,) = diagnose(facts)
    assert (found.line, found.column, found.end_column, found.code) == (REFRACTORY_TFI, 22, 44, "E105")
    assert found.message == ("unknown value 'small_cell' of 'histology'; did you mean 'sclc' (small cell lung cancer)? "
                             "('histology' is one of: sclc, adenocarcinoma, squamous, large_cell, nsclc_nos)")


@pytest.mark.parametrize("written", ["SCLC", "Sclc"])
def test_a_value_written_in_other_case_suggests_that_value_alone(facts, written):
    from oncologic.model.similar import did_you_mean
    assert did_you_mean("Sclc", {"sclc": (), "nsclc_nos": ("NSCLC, not otherwise specified",)}) == "; did you mean 'sclc'?"
    edit(facts / "lung" / "refractory.rules", REFRACTORY_TFI, "histology = sclc", f"histology = {written}")
    compiled, (found,) = diagnose(facts)
    assert found.code == "E105" and found.message.startswith(f"unknown value '{written}' of 'histology'; did you mean 'sclc'? (")


def test_a_concept_written_as_a_value_is_offered_as_the_concept_first(facts):
    edit(facts / "lung" / "refractory.rules", REFRACTORY_TFI, "histology = sclc", "histology = nsclc")
    compiled, (found,) = diagnose(facts)
    assert found.code == "E105" and found.message.startswith(
        "unknown value 'nsclc' of 'histology': 'nsclc' is a concept: write `nsclc` alone as a condition; "
        "or did you mean 'nsclc_nos' (NSCLC, not otherwise specified)? ('histology' is one of: ")


def test_a_reserved_word_is_rejected_where_it_is_declared(facts):
    with (facts / "lung" / "patient.rules").open("a", encoding="utf-8") as f:
        f.write("\nattribute not: bool\n")
    lines = (facts / "lung" / "patient.rules").read_text(encoding="utf-8").count("\n")
    compiled, (found,) = diagnose(facts)
    assert (found.file, found.line, found.column, found.end_column, found.code, found.message) == (
        f"{facts}/lung/patient.rules", lines, 11, 14, "E005",
        "'not' is a reserved word of the rule language; choose another name")


def test_an_undefined_setting_is_reported_once(facts):
    edit(facts / "lung" / "sclc.rules", 19, "for refractory_sclc_second_line", "for refractory_sclc_second_lin")
    compiled, (found,) = diagnose(facts)
    assert (found.line, found.column, found.end_column, found.code) == (19, 7, 33, "E106")
    assert found.message.startswith("unknown setting 'refractory_sclc_second_lin'; did you mean 'refractory_sclc_second_line'")


def test_a_cycle_added_in_refractory_rules_is_reported_there_with_every_step(facts):
    """The issue: a cycle added in refractory.rules was reported at nsclc_refractory.rules:48.
    Made by the base concept lung_cancer depending on refractory_lung_cancer (which, through
    refractory_sclc and the NSCLC concepts of three other files, depends on lung_cancer): every
    cycle of that group goes through the new use, so it is the one reported."""
    edit(facts / "lung" / "refractory.rules", 6, "cancer = lung", "cancer = lung and not refractory_lung_cancer")
    compiled, (found,) = diagnose(facts)
    assert (found.file, found.line, found.column, found.end_column, found.code) == (
        f"{facts}/lung/refractory.rules", 6, 28, 50, "E312")
    assert found.message == ("concepts are defined in terms of themselves: "
                             "lung_cancer -> refractory_lung_cancer -> refractory_sclc -> lung_cancer")
    assert [(Path(f).name, line, message) for f, line, _, message in found.related] == [
        ("refractory.rules", 6, "lung_cancer uses refractory_lung_cancer (concept 'lung_cancer')"),
        ("refractory.rules", 36, "refractory_lung_cancer uses refractory_sclc (concept 'refractory_lung_cancer.sclc')"),
        ("refractory.rules", 16, "refractory_sclc uses lung_cancer (concept 'refractory_sclc.tfi')")]


def test_a_cycle_across_files_is_reported_where_it_was_closed(facts):
    """refractory_sclc (refractory.rules) made to depend on a setting of sclc.rules that is built
    on it: reported in refractory.rules, the steps in both files."""
    edit(facts / "lung" / "refractory.rules", REFRACTORY_TFI, "lung_cancer and", "lung_cancer and not refractory_sclc_second_line and")
    compiled, (found,) = diagnose(facts)
    assert (Path(found.file).name, found.line, found.code) == ("refractory.rules", REFRACTORY_TFI, "E312")
    assert {Path(f).name for f, *_ in found.related} == {"refractory.rules", "sclc.rules"}
