"""Rule files as they come (issue 12): deep and long conditions, date literals, encodings and
line ends. Every bad file is exit 2 with FILE:LINE:COL; never exit 1, never a traceback."""
import json
import os
import subprocess
import sys

import pytest

from minikb import write_kb
from oncologic.lang.limits import MAX_DEPTH, MAX_NESTING

CLI = [sys.executable, "-m", "oncologic"]
S = 'source doc "t"'


def run(*args, cwd=None):
    env = {**os.environ, "ONCOLOGIC_NO_CACHE": "1", "COLUMNS": "100"}
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


def findings(stderr: str) -> list[str]:
    """The lines of stderr that are findings or the count (not ``check``'s source excerpts,
    which are indented)."""
    return [line for line in stderr.splitlines() if not line.startswith(" ")]


@pytest.fixture
def patients(tmp_path):
    for name, line in (("p2", 2), ("p1", 1)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"id": name, "cancer": "lung", "line": line}))
    return tmp_path / "p2.json", tmp_path / "p1.json"


def all_commands(kb, patients):
    holds, fails = patients
    return [("check", "--kb", kb), ("recommend", holds, "--kb", kb), ("explain", holds, "r", "--kb", kb),
            ("why-not", fails, "r", "--kb", kb), ("explain", fails, "r", "--kb", kb, "--format", "json"),
            ("why-not", holds, "r", "--kb", kb, "--format", "json")]


def rec(condition: str) -> str:
    return f"recommendation r recommend topotecan {S}\n  if {condition}\n"


# -- long chains are flat: they work -------------------------------------------------------------------
@pytest.mark.parametrize("terms, op", [(600, "and"), (20_000, "or")])
def test_long_and_or_chains_work(tmp_path, patients, terms, op):
    kb = write_kb(tmp_path, rec(f" {op} ".join(f"line >= {i % 2 + 1}" for i in range(terms))))
    for args in all_commands(kb, patients):
        out = run(*args)
        assert out.returncode == 0, (args, out.stderr[-500:])
    assert run("recommend", patients[0], "--kb", kb).stdout.count("topotecan") == 1
    assert run("recommend", patients[1], "--kb", kb).stdout.count("topotecan") == (1 if op == "or" else 0)


# -- deep nesting is a located error -------------------------------------------------------------------
@pytest.mark.parametrize("condition, column", [
    ("not " * 5000 + "line >= 2", 6 + 4 * MAX_NESTING),
    ("(" * 3000 + "not " * 3000 + "line >= 2" + ")" * 3000, 6 + 3000 + 4 * MAX_NESTING),
    ("(line >= 1 and " * 3000 + "line >= 2" + ")" * 3000, 6 + 1 + len("(line >= 1 and ") * MAX_NESTING),
])
def test_deep_nesting_is_an_error_at_the_level_past_the_limit(tmp_path, patients, condition, column):
    kb = write_kb(tmp_path, rec(condition))
    for args in all_commands(kb, patients):
        out = run(*args)
        assert out.returncode == 2, (args, out.stderr[-500:])
        first = out.stderr.splitlines()[0]
        assert first == (f"{kb}/rules.rules:2:{column}: error[E008]: condition nested more than {MAX_NESTING} levels deep "
                         f"(limit {MAX_NESTING}): split it into concepts")


def test_nesting_at_the_limit_works(tmp_path, patients):
    kb = write_kb(tmp_path, rec("not " * (MAX_NESTING - 1) + "not line >= 2"))
    for args in all_commands(kb, patients):
        assert run(*args).returncode == 0, args


def chain(steps: int) -> str:
    return (f"concept c0 {S} if line >= 2\n" + "".join(f"concept c{i} {S} if c{i - 1}\n" for i in range(1, steps + 1))
            + rec(f"c{steps}"))


def test_a_concept_chain_past_the_depth_limit_is_one_error_at_the_first_concept_past_it(tmp_path, patients):
    kb = write_kb(tmp_path, chain(250))
    for args in all_commands(kb, patients):
        out = run(*args)
        assert out.returncode == 2, (args, out.stderr[-500:])
        assert findings(out.stderr) == [
            f"{kb}/rules.rules:{MAX_DEPTH + 1}:1: error[E314]: concept 'c{MAX_DEPTH}': its condition through concept "
            f"'c{MAX_DEPTH - 1}' nests {MAX_DEPTH + 1} levels deep with the concepts it uses written out "
            f"(limit {MAX_DEPTH}); define it in fewer steps", "1 error"]


def test_a_concept_chain_at_the_depth_limit_explains(tmp_path, patients):
    kb = write_kb(tmp_path, chain(MAX_DEPTH - 2))  # c0 is 1 deep, c98 99, r 100
    for args in all_commands(kb, patients):
        out = run(*args)
        assert out.returncode == 0, (args, out.stderr[-500:])
    assert f"c{MAX_DEPTH - 2}" in run("explain", patients[0], "r", "--kb", kb).stdout


