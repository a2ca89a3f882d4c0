"""Patient records (CONTRACT §1): every bad input is a clear error naming file and attribute."""
import json

import pytest

from oncologic.errors import PatientError
from support import shipped_kb


def load(tmp_path, record, suffix=".json"):
    path = tmp_path / f"p{suffix}"
    path.write_text(record if isinstance(record, str) else json.dumps(record), encoding="utf-8")
    return shipped_kb().patient(path)


BASE = {"id": "x", "cancer": "lung", "histology": "sclc", "line": 2}


@pytest.mark.parametrize("patch, attribute, message", [
    ({"ecog": 7}, "ecog", "7 is out of range; expected a whole number from 0 to 4"),
    ({"ecog": -1}, "ecog", "out of range"),
    ({"ecog": "1"}, "ecog", "is not a number"),
    ({"ecog": 1.5}, "ecog", "is not a whole number"),
    ({"tfi": "-5d"}, "tfi", "negative"),
    ({"tfi": -5}, "tfi", "negative"),
    ({"tfi": "3m"}, "tfi", "unit 'm' is not a duration unit (d, wk, mo, a); write 'mo' for months ('m' is ambiguous)"),
    ({"tfi": "3 parsecs"}, "tfi", "is not a duration"),
    ({"tfi": "45kg"}, "tfi", "unit 'kg' is not a duration unit"),
    ({"histology": "SCLC"}, "histology", 'is not allowed (did you mean \'sclc\'?); expected one of: sclc, adenocarcinoma'),
    ({"histology": 3}, "histology", "is not allowed"),
    ({"histologie": "sclc"}, "histologie", "unknown attribute (did you mean 'histology'?)"),
    ({"mutations": ["egfr_exon20"]}, "mutations", "\"egfr_exon20\" is not an allowed value (did you mean 'egfr_exon20ins'?)"),
    ({"mutations": "egfr_19del"}, "mutations", "expected a list"),
    ({"prior_therapies": ["carboplatine"]}, "prior_therapies", "is not a known drug or class (did you mean 'carboplatin'?)"),
    ({"central_airway_stenosis": "yes"}, "central_airway_stenosis", "is not true or false"),
    ({"first_line_end_date": "01/03/2026"}, "first_line_end_date", "is not a date; write YYYY-MM-DD"),
    ({"first_line_end_date": "2026-02-30"}, "first_line_end_date", "is not a date"),
    ({"pd_l1_tps": "120%"}, "pd_l1_tps", "out of range"),
    ({"cancer": "breast"}, "cancer", "expected one of: lung, hcc"),
    ({"adverse_events": [{"type": "hepatitis", "grade": 6, "cause": "immune"}]}, "adverse_events[0].grade", "out of range"),
    ({"adverse_events": [{"type": "hepatitis", "grade": 3}]}, "adverse_events[0].cause", "is required"),
    ({"adverse_events": [{"type": "hepatitis", "grade": 3, "cause": "immune", "onset": 1}]}, "adverse_events[0].onset", "unknown field"),
    ({"first_line_end_date": "2026-03-01", "progression_date": "2026-01-01"}, "progression_date", "is before first_line_end_date"),
])
def test_bad_values_name_file_attribute_and_expectation(tmp_path, patch, attribute, message):
    with pytest.raises(PatientError) as err:
        load(tmp_path, {**BASE, **patch})
    text = str(err.value)
    assert text.startswith(str(tmp_path / "p.json") + f": attribute '{attribute}': ")
    assert message in text


@pytest.mark.parametrize("missing", ["id", "cancer"])
def test_required_attributes(tmp_path, missing):
    record = dict(BASE)
    del record[missing]
    with pytest.raises(PatientError, match=f"'{missing}': is required"):
        load(tmp_path, record)


