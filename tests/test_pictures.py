"""Pictures (issue 14 part 3): ``oncologic graph`` and ``explain --format dot|mermaid|svg``.

Each format is drawn for real goals of the shipped knowledge base and its structure checked:
the nodes and edges (DOT read with a regular expression, Mermaid line by line, SVG as XML),
the colours of verdicts (green holds, red fails, grey undecided), labels in Chinese, sources on
the nodes; bad goals, --out, and SVG without Graphviz's ``dot``.
"""
from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from oncologic.cli import main
from oncologic.report import pictures
from oncologic.report.pictures import STATUS, Graph, Line, Node
from support import EXAMPLES

SCLC2 = str(EXAMPLES / "sclc_second_line.json")
TFI90 = str(EXAMPLES / "sclc_tfi_90d.json")
SQUAMOUS = str(EXAMPLES / "antiangio_first_line_squamous.json")
GREEN, RED, GREY = STATUS["holds"][0], STATUS["fails"][0], STATUS["undecided"][0]
REMOVED, POSSIBLE = STATUS["removed"][0], STATUS["possible"][0]  # a rule that holds; its regimen removed / possible
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason=pictures.NO_DOT)

NODE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" \[shape=(\w+), style="[^"]*", fillcolor="(#\w+)", color="#\w+"(?:, penwidth=\d+)?, label=<(.*)>\];$', re.M)
EDGE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)" \[([^\n]*)\];$', re.M)


def cli(*args):
    result = CliRunner().invoke(main, list(args))
    return result


def dot_nodes(text: str) -> dict[str, tuple[str, str, str]]:
    """id -> (shape, fill, label text without markup)."""
    return {m.group(1): (m.group(2), m.group(3), re.sub(r"<[^>]+>", "\n", m.group(4))) for m in NODE.finditer(text)}


def dot_edges(text: str) -> dict[tuple[str, str], str]:
    return {(m.group(1), m.group(2)): m.group(3) for m in EDGE.finditer(text)}


def lines_of(label: str) -> list[str]:
    return [part for part in label.split("\n") if part]


# ---- explain ----------------------------------------------------------------------------

def test_explain_dot_draws_the_proof_with_the_patients_values_in_green():
    out = cli("explain", SCLC2, "anlotinib+irinotecan", "--format", "dot")
    assert out.exit_code == 0, out.output
    nodes, edges = dot_nodes(out.output), dot_edges(out.output)
    rec, setting, concept, tfi = ("sclc.second_line.anti_angiogenic_chemo", "refractory_sclc_second_line",
                                  "refractory_sclc.tfi", "refractory_sclc.tfi/tfi")
    for path in [("goal", rec), (rec, setting), (setting, concept), (concept, tfi), (concept, "lung_cancer")]:
        assert path in edges, path
    assert lines_of(nodes["goal"][2]) == ["anlotinib + irinotecan holds for patient", "pt-sclc-2l", "anlotinib+irinotecan"]
    assert lines_of(nodes[rec][2]) == ["anlotinib + irinotecan", "weak · evidence V · consensus 68%",
                                       "rule sclc.second_line.anti_angiogenic_chemo",
                                       "000 Table 3 (弱推荐, 抗血管生成药物联合化疗);", "§三(一)2"]
    assert lines_of(nodes[tfi][2]) == ["tfi &lt; 90 d (patient: 45 d)"]
    assert nodes[setting][0] == "hexagon" and nodes[concept][0] == "ellipse" and nodes[tfi][0] == "box"
    assert {fill for _, fill, _ in nodes.values()} == {GREEN}  # every step of a proof that holds


def test_explain_of_a_failing_goal_draws_the_why_not_with_the_failed_condition_in_red():
    out = cli("explain", TFI90, "topotecan", "--format", "dot")
    assert out.exit_code == 0, out.output
    nodes, edges = dot_nodes(out.output), dot_edges(out.output)
    assert nodes["goal"][1] == RED and lines_of(nodes["goal"][2])[0] == "topotecan does not hold for patient"
    failed = nodes["refractory_sclc.tfi/tfi"]
    assert failed[1] == RED and lines_of(failed[2]) == ["tfi &lt; 90 d (patient: 90 d)"]
    assert ("refractory_sclc_second_line", "refractory_sclc.tfi") in edges
    alternative = edges[("refractory_sclc_second_line", "refractory_sclc.progression_during_first_line")]
    assert ">or<" in alternative  # two rules could conclude refractory_sclc: either would do
    would = [lines_of(label) for key, (_, _, label) in nodes.items() if key.startswith("note")]
    assert would == [["would hold if: tfi &lt; 90 d, e.g. 89 d"]]