def test_nesting_and_concepts_add_up(tmp_path, patients):
    half = MAX_DEPTH // 2
    rules = (f"concept c0 {S} if line >= 2\n" + "".join(f"concept c{i} {S} if c{i - 1}\n" for i in range(1, half))
             + rec("not " * half + f"c{half - 1}"))  # not x half, then c(half-1) at depth half: 2 * half + 1
    kb = write_kb(tmp_path, rules)
    out = run("check", "--kb", kb)
    assert out.returncode == 2
    assert out.stderr.splitlines()[0] == (
        f"{kb}/rules.rules:{half + 1}:1: error[E314]: recommendation 'r': its condition through concept 'c{half - 1}' nests "
        f"{2 * half + 1} levels deep with the concepts it uses written out (limit {MAX_DEPTH}); define it in fewer steps")


# -- dates ---------------------------------------------------------------------------------------------
def test_impossible_dates_are_errors_at_the_date(tmp_path):
    kb = write_kb(tmp_path, rec("first_line_end_date < 2026-13-01") + rec("progression_date >= 2026-02-30").replace(" r ", " s "))
    out = run("check", "--kb", kb)
    assert out.returncode == 2
    assert findings(out.stderr) == [
        f"{kb}/rules.rules:2:28: error[E205]: '2026-13-01' is not a date: month must be in 1..12",
        f"{kb}/rules.rules:4:26: error[E205]: '2026-02-30' is not a date: day is out of range for month",
        "2 errors"]


def test_full_width_digits_in_a_date_are_the_date(tmp_path):
    kb = write_kb(tmp_path, rec("first_line_end_date > ２０２６-０１-０１"))
    for date, holds in (("2026-03-01", True), ("2025-12-31", False), ("2026-01-01", False)):
        patient = tmp_path / f"{date}.json"
        patient.write_text(json.dumps({"id": "p", "cancer": "lung", "first_line_end_date": date}))
        out = run("explain", patient, "r", "--kb", kb, "--format", "json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["holds"] is holds, date
    shown = run("explain", tmp_path / "2026-03-01.json", "r", "--kb", kb).stdout
    assert "first_line_end_date > 2026-01-01 (patient: 2026-03-01)" in shown
    bad = write_kb(tmp_path, rec("first_line_end_date > ２０２６-１３-０１"), name="bad")
    assert run("check", "--kb", bad).stderr.splitlines()[0] == (
        f"{bad}/rules.rules:2:28: error[E205]: '２０２６-１３-０１ (2026-13-01)' is not a date: month must be in 1..12")


# -- encodings and line ends ---------------------------------------------------------------------------
def write_raw(tmp_path, data: bytes):
    kb = write_kb(tmp_path, "")
    (kb / "rules.rules").write_bytes(data)
    return kb


def test_a_bom_is_skipped(tmp_path):
    kb = write_raw(tmp_path, b"\xef\xbb\xbf" + rec("line >= 2").encode())
    out = run("check", "--kb", kb)
    assert out.returncode == 0, out.stderr
    kb2 = write_raw(tmp_path / "2", b"\xef\xbb\xbf" + rec("line >= 2 ?").encode())
    assert run("check", "--kb", kb2).stderr.startswith(f"{kb2}/rules.rules:2:16: error[E002]: unexpected character '?'")


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_positions_count_lines_for_every_line_end(tmp_path, newline):
    text = newline.join([b"# one", b"# two", b"recommendation r recommend topotecan " + S.encode(), b"  if line >= 2 ?", b""])
    kb = write_raw(tmp_path, text)
    out = run("check", "--kb", kb)
    assert out.returncode == 2
    assert out.stderr.startswith(f"{kb}/rules.rules:4:16: error[E002]: unexpected character '?'")


def test_an_invalid_byte_is_reported_at_its_line_and_column(tmp_path):
    lines = [b"# comment %d" % i for i in range(49)] + [b"# caf\xc3\xa9 \xff here"]
    kb = write_raw(tmp_path, b"\r\n".join(lines))
    out = run("check", "--kb", kb)
    assert out.returncode == 2
    assert out.stderr.splitlines()[0] == (
        f"{kb}/rules.rules:50:8: error[E006]: not UTF-8 text: byte 0xFF (invalid start byte); save the file as UTF-8")


@pytest.mark.parametrize("char, shown", [("\ufeff", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"),
                                         ("\u200b", "U+200B (ZERO WIDTH SPACE)"), ("\x1b", "U+001B")])
def test_invisible_characters_are_named(tmp_path, char, shown):
    kb = write_raw(tmp_path, rec(f"line >= 2 {char}").encode())
    out = run("check", "--kb", kb)
    assert out.returncode == 2
    assert out.stderr.startswith(f"{kb}/rules.rules:2:16: error[E002]: unexpected character {shown};")


def test_control_characters_in_messages_are_escaped(tmp_path):
    kb = write_raw(tmp_path, rec('line >= 2 "a\x1b[2Jb"').encode())
    out = run("check", "--kb", kb)
    assert out.returncode == 2 and "\x1b" not in out.stderr
    assert out.stderr.startswith(f"{kb}/rules.rules:2:16: error[E001]: unexpected '\"a\\x1b[2Jb\"'")
