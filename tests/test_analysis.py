"""The static analysis of ``oncologic check`` (oncologic.analysis, issue 13 item 2).

The cases: every ``tests/check_cases/analysis/*.rules`` file is checked together with the base
knowledge base beside it (``base/``) and must give exactly the findings its first lines expect,
located in it::

    # expect: CODE LINE:COL-ENDLINE:ENDCOL MESSAGE
    # patients: FILE            (optional: the records for W505, beside the case)

The findings elsewhere (in ``base/``) are no case's. Every witness of every case is evaluated
again here, through the public API, and must show what its finding says; no case may give
W499 (the engine disagreeing with the analysis).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

import oncologic
from oncologic.analysis import analyse
from oncologic.compile.build import build

CASES = Path(__file__).resolve().parent / "check_cases" / "analysis"
EXPECT = re.compile(r"^# expect: (?P<code>[EW]\d{3}) (?P<line>\d+):(?P<col>\d+)-(?P<end_line>\d+):(?P<end_col>\d+) (?P<message>.*)$")
PATIENTS = re.compile(r"^# patients: (?P<file>\S+)\s*$")


def case_files() -> list[Path]:
    return sorted(CASES.glob("*.rules"))


def expectations(path: Path) -> tuple[list[tuple], list[str]]:
    """The expected findings of a case and its patient files."""
    expected, patients = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = EXPECT.match(line)
        if m:
            expected.append((m["code"], int(m["line"]), int(m["col"]), int(m["end_line"]), int(m["end_col"]), m["message"]))
            continue
        m = PATIENTS.match(line)
        if m:
            patients.append(m["file"])
            continue
        if not line.startswith("#"):
            break
    return expected, patients


def run_case(path: Path, tmp_path: Path):
    """(the compiled case KB, its folder, the analysis, the case file as diagnostics name it)."""
    folder = tmp_path / "kb"
    shutil.copytree(CASES / "base", folder / "base")
    shutil.copy(path, folder / path.name)
    compiled = build(folder, str(folder))
    _, patients = expectations(path)
    found = analyse(compiled, folder, patients=[str(CASES / p) for p in patients])
    return compiled, folder, found, os.path.join(str(folder), path.name)


def shown(d, folder: Path) -> tuple:
    """A finding as an expectation line writes it: the case's folder as {kb}, the cases' as {cases}."""
    message = d.message.replace(str(folder), "{kb}").replace(str(CASES), "{cases}").replace(os.path.relpath(CASES), "{cases}")
    return (d.code, d.line, d.column, d.end_line, d.end_column, message)


@pytest.mark.parametrize("path", case_files(), ids=lambda p: p.stem)
def test_case(path, tmp_path):
    compiled, folder, found, name = run_case(path, tmp_path)
    assert [d for d in found if d.code == "W499"] == []
    mine = [shown(d, folder) for d in found if d.file == name]
    expected, _ = expectations(path)
    assert mine == expected
    kb = oncologic.KnowledgeBase(compiled)
    for d in found:
        if d.witness is not None:
            assert_witness(kb, d)


def assert_witness(kb: oncologic.KnowledgeBase, d) -> None:
    """The witness shows the finding, read through the public API (``evaluate``/``explain``)."""
    result = kb.evaluate(d.witness)
    ev = kb.run(d.witness)
    compiled = kb.compiled

    def holds(rule_id: str):
        return ev.verdict(compiled.rule_node[rule_id])
    if d.code == "W405":
        statement, rec = d.rules[0], d.rules[1]
        assert holds(statement) is True and holds(rec) is True
        assert statement in {x.rule.id for x in result.not_recommended}
        assert any(statement in {c.rule.id for c in r.conflicts} for r in result.recommendations)
    elif d.code == "W406":
        contra, rec = d.rules[0], d.rules[1]
        assert holds(contra) is True and holds(rec) is True
        assert contra in {x.rule.id for x in result.contraindicated}
    elif d.code == "W408":
        assert all(holds(r) is False for r in d.rules)
    elif d.code == "W409":
        assert holds(d.rules[0]) is True and holds(d.rules[1]) is True
    elif d.code == "W505":
        assert holds(d.rules[0]) is True
    else:
        pytest.fail(f"a witness on {d.code}")
    # minimal: no attribute can be left out
    for key in d.witness:
        if key in ("id", "cancer"):
            continue
        smaller = {k: v for k, v in d.witness.items() if k != key}
        ev2 = kb.run(smaller)
        same = all(ev2.verdict(compiled.rule_node[r]) is ev.verdict(compiled.rule_node[r]) for r in d.rules[:2])
        assert not same, f"{d.code}: '{key}' is not needed in {d.witness}"


# -- proofs ---------------------------------------------------------------------------------------

def line_of(path: Path, text: str) -> int:
    """The number of the one line of a file that holds ``text``."""
    (number,) = [i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line]
    return number


def test_proofs_name_the_conflicting_conditions(tmp_path):
    case = CASES / "W401_unreachable.rules"
    _, folder, found, name = run_case(case, tmp_path)
    by_rule = {d.rules[0]: d for d in found if d.code == "W401"}
    both = line_of(case, "if lung_cancer and line = 2 and line = 3")
    assert by_rule["r.contradiction"].proof == f"these cannot all hold: line = 2 ({name}:{both}:22); line = 3 ({name}:{both}:35)"
    assert [r[1:3] for r in by_rule["r.contradiction"].related] == [(both, 22), (both, 35)]
    base = os.path.join(str(folder), "base", "vocabulary.rules")
    ecog = line_of(CASES / "base" / "vocabulary.rules", "attribute ecog")
    assert by_rule["r.range"].proof == (f"these cannot all hold: ecog >= 7 ({name}:{line_of(case, 'and ecog >= 7')}:22); "
                                        f"ecog: int 0..4 (declared at {base}:{ecog}:1)")
    assert by_rule["r.exclusive_concepts"].proof == (
        f"these cannot all hold: histology = sclc ({name}:{line_of(case, 'if histology = sclc')}:6); "
        f"histology = squamous ({name}:{line_of(case, 'if histology = squamous')}:6); "
        f"small_cell ({name}:{line_of(case, 'if small_cell and squamous_cell')}:6; defined at {name}:{line_of(case, 'concept small_cell')}:1); "
        f"squamous_cell ({name}:{line_of(case, 'if small_cell and squamous_cell')}:21; defined at {name}:{line_of(case, 'concept squamous_cell')}:1)")
    # through an unreachable concept: one finding, at its cause, naming what it takes along
    assert "never_second_line" not in by_rule and "r.through_never" not in by_rule
    assert by_rule["never"].rules == ("never", "never_second_line", "r.through_never")
    # a concept with another way to hold: only its impossible rule
    assert "two_ways.impossible" in by_rule and "r.two_ways" not in by_rule


def test_absent_data_can_make_a_rule_certain(tmp_path):
    """Why proofs keep the known flags free: with every attribute known, r.no_transformation
    could never hold, yet a patient whose recorded prior therapies hold no targeted drug gets it."""
    compiled, _, found, _ = run_case(CASES / "W401_unreachable.rules", tmp_path)
    assert "r.no_transformation" not in {d.rules[0] for d in found if d.code == "W401"}
    kb = oncologic.KnowledgeBase(compiled)
    ev = kb.run({"id": "p", "cancer": "lung", "prior_therapies": ["carboplatin"]})
    assert ev.verdict(compiled.rule_node["r.no_transformation"]) is True


def test_markers_allow_and_are_counted(tmp_path):
    compiled, folder, found, name = run_case(CASES / "W506_markers.rules", tmp_path)
    assert sorted(d.code for d in found.allowed) == ["W401", "W403"]
    assert all(d.file == name for d in found.allowed)


# -- the replays on a copy of facts/ -------------------------------------------------------

REPLAYS = [
    # (file, old text, new text): each the mistake, made once in a copy of facts/
    ("lung/nsclc_driver_negative.rules", "  if refractory_driver_negative_nsclc and line >= 3\n",
     "  if refractory_driver_negative_nsclc and line = 2 and line = 3\n"),
    ("lung/sclc.rules", "# ---- third line or later", """recommendation sclc.second_line.not_recommended.topotecan
  do not recommend topotecan
  for refractory_sclc_second_line
  consensus 40%
  because "replay"
  source consensus_refractory_lung "§三"

