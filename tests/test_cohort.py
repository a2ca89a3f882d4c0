"""`oncologic cohort` and the cohort readers (issue 15, point 2): every input format gives each
patient the result `recommend` gives, bad records are named by file and line/row and skipped,
the outputs round-trip, the summary counts, --explain, evaluate_many(backend=...), streaming."""
from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from itertools import count

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import oncologic
import oncologic.backends as backends
from oncologic.cli import main
from oncologic.errors import OncologicError, PatientError
from oncologic.records.cohorts import cell_value, read_cohort
from oncologic.report.cohort import COLUMNS, Summary, row_object
from support import ROOT, example_files

spec = importlib.util.spec_from_file_location("make_cohort", ROOT / "examples" / "cohort" / "make_cohort.py")
make_cohort = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_cohort)

PYD = ["--backend", "pydatalog", "--no-progress"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """The bundled patients in every format, a folder of two Parquet files, and what
    `recommend --format json` says for each bundled file, in the same order."""
    folder = tmp_path_factory.mktemp("cohort")
    records = make_cohort.bundled()
    make_cohort.write_all(records, folder)
    parts = folder / "parts" / "year=2026"
    parts.mkdir(parents=True)
    table = pq.read_table(folder / "patients.parquet")
    pq.write_table(table.slice(0, 20), parts / "a.parquet")
    pq.write_table(table.slice(20), parts / "b.parquet")
    kb = oncologic.load()
    expected = [kb.evaluate(path).to_dict() for path in example_files()]
    return folder, records, expected


def test_the_bundled_example_cohort_is_the_script_s_output(bundled, tmp_path):
    """examples/cohort/ holds what make_cohort.py writes from examples/patients, byte for byte
    (text formats) and row for row (Parquet)."""
    folder, records, _ = bundled
    shipped = ROOT / "examples" / "cohort"
    for name in ("patients.jsonl", "patients.json", "patients.csv"):
        assert (shipped / name).read_text(encoding="utf-8") == (folder / name).read_text(encoding="utf-8"), name
    assert pq.read_table(shipped / "patients.parquet").to_pylist() == pq.read_table(folder / "patients.parquet").to_pylist()
    assert len(records) == len(example_files()) == 62


@pytest.mark.parametrize("name", ["patients.jsonl", "patients.json", "patients.csv", "patients.parquet", "parts"])
def test_every_format_gives_each_patient_what_recommend_gives(bundled, kb, name):
    folder, _, expected = bundled
    got = [r.to_dict() for r in kb.evaluate_many(folder / name)]
    assert got == expected


def test_the_cohort_command_prints_recommend_s_json_per_line(bundled):
    folder, _, expected = bundled
    out = cli("cohort", folder / "patients.csv", *PYD)
    assert out.exit_code == 0, out.stderr
    assert [json.loads(line) for line in out.stdout.splitlines()] == expected
    # and `recommend --format json` of one bundled file is the same object, from the command line too
    first = example_files()[0]
    assert json.loads(cli("recommend", first, "--format", "json").stdout) == json.loads(out.stdout.splitlines()[0])


def test_csv_and_parquet_outputs_round_trip_and_duckdb_reads_them(bundled, tmp_path):
    folder, _, expected = bundled
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"out.{fmt}"
        run = cli("cohort", folder / "patients.jsonl", *PYD, "--format", fmt, "--out", out)
        assert run.exit_code == 0, run.stderr
        assert run.stdout == ""
        if fmt == "csv":
            with open(out, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
            assert list(rows[0]) == list(COLUMNS)
        else:
            table = pq.read_table(out)
            assert table.column_names == list(COLUMNS)
            assert all(t == pa.string() for t in table.schema.types)
            rows = table.to_pylist()
        assert [row_object(r) for r in rows] == expected
    duckdb = pytest.importorskip("duckdb")
    found = duckdb.sql(f"""
        SELECT r->>'id' AS rec, count(*) AS n
        FROM read_parquet('{tmp_path / 'out.parquet'}'), unnest(from_json(recommendations, '["json"]')) AS t(r)
        WHERE r->>'id' = 'topotecan' GROUP BY rec""").fetchall()
    assert found == [("topotecan", sum("topotecan" in {x["id"] for x in e["recommendations"]} for e in expected))]


def test_parquet_output_needs_out_and_text_formats_need_explain(bundled):
    folder, _, _ = bundled
    out = cli("cohort", folder / "patients.jsonl", *PYD, "--format", "parquet")
    assert out.exit_code == 2 and "error: --format parquet writes a file: give it with --out FILE" in out.stderr
    out = cli("cohort", folder / "patients.jsonl", *PYD, "--format", "text")
    assert out.exit_code == 2 and "--format text goes with --explain" in out.stderr
    out = cli("cohort", folder / "patients.jsonl", *PYD, "--goal", "topotecan")
    assert out.exit_code == 2 and "--goal goes with --explain ID" in out.stderr
    out = cli("cohort", folder / "patients.jsonl", *PYD, "--spark-master", "spark://h:7077")
    assert out.exit_code == 2 and "--spark-master goes with --backend spark" in out.stderr
    for option, value in (("--spark-mode", "sql"), ("--spark-partitions", "4")):
        out = cli("cohort", folder / "patients.jsonl", *PYD, option, value)
        assert out.exit_code == 2 and f"{option} goes with --backend spark" in out.stderr


# -- bad records, per format --------------------------------------------------------------------

def _run_bad(path, expected_errors, evaluated):
    out = cli("cohort", path, *PYD)
    assert out.exit_code == 2
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    if any("cannot be read" in e for e in expected_errors):  # the last one: where reading stopped
        closing = (f"reading stopped at {expected_errors[-1].split(': ')[0]}: the records from there to the end "
                   "of that file were not read")
    else:
        closing = "every other record was evaluated"
    assert errors == [f"error: {e}" for e in expected_errors] + \
        [f"error: {path}: {len(expected_errors)} bad record(s), reported above; {closing}"]
    assert [json.loads(line)["patient"] for line in out.stdout.splitlines()] == evaluated
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("text, errors, evaluated", [
    ('[{"id": "a", "cancer": "lung"},\n {"id": "b", "cancer": "lung", "ecog": 7},\n'
     ' {"id": "c", "cancer": "lung", "ecog": 1, "ecog": 2},\n {"id": "d", "cancer": "lung"}]\n',
     ["record 2: attribute 'ecog': 7 is out of range; expected a whole number from 0 to 4",
      "record 3: attribute 'ecog': is given twice in one object; a record gives each attribute once"], ["a", "d"]),
    ('[{"id": "a", "cancer": "lung"}, {"id": "b", "cancer": ',  # the text breaks: where it breaks, and no further
     ["record 2: is not valid JSON (parse error: premature EOF); the records after it cannot be read"], ["a"]),
])
def test_bad_records_in_a_json_array(tmp_path, text, errors, evaluated):
    path = tmp_path / "bad.json"
    path.write_text(text)
    _run_bad(path, [f"{path} {e}" for e in errors], evaluated)


def test_a_json_array_element_is_bounded_as_a_record(tmp_path):
    from oncologic.records.limits import MAX_DEPTH
    path = tmp_path / "deep.json"
    path.write_text('[' + '[' * (MAX_DEPTH + 1) + ']' * (MAX_DEPTH + 1) + ', {"id": "z", "cancer": "hcc"}]')
    items = list(read_cohort(path, oncologic.load().compiled.checked))
    assert [str(raw) if isinstance(raw, PatientError) else raw for _, _, raw in items] == [
        f"{path} record 1: nests lists and objects deeper than {MAX_DEPTH} levels", {"id": "z", "cancer": "hcc"}]


def test_bad_rows_in_a_csv_name_the_line_and_column(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,cancer,ecog,mutations,tfi,adverse_events\n'
                    'a,lung,1,egfr_19del|alk_fusion,45d,\n'
                    'b,lung,x,,,\n'
                    'c,lung,,[bad,,\n'
                    'd,lung\n'
                    '\n'
                    'e,"lung",,"[""egfr_19del"",\n""alk_fusion""]",3wk,"[{""type"": ""colitis"", ""grade"": 2, ""cause"": ""immune""}]"\n'
                    'f,lung,,egfr_19dl,,\n'
                    'g,lung,,[],,\n')
    _run_bad(path, [f"{path}:3: attribute 'ecog': \"x\" is not a number; expected a whole number from 0 to 4",
                    f"{path}:4: attribute 'mutations': is not valid JSON: Expecting value at column 2",
                    f"{path}:5: has 2 cells; the header has 6",
                    f"{path}:9: attribute 'mutations': \"egfr_19dl\" is not an allowed value (did you mean 'egfr_19del'?); "
                    "expected some of: egfr_19del, egfr_l858r, egfr_exon20ins, egfr_t790m, egfr_c797s, alk_fusion, "
                    "ros1_fusion, her2_mutation, met_amplification, met_exon14_skipping, braf_v600e, kras_g12c, "
                    "ret_fusion, ntrk_fusion"],
             ["a", "e", "g"])
    raws = {raw["id"]: raw for _, _, raw in read_cohort(path, oncologic.load().compiled.checked) if isinstance(raw, dict)}
    assert raws["a"] == {"id": "a", "cancer": "lung", "ecog": 1, "mutations": ["egfr_19del", "alk_fusion"], "tfi": "45d"}
    assert raws["e"] == {"id": "e", "cancer": "lung", "mutations": ["egfr_19del", "alk_fusion"], "tfi": "3wk",
                         "adverse_events": [{"type": "colitis", "grade": 2, "cause": "immune"}]}
    assert raws["g"]["mutations"] == []  # tested, none present: not the same as the absent cell of 'a'.tfi


def test_csv_cells_convert_by_the_declared_type_and_nothing_else():
    attrs = oncologic.load().compiled.checked.attributes
    assert cell_value("0", attrs["ecog"].type) == 0
    assert cell_value("1.5", attrs["ecog"].type) == 1.5  # a number; validation says it is not whole
    assert cell_value("45", attrs["tfi"].type) == 45 and cell_value("6wk", attrs["tfi"].type) == "6wk"
    assert cell_value("TRUE", attrs["liver_metastasis"].type) is True
    assert cell_value("yes", attrs["liver_metastasis"].type) == "yes"  # refused by validation, not turned into true
    assert cell_value("007", attrs["id"].type if "id" in attrs else None) == "007"  # an id stays its text
    assert cell_value("NaN", attrs["ecog"].type) == "NaN" and cell_value("1e999999", attrs["ecog"].type).message == \
        "1e999999 is not representable as a number (too large)"  # refused, never infinity
    assert type(cell_value("1234567890123456", attrs["ecog"].type)).__name__ == "Refused"


def test_csv_header_problems_stop_the_file(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("id,cancer,id\na,lung,b\n")
    out = cli("cohort", path, *PYD)
    assert out.exit_code == 2
    assert out.stderr.strip() == f"error: {path}: attribute 'id': line 1: the header names 'id' twice (columns 1 and 3)"


def test_bad_rows_in_parquet_files_are_numbered_per_file(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"id": ["a", "b"], "cancer": ["lung", "lung"], "ecog": [1, 9]}), folder / "1.parquet")
    pq.write_table(pa.table({"id": ["c", "d"], "cancer": ["lung", "liver"],
                             "mutations": [["egfr_19del"], None]}), folder / "2.parquet")
    _run_bad(folder, [f"{folder / '1.parquet'} row 2: attribute 'ecog': 9 is out of range; expected a whole number from 0 to 4",
                      f"{folder / '2.parquet'} row 2: attribute 'cancer': \"liver\" is not allowed; expected one of: lung, hcc"],
             ["a", "c"])


def test_unreadable_inputs_exit_2_naming_what_is_accepted(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("x")
    out = cli("cohort", path, *PYD)
    assert out.exit_code == 2
    assert out.stderr.startswith(f"error: {path}: unknown cohort file type; accepted: .jsonl (one record a line), "
                                 ".json (an array of records), .csv")
    empty = tmp_path / "empty"
    empty.mkdir()
    out = cli("cohort", empty, *PYD)
    assert out.exit_code == 2 and "is a folder with no .parquet file" in out.stderr
    notparquet = tmp_path / "x.parquet"
    notparquet.write_text("not parquet")
    out = cli("cohort", notparquet, *PYD)
    assert out.exit_code == 2 and f"error: {notparquet}: is not a readable Parquet file (" in out.stderr
    out = cli("cohort", tmp_path / "absent.csv", *PYD)
    assert out.exit_code == 2 and out.stderr.strip() == f"error: {tmp_path / 'absent.csv'}: no such file"


# -- the summary -----------------------------------------------------------------------------------

def test_the_summary_counts_exactly(tmp_path):
    path = tmp_path / "s.jsonl"
    rows = [{"id": "p1", "cancer": "lung", "histology": "sclc", "tfi": "45d", "line": 2, "prior_therapies": ["etoposide"]},
            {"id": "p2", "cancer": "lung", "histology": "sclc", "tfi": "120d", "line": 2, "prior_therapies": ["etoposide"]},
            {"id": "p3", "cancer": "lung", "ecog": 9}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kb = oncologic.load()
    summary = Summary()
    for item in kb.evaluate_many(path, errors="collect"):
        summary.add_bad() if isinstance(item, PatientError) else summary.add(item)
    data = summary.to_dict()
    results = [r for r in kb.evaluate_many(rows[:2])]
    assert (data["read"], data["evaluated"], data["bad"]) == (3, 2, 1)
    expected_recs = {}
    for res in results:
        for rec in res.recommendations:
            by = expected_recs.setdefault(rec.id, {})
            by[str(rec.strength)] = by.get(str(rec.strength), 0) + 1
    assert data["recommendations"] == expected_recs
    assert data["recommendations"]["topotecan"] == {"strong": 1}  # p1 only: its tfi is under 90 days
    assert data["settings"] == {s: sum(s in {r.setting for r in res.recommendations} for res in results)
                                for s in {r.setting for res in results for r in res.recommendations}}
    assert data["missing"]["mutations"] == 2
    out = cli("cohort", path, *PYD)
    assert out.exit_code == 2
    assert "│    3 │         2 │   1 │" in out.stderr  # read, evaluated, bad
    assert "│ topotecan " in out.stderr and "Most often missing" in out.stderr


# -- --explain -------------------------------------------------------------------------------------

def test_explain_one_patient_of_the_cohort(bundled):
    folder, records, _ = bundled
    kb = oncologic.load()
    pid = "pt-sclc-2l"
    person = kb.patient(next(r for r in records if r["id"] == pid))
    out = cli("cohort", folder / "patients.csv", "--explain", pid, "--goal", "topotecan", "--format", "json")
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout) == kb.explain(person, "topotecan").to_dict()
    out = cli("cohort", folder / "patients.parquet", "--explain", pid, "--goal", "dual_ici", "--format", "json")
    assert json.loads(out.stdout) == kb.why_not(person, "dual_ici").to_dict()  # it does not hold: why not
    out = cli("cohort", folder / "patients.json", "--explain", pid, "--format", "json")
    data = json.loads(out.stdout)
    result = kb.evaluate(person)
    assert data["result"] == result.to_dict() and data["source"] == f"{folder / 'patients.json'} record {records.index(next(r for r in records if r['id'] == pid)) + 1}"
    assert list(data["proofs"]) == [r.id for r in result.recommendations]
    assert data["proofs"]["topotecan"] == kb.explain(person, "topotecan").to_dict()
    text = cli("cohort", folder / "patients.jsonl", "--explain", pid)
    assert text.exit_code == 0 and text.stdout.startswith(f"Patient {pid}") and text.stdout.count("topotecan") >= 2
    missing = cli("cohort", folder / "patients.jsonl", "--explain", "nobody")
    assert missing.exit_code == 2 and missing.stderr.strip() == f"error: {folder / 'patients.jsonl'}: no record has the id 'nobody'"
    wrong = cli("cohort", folder / "patients.jsonl", "--explain", pid, "--format", "csv")
    assert wrong.exit_code == 2 and "--explain prints one patient's explanation as text or json, not csv" in wrong.stderr


# -- the API: backends, chunks, streaming -------------------------------------------------------------

@pytest.fixture
def second_backend(monkeypatch):
    """A second registered backend, 'pydatalog-b': another pyDatalog engine, made through the
    registry, counting how often it is made."""
    from oncologic.backends.pydatalog.engine import PyDatalogEngine
    made = []

    def factory(program, flavour="plain"):
        made.append(flavour)
        return PyDatalogEngine(program)
    monkeypatch.setitem(backends._FACTORIES, "pydatalog-b", factory)
    return made


def test_evaluate_many_on_another_backend_gives_the_same_results(bundled, second_backend):
    folder, _, expected = bundled
    kb = oncologic.load()
    assert [r.to_dict() for r in kb.evaluate_many(folder / "patients.jsonl", backend="pydatalog-b", chunk=7)] == expected
    assert [r.to_dict() for r in kb.evaluate_many(folder / "patients.jsonl", backend="pydatalog-b")][:3] == expected[:3]
    assert second_backend == ["plain"]  # made once, kept
    with pytest.raises(OncologicError, match="unknown backend 'nope'; available: "):
        list(kb.evaluate_many([], backend="nope"))
    with pytest.raises(OncologicError, match="chunk=0: expected a whole number of patients, at least 1"):
        list(kb.evaluate_many([], chunk=0))


def test_backend_options_reach_the_factory_or_are_refused_by_name(second_backend):
    kb = oncologic.load(backend="pydatalog-b", backend_options={"flavour": "spicy"})
    assert second_backend == ["spicy"] and kb.backend.name == "pydatalog"
    with pytest.raises(OncologicError, match=r"the pydatalog-b backend takes no option 'master'; it takes: flavour"):
        oncologic.load(backend="pydatalog-b", backend_options={"master": "spark://h:7077"})
    with pytest.raises(OncologicError, match=r"the pydatalog backend takes no option 'master'; it takes: none"):
        oncologic.load(backend_options={"master": "spark://h:7077"})


def test_a_backend_whose_package_is_missing_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "fake_duck_backend.py").write_text("import duckdb_not_installed_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(backends._FACTORIES, "duckdb", "fake_duck_backend:Backend")
    out = cli("cohort", ROOT / "examples" / "cohort" / "patients.jsonl", "--no-progress")  # duckdb: the default
    assert out.exit_code == 2
    assert out.stderr.strip() == ("error: the duckdb backend needs duckdb_not_installed_here, which is not installed: "
                                  "pip install 'oncologic[duckdb]'")


def test_evaluate_many_reads_no_more_than_one_chunk_ahead():
    kb = oncologic.load()
    taken = count()
    pulled = []

    def records():
        for i in range(50):
            pulled.append(next(taken))
            yield {"id": f"p{i}", "cancer": "hcc"}
    results = kb.evaluate_many(records(), chunk=10)
    first = next(results)
    assert first.patient == "p0" and len(pulled) == 10
    for _ in range(9):
        next(results)
    assert len(pulled) == 10  # the first chunk's results, no record of the next chunk read yet
    next(results)
    assert len(pulled) == 20


def test_a_cohort_file_is_read_a_chunk_at_a_time(tmp_path, monkeypatch):
    import oncologic.records.cohorts as cohorts
    path = tmp_path / "c.csv"
    path.write_text("id,cancer\n" + "".join(f"p{i},hcc\n" for i in range(30)))
    read = []
    real = cohorts._csv

    def spy(*args):
        for entry in real(*args):
            read.append(entry[0])
            yield entry
    monkeypatch.setattr(cohorts, "_csv", spy)
    results = oncologic.load().evaluate_many(path, chunk=8)
    next(results)
    assert len(read) == 8


# -- a real process ------------------------------------------------------------------------------------

def test_the_command_in_a_real_process(tmp_path):
    env = {**os.environ, "COLUMNS": "120"}
    out = subprocess.run([sys.executable, "-m", "oncologic", "cohort", "examples/cohort/patients.csv", "--backend",
                          "pydatalog", "--format", "csv", "--out", str(tmp_path / "r.csv")],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and "│   62 │        62 │   0 │" in out.stderr and "Traceback" not in out.stderr
    with open(tmp_path / "r.csv", encoding="utf-8", newline="") as f:
        assert [r["patient"] for r in csv.DictReader(f)] == [r["id"] for r in make_cohort.bundled()]


# -- the tester's findings (issue 15, round 2) -------------------------------------------------------

def test_out_naming_the_input_is_refused_before_anything_is_opened(tmp_path):
    path = tmp_path / "c.jsonl"
    text = '{"id": "a", "cancer": "lung"}\n'
    path.write_text(text)
    for out_name in (path, tmp_path / "." / "c.jsonl"):
        out = cli("cohort", path, *PYD, "--out", out_name)
        assert out.exit_code == 2
        assert out.stderr.strip() == f"error: --out {out_name} is the input file {path}; write the results to another file"
        assert path.read_text() == text  # not truncated
    link = tmp_path / "link.jsonl"
    os.link(path, link)
    out = cli("cohort", path, *PYD, "--out", link)
    assert out.exit_code == 2 and "is the input file" in out.stderr and path.read_text() == text
    folder = tmp_path / "parts"
    (folder / "x").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a"], "cancer": ["lung"]}), folder / "1.parquet")
    out = cli("cohort", folder, *PYD, "--out", folder / "x" / "res.parquet")
    assert out.exit_code == 2
    assert out.stderr.strip() == (f"error: --out {folder / 'x' / 'res.parquet'} is inside the input folder, whose "
                                  f".parquet files are read {folder}; write the results to another file")
    assert not (folder / "x" / "res.parquet").exists()


def test_an_unreadable_parquet_file_of_a_folder_is_reported_and_skipped(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"id": ["a", "b"], "cancer": ["lung", "lung"]}), folder / "1.parquet")
    (folder / "2.parquet").write_bytes(b"PAR1 junk")
    pq.write_table(pa.table({"id": ["c"], "cancer": ["lung"]}), folder / "3.parquet")
    out = cli("cohort", folder, *PYD)
    assert out.exit_code == 2
    assert [json.loads(line)["patient"] for line in out.stdout.splitlines()] == ["a", "b", "c"]
    said = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert said[0].startswith(f"error: {folder / '2.parquet'}: is not a readable Parquet file (")
    assert said[1] == (f"error: {folder}: 1 bad record(s), reported above; reading stopped at {folder / '2.parquet'}: "
                       "the records from there to the end of that file were not read")
    found = list(oncologic.load().evaluate_many(folder, errors="collect"))
    assert [getattr(x, "patient", None) for x in found] == ["a", "b", None, "c"]
    assert isinstance(found[2], PatientError) and found[2].stops
    alone = cli("cohort", folder / "2.parquet", *PYD)  # a single file that cannot be read: nothing to evaluate
    assert alone.exit_code == 2 and f"error: {folder / '2.parquet'}: is not a readable Parquet file (" in alone.stderr


def test_a_parquet_file_that_breaks_in_the_middle_keeps_the_rows_before(tmp_path):
    path = tmp_path / "big.parquet"
    ids = [f"p{i}" for i in range(3000)]
    pq.write_table(pa.table({"id": ids, "cancer": ["lung"] * 3000}), path, row_group_size=1000,
                   compression="snappy", use_dictionary=False)
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(1).column(0)  # the second row group's id column: its pages zeroed
    data = bytearray(path.read_bytes())
    start = column.data_page_offset + 40
    data[start:start + 200] = b"\xff" * 200
    path.write_bytes(bytes(data))
    out = cli("cohort", path, *PYD)
    assert out.exit_code == 2
    assert [json.loads(line)["patient"] for line in out.stdout.splitlines()] == ids[:1000]
    said = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert said[0].startswith(f"error: {path} row 1001: the file cannot be read from row 1001 on (")
    assert said[0].endswith("); the rows before it were read, the rows from it on were not")
    assert said[1] == (f"error: {path}: 1 bad record(s), reported above; reading stopped at {path} row 1001: "
                       "the records from there to the end of that file were not read")


def test_a_json_array_broken_in_the_middle_says_reading_stopped(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[{"id": "a", "cancer": "lung"}, {"id": "b", "cancer": "lung"}, {"id": "c", ')
    out = cli("cohort", path, *PYD)
    assert out.exit_code == 2
    assert [json.loads(line)["patient"] for line in out.stdout.splitlines()] == ["a", "b"]
    assert out.stderr.strip().splitlines()[-1] == (
        f"error: {path}: 1 bad record(s), reported above; reading stopped at {path} record 3: "
        "the records from there to the end of that file were not read")


def test_a_csv_row_that_is_not_utf8_is_the_only_bad_row(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"id,cancer,ecog\nh1,lung,1\n\"h2\nstill h2\",lu\xffng,2\nh3,lung,3\nh4,lung,0\n")
    _run_bad(path, [f"{path}:3: is not UTF-8 text: byte 0xff in column 2"], ["h1", "h3", "h4"])


def test_a_csv_row_is_bounded_as_a_record(tmp_path):
    path = tmp_path / "long.csv"
    long_cell = "x" * 200_000  # longer than the csv module's default field limit, shorter than a record
    half = "y" * (600 * 1024)
    path.write_text(f"id,cancer\nh1,{long_cell}\nh2,lung\n{half},{half}\nh3,lung\n")
    out = cli("cohort", path, *PYD)
    assert out.exit_code == 2
    assert [json.loads(line)["patient"] for line in out.stdout.splitlines()] == ["h2", "h3"]
    said = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert said[0].startswith(f"error: {path}:2: attribute 'cancer': ")
    assert said[1] == f"error: {path}:4: is longer than 1048576 bytes, the most a record holds"
    assert said[2].endswith("2 bad record(s), reported above; every other record was evaluated")


def test_a_parquet_row_longer_than_a_record_is_a_bad_record(tmp_path):
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "c"], "cancer": ["lung", "lung", "lung"],
                             "mutations": [None, ["x" * 1000] * 1100, None]}), path)
    _run_bad(path, [f"{path} row 2: is longer than 1048576 bytes, the most a record holds"], ["a", "c"])


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_a_full_disk_is_an_input_error_naming_the_output(fmt):
    out = cli("cohort", ROOT / "examples" / "cohort" / "patients.jsonl", *PYD, "--format", fmt, "--out", "/dev/full")
    assert out.exit_code == 2
    assert out.stderr.strip().splitlines()[-1] == "error: cannot write /dev/full: No space left on device"


