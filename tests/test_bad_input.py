"""Issue 12, the records half: nothing silently changed, every bad record exit 2 with its file,
line and attribute named, nothing lost in a cohort, nothing a record says reaches the terminal
as control codes. README "Bad input and limits" lists the decisions tested here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

import oncologic
from oncologic.cli import main
from oncologic.errors import OncologicError, PatientError
from oncologic.records import limits
from oncologic.errors import visible
from minikb import write_kb
from support import EXAMPLES, ROOT, shipped_kb

KB = shipped_kb()
SCLC = "id: y\ncancer: lung\nhistology: sclc\nline: 2\n"
BASE = {"id": "x", "cancer": "lung", "histology": "sclc", "line": 2}


def write(tmp_path, text, suffix=".yaml", name="p"):
    path = tmp_path / f"{name}{suffix}"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text if isinstance(text, str) else json.dumps(text), encoding="utf-8")
    return path


def cli(*args):
    """The command line in-process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def rejected(path, attribute=None, message="", *args):
    """`recommend PATH` exits 2 with one message naming the file (and attribute); no traceback."""
    code, out, err = cli("recommend", path, "--format", "json", *args)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "internal error" not in err
    head = f"error: {path}" + (f": attribute '{attribute}': " if attribute else "")
    assert err.startswith(head), err
    assert message in err, err
    return err


# -- 1. nothing silently changed: YAML 1.2 core schema ------------------------------------------

@pytest.mark.parametrize("line, attribute, message", [
    ("tfi: 0123", "tfi", "0123 is ambiguous: YAML 1.2 reads it as 123, YAML 1.1 as the number 83 (octal)"),
    ("ecog: 010", "ecog", "010 is ambiguous: YAML 1.2 reads it as 10, YAML 1.1 as the number 8 (octal)"),
    ("ecog: 09", "ecog", "09 is ambiguous: YAML 1.2 reads it as 9, YAML 1.1 as the text '09'"),
    ("tfi: 12:30", "tfi", "'12:30' is not a duration"),  # YAML 1.1: 750 (sexagesimal); 1.2: text
    ("tfi: 1_000", "tfi", "'1_000' is not a duration"),  # YAML 1.1: 1000; 1.2: text
    ("central_airway_stenosis: yes", "central_airway_stenosis", '"yes" is not true or false'),  # 1.1: true
    ("ecog: 0x1F", "ecog", "31 is out of range"),  # hex is YAML 1.2 core: read as 31
])
def test_yaml_numbers_are_read_as_yaml_1_2_says_or_refused(tmp_path, line, attribute, message):
    rejected(write(tmp_path, SCLC + line + "\n"), attribute, message)


@pytest.mark.parametrize("written, value", [("0x2", 2), ("0o3", 3), ("+2", 2), ("2", 2), ("!!int 3", 3)])
def test_yaml_1_2_integers(tmp_path, written, value):
    assert KB.patient(write(tmp_path, f"id: y\ncancer: lung\nline: {written}\n")).values["line"] == value


@pytest.mark.parametrize("written, message", [
    ("00123", "00123 is ambiguous: YAML 1.2 reads it as 123, YAML 1.1 as the number 83 (octal); write 123 for the "
              "number, or \"00123\" in quotes for text"),
    ("007", "007 is ambiguous"),
    ("0x1F", "0x1F is read by YAML as the number 31, not as the text '0x1F'; write it in quotes: \"0x1F\""),
    ("0o17", "0o17 is read by YAML as the number 15"),
    ("1.5", "1.5 is not text; write it in quotes"),
    ("true", "true is not text"),
])
def test_an_id_yaml_would_retype_is_refused(tmp_path, written, message):
    rejected(write(tmp_path, f"id: {written}\ncancer: lung\n"), "id", message)


@pytest.mark.parametrize("written, pid", [('"00123"', "00123"), ("'007'", "007"), ("123", "123"), ("12:30", "12:30"),
                                          ("1_000", "1_000"), ("2026-01-01", "2026-01-01"), ("p-7", "p-7")])
def test_ids_stay_the_text_written(tmp_path, written, pid):
    assert KB.patient(write(tmp_path, f"id: {written}\ncancer: lung\n")).id == pid


