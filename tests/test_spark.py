"""The Spark backend (oncologic.backends.sql.spark): Spark SQL's answers equal pyDatalog's, on
a small program (value types, ask, holds) and on the shipped knowledge base for every bundled
patient and a few hundred generated ones, in one batch (a Spark call costs hundreds of jobs,
so the module makes one ``answer`` call for all of them). One Spark session (``local[2]``)
serves the module. Skipped, with the reason, without pyspark or Java."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import oncologic.backends
from oncologic.backends.sql import spark as spark_module
from oncologic.compile.facts import patient_facts
from oncologic.compile.plan import rail
from oncologic.errors import OncologicError

from support import example_patients, lung, shipped_kb

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
GENERATED = 200
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
    got = SparkEngine(kb.compiled.program, master=MASTER).answer(batch)
    return records, reference, got


def test_registered_with_its_options():
    assert "spark" in oncologic.backends.available()
    engine = oncologic.backends.create("spark", tiny(), master=MASTER, config={"spark.sql.shuffle.partitions": 2})
    assert isinstance(engine, SparkEngine) and engine.master == MASTER
    assert engine.config["spark.sql.shuffle.partitions"] == "2" and engine.config["spark.ui.enabled"] == "false"
    with pytest.raises(OncologicError, match=r"the Spark master is a URL such as local\[\*\]"):
        SparkEngine(tiny(), master="")


def test_small_program_values_keep_their_types():
    """The same rows, with the same Python types, as pyDatalog (the boolean-vs-1 difference
    of every SQL backend: test_duckdb.py)."""
    batch = [[("val", "x", 1)], [("val", "x", 1.0)], [("val", "x", "1")], [("val", "x", 0)],
             [("val", "x", False)], [("val", "x", 2.5)], []]
    got = SparkEngine(values_program(), master=MASTER).answer(batch)
    ref = PyDatalogEngine(values_program()).answer(batch)
    assert [typed(rows) for rows in got] == [typed(rows) for rows in ref]
    assert [type(rows[0][2]) for rows in got[:-1]] == [int, float, str, int, bool, float]


def test_ask_and_holds_on_a_small_program():
    engine, ref = SparkEngine(tiny(), master=MASTER), PyDatalogEngine(tiny())
    one = [("patient",), ("known", "age"), ("val", "age", 18), ("known", "mutations"), ("member", "lines", 1)]
    assert engine.answer([]) == []
    rows, then_rows = engine.ask(one, ("answer", None), lambda rows: ("answer", None))
    assert set(rows) == set(then_rows) == set(ref.ask(one, ("answer", None))[0]) == {("truth", 1, True), ("match", 2, 1)}
    assert engine.holds(one, 1) is True and engine.holds([("patient",)], 1) is False
    assert engine.holds(one, 99) is False


def test_every_bundled_patient_as_pydatalog(shipped_batch):
    records, reference, got = shipped_batch
    bundled = 59
    assert [r["id"] for r in records[:bundled]] == [p.values["id"] for p in example_patients()]
    for record, want, rows in zip(records[:bundled], reference, got):
        assert set(rows) == set(want), record["id"]
    assert sum(len(r) for r in got[:bundled]) > 10_000


def test_generated_patients_as_pydatalog(shipped_batch):
    records, reference, got = shipped_batch
    generated = len(records) - 59
    assert generated >= GENERATED // 2 and len({r["cancer"] for r in _drawn}) == 2
    for record, want, rows in zip(records[59:], reference[59:], got[59:]):
        assert set(rows) == set(want), record


def test_holds_on_the_shipped_program_as_pydatalog():
    kb = shipped_kb("pydatalog")
    patient = kb.patient(lung(histology="sclc", sclc_stage="extensive", line=2, tfi="120d", ecog=1))
    facts = patient_facts(patient.values, kb.compiled.checked)
    engine = SparkEngine(kb.compiled.program, master=MASTER)
    defined = kb.compiled.program.predicates()
    nodes = [kb.compiled.concept_node[name] for name in sorted(kb.compiled.concept_node)]
    nodes = [n for n in nodes if rail(n, True) in defined][:3]
    assert len(nodes) == 3
    assert [engine.holds(facts, n) for n in nodes] == [kb.backend.holds(facts, n) for n in nodes]


def test_missing_java_or_pyspark_is_an_input_error_naming_the_fix(monkeypatch):
    monkeypatch.setattr(spark_module, "java_available", lambda: False)
    with pytest.raises(OncologicError, match=r"the spark backend needs Java 17 or later"):
        SparkEngine(tiny())
    monkeypatch.setitem(__import__("sys").modules, "pyspark", None)
    with pytest.raises(OncologicError, match=r"pyspark is missing\): pip install oncologic\[spark\]"):
        SparkEngine(tiny())
