"""Warm per-patient timings with pytest-benchmark: `make bench` (results in bench/RESULTS.md).

The knowledge base is loaded once; each benchmark round evaluates, explains or asks why-not
for bundled patients. `recommend`, `explain` and `why-not` are also timed for every bundled
patient one by one (the `per patient` groups), so the spread across patients shows, not only
one easy case.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import example_files, shipped_kb  # noqa: E402

KB = shipped_kb()
PATIENTS = {p.id: p for path in example_files() for p in KB.patients(path)}
SCLC = PATIENTS["pt-sclc-2l"]


def _goal(patient):
    """A goal worth explaining for this patient: its first recommendation, else a concept."""
    result = KB.evaluate(patient)
    return result.recommendations[0].id if result.recommendations else (result.derived or ["lung_cancer"])[0]


def _missed(patient):
    """A goal that does not hold for this patient: the first possible or the first regimen it lacks."""
    result = KB.evaluate(patient)
    if result.possible:
        return result.possible[0].id
    held = {r.id for r in result.recommendations}
    return next(KB.compiled.nodes[k].name for k in KB.compiled.regimens if KB.compiled.nodes[k].name not in held)


def test_evaluate_sclc_second_line(benchmark):
    res = benchmark(KB.evaluate, SCLC)
    assert res.recommendations


def test_explain_sclc_second_line(benchmark):
    assert benchmark(KB.explain, SCLC, "anlotinib+irinotecan").holds


def test_evaluate_and_explain_sclc_second_line(benchmark):
    def both():
        KB.evaluate(SCLC)
        return KB.explain(SCLC, "anlotinib+irinotecan")
    assert benchmark(both).holds


def test_why_not(benchmark):
    assert not benchmark(KB.why_not, PATIENTS["pt-sclc-tfi90"], "topotecan").holds


@pytest.mark.benchmark(group="recommend per patient")
@pytest.mark.parametrize("pid", sorted(PATIENTS))
def test_recommend_per_patient(benchmark, pid):
    assert benchmark(KB.evaluate, PATIENTS[pid]).patient == pid


@pytest.mark.benchmark(group="explain per patient")
@pytest.mark.parametrize("pid", sorted(PATIENTS))
def test_explain_per_patient(benchmark, pid):
    goal = _goal(PATIENTS[pid])
    benchmark.extra_info["goal"] = goal
    assert benchmark(KB.explain, PATIENTS[pid], goal).goal == goal


@pytest.mark.benchmark(group="why-not per patient")
@pytest.mark.parametrize("pid", sorted(PATIENTS))
def test_why_not_per_patient(benchmark, pid):
    goal = _missed(PATIENTS[pid])
    benchmark.extra_info["goal"] = goal
    assert not benchmark(KB.why_not, PATIENTS[pid], goal).holds


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
