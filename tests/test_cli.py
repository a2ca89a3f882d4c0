"""The command line (CONTRACT §3-4): outputs, exit codes, and no tracebacks."""
import json
import os
import subprocess
import sys

import pytest

from support import EXAMPLES, ROOT

CLI = [sys.executable, "-m", "oncologic"]
SCLC2 = str(EXAMPLES / "sclc_second_line.json")


def run(*args, **kw):
    env = {**os.environ, "COLUMNS": "100", **kw.pop("env", {})}
    return subprocess.run(CLI + list(args), capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, **kw)


def test_check_the_shipped_knowledge_base():
    out = run("check")
    assert out.returncode == 0 and out.stdout.startswith("ok: ")
    data = json.loads(run("check", "--format", "json").stdout)
    assert data["ok"] is True and data["errors"] == [] and data["files"] == 23 and data["rules"] > 100


def test_recommend_json_is_the_contract():
    out = run("recommend", SCLC2, "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    from pydantic import TypeAdapter
    from oncologic.reason.results import Result
    TypeAdapter(Result).validate_python(data)  # the output validates against the contract's schema
    assert set(data) >= {"patient", "derived", "recommendations", "not_recommended", "contraindicated", "missing"}
    assert data["patient"] == "pt-sclc-2l"
    assert "refractory_sclc" in data["derived"] and "refractory_lung_cancer" in data["derived"]
    for rec in data["recommendations"]:
        assert rec["id"] == "+".join(sorted(rec["items"]))
        assert set(rec) >= {"items", "setting", "strength", "evidence", "consensus", "source", "rule", "notes"}
        assert set(rec["source"]) >= {"document", "locator"} and set(rec["rule"]) >= {"id", "file", "line"}
        assert rec["rule"]["file"].startswith("facts/") and rec["source"]["document"].endswith(".txt")
    anl = next(r for r in data["recommendations"] if r["id"] == "anlotinib+irinotecan")
    assert (anl["strength"], anl["evidence"], anl["consensus"], anl["setting"]) == ("weak", "V", 68, "refractory_sclc_second_line")
    assert anl["rule"] == {"id": "sclc.second_line.anti_angiogenic_chemo", "file": "facts/lung/sclc.rules",
                           "line": anl["rule"]["line"]}


def test_recommend_text_is_readable():
    out = run("recommend", SCLC2)
    assert out.returncode == 0
    assert "Recommended" in out.stdout and "topotecan" in out.stdout and "evidence I" in out.stdout
    zh = run("recommend", SCLC2, "--lang", "zh")
    assert "拓扑替康" in zh.stdout


def test_explain_json_shape():
    out = run("explain", str(EXAMPLES / "sclc_dates.json"), "anlotinib+irinotecan", "--format", "json")
    data = json.loads(out.stdout)
    assert data["goal"] == "anlotinib+irinotecan" and data["holds"] is True
    proof = data["proof"]
    assert proof["conclusion"] == "anlotinib+irinotecan" and proof["rule"]["id"] == "sclc.second_line.anti_angiogenic_chemo"
    (setting,) = proof["children"]
    (refractory,) = [c for c in setting["children"] if c["conclusion"] == "refractory_sclc"]
    tfi = next(c for c in refractory["conditions"] if c["attribute"] == "tfi")
    assert tfi["op"] == "<" and tfi["expected"]["value"] == 90 and tfi["expected"]["unit"] == "d"
    assert tfi["actual"]["value"] == 45 and tfi["actual"]["unit"] == "d" and tfi["holds"] is True
    assert tfi["actual"]["derived_from"]["first_line_end_date"] == "2026-01-15"


def test_why_not_json_shape_and_text():
    out = run("why-not", str(EXAMPLES / "sclc_tfi_90d.json"), "topotecan", "--format", "json")
    data = json.loads(out.stdout)
    assert data == {**data, "goal": "topotecan", "holds": False}
    (attempt,) = data["attempts"]
    assert attempt["rule"]["id"] == "sclc.second_line.chemo.topotecan"
    deep = attempt["children"][0]["children"][0]
    assert deep["conclusion"] == "refractory_sclc"
    (failed,) = deep["failed"]
    assert failed["attribute"] == "tfi" and failed["holds"] is False and failed["actual"]["value"] == 90
    text = run("why-not", str(EXAMPLES / "sclc_tfi_90d.json"), "topotecan").stdout
    assert "tfi < 90 d (patient: 90 d)" in text


def test_why_not_of_a_goal_that_holds_prints_the_proof():
    data = json.loads(run("why-not", SCLC2, "topotecan", "--format", "json").stdout)
    assert data["holds"] is True and data["proof"]["conclusion"] == "topotecan"


@pytest.mark.parametrize("args, message", [
    (["explain", SCLC2, "anlotinib+irinotecna"], "unknown goal 'anlotinib+irinotecna'"),
    (["explain", SCLC2, "irinotecan+anlotinib"], "in alphabetical order: 'anlotinib+irinotecan'"),
    (["explain", SCLC2, "refractory_sclcc"], "did you mean 'refractory_sclc'"),
    (["recommend", "no/such/file.json"], "no/such/file.json: no such file"),
    (["recommend", SCLC2, "--kb", "no/such/dir"], "no/such/dir: no such knowledge-base folder"),
    (["recommend", SCLC2, "--format", "xml"], "Invalid value for '--format'"),
    (["frobnicate"], "No such command"),
])
def test_bad_input_exits_2_with_a_message(args, message):
    out = run(*args)
    assert out.returncode == 2, out
    assert message in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_bad_patient_exits_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"id": "x", "cancer": "lung", "histology": "sclc", "line": 2, "ecog": 7}))
    out = run("recommend", str(bad))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{bad}: attribute 'ecog': 7 is out of range" in out.stderr