def test_an_unknown_column_stops_the_file_once(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("id,cancer,ecogg\nh1,lung,1\nh2,lung,2\n")
    out = cli("cohort", path, *PYD)
    assert out.exit_code == 2 and out.stdout == ""
    known = ", ".join(sorted(oncologic.load().attributes))
    assert out.stderr.strip() == (f"error: {path}: unknown attribute 'ecogg' in the header (column 3) "
                                  f"(did you mean 'ecog'?); known: {known}")
    table = tmp_path / "u.parquet"
    pq.write_table(pa.table({"id": ["h1", "h2"], "bogus": [1, 2]}), table)
    out = cli("cohort", table, *PYD)
    assert out.exit_code == 2 and out.stdout == ""
    assert out.stderr.strip() == f"error: {table}: unknown attribute 'bogus' in the file's columns (column 2); known: {known}"


def test_the_output_format_follows_the_suffix_of_out(tmp_path):
    source = ROOT / "examples" / "cohort" / "patients.jsonl"
    ids = [json.loads(line)["id"] for line in source.read_text().splitlines()]
    for name in ("res.parquet", "RES.CSV", "res.jsonl"):
        out = cli("cohort", source, *PYD, "--out", tmp_path / name)
        assert out.exit_code == 0, out.stderr
    assert pq.read_table(tmp_path / "res.parquet").column("patient").to_pylist() == ids
    assert [row["patient"] for row in csv.DictReader((tmp_path / "RES.CSV").open())] == ids
    assert [json.loads(line)["patient"] for line in (tmp_path / "res.jsonl").read_text().splitlines()] == ids
    out = cli("cohort", source, *PYD, "--format", "csv", "--out", tmp_path / "x.parquet")
    assert out.exit_code == 2 and not (tmp_path / "x.parquet").exists()
    assert out.stderr.strip() == (f"error: --format csv contradicts --out {tmp_path / 'x.parquet'} (a .parquet file is "
                                  "parquet); give a matching suffix or leave --format out")
    out = cli("cohort", source, *PYD, "--format", "csv", "--out", tmp_path / "x.txt")  # no known suffix: --format rules
    assert out.exit_code == 0 and (tmp_path / "x.txt").read_text().startswith("patient,")


@pytest.mark.parametrize("fmt, unit", [("jsonl", "lines"), ("parquet", "rows")])
def test_ctrl_c_keeps_what_was_written_and_exits_130(tmp_path, monkeypatch, fmt, unit):
    real = oncologic.api.KnowledgeBase.evaluate_many

    def interrupted(self, *args, **kwargs):
        for number, item in enumerate(real(self, *args, **kwargs)):
            if number == 3:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(oncologic.api.KnowledgeBase, "evaluate_many", interrupted)
    target = tmp_path / f"res.{fmt}"
    out = cli("cohort", ROOT / "examples" / "cohort" / "patients.jsonl", *PYD, "--out", target)
    assert out.exit_code == 130
    assert out.stderr.strip() == f"interrupted: 3 results written to {target} (complete {unit} only)"
    if fmt == "jsonl":
        assert len([json.loads(line) for line in target.read_text().splitlines()]) == 3
    else:
        assert pq.read_table(target).num_rows == 3


@pytest.mark.parametrize("name, text", [
    ("u.jsonl", '{"id": "a", "cancer": "lung", "pd_l1_tps": 1e-400}\n{"id": "b", "cancer": "lung", "pd_l1_tps": 1e400}\n'
                '{"id": "c", "cancer": "lung", "pd_l1_tps": 0.0e5}\n'),
    ("u.json", '[{"id": "a", "cancer": "lung", "pd_l1_tps": 1e-400}, {"id": "b", "cancer": "lung", "pd_l1_tps": 1e400},'
               ' {"id": "c", "cancer": "lung", "pd_l1_tps": 0.0e5}]'),
    ("u.csv", "id,cancer,pd_l1_tps\na,lung,1e-400\nb,lung,1e400\nc,lung,0.0e5\n"),
])
def test_numbers_that_underflow_or_overflow_are_refused_not_changed(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    found = list(oncologic.load().evaluate_many(path, errors="collect"))
    assert isinstance(found[0], PatientError) and isinstance(found[1], PatientError)
    assert str(found[0]).endswith("attribute 'pd_l1_tps': 1e-400 is not representable as a number "
                                  "(too close to 0, it would become 0)")
    assert "attribute 'pd_l1_tps': 1" in str(found[1]) and str(found[1]).endswith("400 is not representable as a number (too large)")
    assert found[2].patient == "c"  # a zero written with an exponent is a zero
