"""Highlighting of rule files: the Pygments lexer (``pygmentize -l oncologic``) and the TextMate
grammar of the VS Code extension (editors/vscode), both kept to the grammar's keywords."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String

from oncologic.lang.parser import keywords, statement_keywords
from support import ROOT

VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = VSCODE / "syntaxes" / "oncologic.tmLanguage.json"
RULE_FILES = sorted((ROOT / "facts").rglob("*.rules"))


def _lexer():
    from pygments.lexers import get_lexer_by_name
    return get_lexer_by_name("oncologic")  # through the entry point, as pygmentize finds it


def test_lexer_is_found_by_alias_and_file_name():
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    from oncologic.authoring.lexer import RulesLexer
    assert type(get_lexer_by_name("rules")) is RulesLexer
    assert type(get_lexer_for_filename("facts/lung/sclc.rules")) is RulesLexer


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_shipped_rule_file_lexes_without_an_error_token(path):
    text = path.read_text(encoding="utf-8")
    tokens = list(_lexer().get_tokens(text))
    assert [value for token, value in tokens if token in Error] == []
    assert "".join(value for _, value in tokens) == text if text.endswith("\n") else text + "\n"


def test_a_sample_gets_the_expected_tokens():
    sample = ('concept refractory_sclc  # Table 3\n'
              '  if histology = sclc and tfi < 90d and consensus >= 80% and not smoker = true\n'
              '  source consensus_refractory_lung "表3"\n')
    tokens = [(token, value) for token, value in _lexer().get_tokens(sample) if value.strip()]
    assert tokens == [
        (Keyword.Declaration, "concept"), (Name.Entity, "refractory_sclc"), (Comment.Single, "# Table 3"),
        (Keyword, "if"), (Name, "histology"), (Operator, "="), (Name, "sclc"), (Keyword, "and"),
        (Name, "tfi"), (Operator, "<"), (Number, "90"), (Keyword.Type, "d"), (Keyword, "and"),
        (Keyword, "consensus"), (Operator, ">="), (Number, "80"), (Keyword.Type, "%"), (Keyword, "and"),
        (Keyword, "not"), (Name, "smoker"), (Operator, "="), (Keyword.Constant, "true"),
        (Keyword, "source"), (Name, "consensus_refractory_lung"), (String.Double, '"表3"'),
    ]


def test_a_character_the_language_does_not_use_is_an_error_token():
    tokens = list(_lexer().get_tokens("concept x if a ＜ 3\n"))
    assert (Error, "＜") in tokens


# ---- the TextMate grammar ---------------------------------------------------------------------

def _grammar() -> dict:
    return json.loads(GRAMMAR.read_text(encoding="utf-8"))


_ALTERNATION = re.compile(r"\(\?:([A-Za-z_|]+)\)")


def test_textmate_grammar_is_valid_and_its_regexes_compile():
    grammar = _grammar()
    assert grammar["scopeName"] == "source.oncologic"
    repository = grammar["repository"]
    assert {p["include"].lstrip("#") for p in grammar["patterns"]} == set(repository)
    for name, rule in repository.items():
        for key in ("match", "begin", "end"):
            if key in rule:
                re.compile(rule[key])  # Python's re reads this subset of Oniguruma alike


def test_textmate_keywords_are_the_grammars():
    """The keyword rules together name exactly the grammar's words, each once, statement keywords
    as storage types: a keyword added to the grammar fails this test until the editor knows it."""
    repository = _grammar()["repository"]
    found: dict[str, list[str]] = {}
    for name in ("statement", "constant", "type", "control", "keyword"):
        [words] = _ALTERNATION.findall(repository[name]["match"])
        for word in words.split("|"):
            found.setdefault(word, []).append(name)
    assert set(found) == keywords()
    assert {w: names for w, names in found.items() if len(names) > 1} == {}
    assert {w for w, names in found.items() if names == ["statement"]} == statement_keywords()
    [declared] = _ALTERNATION.findall(repository["declaration"]["match"])
    assert set(declared.split("|")) == statement_keywords()


def test_vscode_package_declares_the_language_and_grammar():
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    [language] = package["contributes"]["languages"]
    assert (language["id"], language["extensions"]) == ("oncologic", [".rules"])
    [grammar] = package["contributes"]["grammars"]
    assert (VSCODE / grammar["path"]).resolve() == GRAMMAR
    configuration = json.loads((VSCODE / language["configuration"]).read_text(encoding="utf-8"))
    assert configuration["comments"] == {"lineComment": "#"}
    assert ["(", ")"] in configuration["brackets"]


def test_textmate_grammar_tokenises_a_shipped_file_as_vscode_does():
    """With vscode-textmate and vscode-oniguruma (``npm install`` in editors/vscode); skipped
    without them."""
    node = shutil.which("node")
    if node is None or not (VSCODE / "node_modules" / "vscode-textmate").is_dir() \
            or not (VSCODE / "node_modules" / "vscode-oniguruma").is_dir():
        pytest.skip("needs node and `npm install` in editors/vscode (vscode-textmate, vscode-oniguruma)")
    path = ROOT / "facts" / "lung" / "refractory.rules"
    run = subprocess.run([node, str(VSCODE / "tokenize.js"), str(path)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    text = path.read_text(encoding="utf-8").split("\n")
    assert ["".join(token[0] for token in line) for line in lines] == text
    def scoped(number: int) -> list[tuple]:
        return [(token[0], *token[1:]) for token in lines[number - 1] if token[0].strip()]
    assert text[8] == "concept refractory_sclc"
    assert scoped(9) == [("concept", "storage.type.oncologic"), ("refractory_sclc", "entity.name.oncologic")]
    assert text[15].startswith("  if lung_cancer and histology = sclc and tfi < 90d")
    assert scoped(16)[:10] == [
        ("if", "keyword.control.oncologic"), ("lung_cancer", "variable.other.oncologic"), ("and", "keyword.control.oncologic"),
        ("histology", "variable.other.oncologic"), ("=", "keyword.operator.oncologic"), ("sclc", "variable.other.oncologic"),
        ("and", "keyword.control.oncologic"), ("tfi", "variable.other.oncologic"), ("<", "keyword.operator.oncologic"),
        ("90", "constant.numeric.oncologic")]
    assert scoped(16)[10] == ("d", "keyword.other.unit.oncologic")
    comment = next(token for line in lines for token in line if token[0].startswith("#"))
    assert comment[1:] == ["comment.line.number-sign.oncologic"]


def test_textmate_grammar_and_lexer_agree_on_ranges_and_foreign_characters(tmp_path):
    """The upper bound of a range is a number in both, and what the lexer calls an Error (a
    full-width operator, a unit written in Chinese) is invalid.illegal in the grammar."""
    node = shutil.which("node")
    if node is None or not (VSCODE / "node_modules" / "vscode-textmate").is_dir() \
            or not (VSCODE / "node_modules" / "vscode-oniguruma").is_dir():
        pytest.skip("needs node and `npm install` in editors/vscode (vscode-textmate, vscode-oniguruma)")
    sample = "attribute ecog: int 0..4\nattribute tps: percent 0%..100%\nconcept x if a ＜ 3个月 and b.c = 2.5\n"
    path = tmp_path / "sample.rules"
    path.write_text(sample, encoding="utf-8")
    run = subprocess.run([node, str(VSCODE / "tokenize.js"), str(path)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    scopes = [(token[0], token[1]) for line in run.stdout.splitlines() for token in json.loads(line) if len(token) > 1]
    assert ("4", "constant.numeric.oncologic") in scopes and ("100", "constant.numeric.oncologic") in scopes
    assert ("2.5", "constant.numeric.oncologic") in scopes and ("b.c", "variable.other.oncologic") in scopes
    invalid = "".join(text for text, scope in scopes if scope == "invalid.illegal.oncologic")
    errors = "".join(value for token, value in _lexer().get_tokens(sample) if token in Error)
    assert invalid == errors == "＜个月"
