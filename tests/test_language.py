"""The rule language: what it means (three-valued logic, units, classes, contraindications)
and how it reports mistakes (FILE:LINE:COL, did-you-mean)."""
import pytest

import oncologic
from minikb import write_kb
from oncologic.errors import RuleError

RULES = """
concept refractory if histology = sclc and tfi < 90d
  source doc "§1"
concept low_or_stenosis if tfi < 30d or stenosis
  source doc "§2"
concept not_refractory if not refractory
  source doc "§3"
recommendation r.topotecan
  recommend topotecan
  for refractory
  strength strong evidence I consensus 92%
  source doc "Table 1"
recommendation r.combo
  recommend anlotinib + topotecan, bevacizumab + carboplatin
  for refractory
  if line >= 2
  strength weak evidence V consensus 68%
  source doc "Table 1"
  note "a caveat"
recommendation r.no
  do not recommend bronchoscopy
  for refractory
  consensus 46%
  because "no agreement"
  source doc "§4"
contraindication c.squamous
  avoid bevacizumab
  if histology = squamous or any adverse_events where (type = hepatitis and grade >= 3 and cause = immune)
  because "bleeding"
  source doc "§5"
concept platinum_pretreated if prior_therapies has platinum
  source doc "§6"
concept driver if mutations has any of (egfr, her2)
  source doc "§7"
concept tested_negative if mutations is empty
  source doc "§7"
"""


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return oncologic.load(write_kb(tmp_path_factory.mktemp("mini"), RULES))


def verdicts(kb, **record):
    ev = kb.run({"id": "t", "cancer": "lung", **record})
    return {name: ev.value(node) for name, node in kb.compiled.concept_node.items()}


@pytest.mark.parametrize("record, expected", [
    ({"histology": "sclc", "tfi": "45d"}, True),
    ({"histology": "sclc", "tfi": "89d"}, True),
    ({"histology": "sclc", "tfi": "90d"}, False),
    ({"histology": "sclc", "tfi": "91d"}, False),
    ({"histology": "sclc", "tfi": "12wk"}, True),      # 84 d
    ({"histology": "sclc", "tfi": "3mo"}, False),      # 91.3125 d
    ({"histology": "sclc", "tfi": 89}, True),          # a bare number is days
    ({"histology": "sclc"}, None),                     # tfi unknown: unknown, not false
    ({"histology": "squamous"}, False),                # false and unknown = false
    ({"tfi": "10d"}, None),
    ({"histology": "sclc", "first_line_end_date": "2026-01-01", "progression_date": "2026-03-31"}, True),   # 89 d
    ({"histology": "sclc", "first_line_end_date": "2026-01-01", "progression_date": "2026-04-01"}, False),  # 90 d
])
def test_kleene_and_with_unknown(mini, record, expected):
    v = verdicts(mini, **record)
    assert v["refractory"] is expected
    assert v["not_refractory"] is (None if expected is None else not expected)


@pytest.mark.parametrize("record, expected", [
    ({"tfi": "10d"}, True), ({"stenosis": True}, True),          # true or unknown = true
    ({"tfi": "40d", "stenosis": False}, False),
    ({"tfi": "40d"}, None), ({}, None),                           # false or unknown = unknown
])
def test_kleene_or(mini, record, expected):
    assert verdicts(mini, **record)["low_or_stenosis"] is expected


def test_class_membership_is_transitive(mini):
    assert verdicts(mini, prior_therapies=["carboplatin"])["platinum_pretreated"] is True
    assert verdicts(mini, prior_therapies=["topotecan"])["platinum_pretreated"] is False
    assert verdicts(mini, prior_therapies=[])["platinum_pretreated"] is False
    assert verdicts(mini)["platinum_pretreated"] is None


def test_sets_absent_empty_and_members(mini):
    assert verdicts(mini, mutations=["her2"])["driver"] is True
    assert verdicts(mini, mutations=["kras"])["driver"] is False
    assert verdicts(mini, mutations=[])["driver"] is False
    assert verdicts(mini, mutations=[])["tested_negative"] is True
    assert verdicts(mini)["driver"] is None
    assert verdicts(mini)["tested_negative"] is None


