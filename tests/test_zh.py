"""Chinese output for real (issue #11, items 6-7): with ``--lang zh`` every word of the text
output is Chinese where the knowledge base or a message catalogue provides it.

"English word" is defined precisely: a run of two or more Latin letters (``[A-Za-z]{2,}``,
so ``T790M`` and ``3 mo`` are caught, single letters are not) that is neither an id of the
knowledge base (drugs and other items, concepts, settings, attributes, enum values,
documents, rules: ids are shown next to their labels on purpose, so a reader can type them
into ``explain``) nor on :data:`ALLOWED`, the abbreviations Chinese clinical text writes in
Latin letters itself (every one of them is used so in the seeds)."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from oncologic.cli import main
from oncologic.report import catalogue
from support import EXAMPLES, shipped_kb

# Standard abbreviations Chinese clinical text keeps in Latin letters (all in the seeds):
# scores and staging systems, tumour and procedure names, trial end points, gene symbols
# (written in Latin letters in Chinese as in English), agencies and the trials the notes cite.
ALLOWED = {
    # staging, scores, response criteria
    "ECOG", "PS", "CNLC", "RECIST", "mRECIST", "CTCAE", "TNM", "Child", "Pugh", "PD", "TPS", "LDH",
    # diseases and procedures
    "SCLC", "ES", "NSCLC", "HCC", "TACE", "HAIC", "MDT", "CT", "MRI", "ctDNA", "MiniPDX", "ADC", "ICI", "ICIs",
    "TKI", "TKIs", "AEs", "irAEs", "VEGF",
    # genes and markers
    "EGFR", "ALK", "ROS", "HER", "MET", "BRAF", "MEK", "KRAS", "RET", "NTRK",
    # end points and statistics
    "ORR", "PFS", "OS", "DCR", "HR", "CI", "mg",
    # agencies, meetings, trials and regimens the notes cite by name
    "NMPA", "FDA", "ASCO", "ALTER", "ECOG4599", "BEYOND", "AVF", "JO", "AVAiL", "JMDB", "POINTBREAK",
    "AVAPERL", "CTONG", "NEJ", "BeTa", "IMpower", "ABCP", "BCP", "IMforte", "NVALT", "CHRYSALIS",
    "DESTINY", "Lung", "ORIENT", "IMPRESS", "DXd", "DM", "Meador",
    # as the seeds write them in their Chinese text (quoted in locators): "5 cm", "EGFR 20ins"
    "cm", "ins",
}
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.]*[A-Za-z0-9_]|[A-Za-z]")

# Three patients (an SCLC, an NSCLC, an HCC one) and a goal of each for explain and why-not.
CASES = [
    ("sclc_second_line.json", "anlotinib+irinotecan", "topotecan"),
    ("nsclc_resistance_t790m.json", "osimertinib", "docetaxel"),
    ("hcc_iiia_portal_vein.json", "haic+targeted_immune", "resection"),
]


def kb_ids() -> set[str]:
    kb = shipped_kb().compiled.checked
    ids = set(kb.items) | set(kb.attributes) | set(kb.concepts) | set(kb.documents)
    for attr in kb.attributes.values():
        ids |= set(attr.type.values)
        ids |= {f.name for f in attr.type.fields} | {v for f in attr.type.fields for v in f.type.values}
    for rule in kb.rules:
        ids |= {rule.id, *(x for regimen in rule.regimens for x in regimen)}
    return ids


def english_words(text: str, ids: set[str]) -> list[str]:
    """The English words of a text: ids are whole tokens (``a.b_c``, ``x+y`` split at ``+``)."""
    out = []
    for token in WORD.findall(text):
        token = token.strip(".")
        if token in ids or token.lower() in ids:
            continue
        for word in re.findall(r"[A-Za-z]{2,}", token):
            if word not in ALLOWED and word not in ids:
                out.append(word)
    return out


def run(*args) -> str:
    result = CliRunner().invoke(main, [*args, "--lang", "zh"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def without_paths(text: str, record: str) -> str:
    """Rule locations (``facts/lung/sclc.rules:43``), the patient's file and id are ids too."""
    text = text.replace(json.loads((EXAMPLES / record).read_text())["id"], " ")
    return re.sub(r"\S*(facts/|examples/)\S*", " ", text).replace("oncologic why-not", " ")


@pytest.mark.parametrize("patient,goal,other", CASES, ids=[c[0] for c in CASES])
def test_zh_text_has_no_english_word_outside_ids(patient, goal, other):
    ids = kb_ids()
    path = str(EXAMPLES / patient)
    for args in (("recommend", path), ("explain", path, goal), ("why-not", path, other),
                 ("explain", path, other), ("why-not", path, goal)):
        text = without_paths(run(*args), patient)
        assert re.search(r"[\u4e00-\u9fff]", text)
        assert english_words(text, ids) == [], (args, text)


def test_english_word_finder_catches_what_it_should():
    ids = {"tfi", "anlotinib", "irinotecan", "sclc.second_line.anti_angiogenic_chemo"}
    text = "anlotinib+irinotecan 规则 sclc.second_line.anti_angiogenic_chemo tfi < 90 d（患者：45 天）note: some PFS"
    assert english_words(text, ids) == ["note", "some"]


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", text))  # named only: "{} (none)" is a literal empty set