# ---- third line or later"""),
    ("lung/sclc.rules", "  do not recommend dual_ici\n  for refractory_sclc_third_line_or_later\n  consensus 46%\n",
     "  do not recommend dual_ici\n  for refractory_sclc_third_line_or_later\n  consensus 66%\n"),
    ("hcc/base.rules", "(child_pugh_a or child_pugh_b) and ecog <= 2", "(child_pugh_a or child_pugh_b) and ecog <= 7"),
    ("lung/resistance.rules", "pd_l1_tps >= 50%", "pd_l1_tps >= 150%"),
    # the grading line order, in a scheme of its own: in lung_consensus_table2 the rules it grades
    # would first get the checker's strength errors (and the analysis runs on a KB without errors)
    ("common/documents.rules", "# Table 2 of the lung consensus", """document replay_doc "replay.txt"
grading replay_order for replay_doc
  moderate if consensus >= 60%
  strong   if consensus >= 80%
  source replay_doc "Table 1"

# Table 2 of the lung consensus"""),
]


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    """The shipped facts/ with the issue's six mistakes, analysed once."""
    from oncologic.resources import default_kb_dir
    folder = tmp_path_factory.mktemp("replay") / "facts"
    shutil.copytree(default_kb_dir(), folder)
    for rel, old, new in REPLAYS:
        text = (folder / rel).read_text(encoding="utf-8")
        assert text.count(old) == 1, (rel, old)
        (folder / rel).write_text(text.replace(old, new, 1), encoding="utf-8")
    compiled = build(folder, str(folder))
    return compiled, folder, analyse(compiled, folder, patients=[])