def test_recommendations_regimens_notes_and_not_recommended(mini):
    res = mini.evaluate({"id": "t", "cancer": "lung", "histology": "sclc", "tfi": "45d", "line": 2, "adverse_events": []})
    got = {(r.id, r.strength, r.evidence, r.consensus, r.setting) for r in res.recommendations}
    assert got == {("topotecan", "strong", "I", 92, "refractory"),
                   ("anlotinib+topotecan", "weak", "V", 68, "refractory"),
                   ("bevacizumab+carboplatin", "weak", "V", 68, "refractory")}
    combo = next(r for r in res.recommendations if r.id == "anlotinib+topotecan")
    assert combo.items == ["anlotinib", "topotecan"] and combo.notes == ["a caveat"]
    assert combo.rule.id == "r.combo" and combo.rule.line == 13
    assert [(n.id, n.consensus, n.reason) for n in res.not_recommended] == [("bronchoscopy", 46, "no agreement")]
    assert res.derived == ["refractory"]


def test_an_undecided_contraindication_makes_the_regimen_possible_never_certain(mini):
    """Kleene: `true and not unknown` is unknown. With adverse events unrecorded, c.squamous may
    hold: the regimen is possible, names the data and the pending statement."""
    res = mini.evaluate({"id": "t", "cancer": "lung", "histology": "sclc", "tfi": "45d", "line": 2})
    assert "bevacizumab+carboplatin" not in {r.id for r in res.recommendations}
    (entry,) = [p for p in res.possible if p.id == "bevacizumab+carboplatin"]
    assert entry.missing == ["adverse_events"]
    assert [(x.kind, x.rule.id, x.missing) for x in entry.pending] == [("contraindication", "c.squamous", ["adverse_events"])]
    assert any(m.attribute == "adverse_events" and "bevacizumab+carboplatin" in m.needed_for for m in res.missing)
    ex = mini.explain({"id": "t", "cancer": "lung", "histology": "sclc", "tfi": "45d", "line": 2}, "bevacizumab+carboplatin")
    assert (ex.kind, ex.verdict, ex.holds, ex.missing) == ("recommendation", "undecided", None, ["adverse_events"])
    assert [x.rule.id for x in ex.pending] == ["c.squamous"] and ex.proof is None


def test_contraindication_removes_regimen_from_any_rule(mini):
    ae = [{"type": "hepatitis", "grade": 3, "cause": "immune"}]
    res = mini.evaluate({"id": "t", "cancer": "lung", "histology": "sclc", "tfi": "45d", "line": 2, "adverse_events": ae})
    assert "bevacizumab+carboplatin" not in {r.id for r in res.recommendations}
    (removed,) = res.contraindicated
    assert (removed.id, removed.reason, removed.rule.id, removed.recommended_by.rule.id) == \
        ("bevacizumab+carboplatin", "bleeding", "c.squamous", "r.combo")
    ex = mini.explain({"id": "t", "cancer": "lung", "histology": "sclc", "tfi": "45d", "line": 2, "adverse_events": ae},
                      "bevacizumab+carboplatin")
    assert ex.holds is False and ex.removed_by[0].rule.id == "c.squamous"
    # grade 2 does not trigger it
    ae2 = [{"type": "hepatitis", "grade": 2, "cause": "immune"}]
    res = mini.evaluate({"id": "t", "cancer": "lung", "histology": "sclc", "tfi": "45d", "line": 2, "adverse_events": ae2})
    assert "bevacizumab+carboplatin" in {r.id for r in res.recommendations}


def test_unknown_data_gives_possible_and_missing(mini):
    res = mini.evaluate({"id": "t", "cancer": "lung", "histology": "sclc"})
    assert res.recommendations == []
    assert {p.id for p in res.possible} == {"topotecan", "anlotinib+topotecan", "bevacizumab+carboplatin"}
    missing = {m.attribute: set(m.needed_for) for m in res.missing}
    assert missing["tfi"] >= {"refractory", "topotecan"}
    assert "line" in missing and "anlotinib+topotecan" in missing["line"]


# ---- diagnostics -----------------------------------------------------------------------------

def check_errors(tmp_path, rules):
    with pytest.raises(RuleError) as err:
        oncologic.load(write_kb(tmp_path, rules))
    return [str(d) for d in err.value.diagnostics]


