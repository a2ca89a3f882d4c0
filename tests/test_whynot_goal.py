"""A why-not suggestion promises no more than the engine finds: the change (``to_hold``) makes
the rule hold, and the attempt says what the GOAL would then be — for a regimen, after the
contraindications and the statements against it. The squamous patient's bevacizumab regimens
would still be removed by the squamous contraindication whatever line or prior therapy is
recorded; the text, the JSON and the picture say so, and propose no change of the histology.
Where the change is enough (topotecan at tfi 89 d) it is proposed as before. Every bundled
patient and goal: tests/test_faithful.py (oracle.check_suggestions); generated patients:
tests/test_properties.py."""
from __future__ import annotations

import html
import json
import re

from click.testing import CliRunner

from oncologic.cli import main
from oncologic.report.pictures import STATUS
from oracle import apply_changes
from support import EXAMPLES, shipped_kb

SQUAMOUS = str(EXAMPLES / "antiangio_first_line_squamous.json")
TFI90 = str(EXAMPLES / "sclc_tfi_90d.json")
BEV = "bevacizumab+carboplatin+paclitaxel"
CONTRA = "antiangiogenic.bevacizumab_squamous"
REASON = ("not suitable for squamous NSCLC, which is prone to cavitation, necrosis and bleeding; bevacizumab "
          "grade >=3 bleeding 4%, pulmonary haemorrhage 1%")


def cli(*args):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def flat(text: str) -> str:
    """The output with its tree drawing and line wrapping taken out."""
    return re.sub(r"\s+", " ", re.sub(r"[│├└─]", " ", text)).strip()


def test_text_says_the_regimen_would_still_be_removed():
    text = flat(cli("why-not", SQUAMOUS, BEV))
    assert ("the rule would hold with: line >= 2, e.g. 2; prior_therapies: add immune_checkpoint_inhibitor — but the "
            f"regimen would still be removed by contraindication {CONTRA} ({REASON})") in text
    assert ("the rule would hold with: line >= 2, e.g. 2; mutations: add egfr_19del; prior_therapies: add "
            "targeted_therapy; record transformation = none — but the regimen would still be removed by "
            f"contraindication {CONTRA} ({REASON})") in text
    assert text.count("would hold with") == text.count("the rule would hold with") == 2  # no unqualified promise
    assert "histology" not in text.split("the rule would hold with")[1]  # the recorded histology is not argued away


def test_chinese_text_says_the_regimen_would_still_be_removed():
    text = flat(cli("why-not", SQUAMOUS, BEV, "--lang", "zh"))
    assert (f"该规则成立；但该方案仍会被禁忌证 {CONTRA} 移除（并不适用于易发生空洞、坏死和出血的肺鳞癌；"
            "贝伐珠单抗≥3级出血4%、肺出血 1%）") in text
    assert text.count("，则成立") == 0 and text.count("该规则成立") == 2


def test_json_says_what_the_goal_would_be():
    data = json.loads(cli("why-not", SQUAMOUS, BEV, "--format", "json"))
    first, ici, targeted = data["attempts"]
    assert first["rule"]["id"] == "antiangiogenic.first_line.bevacizumab_carboplatin_paclitaxel"
    assert [x["rule"]["id"] for x in first["removed_by"]] == [CONTRA]
    assert (first["to_hold"], first["to_hold_verdict"], first["still_removed_by"]) == (None, None, [])
    assert ici["rule"]["id"] == "antiangiogenic.after_immunotherapy.bevacizumab_platinum_doublet"
    assert [c["text"] for c in ici["to_hold"]] == ["line >= 2, e.g. 2", "prior_therapies: add immune_checkpoint_inhibitor"]
    assert [c["text"] for c in targeted["to_hold"]] == ["line >= 2, e.g. 2", "mutations: add egfr_19del",
                                                        "prior_therapies: add targeted_therapy", "record transformation = none"]
    for attempt in (ici, targeted):
        assert attempt["to_hold_verdict"] == "fails"
        assert attempt["still_removed_by"] == [CONTRA]
        assert attempt["still_pending"] == [] and attempt["still_against"] == []


def test_the_promise_is_what_the_engine_finds_on_the_changed_record():
    """Applying the first suggestion: the rule holds and the contraindication removes the regimen."""
    kb = shipped_kb()
    record = json.loads(open(SQUAMOUS, encoding="utf-8").read())
    attempt = kb.why_not(record, BEV).attempts[1]
    changed = apply_changes(record, attempt.to_hold, kb.compiled.checked)
    assert (changed["histology"], changed["line"], changed["prior_therapies"]) == ("squamous", 2, ["immune_checkpoint_inhibitor"])
    after = kb.why_not(changed, BEV)
    assert after.holds is False
    held = next(a for a in after.attempts if a.rule.id == attempt.rule.id)
    assert held.holds is False and [x.rule.id for x in held.removed_by] == attempt.still_removed_by == [CONTRA]


def test_picture_note_says_the_regimen_would_still_be_removed():
    dot = cli("explain", SQUAMOUS, BEV, "--format", "dot")
    notes = [line for line in dot.splitlines() if "would hold if" in line]
    assert len(notes) == 2
    for line in notes:
        text = flat(html.unescape(re.sub(r"<[^>]*>", " ", line)))
        assert "the rule would hold if: line >= 2, e.g. 2;" in text
        assert f"— but the regimen would still be removed by contraindication {CONTRA} (not suitable for squamous" in text
        assert f'fillcolor="{STATUS["fails"][0]}"' in line
    zh = re.sub(r"\s+", "", cli("explain", SQUAMOUS, BEV, "--format", "mermaid", "--lang", "zh").replace("<br/>", ""))
    assert zh.count(f"该规则成立；但该方案仍会被禁忌证{CONTRA}移除（并不适用于") == 2 and "，则成立" not in zh


def test_a_sufficient_change_is_proposed_as_before():
    assert "└── would hold with: tfi < 90 d, e.g. 89 d" in cli("why-not", TFI90, "topotecan")
    assert "若一线标准治疗结束到疾病进展的时间间隔 < 90 天（例如 89 天），则成立" in flat(cli("why-not", TFI90, "topotecan", "--lang", "zh"))
    (attempt,) = json.loads(cli("why-not", TFI90, "topotecan", "--format", "json"))["attempts"]
    assert [c["text"] for c in attempt["to_hold"]] == ["tfi < 90 d, e.g. 89 d"]
    assert attempt["to_hold_verdict"] == "holds"
    assert (attempt["still_removed_by"], attempt["still_pending"], attempt["still_against"]) == ([], [], [])
    dot = flat(html.unescape(re.sub(r"<[^>]*>", " ", cli("explain", TFI90, "topotecan", "--format", "dot"))))
    assert "would hold if: tfi < 90 d, e.g. 89 d" in dot and "the rule would hold" not in dot