@pytest.mark.parametrize("given, days", [("45d", 45), ("45 d", 45), (45, 45), ("6wk", 42), ("3mo", 91.3125), ("1a", 365.25), ("0d", 0)])
def test_durations_are_normalised_to_days(tmp_path, given, days):
    assert load(tmp_path, {**BASE, "tfi": given}).values["tfi"] == days


def test_lengths_percent_and_dates(tmp_path):
    p = load(tmp_path, {"id": "h", "cancer": "hcc", "max_tumor_diameter": "4.5cm", "residual_liver_volume": 40,
                        "pd_l1_tps": "25%"})
    assert (p.values["max_tumor_diameter"], p.values["residual_liver_volume"], p.values["pd_l1_tps"]) == (45, 40, 25)
    with pytest.raises(PatientError, match="needs a unit"):
        load(tmp_path, {"id": "h", "cancer": "hcc", "max_tumor_diameter": 45})


def test_tfi_is_derived_from_dates_only_when_absent(tmp_path):
    p = load(tmp_path, {**BASE, "first_line_end_date": "2026-01-15", "progression_date": "2026-03-01"})
    assert p.values["tfi"] == 45 and p.derived == {"tfi": ("progression_date", "first_line_end_date")}
    p = load(tmp_path, {**BASE, "tfi": "45d", "first_line_end_date": "2026-01-15", "progression_date": "2026-03-01"})
    assert p.values["tfi"] == 45 and p.derived == {}  # given and agreeing: kept as given
    with pytest.raises(PatientError, match="attribute 'tfi': \"100d\" \\(100 d\\) contradicts progression_date - first_line_end_date = 45 d"):
        load(tmp_path, {**BASE, "tfi": "100d", "first_line_end_date": "2026-01-15", "progression_date": "2026-03-01"})


def test_null_is_unknown(tmp_path):
    assert "tfi" not in load(tmp_path, {**BASE, "tfi": None}).values


def test_yaml_and_file_errors(tmp_path):
    p = load(tmp_path, "id: y\ncancer: lung\nhistology: sclc\ntfi: 45d\nfirst_line_end_date: 2026-01-15\n", ".yaml")
    assert p.values["first_line_end_date"] == "2026-01-15" and p.values["tfi"] == 45
    with pytest.raises(PatientError, match="is not valid YAML at line 2"):
        load(tmp_path, "id: y\n  cancer: [lung\n", ".yaml")
    with pytest.raises(PatientError, match="is not valid JSON: Expecting"):
        load(tmp_path, '{"id": "x",', ".json")
    with pytest.raises(PatientError, match="a patient record is an object"):
        load(tmp_path, "[1, 2]", ".json")
    with pytest.raises(PatientError, match="unknown file type"):
        load(tmp_path, "{}", ".txt")
    with pytest.raises(PatientError, match="no such file"):
        shipped_kb().patient(tmp_path / "absent.json")


def test_cohort_jsonl_names_the_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(BASE) + "\n\n" + json.dumps({**BASE, "id": "y", "ecog": 9}) + "\n")
    with pytest.raises(PatientError) as err:
        list(shipped_kb().patients(path))
    assert str(err.value).startswith(f"{path}:3: attribute 'ecog'")


@pytest.mark.parametrize("text", ['{"id": "x", "cancer": "lung", "tfi": NaN}', '{"id": "x", "cancer": "lung", "tfi": Infinity}',
                                  '{"id": "x", "cancer": "lung", "ecog": -Infinity}'])
def test_non_finite_numbers_are_rejected(tmp_path, text):
    with pytest.raises(PatientError, match="is not a number a record can hold"):
        load(tmp_path, text)


def test_unreadable_file(tmp_path):
    import os
    path = tmp_path / "p.json"
    path.write_text("{}")
    os.chmod(path, 0)
    if os.access(path, os.R_OK):  # root reads anything: nothing to test here
        pytest.skip("running as a user that can read any file")
    with pytest.raises(PatientError, match="cannot be read"):
        shipped_kb().patient(path)