def test_check_reports_rule_errors_as_file_line_col(tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "a.rules").write_text('document d "d.txt"\nattribute x: int\nconcept c if y > 1\n  source d "s"\n')
    out = run("check", "--kb", str(kb))
    assert out.returncode == 2
    assert out.stderr.splitlines() == [f"{kb}/a.rules:3:14: error[E101]: unknown attribute 'y'",
                                       " 3 | concept c if y > 1",
                                       "   |              ^",
                                       "1 error"]
    data = json.loads(run("check", "--kb", str(kb), "--format", "json").stdout)
    assert data["ok"] is False and data["errors"][0]["line"] == 3
    assert data["errors"] == data["diagnostics"] and data["warnings"] == []
    assert data["errors"][0] == {"file": f"{kb}/a.rules", "line": 3, "column": 14, "end_line": 3, "end_column": 15,
                                 "severity": "error", "code": "E101", "message": "unknown attribute 'y'",
                                 "rules": [], "witness": None, "proof": None, "related": []}
    assert "files" not in data  # the counts only when the knowledge base compiled


def test_cohort_jsonl(tmp_path):
    cohort = tmp_path / "c.jsonl"
    # prior therapies recorded (chemotherapy, no targeted drug): a de-novo SCLC, not a possible transformation
    rows = [{"id": f"p{i}", "cancer": "lung", "histology": "sclc", "tfi": f"{80 + i * 5}d", "line": 2,
             "prior_therapies": ["etoposide", "carboplatin"]} for i in range(4)]
    cohort.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = run("recommend", str(cohort), "--format", "json")
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["patient"] for r in results] == ["p0", "p1", "p2", "p3"]
    assert ["topotecan" in {x["id"] for x in r["recommendations"]} for r in results] == [True, True, False, False]
    text = run("recommend", str(cohort)).stdout  # one renderer for the cohort, one tree per patient
    assert [line for line in text.splitlines() if line.startswith("Patient ")] == [f"Patient p{i}" for i in range(4)]


def test_datalog_and_schema_commands():
    text = run("datalog").stdout
    assert ":- val(P, \"histology\", \"sclc\")" in text or "val(P, \"histology\", \"sclc\")" in text
    schema = json.loads(run("schema").stdout)
    assert set(schema["required"]) >= {"patient", "derived", "recommendations", "not_recommended", "contraindicated", "missing"}


def test_internal_errors_exit_1_without_traceback(tmp_path):
    # a cache file that unpickles to the wrong thing is ignored, not a crash
    cache = tmp_path / "cache"
    cache.mkdir()
    out = run("check", env={"ONCOLOGIC_CACHE_DIR": str(cache)})
    assert out.returncode == 0
    for f in cache.iterdir():
        f.write_bytes(b"not a pickle")
    out = run("check", env={"ONCOLOGIC_CACHE_DIR": str(cache)})
    assert out.returncode == 0


def test_a_knowledge_base_without_attribute_id_still_reads_the_records_id(tmp_path):
    """CONTRACT §1: every record gives an id (a required string); a knowledge base that declares
    no `attribute id` (check says ok) reads it as built in, never 'unknown attribute' for it."""
    (tmp_path / "a.rules").write_text('document d "d.txt"\nattribute x: int\nconcept c if x > 1\n  source d "s"\n')
    assert run("check", "--kb", str(tmp_path), "--no-analysis").returncode == 0
    good, bad, none = tmp_path / "p.json", tmp_path / "q.json", tmp_path / "r.json"
    good.write_text('{"id": "p1", "x": 2}')
    bad.write_text('{"x": 2}')
    none.write_text('{"id": ["p1"], "x": 2}')
    out = run("recommend", str(good), "--kb", str(tmp_path), "--format", "json")
    assert out.returncode == 0, out.stderr
    assert (json.loads(out.stdout)["patient"], json.loads(out.stdout)["derived"]) == ("p1", ["c"])
    out = run("recommend", str(bad), "--kb", str(tmp_path))
    assert out.returncode == 2 and out.stderr == f"error: {bad}: attribute 'id': is required\n"
    out = run("recommend", str(none), "--kb", str(tmp_path))
    assert out.returncode == 2 and out.stderr.startswith(f"error: {none}: attribute 'id': ") and "unknown" not in out.stderr