def test_a_number_id_is_accepted_only_as_its_decimal_text(tmp_path):
    assert KB.patient({"id": 123, "cancer": "lung"}).id == "123"
    assert KB.patient(write(tmp_path, '{"id": 123, "cancer": "lung"}', ".json")).id == "123"
    rejected(write(tmp_path, '{"id": -0, "cancer": "lung"}', ".json"), "id", "-0 is read by YAML as the number 0")


def test_yaml_dates_are_text_and_checked(tmp_path):
    p = KB.patient(write(tmp_path, SCLC + "first_line_end_date: 2026-01-15\nprogression_date: 2026-03-01\n"))
    assert (p.values["first_line_end_date"], p.values["tfi"]) == ("2026-01-15", 45)
    rejected(write(tmp_path, SCLC + "first_line_end_date: 2026-02-30\n"), "first_line_end_date",
             '"2026-02-30" is not a date; write YYYY-MM-DD')


@pytest.mark.parametrize("line, attribute, message", [
    ("histology: 2026-01-01", "histology", '"2026-01-01" is not allowed'),  # was TypeError: date not JSON serializable
    ("histology: !!binary aGVsbG8=", "histology", "a value tagged !!binary; a record holds text, numbers"),
    ("central_airway_stenosis: !!binary aGVsbG8=", "central_airway_stenosis", "a value tagged !!binary"),
    ("mutations: !!binary aGVsbG8=", "mutations", "a value tagged !!binary"),
    ("mutations: [!!binary aGVsbG8=]", "mutations[0]", "a value tagged !!binary"),
    ("first_line_end_date: !!timestamp 2026-01-01", "first_line_end_date", "a value tagged !!timestamp"),
    ("mutations: !!set {egfr_19del: null}", "mutations", "a value tagged !!set"),
    ("histology: !custom sclc", "histology", "a value tagged !custom"),
    ("ecog: !!int one", "ecog", "'one' is tagged as an integer but is not one"),
    ("ecog: .inf", "ecog", "inf is not a number a record can hold"),
])
def test_yaml_values_of_the_wrong_kind_are_exit_2_naming_the_attribute(tmp_path, line, attribute, message):
    rejected(write(tmp_path, "id: y\ncancer: lung\n" + line + "\n"), attribute, message)


def test_yaml_merge_keys_are_not_yaml_1_2(tmp_path):
    rejected(write(tmp_path, "base: &b {cancer: lung}\n<<: *b\nid: y\n"), "base", "unknown attribute")


# -- duplicate keys ----------------------------------------------------------------------------

def test_duplicate_keys_in_json_name_both_lines(tmp_path):
    path = write(tmp_path, '{"id": "p", "cancer": "lung", "histology": "sclc", "line": 2,\n "tfi": "45d",\n "tfi": "120d"}', ".json")
    rejected(path, "tfi", "is given twice in one object, at line 2, column 2 and at line 3, column 2")


def test_duplicate_keys_in_json_are_found_through_escapes_and_nesting(tmp_path):
    text = '{"id": "p", "cancer": "lung", "adverse_events": [\n {"type": "rash", "grade": 1,\n "cause": "immune", "gr\\u0061de": 2}]}'
    rejected(write(tmp_path, text, ".json"), "grade", "at line 2, column 19 and at line 3, column 21")


def test_duplicate_keys_in_yaml_name_both_lines(tmp_path):
    rejected(write(tmp_path, SCLC + "tfi: 45d\necog: 1\ntfi: 120d\n"), "tfi", "is given twice in one object, at line 5 and at line 7")
    rejected(write(tmp_path, SCLC + "adverse_events:\n  - {type: rash, grade: 1, cause: immune, grade: 2}\n"), "grade",
             "at line 6 and at line 6")


def test_duplicate_keys_in_a_cohort_line_name_both_columns(tmp_path):
    path = write(tmp_path, json.dumps(BASE) + '\n{"id": "p", "cancer": "lung", "tfi": "45d", "tfi": "120d"}\n', ".jsonl")
    code, out, err = cli("recommend", path, "--format", "json")
    assert code == 2 and len(out.splitlines()) == 1
    assert f"error: {path}:2: attribute 'tfi': is given twice in one object, at column 31 and at column 45" in err