def test_replay_finds_each_mistake(replay):
    compiled, folder, found = replay
    assert [d for d in found if d.code == "W499"] == []
    codes = {(d.code, d.rules[0] if d.rules else None) for d in found}
    assert ("W401", "refractory_driver_negative_nsclc_third_line_or_later") in codes
    assert ("W405", "sclc.second_line.not_recommended.topotecan") in codes
    assert ("W411", "sclc.third_line.not_recommended.dual_ici") in codes
    assert ("W403", "hcc_systemic_fit") in codes
    assert any(d.code == "W403" and d.message.startswith("150%") for d in found)
    assert any(d.code == "W410" and "'strong if consensus >= 80%'" in d.message for d in found)
    unreachable = next(d for d in found if d.code == "W401" and d.rules[0] == "refractory_driver_negative_nsclc_third_line_or_later")
    assert "line = 2" in unreachable.proof and "line = 3" in unreachable.proof
    assert len(unreachable.rules) > 1  # what it takes along, named once
    kb = oncologic.KnowledgeBase(compiled)
    for d in found:
        if d.witness is not None:
            assert_witness(kb, d)


# -- the command line ------------------------------------------------------------------------------

def cli(*args, **kw):
    import subprocess
    import sys
    from support import ROOT
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "oncologic", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120, **kw)


def test_check_prints_the_warnings_with_their_witness(tmp_path):
    """Warnings of a knowledge base that compiles on stdout after the summary, each with its
    source line and caret, the witness on an indented line, a count last."""
    folder = tmp_path / "kb"
    shutil.copytree(CASES / "base", folder / "base")
    shutil.copy(CASES / "W405_not_recommended.rules", folder)
    out = cli("check", "--kb", str(folder))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ok: ") and out.stderr == ""
    assert any(re.match(r"\S+W405_not_recommended.rules:\d+:\d+: warning\[W405\]: ", line) for line in lines)
    witness = next(line for line in lines if line.startswith("  witness: "))
    assert json.loads(witness[len("  witness: "):])["id"] == "witness"
    assert re.fullmatch(r"\d+ warnings?( \(\d+ allowed\))?", lines[-1])
    assert "W499" not in out.stdout
    quiet = cli("check", "--kb", str(folder), "--no-analysis")
    assert quiet.returncode == 0 and quiet.stdout.splitlines() == lines[:1] and quiet.stderr == ""
    strict = cli("check", "--kb", str(folder), "--strict")
    assert strict.returncode == 2 and strict.stdout == out.stdout


