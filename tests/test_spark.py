"""The Spark backend (oncologic.backends.sql.spark): its answers equal pyDatalog's.

The default, partitioned mode (Spark spreads the patients, DuckDB evaluates each partition):
on a small program (value types, ask, holds), on the shipped knowledge base for every bundled
patient and 250 generated ones in one ``answer`` call, with 1, 2 and 3 partitions and
partitions cut into DuckDB chunks of 7 patients (a partition or chunk boundary never
changes an answer), and end to end through ``oncologic cohort --backend spark`` in a real
process. ``mode="sql"`` (the program as Spark SQL, about 530 Spark jobs per call): on the
small program and the true rails of three shipped nodes; on the whole shipped program only
with ``ONCOLOGIC_SPARK_SQL_FULL=1`` (minutes). One Spark session (``local[2]``) serves the
module. Skipped, with the reason, without pyspark or Java."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import oncologic.backends
from oncologic.backends.sql import spark as spark_module
from oncologic.compile.facts import patient_facts
from oncologic.compile.plan import rail
from oncologic.errors import OncologicError

from support import ROOT, example_patients, lung, shipped_kb

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install oncologic[spark])")
pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install oncologic[spark])")
pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install oncologic[spark])")
if not spark_module.java_available():
    pytest.skip("the spark backend needs Java (no java on PATH, no JAVA_HOME)", allow_module_level=True)

from oncologic.backends.pydatalog.engine import PyDatalogEngine  # noqa: E402
from oncologic.backends.sql.spark import SparkEngine  # noqa: E402
from test_duckdb import typed, values_program  # noqa: E402
from test_properties import patients  # noqa: E402
from test_sql import tiny  # noqa: E402

MASTER = "local[2]"
GENERATED = 250
MODES = ["partitioned", "sql"]
_drawn: list[dict] = []


@settings(max_examples=GENERATED, database=None, derandomize=True, deadline=None, phases=[Phase.generate],
          suppress_health_check=list(HealthCheck))
@given(patients())
def _draw(record):
    _drawn.append(record)


@pytest.fixture(scope="module")
def shipped_batch():
    """The facts of every bundled patient, then of GENERATED hypothesis-made ones, and the
    answer of pyDatalog and of Spark for the whole batch (Spark: one call)."""
    kb = shipped_kb("pydatalog")
    _drawn.clear()
    _draw()
    records = [p.values for p in example_patients()]
    records += [kb.patient(dict(r, id=f"gen-{i}")).values for i, r in enumerate(_drawn)]
    batch = [patient_facts(values, kb.compiled.checked) for values in records]
    reference = kb.backend.answer(batch)
    got = SparkEngine(kb.compiled.program, master=MASTER).answer(batch)  # the default: partitioned
    return records, batch, reference, got


def test_registered_with_its_options():
    assert "spark" in oncologic.backends.available()
    engine = oncologic.backends.create("spark", tiny(), master=MASTER, config={"spark.sql.shuffle.partitions": 2})
    assert isinstance(engine, SparkEngine) and engine.master == MASTER
    assert engine.config["spark.sql.shuffle.partitions"] == "2" and engine.config["spark.ui.enabled"] == "false"
    assert (engine.mode, engine.partitions, engine.chunk, engine.batch) == ("partitioned", None, 10_000, 20_000)
    assert engine.sql.dialect == "duckdb"  # the executors run the program on DuckDB
    sql = oncologic.backends.create("spark", tiny(), master=MASTER, mode="sql")
    assert (sql.mode, sql.batch, sql.sql.dialect) == ("sql", 100_000, "spark")
    with pytest.raises(OncologicError, match=r"the Spark master is a URL such as local\[\*\]"):
        SparkEngine(tiny(), master="")
    with pytest.raises(OncologicError, match=r"the Spark mode is partitioned or sql, not 'fast'"):
        SparkEngine(tiny(), mode="fast")
    for bad in (0, -1, 2.5, True, "2"):
        with pytest.raises(OncologicError, match=r"the Spark option partitions is a whole number of at least 1"):
            SparkEngine(tiny(), partitions=bad)
    with pytest.raises(OncologicError, match=r"the Spark option chunk is a whole number of at least 1, not 0"):
        SparkEngine(tiny(), chunk=0)


@pytest.mark.parametrize("mode", MODES)
def test_small_program_values_keep_their_types(mode):
    """The same rows, with the same Python types, as pyDatalog (the boolean-vs-1 difference
    of every SQL backend: test_duckdb.py)."""
    batch = [[("val", "x", 1)], [("val", "x", 1.0)], [("val", "x", "1")], [("val", "x", 0)],
             [("val", "x", False)], [("val", "x", 2.5)], []]
    got = SparkEngine(values_program(), master=MASTER, mode=mode).answer(batch)
    ref = PyDatalogEngine(values_program()).answer(batch)
    assert [typed(rows) for rows in got] == [typed(rows) for rows in ref]
    assert [type(rows[0][2]) for rows in got[:-1]] == [int, float, str, int, bool, float]


@pytest.mark.parametrize("mode", MODES)
def test_ask_and_holds_on_a_small_program(mode):
    engine, ref = SparkEngine(tiny(), master=MASTER, mode=mode), PyDatalogEngine(tiny())
    one = [("patient",), ("known", "age"), ("val", "age", 18), ("known", "mutations"), ("member", "lines", 1)]
    assert engine.answer([]) == []
    rows, then_rows = engine.ask(one, ("answer", None), lambda rows: ("answer", None))
    assert set(rows) == set(then_rows) == set(ref.ask(one, ("answer", None))[0]) == {("truth", 1, True), ("match", 2, 1)}
    assert engine.holds(one, 1) is True and engine.holds([("patient",)], 1) is False
    assert engine.holds(one, 99) is False


def test_every_bundled_patient_as_pydatalog(shipped_batch):
    records, _, reference, got = shipped_batch
    bundled = 62
    assert [r["id"] for r in records[:bundled]] == [p.values["id"] for p in example_patients()]
    for record, want, rows in zip(records[:bundled], reference, got):
        assert set(rows) == set(want), record["id"]
    assert sum(len(r) for r in got[:bundled]) > 10_000


def test_generated_patients_as_pydatalog(shipped_batch):
    records, _, reference, got = shipped_batch
    generated = len(records) - 62
    assert generated >= GENERATED // 2 and len({r["cancer"] for r in _drawn}) == 2
    for record, want, rows in zip(records[62:], reference[62:], got[62:]):
        assert set(rows) == set(want), record


def test_partition_and_chunk_boundaries_change_no_answer(shipped_batch):
    """The same rows with 2 partitions (the fixture: local[2]'s default parallelism), 1, and
    3 partitions each evaluated 40 patients at a time: a patient's facts are never split
    (Spark hashes the patient key; a chunk is a set of keys)."""
    records, batch, reference, got = shipped_batch
    program = shipped_kb("pydatalog").compiled.program
    one = SparkEngine(program, master=MASTER, partitions=1).answer(batch)
    small = SparkEngine(program, master=MASTER, partitions=3, chunk=40).answer(batch)
    for record, want, a, b, c in zip(records, reference, got, one, small):
        assert set(a) == set(b) == set(c) == set(want), record.get("id")


def test_facts_frame_round_trips_through_spark(shipped_batch):
    """The facts frame comes back from Spark as it went in, every patient's rows in one
    partition (pyspark once turned nulls of an all-null Arrow chunk into values)."""
    from pyspark.sql.functions import countDistinct, spark_partition_id

    _, batch, _, _ = shipped_batch
    table = spark_module.facts_table(batch)
    assert table.column_names[:2] == ["pid", "rel"] and table.num_rows == sum(len(f) for f in batch)
    spark = SparkEngine(tiny(), master=MASTER)._spark()
    frame = spark.createDataFrame(table).repartition(3, "pid")
    assert frame.toArrow().sort_by([(c, "ascending") for c in table.column_names]).equals(
        table.sort_by([(c, "ascending") for c in table.column_names]))
    spread = frame.withColumn("part", spark_partition_id()).groupBy("pid").agg(countDistinct("part").alias("n")).toArrow()
    assert spread.num_rows == len(batch) and set(spread["n"].to_pylist()) == {1}


@pytest.mark.parametrize("mode", MODES)
def test_holds_on_the_shipped_program_as_pydatalog(mode):
    kb = shipped_kb("pydatalog")
    patient = kb.patient(lung(histology="sclc", sclc_stage="extensive", line=2, tfi="120d", ecog=1))
    facts = patient_facts(patient.values, kb.compiled.checked)
    engine = SparkEngine(kb.compiled.program, master=MASTER, mode=mode)
    defined = kb.compiled.program.predicates()
    nodes = [kb.compiled.concept_node[name] for name in sorted(kb.compiled.concept_node)]
    nodes = [n for n in nodes if rail(n, True) in defined][:3]
    assert len(nodes) == 3
    assert [engine.holds(facts, n) for n in nodes] == [kb.backend.holds(facts, n) for n in nodes]


def test_missing_java_or_pyspark_is_an_input_error_naming_the_fix(monkeypatch):
    monkeypatch.setattr(spark_module, "java_available", lambda: False)
    with pytest.raises(OncologicError, match=r"the spark backend needs Java 17 or later"):
        SparkEngine(tiny())
    monkeypatch.setattr(spark_module, "java_available", lambda: True)
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(OncologicError, match=r"evaluates each partition with DuckDB, which is not installed: "
                                             r"pip install oncologic\[spark\] \(or mode='sql'\)"):
        SparkEngine(tiny())
    assert SparkEngine(tiny(), mode="sql").mode == "sql"  # Spark SQL alone needs no DuckDB
    monkeypatch.setattr(spark_module, "java_available", lambda: False)
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(OncologicError, match=r"pyspark is missing\): pip install oncologic\[spark\]"):
        SparkEngine(tiny())


@pytest.mark.skipif(os.environ.get("ONCOLOGIC_SPARK_SQL_FULL") != "1",
                    reason="mode='sql' on the whole shipped program costs 5-7 minutes on local[2] (about 530 Spark "
                           "jobs per call); set ONCOLOGIC_SPARK_SQL_FULL=1 to run it")
def test_sql_mode_every_bundled_patient_as_pydatalog(shipped_batch):
    records, batch, reference, _ = shipped_batch
    got = SparkEngine(shipped_kb("pydatalog").compiled.program, master=MASTER, mode="sql").answer(batch[:62])
    for record, want, rows in zip(records[:62], reference, got):
        assert set(rows) == set(want), record["id"]


def test_the_cohort_command_on_spark_as_on_pydatalog(tmp_path):
    """``oncologic cohort --backend spark`` in a real process writes what ``--backend
    pydatalog`` writes, line for line."""
    outputs = {}
    for backend in ("spark", "pydatalog"):
        extra = ["--spark-master", MASTER, "--spark-partitions", "2"] if backend == "spark" else []
        out = subprocess.run([sys.executable, "-m", "oncologic", "cohort", "examples/cohort/patients.jsonl",
                              "--backend", backend, "--out", str(tmp_path / f"{backend}.jsonl"), *extra],
                             capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert out.returncode == 0, out.stderr
        assert "Traceback" not in out.stderr
        outputs[backend] = (tmp_path / f"{backend}.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(outputs["spark"]) == 62 and outputs["spark"] == outputs["pydatalog"]
    assert {json.loads(line)["patient"] for line in outputs["spark"]} == {p.values["id"] for p in example_patients()}