@pytest.mark.parametrize("rules, message", [
    ('concept x if histologgy = sclc\n  source doc "s"', "unknown attribute 'histologgy'; did you mean 'histology'?"),
    ('concept x if histology = sclcc\n  source doc "s"', "error[E105]: unknown value 'sclcc' of 'histology'; did you mean 'sclc'? ('histology' is one of: sclc, squamous, adenocarcinoma)"),
    ('concept x if tfi < 90\n  source doc "s"', "'tfi': 90 needs a unit (d, wk, mo, a)"),
    ('concept x if tfi < 90mm\n  source doc "s"', "unit 'mm' is not a duration unit"),
    ('concept x if tfi < 3m\n  source doc "s"', "error[E003]: unit 'm' in '3m': write 'mo' for months ('m' is ambiguous)"),
    ('concept x if histology < sclc\n  source doc "s"', "'histology' is an enum; it can be tested with = or != but not <"),
    ('concept x if histology has sclc\n  source doc "s"', "'histology' is an enum, not a set"),
    ('concept x if mutations = egfr\n  source doc "s"', "test its members with 'has'"),
    ('concept x if refractoryy\n  source doc "s"\nconcept refractory if stenosis\n  source doc "s"', "unknown concept 'refractoryy'; did you mean 'refractory'?"),
    ('concept x if stenosis', "concept 'x' cites no source"),
    ('concept x if stenosis\n  source dok "s"', "unknown document 'dok'; did you mean 'doc'?"),
    ('recommendation r recommend topotecann for x source doc "s"\nconcept x if stenosis source doc "s"', "unknown drug, class, procedure or action 'topotecann'; did you mean 'topotecan'?"),
    ('recommendation r recommend topotecan for y source doc "s"\nconcept x if stenosis source doc "s"', "unknown setting 'y'"),
    ('contraindication c avoid topotecan if stenosis source doc "s"', "gives no reason"),
    ('concept a if b source doc "s"\nconcept b if a source doc "s"', "concepts are defined in terms of themselves: a -> b -> a"),
    ('recommendation r recommend topotecan for x source doc "s"\nrecommendation r recommend topotecan for x source doc "s"\nconcept x if stenosis source doc "s"', "rule id 'r' is already used"),
    ('concept x if any adverse_events where (grade >= 3 and kind = immune) source doc "s"', "error[E107]: unknown field 'kind' of 'adverse_events' (the fields of 'adverse_events': type, grade, cause)"),
    ('concept x if ecog >= 2.5 source doc "s"', "is a whole number"),
    ('concept x if (stenosis source doc "s"', "unexpected 'source'; expected"),
    # each kind of value against each kind of attribute
    ('concept x if stenosis = sclc source doc "s"', "'stenosis' is a bool; 'sclc' does not fit"),
    ('concept x if histology = true source doc "s"', "'histology' is an enum, not true/false (one of: sclc, squamous, adenocarcinoma)"),
    ('concept x if histology = "sclc" source doc "s"', "'histology' is an enum; quoted text does not fit (one of: sclc"),
    ('concept x if stenosis = 2020-01-01 source doc "s"', "'stenosis' is a bool, not a date"),
    ('concept x if histology in (sclc, 3) source doc "s"', "'histology' is an enum; a number does not fit"),
    ('concept x if tfi = squamous source doc "s"', "'tfi' is a duration; 'squamous' does not fit (e.g. 90d)"),
    ('concept x if first_line_end_date < 3d source doc "s"', "'first_line_end_date' is a date; a number does not fit"),
    # each kind of test against each kind of attribute
    ('concept x if line has 2 source doc "s"', "'line' is an int, not a set; 'has' is for sets"),
    ('concept x if mutations has "egfr" source doc "s"', "'mutations' holds names; write one without quotes"),
    ('concept x if mutations has alk source doc "s"', "error[E105]: unknown value 'alk' of 'mutations' ('mutations' holds values of: egfr, her2, kras)"),
    ('concept x if prior_therapies has topotecann source doc "s"', "unknown drug or class 'topotecann'"),
    ('concept x if mutations in (egfr) source doc "s"', "'in (...)' takes a single-valued attribute"),
    ('concept x if histology is empty source doc "s"', "'histology' is an enum; 'is empty' is for sets and lists"),
    ('concept x if linee is known source doc "s"', "unknown attribute 'linee'; did you mean 'line'?"),
    ('concept x if line source doc "s"', "'line' is an int attribute; compare it with a value"),
    ('concept y if stenosis source doc "s"\nconcept x if y = 1 source doc "s"', "'y' is a concept, not an attribute"),
    ('concept x if any line where (grade = 1) source doc "s"', "'line' is an int; 'any ... where (...)' is for lists of records"),
    ('concept x if any adverse_events where (grade) source doc "s"', "field 'grade' is an int; compare it with a value"),
    ('concept x if any adverse_events where (any adverse_events where (grade = 1)) source doc "s"', "unknown field 'adverse_events' of 'adverse_events'"),
    # a grading line tests evidence and consensus only
    ('grading g for doc strong if tfi < 3d source doc "s"', "grading 'g' can test 'evidence' and 'consensus' only, not 'tfi'"),
    ('grading g for doc strong if stenosis source doc "s"', "grading 'g' can test 'evidence' and 'consensus' only"),
])
def test_check_reports_errors_with_position(tmp_path, rules, message):
    errors = check_errors(tmp_path, rules)
    assert any(message in e for e in errors), errors
    assert all(e.split(":")[0].endswith(".rules") and e.split(":")[1].isdigit() and e.split(":")[2].isdigit() for e in errors)


