import pytest

import oncologic.backends
from oncologic.errors import OncologicError
from oncologic.reason.evaluate import evaluate_all
from support import example_patients, shipped_kb


@pytest.fixture(scope="session")
def kb():
    """The shipped knowledge base, loaded once (on the default backend)."""
    return shipped_kb()


# Spark is left out: these tests ask one patient at a time, and a Spark call costs minutes
# (some 530 Spark jobs); tests/test_spark.py compares Spark with pyDatalog in batches instead.
PER_PATIENT_BACKENDS = [name for name in oncologic.backends.available() if name != "spark"]


@pytest.fixture(scope="session", params=PER_PATIENT_BACKENDS)
def backend_kb(request):
    """The shipped knowledge base on each registered backend in turn, except ``spark`` (a
    cohort-only backend: its comparison with pyDatalog is tests/test_spark.py): the tests that
    take it (the oracle, faithfulness and isolation tests) test every other backend. A backend whose
    packages are not installed (``duckdb`` without ``pip install oncologic[duckdb]``) is
    skipped with the message that says so."""
    try:
        kb = shipped_kb(request.param)
    except OncologicError as err:
        if "pip install oncologic[" not in str(err):
            raise
        pytest.skip(str(err))
    assert kb.backend.name == request.param
    return kb


@pytest.fixture(scope="session")
def batch_runs(backend_kb):
    """patient id -> the complete evaluation of every bundled patient, made with ONE
    ``answer`` over all of them on ``backend_kb``'s backend: how a backend that is not
    interactive (``backend.interactive`` False: DuckDB, a fixed cost per call) is compared
    patient by patient."""
    patients = example_patients()
    evs = evaluate_all(backend_kb.compiled, backend_kb.backend, patients)
    return {p.id: ev for p, ev in zip(patients, evs)}