def test_the_shipped_knowledge_base_has_no_finding_left():
    """Issue 13: check on facts/ gives no error, and every warning is fixed or allowed by a
    marker with its reason (so --strict passes)."""
    out = cli("check", "--strict")
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(r"ok: .*\n0 warnings \(\d+ allowed\)\n", out.stdout) and out.stderr == ""


def test_check_json_and_patients(tmp_path):
    folder = tmp_path / "kb"
    shutil.copytree(CASES / "base", folder / "base")
    shutil.copy(CASES / "W505_unreached.rules", folder)
    out = cli("check", "--kb", str(folder), "--format", "json", "--patients", str(CASES / "W505_patients.jsonl"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["allowed"] == 0
    w505 = [w for w in data["warnings"] if w["code"] == "W505"]
    assert [w["rules"] for w in w505] == [["r.third_line"]] and w505[0]["witness"]["line"] == 3
    assert {"file", "line", "column", "end_line", "end_column", "severity", "code", "message", "witness", "proof"} <= set(w505[0])
    assert [w["line"] for w in data["warnings"] if w["code"] == "W509"] == [3]  # the record with ecog 7


def test_text_in_records_and_strings(tmp_path):
    """A text field of a list of records is compared with the texts the rules name (and one more)."""
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "kb.rules").write_text('''document doc "doc.txt"
attribute id: string required
attribute events: list of { label: string; grade: int 1..5 }
drug x
recommendation r.a
  recommend x
  if any events where (label = "a" and grade >= 2)
  source doc "s"
recommendation r.both
  recommend x
  if any events where (label = "a" and label = "b")
  source doc "s"
''', encoding="utf-8")
    compiled = build(folder, str(folder))
    found = analyse(compiled, folder, patients=[])
    assert [(d.code, d.rules[0]) for d in found if d.code.startswith("W4")] == [("W401", "r.both")]


def test_a_failing_analysis_is_a_warning_not_a_failed_check():
    from oncologic.cli import _analysis

    class Broken:
        class checked:
            files = ["facts/x.rules"]
    (d,) = _analysis(Broken(), None, ())
    assert d.code == "W499" and d.message.startswith("internal analysis error: AttributeError")


# -- the encoding against the engine, on the shipped knowledge base ---------------------------------

def test_every_shipped_rule_has_a_witness_the_engine_confirms(kb):
    """The Kleene encoding of every rule of facts/ gives a record for which the engine says the
    rule holds (a disagreement would be a bug of the encoding, or of the engine)."""
    from oncologic.analysis.encode import Encoding
    from oncologic.analysis.logic import Logic
    from oncologic.analysis.source import Sources
    from oncologic.reason.evaluate import evaluate_all
    compiled = kb.compiled
    enc = Encoding(compiled.checked)
    logic = Logic(compiled.checked, Sources(compiled.checked, None), enc)
    witnesses = {r.id: logic.witness(enc.kleene(r.condition)[0], enc.reads(r.condition)) for r in logic.rules}
    assert [rid for rid, w in witnesses.items() if w is None] == []
    evaluations = evaluate_all(compiled, kb.backend, [kb.patient(dict(w)) for w in witnesses.values()])
    wrong = [(rid, w) for (rid, w), ev in zip(witnesses.items(), evaluations) if ev.verdict(compiled.rule_node[rid]) is not True]
    assert wrong == []


def test_the_examples_only_save_solver_calls(kb):
    """The example patients' verdicts skip questions the solver would answer the same way: the
    shipped knowledge base analysed without them gives the same findings (W505 aside)."""
    with_examples = analyse(kb.compiled, None)
    without = analyse(kb.compiled, None, patients=[])
    assert [shown(d, Path("/")) for d in with_examples if d.code != "W505"] == [shown(d, Path("/")) for d in without]
    assert [d.witness is None for d in with_examples if d.code != "W505"] == [d.witness is None for d in without]
    again = analyse(kb.compiled, None, patients=[])  # the same questions asked again: the same answers
    assert [(shown(d, Path("/")), d.witness, d.proof) for d in again] == [(shown(d, Path("/")), d.witness, d.proof) for d in without]


def test_an_empty_range_makes_no_rule_unreachable_that_does_not_read_it(tmp_path):
    """A reversed range (``ecog: int 4..0``, the checker's E210) allows no recorded value; it
    must not make the rules that never read the attribute unreachable (a false W401)."""
    from oncologic.analysis.encode import Encoding
    from oncologic.analysis.logic import Logic
    from oncologic.analysis.source import Sources
    compiled, folder, found, _ = run_case(CASES / "W401_unreachable.rules", tmp_path)
    before = {d.rules[0] for d in found if d.code == "W401"}
    kb = compiled.checked
    spec = kb.attributes["ecog"].type
    low, high = spec.low, spec.high
    object.__setattr__(spec, "low", high)  # frozen: the checker would refuse it (E210)
    object.__setattr__(spec, "high", low)
    try:
        logic = Logic(kb, Sources(kb, folder), Encoding(kb))
        logic.unreachable_rules()
    finally:
        object.__setattr__(spec, "low", low)
        object.__setattr__(spec, "high", high)
    after = {f.diagnostic.rules[0] for f in logic.findings if f.diagnostic.code == "W401"}
    assert after == before - {"r.range"}  # r.range reads ecog (ecog >= 7): it was unreachable by 0..4
    assert not any("4..0" in (f.diagnostic.proof or "") for f in logic.findings)


def test_proofs_state_each_condition_with_its_polarity(tmp_path):
    """A proof lists what cannot hold together as it must hold: ``not line >= 2``, not
    ``line >= 2``; a concept it goes through by its name (negated: as a whole), with where it
    is defined."""
    case = CASES / "W401_proof_polarity.rules"
    _, folder, found, name = run_case(case, tmp_path)
    proof = {d.rules[0]: d.proof for d in found if d.code == "W401"}
    test = line_of(case, "and not line >= 2")
    assert proof["r.negated_test"] == f"these cannot all hold: line >= 3 ({name}:{test}:22); not line >= 2 ({name}:{test}:40)"
    known = line_of(case, "not tfi is known")
    assert proof["r.negated_known"] == (f"these cannot all hold: tfi is known ({name}:{known}:22); "
                                        f"not tfi is known ({name}:{known}:43)")
    concept = line_of(case, "not third_line_or_later")
    defined = line_of(case, "concept third_line_or_later")
    assert f"not third_line_or_later ({name}:{concept}:40; defined at {name}:{defined}:1)" in proof["r.negated_concept"]
    assert "not line >= 3" not in proof["r.negated_concept"]
    assert f"third_line_or_later ({name}:{line_of(case, 'third_line_or_later and line = 1')}:6; defined at" in proof["r.positive_concept"]


def test_the_engine_recheck_sees_a_removed_recommendation(tmp_path):
    """A W405 witness must show the regimen really recommended: the re-check asks the engine
    for the regimen (kept, not removed by a contraindication), not only for its rule."""
    from oncologic.analysis.confirm import Engine
    compiled, _, found, _ = run_case(CASES / "W405_removed.rules", tmp_path)
    assert not any(d.code == "W405" and "gefitinib" in d.message for d in found)
    engine = Engine(compiled)
    (ev,) = engine.evaluate([engine.kb.patient({"id": "p", "cancer": "lung", "line": 4})])
    assert engine.verdicts(ev, [("r.gefitinib_fourth", True), ("r.not_gefitinib", True)]) == []
    assert engine.verdicts(ev, [(("r.gefitinib_fourth", ("gefitinib",)), True)]) == [
        "the engine does not recommend gefitinib by 'r.gefitinib_fourth', the analysis that it recommends it"]


def test_no_proof_about_a_list_beyond_the_bound(tmp_path, monkeypatch):
    """Nine distinct ``any ... where`` conditions: a patient with nine adverse events satisfies
    the concept (the engine says so); the encoding holds a record per condition, and beyond
    its bound (here lowered to 8) no W401 is stated at all."""
    compiled, _, found, _ = run_case(CASES / "W401_many_records.rules", tmp_path / "a")
    kb = oncologic.KnowledgeBase(compiled)
    combos = [(t, g) for t in ("hepatitis", "colitis") for g in range(1, 6)][:9]
    ev = kb.run({"id": "p", "cancer": "lung",
                 "adverse_events": [{"type": t, "grade": g, "cause": "other"} for t, g in combos]})
    assert ev.verdict(compiled.rule_node["r.nine_adverse_events"]) is True
    assert not [d for d in found if d.code == "W401"]
    from oncologic.analysis import encode
    monkeypatch.setattr(encode, "MAX_RECORDS", 8)
    _, _, found, _ = run_case(CASES / "W401_many_records.rules", tmp_path / "b")
    assert not [d for d in found if d.code in ("W401", "W407", "W499")]


def test_witnesses_keep_the_six_decimals_of_records(tmp_path):
    """Records keep 6 decimals: no gap between 1.000001% and 1.000002% (no W499 from a witness
    of 1.0000015%), and a gap that holds one value has it as its witness."""
    _, _, found, _ = run_case(CASES / "W408_grid.rules", tmp_path)
    (gap,) = [d for d in found if d.code == "W408"]
    assert gap.witness["tfi"] == "1.000002d"


def test_a_rule_that_needs_an_attribute_unknown_and_its_value_is_never_certain(tmp_path):
    """The engine keeps such a rule possible (never certain) for a record without the
    attribute, and false for one with it: W401 says so, with the reason as its proof."""
    case = CASES / "W401_never_certain.rules"
    compiled, _, found, name = run_case(case, tmp_path)
    (d,) = [d for d in found if d.code == "W401"]
    line = line_of(case, "not tfi is known and tfi < 90d")
    assert d.proof.startswith(f"the condition needs 'tfi' not recorded (not tfi is known, {name}:{line}:22) "
                              f"and a value of it (tfi < 90d, {name}:{line}:43) at once")
    kb = oncologic.KnowledgeBase(compiled)
    node = compiled.rule_node["r.unknown_and_value"]
    assert kb.run({"id": "p", "cancer": "lung"}).verdict(node) is None
    assert kb.run({"id": "p", "cancer": "lung", "tfi": "30d"}).verdict(node) is False
    # decided by the domain: certain without ecog
    assert kb.run({"id": "p", "cancer": "lung"}).verdict(compiled.rule_node["r.unknown_and_always"]) is True


def test_proofs_take_a_disjunction_as_a_whole(tmp_path):
    """An `or`, or a negated `and`, is one condition of a proof (its parts need not all hold)."""
    case = CASES / "W401_proof_polarity.rules"
    _, _, found, name = run_case(case, tmp_path)
    proof = {d.rules[0]: d.proof for d in found if d.code == "W401"}
    line = line_of(case, "(line = 1 or line = 2) and line >= 3")
    assert proof["r.disjunction"] == (f"these cannot all hold: (line = 1 or line = 2) ({name}:{line}:23); "
                                      f"line >= 3 ({name}:{line}:49)")
    line = line_of(case, "not (line >= 3 and ecog >= 1)")
    assert proof["r.negated_conjunction"].startswith(
        f"these cannot all hold: not (line >= 3 and ecog >= 1) ({name}:{line}:27); line >= 3 ({name}:{line}:56)")