def test_error_position_is_the_offending_line(tmp_path):
    errors = check_errors(tmp_path, '# comment\n\nconcept x\n  if stenosis and histology = sclcc\n  source doc "s"\n')
    assert errors[0].startswith(f"{tmp_path / 'kb' / 'rules.rules'}:4:19: error[E105]: unknown value")


def test_grading_scheme_catches_a_wrong_strength(tmp_path):
    grading = '''
grading g for doc
  strong if evidence in (I, II) and consensus >= 80%
  weak if consensus >= 60%
  do_not_recommend if consensus < 60%
  source doc "Table 2"
concept x if stenosis source doc "s"
'''
    errors = check_errors(tmp_path, grading + 'recommendation r recommend topotecan for x strength weak evidence I consensus 92% source doc "T"')
    assert any("evidence I with 92% consensus grades as 'strong' under 'g'" in e and "but the rule says 'weak'" in e for e in errors)
    errors = check_errors(tmp_path, grading + 'recommendation r recommend topotecan for x strength weak evidence V consensus 46% source doc "T"')
    assert any("grades as 'do_not_recommend'" in e for e in errors)
    ok = write_kb(tmp_path, grading + 'recommendation r recommend topotecan for x strength strong evidence II consensus 80% source doc "T"', name="ok")
    assert oncologic.load(ok).compiled.checked.gradings[0].name == "g"


def test_unicode_labels_and_text(tmp_path):
    kb = oncologic.load(write_kb(tmp_path, 'concept x label en "X" zh "难治性" if stenosis\n  source doc "§二（1）"'))
    assert kb.compiled.checked.label("x", "zh") == "难治性"
    assert kb.compiled.rule("x").sources[0].locator == "§二（1）"


# ---- the AST helpers ---------------------------------------------------------------------------

SOURCE = ("(histology = sclc or tfi < 3mo) and not (stenosis and line >= 2) and "
          "any adverse_events where (grade >= 3 and cause in (immune, other)) and "
          "mutations has any of (egfr, her2) and prior_therapies has platinum and not mutations is empty and "
          "ecog is known and not y and id != \"a \\\"b\\\"\" and first_line_end_date = 2020-01-31")


def test_a_condition_reads_back_as_written(tmp_path):
    """``to_source`` gives each kind of node and value back as the rule language writes it; the
    checker's resolved tree (``stenosis`` is ``stenosis = true``, ``y`` a concept) too."""
    kb = oncologic.load(write_kb(tmp_path, f'concept y if stenosis source doc "s"\nconcept z if {SOURCE}\n  source doc "s"'))
    from oncologic.lang import nodes as n
    cond = kb.compiled.rule("z").condition
    assert n.to_source(cond) == SOURCE
    assert [type(node).__name__ for node in n.walk(cond)] == [  # every node once, before its parts
        "And", "Or", "Compare", "Compare", "Not", "And", "Compare", "Compare", "AnyRecord", "And", "Compare", "OneOf",
        "Has", "Has", "Not", "IsEmpty", "IsKnown", "Not", "ConceptRef", "Compare", "Compare"]
    assert [n.constant(v) for v in (n.Quantity(91.3125, "d", "3mo"), n.Symbol("sclc"), n.BoolValue(False), n.DateValue("2020-01-31"))] \
        == [91.3125, "sclc", False, "2020-01-31"]


def test_visitor_dispatches_on_the_node_class():
    from oncologic.lang import nodes as n
    from oncologic.lang.visitor import Visitor

    class Count(Visitor):
        def visit_And(self, cond, depth):
            return sum(self.visit(c, depth + 1) for c in cond.items)

        visit_Or = visit_And

        def visit_Ref(self, cond, depth):
            return depth

    pos = n.Pos("f", 1, 1)
    tree = n.And((n.Ref("a", pos), n.Or((n.Ref("b", pos), n.Ref("c", pos)), pos)), pos)
    assert Count().visit(tree, 0) == 1 + 2 + 2
    with pytest.raises(TypeError, match="Count has no visit_Not"):
        Count().visit(n.Not(tree, pos), 0)

    class Default(Count):  # a subclass dispatches on its own methods, and may have a default
        def generic_visit(self, node, depth):
            return 100

    assert Default().visit(n.Not(tree, pos), 0) == 100 and Count().visit(tree, 0) == 5