# -- pd_l1 fractions and tfi against its dates -------------------------------------------------

@pytest.mark.parametrize("given", [0.5, 0.01, 0.999, "0.5"])
def test_a_bare_percentage_between_0_and_1_is_refused(tmp_path, given):
    rejected(write(tmp_path, {**BASE, "pd_l1_tps": given}, ".json"), "pd_l1_tps",
             "is a bare number between 0 and 1: a fraction")


@pytest.mark.parametrize("given, value", [("0.5%", 0.5), (0, 0), (1, 1), (50, 50), ("50%", 50), (100, 100)])
def test_percentages_with_a_unit_or_outside_0_1_are_accepted(given, value):
    assert KB.patient({**BASE, "pd_l1_tps": given}).values["pd_l1_tps"] == value


def test_tfi_must_agree_with_its_dates(tmp_path):
    dates = {"first_line_end_date": "2026-01-15", "progression_date": "2026-03-01"}  # 45 days
    rejected(write(tmp_path, {**BASE, **dates, "tfi": "120d"}, ".json"), "tfi",
             '"120d" (120 d) contradicts progression_date - first_line_end_date = 45 d (progression_date 2026-03-01, '
             "first_line_end_date 2026-01-15)")
    p = KB.patient({**BASE, **dates, "tfi": "45d"})
    assert p.values["tfi"] == 45 and p.derived == {}
    assert KB.patient({**BASE, "first_line_end_date": "2026-01-15", "progression_date": "2026-04-16",
                       "tfi": "3mo"}).values["tfi"] == 91.3125  # 91 days: within a day, kept as written
    with pytest.raises(PatientError, match="is before first_line_end_date"):
        KB.patient({**BASE, "first_line_end_date": "2026-03-01", "progression_date": "2026-01-15", "tfi": "45d"})


def test_why_not_still_proposes_a_tfi_beside_its_dates():
    wn = KB.why_not(EXAMPLES / "sclc_tfi_90d.json", "topotecan")
    assert wn.holds is False and any(a.to_hold for a in wn.attempts)
    dated = json.loads((EXAMPLES / "sclc_dates.json").read_text())
    dated["progression_date"] = "2026-12-01"  # far from refractory
    wn = KB.why_not(dated, "topotecan")
    assert any(a.to_hold for a in wn.attempts)


# -- 2. every bad record is exit 2, within explicit limits --------------------------------------

@pytest.mark.parametrize("digits", [20, 400, 5000])
def test_long_integers_are_refused_before_conversion(tmp_path, digits):
    rejected(write(tmp_path, f'{{"id": "x", "cancer": "lung", "ecog": {"1" * digits}}}', ".json"), "ecog",
             f"a number of {digits} digits; a record's numbers have at most {limits.MAX_DIGITS}")
    rejected(write(tmp_path, SCLC + f"ecog: {'1' * digits}\n"), "ecog", f"a number of {digits} digits")


@pytest.mark.parametrize("value", ["1" * 400 + "d", "9" * 20 + "d", "1" * 5000])
def test_long_quantities_are_refused(tmp_path, value):
    rejected(write(tmp_path, {**BASE, "tfi": value}, ".json"), "tfi", "")


def test_long_integers_from_the_api():
    with pytest.raises(PatientError, match="'ecog': a number of 401 digits"):
        KB.patient({**BASE, "ecog": 10 ** 400})


@pytest.mark.parametrize("suffix, text", [
    (".json", '{"id": "x", "cancer": "lung", "ecog": ' + "[" * 10_000 + "]" * 10_000 + "}"),
    (".json", '{"id": "x", "cancer": "lung", "ecog": ' + '{"a": ' * 10_000 + "1" + "}" * 10_000 + "}"),
    (".yaml", "id: x\ncancer: lung\necog: " + "[" * 10_000 + "]" * 10_000 + "\n"),
    (".yaml", "id: x\ncancer: lung\necog: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n"),
])
def test_deep_nesting_is_refused_while_parsing(tmp_path, suffix, text):
    rejected(write(tmp_path, text, suffix), None, f"nests lists and objects deeper than {limits.MAX_DEPTH} levels")


