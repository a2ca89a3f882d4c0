"""The stable codes of ``oncologic check`` diagnostics.

Each code names one kind of finding, never changes meaning, and is never reused. An error
(``E``) means the knowledge base cannot be used; a warning (``W``) means it can, but a reviewer
should look — or mark the statement ``# check: allow CODE`` with a comment saying why.

Ranges:
  E0xx  reading and syntax (the file, the parser)          -- lang/parser.py, lang/builder.py
  E1xx  names and declarations                            -- model/checks.py
  E2xx  types, units and values                           -- model/checks.py
  E3xx  rules, sources, grading, cycles, compilation      -- model/checks.py, compile/
  W4xx  logic over the whole knowledge base (a witness patient or a proof)
  W5xx  hygiene: unused names, uncited documents, rules no patient reaches, markers

``CODES[code] = (severity, title)``; the title is what ``docs/check.md`` lists.
"""
from __future__ import annotations

CODES: dict[str, tuple[str, str]] = {
    # -- E0xx reading and syntax ----------------------------------------------------------------
    # -- E1xx names and declarations ------------------------------------------------------------
    # -- E2xx types, units and values -----------------------------------------------------------
    # -- E3xx rules, sources, grading, cycles ---------------------------------------------------
    # -- W4xx logic -----------------------------------------------------------------------------
    # (oncologic.analysis: each a warning with a witness patient, checked by the engine, or a proof)
    "W401": ("warning", "a rule no patient can satisfy (contradictory conditions, through concepts or declared ranges)"),
    "W402": ("warning", "a condition the declared domain decides: always true for a patient with its data, or never true"),
    "W403": ("warning", "a constant outside its attribute's declared range (or beyond 100% for a percentage)"),
    "W404": ("warning", "a date literal outside the plausible years 1900-2100"),
    "W405": ("warning", "the same item recommended and not recommended for one patient"),
    "W406": ("warning", "the same item recommended and contraindicated for one patient"),
    "W407": ("warning", "a recommended regimen that contraindications remove for every patient its rule applies to"),
    "W408": ("warning", "a gap between the thresholds of one decision: values no rule of it accepts"),
    "W409": ("warning", "an overlap of the thresholds of one decision: concepts or settings that hold together"),
    "W410": ("warning", "a grading line that never matches: the lines above it take every case it accepts"),
    "W411": ("warning", "a recommendation no line of its document's grading grades (a do-not-recommend above the not-recommended threshold)"),
    "W499": ("warning", "internal: the engine does not confirm a finding of the analysis (a bug: please report it)"),
    # -- W5xx hygiene ---------------------------------------------------------------------------
    "W501": ("warning", "an attribute no rule reads"),
    "W502": ("warning", "an item no rule names (nor a class or a member of it)"),
    "W503": ("warning", "a concept or setting no rule uses"),
    "W504": ("warning", "a document no rule cites"),
    "W505": ("warning", "a rule no patient of the examples (or of --patients) reaches"),
    "W506": ("warning", "a '# check: allow' marker that allows nothing"),
    "W507": ("warning", "a '# check: allow' marker without a reason"),
    "W508": ("warning", "a '# check: allow' marker naming no code, an unknown code or an error"),
    "W509": ("warning", "a patient record the analysis cannot use (not valid for the knowledge base)"),
}


def severity(code: str) -> str:
    """``error`` or ``warning`` for a code of :data:`CODES`; KeyError for an unknown one."""
    return CODES[code][0]
