"""The limits on patient records (README, "Bad input and limits").

Each is checked *before* the work it bounds: the size of a file before it is read, the length
of a JSON Lines line while it is read, nesting and alias expansion while a document is parsed
or composed, digits before a number is converted, list lengths before their items are
validated. A record over a limit is an input error (exit status 2) naming the file, the line
(JSON Lines) and, where there is one, the attribute.
"""

#: The largest .json / .yaml record file, and the longest line of a .jsonl cohort, in bytes.
#: A record is a few hundred bytes; a large one with many adverse events a few kilobytes.
MAX_RECORD_BYTES = 1 << 20  # 1 MiB

#: The largest FHIR Bundle (a .json file, or a line of a .jsonl cohort, whose object names its
#: ``resourceType``): one patient's Bundle holds every resource of years of care (Synthea's run
#: to several megabytes: each encounter, claim and observation), so the flat record's 1 MiB
#: does not fit it; a file or line above 1 MiB that is no FHIR resource is still refused.
MAX_BUNDLE_BYTES = 64 << 20  # 64 MiB

#: How deep lists and objects may nest (the record object itself is level 1;
#: ``adverse_events`` and its event objects are levels 2 and 3).
MAX_DEPTH = 16

#: The most items in one list (a set such as ``prior_therapies`` or ``adverse_events``).
MAX_LIST_ITEMS = 1000

#: The most digits of an integer. Integers up to 15 digits are held exactly as floats too, so
#: no value is rounded on its way to the engine; longer ones are rejected before conversion.
MAX_DIGITS = 15

#: The most values (scalars, lists and objects) in one record, counting a YAML alias as the
#: values it expands to (a 600-byte "billion laughs" expands to 10^9): counted while a YAML
#: document is composed, and while a record passed to the API is walked; refused beyond this.
MAX_VALUES = 100_000
