"""Rule and patient text travel as data: nothing a rule author or a record writes is executed."""
import builtins
import json

import pytest
import pyDatalog.pyDatalog as pd_api
import pyDatalog.pyParser as pd_parser

import oncologic
from minikb import VOCABULARY, write_kb

PAYLOAD = "__import__('os').system('touch {marker}') or exec('open(' + repr('{marker}') + ', chr(119))')"


@pytest.fixture
def no_code_execution(monkeypatch):
    """Fail the test if pyDatalog's text interfaces, exec or eval are used."""
    calls = []

    def forbid(name):
        def guard(*args, **kwargs):
            calls.append((name, args[:1]))
            raise AssertionError(f"{name} called with {args[:1]!r}")
        return guard

    for module, name in ((pd_api, "load"), (pd_api, "ask"), (pd_parser, "load"), (pd_parser, "ask")):
        monkeypatch.setattr(module, name, forbid(f"pyDatalog.{name}"))
    real_exec, real_eval = builtins.exec, builtins.eval
    monkeypatch.setattr(builtins, "exec", lambda *a, **k: (calls.append(("exec", a[:1])), real_exec(*a, **k))[1])
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: (calls.append(("eval", a[:1])), real_eval(*a, **k))[1])
    return calls


def test_payloads_in_rule_and_patient_text_never_run(tmp_path, no_code_execution, monkeypatch):
    monkeypatch.setenv("ONCOLOGIC_NO_CACHE", "1")
    marker = tmp_path / "pwned"
    payload = PAYLOAD.format(marker=marker)
    vocabulary = VOCABULARY + f'\nattribute note_text: string\n  label en "{payload}"\n'
    rules = f'''
concept c
  label en "{payload}" zh "{payload}"
  if note_text = "{payload}" or histology = sclc
  source doc "{payload}"
recommendation r.x
  recommend topotecan
  for c
  strength strong evidence I consensus 92%
  source doc "{payload}"
  note "{payload}"
'''
    kb = oncologic.load(write_kb(tmp_path, rules, vocabulary))
    record = {"id": payload, "cancer": "lung", "note_text": payload}
    res = kb.evaluate(record)
    assert [r.id for r in res.recommendations] == ["topotecan"]
    assert res.patient == payload and res.recommendations[0].notes == [payload]
    kb.explain(record, "topotecan")
    kb.why_not({"id": payload, "cancer": "lung", "note_text": "x"}, "topotecan")
    assert not marker.exists()
    # exec/eval run only library code (module imports, namedtuple): never text from a rule or a record
    leaked = [c for c in no_code_execution if c[0].startswith("pyDatalog") or any(str(marker) in str(a) for a in c[1])]
    assert leaked == [], leaked


def test_names_cannot_smuggle_code(tmp_path):
    # identifiers are [A-Za-z_][A-Za-z0-9_.]*: anything else is a syntax error, not a predicate
    with pytest.raises(oncologic.RuleError) as err:
        oncologic.load(write_kb(tmp_path, "concept x__import__('os') if histology = sclc\n  source doc \"s\""))
    assert "rules.rules:1:20: error[E001]: unexpected '('" in str(err.value)


def test_predicates_are_generated_not_taken_from_text():
    kb = oncologic.load()
    import re
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", p) for p in kb.compiled.program.predicates())
    names = set(kb.compiled.program.predicates())
    assert not names & set(kb.compiled.checked.concepts), "concept names must not become predicate names"


def test_record_values_are_data(tmp_path):
    kb = oncologic.load()
    path = tmp_path / "p.json"
    # prior therapies recorded (no targeted drug): a de-novo refractory SCLC, so topotecan is certain
    path.write_text(json.dumps({"id": "x'); import os; os.system('true'); ('", "cancer": "lung", "histology": "sclc",
                                "tfi": "45d", "line": 2, "prior_therapies": ["etoposide", "carboplatin"]}))
    res = kb.evaluate(path)
    assert res.patient.startswith("x');") and "topotecan" in {r.id for r in res.recommendations}