def test_deep_nesting_from_the_api():
    deep = []
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(PatientError, match="nests lists and objects deeper"):
        KB.patient({**BASE, "ecog": deep})


@pytest.mark.parametrize("text", ['{"id": "\\ud800", "cancer": "lung"}', '{"id": "a\\udfffb", "cancer": "lung"}'])
def test_a_lone_surrogate_is_refused(tmp_path, text):
    rejected(write(tmp_path, text, ".json"), "id", "holds a lone surrogate (\\ud")
    rejected(write(tmp_path, 'id: "\\ud800"\ncancer: lung\n'), "id", "lone surrogate")


BILLION_LAUGHS = "\n".join(
    ['id: x', 'cancer: lung', 'ecog:', '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"  {c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]) + "\n"


def test_billion_laughs_is_refused_while_composing(tmp_path):
    path = write(tmp_path, BILLION_LAUGHS)
    assert len(BILLION_LAUGHS.encode()) < 700
    start = time.perf_counter()
    rejected(path, None, f"holds more than {limits.MAX_VALUES} values once its aliases are expanded")
    assert time.perf_counter() - start < 5


def test_a_recursive_alias_is_refused(tmp_path):
    rejected(write(tmp_path, "id: x\ncancer: lung\nmutations: &m [*m]\n"), None, "refers to the list or object that holds it")


def test_shared_lists_from_the_api_are_counted():
    shared = ["egfr_19del"] * 9
    for _ in range(8):
        shared = [shared] * 9
    with pytest.raises(PatientError, match=f"more than {limits.MAX_VALUES} values"):
        KB.patient({**BASE, "mutations": shared})


def test_dev_zero_is_refused_before_reading(tmp_path):
    start = time.perf_counter()
    rejected("/dev/zero", None, "unknown file type")
    for suffix in (".json", ".yaml", ".jsonl"):
        link = tmp_path / f"zero{suffix}"
        link.symlink_to("/dev/zero")
        rejected(link, None, "is not a regular file")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # opening it would block: it is never opened
    rejected(fifo, None, "is not a regular file")
    code, _, err = cli("recommend", tmp_path)
    assert code == 2 and "is a directory" in err
    with pytest.raises(PatientError, match="is a folder"):
        KB.patient(tmp_path / "folder.json") if (tmp_path / "folder.json").mkdir() is None else None
    assert time.perf_counter() - start < 10


def test_a_large_record_file_is_refused_by_its_size(tmp_path):
    path = tmp_path / "big.json"
    with open(path, "wb") as f:  # 100 MB of adverse events, sparse: nothing is written or read
        f.write(b'{"id": "x", "cancer": "lung", "adverse_events": [')
        f.truncate(100_000_000)
    rejected(path, None, f"is 100000000 bytes; a record file holds at most {limits.MAX_RECORD_BYTES} bytes")


def test_long_lists_are_refused_before_their_items(tmp_path):
    events = [{"type": "rash", "grade": 1, "cause": "immune"}] * (limits.MAX_LIST_ITEMS + 1)
    rejected(write(tmp_path, {**BASE, "adverse_events": events}, ".json"), "adverse_events",
             f"holds {limits.MAX_LIST_ITEMS + 1} items; a list holds at most {limits.MAX_LIST_ITEMS}")


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, object(), __import__("datetime").time(1)])
def test_api_values_of_other_types_are_refused(value):
    with pytest.raises(PatientError, match="'histology': a value of type"):
        KB.patient({**BASE, "histology": value})


def test_api_dates_for_an_enum_are_a_message_not_a_type_error():
    import datetime as dt
    with pytest.raises(PatientError, match="'histology': \"2026-01-01\" is not allowed"):
        KB.patient({**BASE, "histology": dt.date(2026, 1, 1)})


def test_invalid_utf8_is_reported_at_its_line(tmp_path):
    lines = [json.dumps(BASE).encode()] * 49 + [b'{"id": "\xff"}']
    rejected(write(tmp_path, b"\n".join(lines), ".json"), None, "is not UTF-8 text: byte 0xff at line 50, column 9")


