"""Any JSON value for any declared attribute is either accepted or rejected with a
PatientError naming the attribute — never another exception (which the CLI would report as an
internal error)."""
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from oncologic.errors import PatientError
from support import shipped_kb

KB = shipped_kb()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
    | st.sampled_from(["45d", "3m", "6wk", "25%", "4.5cm", "2026-02-30", "2026-03-01", "sclc", "IIIa", "carboplatin"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6) | st.sampled_from(["type", "grade", "cause"]),
                                                                inner, max_size=3),
    max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(KB.compiled.checked.attributes)) | st.text(max_size=8), json_values, max_size=6))
def test_records_are_accepted_or_rejected_cleanly(raw):
    record = {"id": "f", "cancer": "lung", **raw}
    try:
        patient = KB.patient(json.loads(json.dumps(record)))
    except PatientError as err:
        assert str(err).startswith("<record")
        return
    KB.evaluate(patient)
