"""Explanations are data; the report writes the words (issue #9).

Reasoning leaves every sentence empty and gives the structured fields a sentence is written
from; the API fills the contract's English ``text``; the text report writes English or Chinese
from the same fields, with the knowledge base's Chinese labels and the patient's values."""
import io
import subprocess
import sys

import pytest
from rich.console import Console

import oncologic
import golden
from minikb import write_kb
from oncologic.reason import explain as ex
from oncologic.reason import results as r
from oncologic.report.text import TextRenderer
from oncologic.report.words import Words, fill_text
from support import EXAMPLES, ROOT
from test_golden import RARE, RARE_RECORDS

CLI = [sys.executable, "-m", "oncologic"]


def run(*args):
    out = subprocess.run(CLI + list(args), capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return out.stdout


def walk(obj):
    """Every result object in an explanation or why-not."""
    stack = [obj]
    while stack:
        node = stack.pop()
        yield node
        for name in ("proof", "alternatives", "removed_by", "attempts", "conditions", "failed", "children", "to_hold"):
            value = getattr(node, name, None)
            stack.extend(value if isinstance(value, list) else [value] if value is not None else [])


# ---- reasoning writes no sentences ---------------------------------------------------------

@pytest.mark.parametrize("patient", golden.patients()[::6], ids=lambda p: p.id)
def test_reasoning_leaves_the_sentences_to_the_report(patient):
    kb = golden.shipped_kb()
    ev = kb.run(patient)
    for goal in golden.goals(kb, patient):
        for answer in (ex.explain(ev, goal), ex.why_not(ev, goal)):
            for obj in walk(answer):
                if isinstance(obj, (r.Condition, r.Change)):
                    assert obj.text == ""
                if isinstance(obj, r.ProofNode) and obj.avoids is not None:
                    assert obj.conclusion == ""
            worded = fill_text(answer)
            assert all(o.text for o in walk(worded) if isinstance(o, (r.Condition, r.Change)))


def test_layers_below_the_report_do_not_import_it():
    code = ("import sys, oncologic.api, oncologic.reason.explain, oncologic.reason.suggest, oncologic.reason.conclude; "
            "print(sorted(m for m in sys.modules if m.startswith('oncologic.report')))")
    below = subprocess.run([sys.executable, "-c", code.replace("oncologic.api, ", "")], capture_output=True, text=True,
                           cwd=ROOT, check=True).stdout.strip()
    assert below == "[]"
    for path in (ROOT / "engine").rglob("*.py"):
        layer = path.relative_to(ROOT / "engine").parts[0]
        if layer in ("lang", "model", "compile", "backends", "records", "reason"):
            imports = [line for line in path.read_text(encoding="utf-8").splitlines()
                       if line.strip().startswith(("import ", "from ")) and "report" in line]
            assert imports == [], path


# ---- the structured fields -----------------------------------------------------------------

def test_a_condition_carries_what_its_sentence_says(kb):
    proof = kb.explain(EXAMPLES / "sclc_dates.json", "anlotinib+irinotecan").proof
    refractory = next(c for c in proof.children[0].children if c.conclusion == "refractory_sclc")
    tfi = next(c for c in refractory.conditions if c.attribute == "tfi")
    assert (tfi.op, tfi.negated, tfi.attribute_kind) == ("<", False, "duration")
    assert (tfi.expected.value, tfi.expected.unit, tfi.actual.value, tfi.actual.unit) == (90, "d", 45, "d")
    assert tfi.flip == r.Flip(date="2026-04-15", attribute="progression_date", holds="before")
    assert tfi.changes_on == tfi.flip.date


def test_class_memberships_and_record_counts(kb):
    proof = kb.explain(EXAMPLES / "nsclc_resistance_t790m.json", "osimertinib").proof
    conditions = [c for node in walk(proof) if isinstance(node, r.ProofNode) for c in node.conditions]
    generations = next(c for c in conditions if c.op == "has any of")
    assert generations.via == [r.Membership(item="gefitinib", is_a="egfr_tki_first_generation")]
    steroids = kb.explain(EXAMPLES / "hcc_ae_irae_colitis.json", "corticosteroids").proof
    events = next(c for c in steroids.conditions if c.attribute == "adverse_events")
    assert (events.op, events.records_matched, events.records_total) == ("any where", 1, 2)
    assert events.actual.value == [{"type": "colitis", "grade": 3, "cause": "immune"}]


def test_a_change_carries_its_test_threshold_and_proposal(kb):
    (attempt,) = kb.why_not(EXAMPLES / "sclc_tfi_90d.json", "topotecan").attempts
    (change,) = attempt.to_hold
    assert (change.action, change.value, change.op, change.known, change.attribute_kind) == ("set", "89d", "<", True, "duration")
    assert (change.threshold.value, change.threshold.unit, change.proposed.value) == (90, "d", 89)
    unknown = kb.why_not(EXAMPLES / "nsclc_driver_unknown.json", "bronchoscopic_intervention").attempts[0]
    assert unknown.failed[0].needs == ["mutations"] and unknown.failed[0].holds is None
    assert [(c.attribute, c.op, c.known) for c in unknown.to_hold] == [("mutations", "is empty", False),
                                                                       ("central_airway_stenosis", "=", False)]


@pytest.fixture(scope="module")
def rare(tmp_path_factory):
    return oncologic.load(write_kb(tmp_path_factory.mktemp("rare"), RARE))


def test_a_negated_date_threshold_says_when_it_holds_as_shown(rare):
    wn = rare.why_not(RARE_RECORDS[0], "c_not_tfi")  # not tfi < 90d, tfi = 45 d from the dates
    (cond,) = wn.attempts[0].failed
    (change,) = wn.attempts[0].to_hold
    assert (cond.op, cond.negated, cond.holds) == (">=", True, False)
    assert cond.flip == change.flip == r.Flip(date="2026-04-01", attribute="progression_date", holds="on_or_after")


# ---- Chinese ----------------------------------------------------------------------------

def test_explain_in_chinese():
    out = run("explain", str(EXAMPLES / "sclc_dates.json"), "anlotinib+irinotecan", "--lang", "zh")
    assert "对患者 pt-sclc-dates 成立" in out
    assert "一线标准治疗结束到疾病进展的时间间隔 < 90 天（患者：45 天）；若疾病进展日期早于 2026-04-15 则成立" in out
    assert "疾病进展日期 2026-03-01、一线治疗结束日期 2026-01-15" in out
    assert "弱推荐 · 证据级别 Ⅴ · 共识度 68%" in out  # levels as the seed prints them (Ⅴ级)
    assert "最薄弱环节：证据级别 Ⅴ（sclc.second_line.anti_angiogenic_chemo）" in out
    assert "holds" not in out and "patient:" not in out


def test_why_not_in_chinese():
    out = run("why-not", str(EXAMPLES / "sclc_tfi_90d.json"), "topotecan", "--lang", "zh")
    assert "topotecan 拓扑替康 对患者 pt-sclc-tfi90 不成立——共 1 条规则可推出该结论" in out
    assert "一线标准治疗结束到疾病进展的时间间隔 < 90 天（患者：90 天）（不满足）" in out
    assert "若一线标准治疗结束到疾病进展的时间间隔 < 90 天（例如 89 天），则成立" in out
    out = run("why-not", str(EXAMPLES / "nsclc_driver_unknown.json"), "bronchoscopic_intervention", "--lang", "zh")
    assert "「难治性肺癌」（未定）——需补充：驱动基因（缺少数据）" in out
    assert "恶性中心气道狭窄 = 是（患者：未知）（缺少数据）" in out
    assert "缺少数据：驱动基因、恶性中心气道狭窄" in out
    assert "若记录驱动基因为空（已检测，均无）；记录恶性中心气道狭窄为 是，则成立" in out


def test_chinese_class_memberships_and_records():
    out = run("explain", str(EXAMPLES / "nsclc_resistance_t790m.json"), "osimertinib", "--lang", "zh")
    assert "既往治疗 包含任一 （一代EGFR-TKI、二代EGFR-TKI）（患者：{吉非替尼}；吉非替尼属于一代EGFR-TKI）" in out
    out = run("explain", str(EXAMPLES / "hcc_ae_irae_colitis.json"), "corticosteroids", "--lang", "zh")
    assert "不良反应 存在记录满足 （type != endocrine and grade >= 3 and cause = immune）（患者：2 条记录中 1 条符合）" in out


def test_every_form_in_chinese(rare):
    zh = Words("zh", rare.compiled.checked.label)
    a, b, c = RARE_RECORDS

    def said(record, goal):
        wn = rare.why_not(record, goal)
        return [zh.condition(x) for x in walk(wn) if isinstance(x, r.Condition)] + \
            [zh.change(x) for x in walk(wn) if isinstance(x, r.Change)]

    assert said(a, "c_known") == ["ecog 未知（患者：2）", "ecog保持未知"]
    assert said(a, "c_without") == ["prior_therapies 不包含 platinum（患者：{carboplatin}；carboplatin属于platinum）",
                                    "prior_therapies：去除 carboplatin"]
    assert said(c, "c_none_of") == ["mutations 不包含任何 （egfr、her2）（患者：未知）", "记录mutations为空（已检测，无 egfr、her2）"]
    assert said(b, "c_is_known") == ["ecog 已知（患者：未知）", "记录ecog"]
    assert said(a, "c_not_tfi") == ["tfi ≥ 90 天（患者：45 天）；若progression_date在 2026-04-01 当日或之后则成立",
                                    "tfi ≥ 90 天（例如 90 天；即progression_date在 2026-04-01 当日或之后）"]
    assert said(a, "c_len") == ["diameter ≤ 50 毫米（5 厘米）（患者：60 毫米，记录为 6 厘米）", "diameter ≤ 50 毫米（例如 50 毫米）"]
    assert said(b, "c_ne") == ["histology ≠ sclc（患者：sclc）", "将histology改为 squamous"]
    assert said(c, "c_eq") == ["histology = sclc（患者：未知）", "记录histology为 sclc"]
    assert said(a, "c_any") == [
        "adverse_events 存在记录满足 （grade >= 3 and cause = immune）（患者：1 条记录中 0 条符合）"]
    assert {"「c_tfi」（未定）——需补充：tfi", "非「c_bool」（「c_bool」未定）——需补充：stenosis"} <= set(said(c, "c_ref"))


def test_every_chinese_explanation_is_chinese():
    """For every bundled patient and goal, the Chinese report has none of the English words."""
    kb = golden.shipped_kb()
    english = ("(patient:", "holds when", "would hold with", "does not hold", "missing data", ", e.g.", " — needs",
               "weakest link", "for patient", "by rule", "(failed)", "(missing)", "is unknown", "given as", "record(s)")
    for patient in golden.patients():
        for goal in golden.goals(kb, patient)[:8]:
            out = io.StringIO()
            text = TextRenderer(kb.compiled, "zh", Console(file=out, width=400, color_system=None))
            text.explanation(kb.explain(patient, goal), patient.id)
            text.why_not(kb.why_not(patient, goal), patient.id)
            found = [w for w in english if w in out.getvalue()]
            assert found == [], (patient.id, goal, found)
