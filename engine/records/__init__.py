"""Patient records: files → validated :class:`~oncologic.records.patient.Patient` objects.

In: a JSON or YAML record, a JSON Lines cohort, or a dict (CONTRACT §1).
Out: a Patient (values in canonical units, sets as frozensets, durations derived from dates)
or a :class:`~oncologic.errors.PatientError` naming the file and the attribute.
"""
