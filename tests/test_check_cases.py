"""`oncologic check`, one deliberately broken rule file per diagnostic (issue 13).

Each ``tests/check_cases/*.rules`` file is checked together with the base knowledge base
``tests/check_cases/base/*.rules`` (copied into a fresh folder: ``base/`` and ``cases/`` with
the case file), through the command line (click's runner, ``check --kb DIR --format json``). A
case says what it must give in its leading comment lines::

    # expect: CODE LINE:COL-ENDLINE:ENDCOL MESSAGE
    # options: --no-analysis

``expect``: one finding (code, position in the case file, exact message; ``{kb}`` in a
message stands for the folder the knowledge base was copied to); the findings in the case file
must be exactly these, and the base files must give none. ``options``: more options for
``check``; one that ``check`` does not know (yet) is left out. A case file may hold bytes that
are not UTF-8 (it is copied as it is).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from oncologic.cli import check, main

CASES = Path(__file__).parent / "check_cases"
BASE = CASES / "base"
EXPECT = re.compile(r"# expect: ([EW]\d{3}) (\d+):(\d+)-(\d+):(\d+) (.*)")
OPTIONS = re.compile(r"# options: (.*)")


def case_files() -> list[Path]:
    return sorted(CASES.glob("*.rules"))


def header(path: Path) -> tuple[set[tuple], list[str]]:
    """The expected findings ``(code, line, column, end_line, end_column, message)`` and the
    options of a case, from its leading comment lines."""
    expected, options = set(), []
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        if not line.startswith("#"):
            break
        if match := EXPECT.fullmatch(line.rstrip()):
            code, *numbers, message = match.groups()
            expected.add((code, *map(int, numbers), message))
        elif match := OPTIONS.fullmatch(line.rstrip()):
            options += match.group(1).split()
    return expected, options


def known_options(options: list[str]) -> list[str]:
    """The options ``check`` takes, with their values (an option it does not know yet is left
    out, with the value that follows it)."""
    params = {opt: param for param in check.params for opt in param.opts}
    kept, takes_value = [], False
    for option in options:
        if option.startswith("-"):
            param = params.get(option.split("=")[0])
            takes_value = param is None or (not param.is_flag and "=" not in option)
            if param is not None:
                kept.append(option)
            drop_value = param is None
        elif takes_value:
            if not drop_value:
                kept.append(option)
            takes_value = False
    return kept


def run_case(tmp_path: Path, case: Path, options=()) -> tuple[int, dict, Path]:
    """(exit status, the JSON check printed, the folder) for a case checked with the base."""
    kb = tmp_path / "kb"
    shutil.copytree(BASE, kb / "base")
    (kb / "cases").mkdir()
    shutil.copyfile(case, kb / "cases" / case.name)  # after base/: a name declared twice is reported in the case
    result = CliRunner().invoke(main, ["check", "--kb", str(kb), "--format", "json", *options])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, json.loads(result.stdout), kb


def findings(data: dict, file: Path, kb: Path) -> set[tuple]:
    return {(d["code"], d["line"], d["column"], d["end_line"], d["end_column"], d["message"].replace(str(kb), "{kb}"))
            for d in data["diagnostics"] if d["file"] == str(file)}


def test_the_base_is_clean(tmp_path):
    kb = tmp_path / "kb"
    shutil.copytree(BASE, kb)
    result = CliRunner().invoke(main, ["check", "--kb", str(kb), "--format", "json"])
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["diagnostics"] == [], data["diagnostics"]


@pytest.mark.parametrize("case", case_files(), ids=lambda p: p.stem)
def test_case(tmp_path, case):
    expected, options = header(case)
    assert expected, f"{case.name}: no '# expect:' line"
    options = known_options(options)
    status, data, kb = run_case(tmp_path, case, options)
    got = findings(data, kb / "cases" / case.name, kb)
    assert got == expected, "\n".join(
        [f"{case.name}:"] + [f"  missing: {e}" for e in sorted(expected - got)] + [f"  unexpected: {g}" for g in sorted(got - expected)])
    elsewhere = [d for d in data["diagnostics"] if d["file"] != str(kb / "cases" / case.name)]
    assert elsewhere == [], f"{case.name}: findings in the base files: {elsewhere}"
    errors = any(code.startswith("E") for code, *_ in expected)
    assert status == (2 if errors or "--strict" in options else 0) and data["ok"] is not errors


def test_options_check_does_not_know_are_left_out():
    assert known_options(["--no-analysis", "--strict", "--patients", "x.jsonl"]) == ["--no-analysis", "--strict", "--patients", "x.jsonl"]
    assert known_options(["--later", "v", "--strict", "--soon=x"]) == ["--strict"]
    assert known_options(["--format", "json"]) == ["--format", "json"]


def test_every_error_code_has_a_case():
    """One case per error code of the front end, except those no rule file can give: E007 (a
    file that cannot be read: tested in test_diagnostics.py) and E316 (a rule that depends on
    its own negation: concepts cannot form a cycle, E312, so the compiler's own check is a
    safeguard that no knowledge base reaches)."""
    from oncologic.model.codes import CODES
    covered = {code for case in case_files() for code, *_ in header(case)[0]}
    uncovered = {code for code in CODES if code.startswith("E")} - covered
    assert uncovered == {"E007", "E316"}, sorted(uncovered)