def flat(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_catalogues_have_the_same_keys_and_placeholders():
    en = dict(flat(catalogue.catalogue("en")))
    for lang in catalogue.LANGUAGES:
        other = dict(flat(json.loads(catalogue.path(lang).read_text(encoding="utf-8"))))
        assert set(other) == set(en), lang
        for key in en:
            assert placeholders(other[key]) == placeholders(en[key]), (lang, key)


def test_catalogue_is_read_lazily_one_language():
    import subprocess, sys
    code = ("import oncologic.report.text, oncologic.report.words as w, oncologic.report.catalogue as c;"
            "print(sorted(c._LOADED)); w.Words('zh'); print(sorted(c._LOADED))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "['en']" or out[0] == "[]"  # English is the JSON's (the contract's `text` fields)
    assert "zh" in out[1]


# ---- the rule language: texts in languages, labels of values -----------------------------------

import oncologic  # noqa: E402
from minikb import VOCABULARY, write_kb  # noqa: E402
from oncologic.errors import RuleError  # noqa: E402

LABELLED = VOCABULARY.replace('attribute histology: enum sclc, squamous, adenocarcinoma',
                              'attribute histology: enum sclc, squamous, adenocarcinoma\n'
                              '  value squamous label en "squamous carcinoma" zh "鳞癌"') \
    .replace('document doc "doc.txt" title "Test document"',
             'document doc "doc.txt" title en "Test document" zh "测试文件"')
RULES = '''
concept x if histology = squamous source doc "Table 2"
recommendation r recommend topotecan for x
  source doc "Table 2 (弱推荐)"
  note en "some experts: if tolerated" zh "部分专家认为：可耐受时"
  note "as written"
recommendation r2 recommend bevacizumab for x source doc "§4"
contraindication c avoid bevacizumab if histology = squamous
  because en "bleeding" zh "出血"
  source doc "§4"
'''


def test_texts_in_languages_and_value_labels(tmp_path):
    kb = oncologic.load(write_kb(tmp_path, RULES, LABELLED))
    checked = kb.compiled.checked
    rule = kb.compiled.rule("r")
    assert rule.notes == ("some experts: if tolerated", "as written")  # the JSON's: English, or as written
    assert rule.note_labels[0] == (("en", "some experts: if tolerated"), ("zh", "部分专家认为：可耐受时"))
    assert rule.note_labels[1] == ()
    assert kb.compiled.rule("c").reason == "bleeding"
    assert checked.documents["doc"].title == "Test document"
    assert checked.documents["doc"].title_in("zh") == "测试文件"
    assert checked.value_label("histology", "squamous", "zh") == "鳞癌"
    assert checked.value_label("histology", "sclc", "zh") is None
    res = kb.evaluate({"id": "p", "cancer": "lung", "histology": "squamous"})
    assert res.recommendations[0].notes == ["some experts: if tolerated", "as written"]
    assert res.recommendations[0].source.title == "Test document"


def test_zh_report_uses_them(tmp_path):
    folder = write_kb(tmp_path, RULES, LABELLED)
    record = tmp_path / "p.json"
    record.write_text(json.dumps({"id": "p", "cancer": "lung", "histology": "squamous"}))
    zh = CliRunner().invoke(main, ["recommend", str(record), "--kb", str(folder), "--lang", "zh"], env={"COLUMNS": "200"})
    assert zh.exit_code == 0, zh.output
    assert "注：部分专家认为：可耐受时" in zh.output and "注：as written" in zh.output
    assert "测试文件，表2 (弱推荐)" in zh.output and "doc.txt" not in zh.output
    assert "出血" in zh.output
    why = CliRunner().invoke(main, ["explain", str(record), "x", "--kb", str(folder), "--lang", "zh"], env={"COLUMNS": "200"})
    assert "鳞癌（患者：鳞癌）" in why.output, why.output
    en = CliRunner().invoke(main, ["recommend", str(record), "--kb", str(folder)], env={"COLUMNS": "200"})
    assert "note: some experts: if tolerated" in en.output and "Test document, Table 2 (弱推荐)" in en.output
    assert "bleeding" in en.output


@pytest.mark.parametrize("rules, vocabulary, message", [
    ('concept x if stenosis source doc "s" note zh "只有中文"', VOCABULARY, 'needs its English one (en "...")'),
    ('concept x if stenosis source doc "s" note en "a" en "b"', VOCABULARY, "the text is given twice in 'en'"),
    ('concept x if stenosis source doc "s"', VOCABULARY.replace('title "Test document"', 'title zh "测试"'), "needs its English one"),
    ('concept x if stenosis source doc "s"', VOCABULARY.replace("attribute stenosis: bool", 'attribute stenosis: bool\n  value yes label zh "是"'),
     "attribute 'stenosis' is a bool: only the values of an enum or a set"),
    ('concept x if stenosis source doc "s"', VOCABULARY.replace("attribute mutations: set of egfr, her2, kras",
                                                                'attribute mutations: set of egfr, her2, kras\n  value alk label zh "ALK"'),
     "attribute 'mutations' has no value 'alk' to label (its values: egfr, her2, kras)"),
    ('concept x if stenosis source doc "s"', VOCABULARY.replace("attribute mutations: set of egfr, her2, kras",
                                                                'attribute mutations: set of egfr, her2, kras\n  value egfr label zh "E"\n  value egfr label zh "F"'),
     "value 'egfr' is labelled twice"),
    ('concept x if stenosis source doc "s" note "a" zh "b"', VOCABULARY, "unexpected"),
])
def test_bad_texts_and_labels_are_check_errors_with_position(tmp_path, rules, vocabulary, message):
    folder = write_kb(tmp_path, rules, vocabulary)
    with pytest.raises(RuleError) as err:
        oncologic.load(folder)
    errors = [str(d) for d in err.value.diagnostics]
    assert any(message in e for e in errors), errors
    assert all(re.match(r".*\.rules:\d+:\d+: ", e) for e in errors), errors
    out = CliRunner().invoke(main, ["check", "--kb", str(folder)])
    assert out.exit_code == 2