# -- 3. nothing lost in a cohort ---------------------------------------------------------------

def cohort(tmp_path, bad_at=(3,), size=6, name="c"):
    lines = []
    for i in range(1, size + 1):
        lines.append('{"id": "bad", "cancer": "lung", "ecog": 9}' if i in bad_at else json.dumps({**BASE, "id": f"p{i}"}))
    return write(tmp_path, "\n".join(lines) + "\n", ".jsonl", name)


def test_recommend_a_cohort_evaluates_every_valid_record_in_order(tmp_path):
    path = cohort(tmp_path, bad_at=(3,))
    code, out, err = cli("recommend", path, "--format", "json")
    assert code == 2
    assert [json.loads(line)["patient"] for line in out.splitlines()] == ["p1", "p2", "p4", "p5", "p6"]
    assert err.splitlines() == [f"error: {path}:3: attribute 'ecog': 9 is out of range; expected a whole number from 0 to 4",
                                f"error: {path}: 1 bad record(s), reported above; every other record was evaluated"]


def test_recommend_a_cohort_in_text_too(tmp_path):
    path = cohort(tmp_path, bad_at=(1, 6), size=7)
    code, out, err = cli("recommend", path)
    assert code == 2 and [line for line in out.splitlines() if line.startswith("Patient ")] == \
        ["Patient p2", "Patient p3", "Patient p4", "Patient p5", "Patient p7"]
    assert f"{path}:1: attribute 'ecog'" in err and f"{path}:6: attribute 'ecog'" in err


def test_a_cohort_across_batches_loses_nothing(tmp_path):
    size = oncologic.KnowledgeBase.BATCH * 2 + 7
    path = cohort(tmp_path, bad_at=(50, 101, 150, size), size=size)
    items = list(KB.evaluate_many(path, errors="collect"))
    assert len(items) == size
    bad = [i for i, x in enumerate(items, 1) if isinstance(x, PatientError)]
    assert bad == [50, 101, 150, size] and [x.line for x in items if isinstance(x, PatientError)] == bad
    assert [x.patient for x in items if not isinstance(x, PatientError)] == \
        [f"p{i}" for i in range(1, size + 1) if i not in bad]


def test_evaluate_many_raise_yields_every_result_before_the_bad_record(tmp_path):
    path = cohort(tmp_path, bad_at=(3,))
    seen = []
    with pytest.raises(PatientError, match=r"c\.jsonl:3: attribute 'ecog'") as err:
        for res in KB.evaluate_many(path):
            seen.append(res.patient)
    assert seen == ["p1", "p2"] and err.value.line == 3


def test_evaluate_many_collects_errors_from_records_too():
    records = [{**BASE, "id": "a"}, {**BASE, "id": "b", "ecog": 9}, {**BASE, "id": "c"}]
    items = list(KB.evaluate_many(records, errors="collect"))
    assert [type(x).__name__ for x in items] == ["Result", "PatientError", "Result"]
    assert "'ecog'" in str(items[1]) and items[2].patient == "c"
    with pytest.raises(OncologicError, match="errors='ignore': expected 'raise' or 'collect'"):
        list(KB.evaluate_many(records, errors="ignore"))


def test_jsonl_is_split_on_newlines_only(tmp_path):
    ids = ["a\u2028b", "c\u0085d", "e\u2029f\x0bg\x0ch\x1ci"]
    text = "".join(json.dumps({**BASE, "id": i}, ensure_ascii=False) + "\n" for i in ids)
    path = write(tmp_path, text, ".jsonl")
    assert [p.id for p in KB.patients(path)] == ids


def test_bom_and_crlf_are_accepted_in_json_and_jsonl(tmp_path):
    assert KB.patient(write(tmp_path, "\ufeff" + json.dumps(BASE), ".json")).id == "x"
    path = write(tmp_path, "\ufeff" + json.dumps(BASE) + "\r\n" + json.dumps({**BASE, "id": "y"}) + "\r\n", ".jsonl")
    assert [p.id for p in KB.patients(path)] == ["x", "y"]
    assert KB.patient(write(tmp_path, "\ufeff" + SCLC)).id == "y"


