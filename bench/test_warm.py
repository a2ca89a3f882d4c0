"""Warm per-patient timings with pytest-benchmark: `make bench` (results in bench/RESULTS.md).

The knowledge base is loaded once; each benchmark round evaluates, explains or asks why-not
for one bundled patient.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import example_files, shipped_kb  # noqa: E402

KB = shipped_kb()
PATIENTS = {p.id: p for path in example_files() for p in KB.patients(path)}
SCLC = PATIENTS["pt-sclc-2l"]


def test_evaluate_sclc_second_line(benchmark):
    res = benchmark(KB.evaluate, SCLC)
    assert res.recommendations


def test_evaluate_and_explain_sclc_second_line(benchmark):
    def both():
        KB.evaluate(SCLC)
        return KB.explain(SCLC, "anlotinib+irinotecan")
    assert benchmark(both).holds


def test_why_not(benchmark):
    assert not benchmark(KB.why_not, PATIENTS["pt-sclc-tfi90"], "topotecan").holds


def test_evaluate_every_example_patient(benchmark):
    patients = list(PATIENTS.values())
    results = benchmark(lambda: [KB.evaluate(p) for p in patients])
    benchmark.extra_info["patients"] = len(patients)
    assert len(results) == len(patients)


@pytest.mark.parametrize("n", [1000])
def test_cohort_throughput(benchmark, n):
    from support import lung
    cohort = [KB.patient(lung(id=f"c{i}", histology=["sclc", "adenocarcinoma", "squamous"][i % 3], tfi=f"{40 + i % 100}d",
                              line=1 + i % 3, mutations=[] if i % 2 else ["egfr_19del"], progression="extensive"))
              for i in range(n)]
    results = benchmark.pedantic(lambda: list(KB.evaluate_many(cohort)), rounds=3, iterations=1)
    benchmark.extra_info["patients"] = n
    assert len(results) == n


def test_evaluate_one_at_a_time_100(benchmark):
    from support import lung
    cohort = [KB.patient(lung(id=f"s{i}", histology="sclc", tfi=f"{40 + i}d", line=2)) for i in range(100)]
    benchmark.pedantic(lambda: [KB.evaluate(p) for p in cohort], rounds=3, iterations=1)