def test_explain_mermaid_in_chinese():
    out = cli("explain", SCLC2, "anlotinib+irinotecan", "--format", "mermaid", "--lang", "zh")
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "flowchart TB"
    text = out.output
    assert '<b>安罗替尼 + 伊立替康 对患者 pt-sclc-2l 成立</b>' in text
    assert "<small>000 表3 (弱推荐, 抗血管生成药物联合化疗);</small><br/><small>§三(一)2</small>" in text
    assert "弱推荐 · 证据级别 Ⅴ · 共识度 68%" in text
    tfi = next(line for line in lines if "一线标准治疗结束到疾病进展的时间间隔 #lt; 90<br/>天（患者：45 天）" in line)
    key = tfi.strip().split("[", 1)[0]
    assert f"  class {key} holds" in lines
    assert "  classDef holds fill:#c8e6c9,stroke:#2e7d32,color:#212121,stroke-width:2px" in lines
    # every label is one quoted string: no raw quote, < or > of the data inside it
    for line in lines:
        match = re.match(r'\s*n\d+[\[({/\\]+"(.*)"[\])}/\\]+$', line)
        if match:
            assert '"' not in match.group(1)
            assert not re.search(r"<(?!/?(b|small|br/)>)", match.group(1)), line


def test_explain_removed_regimen_draws_the_rule_that_holds_and_the_contraindication_that_removes_it():
    """As the text report says it: the regimen does not hold, its rule holds (setting and
    conditions green) and is removed by the contraindication, which holds (green)."""
    out = cli("explain", SQUAMOUS, "bevacizumab+carboplatin+paclitaxel", "--format", "dot")
    assert out.exit_code == 0, out.output
    nodes, edges = dot_nodes(out.output), dot_edges(out.output)
    rec, contra = "antiangiogenic.first_line.bevacizumab_carboplatin_paclitaxel", "antiangiogenic.bevacizumab_squamous"
    assert nodes["goal"][1] == RED
    assert nodes[rec][1] == REMOVED and RED not in nodes[rec] and f'fillcolor="{REMOVED}", color="#c62828", penwidth=3' in out.output
    assert lines_of(nodes[rec][2])[-2:] == ["holds; removed by contraindication", "antiangiogenic.bevacizumab_squamous"]
    # the rule's own derivation, as it holds: its setting and its conditions
    for below in ("nsclc_first_line_initial", "driver_negative"):
        assert (rec, below) in edges and nodes[below][1] == GREEN, below
    assert nodes["nsclc_first_line_initial/line"][1] == GREEN
    assert lines_of(nodes["nsclc_first_line_initial/line"][2]) == ["line = 1 (patient: 1)"]
    # the contraindication with its derivation, green, on a red dashed "removed by" edge
    assert "removed by" in edges[(rec, contra)] and "dashed" in edges[(rec, contra)] and "penwidth=2" in edges[(rec, contra)]
    assert nodes[contra][:2] == ("octagon", GREEN) and lines_of(nodes[contra][2])[0] == "avoid bevacizumab"
    assert (contra, "squamous_nsclc") in edges and nodes["squamous_nsclc/histology"][1] == GREEN
    mermaid = cli("explain", SQUAMOUS, "bevacizumab+carboplatin+paclitaxel", "--format", "mermaid", "--lang", "zh").output
    assert "成立；因禁忌证移除：antiangiogenic.bevacizumab_squamous" in mermaid.replace("</b><br/><b>", "")
    assert f"  classDef removed fill:{REMOVED},stroke:#c62828,color:#212121,stroke-width:4px" in mermaid


PENDING_KB = """
document doc "doc.txt" title "Test document"
attribute id: string required
attribute line: int 1..
attribute histology: enum sclc, squamous, adenocarcinoma
attribute bleeding_risk: bool
attribute mutations: set of egfr, her2, kras
drug bevacizumab
drug docetaxel
setting second_line
  if line = 2
  source doc "Table 1"
recommendation r.bev
  recommend bevacizumab + docetaxel
  for second_line
  if mutations is empty
  source doc "Table 3"
contraindication c.bev
  avoid bevacizumab
  if histology = squamous or bleeding_risk
  because "bleeding"
  source doc "§2"
"""