def test_a_cohort_reports_invalid_utf8_and_long_lines_with_their_line_and_goes_on(tmp_path):
    good = json.dumps(BASE).encode()
    long = b'{"id": "' + b"x" * (limits.MAX_RECORD_BYTES + 10) + b'"}'
    path = write(tmp_path, b"\n".join([good, b'{"id": "\xff"}', long, good, b""]), ".jsonl")
    code, out, err = cli("recommend", path, "--format", "json")
    assert code == 2 and len(out.splitlines()) == 2
    assert f"error: {path}:2: is not UTF-8 text: byte 0xff at column 9" in err
    assert f"error: {path}:3: is longer than {limits.MAX_RECORD_BYTES} bytes" in err


def test_a_cohort_is_streamed(tmp_path, monkeypatch):
    """The first result comes before the end of the file is read."""
    path = cohort(tmp_path, bad_at=(), size=3)
    with open(path, "a") as f:
        f.write("{broken\n")
    results = KB.evaluate_many(path)
    assert next(results).patient == "p1"


def test_a_record_file_with_a_cohort_is_refused_without_reading_it_all(tmp_path):
    with pytest.raises(PatientError, match="holds more than one record; use evaluate_many"):
        KB.patient(cohort(tmp_path))


# -- 4. terminal safety ------------------------------------------------------------------------

HOSTILE = "x\x1b[2J\x1b[1;1H\u2714 topotecan holds\x07\r\u202e"


def test_control_characters_in_an_id_are_escaped_in_text_and_kept_in_json(tmp_path):
    path = write(tmp_path, {**BASE, "id": HOSTILE, "tfi": "45d"}, ".json")
    for command in (["recommend", path], ["why-not", path, "topotecan"], ["explain", path, "topotecan"]):
        code, out, err = cli(*command)
        assert code == 0, err
        assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\u202e" not in out
        assert "x\\x1b[2J\\x1b[1;1H✔ topotecan" in out and "holds\\x07\\r\\u202e" in out
    code, out, _ = cli("recommend", path, "--format", "json")
    assert json.loads(out)["patient"] == HOSTILE


def test_control_characters_in_a_rule_note_are_escaped_in_text(tmp_path):
    rules = '''
concept c
  if histology = sclc
  source doc "s"
recommendation r.x
  recommend topotecan
  for c
  strength strong evidence I consensus 92%
  source doc "s"
  note "see \x1b[31mred\x1b[0m"
'''
    kb_dir = write_kb(tmp_path, rules)
    path = write(tmp_path, {"id": "p", "cancer": "lung", "histology": "sclc"}, ".json")
    code, out, err = cli("recommend", path, "--kb", kb_dir)
    assert code == 0, err
    assert "\x1b" not in out and "see \\x1b[31mred\\x1b[0m" in out
    code, out, _ = cli("recommend", path, "--kb", kb_dir, "--format", "json")
    assert json.loads(out)["recommendations"][0]["notes"] == ["see \x1b[31mred\x1b[0m"]


def test_rich_markup_and_emoji_codes_in_an_id_stay_text(tmp_path):
    path = write(tmp_path, {**BASE, "id": "[bold]:warning:[/]"}, ".json")
    code, out, _ = cli("recommend", path)
    assert "Patient [bold]:warning:[/]" in out


def test_error_messages_escape_what_the_record_says(tmp_path):
    path = write(tmp_path, {**BASE, "\x1b[31mred": 1}, ".json")
    err = rejected(path, "\\x1b[31mred", "unknown attribute")
    assert "\x1b" not in err


def test_visible():
    assert visible("a\x1b[0m\n\t\x7f\x85\u2028\u202e中文\ud800") == "a\\x1b[0m\\n\\t\\x7f\\x85\\u2028\\u202e中文\\ud800"
    assert visible("one\ntwo\x1b", keep_newlines=True) == "one\ntwo\\x1b"


