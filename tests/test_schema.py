"""`recommend --format json` of every bundled patient, `explain` and `why-not` of a few goals,
validate against the JSON Schema `oncologic schema` prints — made strict, so every field the
output carries is declared in the schema (CONTRACT §4: fields are added, and documented)."""
from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from oncologic.reason.results import Explanation, Result, WhyNot

from support import example_files


def strict(schema: dict) -> dict:
    """The schema with ``additionalProperties: false`` on every object that lists its properties."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(schema)
    return schema


RESULT = strict(Result.json_schema())


def test_the_schema_command_prints_the_result_schema():
    from click.testing import CliRunner
    from oncologic.cli import main
    out = CliRunner().invoke(main, ["schema"])
    assert out.exit_code == 0 and json.loads(out.output) == Result.json_schema()


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_recommend_output_validates(kb, path):
    data = json.loads(kb.evaluate(path).to_json())
    jsonschema.validate(data, RESULT)
    for rec in data["recommendations"]:  # the issue-11 additions are there, not only allowed
        assert rec["support"] and rec["support"][0]["rule"] == rec["rule"] and isinstance(rec["flags"], list)
    for m in data["missing"]:
        assert m["decides"] == len(m["recommendations"])


@pytest.mark.parametrize("goal", ["anlotinib+irinotecan", "topotecan", "refractory_sclc", "dual_ici"])
def test_explain_and_why_not_validate(kb, goal):
    path = "examples/patients/sclc_second_line.json"
    jsonschema.validate(json.loads(kb.explain(path, goal).to_json()), strict(Explanation.json_schema()))
    jsonschema.validate(json.loads(kb.why_not(path, goal).to_json()), strict(WhyNot.json_schema()))


def test_strict_schema_rejects_an_undeclared_field(kb):
    data = json.loads(kb.evaluate("examples/patients/sclc_second_line.json").to_json())
    data["recommendations"][0]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, RESULT)