def test_explain_of_a_regimen_an_undecided_contraindication_leaves_possible(tmp_path):
    from minikb import write_kb
    kb = write_kb(tmp_path, "", vocabulary=PENDING_KB)
    patient = tmp_path / "p.json"
    patient.write_text('{"id": "p-pend", "line": 2, "mutations": []}', encoding="utf-8")
    out = cli("explain", str(patient), "bevacizumab+docetaxel", "--kb", str(kb), "--format", "dot")
    assert out.exit_code == 0, out.output
    nodes, edges = dot_nodes(out.output), dot_edges(out.output)
    assert nodes["goal"][1] == GREY
    assert nodes["r.bev"][1] == POSSIBLE
    assert lines_of(nodes["r.bev"][2]) == ["bevacizumab + docetaxel", "rule r.bev", "doc Table 3",
                                            "holds; possible only: contraindication c.bev", "is undecided"]
    assert nodes["second_line"][1] == GREEN and nodes["r.bev/mutations"][1] == GREEN
    assert "may be removed by (undecided)" in edges[("r.bev", "c.bev")] and "dashed" in edges[("r.bev", "c.bev")]
    assert nodes["c.bev"][:2] == ("octagon", GREY)
    assert lines_of(nodes["c.bev"][2]) == ["avoid bevacizumab", "rule c.bev", "doc §2", "because: bleeding",
                                           "undecided; needs histology, bleeding_risk"]
    assert nodes["c.bev/histology"][1] == GREY
    assert lines_of(nodes["c.bev/histology"][2]) == ["histology = squamous (patient: unknown)"]
    assert nodes["c.bev/bleeding_risk"][1] == GREY


def test_an_empty_set_reads_none():
    """An empty set of the record reads "none" on a picture and in the text report ("无" in
    Chinese); only the JSON contract's English ``text`` fields keep their frozen "{} (none)"."""
    for lang in ("en", "zh"):
        picture = cli("explain", SQUAMOUS, "bevacizumab+carboplatin+paclitaxel", "--format", "mermaid", "--lang", lang).output
        assert "{}" not in picture, lang
    assert "mutations is not empty (patient: none)" in cli("explain", SQUAMOUS, "bevacizumab+carboplatin+paclitaxel",
                                                           "--format", "dot").output
    zh_picture = cli("explain", SQUAMOUS, "bevacizumab+carboplatin+paclitaxel", "--format", "dot", "--lang", "zh").output
    zh_text = cli("why-not", SQUAMOUS, "bevacizumab+carboplatin+paclitaxel", "--lang", "zh").output
    assert "驱动基因 不为空（患者：无）" in zh_picture and "驱动基因 不为空（患者：无）" in zh_text
    en_text = cli("why-not", SQUAMOUS, "bevacizumab+carboplatin+paclitaxel").output.replace("\n", "")
    assert "mutations is not empty (patient: none) (failed)" in en_text and "{}" not in en_text
    data = cli("why-not", SQUAMOUS, "bevacizumab+carboplatin+paclitaxel", "--format", "json").output
    assert '"text": "mutations is not empty (patient: {} (none))"' in data


def test_locators_in_chinese_as_the_text_report_writes_them():
    """The text report and the pictures write a locator's words in the language asked for
    (``Table 3`` → ``表3``); the JSON keeps the rule file's text."""
    text = cli("explain", SCLC2, "anlotinib+irinotecan", "--lang", "zh").output.replace("\n", "")
    picture = cli("explain", SCLC2, "anlotinib+irinotecan", "--format", "dot", "--lang", "zh").output
    data = cli("explain", SCLC2, "anlotinib+irinotecan", "--format", "json", "--lang", "zh").output
    assert "表3 (弱推荐, 抗血管生成药物联合化疗); §三(一)2" in text
    assert "000 表3 (弱推荐, 抗血管生成药物联合化疗);" in picture and "Table 3" not in picture
    assert '"locator": "Table 3 (弱推荐, 抗血管生成药物联合化疗); §三(一)2"' in data
    graph = cli("graph", "sclc.second_line.anti_angiogenic_chemo", "--lang", "zh").output
    assert "000 表3" in graph and "Table 3" not in graph


@needs_dot
def test_explain_svg_colours_the_nodes():
    out = cli("explain", TFI90, "topotecan", "--format", "svg")
    assert out.exit_code == 0, out.output
    fills = svg_fills(out.output)
    assert fills["goal"] == RED and fills["refractory_sclc.tfi/tfi"] == RED
    assert fills["note"] == "#fffde7"  # the change that would make it hold: a note, no verdict
    out = cli("explain", SCLC2, "anlotinib+irinotecan", "--format", "svg")
    fills = svg_fills(out.output)
    assert fills["refractory_sclc.tfi/tfi"] == GREEN and fills["sclc.second_line.anti_angiogenic_chemo"] == GREEN
    assert "tfi &lt; 90 d (patient: 45 d)" in out.output