def test_a_closed_pipe_exits_0_quietly(tmp_path):
    for args in ([str(EXAMPLES / "sclc_second_line.json")], [str(EXAMPLES / "sclc_second_line.json"), "--format", "json"],
                 [str(cohort(tmp_path, bad_at=(), size=40))]):
        proc = subprocess.Popen([sys.executable, "-m", "oncologic", "recommend", *args], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()  # the reader is gone before the first write
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 0 and err == b"", err


@pytest.mark.parametrize("suffix, text, message", [
    (".yaml", 'id: "a\x1bb"\ncancer: lung\n', "is not valid YAML at line 1, column 7: character U+001B is not allowed"),
    (".json", '{"id": "a\x1bb", "cancer": "lung"}', "is not valid JSON: Invalid control character at line 1, column 10"),
    (".yaml", "id: y\ncancer: lung\n---\nid: z\n", "is not valid YAML at line 3, column 1: expected a single document in the stream but found another document"),
])
def test_raw_control_characters_and_syntax_errors_are_located(tmp_path, suffix, text, message):
    rejected(write(tmp_path, text, suffix), None, message)


# ---- found by a fresh attacker after the merge: precision and week dates -----------------------

@pytest.mark.parametrize("field, value", [("tfi", "89.9999999d"), ("tfi", 89.9999999), ("pd_l1_tps", "49.9999999%"),
                                          ("pd_l1_tps", "50.00000000000001%")])
def test_a_value_more_precise_than_kept_is_refused_not_rounded_across_a_threshold(tmp_path, field, value):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"id": "p", "cancer": "lung", "histology": "sclc", "line": 2, field: value}))
    status, _, err = cli("recommend", str(path))
    assert status == 2 and f"attribute '{field}'" in err and "more than 6 decimal places" in err, err


def test_six_decimals_are_kept_exactly(kb):
    patient = kb.patient({"id": "p", "cancer": "lung", "histology": "sclc", "line": 2, "tfi": "89.999999d",
                          "prior_therapies": ["carboplatin", "etoposide"]})
    assert patient.values["tfi"] == 89.999999
    assert "refractory_sclc" in kb.evaluate(patient).derived  # below 90 d: holds


def test_an_iso_week_date_is_refused(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"id": "p", "cancer": "lung", "first_line_end_date": "2026-W03-1"}))
    status, _, err = cli("recommend", str(path))
    assert status == 2 and "'first_line_end_date'" in err and "write YYYY-MM-DD" in err


@pytest.mark.parametrize("tfi, ok", [("90d", True), (90, True), ("89.5d", False), ("90.5d", False), ("89d", False),
                                     ("3mo", False), ("13wk", False)])
def test_tfi_in_days_beside_its_dates_must_be_their_difference(kb, tfi, ok):
    """Dates 2026-01-15 → 2026-04-15 are 90 d: a tfi of 89.5 d beside them would decide
    refractory_sclc (tfi < 90d) against the dates; written in days it must be 90 d exactly,
    in weeks or months within a day (91 d, 91.3 d are more than a day off here)."""
    record = {"id": "p", "cancer": "lung", "histology": "sclc", "line": 2, "tfi": tfi,
              "first_line_end_date": "2026-01-15", "progression_date": "2026-04-15"}
    if ok:
        assert kb.patient(record).values["tfi"] == 90
    else:
        with pytest.raises(PatientError, match="'tfi'.*contradicts"):
            kb.patient(record)


@pytest.mark.parametrize("field, written, meant", [
    ("histology", "small_cell", "sclc"),            # the value's label: "small cell lung cancer"
    ("histology", "SCLC", "sclc"),                  # only case differs: that value alone
    ("mutations", ["egfr_exon_19_deletion"], "egfr_19del"),  # label "EGFR exon 19 deletion"
    ("prior_therapies", ["topotecane"], "topotecan"),        # spelling
])
def test_a_record_s_did_you_mean_reads_labels_as_rule_files_do(tmp_path, field, written, meant):
    """The same suggestions as `check` gives for rule files (issue 13): labels, then spelling."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"id": "p", "cancer": "lung", "histology": "sclc", field: written}), encoding="utf-8")
    result = CliRunner().invoke(main, ["recommend", str(path)])
    assert result.exit_code == 2
    assert f"attribute '{field}'" in result.stderr and f"(did you mean '{meant}'?)" in result.stderr