def svg_fills(svg: str) -> dict[str, str]:
    """The fill colour of each node of an SVG drawn by dot, by the node's id (its <title>)."""
    ns = {"s": "http://www.w3.org/2000/svg"}
    root = ET.fromstring(svg)
    out = {}
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        if group.get("class") == "node":
            title = group.find("s:title", ns).text
            shape = next(el for el in group if el.tag.split("}")[1] in ("polygon", "ellipse", "path"))
            out[title] = shape.get("fill")
    return out


# ---- graph ------------------------------------------------------------------------------

def test_graph_of_a_concept_is_what_it_depends_on():
    out = cli("graph", "refractory_sclc")
    assert out.exit_code == 0, out.output
    nodes, edges = dot_nodes(out.output), dot_edges(out.output)
    assert set(nodes) == {"refractory_sclc", "rule:refractory_sclc.tfi", "rule:refractory_sclc.progression_during_first_line",
                          "lung_cancer", "small_cell_transformation", "attr:cancer", "attr:histology", "attr:tfi",
                          "attr:progression_date", "attr:first_line_end_date", "attr:induction_response",
                          "attr:transformation", "attr:prior_therapies"}
    assert ">or<" in edges[("refractory_sclc", "rule:refractory_sclc.tfi")]
    for edge in [("rule:refractory_sclc.tfi", "attr:tfi"), ("rule:refractory_sclc.tfi", "lung_cancer"),
                 ("attr:tfi", "attr:progression_date"), ("lung_cancer", "attr:cancer")]:
        assert edge in edges, edge
    assert lines_of(nodes["lung_cancer"][2]) == ["lung cancer", "lung_cancer", "if cancer = lung", "000 §二"]
    assert nodes["attr:tfi"][0] == "cylinder" and nodes["refractory_sclc"][0] == "ellipse"
    assert 'subgraph cluster_' in out.output and "facts/lung/refractory.rules" in out.output


def test_graph_of_a_regimen_has_its_grading_and_what_can_remove_it():
    out = cli("graph", "bevacizumab+carboplatin+paclitaxel", "--lang", "zh")
    assert out.exit_code == 0, out.output
    nodes, edges = dot_nodes(out.output), dot_edges(out.output)
    rec = "antiangiogenic.first_line.bevacizumab_carboplatin_paclitaxel"
    assert nodes[rec][0] == "box" and "贝伐珠单抗 + 卡铂 + 紫杉醇" in nodes[rec][2]
    removes = [dst for (src, dst), attrs in edges.items() if src == rec and "dashed" in attrs]
    assert "antiangiogenic.bevacizumab_squamous" in removes
    assert nodes["antiangiogenic.bevacizumab_squamous"][0] == "octagon"
    assert "避免 贝伐珠单抗" in nodes["antiangiogenic.bevacizumab_squamous"][2]
    assert "nsclc_first_line_initial" in nodes and ">适用于<" in edges[(rec, "nsclc_first_line_initial")]
    assert not any(key.startswith("sclc.") for key in nodes)  # nothing the goal does not depend on


def test_graph_title_quotes_the_goals_label_and_names_its_id():
    """A label may be a noun or a verb phrase: quoted, so the title reads for any label."""
    out = cli("graph", "refractory_sclc_second_line", "--format", "mermaid")
    assert out.output.startswith("---\ntitle: \"Knowledge base: what ‘refractory SCLC, second line’ "
                                 "(refractory_sclc_second_line) depends on\"\n---\n")
    out = cli("graph", "refractory_sclc_second_line", "--format", "mermaid", "--lang", "zh")
    assert out.output.startswith("---\ntitle: \"知识库：“难治性SCLC（二线）”（refractory_sclc_second_line）依赖的内容\"\n")
    out = cli("graph", "sclc.second_line.anti_angiogenic_chemo", "--format", "mermaid")  # a rule id: no label
    assert out.output.startswith("---\ntitle: \"Knowledge base: what ‘sclc.second_line.anti_angiogenic_chemo’ depends on\"\n")


def test_graph_recommendation_nodes_carry_grading_and_source():
    out = cli("graph", "sclc.second_line.anti_angiogenic_chemo", "--format", "mermaid")
    assert out.exit_code == 0, out.output
    line = next(line for line in out.output.splitlines() if "anlotinib + irinotecan, anlotinib + docetaxel" in line)
    assert "weak · evidence V · consensus 68%" in line and "000 Table 3" in line
    key = re.match(r"\s*(n\d+)\(\"", line).group(1)  # a recommendation: a rounded box
    setting = re.search(r'%% refractory_sclc_second_line\n\s*(n\d+)\{\{"', out.output).group(1)  # a hexagon
    assert f'  {key} -->|"for"| {setting}' in out.output.splitlines()


def test_whole_graph_has_every_rule_and_is_valid_dot(tmp_path):
    from support import shipped_kb
    target = tmp_path / "kb.dot"
    out = cli("graph", "--out", str(target))
    assert out.exit_code == 0 and out.output == ""
    text = target.read_text(encoding="utf-8")
    nodes = dot_nodes(text)
    checked = shipped_kb().compiled.checked
    for rule in checked.rules:
        if rule.kind in ("recommendation", "contraindication"):
            assert rule.id in nodes, rule.id
        else:
            assert rule.name in nodes, rule.name
    assert text.count("subgraph cluster_") == len({rule.pos.file for rule in checked.rules} |
                                                   {a.pos.file for a in checked.attributes.values()
                                                    if f"attr:{a.name}" in nodes})
    if shutil.which("dot"):
        import subprocess
        done = subprocess.run(["dot", "-Tsvg", "-o", str(tmp_path / "kb.svg"), str(target)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


@needs_dot
def test_graph_svg_in_chinese(tmp_path):
    target = tmp_path / "g.svg"
    out = cli("graph", "refractory_sclc_second_line", "--format", "svg", "--lang", "zh", "--out", str(target))
    assert out.exit_code == 0, out.output
    svg = target.read_text(encoding="utf-8")
    fills = svg_fills(svg)
    assert fills["refractory_sclc_second_line"] == "#ede7f6" and fills["attr:tfi"] == "#f5f5f5"
    assert "难治性SCLC（二线）" in svg and "一线标准治疗结束到疾病进展的时间间隔" in svg


# ---- errors -----------------------------------------------------------------------------

def test_bad_goal_exits_2_with_did_you_mean():
    out = cli("graph", "refractory_sclc_secnd_line")
    assert out.exit_code == 2
    assert "unknown goal 'refractory_sclc_secnd_line'" in out.output and "did you mean 'refractory_sclc_second_line'" in out.output
    out = cli("explain", SCLC2, "irinotecan+anlotinib", "--format", "mermaid")
    assert out.exit_code == 2 and "'anlotinib+irinotecan'" in out.output


def test_svg_without_dot_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(pictures, "dot_program", lambda: None)
    out = cli("graph", "refractory_sclc", "--format", "svg")
    assert out.exit_code == 2
    assert "SVG needs the Graphviz program 'dot'" in out.output and "apt-get install graphviz" in out.output
    assert "--format dot and --format mermaid work without it" in out.output
    assert cli("graph", "refractory_sclc", "--format", "mermaid").exit_code == 0


def test_out_to_a_folder_that_does_not_exist(tmp_path):
    out = cli("graph", "refractory_sclc", "--out", str(tmp_path / "no" / "g.dot"))
    assert out.exit_code == 2 and "cannot write" in out.output


# ---- escaping ---------------------------------------------------------------------------

NASTY = 'a "q" <b>t</b> & #1 [x] {y} 中文 `c` b\\s'


def nasty_graph() -> Graph:
    graph = Graph(title=NASTY)
    graph.add(Node('n"1', "concept", [Line(NASTY, "title"), Line(NASTY, "small")], cluster=None))
    graph.add(Node("n<2>", "condition", [Line(NASTY)], status="fails"))
    graph.link('n"1', "n<2>", "removes", NASTY)
    return graph


def test_escaping_dot():
    text = pictures.to_dot(nasty_graph())
    assert '"n\\"1" -> "n<2>"' in text
    assert "a &quot;q&quot; &lt;b&gt;t&lt;/b&gt; &amp; #1 [x] {y} 中文 `c` b\\s" in text
    if shutil.which("dot"):
        svg = pictures.to_svg(nasty_graph())
        root = ET.fromstring(svg)  # well-formed
        texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
        assert NASTY in texts


def test_escaping_mermaid():
    text = pictures.to_mermaid(nasty_graph())
    escaped = "a #quot;q#quot; #lt;b#gt;t#lt;/b#gt; #amp; #35;1 [x] {y} 中文 #96;c#96; b\\s"
    assert f'n0(["<b>{escaped}</b><br/><small>{escaped}</small>"])' in text
    assert f'n0 -.->|"{escaped}"| n1' in text
    assert "  class n1 fails" in text
    assert pictures.mermaid_text("x\x1by") == "x\\x1by"  # control characters written as escapes
